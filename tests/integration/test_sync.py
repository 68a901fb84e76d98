#!/usr/bin/python3
"""End-to-end sync tests: the offlinefs binary against a real Dovecot.

Why: these are the behaviours a user relies on when replacing OfflineIMAP
(tests/integration/harness.py explains the machinery).  Every test checks
the real state of both sides — the server through imaplib, the Maildir
through its files — never just offlinefs' own messages or exit status.

Run one test:  OFFLINEFS=build/tools/offlinefs python3 tests/integration/test_sync.py TestSync.test_initial
Meson registers each test method as its own test (tests/integration/meson.build).
"""

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (ACCOUNT, add_local_message, crlf_to_lf, local_name,  # noqa: E402
                     maildir_flags, maildir_folders, maildir_messages, make_local_folder,
                     md5s, set_local_flags, simple_message, sqlite_dump, tree_checksum,
                     tree_snapshot)


def status_db(meta):
    return os.path.join(meta, "Account-" + ACCOUNT, "offlinefs.sqlite")


class TestSync(harness.SyncTestCase):
    """Two-way sync semantics, OfflineIMAP-compatible."""

    # ------------------------------------------------------------ basics
    def test_initial(self):
        """First sync of several folders (incl. nested and non-ASCII names):
        every message arrives byte-identical apart from CRLF->LF, with the
        right flags, U=, FMD5 and cur/new placement; the status cache exists."""
        m = self.load_corpus(messages=40)
        with self.server() as srv:
            remote = srv.folders()
            for f in m["folders"]:
                self.assertIn(f["name"], remote)  # precondition: loaded
        r = self.sync()
        self.assertEqual(maildir_folders(self.mail), {local_name(f) for f in remote},
                         "local folders vs server folders %s" % sorted(remote))
        self.assertIn("Caf&AOk-.Re&AOc-us", maildir_folders(self.mail))
        self.assertIn("Entw&APw-rfe", maildir_folders(self.mail))
        total = 0
        with self.server() as srv:
            for f in m["folders"]:
                server, local = self.assert_synced(f["name"], srv=srv)
                self.assertEqual(len(local), len(f["messages"]), f["name"])
                total += len(local)
                # The corpus bytes themselves (LF) are what lands locally.
                want = sorted(harness.read_bytes(os.path.join(self.tmp, "corpus", e["file"]))
                              for e in f["messages"])
                self.assertEqual(sorted(lm.body for lm in local), want)
                # Flags from the manifest, independently of the server.
                self.assertEqual(sorted(lm.flags for lm in local),
                                 sorted(e["maildir_flags"] for e in f["messages"]))
        self.assertEqual(total, 40)
        self.assertTrue(os.path.isfile(status_db(self.meta)),
                        "no status cache at %s\n%s" % (status_db(self.meta), r))

    def test_local_changes_listed_ahead(self):
        """Local flag changes in every folder (and the server's news in
        one): the folders are listed ahead on the checker's thread while
        the ones before them sync (see prefetch_local_listings), and every
        change still reaches the other side exactly."""
        m = self.load_corpus(messages=40)
        self.sync()
        self.sync()  # settled: the next run skips what did not change
        with self.server() as srv:
            srv.append("INBOX", simple_message("news from the server"))
        want = {}
        for f in m["folders"]:
            msg = [x for x in self.local_messages(f["name"]) if x.uid and "F" not in x.flags][0]
            set_local_flags(msg, msg.flags + "F")
            want[f["name"]] = msg.uid
        r = self.sync("-d", "sync")
        self.assertIn("listed ahead by the checker's thread", r.output)
        with self.server() as srv:
            for name, uid in want.items():
                self.assertIn("\\Flagged", srv.messages(name)[uid].flags, name)
            for f in m["folders"]:
                self.assert_synced(f["name"], srv=srv)
        self.assertTrue(any(b"news from the server" in x.body
                            for x in self.local_messages("INBOX")))

    def test_rows_follow_directory_syncs(self):
        """New server mail in every folder: the renames that publish each
        folder's downloads are synced on a thread while the next folder's
        SELECT runs, and its rows and folder state are committed only after
        that (defer_rows). All of them land, the last folder's too: the
        status cache matches both sides, and the next run skips every
        folder without a SELECT."""
        m = self.load_corpus(messages=40)
        self.sync()
        self.sync()
        names = [f["name"] for f in m["folders"]]
        with self.server() as srv:
            for name in names:
                uid = min(srv.messages(name))
                srv.store(name, uid, "+FLAGS", ["\\Answered"])
                srv.append(name, simple_message("news in %s" % name))
        r = self.sync("-d", "sync,imap")
        wire = [harness.corpus_mod.mutf7_encode(n) for n in names]  # as the log has them
        for name in wire:
            self.assertIn("Folder %s: rows committed after its directory syncs" % name,
                          r.output)
        # a folder's rows go in after the next folder's SELECT went out
        first = min(r.output.index("Folder %s: rows committed" % n) for n in wire)
        self.assertEqual(len(re.findall(r"C: \S+ SELECT ", r.output[:first])), 2, r.output)
        with self.server() as srv:
            for name in names:
                self.assert_synced(name, srv=srv)
        con = sqlite3.connect("file:%s?mode=ro" % status_db(self.meta), uri=True)
        try:
            for name, w in zip(names, wire):
                rows = [u for (u,) in con.execute(
                    "SELECT m.uid FROM messages m JOIN folders f ON f.id = m.folder_id "
                    "WHERE f.name = ? ORDER BY m.uid", (w,))]
                with self.server() as srv:
                    self.assertEqual(rows, sorted(srv.messages(name)), name)
        finally:
            con.close()
        r = self.sync("-d", "imap")
        self.assertEqual(r.output.count("not selected"), len(names), r)

    def test_server_changes_reach_maildir(self):
        """New mail, flag changes and expunges on the server show up locally."""
        with self.server() as srv:
            for i in range(4):
                srv.append("INBOX", simple_message("server %d" % i), ["\\Seen"])
        self.sync()
        with self.server() as srv:
            new_uid = srv.append("INBOX", simple_message("arrived later"), ["\\Flagged"])
            srv.store("INBOX", 1, "-FLAGS", ["\\Seen"])
            srv.store("INBOX", 2, "+FLAGS", ["\\Answered", "\\Flagged"])
            srv.expunge("INBOX", 3)
        self.sync()
        server, local = self.assert_synced("INBOX")
        self.assertEqual(sorted(server), [1, 2, 4, new_uid])
        by_uid = {m.uid: m for m in local}
        self.assertEqual(by_uid[1].flags, "")
        self.assertEqual(by_uid[1].sub, "new")
        self.assertEqual(by_uid[2].flags, "FRS")
        self.assertEqual(by_uid[new_uid].flags, "F")
        self.assertIn(b"arrived later", by_uid[new_uid].body)
        self.assertNotIn(3, by_uid)

    def test_local_changes_reach_server(self):
        """New local mail is uploaded (and renamed to carry its UID), local
        flag changes are stored, and local deletions are expunged."""
        with self.server() as srv:
            for i in range(3):
                srv.append("INBOX", simple_message("server %d" % i))
        self.sync()
        local = {m.uid: m for m in self.local_messages("INBOX")}
        new_body = simple_message("written locally", "Grüße aus der Maildir.\n")
        add_local_message(self.mail, "INBOX", new_body, flags="S")
        add_local_message(self.mail, "INBOX", simple_message("delivered to new/"))
        set_local_flags(local[1], "FS")
        os.unlink(local[2].path)
        self.sync()
        with self.server() as srv:
            server = srv.messages("INBOX")
        self.assertEqual(server[1].flags, ("\\Flagged", "\\Seen"))
        self.assertNotIn(2, server)
        bodies = {crlf_to_lf(m.body): m for m in server.values()}
        self.assertIn(new_body, bodies)
        self.assertEqual(bodies[new_body].flags, ("\\Seen",))
        self.assertIn(simple_message("delivered to new/"), bodies)
        self.assertEqual(len(server), 4)
        # Uploaded files were renamed to carry the server UID.
        self.assert_synced("INBOX")

    def test_flag_stores_pipelined(self):
        """Local flag changes of several kinds go up as one UID STORE per
        flag and direction, all written before the first reply is read (one
        round trip), and each lands."""
        with self.server() as srv:
            for i in range(8):
                srv.append("INBOX", simple_message("m %d" % i), ["\\Seen"] if i < 4 else [])
        self.sync()
        local = {m.uid: m for m in self.local_messages("INBOX")}
        set_local_flags(local[1], "")      # -Seen
        set_local_flags(local[2], "FS")    # +Flagged
        set_local_flags(local[5], "RS")    # +Answered +Seen
        set_local_flags(local[6], "T")     # +Deleted (a flag here, not a deletion)
        set_local_flags(local[7], "F")     # +Flagged
        r = self.sync("-d", "imap")
        lines = [ln for ln in r.output.splitlines() if " STORE " in ln or " OK Store" in ln]
        sent = [ln for ln in lines if "C: " in ln]
        self.assertGreaterEqual(len(sent), 4, r.output)
        first_reply = next(i for i, ln in enumerate(lines) if " OK Store" in ln)
        self.assertEqual(first_reply, len(sent), "a STORE waited for a reply:\n%s"
                         % "\n".join(lines))
        with self.server() as srv:
            server = srv.messages("INBOX")
        self.assertEqual(server[1].flags, ())
        self.assertEqual(server[2].flags, ("\\Flagged", "\\Seen"))
        self.assertEqual(server[5].flags, ("\\Answered", "\\Seen"))
        self.assertEqual(server[6].flags, ("\\Deleted",))
        self.assertEqual(server[7].flags, ("\\Flagged",))
        self.assert_synced("INBOX")
        r = self.sync("-d", "imap")
        self.assertNotIn("UID STORE", r.output)

    def seen_inbox_synced(self, n, tag):
        """n \\Seen messages in INBOX, synced; their local files by UID."""
        with self.server() as srv:
            for i in range(n):
                srv.append("INBOX", simple_message("%s %d" % (tag, i)), ["\\Seen"])
        self.sync()
        return {m.uid: m for m in self.local_messages("INBOX")}

    @staticmethod
    def store_expunge_exchange(output):
        """The UID STORE / UID EXPUNGE lines sent and their tagged replies,
        in the order of a -d imap trace, and the commands sent."""
        lines = [ln for ln in output.splitlines()
                 if ("C: " in ln and (" UID STORE " in ln or " UID EXPUNGE " in ln))
                 or " OK Store" in ln or " OK Expunge" in ln]
        return lines, [ln for ln in lines if "C: " in ln]

    def test_deletes_pipelined(self):
        """Local deletions go up as UID STORE +FLAGS.SILENT (\\Deleted) and
        UID EXPUNGE written together (one round trip); exactly the deleted
        messages leave the server, the others stay."""
        local = self.seen_inbox_synced(6, "d")
        for uid in (2, 3, 5):
            os.unlink(local[uid].path)
        r = self.sync("-d", "imap")
        lines, sent = self.store_expunge_exchange(r.output)
        self.assertEqual(len(sent), 2, "\n".join(lines))
        self.assertIn("(\\Deleted)", sent[0])
        self.assertIn("UID EXPUNGE 2:3,5", sent[1])
        self.assertIn("C: ", lines[1], "the EXPUNGE waited for the STORE's reply:\n%s"
                      % "\n".join(lines))
        with self.server() as srv:
            self.assertEqual(sorted(srv.messages("INBOX")), [1, 4, 6])
        self.assert_synced("INBOX")

    def test_flags_and_deletes_one_round_trip(self):
        """A folder with local flag changes and local deletions: every UID
        STORE and the UID EXPUNGE are written before the first reply is read
        (one round trip for both), and each lands."""
        local = self.seen_inbox_synced(6, "fd")
        set_local_flags(local[1], "FS")    # +Flagged
        set_local_flags(local[4], "")      # -Seen
        os.unlink(local[2].path)
        os.unlink(local[6].path)
        r = self.sync("-d", "imap")
        lines, sent = self.store_expunge_exchange(r.output)
        self.assertEqual(len(sent), 4, "\n".join(lines))
        first_reply = next(i for i, ln in enumerate(lines) if "C: " not in ln)
        self.assertEqual(first_reply, len(sent), "a command waited for a reply:\n%s"
                         % "\n".join(lines))
        with self.server() as srv:
            server = srv.messages("INBOX")
        self.assertEqual(sorted(server), [1, 3, 4, 5])
        self.assertEqual(server[1].flags, ("\\Flagged", "\\Seen"))
        self.assertEqual(server[4].flags, ())
        self.assert_synced("INBOX")
        r = self.sync("-d", "imap")
        self.assertNotIn("UID STORE", r.output)

    def test_flag_merge_both_sides(self):
        """The same message flagged differently on each side keeps both flags."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("merge me"), ["\\Seen"])
        self.sync()
        (lm,) = self.local_messages("INBOX")
        with self.server() as srv:
            srv.store("INBOX", lm.uid, "+FLAGS", ["\\Flagged"])
        set_local_flags(lm, "RS")
        self.sync()
        server, local = self.assert_synced("INBOX")
        self.assertEqual(server[lm.uid].flags, ("\\Answered", "\\Flagged", "\\Seen"))
        self.assertEqual(local[0].flags, "FRS")

    # ------------------------------------------------------------ folders
    def test_folder_created_on_server(self):
        """A folder created on the server (nested, non-ASCII) appears locally
        with its mail, under the modified-UTF-7 name with '.' separators."""
        self.sync()
        with self.server() as srv:
            srv.create("Neu")
            srv.create("Neu/Ünterordner")
            srv.append("Neu/Ünterordner", simple_message("in a new folder"), ["\\Seen"])
        self.sync()
        self.assertIn("Neu.&ANw-nterordner", maildir_folders(self.mail))
        _server, local = self.assert_synced("Neu/Ünterordner")
        self.assertEqual(len(local), 1)

    def test_folder_created_locally(self):
        """A folder created in the Maildir appears on the server ('.' -> '/',
        modified UTF-7 decoded) with its mail."""
        self.sync()
        make_local_folder(self.mail, "Projekte")
        make_local_folder(self.mail, "Projekte.Gr&APw-n")
        body = simple_message("made locally")
        add_local_message(self.mail, "Projekte.Gr&APw-n", body, flags="S")
        self.sync()
        with self.server() as srv:
            self.assertIn("Projekte/Grün", srv.folders())
            msgs = srv.messages("Projekte/Grün")
        self.assertEqual([crlf_to_lf(m.body) for m in msgs.values()], [body])
        self.assert_synced("Projekte/Grün")

    # ------------------------------------------------------------ dry run
    def test_dry_run_first_run_creates_nothing(self):
        """--dry-run before any sync: no Maildir, no metadata, server unchanged."""
        self.load_corpus(messages=10, folders="INBOX,Entwürfe")
        with self.server() as srv:
            before = srv.snapshot()
        r = self.run_offlinefs("--dry-run")
        self.assertEqual(r.rc, 0, str(r))
        self.assert_contacted_server(r)
        self.assertRegex(r.output, r"(?i)dry.?run", "--dry-run reports nothing it would do")
        self.assertIn(local_name("Entwürfe"), r.output, "planned folder creation not reported")
        self.assertFalse(os.path.exists(self.mail), "Maildir created: %s" % tree_snapshot(self.mail))
        self.assertFalse(os.path.exists(self.meta), "metadata created: %s" % tree_snapshot(self.meta))
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), before)

    def test_dry_run_with_pending_changes(self):
        """--dry-run with changes pending on both sides touches nothing: the
        Maildir tree, the server and the status cache stay identical."""
        with self.server() as srv:
            for i in range(3):
                srv.append("INBOX", simple_message("m%d" % i), ["\\Seen"])
        self.sync()
        with self.server() as srv:
            srv.append("INBOX", simple_message("new on server"))
            srv.store("INBOX", 1, "+FLAGS", ["\\Flagged"])
            srv.create("ServerFolder")
        local = {m.uid: m for m in self.local_messages("INBOX")}
        add_local_message(self.mail, "INBOX", simple_message("new locally"))
        set_local_flags(local[2], "RS")
        os.unlink(local[3].path)
        make_local_folder(self.mail, "LocalFolder")
        with self.server() as srv:
            srv_before = srv.snapshot()
        tree_before = tree_snapshot(self.mail)
        db_before = sqlite_dump(status_db(self.meta))
        meta_files_before = sorted(tree_snapshot(self.meta))
        r = self.run_offlinefs("--dry-run")
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(tree_snapshot(self.mail), tree_before, "Maildir changed by --dry-run")
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), srv_before, "server changed by --dry-run")
        self.assertEqual(sqlite_dump(status_db(self.meta)), db_before, "status cache changed")
        self.assertEqual(sorted(tree_snapshot(self.meta)), meta_files_before)

    # ------------------------------------------------------------ readonly
    def test_remote_readonly(self):
        """readonly on the remote repository: local changes are not pushed,
        while server changes still come down."""
        with self.server() as srv:
            for i in range(3):
                srv.append("INBOX", simple_message("m%d" % i), ["\\Seen"])
        self.sync()
        local = {m.uid: m for m in self.local_messages("INBOX")}
        add_local_message(self.mail, "INBOX", simple_message("must stay local"))
        set_local_flags(local[1], "FS")
        os.unlink(local[2].path)
        make_local_folder(self.mail, "OnlyLocal")
        with self.server() as srv:
            new_uid = srv.append("INBOX", simple_message("from server"))
            before = srv.snapshot()
        self.write_config(remote={"readonly": "yes"})
        self.run_offlinefs()
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), before, "read-only remote was modified")
        uids = {m.uid for m in self.local_messages("INBOX")}
        self.assertIn(new_uid, uids, "server mail not downloaded with remote readonly")

    def test_local_readonly(self):
        """readonly on the local repository: nothing is downloaded (no new
        files, no flag changes, no new folders), local news still go up."""
        with self.server() as srv:
            for i in range(2):
                srv.append("INBOX", simple_message("m%d" % i))
        self.sync()
        with self.server() as srv:
            srv.append("INBOX", simple_message("must not be downloaded"))
            srv.store("INBOX", 1, "+FLAGS", ["\\Flagged"])
            srv.create("ServerOnly")
            srv.append("ServerOnly", simple_message("also not"))
        up = simple_message("goes up")
        add_local_message(self.mail, "INBOX", up)
        self.write_config(local={"readonly": "yes"})
        self.run_offlinefs()
        bodies = [m.body for m in self.local_messages("INBOX")]
        self.assertNotIn(simple_message("must not be downloaded"), bodies)
        self.assertEqual(len(bodies), 3)
        by_uid = {m.uid: m for m in self.local_messages("INBOX")}
        self.assertEqual(by_uid[1].flags, "", "flag change written to read-only Maildir")
        self.assertNotIn("ServerOnly", maildir_folders(self.mail))
        with self.server() as srv:
            self.assertIn(up, [crlf_to_lf(m.body) for m in srv.messages("INBOX").values()])

    def test_local_readonly_initial_downloads_nothing(self):
        """readonly local repository on a first run: no message file written
        (and the run succeeds: having nothing to do is not an error)."""
        self.load_corpus(messages=8, folders="INBOX,Archive")
        self.write_config(local={"readonly": "yes"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 0, "nothing to do is not an error:\n%s" % r)
        self.assert_contacted_server(r)
        files = [p for p in tree_snapshot(self.mail) if not p.endswith("/")]
        self.assertEqual(files, [])

    # ------------------------------------------------------------ UIDVALIDITY
    def test_uidvalidity_change_skips_folder(self):
        """With [Account] uidvalidity_recover = no, a folder whose
        UIDVALIDITY changed is skipped with exit status 2, its Maildir left
        exactly as it was; other folders still sync. (The default recovers:
        tests/integration/test_uidvalidity.py.)"""
        self.write_config(account={"uidvalidity_recover": "no"})
        with self.server() as srv:
            srv.create("Box")
            for i in range(3):
                srv.append("Box", simple_message("old %d" % i), ["\\Seen"])
            srv.append("INBOX", simple_message("inbox 1"))
            old_validity = srv.status("Box")["UIDVALIDITY"]
        self.sync()
        box = os.path.join(self.mail, "Box")
        box_before = tree_snapshot(box)
        self.assertEqual(len([p for p in box_before if not p.endswith("/")]), 3)
        with self.server() as srv:
            srv.delete("Box")
            srv.create("Box")
            srv.append("Box", simple_message("new world"), ["\\Flagged"])
            srv.append("INBOX", simple_message("inbox 2"))
            self.assertNotEqual(srv.status("Box")["UIDVALIDITY"], old_validity)  # precondition
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 2, str(r))
        self.assertRegex(r.output.lower(), r"uid ?validity")
        self.assertEqual(tree_snapshot(box), box_before, "Maildir of the skipped folder changed")
        self.assert_synced("INBOX")
        with self.server() as srv:
            self.assertEqual(len(srv.messages("Box")), 1, "server folder modified")

    # ------------------------------------------------------------ idempotence
    def test_second_run_changes_nothing(self):
        """Right after a sync, another sync changes nothing anywhere and its
        log reports nothing copied, deleted or reflagged."""
        self.load_corpus(messages=30)
        with self.server() as srv:
            srv.append("INBOX", simple_message("flags", "x\n"), ["\\Draft", "\\Answered"])
        self.sync()
        with self.server() as srv:  # precondition: the first sync did the work
            for f in srv.folders():
                self.assert_synced(f, srv=srv)
        self.assertEqual(len([p for p in tree_snapshot(self.mail) if not p.endswith("/")]), 31)
        tree = tree_checksum(self.mail)
        snap = tree_snapshot(self.mail)
        with self.server() as srv:
            state = srv.snapshot()
        r = self.sync()
        self.assertEqual(tree_snapshot(self.mail), snap)
        self.assertEqual(tree_checksum(self.mail), tree)
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), state)
        self.assert_nothing_copied(r)

    # ------------------------------------------------------------ TLS
    def assert_refused(self, r, words):
        self.assertNotEqual(r.rc, 0, "connection was accepted:\n%s" % r)
        self.assertRegex(r.output.lower(), "|".join(words), str(r))
        files = [p for p in tree_snapshot(self.mail) if not p.endswith("/")]
        self.assertEqual(files, [], "messages written despite a refused certificate")

    def assert_unreachable(self, r, *words):
        """One ERROR line naming the server and why; nothing written."""
        self.assertEqual(r.rc, 1, str(r))
        errs = [ln for ln in r.err.splitlines() if ln.startswith("ERROR")]
        self.assertEqual(len(errs), 1, str(r))
        for w in words:
            self.assertRegex(errs[0], w, str(r))
        files = [p for p in tree_snapshot(self.mail) if not p.endswith("/")]
        self.assertEqual(files, [], "messages written without a server")

    def test_connect_refused(self):
        """Nothing listens on the port: the TCP connect (sent before the
        status cache opens, see imap_begin_connect) fails with one line
        naming host, port and the reason."""
        with socket.socket() as s:  # a port that was free a moment ago
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.write_config(remote={"remotehost": "127.0.0.1", "remoteport": str(port)})
        self.assert_unreachable(self.run_offlinefs(), r"127\.0\.0\.1:%d" % port,
                                "[Cc]onnection refused")

    def test_unknown_host(self):
        """A name that does not resolve: one line saying so."""
        self.write_config(remote={"remotehost": "no-such-host.invalid"})
        self.assert_unreachable(self.run_offlinefs(), "no-such-host\\.invalid",
                                "cannot resolve host")

    def test_tls_wrong_ca(self):
        """A server certificate not signed by sslcacertfile is refused."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("secret"))
        self.write_config(remote={"sslcacertfile": self.dc.wrong_cafile})
        self.assert_refused(self.run_offlinefs(), ["certificate", "verif"])

    def test_tls_wrong_fingerprint(self):
        """cert_fingerprint that does not match the server's is refused, even
        when the CA would accept the certificate."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("secret"))
        fp = self.dc.info()["cert_fingerprint_sha256"]
        wrong = ("0" if fp[0] != "0" else "1") + fp[1:]
        self.write_config(remote={"cert_fingerprint": wrong})
        self.assert_refused(self.run_offlinefs(), ["fingerprint"])

    def test_tls_right_fingerprint_accepted(self):
        """The matching cert_fingerprint alone (no CA file) is enough: the
        counterpart that makes the wrong-fingerprint test meaningful."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("hello"))
        fp = self.dc.info()["cert_fingerprint_sha256"]
        self.write_config(remote={"cert_fingerprint": fp, "sslcacertfile": None})
        self.sync()
        self.assert_synced("INBOX")

    def test_signals_during_sync_harmless(self):
        """SIGUSR1 ("sync now") arriving again and again during a sync, TLS
        handshakes of several connections included, must not fail it: an
        interrupted read or write is resumed, never taken for a broken
        connection."""
        import signal
        import time
        self.load_corpus(messages=60)
        self.write_config(remote={"maxconnections": "4"})
        for attempt in range(3):
            shutil.rmtree(self.mail, ignore_errors=True)
            shutil.rmtree(self.meta, ignore_errors=True)
            p = subprocess.Popen([self.offlinefs, "-c", self.conf, "-o", "-u", "basic"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            # signals only once the handlers are in place (the first line
            # comes after them): before, SIGUSR1 would just kill it
            first = p.stdout.readline().decode(errors="replace")
            sent = 0
            while p.poll() is None:
                try:
                    p.send_signal(signal.SIGUSR1)
                    sent += 1
                except ProcessLookupError:
                    break
                time.sleep(0.0002)
            out = first + p.stdout.read().decode(errors="replace")
            self.assertGreater(sent, 20)
            self.assertEqual(p.returncode, 0, "attempt %d, %d signals:\n%s" % (attempt, sent, out))
            self.assertNotIn("ERROR", out)
        for f in ("INBOX", "Archive"):
            self.assert_synced(f)

    def test_debug_imap_never_shows_password(self):
        """-d imap traces the protocol but never the password, in any auth
        mechanism, on the console or in the -l log file."""
        pw = self.password
        import base64
        plain_b64 = base64.b64encode(b"\0" + self.user.encode() + b"\0" + pw.encode()).decode()
        for mech in ("PLAIN", "LOGIN"):
            with self.subTest(auth=mech):
                log = os.path.join(self.client, "debug-%s.log" % mech)
                self.write_config(remote={"auth_mechanisms": mech})
                r = self.run_offlinefs("-d", "imap", "-l", log)
                self.assertEqual(r.rc, 0, str(r))
                with open(log, errors="replace") as f:
                    logtext = f.read()
                text = r.output + logtext
                self.assertRegex(text, r"(?i)\b(select|examine|list|capability)\b",
                                 "no IMAP trace in -d imap output")
                for secret in (pw, plain_b64, base64.b64encode(pw.encode()).decode()):
                    self.assertNotIn(secret, text)

    # ------------------------------------------------------------ OfflineIMAP compat
    def test_offlineimap_maildir_recognised(self):
        """A Maildir and metadata written by the real offlineimap are taken
        over: offlinefs downloads nothing, uploads nothing, and creates no
        duplicates."""
        exe = shutil.which("offlineimap")
        if not exe:
            self.skipTest("offlineimap (Debian offlineimap3) not installed")
        self.load_corpus(messages=25)
        with self.server() as srv:
            srv.store("INBOX", 1, "+FLAGS", ["\\Flagged"])
        p = subprocess.run([exe, "-c", self.conf, "-o", "-u", "basic"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode(errors="replace")
        print("$ offlineimap ...\n" + out, file=sys.stderr)
        self.assertEqual(p.returncode, 0, "offlineimap itself failed:\n" + out)
        self.assertTrue(os.path.isdir(os.path.join(self.meta, "Account-" + ACCOUNT,
                                                   "LocalStatus-sqlite")))
        tree = tree_snapshot(self.mail)
        with self.server() as srv:
            state = srv.snapshot()
        counts = {f: len(v[2]) for f, v in state.items()}
        r = self.sync()
        self.assert_contacted_server(r)
        self.assertTrue(os.path.isfile(status_db(self.meta)),
                        "offlinefs kept no status cache of its own")
        self.assertEqual(tree_snapshot(self.mail), tree, "offlinefs changed offlineimap's Maildir")
        with self.server() as srv:
            after = srv.snapshot()
        self.assertEqual({f: len(v[2]) for f, v in after.items()}, counts)
        self.assertEqual(after, state)
        self.assert_nothing_copied(r)
        for f in state:
            self.assert_synced(f)

    def test_offlineimap_status_taken_over(self):
        """OfflineIMAP's status DB is the base of the first offlinefs run:
        a flag removed on the server after offlineimap's last run is removed
        locally (without the old base it would look like a local change and
        be pushed back), and a flag added locally reaches the server."""
        exe = shutil.which("offlineimap")
        if not exe:
            self.skipTest("offlineimap (Debian offlineimap3) not installed")
        with self.server() as srv:
            srv.append("INBOX", simple_message("one"), ["\\Seen", "\\Flagged"])
            srv.append("INBOX", simple_message("two"), ["\\Seen"])
        p = subprocess.run([exe, "-c", self.conf, "-o", "-u", "basic"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
        with self.server() as srv:
            srv.store("INBOX", 1, "-FLAGS", ["\\Flagged"])
        local = {m.uid: m for m in self.local_messages("INBOX")}
        set_local_flags(local[2], "RS")
        r = self.sync()
        self.assertIn("imported", r.out + r.err)
        with self.server() as srv:
            server = srv.messages("INBOX")
        self.assertEqual(server[1].flags, ("\\Seen",))
        self.assertEqual(server[2].flags, ("\\Answered", "\\Seen"))
        self.assertEqual(len(server), 2)
        self.assert_synced("INBOX")

    # ------------------------------------------------------------ CLI options
    def test_folder_option_limits_sync(self):
        """-f syncs only the named remote folders; the others stay untouched."""
        with self.server() as srv:
            srv.create("Other")
            srv.append("Other", simple_message("not now"))
            srv.append("INBOX", simple_message("now"))
        self.sync("-f", "INBOX")
        self.assert_synced("INBOX")
        self.assertEqual(len(self.local_messages("INBOX")), 1)
        self.assertEqual(self.local_messages("Other"), [])

    def test_k_override(self):
        """-k Section_Name:option=value overrides the config file (here: the
        Maildir root), with '_' standing for ' ' in the section name."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("elsewhere"))
        other = os.path.join(self.client, "OtherMail")
        self.sync("-k", "Repository_%s:localfolders=%s" % (harness.LOCAL_REPO, other))
        self.assertEqual(len(maildir_messages(other, "INBOX")), 1)
        self.assertEqual(self.local_messages("INBOX"), [])

    # ------------------------------------------------------------ config errors
    def assert_untouched(self, before_srv):
        self.assertFalse(os.path.exists(self.mail), "Maildir created")
        self.assertFalse(os.path.exists(self.meta), "metadata created")
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), before_srv)

    def test_bad_config_reports_file_and_line(self):
        """Broken configs give exactly one error line naming the file and
        the line number, exit 1, and touch nothing."""
        good = harness.read_text(self.conf).splitlines()
        with self.server() as srv:
            srv.append("INBOX", simple_message("x"))
            before = srv.snapshot()
        idx = good.index("[Account %s]" % ACCOUNT)
        cases = {
            # a line that is neither section, option nor comment
            "no-equals": good[:idx + 1] + ["this line is not an option"] + good[idx + 1:],
            # configparser (Python 3) rejects duplicate options; the error is
            # at the second occurrence, which we put right after the first.
            "duplicate-option": good[:idx + 2] + ["localrepository = Other"] + good[idx + 2:],
            "duplicate-section": good + ["", "[Account %s]" % ACCOUNT, "localrepository = L"],
        }
        self.assertTrue(good[idx + 1].startswith("localrepository"))
        lines = {"no-equals": idx + 2, "duplicate-option": idx + 3,
                 "duplicate-section": len(good) + 2}
        for case, text in cases.items():
            with self.subTest(case=case):
                path = self.write_config(raw="\n".join(text) + "\n", name="bad-%s.rc" % case)
                r = self.run_offlinefs(conf=path)
                self.assertEqual(r.rc, 1, str(r))
                err = [ln for ln in r.err.splitlines() if ln.strip()]
                self.assertEqual(len(err), 1, "expected one error line:\n%s" % r)
                self.assertIn(os.path.basename(path), err[0])
                self.assertRegex(err[0], r"\b%d\b" % lines[case],
                                 "line %d not named:\n%s" % (lines[case], r))
                self.assert_untouched(before)

    def test_unknown_account(self):
        """-a with an account that is not in the config: clear error, exit 1,
        nothing touched."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("x"))
            before = srv.snapshot()
        r = self.run_offlinefs("-a", "Nosuchaccount")
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("Nosuchaccount", r.err)
        self.assertRegex(r.err.lower(), "account")
        self.assert_untouched(before)


class TestTlsHostname(harness.SyncTestCase):
    """Server certificate issued for another name (imap.example.test only)."""

    CERT_HOSTS = ["imap.example.test"]

    def test_tls_wrong_hostname(self):
        """Connecting to localhost / 127.0.0.1 with a certificate for
        imap.example.test is refused although the CA is right."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("secret"))
        for host in ("localhost", "127.0.0.1"):
            with self.subTest(host=host):
                self.write_config(remote={"remotehost": host})
                r = self.run_offlinefs()
                self.assertNotEqual(r.rc, 0, "wrong host name accepted:\n%s" % r)
                self.assertRegex(r.output.lower(), "certificate|verif|host ?name|mismatch", str(r))
                files = [p for p in tree_snapshot(self.mail) if not p.endswith("/")]
                self.assertEqual(files, [])

    def server(self):
        # Our own helper must not verify the name either: connect by the
        # certificate's name via the IP, using Python's SNI/hostname override.
        import imaplib
        import ssl

        ctx = ssl.create_default_context(cafile=self.dc.cafile)
        ctx.check_hostname = False  # we only need server access for setup
        h = harness.Imap.__new__(harness.Imap)
        h.dc = self.dc
        h.c = imaplib.IMAP4_SSL("127.0.0.1", self.dc.imaps_port, ssl_context=ctx)
        h.c.login(self.user, self.password)
        return h


class TestNoExtensions(harness.SyncTestCase):
    """Server advertising no UIDPLUS/CONDSTORE/QRESYNC/MOVE: the fallback
    paths (X-OfflineIMAP header search after APPEND) must give the same result."""

    EXTENSIONS = False

    def test_two_way_without_extensions(self):
        """Upload, download, flags and deletions work against a server
        without UIDPLUS/CONDSTORE."""
        with self.server() as srv:
            caps = set(srv.c.capabilities)
            self.assertNotIn("UIDPLUS", caps)  # precondition: fixture toggle works
            for i in range(3):
                srv.append("INBOX", simple_message("m%d" % i), ["\\Seen"])
        self.sync()
        local = {m.uid: m for m in self.local_messages("INBOX")}
        add_local_message(self.mail, "INBOX", simple_message("up without uidplus"), flags="S")
        set_local_flags(local[1], "FS")
        os.unlink(local[2].path)
        with self.server() as srv:
            srv.store("INBOX", 3, "+FLAGS", ["\\Answered"])
        self.sync()
        server, local2 = self.assert_synced("INBOX", strip_marker=True)
        self.assertEqual(len(server), 3)
        bodies = [m.body for m in local2]
        self.assertEqual(len(bodies), len(set(bodies)), "duplicate local messages")
        r = self.sync()
        self.assert_nothing_copied(r)


if __name__ == "__main__":
    harness.main()
