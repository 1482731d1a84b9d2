#!/bin/bash
# A QEMU the guest has taken over, with open_hook = "permissive": what
# enforce would deny is opened with QEMU's own credentials (the opener),
# never by root; /proc, /sys and /dev never; the fd limit holds; and a
# flood of denials is rate limited in the log and the audit trail, with
# a summary of what was left out.  Native and preload flavours.
#
# Each check failed with permissive mode opening as root: QEMU got
# /etc/shadow, the daemon's /proc/self/environ, a root-only file opened
# for writing; every denial was logged.
#
# usage: tests/e2e/openhook-trust-permissive.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-trust-perm
D=$E2E_DIR/$DOM

trap e2e_daemons_down EXIT

# qmp_add NODE FILE READONLY: a QMP blockdev-add of FILE, QEMU's answer
qmp_add() {
    virsh qemu-monitor-command "$DOM" \
        "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"$1\",\"filename\":\"$2\",\"read-only\":$3}}" 2>&1 || true
}

qmp_del() {
    virsh qemu-monitor-command "$DOM" \
        "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"$1\"}}" >/dev/null 2>&1 || true
}

# holds FILE: QEMU holds FILE open
holds() { e2e_qemu_files "$pid" | grep -qxF "$1"; }

scenario() {
    local f=$1 out i n
    rm -rf "$D"
    e2e_mkchain "$D" qcow2 base.qcow2 top.qcow2
    "$QEMU_IMG" create -q -f qcow2 "$D/outside.qcow2" 16M
    chmod 0644 "$D/outside.qcow2"
    printf 's3cret' > "$D/secret"
    chmod 0600 "$D/secret"
    mkdir -p "$D/rootonly"
    chmod 0700 "$D/rootonly"
    chmod 0755 "$D"
    rm -f "$E2E_LOGS"/virtqemud*.log

    E2E_QEMU_CONF='open_hook = "permissive"'
    e2e_flavour
    e2e_daemons_up
    e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"
    check "$f: define" virsh define "$D/$DOM.xml"
    check "$f: start" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    check "$f: QEMU got the channel" e2e_has_channel "$pid"

    # What QEMU's user may read: opened, as QEMU's user
    out=$(qmp_add outside "$D/outside.qcow2" true)
    check "$f: an unlisted file QEMU's user may read is opened" \
        grep -q '"return":{}' <<<"$out"
    check "$f: ... and logged as what enforce would deny, opened as QEMU's user" \
        grep -q "decision=would-deny reason=not-listed.*path=\"$D/outside.qcow2\".*as uid" \
        "$E2E_LOGS/virtqemud.log"
    qmp_del outside

    # What only root may open: never
    out=$(qmp_add shadow /etc/shadow true)
    check "$f: /etc/shadow is refused" grep -q "Permission denied" <<<"$out"
    check "$f: QEMU does not hold /etc/shadow" eval '! holds /etc/shadow'

    out=$(qmp_add secret "$D/secret" false)
    check "$f: a root-only file is refused for writing" \
        grep -q "Permission denied" <<<"$out"
    check_eq "$f: ... and left as it was" "s3cret:600:root" \
        "$(cat "$D/secret"):$(stat -c %a:%U "$D/secret")"

    # /proc/self would be the daemon (or its opener): never
    for n in /proc/self/environ /proc/self/mem /sys/kernel/mm/transparent_hugepage/enabled /dev/zero; do
        out=$(qmp_add host "$n" true)
        check "$f: $n is refused" eval '! grep -q "\"return\":{}" <<<"$out"'
        qmp_del host
    done
    # ... not even through a symlink QEMU's user planted
    ln -sfn /proc/self/environ "$D/env.qcow2"
    out=$(qmp_add envlink "$D/env.qcow2" true)
    check "$f: a symlink to /proc/self/environ is refused" \
        eval '! grep -q "\"return\":{}" <<<"$out"'
    check "$f: nothing under /proc, /sys or /dev was handed out by the hook" \
        eval '! grep -E "decision=(grant|would-deny).*path=\"/(proc|sys|dev)/" "$E2E_LOGS/virtqemud-debug.log"'
    check "$f: nor through the symlink" \
        eval '! grep -E "decision=(grant|would-deny).*path=\"$D/env.qcow2\"" "$E2E_LOGS/virtqemud-debug.log"'
    check "$f: QEMU holds no /proc/self/environ" \
        eval '! ls -l /proc/'"$pid"'/fd | grep -q " -> /proc/.*/environ"'

    # A root-only directory: nothing created there on QEMU's behalf
    out=$(virsh qemu-monitor-command "$DOM" \
        "{\"execute\":\"blockdev-create\",\"arguments\":{\"job-id\":\"c\",\"options\":{\"driver\":\"file\",\"filename\":\"$D/rootonly/new.img\",\"size\":1048576}}}" 2>&1) || true
    sleep 1
    check "$f: nothing is created in a root-only directory" \
        test ! -e "$D/rootonly/new.img"

    # The daemon out of fds while QEMU's user connects to the hook's
    # socket: the queued connection keeps the socket readable, and the
    # domain's event thread must not spin on EMFILE
    if [ "$f" = native ]; then
        local dpid sock nofile before after free
        dpid=$(cat /run/virtqemud.pid)
        sock=$(ls /var/lib/libvirt/qemu/domain-*-"$DOM"/openhook.sock)
        nofile=$(prlimit --pid "$dpid" --nofile --raw --noheadings --output=SOFT,HARD | awk '{print $1":"$2}')
        before=$(awk '{print $14 + $15}' "/proc/$dpid/stat")
        # the lowest free fd number: no fd can be allocated below it
        free=0
        while [ -e "/proc/$dpid/fd/$free" ]; do free=$((free + 1)); done
        prlimit --pid "$dpid" --nofile="$free:${nofile#*:}"
        setpriv --reuid=libvirt-qemu --regid=libvirt-qemu --init-groups \
            python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
time.sleep(3)' "$sock" || true
        after=$(awk '{print $14 + $15}' "/proc/$dpid/stat")
        prlimit --pid "$dpid" --nofile="$nofile"
        check "$f: out of fds, the daemon does not spin on accept ($((after - before)) ticks in 3 s)" \
            test $((after - before)) -lt 100
        n=$(grep -c "cannot accept" "$E2E_LOGS/virtqemud.log" || true)
        check "$f: ... and says so without flooding the log ($n)" test "$n" -ge 1 -a "$n" -le 10
        out=$(qmp_add again "$D/outside.qcow2" true)
        check "$f: afterwards QEMU is served again" grep -q '"return":{}' <<<"$out"
        qmp_del again
    fi

    # A flood of denials (of a file the hook sees in both flavours: the
    # preload library leaves /etc, /proc, /sys and /dev to QEMU itself):
    # at most 20 warnings per 10 s window, then a summary.  The window
    # in progress when the flood starts (the denial above is in it) and
    # each one the flood reaches on a slow machine allow 20 more.
    start=$SECONDS
    for i in $(seq 60); do
        qmp_add "flood$i" "$D/secret" true >/dev/null
    done
    secs=$((SECONDS - start))
    max=$((20 * (secs / 10 + 2)))
    n=$(grep -c "qemuOpenHookEvent.*decision=deny.*path=\"$D/secret\"" "$E2E_LOGS/virtqemud.log" || true)
    check "$f: the flood of 61 denials in $secs s left at most $max warnings, fewer than 61 ($n)" \
        test "$n" -le "$max" -a "$n" -lt 61
    check "$f: ... and was not silenced from the start ($n)" test "$n" -ge 1
    check "$f: still running" test "$(virsh domstate "$DOM")" = running

    check "$f: destroy" virsh destroy "$DOM"
    check "$f: the summary says how many denials were left out" \
        grep -qE "open hook of domain '$DOM': [0-9]+ denials left out of the log" \
        "$E2E_LOGS/virtqemud.log"
    check "$f: undefine" virsh undefine "$DOM"
    e2e_daemons_down
}

[ $# -gt 0 ] || set -- native preload
for flavour in "$@"; do
    E2E_FLAVOUR=$flavour scenario "$flavour"
done

trap - EXIT
rm -rf "$D"
e2e_summary
