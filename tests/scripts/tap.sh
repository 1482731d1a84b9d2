# shellcheck shell=bash
# What the scripts' tests share: a temporary directory $T (removed on
# exit), TAP lines, and the summary line scripts/test.sh reads.  Source it.

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PASSED=0 FAILED=0

ok() { PASSED=$((PASSED + 1)); echo "ok $((PASSED + FAILED)) - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok $((PASSED + FAILED)) - $*"; }
# check DESCRIPTION COMMAND...: one test, passed when COMMAND succeeds
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else not_ok "$d"; fi; }
# the last line: "N passed, M failed", and the exit status
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}
