#!/bin/bash
# A guest that took over its QEMU speaks to the open hook from QEMU's own
# process: tests/e2e/hostile-qemu.c, loaded into the guest's QEMU with
# LD_PRELOAD through <qemu:env>, so every connection comes from the pid,
# uid and label the daemon serves.  Through the real virtqemud:
#
#   - malformed messages of 16 kinds, fds sent to the broker: each
#     connection is dropped, every fd the daemon received is closed, the
#     daemon's fd table is back where it was;
#   - pipelining without reading the replies: the daemon holds at most
#     max_outstanding replies (and their fds), then stops reading; every
#     request is answered once QEMU reads again, in order, within max_fds;
#   - never reporting closes: grants stop at max_fds (-EMFILE), QEMU's
#     own included; CLOSEs of handles never given or closed already free
#     nothing; once QEMU reports its closes it is served again;
#   - reconnecting in a loop: the daemon's fds and memory stay put and the
#     reconnections are logged rate limited, not once each;
#
# and afterwards QEMU's own client reconnects and is served as before.
#
# usage: tests/e2e/openhook-trust-frames.sh      (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-trust-frames
D=$E2E_DIR/$DOM
H=$E2E_DIR/hostile
LIB=$E2E_BIN/hostile-qemu.so
PIPELINE=${PIPELINE:-2000}
RECONNECTS=${RECONNECTS:-3000}

trap e2e_daemons_down EXIT

# opens NAME: QEMU opens NAME read-only through the hook (then closes it)
opens() { e2e_qmp_opens "$DOM" "$D/$1"; }
refused() { e2e_qmp_refused "$DOM" "$D/$1"; }

# hostile_send CMD: have QEMU's process run CMD
hostile_send() {
    # a FIFO nobody reads would block the writer for ever
    timeout 10 bash -c 'echo "$1" > "$2"' hostile "$1" "$H/cmd"
}

# hostile_wait CMD [SECONDS]: wait for the end of CMD
hostile_wait() {
    local t=${2:-120}
    for _ in $(seq $((t * 10))); do
        grep -qxF "done $1" "$H/out" && return 0
        sleep 0.1
    done
    echo "no answer to '$1' within $t s" >&2
    return 1
}

hostile() { hostile_send "$1" && hostile_wait "$@"; }

# the lines CMD printed
said() { sed -n "/^cmd $1\$/,/^done $1\$/p" "$H/out"; }

# no malformed kind was left open or failed to go out
none_left_open() { ! said malformed | grep -E ' (open|error)( |$)'; }

daemon_fds() { ls "/proc/$(cat /run/virtqemud.pid)/fd" | wc -l; }
daemon_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(cat /run/virtqemud.pid)/status"; }

# settle_fds MAX: the daemon's fd table shrinks back to at most MAX entries
settle_fds() {
    for _ in $(seq 50); do
        [ "$(daemon_fds)" -le "$1" ] && return 0
        sleep 0.1
    done
    echo "virtqemud has $(daemon_fds) fds, at most $1 expected"
    return 1
}

rm -rf "$D" "$H"
e2e_mkchain "$D" qcow2 base.qcow2 top.qcow2
"$QEMU_IMG" create -q -f qcow2 "$D/outside.qcow2" 16M
chmod 0755 "$D"
mkdir -p "$E2E_BIN"
cc -O2 -Wall -Wextra -shared -fPIC -o "$LIB" "$E2E_LIB_DIR/hostile-qemu.c" -lpthread
chmod 0755 "$LIB"
# the attacker's own files: QEMU's user's, as its home would be
mkdir -m 0700 "$H"
mkfifo -m 0600 "$H/cmd"
: > "$H/out"
chown -R libvirt-qemu:libvirt-qemu "$H"

