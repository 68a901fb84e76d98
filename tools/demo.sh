#!/usr/bin/env bash
# demo.sh — quick-start #1: build offlinefs and sync a sample mailbox from a
# local demo IMAP server into demo/Mail.
#
# Why: a new user should see offlinefs work in one command, on a clean
# Debian 12, without an IMAP account of their own.  Steps:
#   1. install missing Debian packages (apt only if something is missing);
#   2. build (meson setup build && ninja -C build);
#   3. start a private Dovecot on 127.0.0.1 (tests/fixture/dovecot.py, dir
#      $DEMO_DIR) and load a generated sample mailbox into it once
#      (tools/gen-corpus.py, fixed seed: 5 folders incl. "Entwürfe" and
#      "Café", 300 messages, some with attachments);
#   4. write demo/offlineimaprc (OfflineIMAP format, account "Demo", IMAPS
#      with the demo CA) and run: build/tools/offlinefs -c demo/offlineimaprc -o -u basic
# Re-running is safe: the server is reused (or restarted with the same CA,
# passwords and mail), the mailbox is loaded only once, and the sync just
# brings demo/Mail up to date.
#
# Env: DEMO_DIR (default /var/tmp/offlinefs-demo), BUILD_DIR (default build)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
demo_dir=${DEMO_DIR:-/var/tmp/offlinefs-demo}
build=${BUILD_DIR:-build}
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3

# The server side (vmail user, Maildir ownership) needs root.
if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi

say() { printf '\n==> %s\n' "$*"; }

say "Checking Debian packages"
tools/ensure-deps.sh demo

say "Building ($build)"
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build"
fi
ninja -C "$build"
bin=$build/tools/offlinefs
[ -x "$bin" ] || { echo "demo: $bin was not built" >&2; exit 1; }

say "Starting the demo IMAP server (Dovecot) in $demo_dir"
info=$("${as_root[@]}" "$py" tests/fixture/dovecot.py start --dir "$demo_dir")
field() { printf '%s' "$info" | "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
port=$(field 'd["imaps_port"]')
user=$(field 'd["users"][0]["user"]')
pass=$(field 'd["users"][0]["password"]')
cafile=$(field 'd["cafile"]')
echo "Dovecot is listening on 127.0.0.1: IMAPS port $port, IMAP port $(field 'd["imap_port"]') (log: $demo_dir/dovecot.log)"

if [ ! -f "$demo_dir/.demo-mailbox-loaded" ]; then
	say "Loading the sample mailbox (generated, seed 2024) into $user"
	"${as_root[@]}" "$py" tools/gen-corpus.py "$demo_dir/corpus" --seed 2024 --messages 300 \
		--folders "INBOX,Sent,Entwürfe,Café,Projects/offlinefs" --large 1
	"${as_root[@]}" "$py" tools/load-corpus.py --dir "$demo_dir" --user "$user" "$demo_dir/corpus"
	"${as_root[@]}" touch "$demo_dir/.demo-mailbox-loaded"
else
	echo "Sample mailbox already loaded (remove $demo_dir to start over)."
fi

say "Writing demo/offlineimaprc"
mkdir -p demo
conf=$here/demo/offlineimaprc
umask 077
cat >"$conf" <<CONF
# Demo configuration written by tools/demo.sh — OfflineIMAP format.
[general]
accounts = Demo
metadata = $here/demo/metadata

[Account Demo]
localrepository = DemoLocal
remoterepository = DemoRemote

[Repository DemoLocal]
type = Maildir
localfolders = $here/demo/Mail

[Repository DemoRemote]
type = IMAP
remotehost = localhost
remoteport = $port
remoteuser = $user
remotepass = $pass
ssl = yes
sslcacertfile = $cafile
CONF
umask 022
echo "$conf"

say "Syncing: $bin -c demo/offlineimaprc -o -u basic"
set +e
"$bin" -c "$conf" -o -u basic
rc=$?
set -e

say "Result"
if [ -d demo/Mail ]; then
	echo "Maildir: $here/demo/Mail"
	"$py" - "$here/demo/Mail" <<'PY'
import os, sys
sys.path.insert(0, "tests/fixture")
from corpus import mutf7_decode
root = sys.argv[1]
for dirpath, dirs, files in sorted(os.walk(root)):
    if "cur" in dirs and "new" in dirs:
        name = os.path.relpath(dirpath, root)
        n = len(os.listdir(os.path.join(dirpath, "cur"))) + len(os.listdir(os.path.join(dirpath, "new")))
        shown = name if mutf7_decode(name) == name else "%s (%s)" % (name, mutf7_decode(name))
        print("  %-40s %5d messages" % (shown, n))
PY
	echo "Status cache: $here/demo/metadata"
	echo "Read it with:  mutt -f $here/demo/Mail/INBOX"
else
	echo "No Maildir was written (offlinefs exit status $rc)."
fi
cat <<TXT

offlinefs exit status: $rc
Sync again:        $bin -c demo/offlineimaprc -o -u basic
Re-run the demo:   tools/demo.sh
Stop the server:   ${as_root[*]:+${as_root[*]} }$py tests/fixture/dovecot.py stop --dir $demo_dir
Start over:        (stop it, then) rm -rf $demo_dir demo
TXT
exit $rc
