"""A sync killed (SIGKILL: no clean-up of any kind) while it downloads loses
and duplicates nothing; nor does losing the status rows a sync committed
(the sync's row batches are committed without waiting for the disk, see
cache/status.h: a power cut may lose them).

Downloads are written to tmp/, their data synced in batches and only then
renamed into new/ or cur/, and the status rows are committed only after
that (cache/maildir.h). So whenever the process dies:
  - every file under new/ or cur/ is whole (its bytes are the server's);
  - the server keeps every message (no row ever claims a file that is not
    there, which the next run would take for a local deletion);
  - the next run completes the folder with each message exactly once.
The kill points are taken from the -d maildir trace (a file renamed into
place): at the first and further in, in the middle of a batch.
"""

import os
import signal
import sqlite3
import subprocess

import shutil

import harness
from harness import (Imap, add_local_message, crlf_to_lf, maildir_messages, set_local_flags,
                     simple_message)

FOLDERS = ("INBOX", "Archive")


class TestKilledDuringDownload(harness.SyncTestCase):

    def server_counts(self):
        with Imap(self.dc, self.user) as s:
            return {f: len(s.messages(f)) for f in FOLDERS}

    def rows_have_files(self, why):
        """Every committed status row names a file under new/ or cur/ (the
        database is opened as the next run would, WAL included)."""
        db = os.path.join(self.meta, "Account-%s" % harness.ACCOUNT, "offlinefs.sqlite")
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            rows = con.execute("SELECT f.name, m.uid FROM messages m JOIN folders f "
                               "ON f.id = m.folder_id").fetchall()
        finally:
            con.close()
        have = {}
        for name, uid in rows:
            if name not in have:
                have[name] = {m.uid for m in maildir_messages(self.mail,
                                                              harness.local_name(name, "."))}
            self.assertIn(uid, have[name], "%s: row for UID %d of %s, no file" % (why, uid, name))
        return len(rows)

    def test_kill_during_download_loses_nothing(self):
        self.load_corpus(messages=800, folders=",".join(FOLDERS), attach_pct=5.0)
        before = self.server_counts()
        self.assertEqual(sum(before.values()), 800)
        self.assertGreater(before["INBOX"], 520)
        # Kill points: the 505th download into INBOX (just after the
        # first status commit, 500 rows, while a batch of files waits for
        # its sync), then the 1st and the 70th file a run renames into place
        # (mid-batch: some renamed, the rest still in tmp/).
        kills = 0
        for rnd, (what, kill_at) in enumerate(((b"IMAP[INBOX] -> Maildir", 505), (b": stored ", 1),
                                               (b": stored ", 70))):
            p = subprocess.Popen([self.offlinefs, "-c", self.conf, "-o", "-u", "basic",
                                  "-d", "maildir,sync"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            seen = 0
            killed = False
            for line in p.stderr:
                seen += what in line
                if seen >= kill_at:
                    p.send_signal(signal.SIGKILL)
                    killed = True
                    break
            p.stderr.close()
            p.wait()
            if not killed:
                break  # the run finished before the kill point: nothing to check
            kills += 1
            why = "round %d (killed at %s #%d)" % (rnd, what.decode().strip(": "), kill_at)
            rows = self.rows_have_files(why)
            if rnd == 0:
                self.assertGreaterEqual(rows, 500 + before["Archive"],
                                        "%s: no commit before the kill" % why)
            # what is under new/ and cur/ is whole: the server's bytes
            with Imap(self.dc, self.user) as s:
                for f in FOLDERS:
                    server = s.messages(f)
                    for m in maildir_messages(self.mail, harness.local_name(f, ".")):
                        self.assertIn(m.uid, server, "%s: %s has no server copy" % (why, m.name))
                        self.assertEqual(m.body, crlf_to_lf(server[m.uid].body),
                                         "%s: %s is not whole" % (why, m.name))
            self.assertEqual(self.server_counts(), before, "%s: server lost mail" % why)
            # the next (killed or complete) run goes on from there
        self.assertEqual(kills, 3, "a run finished before being killed")
        self.sync()
        self.assertEqual(self.server_counts(), before, "server lost mail")
        for f in FOLDERS:
            self.assert_synced(f)
        local = sum(len(maildir_messages(self.mail, harness.local_name(f, "."))) for f in FOLDERS)
        self.assertEqual(local, 800)
        # and a run after that has nothing to do
        r = self.sync()
        self.assert_nothing_copied(r)


class TestLostStatusRows(harness.SyncTestCase):

    def test_lost_rows_lose_nothing(self):
        """The status rows of a whole sync are lost (the database is put
        back to its state before that sync, as a power cut may do to
        commits that did not wait for the disk): the next sync compares
        again and ends with both sides complete, nothing deleted, nothing
        twice."""
        self.load_corpus(messages=60, folders=",".join(FOLDERS))
        self.sync()
        saved = os.path.join(self.tmp, "meta-before")
        shutil.copytree(self.meta, saved)
        # changes on both sides, of every kind
        with Imap(self.dc, self.user) as s:
            uids = sorted(s.messages("INBOX"))
            for i in range(8):
                s.append("INBOX", simple_message("server new %d" % i))
            s.store("INBOX", uids[0], "+FLAGS", ["\\Flagged"])
            s.expunge("INBOX", uids[1])
        local = maildir_messages(self.mail, "Archive")
        set_local_flags(local[0], "RS")
        os.unlink(local[1].path)
        for i in range(3):
            add_local_message(self.mail, "Archive", simple_message("local new %d" % i))
        self.sync()
        with Imap(self.dc, self.user) as s:
            want = {f: sorted(s.messages(f)) for f in FOLDERS}
        for f in FOLDERS:
            self.assert_synced(f)
        # every row that sync committed is lost
        shutil.rmtree(self.meta)
        shutil.copytree(saved, self.meta)
        self.sync()
        with Imap(self.dc, self.user) as s:
            got = {f: sorted(s.messages(f)) for f in FOLDERS}
        self.assertEqual(got, want, "the server lost or gained messages")
        for f in FOLDERS:
            self.assert_synced(f)
        r = self.sync()
        self.assert_nothing_copied(r)


if __name__ == "__main__":
    harness.main()
