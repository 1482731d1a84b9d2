#!/bin/bash
# Guest-level benchmarks of the open hook, with the real virtqemud, virsh
# and QEMU (TCG).  They print ratios; they are not tests and assert nothing.
#
#  1. start: `virsh start` (until the guest runs) of a guest with 8 disks,
#     each a qcow2 chain 10 deep, with open_hook "enforce" vs "off"
#     (goal <= 1.05x); "permissive" vs "off" too, since enforce skips the
#     chowns that off and permissive do.
#  2. isolation: the latency of `virsh domblkinfo` and `virsh blockjob
#     --info` on a quiet guest while another guest floods the hook with
#     opens (QMP blockdev-add/del of a 10-deep chain, in a loop), against the
#     same with nobody flooding (goal <= 1.10x).  The same flood with the
#     hook off is the control: it loads virtqemud and QEMU as much, minus
#     the broker.
#
# The daemon logs as a packaged one does (warnings only, audit on);
# BENCH_LOG=debug uses the E2E suite's debug logging instead.
#
# usage: bench/guest-bench.sh [ROUNDS]     (as root; scripts/build.sh first)
# Results from this machine are in docs/benchmarks.rst.

E2E_SCENARIO=guest-bench
. "$(dirname "$0")/../tests/e2e/lib.sh"
set +e

ROUNDS=${1:-5}
export E2E_LOG=${BENCH_LOG:-production}
D=$E2E_DIR/bench
NDISKS=8
DEPTH=10

trap e2e_daemons_down EXIT

now_ms() { date +%s%3N; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# guest_xml NAME FIRST_CHAIN NDISKS: chains FIRST_CHAIN.. as sda, sdb, ...
guest_xml() {
    local name=$1 first=$2 n=$3 k extra=""
    local letters=(a b c d e f g h i j k l m n o p)
    for k in $(seq 1 $((n - 1))); do
        extra="$extra<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$D/c$((first + k))/l$DEPTH.qcow2'/><target dev='sd${letters[$k]}' bus='scsi'/></disk>"
    done
    e2e_domain_xml "$name" "$D/c$first/l$DEPTH.qcow2" "$extra"
}

mkchains() {
    local c l
    rm -rf "$D"
    for c in $(seq 1 $((NDISKS + 2))); do
        mkdir -p "$D/c$c"
        "$QEMU_IMG" create -q -f qcow2 "$D/c$c/l1.qcow2" 64M
        for l in $(seq 2 "$DEPTH"); do
            "$QEMU_IMG" create -q -f qcow2 -b "$D/c$c/l$((l - 1)).qcow2" -F qcow2 "$D/c$c/l$l.qcow2"
        done
    done
}

# start_times MODE: one `virsh start` time (ms) per round
start_times() {
    local i t0
    E2E_QEMU_CONF="open_hook = \"$1\"" e2e_daemons_up
    guest_xml big 1 "$NDISKS" > "$D/big.xml"
    virsh define "$D/big.xml" >/dev/null || die "cannot define the 8-disk guest"
    for i in $(seq "$ROUNDS"); do
        t0=$(now_ms)
        virsh start big >/dev/null || die "start failed ($1)"
        echo $(($(now_ms) - t0))
        virsh destroy big >/dev/null
    done
    e2e_daemons_down
}

# latency MODE FLOOD: median ms of domblkinfo + blockjob --info on "quiet"
latency() {
    local i t0 flood=""
    E2E_QEMU_CONF="open_hook = \"$1\"" e2e_daemons_up
    guest_xml quiet $((NDISKS + 1)) 1 > "$D/quiet.xml"
    guest_xml noisy $((NDISKS + 2)) 1 > "$D/noisy.xml"
    virsh define "$D/quiet.xml" >/dev/null && virsh start quiet >/dev/null || die "quiet guest"
    virsh define "$D/noisy.xml" >/dev/null && virsh start noisy >/dev/null || die "noisy guest"
    if [ "$2" = flood ]; then
        (
            while :; do
                virsh qemu-monitor-command noisy "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"qcow2\",\"node-name\":\"f\",\"read-only\":true,\"file\":{\"driver\":\"file\",\"filename\":\"$D/c$((NDISKS + 2))/l$DEPTH.qcow2\",\"read-only\":true}}}" >/dev/null 2>&1
                virsh qemu-monitor-command noisy '{"execute":"blockdev-del","arguments":{"node-name":"f"}}' >/dev/null 2>&1
            done
        ) &
        flood=$!
        sleep 2
    fi
    for i in $(seq $((ROUNDS * 10))); do
        t0=$(now_ms)
        virsh domblkinfo quiet sda >/dev/null
        virsh blockjob quiet sda --info >/dev/null 2>&1
        echo $(($(now_ms) - t0))
    done
    [ -n "$flood" ] && { kill "$flood"; wait "$flood" 2>/dev/null; }
    if [ "$2" = flood ] && [ "$1" != off ] && [ -f "$E2E_LOGS/virtqemud-debug.log" ]; then
        echo "opens granted to the flooding guest: $(grep -c 'decision=grant.*noisy\|noisy.*decision=grant' "$E2E_LOGS/virtqemud-debug.log")" >&2
    fi
    e2e_daemons_down
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

mkchains
rm -f "$E2E_LOGS"/virtqemud*.log
off=$(start_times off | median)
perm=$(start_times permissive | median)
on=$(start_times enforce | median)
printf 'start, %d disks x %d deep: off %s ms, enforce %s ms, ratio %s (goal <= 1.05)\n' \
    "$NDISKS" "$DEPTH" "$off" "$on" "$(ratio "$on" "$off")"
# permissive chowns the images like off does: the broker's own cost
printf 'start, %d disks x %d deep: off %s ms, permissive %s ms, ratio %s (broker only, same chowns)\n' \
    "$NDISKS" "$DEPTH" "$off" "$perm" "$(ratio "$perm" "$off")"

q_on=$(latency enforce quiet | median)
f_on=$(latency enforce flood | median)
q_off=$(latency off quiet | median)
f_off=$(latency off flood | median)
printf 'domblkinfo+blockjob on a quiet guest, hook on:  quiet %s ms, other guest flooding %s ms, ratio %s (goal <= 1.10)\n' \
    "$q_on" "$f_on" "$(ratio "$f_on" "$q_on")"
printf 'the same with the hook off (control):          quiet %s ms, other guest flooding %s ms, ratio %s\n' \
    "$q_off" "$f_off" "$(ratio "$f_off" "$q_off")"
trap - EXIT
e2e_daemons_down
rm -rf "$D"
