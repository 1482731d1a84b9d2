#!/bin/bash
# Backing file names read from image headers are QEMU's input: QEMU holds
# the top image read-write and can rewrite its header to name any file.
# Where the domain XML does not give the chain, libvirt reads it from the
# headers at the next start, and the hook must then get QEMU no more than
# QEMU's own credentials would: such an image is opened by the opener, as
# QEMU's user, never by root.  A chain the XML gives (<backingStore>) is
# the administrator's, and root opens it as any listed file.  A daemon
# restart must not turn a name from a header into a trusted one, and a
# commit into such an image needs QEMU's user to be able to write it.
# Native and preload flavours.
#
# The header here is written by root with qemu-img before the start: the
# state a guest that owns its QEMU leaves behind, without waiting for it.
#
# Failed before patch 49: the guest on top.qcow2, whose header names a
# root-only file (mode 0600), started, and QEMU held that file.
#
# usage: tests/e2e/openhook-trust-headers.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-trust-headers
D=$E2E_DIR/$DOM
SECRET=$D/secret.raw
PUB=$D/pub

trap e2e_daemons_down EXIT

# holds FILE: QEMU holds FILE open
holds() { e2e_qemu_files "$pid" | grep -qxF "$1"; }

layout() {
    rm -rf "$D"
    mkdir -p "$D" "$PUB"
    chmod 0755 "$D" "$PUB"
    # root's file, named by a header QEMU rewrote
    printf 'TOPSECRET' > "$SECRET"
    truncate -s 1M "$SECRET"
    chmod 0600 "$SECRET"
    "$QEMU_IMG" create -q -f qcow2 -b "$SECRET" -F raw "$D/top.qcow2"
    # a chain QEMU's user can read, also named only by headers
    e2e_mkchain "$PUB" qcow2 base.qcow2 top.qcow2
    chmod 0644 "$PUB"/*.qcow2 "$D/top.qcow2"
}

secret_untouched() {
    check_eq "$1: the root-only file is still root's, 0600" \
        "root:root 600" "$(stat -c '%U:%G %a' "$SECRET")"
}

# start_fails NAME XML: the guest must not start
start_fails() {
    local f=$1 xml=$2
    check "$f: define" virsh define "$xml"
    virsh_verbose start "$DOM" > "$D/start.out" 2>&1 || true
    check "$f: the start is refused (Permission denied)" \
        grep -q "Permission denied" "$D/start.out"
    check_eq "$f: shut off" "shut off" "$(virsh domstate "$DOM")"
    virsh destroy "$DOM" >/dev/null 2>&1 || true
    check "$f: undefine" virsh undefine "$DOM"
}

scenario() {
    local f=$1 with_chain
    layout
    rm -f "$E2E_LOGS"/virtqemud*.log
    E2E_QEMU_CONF='open_hook = "enforce"'
    e2e_flavour
    e2e_daemons_up

    # 1. A header names a root-only file: QEMU's user cannot read it.
    e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
    start_fails "$f: a header naming a root-only file" "$D/$DOM.xml"
    secret_untouched "$f: after the refused start"
    check "$f: the hook opened it as QEMU's user, not as root" \
        grep -q "path=\"$SECRET\".*untrusted name" "$E2E_LOGS/virtqemud-debug.log"
    check "$f: no QEMU process left" test -z "$(pgrep -f "guest=$DOM," || true)"

    # 2. The XML gives the same chain: the administrator's choice.
    with_chain="<source file='$D/top.qcow2'/><backingStore type='file'><format type='raw'/><source file='$SECRET'/><backingStore/></backingStore>"
    e2e_domain_xml "$DOM" "$D/top.qcow2" |
        sed "s|<source file='$D/top.qcow2'/>|$with_chain|" > "$D/$DOM-chain.xml"
    check "$f: define with <backingStore>" virsh define "$D/$DOM-chain.xml"
    check "$f: start with the chain in the XML" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    check "$f: QEMU holds the file the XML names" holds "$SECRET"
    check "$f: destroy" virsh destroy "$DOM"
    check "$f: undefine" virsh undefine "$DOM"
    secret_untouched "$f: after the guest with the chain in its XML"

    # 3. A header names a file QEMU's user can read: served, by the opener.
    e2e_domain_xml "$DOM" "$PUB/top.qcow2" > "$D/$DOM-pub.xml"
    check "$f: define on a readable chain" virsh define "$D/$DOM-pub.xml"
    check "$f: start on a readable chain named by headers" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    check "$f: QEMU holds the backing image" holds "$PUB/base.qcow2"
    check "$f: the backing image was granted as opened by QEMU's user" \
        grep -q "decision=grant.*path=\"$PUB/base.qcow2\".*untrusted name" \
        "$E2E_LOGS/virtqemud-debug.log"

    # 4. It stays QEMU's user's across a daemon restart.
    chmod 0600 "$PUB/base.qcow2"
    check "$f: a root-only backing image named by a header is refused" \
        e2e_qmp_refused "$DOM" "$PUB/base.qcow2"
    e2e_daemon_restart
    check "$f: after a daemon restart it is still refused" \
        e2e_qmp_refused "$DOM" "$PUB/base.qcow2"
    chmod 0644 "$PUB/base.qcow2"
    check "$f: and served once QEMU's user can read it" \
        e2e_qmp_opens "$DOM" "$PUB/base.qcow2"

    # 5. A commit into it needs QEMU's user to be able to write it.
    virsh_verbose blockcommit "$DOM" sda --active --wait --pivot > "$D/commit.out" 2>&1 || true
    check "$f: a commit into a root-owned base named by a header is refused" \
        grep -q "Permission denied" "$D/commit.out"
    check_eq "$f: ... and the guest runs on" running "$(virsh domstate "$DOM")"
    check_eq "$f: ... on its chain" "$PUB/top.qcow2 $PUB/base.qcow2" \
        "$(e2e_chain "$DOM" sda | tr '\n' ' ' | sed 's/ $//')"
    chown libvirt-qemu: "$PUB/base.qcow2"
    check "$f: a commit into a base QEMU's user owns pivots" \
        grep -q "Successfully pivoted" <(virsh_verbose blockcommit "$DOM" sda --active --wait --pivot 2>&1)
    check_eq "$f: ... onto the base" "$PUB/base.qcow2" "$(e2e_chain "$DOM" sda)"
    e2e_guest_done "$f" "$DOM"
}

E2E_FLAVOUR=native scenario native
E2E_FLAVOUR=preload scenario preload

trap - EXIT
check "no QEMU process left" test -z "$(e2e_qemu_pids)"
rm -rf "$D"
e2e_summary
