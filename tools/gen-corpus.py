#!/usr/bin/python3
"""Generate a deterministic corpus of realistic RFC 5322 messages.

Why: sync tests, benchmarks and the demo need mail that looks like a real
mailbox (plain and multipart, attachments, non-ASCII headers and folder
names, a spread of sizes and flags) and is byte-for-byte reproducible, so a
failure seen once can be reproduced with the same --seed.

Output (LF line endings, as a Maildir stores them):

    OUT/<folder>/<n>.eml         n = 1..count within the folder; folder is
                                 the UTF-8 IMAP name, '/' = hierarchy
    OUT/manifest.json            {"seed", "generator", "folders": [
                                   {"name", "messages": [
                                     {"file", "message_id", "subject",
                                      "date" (RFC 5322), "timestamp",
                                      "flags" (IMAP, e.g. ["\\\\Seen"]),
                                      "maildir_flags" (e.g. "FS"),
                                      "size", "sha256", "kind"}]}]}

Usage:
    tools/gen-corpus.py OUT [--seed 1] [--folders 5 | --folders "INBOX,Café"]
                            [--messages 300] [--large K] [--attach-pct 8]

--messages is the total over all folders (INBOX gets the biggest share).
Size mix: most 2-12 KB text (some multipart/alternative with HTML), about
--attach-pct percent 30-200 KB with base64 attachments, and K messages of
1-4 MB when --large K.  Flags: ~65% \\Seen, ~12% \\Flagged, ~15% \\Answered,
\\Draft on everything in a drafts folder; no \\Deleted and no keywords (they
don't survive a Maildir round trip identically in every client).

The same arguments always give the same bytes (only Python's
random.Random(seed) is used; no time, no hostname).
"""

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import sys
from datetime import datetime, timedelta, timezone

DEFAULT_FOLDERS = [
    "INBOX", "Sent", "Entwürfe", "Café", "Projects/offlinefs",
    "Archive", "Lists/dev", "Reçus/2024", "Spam", "Travel",
]
DRAFT_FOLDERS = {"Entwürfe", "Drafts"}

WORDS = """the of and to in is that for it as was with be by on not he this are or his
from at which but have an they you were her she there been one all we their has would
when if so no will more can said what up its about into than them only other new some
could time these two may then do first any my now such like our over man me even most
made after also did many before must through back years where much your way well down
should because each just those people how too little state good very make world still
own see men work long get here between both life being under never day same another know
while last might us great old year off come since against go came right used take three
server mailbox folder message sync flag offline network cache account header body
attachment protocol client config option latency bandwidth release patch review build""".split()

UNI_WORDS = ["Grüße", "Müller", "Straße", "Café", "naïve", "résumé", "Äpfel", "Zürich",
             "façade", "déjà", "Øresund", "señor", "Kraków", "Ελλάδα", "日本語", "привет"]

NAMES = [("Alice Example", "alice@example.test"), ("Bob Builder", "bob@example.test"),
         ("Carol Çelik", "carol@example.test"), ("Dieter Müller", "dieter@example.test"),
         ("Eve Évrard", "eve@example.test"), ("Frank Li", "frank@lists.example.test"),
         ("Grace Hopper", "grace@navy.example.test"), ("Håkon Åsheim", "hakon@example.test"),
         ("Ivan Petrov", "ivan@example.test"), ("Judy Chen", "judy@example.test")]

ATTACH_TYPES = [("application/pdf", "report.pdf"), ("image/png", "diagram.png"),
                ("application/zip", "logs.zip"), ("image/jpeg", "Foto_Zürich.jpg"),
                ("application/octet-stream", "dump.bin")]


def encoded_word(s):
    """RFC 2047 B-encoded UTF-8 words, each within 75 chars."""
    out, chunk = [], ""
    for ch in s:
        if len(base64.b64encode((chunk + ch).encode())) > 45:
            out.append(chunk)
            chunk = ""
        chunk += ch
    if chunk:
        out.append(chunk)
    return "\n ".join("=?UTF-8?B?%s?=" % base64.b64encode(c.encode()).decode() for c in out)


def header_text(s):
    return s if s.isascii() else encoded_word(s)


def addr(name, email):
    if name.isascii():
        return '"%s" <%s>' % (name, email)
    return "%s <%s>" % (encoded_word(name), email)


def qp_encode(text):
    """Quoted-printable for UTF-8 text with LF line endings (soft breaks at 76)."""
    out_lines = []
    for line in text.split("\n"):
        enc = ""
        for b in line.encode():
            c = chr(b)
            if b == 61 or b > 126 or (b < 32 and c != "\t"):
                enc += "=%02X" % b
            else:
                enc += c
        if enc.endswith((" ", "\t")):
            enc = enc[:-1] + "=%02X" % ord(enc[-1])
        while len(enc) > 76:
            cut = 75
            # don't split an =XX escape
            while "=" in enc[cut - 2:cut]:
                cut -= 1
            out_lines.append(enc[:cut] + "=")
            enc = enc[cut:]
        out_lines.append(enc)
    return "\n".join(out_lines)


