#!/usr/bin/python3
"""Point a real user's OfflineIMAP config at a local Dovecot, changing only
what a user moving to another machine and server would change.

Why: tests/realconfigs/compare.py runs real configs from public dotfiles
through both offlineimap and offlinefs.  To do that against a throwaway
Dovecot, some values must change; everything else must stay byte for byte
as the user wrote it, or the comparison would measure our edits instead of
the user's config.  What changes (and nothing else):

  remote IMAP repository of every synced account
    remotehost / remotehosteval      -> localhost (an *eval stays Python)
    remoteport / remoteporteval      -> the fixture's port for the config's
                                        own `ssl` choice (993-style or 143-style)
    remoteuser / remoteusereval      -> the fixture's user
    remotepass / remotepasseval      -> the fixture's password
    remotepassfile                   -> a file holding the fixture's password
    (none of the above)              -> ~/.netrc in the fake HOME has an entry
    sslcacertfile                    -> the fixture's CA (also added when the
                                        repository uses ssl and has neither a
                                        CA nor a fingerprint: OfflineIMAP
                                        refuses that combination)
    cert_fingerprint                 -> the fixture certificate's sha1
  local Maildir repository
    localfolders                     -> RUN/maildirs/<repository name>
  [general] metadata, pythonfile; [mbnames] filename -> under RUN
  presynchook / postsynchook         -> each command word replaced by a
                                        logging wrapper (RUN/hookbin/<name>)
                                        keeping every argument
  status_backend                     -> removed: OfflineIMAP 8 refuses to
                                        start with it and tells the user to
                                        remove it (offlinefs says the same),
                                        so a user moving to a machine with
                                        OfflineIMAP 8 has removed it

*eval options stay Python: with a pythonfile they become
`fixture_value("remotepass")`, a function of the generated pythonfile; without
one, a Python string literal.  The user's pythonfile itself is not kept (it is
their code, and usually a password-manager wrapper): RUN/pythonfile.py stands
in for it and defines every name the config's Python options use, as a
neutral stub (see STUB_SOURCE): called with a folder name it returns it, so a
pythonfile nametrans is the identity and a pythonfile folderfilter keeps
everything.  Lambdas written in the config itself are untouched and run as
written.

Accounts that belong to the transports issue (remote `type = Gmail`, local
`GmailMaildir` or IMAP, tunnels, XOAUTH2, proxies) are not
run: `rewrite()` reports them, and compare.py runs the others with `-a`.  A
config whose accounts are all such is classified "transports issue".

CLI (for looking at one rewrite):
    python3 tests/realconfigs/rewrite.py CONF RUNDIR [--port-ssl N --port-plain N]
"""

import ast
import configparser
import json
import os
import re
import shlex
import sys

# The fixture certificate names localhost (DNS) and 127.0.0.1 (IP); OfflineIMAP
# checks DNS names only, so the config says localhost, as a user would.
HOST = "localhost"

# Options whose value is Python in OfflineIMAP (reference §1.8).
PY_REPO_OPTIONS = ("nametrans", "folderfilter", "folderincludes", "foldersort",
                   "copy_ignore_eval", "newmail_hook", "idlefolders")
EVAL_KEYS = {
    "remotehosteval": "remotehost",
    "remoteporteval": "remoteport",
    "remoteusereval": "remoteuser",
    "remotepasseval": "remotepass",
}
HOOK_OPTIONS = ("presynchook", "postsynchook")

STUB_SOURCE = r'''
class _Stub:
    """Stands in for a name of the user's pythonfile.  Called with a folder
    name (a str as last argument) it returns it, so it is an identity
    nametrans and a keep-everything folderfilter; called otherwise (a factory such as
    exclude([...]) or nt_local(mapping)) it returns itself; as a mapping it is
    empty; as a re.sub replacement it returns the match unchanged."""

    def __init__(self, name):
        self._name = name

    def __call__(self, *args, **kw):
        if args and isinstance(args[-1], str):
            return args[-1]
        if args and isinstance(args[-1], re.Match):
            return args[-1].group(0)
        return self

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __contains__(self, item):
        return False

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __getitem__(self, key):
        raise KeyError(key)

    def get(self, key, default=None):
        return default

    def keys(self):
        return []

    def values(self):
        return []

    def items(self):
        return []

    def __repr__(self):
        return "<stub %s>" % self._name


class _CmpStub(_Stub):
    """A name used in foldersort: a cmp function that keeps the order."""

    def __call__(self, *args, **kw):
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            return 0
        return self
'''

_BUILTINS = set(dir(__import__("builtins")))


