#!/usr/bin/python3
"""The command line, user interfaces and signals of offlineimap(1), against a
real Dovecot: -u machineui (compared line by line with what the real
`offlineimap -u machineui` prints for the same sync, and parsed the way
emacs's offlineimap.el parses it), ttyui's thread headers and progress,
syslog (-u syslog and -s, into a socket of the test), blinkenlights under
tmux, --info, --delete-folder, -P, -d categories, one-line command-line
errors, and the signals SIGTERM, SIGHUP, SIGINT, SIGUSR1, SIGUSR2, SIGQUIT.

Signal tests never depend on timing: the server is frozen (SIGSTOP) while
offlinefs is inside a folder, the signal is sent and its log line awaited,
then the server is thawed; what is checked is what ended up synced.

Run one test:  OFFLINEFS=build/tools/offlinefs python3 tests/integration/test_ui.py TestUi.test_machineui_matches_offlineimap
"""

import fcntl
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import add_local_message, maildir_messages, simple_message  # noqa: E402

import dovecot as dovecot_mod  # noqa: E402

WAIT = 60


def parse_machine_line(line):
    """What offlineimap.el's process filter does with one line: split on ':'
    into msg-type, action, thread name (and we also decode the payload)."""
    fields = line.split(":")
    return fields


class Bg:
    """offlinefs in the background; stdout and stderr into one file."""

    def __init__(self, tc, argv, env=None):
        self.tc = tc
        self.path = os.path.join(tc.tmp, "bg-%d.log" % len(tc.runs))
        self.f = open(self.path, "wb")
        self.argv = argv
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.f,
                                  stderr=subprocess.STDOUT, env=e)
        tc.runs.append(self)
        tc.addCleanup(self.kill)

    def output(self):
        return harness.read_text(self.path)

    def wait_for(self, what, count=1, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            out = self.output()
            if len(re.findall(what, out)) >= count:
                return out
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.tc.fail("waited for %d x %r; exit %s, output:\n%s"
                             % (count, what, self.p.poll(), out))
            time.sleep(0.02)

    def wait_exit(self, timeout=WAIT):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.tc.fail("offlinefs did not end:\n%s" % self.output())
        print("$ %s\nexit %d\n--- output\n%s" % (" ".join(self.argv), self.p.returncode,
                                                  self.output()), file=sys.stderr)
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.f.close()


class UiCase(harness.SyncTestCase):
    FOLDERS = ("INBOX", "Archive", "Drafts", "Lists/foo")

    def fill(self, messages=30, folders=FOLDERS):
        with self.server() as srv:
            for f in folders:
                if f != "INBOX":
                    srv.create(f)
                for i in range(messages):
                    srv.append(f, simple_message("%s %d" % (f, i), body="Body %d of %s.\n" % (i, f)))

    def server_procs(self):
        return [self.dc.pid] + dovecot_mod._descendants(self.dc.pid)

    def freeze(self):
        procs = self.server_procs()
        self.addCleanup(self.thaw, procs)
        for pid in procs:
            os.kill(pid, signal.SIGSTOP)
        return procs

    @staticmethod
    def thaw(procs):
        for pid in procs:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def bg(self, *args, ui="basic", once=True, env=None):
        argv = [self.offlinefs, "-c", self.conf] + (["-o"] if once else []) + ["-u", ui]
        return Bg(self, argv + list(args), env=env)

    def complete_or_empty(self):
        """Local folders: each complete (== server) or without messages.
        Returns how many are complete."""
        complete = 0
        with self.server() as srv:
            for f in self.FOLDERS:
                d = os.path.join(self.mail, harness.local_name(f))
                if os.path.isdir(d) and maildir_messages(self.mail, f):
                    self.assert_synced(f, srv=srv)
                    complete += 1
        return complete

    def assert_all_synced(self):
        with self.server() as srv:
            for f in self.FOLDERS:
                self.assert_synced(f, srv=srv)


class TestUi(UiCase):
    # ------------------------------------------------------------ machineui
    def test_machineui_matches_offlineimap(self):
        """-u machineui: every line splits into exactly severity, command,
        thread and payload (offlineimap.el's split on ':'), and for the
        same initial sync the account, connection, folder and message lines
        are the lines the real `offlineimap -u machineui` prints."""
        exe = shutil.which("offlineimap")
        if not exe:
            self.skipTest("offlineimap (Debian offlineimap3) not installed")
        self.fill(messages=3, folders=("INBOX", "Lists/foo", "Caf\u00e9"))
        self.write_config(remote={"maxconnections": "1"})
        r = self.sync(ui="machineui")
        ours = r.out.splitlines()
        self.assertTrue(ours)
        for ln in ours:
            f = parse_machine_line(ln)
            self.assertEqual(len(f), 4, ln)
            self.assertIn(f[0], ("msg", "warn", "error", "debug"), ln)
        self.assertEqual(ours[0], "msg:protocol:MainThread:7.2.0")
        self.assertEqual(ours[-1], "msg:terminate:MainThread:0%0A%0A")

        shutil.rmtree(self.mail)
        shutil.rmtree(self.meta)
        p = subprocess.run([exe, "-c", self.conf, "-o", "-u", "machineui"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        theirs = p.stdout.decode(errors="replace").splitlines()
        print("$ offlineimap -u machineui\n" + "\n".join(theirs), file=sys.stderr)
        self.assertEqual(p.returncode, 0)
        commands = ("acct", "acctdone", "connecting", "syncfolders", "syncingfolder",
                    "copyingmessage", "terminate", "protocol")
        want = sorted(ln for ln in theirs if parse_machine_line(ln)[1:2] and
                      parse_machine_line(ln)[1] in commands)
        got = sorted(ln for ln in ours if parse_machine_line(ln)[1] in commands)
        self.assertEqual(got, want)
        self.assertGreaterEqual(sum("copyingmessage" in ln for ln in got), 9)
        # the thread registrations of the account and folder threads too
        reg = [ln for ln in theirs if ":registerthread:Folder" in ln or
               ":registerthread:Account" in ln or ":unregisterthread:MainThread:Folder" in ln]
        for ln in set(reg):
            self.assertIn(ln, ours)

    def test_machineui_upload_and_payload_decoding(self):
        """An upload is `copyingmessage` with OfflineIMAP's negative UID, and
        every payload decodes (unquote_plus) to the plain text, including
        ':' and non-ASCII folder names."""
        self.fill(messages=1, folders=("INBOX", "Caf\u00e9"))
        self.sync()
        add_local_message(self.mail, "INBOX", simple_message("local: one"))
        r = self.sync(ui="machineui")
        lines = [parse_machine_line(ln) for ln in r.out.splitlines()]
        copies = [f for f in lines if f[1] == "copyingmessage"]
        self.assertEqual(len(copies), 1, r.out)
        self.assertEqual(urllib.parse.unquote_plus(copies[0][3]),
                         "-1\nMaildir\nINBOX\nIMAP[INBOX]")
        self.assertEqual(urllib.parse.unquote_plus(copies[0][2]), "Folder INBOX [acc: Test]")
        folders = {urllib.parse.unquote_plus(f[3]).split("\n")[1]
                   for f in lines if f[1] == "syncingfolder"}
        self.assertIn("INBOX", folders)
        self.assertTrue(any(n.startswith("Caf") for n in folders), folders)

    def test_machineui_error_and_status(self):
        """A failure is an `error` line, and `terminate` carries the real exit
        status (OfflineIMAP's machineui always says 0)."""
        self.write_config(remote={"remoteport": str(harness_free_port())})
        r = self.run_offlinefs(ui="machineui")
        self.assertEqual(r.rc, 1, str(r))
        lines = [parse_machine_line(ln) for ln in r.out.splitlines()]
        self.assertTrue(any(f[0] == "error" for f in lines), r.out)
        self.assertEqual(r.out.splitlines()[-1], "msg:terminate:MainThread:1%0A%0A")

    def test_machineui_validityproblem(self):
        """A folder skipped for a changed UIDVALIDITY is OfflineIMAP's
        `warn:validityproblem` line: folder, repository, saved and new
        UIDVALIDITY (MachineUI.validityproblem's payload)."""
        self.write_config(account={"uidvalidity_recover": "no"})
        with self.server() as srv:
            srv.create("Box")
            srv.append("Box", simple_message("old"))
            old = srv.status("Box")["UIDVALIDITY"]
        self.sync()
        with self.server() as srv:
            srv.delete("Box")
            srv.create("Box")
            new = srv.status("Box")["UIDVALIDITY"]
        self.assertNotEqual(old, new)  # precondition
        r = self.run_offlinefs(ui="machineui")
        self.assertEqual(r.rc, 2, str(r))
        lines = [parse_machine_line(ln) for ln in r.out.splitlines()]
        v = [f for f in lines if f[1] == "validityproblem"]
        self.assertEqual(len(v), 1, r.out)
        self.assertEqual(v[0][0], "warn")
        self.assertEqual(urllib.parse.unquote_plus(v[0][2]), "Folder Box [acc: Test]")
        self.assertEqual(urllib.parse.unquote_plus(v[0][3]), "Box\nRemote\n%d\n%d" % (old, new))

    # ------------------------------------------------------------ ttyui
    def test_ttyui_thread_headers_and_progress(self):
        """-u ttyui: a thread's name comes on its own line when the thread
        changes ("Account sync Test:", "Folder INBOX [acc: Test]:"), its
        lines are indented by one space, and the run's progress (folders,
        messages, bytes, rate) is shown, ending with every folder and
        message counted."""
        self.fill(messages=5)
        r = self.sync(ui="ttyui")
        lines = r.err.splitlines()
        self.assertIn("Account sync Test:", lines)
        for f in self.FOLDERS:
            self.assertIn("Folder %s [acc: Test]:" % f, lines)
        self.assertIn(" *** Processing account Test", lines)
        self.assertIn(" Syncing INBOX: IMAP -> Maildir", lines)
        progress = [ln for ln in lines if ln.startswith(" Progress: ")]
        self.assertTrue(progress, r.err)
        self.assertRegex(progress[-1], r"^ Progress: 4/4 folders, 20/20 messages, [\d.]+ (B|KiB), "
                                       r"[\d.]+ (B|KiB|MiB)/s$")
        self.assertEqual(r.out, "")

    # ------------------------------------------------------------ syslog
    def syslog_socket(self):
        path = os.path.join(self.tmp, "log.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(0)
        self.addCleanup(s.close)
        return s, path

    @staticmethod
    def drain(s):
        out = []
        while True:
            try:
                out.append(s.recv(65536).decode(errors="replace"))
            except BlockingIOError:
                return out

    def test_syslog_ui_and_s_option(self):
        """-u syslog sends every line to syslog ("<14>... offlinefs[PID]:
        *** Processing account Test", facility user) and nothing to stdout;
        -s sends the same lines to syslog as well as to the UI in use."""
        self.fill(messages=2, folders=("INBOX",))
        s, path = self.syslog_socket()
        r = self.sync(ui="syslog", env={"OFFLINEFS_SYSLOG_SOCKET": path})
        got = self.drain(s)
        self.assertEqual(r.out, "")
        self.assertTrue(any(re.match(r"<14>\w{3} [ \d]\d \d\d:\d\d:\d\d offlinefs\[\d+\]: "
                                     r"\*\*\* Processing account Test$", g) for g in got), got)
        self.assertTrue(any(g.endswith(": Syncing INBOX: IMAP -> Maildir") for g in got), got)
        self.assertNotIn(self.password, "".join(got))

        r = self.sync("-s", ui="basic", env={"OFFLINEFS_SYSLOG_SOCKET": path})
        got = [g.split("]: ", 1)[1] for g in self.drain(s)]
        self.assertIn("*** Processing account Test", r.out)
        self.assertIn("*** Processing account Test", got)
        self.assertIn("Folder INBOX: nothing to do (unchanged on both sides since the last sync; "
                      "not selected)", got)

    # ------------------------------------------------------------ blinkenlights
    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.tmux_sock] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=30).stdout.decode(errors="replace")

    def screen_until(self, pattern, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            screen = self.tmux("capture-pane", "-p", "-t", "ofs")
            if re.search(pattern, screen):
                return screen
            if time.monotonic() > deadline:
                self.fail("screen never showed %r:\n%s" % (pattern, screen))
            time.sleep(0.05)

    def test_blinkenlights_under_tmux(self):
        """-u blinkenlights in a real terminal (tmux): after the first sync of
        an autorefresh run the screen shows the account line, the progress
        (every folder and message), and the log pane; the digit key syncs
        at once (as SIGUSR1), q stops (as SIGINT): the terminal is given
        back and the exit status is 0."""
        if not shutil.which("tmux"):
            self.skipTest("tmux not installed")
        self.fill(messages=5)
        self.write_config(account={"autorefresh": "30"})
        self.tmux_sock = "ofs-%d" % os.getpid()
        self.addCleanup(lambda: self.tmux("kill-server"))
        status = os.path.join(self.tmp, "status")
        cmd = "%s -c %s -u blinkenlights; echo EXIT=$? > %s" % (self.offlinefs, self.conf, status)
        self.tmux("new-session", "-d", "-s", "ofs", "-x", "120", "-y", "40", cmd)
        screen = self.screen_until(r"Account Test: sleeping")
        print(screen, file=sys.stderr)
        self.assertRegex(screen, r"Progress: 4/4 folders, 20/20 messages")
        self.assertIn("*** Processing account Test", screen)
        self.assertIn("Syncing INBOX: IMAP -> Maildir", screen)
        self.assertRegex(screen, r"offlinefs .*q: stop")
        self.assert_all_synced()
        self.tmux("send-keys", "-t", "ofs", "1")
        screen = self.screen_until(r"Received SIGUSR1")
        self.screen_until(r"Progress: 8/8 folders")
        self.tmux("send-keys", "-t", "ofs", "q")
        deadline = time.monotonic() + WAIT
        while not os.path.exists(status) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(status) as f:
            self.assertEqual(f.read().strip(), "EXIT=0")

    def test_blinkenlights_folder_lines(self):
        """While a folder is being synced, blinkenlights shows a line for it
        under its account ("  Folder Archive: copying 12/300, 34.5 KiB"):
        the server is frozen once the folder started, so the screen holds
        still while it is read. The run then ends normally (exit 0)."""
        if not shutil.which("tmux"):
            self.skipTest("tmux not installed")
        self.fill(messages=5)
        with self.server() as srv:
            for i in range(400):
                srv.append("Archive", simple_message("more %d" % i))
        self.write_config(remote={"maxconnections": "1"})
        self.tmux_sock = "ofs-%d" % os.getpid()
        self.addCleanup(lambda: self.tmux("kill-server"))
        status = os.path.join(self.tmp, "status")
        cmd = "%s -c %s -o -u blinkenlights; echo EXIT=$? > %s" % (self.offlinefs, self.conf,
                                                                     status)
        self.tmux("new-session", "-d", "-s", "ofs", "-x", "120", "-y", "40", cmd)
        self.screen_until(r"Syncing Archive: IMAP -> Maildir")
        procs = self.freeze()
        screen = self.tmux("capture-pane", "-p", "-t", "ofs")
        print(screen, file=sys.stderr)
        self.assertRegex(screen, r"(?m)^Account Test: active")
        self.assertRegex(screen, r"(?m)^  Folder \S+: (syncing|copying \d+/\d+, [\d.]+ (B|KiB|MiB))")
        self.assertRegex(screen, r"(?m)^Progress: \d+/4 folders, \d+/\d+ messages")
        self.thaw(procs)
        deadline = time.monotonic() + WAIT
        while not os.path.exists(status) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(status) as f:
            self.assertEqual(f.read().strip(), "EXIT=0")
        self.assert_all_synced()

    def test_blinkenlights_needs_a_terminal(self):
        """Without a terminal -u blinkenlights is refused before anything is
        touched (one line, exit 1); [general] ui = blinkenlights falls back
        to ttyui."""
        r = self.run_offlinefs(ui="blinkenlights")
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(len(r.err.splitlines()), 1, r.err)
        self.assertIn("blinkenlights needs a terminal", r.err)
        self.assertFalse(os.path.exists(self.mail))
        self.assertFalse(os.path.exists(self.meta))
        # from the config (a cron job with ui = Curses.Blinkenlights) it
        # falls back to ttyui, says so, and syncs
        self.fill(messages=1, folders=("INBOX",))
        self.write_config(general={"ui": "Curses.Blinkenlights"})
        r = self.sync(ui=None)
        self.assertIn("offlinefs: [general] ui = blinkenlights: blinkenlights needs a terminal",
                      r.err)
        self.assertIn("Syncing INBOX: IMAP -> Maildir", r.err)
        self.assert_synced("INBOX")

    # ------------------------------------------------------------ command line
    def test_info(self):
        """--info shows both repositories (server capabilities, folder
        lists), never the password, syncs nothing and creates nothing."""
        self.fill(messages=1, folders=("INBOX", "Lists/foo"))
        r = self.sync("--info", ui=None)
        self.assertIn("Account Test:", r.output)
        self.assertRegex(r.output, r"Server capabilities: .*IMAP4REV1")
        self.assertIn("Remote repository 'Remote': type 'IMAP'", r.output)
        self.assertIn("  Lists/foo", r.output)
        self.assertIn("Local repository 'Local': type 'Maildir'", r.output)
        self.assertNotIn(self.password, r.output)
        self.assertFalse(os.path.exists(self.mail))
        self.assertFalse(os.path.exists(self.meta))

    def test_delete_folder(self):
        """--delete-folder deletes the folder on the server only; --dry-run
        only says so; with several accounts and no -a it is refused."""
        self.fill(messages=1, folders=("INBOX", "Archive"))
        self.sync()
        r = self.sync("--dry-run", "--delete-folder", "Archive")
        self.assertIn("Would delete folder 'Archive'", r.output)
        with self.server() as srv:
            self.assertIn("Archive", srv.folders())
        r = self.sync("--delete-folder", "Archive")
        self.assertIn("Folder 'Archive' deleted.", r.output)
        with self.server() as srv:
            self.assertNotIn("Archive", srv.folders())
            self.assertIn("INBOX", srv.folders())
        self.assertEqual(len(maildir_messages(self.mail, "Archive")), 1)
        r = self.run_offlinefs("--delete-folder", "Nonexistent")
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("DELETE Nonexistent", r.err)
        raw = open(self.conf).read().replace("accounts = Test", "accounts = Test, Other")
        conf2 = self.write_config(raw=raw + "\n[Account Other]\nlocalrepository = Local\n"
                                  "remoterepository = Remote\n", name="rc2")
        r = self.run_offlinefs("--delete-folder", "INBOX", conf=conf2)
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("name one with -a", r.err)

    def test_one_line_command_line_errors(self):
        """A bad option, a missing value, -f '' and -k for a section the file
        lacks: one line each ("see offlinefs -h" for getopt errors, not the
        whole usage), exit 1, nothing created."""
        cases = [
            (["-Z"], "offlinefs: unknown option -Z (see offlinefs -h)"),
            (["--bogus"], "offlinefs: unknown option --bogus (see offlinefs -h)"),
            (["-a"], "offlinefs: option -a needs a value (see offlinefs -h)"),
            (["--delete-folder"], "offlinefs: option --delete-folder needs a value "
                                  "(see offlinefs -h)"),
            (["-f", ""], "offlinefs: -f: no folder named (give FOLDER[,FOLDER...])"),
            (["-f", " , "], "offlinefs: -f: no folder named (give FOLDER[,FOLDER...])"),
            (["-k", "Unknown_Section:x=y"],
             "offlinefs: -k Unknown_Section:x=y: no section [Unknown Section] in %s" % self.conf),
            (["-u", "nope"], "offlinefs: unknown UI 'nope' (quiet, basic, ttyui, syslog, "
                             "machineui, blinkenlights)"),
            (["-d", "bogus"], "offlinefs: -d: unknown debug category 'bogus' (imap, maildir, "
                              "thread, sync, fuse, all)"),
        ]
        for args, want in cases:
            with self.subTest(args=args):
                argv = [self.offlinefs, "-c", self.conf, "-o"] + args
                p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=30)
                self.assertEqual(p.returncode, 1)
                self.assertEqual(p.stderr.decode(), want + "\n")
                self.assertEqual(p.stdout, b"")
        for args, want in ((["status", "--zz"], "unknown option --zz (see offlinefs status -h)"),
                           (["mount", "-Q"], "unknown option -Q (see offlinefs mount -h)"),
                           (["status", "-c"], "option -c needs a value (see offlinefs status -h)")):
            with self.subTest(args=args):
                p = subprocess.run([self.offlinefs] + args, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=30)
                self.assertEqual(p.returncode, 1)
                self.assertEqual(p.stderr.decode(), "offlinefs: " + want + "\n")
        self.assertFalse(os.path.exists(self.mail))
        self.assertFalse(os.path.exists(self.meta))
        # a section the file has, and general, are still accepted
        self.sync("-k", "Account_Test:maxsize=100000", "-k", "general:fsync=no")

    def test_profile_dir(self):
        """-P DIR writes DIR/<time>_Test.prof: one line per folder (seconds,
        messages, bytes copied) and a total."""
        self.fill(messages=3)
        pdir = os.path.join(self.tmp, "prof")
        self.sync("-P", pdir)
        files = glob.glob(os.path.join(pdir, "*_Test.prof"))
        self.assertEqual(len(files), 1, os.listdir(pdir))
        rows = [ln.split("\t") for ln in open(files[0]).read().splitlines()
                if not ln.startswith("#")]
        self.assertEqual(sorted(r[0] for r in rows[:-1]), sorted(self.FOLDERS))
        self.assertEqual(rows[-1][0], "total")
        self.assertEqual(int(rows[-1][2]), 12)
        self.assertEqual(sum(int(r[2]) for r in rows[:-1]), 12)
        self.assertGreater(int(rows[-1][3]), 0)

    def test_debug_categories(self):
        """-d as in offlineimap(1): imap, maildir, thread, ALL; each traces
        its own lines and only those; the password never shows."""
        self.fill(messages=2)
        self.write_config(remote={"maxconnections": "4"})
        r = self.sync("-d", "maildir")
        self.assertIn("[maildir]: ", r.err)
        self.assertNotIn("[imap]: ", r.err)
        self.assertNotIn("[thread]: ", r.err)
        shutil.rmtree(self.mail)
        shutil.rmtree(self.meta)
        r = self.sync("-d", "thread")
        self.assertIn("[thread]: ", r.err)
        self.assertRegex(r.err, r"\[thread\]: Account Test: 4 folders over \d connections")
        self.assertNotIn("[maildir]: ", r.err)
        r = self.sync("-d", "ALL")
        for cat in ("imap", "maildir", "thread", "sync"):
            self.assertIn("[%s]: " % cat, r.err)
        self.assertNotIn(self.password, r.output)


def harness_free_port():
    return dovecot_mod.free_ports(1)[0]


F_SETPIPE_SZ = 1031


def shared_pending(pid, sig):
    """Whether sig is still pending for process pid (not yet taken by its
    signal thread)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("ShdPnd:"):
                    return bool(int(ln.split()[1], 16) & (1 << (sig - 1)))
    except OSError:
        pass
    return False


class Blocked:
    """offlinefs whose output goes into a one-page pipe that the test stops
    reading once the first folder started: the IMAP trace (-d imap) of that
    folder fills the pipe, so offlinefs waits, inside the folder, until the
    test reads on. No timing: where it waits follows from the bytes."""

    def __init__(self, tc, argv):
        self.tc = tc
        r, w = os.pipe()
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=w, stderr=w)
        os.close(w)
        self.r = r
        self.buf = b""
        self.reader = None
        tc.addCleanup(self.cleanup)

    def read_until(self, what):
        while what.encode() not in self.buf:
            chunk = os.read(self.r, 4096)
            if not chunk:
                self.tc.fail("offlinefs ended before %r:\n%s" % (what, self.text()))
            self.buf += chunk

    def signal(self, sig):
        """Sends sig and waits until offlinefs' signal thread took it."""
        os.kill(self.p.pid, sig)
        deadline = time.monotonic() + WAIT
        while shared_pending(self.p.pid, sig):
            if time.monotonic() > deadline:
                self.tc.fail("signal %d never taken" % sig)
            time.sleep(0.005)

    def _drain(self):
        while True:
            chunk = os.read(self.r, 65536)
            if not chunk:
                return
            self.buf += chunk

    def finish(self):
        """Reads everything to the end; returns the exit status."""
        self.reader = threading.Thread(target=self._drain)
        self.reader.start()
        try:
            self.p.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.tc.fail("offlinefs did not end")
        self.reader.join(WAIT)
        print("$ %s\nexit %d\n%s" % (" ".join(self.argv), self.p.returncode,
                                       "\n".join(self.lines())), file=sys.stderr)
        return self.p.returncode

    def text(self):
        return self.buf.decode(errors="replace")

    def lines(self):
        """The output without the IMAP trace."""
        return [ln for ln in self.text().splitlines() if not ln.startswith("[imap]")]

    def cleanup(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if self.reader is None:
            try:
                os.close(self.r)
            except OSError:
                pass


class TestSignals(UiCase):
    """offlineimap(1) UNIX SIGNALS, one account, sequential."""

    def start_in_first_folder(self, once=True, account=None):
        """offlinefs syncing the four folders over one connection, held
        inside the first one (Archive: 300 messages, the others 20)."""
        self.fill(messages=20)
        with self.server() as srv:
            for i in range(280):
                srv.append("Archive", simple_message("more %d" % i))
        self.write_config(remote={"maxconnections": "1"}, account=account)
        argv = [self.offlinefs, "-c", self.conf, "-u", "basic", "-d", "imap"]
        if once:
            argv.append("-o")
        b = Blocked(self, argv)
        b.read_until("Syncing Archive: IMAP -> Maildir")
        return b

    def graceful(self, sig, name):
        b = self.start_in_first_folder()
        b.signal(sig)
        self.assertEqual(b.finish(), 0)
        out = "\n".join(b.lines())
        self.assertIn("Received %s: stopping after the folders being synced" % name, out)
        self.assertIn("Account Test: %s: not starting folder Drafts" % name, out)
        self.assertEqual(out.count("Syncing "), 1, out)
        self.assertIn("*** Finished account 'Test'", out)
        self.assertNotIn("ERROR", out)
        self.assertNotIn(self.password, b.text())
        self.assertEqual(self.complete_or_empty(), 1)
        self.assert_synced("Archive")
        self.sync()
        self.assert_all_synced()

    def test_sigterm_stops_after_current_folder(self):
        """SIGTERM: the folder being synced finishes, no other starts, exit 0;
        the next run syncs the rest."""
        self.graceful(signal.SIGTERM, "SIGTERM")

    def test_sighup_stops_after_current_folder(self):
        self.graceful(signal.SIGHUP, "SIGHUP")

    def test_sigint_graceful_first(self):
        """The first SIGINT is a graceful stop, as SIGTERM."""
        self.graceful(signal.SIGINT, "SIGINT")

    def immediate(self, sig, rc, line):
        b = self.start_in_first_folder()
        if sig != signal.SIGQUIT:
            b.signal(sig)
        b.signal(sig)
        self.assertEqual(b.finish(), rc)
        out = "\n".join(b.lines())
        self.assertIn(line, out)
        self.assertNotIn("*** Finished account", out)
        self.assertNotIn("Folder Archive: ", out, "the folder was finished")
        self.sync()
        self.assert_all_synced()

    def test_second_sigint_immediate(self):
        """A second SIGINT ends offlinefs at once (it dies of SIGINT) without
        finishing the folder; nothing is lost: the next run syncs all."""
        self.immediate(signal.SIGINT, -signal.SIGINT, "Received SIGINT again: stopping at once")

    def test_second_sigterm_immediate(self):
        """A second SIGTERM ends offlinefs at once, exit 1."""
        self.immediate(signal.SIGTERM, 1, "Received SIGTERM again: stopping at once")

    def test_sigquit_immediate(self):
        """SIGQUIT: logged, then offlinefs ends at once by SIGQUIT (core
        dump); the next run syncs everything."""
        self.immediate(signal.SIGQUIT, -signal.SIGQUIT,
                       "Received SIGQUIT: exiting at once with a core dump")

    def test_sigusr2_exits_after_current_sync(self):
        """SIGUSR2 in autorefresh mode: the running sync finishes (every
        folder), then offlinefs exits 0 instead of sleeping."""
        b = self.start_in_first_folder(once=False, account={"autorefresh": "60"})
        b.signal(signal.SIGUSR2)
        self.assertEqual(b.finish(), 0)
        out = "\n".join(b.lines())
        self.assertIn("Received SIGUSR2: exiting after the current sync", out)
        self.assertEqual(out.count("*** Processing account Test"), 1, out)
        self.assertIn("*** Finished account 'Test'", out)
        self.assertNotIn("Next refresh", out)
        self.assert_all_synced()

    def test_sigusr1_syncs_now(self):
        """SIGUSR1 during the autorefresh wait starts the next sync at once;
        SIGUSR2 during the wait ends it (exit 0)."""
        self.fill(messages=2)
        self.write_config(account={"autorefresh": "60"})
        d = self.bg(once=False)
        d.wait_for(r"Next refresh in 60.0 minutes")
        os.kill(d.p.pid, signal.SIGUSR1)
        d.wait_for(r"\*\*\* Processing account Test", count=2)
        d.wait_for(r"Next refresh in 60.0 minutes", count=2)
        self.assertIn("Received SIGUSR1: syncing every account now", d.output())
        os.kill(d.p.pid, signal.SIGUSR2)
        self.assertEqual(d.wait_exit(), 0)
        self.assertEqual(d.output().count("*** Processing account Test"), 2)


# The machineui commands compared with OfflineIMAP's in TestMachineuiSequence.
SEQ_COMMANDS = ("acct", "connecting", "syncfolders", "syncingfolder", "loadmessagelist",
                "messagelistloaded", "syncingmessages", "copyingmessage", "deletingmessages",
                "addingflags", "deletingflags", "callhook", "acctdone", "terminate")


class TestMachineuiSequence(UiCase):
    """The same second sync (new mail, flag changes and deletions both
    ways) run by offlinefs against user1 and by the real offlineimap against
    user2, whose mailbox gets the same messages in the same order, so that
    UIDs and payloads are the same."""
    USERS = 2

    def scenario(self, user, tool):
        """Fills `user`'s mailbox, syncs once, changes both sides, and
        returns the machineui lines of the second sync run by tool(ui)."""
        srv = harness.Imap(self.dc, user)
        with srv:
            srv.create("Archive")
            srv.append("INBOX", simple_message("one"))
            srv.append("INBOX", simple_message("two"), flags=("\\Seen",))
            srv.append("INBOX", simple_message("three"), flags=("\\Answered",))
            srv.append("Archive", simple_message("a1"))
            srv.append("Archive", simple_message("a2"))
        tool("quiet")
        with harness.Imap(self.dc, user) as srv:
            srv.append("INBOX", simple_message("four"))
            srv.store("INBOX", 1, "+FLAGS", ["\\Flagged"])
            srv.store("INBOX", 2, "-FLAGS", ["\\Seen"])
            srv.expunge("Archive", 1)
        add_local_message(self.mail_of(user), "Archive", simple_message("local a3"))
        for m in maildir_messages(self.mail_of(user), "INBOX"):
            if m.uid == 3:
                harness.set_local_flags(m, "S")
        for m in maildir_messages(self.mail_of(user), "Archive"):
            if m.uid == 2:
                os.unlink(m.path)
        return tool("machineui")

    def mail_of(self, user):
        return os.path.join(self.client, user, "Mail")

    def conf_of(self, user):
        u = [x for x in self.dc.users if x["user"] == user][0]
        os.makedirs(self.mail_of(user), exist_ok=True)
        return self.write_config(
            general={"metadata": os.path.join(self.client, user, "meta")},
            account={"presynchook": "echo pre", "postsynchook": "echo post >&2; exit 3"},
            local={"localfolders": self.mail_of(user)},
            remote={"remoteuser": user, "remotepass": u["password"], "maxconnections": "1"},
            name="rc-" + user)

    # The rank of a per-folder line in OfflineIMAP's order: the message
    # lists, then the IMAP -> Maildir pass (copies, deletions), then the
    # Maildir -> IMAP pass; flag changes last (see commands()).
    RANKS = {("syncingmessages", "IMAP"): 1, ("copyingmessage", "down"): 2,
             ("deletingmessages", "Maildir"): 3, ("syncingmessages", "Maildir"): 5,
             ("copyingmessage", "up"): 6, ("deletingmessages", "IMAP"): 7,
             ("addingflags", ""): 9, ("deletingflags", ""): 9}

    @classmethod
    def rank(cls, cmd, payload):
        if cmd in ("loadmessagelist", "messagelistloaded"):
            return 0
        if cmd == "copyingmessage":
            return cls.RANKS[(cmd, "up" if payload.startswith("-") else "down")]
        if cmd == "syncingmessages":
            return cls.RANKS[(cmd, payload.split("\n")[0])]
        if cmd == "deletingmessages":
            return cls.RANKS[(cmd, payload.split("\n")[1].split("\t")[0])]
        return cls.RANKS[(cmd, "")]

    @classmethod
    def commands(cls, lines):
        """(command, decoded payload, thread) of the compared commands, in order,
        normalised within each folder where offlinefs's pipelining orders
        the same steps differently:
        - it lists both sides at once, so the two loadmessagelist and two
          messagelistloaded lines are sorted;
        - OfflineIMAP runs IMAP -> Maildir (copy, delete, flags) and then
          Maildir -> IMAP (copy, delete, flags); offlinefs overlaps the two
          copy passes and applies flag changes and deletions after both (the
          server's flags and deletions in one exchange). So the lines of a
          folder are put in OfflineIMAP's pass order (stable sort on rank),
          with every addingflags/deletingflags line moved to the end, in the
          order it came: Maildir's before IMAP's on both sides (their
          payload does not name the repository, so only that order tells).
        """
        out = []
        for ln in lines:
            f = parse_machine_line(ln)
            if len(f) == 4 and f[1] in SEQ_COMMANDS:
                out.append((f[1], urllib.parse.unquote_plus(f[3]),
                            urllib.parse.unquote_plus(f[2])))
        per_folder = ("loadmessagelist", "messagelistloaded", "syncingmessages",
                      "copyingmessage", "deletingmessages", "addingflags", "deletingflags")
        i = 0
        while i < len(out):
            j = i
            while j < len(out) and out[j][0] in per_folder:
                j += 1
            run = sorted(out[i:j], key=lambda c: cls.rank(c[0], c[1]))
            k = 0
            while k < len(run) and run[k][0] in ("loadmessagelist", "messagelistloaded"):
                k += 1
            out[i:j] = sorted(run[:k]) + run[k:]
            i = max(j, i + 1)
        return out

    def test_machineui_sync_sequence_matches_offlineimap(self):
        exe = shutil.which("offlineimap")
        if not exe:
            self.skipTest("offlineimap (Debian offlineimap3) not installed")
        users = [u["user"] for u in self.dc.users]

        def ofs(ui):
            r = self.run_offlinefs(conf=self.conf_of(users[0]), ui=ui)
            self.assertEqual(r.rc, 0, str(r))
            return r.out.splitlines()

        def oi(ui):
            p = subprocess.run([exe, "-c", self.conf_of(users[1]), "-o", "-u", ui],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            out = p.stdout.decode(errors="replace")
            print("$ offlineimap -u %s\nexit %d\n%s%s" % (ui, p.returncode, out,
                                                       p.stderr.decode(errors="replace")),
                  file=sys.stderr)
            self.assertEqual(p.returncode, 0)
            return out.splitlines()

        ours = self.commands(self.scenario(users[0], ofs))
        theirs = self.commands(self.scenario(users[1], oi))
        for c in ("loadmessagelist", "messagelistloaded", "syncingmessages", "copyingmessage",
                  "deletingmessages", "addingflags", "deletingflags", "callhook"):
            self.assertIn(c, [x[0] for x in theirs])
        self.assertEqual(ours, theirs)


    def test_basic_ui_prints_offlineimaps_deletion_and_flag_lines(self):
        """OfflineIMAP's ttyui/basic print its deletingmessages, addingflags
        and deletingflags as info lines; so does offlinefs, same text."""
        user = self.dc.users[0]["user"]

        def ofs(ui):
            r = self.run_offlinefs(conf=self.conf_of(user), ui="basic" if ui != "quiet" else ui)
            self.assertEqual(r.rc, 0, str(r))
            return r.out.splitlines()

        out = "\n".join(self.scenario(user, ofs))
        for want in ("Deleting 1 messages (1) in Maildir[Archive]",
                     "Deleting 1 messages (2) in IMAP[Archive]",
                     "Adding flag F to 1 messages on INBOX",
                     "Deleting flag S from 1 messages on INBOX",
                     "Adding flag S to 1 messages on INBOX",
                     "Deleting flag R from 1 messages on INBOX",
                     "Calling hook: echo pre"):
            self.assertIn(want, out)
        self.assertNotIn("loadmessagelist", out)


if __name__ == "__main__":
    harness.main()
