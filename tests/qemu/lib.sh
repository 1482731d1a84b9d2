# shellcheck shell=bash
# Helpers for the QEMU-side tests: TAP-ish output, a scratch directory, the
# standalone broker.  Source it, don't run it.

set -uo pipefail

QT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QT_BUILD=${OPENHOOK_BUILD:-$QT_ROOT/build}
QT_TOOLS=$QT_BUILD/qemu-tools
QT_SYS=$QT_BUILD/qemu-sys
BROKER=$QT_BUILD/openhook/openhook-broker
QMP=$QT_ROOT/tests/qemu/qmp.py
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

QIMG=$QT_TOOLS/qemu-img
QIO=$QT_TOOLS/qemu-io
QSYS=$QT_SYS/qemu-system-x86_64
# The build-tree emulator looks for firmware in its build directory.
QSYS_FW=(-L /usr/share/seabios -L /usr/share/qemu -L /usr/lib/ipxe/qemu)

T_PASS=0
T_FAIL=0
T_N=0

ok() {
    T_N=$((T_N + 1)); T_PASS=$((T_PASS + 1))
    echo "ok $T_N - $*"
}

not_ok() {
    T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1))
    echo "not ok $T_N - $*"
}

# check DESCRIPTION COMMAND...: ok if COMMAND succeeds
check() {
    local desc=$1; shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# diag FILE...: show files after a failure
diag() {
    local f
    for f in "$@" ; do
        [ -f "$f" ] || continue
        echo "# --- $f"
        sed 's/^/#   /' "$f" | tail -25
    done
}

summary() {
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

# A scratch directory, removed on exit unless KEEP=1.
qt_scratch() {
    QT_DIR=$(mktemp -d /tmp/openhook-qemu-test.XXXXXX)
    if [ "${KEEP:-0}" != 1 ]; then
        trap 'qt_cleanup' EXIT
    else
        echo "# scratch directory: $QT_DIR"
    fi
}

QT_PIDS=()
qt_cleanup() {
    local p
    for p in "${QT_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    rm -rf "$QT_DIR"
}

# broker LOG [broker options] -- COMMAND...: run COMMAND under the broker
# (@FD@ in COMMAND is the socket's number).  Events go to LOG, COMMAND's
# stdout and stderr to LOG.out, the broker's own stderr to LOG.err.
# Returns COMMAND's exit status.
broker() {
    local log=$1; shift
    local -a opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    "$BROKER" "${opts[@]}" -- /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' \
        sh "$log.out" "$@" > "$log" 2> "$log.err"
}

# count_events LOG PATTERN: number of event lines matching PATTERN
count_events() {
    grep -c -E "$2" "$1" || true
}

# grants_balanced LOG [EXCEPT]: there were grants in LOG, and every grant
# (except those of the path EXCEPT, held until exit) was reported closed
grants_balanced() {
    local log=$1 except=${2:-/nonexistent/} opens closes
    opens=$(grep -E '^event=open decision=grant' "$log" | grep -vF "path=\"$except\"" |
            sed -E 's/.* handle=([0-9]+).*/\1/' | sort)
    closes=$(grep -E '^event=close ' "$log" | grep -vF "path=\"$except\"" |
             sed -E 's/.* handle=([0-9]+).*/\1/' | sort)
    [ -n "$opens" ] && [ "$opens" = "$closes" ]
}
