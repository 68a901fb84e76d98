# pyhelper.py — the Python side of common/pyeval.c (embedded into offlinefs).
#
# offlinefs starts this with `python3 -c <this source>` the first time a
# Python-valued option (nametrans, remotepasseval, ...) needs evaluating.
# It reads one JSON request per line on fd 3 and answers one JSON reply per
# line on the same socket. stdout/stderr stay offlinefs's, so a pythonfile's
# print() appears as it does under OfflineIMAP.
#
# Evaluation is OfflineIMAP's LocalEval: the pythonfile is executed as a
# module whose attributes become the globals of every eval(), plus `re`
# where OfflineIMAP passes it. Never print a value here: it may be a password.
import functools
import importlib.machinery
import importlib.util
import json
import re
import signal
import socket
import sys

namespace = {}
handles = []


def load(path):
    # As localeval.py: any file name is accepted as Python source.
    if '' not in importlib.machinery.SOURCE_SUFFIXES:
        importlib.machinery.SOURCE_SUFFIXES.append('')
    spec = importlib.util.spec_from_file_location('<none>', path)
    if spec is None:
        raise ImportError("cannot load %s" % path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in dir(module):
        namespace[attr] = getattr(module, attr)


def evaluate(expr, with_re):
    names = {}
    names.update(namespace)
    if with_re:
        names['re'] = re
    return eval(expr, names)


class TypeErr(Exception):
    pass


def tname(v):
    return type(v).__name__


def as_str(v, strip=False, none=False):
    if v is None and none:
        return None
    if isinstance(v, bytes):
        v = v.decode('utf-8')
    if not isinstance(v, str):
        raise TypeErr("expected a str or bytes, got %s" % tname(v))
    if strip:
        v = v.strip('\n')
    return v


def as_int(v):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeErr("expected an int, got %s" % tname(v))
    return v


def as_strlist(v):
    if not isinstance(v, (list, tuple)):
        raise TypeErr("expected a list of folder names, got %s" % tname(v))
    for x in v:
        if not isinstance(x, str):
            raise TypeErr("expected a list of str, it holds a %s" % tname(x))
    return list(v)


def as_json(v):
    # Only what JSON carries; anything else is refused, not str()ed.
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, bytes):
        return v.decode('utf-8')
    if isinstance(v, (list, tuple)):
        return [as_json(x) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise TypeErr("dict keys must be str, got %s" % tname(k))
            out[k] = as_json(x)
        return out
    raise TypeErr("a %s cannot be returned to offlinefs" % tname(v))


def want(v, kind):
    if kind == 'str':
        r = as_str(v)
        if isinstance(v, bytes):
            raise TypeErr("expected a str, got bytes")
        return r
    if kind == 'bool':
        return bool(v)
    return as_json(v)


def handle(req):
    op = req['op']
    if op == 'load':
        load(req['file'])
        return None
    if op == 'eval':
        v = evaluate(req['expr'], req.get('re', False))
        kind = req['want']
        if kind == 'str':
            return as_str(v, req.get('strip', False), req.get('none', False))
        if kind == 'int':
            return as_int(v)
        if kind == 'strlist':
            return as_strlist(v)
        return as_json(v)
    if op == 'define':
        v = evaluate(req['expr'], req.get('re', False))
        if req.get('callable') and not callable(v):
            raise TypeErr("expected a callable (such as a lambda), got %s" % tname(v))
        handles.append(v)
        return len(handles) - 1
    fn = handles[req['h']]
    args = req['args']
    if op == 'call':
        return want(fn(*args), req['want'])
    if op == 'map':
        out = []
        for a in args:
            try:
                out.append(want(fn(a), req['want']))
            except Exception as e:
                raise ArgError(a, e)
        return out
    if op == 'sortcmp':
        idx = list(range(len(args)))
        idx.sort(key=functools.cmp_to_key(lambda i, j: fn(args[i], args[j])))
        return idx
    if op == 'sortkey':
        return sorted(range(len(args)), key=lambda i: fn(args[i]))
    raise ValueError("unknown request %r" % op)


class ArgError(Exception):
    def __init__(self, arg, exc):
        super().__init__()
        self.arg = arg
        self.exc = exc


def describe(e):
    return "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__


def main():
    # Ctrl-C reaches the whole foreground process group; offlinefs decides
    # what it means (graceful stop first). Our end is the socket closing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=3)
    rfile = sock.makefile('rb')
    wfile = sock.makefile('wb')
    failed_load = None
    for line in rfile:
        req = json.loads(line)
        try:
            if failed_load is not None:
                rep = failed_load
            else:
                rep = {'ok': True, 'v': handle(req)}
        except TypeErr as e:
            rep = {'ok': False, 'kind': 'type', 'err': str(e)}
        except ArgError as e:
            kind = 'type' if isinstance(e.exc, TypeErr) else 'eval'
            text = str(e.exc) if kind == 'type' else describe(e.exc)
            rep = {'ok': False, 'kind': kind, 'err': "%r: %s" % (e.arg, text)}
        except BaseException as e:  # SystemExit from a pythonfile too
            kind = 'file' if req.get('op') == 'load' else 'eval'
            rep = {'ok': False, 'kind': kind, 'err': describe(e)}
            if kind == 'file':
                failed_load = rep
        data = json.dumps(rep, ensure_ascii=True).encode('ascii') + b'\n'
        sys.stdout.flush()
        wfile.write(data)
        wfile.flush()


main()
