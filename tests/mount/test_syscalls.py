#!/usr/bin/python3
"""The live mount, one system call at a time, checked in three places.

Every test acts on the mount the way a mail reader does (rename for flags,
unlink for deletes, tmp/ + rename for new mail, rename across folders for a
move, mkdir for a folder) and checks: the mount shows it, the Maildir
underneath holds it, and the IMAP server — read back with imaplib — has it
within 1 s.  Server-side changes are checked the other way round.
tests/mount/mountharness.py explains the machinery.

Run one:  OFFLINEFS=build/tools/offlinefs python3 tests/mount/test_syscalls.py TestSyscalls.test_unlink
Exit status 77 (meson: skipped) when /dev/fuse cannot be used.
"""

import errno
import os
import re
import signal
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountharness  # noqa: E402
from harness import NAME_RE, crlf_to_lf, maildir_folders, tree_snapshot  # noqa: E402
from mountharness import (base_of_name, flags_of_name, local_index, msg,  # noqa: E402
                          with_flags)

PROPAGATION = 1.0    # a change on the mount reaches the server within this
DOWNSTREAM = 5.0     # a server change reaches the mount within this (IDLE/SIGUSR1)


def run_with_timeout(fn, timeout=5.0):
    """Run fn() in a thread; ('ok', value) / ('error', OSError) / ('hang', None)."""
    box = []

    def target():
        try:
            box.append(("ok", fn()))
        except OSError as e:
            box.append(("error", e))
        except Exception as e:  # noqa: BLE001 - reported by the caller
            box.append(("exception", e))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    return box[0] if box else ("hang", None)


