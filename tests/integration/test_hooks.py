#!/usr/bin/python3
"""[Account] presynchook / postsynchook against a real Dovecot, compared
with the real offlineimap (Debian's offlineimap3) where it decides.

Why: 13 of 50 real configs run `notmuch new` or `mu index` from a hook; a
user relies on the presynchook running before anything is synced, the
postsynchook after the mail is in the Maildir, on a failing hook never
stopping the sync (OfflineIMAP only logs its return code), and on the
postsynchook being skipped when the account sync itself failed. Each hook
here appends one line to a file, with what it could see at that moment
(messages in the Maildir, OFFLINEIMAPSYNCMODE, whether stdin is at EOF),
so the order is asserted on events, not on timings.

Run one test:  OFFLINEFS=build/tools/offlinefs python3 tests/integration/test_hooks.py TestHooks.test_order_and_environment
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import simple_message  # noqa: E402


def offlineimap_exe(test):
    exe = shutil.which("offlineimap")
    if not exe:
        test.skipTest("offlineimap (Debian offlineimap3) not installed")
    return exe


class TestHooks(harness.SyncTestCase):
    def hook(self, tag, status=0, extra=""):
        """A hook command that logs '<tag> mode=<..> msgs=<n> stdin=<..>'
        to self.events, prints to stdout and stderr, and exits status."""
        self.events = os.path.join(self.client, "events")
        return ("n=$(find %s -path '*/INBOX/*' -type f 2>/dev/null | wc -l); "
                "read -r line; in=$?; "
                "echo \"%s mode=${OFFLINEIMAPSYNCMODE:-unset} msgs=$n stdin=$in\" >> %s; "
                "echo %s-out; echo %s-err >&2; %s exit %d"
                % (self.mail, tag, self.events, tag, tag, extra, status))

    def read_events(self):
        try:
            with open(self.events) as f:
                return [ln.split() for ln in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def add_mail(self, n=2):
        with self.server() as srv:
            for i in range(n):
                srv.append("INBOX", simple_message("m%d" % i))

    def test_order_and_environment(self):
        """presynchook runs before the sync (no message yet), postsynchook
        after it (all messages there), each once, through /bin/sh with
        OFFLINEIMAPSYNCMODE and an stdin at EOF; their output and return
        code are logged as OfflineIMAP logs them."""
        self.add_mail(3)
        self.write_config(account={"presynchook": self.hook("pre"),
                                   "postsynchook": self.hook("post")})
        r = self.sync()
        ev = self.read_events()
        self.assertEqual([e[0] for e in ev], ["pre", "post"], r)
        self.assertEqual(ev[0][1:], ["mode=full", "msgs=0", "stdin=1"])
        self.assertEqual(ev[1][1:], ["mode=full", "msgs=3", "stdin=1"])
        self.assertIn("Calling hook: " + self.hook("pre"), r.out)
        self.assertIn("Hook stdout: pre-out\n\nHook stderr:pre-err\n\n", r.out)
        self.assertIn("Hook stdout: post-out\n\nHook stderr:post-err\n\n", r.out)
        self.assertEqual(r.out.count("Hook return code: 0"), 2)
        self.assertLess(r.out.index("pre-out"), r.out.index("Finished account"))
        # -q: the hooks are told it is a quick sync.
        os.unlink(self.events)
        self.sync("-q")
        self.assertEqual([e[:2] for e in self.read_events()],
                         [["pre", "mode=quick"], ["post", "mode=quick"]])

    def test_failing_presynchook_like_offlineimap(self):
        """A presynchook exiting 3 does not stop the sync: the mail is
        synced, the postsynchook runs, the return code is only logged and
        the run exits 0 -- what the real offlineimap does with the same
        config (run first, on its own Maildir)."""
        exe = offlineimap_exe(self)
        self.add_mail(2)
        conf_kw = dict(account={"presynchook": self.hook("pre", 3),
                                "postsynchook": self.hook("post", 4)})
        self.write_config(**conf_kw)
        p = subprocess.run([exe, "-c", self.conf, "-o", "-u", "basic"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode(errors="replace")
        print("$ offlineimap ...\n" + out, file=sys.stderr)
        theirs = [(e[0], e[2]) for e in self.read_events()]
        self.assertEqual(theirs, [("pre", "msgs=0"), ("post", "msgs=2")], out)
        self.assertIn("Hook return code: 3", out)
        self.assertIn("Hook return code: 4", out)
        # Now offlinefs, on fresh local state.
        shutil.rmtree(self.mail)
        shutil.rmtree(self.meta)
        os.unlink(self.events)
        r = self.run_offlinefs()
        self.assertEqual(r.rc, p.returncode, r)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([(e[0], e[2]) for e in self.read_events()], theirs)
        self.assertIn("Hook return code: 3", r.out)
        self.assertIn("Hook return code: 4", r.out)
        self.assert_synced("INBOX")

    def test_hook_killed_by_signal_reported(self):
        """A hook ended by a signal is reported with Python's negative
        return code, and the sync still completes."""
        self.add_mail(1)
        self.write_config(account={"presynchook": self.hook("pre", 0, "kill -TERM $$;")})
        r = self.sync()
        self.assertIn("Hook return code: -15", r.out)
        self.assert_synced("INBOX")

    def test_postsynchook_skipped_when_account_fails(self):
        """A failed login ends the account sync before any folder: the
        presynchook ran (it runs before connecting), the postsynchook does
        not, as in OfflineIMAP where the exception skips it."""
        self.write_config(account={"presynchook": self.hook("pre"),
                                   "postsynchook": self.hook("post")},
                          remote={"remotepass": "wrong-password"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, r)
        self.assertEqual([e[0] for e in self.read_events()], ["pre"], r)
        self.assertNotIn("post-out", r.out)

    def test_dry_run_runs_no_hook(self):
        """--dry-run logs '[DRYRUN] Calling hook: ...' and runs nothing."""
        self.add_mail(1)
        self.write_config(account={"presynchook": self.hook("pre"),
                                   "postsynchook": self.hook("post")})
        r = self.sync("--dry-run")
        self.assertEqual(self.read_events(), [])
        self.assertIn("[DRYRUN] Calling hook: " + self.hook("pre"), r.out)
        self.assertIn("[DRYRUN] Calling hook: " + self.hook("post"), r.out)

    def test_no_hook_after_sigterm(self):
        """SIGTERM while the presynchook runs: no hook runs after it (as
        OfflineIMAP's abort-now), and the run still ends cleanly."""
        self.add_mail(1)
        started = os.path.join(self.client, "started")
        self.write_config(account={"presynchook": "touch %s; sleep 2" % started,
                                   "postsynchook": self.hook("post")})
        p = subprocess.Popen([self.offlinefs, "-c", self.conf, "-o", "-u", "basic"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not os.path.exists(started) and time.monotonic() < deadline:
                self.assertIsNone(p.poll(), "offlinefs ended before its presynchook ran")
                time.sleep(0.05)
            self.assertTrue(os.path.exists(started), "the presynchook never ran")
            p.send_signal(signal.SIGTERM)
            out = p.communicate(timeout=100)[0].decode(errors="replace")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        print(out, file=sys.stderr)
        self.assertIn("Hook return code: 0", out)
        self.assertNotIn("post-out", out)
        self.assertEqual(self.read_events(), [])

    def test_hook_keeps_no_descriptor(self):
        """The hook inherits only stdin, stdout and stderr (close_fds): it
        cannot hold the account lock, the status DB or the IMAP socket."""
        self.add_mail(1)
        fds = os.path.join(self.client, "fds")
        self.write_config(account={"postsynchook": "ls /proc/self/fd > %s" % fds})
        self.sync()
        with open(fds) as f:
            listed = sorted(int(x) for x in f.read().split())
        # 0, 1, 2 and the descriptor ls itself opens to read the directory.
        self.assertEqual(listed[:3], [0, 1, 2])
        self.assertLessEqual(len(listed), 4, listed)


class TestNewmailHook(harness.SyncTestCase):
    """[Repository] newmail_hook: a Python callable (here from the
    pythonfile) called once per sync of the server's INBOX in which unseen
    mail was copied down -- not for other folders, not for mail that is
    already \\Seen, not in dry-run."""

    def setUp(self):
        super().setUp()
        self.calls = os.path.join(self.client, "calls")
        pyfile = os.path.join(self.client, "hooks.py")
        with open(pyfile, "w") as f:
            f.write("def notify():\n    open(%r, 'a').write('new\\n')\n" % self.calls)
        self.write_config(general={"pythonfile": pyfile}, remote={"newmail_hook": "notify"})

    def ncalls(self):
        try:
            with open(self.calls) as f:
                return f.read().count("new")
        except FileNotFoundError:
            return 0

    def test_called_for_unseen_inbox_mail(self):
        with self.server() as srv:
            srv.create("Other")
            srv.append("INBOX", simple_message("a"))
            srv.append("INBOX", simple_message("b"))
            srv.append("Other", simple_message("c"))
        self.sync("--dry-run")
        self.assertEqual(self.ncalls(), 0)
        self.sync()
        self.assertEqual(self.ncalls(), 1)   # once for the two INBOX messages
        self.sync()
        self.assertEqual(self.ncalls(), 1)   # nothing new
        with self.server() as srv:
            srv.append("INBOX", simple_message("read"), ["\\Seen"])
            srv.append("Other", simple_message("elsewhere"))
        self.sync()
        self.assertEqual(self.ncalls(), 1)   # seen, or not INBOX
        with self.server() as srv:
            srv.append("INBOX", simple_message("d"))
        self.sync()
        self.assertEqual(self.ncalls(), 2)
        self.assert_synced("INBOX")

    def test_same_calls_as_offlineimap(self):
        """The real offlineimap and offlinefs, each with its own Maildir and
        metadata, sync the same server after each change: the hook is
        called the same number of times by both."""
        exe = offlineimap_exe(self)
        pyfile = os.path.join(self.client, "hooks2.py")
        theirs = os.path.join(self.client, "calls-offlineimap")
        with open(pyfile, "w") as f:
            f.write("def notify():\n    open(%r, 'a').write('new\\n')\n" % theirs)
        conf_o = self.write_config(
            name="rc-offlineimap",
            general={"pythonfile": pyfile, "metadata": os.path.join(self.client, "meta-o")},
            local={"localfolders": os.path.join(self.client, "Mail-o")},
            remote={"newmail_hook": "notify"})

        def count(path):
            try:
                with open(path) as f:
                    return f.read().count("new")
            except FileNotFoundError:
                return 0

        steps = [
            lambda srv: (srv.create("Other"), srv.append("INBOX", simple_message("a")),
                         srv.append("Other", simple_message("b"))),
            lambda srv: None,
            lambda srv: srv.append("INBOX", simple_message("read"), ["\\Seen"]),
            lambda srv: (srv.append("INBOX", simple_message("c")),
                         srv.append("INBOX", simple_message("d"))),
        ]
        for step in steps:
            with self.server() as srv:
                step(srv)
            p = subprocess.run([exe, "-c", conf_o, "-o", "-u", "basic"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
            self.sync()
            self.assertEqual(self.ncalls(), count(theirs))
        self.assertEqual(self.ncalls(), 2)

    def test_bad_hook_refused_before_sync(self):
        """A newmail_hook that does not evaluate is one error line with
        file:line and the Python exception; nothing is synced."""
        self.write_config(remote={"newmail_hook": "no_such_function"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.err, r"offlineimaprc:\d+: option 'newmail_hook' in section "
                         r"'Repository Remote': NameError: name 'no_such_function' is not defined")
        self.assertFalse(os.path.exists(self.mail))

    def test_raising_hook_is_an_error_mail_kept(self):
        """A hook that raises is reported (exit 1) with the exception; the
        mail it was called for is in the Maildir."""
        self.write_config(remote={"newmail_hook": "lambda: 1 / 0"})
        with self.server() as srv:
            srv.append("INBOX", simple_message("a"))
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, r)
        self.assertIn("newmail_hook: ZeroDivisionError: division by zero", r.err)
        self.assert_synced("INBOX")


if __name__ == "__main__":
    unittest.main()
