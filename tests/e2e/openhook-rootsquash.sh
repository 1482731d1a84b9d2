#!/bin/bash
# Root-squashed storage: a guest whose whole chain lives on a mount that
# refuses root.  A bindfs FUSE mount without allow_other, mounted by the
# QEMU user, lets in only processes whose uids are all the mounter's, the
# way NFS with root_squash refuses root (this host has FUSE but no NFS
# client).  With open_hook = "enforce", libvirt cannot open, stat or
# resolve those images as root: it probes the chain as the QEMU user
# (virFileOpenAs), allows the files through the domain's opener (a helper
# process running as the QEMU user) and the broker opens them through it.
# The guest starts, goes through a blockpull and a disk-only snapshot whose
# overlay is created on the same mount, and the whitelist follows the
# chain; root still cannot open any of the files.
#
# usage: tests/e2e/openhook-rootsquash.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-rootsquash
T=$E2E_DIR/$DOM
STORE=$T/store          # what bindfs exports, the QEMU user's
MNT=$T/mnt              # the mount that refuses root
E2E_QEMU_CONF='open_hook = "enforce"'
QUSER=libvirt-qemu

as_qemu() { runuser -u "$QUSER" -- "$@"; }

unmount() {
    if mountpoint -q "$MNT" 2>/dev/null || grep -qs " $MNT fuse" /proc/mounts; then
        as_qemu fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    fi
}

cleanup() {
    virsh destroy "$DOM" >/dev/null 2>&1 || true
    virsh undefine "$DOM" >/dev/null 2>&1 || true
    e2e_daemons_down
    unmount
}

if [ ! -c /dev/fuse ] || ! command -v bindfs >/dev/null ||
    ! command -v fusermount3 >/dev/null; then
    echo "ok 1 - $E2E_SCENARIO: # SKIP FUSE is unavailable (/dev/fuse, bindfs, fusermount3)"
    exit 0
fi

chain() { e2e_chain "$DOM" sda | xargs -rn1 basename | tr '\n' ' ' | sed 's/ $//'; }

# root can neither open nor stat any image on the mount, the QEMU user can
refuses_root() {
    local f bad=""
    for f in "$@"; do
        if head -c 1 "$MNT/$f" >/dev/null 2>&1; then bad="$bad $f:root-can-read"; fi
        if stat "$MNT/$f" >/dev/null 2>&1; then bad="$bad $f:root-can-stat"; fi
        if ! as_qemu head -c 1 "$MNT/$f" >/dev/null 2>&1; then bad="$bad $f:qemu-user-cannot-read"; fi
    done
    [ -z "$bad" ] || { echo "$bad"; return 1; }
}

# every entry of the live whitelist that QEMU holds is on the mount: the
# broker got them through the opener
granted_as_user() {
    grep -q "decision=grant.*path=\"$MNT/$1\".*detail=\"as uid $(id -u "$QUSER")[\":]" \
        "$E2E_LOGS/virtqemud-debug.log"
}

# op DESCRIPTION EXPECTED-OUTPUT VIRSH-ARGS...
op() {
    local desc=$1 expect=$2 out; shift 2
    out=$(virsh_verbose "$@" 2>&1) || true
    check "$desc" grep -q "$expect" <<<"$out"
    check_eq "$desc: still running" running "$(virsh domstate "$DOM")"
    check "$desc: the live whitelist is the disk's chain" e2e_whitelist_matches_chains "$DOM"
}

# The QEMU user makes the chain with qemu-img, on the mount: qemu-img and
# qemu-io are copied where that user may run them.
unmount
rm -rf "$T"
mkdir -p "$T/bin" "$STORE" "$MNT"
chmod 0755 "$T" "$T/bin"
cp "$QEMU_IMG" "$QEMU_IO" "$T/bin/"
chown "$QUSER:$QUSER" "$STORE" "$MNT"
chmod 0700 "$STORE" "$MNT"
trap cleanup EXIT

check "bindfs --no-allow-other mounted by $QUSER" \
    as_qemu bindfs --no-allow-other "$STORE" "$MNT"
check "the mount is FUSE without allow_other" \
    grep -q "^[^ ]* $MNT fuse[. ].*user_id=$(id -u "$QUSER")" /proc/mounts
