#!/bin/bash
# Side by side: the brokered open+close of bench/openhook-bench built from
# an earlier revision of this repository ("before") and from the working
# tree ("after"), run in alternating order in one run, with the ratio.
# Issue 13 asked that its fixes keep the common case (a listed file on a
# local file system, served on the domain's event thread) within 10 % of
# the code before them: the default BASE is the last commit before that
# work.
#
# usage: bench/openhook-bench-compare.sh [--base REV] [--pairs P]
#            [--rounds R] [--ops N]
# The "before" tree is checked out in build/bench-base (a git worktree)
# and built in build/bench-base-build; "after" is build/openhook.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
BASE=a64713c
PAIRS=5
ROUNDS=7
OPS=4000

while [ $# -gt 0 ]; do
    case $1 in
    --base) BASE=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --ops) OPS=$2; shift 2 ;;
    *) echo "usage: $0 [--base REV] [--pairs P] [--rounds R] [--ops N]" >&2; exit 2 ;;
    esac
done

say() { printf '==> %s\n' "$*" >&2; }

# build_bench SRCDIR BUILDDIR: configure once, then build only the bench
build_bench() {
    [ -f "$2/build.ninja" ] || meson setup "$2" "$1" >/dev/null
    ninja -C "$2" bench/openhook-bench >/dev/null
}

rev=$(git -C "$ROOT" rev-parse --short "$BASE^{commit}")
if [ "$(git -C "$BUILD/bench-base" rev-parse --short HEAD 2>/dev/null)" != "$rev" ]; then
    say "checking out $rev in build/bench-base"
    git -C "$ROOT" worktree remove --force "$BUILD/bench-base" 2>/dev/null || true
    rm -rf "$BUILD/bench-base" "$BUILD/bench-base-build"
    git -C "$ROOT" worktree add -q --detach "$BUILD/bench-base" "$rev"
fi
say "building before ($rev) and after (working tree)"
build_bench "$BUILD/bench-base" "$BUILD/bench-base-build"
build_bench "$ROOT" "$BUILD/openhook"

BEFORE=$BUILD/bench-base-build/bench/openhook-bench
AFTER=$BUILD/openhook/bench/openhook-bench

# run BINARY: "POLL GMAIN" medians in microseconds
run() {
    "$1" --rounds "$ROUNDS" --ops "$OPS" --only poll,gmain --no-lookup 2>&1 |
        awk '/^broker, poll\(\) loop/ { p = $4 }
             /^broker, GMainLoop/ { g = $5 }
             END { if (p == "" || g == "") exit 1; print p, g }'
}

say "load average: $(cut -d' ' -f1-3 /proc/loadavg); $PAIRS pairs of $ROUNDS rounds x $OPS ops"
printf '%-5s %-7s %12s %12s\n' pair order "poll (us)" "gmain (us)"
bp=() bg=() ap=() ag=()
for i in $(seq "$PAIRS"); do
    # alternate which goes first, so drift of the host hits both alike
    if [ $((i % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
    for which in $order; do
        if [ "$which" = before ]; then bin=$BEFORE; else bin=$AFTER; fi
        read -r p g < <(run "$bin")
        printf '%-5s %-7s %12s %12s\n' "$i" "$which" "$p" "$g"
        if [ "$which" = before ]; then bp+=("$p"); bg+=("$g"); else ap+=("$p"); ag+=("$g"); fi
    done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo
printf '%-28s %12s %12s %8s\n' "open+close, median of pairs" "before $rev" "after" "ratio"
for kind in poll gmain; do
    if [ $kind = poll ]; then
        b=$(median "${bp[@]}"); a=$(median "${ap[@]}"); label="broker, poll() loop"
    else
        b=$(median "${bg[@]}"); a=$(median "${ag[@]}"); label="broker, GMainLoop + GSource"
    fi
    printf '%-28s %9.2f us %9.2f us %8.3f\n' "$label" "$b" "$a" "$(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')"
done
say "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