class TestSyscalls(mountharness.MountTestCase):

    # ------------------------------------------------------------ reading
    def test_readdir_stat_read(self):
        """Listings, attributes and bytes through the mount equal the backing
        Maildir; reading changes nothing on the server."""
        before = self.srv.snapshot()
        self.assertEqual(sorted(os.listdir(self.mnt)), sorted(os.listdir(self.mail)))
        self.assertEqual(maildir_folders(self.mnt), {"INBOX", "Archive"})
        nfiles = 0
        for folder in ("INBOX", "Archive"):
            self.assertEqual(sorted(os.listdir(self.m(folder))), sorted(os.listdir(self.b(folder))))
            for sub in ("cur", "new", "tmp"):
                names = sorted(os.listdir(self.m(folder, sub)))
                self.assertEqual(names, sorted(os.listdir(self.b(folder, sub))), folder + "/" + sub)
                for ent in os.scandir(self.m(folder, sub)):
                    ms = ent.stat(follow_symlinks=False)
                    bs = os.lstat(self.b(folder, sub, ent.name))
                    self.assertEqual((ms.st_ino, ms.st_size, stat.S_IFMT(ms.st_mode),
                                      ms.st_mtime_ns),
                                     (bs.st_ino, bs.st_size, stat.S_IFMT(bs.st_mode),
                                      bs.st_mtime_ns), ent.name)
                    with open(ent.path, "rb") as f:
                        self.assertEqual(f.read(), harness_read(self.b(folder, sub, ent.name)))
                    nfiles += 1
        self.assertEqual(nfiles, 8)  # precondition: the seed arrived
        # The same bytes the server has, by subject.
        for folder in ("INBOX", "Archive"):
            local = local_index(self.mnt, folder)
            for sm in self.srv.messages(folder):
                self.assertEqual(local[sm.subject][0].body, crlf_to_lf(sm.body))
        time.sleep(0.3)
        self.assertEqual(self.srv.snapshot(), before, "reading changed the server")

    # ------------------------------------------------------------ flags
    def test_flag_rename_in_cur(self):
        """rename cur/x:2,S -> cur/x:2,FS sets \\Flagged on the server within
        1 s; removing it and adding R follow too.  Same inode throughout."""
        m = self.local("INBOX", "seen-1")
        self.assertEqual((m.sub, m.flags), ("cur", "S"))
        ino = os.stat(m.path).st_ino
        steps = [("FS", ("\\Flagged", "\\Seen")), ("S", ("\\Seen",)),
                 ("RS", ("\\Answered", "\\Seen"))]
        path = m.path
        for letters, want in steps:
            new = self.m("INBOX", "cur", with_flags(m.name, letters))
            os.rename(path, new)
            path = new
            self.assertTrue(os.path.exists(self.b("INBOX", "cur", os.path.basename(new))))
            self.assertEqual(os.stat(new).st_ino, ino)
            self.assert_within(lambda: self.srv.flags("INBOX", "seen-1") == want, PROPAGATION,
                               "server flags %s after rename to :2,%s" % (want, letters))
        # Nothing else moved.
        self.assertEqual(self.srv.flags("INBOX", "seen-2"), ("\\Seen",))
        self.assertEqual(self.srv.flags("INBOX", "flagged-1"), ("\\Flagged", "\\Seen"))
        self.assertEqual(len(self.srv.messages("INBOX", bodies=False)), 6)

    def test_rename_new_to_cur_seen(self):
        """rename new/x -> cur/x:2,S (mail read) sets \\Seen on the server."""
        m = self.local("INBOX", "unseen-1")
        self.assertEqual(m.sub, "new")
        self.assertEqual(self.srv.flags("INBOX", "unseen-1"), ())
        dst = self.m("INBOX", "cur", with_flags(m.name, "S"))
        os.rename(m.path, dst)
        self.assertFalse(os.path.exists(self.b("INBOX", "new", m.name)))
        self.assertEqual(harness_read(self.b("INBOX", "cur", os.path.basename(dst))), m.body)
        self.assert_within(lambda: self.srv.flags("INBOX", "unseen-1") == ("\\Seen",),
                           PROPAGATION, "\\Seen on the server after new/ -> cur/:2,S")
        self.assertEqual(self.srv.flags("INBOX", "unseen-2"), ())

    # ------------------------------------------------------------ delete
    def test_unlink(self):
        """unlink of a message expunges it on the server within 1 s (that UID
        only); the file is gone from the mount and the backing Maildir."""
        m = self.local("INBOX", "seen-2")
        uid = self.srv.by_subject("INBOX", "seen-2")[0].uid
        others = [x.uid for x in self.srv.messages("INBOX", bodies=False) if x.uid != uid]
        os.unlink(m.path)
        self.assertFalse(os.path.exists(m.path))
        self.assertFalse(os.path.exists(self.b("INBOX", m.sub, m.name)))
        self.assertNotIn(m.name, os.listdir(self.m("INBOX", m.sub)))
        self.assert_within(lambda: uid not in [x.uid for x in
                                               self.srv.messages("INBOX", bodies=False)],
                           PROPAGATION, "UID %d expunged on the server" % uid)
        self.assertEqual([x.uid for x in self.srv.messages("INBOX", bodies=False)], others)
        # Expunged, not just flagged \Deleted in some other folder.
        self.assertEqual(self.srv.by_subject("Archive", "seen-2"), [])

    # ------------------------------------------------------------ move
    def test_move_across_folders(self):
        """rename INBOX/cur/x -> Archive/cur/x: gone from INBOX on the server,
        present exactly once in Archive (same bytes); locally the same file
        (inode, content), also after the next sync — not downloaded again."""
        m = self.local("INBOX", "seen-3")
        ino = os.stat(m.path).st_ino
        src_uid = self.srv.by_subject("INBOX", "seen-3")[0].uid
        guids = self.server_guids("INBOX", "seen-3")
        self.assertEqual(len(guids), 1)
        dst = self.m("Archive", "cur", m.name)
        os.rename(m.path, dst)
        self.assertEqual(os.stat(dst).st_ino, ino)
        self.assertEqual(os.stat(self.b("Archive", "cur", m.name)).st_ino, ino)

        def moved():
            inbox = self.srv.by_subject("INBOX", "seen-3")
            arch = self.srv.by_subject("Archive", "seen-3")
            return not inbox and len(arch) == 1
        self.assert_within(moved, PROPAGATION, "UID %d moved INBOX -> Archive" % src_uid)
        arch = self.srv.by_subject("Archive", "seen-3", bodies=True)
        self.assertEqual(crlf_to_lf(arch[0].body), m.body)
        self.assertEqual(self.server_guids("Archive", "seen-3"), guids,
                         "moved on the server, not uploaded again (same Dovecot GUID)")
        self.assertEqual(arch[0].flags, ("\\Seen",))
        self.assertEqual(len(self.srv.messages("Archive", bodies=False)), 3)
        self.assertEqual(len(self.srv.messages("INBOX", bodies=False)), 5)
        # A sync barrier: a message only the next sync of Archive can bring.
        self.srv.append("Archive", msg("barrier"))
        self.signal_mount(signal.SIGUSR1)
        self.assert_within(lambda: "barrier" in local_index(self.mnt, "Archive"), 5.0,
                           "the SIGUSR1 sync brought a new server message to Archive")
        found = local_index(self.mnt, "Archive").get("seen-3", [])
        self.assertEqual(len(found), 1, "moved message in Archive: %s" % [f.name for f in found])
        self.assertEqual(os.stat(found[0].path).st_ino, ino, "the moved file was replaced")
        self.assertEqual(found[0].body, m.body)
        self.assertNotIn("seen-3", local_index(self.mnt, "INBOX"))
        self.assertEqual(len(self.srv.by_subject("Archive", "seen-3")), 1)

    # ------------------------------------------------------------ new mail
    def test_new_message_tmp_to_new(self):
        """A message written in tmp/ and renamed to new/ is appended exactly
        once.  After unmounting, `offlinefs -o` changes nothing on the server
        and gives the file its OfflineIMAP name (U= of the appended UID)."""
        path, body = self.deliver_via_mount("INBOX", "fresh-local")
        name = os.path.basename(path)
        self.assertEqual(harness_read(self.b("INBOX", "new", name)), body)
        self.assertEqual(os.listdir(self.m("INBOX", "tmp")), [])
        self.assert_within(lambda: len(self.srv.by_subject("INBOX", "fresh-local")) == 1,
                           PROPAGATION, "the new message appended to INBOX")
        self.assert_stays(lambda: len(self.srv.by_subject("INBOX", "fresh-local")) == 1, 1.0,
                          "appended more than once")
        sm = self.srv.by_subject("INBOX", "fresh-local", bodies=True)[0]
        self.assertEqual(crlf_to_lf(sm.body), body)
        self.assertEqual(sm.flags, ())
        # While mounted the reader's name stays (mutt would lose it otherwise).
        self.assertTrue(os.path.exists(path))
        self.assertEqual(self.unmount(), 0)
        before = self.srv.snapshot()
        r = self.sync()
        self.assertEqual(self.srv.snapshot(), before, "offlinefs -o changed the server:\n%s" % r)
        self.assert_nothing_copied(r)
        self.assertFalse(os.path.exists(self.b("INBOX", "new", name)),
                         "offlinefs -o did not rename %s" % name)
        lm = self.local("INBOX", "fresh-local", root=self.mail)
        self.assertRegex(lm.name, NAME_RE)
        self.assertEqual(lm.uid, sm.uid)
        self.assertEqual(lm.body, body)
        self.assert_synced("INBOX")
        self.assert_synced("Archive")
        # And the run after that is a no-op.
        snap = tree_snapshot(self.mail)
        r = self.sync()
        self.assert_nothing_copied(r)
        self.assertEqual(tree_snapshot(self.mail), snap)
        self.assertEqual(self.srv.snapshot(), before)

    def test_new_message_with_flags_in_cur(self):
        """tmp/ -> cur/x:2,FS is appended once with \\Flagged \\Seen."""
        path, body = self.deliver_via_mount("Archive", "fresh-flagged", flags="FS")
        self.assert_within(lambda: self.srv.flags("Archive", "fresh-flagged") ==
                           ("\\Flagged", "\\Seen"), PROPAGATION,
                           "appended to Archive with \\Flagged \\Seen")
        self.assert_stays(lambda: len(self.srv.by_subject("Archive", "fresh-flagged")) == 1, 0.5,
                          "appended more than once")
        self.assertEqual(harness_read(path), body)

    # ------------------------------------------------------------ folders
    def test_mkdir_folder(self):
        """mkdir X, X/cur, X/new, X/tmp on the mount creates X on the server;
        a message delivered into it right after is appended there."""
        self.assertNotIn("Projects", self.srv.folders())
        os.mkdir(self.m("Projects"))
        for sub in ("cur", "new", "tmp"):
            os.mkdir(self.m("Projects", sub))
        self.assertTrue(os.path.isdir(self.b("Projects", "tmp")))
        self.assert_within(lambda: "Projects" in self.srv.folders(), PROPAGATION,
                           "folder Projects created on the server")
        self.deliver_via_mount("Projects", "in-projects")
        self.assert_within(lambda: len(self.srv.by_subject("Projects", "in-projects")) == 1,
                           PROPAGATION, "message appended to the new folder")
        self.assertEqual(self.srv.folders(), {"INBOX", "Archive", "Projects"})

    def test_mkdir_nested_folder(self):
        """A dotted local folder (sep '.') becomes a '/' hierarchy on the server."""
        os.mkdir(self.m("Archive.2024"))
        for sub in ("cur", "new", "tmp"):
            os.mkdir(self.m("Archive.2024", sub))
        self.assert_within(lambda: "Archive/2024" in self.srv.folders(), PROPAGATION,
                           "folder Archive/2024 created on the server")
        m = self.local("Archive", "arch-1")
        os.rename(m.path, self.m("Archive.2024", "cur", m.name))
        self.assert_within(lambda: (self.srv.subjects("Archive/2024") == ["arch-1"] and
                                    "arch-1" not in self.srv.subjects("Archive")),
                           PROPAGATION, "arch-1 moved into Archive/2024",
                           show=lambda: {f: self.srv.messages(f, bodies=False)
                                         for f in ("Archive", "Archive/2024")})

    # ------------------------------------------------------------ attributes
    def test_utimens(self):
        """utime on a message and on a directory works through the mount and
        reaches the backing files; it is not a change for the server."""
        before = self.srv.snapshot()
        m = self.local("INBOX", "seen-1")
        t = 1_600_000_000_123_456_789
        os.utime(m.path, ns=(t, t + 10**9))
        st = os.stat(self.b("INBOX", "cur", m.name))
        self.assertEqual((st.st_atime_ns, st.st_mtime_ns), (t, t + 10**9))
        self.assertEqual(os.stat(m.path).st_mtime_ns, t + 10**9)
        os.utime(m.path)  # "now"
        now = time.time()
        self.assertLess(abs(os.stat(self.b("INBOX", "cur", m.name)).st_mtime - now), 5)
        self.assertLess(abs(os.stat(m.path).st_mtime - now), 5)
        os.utime(self.m("INBOX", "cur"), ns=(t, t))
        self.assertEqual(os.stat(self.b("INBOX", "cur")).st_mtime_ns, t)
        self.assertEqual(os.stat(self.m("INBOX", "cur")).st_mtime_ns, t)
        self.assertEqual(harness_read(m.path), m.body)
        time.sleep(0.3)
        self.assertEqual(self.srv.snapshot(), before)

    def test_unsupported_ops_fail_fast(self):
        """link, mknod and symlink get EPERM (docs/mount.md) at once — never a
        hang — and leave no trace; the mount keeps serving."""
        m = self.local("INBOX", "seen-1")
        before = tree_snapshot(self.mail)
        ops = {
            "link": lambda: os.link(m.path, self.m("INBOX", "cur", "hardlink:2,S")),
            "mknod": lambda: os.mknod(self.m("INBOX", "new", "fifo"), 0o600 | stat.S_IFIFO),
            "symlink": lambda: os.symlink("../cur/" + m.name, self.m("INBOX", "new", "sym")),
        }
        for what, fn in ops.items():
            t0 = time.monotonic()
            kind, val = run_with_timeout(fn, 5.0)
            self.assertNotEqual(kind, "hang", "%s on the mount hangs" % what)
            self.assertEqual(kind, "error", "%s on the mount: %s %r" % (what, kind, val))
            self.assertEqual(val.errno, errno.EPERM, "%s: %s" % (what, val))
            self.assertLess(time.monotonic() - t0, 2.0, what)
        self.assertEqual(tree_snapshot(self.mail), before)
        self.assertEqual(sorted(os.listdir(self.m("INBOX", "cur"))),
                         sorted(os.listdir(self.b("INBOX", "cur"))))
        self.assertEqual(len(self.srv.messages("INBOX", bodies=False)), 6)

    # ------------------------------------------------------------ server side
    def test_server_delivery_appears(self):
        """Mail delivered on the server (doveadm save) shows up in the mount's
        INBOX/new within a few seconds (IDLE, no signal), byte-identical, and
        the mtime of INBOX/new seen through the mount changes."""
        mtime0 = os.stat(self.m("INBOX", "new")).st_mtime_ns
        names0 = set(os.listdir(self.m("INBOX", "new")))
        time.sleep(0.02)  # a distinct mtime even on coarse clocks
        body = msg("delivered")
        self.dc.deliver(self.user, "INBOX", body)
        took = self.assert_within(lambda: "delivered" in local_index(self.mnt, "INBOX"),
                                  DOWNSTREAM, "delivered message visible on the mount")
        print("delivery visible after %.3f s" % took, file=sys.stderr)
        lm = self.local("INBOX", "delivered")
        self.assertEqual(lm.sub, "new")
        self.assertEqual(lm.body, body)
        self.assertIn(lm.name, set(os.listdir(self.m("INBOX", "new"))) - names0)
        self.assertTrue(os.path.exists(self.b("INBOX", "new", lm.name)))
        self.assert_within(lambda: os.stat(self.m("INBOX", "new")).st_mtime_ns != mtime0, 1.0,
                           "mtime of INBOX/new changed on the mount")
        self.assertEqual(os.stat(self.m("INBOX", "new")).st_mtime_ns,
                         os.stat(self.b("INBOX", "new")).st_mtime_ns)

    def test_server_flag_change_after_sigusr1(self):
        """A flag set on the server (in a folder nobody IDLEs on) reaches the
        mount after the sync SIGUSR1 triggers: new name visible, old gone."""
        m = self.local("Archive", "arch-1")
        uid = self.srv.by_subject("Archive", "arch-1")[0].uid
        self.srv.store("Archive", uid, "+FLAGS", ["\\Flagged"])
        self.signal_mount(signal.SIGUSR1)
        want = with_flags(m.name, "FS")

        def flagged():
            return sorted(os.listdir(self.m("Archive", "cur"))).count(want) == 1
        self.assert_within(flagged, DOWNSTREAM, "\\Flagged from the server on the mount")
        self.assertFalse(os.path.exists(m.path), "old name still served by the mount")
        self.assertTrue(os.path.exists(self.b("Archive", "cur", want)))
        self.assertEqual(harness_read(self.m("Archive", "cur", want)), m.body)
        self.assertEqual(self.srv.flags("Archive", "arch-1"), ("\\Flagged", "\\Seen"))

    def test_server_expunge_after_sigusr1(self):
        """A message expunged on the server disappears from the mount after
        the next sync."""
        m = self.local("Archive", "arch-2")
        uid = self.srv.by_subject("Archive", "arch-2")[0].uid
        with self.server() as s:
            s.expunge("Archive", uid)
        self.signal_mount(signal.SIGUSR1)
        self.assert_within(lambda: not os.path.exists(m.path), DOWNSTREAM,
                           "expunged message gone from the mount")
        self.assertFalse(os.path.exists(self.b("Archive", m.sub, m.name)))
        self.assertNotIn(m.name, os.listdir(self.m("Archive", m.sub)))

    # ------------------------------------------------------------ CLI
    def test_sync_refused_while_mounted(self):
        """`offlinefs -o` while the account is mounted refuses, saying why,
        and touches neither side."""
        snap = tree_snapshot(self.mail)
        before = self.srv.snapshot()
        r = self.run_offlinefs()
        self.assertNotEqual(r.rc, 0, "offlinefs -o ran while mounted:\n%s" % r)
        self.assertRegex(r.output.lower(), r"mount", "the refusal does not say why:\n%s" % r)
        self.assertTrue(self.mnt in r.output or ACCOUNT_RE.search(r.output),
                        "the refusal names neither the mountpoint nor the account:\n%s" % r)
        self.assertEqual(tree_snapshot(self.mail), snap)
        self.assertEqual(self.srv.snapshot(), before)
        self.assert_mount_alive()

    def test_status_shows_mount(self):
        """`offlinefs status` names the mountpoint and 0 pending ops once the
        outbox drained; after unmounting it no longer lists the mount."""
        m = self.local("INBOX", "seen-1")
        os.rename(m.path, self.m("INBOX", "cur", with_flags(m.name, "FS")))
        self.assert_within(lambda: self.srv.flags("INBOX", "seen-1") == ("\\Flagged", "\\Seen"),
                           PROPAGATION, "flag reached the server")
        r = self.status()
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn(self.mnt, r.output, "status does not show the mountpoint:\n%s" % r)
        self.assertIn(mountharness.ACCOUNT, r.output)
        self.assert_within(lambda: self.pending() == 0, 1.0, "status shows 0 pending ops")
        self.assertEqual(self.unmount(), 0)
        r = self.status()
        self.assertNotIn(self.mnt, r.output, "status still shows the mount after unmount:\n%s" % r)