def b64_lines(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.seed = seed
        self.counter = 0

    def sentence(self, unicode_ok):
        r = self.rng
        n = r.randint(5, 16)
        words = [r.choice(UNI_WORDS) if unicode_ok and r.random() < 0.08 else r.choice(WORDS)
                 for _ in range(n)]
        s = " ".join(words)
        return s[0].upper() + s[1:] + r.choice([".", ".", ".", "?", "!"])

    def paragraph_text(self, target, unicode_ok):
        """Wrapped plain text of about `target` bytes."""
        r = self.rng
        lines, line, size = [], "", 0
        while size < target:
            s = self.sentence(unicode_ok)
            for w in s.split():
                if len(line) + len(w) + 1 > 72:
                    lines.append(line)
                    size += len(line.encode()) + 1
                    line = ""
                line = (line + " " + w) if line else w
            if r.random() < 0.25:
                lines.append(line)
                lines.append("")
                size += len(line.encode()) + 2
                line = ""
        if line:
            lines.append(line)
        return "\n".join(lines) + "\n"

    def subject(self):
        r = self.rng
        base = " ".join(r.choice(WORDS) for _ in range(r.randint(2, 7)))
        if r.random() < 0.2:
            base += " " + r.choice(UNI_WORDS)
        prefix = r.choice(["", "", "", "Re: ", "Fwd: ", "[dev] "])
        return prefix + base[0].upper() + base[1:]

    def message(self, folder, date, kind, size_target):
        """Return (bytes, subject, message_id)."""
        r = self.rng
        self.counter += 1
        frm = r.choice(NAMES)
        to = r.choice([n for n in NAMES if n != frm])
        subject = self.subject()
        mid = "<%d.%08x@corpus.example.test>" % (self.counter, r.getrandbits(32))
        unicode_body = r.random() < 0.3
        hdr = [
            "Return-Path: <%s>" % frm[1],
            "Received: from mx.example.test (mx.example.test [192.0.2.%d])\n"
            "\tby imap.example.test with ESMTPS id %08X\n\tfor <%s>; %s"
            % (r.randint(1, 254), r.getrandbits(32), to[1], date.strftime("%a, %d %b %Y %H:%M:%S %z")),
            "Date: %s" % date.strftime("%a, %d %b %Y %H:%M:%S %z"),
            "From: %s" % addr(*frm),
            "To: %s" % addr(*to),
        ]
        if r.random() < 0.3:
            cc = r.choice(NAMES)
            hdr.append("Cc: %s" % addr(*cc))
        hdr += ["Subject: %s" % header_text(subject), "Message-ID: %s" % mid]
        if subject.startswith("Re:"):
            hdr.append("In-Reply-To: <%d.parent@corpus.example.test>" % r.randint(1, 10**6))
        if folder.startswith("Lists/"):
            hdr.append("List-Id: <dev.lists.example.test>")
        hdr.append("MIME-Version: 1.0")

        def text_part(target):
            body = self.paragraph_text(target, unicode_body)
            if unicode_body:
                return ("Content-Type: text/plain; charset=UTF-8\n"
                        "Content-Transfer-Encoding: quoted-printable\n\n" + qp_encode(body) + "\n")
            return ("Content-Type: text/plain; charset=us-ascii\n"
                    "Content-Transfer-Encoding: 7bit\n\n" + body)

        def boundary():
            return "=_b%016x" % r.getrandbits(64)

        if kind == "text":
            if r.random() < 0.25:
                # multipart/alternative with an HTML twin
                b = boundary()
                plain = self.paragraph_text(size_target // 2, False)
                html = "<html><body>\n" + "".join("<p>%s</p>\n" % p for p in plain.split("\n\n")) \
                       + "</body></html>\n"
                hdr.append('Content-Type: multipart/alternative; boundary="%s"' % b)
                body = ("This is a multi-part message in MIME format.\n\n"
                        "--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s\n"
                        "--%s\nContent-Type: text/html; charset=us-ascii\n\n%s\n--%s--\n"
                        % (b, plain, b, html, b))
                head = "\n".join(hdr) + "\n"
            else:
                tp = text_part(size_target)
                ct, rest = tp.split("\n\n", 1)
                head = "\n".join(hdr) + "\n" + ct + "\n"
                body = rest
            data = head + "\n" + body
        else:
            b = boundary()
            hdr.append('Content-Type: multipart/mixed; boundary="%s"' % b)
            parts = [text_part(r.randint(300, 2000))]
            n_att = 1 if kind == "large" else r.choice([1, 1, 2])
            remaining = size_target
            for i in range(n_att):
                ctype, fname = r.choice(ATTACH_TYPES)
                raw = r.randbytes(max(1, int(remaining * 0.74 / (n_att - i))))
                remaining -= len(raw) * 4 // 3
                fname_hdr = ('filename="%s"' % fname if fname.isascii()
                             else "filename*=UTF-8''%s" % "".join(
                                 c if c.isascii() and c.isalnum() or c in "._-" else
                                 "".join("%%%02X" % x for x in c.encode()) for c in fname))
                parts.append("Content-Type: %s; name=\"%s\"\nContent-Transfer-Encoding: base64\n"
                             "Content-Disposition: attachment; %s\n\n%s\n"
                             % (ctype, fname if fname.isascii() else "attachment", fname_hdr,
                                b64_lines(raw)))
            body = "This is a multi-part message in MIME format.\n\n"
            body += "".join("--%s\n%s\n" % (b, p) for p in parts) + "--%s--\n" % b
            data = "\n".join(hdr) + "\n\n" + body
        return data.encode(), subject, mid

    def flags(self, folder):
        r = self.rng
        f = []
        if folder in DRAFT_FOLDERS:
            f.append("\\Draft")
        if folder == "Sent" or r.random() < 0.65:
            f.append("\\Seen")
        if r.random() < 0.12:
            f.append("\\Flagged")
        if r.random() < 0.15:
            f.append("\\Answered")
        return f


MAILDIR_LETTER = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}


def distribute(rng, total, nfolders):
    """Split `total` messages over folders; the first (INBOX) gets the most."""
    if nfolders == 0:
        return []
    weights = [3.0] + [rng.uniform(0.5, 1.5) for _ in range(nfolders - 1)]
    s = sum(weights)
    counts = [int(total * w / s) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def generate(out, seed=1, folders=None, messages=300, large=0, attach_pct=8.0):
    """Write the corpus to `out` (replacing it) and return the manifest dict."""
    folders = folders or DEFAULT_FOLDERS[:5]
    gen = Gen(seed)
    rng = gen.rng
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    counts = distribute(rng, messages, len(folders))
    # Which global message indices are "large": spread deterministically.
    large_set = set(rng.sample(range(messages), min(large, messages))) if messages else set()
    base = datetime(2024, 1, 1, 8, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    manifest = {"seed": seed, "generator": "tools/gen-corpus.py", "messages": messages,
                "large": large, "folders": []}
    idx = 0
    for folder, count in zip(folders, counts):
        fdir = os.path.join(out, folder)
        os.makedirs(fdir, exist_ok=True)
        entries = []
        t = base + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
        for n in range(1, count + 1):
            t += timedelta(seconds=rng.randint(60, 3 * 86400))
            if idx in large_set:
                kind, size = "large", rng.randint(1 << 20, 4 << 20)
            elif rng.random() * 100 < attach_pct:
                kind, size = "attachment", rng.randint(30 << 10, 200 << 10)
            else:
                kind, size = "text", rng.randint(2 << 10, 12 << 10)
            idx += 1
            data, subject, mid = gen.message(folder, t, kind, size)
            flags = gen.flags(folder)
            name = "%d.eml" % n
            with open(os.path.join(fdir, name), "wb") as f:
                f.write(data)
            entries.append({
                "file": os.path.join(folder, name),
                "message_id": mid,
                "subject": subject,
                "date": t.strftime("%a, %d %b %Y %H:%M:%S %z"),
                "timestamp": int(t.timestamp()),
                "flags": flags,
                "maildir_flags": "".join(sorted(MAILDIR_LETTER[f] for f in flags)),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "kind": kind,
            })
        manifest["folders"].append({"name": folder, "messages": entries})
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    return manifest


def parse_folders(arg):
    if arg is None:
        return DEFAULT_FOLDERS[:5]
    if arg.isdigit():
        n = int(arg)
        if n <= len(DEFAULT_FOLDERS):
            return DEFAULT_FOLDERS[:n]
        return DEFAULT_FOLDERS + ["Folder%02d" % i for i in range(n - len(DEFAULT_FOLDERS))]
    names = [f.strip() for f in arg.split(",") if f.strip()]
    if len(set(names)) != len(names):
        raise SystemExit("gen-corpus: duplicate folder names in --folders")
    return names


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="output directory (replaced)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--folders", help="a count (first N default names) or comma-separated "
                                      "UTF-8 names; default 5: " + ",".join(DEFAULT_FOLDERS[:5]))
    ap.add_argument("--messages", type=int, default=300, help="total messages (default 300)")
    ap.add_argument("--large", type=int, default=0, metavar="K", help="K messages of 1-4 MB")
    ap.add_argument("--attach-pct", type=float, default=8.0,
                    help="percent of messages with 30-200 KB attachments (default 8)")
    a = ap.parse_args(argv)
    m = generate(a.out, a.seed, parse_folders(a.folders), a.messages, a.large, a.attach_pct)
    total = sum(e["size"] for f in m["folders"] for e in f["messages"])
    print("gen-corpus: %d messages in %d folders, %.1f MB -> %s" % (
        a.messages, len(m["folders"]), total / 1e6, a.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
