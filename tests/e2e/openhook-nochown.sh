#!/bin/bash
# DAC without chown: with open_hook = "enforce", libvirt opens every guest
# image itself and QEMU only uses the descriptors, so libvirt leaves the
# images' ownership alone.  A guest whose chain is root-owned, mode 0600,
# in a 0700 directory (where the QEMU user cannot even look) starts and
# goes through the block operations, ownership never changes, and the QEMU
# user cannot open any of the images by itself.  The chains are given in
# the XML (<backingStore>): backing images libvirt would read from image
# headers are opened only with QEMU's credentials (openhook-trust-headers.sh).
#
# usage: tests/e2e/openhook-nochown.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-nochown
D=$E2E_DIR/$DOM/private
E2E_QEMU_CONF='open_hook = "enforce"'

trap e2e_daemons_down EXIT

chain() { e2e_chain "$DOM" sda | xargs -rn1 basename | tr '\n' ' ' | sed 's/ $//'; }

# every image the user made is still root's and 0600, the ones libvirt
# created are root's, and the QEMU user can open none of them
MADE="base.qcow2 mid.qcow2 top.qcow2 extra.qcow2 copy.qcow2"
untouched() {
    local f want bad=""
    for f in "$D"/*.qcow2; do
        want="root:root 600"
        case " $MADE " in *" $(basename "$f") "*) ;; *) want="root:root 6[04][04]" ;; esac
        # shellcheck disable=SC2053
        [[ "$(stat -c '%U:%G %a' "$f")" == $want ]] || bad="$bad $(basename "$f"):$(stat -c '%U:%G:%a' "$f")"
        if runuser -u libvirt-qemu -- head -c 1 "$f" >/dev/null 2>&1; then
            bad="$bad $(basename "$f"):readable-by-qemu-user"
        fi
    done
    check_eq "$1: images keep root:root 0600, the QEMU user cannot open them" "" "$bad"
}

# op DESCRIPTION EXPECTED-OUTPUT VIRSH-ARGS...
op() {
    local desc=$1 expect=$2 out; shift 2
    out=$(virsh_verbose "$@" 2>&1) || true
    check "$desc" grep -q "$expect" <<<"$out"
    check_eq "$desc: still running" running "$(virsh domstate "$DOM")"
    check "$desc: the live whitelist is the disks' chains" e2e_whitelist_matches_chains "$DOM"
    untouched "$desc"
}

rm -rf "$E2E_DIR/$DOM"
umask 077
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
e2e_mkchain "$D" qcow2 extra.qcow2
umask 022
chmod 0700 "$D"
chown -R root:root "$D"
chmod 0600 "$D"/*.qcow2
check_eq "the directory is root's, 0700" "root 700" "$(stat -c '%U %a' "$D")"
rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up
e2e_domain_xml "$DOM" "$D/top.qcow2" |
    e2e_with_chain "$D/top.qcow2" qcow2 "$D/mid.qcow2" "$D/base.qcow2" \
    > "$E2E_DIR/$DOM/$DOM.xml"
check "define" virsh define "$E2E_DIR/$DOM/$DOM.xml"
check "start on a chain in a 0700 directory" virsh start "$DOM"
check_eq "chain at start" "top.qcow2 mid.qcow2 base.qcow2" "$(chain)"
untouched start
out=$(virsh qemu-monitor-command "$DOM" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"x\",\"filename\":\"$D/extra.qcow2\",\"read-only\":true}}" 2>&1) || true
check "QMP blockdev-add of a root-owned image outside the whitelist is refused" \
    grep -q "Permission denied" <<<"$out"

op "snapshot (snapshot_blkdev)" "Domain snapshot" \
    snapshot-create-as "$DOM" s1 --disk-only --no-metadata --diskspec "sda,file=$D/snap.qcow2"
op "blockpull --base" "Pull complete" \
    blockpull "$DOM" sda --base "$D/base.qcow2" --wait --verbose
"$QEMU_IMG" create -q -f qcow2 -b "$D/base.qcow2" -F qcow2 "$D/copy.qcow2"
chmod 0600 "$D/copy.qcow2"
cat > "$E2E_DIR/$DOM/copy.xml" <<EOF
<disk type='file'><driver type='qcow2'/><source file='$D/copy.qcow2'/>$(e2e_backing_chain qcow2 "$D/base.qcow2")</disk>
EOF
op "blockcopy --pivot" "Successfully pivoted" \
    blockcopy "$DOM" sda --xml "$E2E_DIR/$DOM/copy.xml" --shallow --reuse-external --transient-job --wait --verbose --pivot
op "blockcommit --active --pivot" "Successfully pivoted" \
    blockcommit "$DOM" sda --active --wait --verbose --pivot
op "attach-disk" "attached successfully" \
    attach-disk "$DOM" "$D/extra.qcow2" sdb --driver qemu --subdriver qcow2 --targetbus scsi --live
op "detach-disk" "detached successfully" detach-disk "$DOM" sdb --live
check_eq "chain at the end" "base.qcow2" "$(chain)"
check "destroy" virsh destroy "$DOM"
untouched "after destroy"

trap - EXIT
e2e_daemons_down
rm -rf "$E2E_DIR/$DOM"
e2e_summary
