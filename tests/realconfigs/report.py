#!/usr/bin/python3
"""Turn `compare.py --json OUT` into the Markdown tables of
docs/config-parity.md: the per-config result table and the configs grouped
by cause.

Why: the figure and the table must be regenerated after every merge that
changes offlinefs's behaviour; doing it by hand invites mistakes.

    python3 tests/realconfigs/report.py OUT.json > /tmp/tables.md
"""

import json
import re
import sys

URL = re.compile(r"^# source: (\S+)")


def source_url(name):
    import os
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", name + ".conf")
    with open(path, encoding="utf-8") as f:
        m = URL.match(f.readline())
    return m.group(1) if m else ""


def cause(r):
    """A short key saying why a config is not identical."""
    d = r["detail"]
    st = r["status"]
    if st == "identical":
        return None
    if st == "transports issue":
        return "transports issue: " + ", ".join(sorted({w for part in d.split("; ")
                                                        for w in part.split(": ", 1)[-1].split(", ")}))
    if st == "offlineimap fails":
        if "does not exist" in d or "Could not find section" in d:
            return "OfflineIMAP fails: account or repository section missing in the config"
        if "DuplicateOptionError" in d:
            return "OfflineIMAP fails: duplicate option (configparser refuses it)"
        if "no folder to sync" in d:
            return "OfflineIMAP fails: folderfilter keeps no folder"
        return "OfflineIMAP fails: " + d[:80]
    if st == "deliberate difference":
        return "deliberate difference: " + d.split(":", 1)[0]
    m = re.search(r"option '([^']+)' in section '[^']+' holds Python code", d)
    if m:
        return "offlinefs refuses a Python-valued option (first one found: %s)" % m.group(1)
    if "expected a single character" in d:
        return "offlinefs refuses a quoted `sep` that OfflineIMAP takes literally"
    if st == "offlinefs refused":
        return "offlinefs refuses: " + d[:80]
    parts = []
    if "hooks:" in d:
        parts.append("hooks not run")
    if "mbnames" in d:
        parts.append("no mbnames file")
    if "Maildir" in d or "message bytes" in d:
        parts.append("Maildir differs")
    if "server" in d:
        parts.append("server differs")
    return "differs: " + ", ".join(parts or [d[:80]])


def esc(s):
    return s.replace("|", "\\|").replace("\n", " ")


def main():
    data = json.load(open(sys.argv[1]))
    results = data["results"]
    print("| config | result | detail | Python options | issue 11 §2 options it uses |")
    print("|---|---|---|---|---|")
    for r in results:
        detail = r["detail"]
        if r["status"] == "offlineimap fails" and r.get("offlinefs"):
            detail += " — offlinefs: " + r["offlinefs"]
        if r["accounts_skipped"] and r["status"] != "transports issue":
            detail += " (accounts not run, transports issue: %s)" % ", ".join(
                sorted(r["accounts_skipped"]))
        py = ", ".join(r.get("python_options", [])) if r["status"] != "transports issue" else ""
        later = (", ".join(r.get("not_yet_options", []))
                 if r["status"] != "transports issue" else "")
        print("| [%s](%s) | %s | %s | %s | %s |" % (
            r["name"], source_url(r["name"]), r["status"], esc(detail[:300]), py, later))
    print()
    groups = {}
    for r in results:
        c = cause(r)
        if c:
            groups.setdefault(c, []).append(r["name"])
    for c in sorted(groups, key=lambda k: (-len(groups[k]), k)):
        print("- **%s** (%d): %s" % (c, len(groups[c]), ", ".join(groups[c])))


if __name__ == "__main__":
    main()
