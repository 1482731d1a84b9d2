#!/bin/bash
# Labels under the open hook (DAC, so ownership shows them; in permissive
# mode, since in enforce mode libvirt does not chown at all): an image that
# leaves the guest while QEMU still holds a descriptor of it keeps the
# QEMU user's ownership until QEMU has closed it, and gets it back then;
# if the guest stops first, it gets it back at stop.
#
# usage: tests/e2e/openhook-labels.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-labels
D=$E2E_DIR/$DOM
E2E_QEMU_CONF='open_hook = "permissive"'

trap e2e_daemons_down EXIT

owner() { stat -c %U "$D/$1"; }

qmp() { virsh qemu-monitor-command "$DOM" "$1" 2>&1; }

# hold NAME NODE: QEMU opens NAME once more, outside any disk
hold() {
    qmp "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"$2\",\"filename\":\"$D/$1\",\"read-only\":true}}"
}

# wait_owner NAME USER: the owner becomes USER within 10 s
wait_owner() { e2e_owner_within "$D/$1" "$2" 10; }

# leave NAME TARGET: attach NAME as TARGET, make QEMU hold one more fd of
# it, detach it
leave() {
    check "$1: attach" virsh attach-disk "$DOM" "$D/$1" "$2" --driver qemu \
        --subdriver qcow2 --targetbus scsi --live
    check_eq "$1: owned by the QEMU user while attached" libvirt-qemu "$(owner "$1")"
    check "$1: QEMU holds another fd of it" grep -q '"return":{}' <(hold "$1" "hold-$2")
    check "$1: detach" virsh detach-disk "$DOM" "$2" --live
    check "$1: no longer in the whitelist" \
        test -z "$(virsh dumpxml "$DOM" | grep "<entry path='$D/$1'" || true)"
}

rm -rf "$D"
e2e_mkchain "$D" qcow2 base.qcow2 top.qcow2
e2e_mkchain "$D" qcow2 d2.qcow2
e2e_mkchain "$D" qcow2 d3.qcow2
chown root:root "$D"/*.qcow2
rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up
e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
check "define" virsh define "$D/$DOM.xml"
check "start" virsh start "$DOM"

leave d2.qcow2 sdb
check_eq "d2.qcow2: still the QEMU user's while QEMU holds it" libvirt-qemu "$(owner d2.qcow2)"
check "d2.qcow2: the deferral is logged" \
    grep -q "the label of '$D/d2.qcow2' waits until QEMU no longer holds it (it reports 1 fds)" \
    "$E2E_LOGS/virtqemud-debug.log"
check "d2.qcow2: QEMU closes it" grep -q '"return":{}' <(qmp '{"execute":"blockdev-del","arguments":{"node-name":"hold-sdb"}}')
check "d2.qcow2: owner restored once QEMU closed it" wait_owner d2.qcow2 root

leave d3.qcow2 sdc
check_eq "d3.qcow2: still the QEMU user's while QEMU holds it" libvirt-qemu "$(owner d3.qcow2)"
check "destroy while QEMU holds d3.qcow2" virsh destroy "$DOM"
check_eq "d3.qcow2: owner restored at stop" root "$(owner d3.qcow2)"
check_eq "top.qcow2: owner restored at stop" root "$(owner top.qcow2)"
# (base.qcow2, read-only, keeps it: libvirt 9.0 never restores read-only
# images, which is a separate matter)

trap - EXIT
e2e_daemons_down
rm -rf "$D"
e2e_summary
