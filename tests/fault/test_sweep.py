"""Crash at every step, then resume (issue 12 §6), in the manner of isync's
run-tests.pl: the same two-way sync is cut at many points, then run again
to the end, and the end state is checked each time.

One trial (each on its own Dovecot user, Maildir and metadata):
  1. the server gets a few messages in INBOX and Archive; a clean sync;
  2. changes on both sides: new local messages (two of them byte-identical,
     one in a new local folder), a local deletion and flag change, new
     server messages, a server expunge and flag change;
  3. the sync through the fault proxy, cut after K bytes in one direction
     (every K of an evenly spaced set over the whole conversation, both
     directions; the cut can fall anywhere: LOGIN, LIST, a listing, a
     body, an APPEND literal, a tagged OK, a STORE, an EXPUNGE);
  4. two clean syncs;
  5. per folder: the multiset of bodies on the server and in the Maildir
     must both equal the expected one (lost = expected copies missing,
     duplicated = copies beyond the expected), and assert_synced holds.

The bounded sweep (TestCrashSweep.test_bounded_sweep, in the suite) cuts at
FAULT_SWEEP_POINTS points (default 24: 8 tagged OKs, 8 byte cuts each way);
FAULT_SWEEP_EXTENSIONS=0 runs it against a server advertising no
extensions (no UIDPLUS: uploads are found by their X-OfflineIMAP marker). tools/fault-sweep.sh
runs the long one and prints "trials N, lost N, duplicated N".
"""

import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import add_local_message, crlf_to_lf, simple_message  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

POINTS = int(os.environ.get("FAULT_SWEEP_POINTS", "24"))
# a tagged OK (not "* OK", not "+ OK")
TAGGED_OK = rb"^[A-Za-z0-9.]+ OK"


def msg(tag, n):
    return simple_message("%s %d" % (tag, n), body="Body of %s %d.\n" % (tag, n) * (n + 1))


class SweepCase(harness.SyncTestCase):
    """The trial machinery; the sweeps are the subclasses below."""

    USERS = POINTS + 1
    # FAULT_SWEEP_EXTENSIONS=0: a server without UIDPLUS, CONDSTORE, MOVE...
    EXTENSIONS = os.environ.get("FAULT_SWEEP_EXTENSIONS", "1") != "0"

    # ------------------------------------------------------------ one trial
    def use_user(self, i):
        u = self.dc.users[i]
        self.user, self.password = u["user"], u["password"]
        base = os.path.join(self.tmp, "t%d" % i)
        os.makedirs(base, exist_ok=True)
        self.mail = os.path.join(base, "Mail")
        self.meta = os.path.join(base, "metadata")

    def config(self, proxy=None):
        if proxy is None:
            return self.write_config(name="direct.rc")
        return self.write_config(remote={"remotehost": "127.0.0.1", "remoteport": str(proxy.port),
                                         "ssl": "no", "starttls": "no",
                                         "sslcacertfile": None}, name="proxy.rc")

    def prepare(self):
        """Steps 1 and 2; returns {folder: Counter of expected bodies}."""
        expect = collections.defaultdict(collections.Counter)
        with self.server() as s:
            s.create("Archive")
            for i in range(4):
                s.append("INBOX", msg("inbox", i))
                expect["INBOX"][crlf_to_lf(msg("inbox", i))] += 1
            for i in range(3):
                s.append("Archive", msg("archive", i), flags=["\\Seen"])
                expect["Archive"][crlf_to_lf(msg("archive", i))] += 1
        self.sync(conf=self.config())
        # local changes
        twin = msg("twin", 1)
        for _ in range(2):
            add_local_message(self.mail, "INBOX", twin)
            expect["INBOX"][twin] += 1
        add_local_message(self.mail, "INBOX", msg("local", 1))
        expect["INBOX"][msg("local", 1)] += 1
        harness.make_local_folder(self.mail, "Drafts")
        add_local_message(self.mail, "Drafts", msg("draft", 1), flags="D")
        expect["Drafts"][msg("draft", 1)] += 1
        local = {m.body: m for m in self.local_messages("INBOX")}
        gone = local[msg("inbox", 0)]
        os.unlink(gone.path)
        expect["INBOX"][msg("inbox", 0)] -= 1
        harness.set_local_flags(local[msg("inbox", 1)], "FS")
        # server changes
        with self.server() as s:
            srv = {crlf_to_lf(m.body): m.uid for m in s.messages("INBOX").values()}
            s.expunge("INBOX", srv[msg("inbox", 2)])
            expect["INBOX"][msg("inbox", 2)] -= 1
            s.store("INBOX", srv[msg("inbox", 3)], "+FLAGS", ["\\Flagged"])
            for i in range(2):
                s.append("Archive", msg("server", i))
                expect["Archive"][msg("server", i)] += 1
        return expect

    def check(self, expect):
        """Step 5: (lost, duplicated, problems) over all folders."""
        lost = dup = 0
        problems = []
        with self.server() as s:
            for folder, want in sorted(expect.items()):
                want = +want
                # without UIDPLUS the server's copies of uploads carry an
                # X-OfflineIMAP marker header the local files do not
                srv = collections.Counter(harness.strip_offlineimap_marker(crlf_to_lf(m.body))
                                          for m in s.messages(folder).values())
                loc = collections.Counter(m.body for m in self.local_messages(folder))
                for side, have in (("server", srv), ("local", loc)):
                    lost += sum((want - have).values())
                    dup += sum((have - want).values())
                    if have != want:
                        problems.append("%s %s: missing %d, extra %d" % (
                            folder, side, sum((want - have).values()),
                            sum((have - want).values())))
                try:
                    self.assert_synced(folder, srv=s, strip_marker=not self.EXTENSIONS)
                except AssertionError as e:
                    problems.append("%s: not in sync: %s" % (folder, str(e).splitlines()[0]))
        return lost, dup, problems

    def trial(self, i, direction, cut):
        self.use_user(i)
        expect = self.prepare()
        if direction == "down":
            faults = {"cut_down": cut}
        elif direction == "up":
            faults = {"cut_up": cut}
        else:  # "ok": the connection dies just before the cut-th tagged OK
            faults = {"drop_before": TAGGED_OK, "drop_nth": cut}
        with FaultProxy(self.dc.host, self.dc.imap_port, **faults) as p:
            r = self.run_offlinefs(conf=self.config(p))
        for _ in range(2):
            r2 = self.run_offlinefs(conf=self.config())
        lost, dup, problems = self.check(expect)
        if r2.rc != 0:
            problems.append("the last clean run exited %d" % r2.rc)
        return p, r, lost, dup, problems

    def measure(self):
        """Bytes each way of the faulted sync when nothing is cut (user 0)."""
        self.use_user(0)
        self.prepare()
        with FaultProxy(self.dc.host, self.dc.imap_port, drop_before=TAGGED_OK,
                        drop_nth=10**9) as p:
            self.sync(conf=self.config(p))
        return p.bytes_up, p.bytes_down, p.matched


