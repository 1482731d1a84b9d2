# shellcheck shell=bash
# Scenarios for Debian's stock QEMU + the LD_PRELOAD client against the
# standalone openhook-broker.  Sourced by run-all.sh (needs lib.sh).
# The broker puts the socket's number in OPENHOOK_FD for the child.

PRELOAD_LIB=$QT_BUILD/openhook/src/preload/libopenhook-preload.so

preload_images() {
    local d=$QT_DIR/pimg
    mkdir -p "$d"
    /usr/bin/qemu-img create -q -f qcow2 "$d/base.qcow2" 8M &&
    /usr/bin/qemu-io -f qcow2 -c 'write -P 0x11 0 1M' "$d/base.qcow2" >/dev/null &&
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/top.qcow2" &&
    /usr/bin/qemu-img create -q -f qed "$d/qbase.qed" 8M &&
    /usr/bin/qemu-img create -q -f qed -b qbase.qed -F qed "$d/qtop.qed" &&
    /usr/bin/qemu-img create -q -f qcow2 "$d/outside.qcow2" 8M &&
    /usr/bin/qemu-img create -q -f qcow2 "$d/hot.qcow2" 8M
}

preload_info() {
    local d=$QT_DIR/pimg log=$QT_DIR/p-info.log fmt top base rc
    for fmt in qcow2 qed; do
        if [ $fmt = qcow2 ]; then top=top.qcow2 base=base.qcow2; else top=qtop.qed base=qbase.qed; fi
        (cd "$d" && broker "$log" -r "$d/$base" -r "$d/$top" -- env LD_PRELOAD="$PRELOAD_LIB" /usr/bin/qemu-img info --backing-chain "$top")
        rc=$?
        (cd "$d" && /usr/bin/qemu-img info --backing-chain "$top" > "$log.ref" 2>&1)
        if [ $rc -eq 0 ] && cmp -s "$log.out" "$log.ref" &&
           [ "$(count_events "$log" "^event=open decision=grant .*path=\"$d/$top\"")" -ge 1 ] &&
           [ "$(count_events "$log" "^event=open decision=grant .*path=\"$d/$base\"")" -ge 1 ] &&
           [ "$(count_events "$log" "decision=deny")" -eq 0 ] &&
           granted_exactly "$log" "$d/$base" "$d/$top" && grants_in_order "$log"; then
            ok "preload: stock qemu-img info --backing-chain ($fmt): the broker granted exactly the chain's images, all closed; output identical"
        else
            not_ok "preload: stock qemu-img info --backing-chain ($fmt)"; diag "$log" "$log.out" "$log.err"
        fi
    done
}

preload_denials() {
    local d=$QT_DIR/pimg log=$QT_DIR/p-deny.log
    (cd "$d" && broker "$log" -r "$d/top.qcow2" -- env LD_PRELOAD="$PRELOAD_LIB" /usr/bin/qemu-img info --backing-chain top.qcow2)
    if [ $? -ne 0 ] &&
       grep -qF "Could not open 'base.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny reason=not-listed .*path=\"$d/base.qcow2\"" "$log"; then
        ok "preload: backing file not whitelisted: 'Permission denied', broker logs the denial"
    else
        not_ok "preload: backing file not whitelisted"; diag "$log" "$log.out"
    fi

    log=$QT_DIR/p-ro.log
    broker "$log" -r "$d/hot.qcow2" -- env LD_PRELOAD="$PRELOAD_LIB" /usr/bin/qemu-io -f qcow2 -c 'write 0 64k' "$d/hot.qcow2"
    if grep -qF "Could not open '$d/hot.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny reason=read-only" "$log"; then
        ok "preload: write open of a read-only entry: 'Permission denied'"
    else
        not_ok "preload: write open of a read-only entry"; diag "$log" "$log.out"
    fi
}

# stock qemu-img create, qemu-io write/read, qemu-img commit on qcow2 and
# qed chains, compared with a run without the preload library (lib.sh)
preload_create_commit() {
    local fmt
    for fmt in qcow2 qed; do
        chain_tools preload $fmt
    done
}

# stock qemu-system-x86_64 -machine none: QMP blockdev-add, reopen,
# block-commit, block-stream, blockdev-del on qcow2 and qed chains (lib.sh)
preload_qmp_chain() {
    local fmt
    for fmt in qcow2 qed; do
        qmp_chain preload $fmt
    done
}

