#!/usr/bin/env python3
"""test_live.py — the live mount's server side without FUSE.

Each test syncs a fresh Dovecot account into a Maildir with `offlinefs -o`,
then runs tests/live/live_driver (the outbox observer + the live worker of
sync/live.h, holding the account lock like a mount would).  A test does what
a mail reader does to the Maildir (rename, unlink, deliver, mkdir), tells the
driver which observer callback the FUSE layer would have made, and checks the
server with imaplib — never trusting offlinefs' own account of it.

Run one case:
  LIVE_DRIVER=build/tests/live/live_driver OFFLINEFS=build/tools/offlinefs \
      python3 tests/live/test_live.py TestLive.test_flag_rename
"""
import glob
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

import harness  # noqa: E402
from harness import (SyncTestCase, add_local_message, crlf_to_lf, make_local_folder,  # noqa: E402
                     maildir_messages, set_local_flags, simple_message)

FAST = 1.0  # seconds: a local change must be on the server this fast


def driver_path():
    p = os.environ.get("LIVE_DRIVER")
    if p:
        return p
    for cand in sorted(glob.glob(os.path.join(SRC, "build*", "tests", "live", "live_driver"))):
        if os.access(cand, os.X_OK):
            return cand
    raise unittest.SkipTest("LIVE_DRIVER not set and no build*/tests/live/live_driver found")


def base_of(name):
    return name.split(":2,", 1)[0]


class Proxy:
    """A TCP relay on a fixed local port in front of Dovecot's IMAPS port.

    The driver talks to the server through it, so the server can be stopped
    and started again (Dovecot may then come back on another port, when the
    old one is still in TIME_WAIT) without the driver's config changing.
    """

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                c.close()  # the server is down: so is the relay
                continue
            u.settimeout(None)
            with self.lock:
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.lsock.close()
        with self.lock:
            for x in self.socks:
                try:
                    x.close()
                except OSError:
                    pass


class Driver:
    """One live_driver process; commands over a pipe, one reply line each."""

    def __init__(self, tc, *args):
        self.tc = tc
        n = len(tc.drivers)
        self.hooks = os.path.join(tc.tmp, "hooks")
        self.errpath = os.path.join(tc.tmp, "driver%d.err" % n)
        self.err = open(self.errpath, "wb")
        argv = [driver_path(), "-c", tc.driver_conf, "--hooks", self.hooks, "-d", "sync"] + list(args)
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err)
        self.buf = b""
        tc.drivers.append(self)

    def readline(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("live_driver did not answer within %.0fs\n%s"
                                     % (timeout, self.stderr()))
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    raise AssertionError("live_driver exited (%s)\n%s"
                                         % (self.p.poll(), self.stderr()))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, *fields, timeout=60):
        self.p.stdin.write(("\t".join(fields) + "\n").encode())
        self.p.stdin.flush()
        return self.readline(timeout)

    def ok(self, *fields, timeout=60):
        r = self.cmd(*fields, timeout=timeout)
        if not r.startswith("ok"):
            raise AssertionError("live_driver %s: %s\n%s" % (" ".join(fields), r, self.stderr()))
        return r[3:]

    def state(self):
        return dict(kv.split("=", 1) for kv in self.ok("state").split(" ") if "=" in kv)

    def stderr(self):
        self.err.flush()
        with open(self.errpath, errors="replace") as f:
            return f.read()

    def hook_lines(self):
        try:
            with open(self.hooks) as f:
                return [ln.rstrip("\n").split("\t") for ln in f]
        except FileNotFoundError:
            return []

    def full_syncs(self):
        return self.stderr().count("*** Finished account")

    def quit(self):
        """Clean exit; must be 0 (where ASan/LSan would report)."""
        self.p.stdin.write(b"quit\n")
        self.p.stdin.flush()
        try:
            rc = self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise AssertionError("live_driver did not quit\n%s" % self.stderr())
        self.err.close()
        if rc != 0:
            raise AssertionError("live_driver exited %d\n%s" % (rc, self.stderr()))

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(30)
        self.err.close()


def wait_for(cond, timeout, step=0.02):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            return v
        time.sleep(step)