rm -f "$E2E_LOGS"/virtqemud*.log
E2E_QEMU_CONF='open_hook = "enforce"' e2e_daemons_up
e2e_domain_xml "$DOM" "$D/top.qcow2" |
    sed -e "s|<domain type='qemu'>|<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>|" \
        -e "s|</domain>|  <qemu:commandline>\n    <qemu:env name='LD_PRELOAD' value='$LIB'/>\n    <qemu:env name='OPENHOOK_HOSTILE_DIR' value='$H'/>\n  </qemu:commandline>\n</domain>|" \
    > "$D/$DOM.xml"
check "define (with the hostile code in QEMU's environment)" virsh define "$D/$DOM.xml"
check "start" virsh start "$DOM"
pid=$(e2e_qemu_pid "$DOM")
check "the hostile code runs in QEMU and found the hook's socket" \
    bash -c "for _ in \$(seq 100); do grep -q '^ready /' '$H/out' && exit 0; sleep 0.1; done; exit 1"
grep -q '^ready /' "$H/out" || die "the hostile code did not start: $(cat "$H/out")"
check "QEMU opens a listed file through the hook" opens base.qcow2
fds0=$(daemon_fds)
rss0=$(daemon_rss_kib)

# --- malformed messages, fds sent to the broker -----------------------------
echo "cmd malformed" >> "$H/out"
check "malformed: QEMU's process sent every kind" hostile malformed
kinds=$(said malformed | grep -cE ' (closed|open|error)( |$)' || true)
check_eq "malformed: 16 kinds tried" 16 "$kinds"
check "malformed: the daemon dropped each connection" none_left_open
check "malformed: a wrong version is answered -EPROTONOSUPPORT first" \
    grep -qx "wrong-version closed status=-93" "$H/out"
for k in fds-on-hello fds-on-close fds-on-open; do
    check "malformed: $k: the daemon closed every fd it received" grep -qx "$k released" "$H/out"
done
check "malformed: the daemon's fd table is back (at most $fds0)" settle_fds "$fds0"
check "malformed: each drop is logged as a protocol error" \
    test "$(grep -c "open hook of domain '$DOM': .*protocol" "$E2E_LOGS/virtqemud.log")" -ge 10
check_eq "malformed: the guest still runs, same QEMU" "running $pid" \
    "$(virsh domstate "$DOM") $(e2e_qemu_pid "$DOM")"
check "malformed: QEMU's own client reconnects and is served" opens base.qcow2
check "malformed: and refused what is not listed" refused outside.qcow2

# --- pipelining without reading the replies ---------------------------------
fds0=$(daemon_fds)
echo "cmd pipeline" >> "$H/out"
hostile_send "pipeline $PIPELINE $D/base.qcow2 4"
check "pipeline: QEMU's process sent requests" \
    bash -c "for _ in \$(seq 100); do grep -q '^sent [0-9]' '$H/out' && exit 0; sleep 0.1; done; exit 1"
sent=$(sed -n 's/^sent \([0-9]*\)$/\1/p' "$H/out")
check "pipeline: more than max_outstanding (16) requests went out ($sent)" test "${sent:-0}" -gt 32
check "pipeline: then the daemon stopped reading them ($sent of $PIPELINE)" test "${sent:-0}" -lt "$PIPELINE"
sleep 1.5
held=$(( $(daemon_fds) - fds0 ))
check "pipeline: while QEMU reads nothing, the daemon holds at most 16 fds more ($held)" \
    test "$held" -le 18
check "pipeline: then QEMU reads every reply" hostile_wait "pipeline $PIPELINE $D/base.qcow2 4" 180
line=$(grep '^replies ' "$H/out" || true)
read -r _ replies _ granted _ emfile _ other _ maxfds <<<"${line:-x 0 x 0 x 0 x 0 x 0}"
check_eq "pipeline: one reply per request, in order" "$sent" "$replies"
check_eq "pipeline: each one a grant or -EMFILE" "$sent 0" "$((granted + emfile)) $other"
check "pipeline: no more grants held at once than max_fds ($granted of $maxfds)" \
    test "$granted" -le "$maxfds" -a "$maxfds" -gt 0
