#!/bin/bash
# Smoke scenario: the patched stack starts a guest on a 3-deep qcow2 chain,
# shows the chain in the live XML, pulls the middle layer into the top, and
# leaves no process, cgroup or state behind.
#
# usage: tests/e2e/smoke.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-smoke
D=$E2E_DIR/$DOM

cleanup() { e2e_daemons_down; }
trap cleanup EXIT

rm -rf "$D"
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
check "qemu-img sees the 3-deep chain" \
    test "$("$QEMU_IMG" info --backing-chain "$D/top.qcow2" | grep -c '^image:')" = 3

e2e_daemons_up
check "virsh talks to the build-tree virtqemud" virsh version

e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
check "define" virsh define "$D/$DOM.xml"
check "start" virsh start "$DOM"
check_eq "domain is running" running "$(virsh domstate "$DOM")"

pid=$(e2e_qemu_pid "$DOM")
check_eq "QEMU is our build" "$E2E_EMULATOR" "$(readlink "/proc/$pid/exe")"
check_eq "live XML shows the whole backingStore chain" \
    "$(printf '%s\n' "$D/top.qcow2" "$D/mid.qcow2" "$D/base.qcow2")" \
    "$(e2e_chain "$DOM" sda)"
check_eq "QEMU holds exactly the chain's images" \
    "$(printf '%s\n' "$D/base.qcow2" "$D/mid.qcow2" "$D/top.qcow2")" \
    "$(e2e_qemu_files "$pid" | grep "^$D/")"

out=$(virsh_verbose blockpull "$DOM" sda --base "$D/base.qcow2" --wait --verbose 2>&1) || true
check "blockpull --base completes" grep -q "Pull complete" <<<"$out"
check_eq "chain after blockpull is top <- base" \
    "$(printf '%s\n' "$D/top.qcow2" "$D/base.qcow2")" \
    "$(e2e_chain "$DOM" sda)"
check_eq "QEMU dropped mid.qcow2" \
    "$(printf '%s\n' "$D/base.qcow2" "$D/top.qcow2")" \
    "$(e2e_qemu_files "$pid" | grep "^$D/")"
check_eq "still running after the job" running "$(virsh domstate "$DOM")"

# The data of every layer is still visible through the new, shorter chain.
check "destroy" virsh destroy "$DOM"
check "QEMU process is gone" e2e_wait_gone "$pid"
for i in 0 1 2; do
    check "layer $i data readable through top after pull" \
        "$QEMU_IO" -r -f qcow2 -c "read -P $((0x11 * (i + 1))) ${i}M 1M" "$D/top.qcow2"
done
check_eq "top's backing file is base" "$D/base.qcow2" \
    "$("$QEMU_IMG" info --output=json "$D/top.qcow2" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["full-backing-filename"])')"

check "undefine" virsh undefine "$DOM"
check_eq "no domain left" "" "$(virsh list --all --name)"
check "no per-VM state left in /run/libvirt/qemu" \
    test -z "$(ls /run/libvirt/qemu/ 2>/dev/null | grep "$DOM" || true)"
check "no per-VM state left in /var/lib/libvirt/qemu" \
    test -z "$(ls /var/lib/libvirt/qemu/ 2>/dev/null | grep "$DOM" || true)"
check "no per-VM cgroup left" \
    test -z "$(find /sys/fs/cgroup -maxdepth 4 -name "*$DOM*" 2>/dev/null)"

e2e_daemons_down
trap - EXIT
check "no QEMU process left" test -z "$(e2e_qemu_pids)"
check "no virtqemud left" test -z "$(pgrep -x virtqemud || true)"
check "no virtlogd left" test -z "$(pgrep -x virtlogd || true)"
rm -rf "$D"
e2e_summary
