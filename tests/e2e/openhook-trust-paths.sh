#!/bin/bash
# Trusted paths are resolved the way the kernel resolves them.  A guest
# whose disk is $D/link/../disk.qcow2, with $D/link -> $D/other/sub, uses
# $D/other/disk.qcow2: that is what the kernel opens, what libvirt probes
# and labels, and what QEMU opens without the hook.  With the hook in
# enforce mode QEMU must get that same file, never $D/disk.qcow2, the
# file a lexical normalisation of the path names ("link/.." collapsed).
# Native and preload flavours.
#
# Failed when the whitelist normalised trusted paths lexically before
# resolving them: the guest ran on $D/disk.qcow2.
#
# usage: tests/e2e/openhook-trust-paths.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-trust-paths
D=$E2E_DIR/$DOM
SPELLING=$D/link/../disk.qcow2
KERNEL=$D/other/disk.qcow2
LEXICAL=$D/disk.qcow2

trap e2e_daemons_down EXIT

# holds FILE: QEMU holds FILE open
holds() { e2e_qemu_files "$pid" | grep -qxF "$1"; }

layout() {
    rm -rf "$D"
    # two different images: the one the kernel names, and the one at the
    # lexical name (a bigger one, so that a mix-up shows in the size too)
    e2e_mkchain "$D/other" qcow2 disk.qcow2
    mkdir -p "$D/other/sub"
    "$QEMU_IMG" create -q -f qcow2 "$LEXICAL" 32M
    ln -s "$D/other/sub" "$D/link"
    chmod -R a+rX "$D"
}

# scenario NAME MODE: the guest on $SPELLING with open_hook = MODE
scenario() {
    local f=$1 mode=$2
    layout
    rm -f "$E2E_LOGS"/virtqemud*.log
    E2E_QEMU_CONF="open_hook = \"$mode\""
    e2e_flavour
    e2e_daemons_up

    check_eq "$f: the kernel resolves the disk's path to the other image" \
        "$KERNEL" "$(realpath "$SPELLING")"
    e2e_domain_xml "$DOM" "$SPELLING" > "$D/$DOM.xml"
    check "$f: define" virsh define "$D/$DOM.xml"
    check "$f: start" virsh start "$DOM"
    check_eq "$f: running" running "$(virsh domstate "$DOM")"
    pid=$(e2e_qemu_pid "$DOM")
    if [ "$mode" != off ]; then
        check "$f: QEMU got the channel" e2e_has_channel "$pid"
    fi
    check "$f: QEMU holds the image the kernel resolves ($KERNEL)" holds "$KERNEL"
    check "$f: QEMU does not hold the lexically normalised image" \
        test -z "$(e2e_qemu_files "$pid" | grep -xF "$LEXICAL" || true)"
    check "$f: the guest's disk is the 64 MiB image, not the 32 MiB one" \
        grep -q "virtual size: 64 MiB" \
        <(virsh qemu-monitor-command "$DOM" --hmp "info block -v" 2>&1 || true)
    if [ "$mode" != off ]; then
        check "$f: the whitelist lists the kernel's file" \
            grep -q "<entry path='$KERNEL'" <(virsh dumpxml "$DOM")
        check "$f: the whitelist does not list the lexical file" \
            test -z "$(virsh dumpxml "$DOM" | grep "<entry path='$LEXICAL'" || true)"
        check "$f: the disk was granted through the hook" \
            grep -q "decision=grant.*canonical=\"$KERNEL\"" "$E2E_LOGS/virtqemud-debug.log"
    fi
    e2e_guest_done "$f" "$DOM"
}

# The reference: what QEMU opens by itself, without the hook.
E2E_FLAVOUR=native scenario off off
E2E_FLAVOUR=native scenario native enforce
E2E_FLAVOUR=preload scenario preload enforce

trap - EXIT
check "no QEMU process left" test -z "$(e2e_qemu_pids)"
rm -rf "$D"
e2e_summary
