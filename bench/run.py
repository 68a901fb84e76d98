#!/usr/bin/python3
"""Benchmark offlinefs against OfflineIMAP (offlineimap3) and mbsync (isync).

One command generates a fixed-seed corpus, starts a private loopback Dovecot
with TLS (tests/fixture/dovecot.py), loads the corpus into one server user per
tool, and times each tool on the same scenarios, alternating tools run by run
(A B C A B C ...).  It prints a markdown table of medians and ratios and
writes the raw numbers to bench/results/<date>.json (+ .md).

This is a measurement, not a test: timings never fail the run.  Wrong results
do get flagged: after every run the tool's Maildir is compared with the
server (message count and \\Seen/\\Flagged/\\Answered counts per folder) and
with the state the scenario should end in; a mismatch is printed in the table.

Usage (as root, like CI; Dovecot needs it):
    python3 bench/run.py [--messages 5000] [--runs 3]
                         [--scenarios initial,noop,server-churn,local-churn]
                         [--tools offlinefs,mbsync,offlineimap]
                         [--offlinefs build/tools/offlinefs] [--keep DIR]

Scenarios (see SCENARIOS below; docs/benchmarks.md explains each):
    initial        full sync into an empty Maildir (fresh metadata)
    noop           resync right after an initial sync; nothing changed
    server-churn   another client appended, re-flagged and expunged on the server
    local-churn    the mail reader added, re-flagged and deleted Maildir files
    quick          server-churn, run with -q (mbsync has no quick mode: normal run)
    initial-big    initial sync of one folder of --big-messages small messages
    noop-big       no-op resync of that big folder

Fairness: every tool has its own server user loaded from the same corpus
(identical folders, messages, flags and UIDs, which is checked), and before
every measured run that user's server Maildir and the tool's local Maildir and
metadata are restored from a snapshot taken with Dovecot stopped, so each
tool starts each run from exactly the same state.
"""

import argparse
import atexit
import contextlib
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))

import corpus as fixture_corpus  # noqa: E402  (tests/fixture/corpus.py)
from dovecot import Dovecot, FixtureError  # noqa: E402


def _load_gen_corpus():
    path = os.path.join(ROOT, "tools", "gen-corpus.py")
    spec = importlib.util.spec_from_file_location("gen_corpus", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen_corpus = _load_gen_corpus()

ALL_TOOLS = ("offlinefs", "mbsync", "offlineimap")
FLAG_LETTERS = "SFR"          # compared in verification: \Seen \Flagged \Answered
MAIL_HOST = "localhost"       # the fixture cert covers localhost and 127.0.0.1


class BenchError(RuntimeError):
    """A setup problem that makes the benchmark meaningless; message says why."""


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ====================================================================== scenarios
class Scenario:
    """What to measure: which data set, which starting state, which changes.

    start:  "empty"  - server as loaded, no local Maildir, no metadata
            "synced" - state right after this tool's initial sync of `dataset`
    churn:  None | "server" | "local" - changes applied after restoring `start`
    quick:  pass -q to tools that have a quick mode
    verify: "full" (counts + flags) or "counts"
    """

    def __init__(self, name, desc, dataset="main", start="synced", churn=None, quick=False,
                 verify="full"):
        self.name, self.desc, self.dataset = name, desc, dataset
        self.start, self.churn, self.quick, self.verify = start, churn, quick, verify


SCENARIOS = [
    Scenario("initial", "full sync into an empty Maildir", start="empty"),
    Scenario("noop", "resync right after the initial sync, nothing changed"),
    Scenario("server-churn", "server-side appends, flag changes, expunges", churn="server"),
    Scenario("local-churn", "Maildir-side new files, flag renames, deletions", churn="local"),
    Scenario("quick", "server-churn with -q (mbsync: normal run)", churn="server", quick=True,
             verify="counts"),
    Scenario("initial-big", "initial sync of one big folder", dataset="big", start="empty"),
    Scenario("noop-big", "no-op resync of one big folder", dataset="big"),
]
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}
DEFAULT_SCENARIOS = "initial,noop,server-churn,local-churn"


# ====================================================================== helpers
def folder_dirname(name):
    """UTF-8 folder name -> on-disk mUTF-7 path components (server and clients)."""
    return [fixture_corpus.mutf7_encode(p) for p in name.split("/")]


def maildir_flags(filename):
    """Maildir info flags of a file name ('' for none)."""
    i = filename.find(":2,")
    return filename[i + 3:] if i >= 0 else ""


def count_maildir(path):
    """(messages, {flag letter: count}) for one Maildir folder; None if absent."""
    if not os.path.isdir(os.path.join(path, "cur")):
        return None
    n, flags = 0, {c: 0 for c in FLAG_LETTERS}
    for sub in ("cur", "new"):
        try:
            names = os.listdir(os.path.join(path, sub))
        except FileNotFoundError:
            continue
        for f in names:
            if f.startswith("."):
                continue
            n += 1
            # Info in new/ is unusual but OfflineIMAP writes it (e.g. ":2,F").
            fl = maildir_flags(f)
            for c in FLAG_LETTERS:
                if c in fl:
                    flags[c] += 1
    return n, flags


def all_maildir_messages(root):
    """Total message files under root, wherever they are (catches strays)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.basename(dirpath) in ("cur", "new"):
            total += sum(1 for f in filenames if not f.startswith("."))
    return total


def summary_str(s):
    n, fl = s
    return "%d msgs S%d F%d R%d" % (n, fl["S"], fl["F"], fl["R"])


def clone_tree(src, dst, link_messages=True):
    """Copy src to dst keeping owner and mode.

    Message files (directly in cur/ or new/) are hard-linked: Maildir
    programs never write a delivered file in place (flags change by rename,
    deletion by unlink), so sharing the inode with the snapshot is safe.
    Everything else (Dovecot indexes, uidlists, status databases, mbsync
    state) is copied, because those are rewritten or appended in place.
    """
    st = os.lstat(src)
    os.mkdir(dst, st.st_mode & 0o7777)
    os.chown(dst, st.st_uid, st.st_gid)
    linkable = link_messages and os.path.basename(src) in ("cur", "new")
    with os.scandir(src) as it:
        for e in it:
            s, d = e.path, os.path.join(dst, e.name)
            if e.is_dir(follow_symlinks=False):
                clone_tree(s, d, link_messages)
            elif e.is_symlink():
                os.symlink(os.readlink(s), d)
            elif linkable:
                os.link(s, d)
            else:
                shutil.copy2(s, d)
                est = e.stat(follow_symlinks=False)
                os.chown(d, est.st_uid, est.st_gid)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def rmtree(path):
    if os.path.lexists(path):
        shutil.rmtree(path)


def proc_stat(pid):
    """Fields of /proc/PID/stat after the comm field, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children_cpu(pid):
    """cutime+cstime (seconds) of pid: CPU of its reaped children."""
    f = proc_stat(pid)
    if not f:
        return None
    return (int(f[13]) + int(f[14])) / os.sysconf("SC_CLK_TCK")


