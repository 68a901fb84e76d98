#!/usr/bin/python3
"""TLS and socket options of the remote repository, against the real Dovecot.

Why: local bridges (ProtonMail Bridge, DavMail) serve STARTTLS with a
certificate nothing can verify; offlinefs refuses it but must say how to
trust exactly that certificate. The other tests cover OfflineIMAP's
sslclientcert/sslclientkey, ssl_version, tls_level, ipv6 and
remote_identity.

Run one test:  OFFLINEFS=build/tools/offlinefs python3 tests/integration/test_tls_options.py TestTlsOptions.test_unverifiable_certificate_names_fingerprint_line
"""

import os
import re
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import REMOTE_REPO, simple_message, tree_snapshot  # noqa: E402


class TestTlsOptions(harness.SyncTestCase):

    def assert_nothing_written(self, r):
        self.assertEqual(r.rc, 1, str(r))
        files = [p for p in tree_snapshot(self.mail) if not p.endswith("/")]
        self.assertEqual(files, [], "messages written despite a refused certificate")

    def test_unverifiable_certificate_names_fingerprint_line(self):
        """ssl = no + STARTTLS, no CA that signs the server's certificate (a
        bridge's self-signed one): refused, and the one error line gives the
        certificate's sha256 fingerprint and the exact cert_fingerprint line;
        with that line added the sync works."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("bridge"))
        self.write_config(remote={"ssl": "no", "remoteport": self.dc.imap_port,
                                  "sslcacertfile": None})
        r = self.run_offlinefs()
        self.assert_nothing_written(r)
        errs = [ln for ln in r.err.splitlines() if ln.startswith("ERROR")]
        self.assertEqual(len(errs), 1, str(r))
        want = self.dc.info()["cert_fingerprint_sha256"].replace(":", "").lower()
        m = re.search(r"add this line to \[Repository (\S+)\]: cert_fingerprint = ([0-9a-f]+)$",
                      errs[0])
        self.assertTrue(m, errs[0])
        self.assertEqual(m.group(1), REMOTE_REPO)
        self.assertEqual(m.group(2), want)
        colon = ":".join(want[i:i + 2] for i in range(0, len(want), 2))
        self.assertIn("sha256 fingerprint %s" % colon, errs[0])
        self.write_config(remote={"ssl": "no", "remoteport": self.dc.imap_port,
                                  "sslcacertfile": None, "cert_fingerprint": m.group(2)})
        self.sync()
        self.assert_synced("INBOX")

    def test_trust_loopback_certificate(self):
        """trust_loopback_certificate = yes (offlinefs's own option) accepts
        the unverifiable certificate of a server on a loopback address, as
        the refusal suggests for such a server."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("bridge"))
        remote = {"ssl": "no", "remoteport": self.dc.imap_port, "sslcacertfile": None,
                  "remotehost": "127.0.0.1"}
        self.write_config(remote=remote)
        r = self.run_offlinefs()
        self.assert_nothing_written(r)
        self.assertIn("trust_loopback_certificate = yes", r.err)
        self.write_config(remote=dict(remote, trust_loopback_certificate="yes"))
        self.sync()
        self.assert_synced("INBOX")

    def test_trust_loopback_certificate_not_for_other_addresses(self):
        """The option is decided by the address really connected to: through
        a relay on this machine's non-loopback address the certificate is
        refused, option or not."""
        ip = non_loopback_ipv4()
        if not ip:
            self.skipTest("no non-loopback IPv4 address on this machine")
        relay = Relay(ip, self.dc.imap_port)
        self.addCleanup(relay.close)
        with self.server() as srv:
            srv.append("INBOX", simple_message("bridge"))
        self.write_config(remote={"ssl": "no", "remoteport": relay.port, "sslcacertfile": None,
                                  "remotehost": ip, "trust_loopback_certificate": "yes"})
        r = self.run_offlinefs()
        self.assert_nothing_written(r)
        self.assertIn("certificate verification failed", r.err)
        self.assertNotIn("trust_loopback_certificate = yes", r.err)
        self.assertGreater(relay.connections, 0, "the relay was not used")

    def test_wrong_fingerprint_names_right_line(self):
        """A cert_fingerprint that does not match: the error names the line
        that would (the certificate changed, e.g. a reinstalled bridge)."""
        fp = self.dc.info()["cert_fingerprint_sha256"].replace(":", "").lower()
        wrong = ("0" if fp[0] != "0" else "1") + fp[1:]
        self.write_config(remote={"ssl": "no", "remoteport": self.dc.imap_port,
                                  "sslcacertfile": None, "cert_fingerprint": wrong})
        r = self.run_offlinefs()
        self.assert_nothing_written(r)
        colon = ":".join(fp[i:i + 2] for i in range(0, len(fp), 2))
        self.assertIn("cert_fingerprint = %s" % colon, r.err)

    def test_ipv6_forces_address_family(self):
        """ipv6 = yes resolves the host for IPv6 only (the server listens on
        127.0.0.1 alone: no connection); ipv6 = no for IPv4 only (works)."""
        with self.server() as srv:
            srv.append("INBOX", simple_message("v4"))
        self.write_config(remote={"remotehost": "localhost", "ipv6": "yes"})
        r = self.run_offlinefs()
        self.assert_nothing_written(r)
        self.assertRegex(r.err, r"IMAP\[%s\] localhost:\d+: (cannot resolve|connect to \S+)"
                         % REMOTE_REPO)
        self.assertNotIn("127.0.0.1", r.err)
        self.write_config(remote={"remotehost": "localhost", "ipv6": "no"})
        self.sync()
        self.assert_synced("INBOX")


def non_loopback_ipv4():
    """An IPv4 address of this machine outside 127/8 (None if there is none)."""
    try:
        out = subprocess.run(["hostname", "-I"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return None
    for a in out.split():
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a) and not a.startswith("127."):
            return a
    return None


class Relay:
    """TCP relay from ip:<free port> to 127.0.0.1:port (byte for byte)."""

    def __init__(self, ip, port):
        self.target = port
        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            s = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def make_client_cert(dc, name="client"):
    """A client certificate (and key) signed by the fixture's CA."""
    key = os.path.join(dc.dir, name + ".key")
    csr = os.path.join(dc.dir, name + ".csr")
    crt = os.path.join(dc.dir, name + ".pem")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", "/CN=%s" % dc.users[0]["user"]], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", dc.cafile, "-CAkey", dc.ca_key,
                    "-CAcreateserial", "-days", "2", "-out", crt], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


class TestClientCert(harness.SyncTestCase):
    """Dovecot verifies a client certificate and refuses to authenticate
    without one (sslclientcert / sslclientkey)."""

    DOVECOT_CONF = """
ssl_ca = <{dir}/ca.pem
ssl_verify_client_cert = yes
ssl_require_crl = no
auth_ssl_require_client_cert = yes
"""

    def test_client_certificate(self):
        crt, key = make_client_cert(self.dc)
        self.dc.client_cert = (crt, key)  # for the test's own IMAP connections
        with self.server() as srv:
            srv.append("INBOX", simple_message("for cert holders"))
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, "accepted without a client certificate:\n%s" % r)
        self.assertEqual([p for p in tree_snapshot(self.mail) if not p.endswith("/")], [])
        self.write_config(remote={"sslclientcert": crt, "sslclientkey": key})
        self.sync()
        self.assert_synced("INBOX")
        # STARTTLS presents it too; cert and key in one file need no sslclientkey
        both = os.path.join(self.dc.dir, "both.pem")
        with open(both, "w") as f:
            f.write(harness.read_text(crt) + harness.read_text(key))
        with self.server() as srv:
            srv.append("INBOX", simple_message("over starttls"))
        self.write_config(remote={"sslclientcert": both, "ssl": "no",
                                  "remoteport": self.dc.imap_port})
        self.sync()
        self.assert_synced("INBOX")
        # a key that is not the certificate's is refused before anything
        _, other_key = make_client_cert(self.dc, "other")
        self.write_config(remote={"sslclientcert": crt, "sslclientkey": other_key})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("sslclientkey", r.err)


