#!/usr/bin/python3
"""[mbnames] against a real Dovecot, compared byte for byte with what the
real offlineimap (Debian's offlineimap3) writes for the same config.

Why: mutt users source the mbnames file (`mailboxes "+A/INBOX" ...`); a
user switching between offlineimap and offlinefs must get the same file,
and the per-account JSON files in <metadata>/mbnames/ are shared state
between the two tools (each one's run rebuilds the file from all of
them). So every test runs offlineimap first, saves what it wrote, resets
the client side, runs offlinefs on the same config and compares bytes:
the mbnames file and every JSON file.

Run one test:  OFFLINEFS=build/tools/offlinefs python3 tests/integration/test_mbnames.py TestMbnames.test_identical_two_accounts
"""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import simple_message  # noqa: E402


class TestMbnames(harness.SyncTestCase):
    USERS = 2

    def setUp(self):
        super().setUp()
        self.exe = shutil.which("offlineimap")
        if not self.exe:
            self.skipTest("offlineimap (Debian offlineimap3) not installed")
        # Two server accounts with a few folders, one of them nested and
        # one non-ASCII (a modified UTF-7 name on the server).
        for i, u in enumerate(self.dc.users):
            with harness.Imap(self.dc, u["user"]) as srv:
                for f in ("Sent", "Lists/foo", "Trash", "Entwürfe"):
                    srv.create(f)
                srv.append("INBOX", simple_message("hello %d" % i))
        self.mbfile = os.path.join(self.client, "mailboxes")

    def config(self, accounts=("Work", "Home"), incremental="no", extra=""):
        # A Maildir root with a non-ASCII name: the JSON files escape it.
        lines = ["[general]", "accounts = %s" % ", ".join(accounts),
                 "metadata = %s" % self.meta, ""]
        for i, name in enumerate(("Work", "Home")):
            u = self.dc.users[i]
            lines += ["[Account %s]" % name, "localrepository = L%s" % name,
                      "remoterepository = R%s" % name, "",
                      "[Repository L%s]" % name, "type = Maildir",
                      "localfolders = %s/Mäil-%s" % (self.client, name), "",
                      "[Repository R%s]" % name, "type = IMAP", "remotehost = localhost",
                      "remoteport = %d" % self.dc.imaps_port, "remoteuser = %s" % u["user"],
                      "remotepass = %s" % u["password"], "ssl = yes",
                      "sslcacertfile = %s" % self.dc.cafile, ""]
        lines += ["[mbnames]", "enabled = yes", "filename = %s" % self.mbfile,
                  'header = "mailboxes "', 'peritem = "+%(accountname)s/%(foldername)s"',
                  'sep = " "', 'footer = "\\n"', "incremental = %s" % incremental]
        return self.write_config(raw="\n".join(lines) + "\n" + extra)

    def offlineimap(self, *args):
        p = subprocess.run([self.exe, "-c", self.conf, "-u", "basic"] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode(errors="replace")
        print("$ offlineimap %s\n%s" % (" ".join(args), out), file=sys.stderr)
        self.assertEqual(p.returncode, 0, "offlineimap itself failed:\n" + out)
        return out

    def written(self):
        """(mbnames file bytes, {json name: bytes})"""
        d = os.path.join(self.meta, "mbnames")
        js = {}
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), "rb") as f:
                    js[n] = f.read()
        try:
            with open(self.mbfile, "rb") as f:
                mb = f.read()
        except FileNotFoundError:
            mb = None
        return mb, js

    def reset_client(self):
        for p in (self.meta, os.path.join(self.client, "Mäil-Work"),
                  os.path.join(self.client, "Mäil-Home")):
            shutil.rmtree(p, ignore_errors=True)
        if os.path.exists(self.mbfile):
            os.unlink(self.mbfile)

    def compare_with_offlineimap(self, *args):
        self.offlineimap(*args)
        theirs = self.written()
        self.assertIsNotNone(theirs[0], "offlineimap wrote no mbnames file")
        self.reset_client()
        self.sync(*args)
        self.assertEqual(self.written(), theirs)
        return theirs

    def test_identical_two_accounts(self):
        """Two accounts, defaults (sorted by account, folder), incremental
        off: file and JSON byte-identical to offlineimap's."""
        self.config()
        mb, js = self.compare_with_offlineimap("-o")
        self.assertEqual(sorted(js), ["Home.json", "Work.json"])
        self.assertTrue(mb.startswith(b'mailboxes "+Home/'), mb)
        self.assertIn(b' "+Work/INBOX" ', mb)
        self.assertIn(b"\\u00e4", js["Work.json"])  # ensure_ascii, as Python's json

    def test_identical_incremental_with_python(self):
        """incremental = yes, a folderfilter and a sort_keyfunc in Python
        (with re, and a pythonfile's function), a Python header: still
        byte-identical."""
        pyfile = os.path.join(self.client, "helpers.py")
        with open(pyfile, "w") as f:
            f.write("def rank(d):\n    return (d['foldername'] != 'INBOX', "
                    "d['foldername'].lower(), d['accountname'])\n")
        self.config(incremental="yes", extra=(
            "folderfilter = lambda a, f: not re.search('Trash', f)\n"
            "sort_keyfunc = rank\n"))
        with open(self.conf) as f:
            text = f.read()
        text = text.replace("[general]\n", "[general]\npythonfile = %s\n" % pyfile, 1)
        text = text.replace('header = "mailboxes "', 'header = "mail" + "boxes "')
        with open(self.conf, "w") as f:
            f.write(text)
        mb, js = self.compare_with_offlineimap("-o")
        self.assertNotIn(b"Trash", mb)
        self.assertTrue(mb.startswith(b'mailboxes "+Home/INBOX" "+Work/INBOX" '), mb)

    def test_switching_keeps_one_file(self):
        """offlineimap syncs one account, offlinefs the other: the file
        lists both, exactly as offlineimap alone syncing both writes it;
        and the other way round."""
        self.config(incremental="yes")
        self.offlineimap("-o")
        both = self.written()
        self.reset_client()
        self.offlineimap("-o", "-a", "Work")
        self.sync("-a", "Home")
        self.assertEqual(self.written(), both)
        self.reset_client()
        self.sync("-a", "Work")
        self.offlineimap("-o", "-a", "Home")
        self.assertEqual(self.written(), both)

    def test_prune_like_offlineimap(self):
        """--mbnames-prune after an account left [general] accounts: its
        JSON is removed and the file rebuilt without it, as offlineimap
        does; nothing is synced."""
        self.config()
        self.sync()
        saved = os.path.join(self.tmp, "saved-meta")
        shutil.copytree(self.meta, saved)
        self.config(accounts=("Work",))
        self.offlineimap("--mbnames-prune")
        theirs = self.written()
        self.assertEqual(sorted(theirs[1]), ["Work.json"])
        shutil.rmtree(self.meta)
        shutil.copytree(saved, self.meta)
        os.unlink(self.mbfile)
        logins = self.server_logins()
        r = self.run_offlinefs("--mbnames-prune", once=False)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("removed %s/mbnames/Home.json" % self.meta, r.out)
        self.assertEqual(self.written(), theirs)
        self.assertEqual(self.server_logins(), logins, "--mbnames-prune must not sync")

    def test_python_error_touches_nothing(self):
        """A header that raises is one error line naming file:line and the
        Python exception; exit 1; nothing is created."""
        self.config()
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(text.replace('header = "mailboxes "', "header = undefined_name"))
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, r)
        line = [ln for ln in r.err.splitlines() if "header" in ln]
        self.assertEqual(len(line), 1, r)
        self.assertRegex(line[0], r"offlineimaprc:\d+: option 'header' in section 'mbnames': "
                         r"NameError: name 'undefined_name' is not defined")
        self.assertEqual(self.written(), (None, {}))
        self.assertFalse(os.path.exists(os.path.join(self.client, "Mäil-Work")))


if __name__ == "__main__":
    unittest.main()
