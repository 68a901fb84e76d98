"""Options that change what is synced or how Maildir files are named
(issue 11 section 2): each is compared with what the real offlineimap
(Debian offlineimap3) does on the same server state, where that is
practical, and with the data-safety rule that nothing outside a filter is
ever deleted on either side."""

import calendar
import email.utils
import os
import re
import shutil
import subprocess
import sys
import time

import harness
from harness import (ACCOUNT, add_local_message, maildir_messages, md5s, simple_message,
                     tree_snapshot)


def offlineimap_exe(test):
    exe = shutil.which("offlineimap")
    if not exe:
        test.skipTest("offlineimap (Debian offlineimap3) not installed")
    return exe


def run_offlineimap(test, conf=None):
    """One `offlineimap -o` run on conf (default test.conf); must succeed."""
    exe = offlineimap_exe(test)
    p = subprocess.run([exe, "-c", conf or test.conf, "-o", "-u", "basic"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode(errors="replace")
    print("$ offlineimap ...\n" + out, file=sys.stderr)
    test.assertEqual(p.returncode, 0, "offlineimap itself failed:\n" + out)
    return out


def names_in(root, folder):
    return sorted(m.sub + "/" + m.name for m in maildir_messages(root, folder))


WIN_RE = re.compile(r"^\d+_\d+\.\d+\.[^,/:!]+,U=(\d+),FMD5=([0-9a-f]{32})!2,([A-Za-z]*)$")


def win_flags(root, folder):
    """{uid: flag letters} of '!2,' files (maildir-windows-compatible)."""
    out = {}
    for m in maildir_messages(root, folder):
        mm = WIN_RE.match(m.name)
        assert mm, "not a maildir-windows-compatible name: %s" % m.name
        assert mm.group(2) == md5s(folder)
        assert m.sub == ("cur" if "S" in mm.group(3) else "new"), m.name
        out[int(mm.group(1))] = mm.group(3)
    return out


class TestWinCompat(harness.SyncTestCase):
    """maildir-windows-compatible: '!' instead of ':' before "2,<flags>"."""

    def test_offlineimap_windows_maildir_keeps_flags(self):
        """A Maildir written by offlineimap with maildir-windows-compatible
        is taken over as it is: every flag is read from the '!2,' names,
        so no flag is removed on the server and no file renamed (before the
        fix, 19 of 25 messages lost \\Seen/\\Flagged/\\Answered)."""
        self.load_corpus(messages=25, folders="INBOX,Archive")
        with self.server() as srv:
            srv.store("INBOX", 1, "+FLAGS", ["\\Flagged", "\\Seen"])
        self.write_config(account={"maildir-windows-compatible": "yes"})
        run_offlineimap(self)
        tree = tree_snapshot(self.mail)
        with self.server() as srv:
            before = srv.snapshot()
        flagged = sum(1 for f in before.values() for m in f[2] if m[1])
        self.assertGreater(flagged, 5, "the corpus should carry flags")
        r = self.sync()
        self.assert_contacted_server(r)
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), before, "offlinefs changed the server")
        self.assertEqual(tree_snapshot(self.mail), tree, "offlinefs changed offlineimap's Maildir")
        self.assert_nothing_copied(r)

    def test_windows_names_written_and_read(self):
        """offlinefs itself writes '!2,' names (cur/ iff S, as offlineimap),
        a flag set locally on such a name reaches the server, one set on the
        server is written back with '!', and offlineimap afterwards sees the
        Maildir as in sync (it changes nothing)."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("one"), ["\\Seen"])
            srv.append("INBOX", simple_message("two"))
            srv.append("INBOX", simple_message("three"), ["\\Answered"])
        self.write_config(account={"maildir-windows-compatible": "yes"})
        self.sync()
        self.assertEqual(win_flags(self.mail, "INBOX"), {1: "S", 2: "", 3: "R"})
        # a local change on a '!' name
        m2 = [m for m in maildir_messages(self.mail, "INBOX") if ",U=2," in m.name][0]
        os.rename(m2.path, os.path.join(self.mail, "INBOX", "cur",
                                        m2.name.replace("!2,", "!2,FS")))
        with self.server() as srv:
            srv.store("INBOX", 3, "+FLAGS", ["\\Seen"])
        self.sync()
        self.assertEqual(win_flags(self.mail, "INBOX"), {1: "S", 2: "FS", 3: "RS"})
        with self.server() as srv:
            msgs = srv.messages("INBOX")
        self.assertEqual(msgs[2].flags, ("\\Flagged", "\\Seen"))
        self.assertEqual(msgs[3].flags, ("\\Answered", "\\Seen"))
        if shutil.which("offlineimap"):
            tree = tree_snapshot(self.mail)
            with self.server() as srv:
                before = srv.snapshot()
            run_offlineimap(self)
            self.assertEqual(tree_snapshot(self.mail), tree)
            with self.server() as srv:
                self.assertEqual(srv.snapshot(), before)

    def test_other_separator_never_reads_as_flagless(self):
        """Names with the other separator are read with their flags too
        (OfflineIMAP reads them as flagless and removes those flags on the
        server: offlineimap.md 2.2). Here: '!2,' files, option off."""
        self.load_corpus(messages=10, folders="INBOX")
        self.write_config(account={"maildir-windows-compatible": "yes"})
        self.sync()
        with self.server() as srv:
            before = srv.snapshot()
        self.write_config(account={"maildir-windows-compatible": "no"})
        r = self.sync()
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), before)
        self.assert_nothing_copied(r)


if __name__ == "__main__":
    harness.main()
