"""The mount's outbox worker (tests/live/live_driver) under server refusals
injected by the fault proxy (issue 12 §1b).

Run one:
  LIVE_DRIVER=build/tests/live/live_driver OFFLINEFS=build/tools/offlinefs \
      python3 tests/fault/test_live_faults.py TestLiveFaults.test_move_source_delete_refused
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC, "tests", "live"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import SyncTestCase, simple_message  # noqa: E402
import test_live  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

# UID STORE ... \Deleted (the first half of a deletion without MOVE)
STORE_DELETED = rb"^\S+ UID STORE \S+ \+FLAGS(\.SILENT)? \(\\Deleted\)"


class TestLiveFaults(SyncTestCase):
    """A server without MOVE (so a move on the mount is a copy, then a
    deletion of the source) reached through a FaultProxy."""

    EXTENSIONS = False

    # the driver helpers of tests/live/test_live.py
    start = test_live.TestLive.start
    local = test_live.TestLive.local
    by_subject = test_live.TestLive.by_subject
    server_msgs = test_live.TestLive.server_msgs
    server_uid_of = test_live.TestLive.server_uid_of
    move = test_live.TestLive.move
    copies = test_live.TestLive.copies
    _stop_drivers = test_live.TestLive._stop_drivers

    def setUp(self):
        super().setUp()
        self.drivers = []
        self.addCleanup(self._stop_drivers)
        with self.server() as s:
            s.create("Archive")
            s.append("INBOX", simple_message("first"))
            s.append("Archive", simple_message("archived"), ["\\Seen"])
        self.sync()

    def driver_through(self, proxy):
        self.driver_conf = self.write_config(
            remote={"remotehost": "127.0.0.1", "remoteport": str(proxy.port), "ssl": "no",
                    "starttls": "no", "sslcacertfile": None}, name="driverrc")

    def test_move_source_delete_refused(self):
        """A move INBOX -> Archive: the UID COPY lands in Archive but the
        connection dies before its OK [COPYUID]; the retry finds the copy
        (UID 2) and deletes the source, which the server refuses every
        time, so the op is dropped after 5 refusals. The copy's UID must be recorded as soon as the
        copy is known to be there: the next full sync must not upload the
        file again (two copies on both sides for good).

        Dovecot (2.3, acl plugin) never refuses a STORE \\Deleted or an
        EXPUNGE with NO (rights missing = silently ignored), so the proxy
        answers the UID STORE \\Deleted with NO itself, without sending it
        on: as Courier or Cyrus do for a folder the user may not delete in."""
        p = FaultProxy(self.dc.host, self.dc.imap_port, refuse=STORE_DELETED,
                       drop_before=rb"^\S+ OK \[COPYUID ").start()
        self.addCleanup(p.stop)
        self.driver_through(p)
        d = self.start()
        m = self.by_subject("INBOX", "first")
        self.move(d, "INBOX", m, "Archive")
        d.ok("wait_empty", "90", timeout=100)
        self.assertEqual(p.triggered, 1, "the COPYUID reply was never dropped")
        self.assertEqual(self.copies("Archive", "first"), 1, "copied again by a retry")
        self.assertIn("after 5 refusals", d.stderr())
        self.assertGreaterEqual(p.refused, 4)
        # a full sync of the mount afterwards
        n = d.full_syncs()
        d.ok("wake")
        self.assertTrue(test_live.wait_for(lambda: d.full_syncs() > n, 60), d.stderr())
        self.assertEqual(self.copies("Archive", "first"), 1,
                         "the full sync uploaded the moved file again")
        self.assertEqual(len([x for x in self.local("Archive") if b"Subject: first" in x.body]),
                         1, "duplicated locally")
        d.quit()
        # and a one-shot sync after the mount (deletions still refused)
        self.run_offlinefs(conf=self.driver_conf)
        self.assertEqual(self.copies("Archive", "first"), 1)
        self.assertEqual(len([x for x in self.local("Archive") if b"Subject: first" in x.body]),
                         1)


if __name__ == "__main__":
    harness.main()
