#!/usr/bin/python3
"""Validate everything before touching anything (issue 12 §5).

Why: a bad value found while connecting used to be reported after the
metadata directory, the status DB and the lock were created, or (autorefresh)
after a whole sync with exit 0. The rule: the whole config of every account
that will run and the command line are checked first; any error is one
line naming file:line, exit 1, and nothing is created anywhere. Checked on
the file system (nothing below the client directory but the config) and
the server (untouched), not just on offlinefs' output.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import simple_message  # noqa: E402

BIG = "x" * 2_000_000


class TestValidate(harness.SyncTestCase):

    def created(self):
        """What exists in the client directory besides config files."""
        return sorted(f for f in os.listdir(self.client)
                      if not f.endswith("rc") and f != "offlineimaprc")

    def assert_refused(self, r, option, where_line=True):
        self.assertEqual(r.rc, 1, str(r))
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, "one line:\n%s" % r)
        if where_line:
            self.assertRegex(lines[0], r"offlineimaprc:\d+: option '%s'" % option, str(r))
        self.assertLess(len(lines[0]), 400, "echoed values are cut:\n%s" % lines[0][:500])
        self.assertEqual(self.created(), [], "nothing may be created:\n%s" % r)
        return lines[0]

    def check(self, option, value, section="remote", args=("-o",)):
        self.write_config(**{section: {option: value}})
        return self.assert_refused(self.run_offlinefs(*args[1:], once="-o" in args), option)

    def test_autorefresh_without_o(self):
        """autorefresh = abc in the autorefresh loop: refused before any sync
        (it used to sync fully, then print the error and exit 0)."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("x"))
        self.check("autorefresh", "abc", section="account", args=())

    def test_autorefresh_with_o(self):
        """... and with -o, where it used to be accepted silently."""
        self.check("autorefresh", "abc", section="account")

    def test_bad_cert_fingerprint(self):
        self.check("cert_fingerprint", "zz:11")

    def test_non_pem_cafile(self):
        path = os.path.join(self.tmp, "not-a-ca.pem")
        with open(path, "w") as f:
            f.write("hello, I am not a certificate\n")
        line = self.check("sslcacertfile", path)
        self.assertIn("PEM", line)

    def test_bogus_auth_mechanism(self):
        self.assertIn("BOGUS", self.check("auth_mechanisms", "BOGUS"))

    def test_oversized_host_and_user(self):
        self.check("remotehost", "h" * 300)
        self.check("remoteuser", "u" * 5000)

    def test_huge_values_cut(self):
        """A 2 MB value is never echoed whole."""
        for option, section in (("type", "remote"), ("sep", "local"),
                                ("cert_fingerprint", "remote"), ("auth_mechanisms", "remote"),
                                ("remotehost", "remote")):
            with self.subTest(option=option):
                line = self.check(option, BIG, section=section)
                self.assertNotIn("x" * 100, line)

    def test_guard_option(self):
        self.check("bigdeletes_percent", "lots", section="account")

    def test_mount_onto_regular_file(self):
        """`mount` onto a regular file: refused before the Maildir or the
        metadata directory exist."""
        target = os.path.join(self.client, "afile")
        with open(target, "w") as f:
            f.write("x")
        p = subprocess.run([self.offlinefs, "mount", "-c", self.conf, "-f", target],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("not a directory", p.stderr)
        self.assertEqual(self.created(), ["afile"])

    def test_mountpoint_is_maildir(self):
        """mountpoint = localfolders: refused, nothing created (the Maildir
        used to be created and then refused)."""
        for mp in (self.mail, self.mail + "/", os.path.join(self.client, "x", "..", "Mail")):
            with self.subTest(mountpoint=mp):
                p = subprocess.run([self.offlinefs, "mount", "-c", self.conf, "-f", mp],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("Maildir itself", p.stderr)
                self.assertEqual(self.created(), [])

    def test_tls_hint_names_cafile(self):
        """A certificate that does not verify against sslcacertfile: the
        line says it was that file, not "set sslcacertfile"."""
        self.write_config(remote={"sslcacertfile": self.dc.wrong_cafile})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, r)
        self.assertIn("sslcacertfile %s" % self.dc.wrong_cafile, r.output)
        self.assertNotIn("set sslcacertfile or", r.output)


if __name__ == "__main__":
    harness.main()
