#!/bin/bash
# The open hook through libvirt: qemu.conf open_hook = "enforce" with the
# patched QEMU (native -open-hook-fd), then "permissive".  QEMU must get
# its chain through libvirt, a QMP blockdev-add of a file outside the
# guest's files must fail with "Permission denied" and leave an audit
# record and a log line, and in permissive mode the same open succeeds
# and is logged as what enforce would deny.  Debian's own QEMU gets the
# same through the preload library.
#
# usage: tests/e2e/openhook.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-e2e
D=$E2E_DIR/$DOM
OUTSIDE=$D/outside.qcow2

trap e2e_daemons_down EXIT

blockdev_add_outside() {
    virsh qemu-monitor-command "$DOM" \
        "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"outside\",\"filename\":\"$OUTSIDE\",\"read-only\":true}}"
}

# start_guest MODE: starts the guest on a fresh daemon with the hook in MODE
start_guest() {
    E2E_QEMU_CONF="open_hook = \"$1\"" e2e_daemons_up
    e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
    check "$1: define" virsh define "$D/$DOM.xml"
    check "$1: start" virsh start "$DOM"
    check_eq "$1: running" running "$(virsh domstate "$DOM")"
    pid=$(e2e_qemu_pid "$DOM")
    check "$1: QEMU got the channel with -open-hook-fd" \
        grep -qE -- '-open-hook-fd [0-9]+' <(tr '\0' ' ' < "/proc/$pid/cmdline")
    check "$1: libvirt probed native support" \
        grep -q "<flag name='open-hook'/>" /var/cache/libvirt/qemu/capabilities/*.xml
    check_eq "$1: QEMU holds exactly the chain's images" \
        "$(printf '%s\n' "$D/base.qcow2" "$D/mid.qcow2" "$D/top.qcow2")" \
        "$(e2e_qemu_files "$pid" | grep "^$D/")"
    check "$1: the images were granted through the hook" \
        grep -q "decision=grant.*path=\"$D/top.qcow2\"" "$E2E_LOGS/virtqemud-debug.log"
}

stop_guest() {
    check "$1: destroy" virsh destroy "$DOM"
    check "$1: undefine" virsh undefine "$DOM"
    e2e_daemons_down
}

rm -rf "$D"
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
"$QEMU_IMG" create -q -f qcow2 "$OUTSIDE" 16M
rm -f "$E2E_LOGS"/virtqemud*.log

# --- enforce -------------------------------------------------------------
start_guest enforce
out=$(blockdev_add_outside 2>&1) || true
check "enforce: blockdev-add of a file outside the whitelist is refused" \
    grep -q "Could not open '$OUTSIDE': Permission denied" <<<"$out"
check "enforce: QEMU does not hold the refused file" \
    test -z "$(e2e_qemu_files "$pid" | grep -x "$OUTSIDE" || true)"
check "enforce: the denial is logged as a warning" \
    grep -q "warning : qemuOpenHookEvent.*decision=deny reason=not-listed.*path=\"$OUTSIDE\"" \
    "$E2E_LOGS/virtqemud.log"
check "enforce: the denial is audited" \
    grep -q "success=no virt=qemu resrc=file reason=open vm=\"$DOM\".*path=\"$OUTSIDE\".*decision=deny" \
    "$E2E_LOGS/virtqemud-debug.log"
check_eq "enforce: still running after the denial" running "$(virsh domstate "$DOM")"

out=$(virsh_verbose blockpull "$DOM" sda --base "$D/base.qcow2" --wait --verbose 2>&1) || true
check "enforce: blockpull --base completes" grep -q "Pull complete" <<<"$out"
check_eq "enforce: chain after blockpull is top <- base" \
    "$(printf '%s\n' "$D/top.qcow2" "$D/base.qcow2")" "$(e2e_chain "$DOM" sda)"
stop_guest enforce

# --- permissive ----------------------------------------------------------
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
rm -f "$E2E_LOGS"/virtqemud*.log
start_guest permissive
out=$(blockdev_add_outside 2>&1) || true
check "permissive: blockdev-add of a file outside the whitelist works" \
    grep -q '"return":{}' <<<"$out"
check "permissive: QEMU holds the file" \
    test -n "$(e2e_qemu_files "$pid" | grep -x "$OUTSIDE" || true)"
check "permissive: the would-be denial is logged" \
    grep -q "decision=would-deny reason=not-listed.*path=\"$OUTSIDE\"" \
    "$E2E_LOGS/virtqemud.log"
stop_guest permissive

# --- per domain: the user edits the domain XML -----------------------------
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
e2e_mkchain "$D" qcow2 extra.qcow2
rm -f "$E2E_LOGS"/virtqemud*.log
E2E_QEMU_CONF="" e2e_daemons_up
e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
check "xml: define without the hook" virsh define "$D/$DOM.xml"
virsh dumpxml --inactive "$DOM" | sed "s|</devices>|</devices>\n  <openhook mode='enforce'>\n    <file path='$D/extra.qcow2'/>\n  </openhook>|" \
    > "$D/$DOM-edited.xml"
check "xml: define the edited XML" virsh define "$D/$DOM-edited.xml"
check "xml: the definition keeps <openhook>" \
    grep -q "<file path='$D/extra.qcow2' access='ro'/>" <(virsh dumpxml --inactive "$DOM")
check "xml: start" virsh start "$DOM"
pid=$(e2e_qemu_pid "$DOM")
check "xml: QEMU got the channel with -open-hook-fd" \
    grep -qE -- '-open-hook-fd [0-9]+' <(tr '\0' ' ' < "/proc/$pid/cmdline")
out=$(virsh qemu-monitor-command "$DOM" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"extra\",\"filename\":\"$D/extra.qcow2\",\"read-only\":true}}" 2>&1) || true
check "xml: a file the XML lists can be opened read-only" grep -q '"return":{}' <<<"$out"
out=$(blockdev_add_outside 2>&1) || true
check "xml: a file it does not list is refused" \
    grep -q "Could not open '$OUTSIDE': Permission denied" <<<"$out"
stop_guest xml

# --- Debian's QEMU, no native support: the preload library ---------------
E2E_FLAVOUR=preload
E2E_QEMU_CONF='open_hook = "enforce"'
e2e_flavour
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up
e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
check "preload: define with Debian 13's QEMU, built without the series" virsh define "$D/$DOM.xml"
check "preload: start" virsh start "$DOM"
pid=$(e2e_qemu_pid "$DOM")
check "preload: QEMU got the library and the channel" \
    grep -qx "LD_PRELOAD=$E2E_DIR/lib/libopenhook-preload.so" <(tr '\0' '\n' < "/proc/$pid/environ")
check_eq "preload: QEMU holds exactly the chain's images" \
    "$(printf '%s\n' "$D/base.qcow2" "$D/mid.qcow2" "$D/top.qcow2")" \
    "$(e2e_qemu_files "$pid" | grep "^$D/")"
check "preload: the images were granted through the hook" \
    grep -q "decision=grant.*path=\"$D/base.qcow2\"" "$E2E_LOGS/virtqemud-debug.log"
out=$(blockdev_add_outside 2>&1) || true
check "preload: blockdev-add of a file outside the whitelist is refused" \
    grep -q "Could not open '$OUTSIDE': Permission denied" <<<"$out"
check "preload: the denial came from libvirt" \
    grep -q "decision=deny reason=not-listed.*path=\"$OUTSIDE\"" "$E2E_LOGS/virtqemud.log"
check_eq "preload: still running" running "$(virsh domstate "$DOM")"
stop_guest preload

trap - EXIT
check "no QEMU process left" test -z "$(e2e_qemu_pids)"
rm -rf "$D"
e2e_summary
