"""Harness for end-to-end tests of the live mount (`offlinefs mount`).

Why: the mount's promise is about three places at once — what a mail
reader sees on the mount, what the Maildir underneath holds, and what the
IMAP server holds a moment later — so every test here checks all three, the
server through imaplib (never trusting offlinefs' own output).

Per test (MountTestCase.setUp):
  1. a private Dovecot under /var/tmp (tests/fixture/dovecot.py, through
     tests/integration/harness.py's SyncTestCase), seeded with SEED;
  2. the OfflineIMAP-format config SyncTestCase writes;
  3. an initial `offlinefs -o` sync;
  4. `offlinefs mount -c CONF -f MNT` in the background on a fresh empty
     mountpoint, waited for in /proc/self/mountinfo, then for the worker's
     IMAP login in Dovecot's own log.
Cleanup (always, also when setUp fails half-way): a clean unmount
(`fusermount3 -u`, the daemon must then exit 0: that is where an ASan/LSan
report shows), then `fusermount3 -uz` for anything still mounted below the
test dir, SIGTERM/SIGKILL for any process we started, and a check that no
mount is left before the directory is removed.

Timing: `wait_until(pred, timeout=1.0)` polls pred until it is true.
`assert_within(pred, timeout, what)` fails when pred is not true within
timeout; it then keeps watching a little longer (LATE_GRACE) so the failure
says "arrived after 2.3 s" or "never arrived" — the two are different bugs.
OFFLINEFS_TIME_SCALE (default 1) multiplies every deadline, for slow
builds such as valgrind; the suite is meant to pass at 1 under ASan.

Environment: OFFLINEFS (the binary; meson sets it), OFFLINEFS_KEEP=1 keeps
the /var/tmp/ofs-it-* dir of a failed test (mount log: mount.log).
"""

import contextlib
import errno
import imaplib
import os
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC, "tests", "fixture"))

import dovecot as dovecot_mod  # noqa: E402
import harness  # noqa: E402
from harness import (ACCOUNT, Imap, crlf_to_lf, maildir_messages, simple_message,  # noqa: E402,F401
                     sha)

TIME_SCALE = float(os.environ.get("OFFLINEFS_TIME_SCALE", "1") or 1)
LATE_GRACE = 8.0          # seconds we keep watching after a missed deadline
MOUNT_TIMEOUT = 20.0      # mount appears in mountinfo
ONLINE_TIMEOUT = 20.0     # the worker logs in after the mount appeared
EXIT_TIMEOUT = 15.0       # the daemon exits after an unmount
SKIP_EXIT = 77


def fuse_usable():
    """True when this process can mount a FUSE file system."""
    if not os.path.exists("/dev/fuse") or not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return False
    return os.geteuid() == 0 or _which("fusermount3") is not None


def _which(prog):
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":") + ["/usr/bin", "/bin"]:
        p = os.path.join(d, prog)
        if os.access(p, os.X_OK):
            return p
    return None


def main():
    """Entry point of every test file: exit 77 (meson: skipped) without FUSE."""
    if not fuse_usable():
        print("skipped: /dev/fuse is not usable here", file=sys.stderr)
        sys.exit(SKIP_EXIT)
    unittest.main(verbosity=2)


# ---------------------------------------------------------------- mounts
def _unescape_mountinfo(s):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts():
    """[(mountpoint, fstype)] from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            out.append((_unescape_mountinfo(fields[4]), fields[sep + 1]))
    return out


def mount_type(path):
    """fstype of the mount at exactly path, or None."""
    t = None
    for mp, fstype in mounts():
        if mp == path:
            t = fstype  # the last one is the top of the stack
    return t


def mounts_below(path):
    return [mp for mp, _ in mounts() if mp == path or mp.startswith(path + "/")]


def force_unmount(path):
    """Lazy unmount whatever is at path (stale or live); quiet."""
    for argv in (["fusermount3", "-u", "-z", "-q", path], ["umount", "-l", path]):
        if path not in mounts_below(path):
            return
        with contextlib.suppress(OSError):
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=10)


def wait_until(pred, timeout=1.0, step=0.01):
    """Poll pred() until it returns something true or timeout (seconds,
    scaled by OFFLINEFS_TIME_SCALE) passes; return its last value.

    A FileNotFoundError inside pred() counts as "not yet": a Maildir scan
    can list a file that the mail reader (or the sync) renames before the
    scan opens it -- exactly the renames these tests wait for.
    """
    end = time.monotonic() + timeout * TIME_SCALE
    while True:
        try:
            v = pred()
        except FileNotFoundError:
            if time.monotonic() >= end:
                raise
            v = None
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


# ---------------------------------------------------------------- messages
def header(body, name):
    """Value of the first header `name` in a message (bytes or str), or None."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    head = crlf_to_lf(body.encode()).decode("utf-8", "replace").split("\n\n", 1)[0]
    m = re.search(r"^%s:[ \t]*(.*(?:\n[ \t].*)*)" % re.escape(name), head, re.I | re.M)
    return re.sub(r"\s+", " ", m.group(1)).strip() if m else None


