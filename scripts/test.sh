#!/bin/bash
# The test command: builds what changed and runs every suite of the project,
# then prints one summary and a final line "N passed, M failed".
#
#   - the series: patches/ apply and agree with src/ (drift check)
#   - this project's own unit tests (standalone build of src/)
#   - the QEMU series passes QEMU's checkpatch.pl
#   - the QEMU side (patched QEMU, preload client) against openhook-broker
#   - with OPENHOOK_BISECT=1: every libvirt patch builds and passes
#     libvirt's unit tests on its own (40-60 min cold on 2 cores, so not
#     part of the default run; docs/hacking.rst)
#   - the SELinux module and AppArmor abstractions compile and say what
#     they should (tests/policy/)
#   - libvirt's whole test suite on the patched tree, and its syntax-check
#   - Debian packages of the patched libvirt build, install and hold it
#   - the E2E scenarios in tests/e2e/ (real virtqemud, virsh and QEMU)
#
# usage: scripts/test.sh          (as root, on Debian 12, building Debian 13's
#                                  libvirt and QEMU)
# env:   OPENHOOK_SKIP_DEPS=1  don't run scripts/deps.sh first
#        FUZZ_SECONDS=N        length of each fuzzer run (default 60)
#        OPENHOOK_BISECT=1     also build and test each libvirt patch alone

. "$(dirname "$0")/lib.sh"
set +e

LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
PASSED=0
FAILED=0
SUMMARY=()

# begin TITLE: a step starts (its time runs until the next record)
STARTED=$SECONDS
begin() {
    STARTED=$SECONDS
    printf '==> %s\n' "$1"
}

record() {  # record NAME PASSED FAILED
    local took=$((SECONDS - STARTED))
    PASSED=$((PASSED + $2))
    FAILED=$((FAILED + $3))
    SUMMARY+=("$(printf '%-34s %5d passed, %3d failed %6d s' "$1" "$2" "$3" "$took")")
    printf '==> %s: %d passed, %d failed (%d s)\n' "$1" "$2" "$3" "$took"
}

# step NAME COMMAND...: a step that is one test on its own.
step() {
    local name=$1; shift
    begin "$name"
    if "$@" > "$LOGDIR/$name.log" 2>&1; then
        record "$name" 1 0
    else
        tail -25 "$LOGDIR/$name.log"
        record "$name" 0 1
        return 1
    fi
}

# meson_counts BUILDDIR: "passed failed" from meson's last test log.
meson_counts() {
    /usr/bin/python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "SKIP", "EXPECTEDFAIL"):
        ok += 1
    else:
        bad += 1
        print("FAILED:", json.loads(line)["name"], r, file=sys.stderr)
print(ok, bad)
PY
}

# tail_counts LOG: "passed failed" from the last "N passed, M failed" line;
# a log without one counts as one failure.
tail_counts() {
    local line
    line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
    if [ -z "$line" ]; then
        echo "0 1"
    else
        awk '{print $1, $3}' <<<"$line"
    fi
}

# suite NAME LOG COMMAND...: a suite that ends with "N passed, M failed";
# an empty suite counts as a failure.
suite() {
    local name=$1 log=$LOGDIR/$2.log c; shift 2
    begin "$name"
    "$@" > "$log" 2>&1
    c=$(tail_counts "$log")
    [ "${c% *}" -gt 0 ] || c="${c% *} $((${c#* } + 1))"
    if [ "${c#* }" != 0 ]; then
        # what failed; a script that died before its summary (set -e)
        # shows the lines it printed last, its error among them
        grep -E '^not ok|^#|FAIL|ERROR' "$log" | head -30
        grep -qE '[0-9]+ passed, [0-9]+ failed' "$log" ||
            tail -n 15 "$log" | sed 's/^/  | /'
    fi
    record "$name" $c
}

# libvirt_suites BUILDDIR NAME LOGPREFIX: libvirt's whole test suite, then
# its syntax-check, in a built libvirt tree.
libvirt_suites() {
    local builddir=$1 name=$2 prefix=$3

    begin "$name test suite"
    meson test -C "$builddir" --no-rebuild --no-suite syntax-check \
        --num-processes "$JOBS" --print-errorlogs > "$LOGDIR/${prefix}libvirt-tests.log" 2>&1
    record "$name test suite" $(meson_counts "$builddir")

    begin "$name syntax-check"
    meson test -C "$builddir" --no-rebuild --suite syntax-check \
        --num-processes "$JOBS" --print-errorlogs > "$LOGDIR/${prefix}syntax-check.log" 2>&1
    record "$name syntax-check" $(meson_counts "$builddir")
}

# The re-cut series in progress (patches/libvirt-recut, docs/recut-plan.rst):
# its tree is not built here, its walk record says every patch built and
# passed libvirt's tests and syntax-check; export gives back its files
# byte for byte, sub-series directories and cover letters included.
recut_roundtrip() {
    local keep
    keep=$(mktemp -d)
    cp -a "$ROOT/patches/$LIBVIRT_RECUT_SERIES" "$keep/"
    local rc=0
    "$ROOT/scripts/series.sh" export libvirt-recut &&
        diff -r "$keep/$LIBVIRT_RECUT_SERIES" "$ROOT/patches/$LIBVIRT_RECUT_SERIES" || rc=1
    # the committed files come back, whatever export did
    rm -rf "${ROOT:?}/patches/$LIBVIRT_RECUT_SERIES"
    mv "$keep/$LIBVIRT_RECUT_SERIES" "$ROOT/patches/"
    rm -rf "$keep"
    return $rc
}

