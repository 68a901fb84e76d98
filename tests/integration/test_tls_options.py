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
import sys
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


if __name__ == "__main__":
    harness.main()
