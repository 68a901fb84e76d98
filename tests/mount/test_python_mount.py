#!/usr/bin/python3
"""The live mount under a nametrans pair (docs/python.md): the server's
INBOX is the Maildir folder `inbox`, whose files carry FMD5=md5('INBOX')
(the local nametrans' name). A flag change and a new message on the mount
reach the server's INBOX, and no synced message is taken for a new one
(which a wrong FMD5 in the observer would do: it would upload it again).
Exit status 77 (meson: skipped) when /dev/fuse cannot be used.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountharness  # noqa: E402
from harness import md5s  # noqa: E402
from mountharness import with_flags  # noqa: E402

PROPAGATION = 1.0


class TestMountNametrans(mountharness.MountTestCase):

    def write_config(self, general=None, account=None, local=None, remote=None, name=None,
                     raw=None):
        remote = dict(remote or {})
        remote.setdefault("nametrans", "lambda f: re.sub('^INBOX$', 'inbox', f)")
        local = dict(local or {})
        local.setdefault("nametrans", "lambda f: re.sub('^inbox$', 'INBOX', f)")
        return super().write_config(general, account, local, remote, name, raw)

    def test_flag_and_new_message_reach_translated_folder(self):
        m = self.local("inbox", "seen-1")
        self.assertEqual(m.fmd5, md5s("INBOX"))
        os.rename(m.path, self.m("inbox", "cur", with_flags(m.name, "FS")))
        self.assert_within(lambda: self.srv.flags("INBOX", "seen-1") == ("\\Flagged", "\\Seen"),
                           PROPAGATION, "\\Flagged set on the server's INBOX")
        # a synced file restored under its own name is not a new message
        other = self.local("inbox", "seen-2")
        with open(other.path, "rb") as f:
            body = f.read()
        os.unlink(other.path)
        self.assert_within(lambda: len(self.srv.by_subject("INBOX", "seen-2")) == 0,
                           PROPAGATION, "the unlink deleted seen-2 on the server")
        self.deliver_via_mount("inbox", "fresh-local")
        self.assert_within(lambda: len(self.srv.by_subject("INBOX", "fresh-local")) == 1,
                           PROPAGATION, "the new message appended to INBOX")
        self.assert_stays(lambda: len(self.srv.messages("INBOX", bodies=False)) == 6, 1.0,
                          "INBOX holds more than the seed minus one plus one")
        self.assertNotIn("fresh-local", self.srv.subjects("Archive"))
        self.assertTrue(body)
        self.assertEqual(self.unmount(), 0)
        r = self.sync()
        self.assert_nothing_copied(r)


if __name__ == "__main__":
    mountharness.main()
