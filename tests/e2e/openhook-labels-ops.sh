#!/bin/bash
# Ownership given back after every operation that drops images (DAC in
# permissive mode, where libvirt still chowns images to the QEMU user):
# after blockpull, inactive and active commit, blockcopy + pivot,
# change-media, detach and destroy, no image that left the guest keeps the
# QEMU user's ownership once QEMU closed it -- read-only backing files and
# read-only media included -- unless another running guest still uses it
# (libvirt's remembered-owner reference count in XATTRs decides that).
#
# usage: tests/e2e/openhook-labels-ops.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-lops
DOM2=openhook-lops2
D=$E2E_DIR/$DOM
E2E_QEMU_CONF='open_hook = "permissive"'

trap e2e_daemons_down EXIT

chain() { e2e_chain "$DOM" sda | xargs -rn1 basename | tr '\n' ' ' | sed 's/ $//'; }

# owners NAME...: "NAME:USER" for each
owners() {
    local f
    for f in "$@"; do printf '%s:%s ' "$f" "$(stat -c %U "$D/$f")"; done | sed 's/ $//'
}

# given_back DESC NAME...: each NAME is root's again within 10 s (QEMU
# closes dropped images when the job's QMP command returns; the owner is
# restored once the broker saw the last close)
given_back() {
    local desc=$1 want; shift
    want=$(for f in "$@"; do printf '%s:root ' "$f"; done | sed 's/ $//')
    for _ in $(seq 100); do
        [ "$(owners "$@")" = "$want" ] && break
        sleep 0.1
    done
    check_eq "$desc: dropped images are root's again" "$want" "$(owners "$@")"
}

# qemus DESC NAME...: each NAME is (still) the QEMU user's
qemus() {
    local desc=$1 want; shift
    want=$(for f in "$@"; do printf '%s:libvirt-qemu ' "$f"; done | sed 's/ $//')
    check_eq "$desc" "$want" "$(owners "$@")"
}

# op DESCRIPTION EXPECTED-OUTPUT VIRSH-ARGS...
op() {
    local desc=$1 expect=$2 out; shift 2
    out=$(virsh_verbose "$@" 2>&1) || true
    check "$desc" grep -q "$expect" <<<"$out"
    check_eq "$desc: still running" running "$(virsh domstate "$DOM")"
    check "$desc: the live whitelist is the disks' chains" e2e_whitelist_matches_chains "$DOM"
}

rm -rf "$D"
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
e2e_mkchain "$D" qcow2 ro.qcow2
"$QEMU_IMG" create -q -f qcow2 -b "$D/base.qcow2" -F qcow2 "$D/other.qcow2"
"$QEMU_IMG" create -q -f raw "$D/cd1.iso" 1M
"$QEMU_IMG" create -q -f raw "$D/cd2.iso" 1M
chown root:root "$D"/*
rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up

# The second guest shares base.qcow2 (under its own overlay) and keeps
# running until the end.
e2e_domain_xml "$DOM2" "$D/other.qcow2" > "$D/$DOM2.xml"
check "$DOM2: define" virsh define "$D/$DOM2.xml"
check "$DOM2: start" virsh start "$DOM2"
e2e_domain_xml "$DOM" "$D/top.qcow2" \
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>" \
    > "$D/$DOM.xml"
check "define" virsh define "$D/$DOM.xml"
check "start" virsh start "$DOM"
qemus "start: the chain is the QEMU user's" top.qcow2 mid.qcow2 base.qcow2

op "blockpull --base" "Pull complete" blockpull "$DOM" sda --base "$D/base.qcow2" --wait --verbose
check_eq "chain after blockpull" "top.qcow2 base.qcow2" "$(chain)"
given_back "blockpull (read-only backing file)" mid.qcow2

op "snapshot-create-as --disk-only" "snapshot s1 created" \
    snapshot-create-as "$DOM" s1 --disk-only --no-metadata --diskspec "sda,file=$D/s1.qcow2"
op "snapshot-create-as --disk-only" "snapshot s2 created" \
    snapshot-create-as "$DOM" s2 --disk-only --no-metadata --diskspec "sda,file=$D/s2.qcow2"
check_eq "chain after the snapshots" "s2.qcow2 s1.qcow2 top.qcow2 base.qcow2" "$(chain)"
op "blockcommit of an inactive layer" "Commit complete" \
    blockcommit "$DOM" sda --top "$D/s1.qcow2" --base "$D/top.qcow2" --wait --verbose
check_eq "chain after the inactive commit" "s2.qcow2 top.qcow2 base.qcow2" "$(chain)"
given_back "inactive commit (read-only layer)" s1.qcow2
qemus "inactive commit: the commit base went back to read-only, still used" top.qcow2

op "blockcommit --active --pivot" "Successfully pivoted" \
    blockcommit "$DOM" sda --active --base "$D/top.qcow2" --pivot --wait --verbose
check_eq "chain after the active commit" "top.qcow2 base.qcow2" "$(chain)"
given_back "active commit (the old top)" s2.qcow2

op "blockcopy --pivot" "Successfully pivoted" \
    blockcopy "$DOM" sda "$D/copy.qcow2" --format qcow2 --wait --verbose --pivot --transient-job
check_eq "chain after blockcopy" "copy.qcow2" "$(chain)"
given_back "blockcopy --pivot (the old chain's top)" top.qcow2
qemus "blockcopy --pivot: base.qcow2 stays the QEMU user's, $DOM2 uses it" base.qcow2

op "attach-disk --mode readonly" "attached successfully" \
    attach-disk "$DOM" "$D/ro.qcow2" sdb --driver qemu --subdriver qcow2 --targetbus scsi --mode readonly --live
qemus "attach-disk --mode readonly: the QEMU user's" ro.qcow2
op "detach-disk of the read-only disk" "detached successfully" detach-disk "$DOM" sdb --live
given_back "detach-disk (read-only disk)" ro.qcow2

op "change-media --insert" "inserted media" change-media "$DOM" hdc "$D/cd1.iso" --insert --live
qemus "change-media --insert: the QEMU user's" cd1.iso
op "change-media --update" "ejected\|inserted\|updated\|Successfully" \
    change-media "$DOM" hdc "$D/cd2.iso" --update --live
given_back "change-media --update (the read-only medium it replaced)" cd1.iso
op "change-media --eject" "ejected media" change-media "$DOM" hdc --eject --live
given_back "change-media --eject (read-only medium)" cd2.iso

check "destroy" virsh destroy "$DOM"
given_back "destroy" copy.qcow2
qemus "destroy: base.qcow2 stays the QEMU user's, $DOM2 still uses it" base.qcow2
check_eq "$DOM2: still running" running "$(virsh domstate "$DOM2")"
check "$DOM2: destroy" virsh destroy "$DOM2"
given_back "$DOM2: destroy, the last user of base.qcow2 is gone" base.qcow2 other.qcow2

trap - EXIT
e2e_daemons_down
rm -rf "$D"
e2e_summary
