#!/bin/bash
# The opener (issue 13, item 5): the helper that opens files as the QEMU
# user on storage that refuses root is a program of its own
# (libvirt_openhook_opener), exec'd with QEMU's credentials, started on
# first need, and QEMU's user stopping it costs no more than the denial of
# what waited on it.
#
# With open_hook = "enforce": a guest on local storage runs without any
# opener.  Attaching an image on a bindfs mount that refuses root (mounted
# by the QEMU user, --no-allow-other) starts one: it is the helper program,
# with QEMU's uid, gid and groups, no capabilities, no_new_privs.  Then
# the QEMU user stops it (SIGSTOP) and another image of the mount is
# attached: meanwhile "virsh list" answers within a second (no lock that
# it needs is held while the opener is waited for), the attach fails
# within the deadline (5 s, plus 2) with an error that says so, the
# stopped opener is killed, and the next attach succeeds through a new
# opener.  Fails on the opener forked at domain start (an opener exists
# with local storage; the attach waited 30 s holding the domain lock).
#
# usage: tests/e2e/openhook-trust-opener.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-trust-opener
T=$E2E_DIR/$DOM
D=$T/local              # root's local storage
STORE=$T/store          # what bindfs exports, the QEMU user's
MNT=$T/mnt              # the mount that refuses root
E2E_QEMU_CONF='open_hook = "enforce"'
QUSER=libvirt-qemu
HELPER=libvirt_openhook_opener
DEADLINE=5              # VIR_OPENHOOK_OPENER_TIMEOUT_MS

as_qemu() { runuser -u "$QUSER" -- "$@"; }

unmount() {
    if grep -qs " $MNT fuse" /proc/mounts; then
        as_qemu fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    fi
}

# the openers running now (pids): virtqemud's children of the QEMU user
# (QEMU itself is daemonized, so not one); whether each is the helper
# program is checked below
openers() {
    local daemon
    daemon=$(cat /run/virtqemud.pid 2>/dev/null) || return 0
    pgrep -u "$QUSER" -P "$daemon" || true
}

cleanup() {
    local p
    for p in $(openers); do kill -CONT "$p" 2>/dev/null || true; done
    virsh destroy "$DOM" >/dev/null 2>&1 || true
    virsh undefine "$DOM" >/dev/null 2>&1 || true
    e2e_daemons_down
    unmount
}

now_ms() { date +%s%3N; }

if [ ! -c /dev/fuse ] || ! command -v bindfs >/dev/null ||
    ! command -v fusermount3 >/dev/null; then
    echo "ok 1 - $E2E_SCENARIO: # SKIP FUSE is unavailable (/dev/fuse, bindfs, fusermount3)"
    exit 0
fi
if ! as_qemu test -r /dev/fuse -a -w /dev/fuse; then
    # Debian's udev makes it 0666; some containers do not
    echo "ok 1 - $E2E_SCENARIO: # SKIP $QUSER cannot use /dev/fuse (chmod 666 /dev/fuse)"
    exit 0
fi

unmount
rm -rf "$T"
mkdir -p "$T/bin" "$STORE" "$MNT"
chmod 0755 "$T" "$T/bin"
cp "$QEMU_IMG" "$T/bin/"
chown "$QUSER:$QUSER" "$STORE" "$MNT"
chmod 0700 "$STORE" "$MNT"
e2e_mkchain "$D" qcow2 base.qcow2
chmod 0755 "$D"
trap cleanup EXIT

check "bindfs --no-allow-other mounted by $QUSER" \
    as_qemu bindfs --no-allow-other "$STORE" "$MNT"
for name in d1.qcow2 d2.qcow2 d3.qcow2 d4.qcow2; do
    as_qemu "$T/bin/qemu-img" create -q -f qcow2 "$MNT/$name" 16M
done
check "the mount refuses root" bash -c "! head -c1 '$MNT/d1.qcow2' >/dev/null 2>&1"

