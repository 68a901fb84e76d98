"""Hostile-server tests: the real offlinefs binary against tests/hostile/fakeimap.py.

Why: a broken or malicious IMAP server must never crash offlinefs, hang it
past the socket timeout, or make it lose or duplicate mail, and what went
wrong must be said in one ERROR line naming the host or the folder (and the
UID where one message is concerned).  Dovecot cannot be made to send
garbage, so these cases use a scripted fake; everything Dovecot decides is
tested against Dovecot in tests/integration.

Each test: a fresh fake server (INBOX with 3 messages unless said
otherwise), a fresh Maildir and metadata dir, a config with ssl = no,
starttls = no, socktimeout = 3; the binary from $OFFLINEFS (or the first
build*/tools/offlinefs).  Every run must end within RUN_BOUND seconds, not
by a signal, and without a sanitizer report in stderr.

Tests whose docstring says KNOWN BUG found a real defect; they fail until it
is fixed and are therefore not registered in meson.build (listed there).

Run one:  OFFLINEFS=build/tools/offlinefs python3 tests/hostile/test_hostile.py HostileTest.test_good_sync
Set OFFLINEFS_KEEP=1 to keep the temp dir of a failing test, OFFLINEFS_VERBOSE=1
to print the fake server's transcript of every test (always printed on failure).
"""

import glob
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fakeimap import FakeIMAP, Msg, parse_uid_set, sample_message  # noqa: E402

SOCKTIMEOUT = 3
# what GNU Mailutils imap4d advertises, as far as the client cares: no UIDPLUS
IMAP4D_CAPS = "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+"
RUN_BOUND = 20          # seconds a run may take, hostile or not
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|"
                          r"UndefinedBehaviorSanitizer|AddressSanitizer:DEADLYSIGNAL")
# file names offlinefs gives synced messages: ...,U=<uid>,FMD5=<md5>:2,<flags>
UID_RE = re.compile(r",U=(\d+)")


def offlinefs_path():
    p = os.environ.get("OFFLINEFS")
    if p:
        return p
    for cand in sorted(glob.glob(os.path.join(SRC, "build*", "tools", "offlinefs"))):
        if os.access(cand, os.X_OK):
            return cand
    raise unittest.SkipTest("OFFLINEFS not set and no build*/tools/offlinefs found")


def lf(b):
    return b.replace(b"\r\n", b"\n")


class Run:
    def __init__(self, argv, rc, out, err, elapsed):
        self.argv, self.rc, self.out, self.err, self.elapsed = argv, rc, out, err, elapsed

    def error_lines(self):
        return [ln for ln in self.err.splitlines() if ln.startswith("ERROR: ")]

    def warning_lines(self):
        return [ln for ln in self.err.splitlines() if ln.startswith("WARNING: ")]

    def __str__(self):
        return "$ %s\nexit %s after %.1fs\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.argv), self.rc, self.elapsed, self.out, self.err)


# ---------------------------------------------------------------- scripts
# Hooks for FakeIMAP: fn(session, tag, args) -> True when the reply was sent.

def raw(data):
    """Reply with exactly these bytes (tag substituted for {tag})."""
    def hook(s, tag, args):
        s.send(data.replace(b"{tag}", tag or b"*"))
        return True
    return hook


def raw_then_close(data):
    def hook(s, tag, args):
        s.send(data.replace(b"{tag}", tag or b"*"))
        s.close()
    return hook


def hang(s, tag, args):
    s.hang()


def close_now(s, tag, args):
    s.close()


