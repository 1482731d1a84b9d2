# shellcheck shell=bash
# Scenarios for the patched QEMU (-open-hook-fd / --open-hook-fd) against
# the standalone openhook-broker.  Sourced by run-all.sh (needs lib.sh).
# What the preload flavour runs too is in lib.sh (shared_all native); this
# file has what only the patched QEMU can do: its unit test, its protocol
# document, the option probe, qemu-io open/close, locking between hooked
# processes, qemu-storage-daemon and the chardev log close report.

native_unit() {
    local log=$QT_DIR/unit.log
    if "$QT_TOOLS/tests/unit/test-open-hook" --tap -k > "$log" 2>&1 &&
       [ "$(grep -c '^ok ' "$log")" -ge 12 ] && ! grep -q '^not ok' "$log"; then
        ok "QEMU unit test test-open-hook ($(grep -c '^ok ' "$log") cases)"
    else
        not_ok "QEMU unit test test-open-hook"; diag "$log"
    fi
}

# QEMU's docs/interop/open-hook.rst gives the same message layouts as
# docs/protocol.rst (the series carries its own copy of the protocol)
native_doc() {
    local out
    if out=$("$QT_ROOT/tests/qemu/doc-layouts.py" "$QT_ROOT/docs/protocol.rst" \
             "$QT_TREE/docs/interop/open-hook.rst" 2>&1); then
        ok "QEMU's docs/interop/open-hook.rst: $out with docs/protocol.rst"
    else
        not_ok "QEMU's docs/interop/open-hook.rst agrees with docs/protocol.rst"
        printf '# %s\n' "$out"
    fi
}

native_qemu_io_close() {
    local d=$QT_DIR/img-native log=$QT_DIR/qemu-io-close.log fmt=qed base=qbase.qed top=qtop.qed pat=0x22
    if ! have_qed native; then
        fmt=qcow2 base=base.qcow2 top=top.qcow2 pat=0x11
    fi
    broker "$log" -r "$d/$base" -w "$d/$top" -- \
        "$QIO" --open-hook-fd @FD@ -c "open -o driver=$fmt $d/$top" -c 'write -P 0x33 2M 64k' \
        -c "read -P $pat 0 64k" -c close -c "open -r -o driver=$fmt $d/$top" \
        -c 'read -P 0x33 2M 64k' -c close
    local rc=$?
    # The rw grant of the first 'open' must be reported closed by the
    # first 'close', before the second 'open' asks for the image again.
    local rw ro rwclose
    rw=$(grep -nE "^event=open decision=grant .*path=\"$d/$top\" .*flags=02000002 " "$log" |
         sed -E 's/.* handle=([0-9]+).*/\1/' | head -1)
    rwclose=$(grep -nE "^event=close .* handle=$rw\$" "$log" | cut -d: -f1)
    ro=$(grep -nE "^event=open decision=grant .*path=\"$d/$top\" .*flags=02000000 " "$log" | cut -d: -f1)
    if [ $rc -eq 0 ] && ! grep -q "verification failed" "$log.out" &&
       [ "$(grep -c "^read .* bytes" "$log.out")" -eq 2 ] && grants_balanced "$log" &&
       [ -n "$rw" ] && [ -n "$rwclose" ] && [ -n "$ro" ] && [ "$rwclose" -lt "$ro" ]; then
        ok "qemu-io open/close/open ($fmt chain): each close reported in order, data verified"
    else
        not_ok "qemu-io open/close ($fmt)"; diag "$log" "$log.out"
    fi
}

# Two hooked processes on one rw image conflict as without the hook, and a
# qemu_close() of the image releases the lock while its process lives on.
native_locking() {
    local d=$QT_DIR/img-native log=$QT_DIR/lock2.log
    /usr/bin/qemu-img create -q -f qcow2 "$d/lock.qcow2" 8M
    broker "$log" -w "$d/lock.qcow2" -- "$QIO" --open-hook-fd @FD@ \
        -c "open -o driver=qcow2 $d/lock.qcow2" -c 'sleep 2500' -c close -c 'sleep 2500' &
    local apid=$!
    sleep 1
    broker "$log.b" -w "$d/lock.qcow2" -- "$QIO" --open-hook-fd @FD@ -f qcow2 -c 'write 0 4k' "$d/lock.qcow2"
    sleep 2.5
    broker "$log.c" -w "$d/lock.qcow2" -- "$QIO" --open-hook-fd @FD@ -f qcow2 -c 'write 0 4k' "$d/lock.qcow2"
    local crc=$?
    wait "$apid"
    if grep -qF 'Failed to get "write" lock' "$log.b.out" &&
       [ $crc -eq 0 ] && grep -q 'wrote 4096/4096' "$log.c.out" && grants_balanced "$log"; then
        ok "two hooked qemu-io on one rw image conflict; qemu-io 'close' releases the lock while the process lives"
    else
        not_ok "image locking between hooked processes"; diag "$log.b.out" "$log.c.out" "$log"
    fi
}

