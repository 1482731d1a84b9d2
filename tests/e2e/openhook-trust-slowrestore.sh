#!/bin/bash
# A lock held by a process of QEMU's uid cannot stall the daemon's labelling.
#
# With remember_owner (the default), libvirt takes the metadata lock of an
# image (a POSIX lock of byte 1) to give its label back, and retries for
# 10 s while another process holds it, with the security manager locked:
# every other domain's start waits meanwhile.  Any process that can open
# the image can take that lock; QEMU can open the images it was given.
# Here a process of QEMU's uid holds a read lock of byte 1 of a detached
# image: the hook's deferred restore must not wait for it (the label stays
# held back), another guest starts (and stops) at once, also after a daemon
# restart, and once the lock goes the label is given back, with libvirt's
# remembered owner cleared.
#
# DAC in permissive mode, where libvirt still chowns images to QEMU's user.
#
# usage: tests/e2e/openhook-trust-slowrestore.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOMA=openhook-tslow-a
DOMB=openhook-tslow-b
D=$E2E_DIR/openhook-tslow
E2E_QEMU_CONF='open_hook = "permissive"
remember_owner = 1'
LOCKER=

cleanup() {
    if [ -n "$LOCKER" ]; then
        kill "$LOCKER" 2>/dev/null || true
    fi
    # destroys and undefines the guests
    e2e_daemons_down
}
trap cleanup EXIT

owner() { stat -c %U "$D/$1"; }

# remembered NAME: libvirt's remembered DAC owner of NAME (empty: none)
remembered() { getfattr --absolute-names -n trusted.libvirt.security.dac "$D/$1" 2>/dev/null | sed -n 's/^trusted.libvirt.security.dac=//p'; }

rm -rf "$D"
mkdir -p "$D"
e2e_mkchain "$D" qcow2 a.qcow2
e2e_mkchain "$D" qcow2 b.qcow2
"$QEMU_IMG" create -q -f raw "$D/w.img" 16M
chown root:root "$D"/*
chmod 0644 "$D"/*
rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up

disk="<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$D/w.img'/><target dev='sdb' bus='scsi'/></disk>"
e2e_domain_xml "$DOMA" "$D/a.qcow2" "$disk" > "$D/$DOMA.xml"
e2e_domain_xml "$DOMB" "$D/b.qcow2" > "$D/$DOMB.xml"
check "$DOMA: define" virsh define "$D/$DOMA.xml"
check "$DOMB: define" virsh define "$D/$DOMB.xml"
check "$DOMA: start" virsh start "$DOMA"
check_eq "w.img is the QEMU user's" libvirt-qemu "$(owner w.img)"
if [ -n "$(remembered w.img)" ]; then
    ok "libvirt remembers w.img's owner (remember_owner)"
else
    not_ok "libvirt remembers w.img's owner (remember_owner)"
fi

# a process of QEMU's uid takes a read lock of byte 1 of w.img
setpriv --reuid=libvirt-qemu --regid=libvirt-qemu --clear-groups \
    /usr/bin/python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "rb")
fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 1)
print("locked", flush=True)
time.sleep(600)
' "$D/w.img" > "$D/locker.out" 2>&1 &
LOCKER=$!
for _ in $(seq 50); do
    grep -q locked "$D/locker.out" && break
    sleep 0.1
done
check "a process of QEMU's uid locks byte 1 of w.img" grep -q locked "$D/locker.out"

# the detach, and another guest's start meanwhile
start=$(date +%s%N)
virsh_within 60 detach-disk "$DOMA" sdb --live > "$D/detach.out" 2>&1 &
DETACH=$!
sleep 0.5
e2e_ms virsh_within 60 start "$DOMB"
check_eq "$DOMB: start (rc)" 0 "$rc"
echo "# start of $DOMB during the detach took $t ms"
check "$DOMB's start did not wait for the lock (under 5 s: $t ms)" test "$t" -lt 5000
rc=0
wait "$DETACH" || rc=$?
t=$((($(date +%s%N) - start) / 1000000))
check_eq "detach w.img from $DOMA (rc)" 0 "$rc"
echo "# the detach took $t ms"
check "the detach did not wait for the lock (under 5 s: $t ms)" test "$t" -lt 5000
sleep 1
check_eq "w.img keeps its owner while the lock is held" libvirt-qemu "$(owner w.img)"
check "the postponed restore is logged" \
    grep -q "another process holds the metadata lock of '$D/w.img'" "$E2E_LOGS/virtqemud.log"

# the label held back survives a daemon restart, and is still postponed
e2e_daemon_restart
check_eq "$DOMA: running after a daemon restart" running "$(virsh domstate "$DOMA")"
e2e_ms virsh_within 60 destroy "$DOMB"
check_eq "destroy $DOMB (rc)" 0 "$rc"
check "$DOMB's stop did not wait for the lock (under 5 s: $t ms)" test "$t" -lt 5000
check_eq "w.img keeps its owner while the lock is held" libvirt-qemu "$(owner w.img)"

kill "$LOCKER"
wait "$LOCKER" 2>/dev/null || true
LOCKER=
check "w.img is given back once the lock is gone" e2e_owner_within "$D/w.img" root 20
check_eq "libvirt's remembered owner of w.img is cleared" "" "$(remembered w.img)"
check_eq "$DOMA: still running" running "$(virsh domstate "$DOMA")"

check "destroy $DOMA" virsh destroy "$DOMA"
check_eq "the guests' disks are given back" "root root" "$(owner a.qcow2) $(owner b.qcow2)"

trap - EXIT
cleanup
rm -rf "$D"
e2e_summary