class TestCrashSweep(SweepCase):
    def test_bounded_sweep(self):
        up, down, oks = self.measure()
        self.assertGreater(up, 1000)
        self.assertGreater(down, 1000)
        self.assertGreater(oks, 5)
        # every tagged OK first (one step each, up to a third of the
        # points), then byte cuts spread evenly, half each way
        n_ok = min(oks, POINTS // 3)
        points = [("ok", 1 + (oks - 1) * k // max(1, n_ok - 1)) for k in range(n_ok)]
        rest = POINTS - n_ok
        half = rest // 2
        points += [("down", 1 + (down - 1) * k // max(1, half)) for k in range(half)]
        points += [("up", 1 + (up - 1) * k // max(1, rest - half)) for k in range(rest - half)]
        total_lost = total_dup = fired = 0
        report = []
        for i, (direction, cut) in enumerate(points, start=1):
            p, r, lost, dup, problems = self.trial(i, direction, cut)
            fired += p.triggered
            total_lost += lost
            total_dup += dup
            if problems:
                report.append("cut %s at %d (run exit %d): %s" % (direction, cut, r.rc,
                                                                 "; ".join(problems)))
        print("fault sweep%s: trials %d, lost %d, duplicated %d (cuts fired %d; "
              "conversation %d bytes up, %d down, %d tagged OKs)"
              % ("" if self.EXTENSIONS else " (no extensions)", len(points), total_lost, total_dup, fired, up, down, oks), file=sys.stderr)
        sys.stderr.flush()
        self.assertGreater(fired, len(points) // 2, "the proxy cut too few runs")
        self.assertEqual(report, [], "\n".join(report))


class TestRecoverySweep(SweepCase):
    """A UIDVALIDITY recovery (docs/uidvalidity.md) cut just before each of
    its tagged OKs, then resumed: nothing lost, nothing duplicated."""

    USERS = 41

    def prepare(self):
        a, b, c = msg("rec a", 1), msg("rec b", 2), msg("rec c", 3)
        b2 = b.replace(b"Body of", b"Edited body of")
        n_srv, n_loc = msg("rec server", 4), msg("rec local", 5)
        with self.server() as s:
            s.create("Box")
            for body in (a, b, c, c):
                s.append("Box", body, ["\\Seen"])
        self.sync(conf=self.config())
        add_local_message(self.mail, "Box", n_loc)
        with self.server() as s:
            s.delete("Box")
            s.create("Box")
            for body in (a, b2, c, c, n_srv):
                s.append("Box", body)
        expect = collections.defaultdict(collections.Counter)
        for body in (a, b, b2, c, c, n_srv, n_loc):
            expect["Box"][crlf_to_lf(body)] += 1
        return expect

    def test_recovery_cut_at_every_ok(self):
        _, _, oks = self.measure()
        n = min(oks, self.USERS - 1)
        report = []
        total_lost = total_dup = 0
        for k in range(1, n + 1):
            p, r, lost, dup, problems = self.trial(k, "ok", k)
            total_lost += lost
            total_dup += dup
            if problems:
                report.append("cut before tagged OK %d (run exit %d): %s"
                              % (k, r.rc, "; ".join(problems)))
        print("recovery sweep%s: trials %d, lost %d, duplicated %d (%d tagged OKs)"
              % ("" if self.EXTENSIONS else " (no extensions)", n, total_lost, total_dup, oks),
              file=sys.stderr)
        self.assertEqual(report, [], "\n".join(report))


if __name__ == "__main__":
    harness.main()