# QEMU's own style checker on each patch of the QEMU series: no error, no
# warning.
qemu_checkpatch() {
    local p rc=0
    for p in "$ROOT"/patches/qemu/[0-9][0-9][0-9][0-9]-*.patch; do
        [ "$(basename "$p")" = 0000-cover-letter.patch ] && continue
        echo "== $(basename "$p")"
        (cd "$QEMU_TREE" && perl scripts/checkpatch.pl "$p") | tee "$LOGDIR/checkpatch.out"
        grep -q '^total: 0 errors, 0 warnings' "$LOGDIR/checkpatch.out" || rc=1
    done
    return $rc
}

main() {
    local start=$SECONDS

    if [ "${OPENHOOK_SKIP_DEPS:-0}" != 1 ]; then
        step deps "$ROOT/scripts/deps.sh" || return
    fi
    step fetch-sources "$ROOT/scripts/fetch-sources.sh" || return
    step series-check-libvirt "$ROOT/scripts/series.sh" check libvirt
    step series-check-qemu "$ROOT/scripts/series.sh" check qemu
    # how series.sh places src/ edits in the series
    suite "series tooling" series-tooling "$ROOT/tests/scripts/series-fold.sh"
    suite "series tooling: sub-series" series-subseries "$ROOT/tests/scripts/series-subseries.sh"
    step series-apply-libvirt "$ROOT/scripts/series.sh" apply libvirt || return
    step series-apply-qemu "$ROOT/scripts/series.sh" apply qemu || return
    step qemu-checkpatch qemu_checkpatch
    if [ -d "$ROOT/patches/$LIBVIRT_RECUT_SERIES" ]; then
        step series-check-libvirt-recut "$ROOT/scripts/series.sh" check libvirt-recut
        step series-apply-libvirt-recut "$ROOT/scripts/series.sh" apply libvirt-recut &&
            step series-export-libvirt-recut recut_roundtrip
        begin "libvirt re-cut walked (record)"
        local wrc=0 missing
        "$ROOT/scripts/series.sh" walked libvirt-recut > "$LOGDIR/walked-recut.log" 2>&1 || wrc=$?
        missing=$(grep -c '^walked: MISSING' "$LOGDIR/walked-recut.log")
        # a walk that failed without naming a patch (no tree) is a failure too
        [ "$wrc" = 0 ] || [ "$missing" != 0 ] || missing=1
        record "libvirt re-cut walked (record)" \
            "$(grep -c '^walked: ok' "$LOGDIR/walked-recut.log")" "$missing"
        grep -E '^walked: MISSING|^run |^error' "$LOGDIR/walked-recut.log"
    fi
    step build-libvirt "$ROOT/scripts/build-libvirt.sh" || return
    step build-qemu "$ROOT/scripts/build-qemu.sh" tools system pristine || return

    # This project's own unit tests (standalone build of the src/ modules:
    # normal, ASan+UBSan, short fuzzer runs).
    suite "openhook unit tests" openhook-unit "$ROOT/tests/unit/run-all.sh"

    # The QEMU side: the patched QEMU and the preload client with Debian's
    # QEMU, against the standalone broker.
    suite "QEMU-side tests" qemu-side "$ROOT/tests/qemu/run-all.sh"

    # The SELinux module and AppArmor abstractions for broker mode, compiled
    # with the distribution's tool chains (the AppArmor suite runs the built
    # virt-aa-helper).
    suite "SELinux policy" policy-selinux "$ROOT/tests/policy/selinux.sh"
    suite "AppArmor policy" policy-apparmor "$ROOT/tests/policy/apparmor.sh"

    # Each libvirt patch on its own (the last one is the tree tested below):
    # opt-in, as it rebuilds libvirt for most patches of the series.
    if [ "${OPENHOOK_BISECT:-0}" = 1 ]; then
        begin "libvirt series bisectability"
        "$ROOT/scripts/series.sh" bisect libvirt > "$LOGDIR/bisect.log" 2>&1
        record "libvirt patches build+test alone" \
            "$(grep -c '^bisect: ok' "$LOGDIR/bisect.log")" "$(grep -c '^bisect: FAILED' "$LOGDIR/bisect.log")"
        grep '^bisect: FAILED' -A20 "$LOGDIR/bisect.log"
        # bisect leaves the build at an earlier patch: rebuild the whole series
        step rebuild-libvirt "$ROOT/scripts/build-libvirt.sh" || return
    else
        # The walk itself does not fit CI's time; what it recorded does:
        # every patch's tree must be one that passed it.
        begin "libvirt series bisectability: the record (OPENHOOK_BISECT=1 walks it)"
        "$ROOT/scripts/series.sh" walked libvirt > "$LOGDIR/walked.log" 2>&1
        record "libvirt patches walked (record)" \
            "$(grep -c '^walked: ok' "$LOGDIR/walked.log")" "$(grep -c '^walked: MISSING' "$LOGDIR/walked.log")"
        grep -E '^walked: MISSING|^run ' "$LOGDIR/walked.log"
    fi

    libvirt_suites "$LIBVIRT_BUILDDIR" libvirt ""

    # Debian packages of libvirt with the series, and the preload package
    # (docs/packaging.rst); rebuilt only when the series, src/preload or
    # scripts/build-deb.sh changed.
    if step build-deb "$ROOT/scripts/build-deb.sh"; then
        suite "Debian packages" deb-check "$ROOT/tests/deb/check.sh"
    fi

    local s
    for s in "$ROOT"/tests/e2e/[a-z]*.sh; do
        [ "$(basename "$s")" = lib.sh ] && continue
        suite "e2e $(basename "$s" .sh)" "e2e-$(basename "$s" .sh)" "$s"
    done

    printf '\n==> summary (%d s; logs in %s)\n' $((SECONDS - start)) "$LOGDIR"
    printf '    %s\n' "${SUMMARY[@]}"
}

main
printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
