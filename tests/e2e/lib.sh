# shellcheck shell=bash
# E2E harness: the patched, source-built virtqemud/virtlogd/virsh from the
# libvirt build tree, QEMU built from the patched tree, real qcow2 chains.
# Source it from a scenario script.  docs/hacking.rst ("The E2E harness")
# says why each step is here.

set -euo pipefail

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$E2E_LIB_DIR/../../scripts/lib.sh"

# Guests' files live where the libvirt-qemu user can reach them whatever the
# permissions of the checkout's parents are.
E2E_DIR=${E2E_DIR:-/var/tmp/openhook-e2e}
E2E_LOGS=$E2E_DIR/logs
E2E_BIN=$E2E_DIR/bin

# E2E_LIBVIRT_BUILDDIR: another libvirt build of the same base, e.g. of
# the series up to an earlier patch, to see a scenario fail without a fix
LIBVIRT_BUILDDIR=${E2E_LIBVIRT_BUILDDIR:-$LIBVIRT_BUILDDIR}
VIRSH_BIN=$LIBVIRT_BUILDDIR/tools/virsh
VIRTQEMUD=$LIBVIRT_BUILDDIR/src/virtqemud
VIRTLOGD=$LIBVIRT_BUILDDIR/src/virtlogd
QEMU_IMG=$QEMU_TOOLS_BUILDDIR/qemu-img
QEMU_IO=$QEMU_TOOLS_BUILDDIR/qemu-io
# libvirt execs QEMU as libvirt-qemu, which may not traverse the checkout, so
# the emulator is run from a copy in $E2E_BIN.
E2E_EMULATOR=$E2E_BIN/qemu-system-x86_64

E2E_PASSED=0
E2E_FAILED=0
E2E_SCENARIO=${E2E_SCENARIO:-$(basename "$0" .sh)}

