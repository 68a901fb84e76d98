#!/usr/bin/env bash
# The long crash-at-every-step sweep (issue 12 §6; the suite runs a bounded
# one): the same two-way sync against the Dovecot fixture is cut at POINTS
# places (each tagged OK, then byte offsets spread over the conversation,
# both directions), resumed with clean runs, and the end state checked:
# nothing lost, nothing duplicated, both sides equal. Runs once against a
# server with its extensions and once against one advertising none; then a
# UIDVALIDITY recovery is cut before each of its tagged OKs, both kinds.
#
# Usage: tools/fault-sweep.sh [POINTS]    (default 300 per server kind)
# Needs root (the fixture starts Dovecot) and a build (build*/tools/offlinefs
# or $OFFLINEFS). Prints per kind, and in total:
#   trials N, lost N, duplicated N
# Exit 0 only when every trial lost and duplicated nothing.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
points=${1:-300}
if [ -z "${OFFLINEFS:-}" ]; then
	for b in "$here"/build*/tools/offlinefs; do
		[ -x "$b" ] && OFFLINEFS=$b && break
	done
fi
[ -n "${OFFLINEFS:-}" ] || { echo "fault-sweep: no build*/tools/offlinefs; build first" >&2; exit 1; }
export OFFLINEFS PYTHONDONTWRITEBYTECODE=1
log=$(mktemp /var/tmp/fault-sweep.XXXXXX)
trials=0 lost=0 dup=0 rc=0
for ext in 1 0; do
	FAULT_SWEEP_POINTS=$points FAULT_SWEEP_EXTENSIONS=$ext \
		python3 "$here/tests/fault/test_sweep.py" TestCrashSweep.test_bounded_sweep \
		>>"$log" 2>&1 || rc=1
	line=$(grep '^fault sweep' "$log" | tail -1)
	echo "$line"
	set -- $(echo "$line" | sed -n 's/.*trials \([0-9]*\), lost \([0-9]*\), duplicated \([0-9]*\).*/\1 \2 \3/p')
	[ $# -eq 3 ] || { echo "fault-sweep: no result (see $log)" >&2; rc=1; continue; }
	trials=$((trials + $1)) lost=$((lost + $2)) dup=$((dup + $3))
done
# a UIDVALIDITY recovery cut before each of its tagged OKs, both kinds
for ext in 1 0; do
	FAULT_SWEEP_EXTENSIONS=$ext \
		python3 "$here/tests/fault/test_sweep.py" TestRecoverySweep.test_recovery_cut_at_every_ok \
		>>"$log" 2>&1 || rc=1
	line=$(grep '^recovery sweep' "$log" | tail -1)
	echo "$line"
	set -- $(echo "$line" | sed -n 's/.*trials \([0-9]*\), lost \([0-9]*\), duplicated \([0-9]*\).*/\1 \2 \3/p')
	[ $# -eq 3 ] || { echo "fault-sweep: no recovery result (see $log)" >&2; rc=1; continue; }
	trials=$((trials + $1)) lost=$((lost + $2)) dup=$((dup + $3))
done
grep -E '^cut (up|down|ok) |^cut before' "$log" | head -20
echo "trials $trials, lost $lost, duplicated $dup"
if [ $rc -eq 0 ] && [ $lost -eq 0 ] && [ $dup -eq 0 ]; then
	rm -f "$log"
	exit 0
fi
echo "fault-sweep: full log in $log" >&2
exit 1
