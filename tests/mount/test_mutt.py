#!/usr/bin/python3
"""Real mutt on the live mount, driven through tmux.

mutt (Debian's) runs in a detached tmux session of fixed size (120x40,
TERM=screen, LANG=C.UTF-8, no status line) with the shipped
examples/mutt/muttrc.mount used as it is — the test's $HOME/mail is a
symlink to the mountpoint, ~/.cache/mutt exists for its header cache — and
then tests/mount/muttrc.test, which only pins the screen (index format,
sort order, no help line, no beeps).  Keys go in with
`tmux send-keys`, the screen comes back with `tmux capture-pane`; every
step waits for text on the screen with a timeout, never on a sleep alone.
Each effect is checked on the server with imaplib and in the Maildir.

Skips (exit 77) when /dev/fuse, mutt or tmux is missing.

Run one:  OFFLINEFS=build/tools/offlinefs python3 tests/mount/test_mutt.py TestMutt.test_flag
Debug: OFFLINEFS_KEEP=1 keeps the test dir; screen dumps are in the failure text.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountharness  # noqa: E402
from harness import crlf_to_lf  # noqa: E402
from mountharness import SRC, header, local_index, msg, wait_until  # noqa: E402

EXAMPLE_MUTTRC = os.path.join(SRC, "examples", "mutt", "muttrc.mount")
TEST_MUTTRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "muttrc.test")
COLS, ROWS = 120, 40
SCREEN_TIMEOUT = 15.0   # mutt start-up, redraws
PROPAGATION = 1.0       # mount -> server after mutt's sync returned
NEW_MAIL = 20.0         # server delivery -> mutt's index (IDLE + mail_check)


def tools_missing():
    return [t for t in ("mutt", "tmux") if shutil.which(t) is None]


class Tmux:
    """A private tmux server (own socket) with one session running a command."""

    def __init__(self, tmpdir, env):
        self.sock = os.path.join(tmpdir, "tmux.sock")
        self.conf = os.path.join(tmpdir, "tmux.conf")
        with open(self.conf, "w") as f:
            f.write('set -g default-terminal "screen"\n'
                    "set -g status off\n"
                    "set -g remain-on-exit on\n"
                    "set -g history-limit 0\n")
        self.env = env

    def tmux(self, *args, check=True):
        p = subprocess.run(["tmux", "-S", self.sock, "-f", self.conf, *args],
                           capture_output=True, text=True, env=self.env, timeout=20)
        if check and p.returncode != 0:
            raise AssertionError("tmux %s: %s" % (" ".join(args), p.stderr.strip()))
        return p.stdout

    def start(self, argv):
        cmd = " ".join(_shquote(a) for a in argv)
        self.tmux("new-session", "-d", "-s", "t", "-x", str(COLS), "-y", str(ROWS), cmd)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t", check=False)

    def keys(self, *keys):
        """send-keys with key names (Enter, C-u, Escape ...)."""
        self.tmux("send-keys", "-t", "t", *keys)

    def type(self, text):
        """send-keys -l: the text literally."""
        self.tmux("send-keys", "-t", "t", "-l", text)

    def pane_pid(self):
        out = self.tmux("display-message", "-p", "-t", "t", "#{pane_pid}", check=False).strip()
        return int(out) if out.isdigit() else None

    def pane_dead(self):
        return self.tmux("display-message", "-p", "-t", "t", "#{pane_dead}",
                         check=False).strip() == "1"

    def kill(self):
        pid = self.pane_pid()
        self.tmux("kill-server", check=False)
        if pid:
            wait_until(lambda: not _alive(pid), 5.0, step=0.05)
            if _alive(pid):
                os.kill(pid, 9)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _shquote(s):
    return "'" + s.replace("'", "'\\''") + "'"


class TestMutt(mountharness.MountTestCase):

    def setUp(self):
        missing = tools_missing()
        if missing:
            raise unittest.SkipTest("not installed: %s (tools/ensure-deps.sh does not list them)"
                                    % ", ".join(missing))
        super().setUp()
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        # The example as a user runs it: $folder = ~/mail is the mountpoint.
        self.assertTrue(os.path.exists(EXAMPLE_MUTTRC), "missing " + EXAMPLE_MUTTRC)
        os.symlink(self.mnt, os.path.join(self.home, "mail"))
        os.makedirs(os.path.join(self.home, ".cache", "mutt"))
        self.muttrc = os.path.join(self.tmp, "muttrc")
        with open(self.muttrc, "w") as f:
            f.write("# per-test muttrc written by tests/mount/test_mutt.py\n"
                    'source "%s"\nsource "%s"\n' % (EXAMPLE_MUTTRC, TEST_MUTTRC))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "screen", "TZ": "UTC",
               "EDITOR": "true", "VISUAL": "true"}
        self.tmux = Tmux(self.tmp, env)
        # Runs before the mount cleanup (LIFO): mutt must let go of the mount.
        self.addCleanup(self.tmux.kill)
        self.tmux.start(["mutt", "-n", "-F", self.muttrc])
        self.wait_screen(r"\[seen-1\]", "mutt shows INBOX")
        for s in ("seen-2", "seen-3", "unseen-1", "unseen-2", "flagged-1"):
            self.assertIn("[%s]" % s, self.tmux.screen())

    # ------------------------------------------------------------ screen
    def wait_screen(self, pattern, what, timeout=SCREEN_TIMEOUT):
        rx = re.compile(pattern, re.M)
        ok = wait_until(lambda: rx.search(self.tmux.screen()), timeout, step=0.05)
        if not ok:
            self.fail("%s: /%s/ not on the screen after %ss:\n%s\n--- mount log:\n%s"
                      % (what, pattern, timeout, self.tmux.screen(), self.mount_output()))

    def index_line(self, subject):
        for line in self.tmux.screen().splitlines():
            if line.rstrip().endswith("[%s]" % subject):
                return line
        return None

    def select(self, subject):
        """Put mutt's cursor on the message with exactly this subject."""
        self.tmux.type("/")
        self.wait_screen(r"^Search for:", "search prompt")
        self.tmux.type("~s '^%s$'" % subject)
        self.tmux.keys("Enter")
        # The cursor line is drawn in reverse video; capture-pane -p drops
        # attributes, so check the search worked by the absence of an error.
        time_ok = wait_until(lambda: not re.search(r"^Search for:", self.tmux.screen(), re.M),
                             SCREEN_TIMEOUT, step=0.05)
        self.assertTrue(time_ok, "search did not finish:\n%s" % self.tmux.screen())
        self.assertNotRegex(self.tmux.screen(), r"Not found|No matches",
                            "search for %s failed" % subject)

    def sync_mailbox(self, purge=False):
        """'$': mutt writes its changes to the Maildir (renames/unlinks).
        With deleted messages the example's `delete = ask-yes` asks first."""
        self.tmux.type("$")
        if purge:
            self.wait_screen(r"Purge \d+ deleted messages?\?", "purge question")
            self.tmux.type("y")

    # ------------------------------------------------------------ tests
    def test_flag(self):
        """F then $ on a message: \\Flagged on the server within 1 s."""
        self.select("seen-1")
        self.tmux.type("F")
        self.wait_screen(r"!.*\[seen-1\]", "seen-1 shows the flag mark")
        self.sync_mailbox()
        self.assertTrue(wait_until(lambda: self.local("INBOX", "seen-1", root=self.mail).flags
                                   == "FS", 5.0), "mutt did not rename seen-1 to :2,FS:\n%s"
                        % self.tmux.screen())
        self.assert_within(lambda: self.srv.flags("INBOX", "seen-1") == ("\\Flagged", "\\Seen"),
                           PROPAGATION, "\\Flagged reached the server")
        self.assertEqual(self.srv.flags("INBOX", "seen-2"), ("\\Seen",))
        self.assertEqual(len(self.srv.messages("INBOX", bodies=False)), 6)

    def test_delete(self):
        """d then $ on a message: expunged on the server within 1 s."""
        uid = self.srv.by_subject("INBOX", "seen-2")[0].uid
        self.select("seen-2")
        self.tmux.type("d")
        self.wait_screen(r"D.*\[seen-2\]", "seen-2 marked deleted")
        self.sync_mailbox(purge=True)
        self.assertTrue(wait_until(lambda: "[seen-2]" not in self.tmux.screen(), 5.0),
                        "seen-2 still in the index after $:\n" + self.tmux.screen())
        self.assertNotIn("seen-2", local_index(self.mail, "INBOX"))
        self.assert_within(lambda: uid not in [m.uid for m in
                                               self.srv.messages("INBOX", bodies=False)],
                           PROPAGATION, "seen-2 expunged on the server")
        self.assertEqual(len(self.srv.messages("INBOX", bodies=False)), 5)

    def test_save_to_folder(self):
        """s =Archive then $: the message is in Archive once on the server
        (same Message-ID and body text) and gone from INBOX."""
        original = msg("seen-3")
        guids = self.server_guids("INBOX", "seen-3")
        self.select("seen-3")
        self.tmux.type("s")
        self.wait_screen(r"^Save to mailbox", "save prompt")
        self.tmux.keys("C-u")
        self.tmux.type("=Archive")
        self.tmux.keys("Enter")
        self.wait_screen(r"D.*\[seen-3\]", "seen-3 saved and marked deleted")
        self.assertTrue(wait_until(lambda: "seen-3" in local_index(self.mail, "Archive"), 5.0))
        self.sync_mailbox(purge=True)
        self.assertTrue(wait_until(lambda: "seen-3" not in local_index(self.mail, "INBOX"), 5.0),
                        self.tmux.screen())

        def moved():
            return (self.srv.subjects("INBOX").count("seen-3") == 0 and
                    self.srv.subjects("Archive").count("seen-3") == 1)
        self.assert_within(moved, PROPAGATION, "seen-3 moved INBOX -> Archive on the server")
        self.assert_stays(lambda: self.srv.subjects("Archive").count("seen-3") == 1, 1.0,
                          "seen-3 duplicated in Archive")
        sm = self.srv.by_subject("Archive", "seen-3", bodies=True)[0]
        self.assertEqual(sm.msgid, header(original, "Message-ID"))
        self.assertEqual(crlf_to_lf(sm.body).split(b"\n\n", 1)[1],
                         original.split(b"\n\n", 1)[1])
        self.assertEqual(sorted(self.srv.subjects("Archive")), ["arch-1", "arch-2", "seen-3"])
        # mutt's save writes a new file (adding Content-Length:) and unlinks
        # the old one, so the server gets APPEND + expunge, not a MOVE: a
        # new Dovecot GUID. Informational (mutt's behaviour, not ours).
        print("save-message reached the server as %s" % (
            "a MOVE (same GUID)" if self.server_guids("Archive", "seen-3") == guids
            else "APPEND + expunge (new GUID)"), file=sys.stderr)

    def test_new_mail_shows_in_index(self):
        """Mail delivered into Dovecot appears in the open mutt's index
        without restarting mutt (IDLE -> Maildir -> mutt's mail_check)."""
        self.assertNotIn("[arrived-live]", self.tmux.screen())
        self.dc.deliver(self.user, "INBOX", msg("arrived-live"))
        self.wait_screen(r"\[arrived-live\]", "new mail in mutt's index", timeout=NEW_MAIL)
        line = self.index_line("arrived-live")
        self.assertRegex(line or "", r"\bN\b", "new message not marked N: %r" % line)
        # Still the same mutt (never restarted) and it keeps working.
        self.assertFalse(self.tmux.pane_dead())
        self.assertIn("[seen-1]", self.tmux.screen())

    def test_quit_cleanly(self):
        """mutt quits (q) with nothing pending; the mount is then idle and
        unmounts cleanly (daemon exit status 0)."""
        self.tmux.type("q")
        ok = wait_until(self.tmux.pane_dead, SCREEN_TIMEOUT, step=0.05)
        self.assertTrue(ok, "mutt did not quit:\n%s" % self.tmux.screen())
        self.assertEqual(self.unmount(), 0)


if __name__ == "__main__":
    missing = tools_missing()
    if missing:
        print("skipped: not installed: %s" % ", ".join(missing), file=sys.stderr)
        sys.exit(mountharness.SKIP_EXIT)
    mountharness.main()
