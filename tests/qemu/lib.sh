# shellcheck shell=bash
# Helpers for the QEMU-side tests: TAP-ish output, a scratch directory, the
# standalone broker.  Source it, don't run it.

set -uo pipefail

QT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QT_BUILD=${OPENHOOK_BUILD:-$QT_ROOT/build}
QT_TOOLS=$QT_BUILD/qemu-tools
QT_SYS=$QT_BUILD/qemu-sys
BROKER=$QT_BUILD/openhook/openhook-broker
QMP=$QT_ROOT/tests/qemu/qmp.py
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

QIMG=$QT_TOOLS/qemu-img
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

# broker LOG [broker options] -- COMMAND...: run COMMAND under the broker
# (@FD@ in COMMAND is the socket's number).  Events go to LOG, COMMAND's
# stdout and stderr to LOG.out, the broker's own stderr to LOG.err.
# Returns COMMAND's exit status.
broker() {
    local log=$1; shift
    local -a opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    "$BROKER" "${opts[@]}" -- /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' \
        sh "$log.out" "$@" > "$log" 2> "$log.err"
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
    "$BROKER" -w "$b" -w "$m" -w "$t" -c "$d/qsd.pid" -- \
        /bin/sh -c 'out=$1; shift; exec "$@" > "$out" 2>&1' sh "$log.out" \
        "${cmd[@]}" > "$log" 2> "$log.err" &
    bpid=$!
    QT_PIDS+=("$bpid")

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
        -c 'read -P 0 2M 64k' "$b" > "$d/verify.out" 2>&1 &&
    /usr/bin/qemu-io -f "$fmt" -r -c 'read -P 0x11 0 512k' -c 'read -P 0x44 512k 1M' \
        -c 'read -P 0x55 2M 64k' -c 'read -P 0 4M 64k' "$t" >> "$d/verify.out" 2>&1
    local vrc=$?
    if [ $vrc -eq 0 ] && [ "$(grep -c '^read ' "$d/verify.out")" -eq 7 ] &&
       ! grep -q 'verification failed' "$d/verify.out" &&
       ! /usr/bin/qemu-img info "$t" | grep -q 'backing file'; then
        ok "$tag: qemu-io without the hook: base holds mid's data after the commit, top holds everything and has no backing file after the stream"
    else
        not_ok "$tag: data after commit/stream"; diag "$d/verify.out"
    fi
}

# tool_cmd FLAVOUR hook|ref TOOL: the command line prefix that runs TOOL
# (qemu-img, qemu-io) through the broker (hook) or alone (ref): the patched
# build with --open-hook-fd (native) or Debian's with the preload library
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
