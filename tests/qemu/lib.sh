# shellcheck shell=bash
# Helpers for the QEMU-side tests: TAP-ish output, a scratch directory, the
# standalone broker, and the scenarios both flavours run (native: the
# patched QEMU with --open-hook-fd; preload: Debian's QEMU with the
# LD_PRELOAD client), parameterised by flavour.  Source it, don't run it.

set -uo pipefail

QT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QT_BUILD=${OPENHOOK_BUILD:-$QT_ROOT/build}
# the QEMU builds (scripts/lib.sh)
QT_TOOLS=$(bash -c '. "$1/scripts/lib.sh"; echo "$QEMU_TOOLS_BUILDDIR"' _ "$QT_ROOT")
QT_SYS=$(bash -c '. "$1/scripts/lib.sh"; echo "$QEMU_SYS_BUILDDIR"' _ "$QT_ROOT")
QT_TREE=$(bash -c '. "$1/scripts/lib.sh"; echo "$QEMU_TREE"' _ "$QT_ROOT")
BROKER=$QT_BUILD/openhook/openhook-broker
QMP=$QT_ROOT/tests/qemu/qmp.py
DEADPEER=$QT_ROOT/tests/qemu/deadpeer.py
PRELOAD_LIB=$QT_BUILD/openhook/src/preload/libopenhook-preload.so
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

QIO=$QT_TOOLS/qemu-io
QSYS=$QT_SYS/qemu-system-x86_64
# The build-tree emulator looks for firmware in its build directory.
QSYS_FW=(-L /usr/share/seabios -L /usr/share/qemu -L /usr/lib/ipxe/qemu)

T_PASS=0
T_FAIL=0
T_N=0

ok() {
    T_N=$((T_N + 1)); T_PASS=$((T_PASS + 1))
    echo "ok $T_N - $*"
}

not_ok() {
    T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1))
    echo "not ok $T_N - $*"
}

