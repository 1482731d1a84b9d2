#!/bin/bash
# A whitelisted file whose open() never returns (a FUSE file system that
# sleeps in open, as a hung NFS hard mount or FUSE daemon would): the
# broker opens it in a worker thread, never on the domain's event
# thread, and answers QEMU -ETIMEDOUT after open_hook_open_timeout.
# While the open hangs, other guests and `virsh list` answer; after the
# deadline the guest's own monitor answers; `virsh destroy` works and
# leaves the guest shut off while the open still hangs; once the open
# returns, the abandoned worker goes away with its fd.
#
# With the open on the event thread (the code before the worker), the
# guest's domblkinfo and query-block failed after 30 s ("cannot acquire
# state change lock") and `virsh destroy` failed after 42 s, leaving
# the domain "running" without QEMU until the FUSE connection was
# aborted.
#
# Part 2: the hook's own thread stuck in the file system for good (here
# in the close of its copy of a granted fd, whose FUSE flush never
# returns; a file system mounted over a listed file since would do the
# same to an open): the domain still stops within 10 s, QEMU included
# (it waits for an answer that cannot come), the daemon and the other
# guests never wait, and the thread left behind is joined once the file
# system answers.  With the thread joined without a deadline (patch 42),
# `virsh destroy` did not return within 60 s and `virsh list` hung
# behind the stopping domain's lock.
#
# usage: tests/e2e/openhook-trust-hang.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-hang
DOM2=openhook-hang-other
DOM3=openhook-hang-close
D=$E2E_DIR/$DOM
MNT=$D/fuse
TIMEOUT=3
SLEEPFS=$E2E_LIB_DIR/../fuse/sleepfs.py
fusepid=

trap 'exit 1' TERM INT
cleanup() {
    touch "$D/release" 2>/dev/null || true
    e2e_daemons_down
    e2e_umount_under "$MNT"
    [ -z "$fusepid" ] || kill "$fusepid" 2>/dev/null || true
}
trap cleanup EXIT

# the daemon's open hook threads ("vm-openhook-NAME", cut to 15 bytes)
hookthreads() { grep -l '^vm-openhook-' /proc/"$1"/task/*/comm 2>/dev/null | wc -l; }

# how many of them are in close() (system call 3 on x86_64)
closing() {
    local f n=0
    for f in $(grep -l '^vm-openhook-' /proc/"$1"/task/*/comm 2>/dev/null); do
        [ "$(cut -d' ' -f1 "${f%comm}syscall" 2>/dev/null)" = 3 ] && n=$((n + 1))
    done
    echo "$n"
}

if ! [ -e /dev/fuse ] || ! /usr/bin/python3 -c 'import fusepy' 2>/dev/null; then
    echo "# SKIP: no /dev/fuse or python3-fusepy"
    e2e_summary
    exit 0
fi

e2e_umount_under "$D"
rm -rf "$D"
mkdir -p "$MNT" "$E2E_LOGS"
chmod 0755 "$D"
e2e_mkchain "$D" qcow2 disk.qcow2
e2e_mkchain "$D" qcow2 other.qcow2
/usr/bin/python3 "$SLEEPFS" "$MNT" --allow-other \
    --trigger "$D/hang-on" --release "$D/release" >"$E2E_LOGS/sleepfs.log" 2>&1 &
fusepid=$!
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
check "the sleeping FUSE file system is mounted" mountpoint -q "$MNT"
rm -f "$E2E_LOGS"/virtqemud*.log

E2E_QEMU_CONF="open_hook = \"enforce\"
open_hook_open_timeout = $TIMEOUT"
e2e_daemons_up
vpid=$(cat /run/virtqemud.pid)

e2e_domain_xml "$DOM" "$D/disk.qcow2" |
    sed "s|</devices>|</devices>\n  <openhook mode='enforce'>\n    <file path='$MNT/hang.img'/>\n  </openhook>|" \
    > "$D/$DOM.xml"
e2e_domain_xml "$DOM2" "$D/other.qcow2" > "$D/$DOM2.xml"
check "define $DOM" virsh define "$D/$DOM.xml"
check "define $DOM2" virsh define "$D/$DOM2.xml"
check "start $DOM (its whitelist has a file on the FUSE mount)" virsh start "$DOM"
check "start $DOM2" virsh start "$DOM2"
qpid=$(e2e_qemu_pid "$DOM")

# From now on, an open of hang.img never returns
touch "$D/hang-on"
start=$(date +%s%N)
virsh qemu-monitor-command "$DOM" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"hang\",\"filename\":\"$MNT/hang.img\",\"read-only\":true}}" \
    > "$D/blockdev-add.out" 2>&1 &
addpid=$!
sleep 0.5
check "the open hangs in a worker thread of the daemon" test "$(e2e_open_workers "$vpid")" -ge 1

e2e_ms virsh list
check "while it hangs, virsh list answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0
e2e_ms virsh domblkinfo "$DOM2" sda
check "while it hangs, $DOM2's domblkinfo answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0
e2e_ms virsh qemu-monitor-command "$DOM2" '{"execute":"query-block"}'
check "while it hangs, $DOM2's query-block answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0

wait "$addpid" || true
took=$((($(date +%s%N) - start) / 1000000))
check "QEMU's open is answered at the deadline (${took} ms, deadline ${TIMEOUT} s)" \
    test "$took" -lt $(((TIMEOUT + 2) * 1000))
check "... with an error: blockdev-add fails with 'Connection timed out'" \
    grep -q "Connection timed out" "$D/blockdev-add.out"
check "... logged as a denial with reason=timeout" \
    grep -q "decision=deny reason=timeout.*path=\"$MNT/hang.img\"" "$E2E_LOGS/virtqemud.log"