def msg(subject, body=None):
    """A small unique message (Message-ID derived from the subject)."""
    return simple_message(subject, body or ("Body of %s.\n" % subject))


def flags_of_name(name):
    return name.split(":2,", 1)[1] if ":2," in name else ""


def base_of_name(name):
    return name.split(":2,", 1)[0]


def with_flags(name, letters):
    """The Maildir name `name` carrying exactly `letters` (sorted)."""
    return base_of_name(name) + ":2," + "".join(sorted(set(letters)))


def local_index(root, folder):
    """{subject: [LocalMsg]} of one Maildir folder under root (mount or backing)."""
    out = {}
    for m in maildir_messages(root, folder):
        out.setdefault(header(m.body, "Subject"), []).append(m)
    return out


class ServerMsg:
    __slots__ = ("uid", "flags", "subject", "msgid", "body")

    def __init__(self, uid, flags, subject, msgid, body):
        self.uid, self.flags, self.subject, self.msgid, self.body = uid, flags, subject, msgid, body

    def __repr__(self):
        return "<uid %d %s %r>" % (self.uid, " ".join(self.flags) or "-", self.subject)


class Server:
    """One persistent imaplib connection for polling; reconnects after the
    server was restarted.  Folders are UTF-8, '/'-separated."""

    def __init__(self, dc, user):
        self.dc, self.user, self.imap = dc, user, None

    def close(self):
        if self.imap:
            self.imap.close()
            self.imap = None

    def _conn(self):
        if self.imap is None:
            self.imap = Imap(self.dc, self.user)
        return self.imap

    def _retry(self, fn):
        try:
            return fn(self._conn())
        except (imaplib.IMAP4.abort, OSError, ssl.SSLError, EOFError):
            self.close()
            return fn(self._conn())

    def folders(self):
        return self._retry(lambda i: i.folders())

    def messages(self, folder, bodies=True):
        """[ServerMsg] of folder, by UID (EXAMINE, BODY.PEEK: no side effects)."""
        def fetch(i):
            n = i.select(folder, readonly=True)
            if n == 0:
                return []
            what = "BODY.PEEK[]" if bodies else "BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)]"
            typ, data = i.c.uid("FETCH", "1:*", "(UID FLAGS %s)" % what)
            if typ != "OK":
                raise AssertionError("FETCH in %s: %r" % (folder, data))
            out = []
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                fl = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()
                fl = tuple(sorted(f for f in fl if f != "\\Recent"))
                out.append(ServerMsg(uid, fl, header(item[1], "Subject"),
                                     header(item[1], "Message-ID"),
                                     item[1] if bodies else None))
            return sorted(out, key=lambda m: m.uid)
        return self._retry(fetch)

    def by_subject(self, folder, subject, bodies=False):
        return [m for m in self.messages(folder, bodies) if m.subject == subject]

    def subjects(self, folder):
        return sorted(m.subject for m in self.messages(folder, bodies=False))

    def flags(self, folder, subject):
        """Flags of the one message with this subject, None if absent, 'dup' if several."""
        found = self.by_subject(folder, subject)
        if not found:
            return None
        if len(found) > 1:
            return "dup"
        return found[0].flags

    def append(self, folder, body, flags=()):
        return self._retry(lambda i: i.append(folder, body, flags))

    def store(self, folder, uid, op, flags):
        return self._retry(lambda i: i.store(folder, uid, op, flags))

    def snapshot(self):
        return self._retry(lambda i: i.snapshot())


