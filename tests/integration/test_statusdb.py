#!/usr/bin/python3
"""A damaged status database, its rebuild, and a full disk under it
(issue 12 §5).

Why: the status DB is the base of every three-way decision. A damaged one
must stop the run with a line that says what to do (in valid UTF-8), and
the way out (offlinefs -o --rebuild-status) must move no mail at all: no
download, no upload, no deletion, proven here on both sides' real contents
and on Dovecot's own log of the commands offlinefs sent. A full disk under
the metadata must be reported with the file and the errno.
"""

import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ACCOUNT, add_local_message, simple_message, tree_checksum  # noqa: E402


class TestStatusDb(harness.SyncTestCase):

    def db(self):
        return os.path.join(self.meta, "Account-" + ACCOUNT, "offlinefs.sqlite")

    def setup_synced(self, n=12):
        with self.server() as srv:
            for i in range(n):
                srv.append("INBOX", simple_message("msg %d" % i), ["\\Seen"] if i % 2 else [])
            srv.create("Archive")
            srv.append("Archive", simple_message("archived"))
        self.sync()

    def rows(self):
        with sqlite3.connect(self.db()) as c:
            return sorted(c.execute("SELECT f.name, m.uid, m.flags FROM messages m "
                                    "JOIN folders f ON f.id = m.folder_id"))

    def damage(self, how):
        path = self.db()
        self.run_offlinefs()  # checkpoint: everything in the main file
        for side in ("-wal", "-shm"):
            if os.path.exists(path + side):
                os.unlink(path + side)
        if how == "truncated":
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 3)
        else:
            with open(path, "r+b") as f:
                f.seek(0)
                f.write(bytes(range(256)) * 8 + b"\xff\xfe\x80\x81" * 512)

    def assert_damage_reported(self, r):
        self.assertEqual(r.rc, 1, r)
        raw = r.argv and subprocess.run(r.argv, capture_output=True).stdout
        raw += subprocess.run(r.argv, capture_output=True).stderr
        raw.decode("utf-8")  # valid UTF-8, or this raises
        errs = [ln for ln in r.output.splitlines() if "ERROR" in ln]
        self.assertEqual(len(errs), 1, r)
        self.assertIn("offlinefs.sqlite", errs[0])
        self.assertIn("--rebuild-status", errs[0])
        self.assertNotRegex(errs[0], r"[\x00-\x08\x0b-\x1f\x7f]")

    def check_rebuild(self, how):
        self.setup_synced()
        before_rows = self.rows()
        local_before = tree_checksum(self.mail)
        with self.server() as srv:
            server_before = srv.snapshot()
        self.damage(how)
        r = self.run_offlinefs()
        self.assert_damage_reported(r)
        self.assertEqual(tree_checksum(self.mail), local_before)
        cmd = re.search(r"run: (offlinefs .*)$", [ln for ln in r.output.splitlines()
                                                   if "ERROR" in ln][0]).group(1).split()
        argv = [self.offlinefs] + cmd[1:]
        self.assertEqual(argv[-1], "--rebuild-status")
        log_before = os.path.getsize(self.dc.log) if os.path.exists(self.dc.log) else 0
        p = subprocess.run(argv + ["-d", "imap"], capture_output=True, timeout=100)
        out = (p.stdout + p.stderr).decode()
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("moved aside", out)
        self.assertIn("status rebuilt", out)
        # no download, upload or deletion: the IMAP trace shows none
        sent = "\n".join(ln.upper() for ln in out.splitlines() if " C: " in ln)
        self.assertIn("UID FETCH", sent)  # the trace is there
        for cmdword in ("APPEND", "EXPUNGE", "BODY[]", "BODY.PEEK[]", "+FLAGS", "-FLAGS",
                        "UID MOVE", "UID COPY", "UID STORE", " STORE "):
            self.assertNotIn(cmdword, sent, cmdword)
        self.assertEqual(tree_checksum(self.mail), local_before)
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), server_before)
        self.assertEqual(self.rows(), before_rows)
        aside = [f for f in os.listdir(os.path.dirname(self.db())) if ".damaged-" in f]
        self.assertTrue(aside, os.listdir(os.path.dirname(self.db())))
        # the next normal run finds nothing to do
        r = self.sync()
        self.assert_nothing_copied(r)
        self.assertEqual(tree_checksum(self.mail), local_before)
        del log_before

    def test_truncated_db_rebuilt(self):
        self.check_rebuild("truncated")

    def test_garbage_db_rebuilt(self):
        self.check_rebuild("garbage")

    def test_rebuild_pairs_unnamed_local_file(self):
        """A Maildir file without U= whose message is on the server (a
        mount's upload whose names row went with the DB) is paired by
        content, not uploaded again."""
        self.setup_synced(3)
        body = simple_message("uploaded by the mount")
        with self.server() as srv:
            srv.append("INBOX", body, ["\\Seen"])
        add_local_message(self.mail, "INBOX", body, flags="S")
        os.unlink(self.db())
        for side in ("-wal", "-shm"):
            if os.path.exists(self.db() + side):
                os.unlink(self.db() + side)
        r = self.sync("--rebuild-status")
        self.assertRegex(r.output, r"INBOX: status rebuilt: 4 messages on both sides \(1 of")
        r = self.sync()
        self.assert_nothing_copied(r)
        with self.server() as srv:
            self.assertEqual(len(srv.messages("INBOX")), 4)
        self.assert_synced("INBOX")

    def test_disk_full_names_file_and_errno(self):
        """The metadata on a full file system: the error line names the
        status DB and the errno (it used to say "status cache: failed")."""
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a tmpfs")
        tm = os.path.join(self.tmp, "tm")
        os.mkdir(tm)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tm]).returncode:
            self.skipTest("cannot mount a tmpfs here")
        self.addCleanup(subprocess.run, ["umount", "-l", tm])
        self.meta = os.path.join(tm, "meta")
        self.write_config(general={"metadata": self.meta})
        self.setup_synced(3)
        # fill the file system to the last byte
        fd = os.open(os.path.join(tm, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        with self.server() as srv:
            for i in range(200):
                srv.append("INBOX", simple_message("more %d" % i, "x" * 2000 + "\n"))
        r = self.run_offlinefs()
        self.assertNotEqual(r.rc, 0, r)
        errs = [ln for ln in r.output.splitlines() if "status cache" in ln or "sqlite" in ln]
        self.assertTrue(errs, r)
        for ln in errs:
            self.assertNotIn("status cache: failed", ln)
        self.assertTrue(any("offlinefs.sqlite" in ln and "No space left on device" in ln
                            for ln in errs), r)


if __name__ == "__main__":
    harness.main()
