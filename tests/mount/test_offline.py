#!/usr/bin/python3
"""The live mount without a server: changes queue, then drain exactly once.

Each test stops the test's Dovecot, makes the four kinds of
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
import re
import signal
import sqlite3
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
        # Status stops claiming a connection once the worker failed to reach
        # the server; the ops are still queued a while later.
        self.assertTrue(mountharness.wait_until(
            lambda: not re.search(r"connection:\s*online", self.status().output), 5.0),
            "status still says online with the server down:\n%s" % self.status())
        time.sleep(1.0)
        self.assertEqual(self.pending(), 4)
        self.assertEqual(self.queued(), 4)
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

    # ------------------------------------------------------------ in flight
    # A crash between "the worker sent the op" and "the server's answer was
    # recorded" leaves the op in the outbox marked inflight, and the server
    # may or may not have applied it. Timing a real kill -9 into that window
    # is not deterministic (the worker may be reconnecting, not sending), so
    # these tests build the crash state exactly: queue offline, kill -9, mark
    # the row inflight the way outbox_begin_try does, and apply the op on the
    # server by hand when the case is "it got there". Then mount: the replay
    # must check the server first (live.h) and never duplicate.

    def crash_with_inflight(self, change):
        """Server down, change() through the mount (one op), kill -9, row
        marked inflight.  Returns the outbox row."""
        self.stop_server()
        change()
        self.assertEqual(len(self.outbox_rows()), 1, self.outbox_rows())
        self.kill9()
        self.mark_inflight()
        rows = self.outbox_rows()
        self.assertEqual([r["inflight"] for r in rows], [1])
        return rows[0]

    def mark_inflight(self):
        con = sqlite3.connect(self.status_db(), timeout=10)
        try:
            with con:
                con.execute("UPDATE outbox SET inflight = 1, attempts = attempts + 1")
        finally:
            con.close()

    def replay_and_settle(self):
        self.start_server()
        self.mount()
        self.assert_within(lambda: self.queued() == 0, DRAIN, "the inflight op was replayed")

    def sync_barrier(self, folder):
        """A server message only the next sync of folder can bring."""
        self.srv.append(folder, msg("barrier"))
        self.signal_mount(signal.SIGUSR1)
        self.assert_within(lambda: "barrier" in local_index(self.mnt, folder), 5.0,
                           "a SIGUSR1 sync of %s" % folder)

    def test_replay_inflight_append_that_landed(self):
        """APPEND in flight at the crash and already on the server: the
        replay finds it (Message-ID + size) and does not append it again."""
        body = msg("inflight-new")
        row = self.crash_with_inflight(lambda: self.deliver_via_mount("INBOX", "inflight-new"))
        self.assertEqual(row["kind"], 4)  # OUTBOX_APPEND
        self.start_server()
        self.srv.append("INBOX", body)  # what the lost APPEND did
        self.mount()
        self.assert_within(lambda: self.queued() == 0, DRAIN, "the inflight APPEND was resolved")
        self.assert_stays(lambda: len(self.srv.by_subject("INBOX", "inflight-new")) == 1, 1.5,
                          "the replay appended the message a second time")
        self.assertEqual(len(self.srv.messages("INBOX", bodies=False)), 7)
        self.sync_barrier("INBOX")
        self.assertEqual(len(local_index(self.mnt, "INBOX")["inflight-new"]), 1,
                         "the server copy was downloaded next to the local file")
        self.assertEqual(self.unmount(), 0)
        before = self.srv.snapshot()
        self.sync()
        self.assertEqual(self.srv.snapshot(), before)
        self.assert_synced("INBOX")
        self.assertEqual(len(self.local_index_backing("INBOX")["inflight-new"]), 1)

    def test_replay_inflight_append_that_was_lost(self):
        """APPEND in flight at the crash that never reached the server: the
        replay appends it, once."""
        self.crash_with_inflight(lambda: self.deliver_via_mount("INBOX", "inflight-lost"))
        self.replay_and_settle()
        self.assert_stays(lambda: len(self.srv.by_subject("INBOX", "inflight-lost")) == 1, 1.5,
                          "inflight-lost on the server exactly once")
        sm = self.srv.by_subject("INBOX", "inflight-lost", bodies=True)[0]
        self.assertEqual(crlf_to_lf(sm.body), msg("inflight-lost"))
        self.assertEqual(self.unmount(), 0)
        self.sync()
        self.assert_synced("INBOX")

    def test_replay_inflight_move_that_landed(self):
        """MOVE in flight at the crash and already done on the server: the
        replay sees the source UID gone and does not move, copy or append
        anything; the message ends up once in Archive on both sides."""
        uid = self.srv.by_subject("INBOX", "seen-3")[0].uid

        def move():
            m = self.local("INBOX", "seen-3")
            os.rename(m.path, self.m("Archive", "cur", m.name))
        row = self.crash_with_inflight(move)
        self.assertEqual((row["kind"], row["uid"]), (3, uid))  # OUTBOX_MOVE
        self.start_server()
        with self.server() as s:  # what the lost UID MOVE did
            s.select("INBOX", readonly=False)
            typ, data = s.c.uid("MOVE", str(uid), "Archive")
            self.assertEqual(typ, "OK", data)
        self.mount()
        self.assert_within(lambda: self.queued() == 0, DRAIN, "the inflight MOVE was resolved")
        self.assert_stays(lambda: (self.srv.subjects("Archive").count("seen-3") == 1 and
                                   "seen-3" not in self.srv.subjects("INBOX")), 1.5,
                          "seen-3 once in Archive, not in INBOX, on the server")
        self.sync_barrier("Archive")
        self.assertEqual(len(local_index(self.mnt, "Archive")["seen-3"]), 1,
                         "the server copy was downloaded next to the moved file")
        self.assertNotIn("seen-3", local_index(self.mnt, "INBOX"))
        self.assertEqual(self.unmount(), 0)
        before = self.srv.snapshot()
        self.sync()
        self.assertEqual(self.srv.snapshot(), before)
        for folder in ("INBOX", "Archive"):
            self.assert_synced(folder)
        self.assertEqual(len(self.local_index_backing("Archive")["seen-3"]), 1)

    def test_replay_inflight_move_that_was_lost(self):
        """MOVE in flight at the crash that never reached the server: the
        replay moves it, once."""
        def move():
            m = self.local("INBOX", "seen-3")
            os.rename(m.path, self.m("Archive", "cur", m.name))
        self.crash_with_inflight(move)
        self.replay_and_settle()
        self.assert_stays(lambda: (self.srv.subjects("Archive").count("seen-3") == 1 and
                                   "seen-3" not in self.srv.subjects("INBOX")), 1.5,
                          "seen-3 once in Archive, not in INBOX, on the server")
        self.assertEqual(self.unmount(), 0)
        self.sync()
        for folder in ("INBOX", "Archive"):
            self.assert_synced(folder)

    def local_index_backing(self, folder):
        return local_index(self.mail, folder)

if __name__ == "__main__":
    mountharness.main()