# The routing rule: paths under system prefixes (/usr, /etc, /dev, ...)
# stay local; OPENHOOK_ROUTE restricts routing to the listed prefixes.
preload_route() {
    local d=$QT_DIR/pimg log=$QT_DIR/p-route.log
    mkdir -p "$QT_DIR/elsewhere"
    cp "$d/hot.qcow2" "$QT_DIR/elsewhere/local.qcow2"
    broker "$log" -r "$d/base.qcow2" -- env OPENHOOK_ROUTE="$d" LD_PRELOAD="$PRELOAD_LIB" \
        /usr/bin/qemu-img info "$QT_DIR/elsewhere/local.qcow2"
    local rc1=$?
    broker "$log.2" -r "$d/base.qcow2" -- env LD_PRELOAD="$PRELOAD_LIB" /usr/bin/qemu-img info "$QT_DIR/elsewhere/local.qcow2"
    local rc2=$?
    if [ $rc1 -eq 0 ] && [ "$(count_events "$log" '^event=open')" -eq 0 ] &&
       [ $rc2 -ne 0 ] && grep -qF "Permission denied" "$log.2.out" &&
       grep -qE "decision=deny .*elsewhere/local.qcow2" "$log.2"; then
        ok "preload: OPENHOOK_ROUTE=<dir> routes only that directory; by default every non-system path is routed"
    else
        not_ok "preload: routing rule"; diag "$log" "$log.out" "$log.2" "$log.2.out"
    fi
}

preload_system() {
    local d=$QT_DIR/pimg log=$QT_DIR/p-system.log qmp=$QT_DIR/p-qmp.sock out=$QT_DIR/p-qmp.out
    local bpid qpid i
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/vmtop.qcow2"
    "$BROKER" -r "$d/base.qcow2" -w "$d/vmtop.qcow2" -w "$d/hot.qcow2" -r "$d/top.qcow2" -- \
        /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' sh "$log.out" \
        env LD_PRELOAD="$PRELOAD_LIB" \
        /usr/bin/qemu-system-x86_64 -machine pc -accel tcg -m 64 -nographic -S -nodefaults \
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
        'blockdev-del {"node-name":"hot"}' > "$out" 2>&1
    local hot_events
    hot_events=$(grep -E "path=\"$d/hot.qcow2\"" "$log" | grep -oE '^event=[a-z]+' | tr '\n' ' ')
    if grep -q '^query-status ok' "$out" &&
       grep -qF "blockdev-add error: Could not open '$d/outside.qcow2': Permission denied" "$out" &&
       grep -qE "^event=open decision=grant .*path=\"$d/vmtop.qcow2\"" "$log" &&
       grep -q '^blockdev-reopen ok' "$out" && grep -q '^blockdev-del ok' "$out" &&
       [ "$hot_events" = "event=open event=open event=close event=close " ] &&
       ! grep -qE 'seabios|/usr/' "$log"; then
        ok "preload: stock qemu-system-x86_64 on a chain (firmware stays local), denied blockdev-add, reopen ro->rw, blockdev-del with close reports"
    else
        not_ok "preload: stock qemu-system-x86_64 (hot: $hot_events)"; diag "$out" "$log" "$log.out"
    fi

    kill -9 "$bpid"
    wait "$bpid" 2>/dev/null
    "$QMP" "$qmp" 'query-status' \
        "blockdev-add {\"driver\":\"file\",\"filename\":\"$d/top.qcow2\",\"node-name\":\"t2\",\"read-only\":true}" \
        'query-status' > "$out.dead" 2>&1
    qpid=$(pgrep -f -- "$qmp,server" | head -1)
    if [ "$(grep -c '^query-status ok' "$out.dead")" -eq 2 ] &&
       grep -qF "blockdev-add error: Could not open '$d/top.qcow2': Input/output error" "$out.dead" &&
       [ "$(ls -l /proc/"$qpid"/fd 2>/dev/null | grep -cE "$d/top.qcow2\$")" -eq 0 ]; then
        ok "preload: broker killed: stock QEMU keeps running, next open fails with EIO, no local open"
    else
        not_ok "preload: broker killed"; diag "$out.dead"
    fi
    "$QMP" "$qmp" quit > /dev/null 2>&1
    for i in $(seq 50); do
        gone "$qpid" && break
        sleep 0.1
    done
    check "preload: QEMU quits normally after the broker died" gone "$qpid"
}

preload_all() {
    if [ ! -f "$PRELOAD_LIB" ]; then
        not_ok "preload library not built ($PRELOAD_LIB)"
        return
    fi
    if ! preload_images; then
        not_ok "preload: creating test images"
        return
    fi
    preload_info
    preload_denials
    preload_create_commit
    preload_route
    preload_system
    preload_qmp_chain
}

gone() {
    [ ! -d "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}
