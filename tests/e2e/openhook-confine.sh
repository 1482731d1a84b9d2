#!/bin/bash
# Landlock confinement (open_hook_confine = 1) proven both ways, with each
# QEMU flavour: libvirt applies a ruleset to QEMU that lets it open its own
# system files but no guest file.
#   - hook off: the guest cannot even open its disk, so it does not start
#     ("Permission denied"): the broker is the only way in;
#   - hook on: the guest starts, a file QEMU holds keeps working (the guest
#     writes to its disk through the held fd, the data is there afterwards),
#     and after a daemon restart QEMU reconnects and a blockpull and a
#     snapshot still get their images through the hook.
# openhook-blockops-confine{,-preload}.sh run every block operation under
# confinement.
#
# usage: tests/e2e/openhook-confine.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-confine
D=$E2E_DIR/$DOM

trap e2e_daemons_down EXIT

chain() { e2e_chain "$DOM" sda | xargs -rn1 basename | tr '\n' ' ' | sed 's/ $//'; }

# guest_write PATTERN OFFSET: the guest's QEMU writes to its disk through
# the fd it holds (HMP qemu-io on the disk's device; it prints nothing on
# success); the data is checked in the image after the guest is gone
guest_write() {
    local out
    out=$(virsh qemu-monitor-command "$DOM" --hmp \
        "qemu-io -d scsi0-0-0-0 \"write -P $1 $2 64k\"" 2>&1) || return 1
    [ -z "$out" ] || { echo "$out"; return 1; }
}

# run FLAVOUR: both halves of the proof with one QEMU flavour
run() {
    local flavour=$1 out pid
    E2E_FLAVOUR=$flavour
    E2E_GUEST_EMULATOR=
    rm -rf "$D"
    e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
    rm -f "$E2E_LOGS"/virtqemud*.log

    # Confined, without the hook: QEMU opens its disk itself and the
    # kernel refuses it.
    E2E_QEMU_CONF='open_hook = "off"'
    e2e_flavour
    E2E_CONFINE=1 e2e_confine
    e2e_daemons_up
    e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
    check "$flavour, hook off: define" virsh define "$D/$DOM.xml"
    out=$(virsh start "$DOM" 2>&1) && check "$flavour, hook off: start must fail" false
    check "$flavour, hook off: QEMU may not open its disk" \
        grep -q "Could not open .$D/[a-z]*.qcow2.: Permission denied" <<<"$out"
    check_eq "$flavour, hook off: the guest is not running" "shut off" "$(virsh domstate "$DOM")"
    check "$flavour, hook off: the confinement was logged" \
        grep -q "QEMU of domain '$DOM' is confined without the open hook" "$E2E_LOGS/virtqemud-debug.log"
    # the same image is fine for an unconfined QEMU's user: the refusal
    # came from the ruleset, not from ownership
    check "$flavour, hook off: the QEMU user could read the image" \
        runuser -u libvirt-qemu -- head -c 1 "$D/top.qcow2"
    virsh undefine "$DOM" >/dev/null
    e2e_daemons_down

    # Confined, with the hook: every image comes through the broker.
    E2E_QEMU_CONF='open_hook = "enforce"'
    e2e_flavour
    E2E_CONFINE=1 e2e_confine
    e2e_daemons_up
    e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
    check "$flavour, hook on: define" virsh define "$D/$DOM.xml"
    check "$flavour, hook on: start" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    check "$flavour, hook on: QEMU got the channel" e2e_has_channel "$pid"
    E2E_CONFINE=1 e2e_confined_check "$DOM"
    check "$flavour, hook on: the guest writes through the fd it holds" guest_write 0x77 5M

    e2e_daemon_restart
    check_eq "$flavour, restarted daemon: same QEMU" "$pid" "$(e2e_qemu_pid "$DOM")"
    check "$flavour, restarted daemon: the guest still writes" guest_write 0x78 6M
    out=$(virsh_verbose blockpull "$DOM" sda --base "$D/base.qcow2" --wait --verbose 2>&1) || true
    check "$flavour, restarted daemon: blockpull" grep -q "Pull complete" <<<"$out"
    check_eq "$flavour, chain after blockpull" "top.qcow2 base.qcow2" "$(chain)"
    out=$(virsh_verbose snapshot-create-as "$DOM" s1 --disk-only --no-metadata \
        --diskspec "sda,file=$D/snap1.qcow2" 2>&1) || true
    check "$flavour, restarted daemon: disk-only snapshot" grep -q "snapshot s1 created" <<<"$out"
    check_eq "$flavour, chain after the snapshot" "snap1.qcow2 top.qcow2 base.qcow2" "$(chain)"
    check "$flavour: the live whitelist is the disk's chain" e2e_whitelist_matches_chains "$DOM"
    check_eq "$flavour: still running" running "$(virsh domstate "$DOM")"
    check "$flavour: destroy" virsh destroy "$DOM"
    # what the confined QEMU wrote through its fds is in the images
    check "$flavour: the guest's writes reached the image" \
        "$QEMU_IO" -f qcow2 -r -c "read -P 0x77 5M 64k" -c "read -P 0x78 6M 64k" "$D/snap1.qcow2"
    virsh undefine "$DOM" >/dev/null
    e2e_daemons_down
}

run native
run preload
trap - EXIT
rm -rf "$D"
e2e_summary
