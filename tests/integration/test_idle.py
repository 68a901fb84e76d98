#!/usr/bin/python3
"""idlefolders in autorefresh mode, against a real Dovecot.

Why: OfflineIMAP users with `idlefolders = ['INBOX']` and a long
autorefresh get new INBOX mail within a second, because OfflineIMAP IDLEs
on those folders between syncs and syncs the folder on the server's
notice. The test uses autorefresh = 60 (minutes), so the new message can
only arrive through IDLE within the bounded wait: the assertion is on the
event (the message is in the Maildir, the hooks ran in idle mode, the
folder that is not watched was not synced), not on a timing.

Run one test:  OFFLINEFS=build/tools/offlinefs python3 tests/integration/test_idle.py TestIdle.test_idle_folder_synced_on_new_mail
"""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import simple_message  # noqa: E402

WAIT = 60  # seconds: an upper bound for events, never a pass/fail timing


class IdleCase(harness.SyncTestCase):
    def start(self, *args):
        self.out = os.path.join(self.client, "out")
        self.outf = open(self.out, "wb")
        self.addCleanup(self.outf.close)
        self.p = subprocess.Popen([self.offlinefs, "-c", self.conf, "-u", "basic"] + list(args),
                                  stdin=subprocess.DEVNULL, stdout=self.outf,
                                  stderr=subprocess.STDOUT)
        self.addCleanup(self.stop)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        with open(self.out, errors="replace") as f:
            print("$ offlinefs (autorefresh)\n" + f.read(), file=sys.stderr)

    def output(self):
        with open(self.out, errors="replace") as f:
            return f.read()

    def wait_for(self, what, cond):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if cond():
                return
            self.assertIsNone(self.p.poll(), "offlinefs ended:\n" + self.output())
            time.sleep(0.1)
        self.fail("%s did not happen within %d s:\n%s" % (what, WAIT, self.output()))

    def subjects(self, folder):
        return sorted(harness.read_text(m.path).split("Subject: ")[1].split("\n")[0]
                      for m in self.local_messages(folder))



class TestIdle(IdleCase):
    def test_idle_folder_synced_on_new_mail(self):
        events = os.path.join(self.client, "events")
        hook = 'echo "%s $OFFLINEIMAPSYNCMODE" >> ' + events
        with self.server() as srv:
            srv.create("Other")
            srv.append("INBOX", simple_message("first"))
        self.write_config(account={"autorefresh": "60", "presynchook": hook % "pre",
                                   "postsynchook": hook % "post"},
                          remote={"idlefolders": "['INBOX']"})
        self.start("-d", "sync")
        self.wait_for("the first sync", lambda: "Next refresh in" in self.output())
        self.assertEqual(self.subjects("INBOX"), ["first"])
        # Mail that reached the server before the watcher's SELECT waits
        # for the next refresh (as in OfflineIMAP): append once it is there.
        self.wait_for("IDLE on INBOX", lambda: "Account Test: IDLE on INBOX" in self.output())
        with self.server() as srv:
            srv.append("Other", simple_message("not watched"))
            srv.append("INBOX", simple_message("second"))
        self.wait_for("the new INBOX message in the Maildir",
                      lambda: self.subjects("INBOX") == ["first", "second"])
        self.assertEqual(self.local_messages("Other"), [],
                         "only the idle folder is synced on its notice")
        with open(events) as f:
            ev = f.read().split("\n")
        self.assertEqual(ev[:2], ["pre full", "post full"])
        self.wait_for("the idle postsynchook",
                      lambda: "post idle" in harness.read_text(events))
        self.assertIn("pre idle", harness.read_text(events))
        self.assertIsNone(self.p.poll(), "still sleeping until the next refresh")
        self.assert_synced("INBOX")
        # SIGTERM ends the sleep and the watchers; a clean exit.
        self.p.send_signal(signal.SIGTERM)
        self.assertEqual(self.p.wait(WAIT), 0, self.output())

class TestHoldConnection(IdleCase):
    """holdconnectionopen / keepalive: the connection stays logged in
    between autorefresh syncs (one login for several rounds), NOOPs keep
    it alive while sleeping, and a connection the server dropped is
    replaced by a new login rather than failing the sync."""

    def rounds(self):
        return self.output().count("Next refresh in")

    def run_rounds(self, n, remote, *args):
        with self.server() as srv:
            srv.append("INBOX", simple_message("first"))
        self.write_config(account={"autorefresh": "0.02"}, remote=remote)  # ~1 s
        self.start(*args)
        self.wait_for("the first sync", lambda: self.rounds() >= 1)
        first = self.server_logins()
        self.wait_for("%d rounds" % n, lambda: self.rounds() >= n)
        return first

    def test_holdconnectionopen_logs_in_once(self):
        first = self.run_rounds(4, {"holdconnectionopen": "yes"})
        self.assertEqual(self.server_logins(), first, self.output())
        self.p.send_signal(signal.SIGTERM)
        self.assertEqual(self.p.wait(WAIT), 0, self.output())

    def test_without_hold_each_sync_logs_in(self):
        """The control: the count above really measures logins."""
        first = self.run_rounds(4, {})
        self.assertGreaterEqual(self.server_logins(), first + 2, self.output())

    def test_keepalive_noops_while_sleeping(self):
        with self.server() as srv:
            srv.append("INBOX", simple_message("first"))
        self.write_config(account={"autorefresh": "0.2"},  # 12 s
                          remote={"holdconnectionopen": "yes", "keepalive": "1"})
        self.start("-d", "imap")
        self.wait_for("two keepalive NOOPs",
                      lambda: self.output().count("keepalive NOOP") >= 2)
        self.assertEqual(self.rounds(), 1, "NOOPs while sleeping, before the next sync")

    def test_dropped_held_connection_replaced(self):
        first = self.run_rounds(1, {"holdconnectionopen": "yes"})
        self.dc.doveadm(["kick", self.user])
        with self.server() as srv:
            srv.append("INBOX", simple_message("second"))
        self.wait_for("the second message",
                      lambda: self.subjects("INBOX") == ["first", "second"])
        self.assertGreater(self.server_logins(), first)
        self.assertIn("the held connection is gone", self.output())
        self.assertNotIn("ERROR", self.output())


if __name__ == "__main__":
    unittest.main()
