# shellcheck shell=bash
# Scenarios for the patched QEMU (-open-hook-fd / --open-hook-fd) against
# the standalone openhook-broker.  Sourced by run-all.sh (needs lib.sh).

native_unit() {
    local log=$QT_DIR/unit.log
    if "$QT_TOOLS/tests/unit/test-open-hook" --tap -k > "$log" 2>&1 &&
       [ "$(grep -c '^ok ' "$log")" -ge 12 ] && ! grep -q '^not ok' "$log"; then
        ok "QEMU unit test test-open-hook ($(grep -c '^ok ' "$log") cases)"
    else
        not_ok "QEMU unit test test-open-hook"; diag "$log"
    fi
}

# Images: base <- mid (qcow2) and a qed chain qbase <- qtop
native_images() {
    local d=$QT_DIR/img
    mkdir -p "$d"
    /usr/bin/qemu-img create -q -f qcow2 "$d/base.qcow2" 8M &&
    /usr/bin/qemu-io -f qcow2 -c 'write -P 0x11 0 1M' "$d/base.qcow2" >/dev/null &&
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/top.qcow2" &&
    /usr/bin/qemu-img create -q -f qed "$d/qbase.qed" 8M &&
    /usr/bin/qemu-io -f qed -c 'write -P 0x22 0 1M' "$d/qbase.qed" >/dev/null &&
    /usr/bin/qemu-img create -q -f qed -b qbase.qed -F qed "$d/qtop.qed" &&
    /usr/bin/qemu-img create -q -f qcow2 "$d/outside.qcow2" 8M &&
    /usr/bin/qemu-img create -q -f qcow2 "$d/hot.qcow2" 8M
}

# The pipeline's lean QEMU build may lack qed (--without-default-features)
have_qed() {
    "$QIMG" --help | grep -q '^Supported formats:.* qed'
}

# each_fmt FUNCTION WHAT: FUNCTION native FMT for qcow2 and qed (SKIP
# WHAT on qed if the build lacks it)
each_fmt() {
    local fmt
    for fmt in qcow2 qed; do
        if [ $fmt = qed ] && ! have_qed; then
            ok "# SKIP $2 on a qed chain: the patched build has no qed driver"
            continue
        fi
        "$1" native $fmt
    done
}

native_info() {
    local d=$QT_DIR/img log=$QT_DIR/info.log fmt top base
    for fmt in qcow2 qed; do
        if [ $fmt = qed ] && ! have_qed; then
            ok "# SKIP qemu-img info on a qed chain: the patched build has no qed driver"
            continue
        fi
        if [ $fmt = qcow2 ]; then top=top.qcow2 base=base.qcow2; else top=qtop.qed base=qbase.qed; fi
        (cd "$d" && broker "$log" -r "$d/$base" -r "$d/$top" -- \
            "$QIMG" --open-hook-fd @FD@ info --backing-chain "$top")
        local rc=$?
        (cd "$d" && /usr/bin/qemu-img info --backing-chain "$top" > "$log.ref" 2>&1)
        if [ $rc -eq 0 ] && cmp -s "$log.out" "$log.ref" &&
           [ "$(count_events "$log" "decision=grant .*path=\"$d/$top\"")" -ge 1 ] &&
           [ "$(count_events "$log" "decision=grant .*path=\"$d/$base\"")" -ge 1 ] &&
           [ "$(count_events "$log" "decision=deny")" -eq 0 ] &&
           granted_exactly "$log" "$d/$base" "$d/$top" && grants_in_order "$log"; then
            ok "qemu-img info --backing-chain ($fmt, relative names): the broker granted exactly the chain's images, all closed; output identical to a run without the hook"
        else
            not_ok "qemu-img info --backing-chain ($fmt)"; diag "$log" "$log.out" "$log.err"
        fi
    done
}

