#!/bin/bash
# Directories in <openhook>: a guest whose XML lists a read-only and a
# read-write directory may open the regular files beneath them (QMP
# blockdev-add, as a guest's management would do) and nothing that leads
# out of them: not a symlink to a file outside, not a hard link to one,
# not the sibling directory whose name merely starts the same, not a
# device node.  Files created in the read-write directory are root's and
# private.  The live XML shows each directory with the fds QEMU holds
# beneath it.  Both QEMU flavours.
#
# usage: tests/e2e/openhook-dirs.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-dirs
D=$E2E_DIR/$DOM

trap e2e_daemons_down EXIT

# qmp_add PATH [RO=true]: blockdev-add of PATH through the file driver
# (it runs in a subshell: the node name cannot come from a counter)
qmp_add() {
    virsh qemu-monitor-command "$DOM" \
        "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"n$RANDOM$RANDOM\",\"filename\":\"$1\",\"read-only\":${2:-true}}}" 2>&1
}

granted() { check "$1: granted" grep -q '"return":{}' <(qmp_add "$2" "${3:-true}"); }
refused() { check "$1: refused" grep -q "Permission denied" <(qmp_add "$2" "${3:-true}"); }

# dir_entry DIR ACCESS FDS: the live XML lists DIR as a directory
dir_entry() {
    grep -q "<entry type='dir' path='$1' access='$2' origin='openhook' fds='$3'/>" \
        <(virsh dumpxml "$DOM")
}

run() {
    local flavour=$1
    E2E_FLAVOUR=$flavour
    E2E_GUEST_EMULATOR=
    E2E_QEMU_CONF='open_hook = "enforce"'
    e2e_flavour
    rm -rf "$D"
    e2e_mkchain "$D" qcow2 base.qcow2 top.qcow2
    mkdir -p "$D/isos/sub" "$D/isos2" "$D/scratch"
    "$QEMU_IMG" create -q -f raw "$D/isos/a.iso" 1M
    "$QEMU_IMG" create -q -f raw "$D/isos/sub/b.iso" 1M
    "$QEMU_IMG" create -q -f raw "$D/isos2/c.iso" 1M
    "$QEMU_IMG" create -q -f raw "$D/secret.img" 1M
    ln -s a.iso "$D/isos/inside-link.iso"
    ln -s ../secret.img "$D/isos/escape-rel.iso"
    ln -s "$D/secret.img" "$D/isos/escape-abs.iso"
    ln "$D/secret.img" "$D/isos/hardlink.iso"
    mknod "$D/isos/null" c 1 3
    chmod 0755 "$D/isos" "$D/scratch"
    rm -f "$E2E_LOGS"/virtqemud*.log
    e2e_daemons_up
    e2e_domain_xml "$DOM" "$D/top.qcow2" |
        sed "s|</devices>|</devices>\n  <openhook mode='enforce'>\n    <dir path='$D/isos'/>\n    <dir path='$D/scratch' access='rw'/>\n  </openhook>|" \
        > "$D/$DOM.xml"
    check "$flavour: define with <dir> entries" virsh define "$D/$DOM.xml"
    check "$flavour: the definition keeps them" \
        grep -q "<dir path='$D/scratch' access='rw'/>" <(virsh dumpxml --inactive "$DOM")
    check "$flavour: start" virsh start "$DOM"
    check "$flavour: QEMU got the channel" e2e_has_channel "$(e2e_qemu_pid "$DOM")"
    check "$flavour: the live XML shows the read-only directory" dir_entry "$D/isos" ro 0

    granted "$flavour: a file in the directory" "$D/isos/a.iso"
    granted "$flavour: a file in a subdirectory" "$D/isos/sub/b.iso"
    granted "$flavour: a symlink that stays inside" "$D/isos/inside-link.iso"
    check "$flavour: the live XML counts QEMU's fds beneath it" dir_entry "$D/isos" ro 3
    refused "$flavour: write access in the read-only directory" "$D/isos/a.iso" false
    refused "$flavour: a relative symlink out of the directory" "$D/isos/escape-rel.iso"
    refused "$flavour: an absolute symlink out of the directory" "$D/isos/escape-abs.iso"
    refused "$flavour: a hard link to a file outside" "$D/isos/hardlink.iso"
    refused "$flavour: a sibling directory with the same prefix" "$D/isos2/c.iso"
    refused "$flavour: .. out of the directory" "$D/isos/../secret.img"
    refused "$flavour: a device node in the directory" "$D/isos/null"
    check "$flavour: the escapes are logged with their reason" \
        grep -q "decision=deny reason=escape" "$E2E_LOGS/virtqemud-debug.log"
    check "$flavour: the hard link is logged with its reason" \
        grep -q "decision=deny reason=hard-link" "$E2E_LOGS/virtqemud-debug.log"

    "$QEMU_IMG" create -q -f raw "$D/scratch/w.img" 1M
    granted "$flavour: read-write in the read-write directory" "$D/scratch/w.img" false
    out=$(virsh qemu-monitor-command "$DOM" \
        "{\"execute\":\"blockdev-create\",\"arguments\":{\"job-id\":\"mk\",\"options\":{\"driver\":\"file\",\"filename\":\"$D/scratch/new.img\",\"size\":1048576}}}" 2>&1) || true
    check "$flavour: blockdev-create of a new file is accepted" grep -q '"return"' <<<"$out"
    for _ in $(seq 50); do [ -e "$D/scratch/new.img" ] && break; sleep 0.1; done
    check "$flavour: QEMU creates a file in the read-write directory" test -f "$D/scratch/new.img"
    check_eq "$flavour: the created file is root's and private" "root 600" \
        "$(stat -c '%U %a' "$D/scratch/new.img" 2>&1)"
    check_eq "$flavour: still running" running "$(virsh domstate "$DOM")"
    check "$flavour: destroy" virsh destroy "$DOM"
    check "$flavour: undefine" virsh undefine "$DOM"
    e2e_daemons_down
}

run native
run preload
trap - EXIT
rm -rf "$D"
e2e_summary
