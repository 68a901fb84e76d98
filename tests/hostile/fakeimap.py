"""fakeimap.py -- a small scripted IMAP server for hostile-server tests.

Why: our rule is to test against a real Dovecot for everything the server
decides; this server exists ONLY for responses Dovecot will not produce
(malformed, truncated, hostile, silent).  It therefore speaks just enough
real IMAP4rev1 that the offlinefs binary can complete a normal sync against
it (the "good" scenario proves that), and lets each test replace the reply
to any one command with a script.

Plaintext only, on 127.0.0.1 and a free port, served from threads of the
test process (Python 3 standard library only).

    srv = FakeIMAP({"INBOX": [Msg(b"Subject: a\\r\\n\\r\\nhi\\r\\n")]})
    srv.start()                     # srv.port
    srv.hooks["FETCH_LIST"] = lambda s, tag, args: s.send(b"* 1 FETCH (UID abc)\\r\\n") or True
    ...
    srv.stop()

Hooks: srv.hooks maps a command key to fn(session, tag, args) -> bool; True
means "handled" (the default reply is not sent), False falls through to the
default.  Keys: GREETING (tag and args are None), CAPABILITY, AUTHENTICATE,
LOGIN, STARTTLS, LIST, CREATE, SELECT (also EXAMINE), FETCH_LIST (a UID FETCH
without a body), FETCH_BODY (a UID FETCH asking for BODY[]/BODY.PEEK[]),
STORE, EXPUNGE (UID EXPUNGE and EXPUNGE), APPEND (args: mailbox, flags,
date, data -- the literal has been read already), SEARCH, UNSELECT, NOOP,
LOGOUT, and any other command name in upper case.  Inside a hook,
session.default(key, tag, args) runs the normal reply, session.send()
writes raw bytes, session.close() drops the connection and session.hang()
goes silent until the server stops.

srv.commands lists (key, args) of everything the client sent;
srv.transcript() is the dialogue (bodies and the password elided), for
failure messages.

Run standalone for manual poking:  python3 fakeimap.py [PORT]
"""

import base64
import re
import socket
import threading
import time

DEFAULT_CAPS = "IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS LITERAL+ UNSELECT"
CRLF = b"\r\n"


class Msg:
    """One message: body bytes (CRLF line ends), flags, INTERNALDATE."""

    def __init__(self, body, flags=(), internaldate="01-Jan-2024 10:00:00 +0000", uid=None):
        if isinstance(body, str):
            body = body.encode()
        self.body = body
        self.flags = set(flags)
        self.internaldate = internaldate
        self.uid = uid


class Mailbox:
    def __init__(self, name, uidvalidity, msgs=()):
        self.name = name
        self.uidvalidity = uidvalidity
        self.uidnext = 1
        self.msgs = []  # sorted by uid; sequence number = index + 1
        for m in msgs:
            self.add(m)

    def add(self, m):
        if m.uid is None:
            m.uid = self.uidnext
        self.uidnext = max(self.uidnext, m.uid + 1)
        self.msgs.append(m)
        self.msgs.sort(key=lambda x: x.uid)
        return m.uid

    def by_uid(self):
        return {m.uid: m for m in self.msgs}


class _Closed(Exception):
    """The session is over (client left, or a hook closed it)."""


# ---------------------------------------------------------------- parsing

_TOKEN_RE = re.compile(rb'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|\x00LIT(\d+)\x00|([^\s()"]+))')


def parse_args(data, literals):
    """Tokens of a command's arguments: bytes for atoms/strings/literals,
    lists for parenthesised groups (nested)."""
    stack = [[]]
    pos = 0
    while pos < len(data):
        m = _TOKEN_RE.match(data, pos)
        if not m:
            break
        pos = m.end()
        if m.group(1):
            stack.append([])
        elif m.group(2):
            if len(stack) > 1:
                inner = stack.pop()
                stack[-1].append(inner)
        elif m.group(3) is not None:
            stack[-1].append(re.sub(rb"\\(.)", rb"\1", m.group(3)))
        elif m.group(4) is not None:
            stack[-1].append(literals[int(m.group(4))])
        elif m.group(5) is not None:
            stack[-1].append(m.group(5))
    while len(stack) > 1:
        inner = stack.pop()
        stack[-1].append(inner)
    return stack[0]


