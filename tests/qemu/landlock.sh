# shellcheck shell=bash
# The patched QEMU confined by Landlock (src/tools/openhook-landlock, what
# libvirt's pre-exec hook would do) with and without the open hook: with
# the hook it works, without it QEMU cannot open its images; fds it holds
# keep working; and the allow list a q35 TCG guest needs is minimal (each
# rule dropped in turn breaks something).  Sourced by run-all.sh (needs
# lib.sh).

# From lib.sh only the output helpers, the scratch directory, the broker
# and the QMP client; the rest is defined here.
LANDLOCK=$QT_BUILD/openhook/openhook-landlock
LL_QIMG=$QT_TOOLS/qemu-img
LL_QIO=$QT_TOOLS/qemu-io
LL_QSYS=$QT_SYS/qemu-system-x86_64
LL_FW=(-L /usr/share/seabios -L /usr/share/qemu)

# ll_broker LOG [broker options] -- COMMAND...: COMMAND under the broker;
# its output in LOG.out, the broker's events in LOG
ll_broker() {
    local log=$1; shift
    local -a opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    "$BROKER" "${opts[@]}" -- /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' \
        sh "$log.out" "$@" > "$log" 2> "$log.err"
}

# ll_granted LOG PATH...: the broker granted exactly PATHs and every
# grant was reported closed
ll_granted() {
    local log=$1; shift
    [ "$(grep '^event=open decision=grant' "$log" | sed -E 's/.* path="([^"]*)".*/\1/' | sort -u)" = \
      "$(printf '%s\n' "$@" | sort -u)" ] &&
    [ "$(grep -c '^event=open decision=grant' "$log")" = "$(grep -c '^event=close ' "$log")" ]
}

# the directories BINARY's libraries are loaded from
ll_libdirs() {
    ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | xargs -n1 dirname | sort -u
}

# LL_TOOL: rules for qemu-img/qemu-io: the program (and its ELF
# interpreter), the loader's cache, the library directories, /dev/null
# (QEMU probes OFD locks on it)
ll_tool_rules() {
    local tool=$1 dir
    LL_TOOL=(-e "$tool" -r /etc/ld.so.cache -d /dev/null)
    for dir in $(ll_libdirs "$tool"); do LL_TOOL+=(-r "$dir"); done
}

ll_images() {
    local d=$1
    mkdir -p "$d/img" "$d/run"
    /usr/bin/qemu-img create -q -f qcow2 "$d/img/base.qcow2" 8M &&
    /usr/bin/qemu-io -f qcow2 -c 'write -P 0x11 0 1M' "$d/img/base.qcow2" > /dev/null &&
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/img/top.qcow2" &&
    /usr/bin/qemu-img create -q -f qcow2 "$d/img/hot.qcow2" 8M &&
    /usr/bin/qemu-img create -q -f qcow2 "$d/img/outside.qcow2" 8M
}

ll_tools() {
    local d=$QT_DIR/ll-tools i=$QT_DIR/ll-tools/img log rc
    ll_images "$d" || { not_ok "landlock: creating the images"; return; }

    ll_tool_rules "$LL_QIMG"
    log=$d/info-hook
    (cd "$i" && ll_broker "$log" -r "$i/base.qcow2" -r "$i/top.qcow2" -- \
        "$LANDLOCK" "${LL_TOOL[@]}" -- "$LL_QIMG" --open-hook-fd @FD@ info --backing-chain top.qcow2)
    rc=$?
    (cd "$i" && "$LL_QIMG" info --backing-chain top.qcow2 > "$d/info.ref" 2>&1)
    if [ $rc -eq 0 ] && cmp -s "$log.out" "$d/info.ref" &&
       ll_granted "$log" "$i/base.qcow2" "$i/top.qcow2"; then
        ok "landlock: qemu-img info --backing-chain under Landlock with the hook: output identical to an unconfined run, both images through the broker"
    else
        not_ok "landlock: qemu-img info with the hook"; diag "$log" "$log.out" "$log.err"
    fi

    log=$d/info-nohook
    (cd "$i" && "$LANDLOCK" "${LL_TOOL[@]}" -- "$LL_QIMG" info top.qcow2 > "$log.out" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] &&
       grep -qF "Could not open 'top.qcow2': Could not open 'top.qcow2': Permission denied" "$log.out"; then
        ok "landlock: qemu-img info under Landlock without the hook: Permission denied on the image"
    else
        not_ok "landlock: qemu-img info without the hook"; diag "$log.out"
    fi

    ll_tool_rules "$LL_QIO"
    log=$d/io-hook
    ll_broker "$log" -r "$i/base.qcow2" -w "$i/top.qcow2" -- \
        "$LANDLOCK" "${LL_TOOL[@]}" -- "$LL_QIO" --open-hook-fd @FD@ -f qcow2 \
        -c 'write -P 0x5a 512k 1M' -c 'read -P 0x11 0 512k' -c 'read -P 0x5a 512k 1M' "$i/top.qcow2"
    rc=$?
    if [ $rc -eq 0 ] && [ "$(grep -c '^read ' "$log.out")" -eq 2 ] &&
       grep -q '^wrote ' "$log.out" && ! grep -q 'verification failed' "$log.out" &&
       ! grep -q 'OFD lock' "$log.out" && ll_granted "$log" "$i/base.qcow2" "$i/top.qcow2"; then
        ok "landlock: qemu-io write and pattern reads on a qcow2 chain under Landlock with the hook"
    else
        not_ok "landlock: qemu-io with the hook"; diag "$log" "$log.out"
    fi

    log=$d/io-nohook
    "$LANDLOCK" "${LL_TOOL[@]}" -- "$LL_QIO" -f qcow2 -c 'read 0 512' "$i/top.qcow2" > "$log.out" 2>&1
    rc=$?
    if [ $rc -ne 0 ] && grep -qF "Could not open '$i/top.qcow2': Permission denied" "$log.out"; then
        ok "landlock: qemu-io under Landlock without the hook: Permission denied"
    else
        not_ok "landlock: qemu-io without the hook"; diag "$log.out"
    fi

    ll_tool_rules "$LL_QIMG"
    log=$d/create-hook
    ll_broker "$log" -r "$i/base.qcow2" -r "$i/top.qcow2" -c "$i/new.qcow2" -- \
        "$LANDLOCK" "${LL_TOOL[@]}" -- "$LL_QIMG" --open-hook-fd @FD@ create -f qcow2 \
        -b "$i/top.qcow2" -F qcow2 "$i/new.qcow2"
    rc=$?
    "$LANDLOCK" "${LL_TOOL[@]}" -- "$LL_QIMG" create -f qcow2 "$i/direct.qcow2" 8M > "$log.direct" 2>&1
    if [ $rc -eq 0 ] && /usr/bin/qemu-img info "$i/new.qcow2" | grep -q "backing file: $i/top.qcow2" &&
       [ ! -e "$i/direct.qcow2" ] && grep -q 'Permission denied' "$log.direct"; then
        ok "landlock: qemu-img create of an overlay under Landlock: through the broker it works, by itself it is denied"
    else
        not_ok "landlock: qemu-img create"; diag "$log" "$log.out" "$log.direct"
    fi
}

# LL_SYS: the minimal allow list of a q35 TCG guest of the patched
# qemu-system-x86_64 with SeaBIOS, a QMP socket in RUN and its disk
# through the hook (see docs/landlock.rst)
ll_sys_rules() {
    local run=$1 dir
    LL_SYS=(-e "$LL_QSYS")
    for dir in $(ll_libdirs "$LL_QSYS"); do LL_SYS+=(-r "$dir"); done
    LL_SYS+=(-r /etc/ld.so.cache -r /usr/share/seabios -r /usr/share/qemu
             -w "$run" -d /dev/null)
}

# ll_vm LOG DIR hook|nohook RULE...: boot the guest on DIR/img/top.qcow2
# under RULEs (with the broker: -r base, -w top and hot, -c the pid file);
# waits for QMP (or QEMU's exit) and for LL_WAIT (if set) on the console,
# runs the QMP commands in LL_QMP and quits.  QEMU's output (serial console included) is in LOG.out, the
# broker's events in LOG, the QMP replies in LOG.qmp.
LL_QMP=()
LL_WAIT=
ll_vm() {
    local log=$1 d=$2 how=$3; shift 3
    local i=$d/img run=$d/run pid n
    local -a hook=()
    rm -f "$run/qmp.sock" "$log.qmp"
    [ "$how" = hook ] && hook=(-open-hook-fd @FD@ -pidfile "$run/qemu.pid")
    local -a cmd=("$LANDLOCK" "$@" -- "$LL_QSYS" "${hook[@]}" "${LL_FW[@]}"
        -machine q35 -accel tcg -m 64 -nographic -nodefaults -serial stdio
        -qmp "unix:$run/qmp.sock,server=on,wait=off"
        -blockdev "driver=file,filename=$i/top.qcow2,node-name=topfile"
        -blockdev driver=qcow2,file=topfile,node-name=top
        -device virtio-blk-pci,drive=top,id=vd0,bootindex=1)
    if [ "$how" = hook ]; then
        "$BROKER" -r "$i/base.qcow2" -w "$i/top.qcow2" -w "$i/hot.qcow2" -c "$run/qemu.pid" -- \
            /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' sh "$log.out" "${cmd[@]}" \
            < /dev/null > "$log" 2> "$log.err" &
    else
        "${cmd[@]}" < /dev/null > "$log.out" 2>&1 &
    fi
    pid=$!
    QT_PIDS+=("$pid")
    for n in $(seq 100); do
        [ -S "$run/qmp.sock" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -S "$run/qmp.sock" ] && [ -n "$LL_WAIT" ]; then
        for n in $(seq 100); do
            grep -q "$LL_WAIT" "$log.out" 2>/dev/null && break
            sleep 0.1
        done
    fi
    if [ -S "$run/qmp.sock" ]; then
        "$QMP" "$run/qmp.sock" "${LL_QMP[@]}" quit > "$log.qmp" 2>&1
    fi
    wait "$pid"
}

ll_system() {
    local d=$QT_DIR/ll-sys i=$QT_DIR/ll-sys/img log
    ll_images "$d" || { not_ok "landlock: creating the images"; return; }
    ll_sys_rules "$d/run"

    log=$d/vm-hook
    LL_QMP=(query-status
            'human-monitor-command {"command-line":"qemu-io -d /machine/peripheral/vd0/virtio-backend \"write -P 0x77 0 64k\""}'
            'human-monitor-command {"command-line":"qemu-io -d /machine/peripheral/vd0/virtio-backend \"read -P 0x77 0 64k\""}'
            "blockdev-add {\"driver\":\"file\",\"filename\":\"$i/hot.qcow2\",\"node-name\":\"hot\"}"
            "blockdev-add {\"driver\":\"file\",\"filename\":\"$i/outside.qcow2\",\"node-name\":\"out\"}"
            'query-status')
    # SeaBIOS has read the disk
    LL_WAIT='Boot failed: not a bootable disk'
    ll_vm "$log" "$d" hook "${LL_SYS[@]}"
    local rc=$?
    LL_WAIT=
    if [ $rc -eq 0 ] && [ "$(grep -c '"status": "running"' "$log.qmp")" -eq 2 ] &&
       grep -q 'SeaBIOS' "$log.out" && grep -q 'Boot failed: not a bootable disk' "$log.out"; then
        ok "landlock: qemu-system-x86_64 (q35, TCG, SeaBIOS) runs under the minimal Landlock list with the hook, and the firmware reads the disk through the broker's fd"
    else
        not_ok "landlock: qemu-system-x86_64 under Landlock with the hook"
        diag "$log.qmp" "$log.out" "$log"
    fi
    # (HMP's qemu-io prints on QEMU's stdout)
    if [ "$(grep -c '^human-monitor-command ok' "$log.qmp")" -eq 2 ] &&
       grep -q 'wrote 65536/65536 bytes' "$log.out" && grep -q 'read 65536/65536 bytes' "$log.out" &&
       ! grep -q 'verification failed' "$log.out" &&
       /usr/bin/qemu-io -f qcow2 -r -c 'read -P 0x77 0 64k' "$i/top.qcow2" 2>&1 | grep -q '^read 65536'; then
        ok "landlock: the running guest's disk (an fd QEMU holds) is written and read under Landlock; the data is in the image"
    else
        not_ok "landlock: I/O on the held disk"; diag "$log.qmp" "$log.out"
    fi
    if grep -q '^blockdev-add ok' "$log.qmp" &&
       grep -qF "blockdev-add error: Could not open '$i/outside.qcow2': Permission denied" "$log.qmp" &&
       grep -qE "decision=grant .*path=\"$i/hot.qcow2\"" "$log" &&
       grep -qE "decision=deny .*path=\"$i/outside.qcow2\"" "$log"; then
        ok "landlock: QMP blockdev-add under Landlock: a whitelisted image through the broker, any other refused"
    else
        not_ok "landlock: blockdev-add under Landlock"; diag "$log.qmp" "$log"
    fi

    log=$d/vm-nohook
    LL_QMP=()
    ll_vm "$log" "$d" nohook "${LL_SYS[@]}"
    rc=$?
    if [ $rc -ne 0 ] && ! grep -q '^query-status ok' "$log.qmp" 2>/dev/null &&
       grep -qF "Could not open '$i/top.qcow2': Permission denied" "$log.out"; then
        ok "landlock: the same guest under Landlock without the hook cannot open its disk and does not start"
    else
        not_ok "landlock: qemu-system-x86_64 without the hook"; diag "$log.out" "$log.qmp"
    fi
}

# Each rule of the minimal list dropped in turn: QEMU fails (or, for
# the two optional ones, warns) with the message recorded here.
ll_minimal() {
    local d=$QT_DIR/ll-min i n rule msg log rc
    ll_images "$d" || { not_ok "landlock: creating the images"; return; }
    ll_sys_rules "$d/run"
    # QEMU 10.0 reports a ROM it cannot read through glib
    local rom="Failed to open file “/usr/share/qemu/kvmvapic.bin”: Permission denied"
    local -a cases=(
        "$LL_QSYS|cannot execute $LL_QSYS: Permission denied|fatal"
        "/usr/share/seabios|could not load PC BIOS 'bios-256k.bin'|fatal"
        "$d/run|Failed to bind socket to $d/run/qmp.sock: Permission denied|fatal"
        "/usr/share/qemu|$rom|warning"
        "/dev/null|Failed to open /dev/null for OFD lock probing: Permission denied|warning"
    )
    for dir in $(ll_libdirs "$LL_QSYS"); do
        cases+=("$dir|error while loading shared libraries|fatal")
    done
    LL_QMP=(query-status)
    for n in "${cases[@]}"; do
        IFS='|' read -r rule msg how <<< "$n"
        local -a rules=()
        local k=0
        while [ $k -lt ${#LL_SYS[@]} ]; do
            [ "${LL_SYS[$((k + 1))]}" = "$rule" ] || rules+=("${LL_SYS[$k]}" "${LL_SYS[$((k + 1))]}")
            k=$((k + 2))
        done
        log=$d/drop-$(echo "$rule" | tr -c 'a-z0-9\n' _)
        ll_vm "$log" "$d" hook "${rules[@]}"
        rc=$?
        if [ $((${#rules[@]} + 2)) -eq ${#LL_SYS[@]} ] && grep -qF "$msg" "$log.out" &&
           { { [ "$how" = fatal ] && [ $rc -ne 0 ]; } ||
             { [ "$how" = warning ] && [ $rc -eq 0 ] && grep -q '"running"' "$log.qmp"; }; }; then
            ok "landlock: minimal list without $rule: $msg ($how)"
        else
            not_ok "landlock: minimal list without $rule (want: $msg, $how; exit $rc)"
            diag "$log.out" "$log.qmp"
        fi
    done
}

landlock_all() {
    if ! "$LANDLOCK" -e /bin/true -r /usr/lib -r /lib -- /bin/true 2> "$QT_DIR/ll-probe.err"; then
        ok "# SKIP landlock: $(head -1 "$QT_DIR/ll-probe.err")"
        return
    fi
    ll_tools
    ll_system
    ll_minimal
}