i=0 prev=""
for name in base.qcow2 mid.qcow2 top.qcow2; do
    if [ -z "$prev" ]; then
        as_qemu "$T/bin/qemu-img" create -q -f qcow2 "$MNT/$name" 64M
    else
        as_qemu "$T/bin/qemu-img" create -q -f qcow2 -b "$MNT/$prev" -F qcow2 "$MNT/$name"
    fi
    as_qemu "$T/bin/qemu-io" -f qcow2 -c "write -P $((0x11 * (i + 1))) ${i}M 1M" "$MNT/$name" >/dev/null
    prev=$name
    i=$((i + 1))
done
check "the mount refuses root, not $QUSER" refuses_root base.qcow2 mid.qcow2 top.qcow2
out=$(as_qemu stat -c '%U' "$MNT/top.qcow2" 2>&1) || true
check_eq "the images are $QUSER's" "$QUSER" "$out"

rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up
e2e_domain_xml "$DOM" "$MNT/top.qcow2" > "$T/$DOM.xml"
check "define" virsh define "$T/$DOM.xml"
check "start in enforce mode on a mount that refuses root" virsh start "$DOM"
check_eq "running" running "$(virsh domstate "$DOM" 2>&1)"
check_eq "chain at start (probed as $QUSER)" "top.qcow2 mid.qcow2 base.qcow2" "$(chain)"
check "the live whitelist is the disk's chain" e2e_whitelist_matches_chains "$DOM"
pid=$(e2e_qemu_pid "$DOM")
check "QEMU got the channel" e2e_has_channel "$pid"
check "QEMU holds the top image" \
    bash -c "ls -l /proc/$pid/fd | grep -q ' $MNT/top.qcow2\$'"
check "the broker opened the top image as $QUSER" granted_as_user top.qcow2
check "the broker opened the base image as $QUSER" granted_as_user base.qcow2
opener=$(pgrep -u "$QUSER" -P "$(cat /run/virtqemud.pid)" | head -n1 || true)
check "one opener, a child of virtqemud running as $QUSER" test -n "$opener"
if [ -n "$opener" ]; then
    check_eq "the opener is $QUSER for good (real, effective, saved)" \
        "$(id -u "$QUSER") $(id -u "$QUSER") $(id -u "$QUSER") $(id -u "$QUSER")" \
        "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$opener/status")"
fi

op "blockpull --base" "Pull complete" \
    blockpull "$DOM" sda --base "$MNT/base.qcow2" --wait --verbose
check_eq "chain after blockpull" "top.qcow2 base.qcow2" "$(chain)"

op "disk-only snapshot with the overlay on the mount" "Domain snapshot" \
    snapshot-create-as "$DOM" s1 --disk-only --no-metadata \
    --diskspec "sda,file=$MNT/snap.qcow2"
check_eq "chain after the snapshot" "snap.qcow2 top.qcow2 base.qcow2" "$(chain)"
check "the overlay is on the mount, created as $QUSER" \
    bash -c "[ \"\$(runuser -u $QUSER -- stat -c %U '$MNT/snap.qcow2')\" = $QUSER ]"
check "the broker opened the overlay as $QUSER" granted_as_user snap.qcow2
check "the mount still refuses root" refuses_root snap.qcow2 top.qcow2 base.qcow2
out=$(virsh qemu-monitor-command "$DOM" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"x\",\"filename\":\"$MNT/mid.qcow2\",\"read-only\":true}}" 2>&1) || true
check "an image of the mount outside the whitelist is refused" \
    grep -q "Permission denied" <<<"$out"
check_eq "still running at the end" running "$(virsh domstate "$DOM")"

check "destroy" virsh destroy "$DOM"
check "the opener is reaped with the domain" \
    bash -c "! pgrep -u $QUSER -P \$(cat /run/virtqemud.pid) >/dev/null"
# the guest's data went through every layer: base at 0, mid's (pulled into
# top) at 1M, top's at 2M, read through the overlay
for i in 0 1 2; do
    check "data of layer $i through the new chain" \
        as_qemu "$T/bin/qemu-io" -r -f qcow2 -c "read -P $((0x11 * (i + 1))) ${i}M 1M" "$MNT/snap.qcow2"
done
check "undefine" virsh undefine "$DOM"

trap - EXIT
e2e_daemons_down
unmount
check "unmounted" bash -c "! grep -qs ' $MNT ' /proc/mounts"
rm -rf "$T"
e2e_summary
