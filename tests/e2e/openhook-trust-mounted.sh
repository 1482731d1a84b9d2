#!/bin/bash
# A file system that QEMU's user mounts over a listed file after the
# domain started.  Needs `namespaces = []` in qemu.conf (QEMU shares the
# daemon's mount namespace), `user_allow_other` in /etc/fuse.conf (so
# that root can enter a FUSE mount of another user) and a directory that
# QEMU's user owns on the listed path; the scenario sets all three up.
#
# The entry was listed on the local file system, so nothing said its
# open could hang.  QEMU's user empties the directory and mounts
# tests/fuse/sleepfs.py on it: an open of hang.img never returns, and
# root's close of flush.img (its FUSE flush) never returns.  Without a
# mount namespace of its own every open of the guest is made by a worker
# thread with a deadline: the open of hang.img is answered "Connection
# timed out" after open_hook_open_timeout, flush.img (not the listed
# file: another identity) is refused at once and closed by the worker,
# and the hook goes on serving the guest's other files.
#
# On the code before (patch 45: root's open on the hook's own thread
# for files listed on a local file system), the blockdev-add of hang.img
# is not answered and the guest's later opens wait behind it.
#
# usage: tests/e2e/openhook-trust-mounted.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-mounted
D=$E2E_DIR/$DOM
L=$D/later
TIMEOUT=3
SLEEPFS=$E2E_LIB_DIR/../fuse/sleepfs.py
QUSER=libvirt-qemu
fusepid=
fuseconf=

as_qemu() { setpriv --reuid "$QUSER" --regid "$QUSER" --clear-groups "$@"; }

trap 'exit 1' TERM INT
cleanup() {
    touch "$D/release" 2>/dev/null || true
    e2e_daemons_down
    e2e_umount_under "$L"
    [ -z "$fusepid" ] || kill "$fusepid" 2>/dev/null || true
    if [ -n "$fuseconf" ]; then
        cp "$fuseconf" /etc/fuse.conf
        rm -f "$fuseconf"
    fi
}
trap cleanup EXIT

blockdev_add() {
    echo "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"$1\",\"filename\":\"$2\",\"read-only\":true}}"
}

if ! [ -e /dev/fuse ] || ! /usr/bin/python3 -c 'import fusepy' 2>/dev/null ||
   ! command -v fusermount >/dev/null || ! id "$QUSER" >/dev/null 2>&1; then
    echo "# SKIP: no /dev/fuse, python3-fusepy, fusermount or $QUSER"
    e2e_summary
    exit 0
fi

e2e_umount_under "$D"
rm -rf "$D"
mkdir -p "$L" "$E2E_LOGS"
chmod 0755 "$D"
e2e_mkchain "$D" qcow2 disk.qcow2
"$QEMU_IMG" create -q -f raw "$L/hang.img" 1M
"$QEMU_IMG" create -q -f raw "$L/flush.img" 1M
"$QEMU_IMG" create -q -f raw "$D/other.img" 1M
chown "$QUSER:" "$L"
rm -f "$E2E_LOGS"/virtqemud*.log

E2E_QEMU_CONF="open_hook = \"enforce\"
open_hook_open_timeout = $TIMEOUT
namespaces = [ ]"
e2e_daemons_up
vpid=$(cat /run/virtqemud.pid)

e2e_domain_xml "$DOM" "$D/disk.qcow2" |
    sed "s|</devices>|</devices>\n  <openhook mode='enforce'>\n    <file path='$L/hang.img'/>\n    <file path='$L/flush.img'/>\n    <file path='$D/other.img'/>\n  </openhook>|" \
    > "$D/$DOM.xml"
check "define $DOM" virsh define "$D/$DOM.xml"
check "start $DOM" virsh start "$DOM"
qpid=$(e2e_qemu_pid "$DOM")
check "QEMU shares the daemon's mount namespace" \
    test "$(readlink /proc/"$qpid"/ns/mnt)" = "$(readlink /proc/self/ns/mnt)"