def session_children(master):
    """Live imap / imap-login processes under the Dovecot master."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        f = proc_stat(int(name))
        if not f or int(f[1]) != master:
            continue
        try:
            with open("/proc/%s/comm" % name) as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if comm in ("imap", "imap-login"):
            out.append(int(name))
    return out


def cmd_version(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return p.stdout.decode(errors="replace").strip().splitlines()[0] if p.stdout else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not runnable"


# ====================================================================== running and measuring
_current_child = None


GNU_TIME = "/usr/bin/time"


def measure(argv, env, cwd, timeout, logpath):
    """Run argv; return dict(wall, user, sys, cpu, maxrss_kib, rc, timed_out).

    CPU: os.wait4 on the child's pid gives that child's rusage, which on
    Linux includes every descendant it waited for.

    Peak RSS: ru_maxrss from that same wait4 is useless here, because Linux
    records the high-water RSS of the pre-exec address space, i.e. the copy
    of this Python process (40+ MiB) that fork() made.  So the tool runs
    under GNU time (a ~1 MiB process), whose own wait4 on the tool reports
    the tool's real peak (%M, KiB); we read that from its -o file.
    """
    global _current_child
    rss_file = logpath + ".rss"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(rss_file)
    full = [GNU_TIME, "-q", "-f", "%M", "-o", rss_file] + argv if os.access(GNU_TIME, os.X_OK) \
        else argv
    with open(logpath, "ab") as out:
        out.write(("$ %s\n" % " ".join(argv)).encode())
        out.flush()
        t0 = time.monotonic()
        p = subprocess.Popen(full, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        _current_child = p
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        try:
            while True:
                try:
                    _, status, ru = os.wait4(p.pid, 0)
                    break
                except InterruptedError:
                    continue
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        _current_child = None
        # Anything the tool left behind in its session dies with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    rss, rss_src = None, "gnu-time"
    try:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        rss, rss_src = ru.ru_maxrss, "wait4 (includes fork of the harness)"
    # GNU time returns the tool's status (or 128+signal if it died by one).
    return {"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime,
            "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kib": rss, "maxrss_source": rss_src,
            "rc": p.returncode, "timed_out": timed_out.is_set()}


def kill_current_child():
    p = _current_child
    if p is not None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# ====================================================================== the tools
class Tool:
    """One synchronizer: its server user, its directory, its config and argv."""

    name = None
    sep = "."   # local folder hierarchy separator ('/' = nested directories)

    def __init__(self, bench, dataset, user):
        self.bench, self.dataset, self.user = bench, dataset, user
        self.dir = os.path.join(bench.work, "clients", dataset, self.name)
        self.home = os.path.join(self.dir, "home")
        self.mail = os.path.join(self.dir, "Mail")
        self.meta = os.path.join(self.dir, "meta")
        self.conf = os.path.join(self.dir, "config")
        self.logfile = os.path.join(bench.work, "logs", "%s-%s.log" % (dataset, self.name))

    def state_paths(self):
        """Everything the tool keeps between runs (restored from snapshots)."""
        return {"Mail": self.mail, "meta": self.meta}

    def local_folder(self, name):
        if name.upper() == "INBOX":
            return os.path.join(self.mail, "INBOX")
        parts = folder_dirname(name)
        if self.sep == "/":
            return os.path.join(self.mail, *parts)
        return os.path.join(self.mail, self.sep.join(parts))

    def env(self):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": self.home,
               "XDG_CONFIG_HOME": os.path.join(self.home, ".config"), "LANG": "C.UTF-8",
               "TZ": "UTC"}
        return env

    def write_config(self, dc):
        os.makedirs(self.home, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(self.config_text(dc))
        os.chmod(self.conf, 0o600)

    def argv(self, quick):
        raise NotImplementedError

    def version(self):
        raise NotImplementedError


class OfflineIMAPConfig(Tool):
    """offlineimap and offlinefs read the same config format."""

    def config_text(self, dc):
        u = self.bench.user_info(self.user)
        return """# written by bench/run.py
[general]
accounts = bench
metadata = {meta}
{fsync}
[Account bench]
localrepository = bench-local
remoterepository = bench-remote

[Repository bench-local]
type = Maildir
localfolders = {mail}

[Repository bench-remote]
type = IMAP
remotehost = {host}
remoteport = {port}
remoteuser = {user}
remotepass = {pw}
ssl = yes
sslcacertfile = {ca}
maxconnections = {maxconn}
""".format(maxconn=self.bench.args.maxconnections, meta=self.meta, fsync="fsync = false\n" if self.bench.args.no_fsync else "",
           mail=self.mail, host=MAIL_HOST, port=dc.imaps_port, user=u["user"],
           pw=u["password"], ca=dc.cafile)


class OfflineIMAP(OfflineIMAPConfig):
    name = "offlineimap"

    def argv(self, quick):
        return ["offlineimap", "-c", self.conf, "-o", "-u", "quiet"] + (["-q"] if quick else [])

    def version(self):
        return "offlineimap " + cmd_version(["offlineimap", "--version"])


class OfflineFS(OfflineIMAPConfig):
    name = "offlinefs"

    def argv(self, quick):
        return [self.bench.offlinefs, "-c", self.conf, "-o", "-u", "quiet"] + \
            (["-q"] if quick else []) + self.bench.args.offlinefs_args.split()

    def version(self):
        return cmd_version([self.bench.offlinefs, "--version"])


class MBSync(Tool):
    name = "mbsync"
    sep = "/"

    def state_paths(self):
        # SyncState * keeps the sync state inside each Maildir folder.
        return {"Mail": self.mail}

    def config_text(self, dc):
        u = self.bench.user_info(self.user)
        # isync 1.4 spells TLSType as SSLType.
        return """# written by bench/run.py
{fsync}IMAPAccount bench
Host {host}
Port {port}
User {user}
Pass "{pw}"
SSLType IMAPS
CertificateFile {ca}

