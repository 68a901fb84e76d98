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


def run_offlineimap(test, conf=None, rc=0):
    """One `offlineimap -o` run on conf (default test.conf); must exit rc."""
    exe = offlineimap_exe(test)
    p = subprocess.run([exe, "-c", conf or test.conf, "-o", "-u", "basic"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode(errors="replace")
    print("$ offlineimap ...\n" + out, file=sys.stderr)
    test.assertEqual(p.returncode, rc, "offlineimap itself failed:\n" + out)
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


DAY = 86400


def append_dated(srv, folder, body, when, flags=()):
    """APPEND with INTERNALDATE `when` (Unix time); returns the UID."""
    import imaplib
    body = harness.crlf_to_lf(body).replace(b"\n", b"\r\n")
    fl = "(%s)" % " ".join(flags) if flags else None
    typ, data = srv.c.append(srv.q(folder), fl, imaplib.Time2Internaldate(when), body)
    assert typ == "OK", data
    return int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))


def dated_message(subject, when):
    return ("From: a@example.test\nTo: user1@example.test\nSubject: %s\nDate: %s\n"
            "Message-ID: <%s@test.example>\n\nbody of %s\n"
            % (subject, email.utils.formatdate(when), harness.sha(subject.encode())[:16],
               subject)).encode()


class WindowCase(harness.SyncTestCase):
    """Helpers: a second Maildir + metadata synced by the real offlineimap
    with the same options, so the two tools can be compared."""

    def oi_config(self, **kw):
        self.oimail = os.path.join(self.client, "OIMail")
        self.oimeta = os.path.join(self.client, "oimeta")
        general = dict(kw.pop("general", None) or {})
        general["metadata"] = self.oimeta
        local = dict(kw.pop("local", None) or {})
        local["localfolders"] = self.oimail
        return self.write_config(name="oirc", general=general, local=local, **kw)

    def uids(self, root, folder="INBOX"):
        return sorted(m.uid for m in maildir_messages(root, folder))

    def dated_server(self):
        """INBOX: UIDs 1-3 dated 200 days ago, 4-6 two days ago, 7 again
        200 days ago (a high UID with an old date)."""
        now = time.time()
        with self.server() as srv:
            for i in range(7):
                when = now - (2 if 3 <= i < 6 else 200) * DAY
                append_dated(srv, "INBOX", dated_message("m%d" % (i + 1), when), when,
                             ["\\Seen"] if i % 2 else [])


class TestMaxage(WindowCase):

    def test_maxage_same_messages_as_offlineimap(self):
        """maxage = 30 syncs the same messages as offlineimap: those from
        the oldest UID dated within the window up (4-7), not the old ones."""
        self.dated_server()
        run_offlineimap(self, self.oi_config(account={"maxage": "30"}))
        self.write_config(account={"maxage": "30"})
        r = self.sync()
        self.assertEqual(self.uids(self.oimail), [4, 5, 6, 7])
        self.assertEqual(self.uids(self.mail), [4, 5, 6, 7])
        self.assertIn("outside the maxage window", r.output)
        # and a date works as well: nothing since 10 days ago but UID 4-7
        # again; then an older date takes every message in
        self.write_config(account={"maxage": time.strftime("%Y-%m-%d",
                                                           time.gmtime(time.time() - 10 * DAY))})
        self.sync()
        self.assertEqual(self.uids(self.mail), [4, 5, 6, 7])
        self.write_config(account={"maxage": time.strftime("%Y-%m-%d",
                                                           time.gmtime(time.time() - 400 * DAY))})
        self.sync()
        self.assertEqual(self.uids(self.mail), [1, 2, 3, 4, 5, 6, 7])
        self.assert_synced("INBOX")

    def test_maxage_never_deletes_outside_window(self):
        """Messages outside the window are left alone on both sides: a
        Maildir file of one gone, a server copy of another expunged, a
        flag changed: none of it is applied anywhere while maxage hides
        them, and the messages inside the window still sync both ways."""
        self.dated_server()
        self.sync()
        self.assertEqual(self.uids(self.mail), [1, 2, 3, 4, 5, 6, 7])
        # Maildir file names carry the download time: make UIDs 1-3 look
        # old locally too (as files offlineimap fetched long ago would)
        old = int(time.time() - 200 * DAY)
        for m in maildir_messages(self.mail, "INBOX"):
            if m.uid <= 3:
                os.rename(m.path, os.path.join(os.path.dirname(m.path),
                                               str(old) + m.name[m.name.index("_"):]))
        self.write_config(account={"maxage": "30"})
        local = {m.uid: m for m in maildir_messages(self.mail, "INBOX")}
        os.unlink(local[1].path)                      # gone locally, out of window
        os.unlink(local[5].path)                      # gone locally, in window
        with self.server() as srv:
            srv.expunge("INBOX", 2)                   # gone on the server, out of window
            srv.store("INBOX", 3, "+FLAGS", ["\\Flagged"])  # flagged, out of window
            srv.store("INBOX", 6, "+FLAGS", ["\\Flagged"])  # flagged, in window
        self.sync()
        with self.server() as srv:
            msgs = srv.messages("INBOX")
        self.assertEqual(sorted(msgs), [1, 3, 4, 6, 7], "the server lost or kept the wrong ones")
        self.assertEqual(self.uids(self.mail), [2, 3, 4, 6, 7])
        local = {m.uid: m for m in maildir_messages(self.mail, "INBOX")}
        self.assertNotIn("F", local[3].flags)
        self.assertIn("F", local[6].flags)
        # offlineimap on the same state deletes nothing outside the window
        # either (it is the reference for what is in it)
        if shutil.which("offlineimap"):
            with self.server() as srv:
                before = srv.snapshot()
            run_offlineimap(self, self.oi_config(account={"maxage": "30"}))
            with self.server() as srv:
                self.assertEqual(srv.snapshot(), before)
            # (its fresh Maildir gets the window: from UID 4 up)
            self.assertEqual(self.uids(self.oimail), [4, 6, 7])


