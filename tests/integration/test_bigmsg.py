"""Big messages: memory stays bounded whatever a message's size.

Bodies from 1 MiB on are fetched in pieces (UID FETCH n (BODY.PEEK[]<off.len>))
straight into a file in the folder's tmp/ and renamed into place, instead of
being held whole (twice) in memory by libetpan. These tests check the result
byte for byte, including a CRLF split across two pieces, that the pieces are
really used, and (outside sanitizer builds, whose memory use is not the
program's) that the peak RSS of a sync of a 24 MB message stays far below it.
"""

import os
import re
import subprocess

import harness
from harness import Imap, add_local_message, maildir_messages, simple_message

PIECE = 1 << 20


def body_with_crlf_at(offset, total):
    """A message (CRLF form, as the server stores it) of `total` octets
    whose CR of some CRLF sits at exactly `offset` (so it is the last byte
    of one piece and its LF the first of the next)."""
    head = (b"From: big@example.test\r\nTo: you@example.test\r\n"
            b"Subject: big one\r\nMessage-ID: <big-%d@example.test>\r\n\r\n" % total)
    out = bytearray(head)
    line = 0
    while len(out) < total:
        room = offset - len(out)
        if 0 < room <= 78:
            out += b"y" * room + b"\r\n"  # this CR lands at `offset`
        else:
            n = 76 if total - len(out) > 78 else max(0, total - len(out) - 2)
            out += (b"%c" % (ord("a") + line % 26)) * n + b"\r\n"
        line += 1
    assert out[offset:offset + 2] == b"\r\n", "construction"
    return bytes(out)


