#!/usr/bin/env python3
"""test_mount.py — the FUSE layer on a real mount, driven by system calls.

Each test builds a Maildir backing tree under a fresh /tmp directory, mounts
it with fs_driver (tests/fs/fs_driver.c: maildir_fs plus an observer that
writes one tab-separated line per event), acts on the mount the way a mail
reader does and checks three things: what the mount shows, what the backing
tree holds, and the exact list of observer events.

Run one case:  FS_DRIVER=build/tests/fs/fs_driver python3 test_mount.py TestMount.test_rename_flag
Exit status 77 (meson: skipped) when /dev/fuse cannot be used.
"""
import ctypes
import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

DRIVER = os.environ.get("FS_DRIVER", "")

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100

_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(src, dst, flags):
    r = _libc.renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst),
                        ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), src)


def fuse_usable():
    if not os.path.exists("/dev/fuse") or not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return False
    return os.geteuid() == 0 or shutil.which("fusermount3") is not None


def mounts_below(path):
    """Mount points at or below path (from /proc/self/mountinfo)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def wait_until(cond, timeout, step=0.02):
    end = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(step)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


MSG1 = b"From: a@example.org\nSubject: one\n\nbody one\n"
MSG2 = b"From: b@example.org\nSubject: two\n\nbody two\n"


class TestMount(unittest.TestCase):
    def setUp(self):
        self.assertTrue(DRIVER and os.access(DRIVER, os.X_OK), "FS_DRIVER not set")
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="offlinefs-fs-", dir="/tmp"))
        # one level deeper than the mountpoint, so "../x" differs between them
        self.backing = os.path.join(self.tmp, "store", "Mail")
        self.mnt = os.path.join(self.tmp, "mnt")
        self.events_path = os.path.join(self.tmp, "events")
        self.fifo = os.path.join(self.tmp, "control")
        self.stderr_path = os.path.join(self.tmp, "stderr")
        os.mkdir(self.mnt)
        os.mkfifo(self.fifo)
        for folder in ("INBOX", "Lists.foo", "a", "a/b"):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(self.backing, folder, sub))
        write_file(self.b("INBOX/cur/1700000000.1.host,U=1:2,"), MSG1)
        write_file(self.b("INBOX/cur/1700000001.2.host,U=2:2,S"), MSG2)
        write_file(self.b("INBOX/new/1700000002.3.host"), b"new mail\n")
        write_file(self.b("Lists.foo/cur/1700000003.4.host,U=7:2,S"), b"list mail\n")
        self.big = os.urandom(3 * 1024 * 1024 + 123)
        write_file(self.b("a/b/cur/big:2,"), self.big)
        self.procs = []

    def tearDown(self):
        # A driver still serving gets a clean unmount and must exit 0: that
        # is where an ASan/LSan or UBSan report would show up.
        p = getattr(self, "proc", None)
        if p is not None and p.poll() is None and os.path.ismount(self.mnt):
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
            if r.returncode == 0:
                try:
                    rc = p.wait(15)
                except subprocess.TimeoutExpired:
                    rc = None
                if rc != 0:
                    err = self.stderr()
                    self._cleanup()
                    self.fail("driver exit status %r after unmount; stderr:\n%s" % (rc, err))
        self._cleanup()

    def _cleanup(self):
        for mp in [self.mnt] + [m for m in mounts_below(self.tmp) if m != self.mnt]:
            subprocess.run(["fusermount3", "-u", "-z", "-q", mp],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if not mounts_below(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers -------------------------------------------------------
    def b(self, rel):
        return os.path.join(self.backing, rel)

    def m(self, rel):
        return os.path.join(self.mnt, rel)

    def start(self, *extra, mountpoint=None):
        with open(self.stderr_path, "ab") as err:
            p = subprocess.Popen([DRIVER, "--events", self.events_path, "--control", self.fifo,
                                  *extra, self.backing, mountpoint or self.mnt],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=err)
        self.procs.append(p)
        return p

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def mount(self, *extra):
        ready = self.ready_count()
        p = self.start(*extra)
        ok = wait_until(lambda: p.poll() is not None or
                        (self.ready_count() > ready and os.path.ismount(self.mnt)), 15)
        self.assertTrue(ok, "mount timed out")
        self.assertIsNone(p.poll(), "driver exited: " + self.stderr())
        self.proc = p
        return p

    def lines(self):
        try:
            with open(self.events_path) as f:
                return [tuple(l.split("\t")) for l in f.read().splitlines() if l]
        except FileNotFoundError:
            return []

    def ready_count(self):
        return sum(1 for l in self.lines() if l[0] == "ready")

    def events(self):
        return [l for l in self.lines() if l[0] not in ("ready", "ctl", "refused")]

    def wait_events(self, n, timeout=5):
        wait_until(lambda: len(self.events()) >= n, timeout)
        return self.events()

    def ctl(self, *fields):
        before = sum(1 for l in self.lines() if l[0] == "ctl")
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, ("\t".join(fields) + "\n").encode())
        finally:
            os.close(fd)
        self.assertTrue(wait_until(
            lambda: sum(1 for l in self.lines() if l[0] == "ctl") > before, 5),
            "no answer to control command")
        acks = [l for l in self.lines() if l[0] == "ctl"]
        return int(acks[-1][2])

    def wait_exit(self, p, timeout=10):
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("driver did not exit; stderr: " + self.stderr())

    # ---- reading ---------------------------------------------------------
    def test_readdir(self):
        self.mount()
        self.assertEqual(sorted(os.listdir(self.mnt)), sorted(os.listdir(self.backing)))
        for folder in ("INBOX", "Lists.foo", "a", "a/b"):
            names = sorted(os.listdir(self.m(folder)))
            self.assertEqual(names, sorted(os.listdir(self.b(folder))))
            self.assertTrue({"cur", "new", "tmp"} <= set(names))
            for sub in ("cur", "new", "tmp"):
                rel = folder + "/" + sub
                self.assertEqual(sorted(os.listdir(self.m(rel))),
                                 sorted(os.listdir(self.b(rel))))
                # scandir + stat: the "ls -l" path (READDIRPLUS)
                for ent in os.scandir(self.m(rel)):
                    ms = ent.stat(follow_symlinks=False)
                    bs = os.lstat(self.b(rel + "/" + ent.name))
                    self.assertEqual((ms.st_ino, ms.st_size, ms.st_mode, ms.st_mtime_ns),
                                     (bs.st_ino, bs.st_size, bs.st_mode, bs.st_mtime_ns))
        # a large directory comes back complete over several READDIR replies
        for i in range(600):
            write_file(self.b("INBOX/cur/many.%04d:2,S" % i), b"x")
        self.assertEqual(sorted(os.listdir(self.m("INBOX/cur"))),
                         sorted(os.listdir(self.b("INBOX/cur"))))
        self.assertEqual(len([e.stat() for e in os.scandir(self.m("INBOX/cur"))]), 602)
        self.assertEqual(self.events(), [])

    def test_stat_and_read(self):
        self.mount()
        for rel in ("INBOX/cur/1700000000.1.host,U=1:2,", "INBOX/new/1700000002.3.host",
                    "Lists.foo/cur/1700000003.4.host,U=7:2,S", "a/b/cur/big:2,"):
            ms, bs = os.stat(self.m(rel)), os.stat(self.b(rel))
            self.assertEqual((ms.st_ino, ms.st_size, ms.st_mode, ms.st_mtime_ns, ms.st_nlink),
                             (bs.st_ino, bs.st_size, bs.st_mode, bs.st_mtime_ns, bs.st_nlink))
            self.assertEqual(read_file(self.m(rel)), read_file(self.b(rel)))
        # twice (page cache kept), and at an offset
        self.assertEqual(read_file(self.m("a/b/cur/big:2,")), self.big)
        with open(self.m("a/b/cur/big:2,"), "rb") as f:
            f.seek(1024 * 1024 + 7)
            self.assertEqual(f.read(100), self.big[1024 * 1024 + 7:1024 * 1024 + 107])
        st = os.statvfs(self.mnt)
        bst = os.statvfs(self.backing)
        self.assertEqual((st.f_bsize, st.f_blocks), (bst.f_bsize, bst.f_blocks))
        with self.assertRaises(FileNotFoundError):
            os.stat(self.m("INBOX/cur/nope"))
        self.assertEqual(self.events(), [])

    # ---- new mail ----------------------------------------------------------
    def test_deliver_tmp_to_new(self):
        self.mount()
        name = "1700000100.M1P2.host"
        with open(self.m("INBOX/tmp/" + name), "wb") as f:
            f.write(MSG1)
            f.flush()
            os.fsync(f.fileno())
        self.assertEqual(self.events(), [])  # nothing in tmp/ is a message
        os.rename(self.m("INBOX/tmp/" + name), self.m("INBOX/new/" + name))
        self.assertEqual(self.events(), [("message_added", "INBOX", "new", name)])
        self.assertEqual(read_file(self.b("INBOX/new/" + name)), MSG1)
        self.assertEqual(os.listdir(self.b("INBOX/tmp")), [])
        self.assertIn(name, os.listdir(self.m("INBOX/new")))
        # mutt's safe_rename tries link() first and falls back on EPERM
        write_file(self.m("INBOX/tmp/second"), MSG2)
        with self.assertRaises(OSError) as cm:
            os.link(self.m("INBOX/tmp/second"), self.m("INBOX/cur/second:2,S"))
        self.assertEqual(cm.exception.errno, errno.EPERM)
        os.rename(self.m("INBOX/tmp/second"), self.m("INBOX/cur/second:2,S"))
        self.assertEqual(self.events()[1:], [("message_added", "INBOX", "cur", "second:2,S")])
        time.sleep(0.2)
        self.assertEqual(len(self.events()), 2)

    def test_create_in_new(self):
        self.mount()
        # created, written and closed directly in new/: one event at release
        with open(self.m("Lists.foo/new/direct"), "wb") as f:
            f.write(MSG2)
            self.assertEqual(self.events(), [])
        self.assertEqual(self.wait_events(1), [("message_added", "Lists.foo", "new", "direct")])
        self.assertEqual(read_file(self.b("Lists.foo/new/direct")), MSG2)
        # renamed while still open: reported once, at its final place
        with open(self.m("Lists.foo/new/moving"), "wb") as f:
            f.write(MSG1)
            os.rename(self.m("Lists.foo/new/moving"), self.m("Lists.foo/cur/moving:2,S"))
            self.assertEqual(len(self.events()), 1)
        self.assertEqual(self.wait_events(2)[1:],
                         [("message_added", "Lists.foo", "cur", "moving:2,S")])
        # removed before it was complete: never reported
        with open(self.m("Lists.foo/new/aborted"), "wb") as f:
            f.write(b"partial")
            os.unlink(self.m("Lists.foo/new/aborted"))
        # a dot file is no message
        write_file(self.m("Lists.foo/new/.hidden"), b"x")
        time.sleep(0.3)
        self.assertEqual(len(self.events()), 2)
        self.assertFalse(os.path.exists(self.b("Lists.foo/new/aborted")))

    # ---- flag changes, moves, deletes ---------------------------------
    def test_rename_flag(self):
        self.mount()
        old, new = "1700000000.1.host,U=1:2,", "1700000000.1.host,U=1:2,RS"
        ino = os.stat(self.m("INBOX/cur/" + old)).st_ino
        os.rename(self.m("INBOX/cur/" + old), self.m("INBOX/cur/" + new))
        self.assertEqual(self.events(),
                         [("message_renamed", "INBOX", "cur", old, "INBOX", "cur", new)])
        self.assertFalse(os.path.exists(self.b("INBOX/cur/" + old)))
        self.assertEqual(read_file(self.b("INBOX/cur/" + new)), MSG1)
        self.assertEqual(os.stat(self.m("INBOX/cur/" + new)).st_ino, ino)
        self.assertNotIn(old, os.listdir(self.m("INBOX/cur")))
        self.assertFalse(os.path.exists(self.m("INBOX/cur/" + old)))

    def test_rename_cur_new(self):
        self.mount()
        a = "1700000002.3.host"
        os.rename(self.m("INBOX/new/" + a), self.m("INBOX/cur/" + a + ":2,S"))
        os.rename(self.m("INBOX/cur/" + a + ":2,S"), self.m("INBOX/new/" + a))  # mutt bug 2476
        self.assertEqual(self.events(), [
            ("message_renamed", "INBOX", "new", a, "INBOX", "cur", a + ":2,S"),
            ("message_renamed", "INBOX", "cur", a + ":2,S", "INBOX", "new", a),
        ])
        self.assertEqual(read_file(self.b("INBOX/new/" + a)), b"new mail\n")
        self.assertEqual(os.listdir(self.b("INBOX/new")), [a])

    def test_rename_across_folders(self):
        self.mount()
        name = "1700000001.2.host,U=2:2,S"
        ino = os.stat(self.m("INBOX/cur/" + name)).st_ino
        os.rename(self.m("INBOX/cur/" + name), self.m("Lists.foo/cur/" + name))
        os.rename(self.m("Lists.foo/cur/" + name), self.m("a/b/new/moved"))
        self.assertEqual(self.events(), [
            ("message_renamed", "INBOX", "cur", name, "Lists.foo", "cur", name),
            ("message_renamed", "Lists.foo", "cur", name, "a/b", "new", "moved"),
        ])
        self.assertFalse(os.path.exists(self.b("INBOX/cur/" + name)))
        self.assertFalse(os.path.exists(self.b("Lists.foo/cur/" + name)))
        self.assertEqual(os.stat(self.b("a/b/new/moved")).st_ino, ino)
        self.assertEqual(os.stat(self.m("a/b/new/moved")).st_ino, ino)
        self.assertEqual(read_file(self.m("a/b/new/moved")), MSG2)
        # out of the Maildir (into tmp/) is a removal, back in is an addition
        os.rename(self.m("a/b/new/moved"), self.m("a/b/tmp/moved"))
        os.rename(self.m("a/b/tmp/moved"), self.m("INBOX/cur/back:2,S"))
        self.assertEqual(self.events()[2:], [
            ("message_unlinked", "a/b", "new", "moved"),
            ("message_added", "INBOX", "cur", "back:2,S"),
        ])
        self.assertEqual(read_file(self.b("INBOX/cur/back:2,S")), MSG2)

    def test_rename_replace_and_flags(self):
        self.mount()
        a, b = "1700000000.1.host,U=1:2,", "1700000001.2.host,U=2:2,S"
        with self.assertRaises(OSError) as cm:
            renameat2(self.m("INBOX/cur/" + a), self.m("INBOX/cur/" + b), RENAME_NOREPLACE)
        self.assertEqual(cm.exception.errno, errno.EEXIST)
        with self.assertRaises(OSError) as cm:
            renameat2(self.m("INBOX/cur/" + a), self.m("INBOX/cur/" + b), RENAME_EXCHANGE)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertEqual(self.events(), [])
        self.assertEqual(read_file(self.b("INBOX/cur/" + a)), MSG1)
        renameat2(self.m("INBOX/cur/" + a), self.m("INBOX/cur/" + a + "F"), RENAME_NOREPLACE)
        self.assertEqual(self.events(),
                         [("message_renamed", "INBOX", "cur", a, "INBOX", "cur", a + "F")])
        # a plain rename over another message deletes that one first
        os.rename(self.m("INBOX/cur/" + a + "F"), self.m("INBOX/cur/" + b))
        self.assertEqual(self.events()[1:], [
            ("message_unlinked", "INBOX", "cur", b),
            ("message_renamed", "INBOX", "cur", a + "F", "INBOX", "cur", b),
        ])
        self.assertEqual(read_file(self.b("INBOX/cur/" + b)), MSG1)

    def test_unlink(self):
        self.mount()
        name = "1700000003.4.host,U=7:2,S"
        with open(self.m("Lists.foo/cur/" + name), "rb") as f:
            os.unlink(self.m("Lists.foo/cur/" + name))
            self.assertEqual(f.read(), b"list mail\n")  # still readable while open
        self.assertEqual(self.events(), [("message_unlinked", "Lists.foo", "cur", name)])
        self.assertFalse(os.path.exists(self.b("Lists.foo/cur/" + name)))
        self.assertEqual(os.listdir(self.m("Lists.foo/cur")), [])
        with self.assertRaises(FileNotFoundError):
            os.unlink(self.m("Lists.foo/cur/" + name))
        # tmp/ files and non-Maildir places give no events
        write_file(self.m("INBOX/tmp/t"), b"t")
        os.unlink(self.m("INBOX/tmp/t"))
        write_file(self.m("note.txt"), b"t")
        os.unlink(self.m("note.txt"))
        self.assertEqual(len(self.events()), 1)

    # ---- folders -------------------------------------------------------------
    def test_mkdir_folder(self):
        self.mount()
        os.mkdir(self.m("Archive"))
        os.mkdir(self.m("Archive/cur"))
        os.mkdir(self.m("Archive/new"))
        self.assertEqual(self.events(), [])
        os.mkdir(self.m("Archive/tmp"), 0o700)
        self.assertEqual(self.events(), [("folder_created", "Archive")])
        self.assertEqual(stat.S_IMODE(os.stat(self.b("Archive/tmp")).st_mode) & 0o077, 0)
        for sub in ("tmp", "cur", "new"):  # nested with '/'
            os.makedirs(self.m("INBOX/Sub/" + sub))
        self.assertEqual(self.events()[1:], [("folder_created", "INBOX/Sub")])
        self.assertTrue(os.path.isdir(self.b("INBOX/Sub/new")))
        os.rmdir(self.m("Archive/new"))
        self.assertEqual(self.events()[2:], [("folder_removed", "Archive")])
        os.rmdir(self.m("Archive/cur"))
        os.rmdir(self.m("Archive/tmp"))
        os.rmdir(self.m("Archive"))
        self.assertEqual(len(self.events()), 3)
        self.assertFalse(os.path.exists(self.b("Archive")))
        with self.assertRaises(OSError) as cm:
            os.rmdir(self.m("INBOX/cur"))
        self.assertEqual(cm.exception.errno, errno.ENOTEMPTY)
        # a message in a directory that is not (yet) a folder is no message
        os.makedirs(self.m("Half/cur"))
        write_file(self.m("Half/cur/x:2,"), b"x")
        os.rename(self.m("Half/cur/x:2,"), self.m("Half/cur/x:2,S"))
        time.sleep(0.2)
        self.assertEqual(len(self.events()), 3)

    def test_folder_rename(self):
        self.mount()
        os.rename(self.m("Lists.foo"), self.m("Lists.bar"))
        os.rename(self.m("a"), self.m("z"))  # carries the nested folder a/b
        self.assertEqual(self.events(), [("folder_renamed", "Lists.foo", "Lists.bar"),
                                         ("folder_renamed", "a", "z")])
        self.assertTrue(os.path.isdir(self.b("z/b/cur")))
        # events after a directory moved carry its new name
        os.rename(self.m("z/b/cur/big:2,"), self.m("z/b/cur/big:2,S"))
        self.assertEqual(self.events()[2], ("message_renamed", "z/b", "cur", "big:2,",
                                            "z/b", "cur", "big:2,S"))
        # renaming a folder's cur/ away breaks the folder
        os.rename(self.m("Lists.bar/cur"), self.m("Lists.bar/old"))
        os.rename(self.m("Lists.bar/old"), self.m("Lists.bar/cur"))
        self.assertEqual(self.events()[3:], [
            ("folder_removed", "Lists.bar"),
            ("folder_renamed", "Lists.bar/old", "Lists.bar/cur"),
            ("folder_created", "Lists.bar"),
        ])

    def test_folder_rename_fallback(self):
        self.mount("--no-folder-renamed")
        os.rename(self.m("Lists.foo"), self.m("Lists.bar"))
        os.mkdir(self.m("plain"))
        os.rename(self.m("plain"), self.m("plain2"))
        self.assertEqual(self.events(), [("folder_removed", "Lists.foo"),
                                         ("folder_created", "Lists.bar")])

    # ---- attributes ------------------------------------------------------
    def test_setattr(self):
        self.mount()
        rel = "INBOX/cur/1700000000.1.host,U=1:2,"
        os.utime(self.m(rel), ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
        bs = os.stat(self.b(rel))
        self.assertEqual((bs.st_atime_ns, bs.st_mtime_ns),
                         (1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
        self.assertEqual(os.stat(self.m(rel)).st_mtime_ns, 1_500_000_000_987_654_321)
        with open(self.m(rel), "rb") as f:  # futimens on an open file
            os.utime(f.fileno(), (1_000_000, 2_000_000))
        self.assertEqual(os.stat(self.b(rel)).st_mtime, 2_000_000)
        os.utime(self.m("INBOX/cur"), (3_000_000, 4_000_000))  # a directory
        self.assertEqual(os.stat(self.b("INBOX/cur")).st_mtime, 4_000_000)
        os.chmod(self.m(rel), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.b(rel)).st_mode), 0o600)
        with self.assertRaises(PermissionError):
            os.chmod(self.m(rel), 0o4755)
        st = os.stat(self.b(rel))
        os.chown(self.m(rel), st.st_uid, st.st_gid)  # no-op allowed
        with self.assertRaises(PermissionError):
            os.chown(self.m(rel), st.st_uid + 1, -1)
        os.truncate(self.m("INBOX/new/1700000002.3.host"), 3)
        self.assertEqual(read_file(self.b("INBOX/new/1700000002.3.host")), b"new")
        self.assertEqual(read_file(self.m("INBOX/new/1700000002.3.host")), b"new")
        self.assertEqual(self.events(), [])

    # ---- confinement --------------------------------------------------------
    def test_confined(self):
        write_file(os.path.join(self.tmp, "store", "secret"), b"outside the root")
        os.symlink("../secret", self.b("up"))
        os.symlink("/", self.b("INBOX/cur/root-link"))
        self.mount()
        # a backing symlink is shown as such, never followed by the daemon
        self.assertEqual(os.readlink(self.m("up")), "../secret")
        self.assertTrue(os.path.islink(self.m("up")))
        with self.assertRaises(FileNotFoundError):  # resolves next to the mountpoint
            read_file(self.m("up"))
        with self.assertRaises(PermissionError):
            os.symlink("/etc", self.m("INBOX/cur/evil"))
        with self.assertRaises(PermissionError):
            os.link(self.m("INBOX/new/1700000002.3.host"), self.m("hard"))
        with self.assertRaises(PermissionError):
            os.mkfifo(self.m("INBOX/tmp/fifo"))
        with self.assertRaises(PermissionError):
            os.utime(self.m("up"), (1, 1), follow_symlinks=False)
        # '..' at the root of the mount is the kernel's, not ours
        self.assertTrue(os.path.samefile(self.m("INBOX/.."), self.mnt))
        self.assertTrue(os.path.samefile(os.path.join(self.mnt, ".."), self.tmp))
        # unlinking a symlink removes the link, not its target
        os.unlink(self.m("up"))
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "store", "secret")))
        self.assertEqual(self.events(), [])
        # a mountpoint inside the backing root is refused
        inner = self.b("inner")
        os.mkdir(inner)
        p = self.start(mountpoint=inner)
        self.assertEqual(self.wait_exit(p), 1)
        self.assertIn("inside the backing root", self.stderr())
        self.assertFalse(os.path.ismount(inner))

    def test_moved_out_of_root(self):
        self.mount()
        self.assertEqual(os.listdir(self.m("Lists.foo/cur")), ["1700000003.4.host,U=7:2,S"])
        outside = os.path.join(self.tmp, "store", "outside")
        os.rename(self.b("Lists.foo"), outside)  # behind the mount's back
        # the kernel still holds the directory; changes through it are refused
        # with ESTALE, on which the VFS looks the path up again and finds
        # nothing (ENOENT)
        for op in (lambda: write_file(self.m("Lists.foo/cur/new:2,"), b"x"),
                   lambda: os.unlink(self.m("Lists.foo/cur/1700000003.4.host,U=7:2,S")),
                   lambda: os.rename(self.m("Lists.foo/cur/1700000003.4.host,U=7:2,S"),
                                     self.m("Lists.foo/cur/y")),
                   lambda: os.mkdir(self.m("Lists.foo/cur/d"))):
            with self.assertRaises(OSError) as cm:
                op()
            self.assertIn(cm.exception.errno, (errno.ESTALE, errno.ENOENT))
        self.assertEqual(os.listdir(os.path.join(outside, "cur")), ["1700000003.4.host,U=7:2,S"])
        self.assertEqual(self.events(), [])
        # the whole Maildir renamed while mounted keeps working
        os.rename(os.path.join(self.tmp, "store"), os.path.join(self.tmp, "store2"))
        self.backing = os.path.join(self.tmp, "store2", "Mail")
        os.rename(self.m("INBOX/new/1700000002.3.host"), self.m("INBOX/cur/1700000002.3.host:2,S"))
        self.assertEqual(self.events(), [("message_renamed", "INBOX", "new", "1700000002.3.host",
                                          "INBOX", "cur", "1700000002.3.host:2,S")])
        self.assertTrue(os.path.exists(self.b("INBOX/cur/1700000002.3.host:2,S")))

    def test_root_folder(self):
        for sub in ("cur", "new", "tmp"):
            os.mkdir(self.b(sub))
        write_file(self.b("new/r1"), MSG1)
        self.mount()
        os.rename(self.m("new/r1"), self.m("cur/r1:2,S"))
        os.rename(self.m("cur/r1:2,S"), self.m("INBOX/cur/r1:2,S"))
        os.rmdir(self.m("tmp"))
        self.assertEqual(self.events(), [
            ("message_renamed", "", "new", "r1", "", "cur", "r1:2,S"),
            ("message_renamed", "", "cur", "r1:2,S", "INBOX", "cur", "r1:2,S"),
            ("folder_removed", ""),
        ])

    # ---- behind the mount's back: notifications ------------------------
    def test_notify_renamed(self):
        self.mount("--dir-attr-timeout", "86400")
        old, new = "1700000000.1.host,U=1:2,", "1700000000.1.host,U=1:2,S"
        self.assertTrue(os.path.exists(self.m("INBOX/cur/" + old)))  # now cached
        os.rename(self.b("INBOX/cur/" + old), self.b("INBOX/cur/" + new))
        # the kernel still trusts its cached entry: this is what notify is for
        self.assertTrue(os.path.exists(self.m("INBOX/cur/" + old)))
        self.assertEqual(self.ctl("renamed", "INBOX", "cur", old, "cur", new), 0)
        self.assertTrue(wait_until(lambda: not os.path.exists(self.m("INBOX/cur/" + old)) and
                                   os.path.exists(self.m("INBOX/cur/" + new)), 1.0))
        self.assertEqual(read_file(self.m("INBOX/cur/" + new)), MSG1)
        # new/ -> cur/ as the sync does when it marks a message seen
        n = "1700000002.3.host"
        self.assertTrue(os.path.exists(self.m("INBOX/new/" + n)))
        os.rename(self.b("INBOX/new/" + n), self.b("INBOX/cur/" + n + ":2,S"))
        self.assertEqual(self.ctl("renamed", "INBOX", "new", n, "cur", n + ":2,S"), 0)
        self.assertTrue(wait_until(lambda: not os.path.exists(self.m("INBOX/new/" + n)) and
                                   os.path.exists(self.m("INBOX/cur/" + n + ":2,S")), 1.0))
        self.assertEqual(os.stat(self.m("INBOX/new")).st_mtime_ns,
                         os.stat(self.b("INBOX/new")).st_mtime_ns)
        self.assertEqual(self.events(), [])  # changes not made on the mount are not events

    def test_notify_added_removed(self):
        self.mount("--dir-attr-timeout", "86400")
        before = os.stat(self.m("INBOX/new")).st_mtime_ns  # cached for a day
        write_file(self.b("INBOX/new/fresh"), MSG2)
        os.utime(self.b("INBOX/new"), ns=(before + 5 * 10**9, before + 5 * 10**9))
        self.assertEqual(os.stat(self.m("INBOX/new")).st_mtime_ns, before)
        self.assertEqual(self.ctl("added", "INBOX", "new", "fresh"), 0)
        # a mail reader polling the mtime of new/ sees new mail
        self.assertTrue(wait_until(
            lambda: os.stat(self.m("INBOX/new")).st_mtime_ns == before + 5 * 10**9, 1.0))
        self.assertEqual(read_file(self.m("INBOX/new/fresh")), MSG2)
        gone = "1700000001.2.host,U=2:2,S"
        self.assertTrue(os.path.exists(self.m("INBOX/cur/" + gone)))
        os.unlink(self.b("INBOX/cur/" + gone))
        self.assertTrue(os.path.exists(self.m("INBOX/cur/" + gone)))
        self.assertEqual(self.ctl("removed", "INBOX", "cur", gone), 0)
        self.assertTrue(wait_until(lambda: not os.path.exists(self.m("INBOX/cur/" + gone)), 1.0))
        # folders
        self.assertTrue(os.path.isdir(self.m("Lists.foo")))
        shutil.rmtree(self.b("Lists.foo"))
        self.assertEqual(self.ctl("folder", "Lists.foo"), 0)
        self.assertTrue(wait_until(lambda: not os.path.exists(self.m("Lists.foo")), 1.0))
        # bad arguments are refused, unknown directories are fine
        self.assertEqual(self.ctl("added", "../x", "new", "y"), -errno.EINVAL)
        self.assertEqual(self.ctl("added", "INBOX", "bogus", "y"), -errno.EINVAL)
        self.assertEqual(self.ctl("added", "INBOX", "new", "a/b"), -errno.EINVAL)
        self.assertEqual(self.ctl("added", "Nope", "new", "y"), 0)
        self.assertEqual(self.events(), [])

    # ---- observer failures -------------------------------------------------
    def test_observer_failure(self):
        self.mount("--fail", "FAILME")
        old = "1700000000.1.host,U=1:2,"
        with self.assertRaises(OSError) as cm:
            os.rename(self.m("INBOX/cur/" + old), self.m("INBOX/cur/" + old + "FAILME"))
        self.assertEqual(cm.exception.errno, errno.EIO)
        self.assertEqual(read_file(self.b("INBOX/cur/" + old)), MSG1)  # undone
        self.assertFalse(os.path.exists(self.b("INBOX/cur/" + old + "FAILME")))
        self.assertTrue(os.path.exists(self.m("INBOX/cur/" + old)))
        self.assertFalse(os.path.exists(self.m("INBOX/cur/" + old + "FAILME")))
        refused = [l for l in self.lines() if l[0] == "refused"]
        self.assertEqual(refused, [("refused", "message_renamed", "INBOX", "cur", old,
                                    "INBOX", "cur", old + "FAILME")])
        # a delivery that cannot be recorded is undone too: back in tmp/
        write_file(self.m("INBOX/tmp/FAILME.1"), MSG2)
        with self.assertRaises(OSError):
            os.rename(self.m("INBOX/tmp/FAILME.1"), self.m("INBOX/new/FAILME.1"))
        self.assertEqual(read_file(self.b("INBOX/tmp/FAILME.1")), MSG2)
        # an unlink cannot be undone: it stands, the reader gets success
        os.rename(self.m("INBOX/tmp/FAILME.1"), self.m("INBOX/tmp/x"))
        write_file(self.b("INBOX/cur/FAILME:2,"), MSG2)
        os.unlink(self.m("INBOX/cur/FAILME:2,"))
        self.assertFalse(os.path.exists(self.b("INBOX/cur/FAILME:2,")))
        self.assertEqual(self.events(), [])
        self.assertEqual([l[:2] for l in self.lines() if l[0] == "refused"],
                         [("refused", "message_renamed"), ("refused", "message_added"),
                          ("refused", "message_unlinked")])
        self.assertIn("could not record", self.stderr())

    # ---- concurrency --------------------------------------------------------
    def test_parallel_renames(self):
        self.mount("--max-threads", "8")
        names = ["p%03d:2," % i for i in range(160)]
        for n in names:
            write_file(self.b("INBOX/cur/" + n), n.encode())
        errors = []

        def work(chunk):
            try:
                for n in chunk:
                    os.rename(self.m("INBOX/cur/" + n), self.m("INBOX/cur/" + n + "S"))
                    os.rename(self.m("INBOX/cur/" + n + "S"), self.m("Lists.foo/new/" + n))
                    self.assertEqual(read_file(self.m("Lists.foo/new/" + n)), n.encode())
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(names[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        ev = self.events()
        self.assertEqual(len(ev), 2 * len(names))
        for n in names:
            first = ev.index(("message_renamed", "INBOX", "cur", n, "INBOX", "cur", n + "S"))
            second = ev.index(("message_renamed", "INBOX", "cur", n + "S",
                               "Lists.foo", "new", n))
            self.assertLess(first, second)
        self.assertEqual(sorted(os.listdir(self.b("Lists.foo/new"))), sorted(names))

    # ---- mounting and unmounting ---------------------------------------------
    def test_unmount_fusermount(self):
        p = self.mount()
        os.listdir(self.m("INBOX/cur"))
        r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.wait_exit(p), 0, self.stderr())
        self.assertFalse(os.path.ismount(self.mnt))
        self.assertEqual(os.listdir(self.mnt), [])

    def test_unmount_api(self):
        p = self.mount()
        os.listdir(self.m("INBOX/cur"))
        self.assertEqual(self.ctl("unmount"), 0)
        self.assertEqual(self.wait_exit(p), 0, self.stderr())
        self.assertFalse(os.path.ismount(self.mnt))

    def test_unmount_signal(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            p = self.mount()
            read_file(self.m("INBOX/new/1700000002.3.host"))
            p.send_signal(sig)
            self.assertEqual(self.wait_exit(p), 0, self.stderr())
            self.assertTrue(wait_until(lambda: not os.path.ismount(self.mnt), 5))
            self.assertEqual(os.listdir(self.mnt), [])

    def test_stale_mount(self):
        p = self.mount()
        p.kill()
        p.wait()
        # at once (the kernel may still answer stat from its cache) ...
        p2 = self.start()
        self.assertEqual(self.wait_exit(p2), 1)
        msg = "stale offlinefs mount at %s: run fusermount3 -u %s" % (self.mnt, self.mnt)
        self.assertIn(msg, self.stderr())

        def enotconn():
            try:
                os.stat(self.mnt)
            except OSError as e:
                return e.errno == errno.ENOTCONN
            return False
        # ... and later, when stat itself fails
        self.assertTrue(wait_until(enotconn, 5))
        p3 = self.start()
        self.assertEqual(self.wait_exit(p3), 1)
        self.assertEqual(self.stderr().count(msg), 2)
        subprocess.run(["fusermount3", "-u", "-z", self.mnt], check=True)
        self.mount()  # and once cleaned up, mounting works again
        self.assertIn("INBOX", os.listdir(self.mnt))

    def test_nonempty(self):
        write_file(os.path.join(self.mnt, "precious"), b"x")
        p = self.start()
        self.assertEqual(self.wait_exit(p), 1)
        self.assertIn("is not empty", self.stderr())
        self.assertFalse(os.path.ismount(self.mnt))
        self.mount("--nonempty")
        self.assertIn("INBOX", os.listdir(self.mnt))
        self.assertNotIn("precious", os.listdir(self.mnt))


if __name__ == "__main__":
    if not fuse_usable():
        print("skipped: /dev/fuse is not usable here", file=sys.stderr)
        sys.exit(77)
    unittest.main()
