#!/usr/bin/python3
"""Several accounts and the autorefresh loop: [general] maxsyncaccounts
(accounts synced at the same time, one forked process each) and
[Account] quick (quick syncs between full ones), against a real Dovecot.

Why: with maxsyncaccounts = N > 1 the accounts run in child processes; what
a user relies on is that each account still ends exactly as a sequential
sync would leave it, that the exit status is combined as before, that a
signal to offlinefs reaches the children, and that quick = N really makes
N of every N+1 autorefresh syncs quick.  Quick is only observable on a
server without CONDSTORE (with it quick and full runs skip the same
folders), so the quick tests use one: a server flag change is missed by a
quick sync and picked up by the next full one.

Run one test:  OFFLINEFS=build/tools/offlinefs python3 tests/integration/test_accounts.py TestAccounts.test_concurrent_accounts_sync
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Imap, maildir_messages, simple_message, tree_snapshot  # noqa: E402

import corpus as corpus_mod  # noqa: E402  (harness put tests/fixture on sys.path)
import dovecot as dovecot_mod  # noqa: E402

WAIT = 60  # seconds for a round of the autorefresh loop / a process to end
NAME_PID = re.compile(r"^\d+_\d+\.(\d+)\.")


def children_of(pid):
    """pids of the live processes whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(d))
    return sorted(out)


def proc_status(pid):
    """/proc/PID/status as a dict, {} when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return {k: v.strip() for k, v in
                    (ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)}
    except OSError:
        return {}


def sigint_default(pid):
    """Whether pid neither blocks nor catches SIGINT (an account process past
    its start-up, where it unblocks the signals the parent had blocked)."""
    bit = 1 << (signal.SIGINT - 1)
    st = proc_status(pid)
    return bool(st) and not (int(st["SigBlk"], 16) & bit) and not (int(st["SigCgt"], 16) & bit)


def pid_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class Daemon:
    """offlinefs running in the background (autorefresh loop); its stdout and
    stderr go to one file that the test reads as it grows."""

    def __init__(self, tc, argv):
        self.tc = tc
        self.path = os.path.join(tc.tmp, "daemon-%d.log" % len(tc.runs))
        self.f = open(self.path, "wb")
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.f,
                                  stderr=subprocess.STDOUT)
        tc.addCleanup(self.kill)

    def output(self):
        return harness.read_text(self.path)

    def wait_for(self, what, count=1, timeout=WAIT):
        """Wait until `what` (a regex) occurs count times in the output."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.output()
            if len(re.findall(what, out)) >= count:
                return out
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.tc.fail("waited for %d x %r; exit %s, output:\n%s"
                             % (count, what, self.p.poll(), out))
            time.sleep(0.02)

    def wait_exit(self, timeout=WAIT):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.tc.fail("offlinefs did not end:\n%s" % self.output())
        print("$ %s\nexit %d\n--- output\n%s" % (" ".join(self.argv), self.p.returncode,
                                                  self.output()), file=sys.stderr)
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            for c in children_of(self.p.pid):
                os.kill(c, signal.SIGKILL)
            self.p.kill()
            self.p.wait()
        self.f.close()


