#!/bin/bash
# Block operations on a guest whose files libvirt opens (open_hook =
# "enforce", patched QEMU): each operation must work, the chain in the live
# XML must follow it, every image QEMU holds must have been granted, and an
# image an operation dropped must no longer be grantable (a QMP
# blockdev-add of it is refused).
#
# With E2E_CONFINE=1, QEMU also runs under libvirt's Landlock ruleset
# (open_hook_confine = 1): it cannot open any guest file by itself, so every
# operation below must get its images through the hook.
#
# usage: tests/e2e/openhook-blockops.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-ops
D=$E2E_DIR/$DOM
E2E_QEMU_CONF='open_hook = "enforce"'
e2e_flavour
e2e_confine
LOG=$E2E_LOGS/virtqemud-debug.log

trap e2e_daemons_down EXIT

chain() { e2e_chain "$DOM" sda | xargs -rn1 basename | tr '\n' ' ' | sed 's/ $//'; }

# op DESCRIPTION EXPECTED-OUTPUT VIRSH-ARGS...
op() {
    local desc=$1 expect=$2 out; shift 2
    out=$(virsh_verbose "$@" 2>&1) || true
    check "$desc" grep -q "$expect" <<<"$out"
    check_eq "$desc: still running" running "$(virsh domstate "$DOM")"
    check "$desc: the live whitelist is the disks' chains" whitelist_matches_chains
}

# refused NAME: QEMU may not open NAME (any more)
NREFUSED=0
refused() {
    local out
    NREFUSED=$((NREFUSED + 1))
    out=$(virsh qemu-monitor-command "$DOM" \
        "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"probe$RANDOM\",\"filename\":\"$D/$1\",\"read-only\":true}}" 2>&1) || true
    check "$1 is not grantable" grep -q "Permission denied" <<<"$out"
}

# every image QEMU holds was granted to it through the hook
held_granted() {
    local f bad=""
    for f in $(e2e_qemu_files "$(e2e_qemu_pid "$DOM")" | grep "^$D/"); do
        grep -q "decision=grant.*path=\"$f\"" "$LOG" || bad="$bad $f"
    done
    check_eq "$1: every image QEMU holds was granted by libvirt" "" "$bad"
}

whitelist_matches_chains() { e2e_whitelist_matches_chains "$DOM"; }

rm -rf "$D"
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
e2e_mkchain "$D" qcow2 extra.qcow2
e2e_mkchain "$D" qed qbase.qed qtop.qed
"$QEMU_IMG" create -q -f raw "$D/cd1.iso" 1M
"$QEMU_IMG" create -q -f raw "$D/cd2.iso" 1M
rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up
# the chain in the XML, as for any guest whose backing images QEMU's user
# may not write (a commit makes its base writable)
e2e_domain_xml "$DOM" "$D/top.qcow2" \
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>" |
    e2e_with_chain "$D/top.qcow2" qcow2 "$D/mid.qcow2" "$D/base.qcow2" > "$D/$DOM.xml"