native_qsd() {
    local d=$QT_DIR/img-native log=$QT_DIR/qsd.log qmp=$QT_DIR/qsd.sock out=$QT_DIR/qsd.out
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/qsdtop.qcow2"
    broker_bg "$log" -w "$d/base.qcow2" -w "$d/qsdtop.qcow2" -c "$d/qsd.pid" -- \
        "$QT_TOOLS/storage-daemon/qemu-storage-daemon" \
        --chardev "socket,id=m,path=$qmp,server=on,wait=off" --monitor chardev=m \
        --open-hook-fd @FD@ --pidfile "$d/qsd.pid" \
        --blockdev "driver=file,filename=$d/base.qcow2,node-name=basefile" \
        --blockdev driver=qcow2,file=basefile,node-name=base
    local bpid=$BROKER_PID
    "$QMP" "$qmp" \
        "blockdev-add {\"driver\":\"file\",\"filename\":\"$d/qsdtop.qcow2\",\"node-name\":\"topfile\"}" \
        'blockdev-add {"driver":"qcow2","file":"topfile","backing":"base","node-name":"top"}' \
        'block-stream {"job-id":"s","device":"top"}' 'wait-job s' > "$out" 2>&1
    "$QMP" "$qmp" 'blockdev-del {"node-name":"top"}' 'blockdev-del {"node-name":"topfile"}' \
        'blockdev-del {"node-name":"base"}' 'blockdev-del {"node-name":"basefile"}' >> "$out" 2>&1
    "$QMP" "$qmp" quit >> "$out" 2>&1
    wait "$bpid"
    if [ "$(grep -c ' ok' "$out")" -ge 8 ] && ! grep -q error "$out" &&
       grep -qE "decision=grant .*path=\"$d/qsd.pid\"" "$log" &&
       grants_balanced "$log" "$d/qsd.pid" &&
       ! /usr/bin/qemu-img info -U "$d/qsdtop.qcow2" | grep -q "backing file"; then
        ok "qemu-storage-daemon: pidfile, --blockdev, blockdev-add, block-stream, blockdev-del through the hook; every grant closed"
    else
        not_ok "qemu-storage-daemon scenario"; diag "$out" "$log" "$log.out"
    fi
}

# libvirt probes command-line options with QMP query-command-line-options,
# which lists only QemuOpts groups: -open-hook-fd must be one, with an "fd"
# parameter, both in the filtered and in the full answer.
native_probe() {
    local out=$QT_DIR/probe.out
    printf '%s\n' '{"execute":"qmp_capabilities"}' \
        '{"execute":"query-command-line-options","arguments":{"option":"open-hook-fd"}}' \
        '{"execute":"query-command-line-options"}' '{"execute":"quit"}' |
        timeout 20 "$QSYS" -machine none -qmp stdio -nodefaults -display none > "$out" 2>&1
    if python3 - "$out" <<'PY'
import json, sys
replies = [m["return"] for m in map(json.loads, open(sys.argv[1])) if "return" in m]
want = {"option": "open-hook-fd",
        "parameters": [{"name": "fd", "type": "string"}]}
def strip(opts):
    return [{"option": o["option"],
             "parameters": [{k: p[k] for k in ("name", "type")}
                            for p in o["parameters"]]}
            for o in opts if o["option"] == "open-hook-fd"]
sys.exit(0 if strip(replies[1]) == [want] and strip(replies[2]) == [want]
         else 1)
PY
    then
        ok "QMP query-command-line-options lists open-hook-fd with its fd parameter (libvirt can probe it)"
    else
        not_ok "query-command-line-options: open-hook-fd"; diag "$out"
    fi

    # the key=value form gives the same as the documented '-open-hook-fd N'
    local log=$QT_DIR/probe-kv.log
    broker "$log" -c "$QT_DIR/probe-other" -- "$QSYS" -open-hook-fd fd=@FD@ -machine none \
        -nodefaults -display none -pidfile "$QT_DIR/probe.pid"
    if grep -qE "^event=open decision=deny .*path=\"$QT_DIR/probe.pid\"" "$log"; then
        ok "-open-hook-fd fd=N: the hook is active (the PID file is asked for)"
    else
        not_ok "-open-hook-fd fd=N"; diag "$log" "$log.out"
    fi
}

# Descriptors QEMU opened with qemu_create() and closed with plain close()
# were reported late; the chardev log file now goes through qemu_close():
# chardev-remove reports it closed at once, while QEMU runs on.
native_chardev_log() {
    local d=$QT_DIR/img-native log=$QT_DIR/chardev.log qmp=$QT_DIR/chr.sock out=$QT_DIR/chr.out
    broker_bg "$log" -c "$d/chr.txt" -c "$d/chr.log" -- \
        "$QSYS" -open-hook-fd @FD@ -machine none -nodefaults -display none \
        -qmp "unix:$qmp,server=on,wait=off"
    local bpid=$BROKER_PID
    "$QMP" "$qmp" \
        "chardev-add {\"id\":\"c0\",\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"$d/chr.txt\",\"logfile\":\"$d/chr.log\"}}}" \
        'chardev-remove {"id":"c0"}' > "$out" 2>&1
    local closed
    closed=$(count_events "$log" "^event=close .*path=\"$d/chr.(txt|log)\"")
    "$QMP" "$qmp" quit >> "$out" 2>&1
    wait "$bpid"
    if [ "$(grep -c ' ok' "$out")" -eq 3 ] && [ "$closed" -eq 2 ] &&
       [ "$(count_events "$log" "^event=open decision=grant .*path=\"$d/chr.log\"")" -eq 1 ]; then
        ok "chardev logfile: granted, and reported closed by chardev-remove while QEMU runs (qemu_close)"
    else
        not_ok "chardev logfile close report (closes before quit: $closed)"; diag "$out" "$log" "$log.out"
    fi
}

native_all() {
    native_unit
    native_doc
    native_probe
    shared_all native || return
    native_qemu_io_close
    native_locking
    native_qsd
    native_chardev_log
}