class AccountsCase(harness.SyncTestCase):
    """Two server users, two accounts A (user 1, MailA) and B (user 2,
    MailB) in one config, sharing the metadata directory."""

    USERS = 2

    def setUp(self):
        super().setUp()
        self.users = {"A": self.dc.users[0], "B": self.dc.users[1]}
        self.roots = {n: os.path.join(self.client, "Mail" + n) for n in "AB"}

    def two_accounts(self, general=None, a=None, b=None, name="rc2"):
        """Write the two-account config; dicts add options (None drops one)."""
        lines = ["# two accounts, written by test_accounts.py", "", "[general]"]
        gen = {"accounts": "A, B", "metadata": self.meta}
        gen.update(general or {})
        lines += ["%s = %s" % kv for kv in gen.items() if kv[1] is not None]
        for n, extra in (("A", a), ("B", b)):
            user = self.users[n]
            acc = {"localrepository": "Local" + n, "remoterepository": "Remote" + n}
            rem = {"type": "IMAP", "remotehost": "localhost",
                   "remoteport": str(self.dc.imaps_port), "remoteuser": user["user"],
                   "remotepass": user["password"], "ssl": "yes",
                   "sslcacertfile": self.dc.cafile}
            for k, v in (extra or {}).items():
                (rem if k.startswith("remote") or k == "maxconnections" else acc)[k] = v
            lines += ["", "[Account %s]" % n]
            lines += ["%s = %s" % kv for kv in acc.items() if kv[1] is not None]
            lines += ["", "[Repository Local%s]" % n, "type = Maildir",
                      "localfolders = %s" % self.roots[n]]
            lines += ["", "[Repository Remote%s]" % n]
            lines += ["%s = %s" % kv for kv in rem.items() if kv[1] is not None]
        return self.write_config(raw="\n".join(lines) + "\n", name=name)

    def fill(self, n, messages, folders="INBOX,Archive", seed=1):
        """Load a generated corpus into account n's server mailbox."""
        out = os.path.join(self.tmp, "corpus-%s" % n)
        gen = harness._import_gen_corpus()
        gen.generate(out, seed, gen.parse_folders(folders), messages, 0, 10.0)
        corpus_mod.load_corpus(self.dc, self.users[n]["user"], out, "imap")

    def assert_account_synced(self, n, folders=("INBOX",)):
        """Server and Maildir of account n hold the same messages and flags."""
        saved = self.mail
        self.mail = self.roots[n]
        try:
            with Imap(self.dc, self.users[n]["user"]) as srv:
                for f in folders:
                    server, local = self.assert_synced(f, srv=srv)
                    self.assertTrue(server, "precondition: %s/%s is empty" % (n, f))
        finally:
            self.mail = saved

    def file_pids(self, n, folder="INBOX"):
        """The <pid> field of every message file name in account n's folder:
        the process that wrote it."""
        pids = set()
        for m in maildir_messages(self.roots[n], folder):
            mm = NAME_PID.match(m.name)
            self.assertTrue(mm, m.name)
            pids.add(int(mm.group(1)))
        return pids

    def daemon(self, *args, conf=None):
        argv = [self.offlinefs, "-c", conf or self.conf, "-u", "basic"] + list(args)
        d = Daemon(self, argv)
        self.runs.append(d)
        return d

    def server_procs(self):
        """The fixture Dovecot's processes (master and descendants)."""
        return [self.dc.pid] + dovecot_mod._descendants(self.dc.pid)

    def freeze_server(self, d, n=2):
        """Wait until d runs n account processes (past their start-up, where
        they unblock SIGINT) and SIGSTOP the whole Dovecot: the accounts then
        wait for the server and cannot finish, so what a signal to d does
        to them does not depend on timing.  (Stopping the account processes
        themselves would not do: a stopped and continued process gets EINTR
        from reads on sockets with a timeout, signal(7).)"""
        deadline = time.monotonic() + WAIT
        while len([c for c in children_of(d.p.pid) if sigint_default(c)]) < n:
            if d.p.poll() is not None or time.monotonic() > deadline:
                self.fail("never saw %d account processes:\n%s" % (n, d.output()))
            time.sleep(0.002)
        procs = self.server_procs()
        self.addCleanup(self.thaw_server, procs)
        for pid in procs:
            os.kill(pid, signal.SIGSTOP)
        # stopped, or dead: a child that exited just as the master was
        # stopped stays a zombie (its parent cannot reap it), and is as
        # harmless as a stopped one
        while not all(proc_status(c).get("State", "T")[:1] in "TZX" for c in procs):
            if time.monotonic() > deadline:
                self.fail("Dovecot never stopped")
            time.sleep(0.002)
        self.assertNotIn("*** Finished account", d.output(),
                         "precondition: an account finished before the server was stopped")
        return children_of(d.p.pid), procs

    @staticmethod
    def thaw_server(procs):
        for pid in procs:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def wait_gone(self, pids, what):
        deadline = time.monotonic() + WAIT
        while not all(pid_gone(c) for c in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        for c in pids:
            self.assertTrue(pid_gone(c), "%s: account process %d still alive" % (what, c))


class TestAccounts(AccountsCase):
    """maxsyncaccounts: accounts in parallel processes."""

    def test_concurrent_accounts_sync(self):
        """maxsyncaccounts = 2: both accounts sync completely in one run, in
        two processes running at the same time (each account's files carry
        its own writer pid, and both accounts start before either ends);
        with -1 the same config syncs one account after the other in one
        process."""
        self.fill("A", 40)
        self.fill("B", 40, seed=2)
        conf = self.two_accounts(general={"maxsyncaccounts": "2"})
        r = self.sync(conf=conf)
        for n in "AB":
            self.assert_account_synced(n, ("INBOX", "Archive"))
        lines = r.out.splitlines()
        starts = [i for i, ln in enumerate(lines) if ln.startswith("*** Processing account")]
        ends = [i for i, ln in enumerate(lines) if ln.startswith("*** Finished account")]
        self.assertEqual((len(starts), len(ends)), (2, 2), str(r))
        self.assertLess(max(starts), min(ends),
                        "an account finished before the other started:\n%s" % r)
        pa, pb = self.file_pids("A"), self.file_pids("B")
        self.assertEqual((len(pa), len(pb)), (1, 1), "one writer per account: %s %s" % (pa, pb))
        self.assertNotEqual(pa, pb, "both accounts written by one process")

        # -1: one account at a time, in the offlinefs process itself
        with Imap(self.dc, self.users["A"]["user"]) as s:
            s.append("INBOX", simple_message("sequential A"))
        with Imap(self.dc, self.users["B"]["user"]) as s:
            s.append("INBOX", simple_message("sequential B"))
        r = self.sync("-1", conf=conf)
        for n in "AB":
            self.assert_account_synced(n)
        lines = r.out.splitlines()
        order = [ln.split()[1] for ln in lines if ln.startswith("*** ")]
        self.assertEqual(order, ["Processing", "Finished", "Processing", "Finished"], str(r))
        new = [m for n in "AB" for m in maildir_messages(self.roots[n], "INBOX")
               if b"sequential" in m.body]
        self.assertEqual(len(new), 2)
        self.assertEqual(len({NAME_PID.match(m.name).group(1) for m in new}), 1,
                         "-1 still used a process per account: %s" % [m.name for m in new])

    def test_exit_status_combined(self):
        """The children's exit statuses combine as the sequential loop's:
        UIDVALIDITY skip + OK -> 2 (and the final warning, once); a wrong
        password + UIDVALIDITY skip -> 1; the good account is synced
        either way."""
        with Imap(self.dc, self.users["A"]["user"]) as s:
            s.create("Box")
            s.append("Box", simple_message("old"))
            s.append("INBOX", simple_message("a1"))
            old_validity = s.status("Box")["UIDVALIDITY"]
        with Imap(self.dc, self.users["B"]["user"]) as s:
            s.append("INBOX", simple_message("b1"))
        # the skip (exit 2) of a renumbered folder is the opt-out of its recovery
        conf = self.two_accounts(general={"maxsyncaccounts": "2"},
                                 a={"uidvalidity_recover": "no"})
        self.sync(conf=conf)
        with Imap(self.dc, self.users["A"]["user"]) as s:
            s.delete("Box")
            s.create("Box")
            s.append("Box", simple_message("new world"))
            self.assertNotEqual(s.status("Box")["UIDVALIDITY"], old_validity)  # precondition
        with Imap(self.dc, self.users["B"]["user"]) as s:
            s.append("INBOX", simple_message("b2"))
        box = tree_snapshot(os.path.join(self.roots["A"], "Box"))

        r = self.run_offlinefs(conf=conf)
        self.assertEqual(r.rc, 2, str(r))
        self.assertEqual(r.err.count("At least one folder skipped due to UID validity"), 1, str(r))
        self.assertEqual(tree_snapshot(os.path.join(self.roots["A"], "Box")), box)
        self.assert_account_synced("B")
        self.assertEqual(len(maildir_messages(self.roots["B"], "INBOX")), 2)

        with Imap(self.dc, self.users["A"]["user"]) as s:
            s.append("INBOX", simple_message("a2"))
        bad = self.two_accounts(general={"maxsyncaccounts": "2"},
                                a={"uidvalidity_recover": "no"},
                                b={"remotepass": "wrong"}, name="rc-bad")
        r = self.run_offlinefs(conf=bad)
        self.assertEqual(r.rc, 1, str(r))
        self.assertRegex(r.err, r"ERROR: Account B: ", str(r))
        self.assertNotIn("At least one folder skipped", r.err)
        self.assert_account_synced("A")
        self.assertEqual(len(maildir_messages(self.roots["A"], "INBOX")), 2)

        # and a wrong password alone: 1, the other account synced
        with Imap(self.dc, self.users["B"]["user"]) as s:
            s.append("INBOX", simple_message("b3"))
        bad = self.two_accounts(general={"maxsyncaccounts": "2"},
                                a={"remotepass": "wrong"}, name="rc-bad-a")
        r = self.run_offlinefs(conf=bad)
        self.assertEqual(r.rc, 1, str(r))
        self.assertRegex(r.err, r"ERROR: Account A: ", str(r))
        self.assert_account_synced("B")
        self.assertEqual(len(maildir_messages(self.roots["B"], "INBOX")), 3)

    def test_bad_maxsyncaccounts(self):
        """maxsyncaccounts that is not a whole number >= 1: one error line
        naming the file and line, exit 1, nothing synced."""
        with Imap(self.dc, self.users["A"]["user"]) as s:
            s.append("INBOX", simple_message("x"))
        logins = self.server_logins()
        for value in ("0", "-2", "two", "1.5", ""):
            with self.subTest(value=value):
                conf = self.two_accounts(general={"maxsyncaccounts": value}, name="rc-m")
                lineno = harness.read_text(conf).splitlines().index(
                    "maxsyncaccounts = %s" % value) + 1
                r = self.run_offlinefs(conf=conf)
                self.assertEqual(r.rc, 1, str(r))
                err = [ln for ln in r.err.splitlines() if ln.strip()]
                self.assertEqual(len(err), 1, "expected one error line:\n%s" % r)
                self.assertIn("%s:%d: option 'maxsyncaccounts' in section 'general'"
                              % (conf, lineno), err[0])
                self.assertEqual(r.out, "")
        self.assertFalse(os.path.exists(self.meta), "metadata created")
        for n in "AB":
            self.assertFalse(os.path.exists(self.roots[n]), "Maildir %s created" % n)
        time.sleep(0.2)  # the server logs asynchronously
        self.assertEqual(self.server_logins(), logins, "offlinefs logged in")
        # the same value from -k is named as such
        conf = self.two_accounts(name="rc-ok")
        r = self.run_offlinefs("-k", "maxsyncaccounts=0", conf=conf)
        self.assertEqual(r.rc, 1, str(r))
        self.assertRegex(r.err, r"^offlinefs: command line \(-k\): option 'maxsyncaccounts'")

    FOLDERS = ("INBOX", "Archive", "Drafts", "Lists")

    def assert_stopped_between_folders(self, n):
        """Account n's Maildir: every folder either complete or empty (never
        half synced), and not all of them complete (the account stopped
        between two folders, not at its end)."""
        with Imap(self.dc, self.users[n]["user"]) as srv:
            complete = 0
            for f in self.FOLDERS:
                local = maildir_messages(self.roots[n], f) if os.path.isdir(
                    os.path.join(self.roots[n], f)) else []
                if local:
                    saved = self.mail
                    self.mail = self.roots[n]
                    try:
                        self.assert_synced(f, srv=srv)
                    finally:
                        self.mail = saved
                    complete += 1
            self.assertLess(complete, len(self.FOLDERS),
                            "account %s synced every folder despite SIGTERM" % n)

    def test_sigterm_stops_accounts_after_current_folder(self):
        """SIGTERM to offlinefs while two account processes sync (the server
        frozen so nothing depends on timing): as offlineimap(1) says, each
        account finishes the folder it is syncing and starts no other; the
        signal never interrupts their I/O: no half-synced folder, no error,
        exit 0, no new round, no process left. The next run syncs the rest."""
        folders = ",".join(self.FOLDERS)
        self.fill("A", 150, folders=folders)
        self.fill("B", 150, folders=folders, seed=2)
        conf = self.two_accounts(general={"maxsyncaccounts": "2"},
                                 a={"autorefresh": "0.02", "maxconnections": "1"},
                                 b={"autorefresh": "0.02", "maxconnections": "1"})
        d = self.daemon(conf=conf)
        kids, server = self.freeze_server(d)
        os.kill(d.p.pid, signal.SIGTERM)
        d.wait_for(r"Received SIGTERM: stopping after the folders being synced", count=3)
        self.assertIsNone(d.p.poll(), "offlinefs left its account processes behind:\n%s"
                          % d.output())
        self.assertFalse(any(pid_gone(c) for c in kids), "SIGTERM ended an account process")
        self.thaw_server(server)
        self.assertEqual(d.wait_exit(), 0)
        out = d.output()
        for n in "AB":
            self.assertEqual(out.count("*** Processing account %s" % n), 1, out)
            self.assertEqual(out.count("Account %s: SIGTERM: not starting folder" % n), 1, out)
            self.assert_stopped_between_folders(n)
        self.assertNotIn("Next refresh", out)
        self.assertNotIn("ERROR", out)
        self.wait_gone(kids, "after exit")
        self.sync(conf=conf)
        for n in "AB":
            self.assert_account_synced(n, self.FOLDERS)

    def test_second_sigterm_ends_everything(self):
        """A second SIGTERM ends offlinefs at once (exit 1; offlineimap(1):
        "more than one SIGTERM will behave like SIGQUIT"), and with it the
        account processes; the next run syncs everything."""
        self.fill("A", 150)
        self.fill("B", 150, seed=2)
        conf = self.two_accounts(general={"maxsyncaccounts": "2"})
        d = self.daemon("-o", conf=conf)
        kids, server = self.freeze_server(d)
        for _ in range(2):
            os.kill(d.p.pid, signal.SIGTERM)
            time.sleep(0.05)
        self.assertEqual(d.wait_exit(), 1)
        self.wait_gone(kids, "after the second SIGTERM")
        out = d.output()
        self.assertNotIn("*** Finished account", out)
        self.assertIn("Received SIGTERM again: stopping at once", out)
        self.thaw_server(server)
        self.sync(conf=conf)
        for n in "AB":
            self.assert_account_synced(n, ("INBOX", "Archive"))

    def test_sigint_graceful_then_immediate(self):
        """SIGINT to offlinefs alone (not its process group) while two
        account processes sync (the server frozen): the first asks for a
        graceful stop (the children are told with SIGTERM and keep going),
        the second ends them at once and offlinefs dies of SIGINT, as a
        sequential run does; the next run syncs everything."""
        self.fill("A", 150)
        self.fill("B", 150, seed=2)
        conf = self.two_accounts(general={"maxsyncaccounts": "2"})
        d = self.daemon("-o", conf=conf)
        kids, server = self.freeze_server(d)
        os.kill(d.p.pid, signal.SIGINT)
        d.wait_for(r"Received SIGINT: stopping after the folders being synced; no other account")
        d.wait_for(r"Received SIGTERM: stopping after the folders being synced", count=2)
        self.assertFalse(any(pid_gone(c) for c in kids), "the first SIGINT ended an account")
        os.kill(d.p.pid, signal.SIGINT)
        self.assertEqual(d.wait_exit(), -signal.SIGINT)
        self.wait_gone(kids, "after the second SIGINT")
        out = d.output()
        self.assertNotIn("*** Finished account", out)
        self.assertNotIn("killed by signal", out)
        self.thaw_server(server)
        self.sync(conf=conf)
        for n in "AB":
            self.assert_account_synced(n, ("INBOX", "Archive"))


class TestQuick(AccountsCase):
    """[Account] quick against a server without CONDSTORE."""

    EXTENSIONS = False

    def flag_on_server(self, n, uid):
        with Imap(self.dc, self.users[n]["user"]) as s:
            s.store("INBOX", uid, "+FLAGS", ["\\Flagged"])

    def local_flagged(self, root, uid):
        m = [x for x in maildir_messages(root, "INBOX") if x.uid == uid]
        self.assertEqual(len(m), 1, "UID %d not in %s" % (uid, root))
        return "F" in m[0].flags

    def modes(self, out, account):
        return re.findall(r"^Account %s: (quick|full) sync$" % account, out, re.M)

    def test_quick_sequence(self):
        """quick = 2 in autorefresh mode (rounds woken by SIGUSR1): full,
        quick, quick, full, quick. A server flag change is missed by the
        quick syncs and picked up by the next full one; SIGTERM while
        waiting ends the loop with exit 0."""
        with Imap(self.dc, self.user) as s:
            self.assertNotIn("CONDSTORE", s.c.capabilities)  # precondition
            for i in range(5):
                s.append("INBOX", simple_message("m%d" % i))
        self.write_config(account={"autorefresh": "10", "quick": "2"})
        d = self.daemon()
        d.wait_for("Next refresh", 1)
        uids = sorted(m.uid for m in self.local_messages("INBOX"))
        self.assertEqual(len(uids), 5)
        for rnd, uid in ((2, uids[0]), (3, uids[1])):
            self.flag_on_server("A", uid)
            os.kill(d.p.pid, signal.SIGUSR1)
            d.wait_for("Next refresh", rnd)
            self.assertFalse(self.local_flagged(self.mail, uid),
                             "round %d (quick) picked up a server flag change" % rnd)
        os.kill(d.p.pid, signal.SIGUSR1)
        d.wait_for("Next refresh", 4)
        self.assertTrue(self.local_flagged(self.mail, uids[0]), "round 4 (full) missed it")
        self.assertTrue(self.local_flagged(self.mail, uids[1]), "round 4 (full) missed it")
        os.kill(d.p.pid, signal.SIGUSR1)
        out = d.wait_for("Next refresh", 5)
        os.kill(d.p.pid, signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        self.assertEqual(self.modes(out, harness.ACCOUNT),
                         ["full", "quick", "quick", "full", "quick"], out)
        self.assertEqual(out.count("*** Processing account"), 5, out)

    def test_quick_per_account_concurrent(self):
        """With maxsyncaccounts = 2 the quick count is kept per account
        across rounds (the parent's, not the short-lived children's):
        A (quick = 2) full, quick, quick, full; B (quick = -1) always quick."""
        for n in "AB":
            with Imap(self.dc, self.users[n]["user"]) as s:
                for i in range(3):
                    s.append("INBOX", simple_message("%s%d" % (n, i)))
        conf = self.two_accounts(general={"maxsyncaccounts": "2"},
                                 a={"autorefresh": "10", "quick": "2"},
                                 b={"autorefresh": "10", "quick": "-1"})
        d = self.daemon(conf=conf)
        d.wait_for("Next refresh", 1)
        uid = min(m.uid for m in maildir_messages(self.roots["A"], "INBOX"))
        self.flag_on_server("A", uid)
        for rnd in (2, 3):
            os.kill(d.p.pid, signal.SIGUSR1)
            d.wait_for("Next refresh", rnd)
            self.assertFalse(self.local_flagged(self.roots["A"], uid),
                             "round %d (quick) picked up a server flag change" % rnd)
        os.kill(d.p.pid, signal.SIGUSR1)
        out = d.wait_for("Next refresh", 4)
        self.assertTrue(self.local_flagged(self.roots["A"], uid), "round 4 (full) missed it")
        os.kill(d.p.pid, signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        self.assertEqual(self.modes(out, "A"), ["full", "quick", "quick", "full"], out)
        self.assertEqual(self.modes(out, "B"), ["quick"] * 4, out)
        for n in "AB":
            self.assert_account_synced(n)

    def test_quick_once_and_q(self):
        """-o runs one full sync despite quick = 2; -q (and quick = -1) make
        it quick; without quick or -q nothing is announced and the sync is
        full."""
        with Imap(self.dc, self.user) as s:
            for i in range(3):
                s.append("INBOX", simple_message("m%d" % i))
        self.write_config(account={"autorefresh": "10", "quick": "2"})
        r = self.sync()
        self.assertEqual(self.modes(r.output, harness.ACCOUNT), ["full"], str(r))
        uids = sorted(m.uid for m in self.local_messages("INBOX"))
        self.flag_on_server("A", uids[0])
        r = self.sync("-q")
        self.assertEqual(self.modes(r.output, harness.ACCOUNT), ["quick"], str(r))
        self.assertFalse(self.local_flagged(self.mail, uids[0]), "-q picked up a flag change")
        self.write_config(account={"quick": "-1"})
        r = self.sync()
        self.assertEqual(self.modes(r.output, harness.ACCOUNT), ["quick"], str(r))
        self.assertFalse(self.local_flagged(self.mail, uids[0]),
                         "quick = -1 picked up a flag change")
        self.write_config(account={"quick": "2"})
        r = self.sync()
        self.assertEqual(self.modes(r.output, harness.ACCOUNT), ["full"], str(r))
        self.assertTrue(self.local_flagged(self.mail, uids[0]), "-o (full) missed it")
        self.flag_on_server("A", uids[1])
        self.write_config()
        r = self.sync()
        self.assertEqual(self.modes(r.output, harness.ACCOUNT), [], str(r))
        self.assertTrue(self.local_flagged(self.mail, uids[1]), "a plain sync missed it")

    def test_bad_quick(self):
        """quick that is not an integer: one error line naming the file and
        line, exit 1, nothing synced (also with -o: the value is read for
        every sync, as OfflineIMAP does)."""
        with Imap(self.dc, self.user) as s:
            s.append("INBOX", simple_message("x"))
        for value in ("often", "1.5", ""):
            with self.subTest(value=value):
                conf = self.write_config(account={"quick": value})
                lineno = harness.read_text(conf).splitlines().index("quick = %s" % value) + 1
                r = self.run_offlinefs(conf=conf)
                self.assertEqual(r.rc, 1, str(r))
                err = [ln for ln in r.err.splitlines() if ln.strip()]
                self.assertEqual(len(err), 1, "expected one error line:\n%s" % r)
                self.assertIn("%s:%d: option 'quick' in section 'Account %s'"
                              % (conf, lineno, harness.ACCOUNT), err[0])
        self.assertFalse(os.path.exists(self.mail), "Maildir created")
        self.assertFalse(os.path.exists(self.meta), "metadata created")


if __name__ == "__main__":
    harness.main()