def sanitized(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


class TestBigMessages(harness.SyncTestCase):

    def sync_peak_kib(self):
        """Runs a sync that must succeed under GNU time; its peak RSS (KiB)."""
        rss_file = os.path.join(self.tmp, "rss")
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, self.offlinefs,
                            "-c", self.conf, "-o", "-u", "quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
        with open(rss_file) as f:
            return int(f.read().split()[-1])

    def test_big_message_in_pieces_byte_exact(self):
        raw = body_with_crlf_at(PIECE - 1, 3 * PIECE + 12345)
        with Imap(self.dc, self.user) as s:
            uid = s.append("INBOX", raw)
            s.append("INBOX", simple_message("small one"))
        r = self.sync("-d", "imap")
        self.assertIn("BODY.PEEK[]<0.%d>" % PIECE, r.output)
        self.assertIn("BODY.PEEK[]<%d.%d>" % (PIECE, PIECE), r.output)
        msgs = {m.uid: m for m in maildir_messages(self.mail, "INBOX")}
        self.assertEqual(msgs[uid].body, raw.replace(b"\r\n", b"\n"))
        self.assertEqual(len(msgs), 2)
        tmp = os.listdir(os.path.join(self.mail, "INBOX", "tmp"))
        self.assertEqual(tmp, [], "files left in tmp/")
        # and the next run changes nothing (the row was recorded)
        before = harness.tree_checksum(self.mail)
        self.sync()
        self.assertEqual(harness.tree_checksum(self.mail), before)

    def test_big_message_exact_multiple_of_piece(self):
        """A message of exactly two pieces: the third request finds nothing
        to send, which must end the message, not make it look vanished."""
        raw = body_with_crlf_at(PIECE - 1, 2 * PIECE)
        self.assertEqual(len(raw), 2 * PIECE)
        with Imap(self.dc, self.user) as s:
            uid = s.append("INBOX", raw)
        self.sync()
        msgs = {m.uid: m for m in maildir_messages(self.mail, "INBOX")}
        self.assertIn(uid, msgs, "not stored")
        self.assertEqual(msgs[uid].body, raw.replace(b"\r\n", b"\n"))

    def test_big_message_memory_bounded(self):
        if sanitized(self.offlinefs):
            self.skipTest("peak RSS of a sanitizer build is not the program's")
        size = 24 << 20
        raw = body_with_crlf_at(5 * PIECE - 1, size)
        with Imap(self.dc, self.user) as s:
            uid = s.append("INBOX", raw)
        peak_kib = self.sync_peak_kib()
        msgs = {m.uid: m for m in maildir_messages(self.mail, "INBOX")}
        self.assertEqual(msgs[uid].body, raw.replace(b"\r\n", b"\n"))
        # holding the message whole even once would exceed this
        self.assertLess(peak_kib, (size >> 10) - 2048,
                        "peak RSS %d KiB syncing a %d KiB message" % (peak_kib, size >> 10))

    def test_big_folder_listed_in_slices(self):
        """A folder with more messages than one listing slice (5,000; 7 here
        through OFFLINEFS_LIST_CHUNK) is listed by sequence-number slices,
        the last one ending in '*': the result is the whole folder, with
        sparse UIDs, flags, and mail that arrives between syncs."""
        self.load_corpus(messages=40, folders="INBOX")
        with Imap(self.dc, self.user) as s:
            uids = sorted(s.messages("INBOX"))
            for u in uids[3:30:4]:
                s.expunge("INBOX", u)
            for u in uids[1:40:5]:
                s.store("INBOX", u, "+FLAGS", ["\\Flagged"])
        env = {"OFFLINEFS_LIST_CHUNK": "7", "OFFLINEFS_FULL_LISTING": "1"}
        r = self.sync("-d", "imap", env=env)
        self.assertIn("FETCH 1:7 (UID FLAGS", r.output)
        self.assertRegex(r.output, r"FETCH \d+:\* \(UID FLAGS")
        self.assert_synced("INBOX")
        with Imap(self.dc, self.user) as s:
            s.append("INBOX", simple_message("late"))
            s.expunge("INBOX", sorted(s.messages("INBOX"))[0])
        self.sync(env=env)
        self.assert_synced("INBOX")

    def big_local(self, size):
        """A local message of about `size` bytes (LF lines, one CRLF line,
        which must stay as it is) delivered to INBOX/new; returns its bytes."""
        line = b"z" * 70 + b"\n"
        body = (b"From: me@example.test\nSubject: big upload\nMessage-ID: <up-%d@example.test>"
                b"\n\nkept CRLF\r\n" % size + line * (size // len(line)))
        add_local_message(self.mail, "INBOX", body)
        return body

    def check_big_upload(self):
        self.sync()
        body = self.big_local(3 * PIECE + 999)
        r = self.sync("-d", "imap")
        want = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.assertRegex(r.output, r"APPEND \S+ .*\{%d\}" % (len(want) + (
            0 if self.EXTENSIONS else len(b"X-OfflineIMAP: ") + 2)) if self.EXTENSIONS
            else r"APPEND \S+ ")
        with Imap(self.dc, self.user) as s:
            server = s.messages("INBOX")
        got = [m for m in server.values() if b"big upload" in m.body]
        self.assertEqual(len(got), 1, "uploaded %d times" % len(got))
        raw = got[0].body
        if not self.EXTENSIONS:
            self.assertTrue(raw.startswith(b"X-OfflineIMAP: "), raw[:80])
            raw = raw.split(b"\r\n", 1)[1]
        self.assertEqual(raw, want)
        local = [m for m in maildir_messages(self.mail, "INBOX") if b"big upload" in m.body]
        self.assertEqual(len(local), 1)
        self.assertEqual(local[0].uid, got[0].uid)
        self.assertEqual(local[0].body, body)

    def test_big_upload_from_file(self):
        self.check_big_upload()

    def test_big_upload_memory_bounded(self):
        if sanitized(self.offlinefs):
            self.skipTest("peak RSS of a sanitizer build is not the program's")
        self.sync()
        size = 24 << 20
        self.big_local(size)
        peak_kib = self.sync_peak_kib()
        with Imap(self.dc, self.user) as s:
            self.assertEqual(sum(1 for m in s.messages("INBOX").values()
                                 if b"big upload" in m.body), 1)
        self.assertLess(peak_kib, (size >> 10) - 2048,
                        "peak RSS %d KiB uploading a %d KiB message" % (peak_kib, size >> 10))


class TestBigMessagesNoExtensions(harness.SyncTestCase):
    """No UIDPLUS: the streamed upload carries the X-OfflineIMAP marker and
    its UID is found by it, as for small messages."""
    EXTENSIONS = False
    check_big_upload = TestBigMessages.check_big_upload
    big_local = TestBigMessages.big_local

    def test_big_upload_from_file(self):
        self.check_big_upload()


if __name__ == "__main__":
    harness.main()