rm -f "$E2E_LOGS"/virtqemud*.log
e2e_daemons_up
e2e_domain_xml "$DOM" "$D/base.qcow2" > "$T/$DOM.xml"
check "define" virsh define "$T/$DOM.xml"
check "start in enforce mode on local storage" virsh start "$DOM"
check_eq "running" running "$(virsh domstate "$DOM" 2>&1)"
check_eq "no opener while nothing needs one" "" "$(openers)"

# first need: an image on the mount
check "attach an image of the mount" \
    virsh attach-disk "$DOM" "$MNT/d1.qcow2" sdb --driver qemu --subdriver qcow2 \
    --targetbus scsi --live
first=$(openers)
check "one opener now" test "$(echo "$first" | wc -w)" -eq 1
first=$(echo "$first" | head -n1)
if [ -n "$first" ]; then
    check "the opener is the helper program, not a fork of the daemon" \
        bash -c "readlink /proc/$first/exe | grep -q '/$HELPER\$'"
    quid=$(id -u "$QUSER") qgid=$(id -g "$QUSER")
    check_eq "its uids are QEMU's (real, effective, saved, fs)" \
        "$quid $quid $quid $quid" "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$first/status")"
    check_eq "its gids are QEMU's" \
        "$qgid $qgid $qgid $qgid" "$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$first/status")"
    qemupid=$(e2e_qemu_pid "$DOM")
    check_eq "its groups are QEMU's" \
        "$(awk '/^Groups:/ {$1=""; print}' "/proc/$qemupid/status")" \
        "$(awk '/^Groups:/ {$1=""; print}' "/proc/$first/status")"
    check_eq "no capabilities" "0000000000000000 0000000000000000" \
        "$(awk '/^CapPrm:/ {p=$2} /^CapEff:/ {e=$2} END {print p, e}' "/proc/$first/status")"
    check_eq "no_new_privs" 1 "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$first/status")"
    check "its security label is QEMU's" \
        bash -c "[ \"\$(cat /proc/$first/attr/current 2>/dev/null)\" = \"\$(cat /proc/$qemupid/attr/current 2>/dev/null)\" ]"
    # its own (anonymous) memory, next to the daemon's: a fork would
    # share the daemon's heap copy-on-write, and show it as its own
    anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$first/status")
    danon=$(awk '/^RssAnon:/ {print $2}' "/proc/$(cat /run/virtqemud.pid)/status")
    check "it holds none of the daemon's memory (RssAnon ${anon} kB, the daemon's ${danon} kB)" \
        test "$anon" -lt 2048 -a "$anon" -lt $((danon / 4))
fi

# QEMU's user swaps an image of its mount for a symbolic link to a file
# only root may read; the daemon restarts and allows the guest's files
# again, the ones on the mount through the opener.  The opener follows
# the link, as QEMU would, but a name that root can reach must not come
# from it: the broker would open that file as root for QEMU.
SECRET=$T/root-secret
printf 'root only %s\n' "$RANDOM$RANDOM" > "$SECRET"
chmod 0600 "$SECRET"
check "attach an image to be swapped" \
    virsh attach-disk "$DOM" "$MNT/d4.qcow2" sde --driver qemu --subdriver qcow2 \
    --targetbus scsi --live
check "QEMU's user swaps it for a symlink to a root-only file" \
    as_qemu ln -sfn "$SECRET" "$MNT/d4.qcow2"
e2e_daemon_restart
check_eq "the guest runs on after the restart" running "$(virsh domstate "$DOM")"
first=$(openers | head -n1)
check "the new daemon started an opener for the guest's files on the mount" \
    test -n "$first"
check "the root-only file is not in the live whitelist" \
    bash -c "! '$VIRSH_BIN' -q -c qemu:///system dumpxml '$DOM' | grep -qF '$SECRET'"
