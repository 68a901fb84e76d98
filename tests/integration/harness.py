"""Integration-test harness: a Dovecot per test, the offlinefs binary, and
helpers to inspect both sides.

Why: every integration test must check *real* state — what the IMAP server
holds (read back with imaplib, never trusting offlinefs' own output) and
what the Maildir holds (file names and bytes) — so these helpers give exact,
comparable snapshots of both.  Each test gets its own server and its own
directories under /var/tmp, so tests run in parallel and leave nothing
behind (set OFFLINEFS_KEEP=1 to keep the directories of failed tests).

Environment:
  OFFLINEFS        path of the binary (meson sets it); default: the first of
                   build*/tools/offlinefs found in the source tree
  OFFLINEFS_KEEP   keep the temp dir of failing tests (printed on failure)

Main pieces:
  SyncTestCase     unittest.TestCase with self.dc (Dovecot), self.mail,
                   self.meta, self.conf, write_config(), run(), sync(),
                   server() (an Imap helper), load_corpus(), assert_synced()
  Imap             imaplib wrapper: folders(), messages(), append(), store(),
                   expunge(), create(), delete(), status(), snapshot()
  Maildir helpers  local_name(), parse_name(), maildir_folders(),
                   maildir_messages(), tree_snapshot(), tree_checksum(),
                   add_local_message(), set_local_flags()
"""

import glob
import hashlib
import imaplib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "fixture"))

import corpus as corpus_mod  # noqa: E402
from corpus import mutf7_decode, mutf7_encode  # noqa: E402,F401
from dovecot import Dovecot  # noqa: E402

ACCOUNT = "Test"
LOCAL_REPO = "Local"
REMOTE_REPO = "Remote"
RUN_TIMEOUT = 100  # seconds; meson's per-test timeout is 120

IMAP2MAILDIR = {"\\Seen": "S", "\\Answered": "R", "\\Flagged": "F", "\\Deleted": "T",
                "\\Draft": "D"}
MAILDIR2IMAP = {v: k for k, v in IMAP2MAILDIR.items()}

# <time>_<seq>.<pid>.<host>,U=<uid>,FMD5=<md5>:2,<flags>
NAME_RE = re.compile(r"^(?P<time>\d+)_(?P<seq>\d+)\.(?P<pid>\d+)\.(?P<host>[^,/:]+)"
                     r",U=(?P<uid>\d+),FMD5=(?P<fmd5>[0-9a-f]{32}):2,(?P<flags>[A-Za-z]*)$")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def offlinefs_path():
    p = os.environ.get("OFFLINEFS")
    if p:
        return p
    for cand in sorted(glob.glob(os.path.join(SRC, "build*", "tools", "offlinefs"))):
        if os.access(cand, os.X_OK):
            return cand
    raise unittest.SkipTest("OFFLINEFS not set and no build*/tools/offlinefs found")


def maildir_flags(imap_flags):
    """IMAP system flags -> sorted Maildir letters (keywords/\\Recent dropped)."""
    return "".join(sorted(IMAP2MAILDIR[f] for f in imap_flags if f in IMAP2MAILDIR))


def imap_flags(letters):
    return sorted(MAILDIR2IMAP[c] for c in letters if c in MAILDIR2IMAP)


def crlf_to_lf(b):
    return b.replace(b"\r\n", b"\n")


def sha(b):
    return hashlib.sha256(b).hexdigest()