# check DESCRIPTION COMMAND...: ok if COMMAND succeeds
check() {
    local desc=$1; shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# diag FILE...: show files after a failure
diag() {
    local f
    for f in "$@" ; do
        [ -f "$f" ] || continue
        echo "# --- $f"
        sed 's/^/#   /' "$f" | tail -25
    done
}

summary() {
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

# A scratch directory, removed on exit unless KEEP=1.
qt_scratch() {
    QT_DIR=$(mktemp -d /tmp/openhook-qemu-test.XXXXXX)
    if [ "${KEEP:-0}" != 1 ]; then
        trap 'qt_cleanup' EXIT
    else
        echo "# scratch directory: $QT_DIR"
    fi
}

QT_PIDS=()
qt_cleanup() {
    local p
    for p in "${QT_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    rm -rf "$QT_DIR"
}

# broker_exec LOG [broker options] -- COMMAND...: replace the (sub)shell
# with the broker running COMMAND (@FD@ in COMMAND is the socket's number).
# Events go to LOG, COMMAND's stdout and stderr to LOG.out, the broker's
# own stderr to LOG.err.
broker_exec() {
    local log=$1; shift
    local -a opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    exec "$BROKER" "${opts[@]}" -- /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' \
        sh "$log.out" "$@" > "$log" 2> "$log.err"
}

# broker LOG [broker options] -- COMMAND...: broker_exec in the foreground;
# returns COMMAND's exit status
broker() {
    ( broker_exec "$@" )
}

# broker_bg LOG [broker options] -- COMMAND...: broker_exec in the
# background; BROKER_PID is the broker's pid (for SIGUSR1, kill, wait)
broker_bg() {
    broker_exec "$@" &
    BROKER_PID=$!
    QT_PIDS+=("$BROKER_PID")
}

# gone PID: the process has exited (orphaned, it may stay a zombie until
# init reaps it)
gone() {
    [ ! -d "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# count_events LOG PATTERN: number of event lines matching PATTERN
count_events() {
    grep -c -E "$2" "$1" || true
}

# grants_balanced LOG [EXCEPT]: there were grants in LOG, and every grant
# (except those of the path EXCEPT, held until exit) was reported closed
grants_balanced() {
    local log=$1 except=${2:-/nonexistent/} opens closes
    opens=$(grep -E '^event=open decision=grant' "$log" | grep -vF "path=\"$except\"" |
            sed -E 's/.* handle=([0-9]+).*/\1/' | sort)
    closes=$(grep -E '^event=close ' "$log" | grep -vF "path=\"$except\"" |
             sed -E 's/.* handle=([0-9]+).*/\1/' | sort)
    [ -n "$opens" ] && [ "$opens" = "$closes" ]
}

# grants_in_order LOG [EXCEPT]: every handle is granted once and reported
# closed exactly once, after its grant; no close of an unknown handle.
# Grants of EXCEPT (held until exit by design) must have no close.
grants_in_order() {
    local log=$1 except=${2:-/nonexistent/}
    awk -v except="path=\"$except\"" '
        function handle() { match($0, / handle=[0-9]+/); return substr($0, RSTART + 8, RLENGTH - 8) }
        /^event=open decision=grant/ { h = handle(); if (h in opened) bad = 1
                                       opened[h] = 1; keep[h] = index($0, except) > 0 }
        /^event=close / { h = handle(); if (!(h in opened) || (h in closed) || keep[h]) bad = 1
                          closed[h] = 1 }
        END { n = 0
              for (h in opened) { n++; if (!(h in closed) && !keep[h]) bad = 1 }
              exit (bad || n == 0) }' "$log"
}

# granted_paths LOG: the sorted distinct paths the broker granted
granted_paths() {
    grep -E '^event=open decision=grant' "$1" | sed -E 's/.* path="([^"]*)".*/\1/' | sort -u
}

# held_settles LOG BROKER-PID N: the broker (SIGUSR1: a "held=" line in
# LOG) reports N fds held by its command within 3 s; HELD_LAST is the last
# report
held_settles() {
    local log=$1 pid=$2 want=$3 i
    HELD_LAST=
    for i in $(seq 30); do
        kill -USR1 "$pid" 2>/dev/null || return 1
        sleep 0.1
        HELD_LAST=$(grep '^held=' "$log" | tail -1)
        [ "$HELD_LAST" = "held=$want" ] && return 0
    done
    return 1
}

# event_sequence LOG PREFIX: one "open|close:NAME:ro|rw" line per grant and
# close report in LOG (NAME: the path without PREFIX and extension; a close
# gets the access of the grant it ends)
event_sequence() {
    awk -v prefix="$2" '
        function field(k,   r) { if (!match($0, " " k "=[^ ]+")) return ""
                                 r = substr($0, RSTART + length(k) + 2, RLENGTH - length(k) - 2)
                                 gsub(/"/, "", r); return r }
        /^event=(open decision=grant|close )/ {
            h = field("handle"); p = field("path"); sub("^" prefix, "", p); sub(/\.[a-z0-9]+$/, "", p)
            if ($0 ~ /^event=open/) { acc[h] = (field("flags") ~ /2$/) ? "rw" : "ro"; print "open:" p ":" acc[h] }
            else print "close:" p ":" acc[h] }' "$1"
}

# qmp_chain FLAVOUR FMT: a three-layer FMT chain base <- mid <- top driven
# over QMP through the broker: blockdev-add of each layer (read-only),
# blockdev-reopen of top ro->rw, block-commit of mid into base (waiting
# for the job), block-stream of base into top, blockdev-del of everything.
#   native:  patched qemu-storage-daemon --open-hook-fd with a --pidfile,
#            the one file that stays open (and unreported) by design
#   preload: Debian's qemu-system-x86_64 -machine none + the preload
#            library, no pidfile: nothing may stay held
# Checks the QMP replies, the order of the opens and close reports in the
# broker's log, the broker's held count (SIGUSR1) after the last
# blockdev-del and at exit, and the data with qemu-io without the hook.
qmp_chain() {
    local flavour=$1 fmt=$2 d=$QT_DIR/qmp-$1-$2 tag="$1: QMP chain ($2)"
    local log=$d/broker.log qmp=$d/qmp.sock out=$d/qmp.out keep=/nonexistent/ held=0
    local b=$d/base.$fmt m=$d/mid.$fmt t=$d/top.$fmt bpid
    mkdir -p "$d"
    /usr/bin/qemu-img create -q -f "$fmt" "$b" 8M &&
    /usr/bin/qemu-io -f "$fmt" -c 'write -P 0x11 0 1M' "$b" > /dev/null &&
    /usr/bin/qemu-img create -q -f "$fmt" -b "base.$fmt" -F "$fmt" "$m" &&
    /usr/bin/qemu-io -f "$fmt" -c 'write -P 0x44 512k 1M' "$m" > /dev/null &&
    /usr/bin/qemu-img create -q -f "$fmt" -b "mid.$fmt" -F "$fmt" "$t" &&
    /usr/bin/qemu-io -f "$fmt" -c 'write -P 0x55 2M 64k' "$t" > /dev/null ||
        { not_ok "$tag: creating the images"; return; }

    local -a cmd
    if [ "$flavour" = native ]; then
        keep=$d/qsd.pid held=1
        cmd=("$QT_TOOLS/storage-daemon/qemu-storage-daemon"
             --chardev "socket,id=m,path=$qmp,server=on,wait=off" --monitor chardev=m
             --open-hook-fd @FD@ --pidfile "$keep")
    else
        cmd=(env LD_PRELOAD="$PRELOAD_LIB" /usr/bin/qemu-system-x86_64 -machine none
             -nodefaults -display none -qmp "unix:$qmp,server=on,wait=off")
    fi
    broker_bg "$log" -w "$b" -w "$m" -w "$t" -c "$d/qsd.pid" -- "${cmd[@]}"
    bpid=$BROKER_PID

    qc_add() { # NODE FILE [BACKING]
        echo "blockdev-add {\"driver\":\"$fmt\",\"node-name\":\"$1\",\"read-only\":true,${3:+\"backing\":\"$3\",}\"file\":{\"driver\":\"file\",\"node-name\":\"$1-file\",\"filename\":\"$2\"}}"
    }
    "$QMP" "$qmp" "$(qc_add base "$b")" "$(qc_add mid "$m" base)" "$(qc_add top "$t" mid)" \
        "blockdev-reopen {\"options\":[{\"driver\":\"$fmt\",\"node-name\":\"top\",\"read-only\":false,\"backing\":\"mid\",\"file\":\"top-file\"}]}" \
        'block-commit {"job-id":"commit","device":"top","top-node":"mid","base-node":"base"}' \
        'wait-job commit' \
        'block-stream {"job-id":"stream","device":"top"}' \
        'wait-job stream' \
        'blockdev-del {"node-name":"top"}' 'blockdev-del {"node-name":"mid"}' \
        'blockdev-del {"node-name":"base"}' > "$out" 2>&1
    held_settles "$log" "$bpid" "$held"
    local settled=$?
    "$QMP" "$qmp" quit >> "$out" 2>&1
    wait "$bpid"
    local rc=$?

    if [ "$(grep -cE '^(blockdev-add|blockdev-reopen|block-commit|block-stream|blockdev-del) ok' "$out")" -eq 9 ] &&
       grep -qx 'wait-job ok commit' "$out" && grep -qx 'wait-job ok stream' "$out" &&
       ! grep -q error "$out"; then
        ok "$tag: blockdev-add x3, blockdev-reopen ro->rw, block-commit mid->base and block-stream (jobs completed), blockdev-del x3"
    else
        not_ok "$tag: QMP commands"; diag "$out" "$log" "$log.out"
    fi

    # the order, exactly: ro opens in blockdev-add order; the reopen's rw
    # grant of top, then the close of its ro grant; for the commit base
    # reopened rw (new grant, old closed) and back to ro when the job ends;
    # the closes of top, mid and base in blockdev-del order
    local seq want except=
    [ "$flavour" = native ] && except=" (the pid file's grant is never closed)"
    seq=$(event_sequence "$log" "$d/" | grep -v '^open:qsd:' | tr '\n' ' ')
    want="open:base:ro open:mid:ro open:top:ro open:top:rw close:top:ro"
    want="$want open:base:rw close:base:ro open:base:ro close:base:rw"
    want="$want close:top:rw close:mid:ro close:base:ro "
    if grants_in_order "$log" "$keep" && [ "$seq" = "$want" ]; then
        ok "$tag: broker log: opens and close reports in order (add, reopen, commit's rw reopen of base and back, del), each grant closed exactly once$except"
    else
        not_ok "$tag: order of opens and close reports"
        echo "#   got:  $seq"; echo "#   want: $want"
        diag "$log"
    fi

    local what="0 (nothing stays open)"
    [ "$held" -eq 1 ] && what="1: only the pid file $keep, held until exit by design"
    if [ $settled -eq 0 ] && grep -q "held=$held\$" "$log.err" && [ $rc -eq 0 ] &&
       [ "$(granted_paths "$log" | grep -cvxF -e "$b" -e "$m" -e "$t" -e "$keep")" -eq 0 ]; then
        ok "$tag: the broker's held count after the last blockdev-del and at exit is $what"
    else
        not_ok "$tag: held count (after blockdev-del: ${HELD_LAST:-none}, want held=$held; exit: $(cat "$log.err"))"
        diag "$log"
    fi

    # the data, read without the hook: mid committed into base (top's own
    # cluster not), then everything streamed into top, which has no backing
    /usr/bin/qemu-io -f "$fmt" -r -c 'read -P 0x11 0 512k' -c 'read -P 0x44 512k 1M' \
        -c 'read -P 0 2M 64k' "$b" > "$log.verify" 2>&1 &&
    /usr/bin/qemu-io -f "$fmt" -r -c 'read -P 0x11 0 512k' -c 'read -P 0x44 512k 1M' \
        -c 'read -P 0x55 2M 64k' -c 'read -P 0 4M 64k' "$t" >> "$log.verify" 2>&1
    local vrc=$?
    if [ $vrc -eq 0 ] && [ "$(grep -c '^read ' "$log.verify")" -eq 7 ] &&
       ! grep -q 'verification failed' "$log.verify" &&
       ! /usr/bin/qemu-img info "$t" | grep -q 'backing file'; then
        ok "$tag: qemu-io without the hook: base holds mid's data after the commit, top holds everything and has no backing file after the stream"
    else
        not_ok "$tag: data after commit/stream"; diag "$log.verify"
    fi
}

# tool_cmd FLAVOUR hook|ref TOOL: the command line prefix that runs TOOL
# (qemu-img, qemu-io, qemu-nbd) through the broker (hook) or alone (ref):
# the patched build with --open-hook-fd (native) or Debian's with the
# preload library
tool_cmd() {
    local flavour=$1 how=$2 tool=$3
    TOOL_CMD=()
    if [ "$flavour" = native ]; then
        TOOL_CMD=("$QT_TOOLS/$tool")
        [ "$how" = hook ] && TOOL_CMD+=(--open-hook-fd @FD@)
    else
        [ "$how" = hook ] && TOOL_CMD=(env LD_PRELOAD="$PRELOAD_LIB")
        TOOL_CMD+=("/usr/bin/$tool")
    fi
}

# the paths granted in LOG are exactly the arguments (every image the
# command uses was opened through the broker, nothing else was)
granted_exactly() {
    local log=$1; shift
    [ "$(granted_paths "$log")" = "$(printf '%s\n' "$@" | sort -u)" ]
}

# qemu-io's output without its timing lines
io_filter() {
    sed -E '/ ops; [0-9:.]+ sec /d' "$1"
}

# chain_tools FLAVOUR FMT: on a FMT chain base <- overlay, 'qemu-img create'
# of the overlay, qemu-io writes and pattern reads on it and 'qemu-img
# commit' into base, first without the hook (the reference, on the same
# paths), then through the broker.  Each step: exit status and output
# identical to the reference, the broker granted exactly the step's images
# and every grant was reported closed; at the end both image files are
# byte-identical to the reference's and base holds the committed data
# (qemu-io without the hook).
chain_tools() {
    local flavour=$1 fmt=$2 d=$QT_DIR/tools-$1-$2 tag="$1: $2 chain"
    local b=$d/base.$fmt o=$d/overlay.$fmt how log rc
    mkdir -p "$d"
    /usr/bin/qemu-img create -q -f "$fmt" "$b" 8M &&
    /usr/bin/qemu-io -f "$fmt" -c 'write -P 0x11 0 1M' "$b" > /dev/null &&
    cp "$b" "$d/base.orig" || { not_ok "$tag: creating the images"; return; }

    local -a create_args=(create -f "$fmt" -b "$b" -F "$fmt" "$o")
    local -a io_args=(-f "$fmt" -c 'write -P 0x5a 512k 1M' -c 'read -P 0x11 0 512k'
                      -c 'read -P 0x5a 512k 1M' -c 'read -P 0 2M 64k' "$o")
    local -a commit_args=(commit -f "$fmt" "$o")
    for how in ref hook; do
        rm -f "$o"
        cp "$d/base.orig" "$b"
        log=$d/$how
        if [ $how = ref ]; then
            tool_cmd "$flavour" ref qemu-img; "${TOOL_CMD[@]}" "${create_args[@]}" > "$log-create.out" 2>&1
            echo $? > "$log-create.rc"
            tool_cmd "$flavour" ref qemu-io; "${TOOL_CMD[@]}" "${io_args[@]}" > "$log-io.out" 2>&1
            echo $? > "$log-io.rc"
            tool_cmd "$flavour" ref qemu-img; "${TOOL_CMD[@]}" "${commit_args[@]}" > "$log-commit.out" 2>&1
            echo $? > "$log-commit.rc"
            cp "$b" "$d/ref-base" && cp "$o" "$d/ref-overlay"
        else
            tool_cmd "$flavour" hook qemu-img
            broker "$log-create" -r "$b" -c "$o" -- "${TOOL_CMD[@]}" "${create_args[@]}"
            echo $? > "$log-create.rc"
            tool_cmd "$flavour" hook qemu-io
            broker "$log-io" -r "$b" -w "$o" -- "${TOOL_CMD[@]}" "${io_args[@]}"
            echo $? > "$log-io.rc"
            tool_cmd "$flavour" hook qemu-img
            broker "$log-commit" -w "$b" -w "$o" -- "${TOOL_CMD[@]}" "${commit_args[@]}"
            echo $? > "$log-commit.rc"
        fi
    done

    # STEP exited 0 like the reference run, the broker granted exactly
    # base and overlay, and reported every grant closed, once
    tool_step_ok() {
        [ "$(cat "$d/hook-$1.rc")" = 0 ] && cmp -s "$d/ref-$1.rc" "$d/hook-$1.rc" &&
        granted_exactly "$d/hook-$1" "$b" "$o" && grants_in_order "$d/hook-$1"
    }
    log=$d/hook-create
    if tool_step_ok create &&
       grep -qF "Formatting '$o', fmt=$fmt" "$log.out" && cmp -s "$d/ref-create.out" "$log.out" &&
       grep -qE "^event=open decision=grant .*path=\"$o\" .*flags=[0-7]*1[0-7]{2} " "$log"; then
        ok "$tag: qemu-img create of an overlay: output identical to a run without the hook; the broker granted exactly base and overlay (O_CREAT), all closed"
    else
        not_ok "$tag: qemu-img create of an overlay"; diag "$log" "$log.out" "$d/ref-create.out"
    fi

    log=$d/hook-io
    if tool_step_ok io &&
       [ "$(grep -c '^read ' "$log.out")" -eq 3 ] && ! grep -q 'verification failed' "$log.out" &&
       [ "$(io_filter "$log.out")" = "$(io_filter "$d/ref-io.out")" ] &&
       grep -qE "^event=open decision=grant .*path=\"$o\" .*flags=[0-7]*2 " "$log"; then
        ok "$tag: qemu-io write + pattern reads (overlay and backing data): output identical to a run without the hook; exactly base and overlay granted, all closed"
    else
        not_ok "$tag: qemu-io write/read"; diag "$log" "$log.out" "$d/ref-io.out"
    fi

    log=$d/hook-commit
    /usr/bin/qemu-io -f "$fmt" -r -c 'read -P 0x11 0 512k' -c 'read -P 0x5a 512k 1M' \
        -c 'read -P 0 2M 64k' "$b" > "$log.verify" 2>&1
    rc=$?
    if tool_step_ok commit &&
       grep -qx 'Image committed.' "$log.out" && cmp -s "$d/ref-commit.out" "$log.out" &&
       grep -qE "^event=open decision=grant .*path=\"$b\" .*flags=[0-7]*2 " "$log" &&
       [ $rc -eq 0 ] && [ "$(grep -c '^read ' "$log.verify")" -eq 3 ] &&
       ! grep -q 'verification failed' "$log.verify" &&
       cmp -s "$b" "$d/ref-base" && cmp -s "$o" "$d/ref-overlay"; then
        ok "$tag: qemu-img commit: output identical to a run without the hook, exactly base (rw) and overlay granted, all closed; committed data verified without the hook, both files byte-identical to the reference run's"
    else
        not_ok "$tag: qemu-img commit"; diag "$log" "$log.out" "$d/ref-commit.out" "$log.verify"
    fi
}

# ---------------------------------------------------------------------
# Scenarios shared by both flavours.  Each takes the flavour (native or
# preload) first; check descriptions start with it.

# The pipeline's lean QEMU build may lack qed (--without-default-features)
have_qed() {
    local help
    tool_cmd "$1" ref qemu-img
    help=$("${TOOL_CMD[@]}" --help 2>/dev/null)
    # QEMU 7.2: "Supported formats: ... qed ..."; 10.0: a paragraph under
    # "Supported image formats:"
    sed -n '/^Supported \(image \)\?formats:/,/^$/p;/^Supported image formats:/,/^See/p' <<< "$help" |
        grep -qw qed
}

# each_fmt FLAVOUR FUNCTION WHAT: FUNCTION FLAVOUR FMT for qcow2 and qed
# (SKIP WHAT on qed if the flavour's build lacks it)
each_fmt() {
    local flavour=$1 fn=$2 what=$3 fmt
    for fmt in qcow2 qed; do
        if [ $fmt = qed ] && ! have_qed "$flavour"; then
            ok "# SKIP $flavour: $what on a qed chain: the $flavour build has no qed driver"
            continue
        fi
        "$fn" "$flavour" $fmt
    done
}

# chain_images FLAVOUR: in $QT_DIR/img-FLAVOUR a qcow2 chain base <- top
# (0x11 in base's first MiB, 0x55 at 2M in top), a qed chain qbase <- qtop
# (0x22 in qbase's first MiB), and the single images outside.qcow2 and
# hot.qcow2
chain_images() {
    local d=$QT_DIR/img-$1
    mkdir -p "$d"
    /usr/bin/qemu-img create -q -f qcow2 "$d/base.qcow2" 8M &&
    /usr/bin/qemu-io -f qcow2 -c 'write -P 0x11 0 1M' "$d/base.qcow2" >/dev/null &&
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/top.qcow2" &&
    /usr/bin/qemu-io -f qcow2 -c 'write -P 0x55 2M 64k' "$d/top.qcow2" >/dev/null &&
    /usr/bin/qemu-img create -q -f qed "$d/qbase.qed" 8M &&
    /usr/bin/qemu-io -f qed -c 'write -P 0x22 0 1M' "$d/qbase.qed" >/dev/null &&
    /usr/bin/qemu-img create -q -f qed -b qbase.qed -F qed "$d/qtop.qed" &&
    /usr/bin/qemu-img create -q -f qcow2 "$d/outside.qcow2" 8M &&
    /usr/bin/qemu-img create -q -f qcow2 "$d/hot.qcow2" 8M
}

# chain_info FLAVOUR FMT: qemu-img info --backing-chain with relative names
# through the broker; output identical to the same qemu-img without hook
chain_info() {
    local flavour=$1 fmt=$2 d=$QT_DIR/img-$1 log=$QT_DIR/$1-info-$2.log top base rc
    if [ "$fmt" = qcow2 ]; then top=top.qcow2 base=base.qcow2; else top=qtop.qed base=qbase.qed; fi
    tool_cmd "$flavour" hook qemu-img
    (cd "$d" && broker "$log" -r "$d/$base" -r "$d/$top" -- "${TOOL_CMD[@]}" info --backing-chain "$top")
    rc=$?
    tool_cmd "$flavour" plain qemu-img
    (cd "$d" && "${TOOL_CMD[@]}" info --backing-chain "$top" > "$log.ref" 2>&1)
    if [ $rc -eq 0 ] && cmp -s "$log.out" "$log.ref" &&
       [ "$(count_events "$log" "^event=open decision=grant .*path=\"$d/$top\"")" -ge 1 ] &&
       [ "$(count_events "$log" "^event=open decision=grant .*path=\"$d/$base\"")" -ge 1 ] &&
       [ "$(count_events "$log" "decision=deny")" -eq 0 ] &&
       granted_exactly "$log" "$d/$base" "$d/$top" && grants_in_order "$log"; then
        ok "$flavour: qemu-img info --backing-chain ($fmt, relative names): the broker granted exactly the chain's images, all closed; output identical to a run without the hook"
    else
        not_ok "$flavour: qemu-img info --backing-chain ($fmt)"; diag "$log" "$log.out" "$log.err"
    fi
}

# outside_denied FLAVOUR TOOL LOG IMAGE ARG...: the hooked TOOL ARG...
# IMAGE, with only base.qcow2 whitelisted: TOOL exits with 'Permission
# denied', the broker logs the denial and grants nothing
outside_denied() {
    local flavour=$1 tool=$2 log=$3 img=$4 rc
    shift 4
    tool_cmd "$flavour" hook "$tool"
    # (timeout: a qemu-nbd that wrongly gets its image would serve forever)
    broker "$log" -r "$QT_DIR/img-$flavour/base.qcow2" -- timeout 60 "${TOOL_CMD[@]}" "$@" "$img"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] &&
       grep -qF "Could not open '$img': Permission denied" "$log.out" &&
       grep -qE "^event=open decision=deny reason=not-listed .*path=\"$img\"" "$log" &&
       [ "$(count_events "$log" '^event=open decision=grant')" -eq 0 ]; then
        ok "$flavour: $tool on an image outside the whitelist: exits with 'Permission denied', the broker logs the denial, nothing granted"
    else
        not_ok "$flavour: $tool on an image outside the whitelist (exit $rc)"; diag "$log" "$log.out"
    fi
}

# denials FLAVOUR: a backing file not whitelisted, an image outside the
# whitelist, a write open of a read-only entry, a create over an rw entry
# without create permission
denials() {
    local flavour=$1 d=$QT_DIR/img-$1 log=$QT_DIR/$1-backing-denied.log
    tool_cmd "$flavour" hook qemu-img
    (cd "$d" && broker "$log" -r "$d/top.qcow2" -- "${TOOL_CMD[@]}" info --backing-chain top.qcow2)
    if [ $? -ne 0 ] &&
       grep -qF "qemu-img: Could not open 'base.qcow2': Could not open 'base.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny reason=not-listed .*path=\"$d/base.qcow2\"" "$log"; then
        ok "$flavour: backing file named in the header but not whitelisted: clean 'Permission denied', broker logs the denial"
    else
        not_ok "$flavour: backing file not whitelisted"; diag "$log" "$log.out"
    fi

    outside_denied "$flavour" qemu-img "$QT_DIR/$flavour-outside.log" "$d/outside.qcow2" info

    # an existing rw entry without create permission: creating (O_CREAT,
    # which would also truncate it) is refused and the file is untouched
    log=$QT_DIR/$flavour-create-denied.log
    tool_cmd "$flavour" hook qemu-img
    cp "$d/hot.qcow2" "$d/nocreate.qcow2"
    broker "$log" -r "$d/base.qcow2" -w "$d/nocreate.qcow2" -- \
        "${TOOL_CMD[@]}" create -f raw "$d/nocreate.qcow2" 1M
    if cmp -s "$d/hot.qcow2" "$d/nocreate.qcow2" &&
       grep -qF "Could not create '$d/nocreate.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny reason=no-create .*path=\"$d/nocreate.qcow2\"" "$log"; then
        ok "$flavour: qemu-img create over an rw entry without create permission: denied, file untouched"
    else
        not_ok "$flavour: qemu-img create without create permission"; diag "$log" "$log.out"
    fi

    log=$QT_DIR/$flavour-write-ro.log
    tool_cmd "$flavour" hook qemu-io
    broker "$log" -r "$d/hot.qcow2" -- "${TOOL_CMD[@]}" -f qcow2 -c 'write 0 64k' "$d/hot.qcow2"
    if grep -qF "Could not open '$d/hot.qcow2': Permission denied" "$log.out" &&
       grep -qE "decision=deny reason=read-only .*path=\"$d/hot.qcow2\"" "$log"; then
        ok "$flavour: write open of a read-only entry: 'Permission denied', broker logs reason=read-only"
    else
        not_ok "$flavour: write open of a read-only entry"; diag "$log" "$log.out"
    fi
}

# vm_system FLAVOUR: qemu-system-x86_64 (native: the patched build with
# -open-hook-fd; preload: Debian's with the library) starts a VM on a
# chain; QMP blockdev-add allowed/denied, reopen ro->rw, locking against a
# hooked qemu-img, blockdev-del; then the broker is killed.
vm_system() {
    local flavour=$1 d=$QT_DIR/img-$1 log=$QT_DIR/$1-system.log
    local qmp=$QT_DIR/$1-qmp.sock out=$QT_DIR/$1-qmp.out bpid qpid i
    local -a sys
    if [ "$flavour" = native ]; then
        sys=("$QSYS" "${QSYS_FW[@]}" -open-hook-fd @FD@)
    else
        sys=(env LD_PRELOAD="$PRELOAD_LIB" /usr/bin/qemu-system-x86_64)
    fi
    /usr/bin/qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/vmtop.qcow2"
    broker_bg "$log" -r "$d/base.qcow2" -w "$d/vmtop.qcow2" -w "$d/hot.qcow2" -r "$d/top.qcow2" -- \
        "${sys[@]}" -machine pc -accel tcg -m 64 -nographic -S -nodefaults \
        -qmp "unix:$qmp,server=on,wait=off" \
        -blockdev "driver=file,filename=$d/base.qcow2,node-name=basefile,read-only=on" \
        -blockdev driver=qcow2,file=basefile,node-name=base,read-only=on \
        -blockdev "driver=file,filename=$d/vmtop.qcow2,node-name=topfile" \
        -blockdev driver=qcow2,file=topfile,backing=base,node-name=top \
        -device virtio-blk-pci,drive=top
    bpid=$BROKER_PID

    "$QMP" "$qmp" 'query-status' \
        "blockdev-add {\"driver\":\"file\",\"filename\":\"$d/outside.qcow2\",\"node-name\":\"denied\"}" \
        "blockdev-add {\"driver\":\"file\",\"filename\":\"$d/hot.qcow2\",\"node-name\":\"hot\",\"read-only\":true}" \
        "blockdev-reopen {\"options\":[{\"driver\":\"file\",\"filename\":\"$d/hot.qcow2\",\"node-name\":\"hot\",\"read-only\":false}]}" \
        > "$out" 2>&1
    if grep -q '^query-status ok' "$out" &&
       grep -qF "blockdev-add error: Could not open '$d/outside.qcow2': Permission denied" "$out" &&
       [ "$(count_events "$log" "decision=grant .*path=\"$d/vmtop.qcow2\".*flags=[0-7]*2 ")" -eq 1 ] &&
       [ "$(count_events "$log" "decision=grant .*path=\"$d/base.qcow2\"")" -eq 1 ] &&
       grep -qE "decision=deny .*path=\"$d/outside.qcow2\"" "$log" &&
       ! grep -qE 'seabios|/usr/' "$log"; then
        ok "$flavour: qemu-system-x86_64 starts on a qcow2 chain via -blockdev through the hook (firmware stays local); QMP blockdev-add of a denied file: 'Permission denied'"
    else
        not_ok "$flavour: qemu-system-x86_64 on a chain / denied blockdev-add"; diag "$out" "$log" "$log.out"
    fi

    # reopen ro->rw: a second OPEN (rw) and the ro grant's close
    local hot_events
    hot_events=$(grep -E "path=\"$d/hot.qcow2\"" "$log" | grep -oE '^event=[a-z]+|flags=[0-7]+' | tr '\n' ' ')
    if grep -q '^blockdev-reopen ok' "$out" &&
       [ "$hot_events" = "event=open flags=02000000 event=open flags=02000002 event=close " ]; then
        ok "$flavour: QMP blockdev-reopen ro->rw: new rw grant, then the ro grant is reported closed"
    else
        not_ok "$flavour: QMP blockdev-reopen ro->rw (hot events: $hot_events)"; diag "$out" "$log"
    fi

    # locking: the VM's disk is locked against a hooked qemu-img
    local llog=$QT_DIR/$flavour-lock.log
    tool_cmd "$flavour" hook qemu-img
    broker "$llog" -r "$d/vmtop.qcow2" -- "${TOOL_CMD[@]}" info "$d/vmtop.qcow2"
    if [ $? -ne 0 ] && grep -qF 'Failed to get shared "write" lock' "$llog.out"; then
        ok "$flavour: image locking through the hook: the VM's disk (fd from the broker) conflicts with a hooked qemu-img"
    else
        not_ok "$flavour: image locking: VM disk vs qemu-img"; diag "$llog" "$llog.out"
    fi
    "$QMP" "$qmp" 'blockdev-del {"node-name":"hot"}' >> "$out" 2>&1
    if grep -q '^blockdev-del ok' "$out" &&
       [ "$(count_events "$log" "^event=close .*path=\"$d/hot.qcow2\"")" -eq 2 ]; then
        ok "$flavour: QMP blockdev-del: the rw grant is reported closed"
    else
        not_ok "$flavour: QMP blockdev-del close report"; diag "$out" "$log"
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
    if [ -n "$qpid" ] && [ "$(grep -c '^query-status ok' "$out.dead")" -eq 2 ] &&
       grep -qF "blockdev-add error: Could not open '$d/hot.qcow2': Input/output error" "$out.dead" &&
       grep -qF "blockdev-add error: Could not open '$d/top.qcow2': Input/output error" "$out.dead" &&
       [ "$fds" -eq 0 ]; then
        ok "$flavour: broker killed mid-run: QEMU keeps running, next opens fail with EIO, no local open"
    else
        not_ok "$flavour: broker killed mid-run (fds on images: $fds)"; diag "$out.dead" "$log.out"
    fi
    "$QMP" "$qmp" quit > /dev/null 2>&1
    for i in $(seq 50); do
        gone "$qpid" && break
        sleep 0.1
    done
    check "$flavour: QEMU quits normally after the broker died" gone "$qpid"
}

# nbd_serve FLAVOUR: qemu-nbd (native: patched --open-hook-fd; preload:
# Debian's with the library) serves the top of chain_images' qcow2 chain on
# a UNIX socket through the broker; qemu-io without the hook reads base's and
# top's data over NBD and writes a cluster.  Checks the data (over NBD and
# in the files afterwards), the exact grants (top rw, base ro), the held
# count while serving (SIGUSR1) and at exit, and the close reports.
nbd_serve() {
    local flavour=$1 d=$QT_DIR/img-$1 tag="$1: qemu-nbd" b t sock log bpid settled serving crc rc vrc i
    b=$d/base.qcow2 t=$d/top.qcow2 sock=$d/nbd.sock log=$QT_DIR/$1-nbd.log
    # (timeout: a qemu-nbd that never gets its client must not hang the run)
    tool_cmd "$flavour" hook qemu-nbd
    broker_bg "$log" -r "$b" -w "$t" -- timeout 60 "${TOOL_CMD[@]}" -k "$sock" -f qcow2 "$t"
    bpid=$BROKER_PID
    # the socket appears once qemu-nbd runs (so the broker is ready for
    # SIGUSR1), before it opens the image
    for i in $(seq 50); do
        [ -S "$sock" ] && break
        sleep 0.1
    done
    held_settles "$log" "$bpid" 2
    settled=$? serving=$HELD_LAST
    tool_cmd "$flavour" ref qemu-io
    "${TOOL_CMD[@]}" -f raw -c 'read -P 0x11 0 1M' -c 'read -P 0x55 2M 64k' -c 'read -P 0 4M 64k' \
        -c 'write -P 0x66 3M 64k' -c 'read -P 0x66 3M 64k' "nbd+unix:///?socket=$sock" > "$log.client" 2>&1
    crc=$?
    # without -t (--persistent), qemu-nbd exits when its client disconnects
    wait "$bpid"
    rc=$?
    /usr/bin/qemu-io -f qcow2 -r -c 'read -P 0x66 3M 64k' -c 'read -P 0x55 2M 64k' "$t" > "$log.verify" 2>&1 &&
    /usr/bin/qemu-io -f qcow2 -r -c 'read -P 0 3M 64k' -c 'read -P 0x11 0 1M' "$b" >> "$log.verify" 2>&1
    vrc=$?

    if [ $crc -eq 0 ] && [ "$(grep -c '^read ' "$log.client")" -eq 4 ] &&
       [ "$(grep -c '^wrote ' "$log.client")" -eq 1 ] && ! grep -q 'verification failed' "$log.client" &&
       [ $vrc -eq 0 ] && [ "$(grep -c '^read ' "$log.verify")" -eq 4 ] &&
       ! grep -q 'verification failed' "$log.verify" &&
       granted_exactly "$log" "$b" "$t" &&
       grep -qE "^event=open decision=grant .*path=\"$t\" .*flags=[0-7]*2 " "$log" &&
       ! grep -qE "^event=open decision=grant .*path=\"$b\" .*flags=[0-7]*[12] " "$log"; then
        ok "$tag on a qcow2 chain through the hook: the broker granted exactly top (rw) and base (ro); qemu-io over NBD reads base's and top's data and writes a cluster, which lands in top (checked without the hook)"
    else
        not_ok "$tag: serving a qcow2 chain (client exit $crc)"; diag "$log.client" "$log.verify" "$log" "$log.out"
    fi

    if [ $settled -eq 0 ] && [ $rc -eq 0 ] && grants_in_order "$log" &&
       grep -q 'held=0$' "$log.err"; then
        ok "$tag: the broker's held count is 2 while it serves (top and base) and 0 when it exits: every grant reported closed, once"
    else
        not_ok "$tag: held count / close reports (serving: ${serving:-none}, want held=2; exit status $rc; exit: $(cat "$log.err"))"
        diag "$log" "$log.out"
    fi
}

# nbd_denied FLAVOUR: qemu-nbd on an image outside the whitelist, and on a
# top whose backing file is not whitelisted
nbd_denied() {
    local flavour=$1 d=$QT_DIR/img-$1 tag="$1: qemu-nbd" log rc b t
    b=$d/base.qcow2 t=$d/top.qcow2
    outside_denied "$flavour" qemu-nbd "$QT_DIR/$flavour-nbd-outside.log" "$d/outside.qcow2" \
        -k "$d/nbd-outside.sock" -f qcow2

    log=$QT_DIR/$flavour-nbd-backing-denied.log
    tool_cmd "$flavour" hook qemu-nbd
    broker "$log" -w "$t" -- timeout 60 "${TOOL_CMD[@]}" -k "$d/nbd-backing.sock" -f qcow2 "$t"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] &&
       grep -qF "Could not open backing file: Could not open '$b': Permission denied" "$log.out" &&
       grep -qE "^event=open decision=deny reason=not-listed .*path=\"$b\"" "$log" &&
       granted_exactly "$log" "$t" && grants_in_order "$log" && grep -q 'held=0$' "$log.err"; then
        ok "$tag on a top whose backing file is not whitelisted: exits with 'Permission denied' for the backing file, the broker logs the denial; top's grants all reported closed (held=0)"
    else
        not_ok "$tag with its backing file not whitelisted (exit $rc)"; diag "$log" "$log.out" "$log.err"
    fi
}

# nbd_dead_broker FLAVOUR: qemu-nbd with a dead broker fails closed
# (deadpeer.py): the broker's end closed before start, and a broker that
# answers HELLO and hangs up before the first OPEN.  qemu-nbd must exit
# with an error without opening the chain's files itself (inotify).
nbd_dead_broker() {
    local flavour=$1 d=$QT_DIR/img-$1 tag="$1: qemu-nbd" mode out rc want hello what b t
    b=$d/base.qcow2 t=$d/top.qcow2
    tool_cmd "$flavour" hook qemu-nbd
    for mode in closed hello; do
        out=$QT_DIR/$flavour-nbd-dead-$mode.out
        python3 "$DEADPEER" $mode --watch "$t" --watch "$b" -- \
            timeout 60 "${TOOL_CMD[@]}" -k "$d/nbd-dead-$mode.sock" -f qcow2 "$t" > "$out" 2>&1
        rc=$?
        # the native client checks the channel at start-up (HELLO); the
        # preload library fails the routed opens instead
        want="Failed to blk_new_open '$t': Could not open '$t': Input/output error"
        [ "$flavour" = native ] && [ $mode = closed ] &&
            want="qemu-nbd: Cannot send to the open hook broker: Broken pipe"
        if [ $mode = closed ]; then
            hello=n/a what="a dead broker (its end closed before qemu-nbd starts)"
        else
            hello=yes what="a broker that answers HELLO and hangs up before the first OPEN"
        fi
        if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 3 ] && grep -qF "$want" "$out" &&
           grep -qx "deadpeer: hello=$hello local-opens=0" "$out"; then
            ok "$tag with $what: exits with '${want##*: }', no local open of the chain's files"
        else
            not_ok "$tag with a dead broker ($mode, exit $rc)"; diag "$out"
        fi
    done
}

# shared_all FLAVOUR: every scenario both flavours run
shared_all() {
    local flavour=$1
    if ! chain_images "$flavour"; then
        not_ok "$flavour: creating test images"
        return 1
    fi
    ok "$flavour: test images created (qcow2 and qed chains)"
    each_fmt "$flavour" chain_info "qemu-img info --backing-chain"
    denials "$flavour"
    each_fmt "$flavour" chain_tools "qemu-img create/qemu-io/qemu-img commit"
    vm_system "$flavour"
    each_fmt "$flavour" qmp_chain "QMP block jobs"
    nbd_serve "$flavour"
    nbd_denied "$flavour"
    nbd_dead_broker "$flavour"
}
