#!/usr/bin/env python3
"""bench/python_cost.py — what the Python-valued options cost (docs/python.md).

Starts a throwaway Dovecot, syncs a small mailbox once, then times no-op
syncs (`offlinefs -o`) of the same account under three configs:
  plain       no Python-valued option (python3 must never start)
  passeval    remotepasseval = get_pass('x') from a pythonfile
  nametrans   the same plus nametrans both ways, folderfilter, foldersort
Prints the median and min wall time of N runs of each, interleaved, and the
median CPU time (user+sys of offlinefs and the python3 helper it reaps),
which a loaded machine distorts much less than wall time.

    python3 bench/python_cost.py [--runs 30] [--binary build/tools/offlinefs]
                                 [--baseline OTHER/offlinefs]
--baseline adds "baseline": the plain config synced by another binary (say,
the commit before the Python options), to check the no-Python path.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "fixture"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from dovecot import Dovecot  # noqa: E402


def config(path, d, user, pw, mail, meta, extra_general="", extra_remote="", extra_local=""):
    with open(path, "w") as f:
        f.write(f"""[general]
accounts = A
metadata = {meta}
{extra_general}
[Account A]
localrepository = L
remoterepository = R
[Repository L]
type = Maildir
localfolders = {mail}
{extra_local}
[Repository R]
type = IMAP
remotehost = 127.0.0.1
remoteport = {d.imaps_port}
remoteuser = {user}
ssl = yes
sslcacertfile = {d.cafile}
{extra_remote}
""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--binary", default=os.path.join(SRC, "build", "tools", "offlinefs"))
    ap.add_argument("--baseline")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ofs-pybench-", dir="/var/tmp")
    try:
        with Dovecot(os.path.join(tmp, "srv")) as d:
            u = d.users[0]
            for folder in ("INBOX", "Archive", "Lists/a"):
                for i in range(20):
                    d.deliver(u["user"], folder, b"Subject: m%d\n\nbody\n" % i)
            pyfile = os.path.join(tmp, "helpers.py")
            with open(pyfile, "w") as f:
                f.write("import subprocess\n"
                        "def get_pass(a):\n"
                        "    return subprocess.check_output(['printf', '%%s', %r]).decode()\n"
                        % u["password"])
            gen = f"pythonfile = {pyfile}"
            confs = {}
            binary = {}
            cases = [("plain", "", f"remotepass = {u['password']}", "")]
            if args.baseline:
                cases.append(("baseline", "", f"remotepass = {u['password']}", ""))
            for name, g, r, l in cases + [
                ("passeval", gen, "remotepasseval = get_pass('x')", ""),
                ("nametrans", gen, "remotepasseval = get_pass('x')\n"
                 "nametrans = lambda f: re.sub('^INBOX$', 'inbox', f)\n"
                 "folderfilter = lambda f: f not in ['Trash'] and not re.search('^Junk', f)\n"
                 "foldersort = lambda x, y: len(x) - len(y)",
                 "nametrans = lambda f: re.sub('^inbox$', 'INBOX', f)"),
            ]:
                mail = os.path.join(tmp, name, "Mail")
                meta = os.path.join(tmp, name, "meta")
                os.makedirs(os.path.join(tmp, name))
                c = os.path.join(tmp, name, "rc")
                config(c, d, u["user"], u["password"], mail, meta, g, r, l)
                binary[name] = args.baseline if name == "baseline" else args.binary
                subprocess.run([binary[name], "-c", c, "-o", "-u", "quiet"], check=True)
                confs[name] = c
            times = {n: [] for n in confs}
            cpu = {n: [] for n in confs}
            for _ in range(args.runs):
                for n, c in confs.items():
                    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t = time.perf_counter()
                    subprocess.run([binary[n], "-c", c, "-o", "-u", "quiet"], check=True)
                    times[n].append((time.perf_counter() - t) * 1000)
                    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu[n].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
            base = statistics.median(times["plain"])
            cbase = statistics.median(cpu["plain"])
            for n, v in times.items():
                med = statistics.median(v)
                cm = statistics.median(cpu[n])
                print("%-10s wall median %7.1f ms  min %7.1f ms (+%.1f)   CPU median %6.1f ms "
                      "(+%.1f)" % (n, med, min(v), med - base, cm, cm - cbase))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
