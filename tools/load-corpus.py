#!/usr/bin/python3
"""Load a tools/gen-corpus.py corpus into a running fixture Dovecot user.

Why: the demo and benchmarks need a realistic mailbox on the server quickly;
see tests/fixture/corpus.py for the methods and their trade-offs.

Usage:
    tools/load-corpus.py --dir FIXTURE_DIR [--user user1] [--method maildir|imap|doveadm]
                         [--verify] CORPUS_DIR
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixture"))
import corpus  # noqa: E402
import dovecot  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="directory written by tools/gen-corpus.py")
    ap.add_argument("--dir", required=True, help="fixture directory (server must be running)")
    ap.add_argument("--user", default="user1")
    ap.add_argument("--method", choices=sorted(corpus.METHODS), default="maildir")
    ap.add_argument("--verify", action="store_true",
                    help="afterwards, fetch everything over IMAP and compare with the manifest")
    a = ap.parse_args(argv)
    d = dovecot.Dovecot(a.dir)
    st = d._load_state()
    if not st or not d.running():
        print("load-corpus: no running fixture in %s (start it with tests/fixture/dovecot.py "
              "start --dir %s)" % (a.dir, a.dir), file=sys.stderr)
        return 1
    d._adopt(st)
    t = time.monotonic()
    n = corpus.load_corpus(d, a.user, a.corpus, a.method)
    dt = time.monotonic() - t
    print("load-corpus: %d messages -> %s@%s via %s in %.2fs" % (n, a.user, a.dir, a.method, dt),
          file=sys.stderr)
    if a.verify:
        problems = corpus.verify_loaded(d, a.user, a.corpus)
        for p in problems[:20]:
            print("load-corpus: verify: " + p, file=sys.stderr)
        if problems:
            return 1
        print("load-corpus: verified", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
