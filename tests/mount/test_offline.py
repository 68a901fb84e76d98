#!/usr/bin/python3
"""The live mount without a server: changes queue, then drain exactly once.

Each test stops (or freezes) the test's Dovecot, makes the four kinds of
change a mail reader makes — a flag rename, an unlink, a new message
(tmp/ -> new/), a move to another folder — checks they are applied to the
Maildir at once and queued (`offlinefs status`), then brings the server back
and checks that every change arrived exactly once: message counts, bodies
(sha256 of CRLF->LF bytes) and flags of every folder, compared with the
state the changes must produce, and finally a full `offlinefs -o` after
unmounting that finds nothing left to do (assert_synced on every folder).

Run one:  OFFLINEFS=build/tools/offlinefs python3 tests/mount/test_offline.py TestOffline.test_kill9_replay
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountharness  # noqa: E402
from harness import crlf_to_lf, sha  # noqa: E402
from mountharness import local_index, msg, with_flags  # noqa: E402

DRAIN = 10.0  # seconds for the queue to drain once the server is back and woken


class OfflineCase(mountharness.MountTestCase):

    def expected_state(self):
        """{folder: {subject: (flags, sha256 of LF body)}} after make_changes()."""
        want = {}
        for folder, msgs in self.SEED.items():
            want[folder] = {s: (tuple(sorted(f)), sha(msg(s))) for s, f in msgs}
        want["INBOX"]["seen-1"] = (("\\Flagged", "\\Seen"), sha(msg("seen-1")))  # flag
        del want["INBOX"]["seen-2"]                                              # delete
        want["INBOX"]["offline-new"] = ((), sha(msg("offline-new")))             # new
        want["Archive"]["seen-3"] = want["INBOX"].pop("seen-3")                  # move
        return want

    def make_changes(self):
        """The four changes, through the mount; returns local facts to check."""
        facts = {}
        m = self.local("INBOX", "seen-1")
        os.rename(m.path, self.m("INBOX", "cur", with_flags(m.name, "FS")))
        m = self.local("INBOX", "seen-2")
        os.unlink(m.path)
        path, _ = self.deliver_via_mount("INBOX", "offline-new")
        facts["new_name"] = os.path.basename(path)
        m = self.local("INBOX", "seen-3")
        facts["moved_ino"] = os.stat(m.path).st_ino
        os.rename(m.path, self.m("Archive", "cur", m.name))
        return facts

    def check_local(self, root=None):
        """The Maildir (or mount) holds the expected state right away."""
        root = root or self.mail
        want = self.expected_state()
        for folder, msgs in want.items():
            idx = local_index(root, folder)
            self.assertEqual(sorted(idx), sorted(msgs), "local %s in %s" % (folder, root))
            for subject, (flags, digest) in msgs.items():
                self.assertEqual(len(idx[subject]), 1, "%s/%s" % (folder, subject))
                lm = idx[subject][0]
                self.assertEqual(sha(lm.body), digest, "%s/%s" % (folder, subject))
                letters = "".join(sorted(mountharness.harness.IMAP2MAILDIR[f] for f in flags))
                self.assertEqual(lm.flags, letters, "%s/%s: %s" % (folder, subject, lm.name))

    def server_state(self):
        out = {}
        for folder in self.SEED:
            msgs = {}
            for sm in self.srv.messages(folder):
                msgs.setdefault(sm.subject, []).append((sm.flags, sha(crlf_to_lf(sm.body))))
            out[folder] = msgs
        return out

    def server_matches(self):
        want = self.expected_state()
        got = self.server_state()
        return all({s: [v] for s, v in want[f].items()} == got.get(f) for f in want)

    def assert_server_exactly(self, what):
        """Every change arrived, each exactly once (no duplicate, no loss)."""
        want = self.expected_state()
        got = self.server_state()
        for folder in want:
            self.assertEqual(got[folder], {s: [v] for s, v in want[folder].items()},
                             "%s: server %s" % (what, folder))

    def assert_final_sync_clean(self):
        """Unmount; a full one-shot sync leaves both sides in step and
        changes nothing on the server (nothing was left behind)."""
        self.assertEqual(self.unmount(), 0)
        before = self.srv.snapshot()
        r = self.sync()
        self.assertEqual(self.srv.snapshot(), before, "the one-shot sync after the mount "
                         "still changed the server:\n%s" % r)
        for folder in self.SEED:
            self.assert_synced(folder)
        self.check_local()


class TestOffline(OfflineCase):

    def test_offline_queue_then_drain_on_sigusr1(self):
        """Server down: changes are applied locally at once and queued (4 ops
        in `offlinefs status`); server back + SIGUSR1: all arrive once."""
        self.stop_server()
        t0 = time.monotonic()
        facts = self.make_changes()
        self.assertLess(time.monotonic() - t0, 2.0, "mount calls blocked on the dead server")
        self.check_local(self.mail)
        self.check_local(self.mnt)
        self.assertEqual(os.stat(self.b("Archive", "cur", self.local("Archive", "seen-3").name))
                         .st_ino, facts["moved_ino"])
        self.assertEqual(self.queued(), 4, "outbox rows: %s" % self.outbox_rows())
        self.assertTrue(mountharness.wait_until(lambda: self.pending() == 4, 3.0),
                        "status should show 4 queued ops:\n%s" % self.status())
        # Still queued a while later: nothing is lost or dropped while offline.
        time.sleep(1.5)
        self.assertEqual(self.pending(), 4)
        self.assert_mount_alive()
        self.start_server()
        self.signal_mount(signal.SIGUSR1)
        self.assert_within(self.server_matches, DRAIN, "queued changes reached the server")
        self.assert_within(lambda: self.pending() == 0, 2.0, "outbox empty after the drain")
        self.assert_stays(self.server_matches, 1.5, "server changed again after the drain")
        self.assert_server_exactly("after the drain")
        self.check_local(self.mnt)
        self.assertTrue(os.path.exists(self.m("INBOX", "new", facts["new_name"])))
        self.assert_final_sync_clean()

    def test_offline_drain_by_backoff(self):
        """Without SIGUSR1 the worker's own retry (backoff, at most a few
        seconds after a short outage) drains the queue."""
        self.stop_server()
        self.make_changes()
        self.assertTrue(mountharness.wait_until(lambda: self.pending() == 4, 3.0))
        time.sleep(2.0)  # a few failed retries: backoff grows to a few seconds
        self.start_server()
        took = self.assert_within(self.server_matches, 30.0,
                                  "queued changes drained by the retry loop")
        print("drained %.1f s after the server came back" % took, file=sys.stderr)
        self.assert_stays(self.server_matches, 1.0, "server changed again")
        self.assert_server_exactly("after backoff drain")
        self.assert_final_sync_clean()

    def test_kill9_replay(self):
        """Server down, changes queued, kill -9 the mount, clean the stale
        mount, server back, mount again: the queue is replayed from disk —
        nothing lost, nothing duplicated."""
        self.stop_server()
        self.make_changes()
        self.check_local()
        self.assertTrue(mountharness.wait_until(lambda: self.pending() == 4, 3.0))
        self.kill9()
        # The stale mount is gone and the Maildir still holds every change.
        self.assertEqual(os.listdir(self.mnt), [])
        self.check_local()
        # Durable: still queued on disk, and status (no daemon) says so too.
        self.assertEqual(self.queued(), 4)
        self.assertEqual(self.pending(), 4)
        self.start_server()
        self.mount()
        self.assert_within(self.server_matches, DRAIN, "queued changes replayed after restart")
        self.assert_within(lambda: self.pending() == 0, 2.0, "outbox empty after the replay")
        self.assert_stays(self.server_matches, 1.5, "server changed again after the replay")
        self.assert_server_exactly("after replay")
        self.check_local(self.mnt)
        self.assert_final_sync_clean()

    def test_kill9_while_append_in_flight(self):
        """The worker sent an APPEND, the server got it but froze before
        answering, the mount is killed: after restart the replay finds the
        message on the server instead of appending it a second time."""
        pids = self.freeze_server()
        path, body = self.deliver_via_mount("INBOX", "inflight-new")
        # The worker takes the op (marked inflight on disk before it sends
        # anything) and blocks on the frozen server.
        self.assert_within(lambda: [r["inflight"] for r in self.outbox_rows()] == [1], 5.0,
                           "the APPEND is in flight")
        time.sleep(0.3)  # let the command reach the server's socket buffer
        self.kill9()
        self.assertEqual([(r["kind"], r["inflight"]) for r in self.outbox_rows()], [(4, 1)])
        self.thaw_server(pids)  # Dovecot reads the buffered APPEND and stores it
        self.assert_within(lambda: len(self.srv.by_subject("INBOX", "inflight-new")) <= 1, 5.0,
                           "server reachable again")
        landed = len(self.srv.by_subject("INBOX", "inflight-new"))
        print("APPEND landed before the restart: %s" % bool(landed), file=sys.stderr)
        self.mount()
        self.assert_within(lambda: len(self.srv.by_subject("INBOX", "inflight-new")) == 1,
                           DRAIN, "message on the server after the replay")
        self.assert_within(lambda: self.pending() == 0, 5.0, "outbox empty after the replay")
        self.assert_stays(lambda: len(self.srv.by_subject("INBOX", "inflight-new")) == 1, 1.5,
                          "the replayed APPEND duplicated the message")
        sm = self.srv.by_subject("INBOX", "inflight-new", bodies=True)[0]
        self.assertEqual(crlf_to_lf(sm.body), body)
        self.assertEqual(len(self.srv.messages("INBOX", bodies=False)), 7)
        self.assertEqual(self.unmount(), 0)
        self.sync()
        self.assert_synced("INBOX")


if __name__ == "__main__":
    mountharness.main()