# ---------------------------------------------------------------- test case
class MountTestCase(harness.SyncTestCase):
    """Dovecot + synced Maildir + a running `offlinefs mount` per test.

    SEED: {remote folder: [(subject, (IMAP flags...)), ...]} appended to
    the server before the initial sync.  MOUNT_AT_SETUP: mount in setUp.
    """

    SEED = {
        "INBOX": [("seen-1", ("\\Seen",)), ("seen-2", ("\\Seen",)), ("seen-3", ("\\Seen",)),
                  ("unseen-1", ()), ("unseen-2", ()), ("flagged-1", ("\\Seen", "\\Flagged"))],
        "Archive": [("arch-1", ("\\Seen",)), ("arch-2", ())],
    }
    MOUNT_AT_SETUP = True

    def setUp(self):
        if not fuse_usable():
            raise unittest.SkipTest("/dev/fuse is not usable")
        self.mount_proc = None
        self.mount_procs = []   # every offlinefs mount we started
        self.mount_rcs = []     # (pid, exit status) of clean unmounts
        self.expect_dead = set()  # pids we killed on purpose
        super().setUp()
        self.mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(self.mnt)
        self.mount_log = os.path.join(self.tmp, "mount.log")
        # Registered after SyncTestCase's cleanups, so it runs first: the
        # mount is gone before Dovecot stops and the directory is removed.
        self.addCleanup(self._mount_cleanup)
        self.srv = Server(self.dc, self.user)
        self.addCleanup(self.srv.close)
        self.seed()
        self.sync()
        if self.MOUNT_AT_SETUP:
            self.mount()

    def seed(self):
        with self.server() as s:
            folders = s.folders()
            for folder, msgs in self.SEED.items():
                if folder not in folders and folder.upper() != "INBOX":
                    s.create(folder)
                for subject, flags in msgs:
                    s.append(folder, msg(subject), flags)

    # ------------------------------------------------------------ paths
    def m(self, *rel):
        return os.path.join(self.mnt, *rel)

    def b(self, *rel):
        return os.path.join(self.mail, *rel)

    # ------------------------------------------------------------ the mount
    def mount_argv(self, *extra):
        return [self.offlinefs, "mount", "-c", self.conf, *extra, "-f", self.mnt]

    def mount(self, *extra, wait_online=True):
        """Start `offlinefs mount -f` and wait until it is mounted and (by
        default) logged in to the server.  Returns the Popen."""
        logins = self.server_logins()
        self.assertIsNone(mount_type(self.mnt), "something is already mounted at %s" % self.mnt)
        argv = self.mount_argv(*extra)
        with open(self.mount_log, "ab") as log:
            log.write(("\n=== %s $ %s\n" % (time.strftime("%H:%M:%S"), " ".join(argv))).encode())
            log.flush()
            # Same process group as the test: a meson timeout kills it too.
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.mount_procs.append(p)
        self.mount_proc = p
        ok = wait_until(lambda: p.poll() is not None or mount_type(self.mnt) is not None,
                        MOUNT_TIMEOUT, step=0.02)
        if p.poll() is not None:
            self.fail("offlinefs mount exited with %s before mounting:\n%s"
                      % (p.returncode, self.mount_output()))
        self.assertTrue(ok, "no mount at %s after %ss:\n%s"
                        % (self.mnt, MOUNT_TIMEOUT, self.mount_output()))
        self.assertEqual(mount_type(self.mnt), "fuse.offlinefs",
                         "unexpected mount type at %s" % self.mnt)
        if wait_online:
            self.wait_online(logins)
        return p

    def wait_online(self, logins_before):
        """The mount's worker logged in (Dovecot's log says so) and its
        start-up full sync is over (`offlinefs status`: "last full sync" is
        no longer "never").  Tests act on a settled mount, so each checks
        its one thing; changes made during a sync have their own tests."""
        ok = wait_until(lambda: self.server_logins() > logins_before or
                        self.mount_proc.poll() is not None, ONLINE_TIMEOUT, step=0.02)
        self.assertIsNone(self.mount_proc.poll(), "offlinefs mount exited:\n%s"
                          % self.mount_output())
        self.assertTrue(ok, "the mount never logged in to the server within %ss:\n%s"
                        % (ONLINE_TIMEOUT, self.mount_output()))
        ok = wait_until(lambda: self.last_full_sync() not in (None, "never") or
                        self.mount_proc.poll() is not None, ONLINE_TIMEOUT, step=0.05)
        self.assertIsNone(self.mount_proc.poll(), "offlinefs mount exited:\n%s"
                          % self.mount_output())
        self.assertTrue(ok, "the start-up full sync did not finish within %ss:\n%s\n%s"
                        % (ONLINE_TIMEOUT, self.status_text(), self.mount_output()))

    def status_text(self):
        """`offlinefs status` output, quietly (for polling)."""
        p = subprocess.run([self.offlinefs, "status", "-c", self.conf], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        return p.stdout + p.stderr

    def last_full_sync(self):
        """What `offlinefs status` says after "last full sync:", or None."""
        m = re.search(r"last full sync:\s*(.*)", self.status_text())
        return m.group(1).strip() if m else None

    def mount_output(self):
        try:
            with open(self.mount_log, errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return "(no mount log)"

    def unmount(self, lazy=False):
        """Unmount with fusermount3 -u (the user's way); wait for the daemon
        to exit and return its exit status."""
        p = self.mount_proc
        r = subprocess.run(["fusermount3", "-u"] + (["-z"] if lazy else []) + [self.mnt],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, "fusermount3 -u %s: %s" % (self.mnt, r.stderr))
        rc = None
        if p is not None:
            try:
                rc = p.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.fail("offlinefs mount did not exit within %ss of the unmount:\n%s"
                          % (EXIT_TIMEOUT, self.mount_output()))
            self.mount_rcs.append((p.pid, rc))
        self.assertIsNone(mount_type(self.mnt))
        self.mount_proc = None
        return rc

    def kill9(self):
        """kill -9 the mount daemon and clean the stale mount (fusermount3 -uz)."""
        p = self.mount_proc
        self.expect_dead.add(p.pid)
        p.kill()
        p.wait(10)
        r = subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, "fusermount3 -uz on the stale mount: %s" % r.stderr)
        self.assertTrue(wait_until(lambda: mount_type(self.mnt) is None, 5))
        self.mount_proc = None

    def signal_mount(self, sig=signal.SIGUSR1):
        self.assertIsNotNone(self.mount_proc, "not mounted")
        self.assertIsNone(self.mount_proc.poll(), "offlinefs mount died:\n%s"
                          % self.mount_output())
        os.kill(self.mount_proc.pid, sig)

    def assert_mount_alive(self):
        self.assertIsNotNone(self.mount_proc)
        self.assertIsNone(self.mount_proc.poll(), "offlinefs mount died (exit %s):\n%s"
                          % (self.mount_proc.poll(), self.mount_output()))
        self.assertEqual(mount_type(self.mnt), "fuse.offlinefs")

    def _mount_cleanup(self):
        problems = []
        p = self.mount_proc
        # A daemon still serving gets a clean unmount and must exit 0.
        if p is not None and p.poll() is None and mount_type(self.mnt) is not None:
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, text=True,
                               timeout=30)
            if r.returncode == 0:
                try:
                    rc = p.wait(EXIT_TIMEOUT)
                    self.mount_rcs.append((p.pid, rc))
                except subprocess.TimeoutExpired:
                    problems.append("offlinefs mount did not exit within %ss of "
                                    "fusermount3 -u" % EXIT_TIMEOUT)
            else:
                problems.append("fusermount3 -u failed at cleanup: %s" % r.stderr.strip())
        for mp in sorted(mounts_below(self.tmp), key=len, reverse=True):
            force_unmount(mp)
        for q in self.mount_procs:
            if q.poll() is None:
                q.terminate()
                try:
                    q.wait(10)
                except subprocess.TimeoutExpired:
                    q.kill()
                    q.wait(10)
                problems.append("offlinefs mount pid %d still running at cleanup "
                                "(terminated)" % q.pid)
        left = mounts_below(self.tmp)
        if left:
            problems.append("mounts left below %s: %s" % (self.tmp, left))
        for pid, rc in self.mount_rcs:
            if rc != 0 and pid not in self.expect_dead:
                problems.append("offlinefs mount (pid %d) exited %s after a clean unmount"
                                % (pid, rc))
        if problems:
            self.fail("mount cleanup: %s\n--- mount log:\n%s"
                      % ("; ".join(problems), self.mount_output()))

    def _cleanup_tmp(self):
        # Never let rmtree walk into a mount (a stuck one would hang it).
        if mounts_below(self.tmp):
            print("left %s in place: still mounted below it" % self.tmp, file=sys.stderr)
            return
        super()._cleanup_tmp()

    # ------------------------------------------------------------ status
    def status(self):
        return self.run_offlinefs("status", once=False, ui=None)

    def pending(self):
        """Number of queued ops according to `offlinefs status`."""
        r = self.status()
        self.assertEqual(r.rc, 0, "offlinefs status failed:\n%s" % r)
        n = parse_pending(r.output)
        self.assertIsNotNone(n, "no pending-op count in `offlinefs status`:\n%s" % r)
        return n

    def status_db(self):
        return os.path.join(self.meta, "Account-" + ACCOUNT, "offlinefs.sqlite")

    def outbox_rows(self):
        """The outbox table as the daemon left it (read-only; the queue's
        ground truth next to what `offlinefs status` prints).  List of dicts
        in queue order; [] when there is no DB or no table yet."""
        path = self.status_db()
        if not os.path.exists(path):
            return []
        for _ in range(50):
            try:
                con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
                try:
                    con.row_factory = sqlite3.Row
                    return [dict(r) for r in con.execute("SELECT * FROM outbox ORDER BY id")]
                finally:
                    con.close()
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return []
                last = e
                time.sleep(0.02)  # busy / being checkpointed
        raise last

    def queued(self):
        """Number of rows in the outbox."""
        return len(self.outbox_rows())

    # ------------------------------------------------------------ waiting
    def assert_within(self, pred, timeout, what, show=None):
        """pred() becomes true within timeout (scaled).  Returns the seconds
        it took.  On a miss, keeps watching LATE_GRACE more seconds so the
        failure says whether it was late or never happened.  show(): the
        state worth printing on failure (e.g. the server's folders)."""
        t0 = time.monotonic()
        v = wait_until(pred, timeout)
        took = time.monotonic() - t0
        if v:
            print("[within %.2f s] %s: %.3f s" % (timeout * TIME_SCALE, what, took),
                  file=sys.stderr)
            return took
        v = wait_until(pred, LATE_GRACE, step=0.05)
        late = time.monotonic() - t0
        self.assert_mount_alive_if_mounted()
        state = ""
        if show is not None:
            try:
                state = "\n--- state: %s" % (show(),)
            except Exception as e:  # noqa: BLE001 - diagnostics only
                state = "\n--- state: (%r)" % e
        if v:
            self.fail("%s: took %.2f s, over the %.2f s limit%s"
                      % (what, late, timeout * TIME_SCALE, state))
        self.fail("%s: not true after %.1f s (limit %.2f s)%s\n--- outbox: %s\n--- mount log:\n%s"
                  % (what, late, timeout * TIME_SCALE, state, self.outbox_rows(),
                     self.mount_output()))

    def assert_mount_alive_if_mounted(self):
        p = self.mount_proc
        if p is not None and p.poll() is not None:
            self.fail("offlinefs mount died (exit %s):\n%s" % (p.returncode, self.mount_output()))

    def assert_stays(self, pred, seconds, what):
        """pred() stays true for `seconds` (used for "exactly once")."""
        end = time.monotonic() + seconds * TIME_SCALE
        while time.monotonic() < end:
            self.assertTrue(pred(), what)
            time.sleep(0.05)

    # ------------------------------------------------------------ doing
    def local(self, folder, subject, root=None):
        """The one LocalMsg with this subject in folder (mount by default)."""
        found = local_index(root or self.mnt, folder).get(subject, [])
        self.assertEqual(len(found), 1, "%r in %s/%s: %s" % (
            subject, root or self.mnt, folder, [m.name for m in found]))
        return found[0]

    def deliver_via_mount(self, folder, subject, flags="", sub=None, name=None):
        """Write a new message the way a mail reader does: tmp/ then rename
        into new/ (or cur/ with flags).  Returns (mount path, body)."""
        body = msg(subject)
        base = name or "%d.M%dP%d.mutt" % (time.time(), abs(hash(subject)) % 10**6, os.getpid())
        sub = sub or ("cur" if flags else "new")
        final = base + (":2," + "".join(sorted(flags)) if sub == "cur" else "")
        tmp = self.m(folder, "tmp", base)
        with open(tmp, "wb") as f:
            f.write(body)
        os.rename(tmp, self.m(folder, sub, final))
        return self.m(folder, sub, final), body

    def server_guids(self, folder, subject):
        """Dovecot's GUIDs of the messages with this subject in folder.  A
        server-side MOVE/COPY keeps the GUID (Maildir: the file's base name);
        an APPEND of the same bytes gets a new one — so this tells "moved on
        the server" from "uploaded again"."""
        out = self.dc.doveadm(["fetch", "-u", self.user, "guid hdr.subject", "mailbox",
                               folder]).stdout.decode(errors="replace")
        guids = []
        for rec in re.findall(r"guid: (\S+)\nhdr\.subject: (.*)", out):
            if rec[1].strip() == subject:
                guids.append(rec[0])
        return guids

    def stop_server(self):
        """Stop Dovecot, and return only once every one of its processes is
        gone (so its ports are free for start_server).

        Its imap/imap-login processes serving the mount's open connections
        outlive the master's SIGTERM and the fixture waits 10 s before it
        SIGKILLs them; a server that is down may as well have crashed, so we
        allow 2 s.  The dead master then stays a zombie until PID 1 reaps it
        (lazily on some machines), and `dovecot` refuses to start while
        master.pid names a pid that still exists: we remove that pid file
        once the master is dead."""
        self.srv.close()
        master = self.dc._read_master_pid()
        saved = dovecot_mod.STOP_TIMEOUT
        dovecot_mod.STOP_TIMEOUT = 2.0
        try:
            self.dc.stop()
        finally:
            dovecot_mod.STOP_TIMEOUT = saved
        # The fixture kills the processes it saw when stop() began; one
        # forked meanwhile (the mount reconnecting while the master shuts
        # down) would keep the listeners.  Find them by their title, which
        # carries this instance's name, until none is left.
        def gone():
            procs = self._instance_procs()
            for pid in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return not procs
        self.assertTrue(wait_until(gone, 10.0, step=0.05),
                        "Dovecot processes still alive after stop: %s" % self._instance_procs())
        if master:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.dc.base_dir, "master.pid"))

    def _instance_procs(self):
        """Live (non-zombie) processes of this fixture's Dovecot: the master
        (`dovecot -c <our conf>`) and every `dovecot-<instance_name>/...`."""
        with open(self.dc.conf) as f:
            m = re.search(r"^instance_name = (\S+)", f.read(), re.M)
        prefix = ("dovecot-%s/" % m.group(1)).encode() if m else None
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if ((prefix and cmd.startswith(prefix)) or
                    (b"dovecot\0-c\0" + self.dc.conf.encode() + b"\0") in cmd):
                if dovecot_mod._pid_alive(int(name)):
                    out.append(int(name))
        return out

    def start_server(self):
        """Restart the stopped Dovecot on the SAME ports (the mount's config
        names them).  The fixture probes ports without SO_REUSEADDR, so a
        port whose old connections are in TIME_WAIT looks busy and it would
        pick new ones; we probe the way Dovecot binds (SO_REUSEADDR)."""
        ports = (self.dc.imap_port, self.dc.imaps_port)
        self.assertTrue(wait_until(lambda: all(_port_free_reuseaddr(p) for p in ports), 5.0,
                                   step=0.05),
                        "ports %s still taken after Dovecot stopped" % (ports,))
        saved = dovecot_mod._port_free
        dovecot_mod._port_free = _port_free_reuseaddr
        try:
            self.dc.start()
        finally:
            dovecot_mod._port_free = saved
        self.assertEqual((self.dc.imap_port, self.dc.imaps_port), ports,
                         "Dovecot came back on other ports (precondition)")

    def freeze_server(self):
        """SIGSTOP every Dovecot process: connections stay open, nothing
        answers.  Thawed again at cleanup (before the unmount)."""
        pids = self._dovecot_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        self.addCleanup(self.thaw_server, pids)
        return pids

    def thaw_server(self, pids):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def _dovecot_pids(self):
        pid = self.dc._read_master_pid()
        return [pid] + dovecot_mod._descendants(pid) if pid else []


def _port_free_reuseaddr(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((dovecot_mod.HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_PENDING_RES = [
    re.compile(r"(\d+)\s+(?:ops?|operations?|changes?)\s+(?:queued|pending|waiting)", re.I),
    re.compile(r"(?:queued|pending|outbox)\b[^0-9\n]{0,20}(\d+)", re.I),
    re.compile(r"(\d+)\s+(?:queued|pending)", re.I),
]


def parse_pending(text):
    """The number of queued ops in `offlinefs status` output, or None."""
    for rx in _PENDING_RES:
        m = rx.search(text)
        if m:
            return int(m.group(1))
    return None


def errno_name(e):
    return errno.errorcode.get(e, str(e))
