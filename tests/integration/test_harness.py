#!/usr/bin/python3
"""Tests of the test machinery itself: fixture, corpus, harness helpers.

Why: integration tests are only worth something if their instruments are
right — a harness that cannot see a difference makes every test pass.  These
run without the offlinefs binary, so they pass (or fail) on their own.
"""

import ast
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (add_local_message, crlf_to_lf, local_name, maildir_flags,  # noqa: E402
                     maildir_messages, md5s, parse_name, set_local_flags, simple_message,
                     tree_checksum, tree_snapshot)
import corpus  # noqa: E402  (tests/fixture, put on sys.path by harness)
import dovecot  # noqa: E402


class TestFixture(unittest.TestCase):
    def test_selftest(self):
        """Fixture: TLS by name and IP, STARTTLS, wrong CA, wrong host,
        UTF-7 folders, doveadm, capability toggle, clean stop."""
        res = dovecot.selftest("/var/tmp")
        self.assertNotIn("UIDPLUS", res["no-extensions"]["post"])
        self.assertIn("UIDPLUS", res["extensions"]["post"])

    def test_corpus_deterministic(self):
        """Same seed -> same bytes; another seed -> different mail."""
        gen = harness._import_gen_corpus()
        tmp = tempfile.mkdtemp(dir="/var/tmp")
        self.addCleanup(shutil.rmtree, tmp)
        a, b, c = (os.path.join(tmp, x) for x in "abc")
        gen.generate(a, 5, gen.parse_folders("INBOX,Café,Entwürfe"), 60, 1, 10)
        gen.generate(b, 5, gen.parse_folders("INBOX,Café,Entwürfe"), 60, 1, 10)
        gen.generate(c, 6, gen.parse_folders("INBOX,Café,Entwürfe"), 60, 1, 10)
        self.assertEqual(tree_checksum(a), tree_checksum(b))
        self.assertNotEqual(tree_checksum(a), tree_checksum(c))
        m = corpus.read_manifest(a)
        kinds = [e["kind"] for f in m["folders"] for e in f["messages"]]
        self.assertEqual(len(kinds), 60)
        self.assertEqual(kinds.count("large"), 1)
        for f in m["folders"]:
            for e in f["messages"]:
                data = harness.read_bytes(os.path.join(a, e["file"]))
                self.assertNotIn(b"\r", data)
                self.assertEqual(len(data), e["size"])
                if e["kind"] == "large":
                    self.assertGreaterEqual(len(data), 1 << 20)

    def test_corpus_load_methods(self):
        """maildir and imap loaders give exactly the corpus (bodies, flags)."""
        gen = harness._import_gen_corpus()
        tmp = tempfile.mkdtemp(dir="/var/tmp")
        self.addCleanup(shutil.rmtree, tmp)
        out = os.path.join(tmp, "corpus")
        gen.generate(out, 9, gen.parse_folders("INBOX,Sent,Entwürfe,Café/Reçus"), 50, 0, 10)
        with dovecot.Dovecot(os.path.join(tmp, "srv"), users=2) as dc:
            corpus.load_corpus(dc, "user1", out, "maildir")
            corpus.load_corpus(dc, "user2", out, "imap")
            self.assertEqual(corpus.verify_loaded(dc, "user1", out), [])
            self.assertEqual(corpus.verify_loaded(dc, "user2", out), [])
            # ... and the verifier notices a difference.
            dc.deliver("user1", "Sent", b"Subject: extra\n\nx\n")
            self.assertNotEqual(corpus.verify_loaded(dc, "user1", out), [])

    def test_mutf7(self):
        """Modified UTF-7 per RFC 3501 (its own example) and round trips."""
        self.assertEqual(corpus.mutf7_encode("~peter/mail/台北/日本語"),
                         "~peter/mail/&U,BTFw-/&ZeVnLIqe-")
        self.assertEqual(corpus.mutf7_decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
                         "~peter/mail/台北/日本語")
        for s in ("Entwürfe", "Café", "a&b", "&", "Reçus/2024", "INBOX", "ÄÖÜ äöü ß", "😀 x"):
            self.assertEqual(corpus.mutf7_decode(corpus.mutf7_encode(s)), s)
        self.assertEqual(corpus.mutf7_encode("Entwürfe"), "Entw&APw-rfe")
        self.assertEqual(corpus.mutf7_encode("a&b"), "a&-b")
        self.assertEqual(local_name("Café/Reçus"), "Caf&AOk-.Re&AOc-us")
        self.assertEqual(local_name("Lists/foo", "/"), "Lists/foo")