class Ini:
    """Line model of an INI file, edited in place so that every line we do
    not change stays as the user wrote it.  Follows Python configparser's
    rules (full-line comments anywhere, continuation lines indented deeper
    than their option, empty lines inside values)."""

    HEADER = re.compile(r"^\[(?P<name>[^\]]+)\]")
    OPTION = re.compile(r"^(?P<key>[^=:\s][^=:]*?)\s*[=:]\s*(?P<val>.*)$")

    def __init__(self, text):
        self.lines = text.split("\n")

    def _scan(self):
        """[(section, key_lower, start, end)] for every option, and
        {section: header_index}."""
        opts, headers = [], {}
        section, cur, indent = None, None, 0
        for i, line in enumerate(self.lines):
            stripped = line.strip()
            if not stripped:
                continue
            if stripped[0] in "#;":
                continue
            ind = len(line) - len(line.lstrip())
            if cur is not None and ind > indent:
                cur[3] = i + 1
                continue
            m = self.HEADER.match(stripped)
            if m and ind == 0:
                section = m.group("name")
                headers.setdefault(section, i)
                cur = None
                continue
            m = self.OPTION.match(stripped)
            if m and section is not None:
                cur = [section, m.group("key").strip().lower(), i, i + 1]
                indent = ind
                opts.append(cur)
        return [tuple(o) for o in opts], headers

    def set(self, section, key, value):
        """Replace every occurrence of key in section by `key = value`
        (a duplicate stays a duplicate: configparser refuses those, and so
        should the rewritten config); add it after the header if absent."""
        value = value.replace("%", "%%")
        opts, headers = self._scan()
        hits = [o for o in opts if o[0] == section and o[1] == key]
        if hits:
            for _, _, start, end in reversed(hits):
                self.lines[start:end] = ["%s = %s" % (key, value)]
            return
        if section not in headers:
            self.lines += ["", "[%s]" % section]
            at = len(self.lines)
        else:
            at = headers[section] + 1
        self.lines.insert(at, "%s = %s" % (key, value))

    def delete(self, section, key):
        """Remove key from section; returns how many lines went."""
        opts, _ = self._scan()
        n = 0
        for _, _, start, end in reversed([o for o in opts if o[0] == section and o[1] == key]):
            del self.lines[start:end]
            n += end - start
        return n

    def text(self):
        return "\n".join(self.lines)


def parse(text):
    """The config as OfflineIMAP reads it (configparser, BasicInterpolation)."""
    cp = configparser.ConfigParser()
    cp.read_string(text)
    return cp


def _get(cp, section, key, raw=False):
    try:
        return cp.get(section, key, raw=raw)
    except (configparser.Error, ValueError):
        return None


def _bool(v, default):
    if v is None:
        return default
    return v.strip().lower() in ("1", "yes", "true", "on")


def transport_reasons(cp, account):
    """Why this account belongs to the transports issue ([] if it does not)."""
    why = []
    sec = "Account " + account
    # (`synclabels` alone is not one: OfflineIMAP ignores it unless the
    # repositories are Gmail/GmailMaildir, which are.)
    if not cp.has_section(sec):
        return why
    for opt in ("proxy", "authproxy"):
        if _get(cp, sec, opt):
            why.append("proxy")
    local = (_get(cp, sec, "localrepository") or "").strip()
    remote = (_get(cp, sec, "remoterepository") or "").strip()
    lsec, rsec = "Repository " + local, "Repository " + remote
    if cp.has_section(lsec):
        lt = (_get(cp, lsec, "type") or "").strip().lower()
        if lt == "gmailmaildir":
            why.append("local type GmailMaildir")
            if _bool(_get(cp, sec, "synclabels"), False):
                why.append("Gmail label sync (synclabels)")
        elif lt == "imap":
            why.append("IMAP to IMAP (local type IMAP)")
    if cp.has_section(rsec):
        rt = (_get(cp, rsec, "type") or "").strip().lower()
        if rt == "gmail":
            why.append("remote type Gmail")
        for opt in ("preauthtunnel", "transporttunnel"):
            if _get(cp, rsec, opt):
                why.append("tunnel (%s)" % opt)
        if any(k.startswith("oauth2_") for k in cp.options(rsec)):
            why.append("XOAUTH2")
        am = _get(cp, rsec, "auth_mechanisms")
        if am and [m.strip().upper() for m in am.split(",")] == ["XOAUTH2"]:
            why.append("XOAUTH2")
    return sorted(set(why))


def accounts(cp):
    v = _get(cp, "general", "accounts") or ""
    return [a.strip() for a in v.split(",") if a.strip()]


