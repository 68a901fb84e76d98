#!/usr/bin/python3
"""Alternating offlinefs and the real offlineimap on one Maildir.

Why: a user who tries offlinefs must be able to go back to OfflineIMAP (and
forth again) without anything lost or undone.  offlinefs keeps OfflineIMAP's
LocalStatus-sqlite and FolderValidity in step (cache/oimap_status.h) and
takes OfflineIMAP's newer status as its base when offlineimap ran since.
Each step below changes both sides (flags, deletions, new mail), runs one
tool, and checks the whole state by Subject against a model: the same
messages on both sides, each exactly once, with the expected flags; a
message that existed before keeps its server UID (not uploaded again) and
its local inode (not downloaded again).

Run one test:  OFFLINEFS=build/tools/offlinefs python3 tests/integration/test_switch_back.py TestSwitchBack.test_alternate_offlineimap_first
"""

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (ACCOUNT, LOCAL_REPO, REMOTE_REPO, add_local_message,  # noqa: E402
                     maildir_flags, set_local_flags, simple_message)


def subject(body):
    m = re.search(rb"^Subject: (.*?)\r?$", body, re.M)
    return m.group(1).decode() if m else None


class TestSwitchBack(harness.SyncTestCase):

    def setUp(self):
        super().setUp()
        self.exe = shutil.which("offlineimap")
        if not self.exe:
            self.skipTest("offlineimap (Debian offlineimap3) not installed")
        self.server_uid = {}   # subject -> server UID once seen
        self.inode = {}        # subject -> local inode once seen

    # ------------------------------------------------------------ tools
    def offlineimap(self):
        p = subprocess.run([self.exe, "-c", self.conf, "-o", "-u", "basic"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode(errors="replace")
        print("$ offlineimap -o\n" + out, file=sys.stderr)
        self.assertEqual(p.returncode, 0, "offlineimap failed:\n" + out)
        self.assertNotIn("UID validity problem", out)
        return out

    def oimap_db(self, folder):
        return os.path.join(self.meta, "Account-" + ACCOUNT, "LocalStatus-sqlite",
                            folder.replace("/", "."))

    # ------------------------------------------------------------ model
    def local(self, folder="INBOX"):
        out = {}
        for m in self.local_messages(folder):
            s = subject(m.body)
            self.assertNotIn(s, out, "%r twice in the Maildir" % s)
            out[s] = m
        return out

    def check(self, expected, folder="INBOX", step=""):
        """expected: {subject: maildir flag letters}; both sides must hold
        exactly these, once each, with stable UIDs and inodes."""
        with self.server() as srv:
            server = srv.messages(folder)
        by_subject = {}
        for uid, m in server.items():
            s = subject(m.body)
            self.assertNotIn(s, by_subject, "%s: %r twice on the server" % (step, s))
            by_subject[s] = (uid, maildir_flags(m.flags))
        self.assertEqual({s: f for s, (u, f) in by_subject.items()}, expected,
                         "%s: server of %s" % (step, folder))
        local = self.local(folder)
        self.assertEqual({s: m.flags for s, m in local.items()}, expected,
                         "%s: Maildir of %s" % (step, folder))
        for s, (uid, f) in by_subject.items():
            key = (folder, s)
            self.assertEqual(self.server_uid.setdefault(key, uid), uid,
                             "%s: %r uploaded again" % (step, s))
            self.assertEqual(local[s].uid, uid, "%s: %r" % (step, s))
        for s, m in local.items():
            key = (folder, s)
            ino = os.stat(m.path).st_ino
            self.assertEqual(self.inode.setdefault(key, ino), ino,
                             "%s: %r downloaded again" % (step, s))
        self.assert_synced(folder)

    def set_flags(self, subj, flags, folder="INBOX"):
        set_local_flags(self.local(folder)[subj], flags)

    def unlink(self, subj, folder="INBOX"):
        os.unlink(self.local(folder)[subj].path)

    def new_local(self, subj, flags="", folder="INBOX"):
        p = add_local_message(self.mail, folder, simple_message(subj), flags)
        self.inode[(folder, subj)] = os.stat(p).st_ino

    def server_uid_of(self, subj, folder="INBOX"):
        return self.server_uid[(folder, subj)]

    # ------------------------------------------------------------ tests
    def test_flag_removed_on_server_not_pushed_back(self):
        """The issue's case: offlineimap syncs; offlinefs syncs a server
        +\\Flagged; the user unflags on the server; offlineimap must not flag
        it again (it did, from its stale status)."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("one"), ["\\Seen"])
        self.offlineimap()
        with self.server() as srv:
            srv.store("INBOX", 1, "+FLAGS", ["\\Flagged"])
        self.sync()
        self.check({"one": "FS"}, step="offlinefs")
        with self.server() as srv:
            srv.store("INBOX", 1, "-FLAGS", ["\\Flagged"])
        self.offlineimap()
        self.check({"one": "S"}, step="offlineimap after the server unflagged")
        con = sqlite3.connect(self.oimap_db("INBOX"))
        self.assertEqual(con.execute("SELECT id, flags, mtime, labels FROM status").fetchall(),
                         [(1, "S", 0, "")])
        con.close()

    def test_alternate_offlineimap_first(self):
        """offlineimap -> offlinefs -> offlineimap -> offlinefs ->
        offlineimap, with flag changes, deletions and new mail on both sides
        before each run."""
        with self.server() as srv:
            for s, fl in (("a", ["\\Seen"]), ("b", ["\\Seen", "\\Flagged"]), ("c", []),
                          ("d", ["\\Seen"]), ("e", ["\\Seen"])):
                srv.append("INBOX", simple_message(s), fl)
        self.offlineimap()
        self.check({"a": "S", "b": "FS", "c": "", "d": "S", "e": "S"}, step="offlineimap 1")

        # before offlinefs 1
        with self.server() as srv:
            srv.store("INBOX", self.server_uid_of("a"), "+FLAGS", ["\\Flagged"])
            srv.expunge("INBOX", self.server_uid_of("d"))
            srv.append("INBOX", simple_message("f"))
            srv.create("Lists")
            srv.append("Lists", simple_message("l1"), ["\\Seen"])
        self.set_flags("c", "S")
        self.unlink("e")
        self.new_local("g", "S")
        self.sync()
        self.check({"a": "FS", "b": "FS", "c": "S", "f": "", "g": "S"}, step="offlinefs 1")
        self.check({"l1": "S"}, folder="Lists", step="offlinefs 1")

        # before offlineimap 2: each change here is one offlineimap used to
        # undo (a re-flagged, f and l1 uploaded again, b re-flagged)
        with self.server() as srv:
            srv.store("INBOX", self.server_uid_of("a"), "-FLAGS", ["\\Flagged"])
            srv.expunge("INBOX", self.server_uid_of("f"))
            srv.expunge("Lists", self.server_uid_of("l1", "Lists"))
            srv.append("INBOX", simple_message("h"))
        self.set_flags("b", "S")
        self.new_local("i")
        self.offlineimap()
        self.check({"a": "S", "b": "S", "c": "S", "g": "S", "h": "", "i": ""},
                   step="offlineimap 2")
        self.check({}, folder="Lists", step="offlineimap 2")

        # before offlinefs 2: each change here is one offlinefs used to
        # undo (i downloaded again, h's flag taken back, g's deletion
        # undone) because its own status predates offlineimap's run
        with self.server() as srv:
            srv.store("INBOX", self.server_uid_of("c"), "+FLAGS", ["\\Flagged"])
            srv.expunge("INBOX", self.server_uid_of("g"))
            srv.append("INBOX", simple_message("j"), ["\\Seen"])
            srv.append("Lists", simple_message("l2"))
        self.unlink("i")
        self.set_flags("h", "RS")
        self.new_local("k", "F")
        harness.make_local_folder(self.mail, "Mine")  # a folder made in the mail reader
        self.new_local("m1", "S", folder="Mine")
        self.sync()
        self.check({"a": "S", "b": "S", "c": "FS", "h": "RS", "j": "S", "k": "F"},
                   step="offlinefs 2")
        self.check({"l2": ""}, folder="Lists", step="offlinefs 2")
        self.check({"m1": "S"}, folder="Mine", step="offlinefs 2")

        # before offlineimap 3
        with self.server() as srv:
            srv.store("INBOX", self.server_uid_of("k"), "-FLAGS", ["\\Flagged"])
            srv.expunge("INBOX", self.server_uid_of("j"))
        self.set_flags("a", "")
        self.unlink("b")
        self.offlineimap()
        self.check({"a": "", "c": "FS", "h": "RS", "k": ""}, step="offlineimap 3")
        self.check({"l2": ""}, folder="Lists", step="offlineimap 3")
        self.check({"m1": "S"}, folder="Mine", step="offlineimap 3")
        v = os.path.join(self.meta, "Repository-" + REMOTE_REPO, "FolderValidity", "Lists")
        with self.server() as srv:
            self.assertEqual(int(harness.read_text(v)), srv.status("Lists")["UIDVALIDITY"])
        v = os.path.join(self.meta, "Repository-" + LOCAL_REPO, "FolderValidity", "Lists")
        self.assertEqual(harness.read_text(v), "42\n")

    def test_alternate_offlinefs_first(self):
        """offlinefs -> offlineimap -> offlinefs -> offlineimap. offlinefs
        creates OfflineIMAP's files only where OfflineIMAP's status directory
        exists: a user about to switch for the first time creates it (README)
        and the next offlinefs run fills it, even for unchanged folders.
        Without it offlineimap's first run makes local flags win, as it does
        on any Maildir it has no status for."""
        with self.server() as srv:
            for s, fl in (("a", ["\\Seen"]), ("b", []), ("c", ["\\Seen"])):
                srv.append("INBOX", simple_message(s), fl)
        self.sync()
        self.check({"a": "S", "b": "", "c": "S"}, step="offlinefs 1")
        status_dir = os.path.join(self.meta, "Account-" + ACCOUNT, "LocalStatus-sqlite")
        self.assertFalse(os.path.exists(status_dir),
                         "offlinefs created OfflineIMAP's status for a user who never ran it")
        os.mkdir(status_dir)
        r = self.sync()
        self.assertIn("nothing to do (unchanged", r.out)
        self.assertTrue(os.path.exists(self.oimap_db("INBOX")))

        with self.server() as srv:
            srv.store("INBOX", self.server_uid_of("a"), "+FLAGS", ["\\Flagged"])
        self.set_flags("b", "S")
        self.new_local("d")
        self.offlineimap()
        self.check({"a": "FS", "b": "S", "c": "S", "d": ""}, step="offlineimap 1")

        with self.server() as srv:
            srv.store("INBOX", self.server_uid_of("a"), "-FLAGS", ["\\Flagged"])
            srv.expunge("INBOX", self.server_uid_of("c"))
            srv.append("INBOX", simple_message("e"))
        self.unlink("d")
        self.set_flags("b", "")
        self.sync()
        self.check({"a": "S", "b": "", "e": ""}, step="offlinefs 2")

        with self.server() as srv:
            srv.expunge("INBOX", self.server_uid_of("e"))
            srv.store("INBOX", self.server_uid_of("b"), "+FLAGS", ["\\Answered"])
        self.set_flags("a", "FS")
        self.offlineimap()
        self.check({"a": "FS", "b": "R"}, step="offlineimap 2")
        self.sync()
        self.check({"a": "FS", "b": "R"}, step="offlinefs 3")
        self.assert_nothing_copied(self.runs[-1])

    def test_stale_status_not_adopted(self):
        """OfflineIMAP's status as it was before the user switched (left by
        an offlinefs that did not keep it in step) is older than offlinefs's
        last sync: it is overwritten, never taken as the newer base (which
        would download again a message deleted locally since)."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("a"), ["\\Seen"])
        self.offlineimap()
        stale = os.path.join(self.tmp, "stale-INBOX")
        shutil.copy2(self.oimap_db("INBOX"), stale)
        with self.server() as srv:
            srv.append("INBOX", simple_message("b"))
        self.sync()
        self.check({"a": "S", "b": ""}, step="offlinefs 1")
        shutil.copy2(stale, self.oimap_db("INBOX"))
        old = os.stat(stale).st_mtime - 3600
        os.utime(self.oimap_db("INBOX"), (old, old))
        self.unlink("b")
        r = self.sync()
        self.assertNotIn("offlineimap has synced it", r.out)
        self.check({"a": "S"}, step="offlinefs 2")
        con = sqlite3.connect(self.oimap_db("INBOX"))
        self.assertEqual(con.execute("SELECT id, flags FROM status").fetchall(),
                         [(self.server_uid_of("a"), "S")])
        con.close()
        self.offlineimap()
        self.check({"a": "S"}, step="offlineimap after")


if __name__ == "__main__":
    harness.main()