IMAPStore bench-remote
Account bench

MaildirStore bench-local
Path {mail}/
Inbox {mail}/INBOX
SubFolders Verbatim

Channel bench
Far :bench-remote:
Near :bench-local:
Patterns *
Create Near
Sync All
Expunge Both
SyncState *
""".format(host=MAIL_HOST, port=dc.imaps_port, user=u["user"], pw=u["password"], ca=dc.cafile,
           mail=self.mail, fsync="FSync no\n\n" if self.bench.args.no_fsync else "")

    def argv(self, quick):
        return ["mbsync", "-c", self.conf, "-q", "bench"]

    def version(self):
        return cmd_version(["mbsync", "--version"])


TOOL_CLASSES = {"offlinefs": OfflineFS, "mbsync": MBSync, "offlineimap": OfflineIMAP}


# ====================================================================== the benchmark
class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        self.offlinefs = args.offlinefs
        self.tools = args.tools
        self.dc = None
        self.corpora = {}        # dataset -> corpus dir
        self.manifests = {}      # dataset -> manifest
        self.tool = {}           # (dataset, tool name) -> Tool
        self.snapshots = {}      # (dataset, state, tool name) -> snapshot dir
        self.results = []        # one dict per measured run
        self.folders = {}        # dataset -> [folder names]

    # ------------------------------------------------------------ setup
    def datasets(self):
        return sorted({SCENARIO_BY_NAME[s].dataset for s in self.args.scenarios})

    def user_info(self, user):
        for u in self.dc.users:
            if u["user"] == user:
                return u
        raise BenchError("no fixture user %s" % user)

    def generate(self):
        a = self.args
        for ds in self.datasets():
            out = os.path.join(self.work, "corpus-" + ds)
            t = time.monotonic()
            if ds == "main":
                m = gen_corpus.generate(out, seed=a.seed, folders=gen_corpus.parse_folders(
                    str(a.folders)), messages=a.messages, large=a.large, attach_pct=8.0)
            else:
                # Small text messages only (2-12 KB), all in one folder.
                m = gen_corpus.generate(out, seed=a.seed, folders=["Big"],
                                        messages=a.big_messages, large=0, attach_pct=0.0)
            size = sum(e["size"] for f in m["folders"] for e in f["messages"])
            log("corpus %s: %d messages in %d folders, %.1f MB (%.1fs)" % (
                ds, sum(len(f["messages"]) for f in m["folders"]), len(m["folders"]),
                size / 1e6, time.monotonic() - t))
            self.corpora[ds], self.manifests[ds] = out, m
            self.folders[ds] = [f["name"] for f in m["folders"]]
            if "INBOX" not in [f.upper() for f in self.folders[ds]]:
                self.folders[ds].insert(0, "INBOX")   # the server always has one
        # Churn material: fresh messages, the same for every tool.
        out = os.path.join(self.work, "corpus-churn")
        n = max(4, a.messages * a.churn_pct // 100)
        self.churn_manifest = gen_corpus.generate(out, seed=a.seed + 7919, folders=["Churn"],
                                                  messages=2 * n, large=0, attach_pct=8.0)
        self.churn_dir = out

    def start_server(self):
        # one user per tool and dataset, and the last one for warm_up_server
        users = len(self.tools) * len(self.datasets()) + 1
        self.dc = Dovecot(os.path.join(self.work, "srv"), extensions=True, users=users,
                          prefork=self.args.prefork_server)
        atexit.register(self.stop_server)
        self.dc.start()
        self.warm_user = self.dc.users[-1]["user"]
        log("dovecot on %s imaps port %d (%s)" % (self.dc.host, self.dc.imaps_port,
                                                  self.dc.dir))
        i = 0
        for ds in self.datasets():
            for name in self.tools:
                self.tool[(ds, name)] = TOOL_CLASSES[name](self, ds, self.dc.users[i]["user"])
                i += 1

    def stop_server(self):
        if self.dc is not None:
            try:
                self.dc.stop()
            except Exception as e:  # noqa: BLE001 - best effort at exit
                log("warning: stopping dovecot: %s" % e)

    def load(self):
        for ds in self.datasets():
            want = {f["name"]: len(f["messages"]) for f in self.manifests[ds]["folders"]}
            ref = None
            for name in self.tools:
                tool = self.tool[(ds, name)]
                t = time.monotonic()
                fixture_corpus.load_corpus(self.dc, tool.user, self.corpora[ds], "maildir")
                got = {f: self.server_summary(tool.user, f)[0] for f in want}
                if got != want:
                    raise BenchError("loading %s into %s: server has %s, corpus has %s"
                                     % (ds, tool.user, got, want))
                # Same UIDs and sizes for every user, or the comparison is unfair.
                p = self.dc.doveadm(["-f", "tab", "fetch", "-u", tool.user,
                                     "mailbox uid size.physical flags", "all"])
                listing = sorted(p.stdout.decode(errors="replace").splitlines()[1:])
                if ref is None:
                    ref = listing
                elif listing != ref:
                    raise BenchError("server users differ after loading the same corpus "
                                     "(%s vs %s)" % (self.tool[(ds, self.tools[0])].user,
                                                     tool.user))
                log("loaded %s into %s for %s: %d messages (%.1fs)" % (
                    ds, tool.user, name, sum(want.values()), time.monotonic() - t))
        # Snapshot the loaded servers with Dovecot stopped.
        self.dc.stop()
        for (ds, name), tool in self.tool.items():
            self.snapshot(ds, "empty", tool)
        self.dc.start()

    # ------------------------------------------------------------ state
    def server_maildir(self, user):
        return self.dc.maildir(user)

    def server_folder(self, user, name):
        if name.upper() == "INBOX":
            return self.server_maildir(user)
        return os.path.join(self.server_maildir(user), *folder_dirname(name))

    def server_summary(self, user, name):
        return count_maildir(self.server_folder(user, name)) or (0, {c: 0 for c in FLAG_LETTERS})

    def snapshot(self, ds, state, tool):
        snap = os.path.join(self.work, "snapshots", ds, state, tool.name)
        rmtree(snap)
        os.makedirs(snap)
        clone_tree(self.server_maildir(tool.user), os.path.join(snap, "server"))
        if state != "empty":
            for key, path in tool.state_paths().items():
                if os.path.isdir(path):
                    clone_tree(path, os.path.join(snap, key))
        self.snapshots[(ds, state, tool.name)] = snap

    def discard(self, path):
        """Move a tree out of the way instead of deleting it (emptied at exit).

        Why: this machine's ext4 has no journal, and there the inode
        allocator skips inodes freed in the last 60-300 s, reading each
        one's inode block to find out (ext4_new_inode -> recently_deleted).
        Deleting a 5,000-file Maildir right before a run made every file
        the measured tool created cost a scan over those inodes: 60-80% of
        both tools' CPU time in the churn scenarios went there, a cost of
        the benchmark's reset that no user's sync pays."""
        if os.path.lexists(path):
            self.trash_seq = getattr(self, "trash_seq", 0) + 1
            trash = os.path.join(self.work, "trash")
            os.makedirs(trash, exist_ok=True)
            os.rename(path, os.path.join(trash, str(self.trash_seq)))

    def restore(self, ds, state, tool):
        """Put server user and local side back to a snapshot (Dovecot must be stopped)."""
        snap = self.snapshots[(ds, state, tool.name)]
        srv = self.server_maildir(tool.user)
        self.discard(srv)
        clone_tree(os.path.join(snap, "server"), srv)
        for key, path in tool.state_paths().items():
            self.discard(path)
            if os.path.isdir(os.path.join(snap, key)):
                clone_tree(os.path.join(snap, key), path)
        self.discard(tool.home)
        # mbsync wants its Path to exist; give every tool the same start.
        os.makedirs(tool.mail, exist_ok=True)

    def ensure_synced(self, ds, tool):
        """Make the 'synced' snapshot by an unmeasured initial sync if none exists yet."""
        if (ds, "synced", tool.name) in self.snapshots:
            return True
        log("%s/%s: preparing synced state (unmeasured initial sync)" % (ds, tool.name))
        self.dc.stop()
        self.restore(ds, "empty", tool)
        self.dc.start()
        tool.write_config(self.dc)
        expected = self.expected_server(ds, tool)
        r = measure(tool.argv(False), tool.env(), tool.dir, self.args.timeout, tool.logfile)
        self.wait_server_idle()
        problems = self.verify(ds, tool, expected, "full")
        if r["rc"] != 0 or problems:
            log("%s/%s: initial sync failed (rc %d%s): %s; see %s" % (
                ds, tool.name, r["rc"], ", timeout" if r["timed_out"] else "",
                "; ".join(problems[:3]), tool.logfile))
            return False
        self.snapshot_synced(ds, tool)
        return True

    def snapshot_synced(self, ds, tool):
        """Snapshot the state after an initial sync, once the server has
        looked at its folders again.

        Dovecot distrusts a Maildir directory whose mtime is in the same
        second as its last look (a change may follow in that second) and
        rescans it on every access until it has looked once more later.
        Right after the initial sync every folder is in that state, and
        since each measured run starts from this snapshot, every run would
        pay the rescan (13-22 ms for the 30,000-message folder), for every
        tool alike; a server some time after the last change does not.
        So: wait two seconds, let Dovecot look (doveadm mailbox status),
        then take the snapshot."""
        time.sleep(2.0)
        self.dc.doveadm(["mailbox", "status", "-u", tool.user, "messages uidnext highestmodseq",
                         "*"], check=False)
        self.dc.stop()
        self.snapshot(ds, "synced", tool)
        self.dc.start()

    def warm_up_server(self):
        """One login (of a user no tool uses) before a measured run.

        Each run restarts Dovecot to restore its snapshot, and the first
        login after a start also starts Dovecot's auth process and fills its
        caches: several ms that every tool would otherwise pay on top of its
        own work, which no user syncing against a running server pays.  The
        server churn of the scenarios below logs in anyway; this makes every
        scenario start from the same warm server."""
        c = self.dc.imap(self.warm_user)
        with contextlib.suppress(Exception):
            c.logout()

    def wait_server_idle(self, timeout=10.0):
        """Wait until the client's imap and imap-login processes have exited.

        With --prefork-server idle spare processes are always there: then
        wait until Dovecot reports no logged-in session (doveadm who)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.args.prefork_server:
                r = subprocess.run(["doveadm", "-c", self.dc.conf, "who"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                sessions = [ln for ln in r.stdout.decode(errors="replace").splitlines()[1:]
                            if ln.strip()]
                if r.returncode == 0 and not sessions:
                    return True
            elif not session_children(self.dc.pid):
                return True
            time.sleep(0.02)
        log("warning: dovecot sessions still alive %.0fs after the client exited" % timeout)
        return False

    # ------------------------------------------------------------ churn
    def churn_plan(self, ds, side):
        """Deterministic choices per folder: positions to re-flag, flag, delete.

        Positions index the folder's messages in UID order (= corpus order),
        so the same messages are chosen for every tool.
        """
        pct = self.args.churn_pct / 100.0
        rng = random.Random("%d:%s:%s" % (self.args.seed, ds, side))
        plan = {}
        for i, f in enumerate(self.manifests[ds]["folders"]):
            n = len(f["messages"])
            if n == 0:
                continue
            toggle = sorted(rng.sample(range(n), max(1, int(n * pct))))
            flag = sorted(rng.sample(range(n), max(1, int(n * pct / 4))))
            delete = sorted(rng.sample(range(n), max(1, int(n * pct / 2)))) if i % 2 == 0 else []
            plan[f["name"]] = {"toggle_seen": toggle, "add_flagged": flag, "delete": delete}
        # New messages: 70% to the first folder (INBOX), the rest to the third one.
        new = self.churn_manifest["folders"][0]["messages"]
        new = new[:len(new) // 2] if side == "server" else new[len(new) // 2:]
        names = [f["name"] for f in self.manifests[ds]["folders"]]
        cut = int(len(new) * 0.7)
        adds = {names[0]: new[:cut]}
        if len(names) > 2:
            adds[names[2]] = new[cut:]
        else:
            adds[names[0]] = new
        for folder, msgs in adds.items():
            plan.setdefault(folder, {"toggle_seen": [], "add_flagged": [], "delete": []})
            plan[folder]["new"] = msgs
        return plan

    def apply_server_churn(self, ds, tool):
        plan = self.churn_plan(ds, "server")
        c = self.dc.imap(tool.user)
        try:
            for folder, p in plan.items():
                mbox = fixture_corpus.imap_quote(
                    "INBOX" if folder.upper() == "INBOX" else fixture_corpus.mutf7_encode(folder))
                typ, data = c.select(mbox)
                if typ != "OK":
                    raise BenchError("server churn: cannot select %s: %s" % (folder, data))
                flags = {}
                if int(data[0]) > 0:
                    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
                    for item in data:
                        u = re.search(rb"UID (\d+)", item or b"")
                        fl = re.search(rb"FLAGS \(([^)]*)\)", item or b"")
                        if u and fl:
                            flags[int(u.group(1))] = fl.group(1).split()
                uids = sorted(flags)

                def uidset(positions):
                    return ",".join(str(uids[i]) for i in positions if i < len(uids))

                seen_on = [i for i in p["toggle_seen"] if i < len(uids) and b"\\Seen" in flags[uids[i]]]
                seen_off = [i for i in p["toggle_seen"] if i < len(uids) and i not in seen_on]
                for pos, op, fl in ((seen_on, "-FLAGS.SILENT", r"(\Seen)"),
                                    (seen_off, "+FLAGS.SILENT", r"(\Seen)"),
                                    (p["add_flagged"], "+FLAGS.SILENT", r"(\Flagged)"),
                                    (p["delete"], "+FLAGS.SILENT", r"(\Deleted)")):
                        if pos and uidset(pos):
                            typ, data = c.uid("STORE", uidset(pos), op, fl)
                            if typ != "OK":
                                raise BenchError("server churn: STORE failed: %s" % data)
                if p["delete"]:
                    c.expunge()
                for e in p.get("new", []):
                    with open(os.path.join(self.churn_dir, e["file"]), "rb") as fh:
                        msg = fh.read().replace(b"\n", b"\r\n")
                    typ, data = c.append(mbox, "(%s)" % " ".join(e["flags"]), None, msg)
                    if typ != "OK":
                        raise BenchError("server churn: APPEND failed: %s" % data)
                c.close()
        finally:
            c.logout()

    def apply_local_churn(self, ds, tool):
        plan = self.churn_plan(ds, "local")
        mids = {}
        for f in self.manifests[ds]["folders"]:
            mids[f["name"]] = [e["message_id"] for e in f["messages"]]
        seq = 0
        for folder, p in plan.items():
            path = tool.local_folder(folder)
            if not os.path.isdir(os.path.join(path, "cur")):
                raise BenchError("local churn: %s has no folder %s (%s)" % (tool.name, folder, path))
            want = {}
            for key in ("toggle_seen", "add_flagged", "delete"):
                for i in p[key]:
                    want.setdefault(mids[folder][i], set()).add(key)
            # Find the files by Message-ID: each tool names files its own way.
            for sub in ("cur", "new"):
                d = os.path.join(path, sub)
                for fn in os.listdir(d):
                    fp = os.path.join(d, fn)
                    mid = read_message_id(fp)
                    ops = want.pop(mid, None)
                    if not ops:
                        continue
                    if "delete" in ops:
                        os.unlink(fp)
                        continue
                    fl = set(maildir_flags(fn))
                    if "toggle_seen" in ops:
                        fl ^= {"S"}
                    if "add_flagged" in ops:
                        fl.add("F")
                    base = fn.split(":2,")[0]
                    os.rename(fp, os.path.join(path, "cur", base + ":2," + "".join(sorted(fl))))
            if want:
                raise BenchError("local churn: %d chosen messages not found in %s's %s" % (
                    len(want), tool.name, folder))
            for e in p.get("new", []):
                seq += 1
                with open(os.path.join(self.churn_dir, e["file"]), "rb") as fh:
                    data = fh.read()
                name = "%d.M%dP%d.benchchurn" % (e["timestamp"], seq, os.getpid())
                tmp = os.path.join(path, "tmp", name)
                with open(tmp, "wb") as fh:
                    fh.write(data)
                if e["maildir_flags"]:
                    os.rename(tmp, os.path.join(path, "cur", name + ":2," + e["maildir_flags"]))
                else:
                    os.rename(tmp, os.path.join(path, "new", name))

    # ------------------------------------------------------------ verification
    def expected_server(self, ds, tool):
        return {f: self.server_summary(tool.user, f) for f in self.folders[ds]}

    def expected_local(self, ds, tool):
        return {f: count_maildir(tool.local_folder(f)) or (0, {c: 0 for c in FLAG_LETTERS})
                for f in self.folders[ds]}

    def verify(self, ds, tool, expected, level):
        """Compare server and local Maildir with each other and with `expected`."""
        problems = []
        total_local = 0
        for f in self.folders[ds]:
            srv = self.server_summary(tool.user, f)
            loc = count_maildir(tool.local_folder(f))
            exp = expected[f]
            if loc is None:
                if srv[0] or exp[0]:
                    problems.append("%s: missing locally (server %s)" % (f, summary_str(srv)))
                continue
            total_local += loc[0]
            if level == "counts":
                if not (srv[0] == loc[0] == exp[0]):
                    problems.append("%s: server %d, local %d, expected %d messages" % (
                        f, srv[0], loc[0], exp[0]))
            elif not (srv == loc == exp):
                problems.append("%s: server %s, local %s, expected %s" % (
                    f, summary_str(srv), summary_str(loc), summary_str(exp)))
        stray = all_maildir_messages(tool.mail) - total_local
        if stray:
            problems.append("%d messages in unexpected local folders" % stray)
        return problems

    # ------------------------------------------------------------ scenarios
    def run_one(self, sc, tool, run_no):
        ds = sc.dataset
        if sc.start == "synced" and not self.ensure_synced(ds, tool):
            return {"scenario": sc.name, "tool": tool.name, "run": run_no, "skipped": True,
                    "problems": ["no synced state (initial sync failed)"]}
        self.dc.stop()
        self.restore(ds, sc.start, tool)
        self.dc.start()
        self.warm_up_server()
        tool.write_config(self.dc)
        if sc.churn == "server":
            before = self.expected_server(ds, tool)
            self.apply_server_churn(ds, tool)
            expected = self.expected_server(ds, tool)
        elif sc.churn == "local":
            before = self.expected_local(ds, tool)
            self.apply_local_churn(ds, tool)
            expected = self.expected_local(ds, tool)
        else:
            before = expected = self.expected_server(ds, tool)
        if sc.churn:
            changed = [f for f in expected if expected[f] != before[f]]
            if not changed:
                raise BenchError("%s churn changed nothing for %s" % (sc.churn, tool.name))
            if run_no == 1:
                log("%s churn for %s: %d -> %d messages, %d folders changed" % (
                    sc.churn, tool.name, sum(v[0] for v in before.values()),
                    sum(v[0] for v in expected.values()), len(changed)))
        self.wait_server_idle()
        # The restore and the churn above leave thousands of file
        # operations in the file system's journal and page cache: without
        # this, the measured tool's first fsync would write them out.
        os.sync()
        # Let the clock leave the second in which we last touched anything:
        # mbsync sleeps 1 s when a Maildir directory's mtime is the current
        # second (a guard against concurrent delivery).  A user's changes are
        # rarely that fresh, so we don't charge that to it.
        time.sleep(1.02 - (time.time() % 1.0))
        srv0 = children_cpu(self.dc.pid)
        r = measure(tool.argv(sc.quick), tool.env(), tool.dir, self.args.timeout, tool.logfile)
        self.wait_server_idle()
        srv1 = children_cpu(self.dc.pid)
        r["server_cpu"] = (srv1 - srv0) if srv0 is not None and srv1 is not None else None
        r["loadavg_1min"] = os.getloadavg()[0]
        r["problems"] = self.verify(ds, tool, expected, sc.verify)
        if r["rc"] != 0:
            r["problems"].insert(0, "exit status %d%s" % (
                r["rc"], " (killed after %ds timeout)" % self.args.timeout if r["timed_out"] else ""))
        r.update({"scenario": sc.name, "tool": tool.name, "run": run_no, "skipped": False})
        log("%-12s %-11s run %d: wall %7.2fs cpu %7.2fs rss %6.1f MiB srv-cpu %s%s" % (
            sc.name, tool.name, run_no, r["wall"], r["cpu"], r["maxrss_kib"] / 1024,
            "%.2fs" % r["server_cpu"] if r["server_cpu"] is not None else "?",
            "  PROBLEM: " + "; ".join(r["problems"][:3]) if r["problems"] else ""))
        if sc.start == "empty" and not r["problems"] and (ds, "synced", tool.name) not in self.snapshots:
            # Reuse this run's result as the starting point of later scenarios.
            self.snapshot_synced(ds, tool)
        return r

    def connection_floor(self, n=15):
        """Median seconds of a bare TLS connect + LOGIN + LOGOUT to this
        server, timed inside this process (no program start-up): the part of
        every run that no client can save, since the server spends it
        (Dovecot's imap-login and imap processes). Shown under the table so
        that ratios can be read as client time = run - floor."""
        import imaplib
        import ssl
        key = next(iter(self.tool))
        u = self.user_info(self.tool[key].user)
        ctx = ssl.create_default_context(cafile=self.dc.cafile)
        times = []
        for i in range(n + 2):
            t = time.monotonic()
            c = imaplib.IMAP4_SSL(MAIL_HOST, self.dc.imaps_port, ssl_context=ctx, timeout=30)
            c.login(u["user"], u["password"])
            c.logout()
            if i >= 2:  # warm-up
                times.append(time.monotonic() - t)
        return statistics.median(times)

    def run(self):
        for name in self.args.scenarios:
            sc = SCENARIO_BY_NAME[name]
            log("scenario %s: %s" % (sc.name, sc.desc))
            for run_no in range(1, self.args.runs + 1):
                # Alternate tools; rotate the order each run so no tool is always first.
                k = (run_no - 1) % len(self.tools)
                order = self.tools[k:] + self.tools[:k] if self.args.rotate \
                    else self.tools
                for name_t in order:
                    self.results.append(self.run_one(sc, self.tool[(sc.dataset, name_t)], run_no))


def read_message_id(path):
    with open(path, "rb") as f:
        head = f.read(16384)
    m = re.search(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", head, re.I | re.M)
    return m.group(1).decode(errors="replace") if m else None


# ====================================================================== report
def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def aggregate(results, scenarios, tools):
    agg = {}
    for sc in scenarios:
        for t in tools:
            rs = [r for r in results if r["scenario"] == sc and r["tool"] == t]
            ok = [r for r in rs if not r.get("skipped") and not r["problems"]]
            done = [r for r in rs if not r.get("skipped")]
            use = ok or done
            problems = list(dict.fromkeys(p for r in rs for p in r["problems"]))
            agg[(sc, t)] = {
                "runs": len(rs), "ok_runs": len(ok),
                "wall": median([r["wall"] for r in use]),
                "wall_min": min([r["wall"] for r in use], default=None),
                "wall_max": max([r["wall"] for r in use], default=None),
                "cpu_min": min([r["cpu"] for r in use], default=None),
                "cpu_max": max([r["cpu"] for r in use], default=None),
                "cpu": median([r["cpu"] for r in use]),
                "user": median([r["user"] for r in use]),
                "sys": median([r["sys"] for r in use]),
                "rss_mib": median([r["maxrss_kib"] / 1024 for r in use]),
                "server_cpu": median([r.get("server_cpu") for r in use]),
                "problems": problems,
            }
    return agg


def fmt(x, nd=2):
    return "–" if x is None else ("%.*f" % (nd, x))


def span(lo, hi):
    return "–" if lo is None else "%s–%s" % (fmt(lo), fmt(hi))


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def render(agg, scenarios, tools, meta):
    lines = []
    head = ["scenario"]
    for t in tools:
        head.append("%s wall s / CPU s / RSS MiB" % t)
    pairs = [("offlinefs", o) for o in ("mbsync", "offlineimap") if "offlinefs" in tools and o in tools]
    for a, b in pairs:
        head.append("%s/%s wall / CPU / RSS" % (a, b))
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    notes = []
    for sc in scenarios:
        row = [sc]
        for t in tools:
            g = agg[(sc, t)]
            cell = "%s / %s / %s" % (fmt(g["wall"]), fmt(g["cpu"]), fmt(g["rss_mib"], 1))
            if g["problems"]:
                notes.append("%s/%s: %s" % (sc, t, "; ".join(g["problems"][:4])))
                cell += " **MISMATCH[%d]**" % len(notes)
            row.append(cell)
        for a, b in pairs:
            ga, gb = agg[(sc, a)], agg[(sc, b)]
            row.append("%s / %s / %s" % tuple(
                fmt(ratio(ga[k], gb[k])) for k in ("wall", "cpu", "rss_mib")))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Spread over the runs (min–max) and the server side:")
    lines.append("")
    head = ["scenario"] + ["%s wall s / CPU s / Dovecot CPU s" % t for t in tools]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for sc in scenarios:
        row = [sc]
        for t in tools:
            g = agg[(sc, t)]
            row.append("%s / %s / %s" % (span(g["wall_min"], g["wall_max"]),
                                         span(g["cpu_min"], g["cpu_max"]), fmt(g["server_cpu"])))
        lines.append("| " + " | ".join(row) + " |")
    if notes:
        lines.append("")
        lines.append("Problems (a fast wrong sync is not a win):")
        for i, n in enumerate(notes, 1):
            lines.append("[%d] %s" % (i, n))
    lines.append("")
    lines.append("Medians of %d runs; %s" % (meta["runs"], meta["corpus_desc"]))
    return "\n".join(lines)


# ====================================================================== main
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--messages", type=int, default=5000,
                    help="messages in the main corpus (default 5000)")
    ap.add_argument("--folders", type=int, default=10, help="folders in the main corpus (10)")
    ap.add_argument("--large", type=int, default=None,
                    help="messages of 1-4 MB (default: 1 per 2000 messages, at least 1)")
    ap.add_argument("--big-messages", type=int, default=30000,
                    help="messages in the big folder of *-big scenarios (30000)")
    ap.add_argument("--runs", type=int, default=3, help="measured runs per tool and scenario (3)")
    ap.add_argument("--scenarios", default=DEFAULT_SCENARIOS,
                    help="comma list from: %s (default %s)" % (
                        ",".join(s.name for s in SCENARIOS), DEFAULT_SCENARIOS))
    ap.add_argument("--tools", default=",".join(ALL_TOOLS),
                    help="comma list from %s (default all; offlinefs skipped if not built)"
                    % ",".join(ALL_TOOLS))
    ap.add_argument("--offlinefs-args", default="",
                    help="extra offlinefs arguments, e.g. '-d sync,imap' (logs in the --keep dir)")
    ap.add_argument("--offlinefs", default=os.path.join(ROOT, "build", "tools", "offlinefs"),
                    help="offlinefs binary (default build/tools/offlinefs)")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (1)")
    ap.add_argument("--churn-pct", type=int, default=2,
                    help="churn size in percent of the corpus (default 2)")
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds per tool run before it is killed (default 600 + 0.2 s/message)")
    ap.add_argument("--no-fsync", action="store_true",
                    help="turn off every tool's fsync (fsync = false / FSync no); default: "
                         "each tool's default, which is fsync on for all three")
    ap.add_argument("--fs", choices=("ext4", "here"), default="ext4",
                    help="ext4 (default): the work dir is a fresh ext4 filesystem in a "
                         "loop-mounted image, so that measurements do not depend on the host "
                         "filesystem's history; here: the host's /var/tmp as it is")
    ap.add_argument("--prefork-server", action="store_true",
                    help="Dovecot keeps imap-login and imap processes ready "
                         "(process_min_avail = 4) instead of forking both per connection "
                         "(its default), as busy production servers do")
    ap.add_argument("--maxconnections", type=int, default=1, metavar="N",
                    help="maxconnections of offlinefs and OfflineIMAP (same config key): folders "
                         "synced in parallel over N connections; mbsync has no equivalent "
                         "(default 1, OfflineIMAP's default)")
    ap.add_argument("--keep", metavar="DIR",
                    help="work in DIR and keep it (corpus, server, Maildirs, logs); "
                         "default: a temporary dir under /var/tmp, removed at the end")
    ap.add_argument("--no-rotate", dest="rotate", action="store_false",
                    help="always run tools in the same order (default: rotate the order each run)")
    ap.add_argument("--results", default=os.path.join(HERE, "results"),
                    help="directory for <date>.json and .md (default bench/results)")
    a = ap.parse_args(argv)
    a.scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    bad = [s for s in a.scenarios if s not in SCENARIO_BY_NAME]
    if bad:
        ap.error("unknown scenario(s) %s; known: %s" % (",".join(bad), ",".join(SCENARIO_BY_NAME)))
    # Keep the defined order: later scenarios reuse the initial sync's state.
    a.scenarios = [s.name for s in SCENARIOS if s.name in a.scenarios]
    a.tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    bad = [t for t in a.tools if t not in ALL_TOOLS]
    if bad:
        ap.error("unknown tool(s) %s; known: %s" % (",".join(bad), ",".join(ALL_TOOLS)))
    if a.large is None:
        a.large = max(1, a.messages // 2000)
    biggest = max([a.messages] + ([a.big_messages] if any(s.endswith("-big") for s in a.scenarios)
                                  else []))
    if a.timeout is None:
        a.timeout = 600 + int(0.2 * biggest)
    if a.runs < 1 or a.messages < 10:
        ap.error("need --runs >= 1 and --messages >= 10")
    return a


def check_tools(a):
    missing = []
    for t in a.tools:
        if t == "offlinefs":
            if not (os.path.isfile(a.offlinefs) and os.access(a.offlinefs, os.X_OK)):
                log("offlinefs binary %s not found: skipping offlinefs (build it, or pass "
                    "--offlinefs PATH)" % a.offlinefs)
                missing.append(t)
            else:
                # Run a private copy: a concurrent rebuild must not swap the
                # binary between runs.
                src = os.path.abspath(a.offlinefs)
                a.offlinefs_source = src
                a.offlinefs = os.path.join(a.work, "offlinefs")
                shutil.copy2(src, a.offlinefs)
        elif shutil.which(t) is None:
            raise BenchError("%s not installed (apt-get install -y %s)" % (
                t, {"mbsync": "isync", "offlineimap": "offlineimap3"}[t]))
    a.tools = [t for t in a.tools if t not in missing]
    if not a.tools:
        raise BenchError("no tool to measure")


def environment(a, bench):
    def git(*args):
        try:
            return subprocess.run(["git", "-C", ROOT] + list(args), stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL).stdout.decode().strip()
        except OSError:
            return "?"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "kernel": platform.release(),
        "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
        "git": git("rev-parse", "--short", "HEAD") + (" (dirty)" if git("status", "--porcelain",
                                                                        "--untracked-files=no")
                                                       else ""),
        "dovecot": cmd_version(["dovecot", "--version"]),
        "versions": {t: bench.tool[(bench.datasets()[0], t)].version() for t in a.tools},
        "offlinefs_binary": ({"source": a.offlinefs_source,
                              "sha256": hashlib.sha256(open(a.offlinefs, "rb").read()).hexdigest(),
                              "mtime": time.strftime("%Y-%m-%d %H:%M:%S",
                                                     time.localtime(os.path.getmtime(
                                                         a.offlinefs_source)))}
                             if "offlinefs" in a.tools else None),
        "argv": sys.argv,
    }


def mount_scratch(work):
    """A fresh ext4 (mkfs defaults: 4 KiB blocks, journal) in a sparse image
    file, loop-mounted on the work dir. Returns the image path, or None (with
    a warning) when this machine cannot (no loop device, no mkfs.ext4).

    Why: every tool's run creates thousands of files, and what that costs
    depends on the filesystem's history. On this machine's journal-less
    ext4, inodes freed in the last few minutes (by anything, a previous
    bench included) are skipped by the allocator at the price of reading
    each one's inode block: up to 90% of a tool's initial-sync CPU went
    there, varying 2x between runs minutes apart. A new filesystem per
    bench has no such history, and ext4 with a journal is what most users'
    Maildirs live on."""
    img = work.rstrip("/") + ".img"
    try:
        with open(img, "wb") as f:
            f.truncate(12 << 30)
        # inode tables and journal written now, not by a kernel thread
        # (ext4lazyinit) in the middle of the measurements
        subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                        img], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        subprocess.run(["mount", "-o", "loop", img, work], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", b"") or b""
        log("warning: no fresh ext4 for the work dir (%s%s); measuring on %s as it is" % (
            e, (": " + err.decode(errors="replace").strip()) if err else "", work))
        try:
            os.unlink(img)
        except OSError:
            pass
        return None
    return img


def unmount_scratch(work, img, keep):
    r = subprocess.run(["umount", work], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", work], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if keep:
        log("the work dir's filesystem is %s (mount -o loop %s %s)" % (img, img, work))
    else:
        try:
            os.unlink(img)
        except OSError:
            pass


def main(argv=None):
    a = parse_args(argv if argv is not None else sys.argv[1:])
    if os.geteuid() != 0:
        print("bench: run as root (Dovecot's fixture needs it), like CI", file=sys.stderr)
        return 2

    def on_signal(sig, frame):
        print("bench: got signal %d; stopping the tool and Dovecot" % sig, file=sys.stderr)
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    if a.keep:
        a.work = os.path.abspath(a.keep)
        os.makedirs(a.work, exist_ok=True)
        if os.listdir(a.work):
            print("bench: --keep %s is not empty; give a new or empty directory" % a.work,
                  file=sys.stderr)
            return 2
    else:
        a.work = tempfile.mkdtemp(prefix="ofsb-", dir="/var/tmp")
    scratch_img = mount_scratch(a.work) if a.fs == "ext4" else None
    a.fs_used = "fresh ext4 (loop image)" if scratch_img else "the host's %s" % a.work
    os.chmod(a.work, 0o755)
    os.makedirs(os.path.join(a.work, "logs"))
    bench = None
    t_start = time.monotonic()
    try:
        check_tools(a)
        bench = Bench(a)
        load = os.getloadavg()[0]
        if load > (os.cpu_count() or 1) * 0.5:
            log("warning: load average %.1f on %d CPUs: other work will skew wall times "
                "(CPU times and RSS suffer less)" % (load, os.cpu_count() or 1))
        log("work dir %s; tools %s; scenarios %s; %d runs; timeout %ds" % (
            a.work, ",".join(a.tools), ",".join(a.scenarios), a.runs, a.timeout))
        bench.generate()
        bench.start_server()
        bench.load()
        env = environment(a, bench)
        floor = bench.connection_floor()
        bench.run()
        env["loadavg_end"] = os.getloadavg()
        env["bench_seconds"] = round(time.monotonic() - t_start, 1)
        m = bench.manifests.get("main") or next(iter(bench.manifests.values()))
        size = sum(e["size"] for f in m["folders"] for e in f["messages"])
        big = ""
        if "big" in bench.manifests:
            bm = bench.manifests["big"]
            big = "; big corpus: %d messages in one folder, %.0f MB" % (
                a.big_messages, sum(e["size"] for f in bm["folders"] for e in f["messages"]) / 1e6)
        meta = {"runs": a.runs, "corpus_desc": "corpus seed %d: %d messages in %d folders, %.0f MB "
                "(%d of 1-4 MB)%s; churn %d%%; fsync %s; filesystem: %s; server: %s; "
                "command: %s" % (
                    a.seed, a.messages, len(m["folders"]), size / 1e6, a.large, big, a.churn_pct,
                    "off" if a.no_fsync else "on (tool defaults)", a.fs_used,
                    "processes kept ready (process_min_avail)" if a.prefork_server
                    else "Dovecot defaults (a fork per connection)",
                    " ".join(["python3", "bench/run.py"] + (argv if argv is not None
                                                             else sys.argv[1:])))}
        if floor is not None:
            env["connection_floor_s"] = floor
            meta["corpus_desc"] += ("; server connection floor (TLS + LOGIN + LOGOUT, no client "
                                    "start-up) %.1f ms" % (floor * 1000))
        agg = aggregate(bench.results, a.scenarios, a.tools)
        table = render(agg, a.scenarios, a.tools, meta)
        print(table)
        os.makedirs(a.results, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H%M%S")
        out = {"environment": env, "settings": {k: v for k, v in vars(a).items()},
               "corpus": meta["corpus_desc"],
               "summary": [dict(scenario=sc, tool=t, **agg[(sc, t)])
                           for sc in a.scenarios for t in a.tools],
               "runs": bench.results}
        with open(os.path.join(a.results, stamp + ".json"), "w") as f:
            json.dump(out, f, indent=1)
        with open(os.path.join(a.results, stamp + ".md"), "w") as f:
            f.write("# Benchmark %s\n\n%s\n\nload average start %s end %s; %s; git %s\n" % (
                env["date"], table, " ".join("%.2f" % x for x in env["loadavg_start"]),
                " ".join("%.2f" % x for x in env["loadavg_end"]),
                "; ".join("%s: %s" % kv for kv in env["versions"].items()), env["git"]))
        log("results: %s.{json,md} (%.0fs total)" % (os.path.join(a.results, stamp),
                                                     time.monotonic() - t_start))
        return 0
    except (BenchError, FixtureError) as e:
        print("bench: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        kill_current_child()
        if bench is not None:
            bench.stop_server()
        if a.keep:
            shutil.rmtree(os.path.join(a.work, "trash"), ignore_errors=True)
            log("kept %s (server stopped; restart with tests/fixture/dovecot.py start --dir %s/srv)"
                % (a.work, a.work))
        if scratch_img:
            unmount_scratch(a.work, scratch_img, a.keep)
        if not a.keep:
            shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
