#!/bin/bash
# virtqemud restarted under running guests whose files libvirt opens: QEMU
# must reconnect to the restarted daemon, which serves it with the
# whitelist rebuilt from the status XML, so that block operations keep
# working; anything else connecting to the guest's hook socket is refused.
# Both QEMU flavours (native -open-hook-fd, Debian's QEMU with the preload
# library), and a restart in the middle of a slow block copy and of a
# slow active commit.
#
# usage: tests/e2e/openhook-restart.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-restart
D=$E2E_DIR/$DOM
LOG=$E2E_LOGS/virtqemud.log

trap e2e_daemons_down EXIT

chain() { e2e_chain "$DOM" sda | xargs -rn1 basename | tr '\n' ' ' | sed 's/ $//'; }

# refused NAME: QEMU may not open NAME
refused() {
    local out
    out=$(virsh qemu-monitor-command "$DOM" \
        "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"probe$RANDOM\",\"filename\":\"$D/$1\",\"read-only\":true}}" 2>&1) || true
    check "$2: $1 is refused by the restarted daemon" grep -q "Permission denied" <<<"$out"
}

# A foreign process connecting to the guest's hook socket is turned away:
# it gets EOF in answer to HELLO instead of a HELLO reply.
foreign_hello() {
    /usr/bin/python3 - "$1" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.settimeout(10)
# the daemon may close the connection before HELLO is even sent
try:
    s.send(struct.pack("=IIII", 16, 3, 1, 0))
    reply = s.recv(64)
except (BrokenPipeError, ConnectionResetError):
    reply = b""
sys.exit(0 if reply == b"" else 1)
PY
}

# start_guest FLAVOUR QEMU.CONF EMULATOR
start_guest() {
    rm -rf "$D"
    e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
    "$QEMU_IMG" create -q -f qcow2 "$D/outside.qcow2" 16M
    # data for slow jobs to copy
    [ -z "${TOP_DATA:-}" ] ||
        "$QEMU_IO" -f qcow2 -c "write -P 0x5a 0 $TOP_DATA" "$D/top.qcow2" >/dev/null
    rm -f "$E2E_LOGS"/virtqemud*.log
    E2E_QEMU_CONF=$2 e2e_daemons_up
    e2e_domain_xml "$DOM" "$D/top.qcow2" | sed "s|$E2E_EMULATOR|$3|" |
        e2e_with_chain "$D/top.qcow2" qcow2 "$D/mid.qcow2" "$D/base.qcow2" > "$D/$DOM.xml"
    check "$1: define" virsh define "$D/$DOM.xml"
    check "$1: start" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    sock=$(sed -n "s|.*<openHook mode='enforce' path='\([^']*\)'.*|\1|p" "/run/libvirt/qemu/$DOM.xml")
    check "$1: the status XML records the hook's socket" test -n "$sock"
    check "$1: QEMU may connect to the socket (owned by its user)" \
        test "$(stat -c %U "$sock")" = libvirt-qemu
}

# restart FLAVOUR: restart the daemon; the guest must be served again
restart() {
    local before
    before=$(grep -c "decision=deny" "$LOG" || true)
    e2e_daemon_restart
    check_eq "$1: still running after the restart" running "$(virsh domstate "$DOM")"
    check_eq "$1: same QEMU process" "$pid" "$(e2e_qemu_pid "$DOM")"
    check "$1: whitelist rebuilt from the status XML" e2e_whitelist_matches_chains "$DOM"
    refused outside.qcow2 "$1"
    check "$1: the new daemon logged the denial" \
        test "$(grep -c "decision=deny" "$LOG" || true)" -gt "$before"
}

blockpull_works() {
    local out
    out=$(virsh_verbose blockpull "$DOM" sda --base "$D/base.qcow2" --wait --verbose 2>&1) || true
    check "$1: blockpull after the restart completes" grep -q "Pull complete" <<<"$out"
    check_eq "$1: chain after blockpull" "top.qcow2 base.qcow2" "$(chain)"
    check "$1: whitelist follows the blockpull" e2e_whitelist_matches_chains "$DOM"
}

snapshot_works() {
    local before
    before=$(chain)
    check "$1: disk-only snapshot after the restart" \
        virsh snapshot-create-as "$DOM" s1 --disk-only --no-metadata \
        --diskspec "sda,file=$D/snap.qcow2"
    check_eq "$1: chain after the snapshot" "snap.qcow2 $before" "$(chain)"
    check "$1: whitelist follows the snapshot" e2e_whitelist_matches_chains "$DOM"
}

