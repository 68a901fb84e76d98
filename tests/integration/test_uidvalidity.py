"""A folder whose UIDVALIDITY changed is recovered (issue 12 §4,
docs/uidvalidity.md): local files re-paired with the server's messages by
their bytes, nothing deleted on either side, unmatched local messages
uploaded, unmatched server ones downloaded, the new UIDVALIDITY stored.
The skip behaviour ([Account] uidvalidity_recover = no) is
TestSync.test_uidvalidity_change_skips_folder.
"""

import collections
import os
import re
import sqlite3

import harness
from harness import add_local_message, crlf_to_lf, set_local_flags, simple_message


def edited(body):
    """The same message (same Message-ID) with different bytes."""
    return body.replace(b"Hello.", b"Hello, edited.")


class TestUidvalidity(harness.SyncTestCase):
    def renumber(self, folder, bodies_flags):
        """The server renumbers folder: deleted and created again with these
        (body, flags) messages. Returns the new UIDVALIDITY."""
        with self.server() as s:
            old = s.status(folder)["UIDVALIDITY"]
            s.delete(folder)
            s.create(folder)
            for body, flags in bodies_flags:
                s.append(folder, body, flags)
            new = s.status(folder)["UIDVALIDITY"]
        self.assertNotEqual(new, old)  # precondition
        return new

    def saved_validity(self, folder):
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(
            self.meta, "Account-" + harness.ACCOUNT, "offlinefs.sqlite"), uri=True)
        try:
            return con.execute("SELECT uidvalidity FROM folders WHERE name = ?",
                               (folder,)).fetchone()[0]
        finally:
            con.close()

    def bodies(self, folder):
        with self.server() as s:
            srv = collections.Counter(crlf_to_lf(m.body) for m in s.messages(folder).values())
        loc = collections.Counter(m.body for m in self.local_messages(folder))
        return srv, loc

    def test_recover_repairs_uploads_downloads_deletes_nothing(self):
        a, b, c, d = (simple_message("msg %s" % x) for x in "abcd")
        n_srv, n_loc = simple_message("new on server"), simple_message("new locally")
        with self.server() as s:
            s.create("Box")
            for body in (a, b, c, c, d):  # c twice: identical copies
                s.append("Box", body, ["\\Seen"])
        self.sync()
        self.assert_synced("Box")
        # local changes since the last sync: a flag, a new message
        la = [m for m in self.local_messages("Box") if m.body == a][0]
        set_local_flags(la, "FS")
        add_local_message(self.mail, "Box", n_loc)
        # the server renumbers: b edited (same Message-ID), d gone, one new
        new_validity = self.renumber("Box", [(a, ["\\Seen"]), (edited(b), ["\\Seen"]),
                                             (c, ["\\Seen"]), (c, ["\\Seen"]),
                                             (n_srv, [])])
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 0, str(r))
        line = [ln for ln in r.output.splitlines() if "UIDVALIDITY changed" in ln]
        self.assertEqual(len(line), 1, str(r))
        self.assertRegex(line[0], r"recovered: 3 re-paired, 3 to upload, 2 to download, "
                                  r"nothing deleted")
        want = collections.Counter([a, b, edited(b), c, c, d, n_srv, n_loc])
        srv, loc = self.bodies("Box")
        self.assertEqual(srv, want, "server side")
        self.assertEqual(loc, want, "local side")
        self.assert_synced("Box")
        self.assertEqual(self.saved_validity("Box"), new_validity)
        # the local flag change since the last sync reached the server
        with self.server() as s:
            fa = [m.flags for m in s.messages("Box").values() if crlf_to_lf(m.body) == a]
        self.assertEqual(fa, [("\\Flagged", "\\Seen")])
        # and the next run has nothing to do
        r = self.sync()
        self.assert_nothing_copied(r)
        self.assertEqual(self.bodies("Box"), (want, want))

    def test_recover_twice(self):
        """A folder renumbered again after a recovery (and in another
        order): the second recovery pairs by what the files hold, and
        nothing is lost or duplicated. (Recoveries cut at every step:
        tests/fault TestFaults.test_uidvalidity_recovery_cut_anywhere.)"""
        a, b = simple_message("one"), simple_message("two")
        with self.server() as s:
            s.create("Box")
            s.append("Box", a)
            s.append("Box", b)
        self.sync()
        self.renumber("Box", [(a, []), (b, [])])
        self.sync()
        self.renumber("Box", [(b, []), (a, [])])
        r = self.sync()
        self.assertRegex(r.output, r"recovered: 2 re-paired, 0 to upload, 0 to download")
        want = collections.Counter([a, b])
        self.assertEqual(self.bodies("Box"), (want, want))
        self.assert_synced("Box")

    def test_recover_killed_between_renames_and_rows(self):
        """A recovery killed (SIGKILL) after renaming the files and before
        writing the rows: the next run recovers again from what the files
        hold; nothing lost or duplicated."""
        a, b, c = simple_message("one"), simple_message("two"), simple_message("three")
        n_loc = simple_message("local new")
        with self.server() as s:
            s.create("Box")
            for body in (a, b, c):
                s.append("Box", body)
        self.sync()
        add_local_message(self.mail, "Box", n_loc)
        self.renumber("Box", [(c, []), (a, []), (b, [])])
        r = self.run_offlinefs(env={"OFFLINEFS_TEST_KILL_IN_RECOVERY": "1"})
        self.assertEqual(r.rc, -9, str(r))
        r = self.sync()
        self.assertRegex(r.output, r"recovered: 3 re-paired, 1 to upload, 0 to download")
        want = collections.Counter([a, b, c, n_loc])
        self.assertEqual(self.bodies("Box"), (want, want))
        self.assert_synced("Box")
        self.assert_nothing_copied(self.sync())

    def test_dry_run_recovers_nothing(self):
        """--dry-run on a renumbered folder changes nothing anywhere."""
        a = simple_message("one")
        with self.server() as s:
            s.create("Box")
            s.append("Box", a)
        self.sync()
        self.renumber("Box", [(a, [])])
        box = os.path.join(self.mail, "Box")
        before = harness.tree_snapshot(box)
        db = harness.sqlite_dump(os.path.join(self.meta, "Account-" + harness.ACCOUNT,
                                              "offlinefs.sqlite"))
        r = self.run_offlinefs("--dry-run")
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn("a real run would recover it", r.output)
        self.assertEqual(harness.tree_snapshot(box), before)
        self.assertEqual(harness.sqlite_dump(os.path.join(
            self.meta, "Account-" + harness.ACCOUNT, "offlinefs.sqlite")), db)


if __name__ == "__main__":
    harness.main()