# QEMU's user mounts a file system over the listed files
fuseconf=$(mktemp)
cp /etc/fuse.conf "$fuseconf"
echo user_allow_other >> /etc/fuse.conf
check "QEMU's user empties the directory it owns" \
    as_qemu rm -f "$L/hang.img" "$L/flush.img"
as_qemu /usr/bin/python3 "$SLEEPFS" "$L" --allow-other \
    --trigger "$D/hang-on" --release "$D/release" >"$E2E_LOGS/sleepfs.log" 2>&1 &
fusepid=$!
for _ in $(seq 100); do mountpoint -q "$L" && break; sleep 0.1; done
check "... and mounts sleepfs on it" mountpoint -q "$L"
touch "$D/hang-on"

e2e_ms virsh_within 30 qemu-monitor-command "$DOM" "$(blockdev_add flush "$L/flush.img")"
check "flush.img (not the listed file) is refused at once (${t} ms)" \
    test "$t" -lt 2000
printf '%s\n' "$out" > "$D/blockdev-add-flush.out"
check "... blockdev-add fails with 'Permission denied'" \
    grep -q "Permission denied" "$D/blockdev-add-flush.out"
check "... as another identity" \
    grep -q "decision=deny reason=identity.*path=\"$L/flush.img\"" "$E2E_LOGS/virtqemud.log"
check "... its close left to a worker" test "$(e2e_open_workers "$vpid")" -ge 1

start=$(date +%s%N)
virsh_within 60 qemu-monitor-command "$DOM" "$(blockdev_add hang "$L/hang.img")" \
    > "$D/blockdev-add.out" 2>&1 &
addpid=$!
sleep 0.5
e2e_ms virsh_within 10 list
check "while the open hangs, virsh list answers within a second (${t} ms)" \
    test "$t" -lt 1000 -a "$rc" = 0
wait "$addpid" || true
took=$((($(date +%s%N) - start) / 1000000))
check "QEMU's open of hang.img is answered at the deadline (${took} ms, deadline ${TIMEOUT} s)" \
    test "$took" -lt $(((TIMEOUT + 2) * 1000))
check "... with an error: blockdev-add fails with 'Connection timed out'" \
    grep -q "Connection timed out" "$D/blockdev-add.out"
check "... logged as a denial with reason=timeout" \
    grep -q "decision=deny reason=timeout.*path=\"$L/hang.img\"" "$E2E_LOGS/virtqemud.log"

e2e_ms virsh_within 30 qemu-monitor-command "$DOM" "$(blockdev_add other "$D/other.img")"
check "the guest's other files are served (${t} ms)" test "$t" -lt 2000 -a "$rc" = 0
e2e_ms virsh_within 10 domblkinfo "$DOM" sda
check "$DOM's domblkinfo answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0

e2e_ms virsh_within 60 destroy "$DOM"
check "virsh destroy completes within 10 s (${t} ms)" test "$t" -lt 10000 -a "$rc" = 0
check_eq "$DOM is shut off" "shut off" "$(virsh_within 10 domstate "$DOM")"
check "QEMU is gone" e2e_wait_gone "$qpid"

# The file system answers: the workers go, and close what they got
touch "$D/release"
for _ in $(seq 50); do [ "$(e2e_open_workers "$vpid")" = 0 ] && break; sleep 0.1; done
check "once the file system answers, the workers are gone" test "$(e2e_open_workers "$vpid")" = 0
check "... and the daemon holds no fd of the FUSE file system" \
    eval '! ls -l /proc/'"$vpid"'/fd | grep -qF "$L/"'
check "undefine" virsh undefine "$DOM"

e2e_daemons_down
as_qemu fusermount -u "$L" 2>/dev/null || umount -l "$L" || true
wait "$fusepid" 2>/dev/null || true
fusepid=
cp "$fuseconf" /etc/fuse.conf
rm -f "$fuseconf"
fuseconf=
trap - EXIT
rm -rf "$D"
e2e_summary
