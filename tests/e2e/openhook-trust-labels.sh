#!/bin/bash
# Label restores are decided by the daemon, by identity, not timed by QEMU.
#
# A QEMU that holds back its CLOSE of a detached read-write image until the
# administrator has given that image to another guest must not make libvirt
# give the label (here: the DAC owner) back under the other guest.  The
# hostile QEMU is played by QMP: blockdev-add makes guest A's QEMU open the
# image X once more under a node libvirt does not know (the hook grants it
# while X is still A's), so QEMU keeps X open when A's disk is detached;
# then X is attached to guest B, and only then blockdev-del in A makes QEMU
# close it and report the close.  X must stay B's.  Likewise for an image Y
# that B is given through a symlink (another spelling of the same file).
# Without the hook's registry, the old code restored both (read-write
# images were never checked against other guests; paths were compared as
# strings).
#
# DAC in permissive mode, where libvirt still chowns images to QEMU's user,
# with remember_owner = 0 (as on file systems without XATTRs): no
# remembered-owner reference count hides what libvirt decides.
#
# usage: tests/e2e/openhook-trust-labels.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOMA=openhook-tlabels-a
DOMB=openhook-tlabels-b
D=$E2E_DIR/openhook-tlabels
E2E_QEMU_CONF='open_hook = "permissive"
remember_owner = 0'

cleanup() {
    virsh destroy "$DOMA" >/dev/null 2>&1 || true
    virsh destroy "$DOMB" >/dev/null 2>&1 || true
    virsh undefine "$DOMA" >/dev/null 2>&1 || true
    virsh undefine "$DOMB" >/dev/null 2>&1 || true
    e2e_daemons_down
}
trap cleanup EXIT

owner() { stat -c %U "$D/$1"; }

# settles NAME WANT: NAME's owner is WANT within 5 s (the close report is
# handled by the driver's worker pool)
settles() { e2e_owner_within "$D/$1" "$2" 5; }

qmp() { virsh qemu-monitor-command "$1" "$2"; }

# hold DOM NODE PATH: QEMU of DOM opens PATH again, as a node libvirt does
# not know about
hold() {
    qmp "$1" "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"$2\",\"filename\":\"$3\",\"read-only\":true,\"locking\":\"off\"}}"
}
release() {
    qmp "$1" "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"$2\"}}"
}

# qemu_holds DOM PATH: PATH is in the fd table of DOM's QEMU
qemu_holds() { e2e_qemu_files "$(e2e_qemu_pid "$1")" | grep -qxF "$(readlink -f "$2")"; }

rm -rf "$D"
mkdir -p "$D"
e2e_mkchain "$D" qcow2 a.qcow2
e2e_mkchain "$D" qcow2 b.qcow2
"$QEMU_IMG" create -q -f raw "$D/x.img" 16M
"$QEMU_IMG" create -q -f raw "$D/y.img" 16M
"$QEMU_IMG" create -q -f raw "$D/z.img" 16M
ln -s y.img "$D/y-link.img"
chown root:root "$D"/*
rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up

disk() {
    echo "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$D/$1'/><target dev='$2' bus='scsi'/></disk>"
}
e2e_domain_xml "$DOMA" "$D/a.qcow2" "$(disk x.img sdb)$(disk y.img sdc)$(disk z.img sdd)" > "$D/$DOMA.xml"
e2e_domain_xml "$DOMB" "$D/b.qcow2" > "$D/$DOMB.xml"
check "$DOMA: define" virsh define "$D/$DOMA.xml"
check "$DOMB: define" virsh define "$D/$DOMB.xml"
check "$DOMA: start" virsh start "$DOMA"
check "$DOMB: start" virsh start "$DOMB"
check_eq "$DOMA's images are the QEMU user's" "libvirt-qemu libvirt-qemu libvirt-qemu" \
    "$(owner x.img) $(owner y.img) $(owner z.img)"

# the usual case still works: a detached image QEMU closed is root's again
check "detach z.img from $DOMA" virsh detach-disk "$DOMA" sdd --live
check "z.img is given back once QEMU closed it" settles z.img root

# --- X: read-write, the same path --------------------------------------------
check "$DOMA's QEMU opens x.img once more (QMP blockdev-add)" hold "$DOMA" hold-x "$D/x.img"
check "detach x.img from $DOMA" virsh detach-disk "$DOMA" sdb --live
check "$DOMA's QEMU still holds x.img" qemu_holds "$DOMA" "$D/x.img"
sleep 1
check_eq "x.img keeps its owner while $DOMA's QEMU holds it" libvirt-qemu "$(owner x.img)"
check "attach x.img to $DOMB" virsh attach-disk "$DOMB" "$D/x.img" sdb \
    --targetbus scsi --subdriver raw --live
check "$DOMA's QEMU closes x.img (QMP blockdev-del)" release "$DOMA" hold-x
if qemu_holds "$DOMA" "$D/x.img"; then
    not_ok "$DOMA's QEMU no longer holds x.img"
else
    ok "$DOMA's QEMU no longer holds x.img"
fi
sleep 2
check_eq "x.img stays $DOMB's after $DOMA's QEMU closed it" libvirt-qemu "$(owner x.img)"

# --- Y: read-write, another spelling in the other guest ----------------------
check "$DOMA's QEMU opens y.img once more (QMP blockdev-add)" hold "$DOMA" hold-y "$D/y.img"
check "detach y.img from $DOMA" virsh detach-disk "$DOMA" sdc --live
check "attach y.img to $DOMB through a symlink" virsh attach-disk "$DOMB" "$D/y-link.img" sdc \
    --targetbus scsi --subdriver raw --live
check "$DOMA's QEMU closes y.img (QMP blockdev-del)" release "$DOMA" hold-y
sleep 2
check_eq "y.img stays $DOMB's after $DOMA's QEMU closed it" libvirt-qemu "$(owner y.img)"

check_eq "$DOMA: still running" running "$(virsh domstate "$DOMA")"
check_eq "$DOMB: still running" running "$(virsh domstate "$DOMB")"
check "$DOMB can still read x.img" virsh domblkinfo "$DOMB" sdb

# --- once B lets them go, they are given back --------------------------------
check "detach x.img from $DOMB" virsh detach-disk "$DOMB" sdb --live
check "x.img is given back once $DOMB's QEMU closed it" settles x.img root
check "destroy $DOMB" virsh destroy "$DOMB"
check "y.img is given back once $DOMB stopped" settles y.img root
check "destroy $DOMA" virsh destroy "$DOMA"
check_eq "$DOMA's disk is given back" root "$(owner a.qcow2)"

trap - EXIT
cleanup
rm -rf "$D"
e2e_summary