check "define" virsh define "$D/$DOM.xml"
# the daemon's fds but its sockets and pidfds: the opener, started when a
# backing image named by a header is first opened, holds some
daemon_fds() {
    local f
    for f in /proc/"$(cat /run/virtqemud.pid)"/fd/*; do readlink "$f"; done |
        grep -cv '^socket:\|^anon_inode:\[pidfd\]'
}
fds_before=$(daemon_fds)
check "start" virsh start "$DOM"
fds_running=$(daemon_fds)
check_eq "chain at start" "top.qcow2 mid.qcow2 base.qcow2" "$(chain)"
check "start: the live whitelist is the disks' chains" whitelist_matches_chains
check "start: the live whitelist counts the fds QEMU holds" \
    grep -q "<entry path='$D/top.qcow2' access='rw' origin='sda\[[0-9]*\]' fds='1'/>" <(virsh dumpxml "$DOM")
held_granted start
e2e_confined_check "$DOM"

# A second disk whose chain shares base.qcow2 with sda: detaching it must
# leave base allowed for sda (reference counts).
"$QEMU_IMG" create -q -f qcow2 -b "$D/base.qcow2" -F qcow2 "$D/other.qcow2"
op "attach-disk sharing sda's base" "attached successfully" \
    attach-disk "$DOM" "$D/other.qcow2" sdd --driver qemu --subdriver qcow2 --targetbus scsi --live
op "detach-disk sharing sda's base" "detached successfully" detach-disk "$DOM" sdd --live
refused other.qcow2
check "base.qcow2 is still allowed for sda" \
    grep -q "<entry path='$D/base.qcow2' access='ro'" <(virsh dumpxml "$DOM")

op "snapshot-create-as --disk-only (snapshot_blkdev)" "snapshot s1 created" \
    snapshot-create-as "$DOM" s1 --disk-only --no-metadata --diskspec "sda,file=$D/snap1.qcow2"
check_eq "chain after the snapshot" "snap1.qcow2 top.qcow2 mid.qcow2 base.qcow2" "$(chain)"
held_granted snapshot

op "blockcommit of an inactive layer" "Commit complete" \
    blockcommit "$DOM" sda --top "$D/top.qcow2" --base "$D/mid.qcow2" --wait --verbose
check_eq "chain after the inactive commit" "snap1.qcow2 mid.qcow2 base.qcow2" "$(chain)"
refused top.qcow2

op "blockpull --base (block-stream)" "Pull complete" \
    blockpull "$DOM" sda --base "$D/base.qcow2" --wait --verbose
check_eq "chain after blockpull" "snap1.qcow2 base.qcow2" "$(chain)"
refused mid.qcow2

op "blockcommit --active --pivot" "Successfully pivoted" \
    blockcommit "$DOM" sda --active --pivot --wait --verbose
check_eq "chain after the active commit" "base.qcow2" "$(chain)"
refused snap1.qcow2

op "blockcopy --pivot (drive-reopen)" "Successfully pivoted" \
    blockcopy "$DOM" sda "$D/copy.qcow2" --format qcow2 --wait --verbose --pivot --transient-job
check_eq "chain after blockcopy" "copy.qcow2" "$(chain)"
refused base.qcow2
held_granted blockcopy

op "blockcopy then blockjob --abort" "Now in mirroring phase" \
    blockcopy "$DOM" sda "$D/copy2.qcow2" --format qcow2 --wait --verbose --transient-job
check "blockjob --abort" virsh blockjob "$DOM" sda --abort
check "blockjob --abort: the live whitelist is the disks' chains" whitelist_matches_chains
check_eq "chain after the aborted copy" "copy.qcow2" "$(chain)"
refused copy2.qcow2

op "attach-disk on virtio-scsi (drive_add)" "attached successfully" \
    attach-disk "$DOM" "$D/extra.qcow2" sdb --driver qemu --subdriver qcow2 --targetbus scsi --live
op "attach-disk of a qed chain" "attached successfully" \
    attach-disk "$DOM" "$D/qtop.qed" sdc --driver qemu --subdriver qed --targetbus scsi --live
held_granted attach
op "detach-disk" "detached successfully" detach-disk "$DOM" sdb --live
refused extra.qcow2
op "detach-disk of the qed chain" "detached successfully" detach-disk "$DOM" sdc --live
refused qbase.qed

op "change-media --insert" "inserted media" change-media "$DOM" hdc "$D/cd1.iso" --insert --live
op "change-media --update" "ejected\|inserted\|updated\|Successfully" \
    change-media "$DOM" hdc "$D/cd2.iso" --update --live
refused cd1.iso
op "change-media --eject" "ejected media" change-media "$DOM" hdc --eject --live
refused cd2.iso

op "internal snapshot (savevm)" "snapshot int1 created" snapshot-create-as "$DOM" int1
op "internal snapshot delete" "snapshot int1 deleted" snapshot-delete "$DOM" int1

# save/restore and a restart start new QEMU processes, each with a new
# channel and a whitelist built from the definition
check "save" virsh save "$DOM" "$D/$DOM.save"
check_eq "save: the domain is off" "shut off" "$(virsh domstate "$DOM")"
op "restore" "restored from" restore "$D/$DOM.save"
check "restore: QEMU got a new channel" \
    e2e_has_channel "$(e2e_qemu_pid "$DOM")"
check_eq "chain after restore" "copy.qcow2" "$(chain)"
held_granted restore
check "destroy before a fresh start" virsh destroy "$DOM"
op "start again" "started" start "$DOM"
check_eq "chain after the restart" "copy.qcow2" "$(chain)"
held_granted restart

check_eq "the only denials were the probes of dropped images" "$NREFUSED" \
    "$(grep -c "event=open decision=deny" "$E2E_LOGS/virtqemud.log")"
# Every fd the broker opened went to QEMU and was closed in virtqemud
# right after it was sent: the daemon holds what it held once the guest
# ran, whatever the operations opened meanwhile.
check_eq "virtqemud leaked no fd while the guest ran" "$fds_running" "$(daemon_fds)"
check "destroy" virsh destroy "$DOM"
check_eq "virtqemud holds no fd of the guest after destroy" "$fds_before" "$(daemon_fds)"
check "undefine" virsh undefine "$DOM"
e2e_daemons_down
trap - EXIT
rm -rf "$D"
e2e_summary