class TestStartdate(WindowCase):

    def test_startdate_local_needs_empty_server_like_offlineimap(self):
        """startdate on the local repository over a server folder that is
        not empty: offlineimap syncs nothing ("Repository Remote must be
        empty"); offlinefs now does the same (it used to sync all 25),
        and says why."""
        self.load_corpus(messages=25, folders="INBOX")
        today = time.strftime("%Y-%m-%d")
        out = run_offlineimap(self, self.oi_config(local={"startdate": today}), rc=1)
        self.assertIn("must be empty", out)
        self.assertEqual(self.uids(self.oimail), [])
        self.write_config(local={"startdate": today})
        with self.server() as srv:
            before = srv.snapshot()
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("to use startdate on Repository Local, Repository Remote must be empty",
                      r.output)
        self.assertEqual(self.uids(self.mail), [])
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), before)

    def test_startdate_remote_partial_clone(self):
        """startdate on the remote repository clones the messages since the
        date (from the lowest such UID up), as offlineimap does, writes the
        same StartUID file, and later runs keep that bound: nothing below it
        is ever copied or deleted."""
        self.dated_server()
        start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * DAY))
        oirc = self.oi_config(remote={"startdate": start})
        run_offlineimap(self, oirc)
        self.write_config(remote={"startdate": start})
        self.sync()
        # the first run: only what is dated since the start (not UID 7)
        self.assertEqual(self.uids(self.oimail), [4, 5, 6])
        self.assertEqual(self.uids(self.mail), [4, 5, 6])
        run_offlineimap(self, oirc)
        self.sync()
        # later runs: every UID from the lowest of them up
        self.assertEqual(self.uids(self.oimail), [4, 5, 6, 7])
        self.assertEqual(self.uids(self.mail), [4, 5, 6, 7])
        rel = os.path.join("Repository-" + harness.REMOTE_REPO, "StartUID", "INBOX")
        with open(os.path.join(self.oimeta, rel)) as f:
            oi = f.read()
        with open(os.path.join(self.meta, rel)) as f:
            self.assertEqual(f.read(), oi)
        self.assertEqual(oi, "4\n")
        with self.server() as srv:
            srv.expunge("INBOX", 1)
            append_dated(srv, "INBOX", dated_message("new old", time.time() - 300 * DAY),
                         time.time() - 300 * DAY)
        self.sync()
        self.assertEqual(self.uids(self.mail), [4, 5, 6, 7, 8])
        with self.server() as srv:
            self.assertEqual(sorted(srv.messages("INBOX")), [2, 3, 4, 5, 6, 7, 8])

    def test_startdate_local_partial_clone_to_empty_server(self):
        """startdate on the local repository into an empty server folder:
        only the Maildir files whose name's time is since the date go up
        (offlineimap's _scanfolder(min_date)), the bound is kept in
        Repository-Local/StartUID, and the older files are never uploaded
        or deleted later (offlineimap uploads them on its second run,
        measured: 2 then 4 messages on the server)."""
        harness.make_local_folder(self.mail, "INBOX")
        old, new = int(time.time() - 100 * DAY), int(time.time())
        for i, t in enumerate((old, new, old, new)):
            p = add_local_message(self.mail, "INBOX", simple_message("l%d" % i))
            os.rename(p, os.path.join(os.path.dirname(p), "%d.M%dP1.host" % (t, i)))
        start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * DAY))
        self.write_config(local={"startdate": start})
        self.sync()
        with self.server() as srv:
            msgs = srv.messages("INBOX")
        self.assertEqual(sorted(m.body for m in msgs.values()),
                         sorted(harness.crlf_to_lf(simple_message("l%d" % i)).replace(
                             b"\n", b"\r\n") for i in (1, 3)))
        rel = os.path.join(self.meta, "Repository-" + harness.LOCAL_REPO, "StartUID", "INBOX")
        with open(rel) as f:
            self.assertEqual(f.read(), "1\n")  # no file had a UID yet: 1, as offlineimap
        names = sorted(m.name for m in maildir_messages(self.mail, "INBOX"))
        self.sync()
        self.sync()
        with self.server() as srv:
            self.assertEqual(len(srv.messages("INBOX")), 2)
        self.assertEqual(len(maildir_messages(self.mail, "INBOX")), 4)
        self.assertEqual(sorted(m.name for m in maildir_messages(self.mail, "INBOX")), names)

    def test_maxage_and_startdate_refused(self):
        """At most one of maxage and the startdates: one error line, exit
        1, nothing touched."""
        self.write_config(account={"maxage": "3"}, remote={"startdate": "2020-01-01"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1)
        self.assertIn("at most one of the following: maxage, startdate", r.output)
        self.assertFalse(os.path.exists(self.mail))
        for bad, opt in (({"account": {"maxage": "0"}}, "maxage"),
                         ({"account": {"maxage": "soon"}}, "maxage"),
                         ({"local": {"startdate": "2020-02-30"}}, "startdate"),
                         ({"remote": {"startdate": "2999-01-01"}}, "startdate")):
            self.write_config(**bad)
            r = self.run_offlinefs()
            self.assertEqual(r.rc, 1, str(r))
            self.assertRegex(r.output, r"offlineimaprc:\d+: option '%s'" % opt)
            self.assertFalse(os.path.exists(self.mail))


class TestFolderListing(WindowCase):
    """reference (LIST prefix) and subscribedonly (LSUB)."""

    FOLDERS = ["Archive", "Archive/2023", "Lists", "Lists/foo", "Sent"]

    def server_folders(self, subscribe=()):
        with self.server() as srv:
            for f in self.FOLDERS:
                srv.create(f)
            for f in self.FOLDERS + ["INBOX"]:
                srv.append(f, simple_message("in " + f))
            for f in subscribe:
                srv.c.subscribe(srv.q(f))

    def compare(self, **opts):
        run_offlineimap(self, self.oi_config(**opts))
        self.write_config(**opts)
        self.sync()
        oi = harness.maildir_folders(self.oimail)
        self.assertEqual(harness.maildir_folders(self.mail), oi)
        for f in oi:
            self.assertEqual(names_count(self.mail, f), names_count(self.oimail, f), f)
        return oi

    def test_reference_lists_under_prefix(self):
        """reference = Lists: only the folders LIST Lists "*" gives, as
        offlineimap (it used to sync every folder)."""
        self.server_folders()
        got = self.compare(remote={"reference": "Lists"})
        # Dovecot reads LIST Lists "*" as the pattern "Lists*"
        self.assertEqual(got, {"Lists", "Lists.foo"})

    def test_subscribedonly_uses_lsub(self):
        """subscribedonly = yes: only the subscribed folders, as offlineimap."""
        self.server_folders(subscribe=["INBOX", "Archive/2023", "Sent"])
        got = self.compare(remote={"subscribedonly": "yes"})
        self.assertEqual(got, {"INBOX", "Archive.2023", "Sent"})

    def test_unsubscribed_local_folder_keeps_its_status(self):
        """A folder synced before and unsubscribed since: its local copy
        still maps to it, and it is synced with its status (a message
        expunged on the server goes locally too), not "created" again with
        its status reset, which would upload the expunged message again."""
        self.server_folders(subscribe=["INBOX", "Sent"])
        with self.server() as srv:
            srv.append("Sent", simple_message("sent two"))
        self.write_config(remote={"subscribedonly": "yes"})
        self.sync()
        self.assertEqual(names_count(self.mail, "Sent"), 2)
        with self.server() as srv:
            srv.c.unsubscribe(srv.q("Sent"))
            srv.expunge("Sent", 1)
        r = self.sync()
        self.assertNotIn("Creating folder Sent", r.output)
        with self.server() as srv:
            self.assertEqual(sorted(srv.messages("Sent")), [2])
        self.assert_synced("Sent")


def header_names(body):
    head = harness.crlf_to_lf(body).split(b"\n\n", 1)[0]
    return [ln.split(b":", 1)[0].decode() for ln in head.split(b"\n")
            if ln and ln[:1] not in (b" ", b"\t")]


class TestFilterHeaders(WindowCase):

    def test_filterheaders_stripped_from_uploads(self):
        """filterheaders: the listed headers (any case, every occurrence,
        folded lines too) are missing from the copy uploaded to the server,
        as in offlineimap's upload of the same file; the local file keeps
        them and only gets its U= name; downloads are not filtered."""
        msg = (b"From: a@example.test\nX-Spam-Status: Yes, score=9\n  tests=FOO\n"
               b"To: user1@example.test\nSubject: filtered\nx-spam-status: again\n"
               b"X-Keep: 1\nMessage-ID: <f1@test.example>\n\nX-Spam-Status: in the body\n")
        with self.server() as srv:
            srv.append("INBOX", simple_message("down", extra="X-Spam-Status: down\n"))
        opts = {"account": {"filterheaders": "X-Spam-Status , X-Other"}}
        # offlineimap uploads its copy first (UID 2), then offlinefs (UID 3)
        self.oi_config(**opts)
        harness.make_local_folder(self.oimail, "INBOX")
        add_local_message(self.oimail, "INBOX", msg)
        run_offlineimap(self, os.path.join(self.client, "oirc"))
        harness.make_local_folder(self.mail, "INBOX")
        add_local_message(self.mail, "INBOX", msg)
        self.write_config(**opts)
        self.sync()
        with self.server() as srv:
            msgs = srv.messages("INBOX")
        self.assertEqual(sorted(msgs), [1, 2, 3])
        self.assertEqual(header_names(msgs[3].body), header_names(msgs[2].body))
        self.assertNotIn("X-Spam-Status", header_names(msgs[3].body))
        self.assertIn(b"X-Spam-Status: in the body", msgs[3].body)
        self.assertEqual(harness.crlf_to_lf(msgs[3].body),
                         msg.replace(b"X-Spam-Status: Yes, score=9\n  tests=FOO\n", b"")
                         .replace(b"x-spam-status: again\n", b""))
        local = {m.uid: m for m in maildir_messages(self.mail, "INBOX")}
        self.assertEqual(sorted(local), [1, 2, 3])
        self.assertEqual(local[3].body, msg, "the local file was changed")
        self.assertIn(b"X-Spam-Status: down", local[1].body, "a download was filtered")


class TestNaming(WindowCase):
    """filename_use_mail_timestamp, utime_from_header, restoreatime."""

    DATES = ["Mon, 01 Jan 2024 10:00:00 +0000", "Tue, 02 Jan 2024 11:30:00 +0130",
             "Mon, 01 Jan 2024 10:00:00 +0000", "Wed, 03 Jan 2024 09:00:00"]

    def dated_inbox(self):
        with self.server() as srv:
            for i, d in enumerate(self.DATES):
                srv.append("INBOX", ("From: a@example.test\nSubject: d%d\nDate: %s\n"
                                     "Message-ID: <d%d@test.example>\n\nbody\n"
                                     % (i, d, i)).encode())
            # no Date:, a Delivery-date:
            srv.append("INBOX", b"From: a@example.test\nSubject: dd\n"
                                b"Delivery-date: Thu, 04 Jan 2024 08:00:00 +0000\n\nbody\n")

    def by_uid(self, root):
        return {m.uid: m for m in maildir_messages(root, "INBOX")}

    def test_filename_use_mail_timestamp(self):
        """The name's time is the Date: (else Delivery-date:) as
        offlineimap computes it, with a seq per time; the option works
        from [general] as well (OfflineIMAP's fallback)."""
        self.dated_inbox()
        run_offlineimap(self, self.oi_config(local={"filename_use_mail_timestamp": "yes"}))
        self.write_config(general={"filename_use_mail_timestamp": "yes"})
        self.sync()
        oi, us = self.by_uid(self.oimail), self.by_uid(self.mail)
        self.assertEqual(sorted(oi), sorted(us))
        for uid in oi:
            self.assertEqual(us[uid].name.split("_")[0], oi[uid].name.split("_")[0],
                             "UID %d: %s vs offlineimap's %s" % (uid, us[uid].name, oi[uid].name))
        self.assertEqual(us[1].name.split("_")[0], "1704103200")
        self.assertEqual(us[5].name.split("_")[0], "1704355200")
        # the two messages of the same second get distinct seqs
        self.assertNotEqual(us[1].name.split(".")[0], us[3].name.split(".")[0])
        harness.SyncTestCase.assert_synced(self, "INBOX")

    def test_utime_from_header(self):
        """utime_from_header: the file's mtime is the Date: header, as in
        offlineimap's Maildir."""
        self.dated_inbox()
        run_offlineimap(self, self.oi_config(local={"utime_from_header": "yes"}))
        self.write_config(local={"utime_from_header": "yes"})
        self.sync()
        oi, us = self.by_uid(self.oimail), self.by_uid(self.mail)
        for uid in (1, 2, 3, 4):
            self.assertEqual(int(os.stat(us[uid].path).st_mtime),
                             int(os.stat(oi[uid].path).st_mtime), "UID %d" % uid)
        self.assertEqual(int(os.stat(us[1].path).st_mtime), 1704103200)
        self.assertEqual(int(os.stat(us[2].path).st_mtime), 1704189600)  # 11:30 +0130

    def test_restoreatime(self):
        """restoreatime: the atimes of new/ and cur/ are what they were
        before the sync (where the file system keeps atimes at all)."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("first"))
        self.sync()
        inbox = os.path.join(self.mail, "INBOX")
        old = 1000000000

        def age():
            for sub in ("new", "cur"):
                d = os.path.join(inbox, sub)
                os.utime(d, (old, os.stat(d).st_mtime))

        def atimes():
            return [int(os.stat(os.path.join(inbox, sub)).st_atime) for sub in ("new", "cur")]

        with self.server() as srv:
            srv.append("INBOX", simple_message("second"))
        age()
        self.sync()
        if atimes() == [old, old]:  # (nothing else read them meanwhile)
            self.skipTest("this file system does not update directory atimes")
        with self.server() as srv:
            srv.append("INBOX", simple_message("third"), ["\\Seen"])
        age()
        self.write_config(local={"restoreatime": "yes"})
        self.sync()
        got = atimes()  # before listing them ourselves
        self.assertEqual(len(maildir_messages(self.mail, "INBOX")), 3)
        self.assertEqual(got, [old, old])


class TestNoopOptions(harness.SyncTestCase):

    def test_noop_options_named(self):
        """retrycount, singlethreadperfolder and ignore-readonly do nothing
        in offlinefs (README: "Options without effect"): each one that is
        set is named, with its file:line and why, and the sync is as
        without it. A bad retrycount is still an error."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("one"))
        self.write_config(general={"ignore-readonly": "yes"},
                          remote={"retrycount": "5", "singlethreadperfolder": "yes"})
        r = self.sync()
        for opt in ("retrycount", "singlethreadperfolder", "ignore-readonly"):
            self.assertRegex(r.output, r"offlineimaprc:\d+: option '%s' has no effect in "
                             r"offlinefs: \w" % opt)
        self.assert_synced("INBOX")
        self.write_config(remote={"retrycount": "many"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1)
        self.assertRegex(r.output, r"offlineimaprc:\d+: option 'retrycount'")


def names_count(root, folder):
    return len(maildir_messages(root, folder))


if __name__ == "__main__":
    harness.main()
