#!/bin/sh
# tools/fuzz.sh SECONDS [TARGET...] — builds the libFuzzer targets (fuzz/,
# docs/fuzzing.md) with clang in build-fuzz/ (ASan + UBSan), then runs each
# target for SECONDS on a copy of its seed corpus (fuzz/corpus/NAME, new
# inputs kept in build-fuzz/corpus/NAME), one after the other. Prints per
# target the executions and whether it found anything; crash inputs land in
# build-fuzz/findings/NAME/. Exit 1 when a target found a crash, leak or hang.
# Not part of the test suite (meson test --suite fuzz runs each seed once).
set -eu
secs=${1:?usage: tools/fuzz.sh SECONDS [TARGET...]}
shift
src=$(cd "$(dirname "$0")/.." && pwd)
bdir=$src/build-fuzz
if [ ! -f "$bdir/build.ninja" ]; then
	CC=clang meson setup "$bdir" "$src" -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dwerror=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$bdir" fuzz/fuzz_config fuzz/fuzz_maildir_name fuzz/fuzz_status fuzz/fuzz_imap >/dev/null
targets=${*:-config maildir_name status imap}
status=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# the suite's suppressions: leaks inside libetpan itself, each explained there
export LSAN_OPTIONS=suppressions=$src/.ci/lsan.supp:print_suppressions=0
for t in $targets; do
	corpus=$bdir/corpus/$t
	findings=$bdir/findings/$t
	mkdir -p "$corpus" "$findings"
	log=$bdir/fuzz-$t.log
	# -close_fd_mask=2: the code's own warning lines stay out of the log
	set +e
	"$bdir/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -close_fd_mask=2 -print_final_stats=1 \
		-artifact_prefix="$findings/" "$corpus" "$src/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	found=$(ls "$findings" | wc -l)
	printf '%-14s %s s: %s executions (%s/s), %s, %s finding(s), exit %s\n' "$t" "$secs" \
		"${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" "$found" "$rc"
	[ "$rc" -eq 0 ] && [ "$found" -eq 0 ] || status=1
done
exit $status