# Options beyond the basics that change the result of a one-shot sync
# (files, hooks, mbnames, server): listed per config so the report shows
# which features each config exercises (they were ignored by offlinefs when
# this list was made, hence the names; all work now, docs/options.md).
# Options that only matter between autorefresh rounds or for the
# connection (keepalive, ssl_version, ...) are not listed.
NOT_YET_ACCOUNT = ("presynchook", "postsynchook", "maxage", "maildir-windows-compatible",
                   "filterheaders", "utf8foldernames")
NOT_YET_REPO = ("startdate", "filename_use_mail_timestamp", "utime_from_header",
                "subscribedonly", "reference", "decodefoldernames", "remote_identity",
                "sslclientcert")
PYTHON_OPTIONS = PY_REPO_OPTIONS[:-1] + tuple(EVAL_KEYS)


def features(cp, accs):
    """(python options, not-yet options) the synced accounts use, as sorted
    lists of names; [mbnames] counts when enabled."""
    py, later = set(), set()
    for acc in accs:
        asec = "Account " + acc
        if not cp.has_section(asec):
            continue
        for o in NOT_YET_ACCOUNT:
            v = _get(cp, asec, o)
            if v and v.strip() and v.strip().lower() not in ("no", "false", "0", "off"):
                later.add(o)
        for rk in ("localrepository", "remoterepository"):
            rsec = "Repository " + (_get(cp, asec, rk) or "").strip()
            if not cp.has_section(rsec):
                continue
            for o in PYTHON_OPTIONS:
                if _get(cp, rsec, o, raw=True):
                    py.add(o)
            for o in NOT_YET_REPO:
                v = _get(cp, rsec, o)
                if v and v.strip() and v.strip().lower() not in ("no", "false", "0", "off"):
                    later.add(o)
    if cp.has_section("mbnames") and _bool(_get(cp, "mbnames", "enabled"), False):
        later.add("[mbnames]")
    if _get(cp, "general", "pythonfile"):
        py.add("pythonfile")
    return sorted(py), sorted(later)


# ------------------------------------------------------------ Python names
def _free_names(expr):
    """Names an expression reads that must come from the pythonfile (not
    lambda parameters, builtins or `re`)."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        return set(), False
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda):
            a = node.args
            for arg in a.posonlyargs + a.args + a.kwonlyargs:
                bound.add(arg.arg)
            if a.vararg:
                bound.add(a.vararg.arg)
            if a.kwarg:
                bound.add(a.kwarg.arg)
        elif isinstance(node, ast.comprehension):
            for n in ast.walk(node.target):
                if isinstance(n, ast.Name):
                    bound.add(n.id)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in bound and node.id not in _BUILTINS and node.id != "re":
                names.add(node.id)
    return names, True


def _string_constants(expr):
    """(string, used_as_regex) for every str literal in expr."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        return []
    regex_nodes = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.args and isinstance(node.args[0], ast.Constant)):
            regex_nodes.add(id(node.args[0]))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.value, id(node) in regex_nodes))
    return out


_REGEX_META = re.compile(r"[*+?()|{}\\^$]")


def folder_candidates(expr):
    """Folder names a nametrans/folderfilter expression mentions: literal
    strings, and regex patterns that are a plain name once anchors and
    escapes are removed."""
    names = []
    for s, is_regex in _string_constants(expr):
        if is_regex:
            s = s.lstrip("^")
            if s.startswith(".*"):
                s = s[2:]
            s = s.rstrip("$")
            s = re.sub(r"\\([.\[\]/ -])", r"\1", s)
        s = s.strip().strip("/")
        if not re.search(r"\w\w", s) or len(s) > 60 or "\n" in s or "%" in s or _REGEX_META.search(s):
            continue
        if s.startswith(".") or s.endswith("."):
            continue
        names.append(s)
    return names


# ------------------------------------------------------------ hooks
_SHELL_SPLIT = re.compile(r"(\s*(?:&&|\|\||;|\|)\s*)")


def _hook_name(word):
    base = os.path.basename(os.path.expanduser(word)) or "hook"
    return re.sub(r"[^A-Za-z0-9._-]", "_", base)


def rewrite_hook(command, hookbin):
    """Each command word of a shell command line -> hookbin/<basename>,
    arguments and operators kept.  Returns (new_command, [wrapper names])."""
    parts = _SHELL_SPLIT.split(command.strip())
    out, names = [], []
    for i, part in enumerate(parts):
        if i % 2 == 1 or not part.strip():
            out.append(part)
            continue
        lead = len(part) - len(part.lstrip())
        words = part.strip().split(None, 1)
        name = _hook_name(words[0])
        names.append(name)
        rest = (" " + words[1]) if len(words) > 1 else ""
        out.append(part[:lead] + os.path.join(hookbin, name) + rest)
    return "".join(out), names


