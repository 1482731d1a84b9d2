#!/bin/sh
# Build and run every open-hook test: the unit tests, the same tests
# under ASan+UBSan, and each libFuzzer target for $FUZZ_SECONDS
# (default 60) seconds. Build directories are reused, so a re-run after
# a small change only rebuilds what changed. The last line is always
# "N passed, M failed"; the exit status is non-zero on any failure.
#
#   tests/unit/run-all.sh              # everything
#   FUZZ_SECONDS=5 tests/unit/run-all.sh
#   OPENHOOK_SKIP="asan fuzz" tests/unit/run-all.sh

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
build="$top/build"
jobs=${OPENHOOK_JOBS:-2}
fuzz_seconds=${FUZZ_SECONDS:-60}
skip=${OPENHOOK_SKIP:-}
passed=0
failed=0

log() { printf '=== %s\n' "$*"; }

skipped() {
    case " $skip " in *" $1 "*) log "skipping $1"; return 0 ;; esac
    return 1
}

# setup DIR [ENV=VAL...] [-- MESON-ARGS...]: configure only if DIR is new.
setup() {
    dir=$1; shift
    [ -f "$dir/build.ninja" ] && return 0
    envs=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    [ $# -gt 0 ] && shift
    # shellcheck disable=SC2086
    env $envs meson setup "$@" "$dir" "$top" >"$dir.setup.log" 2>&1 || {
        cat "$dir.setup.log"; return 1; }
}

# Run meson test in DIR and add its counts to the totals.
run_meson_tests() {
    dir=$1; shift
    out="$dir/run-all-test.log"
    env "$@" meson test -C "$dir" --num-processes "$jobs" --print-errorlogs 2>&1 | tee "$out"
    ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$out" | tail -n1)
    bad=0
    for k in 'Fail' 'Unexpected Pass' 'Timeout'; do
        n=$(sed -n "s/^$k: *\([0-9]*\).*/\1/p" "$out" | tail -n1)
        bad=$((bad + ${n:-0}))
    done
    if [ -z "$ok" ]; then
        log "meson test in $dir produced no summary"
        bad=$((bad + 1))
        ok=0
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
}

build_dir() {
    dir=$1; shift
    if ! setup "$dir" "$@" || ! ninja -C "$dir" -j "$jobs"; then
        log "build failed in $dir"
        failed=$((failed + 1))
        return 1
    fi
}

mkdir -p "$build"

if ! skipped unit; then
    log "unit tests (build/openhook)"
    build_dir "$build/openhook" && run_meson_tests "$build/openhook"
fi

if ! skipped asan; then
    log "unit tests under ASan+UBSan (build/openhook-asan)"
    build_dir "$build/openhook-asan" -- -Db_sanitize=address,undefined -Db_lundef=false &&
        run_meson_tests "$build/openhook-asan" \
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
fi

if ! skipped fuzz; then
    log "fuzzers, ${fuzz_seconds}s each (build/openhook-fuzz)"
    if build_dir "$build/openhook-fuzz" CC=clang -- -Dfuzzing=true; then
        for t in proto path broker; do
            work="$build/openhook-fuzz/corpus-$t"
            mkdir -p "$work"
            # New inputs go to the build dir; the committed seeds are read only.
            if "$build/openhook-fuzz/tests/fuzz/fuzz-$t" \
                   -max_total_time="$fuzz_seconds" -max_len=4200 \
                   -artifact_prefix="$build/openhook-fuzz/crash-$t-" \
                   -print_final_stats=1 "$work" "$top/tests/fuzz/corpus/$t" \
                   >"$build/openhook-fuzz/fuzz-$t.log" 2>&1; then
                log "fuzz-$t: OK ($(grep -o 'Done [0-9]* runs' "$build/openhook-fuzz/fuzz-$t.log"))"
                passed=$((passed + 1))
            else
                tail -n 40 "$build/openhook-fuzz/fuzz-$t.log"
                log "fuzz-$t: FAILED (see build/openhook-fuzz/fuzz-$t.log)"
                failed=$((failed + 1))
            fi
        done
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