# --- native -open-hook-fd ----------------------------------------------------
start_guest native 'open_hook = "enforce"' "$E2E_EMULATOR"
restart native
blockpull_works native
snapshot_works native
check "native: a foreign process is refused on the hook socket" foreign_hello "$sock"
check "native: the refusal is logged" \
    grep -q "refused a connection from pid [0-9]*, expected pid $pid" "$LOG"
check_eq "native: the guest is still served after the foreign attempt" running "$(virsh domstate "$DOM")"
refused outside.qcow2 "native (after the foreign attempt)"
check "native: a second restart" e2e_daemon_restart
check "native: whitelist after a second restart" e2e_whitelist_matches_chains "$DOM"
check "native: destroy" virsh destroy "$DOM"
check "native: the socket went with the guest" test ! -e "$sock"
e2e_daemons_down

# --- restart in the middle of slow block jobs --------------------------------
# job_ready: wait until the job on sda has copied everything (virsh
# prints "[100.00 %]")
job_ready() {
    for _ in $(seq 300); do
        virsh blockjob "$DOM" sda --info 2>&1 | grep -q "\[100\.00 %\]" && return 0
        sleep 0.2
    done
    return 1
}

TOP_DATA=32M # finish_job WHAT: let the job on sda run at full speed, then pivot
finish_job() {
    check "$1 runs at full speed again" virsh blockjob "$DOM" sda --bandwidth 0
    check "$1 becomes ready" job_ready
    check "$1: pivot" virsh blockjob "$DOM" sda --pivot
}

start_guest midjob 'open_hook = "enforce"' "$E2E_EMULATOR"
"$QEMU_IMG" create -q -f qcow2 -b "$D/mid.qcow2" -F qcow2 "$D/copy.qcow2"
echo "<disk type='file'><driver type='qcow2'/><source file='$D/copy.qcow2'/>$(e2e_backing_chain qcow2 "$D/mid.qcow2" "$D/base.qcow2")</disk>" > "$D/copy.xml"
check "midjob: blockcopy at 1 MiB/s starts" \
    virsh blockcopy "$DOM" sda --xml "$D/copy.xml" --shallow --reuse-external --transient-job --bandwidth 1
check "midjob: the copy target is allowed" \
    grep -q "<entry path='$D/copy.qcow2' access='rw'" <(virsh dumpxml "$DOM")
e2e_daemon_restart
check_eq "midjob: running after a restart during the copy" running "$(virsh domstate "$DOM")"
check "midjob: the copy job survived the restart" \
    grep -q "Block Copy" <(virsh blockjob "$DOM" sda --info 2>&1)
check "midjob: whitelist rebuilt with the copy's chain" e2e_whitelist_matches_chains "$DOM"
finish_job "midjob: the copy"
check_eq "midjob: chain after the pivot" "copy.qcow2 mid.qcow2 base.qcow2" "$(chain)"
check "midjob: whitelist after the pivot" e2e_whitelist_matches_chains "$DOM"
refused top.qcow2 midjob

# the copy holds top's 32 MiB: committing them takes a while again
check "midjob: active blockcommit at 1 MiB/s starts" \
    virsh blockcommit "$DOM" sda --active --bandwidth 1
check "midjob: the commit base is writable for the job" \
    grep -q "<entry path='$D/base.qcow2' access='rw'" <(virsh dumpxml "$DOM")
e2e_daemon_restart
check_eq "midjob: running after a restart during the commit" running "$(virsh domstate "$DOM")"
check "midjob: the commit base is still writable after the restart" \
    grep -q "<entry path='$D/base.qcow2' access='rw'" <(virsh dumpxml "$DOM")
finish_job "midjob: the commit"
check_eq "midjob: chain after the commit" "base.qcow2" "$(chain)"
check "midjob: whitelist after the commit" e2e_whitelist_matches_chains "$DOM"
refused copy.qcow2 midjob
snapshot_works midjob
check "midjob: destroy" virsh destroy "$DOM"
e2e_daemons_down

# --- Debian's QEMU with the preload library ----------------------------------
E2E_FLAVOUR=preload
E2E_QEMU_CONF='open_hook = "enforce"'
e2e_flavour
start_guest preload "$E2E_QEMU_CONF" "$E2E_GUEST_EMULATOR"
restart preload
blockpull_works preload
snapshot_works preload
check "preload: destroy" virsh destroy "$DOM"
e2e_daemons_down

trap - EXIT
rm -rf "$D"
e2e_summary
