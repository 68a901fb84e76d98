#!/usr/bin/env bash
# ensure-deps.sh — install the Debian 12 packages offlinefs needs, only if missing.
#
# Why: CI and new users start from a clean Debian 12; the quick-start scripts
# (tools/demo.sh, tools/run-tests.sh) call this first.  It is idempotent and
# does not touch apt at all when everything is already installed, so it is
# cheap to run every time and works offline on a prepared machine.
#
# Usage: tools/ensure-deps.sh [build|test|demo|bench]   (default: test = everything)
#   build  compiler, meson, libraries
#   demo   build + dovecot + openssl + python3
#   test   demo + offlineimap3 (compatibility test) + sqlite3 + mutt and tmux
#          (the real mail reader driven by the mount tests)
#   bench  test + isync (mbsync) for bench/ (GNU time, for peak RSS, is in test)
# Needs root for installing; uses sudo when not root and sudo exists.
set -euo pipefail

what=${1:-test}
build_pkgs=(gcc libc6-dev meson ninja-build pkg-config python3
            libssl-dev libsqlite3-dev libetpan-dev libiniparser-dev libfuse3-dev fuse3
            libjson-c-dev libncurses-dev)
demo_pkgs=("${build_pkgs[@]}" dovecot-core dovecot-imapd openssl passwd)
test_pkgs=("${demo_pkgs[@]}" offlineimap3 sqlite3 mutt tmux time)
bench_pkgs=("${test_pkgs[@]}" isync)
case $what in
	build) pkgs=("${build_pkgs[@]}") ;;
	demo) pkgs=("${demo_pkgs[@]}") ;;
	test) pkgs=("${test_pkgs[@]}") ;;
	bench) pkgs=("${bench_pkgs[@]}") ;;
	*) echo "usage: $0 [build|test|demo|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "ensure-deps: missing packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "ensure-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A clean image has empty package lists: update once, then install.
if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
	"${sudo[@]}" apt-get update
	"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
