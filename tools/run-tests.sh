#!/usr/bin/env bash
# run-tests.sh — build with sanitizers and run every test (quick-start #2; CI).
#
# Why: one command that works on a clean Debian 12 and on a developer box,
# and whose last line is a summary a human or CI can read at a glance:
#     N passed, N failed[, N skipped]
# computed from meson's testlog.json (OK/EXPECTEDFAIL = passed;
# FAIL/TIMEOUT/ERROR/UNEXPECTEDPASS = failed; SKIP = skipped).
# Exit status: 0 only if nothing failed AND at least one test ran.
#
# Usage: tools/run-tests.sh [extra meson test args, e.g. --suite unit]
# Env:   BUILD_DIR (default build-ci)
#
# Sanitizers: the build uses -Db_sanitize=address,undefined.  LeakSanitizer
# is ON (detect_leaks=1): an ASan build of the IMAP smoke driver talking
# TLS through libetpan + OpenSSL 3 to the fixture reports no leaks, so leak
# reports point at our code.  If a library leak ever shows up, suppress it
# narrowly in .ci/lsan.supp (library frames only), never by turning LSan off.
# UBSan halts on the first error so undefined behaviour fails the test.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=${BUILD_DIR:-build-ci}

tools/ensure-deps.sh test || { echo "run-tests: could not install dependencies" >&2; echo "0 passed, 0 failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:print_summary=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:print_summary=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/.ci/lsan.supp:print_suppressions=0}

setup_args=(-Db_sanitize=address,undefined -Db_lundef=false)
if [ -f "$build/build.ninja" ]; then
	meson setup --reconfigure "$build" "${setup_args[@]}" >/dev/null || {
		echo "run-tests: meson setup --reconfigure $build failed" >&2; echo "0 passed, 0 failed"; exit 1; }
else
	meson setup "$build" "${setup_args[@]}" || {
		echo "run-tests: meson setup $build failed" >&2; echo "0 passed, 0 failed"; exit 1; }
fi
if ! ninja -C "$build"; then
	echo "run-tests: build failed" >&2
	echo "0 passed, 0 failed"
	exit 1
fi

# A stale log from an earlier run must never be counted.
rm -f "$build/meson-logs/testlog.json"
meson test -C "$build" --print-errorlogs "$@"
meson_rc=$?

summary=$(python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, anything unknown
                failed += 1
except FileNotFoundError:
    pass
s = "%d passed, %d failed" % (passed, failed)
if skipped:
    s += ", %d skipped" % skipped
print(s)
sys.exit(1 if failed or passed + failed == 0 else 0)
PY
)
rc=$?
if [ $rc -eq 0 ] && [ $meson_rc -ne 0 ]; then
	# meson failed without a failing test in the log (e.g. bad arguments).
	echo "run-tests: meson test exited $meson_rc" >&2
	rc=1
fi
[ $rc -ne 0 ] && [ "${summary%%,*}" = "0 passed" ] && echo "run-tests: no test passed (did any run?)" >&2
echo "$summary"
exit $rc
