#!/usr/bin/python3
"""Benchmark the live mount (`offlinefs mount`) against the plain Maildir.

A measurement, not a test: nothing here passes or fails on timings.  It
prints one table (and writes bench/results/mount-<date>.json):

  (a) reader load of one big folder (--messages, default 10,000), through the
      mount vs directly on the Maildir underneath:
        - scan:  Python lists cur/ and new/ and reads every file's header
                 block (what a header-cache-less reader does);
        - mutt:  `mutt -R -f <folder> -e 'push <quit>'` in a pty (no header
                 cache), i.e. open the folder and quit;
      warm (page cache and kernel dentries warm) and, where
      /proc/sys/vm/drop_caches is writable, cold.  Aim: mount/direct <= 1.2.
  (b) latency from a flag rename on the mount (`cur/x:2,S` -> `cur/x:2,FS`)
      to the flag being visible on the server, --renames times (default
      200), measured from a second IMAP connection polling NOOP (the
      server reports the FETCH at the next NOOP: ~0.3 ms resolution), or in
      IDLE (Dovecot waits ~0.5 s before it pushes a change to an IDLE
      client, so that row measures Dovecot as much as offlinefs); p50/p90/
      p99/max.  Aim on loopback: p50 <= 20 ms, p99 <= 100 ms.  Also a burst:
      all renames at once, time until the server shows the last one.
  (c) bulk read throughput, MB/s, through the mount vs direct, over --large
      (default 16) 1-4 MB messages plus the big folder, warm and cold.

Usage (as root, like CI: the Dovecot fixture needs it):
    ninja -C build && python3 bench/mount_bench.py [--offlinefs build/tools/offlinefs]
        [--messages 10000] [--renames 200] [--large 16] [--runs 3]
        [--latency-method poll,idle] [--keep DIR]

The binary is copied into the work directory first (a rebuild during the
run cannot swap it).  Everything lives in a temp dir under /var/tmp, removed
at the end unless --keep.  docs/benchmarks.md ("Mount") has more.
"""

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))

import corpus as fixture_corpus  # noqa: E402
from dovecot import Dovecot  # noqa: E402


def _load_gen_corpus():
    spec = importlib.util.spec_from_file_location("gen_corpus",
                                                  os.path.join(ROOT, "tools", "gen-corpus.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen_corpus = _load_gen_corpus()
ACCOUNT = "Bench"


def log(fmt, *a):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), fmt % a if a else fmt), file=sys.stderr,
          flush=True)