class TestTls13Only(harness.SyncTestCase):
    """ssl_version pins the protocol: tls1_2 cannot talk to a TLS 1.3-only
    server, the default (TLS 1.2 or newer) can."""

    DOVECOT_CONF = "ssl_min_protocol = TLSv1.3\n"

    def test_ssl_version_pins_protocol(self):
        with self.server() as srv:
            srv.append("INBOX", simple_message("modern"))
        self.write_config(remote={"ssl_version": "tls1_2", "tls_level": "tls_secure"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, "TLS 1.2 was not enforced:\n%s" % r)
        self.assertIn("TLS handshake failed", r.err)
        self.write_config(remote={"ssl_version": "ssl23"})
        self.sync()
        self.assert_synced("INBOX")


class TestRemoteIdentity(harness.SyncTestCase):
    """remote_identity is the SASL PLAIN authorization identity: a Dovecot
    master user logs in as remoteuser and works on remote_identity's mail."""

    DOVECOT_CONF = """
auth_master_user_separator = *
passdb {
  driver = passwd-file
  args = scheme=PLAIN {dir}/master-users
  master = yes
}
"""

    def test_remote_identity_is_authzid(self):
        with open(os.path.join(self.dc.dir, "master-users"), "w") as f:
            f.write("admin:{PLAIN}adminpass\n")
        with self.server() as srv:
            srv.append("INBOX", simple_message("user1's mail"))
        self.write_config(remote={"remoteuser": "admin", "remotepass": "adminpass"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, "the master user alone has no mailbox:\n%s" % r)
        self.write_config(remote={"remoteuser": "admin", "remotepass": "adminpass",
                                  "remote_identity": self.user})
        self.sync()
        self.assert_synced("INBOX")
        self.assertEqual(len(self.local_messages("INBOX")), 1)
        # LOGIN cannot carry the identity: never used instead of PLAIN
        self.write_config(remote={"remoteuser": "admin", "remotepass": "adminpass",
                                  "remote_identity": self.user, "auth_mechanisms": "LOGIN"})
        r = self.run_offlinefs()
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("no usable authentication mechanism", r.err)


if __name__ == "__main__":
    harness.main()