HOOK_WRAPPER = """#!/bin/sh
# Generated by tests/realconfigs/rewrite.py: logs that the hook ran, with its
# arguments, instead of running the user's program.
{ printf '%%s' %s; for a in "$@"; do printf ' %%s' "$a"; done; printf '\\n'; } >> %s
exit 0
"""


# ------------------------------------------------------------ the rewrite
class Rewrite:
    """Result of rewrite(): .text (the new config), .accounts_run,
    .transport ({account: [reasons]}), .folders (server folders to create),
    .files ({path: (content, mode)} to write under RUN), .notes."""

    def __init__(self):
        self.text = ""
        self.accounts_run = []
        self.all_accounts = []
        self.transport = {}
        self.folders = []
        self.files = {}
        self.notes = []
        self.parse_error = None
        self.python_options = []
        self.not_yet_options = []


def rewrite(text, run, fixture, user, password):
    """Rewrite config `text` for a run in directory `run`.

    fixture: {"imaps_port", "imap_port", "cafile", "cert_fingerprint_sha1"}.
    Returns a Rewrite.  A config configparser cannot read is returned
    unchanged with .parse_error set (both tools should then refuse it).
    """
    r = Rewrite()
    try:
        cp = parse(text)
    except configparser.Error as e:
        r.text = text
        r.parse_error = str(e).splitlines()[0]
        return r
    ini = Ini(text)
    hookbin = os.path.join(run, "hookbin")
    hooklog = os.path.join(run, "hooks.log")
    stub_names, cmp_names = set(), set()
    has_pythonfile = cp.has_option("general", "pythonfile")

    eval_port = None

    r.all_accounts = accounts(cp)
    for acc in r.all_accounts:
        why = transport_reasons(cp, acc)
        if why:
            r.transport[acc] = why
        else:
            r.accounts_run.append(acc)

    r.python_options, r.not_yet_options = features(cp, r.accounts_run)
    wrappers = set()
    for sec in ["DEFAULT"] + cp.sections():
        if ini.delete(sec, "status_backend"):
            r.notes.append("[%s] status_backend removed" % sec)
    for acc in r.accounts_run:
        asec = "Account " + acc
        if not cp.has_section(asec):
            continue
        for hk in HOOK_OPTIONS:
            v = _get(cp, asec, hk)
            if v and v.strip():
                new, names = rewrite_hook(v, hookbin)
                wrappers.update(names)
                ini.set(asec, hk, new)
        local = (_get(cp, asec, "localrepository") or "").strip()
        remote = (_get(cp, asec, "remoterepository") or "").strip()
        lsec, rsec = "Repository " + local, "Repository " + remote
        if cp.has_section(lsec):
            if _get(cp, lsec, "localfolders") is not None:
                ini.set(lsec, "localfolders",
                        os.path.join(run, "maildirs", re.sub(r"[^\w.-]", "_", local)))
            for opt in PY_REPO_OPTIONS:
                v = _get(cp, lsec, opt, raw=True)
                if v:
                    (cmp_names if opt == "foldersort" else stub_names).update(_free_names(v)[0])
                    if opt == "nametrans":
                        r.folders += folder_candidates(v)
        if not cp.has_section(rsec):
            continue
        for opt in PY_REPO_OPTIONS:
            v = _get(cp, rsec, opt, raw=True)
            if v:
                (cmp_names if opt == "foldersort" else stub_names).update(_free_names(v)[0])
                if opt in ("nametrans", "folderfilter", "folderincludes", "idlefolders"):
                    r.folders += folder_candidates(v)
        ssl = _bool(_get(cp, rsec, "ssl"), True)
        port = fixture["imaps_port"] if ssl else fixture["imap_port"]
        # Host, port, user: the *eval form wins in OfflineIMAP; keep whichever
        # form(s) the user wrote, each pointing at the fixture.
        for evalopt, plain in EVAL_KEYS.items():
            if _get(cp, rsec, evalopt, raw=True) is not None:
                if plain == "remoteport":
                    eval_port = port
                if has_pythonfile:
                    ini.set(rsec, evalopt, 'fixture_value("%s")' % plain)
                elif plain == "remoteport":
                    ini.set(rsec, evalopt, str(port))
                else:
                    ini.set(rsec, evalopt, repr({"remotehost": HOST, "remoteuser": user,
                                                 "remotepass": password}[plain]))
        ini.set(rsec, "remotehost", HOST)
        ini.set(rsec, "remoteport", str(port))
        if _get(cp, rsec, "remoteusereval", raw=True) is None:
            ini.set(rsec, "remoteuser", user)
        pw_opts = [o for o in ("remotepass", "remotepassfile", "remotepasseval")
                   if _get(cp, rsec, o, raw=True) is not None]
        if "remotepass" in pw_opts:
            ini.set(rsec, "remotepass", password)
        if "remotepassfile" in pw_opts:
            pf = os.path.join(run, "secrets", re.sub(r"[^\w.-]", "_", remote) + ".pass")
            r.files[pf] = (password + "\n", 0o600)
            ini.set(rsec, "remotepassfile", pf)
        if not pw_opts:
            r.notes.append("%s: password from ~/.netrc" % remote)
        has_ca = _get(cp, rsec, "sslcacertfile") is not None
        has_fp = _get(cp, rsec, "cert_fingerprint") is not None
        if has_ca:
            ini.set(rsec, "sslcacertfile", fixture["cafile"])
        if has_fp:
            ini.set(rsec, "cert_fingerprint", fixture["cert_fingerprint_sha1"])
        if ssl and not has_ca and not has_fp:
            ini.set(rsec, "sslcacertfile", fixture["cafile"])
            r.notes.append("%s: sslcacertfile added (ssl with neither CA nor fingerprint)"
                           % remote)

    if _get(cp, "general", "metadata") is not None:
        ini.set("general", "metadata", os.path.join(run, "metadata"))
    if cp.has_section("mbnames"):
        fn = _get(cp, "mbnames", "filename")
        if fn is not None:
            ini.set("mbnames", "filename", os.path.join(run, "mbnames",
                                                        os.path.basename(fn) or "mbnames"))
        for opt in ("folderfilter", "sort_keyfunc"):
            v = _get(cp, "mbnames", opt, raw=True)
            if v:
                stub_names |= _free_names(v)[0]
    if has_pythonfile:
        pyf = os.path.join(run, "pythonfile.py")
        ini.set("general", "pythonfile", pyf)
        src = ["# Generated by tests/realconfigs/rewrite.py: stands in for the user's",
               "# pythonfile, which is not kept (it is their code). Every name the config's",
               "# Python options use is a neutral stub; the fixture's credentials come",
               "# from fixture_value().",
               "import re",
               "FIXTURE = %r" % {"remotehost": HOST, "remoteport": eval_port, "remoteuser": user,
                                 "remotepass": password},
               "",
               "def fixture_value(key):",
               "    return FIXTURE[key]",
               STUB_SOURCE]
        for n in sorted(stub_names - cmp_names):
            src.append("%s = _Stub(%r)" % (n, n))
        for n in sorted(cmp_names):
            src.append("%s = _CmpStub(%r)" % (n, n))
        r.files[pyf] = ("\n".join(src) + "\n", 0o644)
    for name in sorted(wrappers):
        path = os.path.join(hookbin, name)
        r.files[path] = (HOOK_WRAPPER % (shlex.quote(name), shlex.quote(hooklog)), 0o755)
    # The fake HOME's ~/.netrc: the credential a user keeps there.
    r.files[os.path.join(run, "home", ".netrc")] = (
        "machine %s login %s password %s\n" % (HOST, user, password), 0o600)
    seen = set()
    r.folders = [f for f in r.folders if not (f in seen or seen.add(f))]
    r.text = ini.text()
    return r


def write_files(rw, run):
    # Directories a user's machine has: the one holding the mbnames file
    # (OfflineIMAP does not create it) and the fake HOME.
    for d in ("mbnames", "home"):
        os.makedirs(os.path.join(run, d), exist_ok=True)
    for path, (content, mode) in rw.files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, mode)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("conf")
    ap.add_argument("run")
    ap.add_argument("--port-ssl", type=int, default=10993)
    ap.add_argument("--port-plain", type=int, default=10143)
    a = ap.parse_args(argv)
    with open(a.conf, encoding="utf-8") as f:
        text = f.read()
    fx = {"imaps_port": a.port_ssl, "imap_port": a.port_plain, "cafile": "/FIXTURE/ca.pem",
          "cert_fingerprint_sha1": "00" * 20}
    rw = rewrite(text, os.path.abspath(a.run), fx, "user1", "PASSWORD")
    sys.stdout.write(rw.text)
    sys.stderr.write(json.dumps({"accounts_run": rw.accounts_run, "transport": rw.transport,
                                 "folders": rw.folders, "files": sorted(rw.files),
                                 "notes": rw.notes, "parse_error": rw.parse_error},
                                indent=1) + "\n")


if __name__ == "__main__":
    main()
