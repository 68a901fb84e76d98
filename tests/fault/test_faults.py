"""Fault tests: offlinefs against the real Dovecot fixture through the
fault-injecting proxy (faultproxy.py), then a clean run: nothing may be lost
or duplicated, and both sides must end equal (issue 12, sections 1 and 6).

Run one:  OFFLINEFS=build/tools/offlinefs python3 tests/fault/test_faults.py \
              TestFaults.test_identical_copies_reply_lost
"""

import ast
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import add_local_message, simple_message  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

APPENDUID_OK = rb"^\S+ OK \[APPENDUID "


class FaultTestCase(harness.SyncTestCase):
    """SyncTestCase whose config goes through a FaultProxy (plain IMAP)."""

    def proxy(self, **faults):
        p = FaultProxy(self.dc.host, self.dc.imap_port, **faults).start()
        self.addCleanup(p.stop)
        self.write_config(remote={"remotehost": "127.0.0.1", "remoteport": str(p.port),
                                  "ssl": "no", "starttls": "no", "sslcacertfile": None})
        return p

    def direct(self):
        """Back to the plain config (no proxy)."""
        self.write_config()

    def server_bodies(self, folder):
        with self.server() as s:
            return sorted(harness.crlf_to_lf(m.body) for m in s.messages(folder).values())


class TestFaults(FaultTestCase):
    def test_identical_copies_reply_lost(self):
        """Three byte-identical new local messages go up in one APPEND
        batch; the server stores them but the connection dies before the
        tagged OK [APPENDUID]. The next run pairs the server's three copies
        with the three files one to one: three on each side, not six."""
        self.sync()
        body = simple_message("same thing")
        for _ in range(3):
            add_local_message(self.mail, "INBOX", body)
        p = self.proxy(drop_before=APPENDUID_OK)
        r = self.run_offlinefs()
        self.assertEqual(p.triggered, 1, "the proxy never dropped the APPENDUID reply:\n%s" % r)
        self.assertNotEqual(r.rc, 0)
        self.assertEqual(len(self.server_bodies("INBOX")), 3, "the server stored the batch")
        self.direct()
        self.sync()
        self.sync()
        server, local = self.assert_synced("INBOX")
        self.assertEqual(len(server), 3, "duplicated on the server")
        self.assertEqual(len(local), 3, "duplicated locally")

    def test_identical_copies_some_already_on_server(self):
        """The server already has one more identical copy that is not ours
        (not yet downloaded): after the lost reply, pairing one to one
        leaves four on each side (three uploaded + the server's own)."""
        self.sync()
        body = simple_message("same thing 2")
        for _ in range(3):
            add_local_message(self.mail, "INBOX", body)
        p = self.proxy(drop_before=APPENDUID_OK)
        with self.server() as s:
            s.append("INBOX", body)
        r = self.run_offlinefs()
        self.assertEqual(p.triggered, 1, "the proxy never dropped the APPENDUID reply:\n%s" % r)
        self.direct()
        self.sync()
        self.sync()
        server, local = self.assert_synced("INBOX")
        self.assertEqual(len(server), 4)
        self.assertEqual(len(local), 4)


    def test_stall_mid_download_then_resume(self):
        """The server goes silent mid-download (the proxy stops forwarding,
        sockets open): the run gives up after socktimeout with an error,
        and the next run completes; nothing lost or duplicated."""
        with self.server() as s:
            for i in range(6):
                s.append("INBOX", simple_message("stall %d" % i, body="line\n" * 2000))
        p = self.proxy(stall_down=9000)
        self.write_config(general={"socktimeout": "2"},
                          remote={"remotehost": "127.0.0.1", "remoteport": str(p.port),
                                  "ssl": "no", "starttls": "no", "sslcacertfile": None})
        r = self.run_offlinefs()
        self.assertEqual(p.triggered, 1, str(r))
        self.assertEqual(r.rc, 1, str(r))
        self.assertLess(len(self.local_messages("INBOX")), 6)
        self.direct()
        self.sync()
        server, local = self.assert_synced("INBOX")
        self.assertEqual(len(server), 6)
        self.assertEqual(len(local), 6)


class TestFaultRegistry(unittest.TestCase):
    def test_all_registered(self):
        """Every test method of the test_*.py files here is in meson.build."""
        build = os.environ.get("MESON_BUILD_FILE", os.path.join(HERE, "meson.build"))
        with open(build) as f:
            registered = set(re.findall(r"'(Test\w+\.test_\w+)'", f.read()))
        defined = set()
        for fname in sorted(os.listdir(HERE)):
            if not (fname.startswith("test_") and fname.endswith(".py")):
                continue
            with open(os.path.join(HERE, fname)) as f:
                tree = ast.parse(f.read())
            for cls in tree.body:
                if isinstance(cls, ast.ClassDef):
                    for fn in cls.body:
                        if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                            defined.add("%s.%s" % (cls.name, fn.name))
        self.assertEqual(defined - registered, set(), "tests missing from meson.build")
        self.assertEqual(registered - defined, set(), "meson.build names unknown tests")


if __name__ == "__main__":
    harness.main()
