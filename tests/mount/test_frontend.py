#!/usr/bin/python3
"""The `offlinefs mount` / `offlinefs status` front end (tools/mount.c,
tools/status.c), on a real mount against a throwaway Dovecot.

What a user relies on besides the file system itself: `status` tells the
truth (mount, connection, folders, queue); the account lock keeps a mount
and a one-shot sync apart in both directions, and says who holds it; a
stale mount is named with the command that clears it; SIGTERM stops
cleanly and keeps what is queued; the daemon reports its start-up verdict;
mount options are read (and refused) with file:line.

Run one:  OFFLINEFS=build/tools/offlinefs python3 tests/mount/test_frontend.py TestFrontend.test_status_output
Exit status 77 (meson: skipped) when /dev/fuse cannot be used.
"""

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountharness  # noqa: E402
from mountharness import (ACCOUNT, EXIT_TIMEOUT, mount_type, parse_pending,  # noqa: E402
                          wait_until, with_flags)

PROPAGATION = 1.0


class TestFrontend(mountharness.MountTestCase):

    MOUNT_AT_SETUP = False

    def setUp(self):
        super().setUp()
        self.mount_settled()

    def mount_settled(self):
        logins = self.server_logins()
        self.mount()
        self.wait_settled(logins, self.mount_proc.poll)

    # ------------------------------------------------------------ helpers
    def state_path(self):
        return os.path.join(self.meta, "Account-" + ACCOUNT, "mount.json")

    def state(self):
        with open(self.state_path()) as f:
            return json.load(f)

    def wait_settled(self, logins_before, poll):
        """Both connections of a fresh mount (outbox worker, IDLE) logged in.
        Tests that stop a mount right after starting it wait for this: a
        stop within a few dozen ms of the first TLS connects can make
        OpenSSL 3.0 lose its per-thread random state (an ASan leak report,
        exit 1), which is not what these tests are about."""
        ok = wait_until(lambda: self.server_logins() >= logins_before + 2 or
                        poll() is not None, 20)
        self.assertIsNone(poll(), "the mount exited")
        self.assertTrue(ok, "the mount's connections did not log in")

    def lock_path(self):
        return os.path.join(self.meta, ACCOUNT + ".lock")

    def run_cmd(self, *args, timeout=60):
        """offlinefs with exactly these arguments (no -c/-o added)."""
        argv = [self.offlinefs] + list(args)
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        print("$ %s\nexit %d\n%s" % (" ".join(argv), p.returncode, out), file=sys.stderr)
        return p.returncode, out

    def hold_lock(self):
        """A process that holds the account lock as OfflineIMAP would
        (lockf on <metadata>/<account>.lock) until it is killed."""
        code = ("import fcntl, sys, time\n"
                "f = open(sys.argv[1], 'a')\n"
                "fcntl.lockf(f, fcntl.LOCK_EX)\n"
                "print('locked', flush=True)\n"
                "time.sleep(600)\n")
        p = subprocess.Popen([sys.executable, "-c", code, self.lock_path()],
                             stdout=subprocess.PIPE)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        self.assertEqual(p.stdout.readline().strip(), b"locked")
        return p

    def lock_holder(self):
        """pid holding the account lock, 0 when free (F_GETLK)."""
        with open(self.lock_path(), "rb") as f:
            # struct flock on 64-bit Linux: short type, short whence, off_t
            # start, off_t len, pid_t pid (native alignment)
            fl = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)
            r = fcntl.fcntl(f, fcntl.F_GETLK, fl)
            typ, _, _, _, pid = struct.unpack("hhqqi", r)
            return 0 if typ == fcntl.F_UNLCK else pid

    # ------------------------------------------------------------ status
    def test_status_output(self):
        """status names the account, the mountpoint and the daemon's pid,
        says online, lists every folder with its last sync, and counts the
        queue; while the server is down it says offline and shows the
        queued ops; after SIGUSR1 with the server back the queue drains."""
        pid = self.mount_proc.pid
        self.assert_within(lambda: self.state()["connected"], 5.0, "mount.json says connected")
        r = self.status()
        self.assertEqual(r.rc, 0, str(r))
        out = r.output
        self.assertIn("Account %s" % ACCOUNT, out)
        self.assertIn(self.mnt, out)
        self.assertIn("pid %d" % pid, out)
        self.assertRegex(out, r"connection:\s+online")
        for folder in ("INBOX", "Archive"):
            self.assertRegex(out, r"\n\s+%s\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d" % folder,
                             "no last-sync line for %s:\n%s" % (folder, out))
        self.assertEqual(parse_pending(out), 0, out)
        st = self.state()
        self.assertEqual(st["pid"], pid)
        self.assertEqual(st["mountpoint"], self.mnt)
        self.assertEqual(st["account"], ACCOUNT)
        self.assertGreater(st["last_full_sync"], 0)

        # offline: the change waits in the queue, status shows it
        self.stop_server()
        m = self.local("INBOX", "unseen-1")
        os.rename(m.path, self.m("INBOX", "cur", with_flags(m.name, "F")))
        self.assert_within(lambda: self.queued() == 1, 2.0, "the flag change is queued")
        self.assert_within(lambda: not self.state()["connected"], 10.0,
                           "mount.json says offline")
        r = self.status()
        self.assertEqual(r.rc, 0, str(r))
        self.assertRegex(r.output, r"connection:\s+offline", r.output)
        self.assertRegex(r.output, r"last error:\s+\S", r.output)
        self.assertEqual(parse_pending(r.output), 1, r.output)
        self.assertRegex(r.output, r"#\d+\s+FLAGS\s+INBOX UID \d+ -> flags \"F\"", r.output)

        # back online on SIGUSR1
        self.start_server()
        self.signal_mount(signal.SIGUSR1)
        self.assert_within(lambda: self.srv.flags("INBOX", "unseen-1") == ("\\Flagged",), 10.0,
                           "the queued flag reached the server")
        self.assert_within(lambda: self.pending() == 0 and self.state()["connected"], 5.0,
                           "status: 0 queued, online")

    def test_status_not_mounted_and_lock_holder(self):
        """Not mounted: status says so, and names the process holding the
        lock (a one-shot sync) without taking or changing it."""
        self.assertEqual(self.unmount(), 0)
        self.assertFalse(os.path.exists(self.state_path()), "mount.json left after a clean stop")
        r = self.status()
        self.assertEqual(r.rc, 0, str(r))
        self.assertRegex(r.output, r"mount:\s+not mounted")
        self.assertNotIn(self.mnt, r.output)
        holder = self.hold_lock()
        r = self.status()
        self.assertRegex(r.output, r"lock:\s+held by pid %d " % holder.pid, r.output)
        self.assertEqual(self.lock_holder(), holder.pid, "status changed the lock")

    # ------------------------------------------------------------ the lock
    def test_sync_refused_while_mounted_names_mount(self):
        """`offlinefs -o` while mounted: exit 1, the message names the
        account, the mountpoint and the daemon's pid; a second mount of the
        same account is refused at once the same way."""
        pid = self.mount_proc.pid
        rc, out = self.run_cmd("-c", self.conf, "-o", "-u", "basic")
        self.assertEqual(rc, 1, out)
        self.assertIn("Account %s is mounted at %s" % (ACCOUNT, self.mnt), out)
        self.assertIn("pid %d" % pid, out)
        self.assertIn("fusermount3 -u %s" % self.mnt, out)

        other = os.path.join(self.tmp, "mnt2")
        os.mkdir(other)
        t0 = time.monotonic()
        rc, out = self.run_cmd("mount", "-c", self.conf, "-f", other)
        self.assertLess(time.monotonic() - t0, 10, "a second mount waited instead of refusing")
        self.assertEqual(rc, 1, out)
        self.assertIn("already mounted at %s" % self.mnt, out)
        self.assertIn("pid %d" % pid, out)
        self.assertIsNone(mount_type(other))
        self.assert_mount_alive()

    def test_mount_waits_for_running_sync(self):
        """A mount started while a one-shot sync holds the lock says who
        holds it, waits, and mounts as soon as the lock is free."""
        self.assertEqual(self.unmount(), 0)
        holder = self.hold_lock()
        logins = self.server_logins()
        out_path = os.path.join(self.tmp, "waiting-mount.out")
        with open(out_path, "wb") as out_f:
            p = subprocess.Popen(self.mount_argv(), stdin=subprocess.DEVNULL,
                                 stdout=out_f, stderr=subprocess.STDOUT)
        self.mount_procs.append(p)
        time.sleep(2)
        self.assertIsNone(p.poll(), "the mount did not wait for the lock")
        self.assertIsNone(mount_type(self.mnt), "mounted while the lock was held")
        holder.kill()
        holder.wait()
        self.assertTrue(wait_until(lambda: mount_type(self.mnt) == "fuse.offlinefs", 10),
                        "no mount after the lock was released")
        self.mount_proc = p
        self.wait_settled(logins, p.poll)
        self.assertEqual(self.unmount(), 0)
        with open(out_path, errors="replace") as f:
            out = f.read()
        self.assertRegex(out, r"being synced by pid %d\b" % holder.pid, out)
        self.assertIn("waiting up to 30 s", out)

    def test_mount_refused_after_30s_of_sync(self):
        """A sync that holds the lock for more than 30 s: the mount gives up
        with exit 1 and names the holder (a real `offlinefs -o` stuck on a
        frozen server)."""
        self.assertEqual(self.unmount(), 0)
        self.freeze_server()
        sync = subprocess.Popen([self.offlinefs, "-c", self.conf, "-o", "-k",
                                 "general:socktimeout=120"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (sync.poll() is None and sync.kill(), sync.wait()))
        self.assertTrue(wait_until(lambda: os.path.exists(self.lock_path()) and
                                   self.lock_holder() == sync.pid, 10),
                        "the one-shot sync never took the lock (precondition)")
        t0 = time.monotonic()
        rc, out = self.run_cmd("mount", "-c", self.conf, "-f", self.mnt, timeout=90)
        took = time.monotonic() - t0
        self.assertEqual(rc, 1, out)
        self.assertGreaterEqual(took, 29, "gave up after %.1f s, not 30" % took)
        self.assertIn("still locked after 30 s by pid %d" % sync.pid, out)
        self.assertIn("offlinefs -c", out)  # the holder's command line
        self.assertIsNone(mount_type(self.mnt))

    # ------------------------------------------------------------ stale
    def test_stale_mount_detected(self):
        """kill -9 leaves a stale mount: status says STALE with the command
        to run, a new mount refuses with the same hint; after fusermount3 -u
        the account mounts again."""
        p = self.mount_proc
        self.expect_dead.add(p.pid)
        p.kill()
        p.wait(10)
        self.mount_proc = None
        r = self.status()
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn("STALE at %s" % self.mnt, r.output)
        self.assertIn("fusermount3 -u %s" % self.mnt, r.output)
        rc, out = self.run_cmd("mount", "-c", self.conf, "-f", self.mnt)
        self.assertEqual(rc, 1, out)
        self.assertIn("stale offlinefs mount at %s: run fusermount3 -u %s" % (self.mnt, self.mnt),
                      out)
        subprocess.run(["fusermount3", "-u", "-z", self.mnt], check=True)
        self.assertTrue(wait_until(lambda: mount_type(self.mnt) is None, 5))
        r = self.status()
        self.assertRegex(r.output, r"not mounted \(the last mount, pid %d, did not stop cleanly\)"
                         % p.pid, r.output)
        self.mount_settled()
        self.assert_mount_alive()

    # ------------------------------------------------------------ stopping
    def test_sigterm_keeps_queued_ops(self):
        """SIGTERM while offline with three ops queued: the daemon exits 0,
        the mount and mount.json are gone, the three ops are still queued
        (status says so) and the Maildir holds the changes; the next mount
        sends them."""
        self.stop_server()
        m = self.local("INBOX", "unseen-2")
        os.rename(m.path, self.m("INBOX", "cur", with_flags(m.name, "S")))
        gone = self.local("INBOX", "seen-1")
        os.unlink(gone.path)
        self.deliver_via_mount("INBOX", "written-offline")
        self.assert_within(lambda: self.queued() == 3, 2.0, "three ops queued")
        ids = [r["id"] for r in self.outbox_rows()]

        p = self.mount_proc
        os.kill(p.pid, signal.SIGTERM)
        rc = p.wait(EXIT_TIMEOUT)
        self.mount_rcs.append((p.pid, rc))
        self.mount_proc = None
        self.assertEqual(rc, 0, self.mount_output())
        self.assertTrue(wait_until(lambda: mount_type(self.mnt) is None, 5), "still mounted")
        self.assertFalse(os.path.exists(self.state_path()))
        self.assertEqual([r["id"] for r in self.outbox_rows()], ids, "the queue changed")
        r = self.status()
        self.assertEqual(parse_pending(r.output), 3, r.output)
        self.assertRegex(r.output, r"mount:\s+not mounted")
        for kind in ("FLAGS", "DELETE", "APPEND"):
            self.assertIn(kind, r.output)
        self.assertIn("written-offline", open(self.local("INBOX", "written-offline",
                                                         root=self.mail).path).read())

        self.start_server()
        self.mount_settled()
        self.assert_within(lambda: self.queued() == 0, 10.0, "the queue drained after remount")
        self.assertEqual(self.srv.flags("INBOX", "unseen-2"), ("\\Seen",))
        self.assertNotIn("seen-1", self.srv.subjects("INBOX"))
        self.assertIn("written-offline", self.srv.subjects("INBOX"))

    def test_daemon_mode(self):
        """Without -f the command returns 0 once mounted; the daemon is
        another process, logs to mount.log and exits on fusermount3 -u. A
        start-up failure is reported by the waiting parent (exit 1)."""
        self.assertEqual(self.unmount(), 0)
        logins = self.server_logins()
        rc, out = self.run_cmd("mount", "-c", self.conf, self.mnt)
        self.assertEqual(rc, 0, out)
        self.assertEqual(mount_type(self.mnt), "fuse.offlinefs", "not mounted when it returned")
        pid = self.state()["pid"]
        self.assertTrue(pid_alive(pid))
        log = os.path.join(self.meta, "Account-" + ACCOUNT, "mount.log")
        self.assertTrue(wait_until(lambda: os.path.exists(log) and
                                   "mounted at %s" % self.mnt in open(log).read(), 5), log)
        # the daemon serves and syncs
        m = self.local("INBOX", "unseen-1")
        os.rename(m.path, self.m("INBOX", "cur", with_flags(m.name, "S")))
        self.assert_within(lambda: self.srv.flags("INBOX", "unseen-1") == ("\\Seen",), 5.0,
                           "flag from the daemon's mount")
        self.wait_settled(logins, lambda: None if pid_alive(pid) else 1)
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)
        self.assertTrue(wait_until(lambda: not pid_alive(pid), EXIT_TIMEOUT),
                        "the daemon did not exit after fusermount3 -u")
        self.assertFalse(os.path.exists(self.state_path()))

        # a failure after the fork: the parent says why and exits 1
        with open(os.path.join(self.mnt, "junk"), "w") as f:
            f.write("x")
        rc, out = self.run_cmd("mount", "-c", self.conf, self.mnt)
        self.assertEqual(rc, 1, out)
        self.assertIn("is not empty", out)
        self.assertIsNone(mount_type(self.mnt))
        os.unlink(os.path.join(self.mnt, "junk"))

    # ------------------------------------------------------------ config
    def test_config_mountpoint_and_errors(self):
        """mountpoint from the config (~ expanded) is used without an
        argument; bad mount options are refused with file:line while the
        one-shot sync ignores them."""
        self.assertEqual(self.unmount(), 0)
        home = os.path.join(self.tmp, "home")
        os.makedirs(os.path.join(home, "m"))
        self.write_config(account={"mountpoint": "~/m"},
                          remote={"idlefolders": "['INBOX', \"Archive\",]"})
        logins = self.server_logins()
        p = subprocess.Popen([self.offlinefs, "mount", "-c", self.conf, "-f"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=dict(os.environ, HOME=home))
        self.mount_procs.append(p)
        mp = os.path.join(home, "m")
        self.assertTrue(wait_until(lambda: mount_type(mp) == "fuse.offlinefs" and
                                   os.path.exists(self.state_path()), 10),
                        "nothing mounted at the configured mountpoint")
        self.assertEqual(self.state()["mountpoint"], mp)
        self.wait_settled(logins, p.poll)
        subprocess.run(["fusermount3", "-u", mp], check=True)
        self.assertEqual(p.wait(EXIT_TIMEOUT), 0)

        for value, why in (("INBOX", "expected a Python list"),
                           ("('INBOX')", "is a string in Python"),
                           ("['INBOX' 'x']", "expected ',' or ']'")):
            conf = self.write_config(remote={"idlefolders": value})
            line = [i for i, l in enumerate(open(conf), 1) if l.startswith("idlefolders")][0]
            rc, out = self.run_cmd("mount", "-c", conf, "-f", self.mnt)
            self.assertEqual(rc, 1, out)
            self.assertIn("%s:%d: option 'idlefolders' in section 'Repository %s'"
                          % (conf, line, mountharness.harness.REMOTE_REPO), out)
            self.assertIn(why, out)
            self.assertIsNone(mount_type(self.mnt))
        rc, out = self.run_cmd("-c", conf, "-o", "-u", "quiet")
        self.assertEqual(rc, 0, "a bad mount option broke the one-shot sync:\n" + out)

        conf = self.write_config(account={"mountpoint": "relative/dir"})
        rc, out = self.run_cmd("mount", "-c", conf, "-f")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"%s:\d+: option 'mountpoint' in section 'Account %s': "
                         r"'relative/dir' is not an absolute path" % (re.escape(conf), ACCOUNT))
        conf = self.write_config(account={"mount_sync_age": "soon"})
        rc, out = self.run_cmd("mount", "-c", conf, "-f", self.mnt)
        self.assertEqual(rc, 1, out)
        self.assertIn("option 'mount_sync_age'", out)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (the daemon's parent exited; init reaps it) counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    mountharness.main()
