#!/usr/bin/python3
"""The mass deletion guard (sync/delete_guard.h, README "Mass deletion
guard") against a real Dovecot.

Why: a Maildir folder whose cur/ and new/ were emptied (a bad script, a
half-restored backup) looks to a three-way sync exactly like a user who
deleted every message; without the guard the next run deletes them all on
the server and exits 0. Each test checks the server's real contents with
imaplib and the Maildir's files, never just offlinefs' output.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ACCOUNT, local_name, maildir_messages, simple_message  # noqa: E402

N = 30


class TestDeleteGuard(harness.SyncTestCase):

    def fill(self, folder="INBOX", n=N):
        with self.server() as srv:
            if folder != "INBOX":
                srv.create(folder)
            for i in range(n):
                srv.append(folder, simple_message("%s message %d" % (folder, i)), ["\\Seen"])
        self.sync()
        self.assertEqual(len(self.local_messages(folder)), n)

    def empty_local(self, folder="INBOX"):
        d = os.path.join(self.mail, local_name(folder))
        for sub in ("cur", "new"):
            for f in os.listdir(os.path.join(d, sub)):
                os.unlink(os.path.join(d, sub, f))

    def server_count(self, folder="INBOX"):
        with self.server() as srv:
            return len(srv.messages(folder))

    def held_line(self, r, folder="INBOX"):
        lines = [ln for ln in r.output.splitlines()
                 if "Folder %s: held back" % folder in ln]
        self.assertEqual(len(lines), 1, "one held line for %s:\n%s" % (folder, r))
        return lines[0]

    def confirm_command(self, line):
        m = re.search(r"run: (offlinefs .*)$", line)
        self.assertIsNotNone(m, line)
        argv = shlex.split(m.group(1))
        self.assertEqual(argv[0], "offlinefs")
        return [self.offlinefs] + argv[1:]

    def test_emptied_maildir_folder_held_then_confirmed(self):
        """cur/ and new/ of a 30-message folder emptied: -o (ui quiet)
        deletes nothing on the server, exits non-zero and prints one line
        with the count and the confirming command; that command then
        deletes them."""
        self.fill()
        self.fill("Other", 5)
        self.empty_local()
        r = self.run_offlinefs(ui="quiet")
        self.assertNotEqual(r.rc, 0, r)
        self.assertEqual(self.server_count(), N, "nothing may be deleted on the server")
        line = self.held_line(r)
        self.assertIn("held back %d deletions on the server" % N, line)
        self.assertIn("%d of the %d messages" % (N, N), line)
        self.assertNotIn("held back", "\n".join(ln for ln in r.output.splitlines()
                                                if "Other" in ln))
        # A second run holds them again (nothing was forgotten, no shortcut).
        r = self.run_offlinefs(ui="quiet")
        self.assertNotEqual(r.rc, 0, r)
        self.held_line(r)
        self.assertEqual(self.server_count(), N)
        # The exact command printed confirms.
        argv = self.confirm_command(line)
        self.assertIn("--confirm-deletes", argv)
        self.assertIn(self.conf, argv)
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=harness.RUN_TIMEOUT)
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(self.server_count(), 0, out)
        self.assertEqual(self.server_count("Other"), 5)
        # ... and the next run is clean.
        r = self.sync()
        self.assertNotIn("held back", r.output)

    def test_server_emptied_folder_keeps_maildir(self):
        """A server folder that suddenly lists empty never empties the
        Maildir: the local files stay, exit non-zero, one line."""
        self.fill()
        with self.server() as srv:
            srv.select("INBOX", readonly=False)
            srv.c.uid("STORE", "1:*", "+FLAGS", "(\\Deleted)")
            srv.c.expunge()
        self.assertEqual(self.server_count(), 0)
        before = sorted(m.name for m in self.local_messages("INBOX"))
        r = self.run_offlinefs()
        self.assertNotEqual(r.rc, 0, r)
        line = self.held_line(r)
        self.assertIn("held back %d deletions in the Maildir" % N, line)
        self.assertEqual(sorted(m.name for m in self.local_messages("INBOX")), before)

    def test_big_share_held_small_share_goes(self):
        """More than bigdeletes_percent of a folder of more than
        bigdeletes_minmessages is held; fewer go through as always."""
        self.fill()
        local = sorted(self.local_messages("INBOX"), key=lambda m: m.uid)
        for m in local[:5]:
            os.unlink(m.path)
        self.sync()
        self.assertEqual(self.server_count(), N - 5)
        local = local[5:]
        for m in local[:16]:  # 16 of 25 > 50%
            os.unlink(m.path)
        r = self.run_offlinefs()
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("held back 16 deletions on the server", self.held_line(r))
        self.assertEqual(self.server_count(), N - 5)

    def test_dry_run_shows_what_is_held(self):
        """--dry-run says what the guard would hold and changes nothing."""
        self.fill()
        self.empty_local()
        r = self.run_offlinefs("--dry-run")
        self.assertIn("[DRYRUN] Folder INBOX: would hold back %d deletions on the server" % N,
                      r.output)
        self.assertNotIn("Delete message UID", r.output)
        self.assertEqual(self.server_count(), N)

    def test_guard_off(self):
        """confirmbigdeletes = no: deletions go through as before."""
        self.write_config(account={"confirmbigdeletes": "no"})
        self.fill()
        self.empty_local()
        self.sync()
        self.assertEqual(self.server_count(), 0)

    def test_guard_options_validated(self):
        """A bad bigdeletes_percent is a config error naming file:line,
        before anything is created."""
        self.write_config(account={"bigdeletes_percent": "150"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.err, r"offlineimaprc:\d+: .*bigdeletes_percent")
        self.assertFalse(os.path.exists(self.meta))

    def test_status_shows_held(self):
        """offlinefs status lists the held deletions and the command."""
        self.fill()
        self.empty_local()
        r = self.run_offlinefs()
        self.assertNotEqual(r.rc, 0, r)
        p = subprocess.run([self.offlinefs, "status", "-c", self.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode(errors="replace")
        self.assertIn("held deletions", out)
        self.assertRegex(out, r"INBOX: %d on the server, 0 in the Maildir, of %d" % (N, N))
        self.assertIn("--confirm-deletes INBOX", out)


if __name__ == "__main__":
    harness.main()