out=$(virsh qemu-monitor-command "$DOM" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"s\",\"filename\":\"$SECRET\",\"read-only\":true}}" 2>&1) || true
check "QEMU is denied the root-only file" grep -q "Permission denied" <<<"$out"
check "QEMU does not hold it" \
    bash -c "! ls -l /proc/$(e2e_qemu_pid "$DOM")/fd | grep -qF '$SECRET'"
# QEMU's user stops it, then an attach needs it
check "the QEMU user can stop the opener" as_qemu kill -STOP "$first"
start=$(now_ms)
out_file=$T/attach2.out
( rc=0
  virsh attach-disk "$DOM" "$MNT/d2.qcow2" sdc --driver qemu --subdriver qcow2 \
      --targetbus scsi --live > "$out_file" 2>&1 || rc=$?
  echo "$rc" > "$T/attach2.rc" ) &
attach=$!
sleep 1
l0=$(now_ms)
lout=$(timeout 10 "$VIRSH_BIN" -q -c qemu:///system list 2>&1) || true
l1=$(now_ms)
check "virsh list answers within 1 s while the attach waits ($((l1 - l0)) ms)" \
    test $((l1 - l0)) -lt 1000
check "virsh list lists the guest meanwhile" grep -q "$DOM" <<<"$lout"
wait "$attach" || true
took=$(( $(now_ms) - start ))
check "the attach failed" test "$(cat "$T/attach2.rc")" -ne 0
check "within the deadline + 2 s (${took} ms)" test "$took" -lt $(( (DEADLINE + 2) * 1000 ))
check "with an error that names the opener and the timeout" \
    grep -q "opener.*did not answer.*$DEADLINE s" "$out_file"
check "the stopped opener was killed" \
    bash -c "! kill -0 $first 2>/dev/null || grep -q '^State:.*Z' /proc/$first/status"
check_eq "still running" running "$(virsh domstate "$DOM")"

check "the next attach succeeds" \
    virsh attach-disk "$DOM" "$MNT/d2.qcow2" sdc --driver qemu --subdriver qcow2 \
    --targetbus scsi --live
second=$(openers | head -n1)
check "through a new opener" test -n "$second" -a "$second" != "$first"
check "QEMU holds the new image" \
    bash -c "ls -l /proc/$(e2e_qemu_pid "$DOM")/fd | grep -q ' $MNT/d2.qcow2\$'"
check "the new image is in the live whitelist" \
    bash -c "'$VIRSH_BIN' -q -c qemu:///system dumpxml '$DOM' | grep -q \"<entry path='$MNT/d2.qcow2'\""

# the broker's side: QEMU's own request while the opener is stopped is
# denied at the deadline, the event thread goes on
check "the QEMU user stops the new opener" as_qemu kill -STOP "$second"
start=$(now_ms)
out=$(virsh qemu-monitor-command "$DOM" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"x\",\"filename\":\"$MNT/d2.qcow2\",\"read-only\":true}}" 2>&1) || true
took=$(( $(now_ms) - start ))
check "QEMU's open through a stopped opener is denied" grep -qi "denied\|error" <<<"$out"
check "within the deadline + 2 s (${took} ms)" test "$took" -lt $(( (DEADLINE + 2) * 1000 ))
check "that opener was killed" \
    bash -c "! kill -0 $second 2>/dev/null || grep -q '^State:.*Z' /proc/$second/status"
check "the next attach succeeds again" \
    virsh attach-disk "$DOM" "$MNT/d3.qcow2" sdd --driver qemu --subdriver qcow2 \
    --targetbus scsi --live
check_eq "still running" running "$(virsh domstate "$DOM")"

check_eq "still running at the end" running "$(virsh domstate "$DOM")"

check "destroy" virsh destroy "$DOM"
check_eq "no opener left" "" "$(openers)"
check "undefine" virsh undefine "$DOM"

trap - EXIT
e2e_daemons_down
unmount
rm -rf "$T"
e2e_summary
