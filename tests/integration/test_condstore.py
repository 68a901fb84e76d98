"""Cheap resync (docs/protocol.md): skipping unchanged folders (LIST-STATUS /
pipelined STATUS + local directory mtimes) and CHANGEDSINCE listings.

The central check: a sync that builds the server listing from CHANGEDSINCE
and the status rows must end exactly where a sync with full listings
(OFFLINEFS_FULL_LISTING=1) ends. Two server users get the same start state
and the same random server and local changes; account A syncs normally,
account B with full listings; both servers and both Maildirs must then hold
the same messages with the same flags.
"""

import os
import random
import re
import time

import harness
from harness import (Imap, add_local_message, maildir_messages, set_local_flags,
                     sha, simple_message, strip_offlineimap_marker, crlf_to_lf)

FOLDERS = ("INBOX", "Archive")
FLAGS = ("\\Seen", "\\Flagged", "\\Answered")


def local_view(root, sep="."):
    """{folder: sorted [(flags, sha(body))]} of a Maildir (UIDs differ between
    the two accounts once uploads happen in readdir order)."""
    out = {}
    for f in FOLDERS:
        msgs = maildir_messages(root, harness.local_name(f, sep))
        out[f] = sorted((m.flags, sha(strip_offlineimap_marker(m.body))) for m in msgs)
    return out


def server_view(dc, user):
    out = {}
    with Imap(dc, user) as s:
        for f in FOLDERS:
            out[f] = sorted((to_letters(m.flags),
                             sha(strip_offlineimap_marker(crlf_to_lf(m.body))))
                            for m in s.messages(f).values())
    return out


def to_letters(flags):
    return "".join(sorted(harness.IMAP2MAILDIR[f] for f in flags if f in harness.IMAP2MAILDIR))