class TestDuringSync(mountharness.MountTestCase):
    """Changes made on the mount while a full sync is running.

    The worker drains the outbox before a sync and ops wait for its end
    (sync/live.c), but the sync itself scans the Maildir as it goes: a
    message moved from a folder it already synced into one it has not yet
    reached, or a new file there, is seen by both the sync and the queued op.
    A big download into Bulk (synced between Archive and INBOX) holds the
    sync open while the test acts; the test checks that the sync really was
    still running afterwards (else it fails its precondition, not the
    product)."""

    SEED = dict(mountharness.MountTestCase.SEED, Bulk=[])
    BULK = 1500

    def hold_sync_in_bulk(self):
        """Fill Bulk on the server, start a full sync (SIGUSR1) and return
        once it is downloading Bulk (Archive done, INBOX not yet)."""
        filler = "x" * 60 + "\n"
        with self.server() as s:
            for i in range(self.BULK):
                s.append("Bulk", msg("bulk-%05d" % i, filler * 150))
        self.signal_mount(signal.SIGUSR1)
        self.assertTrue(mountharness.wait_until(
            lambda: 0 < self.bulk_local() < self.BULK // 2, 20.0, step=0.002),
            "precondition: never caught the sync inside Bulk (%d of %d local)"
            % (self.bulk_local(), self.BULK))

    def bulk_local(self):
        return sum(len(os.listdir(self.b("Bulk", sub))) for sub in ("new", "cur"))

    def assert_still_in_bulk(self):
        self.assertLess(self.bulk_local(), self.BULK,
                        "precondition: the sync left Bulk before the changes were made; "
                        "raise BULK")

    def settle(self):
        """The sync is over and the outbox drained."""
        self.assert_within(lambda: self.bulk_local() == self.BULK and self.queued() == 0, 60.0,
                           "the full sync ended and the outbox drained")

    def test_move_during_sync(self):
        """Archive -> INBOX while the sync is in Bulk: on the server the
        message ends up once in INBOX and not in Archive."""
        m = self.local("Archive", "arch-1")
        self.hold_sync_in_bulk()
        os.rename(m.path, self.m("INBOX", "cur", m.name))
        self.assert_still_in_bulk()
        self.settle()
        state = lambda: {f: self.srv.subjects(f) for f in ("Archive", "INBOX")}  # noqa: E731
        self.assert_within(lambda: (self.srv.subjects("INBOX").count("arch-1") == 1 and
                                    "arch-1" not in self.srv.subjects("Archive")), 5.0,
                           "arch-1 once in INBOX, gone from Archive", show=state)
        self.assert_stays(lambda: (self.srv.subjects("INBOX").count("arch-1") == 1 and
                                   "arch-1" not in self.srv.subjects("Archive")), 1.0,
                          "arch-1 came back: %s" % state())
        self.assertEqual(self.unmount(), 0)
        before = self.srv.snapshot()
        self.sync()
        self.assertEqual(self.srv.snapshot(), before)
        for folder in ("INBOX", "Archive"):
            self.assert_synced(folder)
        self.assertEqual(len(local_index(self.mail, "INBOX")["arch-1"]), 1)
        self.assertNotIn("arch-1", local_index(self.mail, "Archive"))

    def test_new_message_and_flag_during_sync(self):
        """A new message (tmp -> new) and a flag rename in INBOX while the
        sync is in Bulk: appended once, flag set, nothing duplicated."""
        m = self.local("INBOX", "seen-1")
        self.hold_sync_in_bulk()
        self.deliver_via_mount("INBOX", "during-sync")
        os.rename(m.path, self.m("INBOX", "cur", with_flags(m.name, "FS")))
        self.assert_still_in_bulk()
        self.settle()
        self.assert_within(lambda: (self.srv.subjects("INBOX").count("during-sync") == 1 and
                                    self.srv.flags("INBOX", "seen-1") == ("\\Flagged", "\\Seen")),
                           5.0, "new message once and flag set",
                           show=lambda: self.srv.messages("INBOX", bodies=False))
        self.assert_stays(lambda: self.srv.subjects("INBOX").count("during-sync") == 1, 1.0,
                          "during-sync duplicated")
        self.assertEqual(len(self.srv.messages("INBOX", bodies=False)), 7)
        self.assertEqual(self.unmount(), 0)
        before = self.srv.snapshot()
        self.sync()
        self.assertEqual(self.srv.snapshot(), before)
        self.assert_synced("INBOX")
        self.assertEqual(len(local_index(self.mail, "INBOX")["during-sync"]), 1)


ACCOUNT_RE = re.compile(r"\b%s\b" % re.escape(mountharness.ACCOUNT))


def harness_read(path):
    with open(path, "rb") as f:
        return f.read()


# Names used in asserts above, kept importable for other test files.
__all__ = ["TestSyscalls", "base_of_name", "flags_of_name"]

if __name__ == "__main__":
    mountharness.main()
