#!/usr/bin/python3
"""Options offlinefs cannot honour are never ignored in silence (issue 11 §2).

An ignored option (usecompression, Gmail labels, keyring, XOAUTH2) is named
in one warning with file:line, once per run however many accounts share
its section, and the sync still happens; an option that would change how
or where the mail goes (proxy, tunnels) is refused, every one of them in
one error, before anything is created.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import simple_message  # noqa: E402


class TestOptionNotes(harness.SyncTestCase):

    def test_ignored_option_warned_once_and_sync_works(self):
        """Two accounts share [general] (ignore-keyring): said once. Each
        remote section has usecompression: said once per section."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("noted"))
        base = open(self.conf).read()
        second = os.path.join(self.client, "Mail2")
        text = base.replace("accounts = Test", "accounts = Test, Second\nignore-keyring = yes")
        text = text.replace("ssl = yes", "ssl = yes\nusecompression = yes")
        remote = text[text.index("[Repository Remote]"):]
        text += "\n[Account Second]\nlocalrepository = Local2\nremoterepository = Remote2\n"
        text += "synclabels = no\n"  # a false boolean: ignoring it is what it asks
        text += "\n[Repository Local2]\ntype = Maildir\nlocalfolders = %s\n" % second
        text += "\n" + remote.replace("[Repository Remote]", "[Repository Remote2]")
        self.write_config(raw=text)
        r = self.sync()
        self.assert_contacted_server(r)
        lines = r.output.splitlines()
        keyring = [ln for ln in lines if "option 'ignore-keyring'" in ln]
        self.assertEqual(len(keyring), 1, "one warning for [general]:\n%s" % r)
        self.assertRegex(keyring[0], r"offlineimaprc:\d+: option 'ignore-keyring' in section "
                         r"'general' is not supported by offlinefs \(.*\); ignored")
        comp = [ln for ln in lines if "option 'usecompression'" in ln]
        self.assertEqual(len(comp), 2, "one warning per remote section:\n%s" % r)
        self.assertIn("section 'Repository Remote'", comp[0] + comp[1])
        self.assertIn("section 'Repository Remote2'", comp[0] + comp[1])
        self.assertNotIn("synclabels", r.output)
        self.assert_synced("INBOX")
        self.assertEqual(len(harness.maildir_messages(second, "INBOX")), 1)

    def test_refused_options_named_in_one_run(self):
        self.write_config(account={"proxy": "SOCKS5:127.0.0.1:9050"},
                          remote={"preauthtunnel": "ssh host imapd"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("option 'proxy' in section 'Account Test'", r.output)
        self.assertIn("option 'preauthtunnel' in section 'Repository Remote' is a shell "
                      "command", r.output)
        self.assertNotIn("Python", r.output)
        self.assertEqual(sorted(os.listdir(self.client)), ["offlineimaprc"],
                         "nothing may be created:\n%s" % r)


if __name__ == "__main__":
    harness.main()