class CondstoreCases(harness.SyncTestCase):
    """The checks; run by the two classes below, with and without the
    server's extensions (methods named check_* so the registry sees only
    the classes' own test_* wrappers)."""

    USERS = 2
    SEED = 7

    def setUp(self):
        super().setUp()
        self.user_b = self.dc.users[1]["user"]
        self.mail_b = os.path.join(self.client, "MailB")
        self.meta_b = os.path.join(self.client, "metadataB")
        self.conf_a = self.conf
        self.conf_b = self.write_config(
            general={"metadata": self.meta_b}, local={"localfolders": self.mail_b},
            remote={"remoteuser": self.user_b, "remotepass": self.dc.users[1]["password"]},
            name="rcB")
        self.conf = self.conf_a

    def sync_both(self, *args):
        ra = self.sync(*args, "-d", "imap", conf=self.conf_a)
        rb = self.sync(*args, conf=self.conf_b, env={"OFFLINEFS_FULL_LISTING": "1"})
        return ra, rb

    def server_change(self, rng, n):
        """The same random server changes for both users (same UIDs: both
        mailboxes got the same APPENDs in the same order)."""
        plan = []
        with Imap(self.dc, self.user) as s:
            for f in FOLDERS:
                uids = sorted(s.messages(f))
                for _ in range(n):
                    kind = rng.choice(("flag", "flag", "unflag", "expunge", "append"))
                    if kind in ("flag", "unflag", "expunge") and not uids:
                        continue
                    if kind == "append":
                        plan.append((f, kind, simple_message("new %d" % rng.randrange(10**9)),
                                     rng.sample(FLAGS, rng.randrange(2))))
                    else:
                        uid = rng.choice(uids)
                        if kind == "expunge":
                            uids.remove(uid)
                        plan.append((f, kind, uid, [rng.choice(FLAGS)]))
        for user in (self.user, self.user_b):
            with Imap(self.dc, user) as s:
                for f, kind, arg, flags in plan:
                    if kind == "append":
                        s.append(f, arg, flags)
                    elif kind == "expunge":
                        s.expunge(f, arg)
                    else:
                        s.store(f, arg, "+FLAGS" if kind == "flag" else "-FLAGS", flags)

    def local_change(self, rng, n):
        """The same random local changes in both Maildirs (by content: the
        two accounts upload new local files in their own readdir order, so
        the same message can have different UIDs in the two)."""
        plan = []
        for f in FOLDERS:
            msgs = [m for m in maildir_messages(self.mail, harness.local_name(f)) if m.uid]
            for _ in range(n):
                kind = rng.choice(("flags", "flags", "delete", "new"))
                if kind == "new":
                    plan.append((f, kind, simple_message("local %d" % rng.randrange(10**9)),
                                 to_letters(rng.sample(FLAGS, rng.randrange(2)))))
                elif msgs:
                    m = msgs.pop(rng.randrange(len(msgs)))
                    plan.append((f, kind, sha(strip_offlineimap_marker(m.body)),
                                 to_letters(rng.sample(FLAGS, rng.randrange(3)))))
        for root in (self.mail, self.mail_b):
            for f, kind, arg, letters in plan:
                lf = harness.local_name(f)
                if kind == "new":
                    add_local_message(root, lf, arg, flags=letters)
                    continue
                m = [x for x in maildir_messages(root, lf)
                     if x.uid and sha(strip_offlineimap_marker(x.body)) == arg]
                if not m:
                    continue  # the other Maildir lacks it: views will differ anyway
                if kind == "delete":
                    os.unlink(m[0].path)
                else:
                    set_local_flags(m[0], letters)

    def assert_same(self, what):
        la, lb = local_view(self.mail), local_view(self.mail_b)
        self.assertEqual(la, lb, "%s: the Maildirs differ" % what)
        sa, sb = server_view(self.dc, self.user), server_view(self.dc, self.user_b)
        self.assertEqual(sa, sb, "%s: the servers differ" % what)
        self.assertEqual(sa, la, "%s: server and Maildir differ" % what)

    def start_state(self, rng, per_folder=25):
        for user in (self.user, self.user_b):
            r = random.Random(self.SEED)
            with Imap(self.dc, user) as s:
                if "Archive" not in s.folders():
                    s.create("Archive")
                for f in FOLDERS:
                    for i in range(per_folder):
                        s.append(f, simple_message("%s %d" % (f, i)),
                                 r.sample(FLAGS, r.randrange(3)))
        self.sync_both()
        self.assert_same("initial")

    def check_changedsince_equals_full_listing(self):
        """Random server and local changes over several rounds: the
        CHANGEDSINCE sync and the full-listing sync end identical."""
        rng = random.Random(self.SEED)
        self.start_state(rng)
        used = vanished = searched = False
        for rnd in range(4):
            self.server_change(rng, 6)
            if rnd % 2:
                self.local_change(rng, 4)
            ra, _ = self.sync_both()
            used = used or "CHANGEDSINCE" in ra.output
            vanished = vanished or "VANISHED)" in ra.output
            searched = searched or "UID SEARCH ALL" in ra.output
            self.assert_same("round %d" % rnd)
        # a no-op round
        self.sync_both()
        self.assert_same("no-op")
        if self.EXTENSIONS:
            self.assertTrue(used, "the normal sync never used CHANGEDSINCE")
            # QRESYNC: vanished UIDs from VANISHED (EARLIER), no UID list
            self.assertTrue(vanished, "QRESYNC advertised but CHANGEDSINCE ... VANISHED never sent")
            self.assertFalse(searched, "UID SEARCH ALL sent although QRESYNC is enabled")
        else:
            self.assertFalse(used, "CHANGEDSINCE sent though CONDSTORE is not advertised")
            self.assertFalse(vanished, "VANISHED sent though QRESYNC is not advertised")

    def check_unchanged_folders_skipped(self):
        """Right after a sync, a run with no changes selects nothing (the
        sync proves its own result settled, no waiting); a local or a server
        change made at once after a sync is still seen."""
        rng = random.Random(self.SEED)
        self.start_state(rng, per_folder=5)
        args = ("-q",) if not self.EXTENSIONS else ()
        self.sync(*args)  # initial: downloads everything, records mtimes
        r = self.sync(*args, "-d", "imap,maildir")
        self.assertEqual(r.output.count("not selected"), len(FOLDERS), r)
        self.assertNotIn(" SELECT ", r.output)
        self.assertNotIn(" EXAMINE ", r.output)
        # the initial sync recorded trusted mtimes for every folder (its
        # last folders after waiting out the clock tick): not even a listing
        self.assertNotRegex(r.output, r"Maildir\[[^]]*\]: listed", r)
        # the folder listing showed the separator: no LIST "" "" round trip
        self.assertNotIn('LIST "" ""', r.output)
        # LOGOUT is sent, its reply not awaited (a round trip per run)
        self.assertRegex(r.output, r"C: \S+ LOGOUT")
        self.assertNotIn("Logout completed", r.output)
        self.assertRegex(r.output, r"separator '/' \(from the folder listing\)")
        # several connections allowed, nothing to do: only the first opens
        self.conf = self.write_config(remote={"maxconnections": "3"})
        r = self.sync(*args, "-d", "imap")
        self.assertEqual(r.output.count("not selected"), len(FOLDERS), r)
        self.assertEqual(r.output.count("AUTHENTICATE"), 1, r.output)
        if not self.EXTENSIONS:
            # without CONDSTORE a normal run never trusts the server's STATUS
            r = self.sync()
            self.assertNotIn("not selected", r.output)
            self.sync(*args)
        # local flag changes made immediately after a sync, within the same
        # clock tick as its last look at the directory more often than not
        for i, m in enumerate([x for x in maildir_messages(self.mail, "INBOX") if x.uid][:4]):
            renamed = set_local_flags(m, "FS" if i % 2 == 0 else "S") != m.path
            r = self.sync(*args, "-d", "maildir")
            if renamed:
                # INBOX is listed twice: once to find out that it changed
                # (that listing is also the one its sync works from) and
                # once more, off the critical path, to record its settled
                # mtimes
                self.assertEqual(len(re.findall(r"Maildir\[INBOX\]: listed", r.output)), 2, r)
            with Imap(self.dc, self.user) as s:
                got = s.messages("INBOX")[m.uid].flags
            self.assertEqual("\\Flagged" in got, i % 2 == 0, "change %d missed: %s" % (i, got))
        # a new local file right after a sync
        add_local_message(self.mail, "Archive", simple_message("local arrival"))
        self.sync(*args)
        with Imap(self.dc, self.user) as s:
            self.assertTrue(any(b"local arrival" in x.body for x in s.messages("Archive").values()),
                            "new local mail not uploaded")
        # a server change (new mail): UIDNEXT and MESSAGES move
        with Imap(self.dc, self.user) as s:
            s.append("Archive", simple_message("late arrival"))
        self.sync(*args)
        bodies = [m.body for m in maildir_messages(self.mail, "Archive")]
        self.assertTrue(any(b"late arrival" in b for b in bodies), "new server mail missed")
        if self.EXTENSIONS:
            # a server flag change alone: only HIGHESTMODSEQ moves
            with Imap(self.dc, self.user) as s:
                uid = max(s.messages("INBOX"))
                s.store("INBOX", uid, "+FLAGS", ["\\Answered"])
            r = self.sync("-d", "imap")
            got = [x for x in maildir_messages(self.mail, "INBOX") if x.uid == uid]
            self.assertIn("R", got[0].flags)
            # the SELECT itself asked for the change (QRESYNC): no FETCH
            # CHANGEDSINCE round trip after it
            self.assertRegex(r.output, r'C: \S+ SELECT "?INBOX"? \(QRESYNC \(\d+ \d+\)\)')
            self.assertIn("from the SELECT: 1 changed, 0 vanished", r.output)
            self.assertNotIn("CHANGEDSINCE", r.output)
            # a new message needs its size: then the FETCH follows
            with Imap(self.dc, self.user) as s:
                s.append("INBOX", simple_message("arrived after QRESYNC"))
            r = self.sync("-d", "imap")
            self.assertIn("(QRESYNC (", r.output)
            self.assertIn("CHANGEDSINCE", r.output)
            self.assertTrue(any(b"arrived after QRESYNC" in x.body
                                for x in maildir_messages(self.mail, "INBOX")))
        # and once all that is synced, the next run again selects nothing
        self.sync(*args)
        r = self.sync(*args, "-d", "imap")
        self.assertEqual(r.output.count("not selected"), len(FOLDERS), r)
        self.assertEqual(r.output.count("AUTHENTICATE"), 1, r.output)
        # two folders with work: one more connection (of the 3 allowed)
        with Imap(self.dc, self.user) as s:
            s.append("Archive", simple_message("two at once 1"))
            s.append("INBOX", simple_message("two at once 2"))
        r = self.sync(*args, "-d", "imap")
        self.assertEqual(r.output.count("AUTHENTICATE"), 2, r.output)
        self.assertEqual(r.output.count("not selected"), len(FOLDERS) - 2, r)


    def check_changes_during_sync_never_hidden(self):
        """A mail reader renames a file while a sync runs, after the sync
        listed the folder (it is busy downloading new server mail): that
        rename is not part of what the sync did, so the next run must still
        carry it to the server, not skip the folder as settled."""
        import subprocess
        rng = random.Random(self.SEED + 7)
        self.start_state(rng, per_folder=10)
        args = ("-q",) if not self.EXTENSIONS else ()
        self.sync(*args)
        for rnd in range(3):
            with Imap(self.dc, self.user) as s:
                for i in range(150):
                    s.append("INBOX", simple_message("round %d mail %d" % (rnd, i), body="x" * 4000))
            victim = [m for m in maildir_messages(self.mail, "INBOX") if m.uid][rnd]
            want = "FS" if "F" not in victim.flags else "S"
            p = subprocess.Popen([self.offlinefs, "-c", self.conf, "-o", "-u", "basic",
                                  "-d", "maildir"] + list(args),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            renamed = False
            for line in p.stderr:
                if not renamed and b"Maildir[INBOX]: listed" in line:
                    set_local_flags(victim, want)
                    renamed = True
            p.wait()
            self.assertEqual(p.returncode, 0)
            self.assertTrue(renamed, "no listing of INBOX seen in the -d maildir trace")
            self.sync(*args)
            with Imap(self.dc, self.user) as s:
                got = to_letters(s.messages("INBOX")[victim.uid].flags)
            self.assertEqual("F" in got, "F" in want,
                             "round %d: rename during the sync never reached the server" % rnd)


class TestCondstore(CondstoreCases):
    """All extensions advertised: LIST-STATUS probe, CONDSTORE CHANGEDSINCE."""

    def test_changedsince_equals_full_listing(self):
        self.check_changedsince_equals_full_listing()

    def test_unchanged_folders_skipped(self):
        self.check_unchanged_folders_skipped()

    def test_changes_during_sync_never_hidden(self):
        self.check_changes_during_sync_never_hidden()


class TestCondstoreNoExtensions(CondstoreCases):
    """The same against a server that advertises no CONDSTORE, QRESYNC,
    LIST-STATUS, UIDPLUS or MOVE (Dovecot still executes them: offlinefs
    must go by the advertised capabilities only): pipelined STATUS probe,
    full listings, skipping only with -q."""

    EXTENSIONS = False

    def test_changedsince_equals_full_listing(self):
        self.check_changedsince_equals_full_listing()

    def test_unchanged_folders_skipped(self):
        self.check_unchanged_folders_skipped()

    def test_changes_during_sync_never_hidden(self):
        self.check_changes_during_sync_never_hidden()


if __name__ == "__main__":
    harness.main()