def md5s(s):
    return hashlib.md5(s.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- IMAP side
ServerMsg = namedtuple("ServerMsg", "uid flags body")   # flags: sorted tuple, no \Recent


class Imap:
    """A logged-in imaplib connection with helpers that take UTF-8 folder names."""

    def __init__(self, dc, user="user1"):
        self.dc = dc
        self.c = dc.imap(user)

    def close(self):
        try:
            self.c.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    @staticmethod
    def q(folder):
        name = "INBOX" if folder.upper() == "INBOX" else mutf7_encode(folder)
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def _ok(self, res, what):
        typ, data = res
        if typ != "OK":
            raise AssertionError("IMAP %s failed: %s %r" % (what, typ, data))
        return data

    def folders(self, include_noselect=False):
        """Set of UTF-8 folder names ('/'-separated)."""
        data = self._ok(self.c.list(), "LIST")
        out = set()
        for line in data:
            if not line:
                continue
            m = re.match(rb'\((?P<attrs>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.*)$', line)
            if not m:
                raise AssertionError("unparsable LIST line %r" % line)
            if not include_noselect and b"\\noselect" in m.group("attrs").lower():
                continue
            name = m.group("name").decode()
            if name.startswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out.add(mutf7_decode(name))
        return out

    def select(self, folder, readonly=True):
        data = self._ok(self.c.select(self.q(folder), readonly=readonly), "SELECT " + folder)
        return int(data[0])

    def messages(self, folder):
        """{uid: ServerMsg} of the folder, read with EXAMINE + BODY.PEEK (no side effects)."""
        n = self.select(folder, readonly=True)
        out = {}
        if n == 0:
            return out
        data = self._ok(self.c.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])"), "FETCH")
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0]
            uid = int(re.search(rb"UID (\d+)", head).group(1))
            flags = re.search(rb"FLAGS \(([^)]*)\)", head).group(1).decode().split()
            flags = tuple(sorted(f for f in flags if f != "\\Recent"))
            out[uid] = ServerMsg(uid, flags, item[1])
        return out

    def status(self, folder):
        """{'UIDVALIDITY', 'UIDNEXT', 'MESSAGES'} as ints."""
        data = self._ok(self.c.status(self.q(folder), "(UIDVALIDITY UIDNEXT MESSAGES)"), "STATUS")
        s = data[0].decode()
        return {k: int(v) for k, v in re.findall(r"(UIDVALIDITY|UIDNEXT|MESSAGES) (\d+)", s)}

    def append(self, folder, body, flags=()):
        """APPEND (LF is converted to CRLF); returns the new UID (APPENDUID)."""
        if isinstance(body, str):
            body = body.encode()
        body = crlf_to_lf(body).replace(b"\n", b"\r\n")
        fl = "(%s)" % " ".join(flags) if flags else None
        typ, data = self.c.append(self.q(folder), fl, None, body)
        if typ != "OK":
            raise AssertionError("APPEND to %s failed: %r" % (folder, data))
        m = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        if m:
            return int(m.group(1))
        return max(self.messages(folder))

    def store(self, folder, uid, op, flags):
        """op: '+FLAGS', '-FLAGS' or 'FLAGS'; flags: iterable of IMAP flags."""
        self.select(folder, readonly=False)
        self._ok(self.c.uid("STORE", str(uid), op, "(%s)" % " ".join(flags)), "STORE")

    def expunge(self, folder, uid):
        """Delete one message: \\Deleted + EXPUNGE (no other message is marked)."""
        self.store(folder, uid, "+FLAGS", ["\\Deleted"])
        self._ok(self.c.expunge(), "EXPUNGE")

    def create(self, folder):
        self._ok(self.c.create(self.q(folder)), "CREATE " + folder)

    def delete(self, folder):
        try:
            self.c.unselect()
        except (imaplib.IMAP4.error, AttributeError):
            pass
        self._ok(self.c.delete(self.q(folder)), "DELETE " + folder)

    def snapshot(self):
        """Comparable picture of the whole account: folder -> (UIDVALIDITY,
        UIDNEXT, ((uid, flags, sha256(body)), ...)).  UIDNEXT catches an
        APPEND that was later expunged."""
        snap = {}
        for f in sorted(self.folders()):
            st = self.status(f)
            msgs = self.messages(f)
            snap[f] = (st["UIDVALIDITY"], st["UIDNEXT"],
                       tuple((u, m.flags, sha(m.body)) for u, m in sorted(msgs.items())))
        return snap


# ---------------------------------------------------------------- Maildir side
LocalMsg = namedtuple("LocalMsg", "path sub name uid fmd5 flags body")


def local_name(remote_name, sep="."):
    """Local folder name OfflineIMAP uses: modified UTF-7, '/' -> sep."""
    return "/".join(mutf7_encode(p) for p in remote_name.split("/")).replace("/", sep)


def parse_name(name):
    """(uid, fmd5, flags) from an offlineimap-style file name; (None, None,
    flags) for names without U=/FMD5 (e.g. a freshly delivered file)."""
    m = NAME_RE.match(name)
    if m:
        return int(m.group("uid")), m.group("fmd5"), m.group("flags")
    flags = name.split(":2,", 1)[1] if ":2," in name else ""
    return None, None, flags