e2e_ms virsh domblkinfo "$DOM" sda
check "after the deadline, $DOM's domblkinfo answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0
e2e_ms virsh qemu-monitor-command "$DOM" '{"execute":"query-block"}'
check "after the deadline, $DOM's query-block answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0
check "$DOM is still running" test "$(virsh domstate "$DOM")" = running

e2e_ms virsh destroy "$DOM"
check "virsh destroy completes within 10 s (${t} ms)" test "$t" -lt 10000 -a "$rc" = 0
check_eq "$DOM is shut off" "shut off" "$(virsh domstate "$DOM")"
check "QEMU is gone" e2e_wait_gone "$qpid"
check "... while the open still hangs" test "$(e2e_open_workers "$vpid")" -ge 1 -a ! -e "$D/release"

# The open returns at last: the worker goes, and closes what it got
touch "$D/release"
for _ in $(seq 50); do [ "$(e2e_open_workers "$vpid")" = 0 ] && break; sleep 0.1; done
check "once the open returns, the worker thread is gone" test "$(e2e_open_workers "$vpid")" = 0
check "... and the daemon holds no fd of the FUSE file system" \
    eval '! ls -l /proc/'"$vpid"'/fd | grep -qF "$MNT/"'
check "the daemon still answers" virsh list --all
check "$DOM2's domblkinfo still answers" virsh domblkinfo "$DOM2" sda
rm -f "$D/hang-on"
check "$DOM starts again" virsh start "$DOM"
check "destroy $DOM" virsh destroy "$DOM"

# Part 2: the hook's thread itself stuck in the file system
e2e_mkchain "$D" qcow2 close.qcow2
e2e_domain_xml "$DOM3" "$D/close.qcow2" |
    sed "s|</devices>|</devices>\n  <openhook mode='enforce'>\n    <file path='$MNT/flush.img'/>\n    <file path='$MNT/fast.img'/>\n  </openhook>|" \
    > "$D/$DOM3.xml"
check "define $DOM3" virsh define "$D/$DOM3.xml"
check "start $DOM3" virsh start "$DOM3"
qpid=$(e2e_qemu_pid "$DOM3")
threads=$(hookthreads "$vpid")
rm -f "$D/release"
touch "$D/hang-on"
# From now on root's close of flush.img never returns: the hook's
# thread closes its copy once QEMU got the fd
check "QEMU gets flush.img" virsh_within 30 qemu-monitor-command "$DOM3" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"flush\",\"filename\":\"$MNT/flush.img\",\"read-only\":true}}"
for _ in $(seq 50); do [ "$(closing "$vpid")" -ge 1 ] && break; sleep 0.1; done
check "the hook's thread is stuck in close()" test "$(closing "$vpid")" -ge 1
# QEMU's next open waits for an answer from that thread
virsh qemu-monitor-command "$DOM3" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"fast\",\"filename\":\"$MNT/fast.img\",\"read-only\":true}}" \
    > "$D/blockdev-add-fast.out" 2>&1 &
addpid=$!
sleep 1
check "QEMU's next open waits (blockdev-add has not returned)" kill -0 "$addpid"

e2e_ms virsh_within 10 list
check "meanwhile virsh list answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0
e2e_ms virsh_within 10 domblkinfo "$DOM2" sda
check "meanwhile $DOM2's domblkinfo answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0

e2e_ms virsh_within 60 destroy "$DOM3"
check "virsh destroy of $DOM3 completes within 10 s (${t} ms)" test "$t" -lt 10000 -a "$rc" = 0
check_eq "$DOM3 is shut off" "shut off" "$(virsh_within 10 domstate "$DOM3")"
check "QEMU is gone" e2e_wait_gone "$qpid"
wait "$addpid" || true
e2e_ms virsh_within 10 list
check "virsh list answers within a second (${t} ms)" test "$t" -lt 1000 -a "$rc" = 0
check "... while the thread is still stuck" test "$(closing "$vpid")" -ge 1 -a ! -e "$D/release"
check "the daemon says it stopped without it" \
    grep -q "open hook of domain '$DOM3': its thread did not stop within" "$E2E_LOGS/virtqemud.log"

# The file system answers: the thread left behind comes back and goes
touch "$D/release"
for _ in $(seq 50); do [ "$(hookthreads "$vpid")" -lt "$threads" ] && break; sleep 0.1; done
check "once the close returns, the thread is joined" test "$(hookthreads "$vpid")" -lt "$threads"
check "... and logged" grep -q "the open hook thread of stopped domain '$DOM3' came back" "$E2E_LOGS/virtqemud-debug.log"
check "... and the daemon holds no fd of the FUSE file system" \
    eval '! ls -l /proc/'"$vpid"'/fd | grep -qF "$MNT/"'
rm -f "$D/hang-on"
check "$DOM3 starts again" virsh_within 60 start "$DOM3"
check "QEMU gets flush.img now" virsh_within 30 qemu-monitor-command "$DOM3" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"flush\",\"filename\":\"$MNT/flush.img\",\"read-only\":true}}"
check "destroy $DOM3" virsh_within 30 destroy "$DOM3"
check "undefine $DOM3" virsh undefine "$DOM3"

check "destroy $DOM2" virsh destroy "$DOM2"
check "undefine" virsh undefine "$DOM"
check "undefine $DOM2" virsh undefine "$DOM2"

e2e_daemons_down
umount "$MNT" 2>/dev/null || umount -l "$MNT" || true
wait "$fusepid" 2>/dev/null || true
fusepid=
trap - EXIT
rm -rf "$D"
e2e_summary
