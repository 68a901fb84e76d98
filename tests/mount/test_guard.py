#!/usr/bin/python3
"""The mass deletion guard in the live mount (sync/delete_guard.h).

A Maildir folder emptied while the mount was down looks like 30 deletions
to the mount's start-up sync: they are held (the server keeps every
message), `offlinefs status` shows them with the confirming command, and
that command, given while mounted, hands the confirmation to the mount,
whose next sync deletes them. Unlinks made through the mount are the
user's own explicit actions and go through at once, however many.

Run one:  OFFLINEFS=build/tools/offlinefs python3 tests/mount/test_guard.py TestMountGuard.test_held_at_mount_start
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountharness  # noqa: E402

N = 30
SETTLE = 10.0  # seconds for the mount's sync after a SIGUSR1


class TestMountGuard(mountharness.MountTestCase):
    SEED = {"INBOX": [("msg-%02d" % i, ("\\Seen",)) for i in range(N)],
            "Archive": [("arch-1", ("\\Seen",))]}
    MOUNT_AT_SETUP = False

    def server_count(self, folder="INBOX"):
        return len(self.srv.messages(folder, bodies=False))

    def test_held_at_mount_start(self):
        d = self.b("INBOX")
        for sub in ("cur", "new"):
            for f in os.listdir(os.path.join(d, sub)):
                os.unlink(os.path.join(d, sub, f))
        self.mount()
        self.assertEqual(self.server_count(), N, "the start-up sync deleted on the server")
        st = self.status_text()
        self.assertIn("held deletions", st)
        self.assertRegex(st, r"INBOX: %d on the server, 0 in the Maildir, of %d" % (N, N))
        self.assertIn("held back %d deletions on the server" % N, self.mount_output())
        # the confirming command, while mounted
        m = re.search(r"confirm: (offlinefs .*)", st)
        self.assertIsNotNone(m, st)
        argv = [self.offlinefs] + m.group(1).split()[1:]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("is mounted", p.stdout)
        self.assert_within(lambda: self.server_count() == 0, SETTLE,
                           "the confirmed deletions reached the server",
                           show=self.mount_output)
        self.assert_within(lambda: "held deletions" not in self.status_text(), SETTLE,
                           "status no longer lists held deletions")
        self.assertEqual(self.server_count("Archive"), 1)

    def test_unlinks_through_mount_go_through(self):
        """Every message unlinked on the mount: explicit, not held."""
        self.mount()
        d = self.m("INBOX")
        for sub in ("cur", "new"):
            for f in os.listdir(os.path.join(d, sub)):
                os.unlink(os.path.join(d, sub, f))
        self.assert_within(lambda: self.server_count() == 0, SETTLE,
                           "the unlinks reached the server", show=self.mount_output)
        self.assertNotIn("held back", self.mount_output())


if __name__ == "__main__":
    mountharness.main()