def maildir_folders(root):
    """Set of local folder names (relative paths of dirs with cur/new/tmp)."""
    out = set()
    if not os.path.isdir(root):
        return out
    for dirpath, dirs, _files in os.walk(root):
        if {"cur", "new", "tmp"} <= set(dirs):
            out.add(os.path.relpath(dirpath, root))
        dirs[:] = [d for d in dirs if d not in ("cur", "new", "tmp")]
    return out


def maildir_messages(root, folder):
    """List of LocalMsg in new/ and cur/ of the folder."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(root, folder, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.startswith("."):
                continue
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                body = f.read()
            uid, fmd5, flags = parse_name(name)
            out.append(LocalMsg(p, sub, name, uid, fmd5, flags, body))
    return out


def strip_offlineimap_marker(body):
    """Remove an 'X-OfflineIMAP: ...' header line (LF message) from the header block."""
    head, sep, rest = body.partition(b"\n\n")
    lines = [ln for ln in head.split(b"\n") if not ln.lower().startswith(b"x-offlineimap:")]
    return b"\n".join(lines) + sep + rest


def tree_snapshot(root):
    """{relative path: sha256 of content | 'dir'} for everything under root."""
    snap = {}
    if not os.path.exists(root):
        return snap
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            snap[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                snap[os.path.relpath(p, root)] = sha(fh.read())
    return snap


def tree_checksum(root):
    return sha(repr(sorted(tree_snapshot(root).items())).encode())


_deliver_seq = [0]


def add_local_message(root, folder, body, flags="", sub=None):
    """Deliver a message into the local Maildir like an MDA/MUA would (no U=)."""
    _deliver_seq[0] += 1
    sub = sub or ("cur" if "S" in flags else "new")
    base = "%d.M%dP%d.testhost" % (int(time.time()), _deliver_seq[0], os.getpid())
    name = base + (":2," + "".join(sorted(flags)) if (flags or sub == "cur") else "")
    d = os.path.join(root, folder, sub)
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, name)
    with open(os.path.join(root, folder, "tmp", base), "wb") as f:
        f.write(body if isinstance(body, bytes) else body.encode())
    os.rename(os.path.join(root, folder, "tmp", base), p)
    return p


def set_local_flags(msg, flags):
    """Rename a LocalMsg to carry `flags` (Maildir letters), moving it to cur/
    if S is set else new/ (what OfflineIMAP does).  Returns the new path."""
    flags = "".join(sorted(set(flags)))
    base = msg.name.split(":2,", 1)[0]
    folder_dir = os.path.dirname(os.path.dirname(msg.path))
    new = os.path.join(folder_dir, "cur" if "S" in flags else "new", base + ":2," + flags)
    os.rename(msg.path, new)
    return new


def make_local_folder(root, folder):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, folder, sub), exist_ok=True)


def sqlite_dump(path):
    """Logical content of an sqlite DB, opened immutable (never writes)."""
    if not os.path.exists(path):
        return None
    con = sqlite3.connect("file:%s?immutable=1" % path, uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def simple_message(subject, body="Hello.\n", frm="sender@example.test", extra=""):
    return ("From: %s\nTo: user1@example.test\nSubject: %s\nDate: Mon, 01 Jan 2024 10:00:00 "
            "+0000\nMessage-ID: <%s@test.example>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=UTF-8\n%s\n%s"
            % (frm, subject, sha(subject.encode())[:16], extra, body)).encode()


# ---------------------------------------------------------------- results
class Result:
    def __init__(self, argv, p):
        self.argv = argv
        self.rc = p.returncode
        self.out = p.stdout.decode(errors="replace")
        self.err = p.stderr.decode(errors="replace")
        self.output = self.out + self.err

    def __str__(self):
        return "$ %s\nexit %d\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.argv), self.rc, self.out, self.err)


# ---------------------------------------------------------------- test case
class SyncTestCase(unittest.TestCase):
    """Base class: fresh Dovecot + empty Maildir + config per test.

    Class attributes a subclass may change: EXTENSIONS (server advertises
    CONDSTORE etc.), CERT_HOSTS (names in the server certificate), USERS,
    DOVECOT_CONF (extra Dovecot settings).
    """

    EXTENSIONS = True
    CERT_HOSTS = None
    DOVECOT_CONF = None  # settings appended to Dovecot's config ("{dir}": its DIR)
    USERS = 1
    NEEDS_BINARY = True
    maxDiff = None

    def setUp(self):
        self.offlinefs = offlinefs_path() if self.NEEDS_BINARY else None
        self.tmp = tempfile.mkdtemp(prefix="ofs-it-", dir="/var/tmp")
        self.addCleanup(self._cleanup_tmp)
        self.dc = Dovecot(os.path.join(self.tmp, "srv"), extensions=self.EXTENSIONS,
                          users=self.USERS, cert_hosts=self.CERT_HOSTS,
                          extra_conf=self.DOVECOT_CONF)
        self.dc.start()
        self.addCleanup(self.dc.stop)
        self.user = self.dc.users[0]["user"]
        self.password = self.dc.users[0]["password"]
        self.client = os.path.join(self.tmp, "client")
        os.makedirs(self.client)
        self.mail = os.path.join(self.client, "Mail")
        self.meta = os.path.join(self.client, "metadata")
        self.conf = self.write_config()
        self.runs = []

    def _cleanup_tmp(self):
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not getattr(outcome, "success", True)
        if os.environ.get("OFFLINEFS_KEEP") and (failed or os.environ["OFFLINEFS_KEEP"] == "all"):
            print("kept test dir: %s" % self.tmp, file=sys.stderr)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------ config
    def write_config(self, general=None, account=None, local=None, remote=None, name=None,
                     raw=None):
        """Write an OfflineIMAP-format config; dict values of None drop an option.

        Defaults: account Test, Maildir self.mail (sep '.'), metadata
        self.meta, remote IMAPS on localhost verified with the fixture CA.
        raw: write this text verbatim instead.  Returns the path.
        """
        path = os.path.join(self.client, name or "offlineimaprc")
        if raw is None:
            sections = [
                ("general", {"accounts": ACCOUNT, "metadata": self.meta}, general),
                ("Account " + ACCOUNT, {"localrepository": LOCAL_REPO,
                                        "remoterepository": REMOTE_REPO}, account),
                ("Repository " + LOCAL_REPO, {"type": "Maildir", "localfolders": self.mail}, local),
                ("Repository " + REMOTE_REPO, {
                    "type": "IMAP", "remotehost": "localhost",
                    "remoteport": str(self.dc.imaps_port), "remoteuser": self.user,
                    "remotepass": self.password, "ssl": "yes",
                    "sslcacertfile": self.dc.cafile}, remote),
            ]
            lines = ["# written by tests/integration/harness.py"]
            for title, base, extra in sections:
                opts = dict(base)
                for k, v in (extra or {}).items():
                    if v is None:
                        opts.pop(k, None)
                    else:
                        opts[k] = str(v)
                lines.append("")
                lines.append("[%s]" % title)
                lines += ["%s = %s" % kv for kv in opts.items()]
            raw = "\n".join(lines) + "\n"
        with open(path, "w") as f:
            f.write(raw)
        if name is None:
            self.conf = path
        return path

    # ------------------------------------------------------------ running
    def run_offlinefs(self, *args, conf=None, ui="basic", once=True, env=None):
        """Run the binary; return a Result (never raises on exit status)."""
        argv = [self.offlinefs, "-c", conf or self.conf]
        if once:
            argv.append("-o")
        if ui:
            argv += ["-u", ui]
        argv += list(args)
        e = dict(os.environ)
        e.update(env or {})
        logins_before = self.server_logins()
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=RUN_TIMEOUT, env=e)
        except subprocess.TimeoutExpired as ex:
            self.fail("offlinefs did not finish within %ds: %s\n%s" % (
                RUN_TIMEOUT, " ".join(argv), (ex.stdout or b"").decode(errors="replace")))
        r = Result(argv, p)
        r.logins_before = logins_before
        self.runs.append(r)
        # Visible in meson's testlog for every test, and on failure.
        print(str(r), file=sys.stderr)
        return r

    def sync(self, *args, **kw):
        """Run a sync that must succeed (exit 0)."""
        r = self.run_offlinefs(*args, **kw)
        self.assertEqual(r.rc, 0, "offlinefs failed:\n%s" % r)
        return r

    def server(self):
        return Imap(self.dc, self.user)

    def server_logins(self):
        """How many IMAP logins of our user the server has logged so far."""
        try:
            with open(self.dc.log, errors="replace") as f:
                return sum(1 for ln in f if "Login: user=<%s>" % self.user in ln)
        except OSError:
            return 0

    def assert_contacted_server(self, r):
        """The run logged in to the server (evidence from Dovecot's own log,
        so a run that silently does nothing cannot pass)."""
        deadline = time.monotonic() + 5  # the log process writes asynchronously
        while self.server_logins() <= r.logins_before and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreater(self.server_logins(), r.logins_before,
                           "offlinefs never logged in to the server:\n%s" % r)

    def load_corpus(self, seed=1, messages=40, folders="INBOX,Archive,Entwürfe,Café/Reçus",
                    attach_pct=10.0, large=0):
        """Generate a corpus and load it into the server; return its manifest."""
        out = os.path.join(self.tmp, "corpus")
        gen = _import_gen_corpus()
        m = gen.generate(out, seed, gen.parse_folders(folders), messages, large, attach_pct)
        corpus_mod.load_corpus(self.dc, self.user, out, "maildir")
        return m

    # ------------------------------------------------------------ checks
    def local_messages(self, remote_folder, sep="."):
        return maildir_messages(self.mail, local_name(remote_folder, sep))

    def assert_synced(self, remote_folder, sep=".", srv=None, strip_marker=False):
        """Both sides hold exactly the same messages: same UIDs, bodies (CRLF->LF), flags.

        Also checks every local file name carries U=<uid> and the FMD5 of the
        local folder name, and lives in cur/ iff it has S.  strip_marker:
        ignore an X-OfflineIMAP header in server copies (added to uploads
        when the server lacks UIDPLUS; the local file keeps no such header).
        """
        own = srv is None
        srv = srv or self.server()
        try:
            server = srv.messages(remote_folder)
        finally:
            if own:
                srv.close()
        lname = local_name(remote_folder, sep)
        local = maildir_messages(self.mail, lname)
        names = [m.name for m in local]
        for m in local:
            self.assertRegex(m.name, NAME_RE, "bad file name in %s" % lname)
            self.assertEqual(m.fmd5, md5s(lname), "FMD5 of %s in %s" % (m.name, lname))
            self.assertEqual(m.sub, "cur" if "S" in m.flags else "new",
                             "%s is in %s/" % (m.name, m.sub))
        uids = [m.uid for m in local]
        self.assertEqual(len(uids), len(set(uids)), "duplicate UIDs locally: %s" % names)
        self.assertEqual(sorted(uids), sorted(server), "UIDs differ in %s" % remote_folder)
        by_uid = {m.uid: m for m in local}
        for uid, sm in server.items():
            lm = by_uid[uid]
            sbody = crlf_to_lf(sm.body)
            if strip_marker:
                sbody = strip_offlineimap_marker(sbody)
            self.assertEqual(lm.body, sbody,
                             "body of UID %d differs in %s (%s)" % (uid, remote_folder, lm.name))
            self.assertEqual(lm.flags, maildir_flags(sm.flags),
                             "flags of UID %d in %s: local %s, server %s"
                             % (uid, remote_folder, lm.flags, sm.flags))
        return server, local

    def assert_nothing_copied(self, r):
        """The log of a run reports no copy, deletion or flag change."""
        bad = []
        for line in r.output.splitlines():
            if re.search(r"Copy message|Deleting \d+ message|Adding flag|Deleting flag", line):
                bad.append(line)
            elif re.search(r"\b[1-9]\d* (copied|deleted)", line):
                bad.append(line)
            elif re.search(r"\b[1-9]\d*\+\d+ flag|\b\d+\+[1-9]\d* flag", line):
                bad.append(line)
        self.assertEqual(bad, [], "log reports changes:\n%s" % r)


def _import_gen_corpus():
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen_corpus",
                                                  os.path.join(SRC, "tools", "gen-corpus.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    """unittest entry point used by every test file (one test name per meson test)."""
    unittest.main(verbosity=2)