class HostileTest(unittest.TestCase):
    maxDiff = None

    # ------------------------------------------------------------ fixture
    def setUp(self):
        self.offlinefs = offlinefs_path()
        self.tmp = tempfile.mkdtemp(prefix="ofs-hostile-", dir="/var/tmp")
        self.addCleanup(self._cleanup_tmp)
        self.root = os.path.join(self.tmp, "client")   # everything offlinefs may write
        self.mail = os.path.join(self.root, "Mail")
        self.meta = os.path.join(self.root, "metadata")
        os.makedirs(self.root)
        self.srv = FakeIMAP({"INBOX": [Msg(sample_message(i), flags=f) for i, f in
                                       ((1, ()), (2, ("\\Seen",)), (3, ("\\Flagged",)))]})
        self.srv.start()
        self.addCleanup(self.srv.stop)
        self.runs = []
        self.write_config()

    def _cleanup_tmp(self):
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not getattr(outcome, "success", True)
        if failed or os.environ.get("OFFLINEFS_VERBOSE"):
            print("--- fake server transcript\n%s" % self.srv.transcript(), file=sys.stderr)
        if os.environ.get("OFFLINEFS_KEEP") and (failed or os.environ["OFFLINEFS_KEEP"] == "all"):
            print("kept test dir: %s" % self.tmp, file=sys.stderr)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_config(self, remote_extra=None, local_extra=None, socktimeout=SOCKTIMEOUT):
        remote = {"type": "IMAP", "remotehost": "127.0.0.1", "remoteport": str(self.srv.port),
                  "remoteuser": "u", "remotepass": "p", "ssl": "no", "starttls": "no"}
        remote.update(remote_extra or {})
        local = {"type": "Maildir", "localfolders": self.mail}
        local.update(local_extra or {})
        sections = [
            ("general", {"accounts": "Test", "metadata": self.meta,
                         "socktimeout": str(socktimeout)}),
            ("Account Test", {"localrepository": "Local", "remoterepository": "Remote"}),
            ("Repository Local", local),
            ("Repository Remote", remote),
        ]
        text = "# written by tests/hostile/test_hostile.py\n"
        for title, opts in sections:
            text += "\n[%s]\n" % title + "".join("%s = %s\n" % kv for kv in opts.items())
        self.conf = os.path.join(self.tmp, "offlineimaprc")
        with open(self.conf, "w") as f:
            f.write(text)

    # ------------------------------------------------------------ running
    def run_ofs(self, *args, env=None):
        """One run of the binary. Fails the test on a hang, a signal or a
        sanitizer report; otherwise returns the Run (any exit status).
        env: variables to set (value None: remove)."""
        argv = [self.offlinefs, "-c", self.conf, "-o", "-u", "basic"] + list(args)
        e = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=RUN_BOUND, env=e)
        except subprocess.TimeoutExpired as ex:
            self.fail("offlinefs hung: still running after %ds (socktimeout %d)\n%s\n%s" % (
                RUN_BOUND, SOCKTIMEOUT, (ex.stdout or b"").decode(errors="replace"),
                (ex.stderr or b"").decode(errors="replace")))
        r = Run(argv, p.returncode, p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace"), time.monotonic() - t0)
        self.runs.append(r)
        print(str(r), file=sys.stderr)
        self.assertGreaterEqual(r.rc, 0, "offlinefs was killed by signal %d\n%s" % (-r.rc, r))
        self.assertNotRegex(r.err, SANITIZER_RE, "sanitizer report\n%s" % r)
        self.assertEqual(self.srv.errors, [], "fake server script raised")
        return r

    def sync_ok(self):
        r = self.run_ofs()
        self.assertEqual(r.rc, 0, "sync failed:\n%s" % r)
        self.assertEqual(r.error_lines(), [], str(r))
        return r

    def run_failing(self, *needles, env=None):
        """A run that must exit 1 with one ERROR line containing every needle
        (regexes). Returns (run, that line)."""
        r = self.run_ofs(env=env)
        self.assertEqual(r.rc, 1, "want exit status 1:\n%s" % r)
        line = self.assert_error_line(r, *needles)
        return r, line

    def assert_error_line(self, r, *needles):
        errs = r.error_lines()
        self.assertTrue(errs, "no ERROR line:\n%s" % r)
        for ln in errs:
            self.assertLess(len(ln), 600, "ERROR line too long: %r" % ln)
            self.assertNotRegex(ln, r"[\x00-\x08\x0b-\x1f\x7f]", "control bytes in %r" % ln)
        for ln in errs:
            if all(re.search(n, ln) for n in needles):
                return ln
        self.fail("no ERROR line matches %r:\n%s" % (needles, "\n".join(errs)))

    @property
    def host(self):
        return re.escape("127.0.0.1:%d" % self.srv.port)

    # ------------------------------------------------------------ state
    def local(self, folder="INBOX"):
        """{uid or file name (no U=): (flags, body)} of the local folder."""
        out = {}
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, folder, sub)
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as f:
                    body = f.read()
                flags = name.split(":2,", 1)[1] if ":2," in name else ""
                m = UID_RE.search(name)
                key = int(m.group(1)) if m else name
                self.assertNotIn(key, out, "two local files for UID %s" % key)
                out[key] = (flags, body)
        return out

    def local_files(self, folder="INBOX"):
        """All file names in new/, cur/ and tmp/ of the folder."""
        out = []
        for sub in ("new", "cur", "tmp"):
            d = os.path.join(self.mail, folder, sub)
            if os.path.isdir(d):
                out += ["%s/%s" % (sub, n) for n in sorted(os.listdir(d))]
        return out

    def status_rows(self, folder="INBOX"):
        """{uid: flags} of the status cache for the folder (read-only open)."""
        path = os.path.join(self.meta, "Account-Test", "offlinefs.sqlite")
        if not os.path.exists(path):
            return {}
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            rows = con.execute("SELECT m.uid, m.flags FROM messages m JOIN folders f ON "
                               "f.id = m.folder_id WHERE f.name = ?", (folder,)).fetchall()
        finally:
            con.close()
        return dict(rows)

    def server_msgs(self, folder="INBOX"):
        return {m.uid: m for m in self.srv.mailboxes[folder].msgs}

    def assert_in_sync(self, folder="INBOX"):
        """Local Maildir == server (UIDs, bodies CRLF->LF, system flags)."""
        letters = {"\\Seen": "S", "\\Answered": "R", "\\Flagged": "F", "\\Deleted": "T",
                   "\\Draft": "D"}
        want = {}
        for uid, m in self.server_msgs(folder).items():
            want[uid] = ("".join(sorted(letters[f] for f in m.flags if f in letters)), lf(m.body))
        self.assertEqual(self.local(folder), want)

    def add_local(self, body, folder="INBOX", flags=""):
        """Deliver a new message into the Maildir like an MDA (no U=)."""
        name = "%d.M1P%d.testhost" % (int(time.time()), os.getpid())
        sub = "cur" if flags else "new"
        p = os.path.join(self.mail, folder, sub, name + (":2," + flags if flags else ""))
        with open(p, "wb") as f:
            f.write(body)
        return p

    def good_first_sync(self):
        """The 3 server messages land locally; returns the local snapshot."""
        self.sync_ok()
        self.assert_in_sync()
        snap = self.local()
        self.assertEqual(sorted(snap), [1, 2, 3])
        self.assertEqual(sorted(self.status_rows()), [1, 2, 3])
        return snap

    def assert_untouched(self, snap, rows=(1, 2, 3)):
        """The local folder and the status rows are as after the good sync."""
        self.assertEqual(self.local(), snap, "local folder changed")
        self.assertEqual(sorted(self.status_rows()), list(rows), "status rows changed")
        self.assertEqual([f for f in self.local_files() if f.startswith("tmp/")], [],
                         "left-overs in tmp/")

    # ============================================================ the harness itself
    def test_good_sync(self):
        """The fake is good enough for a full two-way sync (proves the harness)."""
        self.srv.add_mailbox("Archive", [Msg(sample_message(9), flags=("\\Answered",))])
        r = self.sync_ok()
        self.assertTrue(r.warning_lines() and "unencrypted" in r.warning_lines()[0], str(r))
        self.assert_in_sync()
        self.assert_in_sync("Archive")
        # nothing to do the second time
        before = len(self.srv.commands)
        r = self.sync_ok()
        self.assertIn("Folder INBOX: nothing to do", r.out)
        self.assertFalse({"FETCH_BODY", "STORE", "APPEND", "EXPUNGE"} &
                         set(self.srv.sent_commands()[before:]), self.srv.transcript())
        # local changes go up: a flag, a new message, a deletion
        d = os.path.join(self.mail, "INBOX", "new")
        one = [n for n in os.listdir(d) if ",U=1," in n][0]
        os.rename(os.path.join(d, one), os.path.join(self.mail, "INBOX", "cur", one + "S"))
        os.unlink(os.path.join(self.mail, "INBOX", "cur",
                               [n for n in os.listdir(os.path.join(self.mail, "INBOX", "cur"))
                                if ",U=2," in n][0]))
        self.add_local(b"Subject: local\n\nwritten here\n")
        self.sync_ok()
        srv = self.server_msgs()
        self.assertEqual(sorted(srv), [1, 3, 4])
        self.assertEqual(srv[1].flags, {"\\Seen"})
        self.assertEqual(srv[4].body, b"Subject: local\r\n\r\nwritten here\r\n")
        self.assert_in_sync()
        # server changes come down: a deletion and a flag
        inbox = self.srv.mailboxes["INBOX"]
        inbox.msgs = [m for m in inbox.msgs if m.uid != 3]
        srv[4].flags.add("\\Flagged")
        self.sync_ok()
        self.assert_in_sync()
        self.assertEqual(sorted(self.status_rows()), [1, 4])

    # ============================================================ connection
    def test_greeting_garbage(self):
        self.srv.hooks["GREETING"] = raw(b"HELLO THERE\r\n")
        self.run_failing(self.host, "greeting")
        self.assertNotIn("AUTHENTICATE", self.srv.sent_commands())

    def test_greeting_bye(self):
        """Passes, but under LeakSanitizer libetpan leaks the BYE greeting
        (mailimap_greeting_new); not registered until .ci/lsan.supp has
        "leak:mailimap_greeting_new"."""
        self.srv.hooks["GREETING"] = raw(b"* BYE too busy, go away\r\n")
        self.run_failing(self.host, "refused|BYE|busy")

    def test_greeting_closed(self):
        self.srv.hooks["GREETING"] = close_now
        self.run_failing(self.host, "greeting|closed")

    def test_greeting_silent(self):
        """Accepts the connection, never greets: bounded by socktimeout."""
        self.srv.hooks["GREETING"] = hang
        r, _ = self.run_failing(self.host, "timed out|timeout")
        self.assertLess(r.elapsed, SOCKTIMEOUT * 4, str(r))

    def test_capability_garbage(self):
        self.srv.hooks["GREETING"] = raw(b"* OK fake ready\r\n")
        self.srv.hooks["CAPABILITY"] = raw(b"* CAPABILITY (((\r\n{tag} OK done\r\n")
        self.run_failing(self.host + "|IMAP\\[Remote\\]", "CAPABILITY")
        self.assertNotIn("AUTHENTICATE", self.srv.sent_commands())

    def test_capability_bare_ok(self):
        """A greeting without capabilities, and CAPABILITY answered by a bare
        OK (no untagged CAPABILITY line): libetpan read through a NULL list
        (found by fuzz/fuzz_imap.c). Now: no capabilities, LOGIN is tried,
        the sync goes on."""
        self.srv.hooks["GREETING"] = raw(b"* OK fake ready\r\n")
        self.srv.hooks["CAPABILITY"] = raw(b"{tag} OK done\r\n")
        r = self.run_ofs()
        self.assertIn(r.rc, (0, 1), str(r))
        self.assertIn("CAPABILITY", self.srv.sent_commands())

    def test_capability_empty_code(self):
        """CAPABILITY answered by an OK whose [CAPABILITY] code lists
        nothing: libetpan read through a NULL list here too (fuzz_imap)."""
        self.srv.hooks["GREETING"] = raw(b"* OK fake ready\r\n")
        self.srv.hooks["CAPABILITY"] = raw(b"{tag} OK [CAPABILITY] done\r\n")
        r = self.run_ofs()
        self.assertIn(r.rc, (0, 1), str(r))
        self.assertIn("CAPABILITY", self.srv.sent_commands())

    def test_auth_reply_garbage(self):
        self.srv.hooks["AUTHENTICATE"] = raw(b"{tag} MAYBE [[[ sure\r\n")
        self.run_failing(self.host + "|IMAP\\[Remote\\]", "authentication|AUTHENTICATE")

    def test_starttls_injection(self):
        """Data after the STARTTLS reply would be read as if it came over TLS
        (CVE-2020-15953): refuse, and never send the password."""
        self.srv.caps = "IMAP4rev1 STARTTLS LOGINDISABLED"
        self.srv.hooks["STARTTLS"] = raw(
            b"{tag} OK Begin TLS negotiation now\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n")
        self.write_config({"starttls": "yes"})
        self.run_failing(self.host, "STARTTLS")
        sent = self.srv.sent_commands()
        self.assertNotIn("AUTHENTICATE", sent)
        self.assertNotIn("LOGIN", sent)

    def test_bye_after_login(self):
        """BYE as the answer to the first command after login."""
        self.srv.hooks["LIST"] = raw_then_close(b"* BYE server shutting down\r\n")
        self.run_failing(r"IMAP\[Remote\]|" + self.host, "closed|BYE|shutting down|lost")

    # ============================================================ LIST
    def test_list_garbage(self):
        snap = self.good_first_sync()
        self.srv.hooks["LIST"] = raw(b'* LIST (\\Noselect "/"\r\n{tag} OK done\r\n')
        self.run_failing(r"IMAP\[Remote\]", "LIST", "malformed")
        self.assert_untouched(snap)

    def test_list_hostile_names(self):
        """Folder names that would escape the Maildir root are not used."""
        snap = self.good_first_sync()
        names = [b"../escape", b"INBOX/../../escape2", b"/abs", b"cur", b"..", b"a/./b"]

        def hook(s, tag, args):
            if args[1] == b"":
                return s.send(b'* LIST (\\Noselect) "/" ""\r\n{tag} OK done\r\n'
                              .replace(b"{tag}", tag))
            out = b'* LIST () "/" INBOX\r\n'
            for n in names:
                out += b'* LIST () "/" "' + n + b'"\r\n'
            return s.send(out + tag + b" OK done\r\n")
        self.srv.hooks["LIST"] = hook
        for sep in (".", "/"):
            self.write_config(local_extra={"sep": sep})
            outside = sorted(os.listdir(self.tmp))
            r = self.run_ofs()
            self.assertIn(r.rc, (0, 1), str(r))
            self.assertEqual(sorted(os.listdir(self.tmp)), outside, "created outside the root")
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "escape")))
            self.assertFalse(os.path.exists(os.path.join(self.root, "escape")))
            self.assertFalse(os.path.exists(os.path.join(self.root, "escape2")))
            self.assertEqual(sorted(os.listdir(self.root)), ["Mail", "metadata"])
            self.assertFalse(os.path.exists(os.path.join(self.mail, "cur", "cur")))
            self.assert_untouched(snap)

    # ============================================================ SELECT
    def test_select_without_uidvalidity(self):
        snap = self.good_first_sync()
        self.srv.hooks["SELECT"] = raw(b"* 3 EXISTS\r\n{tag} OK [READ-WRITE] selected\r\n")
        self.run_failing(r"\[INBOX\]", "UIDVALIDITY")
        self.assert_untouched(snap)

    def test_select_bye(self):
        snap = self.good_first_sync()
        self.srv.hooks["SELECT"] = raw_then_close(b"* BYE shutting down\r\n")
        self.run_failing(r"\[INBOX\]", "closed|BYE|lost")
        self.assert_untouched(snap)

    def test_select_exists_overflow(self):
        """EXISTS beyond 32 bits must be refused, not wrap to 0 (which reads
        as "the folder is empty" and deletes every local message).
        KNOWN BUG -- not registered in meson.build until fixed."""
        snap = self.good_first_sync()
        self.srv.hooks["SELECT"] = raw(
            b"* 4294967296 EXISTS\r\n* OK [UIDVALIDITY 1000] x\r\n* OK [UIDNEXT 4] x\r\n"
            b"{tag} OK [READ-WRITE] selected\r\n")
        r = self.run_ofs()
        self.assert_untouched(snap)
        self.assertEqual(r.rc, 1, str(r))
        self.assert_error_line(r, "INBOX")

    # ============================================================ message listing
    # After a good sync of 3 messages, a bad listing must never read as
    # "the server deleted them".
    def test_listing_garbage_uid(self):
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = raw(b"* 1 FETCH (UID abc FLAGS (\\Seen))\r\n{tag} OK done\r\n")
        self.run_failing(r"\[INBOX\]", "FETCH")
        self.assert_untouched(snap)

    def test_listing_fewer_than_exists(self):
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = raw(
            b'* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 163 INTERNALDATE "01-Jan-2024 10:00:00 +0000")'
            b"\r\n{tag} OK done\r\n")
        self.run_failing("INBOX", "announced 3|listed 1")
        self.assert_untouched(snap)

    def test_listing_without_sizes(self):
        """FETCH responses lacking RFC822.SIZE are not a listing of the folder."""
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = raw(
            b"* 1 FETCH (UID 1 FLAGS ())\r\n* 2 FETCH (UID 2 FLAGS ())\r\n"
            b"* 3 FETCH (FLAGS (\\Seen))\r\n{tag} OK done\r\n")
        self.run_failing("INBOX")
        self.assert_untouched(snap)

    def test_listing_duplicate_uid(self):
        """3 responses for EXISTS 3, but UID 1 twice and UID 3 missing."""
        snap = self.good_first_sync()
        line = b'* %d FETCH (UID %d FLAGS () RFC822.SIZE 163 INTERNALDATE "01-Jan-2024 10:00:00 +0000")\r\n'
        self.srv.hooks["FETCH_LIST"] = raw(line % (1, 1) + line % (2, 2) + line % (3, 1)
                                           + b"{tag} OK done\r\n")
        self.run_failing("INBOX", "twice|duplicate")
        self.assert_untouched(snap)

    def test_listing_bye_midway(self):
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = raw_then_close(
            b'* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 163 INTERNALDATE "01-Jan-2024 10:00:00 +0000")'
            b"\r\n* BYE shutting down\r\n")
        self.run_failing(r"\[INBOX\]", "closed|BYE|lost")
        self.assert_untouched(snap)

    def test_listing_closed_midway(self):
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = raw_then_close(
            b'* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 163 INTER')
        self.run_failing(r"\[INBOX\]", "closed|lost")
        self.assert_untouched(snap)

    def test_listing_silent(self):
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = hang
        r, _ = self.run_failing(r"\[INBOX\]", "timed out")
        self.assertLess(r.elapsed, SOCKTIMEOUT * 4, str(r))
        self.assert_untouched(snap)

    def test_listing_stall_mid_line(self):
        """The server stops in the middle of a listing line: nothing is
        deleted, and the run ends one socktimeout later, not two.
        KNOWN BUG -- not registered in meson.build until fixed."""
        snap = self.good_first_sync()
        timeout = 5
        self.write_config(socktimeout=timeout)

        def hook(s, tag, args):
            s.send(b'* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 163 INTER')
            s.hang()
        self.srv.hooks["FETCH_LIST"] = hook
        r, _ = self.run_failing(r"\[INBOX\]", "timed out")
        self.assert_untouched(snap)
        self.assertLess(r.elapsed, timeout * 1.6, "a stalled line took %.1fs with socktimeout "
                        "%d\n%s" % (r.elapsed, timeout, r))

    def test_listing_no(self):
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = raw(b"{tag} NO [SERVERBUG] Internal error occurred\r\n")
        self.run_failing(r"\[INBOX\]", "FETCH", "Internal error")
        self.assert_untouched(snap)

    def test_listing_bad(self):
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = raw(b"{tag} BAD Error in IMAP command\r\n")
        self.run_failing(r"\[INBOX\]", "FETCH", "BAD")
        self.assert_untouched(snap)

    def test_listing_garbage_flags(self):
        """Junk in a FLAGS list: either refused with an error naming the
        folder, or the message keeps its real flags; nothing is deleted."""
        snap = self.good_first_sync()
        line = b'* %d FETCH (UID %d FLAGS %s RFC822.SIZE 163 INTERNALDATE "01-Jan-2024 10:00:00 +0000")\r\n'
        self.srv.hooks["FETCH_LIST"] = raw(line % (1, 1, b"(\\Seen \\ $$$ )") + line % (2, 2, b"(\\Seen)")
                                           + line % (3, 3, b"(\\Flagged)") + b"{tag} OK done\r\n")
        r = self.run_ofs()
        if r.rc == 1:
            self.assert_error_line(r, "INBOX")
            self.assert_untouched(snap)
        else:
            self.assertEqual(r.rc, 0, str(r))
            got = self.local()
            self.assertEqual(sorted(got), [1, 2, 3])
            self.assertEqual(got[1][0], "S")
            self.assertEqual({u: b for u, (_f, b) in got.items()},
                             {u: b for u, (_f, b) in snap.items()})

    def test_listing_garbage_date(self):
        snap = self.good_first_sync()
        self.srv.hooks["FETCH_LIST"] = raw(
            b'* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 163 INTERNALDATE "99-Foo-0000 99:99:99 +9999")'
            b"\r\n{tag} OK done\r\n")
        self.run_failing(r"\[INBOX\]")
        self.assert_untouched(snap)

    def test_listing_garbage_date_new_message(self):
        """A new message with an impossible (but well-formed) INTERNALDATE is
        still downloaded intact, or refused with an error naming its UID."""
        self.srv.mailboxes["INBOX"].msgs[0].internaldate = "31-Feb-0000 99:99:99 -9999"
        r = self.run_ofs()
        if r.rc == 0:
            self.assert_in_sync()
        else:
            self.assertEqual(r.rc, 1, str(r))
            self.assert_error_line(r, r"\[INBOX\]")
            got = self.local()
            self.assertTrue(set(got) <= {1, 2, 3})

    # ============================================================ bodies
    def test_body_no_for_one_uid(self):
        """Dovecot-style partial failure: bodies of UID 1 and 3, then NO.
        1 and 3 are kept, UID 2 is named, and the next sync gets it.
        KNOWN BUG -- not registered in meson.build until fixed."""
        def hook(s, tag, args):
            for seq, m in enumerate(s.selected.msgs, 1):
                if m.uid != 2:
                    s.send_fetch(seq, m, [b"UID", b"BODY.PEEK[]"])
            return s.no(tag, "[SERVERBUG] Internal error occurred. Refer to server log")
        self.srv.hooks["FETCH_BODY"] = hook
        r = self.run_ofs()
        self.assertEqual(sorted(self.local()), [1, 3], str(r))
        self.assertEqual(sorted(self.status_rows()), [1, 3])
        self.assertEqual(r.rc, 1, "one message was not downloaded; want exit 1\n%s" % r)
        self.assert_error_line(r, r"\[INBOX\]", r"UID (2\b|1:3|1,2,3|2:)")
        del self.srv.hooks["FETCH_BODY"]
        self.sync_ok()
        self.assert_in_sync()

    def test_body_no(self):
        self.srv.hooks["FETCH_BODY"] = raw(b"{tag} NO [SERVERBUG] Internal error\r\n")
        self.run_failing(r"\[INBOX\]", "FETCH", "Internal error")
        self.assertEqual(self.local(), {})
        self.assertEqual(self.status_rows(), {})
        del self.srv.hooks["FETCH_BODY"]
        self.sync_ok()
        self.assert_in_sync()

    def test_body_bad(self):
        self.srv.hooks["FETCH_BODY"] = raw(b"{tag} BAD what\r\n")
        self.run_failing(r"\[INBOX\]", "FETCH", "BAD")
        self.assertEqual(self.local(), {})

    def test_body_closed_mid_literal(self):
        self.srv.hooks["FETCH_BODY"] = raw_then_close(b"* 1 FETCH (UID 1 BODY[] {100}\r\nabc")
        self.run_failing(r"\[INBOX\]", "closed|lost")
        self.assertEqual(self.local_files(), [], "partial message left behind")
        self.assertEqual(self.status_rows(), {})
        del self.srv.hooks["FETCH_BODY"]
        self.sync_ok()
        self.assert_in_sync()

    # ---- big messages: fetched in 1 MiB pieces (BODY.PEEK[]<off.len>) ----
    def add_big(self, size=(1 << 20) * 2 + 777):
        line = b"x" * 70 + b"\r\n"
        body = (b"From: a@example.test\r\nSubject: big\r\nMessage-ID: <big@example.test>\r\n\r\n"
                + line * (size // len(line)))
        return self.srv.mailboxes["INBOX"].add(Msg(body))

    def test_big_message_pieces(self):
        uid = self.add_big()
        self.sync_ok()
        self.assert_in_sync()
        self.assertTrue(any("<1048576.1048576>" in repr(a) for k, a in self.srv.commands),
                        "no piece fetch")
        self.assertIn(uid, self.status_rows())
        self.assertEqual([f for f in self.local_files() if f.startswith("tmp/")], [])

    def test_big_message_nothing_past_the_end(self):
        """A message of exactly two pieces, and a server that answers the
        request past its end with no FETCH at all: the message is complete
        (its RFC822.SIZE says so), not vanished."""
        line = b"x" * 70 + b"\r\n"
        head = b"Subject: two pieces\r\n\r\n"
        n = (2 * (1 << 20) - len(head)) // len(line)
        body = head + line * n
        body += b"y" * (2 * (1 << 20) - len(body) - 2) + b"\r\n"
        self.assertEqual(len(body), 2 << 20)
        uid = self.srv.mailboxes["INBOX"].add(Msg(body))

        def hook(s, tag, args):
            if "<2097152." in repr(args):
                return s.ok(tag, "nothing there") or True
            return None
        self.srv.hooks["FETCH_BODY"] = hook
        self.sync_ok()
        self.assertEqual(self.local()[uid][1], lf(body))
        self.assertIn(uid, self.status_rows())

    def test_big_message_closed_mid_piece(self):
        """The connection drops inside the second piece: nothing of the big
        message is left (not in new/cur/tmp, no status row); the small
        messages are kept; the next run completes it."""
        uid = self.add_big()

        def hook(s, tag, args):
            if "<1048576." in repr(args):
                s.send(b"* 4 FETCH (UID %d BODY[]<1048576> {1048576}\r\nabc" % uid)
                s.close()
                return True
            return None
        self.srv.hooks["FETCH_BODY"] = hook
        self.run_failing(r"\[INBOX\]")
        self.assertNotIn(uid, self.local())
        self.assertNotIn(uid, self.status_rows())
        self.assertEqual([f for f in self.local_files() if f.startswith("tmp/")], [])
        del self.srv.hooks["FETCH_BODY"]
        self.sync_ok()
        self.assert_in_sync()

    def test_big_message_piece_refused(self):
        """A piece answered NO: a one-line error naming the UID, nothing
        stored for that message, the others synced; retried next run."""
        uid = self.add_big()

        def hook(s, tag, args):
            if "<1048576." in repr(args):
                s.send(tag + b" NO [SERVERBUG] cannot read that part\r\n")
                return True
            return None
        self.srv.hooks["FETCH_BODY"] = hook
        self.run_failing(r"\[INBOX\]", "UID %d" % uid, "cannot read")
        self.assertNotIn(uid, self.local())
        self.assertNotIn(uid, self.status_rows())
        self.assertEqual(len(self.local()), 3)
        del self.srv.hooks["FETCH_BODY"]
        self.sync_ok()
        self.assert_in_sync()

    # libetpan reserves the announced literal size before reading it; with
    # MALLOC_PERTURB_ (meson sets it) glibc then writes all 4 GiB, which takes
    # longer than the run bound.  These two tests are about crash/hang/error
    # and run without it; test_body_huge_literal_memory is about the memory.
    NO_PERTURB = {"MALLOC_PERTURB_": None}

    def test_body_huge_literal(self):
        """A 4 GB literal announcement, then the connection closes."""
        self.srv.hooks["FETCH_BODY"] = raw_then_close(b"* 1 FETCH (UID 1 BODY[] {4294967295}\r\nabc")
        self.run_failing(r"\[INBOX\]", env=self.NO_PERTURB)
        self.assertEqual(self.local_files(), [])
        self.assertEqual(self.status_rows(), {})

    def test_body_huge_literal_silent(self):
        """A 4 GB literal announcement, a few bytes, then silence."""
        def hook(s, tag, args):
            s.send(b"* 1 FETCH (UID 1 BODY[] {4294967295}\r\nabc")
            s.hang()
        self.srv.hooks["FETCH_BODY"] = hook
        r, _ = self.run_failing(r"\[INBOX\]", env=self.NO_PERTURB)
        self.assertLess(r.elapsed, SOCKTIMEOUT * 4, str(r))
        self.assertEqual(self.local_files(), [])

    def test_body_huge_literal_memory(self):
        """A server announcing a 4 GiB literal (and sending 3 bytes) must not
        make offlinefs commit 4 GiB of memory.  MALLOC_PERTURB_ makes glibc
        touch every allocated byte, so the peak RSS shows the reservation.
        KNOWN BUG -- not registered in meson.build until fixed."""
        if "libasan" in subprocess.run(["ldd", self.offlinefs], capture_output=True,
                                       text=True).stdout:
            self.skipTest("ASan's allocator ignores MALLOC_PERTURB_")
        self.srv.hooks["FETCH_BODY"] = raw_then_close(b"* 1 FETCH (UID 1 BODY[] {4294967295}\r\nabc")
        self.run_failing(r"\[INBOX\]", env={"MALLOC_PERTURB_": "152"})
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        self.assertLess(peak_mb, 512, "offlinefs peaked at %d MB for a 3-byte message" % peak_mb)

    def test_body_stall_mid_literal(self):
        """The server stops in the middle of a body literal: the run ends
        one socktimeout later, not two.
        KNOWN BUG -- not registered in meson.build until fixed."""
        timeout = 5
        self.write_config(socktimeout=timeout)

        def hook(s, tag, args):
            s.send(b"* 1 FETCH (UID 1 BODY[] {100}\r\nabc")
            s.hang()
        self.srv.hooks["FETCH_BODY"] = hook
        r, _ = self.run_failing(r"\[INBOX\]", "timed out")
        self.assertLess(r.elapsed, timeout * 1.6, "a stalled literal took %.1fs with socktimeout "
                        "%d\n%s" % (r.elapsed, timeout, r))
        self.assertEqual(self.local_files(), [])

    def test_body_silent(self):
        self.srv.hooks["FETCH_BODY"] = hang
        r, _ = self.run_failing(r"\[INBOX\]", "timed out")
        self.assertLess(r.elapsed, SOCKTIMEOUT * 4, str(r))
        self.assertEqual(self.local_files(), [])

    def test_body_bye_midway(self):
        """UID 1 arrives, then BYE: nothing half-written, nothing twice, and
        the next sync completes the folder."""
        def hook(s, tag, args):
            s.send_fetch(1, s.selected.msgs[0], [b"UID", b"BODY.PEEK[]"])
            s.send(b"* BYE shutting down\r\n")
            s.close()
        self.srv.hooks["FETCH_BODY"] = hook
        self.run_failing(r"\[INBOX\]", "closed|BYE|lost")
        got = self.local()
        self.assertLessEqual(set(got), {1})
        self.assertEqual(set(self.status_rows()), set(got))
        del self.srv.hooks["FETCH_BODY"]
        self.sync_ok()
        self.assert_in_sync()

    def test_body_nil(self):
        """BODY[] NIL is no message: no empty file may stand in for UID 1.
        KNOWN BUG -- not registered in meson.build until fixed."""
        def hook(s, tag, args):
            s.send(b"* 1 FETCH (UID 1 BODY[] NIL)\r\n")
            for seq, m in enumerate(s.selected.msgs[1:], 2):
                s.send_fetch(seq, m, [b"UID", b"BODY.PEEK[]"])
            return s.ok(tag)
        self.srv.hooks["FETCH_BODY"] = hook
        r = self.run_ofs()
        got = self.local()
        self.assertNotIn(1, self.status_rows(), "UID 1 recorded as synced:\n%s" % r)
        self.assertTrue(1 not in got or got[1][1] == lf(self.server_msgs()[1].body),
                        "UID 1 stored as %r:\n%s" % (got.get(1), r))
        self.assertEqual(r.rc, 1, str(r))
        self.assert_error_line(r, r"\[INBOX\]", r"UID 1\b")
        del self.srv.hooks["FETCH_BODY"]
        self.sync_ok()
        self.assert_in_sync()

    def test_body_wrong_section(self):
        """Asked for BODY[], answered BODY[HEADER]: the header alone must not
        be stored as the message.
        KNOWN BUG -- not registered in meson.build until fixed."""
        def hook(s, tag, args):
            for seq, m in enumerate(s.selected.msgs, 1):
                if m.uid == 1:
                    head = m.body.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
                    s.send(b"* 1 FETCH (UID 1 BODY[HEADER] {%d}\r\n" % len(head) + head + b")\r\n")
                else:
                    s.send_fetch(seq, m, [b"UID", b"BODY.PEEK[]"])
            return s.ok(tag)
        self.srv.hooks["FETCH_BODY"] = hook
        r = self.run_ofs()
        got = self.local()
        self.assertTrue(1 not in got or got[1][1] == lf(self.server_msgs()[1].body),
                        "UID 1 stored as %r:\n%s" % (got.get(1), r))
        self.assertNotIn(1, self.status_rows())
        self.assertEqual(r.rc, 1, str(r))
        self.assert_error_line(r, r"\[INBOX\]", r"UID 1\b")

    def test_body_unrequested_and_repeated(self):
        """Bodies for a UID not asked for and a second body for UID 1: one
        file per requested UID, nothing for the stranger."""
        def hook(s, tag, args):
            ms = s.selected.msgs
            s.send_fetch(1, ms[0], [b"UID", b"BODY.PEEK[]"])
            s.send(b"* 9 FETCH (UID 99 BODY[] {7}\r\nalien\r\n)\r\n")
            s.send(b"* 1 FETCH (UID 1 BODY[] {7}\r\nagain\r\n)\r\n")
            s.send_fetch(2, ms[1], [b"UID", b"BODY.PEEK[]"])
            s.send_fetch(3, ms[2], [b"UID", b"BODY.PEEK[]"])
            return s.ok(tag)
        self.srv.hooks["FETCH_BODY"] = hook
        r = self.run_ofs()
        self.assertIn(r.rc, (0, 1), str(r))
        self.assertEqual(sorted(self.local()), [1, 2, 3])
        self.assertNotIn(99, self.status_rows())
        self.assertEqual(len(self.local_files()), 3)

    # ============================================================ APPEND
    def _one_local_new(self):
        snap = self.good_first_sync()
        path = self.add_local(b"Subject: local\n\nwritten here\n")
        return snap, path

    def test_append_quota(self):
        snap, path = self._one_local_new()
        self.srv.hooks["APPEND"] = raw(b"{tag} NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n")
        self.run_failing(r"\[INBOX\]", "APPEND", "[Qq]uota")
        self.assertTrue(os.path.exists(path), "local message lost")
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3])
        for uid in (1, 2, 3):
            self.assertEqual(self.local()[uid], snap[uid])
        # once there is room again it goes up
        del self.srv.hooks["APPEND"]
        self.sync_ok()
        self.assert_in_sync()

    def test_append_without_appenduid(self):
        """UIDPLUS advertised but no APPENDUID: the local copy is moved to
        the account's quarantine directory (never deleted, never uploaded
        twice) and the server's copy comes back on the next sync."""
        snap, path = self._one_local_new()
        with open(path, "rb") as fh:
            original = fh.read()

        def hook(s, tag, args):
            s.server.mailboxes["INBOX"].add(Msg(args["data"], args["flags"]))
            return s.ok(tag, "append done")
        self.srv.hooks["APPEND"] = hook
        r = self.run_ofs()
        self.assertIn(r.rc, (0, 1), str(r))
        self.assertTrue([w for w in r.warning_lines() + r.error_lines() if "INBOX" in w], str(r))
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3, 4])
        quarantined = []
        for dirpath, _dirs, files in os.walk(self.meta):
            if os.path.basename(dirpath) == "quarantine":
                quarantined += [os.path.join(dirpath, f) for f in files]
        self.assertEqual(len(quarantined), 1, "quarantine: %s" % quarantined)
        with open(quarantined[0], "rb") as fh:
            self.assertEqual(fh.read(), original, "quarantined copy differs")
        # the next sync brings the server's copy down: exactly one local copy
        self.run_ofs()
        local_copies = [k for k, (_f, b) in self.local().items() if b"written here" in b]
        self.assertEqual(len(local_copies), 1, "local copies: %s" % local_copies)

    def _assert_no_duplicate_growth(self, path, runs=4):
        for _ in range(runs):
            r = self.run_ofs()
            self.assertIn(r.rc, (0, 1), str(r))
        local_copies = [k for k, (_f, b) in self.local().items() if b"written here" in b]
        server_copies = [u for u, m in self.server_msgs().items() if b"written here" in m.body]
        self.assertTrue(local_copies, "local message lost")
        self.assertLessEqual(len(server_copies), 2,
                             "after %d syncs the server holds %d copies (UIDs %s); locally %d "
                             "(%s)" % (runs, len(server_copies), server_copies,
                                       len(local_copies), local_copies))
        self.assertLessEqual(len(local_copies), 2, "local copies: %s" % local_copies)

    def test_append_without_appenduid_no_growth(self):
        """A server that never sends APPENDUID must not make every sync
        upload the same message again: copies must not keep growing."""
        snap, path = self._one_local_new()

        def hook(s, tag, args):
            s.server.mailboxes["INBOX"].add(Msg(args["data"], args["flags"]))
            return s.ok(tag, "append done")
        self.srv.hooks["APPEND"] = hook
        self._assert_no_duplicate_growth(path)

    def test_append_marker_not_found_no_growth(self):
        """No UIDPLUS, and UID SEARCH HEADER X-OfflineIMAP finds nothing (a
        lagging search index): copies must not keep growing either."""
        self.srv.caps = "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ UNSELECT"
        snap, path = self._one_local_new()
        self.srv.hooks["SEARCH"] = raw(b"* SEARCH\r\n{tag} OK search done\r\n")
        self._assert_no_duplicate_growth(path)

    def test_append_reply_lost_no_duplicate(self):
        """The server stores the upload, then the connection dies before its
        reply: the next run must find that copy (the upload was marked in
        flight) and give the local file its UID, not upload it again."""
        snap, path = self._one_local_new()

        def hook(s, tag, args):
            s.server.mailboxes["INBOX"].add(Msg(args["data"], args["flags"]))
            s.close()
            return True
        self.srv.hooks["APPEND"] = hook
        self.run_failing(r"\[INBOX\]")
        self.assertTrue(os.path.exists(path), "local message lost")
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3, 4])
        del self.srv.hooks["APPEND"]
        r = self.sync_ok()
        self.assertIn("uploaded by an interrupted run (UID 4)", r.out + r.err)
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3, 4], "uploaded twice")
        self.assertEqual(sorted(self.local()), [1, 2, 3, 4])
        self.assertEqual(sorted(self.status_rows()), [1, 2, 3, 4])
        self.sync_ok()
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3, 4])

    def test_append_lost_before_stored_uploads_again(self):
        """The connection dies before the server stored the upload: the mark
        left in flight finds nothing, so the next run uploads it (once)."""
        snap, path = self._one_local_new()
        self.srv.hooks["APPEND"] = lambda s, tag, args: s.close() or True
        self.run_failing(r"\[INBOX\]")
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3])
        del self.srv.hooks["APPEND"]
        self.sync_ok()
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3, 4])
        self.assert_in_sync()

    def upload_marks(self):
        path = os.path.join(self.meta, "Account-Test", "offlinefs.sqlite")
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            return con.execute("SELECT base FROM uploads").fetchall()
        finally:
            con.close()

    def test_unsent_upload_marks_cleared(self):
        """A folder's uploads are marked in flight before its flag changes
        and deletions go to the server; the connection dies there, so the
        upload was never sent: its mark goes (it would cost the next run a
        search for an upload that never happened), the file stays, and the
        next run uploads it once."""
        snap, path = self._one_local_new()
        new = os.path.join(self.mail, "INBOX", "new")
        one = [n for n in os.listdir(new) if ",U=1," in n][0]
        os.rename(os.path.join(new, one), os.path.join(self.mail, "INBOX", "cur", one + "F"))
        two = [os.path.join(self.mail, "INBOX", sub, n) for sub in ("new", "cur")
               for n in os.listdir(os.path.join(self.mail, "INBOX", sub)) if ",U=2," in n][0]
        os.unlink(two)
        self.srv.hooks["STORE"] = raw_then_close(b"* BYE shutting down\r\n")
        self.run_failing(r"\[INBOX\]")
        self.assertTrue(os.path.exists(path), "local message lost")
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3], "uploaded despite the failure")
        self.assertEqual(self.upload_marks(), [])
        del self.srv.hooks["STORE"]
        r = self.sync_ok()
        self.assertNotIn("interrupted run", r.out + r.err)
        self.assertEqual(sorted(self.server_msgs()), [1, 3, 4])
        self.assertEqual(self.upload_marks(), [])
        self.assert_in_sync()

    def test_big_upload_refused_kept(self):
        """A big local message (sent from its file, synchronizing literal)
        refused with NO: one error line, the file stays, nothing on the
        server; the next run uploads it once."""
        self.good_first_sync()
        body = b"Subject: big local\n\n" + (b"y" * 70 + b"\n") * 20000
        path = self.add_local(body)
        self.srv.hooks["APPEND"] = raw(b"{tag} NO [OVERQUOTA] Quota exceeded\r\n")
        self.run_failing(r"\[INBOX\]", "APPEND", "[Qq]uota")
        self.assertTrue(os.path.exists(path), "local message lost")
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3])
        del self.srv.hooks["APPEND"]
        self.sync_ok()
        self.assertEqual(sorted(self.server_msgs()), [1, 2, 3, 4])
        self.assertEqual(lf(self.server_msgs()[4].body), body)
        self.assert_in_sync()

    def test_append_bye(self):
        snap, path = self._one_local_new()
        self.srv.hooks["APPEND"] = raw_then_close(b"* BYE shutting down\r\n")
        self.run_failing(r"\[INBOX\]", "APPEND")
        self.assertTrue(os.path.exists(path), "local message lost")

    def test_append_garbage_reply(self):
        snap, path = self._one_local_new()
        self.srv.hooks["APPEND"] = raw(b"{tag} OK [APPENDUID abc def] done\r\n")
        r = self.run_ofs()
        self.assertIn(r.rc, (0, 1), str(r))
        # This server says OK but stores nothing: the local copy must still
        # exist, in the Maildir or in the account's quarantine directory.
        quarantined = []
        for dirpath, _dirs, files in os.walk(self.meta):
            if os.path.basename(dirpath) == "quarantine":
                for f in files:
                    with open(os.path.join(dirpath, f), "rb") as fh:
                        quarantined.append(fh.read())
        self.assertTrue(os.path.exists(path) or
                        any(b"written here" in b for _f, b in self.local().values()) or
                        any(b"written here" in b for b in quarantined),
                        "local message lost")

    # ============================================================ STORE / EXPUNGE
    def test_store_no(self):
        """A refused flag change is reported and retried next time."""
        self.good_first_sync()
        d = os.path.join(self.mail, "INBOX", "new")
        one = [n for n in os.listdir(d) if ",U=1," in n][0]
        os.rename(os.path.join(d, one), os.path.join(self.mail, "INBOX", "cur", one + "F"))
        self.srv.hooks["STORE"] = raw(b"{tag} NO [SERVERBUG] cannot store\r\n")
        self.run_failing(r"\[INBOX\]", "STORE")
        self.assertEqual(self.server_msgs()[1].flags, set())
        self.assertEqual(self.local()[1][0], "F")
        del self.srv.hooks["STORE"]
        self.sync_ok()
        self.assertEqual(self.server_msgs()[1].flags, {"\\Flagged"})
        self.assert_in_sync()

    def test_expunge_bye(self):
        """Local deletion; the server drops the line at UID EXPUNGE."""
        self.good_first_sync()
        cur = os.path.join(self.mail, "INBOX", "cur")
        os.unlink(os.path.join(cur, [n for n in os.listdir(cur) if ",U=2," in n][0]))
        self.srv.hooks["EXPUNGE"] = raw_then_close(b"* BYE shutting down\r\n")
        self.run_failing(r"\[INBOX\]", "EXPUNGE")
        self.assertEqual(sorted(self.local()), [1, 3])
        del self.srv.hooks["EXPUNGE"]
        self.sync_ok()
        self.assertEqual(sorted(self.server_msgs()), [1, 3])
        self.assert_in_sync()

    # ------------------------------------------------------------ one bad reply, one folder
    def _three_folders(self):
        """Alpha, INBOX and Zulu synced; returns nothing."""
        self.srv.add_mailbox("Alpha", [Msg(sample_message(11)), Msg(sample_message(12))])
        self.srv.add_mailbox("Zulu", [Msg(sample_message(21))])
        self.sync_ok()
        for f in ("Alpha", "INBOX", "Zulu"):
            self.assert_in_sync(f)

    def test_expunged_reply_tolerated(self):
        """GNU imap4d (no UIDPLUS: a plain EXPUNGE) answers an EXPUNGE
        with '* 2 EXPUNGED' (not EXPUNGE). The untagged data of an EXPUNGE
        is not needed: the deletion goes through and every folder syncs
        (before: the folder failed with 'malformed server response' and
        every later one with 'connection lost earlier', exit 1)."""
        self._three_folders()
        cur = os.path.join(self.mail, "Alpha", "cur")
        new = os.path.join(self.mail, "Alpha", "new")
        gone = [os.path.join(d, n) for d in (cur, new) for n in os.listdir(d) if ",U=2," in n]
        os.unlink(gone[0])
        inbox_uid = self.srv.mailboxes["INBOX"].add(Msg(sample_message(4)))
        zulu_uid = self.srv.mailboxes["Zulu"].add(Msg(sample_message(22)))

        def expunged(s, tag, args):
            mb = s.selected
            seq = 1
            for m in list(mb.msgs):
                if "\\Deleted" in m.flags:
                    mb.msgs.remove(m)
                    s.line(b"* %d EXPUNGED" % seq)
                else:
                    seq += 1
            return s.ok(tag, "expunge done")
        self.srv.hooks["EXPUNGE"] = expunged
        self.srv.caps = IMAP4D_CAPS
        self.sync_ok()
        self.assertEqual(sorted(self.server_msgs("Alpha")), [1])
        self.assertIn(inbox_uid, self.local("INBOX"))
        self.assertIn(zulu_uid, self.local("Zulu"))
        for f in ("Alpha", "INBOX", "Zulu"):
            self.assert_in_sync(f)

    def test_malformed_reply_later_folders_sync(self):
        """A reply that cannot be parsed (here in Alpha's listing) ends
        that folder: it is reported, the connection is opened again, and
        the later folders sync (before: each failed with 'connection lost
        earlier'). The next run syncs Alpha."""
        self._three_folders()
        inbox_uid = self.srv.mailboxes["INBOX"].add(Msg(sample_message(4)))
        zulu_uid = self.srv.mailboxes["Zulu"].add(Msg(sample_message(22)))
        alpha_uid = self.srv.mailboxes["Alpha"].add(Msg(sample_message(13)))

        def garbage(s, tag, args):
            if s.selected.name != "Alpha":
                return None
            s.send(b"* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE ((( garbage\r\n")
            return s.ok(tag, "fetch done")
        self.srv.hooks["FETCH_LIST"] = garbage
        logins = sum(1 for k, a in self.srv.commands if k in ("LOGIN", "AUTHENTICATE"))
        r = self.run_ofs()
        self.assertEqual(r.rc, 1, str(r))
        self.assert_error_line(r, r"Alpha")
        self.assertNotIn("connection lost earlier", r.err)
        self.assertEqual(len(r.error_lines()), 1, str(r))
        self.assertIn(inbox_uid, self.local("INBOX"), "INBOX not synced after Alpha failed")
        self.assertIn(zulu_uid, self.local("Zulu"), "Zulu not synced after Alpha failed")
        self.assertNotIn(alpha_uid, self.local("Alpha"))
        self.assert_in_sync("INBOX")
        self.assert_in_sync("Zulu")
        self.assertGreater(sum(1 for k, a in self.srv.commands
                               if k in ("LOGIN", "AUTHENTICATE")) - logins, 1, "no new login")
        del self.srv.hooks["FETCH_LIST"]
        self.sync_ok()
        for f in ("Alpha", "INBOX", "Zulu"):
            self.assert_in_sync(f)

    def test_partial_fetch_label_with_length(self):
        """A server that labels the reply to BODY.PEEK[]<0.1048576> as
        BODY[]<0.1048576> (RFC 3501 says BODY[]<0>): the bytes are the
        bytes. The big message syncs byte for byte, in this run, and so do
        the later folders (before: it never synced, on any run)."""
        self.srv.add_mailbox("Zulu", [Msg(sample_message(21))])
        uid = self.add_big()

        def labelled(s, tag, args):
            if not re.search(r"<\d+\.\d+>", repr(args)):
                return None
            uids = parse_uid_set(args[0], [m.uid for m in s.selected.msgs])
            for seq, m in enumerate(s.selected.msgs, 1):
                if m.uid not in uids:
                    continue
                off, n = (int(x) for x in re.search(r"<(\d+)\.(\d+)>", repr(args)).groups())
                part = m.body[off:off + n]
                s.send(b"* %d FETCH (UID %d BODY[]<%d.%d> {%d}\r\n" % (seq, m.uid, off, n, len(part))
                       + part + b")\r\n")
            return s.ok(tag, "fetch done")
        self.srv.hooks["FETCH_BODY"] = labelled
        r = self.run_ofs()
        self.assertNotIn("connection lost earlier", r.err)
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn(uid, self.local())
        self.assert_in_sync()
        self.assert_in_sync("Zulu")
        self.assertIn(uid, self.status_rows())
        r = self.sync_ok()
        self.assert_in_sync()


if __name__ == "__main__":
    unittest.main(verbosity=2)