virsh() { "$VIRSH_BIN" -q -c qemu:///system "$@"; }
# virsh that gives up after $1 seconds, for commands that a stalled daemon
# must not hang (timeout cannot run a shell function).
virsh_within() { local t=$1; shift; timeout "$t" "$VIRSH_BIN" -q -c qemu:///system "$@"; }
# Without -q, for commands whose messages are the result (block jobs).
virsh_verbose() { "$VIRSH_BIN" -c qemu:///system "$@"; }

ok() {
    E2E_PASSED=$((E2E_PASSED + 1))
    printf 'ok %d - %s: %s\n' $((E2E_PASSED + E2E_FAILED)) "$E2E_SCENARIO" "$*"
}

not_ok() {
    E2E_FAILED=$((E2E_FAILED + 1))
    printf 'not ok %d - %s: %s\n' $((E2E_PASSED + E2E_FAILED)) "$E2E_SCENARIO" "$*"
}

# check DESCRIPTION COMMAND...: runs COMMAND, records the outcome, and shows
# COMMAND's output when it fails.
check() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then
        ok "$desc"
    else
        not_ok "$desc"
        printf '#   %s\n' "$@" >&2
        printf '%s\n' "$out" | sed 's/^/#   | /' >&2
    fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        not_ok "$1"
        printf '#   expected: %s\n#   actual:   %s\n' "$2" "$3" >&2
    fi
}

e2e_summary() {
    printf '# %s: %d passed, %d failed\n' "$E2E_SCENARIO" "$E2E_PASSED" "$E2E_FAILED"
    [ "$E2E_FAILED" -eq 0 ]
}

# --- host and daemons ----------------------------------------------------

e2e_require() {
    local f
    for f in "$VIRSH_BIN" "$VIRTQEMUD" "$VIRTLOGD" "$QEMU_IMG" "$QEMU_IO" \
             "$QEMU_SYS_BUILDDIR/qemu-system-x86_64"; do
        [ -x "$f" ] || die "$f is missing: run scripts/build.sh first"
    done
    getent passwd libvirt-qemu >/dev/null || die "no libvirt-qemu user: run scripts/deps.sh"
    if [ -f /run/virtqemud.pid ] && kill -0 "$(cat /run/virtqemud.pid)" 2>/dev/null; then
        die "a virtqemud is already running (pid $(cat /run/virtqemud.pid)): only one stack can run per host"
    fi
}

e2e_install_emulator() {
    mkdir -p "$E2E_BIN"
    chmod 0755 "$E2E_DIR" "$E2E_BIN"
    if ! cmp -s "$QEMU_SYS_BUILDDIR/qemu-system-x86_64" "$E2E_EMULATOR"; then
        install -m 0755 "$QEMU_SYS_BUILDDIR/qemu-system-x86_64" "$E2E_EMULATOR"
    fi
    # QEMU finds its data relative to its binary (prefix /usr, so bin/../share/
    # qemu): point those places at the firmware Debian's packages installed.
    mkdir -p "$E2E_DIR/share" "$E2E_DIR/lib"
    ln -sfn /usr/share/qemu "$E2E_DIR/share/qemu"
    ln -sfn /usr/share/seabios "$E2E_DIR/share/seabios"
    ln -sfn /usr/lib/ipxe "$E2E_DIR/lib/ipxe"
}

e2e_daemons_up() {
    e2e_require
    mkdir -p "$E2E_DIR" "$E2E_LOGS" /etc/libvirt /var/log/libvirt
    e2e_install_emulator
    # An empty qemu.conf means libvirt's defaults: mount namespace, DAC,
    # stdio through virtlogd.  Scenarios that need options write their own.
    if [ -n "${E2E_QEMU_CONF:-}" ]; then
        printf '%s\n' "$E2E_QEMU_CONF" > /etc/libvirt/qemu.conf
    else
        rm -f /etc/libvirt/qemu.conf
    fi
    # E2E_LOG=production: warnings only, as a packaged daemon logs (for
    # benchmarks: debug logging costs the daemon CPU on every request)
    if [ "${E2E_LOG:-debug}" = production ]; then
        cat > "$E2E_DIR/virtqemud.conf" <<EOF
log_outputs="3:file:$E2E_LOGS/virtqemud.log"
audit_logging = 1
EOF
    else
        cat > "$E2E_DIR/virtqemud.conf" <<EOF
log_filters="1:qemu 1:libvirt 3:object 3:json 3:event 1:util 1:security 3:rpc"
log_outputs="1:file:$E2E_LOGS/virtqemud-debug.log 3:file:$E2E_LOGS/virtqemud.log"
audit_logging = 1
EOF
    fi
    # as installed: QEMU's user may run the opener, not read (trace) it
    if [ -f "$LIBVIRT_BUILDDIR/src/libvirt_openhook_opener" ]; then
        chmod 0711 "$LIBVIRT_BUILDDIR/src/libvirt_openhook_opener"
    fi
    "$VIRTLOGD" -d
    "$VIRTQEMUD" -d -f "$E2E_DIR/virtqemud.conf" 2>/dev/null
    local i
    for i in $(seq 100); do
        [ -S /run/libvirt/virtqemud-sock ] && virsh version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "virtqemud did not come up (log: $E2E_LOGS/virtqemud.log)"
}

e2e_daemons_down() {
    local d p pid
    if [ -S /run/libvirt/virtqemud-sock ]; then
        for d in $(virsh list --name 2>/dev/null); do virsh destroy "$d" >/dev/null 2>&1 || true; done
        for d in $(virsh list --all --name 2>/dev/null); do
            virsh undefine "$d" --snapshots-metadata --checkpoints-metadata \
                --managed-save --nvram >/dev/null 2>&1 || true
        done
    fi
    for p in /run/virtqemud.pid /run/virtlogd.pid; do
        [ -f "$p" ] || continue
        pid=$(cat "$p")
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    # libvirt removes the per-VM groups but leaves their empty parents.
    rmdir /sys/fs/cgroup/*/machine /sys/fs/cgroup/machine 2>/dev/null || true
    rm -f /etc/libvirt/qemu.conf
}

# e2e_umount_under DIR: detach every mount at or below DIR, deepest first,
# whether or not its FUSE server still runs (mountpoint(1) stats the
# directory, which fails on a mount whose server died, so it does not see
# one); at the start of a scenario, whose directory an earlier run that was
# killed may have left mounted, and in its cleanup.
e2e_umount_under() {
    local dir m
    dir=$(realpath -m "$1")
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
}

# --- images and domains --------------------------------------------------

# e2e_mkchain DIR FORMAT NAME...: NAME[0] is the base; each next image has the
# previous one as backing file; layer i holds the byte pattern 0x11*(i+1) at
# offset i MiB, so that a broken chain shows in the data.
e2e_mkchain() {
    local dir=$1 fmt=$2; shift 2
    local prev="" i=0 name
    mkdir -p "$dir"
    for name in "$@"; do
        if [ -z "$prev" ]; then
            "$QEMU_IMG" create -q -f "$fmt" "$dir/$name" 64M
        else
            "$QEMU_IMG" create -q -f "$fmt" -b "$dir/$prev" -F "$fmt" "$dir/$name"
        fi
        "$QEMU_IO" -f "$fmt" -c "write -P $((0x11 * (i + 1))) ${i}M 1M" "$dir/$name" >/dev/null
        prev=$name
        i=$((i + 1))
    done
}

# E2E_FLAVOUR=preload: a scenario's guests run the QEMU Debian 13 ships,
# which has no -open-hook-fd, with the preload library (e2e_flavour sets
# it up): QEMU 10.0.13 built from the base's tree without the series
# (scripts/build-qemu.sh pristine), since the machine is Debian 12.
E2E_PRELOAD_SO=$BUILD/openhook/src/preload/libopenhook-preload.so
# The preload library sends every open outside the system directories to
# libvirt, so this QEMU finds its firmware in /usr/share, as Debian's does
# (it is built --disable-relocatable), not through the E2E directory.
E2E_PRISTINE_EMULATOR=$E2E_DIR/pristine/bin/qemu-system-x86_64

# e2e_flavour: for E2E_FLAVOUR=preload, install the preload library where
# QEMU's user can read it, add it to E2E_QEMU_CONF and make the guests use
# the distribution's QEMU
e2e_flavour() {
    [ "${E2E_FLAVOUR:-native}" = preload ] || return 0
    mkdir -p "$E2E_DIR/lib"
    chmod 0755 "$E2E_DIR"
    install -m 0755 "$E2E_PRELOAD_SO" "$E2E_DIR/lib/"
    E2E_QEMU_CONF="${E2E_QEMU_CONF:-}
open_hook_preload = \"$E2E_DIR/lib/libopenhook-preload.so\""
    [ -x "$QEMU_PRISTINE_BUILDDIR/qemu-system-x86_64" ] ||
        die "no pristine QEMU: run scripts/build-qemu.sh pristine"
    e2e_install_emulator
    if ! cmp -s "$QEMU_PRISTINE_BUILDDIR/qemu-system-x86_64" "$E2E_PRISTINE_EMULATOR"; then
        install -D -m 0755 "$QEMU_PRISTINE_BUILDDIR/qemu-system-x86_64" "$E2E_PRISTINE_EMULATOR"
        chmod 0755 "$E2E_DIR/pristine" "$E2E_DIR/pristine/bin"
    fi
    E2E_GUEST_EMULATOR=$E2E_PRISTINE_EMULATOR
}

# e2e_qemu_pids: the QEMU processes of either emulator the scenarios run
# (ours, or the pristine one in the preload flavour), one pid per line
e2e_qemu_pids() {
    pgrep -f -- "^($E2E_EMULATOR|$E2E_PRISTINE_EMULATOR) " || true
}

# e2e_has_channel PID: QEMU got the channel: -open-hook-fd natively, the
# preload library in the preload flavour
e2e_has_channel() {
    if [ "${E2E_FLAVOUR:-native}" = preload ]; then
        grep -qx "LD_PRELOAD=$E2E_DIR/lib/libopenhook-preload.so" <(tr '\0' '\n' < "/proc/$1/environ")
    else
        grep -qE -- '-open-hook-fd [0-9]+' <(tr '\0' ' ' < "/proc/$1/cmdline")
    fi
}

# e2e_domain_xml NAME DISK_PATH [EXTRA_DEVICES]: a diskful guest with no OS
# that stays in SeaBIOS; its disk is on virtio-scsi so detach needs no guest.
e2e_domain_xml() {
    local name=$1 disk=$2 extra=${3:-}
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <emulator>${E2E_GUEST_EMULATOR:-$E2E_EMULATOR}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$disk'/>
      <target dev='sda' bus='scsi'/>
    </disk>
    <controller type='scsi' model='virtio-scsi'/>
    $extra
    <serial type='pty'/>
    <console type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# e2e_guest_done F DOM: destroy and undefine DOM (checked, as F), then
# stop the daemons: the end of one flavour of a scenario
e2e_guest_done() {
    check "$1: destroy" virsh destroy "$2"
    check "$1: undefine" virsh undefine "$2"
    e2e_daemons_down
}

# e2e_owner_within FILE USER SECONDS: FILE's owner becomes USER within
# SECONDS (labels given back by the driver's worker pool, or later)
e2e_owner_within() {
    local _
    for _ in $(seq $(($3 * 10))); do
        [ "$(stat -c %U "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    echo "owner of $1: $(stat -c %U "$1"), expected $2"
    return 1
}

# e2e_backing_chain FMT FILE...: the <backingStore> elements naming a
# chain of FMT images (the top's backing file first) in a domain XML.
# libvirt opens the images the XML names as root; backing images it only
# reads from image headers are opened with QEMU's credentials
# (openhook-trust-headers.sh).
e2e_backing_chain() {
    local fmt=$1 f open="" close=""; shift
    for f in "$@"; do
        open="$open<backingStore type='file'><format type='$fmt'/><source file='$f'/>"
        close="$close</backingStore>"
    done
    echo "$open<backingStore/>$close"
}

# e2e_with_chain TOP FMT FILE...: a filter giving the disk TOP of a domain
# XML the chain FILE... (see e2e_backing_chain)
e2e_with_chain() {
    local top=$1; shift
    sed "s|<source file='$top'/>|&$(e2e_backing_chain "$@")|"
}

# e2e_chain DOMAIN TARGET: the disk's chain from virsh dumpxml, top first,
# one path per line.
e2e_chain() {
    virsh dumpxml "$1" | /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
target = sys.argv[1]
dom = ET.parse(sys.stdin)
for disk in dom.findall("./devices/disk"):
    if disk.find("target").get("dev") != target:
        continue
    node = disk
    while node is not None:
        src = node.find("source")
        if src is None:
            break
        print(src.get("file") or src.get("dev") or src.get("name"))
        node = node.find("backingStore")
' "$2"
}

# e2e_qmp_opens DOM PATH: QEMU opens PATH read-only by itself, as for a
# QMP blockdev-add (then closes it); prints QEMU's answer when it fails.
# virsh succeeds whatever QEMU answers, so the answer is what counts.
e2e_qmp_opens() {
    local node=probe$RANDOM out
    out=$(virsh qemu-monitor-command "$1" \
        "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"$node\",\"filename\":\"$2\",\"read-only\":true}}" 2>&1) || true
    if ! grep -q '"return"' <<<"$out"; then
        echo "$out"
        return 1
    fi
    virsh qemu-monitor-command "$1" \
        "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"$node\"}}" >/dev/null
}

# e2e_qmp_refused DOM PATH: QEMU's open of PATH is denied (EACCES)
e2e_qmp_refused() {
    local out
    out=$(e2e_qmp_opens "$1" "$2" 2>&1) && return 1
    grep -q "Permission denied" <<<"$out"
}

# e2e_ms COMMAND...: run COMMAND; how long it took in ms in $t, its
# status in $rc, its output in $out
# shellcheck disable=SC2034  # t, rc and out are the caller's
e2e_ms() {
    local start end
    start=$(date +%s%N)
    rc=0
    out=$("$@" 2>&1) || rc=$?
    end=$(date +%s%N)
    t=$(((end - start) / 1000000))
}

# e2e_open_workers PID: how many threads of the daemon PID are opening a
# file for a guest (a worker with a deadline, see design.rst)
e2e_open_workers() { grep -l '^openhook-open$' /proc/"$1"/task/*/comm 2>/dev/null | wc -l; }

# The QEMU pid of a running domain.
e2e_qemu_pid() { cat "/run/libvirt/qemu/$1.pid"; }

# Paths of the regular files QEMU holds open, sorted.
e2e_qemu_files() {
    local pid=$1 fd
    for fd in /proc/"$pid"/fd/*; do
        fd=$(readlink "$fd" 2>/dev/null) || continue
        case $fd in /*) [ -f "$fd" ] && echo "$fd" ;; esac
    done | sort -u
}

e2e_wait_gone() {
    local pid=$1
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# e2e_whitelist_matches_chains DOM: the whitelist in DOM's live XML must be
# exactly the files of the disks' <backingStore> chains (plus the master key
# QEMU reads), each disk's top read-write unless read-only, every backing
# file read-only.
e2e_whitelist_matches_chains() {
    virsh dumpxml "$1" | /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
dom = ET.parse(sys.stdin)
want = {}
for disk in dom.findall("./devices/disk"):
    ro = disk.find("readonly") is not None
    # a block copy in progress: its target chain is allowed too
    for node in [disk] + disk.findall("mirror"):
        top = True
        while node is not None and node.find("source") is not None:
            path = node.find("source").get("file")
            if path:
                want[path] = "rw" if top and not ro else "ro"
            node, top = node.find("backingStore"), False
have = {e.get("path"): e.get("access")
        for e in dom.findall("./openhook/entry") if e.get("origin") != "master-key"}
if want != have:
    print("chains:   ", sorted(want.items()))
    print("whitelist:", sorted(have.items()))
    sys.exit(1)
'
}

# e2e_daemon_restart: restart virtqemud under the running guests, the way
# a package upgrade does, and wait until it answers again
e2e_daemon_restart() {
    local pid
    pid=$(cat /run/virtqemud.pid)
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    "$VIRTQEMUD" -d -f "$E2E_DIR/virtqemud.conf" 2>/dev/null
    for _ in $(seq 100); do virsh version >/dev/null 2>&1 && return 0; sleep 0.1; done
    die "virtqemud did not come back (log: $E2E_LOGS/virtqemud.log)"
}

# E2E_CONFINE=1: libvirt confines QEMU with Landlock (open_hook_confine).
e2e_confine() {
    [ "${E2E_CONFINE:-0}" = 1 ] || return 0
    E2E_QEMU_CONF="${E2E_QEMU_CONF:-}
open_hook_confine = 1"
}

# e2e_confined_check DOM: with E2E_CONFINE=1, libvirt applied a Landlock
# ruleset to DOM's QEMU (openhook-confine.sh proves the ruleset holds: a
# confined QEMU without the hook cannot open its disk).
e2e_confined_check() {
    [ "${E2E_CONFINE:-0}" = 1 ] || return 0
    check "$1: QEMU runs under a Landlock ruleset" \
        grep -q "confining QEMU of domain '$1' with Landlock ABI" "$E2E_LOGS/virtqemud-debug.log"
}
