"""A fault-injecting TCP proxy for the tests: offlinefs <-> proxy <-> Dovecot.

Why: the faults that lose or duplicate mail are network faults at the worst
moment (a connection that dies after the server stored an APPEND but before
the client read its tagged OK, a stall mid-literal, ...). Dovecot decides
what it stores; this proxy only decides what the client gets to see, so the
tests keep a real server and still hit every byte boundary.

Listens on 127.0.0.1 (a free port), forwards each accepted connection to
(host, port). Faults apply to the connections numbered in `conns` (1-based,
in accept order; None = every connection); a connection not covered is a
plain pipe. Faults (any combination; the first one that triggers wins):

  cut_up=N        close both sides once N bytes went client -> server
                  (the N bytes are delivered, nothing after them)
  cut_down=N      the same, server -> client
  stall_down=N    after N bytes server -> client, stop forwarding (both
                  directions) and keep the sockets open until stop()
  drop_before=RE  server -> client is parsed in lines; the first line
                  matching RE (bytes regex, searched) is NOT delivered:
                  both sides are closed before it. The server has already
                  done what that line reports (e.g. rb"^\\S+ OK \\[APPENDUID").
  drop_nth=K      with drop_before: drop at the K-th matching line (1-based,
                  counted over all faulty connections)
  refuse=RE       client -> server is parsed in lines; a command line
                  matching RE (bytes regex) is not sent to the server: the
                  proxy answers "<tag> NO [CANNOT] ..." itself, as a server
                  that refuses that command would (the server never sees it,
                  so nothing it reports is untrue). Every time, not counted
                  in max_faults; .refused counts them.
  max_faults=M    fire at most M faults in all (default 1: later connections,
                  e.g. a reconnection or the next run, pass); None = no limit

Counters: .conns (accepted so far), .triggered (faults fired), .matched
(lines that matched drop_before, over all connections),
.bytes_up / .bytes_down (totals over all connections).

Only for plaintext IMAP (ssl = no, starttls = no in the client config) when
drop_before is used; byte cuts work over TLS too.

Usage:
    with FaultProxy(dc.host, dc.imap_port, drop_before=rb"OK \\[APPENDUID",
                    conns={1}) as p:
        ... connect to 127.0.0.1:p.port ...
"""

import re
import select
import socket
import threading


class FaultProxy:
    def __init__(self, host, port, cut_up=None, cut_down=None, stall_down=None,
                 drop_before=None, drop_nth=1, conns=None, max_faults=1, refuse=None):
        self.target = (host, port)
        self.cut_up = cut_up
        self.cut_down = cut_down
        self.stall_down = stall_down
        self.drop_re = re.compile(drop_before) if drop_before is not None else None
        self.drop_nth = drop_nth
        self.fault_conns = set(conns) if conns is not None else None
        self.max_faults = max_faults
        self.refuse_re = re.compile(refuse) if refuse is not None else None
        self.refused = 0
        self.conns = 0
        self.triggered = 0
        self.matched = 0  # drop_before lines seen, over all connections
        self.bytes_up = 0
        self.bytes_down = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._socks = []
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]

    # ------------------------------------------------------------ life
    def start(self):
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        try:
            self.ls.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            _close(s)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # ------------------------------------------------------------ work
    def _accept_loop(self):
        self.ls.settimeout(0.2)
        while not self._stop.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.conns += 1
                n = self.conns
            try:
                s = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(c)
                continue
            with self._lock:
                self._socks += [c, s]
            faulty = self.fault_conns is None or n in self.fault_conns
            t = threading.Thread(target=self._pipe, args=(c, s, faulty), daemon=True)
            t.start()
            self._threads.append(t)

    def _armed(self):
        with self._lock:
            return self.max_faults is None or self.triggered < self.max_faults

    def _fire(self):
        with self._lock:
            self.triggered += 1

    def _pipe(self, c, s, faulty):
        up = down = 0
        pending = b""  # server bytes not yet delivered (drop_before: partial line)
        cpending = b""  # client bytes not yet sent (refuse: partial line)
        stalled = False
        c.setblocking(True)
        s.setblocking(True)
        try:
            while not self._stop.is_set():
                r, _, _ = select.select([c, s], [], [], 0.2)
                if faulty and not self._armed():
                    faulty = False
                    if pending:
                        c.sendall(pending)
                        pending = b""
                if c in r:
                    data = c.recv(65536)
                    if not data:
                        break
                    if self.refuse_re is not None:
                        cpending += data
                        data = b""
                        while b"\n" in cpending:
                            line, cpending = cpending.split(b"\n", 1)
                            line += b"\n"
                            if self.refuse_re.search(line):
                                with self._lock:
                                    self.refused += 1
                                tag = line.split(b" ", 1)[0]
                                c.sendall(tag + b" NO [CANNOT] refused by the fault proxy\r\n")
                                continue
                            data += line
                        if not data:
                            continue
                    if faulty and self.cut_up is not None and up + len(data) >= self.cut_up:
                        s.sendall(data[:self.cut_up - up])
                        self._count(up=self.cut_up - up)
                        self._fire()
                        break
                    s.sendall(data)
                    up += len(data)
                    self._count(up=len(data))
                if s in r:
                    data = s.recv(65536)
                    if not data:
                        if pending:
                            c.sendall(pending)
                        break
                    if faulty and self.cut_down is not None and down + len(data) >= self.cut_down:
                        c.sendall(data[:self.cut_down - down])
                        self._count(down=self.cut_down - down)
                        self._fire()
                        break
                    if faulty and self.stall_down is not None and \
                            down + len(data) >= self.stall_down:
                        c.sendall(data[:self.stall_down - down])
                        self._count(down=self.stall_down - down)
                        self._fire()
                        stalled = True
                        break
                    if faulty and self.drop_re is not None:
                        pending += data
                        out = b""
                        dropped = False
                        while b"\n" in pending:
                            line, pending = pending.split(b"\n", 1)
                            line += b"\n"
                            if self.drop_re.search(line):
                                if self._match() == self.drop_nth:
                                    dropped = True
                                    break
                            out += line
                        if out:
                            c.sendall(out)
                            down += len(out)
                            self._count(down=len(out))
                        if dropped:
                            self._fire()
                            break
                        # A line can be long (literals): deliver what
                        # cannot start a matching line once it is big.
                        if len(pending) > 65536:
                            c.sendall(pending)
                            down += len(pending)
                            self._count(down=len(pending))
                            pending = b""
                        continue
                    c.sendall(data)
                    down += len(data)
                    self._count(down=len(data))
        except OSError:
            pass
        finally:
            if stalled:
                self._stop.wait()
            _close(c)
            _close(s)

    def _match(self):
        with self._lock:
            self.matched += 1
            return self.matched

    def _count(self, up=0, down=0):
        with self._lock:
            self.bytes_up += up
            self.bytes_down += down


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