def parse_uid_set(spec, uids):
    """UIDs of the sorted list uids named by an IMAP sequence set."""
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", "replace")
    top = uids[-1] if uids else 0
    want = set()
    present = set(uids)
    for part in spec.split(","):
        if ":" in part:
            a, b = part.split(":", 1)
            a = top if a == "*" else int(a)
            b = top if b == "*" else int(b)
            lo, hi = min(a, b), max(a, b)
            want.update(u for u in uids if lo <= u <= hi)
        else:
            u = top if part == "*" else int(part)
            if u in present:
                want.add(u)
    return sorted(want)


def quote(s):
    if isinstance(s, str):
        s = s.encode()
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def flag_list(flags):
    return b"(" + b" ".join(f.encode() if isinstance(f, str) else f for f in sorted(flags)) + b")"


# ---------------------------------------------------------------- session

class Session:
    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.selected = None     # Mailbox
        self.readonly = False
        self.authenticated = False

    # -- output
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.server._log("S", data)
        try:
            self.sock.sendall(data)
        except OSError:
            raise _Closed()
        return True

    def line(self, text):
        if isinstance(text, str):
            text = text.encode()
        return self.send(text + CRLF)

    def ok(self, tag, text="done"):
        return self.line(tag + b" OK " + (text.encode() if isinstance(text, str) else text))

    def no(self, tag, text="failed"):
        return self.line(tag + b" NO " + (text.encode() if isinstance(text, str) else text))

    def bad(self, tag, text="what?"):
        return self.line(tag + b" BAD " + (text.encode() if isinstance(text, str) else text))

    def close(self):
        """Drop the connection at once (no BYE unless the hook sent one)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Closed()

    def hang(self, limit=120):
        """Say nothing more until the server stops (or limit seconds)."""
        self.server._stopping.wait(limit)
        self.close()

    # -- input
    def readline(self):
        try:
            line = self.rfile.readline(1 << 20)
        except OSError:
            raise _Closed()
        if not line:
            raise _Closed()
        return line

    def read_command(self):
        """One command: (line with literals replaced by \\0LITn\\0, [literal bytes])."""
        literals = []
        parts = []
        line = self.readline()
        while True:
            body = line.rstrip(b"\r\n")
            m = re.search(rb"\{(\d+)(\+?)\}$", body)
            if not m:
                parts.append(body)
                break
            n = int(m.group(1))
            parts.append(body[:m.start()] + b"\x00LIT%d\x00" % len(literals))
            if not m.group(2):
                self.send(b"+ go ahead" + CRLF)
            try:
                data = self.rfile.read(n)
            except OSError:
                raise _Closed()
            if len(data) < n:
                raise _Closed()
            literals.append(data)
            line = self.readline()
        return b"".join(parts), literals

    # -- main loop
    def run(self):
        try:
            if not self.server._hook(self, "GREETING", None, None):
                self.line(b"* OK [CAPABILITY " + self.server.caps.encode() + b"] fake IMAP ready")
            while True:
                raw, literals = self.read_command()
                self.server._log("C", raw + CRLF, literals)
                m = re.match(rb"(\S+)\s+(\S+)\s*(.*)$", raw, re.S)
                if not m:
                    self.line(b"* BAD unparsable command")
                    continue
                tag, cmd, rest = m.group(1), m.group(2).upper(), m.group(3)
                args = parse_args(rest, literals)
                key = cmd.decode("ascii", "replace")
                if key == "UID" and args:
                    sub = args[0].upper() if isinstance(args[0], bytes) else b""
                    args = args[1:]
                    key = sub.decode("ascii", "replace")
                    if key == "FETCH":
                        key = "FETCH_BODY" if self._wants_body(args) else "FETCH_LIST"
                    elif key in ("STORE", "EXPUNGE", "SEARCH"):
                        pass
                    else:
                        key = "UID " + key
                    uid = True
                else:
                    uid = False
                    if key == "EXAMINE":
                        key = "SELECT"
                        args = [b"\x00EXAMINE"] + args
                    elif key == "FETCH":
                        key = "SEQ_FETCH"
                if key == "APPEND":
                    args = self._append_args(args)
                self.server._record(key, args)
                if not self.server._hook(self, key, tag, args):
                    self.default(key, tag, args, uid=uid)
                if key == "LOGOUT":
                    raise _Closed()
        except _Closed:
            pass
        except Exception as e:  # never let a script bug look like a client bug silently
            self.server.errors.append(repr(e))
        finally:
            for f in (self.rfile, self.sock):
                try:
                    f.close()
                except OSError:
                    pass

    @staticmethod
    def _wants_body(args):
        flat = repr(args).upper()
        return "BODY[" in flat or "BODY.PEEK[" in flat or "RFC822'" in flat

    @staticmethod
    def _append_args(args):
        """APPEND mailbox [(flags)] ["date"] literal -> dict."""
        out = {"mailbox": args[0] if args else b"", "flags": [], "date": None, "data": b""}
        rest = args[1:]
        if rest and isinstance(rest[0], list):
            out["flags"] = [f.decode() for f in rest[0]]
            rest = rest[1:]
        if len(rest) >= 2:
            out["date"] = rest[0].decode(errors="replace")
            rest = rest[1:]
        if rest:
            out["data"] = rest[0]
        return out

    # -- default replies
    def default(self, key, tag, args, uid=True):
        """The normal reply to command key (what a sane server says)."""
        srv = self.server
        h = getattr(self, "_do_" + key.replace(" ", "_"), None)
        if key == "GREETING":
            return self.line(b"* OK [CAPABILITY " + srv.caps.encode() + b"] fake IMAP ready")
        if h is None:
            return self.bad(tag, "unknown command " + key)
        return h(tag, args)

    def _do_CAPABILITY(self, tag, args):
        self.line(b"* CAPABILITY " + self.server.caps.encode())
        return self.ok(tag, "capability done")

    def _do_NOOP(self, tag, args):
        return self.ok(tag, "noop done")

    _do_CHECK = _do_NOOP

    def _do_ID(self, tag, args):
        self.line(b'* ID ("name" "fakeimap")')
        return self.ok(tag)

    def _do_ENABLE(self, tag, args):
        return self.ok(tag)

    def _do_STARTTLS(self, tag, args):
        return self.bad(tag, "no TLS in this fake")

    def _login_ok(self, tag, user, password):
        srv = self.server
        if user == srv.user.encode() and password == srv.password.encode():
            self.authenticated = True
            return self.ok(tag, b"[CAPABILITY " + srv.caps.encode() + b"] logged in")
        return self.no(tag, "[AUTHENTICATIONFAILED] Authentication failed.")

    def _do_AUTHENTICATE(self, tag, args):
        mech = args[0].upper() if args else b""
        if mech != b"PLAIN":
            return self.no(tag, "unsupported mechanism")
        if len(args) > 1:
            resp = args[1]
        else:
            self.send(b"+ " + CRLF)
            resp = self.readline().rstrip(b"\r\n")
        try:
            parts = base64.b64decode(resp).split(b"\x00")
            _authz, user, password = parts
        except Exception:
            return self.bad(tag, "bad SASL response")
        return self._login_ok(tag, user, password)

    def _do_LOGIN(self, tag, args):
        if len(args) < 2:
            return self.bad(tag, "LOGIN needs two arguments")
        return self._login_ok(tag, args[0], args[1])

    def _do_LIST(self, tag, args):
        pattern = args[1] if len(args) > 1 else b""
        if pattern == b"":
            self.line(b'* LIST (\\Noselect) "/" ""')
        else:
            for name in sorted(self.server.mailboxes):
                self.line(b'* LIST (\\HasNoChildren) "/" ' + quote(name))
        return self.ok(tag, "list done")

    def _do_LSUB(self, tag, args):
        return self.ok(tag)

    def _do_CREATE(self, tag, args):
        name = args[0].decode() if args else ""
        with self.server.lock:
            if name in self.server.mailboxes:
                return self.no(tag, "[ALREADYEXISTS] Mailbox already exists")
            self.server.add_mailbox(name)
        return self.ok(tag, "create done")

    def _do_SELECT(self, tag, args):
        examine = bool(args) and args[0] == b"\x00EXAMINE"
        if examine:
            args = args[1:]
        name = args[0].decode() if args else ""
        if name.upper() == "INBOX":
            name = "INBOX"
        mb = self.server.mailboxes.get(name)
        if mb is None:
            self.selected = None
            return self.no(tag, "[NONEXISTENT] Mailbox doesn't exist: " + name)
        self.selected = mb
        self.readonly = examine
        self.line(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
        self.line(b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok")
        self.line(b"* %d EXISTS" % len(mb.msgs))
        self.line(b"* 0 RECENT")
        self.line(b"* OK [UIDVALIDITY %d] UIDs valid" % mb.uidvalidity)
        self.line(b"* OK [UIDNEXT %d] Predicted next UID" % mb.uidnext)
        return self.ok(tag, "[READ-ONLY] examined" if examine else "[READ-WRITE] selected")

    def _do_UNSELECT(self, tag, args):
        self.selected = None
        return self.ok(tag, "unselect done")

    _do_CLOSE = _do_UNSELECT

    def _need_selected(self, tag):
        if self.selected is None:
            self.bad(tag, "no mailbox selected")
            return False
        return True

    def fetch_items(self, m, items):
        """The FETCH data items of message m for the requested item names."""
        out = []
        for it in items:
            name = it.upper() if isinstance(it, bytes) else b""
            if name == b"UID":
                out.append(b"UID %d" % m.uid)
            elif name == b"FLAGS":
                out.append(b"FLAGS " + flag_list(m.flags))
            elif name == b"RFC822.SIZE":
                out.append(b"RFC822.SIZE %d" % len(m.body))
            elif name == b"INTERNALDATE":
                out.append(b"INTERNALDATE " + quote(m.internaldate))
            elif re.match(rb"BODY(\.PEEK)?\[\]<\d+\.\d+>$", name):
                # a partial fetch (RFC 3501 6.4.5): octets off..off+n
                off, n = (int(x) for x in re.search(rb"<(\d+)\.(\d+)>", name).groups())
                part = m.body[off:off + n]
                out.append(b"BODY[]<%d> {%d}\r\n" % (off, len(part)) + part)
            elif name in (b"BODY.PEEK[]", b"BODY[]", b"RFC822"):
                if name != b"BODY.PEEK[]" and not self.readonly:
                    m.flags.add("\\Seen")
                label = b"RFC822" if name == b"RFC822" else b"BODY[]"
                out.append(label + b" {%d}\r\n" % len(m.body) + m.body)
        if b"UID %d" % m.uid not in out:
            out.insert(0, b"UID %d" % m.uid)
        return out

    def _items(self, args):
        items = args[1] if len(args) > 1 else []
        if not isinstance(items, list):
            items = args[1:]
        return items

    def send_fetch(self, seq, m, items):
        return self.send(b"* %d FETCH (" % seq + b" ".join(self.fetch_items(m, items)) + b")" + CRLF)

    def _do_FETCH_LIST(self, tag, args):
        if not self._need_selected(tag):
            return True
        mb = self.selected
        uids = parse_uid_set(args[0], [m.uid for m in mb.msgs])
        items = self._items(args)
        for seq, m in enumerate(mb.msgs, 1):
            if m.uid in uids:
                self.send_fetch(seq, m, items)
        return self.ok(tag, "fetch done")

    _do_FETCH_BODY = _do_FETCH_LIST

    def _do_STORE(self, tag, args):
        if not self._need_selected(tag):
            return True
        if self.readonly:
            return self.no(tag, "[READ-ONLY] mailbox is read-only")
        mb = self.selected
        uids = parse_uid_set(args[0], [m.uid for m in mb.msgs])
        op = args[1].upper()
        flags = args[2] if isinstance(args[2], list) else args[2:]
        flags = {f.decode() for f in flags}
        for seq, m in enumerate(mb.msgs, 1):
            if m.uid not in uids:
                continue
            if op.startswith(b"+"):
                m.flags |= flags
            elif op.startswith(b"-"):
                m.flags -= flags
            else:
                m.flags = set(flags)
            if not op.endswith(b".SILENT"):
                self.line(b"* %d FETCH (UID %d FLAGS %s)" % (seq, m.uid, flag_list(m.flags)))
        return self.ok(tag, "store done")

    def expunge(self, uids=None):
        """Removes \\Deleted messages (only those in uids when given) and
        sends the EXPUNGE responses."""
        mb = self.selected
        seq = 1
        for m in list(mb.msgs):
            if "\\Deleted" in m.flags and (uids is None or m.uid in uids):
                mb.msgs.remove(m)
                self.line(b"* %d EXPUNGE" % seq)
            else:
                seq += 1

    def _do_EXPUNGE(self, tag, args):
        if not self._need_selected(tag):
            return True
        if self.readonly:
            return self.no(tag, "[READ-ONLY] mailbox is read-only")
        uids = None
        if args:
            uids = set(parse_uid_set(args[0], [m.uid for m in self.selected.msgs]))
        self.expunge(uids)
        return self.ok(tag, "expunge done")

    def _do_SEARCH(self, tag, args):
        if not self._need_selected(tag):
            return True
        hits = [m.uid for m in self.selected.msgs]
        if len(args) >= 3 and args[0].upper() == b"HEADER":
            field, value = args[1].lower(), args[2]
            hits = [m.uid for m in self.selected.msgs
                    if any(ln.lower().startswith(field + b":") and value in ln
                           for ln in m.body.split(CRLF + CRLF, 1)[0].split(CRLF))]
        self.line(b"* SEARCH" + b"".join(b" %d" % u for u in hits))
        return self.ok(tag, "search done")

    def _do_APPEND(self, tag, args):
        name = args["mailbox"].decode()
        if name.upper() == "INBOX":
            name = "INBOX"
        with self.server.lock:
            mb = self.server.mailboxes.get(name)
            if mb is None:
                return self.no(tag, "[TRYCREATE] Mailbox doesn't exist: " + name)
            date = args["date"] or "01-Jan-2024 10:00:00 +0000"
            uid = mb.add(Msg(args["data"], args["flags"], date))
        return self.ok(tag, b"[APPENDUID %d %d] append done" % (mb.uidvalidity, uid))

    def _do_LOGOUT(self, tag, args):
        self.line(b"* BYE logging out")
        return self.ok(tag, "logout done")


# ---------------------------------------------------------------- server

class FakeIMAP:
    def __init__(self, mailboxes=None, hooks=None, caps=DEFAULT_CAPS, user="u", password="p"):
        self.caps = caps
        self.user = user
        self.password = password
        self.hooks = dict(hooks or {})
        self.lock = threading.RLock()
        self.mailboxes = {}
        self._next_validity = 1000
        for name, msgs in (mailboxes or {"INBOX": []}).items():
            self.add_mailbox(name, msgs)
        self.commands = []
        self.errors = []   # exceptions raised inside sessions (script bugs)
        self.connections = 0
        self._log_lines = []
        self._stopping = threading.Event()
        self._sock = None
        self._threads = []
        self._sessions = []
        self.port = None

    def add_mailbox(self, name, msgs=(), uidvalidity=None):
        if uidvalidity is None:
            uidvalidity = self._next_validity
            self._next_validity += 1
        mb = Mailbox(name, uidvalidity, msgs)
        self.mailboxes[name] = mb
        return mb

    # -- life cycle
    def start(self, port=0):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name="fakeimap-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stopping.set()
        for s in list(self._sessions):
            try:
                s.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)
        if self._sock:
            self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            c.settimeout(None)
            with self.lock:
                self.connections += 1
            s = Session(self, c)
            self._sessions.append(s)
            t = threading.Thread(target=s.run, name="fakeimap-session", daemon=True)
            t.start()
            self._threads.append(t)

    # -- hooks and records
    def _hook(self, sess, key, tag, args):
        fn = self.hooks.get(key)
        if fn is None:
            return False
        return bool(fn(sess, tag, args))

    def _record(self, key, args):
        with self.lock:
            self.commands.append((key, args))

    def _log(self, who, data, literals=()):
        text = data.decode("utf-8", "replace")
        if who == "C":
            text = re.sub(r"(AUTHENTICATE PLAIN) \S+", r"\1 <redacted>", text)
            text = re.sub(r"^(\S+ LOGIN) .*", r"\1 <redacted>", text)
            text = re.sub(r"\x00LIT(\d+)\x00",
                          lambda m: "{%d bytes}" % len(literals[int(m.group(1))]), text)
        elif len(text) > 300:
            text = text[:300] + "...(%d bytes)" % len(data)
        with self.lock:
            self._log_lines.append("%.3f %s: %s" % (time.monotonic(), who, text.rstrip("\r\n")))

    def transcript(self):
        with self.lock:
            return "\n".join(self._log_lines)

    def sent_commands(self):
        with self.lock:
            return [k for k, _ in self.commands]


def sample_message(n, extra=""):
    """A small deterministic RFC 5322 message (CRLF)."""
    return ("From: sender%d@example.test\r\nTo: user@example.test\r\n"
            "Subject: message %d\r\nDate: Mon, 01 Jan 2024 10:00:%02d +0000\r\n"
            "Message-ID: <m%d@example.test>\r\n%s\r\nBody of message %d.\r\n"
            % (n, n, n % 60, n, extra, n)).encode()


if __name__ == "__main__":
    import sys
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = FakeIMAP({"INBOX": [Msg(sample_message(i)) for i in (1, 2, 3)]})
    srv.start(port)
    print("fake IMAP on 127.0.0.1:%d (user u, password p); Ctrl-C stops" % srv.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