check "pipeline: the daemon's fd table is back (at most $fds0)" settle_fds "$fds0"
check "pipeline: QEMU's own client is served" opens base.qcow2

# --- never reporting closes; closes of handles never given ------------------
fds0=$(daemon_fds)
echo "cmd hoard" >> "$H/out"
check "hoard: QEMU's process opens until refused, never reporting a close" \
    hostile "hoard $D/base.qcow2 1000" 180
line=$(grep '^hoarded ' "$H/out" || true)
read -r _ hoarded _ maxfds _ then <<<"${line:-x 0 x 0 x 0}"
check "hoard: grants stop just below max_fds, QEMU's own count ($hoarded of $maxfds)" \
    test "$hoarded" -gt $((maxfds - 16)) -a "$hoarded" -lt "$maxfds"
check_eq "hoard: then -EMFILE" -24 "$then"
check_eq "hoard: closes of handles never given, or closed already, free nothing" \
    "unknown 1000 then -24 reclosed 0 then -24" "$(grep '^unknown ' "$H/out" || true)"
check_eq "hoard: once QEMU reports its closes it is served again" \
    "released $hoarded then 0" "$(grep '^released ' "$H/out" || true)"
check "hoard: closes of unknown handles are logged as such" \
    test "$(grep -c "reason=unknown-handle" "$E2E_LOGS/virtqemud-debug.log")" -ge 1000
check "hoard: the daemon's fd table is back (at most $fds0)" settle_fds "$fds0"
check "hoard: QEMU's own client is served" opens base.qcow2

# --- reconnecting in a loop -------------------------------------------------
fds0=$(daemon_fds)
before=$(grep -c "QEMU connected again" "$E2E_LOGS/virtqemud-debug.log" || true)
start=$(date +%s)
check "reconnect: QEMU's process reconnected $RECONNECTS times" hostile "reconnect $RECONNECTS" 300
secs=$(( $(date +%s) - start + 1 ))
check "reconnect: every connection was accepted" grep -qx "reconnected $RECONNECTS hello $((RECONNECTS * 3 / 4)) failed 0" "$H/out"
logged=$(( $(grep -c "QEMU connected again" "$E2E_LOGS/virtqemud-debug.log" || true) - before ))
# at most 20 every 10 s, and the one after the loop
check "reconnect: logged rate limited ($logged lines for $RECONNECTS reconnections in $secs s)" \
    test "$logged" -le $(( (secs / 10 + 1) * 20 + 2 ))
check "reconnect: the daemon's fd table is back (at most $fds0)" settle_fds "$fds0"
rss=$(daemon_rss_kib)
check "reconnect: the daemon's memory did not grow by more than 16 MiB (${rss0} -> ${rss} KiB)" \
    test $((rss - rss0)) -le 16384
check "reconnect: QEMU's own client reconnects and is served" opens base.qcow2
check "reconnect: a file outside the whitelist is still refused" refused outside.qcow2
# the next reconnection logged, once the window is over, counts the others
sleep 10
check "reconnect: once more, 10 s later" hostile "reconnect 1"
check "reconnect: the suppressed reconnections are counted" \
    grep -q "QEMU connected again ([0-9]* earlier reconnections not logged)" "$E2E_LOGS/virtqemud-debug.log"
check_eq "the guest still runs, same QEMU" "running $pid" \
    "$(virsh domstate "$DOM") $(e2e_qemu_pid "$DOM")"
# reconnections left out when the domain stops are counted then
check "reconnect: 50 more within the window" hostile "reconnect 50"
check "destroy" virsh destroy "$DOM"
check "reconnect: the ones left out at the end are counted when the domain stops" \
    grep -qE "open hook of domain '$DOM': [1-9][0-9]* reconnections of QEMU not logged" \
    "$E2E_LOGS/virtqemud-debug.log"
e2e_daemons_down

trap - EXIT
rm -rf "$D" "$H"
e2e_summary