# ---------------------------------------------------------------- helpers
def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def drop_caches():
    """Drop the page cache, dentries and inodes; False where not permitted."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def can_drop_caches():
    return drop_caches()


def mount_type(path):
    t = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if mp == path:
                t = fields[fields.index("-") + 1]
    return t


def proc_cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return None


def wait_quiet(pid, quiet_s=2.0, timeout=600):
    """Wait until process pid used no CPU for quiet_s seconds (the mount's
    start-up full sync is over).  Returns the seconds waited."""
    t0 = time.monotonic()
    last, since = proc_cpu_ticks(pid), time.monotonic()
    while time.monotonic() - t0 < timeout:
        time.sleep(0.25)
        now = proc_cpu_ticks(pid)
        if now is None:
            raise RuntimeError("offlinefs mount (pid %d) died" % pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return time.monotonic() - t0


def message_files(folder_dir):
    out = []
    for sub in ("cur", "new"):
        d = os.path.join(folder_dir, sub)
        for e in os.scandir(d):
            if not e.name.startswith("."):
                out.append(e.path)
    return out


# ---------------------------------------------------------------- (a) load
def scan_headers(folder_dir):
    """What a reader without header cache does: list, open, read headers."""
    n = 0
    for sub in ("cur", "new"):
        d = os.path.join(folder_dir, sub)
        for e in os.scandir(d):
            if e.name.startswith("."):
                continue
            e.stat()
            with open(e.path, "rb") as f:
                for line in f:
                    if line in (b"\n", b"\r\n"):
                        break
            n += 1
    return n


def mutt_load(folder_dir, rc, home):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TERM": "screen",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    cmd = "mutt -n -F %s -R -f %s -e 'push <quit>'" % (rc, folder_dir)
    t0 = time.perf_counter()
    p = subprocess.run(["script", "-q", "-e", "-c", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=600)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("mutt on %s exited %d: %s" % (folder_dir, p.returncode,
                                                          p.stderr.decode(errors="replace")))
    return dt


def timed(fn, *a):
    t0 = time.perf_counter()
    fn(*a)
    return time.perf_counter() - t0


def measure_pair(name, fn, direct, mounted, runs, cold, results):
    """Median seconds of fn(path) on direct and mounted, alternating."""
    for mode in (["warm"] + (["cold"] if cold else [])):
        times = {"direct": [], "mount": []}
        if mode == "warm":
            fn(direct)
            fn(mounted)  # warm-up, not counted
        for _ in range(runs):
            for label, path in (("direct", direct), ("mount", mounted)):
                if mode == "cold":
                    drop_caches()
                times[label].append(fn(path))
        d, m = statistics.median(times["direct"]), statistics.median(times["mount"])
        results.append({"test": name, "mode": mode, "direct_s": d, "mount_s": m,
                        "ratio": m / d if d else float("nan"), "runs": times})
        log("%s %s: direct %.3f s, mount %.3f s (%.2fx)", name, mode, d, m, m / d if d else 0)


# ---------------------------------------------------------------- (b) latency
class Watcher:
    """Second IMAP connection on the latency folder: IDLE or NOOP polling.

    A tiny IMAP client on a raw TLS socket (imaplib has no IDLE before
    Python 3.14); it only needs untagged FETCH lines with FLAGS."""

    def __init__(self, dc, user, folder):
        ctx = ssl.create_default_context(cafile=dc.cafile)
        raw = socket.create_connection(("localhost", dc.imaps_port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.f = self.s.makefile("rb")
        self.tag = 0
        self.line()  # greeting
        self.cmd('LOGIN %s "%s"' % (user, dc.password(user)))
        self.cmd('EXAMINE "%s"' % folder)
        self.seq2uid, self.flags = {}, {}
        for ln in self.cmd("FETCH 1:* (UID FLAGS)"):
            m = re.match(rb"\* (\d+) FETCH \((.*)\)", ln)
            if m:
                seq = int(m.group(1))
                uid = int(re.search(rb"UID (\d+)", ln).group(1))
                self.seq2uid[seq] = uid
                self.flags[uid] = self._flags(ln)

    @staticmethod
    def _flags(ln):
        return set(re.search(rb"FLAGS \(([^)]*)\)", ln).group(1).decode().split())

    def line(self):
        ln = self.f.readline()
        if not ln:
            raise RuntimeError("IMAP connection closed")
        return ln.rstrip(b"\r\n")

    def send(self, text):
        self.s.sendall(text.encode() + b"\r\n")

    def cmd(self, text):
        self.tag += 1
        t = "w%d" % self.tag
        self.send("%s %s" % (t, text))
        out = []
        while True:
            ln = self.line()
            if ln.startswith(t.encode() + b" "):
                if not ln.startswith(t.encode() + b" OK"):
                    raise RuntimeError("%s: %r" % (text, ln))
                return out
            out.append(ln)

    def _absorb(self, ln):
        m = re.match(rb"\* (\d+) FETCH \(.*FLAGS \(", ln)
        if m:
            uid = self.seq2uid.get(int(m.group(1)))
            if uid is not None:
                self.flags[uid] = self._flags(ln)

    def idle_start(self):
        self.tag += 1
        self.idle_tag = "w%d" % self.tag
        self.send("%s IDLE" % self.idle_tag)
        while True:
            ln = self.line()
            if ln.startswith(b"+"):
                return
            self._absorb(ln)

    def idle_wait(self, pred, timeout):
        """Read pushed lines until pred(self.flags) or timeout; True if met."""
        end = time.perf_counter() + timeout
        while not pred(self.flags):
            left = end - time.perf_counter()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                self._absorb(self.line())
            except (socket.timeout, TimeoutError):
                return False
            finally:
                self.s.settimeout(10)
        return True

    def idle_done(self):
        self.send("DONE")
        while True:
            ln = self.line()
            if ln.startswith(self.idle_tag.encode() + b" "):
                return
            self._absorb(ln)

    def poll_wait(self, pred, timeout):
        end = time.perf_counter() + timeout
        while not pred(self.flags):
            if time.perf_counter() > end:
                return False
            for ln in self.cmd("NOOP"):
                self._absorb(ln)
        return True

    def close(self):
        with contextlib.suppress(Exception):
            self.cmd("LOGOUT")
        self.s.close()


def latency_run(dc, user, folder_remote, folder_dir, n, method):
    """n single flag renames on the mount; seconds until the server shows each."""
    w = Watcher(dc, user, folder_remote)
    try:
        files = {}
        for p in message_files(folder_dir):
            m = re.search(r",U=(\d+),", os.path.basename(p))
            if m and int(m.group(1)) in w.flags:
                files[int(m.group(1))] = p
        uids = sorted(files)
        if not uids:
            raise RuntimeError("no U= file names in %s" % folder_dir)
        lat, missed = [], 0
        for i in range(n):
            uid = uids[i % len(uids)]
            path = files[uid]
            base, _, letters = os.path.basename(path).partition(":2,")
            want_flag = "F" not in letters
            letters = "".join(sorted(set(letters) ^ {"F"}))
            new = os.path.join(os.path.dirname(path), base + ":2," + letters)

            def seen(flags, uid=uid, want=want_flag):
                return ("\\Flagged" in flags[uid]) == want
            if method == "idle":
                w.idle_start()
            t0 = time.perf_counter()
            os.rename(path, new)
            ok = (w.idle_wait if method == "idle" else w.poll_wait)(seen, 5.0)
            dt = time.perf_counter() - t0
            if method == "idle":
                w.idle_done()
            files[uid] = new
            if ok:
                lat.append(dt)
            else:
                missed += 1
                # catch up so the next measurement starts clean
                w.poll_wait(seen, 30.0)
        return lat, missed, files
    finally:
        w.close()


def burst_run(dc, user, folder_remote, files, n):
    """All renames at once; seconds until the server shows the last one."""
    w = Watcher(dc, user, folder_remote)
    try:
        uids = sorted(files)[:n]
        want = {}
        t0 = time.perf_counter()
        for uid in uids:
            path = files[uid]
            base, _, letters = os.path.basename(path).partition(":2,")
            want[uid] = "F" not in letters
            letters = "".join(sorted(set(letters) ^ {"F"}))
            new = os.path.join(os.path.dirname(path), base + ":2," + letters)
            os.rename(path, new)
            files[uid] = new
        t_local = time.perf_counter() - t0
        ok = w.poll_wait(lambda fl: all(("\\Flagged" in fl[u]) == want[u] for u in uids), 120.0)
        return t_local, time.perf_counter() - t0, ok
    finally:
        w.close()


# ---------------------------------------------------------------- (c) bulk
def read_all(paths):
    total = 0
    buf = bytearray(1 << 20)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                total += k
    return total


# ---------------------------------------------------------------- setup
class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.keep or tempfile.mkdtemp(prefix="ofs-mbench-", dir="/var/tmp")
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.mail = os.path.join(self.work, "Mail")
        self.meta = os.path.join(self.work, "metadata")
        self.mnt = os.path.join(self.work, "mnt")
        self.home = os.path.join(self.work, "home")
        self.proc = None
        self.dc = None

    def binary(self):
        src = os.path.abspath(self.args.offlinefs)
        if not os.access(src, os.X_OK):
            raise SystemExit("mount_bench: no offlinefs binary at %s (build it, or --offlinefs)"
                             % src)
        dst = os.path.join(self.work, "offlinefs")
        shutil.copy2(src, dst)
        self.exe = dst

    def start_server(self):
        self.dc = Dovecot(os.path.join(self.work, "srv")).start()
        self.user = self.dc.users[0]["user"]

    def load(self):
        a = self.args
        specs = [("Big", a.messages, 0, 8.0, 1), ("Latency", max(50, min(a.renames, 500)), 0,
                                                   0.0, 2)]
        if a.large:
            specs.append(("Large", a.large, a.large, 0.0, 3))
        for folder, n, large, attach, seed in specs:
            out = os.path.join(self.work, "corpus-" + folder)
            t0 = time.monotonic()
            gen_corpus.generate(out, seed, [folder], n, large, attach)
            fixture_corpus.load_corpus(self.dc, self.user, out, "maildir")
            log("loaded %s: %d messages (%.1f s)", folder, n, time.monotonic() - t0)
        # The latency folder: every message seen, none flagged (renames toggle F).
        c = self.dc.imap(self.user)
        c.select("Latency")
        c.store("1:*", "+FLAGS", "(\\Seen)")
        c.store("1:*", "-FLAGS", "(\\Flagged)")
        c.logout()

    def write_config(self):
        self.conf = os.path.join(self.work, "offlineimaprc")
        with open(self.conf, "w") as f:
            f.write("[general]\naccounts = %s\nmetadata = %s\n%s\n"
                    "[Account %s]\nlocalrepository = L\nremoterepository = R\n\n"
                    "[Repository L]\ntype = Maildir\nlocalfolders = %s\n\n"
                    "[Repository R]\ntype = IMAP\nremotehost = localhost\nremoteport = %d\n"
                    "remoteuser = %s\nremotepass = %s\nssl = yes\nsslcacertfile = %s\n"
                    % (ACCOUNT, self.meta, "fsync = false\n" if self.args.no_fsync else "",
                       ACCOUNT, self.mail, self.dc.imaps_port, self.user,
                       self.dc.password(self.user), self.dc.cafile))

    def initial_sync(self):
        t0 = time.monotonic()
        p = subprocess.run([self.exe, "-c", self.conf, "-o", "-u", "quiet"],
                           capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            raise SystemExit("mount_bench: initial sync failed (%d):\n%s"
                             % (p.returncode, p.stdout + p.stderr))
        log("initial sync: %.1f s", time.monotonic() - t0)

    def mount(self):
        os.makedirs(self.mnt, exist_ok=True)
        self.mount_log = open(os.path.join(self.work, "mount.log"), "ab")
        self.proc = subprocess.Popen([self.exe, "mount", "-c", self.conf, "-f", self.mnt],
                                     stdin=subprocess.DEVNULL, stdout=self.mount_log,
                                     stderr=self.mount_log)
        t0 = time.monotonic()
        while mount_type(self.mnt) is None:
            if self.proc.poll() is not None:
                with open(os.path.join(self.work, "mount.log"), errors="replace") as f:
                    raise SystemExit("mount_bench: offlinefs mount exited %d:\n%s"
                                     % (self.proc.returncode, f.read()[-3000:]))
            if time.monotonic() - t0 > 60:
                raise SystemExit("mount_bench: no mount after 60 s")
            time.sleep(0.05)
        waited = wait_quiet(self.proc.pid)
        log("mounted; start-up sync settled after %.1f s", waited)

    def unmount(self):
        if self.proc is None:
            return
        if mount_type(self.mnt) is not None:
            subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True)
            self.proc.kill()
            self.proc.wait()
        if mount_type(self.mnt) is not None:
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True)
        self.proc = None

    def cleanup(self):
        self.unmount()
        if self.dc:
            self.dc.stop()
        if not self.args.keep:
            if mount_type(self.mnt) is None:
                shutil.rmtree(self.work, ignore_errors=True)
            else:
                log("left %s: still mounted", self.work)

    def muttrc(self, hcache=None):
        """mutt settings for the load test; hcache: a header cache file (as
        examples/mutt/muttrc.mount has it) or None for none."""
        rc = os.path.join(self.work, "muttrc-" + (os.path.basename(hcache) if hcache else "nohc"))
        os.makedirs(self.home, exist_ok=True)
        with open(rc, "w") as f:
            f.write('set folder = "%s"\nset spoolfile = "+Big"\nset mbox_type = Maildir\n'
                    'set header_cache = "%s"\nset maildir_header_cache_verify = no\n'
                    'set sort = mailbox-order\nset mail_check_recent = no\n'
                    'set check_new = no\nset record = ""\n' % (self.mail, hcache or ""))
        return rc

    # ------------------------------------------------------------ run
    def run(self):
        a = self.args
        res = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
               "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
               "args": vars(a), "load": [], "latency": {}, "bulk": []}
        self.binary()
        self.start_server()
        self.load()
        self.write_config()
        self.initial_sync()
        self.mount()
        cold = (not a.no_cold) and can_drop_caches()
        if not cold:
            log("cold-cache runs: skipped (%s)", "--no-cold" if a.no_cold else
                "/proc/sys/vm/drop_caches is not writable")
        res["cold"] = cold
        direct_big, mount_big = os.path.join(self.mail, "Big"), os.path.join(self.mnt, "Big")

        # (a)
        measure_pair("scan %d msgs" % a.messages, lambda p: timed(scan_headers, p),
                     direct_big, mount_big, a.runs, cold, res["load"])
        if shutil.which("mutt") and shutil.which("script"):
            rc = self.muttrc()
            measure_pair("mutt open %d msgs" % a.messages,
                         lambda p: mutt_load(p, rc, self.home),
                         direct_big, mount_big, a.runs, cold, res["load"])
            # With a header cache (what examples/mutt/muttrc.mount sets),
            # one cache per side, filled by the warm-up run.
            rcs = {direct_big: self.muttrc(os.path.join(self.work, "hcache-direct")),
                   mount_big: self.muttrc(os.path.join(self.work, "hcache-mount"))}
            measure_pair("mutt open %d msgs, header cache" % a.messages,
                         lambda p: mutt_load(p, rcs[p], self.home),
                         direct_big, mount_big, a.runs, cold, res["load"])
        else:
            log("mutt or script missing: mutt load skipped")

        # (b)
        wait_quiet(self.proc.pid, 1.0)
        for method in a.latency_method.split(","):
            lat, missed, files = latency_run(self.dc, self.user, "Latency",
                                             os.path.join(self.mnt, "Latency"), a.renames, method)
            res["latency"][method] = {"n": len(lat), "missed": missed, "samples_s": lat}
            log("latency (%s): n=%d p50 %.1f ms p99 %.1f ms max %.1f ms, missed %d", method,
                len(lat), 1000 * percentile(lat, 50), 1000 * percentile(lat, 99),
                1000 * max(lat or [0]), missed)
            wait_quiet(self.proc.pid, 1.0)
        t_local, t_all, ok = burst_run(self.dc, self.user, "Latency", files,
                                       min(a.renames, len(files)))
        res["burst"] = {"n": min(a.renames, len(files)), "local_s": t_local, "server_s": t_all,
                        "complete": ok}
        log("burst: %d renames in %.3f s locally, all on the server after %.3f s%s",
            res["burst"]["n"], t_local, t_all, "" if ok else " (INCOMPLETE)")

        # (c)
        wait_quiet(self.proc.pid, 1.0)
        sets = [("big folder", "Big")]
        if a.large:
            sets.insert(0, ("large msgs", "Large"))
        for label, folder in sets:
            rel = [os.path.relpath(p, self.mail)
                   for p in message_files(os.path.join(self.mail, folder))]
            size = sum(os.path.getsize(os.path.join(self.mail, r)) for r in rel)
            for mode in ["warm"] + (["cold"] if cold else []):
                rates = {"direct": [], "mount": []}
                if mode == "warm":
                    read_all([os.path.join(self.mail, r) for r in rel])
                    read_all([os.path.join(self.mnt, r) for r in rel])
                for _ in range(a.runs):
                    for where, root in (("direct", self.mail), ("mount", self.mnt)):
                        if mode == "cold":
                            drop_caches()
                        paths = [os.path.join(root, r) for r in rel]
                        t0 = time.perf_counter()
                        n = read_all(paths)
                        rates[where].append(n / (1 << 20) / (time.perf_counter() - t0))
                d, m = statistics.median(rates["direct"]), statistics.median(rates["mount"])
                res["bulk"].append({"set": label, "files": len(rel), "mib": size / (1 << 20),
                                    "mode": mode, "direct_mibs": d, "mount_mibs": m,
                                    "ratio": m / d, "runs": rates})
                log("bulk %s %s: direct %.0f MiB/s, mount %.0f MiB/s", label, mode, d, m)
        res["offlinefs_cpu_ticks"] = proc_cpu_ticks(self.proc.pid)
        return res


def table(res):
    out = []
    out.append("| measurement | cache | direct | mount | mount/direct | aim |")
    out.append("|---|---|---|---|---|---|")
    for r in res["load"]:
        out.append("| %s | %s | %.3f s | %.3f s | %.2fx | <= 1.2x |"
                   % (r["test"], r["mode"], r["direct_s"], r["mount_s"], r["ratio"]))
    for r in res["bulk"]:
        out.append("| read %s (%d files, %.0f MiB) | %s | %.0f MiB/s | %.0f MiB/s | %.2fx | |"
                   % (r["set"], r["files"], r["mib"], r["mode"], r["direct_mibs"],
                      r["mount_mibs"], r["ratio"]))
    out.append("")
    out.append("| flag rename -> visible on server | n | p50 | p90 | p99 | max | missed (>5 s) | aim |")
    out.append("|---|---|---|---|---|---|---|---|")
    for method, r in res["latency"].items():
        s = r["samples_s"]
        out.append("| watched by %s | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %d | "
                   "p50 <= 20 ms, p99 <= 100 ms |"
                   % ("IDLE" if method == "idle" else "NOOP polling", r["n"],
                      1000 * percentile(s, 50), 1000 * percentile(s, 90),
                      1000 * percentile(s, 99), 1000 * max(s or [0]), r["missed"]))
    b = res.get("burst")
    if b:
        out.append("")
        out.append("Burst: %d flag renames issued in %.3f s on the mount; the server showed all "
                   "of them %.3f s after the first%s (%.0f ops/s)."
                   % (b["n"], b["local_s"], b["server_s"], "" if b["complete"] else
                      " — INCOMPLETE after 120 s", b["n"] / b["server_s"]))
    if not res.get("cold"):
        out.append("")
        out.append("Cold-cache rows skipped: /proc/sys/vm/drop_caches is not writable here.")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offlinefs", default=os.path.join(ROOT, "build", "tools", "offlinefs"))
    ap.add_argument("--messages", type=int, default=10000, help="size of the big folder")
    ap.add_argument("--renames", type=int, default=200, help="flag renames for the latency test")
    ap.add_argument("--large", type=int, default=16, help="1-4 MB messages for the bulk read")
    ap.add_argument("--runs", type=int, default=3, help="measured runs per row (median)")
    ap.add_argument("--latency-method", default="poll,idle",
                    help="comma list of poll, idle (how the second connection watches; "
                    "idle includes Dovecot's own ~0.5 s delay before it pushes a change)")
    ap.add_argument("--no-cold", action="store_true", help="skip cold-cache rows")
    ap.add_argument("--no-fsync", action="store_true", help="fsync = false in the config")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("mount_bench: run as root (the Dovecot fixture needs it)")
    for m in a.latency_method.split(","):
        if m not in ("idle", "poll"):
            raise SystemExit("mount_bench: --latency-method: idle or poll, not %r" % m)
    b = Bench(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        res = b.run()
    finally:
        b.cleanup()
    t = table(res)
    print(t)
    outdir = os.path.join(HERE, "results")
    os.makedirs(outdir, exist_ok=True)
    stem = os.path.join(outdir, "mount-" + time.strftime("%Y%m%d-%H%M%S"))
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(t + "\n")
    log("wrote %s.json and .md", stem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
