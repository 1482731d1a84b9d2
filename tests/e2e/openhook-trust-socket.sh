#!/bin/bash
# The open hook's socket lives in the domain's private directory, which
# QEMU's user owns: a process running as that user can rename anything
# over the socket's name at any moment.  Here one keeps renaming a
# symlink to a root-only file over it while virtqemud restarts several
# times (each restart binds the socket again and labels it): the file
# must keep its owner, mode, content and extended attributes, and the
# daemon must come back each time.  Once the loop stops and the daemon
# restarts again, QEMU must reconnect and open files through the hook.
#
# Then another process of QEMU's uid (what another guest's QEMU can do)
# connects to the socket of the guest while it starts, as fast as it can,
# holding its connections: each start must keep only the daemon's own
# connection for QEMU's channel, not wait for the queue the others fill,
# and refuse them by pid.
#
# usage: tests/e2e/openhook-trust-socket.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-trust-socket
D=$E2E_DIR/$DOM
VDIR=$E2E_DIR/trust-socket-victim
VICTIM=$VDIR/victim
RESTARTS=${RESTARTS:-5}
FLOODS=${FLOODS:-5}
FLOOD=$E2E_BIN/connect-flood
racer=

cleanup() {
    [ -z "$racer" ] || kill "$racer" 2>/dev/null || true
    e2e_daemons_down
}
trap cleanup EXIT

# what must not change about the victim
victim_state() {
    stat -c '%u:%g %a' "$VICTIM"
    sha256sum < "$VICTIM"
    getfattr -h -d -m - "$VICTIM" 2>/dev/null | grep -v '^#' || true
}

# opens NAME: QEMU opens NAME read-only through the hook (then closes it)
opens() { e2e_qmp_opens "$DOM" "$D/$1"; }
refused() { e2e_qmp_refused "$DOM" "$D/$1"; }

rm -rf "$D" "$VDIR"
e2e_mkchain "$D" qcow2 base.qcow2 top.qcow2
"$QEMU_IMG" create -q -f qcow2 "$D/outside.qcow2" 16M
chmod 0755 "$D"
# the victim: root's, 0600, in a directory only root can enter
mkdir -m 0700 "$VDIR"
printf 'root only\n' > "$VICTIM"
chmod 0600 "$VICTIM"
before=$(victim_state)

rm -f "$E2E_LOGS"/virtqemud*.log
E2E_QEMU_CONF='open_hook = "enforce"' e2e_daemons_up
e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
check "define" virsh define "$D/$DOM.xml"
check "start" virsh start "$DOM"
pid=$(e2e_qemu_pid "$DOM")
sock=$(sed -n "s|.*<openHook mode='enforce' path='\([^']*\)'.*|\1|p" "/run/libvirt/qemu/$DOM.xml")
check "the status XML records the hook's socket" test -n "$sock"
check "the socket belongs to QEMU's user" test "$(stat -c %U "$sock")" = libvirt-qemu
check "QEMU opens a listed file through the hook" opens base.qcow2

# As QEMU's user: a symlink to the victim, renamed over the socket's name
# again and again.
libdir=$(dirname "$sock")
setpriv --reuid=libvirt-qemu --regid=libvirt-qemu --init-groups \
    /bin/bash -c 'while :; do ln -sfn "$1" "$2.tmp" && mv -fT "$2.tmp" "$2"; done' \
    racer "$VICTIM" "$sock" 2>/dev/null &
racer=$!
sleep 0.5
check "QEMU's user can replace the socket with a symlink" \
    bash -c "for _ in \$(seq 100); do [ -L '$sock' ] && exit 0; sleep 0.01; done; exit 1"

for i in $(seq "$RESTARTS"); do
    check "restart $i under the renaming loop: the daemon comes back" e2e_daemon_restart
    check_eq "restart $i: the victim is untouched" "$before" "$(victim_state)"
    check_eq "restart $i: the guest still runs" running "$(virsh domstate "$DOM")"
done

kill "$racer"
wait "$racer" 2>/dev/null || true
racer=
check_eq "the victim is still root's 0600 file, unchanged" "$before" "$(victim_state)"

# The loop left a symlink where the socket was: a restart listens again.
check "a restart after the loop stopped" e2e_daemon_restart
check_eq "same QEMU process" "$pid" "$(e2e_qemu_pid "$DOM")"
check "the socket is a socket of QEMU's user again" \
    test -S "$sock" -a "$(stat -c %U "$sock")" = libvirt-qemu
check "QEMU reconnects and opens a listed file through the hook" opens base.qcow2
check "a file outside the whitelist is still refused" refused outside.qcow2
check_eq "the victim is unchanged at the end" "$before" "$(victim_state)"
check "destroy" virsh destroy "$DOM"

# The next start's socket: libvirt numbers domains in start order.
id=$(sed -n 's|.*/domain-\([0-9]*\)-[^/]*/[^/]*$|\1|p' <<<"$sock")
check "the socket's directory carries the domain id" test -n "$id"
mkdir -p "$E2E_BIN"
cc -O2 -Wall -o "$FLOOD" "$E2E_LIB_DIR/connect-flood.c"
vpid=$(cat /run/virtqemud.pid)
for i in $(seq "$FLOODS"); do
    id=$((id + 1))
    next=$(sed "s|/domain-[0-9]*-|/domain-$id-|" <<<"$sock")
    setpriv --reuid=libvirt-qemu --regid=libvirt-qemu --init-groups \
        "$FLOOD" "$next" 64 > "$E2E_DIR/flood.out" &
    racer=$!
    sleep 0.2
    check "start $i while QEMU's user floods its socket" virsh_within 60 start "$DOM"
    check_eq "start $i: the socket is where the flood connects" "$next" \
        "$(sed -n "s|.*<openHook mode='enforce' path='\([^']*\)'.*|\1|p" "/run/libvirt/qemu/$DOM.xml")"
    check "start $i: QEMU opens a listed file through its channel" opens base.qcow2
    check "start $i: and is refused one outside the whitelist" refused outside.qcow2
    kill -TERM "$racer"
    wait "$racer" 2>/dev/null || true
    racer=
    check "start $i: the flood got connections in" test "$(cat "$E2E_DIR/flood.out")" -gt 0
    check "destroy $i" virsh_within 60 destroy "$DOM"
done
check "the flood's connections were refused by pid at start" \
    grep -q "refused a connection from pid [0-9]*, expected pid $vpid\$" "$E2E_LOGS/virtqemud.log"
check "and while the guest ran, as not its QEMU's" \
    bash -c "grep 'refused a connection from pid [0-9]*, expected pid [0-9]*\$' '$E2E_LOGS/virtqemud.log' | grep -qv 'expected pid $vpid\$'"
e2e_daemons_down

trap - EXIT
rm -rf "$D" "$VDIR"
e2e_summary
