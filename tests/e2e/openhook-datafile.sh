#!/bin/bash
# qcow2 images with an external data file (<dataStore>, libvirt 10.10 and
# later): QEMU opens the data file as a node of its own, read-write when
# its image is writable.  In enforce mode the data file is in the
# whitelist with its image's access, follows the image through an
# external snapshot and block commits, and leaves with it; a data file
# that only an image header names is opened with QEMU's credentials,
# never as root.  In permissive mode a data file that leaves the guest
# gets its owner back once QEMU closed it, as its image does.
# Flavours: enforce, enforce + Landlock, permissive.
#
# Failed before the "serve qcow2 data files" patch: the guest on a chain
# with data files did not start in enforce mode (QEMU was refused them).
#
# usage: tests/e2e/openhook-datafile.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-datafile
D=$E2E_DIR/$DOM

trap e2e_daemons_down EXIT

# holds FILE: QEMU holds FILE open
holds() { e2e_qemu_files "$pid" | grep -qxF "$1"; }

# mode FILE: how QEMU holds FILE: "rw", "ro" or "" (not at all); "mixed"
# while it holds both (in the middle of a reopen)
mode() {
    local fd flags m seen=""
    for fd in /proc/"$pid"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$1" ] || continue
        flags=$(awk '/^flags:/ { print $2 }' "/proc/$pid/fdinfo/${fd##*/}")
        if [ $((8#$flags & 3)) = 0 ]; then m=ro; else m=rw; fi
        case $seen in "" | "$m") seen=$m ;; *) seen=mixed ;; esac
    done
    echo "$seen"
}

# access FILE: FILE's access in the whitelist of the live XML, or ""
access() {
    virsh dumpxml "$DOM" | /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
for e in ET.parse(sys.stdin).findall("./openhook/entry"):
    if e.get("path") == sys.argv[1]:
        print(e.get("access"))
' "$1"
}

# settled FILE WANT: QEMU holds FILE as WANT ("rw", "ro" or "") within
# 10 s (a block job's reopens finish after virsh returns)
settled() {
    local _
    for _ in $(seq 100); do
        [ "$(mode "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    echo "QEMU holds $1 as '$(mode "$1")', expected '$2'"
    return 1
}

# image NAME DATA [BACKING]: a qcow2 image whose clusters live in DATA
image() {
    local opts="data_file=$D/$2"
    if [ -n "${3:-}" ]; then
        "$QEMU_IMG" create -q -f qcow2 -o "$opts" -b "$D/$3" -F qcow2 "$D/$1" 64M
    else
        "$QEMU_IMG" create -q -f qcow2 -o "$opts" "$D/$1" 64M
    fi
}

# pattern IMAGE OFFSET BYTE: reading IMAGE (through its chain) at OFFSET
# gives 1 MiB of BYTE
pattern() {
    "$QEMU_IO" -r -f qcow2 -c "read -P $3 $2 1M" "$D/$1" | grep -q "read 1048576/1048576"
}

# <source> with its <dataStore>, for a domain XML
source_xml() {
    echo "<source file='$D/$1'><dataStore type='file'><format type='raw'/><source file='$D/$2'/></dataStore></source>"
}

layout() {
    rm -rf "$D"
    mkdir -p "$D"
    chmod 0755 "$D"
    image base.qcow2 base.data
    image top.qcow2 top.data base.qcow2
    "$QEMU_IO" -f qcow2 -c "write -P 0x11 0 1M" "$D/base.qcow2" >/dev/null
    "$QEMU_IO" -f qcow2 -c "write -P 0x22 1M 1M" "$D/top.qcow2" >/dev/null
    chmod 0600 "$D"/*
    # the chain with every data file named by the XML
    e2e_domain_xml "$DOM" "$D/top.qcow2" |
        sed "s|<source file='$D/top.qcow2'/>|$(source_xml top.qcow2 top.data)<backingStore type='file'><format type='qcow2'/>$(source_xml base.qcow2 base.data)<backingStore/></backingStore>|" \
        > "$D/$DOM.xml"
}

enforce() {
    local f=$1
    layout
    rm -f "$E2E_LOGS"/virtqemud*.log
    E2E_QEMU_CONF='open_hook = "enforce"'
    e2e_confine
    e2e_daemons_up

    check "$f: define with <dataStore> on both images" virsh define "$D/$DOM.xml"
    check "$f: start" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    e2e_confined_check "$DOM"
    check_eq "$f: QEMU holds both images and both data files" \
        "$(printf '%s\n' "$D/base.data" "$D/base.qcow2" "$D/top.data" "$D/top.qcow2")" \
        "$(e2e_qemu_files "$pid" | grep "^$D/")"
    check_eq "$f: the top's data file is listed read-write" rw "$(access "$D/top.data")"
    check_eq "$f: the backing image's data file is listed read-only" ro "$(access "$D/base.data")"
    check_eq "$f: QEMU holds the top's data file read-write" rw "$(mode "$D/top.data")"
    check_eq "$f: QEMU holds the backing data file read-only" ro "$(mode "$D/base.data")"
    check_eq "$f: enforce mode chowns no data file" "root root" \
        "$(stat -c %U "$D/top.data" "$D/base.data" | tr '\n' ' ' | sed 's/ $//')"

    # an external snapshot: the old top and its data file become read-only
    check "$f: disk-only snapshot" virsh snapshot-create-as "$DOM" s1 --disk-only \
        --no-metadata --diskspec "sda,file=$D/snap.qcow2"
    check_eq "$f: ... the old top's data file is listed read-only" ro "$(access "$D/top.data")"
    check "$f: ... and QEMU holds it read-only" settled "$D/top.data" ro
    check_eq "$f: ... the new top is read-write" rw "$(access "$D/snap.qcow2")"

    # commit the new top back: the old top's data file is written again
    check "$f: active commit into the old top pivots" \
        grep -q "Successfully pivoted" <(virsh_verbose blockcommit "$DOM" sda --active --wait --pivot \
            --base "$D/top.qcow2" 2>&1)
    check_eq "$f: ... the top's data file is read-write again" rw "$(access "$D/top.data")"
    check "$f: ... and QEMU holds it read-write" settled "$D/top.data" rw
    check_eq "$f: ... the snapshot left the whitelist" "" "$(access "$D/snap.qcow2")"

    # commit the top into the base: the base's data file is written
    check "$f: active commit into the base pivots" \
        grep -q "Successfully pivoted" <(virsh_verbose blockcommit "$DOM" sda --active --wait --pivot 2>&1)
    check_eq "$f: ... the chain is the base" "$D/base.qcow2" "$(e2e_chain "$DOM" sda)"
    check_eq "$f: ... its data file is listed read-write" rw "$(access "$D/base.data")"
    check "$f: ... and QEMU holds it read-write" settled "$D/base.data" rw
    check_eq "$f: ... the old top's data file left the whitelist" "" "$(access "$D/top.data")"
    check "$f: ... and QEMU closed it" settled "$D/top.data" ""
    check "$f: destroy" virsh destroy "$DOM"
    check "$f: the base holds the top's data" pattern base.qcow2 1M 0x22
    check "$f: ... and its own" pattern base.qcow2 0 0x11
    check "$f: undefine" virsh undefine "$DOM"

    # a data file only a header names: QEMU's credentials, never root's
    image hdr.qcow2 hdr.data
    chmod 0600 "$D/hdr.qcow2" "$D/hdr.data"
    e2e_domain_xml "$DOM" "$D/hdr.qcow2" > "$D/$DOM-hdr.xml"
    check "$f: define without <dataStore>" virsh define "$D/$DOM-hdr.xml"
    virsh_verbose start "$DOM" > "$D/start.out" 2>&1 || true
    check "$f: a root-only data file named by a header is refused (Permission denied)" \
        grep -q "Permission denied" "$D/start.out"
    check "$f: ... opened as QEMU's user, not as root" \
        grep -q "path=\"$D/hdr.data\".*untrusted name" "$E2E_LOGS/virtqemud-debug.log"
    check_eq "$f: ... and left root's" "root:root 600" "$(stat -c '%U:%G %a' "$D/hdr.data")"
    chown libvirt-qemu: "$D/hdr.data"
    check "$f: a data file QEMU's user owns starts" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    check "$f: ... QEMU holds it" holds "$D/hdr.data"
    check "$f: ... granted as opened by QEMU's user" \
        grep -q "decision=grant.*path=\"$D/hdr.data\".*untrusted name" "$E2E_LOGS/virtqemud-debug.log"
    chown root: "$D/hdr.data"
    check "$f: ... QEMU's own open of it is refused once QEMU's user cannot read it" \
        e2e_qmp_refused "$DOM" "$D/hdr.data"
    e2e_daemon_restart
    check "$f: ... also after a daemon restart" e2e_qmp_refused "$DOM" "$D/hdr.data"
    chown libvirt-qemu: "$D/hdr.data"
    check "$f: ... and served again once it can" e2e_qmp_opens "$DOM" "$D/hdr.data"
    e2e_guest_done "$f" "$DOM"
}

# permissive: libvirt chowns the data files; one that leaves the guest
# gets its owner back once QEMU closed it, as its image
permissive() {
    local f=permissive
    layout
    rm -f "$E2E_LOGS"/virtqemud*.log
    E2E_QEMU_CONF='open_hook = "permissive"'
    e2e_daemons_up
    check "$f: define" virsh define "$D/$DOM.xml"
    check "$f: start" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    check_eq "$f: the top's data file is QEMU's user's" libvirt-qemu "$(stat -c %U "$D/top.data")"
    check "$f: active commit into the base pivots" \
        grep -q "Successfully pivoted" <(virsh_verbose blockcommit "$DOM" sda --active --wait --pivot 2>&1)
    check "$f: ... QEMU closed the old top's data file" settled "$D/top.data" ""
    check "$f: ... which is root's again" e2e_owner_within "$D/top.data" root 10
    check "$f: ... as its image" e2e_owner_within "$D/top.qcow2" root 10
    check "$f: no denial was logged" \
        test -z "$(grep 'decision=deny' "$E2E_LOGS/virtqemud-debug.log" || true)"
    e2e_guest_done "$f" "$DOM"
    check_eq "$f: after the stop both are root's" "root root" \
        "$(stat -c %U "$D/base.data" "$D/base.qcow2" | tr '\n' ' ' | sed 's/ $//')"
}

E2E_CONFINE=0 enforce enforce
E2E_CONFINE=1 enforce enforce-landlock
permissive

trap - EXIT
check "no QEMU process left" test -z "$(e2e_qemu_pids)"
rm -rf "$D"
e2e_summary