native_backing_denied() {
    local d=$QT_DIR/img log=$QT_DIR/backing-denied.log
    (cd "$d" && broker "$log" -r "$d/top.qcow2" -- "$QIMG" --open-hook-fd @FD@ info --backing-chain top.qcow2)
    local rc=$?
    if [ $rc -ne 0 ] &&
       grep -qF "qemu-img: Could not open 'base.qcow2': Could not open 'base.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny reason=not-listed .*path=\"$d/base.qcow2\"" "$log"; then
        ok "backing file named in the header but not whitelisted: clean 'Permission denied', broker logs the denial"
    else
        not_ok "backing file not whitelisted"; diag "$log" "$log.out"
    fi
}

native_outside() {
    local d=$QT_DIR/img log=$QT_DIR/outside.log
    broker "$log" -r "$d/base.qcow2" -- "$QIMG" --open-hook-fd @FD@ info "$d/outside.qcow2"
    local rc=$?
    if [ $rc -ne 0 ] &&
       grep -qF "Could not open '$d/outside.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny .*path=\"$d/outside.qcow2\"" "$log" &&
       [ "$(count_events "$log" '^event=open decision=grant')" -eq 0 ]; then
        ok "image outside the whitelist: 'Permission denied', nothing granted"
    else
        not_ok "image outside the whitelist"; diag "$log" "$log.out"
    fi
}

native_write_ro() {
    local d=$QT_DIR/img log=$QT_DIR/write-ro.log
    broker "$log" -r "$d/hot.qcow2" -- "$QIO" --open-hook-fd @FD@ -f qcow2 -c 'write 0 64k' "$d/hot.qcow2"
    if grep -qF "Could not open '$d/hot.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny reason=read-only .*path=\"$d/hot.qcow2\"" "$log"; then
        ok "write open of a read-only entry: 'Permission denied', broker logs reason=read-only"
    else
        not_ok "write open of a read-only entry"; diag "$log" "$log.out"
    fi
}

# create an overlay, write/read it with qemu-io, commit it: on qcow2 and
# qed chains, compared with a run without the hook (chain_tools, lib.sh)
native_create_commit() {
    local d=$QT_DIR/img log=$QT_DIR/create-denied.log
    each_fmt chain_tools "qemu-img create/qemu-io/qemu-img commit"

    # an existing rw entry without create permission: creating (O_CREAT,
    # which would also truncate it) is refused and the file is untouched
    cp "$d/hot.qcow2" "$d/nocreate.qcow2"
    broker "$log" -r "$d/base.qcow2" -w "$d/nocreate.qcow2" -- \
        "$QIMG" --open-hook-fd @FD@ create -f raw "$d/nocreate.qcow2" 1M
    if cmp -s "$d/hot.qcow2" "$d/nocreate.qcow2" &&
       grep -qF "Could not create '$d/nocreate.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny reason=no-create" "$log"; then
        ok "qemu-img create over an rw entry without create permission: denied, file untouched"
    else
        not_ok "qemu-img create without create permission"; diag "$log" "$log.out"
    fi
}

