#!/usr/bin/python3
"""Run every real config of tests/realconfigs/configs through real
OfflineIMAP and through offlinefs, each against its own copy of the same
server state, and compare what they did.

Why: offlinefs is a drop-in for OfflineIMAP's users (issue 11).  The honest
measure of that is users' own configs, unchanged except for what a user
moving machines changes (tests/realconfigs/rewrite.py), synced by both tools
against a real Dovecot, with the results compared.

For each config:
  1. one throwaway Dovecot (tests/fixture/dovecot.py) with two users holding
     identical mail: INBOX, Sent, Drafts, Trash, nested and non-ASCII
     folders, every folder name the config's nametrans/folderfilter
     mention, messages from tools/gen-corpus.py plus two recent ones (so
     maxage/startdate select something);
  2. `offlineimap -c CONF -o -u quiet` as user1 and `offlinefs -c CONF -o` as
     user2, each in its own run directory and fake HOME (with `-a` naming
     the accounts that do not belong to the transports issue, when some do);
  3. comparison of: exit status class, Maildir folder set, file names
     (without OfflineIMAP's <time>_<seq>.<pid>.<host> prefix: U=, FMD5= and
     flags are kept), message bytes, hooks run (logged by wrappers), the
     mbnames file, and the server afterwards (folders, UIDNEXT, flags and
     bytes of every message; not UIDVALIDITY, which differs per user).

One line per config: identical / differs: what / deliberate difference: why
(a documented choice, docs/config-parity.md; not counted as identical) /
offlinefs refused: message / offlineimap fails: message / transports issue:
why; then "N of M real configs identical", M being the configs OfflineIMAP
syncs.

    python3 tests/realconfigs/compare.py [--only NAME[,NAME]] [--jobs N]
        [--expected FILE] [--json OUT] [--keep DIR]

--expected FILE: exit 1 if a config listed in FILE (one name a line, `#`
comments) is not identical: the ratchet the meson test `realconfigs` uses.
Needs root (Dovecot), offlineimap (Debian offlineimap3) and the offlinefs
binary ($OFFLINEFS or build/tools/offlinefs).
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)

import rewrite  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from corpus import load_corpus  # noqa: E402
from harness import Imap  # noqa: E402

CONFIG_DIR = os.path.join(HERE, "configs")
BASE_FOLDERS = ["INBOX", "Sent", "Drafts", "Trash", "Archive/2024", "Lists/dev",
                "Entwürfe", "Café/Menü"]
MAX_FOLDERS = 24
MESSAGES = 40
TOOL_TIMEOUT = 120

# <time>_<seq>.<pid>.<host>: what differs between two runs of the same tool.
NAME_PREFIX = re.compile(r"^\d+_\d+\.\d+\.[^,:!]*")


def offlinefs_path():
    p = os.environ.get("OFFLINEFS") or os.path.join(ROOT, "build", "tools", "offlinefs")
    if not os.access(p, os.X_OK):
        sys.exit("offlinefs binary not found at %s (build it, or set OFFLINEFS)" % p)
    return p


def config_names():
    return sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".conf"))


_corpus_lock = threading.Lock()
_corpus_cache = {}


def _gen_corpus(cache_root, folders):
    """The corpus for this folder list (tools/gen-corpus.py, fixed seed),
    generated once per distinct list and shared by the configs using it."""
    key = hashlib.sha256("\0".join(folders).encode()).hexdigest()[:16]
    with _corpus_lock:
        if key in _corpus_cache:
            return _corpus_cache[key]
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "gen_corpus", os.path.join(ROOT, "tools", "gen-corpus.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out = os.path.join(cache_root, "corpus-" + key)
        mod.generate(out, seed=11, folders=folders, messages=max(MESSAGES, 2 * len(folders)))
        _corpus_cache[key] = out
        return out


def _recent_message(n, now):
    t = now - 86400 * (1 + n)
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
    return ("From: Recent Sender <recent@example.test>\nTo: user@example.test\n"
            "Subject: recent message %d\nDate: %s\nMessage-ID: <recent-%d@example.test>\n\n"
            "A message from yesterday, so that maxage and startdate select something.\n"
            % (n, date, n)).encode()


def _server_folders(dc, wanted, cache_root):
    """Create the mail for both users; returns the folders really created."""
    ok = []
    for f in wanted:
        # A name Dovecot's fs layout cannot hold (a path component cur/new/
        # tmp, or empty) is skipped.
        parts = f.split("/")
        if any(p in ("", "cur", "new", "tmp", ".", "..") for p in parts):
            continue
        ok.append(f)
    corpus = _gen_corpus(cache_root, ok)
    now = int(time.time())
    for u in dc.users:
        load_corpus(dc, u["user"], corpus)
        for n in range(2):
            dc.deliver(u["user"], "INBOX", _recent_message(n, now))
    return ok


def _run_tool(argv, run, timeout=TOOL_TIMEOUT):
    env = {
        "HOME": os.path.join(run, "home"),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # The sanitizer settings of a CI build (tools/run-tests.sh) must reach
    # offlinefs, or LeakSanitizer would run without its suppressions.
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, cwd=env["HOME"], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        rc = "timeout"
    return {"rc": rc, "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"), "seconds": time.monotonic() - t0}


def _maildir_picture(run):
    """{folder: sorted [(sub, normalised name, sha256)]} under run/maildirs
    and the fake HOME (a Maildir the rewrite did not move would land there)."""
    pic = {}
    for top in ("maildirs", "home"):
        base = os.path.join(run, top)
        for dirpath, dirnames, filenames in os.walk(base):
            sub = os.path.basename(dirpath)
            if sub not in ("cur", "new", "tmp"):
                continue
            folder = os.path.relpath(os.path.dirname(dirpath), run)
            if "/.offlineimap" in "/" + folder or "/Account-" in folder:
                continue
            items = pic.setdefault(folder, [])
            for fn in filenames:
                with open(os.path.join(dirpath, fn), "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()[:16]
                items.append((sub, NAME_PREFIX.sub("*", fn), digest))
    for v in pic.values():
        v.sort()
    return pic


def _hooks(run):
    path = os.path.join(run, "hooks.log")
    if not os.path.exists(path):
        return []
    with open(path, errors="replace") as f:
        return sorted(line.rstrip("\n").replace(run, "$RUN") for line in f)


def _mbnames(run):
    out = {}
    d = os.path.join(run, "mbnames")
    if os.path.isdir(d):
        for fn in sorted(os.listdir(d)):
            with open(os.path.join(d, fn), errors="replace") as f:
                out[fn] = f.read().replace(run, "$RUN")
    return out


def _server_picture(dc, user):
    with Imap(dc, user) as c:
        snap = c.snapshot()
    return {f: (uidnext, msgs) for f, (_uidvalidity, uidnext, msgs) in snap.items()}


def _last_error(res, run):
    """The line of a tool's output that says why it failed (with the line
    after OfflineIMAP's "While attempting to sync" that holds the reason),
    run directory paths shortened to $RUN."""
    text = (res["stderr"] + "\n" + res["stdout"]).replace(run + "/", "").replace(run, "$RUN")
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    if res["rc"] == "timeout":
        return "timed out after %d s" % TOOL_TIMEOUT
    if any(l.startswith("Traceback") for l in lines) and not any(
            l.startswith("ERROR:") for l in lines):
        return lines[-1][:400]  # an uncaught exception: its last line says what
    for i, l in enumerate(lines):
        if re.search(r"ERROR|[Ee]rror|refus|not supported", l) and not l.startswith("Traceback"):
            if "While attempting" in l and i + 1 < len(lines):
                l += " " + lines[i + 1]
            return l[:400]
    return (lines[-1][:400] if lines else "exit %s" % res["rc"])


def _short(items, n=4):
    items = list(items)
    s = ", ".join(items[:n])
    return s + (" (+%d more)" % (len(items) - n) if len(items) > n else "")


def compare_pictures(a, b):
    """Differences between offlineimap's picture `a` and offlinefs's `b`,
    as short phrases."""
    diffs = []
    fa, fb = set(a["maildir"]), set(b["maildir"])
    if fa != fb:
        if fa - fb:
            diffs.append("Maildir folders only offlineimap made: " + _short(sorted(fa - fb)))
        if fb - fa:
            diffs.append("Maildir folders only offlinefs made: " + _short(sorted(fb - fa)))
    names, content = [], []
    for f in sorted(fa & fb):
        ma, mb = a["maildir"][f], b["maildir"][f]
        if ma == mb:
            continue
        if len(ma) != len(mb):
            names.append("%s: %d vs %d messages" % (f, len(ma), len(mb)))
            continue
        na = sorted((s, n) for s, n, _ in ma)
        nb = sorted((s, n) for s, n, _ in mb)
        if na != nb:
            ex = sorted(set(na) ^ set(nb))[:2]
            names.append("%s: file names differ (e.g. %s)" % (f, " / ".join("%s/%s" % x for x in ex)))
        else:
            content.append(f)
    if names:
        diffs.append("Maildir " + "; ".join(names[:3]) + ("; ..." if len(names) > 3 else ""))
    if content:
        diffs.append("message bytes differ in " + _short(content))
    if a["hooks"] != b["hooks"]:
        diffs.append("hooks: offlineimap ran [%s], offlinefs ran [%s]" % (
            "; ".join(a["hooks"]) or "none", "; ".join(b["hooks"]) or "none"))
    if a["mbnames"] != b["mbnames"]:
        if set(a["mbnames"]) != set(b["mbnames"]):
            diffs.append("mbnames file: offlineimap wrote %s, offlinefs wrote %s" % (
                _short(sorted(a["mbnames"])) or "none", _short(sorted(b["mbnames"])) or "none"))
        else:
            diffs.append("mbnames file content differs")
    if a["server"] != b["server"]:
        sa, sb = a["server"], b["server"]
        if set(sa) != set(sb):
            diffs.append("server folders differ: %s" % _short(sorted(set(sa) ^ set(sb))))
        else:
            bad = [f for f in sorted(sa) if sa[f] != sb[f]]
            what = []
            for f in bad[:3]:
                ua, ma = sa[f]
                ub, mb = sb[f]
                if len(ma) != len(mb):
                    what.append("%s %d vs %d messages" % (f, len(ma), len(mb)))
                elif [m[1] for m in ma] != [m[1] for m in mb]:
                    what.append("%s flags" % f)
                elif ua != ub:
                    what.append("%s UIDNEXT %d vs %d" % (f, ua, ub))
                else:
                    what.append("%s bytes" % f)
            diffs.append("server afterwards: " + "; ".join(what))
    return diffs


# offlinefs's warning for a server folder it does not sync because another
# server folder maps to the same local folder (sync/folder_map.c).
COLLISION = re.compile(r"Folder '(.+?)' maps to local folder '(.*?)'\[(.+?)\] like another "
                       r"server folder")


def deliberate(a_pic, b_pic, b_run, b_output):
    """Why offlinefs's result differs from OfflineIMAP's on purpose
    (docs/config-parity.md, "Deliberate differences"), or None.

    - TLS verified: offlinefs refuses a certificate it cannot verify
      (issue 11 §5) where OfflineIMAP never checks STARTTLS; recognised by
      offlinefs's error, which prints the cert_fingerprint line to add.
    - Two server folders mapping to one local folder: offlinefs syncs only
      the one the local name maps back to (OfflineIMAP merges both under one
      status). Deliberate only if the pictures are identical once those
      local folders are left out."""
    if b_run["rc"] != 0:
        text = b_output
        if "TLS certificate verification failed" in text and "cert_fingerprint" in text:
            return "TLS verified: offlinefs refuses the unverifiable certificate OfflineIMAP " \
                   "accepts unchecked (its error gives the cert_fingerprint line to add)"
        return None
    hits = COLLISION.findall(b_output)
    if not hits:
        return None
    skip = set()
    for _remote, local, repo in hits:
        d = "maildirs/" + re.sub(r"[^\w.-]", "_", repo)
        skip.add(d + "/" + local if local else d)
    def without(pic):
        return dict(pic, maildir={k: v for k, v in pic["maildir"].items() if k not in skip})
    if compare_pictures(without(a_pic), without(b_pic)):
        return None
    return "two server folders map to one local folder; offlinefs syncs only the one the " \
           "local name maps back to, OfflineIMAP merges both: " + _short(sorted(
               "'%s' not synced into %s[%s]" % h for h in set(hits)), 3)


def run_one(name, workroot, offlinefs, keep=False):
    """Compare both tools on config `name`; returns a result dict."""
    conf = os.path.join(CONFIG_DIR, name + ".conf")
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    res = {"name": name, "status": None, "detail": "", "accounts_skipped": {}}
    probe = rewrite.rewrite(text, "/probe", {"imaps_port": 1, "imap_port": 2, "cafile": "x",
                                             "cert_fingerprint_sha1": "y"}, "u", "p")
    res["accounts_skipped"] = probe.transport
    res["python_options"] = probe.python_options
    res["not_yet_options"] = probe.not_yet_options
    if probe.parse_error is None and not probe.accounts_run and probe.transport:
        res["status"] = "transports issue"
        res["detail"] = "; ".join("%s: %s" % (a, ", ".join(w)) for a, w in probe.transport.items())
        return res
    # Short: Dovecot's unix socket paths live under it (108-byte limit).
    base = tempfile.mkdtemp(prefix="c", dir=workroot)
    os.chmod(base, 0o755)
    dc = Dovecot(os.path.join(base, "d"), users=2)
    try:
        dc.start()
        info = dc.info()
        fx = {"imaps_port": info["imaps_port"], "imap_port": info["imap_port"],
              "cafile": info["cafile"], "cert_fingerprint_sha1": info["cert_fingerprint_sha1"]}
        wanted = list(BASE_FOLDERS)
        for f in probe.folders:
            if f not in wanted and len(wanted) < MAX_FOLDERS:
                wanted.append(f)
        res["server_folders"] = _server_folders(dc, wanted, workroot)
        def one_tool(tool, user):
            run = os.path.join(base, tool)
            os.makedirs(os.path.join(run, "home"))
            rw = rewrite.rewrite(text, run, fx, user["user"], user["password"])
            rewrite.write_files(rw, run)
            cpath = os.path.join(run, "config")
            with open(cpath, "w", encoding="utf-8") as f:
                f.write(rw.text)
            if tool == "offlineimap":
                argv = ["offlineimap", "-c", cpath, "-o", "-u", "quiet"]
            else:
                argv = [offlinefs, "-c", cpath, "-o"]
            if rw.transport and rw.accounts_run:
                argv += ["-a", ",".join(rw.accounts_run)]
            r = _run_tool(argv, run)
            r["run"] = run
            pic = {"maildir": _maildir_picture(run), "hooks": _hooks(run),
                   "mbnames": _mbnames(run), "server": _server_picture(dc, user["user"])}
            return r, pic

        # The two runs share nothing (own user, own directories): run them
        # side by side.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            futs = {tool: ex.submit(one_tool, tool, user) for tool, user in
                    (("offlineimap", dc.users[0]), ("offlinefs", dc.users[1]))}
            runs = {t: f.result()[0] for t, f in futs.items()}
            pics = {t: f.result()[1] for t, f in futs.items()}
        a, b = runs["offlineimap"], runs["offlinefs"]
        res["rc"] = {"offlineimap": a["rc"], "offlinefs": b["rc"]}
        res["seconds"] = {"offlineimap": round(a["seconds"], 2), "offlinefs": round(b["seconds"], 2)}
        if a["rc"] != 0:
            res["status"] = "offlineimap fails"
            res["detail"] = _last_error(a, runs["offlineimap"]["run"])
            res["offlinefs"] = ("exit 0" if b["rc"] == 0 else _last_error(b, runs["offlinefs"]["run"]))
        elif deliberate(pics["offlineimap"], pics["offlinefs"], b, b["stdout"] + b["stderr"]):
            res["status"] = "deliberate difference"
            res["detail"] = deliberate(pics["offlineimap"], pics["offlinefs"], b,
                                       b["stdout"] + b["stderr"])
        elif b["rc"] != 0:
            msg = _last_error(b, runs["offlinefs"]["run"])
            nothing = not any(pics["offlinefs"]["maildir"].values())
            res["status"] = "offlinefs refused" if nothing else "differs"
            res["detail"] = msg if nothing else "offlinefs exit %s: %s" % (b["rc"], msg)
        else:
            diffs = compare_pictures(pics["offlineimap"], pics["offlinefs"])
            res["status"] = "identical" if not diffs else "differs"
            res["detail"] = "; ".join(diffs)
        res["output"] = {"offlineimap": (a["stdout"] + a["stderr"])[-3000:],
                         "offlinefs": (b["stdout"] + b["stderr"])[-3000:]}
    except Exception as e:  # a harness failure is reported, not hidden
        res["status"] = "harness error"
        res["detail"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        res["traceback"] = traceback.format_exc()
    finally:
        try:
            dc.stop()
        except Exception:
            pass
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    return res


def line(res):
    s = "%-40s %s" % (res["name"], res["status"])
    if res["detail"]:
        s += ": " + res["detail"]
    if res["status"] == "offlineimap fails" and res.get("offlinefs"):
        s += " [offlinefs: %s]" % res["offlinefs"]
    if res["accounts_skipped"] and res["status"] != "transports issue":
        s += " [not run, transports issue: %s]" % ", ".join(sorted(res["accounts_skipped"]))
    return s


def read_expected(path):
    out = []
    with open(path) as f:
        for l in f:
            l = l.split("#", 1)[0].strip()
            if l:
                out.append(l)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare offlinefs with OfflineIMAP on real configs.")
    ap.add_argument("--only", help="comma-separated config names (file name without .conf)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--expected", help="fail if a config listed here is not identical")
    ap.add_argument("--json", help="write every result as JSON to this file")
    ap.add_argument("--keep", help="keep run directories under this directory")
    a = ap.parse_args(argv)
    offlinefs = offlinefs_path()
    if shutil.which("offlineimap") is None:
        sys.exit("offlineimap not found (Debian package offlineimap3)")
    names = config_names()
    if a.only:
        want = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = [n for n in want if n not in names]
        if unknown:
            sys.exit("unknown config(s): %s" % ", ".join(unknown))
        names = want
    workroot = a.keep or tempfile.mkdtemp(prefix="rc", dir="/var/tmp")
    os.makedirs(workroot, exist_ok=True)
    os.chmod(workroot, 0o755)
    t0 = time.monotonic()
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        futs = {ex.submit(run_one, n, workroot, offlinefs, bool(a.keep)): n for n in names}
        for fut in concurrent.futures.as_completed(futs):
            r = fut.result()
            results.append(r)
            print(line(r), flush=True)
    results.sort(key=lambda r: r["name"].lower())
    if not a.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    synced = [r for r in results if r["status"] not in ("transports issue", "offlineimap fails",
                                                         "harness error")]
    ident = [r for r in synced if r["status"] == "identical"]
    counts = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print("--")
    print("%d configs: %s" % (len(results), ", ".join("%d %s" % (v, k) for k, v in
                                                      sorted(counts.items()))))
    print("%d of %d real configs identical (M = configs OfflineIMAP syncs, transports issue "
          "excluded); %.0f s" % (len(ident), len(synced), time.monotonic() - t0))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": results, "identical": len(ident), "synced": len(synced)},
                      f, indent=1, ensure_ascii=False)
    rc = 0
    if any(r["status"] == "harness error" for r in results):
        for r in results:
            if r["status"] == "harness error":
                sys.stderr.write(r.get("traceback", "") + "\n")
        rc = 1
    if a.expected:
        by = {r["name"]: r for r in results}
        bad = [n for n in read_expected(a.expected) if n in by and by[n]["status"] != "identical"]
        missing = [n for n in read_expected(a.expected) if n not in config_names()]
        for n in bad:
            print("REGRESSION: %s is listed in %s but is now: %s" % (
                n, os.path.basename(a.expected), line(by[n])))
        for n in missing:
            print("ERROR: %s is listed in %s but there is no such config" % (
                n, os.path.basename(a.expected)))
        if bad or missing:
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
