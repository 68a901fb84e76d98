"""Uploads: several new local messages go up in one MULTIAPPEND when the
server offers MULTIAPPEND, UIDPLUS and LITERAL+ (Dovecot stores them in one
transaction: ~8x less server work than one APPEND each), and one APPEND each
otherwise. A message too big for a non-synchronizing literal (over 100 KiB)
goes in its own APPEND without keeping the others out of the batch. Either
way every message lands exactly once and its file gets the UID the server
gave it."""

import os
import re
import sqlite3

import harness
from harness import Imap, add_local_message, maildir_messages, set_local_flags, simple_message


class UploadCases(harness.SyncTestCase):

    def check_uploads(self, want_multi):
        self.load_corpus(messages=6, folders="INBOX")
        self.sync()
        bodies = [simple_message("local %d" % i, body="line\n" * (i + 1)) for i in range(12)]
        # two bigger than a LITERAL+ literal may be (100 KiB), smaller than
        # the streamed uploads (1 MiB): they must not send the rest one by one
        big = [simple_message("big %d" % i, body=("big %d line of text\n" % i) * 9000)
               for i in range(2)]
        bodies[4:4] = big[:1]
        bodies[9:9] = big[1:]
        for i, b in enumerate(bodies):
            add_local_message(self.mail, "INBOX", b, flags="S" if i % 3 == 0 else "")
        r = self.sync("-d", "imap")
        appends = re.findall(r"C: \S+ APPEND ", r.output)
        if want_multi:
            # one MULTIAPPEND for the 12 small ones, one APPEND per big one
            self.assertEqual(len(appends), 3, "not one MULTIAPPEND + 2:\n%s" % r.output)
            self.assertRegex(r.output, r"APPENDUID \d+ \d+:\d+")
            self.assertIn("Append completed", r.output)
            multi = [m for m in re.findall(r"APPENDUID \d+ (\d+):(\d+)", r.output)]
            self.assertEqual([int(b) - int(a) + 1 for a, b in multi], [12], r.output)
        else:
            self.assertEqual(len(appends), 14, r.output)
        with Imap(self.dc, self.user) as s:
            server = s.messages("INBOX")
        got = [m.body for m in server.values()]
        for b in bodies:
            n = sum(1 for x in got if harness.crlf_to_lf(x) == b or
                    harness.strip_offlineimap_marker(harness.crlf_to_lf(x)) == b)
            self.assertEqual(n, 1, "uploaded %d times: %r" % (n, b[:60]))
        local = maildir_messages(self.mail, "INBOX")
        self.assertTrue(all(m.uid for m in local), "a file without UID after the upload")
        self.assertEqual(sorted(m.uid for m in local), sorted(server))
        self.assert_synced("INBOX", strip_marker=not want_multi)
        # nothing left to do, nothing sent again
        r = self.sync("-d", "imap")
        self.assertNotRegex(r.output, r"C: \S+ APPEND ")


class TestUploads(UploadCases):
    def test_many_new_messages_one_append(self):
        self.check_uploads(want_multi=True)

    def upload_marks(self):
        path = os.path.join(self.meta, "Account-%s" % harness.ACCOUNT, "offlinefs.sqlite")
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            return con.execute("SELECT base FROM uploads").fetchall()
        finally:
            con.close()

    def test_marks_on_disk_before_append(self):
        """The uploads of a folder are marked in flight (the guard against
        uploading twice after a lost reply) and the marks are made durable
        on a thread while the flag changes and deletions go to the server
        first: the APPEND still waits for them. Afterwards no mark is
        left, and each message is on the server once."""
        self.load_corpus(messages=6, folders="INBOX")
        self.sync()
        msgs = sorted(maildir_messages(self.mail, "INBOX"), key=lambda m: m.uid)
        set_local_flags(msgs[0], "F")
        os.unlink(msgs[1].path)
        bodies = [simple_message("marked %d" % i) for i in range(3)]
        for b in bodies:
            add_local_message(self.mail, "INBOX", b)
        r = self.sync("-d", "sync,imap")
        out = r.output
        store = re.search(r"C: \S+ UID STORE ", out)
        durable = out.find("Folder INBOX: upload marks on disk")
        append = re.search(r"C: \S+ APPEND ", out)
        self.assertTrue(store and append and durable >= 0, out)
        self.assertLess(store.start(), append.start(),
                        "the flag and deletion round trip should come first:\n" + out)
        self.assertLess(durable, append.start(), "APPEND sent before the marks were on disk")
        self.assertEqual(self.upload_marks(), [])
        with Imap(self.dc, self.user) as s:
            server = s.messages("INBOX")
        for b in bodies:
            self.assertEqual(sum(1 for x in server.values() if harness.crlf_to_lf(x.body) == b),
                             1, b)
        self.assertEqual(len(server), 6 - 1 + 3)
        self.assert_synced("INBOX")


class TestUploadsNoExtensions(UploadCases):
    """No UIDPLUS (nor the other extensions) advertised: one APPEND each,
    UIDs found through the X-OfflineIMAP header as OfflineIMAP does."""
    EXTENSIONS = False

    def test_one_append_each(self):
        self.check_uploads(want_multi=False)


if __name__ == "__main__":
    harness.main()