native_qemu_io_close() {
    local d=$QT_DIR/img log=$QT_DIR/qemu-io-close.log fmt=qed base=qbase.qed top=qtop.qed pat=0x22
    if ! have_qed; then
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

# qemu-system: start a VM on a chain, QMP blockdev-add allowed/denied,
# reopen ro->rw, del, locking against qemu-img, then kill the broker.
native_system() {
    local d=$QT_DIR/img log=$QT_DIR/system.log qmp=$QT_DIR/qmp.sock out=$QT_DIR/qmp.out
    local bpid qpid i
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/vmtop.qcow2"
    "$BROKER" -r "$d/base.qcow2" -w "$d/vmtop.qcow2" -w "$d/hot.qcow2" -r "$d/top.qcow2" -- \
        /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' sh "$log.out" \
        "$QSYS" "${QSYS_FW[@]}" -open-hook-fd @FD@ -machine pc -accel tcg -m 64 -nographic -S -nodefaults \
        -qmp "unix:$qmp,server=on,wait=off" \
        -blockdev "driver=file,filename=$d/base.qcow2,node-name=basefile,read-only=on" \
        -blockdev driver=qcow2,file=basefile,node-name=base,read-only=on \
        -blockdev "driver=file,filename=$d/vmtop.qcow2,node-name=topfile" \
        -blockdev driver=qcow2,file=topfile,backing=base,node-name=top \
        -device virtio-blk-pci,drive=top > "$log" 2> "$log.err" &
    bpid=$!
    QT_PIDS+=("$bpid")

    "$QMP" "$qmp" 'query-status' \
        "blockdev-add {\"driver\":\"file\",\"filename\":\"$d/outside.qcow2\",\"node-name\":\"denied\"}" \
        "blockdev-add {\"driver\":\"file\",\"filename\":\"$d/hot.qcow2\",\"node-name\":\"hot\",\"read-only\":true}" \
        "blockdev-reopen {\"options\":[{\"driver\":\"file\",\"filename\":\"$d/hot.qcow2\",\"node-name\":\"hot\",\"read-only\":false}]}" \
        > "$out" 2>&1
    if grep -q '^query-status ok' "$out" &&
       grep -qF "blockdev-add error: Could not open '$d/outside.qcow2': Permission denied" "$out" &&
       [ "$(count_events "$log" "decision=grant .*path=\"$d/vmtop.qcow2\".*flags=[0-7]*2 ")" -eq 1 ] &&
       [ "$(count_events "$log" "decision=grant .*path=\"$d/base.qcow2\"")" -eq 1 ] &&
       grep -qE "decision=deny .*path=\"$d/outside.qcow2\"" "$log"; then
        ok "qemu-system-x86_64 starts on a qcow2 chain via -blockdev through the hook; QMP blockdev-add of a denied file: 'Permission denied'"
    else
        not_ok "qemu-system-x86_64 on a chain / denied blockdev-add"; diag "$out" "$log" "$log.out"
    fi

    # reopen ro->rw: a second OPEN (rw) and the ro grant's close
    local hot_events
    hot_events=$(grep -E "path=\"$d/hot.qcow2\"" "$log" | grep -oE '^event=[a-z]+|flags=[0-7]+' | tr '\n' ' ')
    if grep -q '^blockdev-reopen ok' "$out" &&
       [ "$hot_events" = "event=open flags=02000000 event=open flags=02000002 event=close " ]; then
        ok "QMP blockdev-reopen ro->rw: new rw grant, then the ro grant is reported closed"
    else
        not_ok "QMP blockdev-reopen ro->rw (hot events: $hot_events)"; diag "$out" "$log"
    fi

    # locking: the VM's disk is locked against a hooked qemu-img
    local llog=$QT_DIR/lock.log
    broker "$llog" -r "$d/vmtop.qcow2" -- "$QIMG" --open-hook-fd @FD@ info "$d/vmtop.qcow2"
    if [ $? -ne 0 ] && grep -qF 'Failed to get shared "write" lock' "$llog.out"; then
        ok "image locking through the hook: the VM's disk (fd from the broker) conflicts with a hooked qemu-img"
    else
        not_ok "image locking: VM disk vs qemu-img"; diag "$llog" "$llog.out"
    fi
    "$QMP" "$qmp" 'blockdev-del {"node-name":"hot"}' >> "$out" 2>&1
    if grep -q '^blockdev-del ok' "$out" &&
       [ "$(count_events "$log" "^event=close .*path=\"$d/hot.qcow2\"")" -eq 2 ]; then
        ok "QMP blockdev-del: the rw grant is reported closed"
    else
        not_ok "QMP blockdev-del close report"; diag "$out" "$log"
    fi

    # the broker dies: QEMU keeps running, opens fail with EIO, nothing is opened locally
    kill -9 "$bpid"
    wait "$bpid" 2>/dev/null
    "$QMP" "$qmp" 'query-status' \
        "blockdev-add {\"driver\":\"file\",\"filename\":\"$d/hot.qcow2\",\"node-name\":\"hot2\",\"read-only\":true}" \
        "blockdev-add {\"driver\":\"file\",\"filename\":\"$d/top.qcow2\",\"node-name\":\"top2\",\"read-only\":true}" \
        'query-status' > "$out.dead" 2>&1
    qpid=$(pgrep -f -- "$qmp,server" | head -1)
    local fds
    fds=$(ls -l /proc/"$qpid"/fd 2>/dev/null | grep -cE "$d/(hot|top).qcow2\$")
    if [ "$(grep -c '^query-status ok' "$out.dead")" -eq 2 ] &&
       grep -qF "blockdev-add error: Could not open '$d/hot.qcow2': Input/output error" "$out.dead" &&
       grep -qF "blockdev-add error: Could not open '$d/top.qcow2': Input/output error" "$out.dead" &&
       [ "$fds" -eq 0 ]; then
        ok "broker killed mid-run: QEMU keeps running, next opens fail with EIO, no local open"
    else
        not_ok "broker killed mid-run (fds on images: $fds)"; diag "$out.dead" "$log.out"
    fi
    "$QMP" "$qmp" quit > /dev/null 2>&1
    # (orphaned by the broker, it may stay a zombie until init reaps it)
    for i in $(seq 50); do
        gone "$qpid" && break
        sleep 0.1
    done
    check "QEMU quits normally after the broker died" gone "$qpid"
}

gone() {
    [ ! -d "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# Two hooked processes on one rw image conflict as without the hook, and a
# qemu_close() of the image releases the lock while its process lives on.
native_locking() {
    local d=$QT_DIR/img log=$QT_DIR/lock2.log
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
    local d=$QT_DIR/img log=$QT_DIR/qsd.log qmp=$QT_DIR/qsd.sock out=$QT_DIR/qsd.out
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/qsdtop.qcow2"
    "$BROKER" -w "$d/base.qcow2" -w "$d/qsdtop.qcow2" -c "$d/qsd.pid" -- \
        /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' sh "$log.out" \
        "$QT_TOOLS/storage-daemon/qemu-storage-daemon" \
        --chardev "socket,id=m,path=$qmp,server=on,wait=off" --monitor chardev=m \
        --open-hook-fd @FD@ --pidfile "$d/qsd.pid" \
        --blockdev "driver=file,filename=$d/base.qcow2,node-name=basefile" \
        --blockdev driver=qcow2,file=basefile,node-name=base \
        > "$log" 2> "$log.err" &
    local bpid=$!
    QT_PIDS+=("$bpid")
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

# blockdev-add, blockdev-reopen ro->rw, block-commit, block-stream and
# blockdev-del of qcow2 and qed chains on the patched qemu-storage-daemon
# (qmp_chain, lib.sh)
native_qmp_chain() {
    each_fmt qmp_chain "QMP block jobs"
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
    local d=$QT_DIR/img log=$QT_DIR/chardev.log qmp=$QT_DIR/chr.sock out=$QT_DIR/chr.out
    "$BROKER" -c "$d/chr.txt" -c "$d/chr.log" -- \
        /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' sh "$log.out" \
        "$QSYS" -open-hook-fd @FD@ -machine none -nodefaults -display none \
        -qmp "unix:$qmp,server=on,wait=off" > "$log" 2> "$log.err" &
    local bpid=$!
    QT_PIDS+=("$bpid")
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
    native_probe
    if ! native_images; then
        not_ok "creating test images"
        return
    fi
    ok "test images created (qcow2 and qed chains)"
    native_info
    native_backing_denied
    native_outside
    native_write_ro
    native_create_commit
    native_qemu_io_close
    native_locking
    native_system
    native_qsd
    native_qmp_chain
    native_chardev_log
}