class TestLive(SyncTestCase):
    def setUp(self):
        super().setUp()
        self.drivers = []
        self.addCleanup(self._stop_drivers)
        with self.server() as s:
            s.create("Archive")
            s.append("INBOX", simple_message("first"))
            s.append("INBOX", simple_message("second"), ["\\Seen"])
            s.append("INBOX", simple_message("third"))
            s.append("Archive", simple_message("archived"), ["\\Seen"])
        self.sync()
        self.proxy = Proxy(self.dc.imaps_port)
        self.addCleanup(self.proxy.close)
        # the driver reaches the server through the relay
        self.driver_conf = self.write_config(remote={"remoteport": self.proxy.port},
                                             name="driverrc")

    def _stop_drivers(self):
        for d in self.drivers:
            if d.p.poll() is None:
                d.p.kill()
                d.p.wait()
            if not d.err.closed:
                d.err.close()
            if self._outcome and not getattr(self._outcome, "success", True):
                print("--- %s\n%s" % (d.errpath, d.stderr()), file=sys.stderr)

    # ------------------------------------------------------------ helpers
    def start(self, *args, wait=True):
        d = Driver(self, *args)
        d.ok("start")
        if wait:
            d.ok("wait_synced", "60")
        return d

    def local(self, folder):
        return maildir_messages(self.mail, folder)

    def by_subject(self, folder, subject):
        for m in self.local(folder):
            if b"Subject: " + subject.encode() + b"\n" in m.body:
                return m
        raise AssertionError("no local message '%s' in %s" % (subject, folder))

    def server_msgs(self, folder):
        with self.server() as s:
            return s.messages(folder)

    def server_uid_of(self, folder, subject):
        want = b"Subject: " + subject.encode()
        hits = [u for u, m in self.server_msgs(folder).items() if want in m.body]
        return hits

    def rename(self, d, folder, msg, flags):
        """Flag change by rename, then the observer event."""
        new = set_local_flags(msg, flags)
        d.ok("renamed", folder, msg.sub, msg.name, folder, os.path.basename(os.path.dirname(new)),
             os.path.basename(new))
        return new

    def move(self, d, src, msg, dst):
        new = os.path.join(self.mail, dst, msg.sub, msg.name)
        os.rename(msg.path, new)
        d.ok("renamed", src, msg.sub, msg.name, dst, msg.sub, msg.name)
        return new

    def deliver(self, d, folder, body, flags=""):
        p = add_local_message(self.mail, folder, body, flags)
        d.ok("added", folder, os.path.basename(os.path.dirname(p)), os.path.basename(p))
        return p

    def assert_server_soon(self, cond, what, timeout=FAST):
        t0 = time.monotonic()
        ok = wait_for(cond, timeout)
        self.assertTrue(ok, "%s: not on the server within %.1fs" % (what, timeout))
        return time.monotonic() - t0

    def flags_of(self, folder, uid):
        m = self.server_msgs(folder).get(uid)
        return m.flags if m else None

    def copies(self, folder, subject):
        return len(self.server_uid_of(folder, subject))

    # ------------------------------------------------------------ tests
    def test_flag_rename(self):
        d = self.start()
        m = self.by_subject("INBOX", "first")
        self.assertEqual(m.flags, "")
        self.rename(d, "INBOX", m, "FS")
        self.assert_server_soon(lambda: self.flags_of("INBOX", m.uid) == ("\\Flagged", "\\Seen"),
                                "flags FS")
        m = self.by_subject("INBOX", "first")
        self.rename(d, "INBOX", m, "F")
        self.assert_server_soon(lambda: self.flags_of("INBOX", m.uid) == ("\\Flagged",),
                                "flag S removed")
        d.ok("wait_empty", "5")
        # new/ -> cur/ without a flag change queues nothing
        m = self.by_subject("INBOX", "third")
        new = os.path.join(self.mail, "INBOX", "cur", m.name + (":2," if ":2," not in m.name else ""))
        os.rename(m.path, new)
        d.ok("renamed", "INBOX", m.sub, m.name, "INBOX", "cur", os.path.basename(new))
        self.assertEqual(d.ok("count"), "0")
        d.quit()

    def test_offlineimap_status_follows(self):
        """Where OfflineIMAP's status exists, the worker's flag changes and
        deletions reach it too, so a real offlineimap run after the mount
        neither takes a flag back nor uploads a deleted message again."""
        import shutil
        exe = shutil.which("offlineimap")
        if not exe:
            self.skipTest("offlineimap (Debian offlineimap3) not installed")
        status_dir = os.path.join(self.meta, "Account-" + harness.ACCOUNT, "LocalStatus-sqlite")
        os.mkdir(status_dir)
        d = self.start()
        db = os.path.join(status_dir, "INBOX")
        self.assertTrue(os.path.exists(db), "the mount's first sync filled no OfflineIMAP status")
        first = self.by_subject("INBOX", "first")
        second = self.by_subject("INBOX", "second")
        self.rename(d, "INBOX", first, "FS")
        os.unlink(second.path)
        d.ok("unlinked", "INBOX", second.sub, second.name)
        self.assert_server_soon(lambda: second.uid not in self.server_msgs("INBOX") and
                                self.flags_of("INBOX", first.uid) == ("\\Flagged", "\\Seen"),
                                "flag and deletion")
        d.ok("wait_empty", "5")
        d.quit()
        con = sqlite3.connect(db)
        rows = dict(con.execute("SELECT id, flags FROM status").fetchall())
        con.close()
        self.assertEqual(rows.get(first.uid), "FS")
        self.assertNotIn(second.uid, rows)
        with self.server() as s:  # the user unflags on the server
            s.store("INBOX", first.uid, "-FLAGS", ["\\Flagged"])
        p = subprocess.run([exe, "-c", self.conf, "-o", "-u", "basic"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(self.copies("INBOX", "second"), 0, out)
        self.assertEqual(self.flags_of("INBOX", first.uid), ("\\Seen",), out)
        self.assertEqual(self.by_subject("INBOX", "first").flags, "S", out)

    def test_flag_delta_keeps_server_change(self):
        d = self.start()
        m = self.by_subject("INBOX", "first")
        with self.server() as s:  # a change on the server the Maildir has not seen
            s.store("INBOX", m.uid, "+FLAGS", ["\\Answered"])
        self.rename(d, "INBOX", m, "F")
        self.assert_server_soon(
            lambda: self.flags_of("INBOX", m.uid) == ("\\Answered", "\\Flagged"),
            "F added, \\Answered kept")
        d.quit()

    def test_unlink(self):
        d = self.start()
        m = self.by_subject("INBOX", "second")
        before = self.server_msgs("INBOX")
        self.assertIn(m.uid, before)
        os.unlink(m.path)
        d.ok("unlinked", "INBOX", m.sub, m.name)
        self.assert_server_soon(lambda: m.uid not in self.server_msgs("INBOX"), "expunge")
        self.assertEqual(len(self.server_msgs("INBOX")), len(before) - 1)
        d.quit()

    def test_move_across_folders(self):
        d = self.start()
        m = self.by_subject("INBOX", "first")
        self.move(d, "INBOX", m, "Archive")
        self.assert_server_soon(lambda: m.uid not in self.server_msgs("INBOX")
                                and self.copies("Archive", "first") == 1, "move")
        d.ok("wait_empty", "5")
        self.assertEqual(self.copies("INBOX", "first"), 0)
        self.assertEqual(self.copies("Archive", "first"), 1)
        uid = self.server_uid_of("Archive", "first")[0]
        self.assertEqual(d.ok("name", "Archive", base_of(m.name)), str(uid))
        self.assertEqual(crlf_to_lf(self.server_msgs("Archive")[uid].body), m.body)
        # a full sync afterwards changes nothing and copies nothing
        n = d.full_syncs()
        d.ok("wake")
        self.assertTrue(wait_for(lambda: d.full_syncs() > n, 30), d.stderr())
        self.assertEqual(self.copies("Archive", "first"), 1)
        self.assertEqual(self.copies("INBOX", "first"), 0)
        self.assertEqual([m.name for m in self.local("Archive") if b"first" in m.body], [m.name])
        d.quit()

    def test_new_message(self):
        d = self.start()
        body = simple_message("brand new")
        p = self.deliver(d, "INBOX", body)
        self.assert_server_soon(lambda: self.copies("INBOX", "brand new") == 1, "append")
        d.ok("wait_empty", "5")
        uid = self.server_uid_of("INBOX", "brand new")[0]
        self.assertEqual(d.ok("name", "INBOX", base_of(os.path.basename(p))), str(uid))
        self.assertTrue(os.path.exists(p), "the new file must keep its name while mounted")
        n = d.full_syncs()
        d.ok("wake")
        self.assertTrue(wait_for(lambda: d.full_syncs() > n, 30), d.stderr())
        self.assertEqual(self.copies("INBOX", "brand new"), 1)
        self.assertTrue(os.path.exists(p))
        d.quit()

    def test_new_message_then_flag_and_move(self):
        """Races between the worker and the reader end the same way."""
        d = self.start()
        p = self.deliver(d, "INBOX", simple_message("racer"))
        msg = [m for m in self.local("INBOX") if m.path == p][0]
        p2 = self.rename(d, "INBOX", msg, "S")
        msg = [m for m in self.local("INBOX") if m.path == p2][0]
        self.move(d, "INBOX", msg, "Archive")
        d.ok("wait_empty", "10")
        self.assertEqual(self.copies("INBOX", "racer"), 0)
        self.assertEqual(self.copies("Archive", "racer"), 1)
        uid = self.server_uid_of("Archive", "racer")[0]
        self.assertEqual(self.flags_of("Archive", uid), ("\\Seen",))
        d.quit()

    def test_mkdir_folder(self):
        d = self.start()
        make_local_folder(self.mail, "Projects")
        d.ok("folder_created", "Projects")
        with self.server() as s:
            self.assert_server_soon(lambda: "Projects" in s.folders(), "CREATE")
        self.deliver(d, "Projects", simple_message("project mail"))
        self.assert_server_soon(lambda: self.copies("Projects", "project mail") == 1,
                                "append into the new folder")
        d.quit()

    def _offline_changes(self, d):
        """Four kinds of change while the server is down."""
        first = self.by_subject("INBOX", "first")
        second = self.by_subject("INBOX", "second")
        third = self.by_subject("INBOX", "third")
        self.rename(d, "INBOX", first, "F")
        os.unlink(second.path)
        d.ok("unlinked", "INBOX", second.sub, second.name)
        self.move(d, "INBOX", third, "Archive")
        p = self.deliver(d, "INBOX", simple_message("written offline"))
        return first, second, third, p

    def _check_offline_changes(self, first, second, third):
        inbox = self.server_msgs("INBOX")
        self.assertEqual(inbox[first.uid].flags, ("\\Flagged",))
        self.assertNotIn(second.uid, inbox)
        self.assertNotIn(third.uid, inbox)
        self.assertEqual(self.copies("Archive", "third"), 1)
        self.assertEqual(self.copies("INBOX", "written offline"), 1)
        self.assertEqual(self.copies("INBOX", "second"), 0)
        self.assertEqual(len(inbox), 2)  # first and the new one
        self.assertEqual(len(self.server_msgs("Archive")), 2)

    def restart_server(self):
        self.dc.start()
        self.proxy.upstream = self.dc.imaps_port
        # the one-shot runs of the test talk to the server directly
        self.write_config()

    def test_offline_then_wake(self):
        d = self.start()
        self.dc.stop()
        t0 = time.monotonic()
        first, second, third, _ = self._offline_changes(d)
        self.assertLess(time.monotonic() - t0, 2.0, "observer calls must not wait for the server")
        self.assertTrue(wait_for(lambda: d.state()["connected"] == "0", 10), d.stderr())
        self.assertEqual(d.ok("count"), "4")
        self.restart_server()
        d.ok("wake")
        d.ok("wait_empty", "20")
        self._check_offline_changes(first, second, third)
        n = d.full_syncs()
        d.ok("wake")
        self.assertTrue(wait_for(lambda: d.full_syncs() > n, 30), d.stderr())
        self._check_offline_changes(first, second, third)
        d.quit()

    def test_crash_replay(self):
        d = self.start()
        self.dc.stop()
        first, second, third, _ = self._offline_changes(d)
        d.kill9()
        self.restart_server()
        d2 = Driver(self)
        self.assertEqual(d2.ok("count"), "4")
        d2.ok("start")
        d2.ok("wait_empty", "30")
        d2.ok("wait_synced", "30")
        self._check_offline_changes(first, second, third)
        d2.quit()

    def test_crash_inflight_append(self):
        """Uploads that reached the server before a crash are not repeated."""
        d = self.start()
        self.dc.stop()
        with_id = simple_message("inflight with id")
        no_id = b"From: x@example.test\nSubject: inflight without id\n\nno message-id here\n"
        lost = simple_message("inflight never sent")
        p1 = self.deliver(d, "INBOX", with_id)
        p2 = self.deliver(d, "INBOX", no_id, "S")
        p3 = self.deliver(d, "INBOX", lost)
        d.kill9()
        self.restart_server()
        d2 = Driver(self)
        self.assertEqual(d2.ok("inflight_all"), "3")
        with self.server() as s:  # what the interrupted APPENDs had done
            u1 = s.append("INBOX", with_id)
            u2 = s.append("INBOX", no_id, ["\\Seen"])
        d2.ok("start")
        d2.ok("wait_empty", "30")
        self.assertEqual(self.copies("INBOX", "inflight with id"), 1)
        self.assertEqual(self.copies("INBOX", "inflight without id"), 1)
        self.assertEqual(self.copies("INBOX", "inflight never sent"), 1)
        self.assertEqual(d2.ok("name", "INBOX", base_of(os.path.basename(p1))), str(u1))
        self.assertEqual(d2.ok("name", "INBOX", base_of(os.path.basename(p2))), str(u2))
        self.assertNotEqual(d2.ok("name", "INBOX", base_of(os.path.basename(p3))), "0")
        d2.quit()

    def test_crash_inflight_move(self):
        d = self.start()
        self.dc.stop()
        m = self.by_subject("INBOX", "first")
        self.move(d, "INBOX", m, "Archive")
        d.kill9()
        self.restart_server()
        d2 = Driver(self)
        self.assertEqual(d2.ok("inflight_all"), "1")
        with self.server() as s:  # the interrupted UID MOVE had happened
            s.select("INBOX", readonly=False)
            typ, data = s.c.uid("MOVE", str(m.uid), "Archive")
            self.assertEqual(typ, "OK", data)
        moved = self.server_uid_of("Archive", "first")
        self.assertEqual(len(moved), 1)
        d2.ok("start")
        d2.ok("wait_empty", "30")
        d2.ok("wait_synced", "30")
        self.assertEqual(self.copies("Archive", "first"), 1)
        self.assertEqual(self.copies("INBOX", "first"), 0)
        self.assertEqual(d2.ok("name", "Archive", base_of(m.name)), str(moved[0]))
        d2.quit()

    def test_batched_flags_and_deletes(self):
        """A run of flag changes (or deletions) in one folder reaches the
        server as one batch, each message exactly as the Maildir says."""
        with self.server() as s:
            for i in range(40):
                s.append("INBOX", simple_message("bulk %d" % i))
        self.sync()
        d = self.start()
        self.dc.stop()
        bulk = [m for m in self.local("INBOX") if b"Subject: bulk" in m.body]
        self.assertEqual(len(bulk), 40)
        for m in bulk[:30]:
            self.rename(d, "INBOX", m, "S")
        gone = bulk[30:]
        for m in gone:
            os.unlink(m.path)
            d.ok("unlinked", "INBOX", m.sub, m.name)
        self.restart_server()
        d.ok("wake")
        d.ok("wait_empty", "30")
        self.assertIn("(and 29 more): done", d.stderr())
        self.assertIn("(and 9 more): done", d.stderr())
        srv = self.server_msgs("INBOX")
        for m in bulk[:30]:
            self.assertEqual(srv[m.uid].flags, ("\\Seen",))
        for m in gone:
            self.assertNotIn(m.uid, srv)
        d.quit()

    def test_move_after_sync_uploaded_it(self):
        """A full sync that ran while a MOVE waited may have uploaded the
        moved file into the destination after syncing the source before the
        move: the MOVE then only deletes the source copy."""
        d = self.start()
        self.dc.stop()
        m = self.by_subject("INBOX", "first")
        self.move(d, "INBOX", m, "Archive")
        d.kill9()
        self.restart_server()
        with self.server() as s:  # what that sync did: uploaded, src left alone
            uid = s.append("Archive", m.body)
        db = os.path.join(self.meta, "Account-%s" % harness.ACCOUNT, "offlinefs.sqlite")
        con = sqlite3.connect(db)
        con.execute("INSERT INTO names (folder, base, uid) VALUES (?, ?, ?)",
                    ("Archive", base_of(m.name), uid))
        con.commit()
        con.close()
        d2 = self.start()  # drains, then syncs
        d2.ok("wait_empty", "30")
        self.assertEqual(self.copies("INBOX", "first"), 0)
        self.assertEqual(self.copies("Archive", "first"), 1)
        # the MOVE did it, not the full sync after it
        self.assertIn("Folder INBOX: nothing to do", d2.stderr())
        d2.quit()

    def test_op_during_full_sync(self):
        """An op queued while a full sync runs goes out before the sync's
        next folder, not after the whole account."""
        big = "x" * 76 + "\n"
        with self.server() as s:
            for i in range(300):
                s.append("Archive", simple_message("bulk %d" % i, body=big * 800))
        d = Driver(self)
        d.ok("start")
        self.assertTrue(wait_for(lambda: "Syncing Archive" in d.stderr(), 30), d.stderr())
        m = self.by_subject("INBOX", "first")
        self.rename(d, "INBOX", m, "F")
        d.ok("wait_empty", "30")
        d.ok("wait_synced", "60")
        self.assertEqual(self.flags_of("INBOX", m.uid), ("\\Flagged",))
        log = d.stderr()
        done = log.find("FLAGS INBOX UID %d: done" % m.uid)
        self.assertGreater(done, 0, log)
        self.assertLess(done, log.find("Syncing INBOX"), "the op waited for the next folder")
        self.assertLess(done, log.find("*** Finished account"), log)
        d.quit()

    def test_refused_op_dropped(self):
        """An op the server refuses every time is dropped after 5 tries and
        does not block the queue behind it."""
        d = self.start()
        make_local_folder(self.mail, "Nowhere")  # no folder_created: not on the server
        self.deliver(d, "Nowhere", simple_message("nowhere"))
        m = self.by_subject("INBOX", "first")
        self.rename(d, "INBOX", m, "F")
        self.assert_server_soon(lambda: self.flags_of("INBOX", m.uid) == ("\\Flagged",),
                                "the op behind the refused one", timeout=40)
        d.ok("wait_empty", "10")
        self.assertIn("after 5 refusals", d.stderr())
        d.quit()

    def test_downstream_hooks(self):
        d = self.start()
        second = self.by_subject("INBOX", "second")
        with self.server() as s:
            s.append("INBOX", simple_message("from the server"))
            s.store("INBOX", second.uid, "+FLAGS", ["\\Flagged"])
            s.create("News")
            s.append("News", simple_message("news"))
        n = d.full_syncs()
        d.ok("wake")
        self.assertTrue(wait_for(lambda: d.full_syncs() > n, 30), d.stderr())
        new = self.by_subject("INBOX", "from the server")
        hooks = d.hook_lines()
        self.assertIn(["added", "INBOX", new.sub, new.name], hooks)
        flagged = self.by_subject("INBOX", "second")
        self.assertIn(["renamed", "INBOX", second.sub, second.name, flagged.sub, flagged.name],
                      hooks)
        self.assertIn(["folder_added", "News"], hooks)
        news = self.by_subject("News", "news")
        self.assertIn(["added", "News", news.sub, news.name], hooks)
        self.assertLess(hooks.index(["folder_added", "News"]),
                        hooks.index(["added", "News", news.sub, news.name]))
        d.quit()

    def test_idle(self):
        d = self.start("--refresh", "60")
        self.assertTrue(wait_for(lambda: "IDLE on INBOX" in d.stderr(), 10), d.stderr())
        time.sleep(0.3)
        with self.server() as s:
            s.append("INBOX", simple_message("pushed by idle"))

        def arrived():
            try:
                return self.by_subject("INBOX", "pushed by idle")
            except AssertionError:
                return None
        self.assertTrue(wait_for(arrived, 10), "IDLE did not bring the new mail\n" + d.stderr())
        d.quit()

    def test_folder_opened(self):
        d = self.start("--no-idle", "--open-age", "0.5")
        with self.server() as s:
            s.append("Archive", simple_message("read on open"))
        time.sleep(1.1)

        def arrived():
            return any(b"read on open" in m.body for m in self.local("Archive"))
        self.assertFalse(arrived())
        d.ok("opened", "Archive")
        self.assertTrue(wait_for(arrived, 10), d.stderr())
        d.quit()

    def test_oneshot_after_mount(self):
        """After mount-style changes a one-shot run has nothing to do but to
        give the files the mount named through the names table their
        OfflineIMAP names."""
        d = self.start()
        self.deliver(d, "INBOX", simple_message("uploaded by the mount"))
        self.move(d, "INBOX", self.by_subject("INBOX", "first"), "Archive")
        self.rename(d, "INBOX", self.by_subject("INBOX", "second"), "FS")
        d.ok("wait_empty", "10")
        d.quit()
        names = self.names_rows()
        self.assertEqual(len(names), 2, names)
        with self.server() as s:
            before = s.snapshot()
        r = self.sync()
        self.assert_nothing_copied(r)
        self.assertIn("Folder INBOX: nothing to do", r.output)
        self.assertIn("Folder Archive: nothing to do", r.output)
        self.assertEqual(r.output.count("(UID"), 2, r)  # the two renames
        with self.server() as s:
            self.assertEqual(s.snapshot(), before)
        self.assertEqual(self.names_rows(), [])
        self.assert_synced("INBOX")  # every file has its U= name now
        self.assert_synced("Archive")
        r = self.sync()
        self.assert_nothing_copied(r)
        self.assertNotIn("renamed", r.output)

    def test_oneshot_with_pending_ops(self):
        """Ops still queued when a one-shot run makes the same changes are
        harmless when the mount comes back: nothing is done twice."""
        d = self.start()
        self.dc.stop()
        first, second, third, _ = self._offline_changes(d)
        d.kill9()
        self.restart_server()
        r = self.sync()
        self._check_offline_changes(first, second, third)
        with self.server() as s:
            before = s.snapshot()
        d2 = Driver(self)
        self.assertEqual(d2.ok("count"), "4")
        d2.ok("start")
        d2.ok("wait_empty", "30")
        d2.ok("wait_synced", "30")
        with self.server() as s:
            self.assertEqual(s.snapshot(), before)
        d2.quit()
        r = self.sync()
        self.assert_nothing_copied(r)

    def test_full_sync_keeps_names(self):
        """A file that appeared without an event is uploaded by the full sync
        inside the mount under its own name (names table), not renamed."""
        d = self.start()
        p = add_local_message(self.mail, "INBOX", simple_message("no event"))
        n = d.full_syncs()
        d.ok("wake")
        self.assertTrue(wait_for(lambda: d.full_syncs() > n, 30), d.stderr())
        self.assertTrue(os.path.exists(p), "renamed under a running mail reader")
        uids = self.server_uid_of("INBOX", "no event")
        self.assertEqual(len(uids), 1)
        self.assertEqual(d.ok("name", "INBOX", base_of(os.path.basename(p))), str(uids[0]))
        n = d.full_syncs()
        d.ok("wake")
        self.assertTrue(wait_for(lambda: d.full_syncs() > n, 30), d.stderr())
        self.assertEqual(self.copies("INBOX", "no event"), 1)
        # the server deletes it: the file goes, and so does its names row
        with self.server() as s:
            s.expunge("INBOX", uids[0])
        n = d.full_syncs()
        d.ok("wake")
        self.assertTrue(wait_for(lambda: d.full_syncs() > n, 30), d.stderr())
        self.assertFalse(os.path.exists(p))
        self.assertEqual(d.ok("name", "INBOX", base_of(os.path.basename(p))), "0")
        self.assertIn(["removed", "INBOX", "new", os.path.basename(p)], d.hook_lines())
        d.quit()

    def names_rows(self):
        db = os.path.join(self.meta, "Account-%s" % harness.ACCOUNT, "offlinefs.sqlite")
        con = sqlite3.connect(db)
        try:
            return con.execute("SELECT folder, base, uid FROM names ORDER BY folder").fetchall()
        finally:
            con.close()


if __name__ == "__main__":
    harness.main()