class TestHarness(harness.SyncTestCase):
    NEEDS_BINARY = False

    def test_maildir_helpers(self):
        """File-name parsing, flag renames and tree checksums see every change."""
        self.assertEqual(parse_name("1795648861_0.13031.vm,U=1,FMD5=7e33429f656f1e6e9d79b29c3f82c57e:2,S"),
                         (1, "7e33429f656f1e6e9d79b29c3f82c57e", "S"))
        self.assertEqual(parse_name("1700000000.M1P1.host"), (None, None, ""))
        self.assertEqual(parse_name("1700000000.M1P1.host:2,FS"), (None, None, "FS"))
        self.assertEqual(md5s("INBOX"), "7e33429f656f1e6e9d79b29c3f82c57e")
        self.assertEqual(maildir_flags(["\\Seen", "\\Flagged", "\\Recent", "$Junk"]), "FS")
        os.makedirs(self.mail)
        harness.make_local_folder(self.mail, "INBOX")
        c0 = tree_checksum(self.mail)
        p = add_local_message(self.mail, "INBOX", simple_message("a"))
        self.assertTrue(p.split(os.sep)[-2] == "new")
        c1 = tree_checksum(self.mail)
        self.assertNotEqual(c0, c1)
        (m,) = maildir_messages(self.mail, "INBOX")
        set_local_flags(m, "SF")
        (m2,) = maildir_messages(self.mail, "INBOX")
        self.assertEqual((m2.sub, m2.flags), ("cur", "FS"))
        self.assertNotEqual(tree_checksum(self.mail), c1)
        snap = tree_snapshot(self.mail)
        with open(m2.path, "ab") as f:
            f.write(b"x")
        self.assertNotEqual(tree_snapshot(self.mail), snap)

    def test_imap_helper(self):
        """The IMAP helper sees appends, flags, expunges, folders and UIDVALIDITY."""
        with self.server() as srv:
            s0 = srv.snapshot()
            uid = srv.append("INBOX", simple_message("one"), ["\\Seen"])
            self.assertEqual(uid, 1)
            s1 = srv.snapshot()
            self.assertNotEqual(s0, s1)
            srv.store("INBOX", uid, "+FLAGS", ["\\Flagged"])
            self.assertEqual(srv.messages("INBOX")[uid].flags, ("\\Flagged", "\\Seen"))
            self.assertEqual(crlf_to_lf(srv.messages("INBOX")[uid].body), simple_message("one"))
            s2 = srv.snapshot()
            self.assertNotEqual(s1, s2)
            srv.create("Ünter")
            self.assertIn("Ünter", srv.folders())
            srv.append("Ünter", simple_message("two"))
            v1 = srv.status("Ünter")["UIDVALIDITY"]
            srv.delete("Ünter")
            srv.create("Ünter")
            self.assertNotEqual(srv.status("Ünter")["UIDVALIDITY"], v1)
            srv.expunge("INBOX", uid)
            self.assertEqual(srv.messages("INBOX"), {})
            # Expunged-then-empty differs from never-used (UIDNEXT).
            self.assertNotEqual(srv.snapshot()["INBOX"], s0["INBOX"])

    def test_assert_synced_can_fail(self):
        """assert_synced passes on a correct Maildir and fails on each kind of
        difference (flags, body, missing file, wrong FMD5, wrong subdir)."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("one"), ["\\Seen"])
            srv.append("INBOX", simple_message("two"), [])
            msgs = srv.messages("INBOX")
        harness.make_local_folder(self.mail, "INBOX")
        fmd5 = md5s("INBOX")
        paths = {}
        for uid, m in msgs.items():
            fl = maildir_flags(m.flags)
            name = "1700000000_%d.1.testhost,U=%d,FMD5=%s:2,%s" % (uid, uid, fmd5, fl)
            p = os.path.join(self.mail, "INBOX", "cur" if "S" in fl else "new", name)
            with open(p, "wb") as f:
                f.write(crlf_to_lf(m.body))
            paths[uid] = p
        self.assert_synced("INBOX")

        def must_fail(mutate, undo):
            mutate()
            try:
                with self.assertRaises(AssertionError):
                    self.assert_synced("INBOX")
            finally:
                undo()
            self.assert_synced("INBOX")

        p1 = paths[1]
        flagged = p1.replace(":2,S", ":2,FS")
        must_fail(lambda: os.rename(p1, flagged), lambda: os.rename(flagged, p1))
        orig = harness.read_bytes(p1)

        def write(b):
            with open(p1, "wb") as f:
                f.write(b)
        must_fail(lambda: write(orig + b"changed\n"), lambda: write(orig))
        must_fail(lambda: write(orig.replace(b"\n", b"\r\n")), lambda: write(orig))
        hidden = os.path.join(self.tmp, "hidden")
        must_fail(lambda: os.rename(p1, hidden), lambda: os.rename(hidden, p1))
        bad_md5 = p1.replace(fmd5, md5s("Other"))
        must_fail(lambda: os.rename(p1, bad_md5), lambda: os.rename(bad_md5, p1))
        in_new = p1.replace("/cur/", "/new/")
        must_fail(lambda: os.rename(p1, in_new), lambda: os.rename(in_new, p1))
        dup = p1.replace("1700000000_1", "1700000001_1")
        must_fail(lambda: shutil.copy(p1, dup), lambda: os.unlink(dup))
        # assert_nothing_copied recognises change lines.
        r = harness.Result(["x"], type("P", (), {"returncode": 0, "stdout": b"Folder INBOX: 2 copied to Maildir, 0 copied to IMAP\n", "stderr": b""})())
        with self.assertRaises(AssertionError):
            self.assert_nothing_copied(r)
        r.output = "Copy message UID 3 (1/1) Remote:INBOX -> Local:INBOX\n"
        with self.assertRaises(AssertionError):
            self.assert_nothing_copied(r)
        r.output = "Folder INBOX: nothing to do\n0 copied to Maildir, 0+0 flag changes\n"
        self.assert_nothing_copied(r)


class TestRegistry(unittest.TestCase):
    def test_all_tests_registered(self):
        """Every test method of every test_*.py here is a meson test, and
        every registered name exists (no silently dropped tests)."""
        here = os.path.dirname(os.path.abspath(__file__))
        build = os.environ.get("MESON_BUILD_FILE", os.path.join(here, "meson.build"))
        text = harness.read_text(build)
        registered = set(re.findall(r"'(Test\w+\.test_\w+)'", text))
        defined = set()
        for fname in sorted(f for f in os.listdir(here)
                            if f.startswith("test_") and f.endswith(".py")):
            tree = ast.parse(harness.read_text(os.path.join(here, fname)))
            for cls in tree.body:
                if isinstance(cls, ast.ClassDef):
                    for fn in cls.body:
                        if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                            defined.add("%s.%s" % (cls.name, fn.name))
        self.assertEqual(defined - registered, set(), "tests missing from meson.build")
        self.assertEqual(registered - defined, set(), "meson.build names unknown tests")


if __name__ == "__main__":
    harness.main()
