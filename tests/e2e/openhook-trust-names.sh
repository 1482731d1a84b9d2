#!/bin/bash
# Names that reach a listed file another way are not the listed file.
#
# In enforce mode QEMU gets the files of the guest's whitelist, and only
# through the hook.  A guest that took over its QEMU asks for one of them
# through names it controls: a symlink it planted in a directory its uid
# can write, a directory symlink as a path component, and the magic links
# of /proc (its own fd of the image, /proc/self/root, /proc/PID/cwd and
# /proc/PID/root, /dev/fd).  Each is refused: the hook serves the names
# the domain lists, opened without following links, never a /proc name
# (which the daemon would resolve in its own process).  QEMU asks through
# QMP blockdev-add, so the request reaches the daemon from QEMU's own open
# path.  The images are root's, mode 0600, so QEMU's user cannot open them
# by itself either.  Native and preload flavours (the preload library
# leaves some of these names to the kernel, where QEMU's own credentials
# and its private /dev refuse them).
#
# usage: tests/e2e/openhook-trust-names.sh   (as root; scripts/build.sh first)

. "$(dirname "$0")/lib.sh"

DOM=openhook-trust-names
D=$E2E_DIR/$DOM
H=$E2E_DIR/$DOM-qemu

trap e2e_daemons_down EXIT

# holders NAME: how many fds of $D/NAME QEMU holds
holders() { ls -l "/proc/$pid/fd" 2>/dev/null | grep -c -- "-> $D/$1\$" || true; }

# not_opened PATH: QEMU's open of PATH fails (EACCES from the hook; with
# the preload library, names it leaves to the kernel fail with QEMU's own
# credentials, or do not exist in QEMU's /dev)
not_opened() {
    local out
    out=$(e2e_qmp_opens "$DOM" "$1" 2>&1) && return 1
    grep -qE "Permission denied|No such file or directory" <<<"$out" || { echo "$out"; return 1; }
}

# refused_name F NAME PATH: QEMU's open of PATH (another name of $D/NAME)
# fails, and QEMU holds no more fds of NAME than before
refused_name() {
    local f=$1 name=$2 path=$3 before
    before=$(holders "$name")
    if [ "$f" = native ]; then
        check "$f: $path is refused" e2e_qmp_refused "$DOM" "$path"
    else
        check "$f: $path is refused" not_opened "$path"
    fi
    check_eq "$f: ... and QEMU holds no new fd of $name" "$before" "$(holders "$name")"
}

scenario() {
    local f=$1 mode=$2 fd
    rm -rf "$D" "$H"
    e2e_mkchain "$D" qcow2 base.qcow2 top.qcow2
    chown root:root "$D"/*
    chmod 0600 "$D"/*
    chmod 0755 "$D"
    # a directory QEMU's user owns, as its home or the domain's own
    # directories are
    mkdir -m 0700 "$H"
    chown libvirt-qemu:libvirt-qemu "$H"

    rm -f "$E2E_LOGS"/virtqemud*.log
    E2E_QEMU_CONF="open_hook = \"$mode\""
    e2e_flavour
    e2e_daemons_up
    e2e_domain_xml "$DOM" "$D/top.qcow2" |
        e2e_with_chain "$D/top.qcow2" qcow2 "$D/base.qcow2" > "$D/$DOM.xml"
    check "$f: define" virsh define "$D/$DOM.xml"
    check "$f: start" virsh start "$DOM"
    pid=$(e2e_qemu_pid "$DOM")
    check "$f: QEMU opens a listed file by its name" e2e_qmp_opens "$DOM" "$D/base.qcow2"
    # symlinks QEMU's user planted: to the file, and as a directory
    setpriv --reuid=libvirt-qemu --regid=libvirt-qemu --clear-groups \
        bash -c "ln -s '$D/base.qcow2' '$H/link.qcow2' && ln -s '$D' '$H/dir'"

    if [ "$mode" = off ]; then
        # The reference: libvirt chowned the images to QEMU's user, and
        # these names reach them
        check "$f: without the hook, the planted symlink reaches the file" \
            e2e_qmp_opens "$DOM" "$H/link.qcow2"
        check "$f: ... and so does /proc/self/root" \
            e2e_qmp_opens "$DOM" "/proc/self/root$D/base.qcow2"
        e2e_guest_done "$f" "$DOM"
        return
    fi

    check "$f: QEMU got the channel" e2e_has_channel "$pid"
    check "$f: QEMU's user cannot open the images by itself" \
        setpriv --reuid=libvirt-qemu --regid=libvirt-qemu --clear-groups \
        bash -c "! head -c1 '$D/base.qcow2' 2>/dev/null"
    refused_name "$f" base.qcow2 "$H/link.qcow2"
    refused_name "$f" base.qcow2 "$H/dir/base.qcow2"

    # magic links: QEMU's own fd of the image, its root and cwd
    fd=$(ls -l "/proc/$pid/fd" | sed -n "s|.* \([0-9]*\) -> $D/top.qcow2\$|\1|p" | head -1)
    check "$f: QEMU holds the top image (fd ${fd:-none})" test -n "$fd"
    refused_name "$f" top.qcow2 "/proc/self/fd/$fd"
    refused_name "$f" top.qcow2 "/dev/fd/$fd"
    refused_name "$f" top.qcow2 "/proc/$pid/fd/$fd"
    refused_name "$f" base.qcow2 "/proc/self/root$D/base.qcow2"
    refused_name "$f" base.qcow2 "/proc/$pid/root$D/base.qcow2"
    refused_name "$f" base.qcow2 "/proc/$pid/cwd$D/base.qcow2"
    refused_name "$f" base.qcow2 "/proc/thread-self/root$D/base.qcow2"

    if [ "$f" = native ]; then
        check "$f: the daemon refused each name (7 /proc or /dev names, 2 links)" \
            test "$(grep -cE "decision=deny .*path=\"(/proc/|/dev/fd/|$H/)" "$E2E_LOGS/virtqemud.log")" -ge 9
    fi
    check "$f: nothing but the listed names was granted" \
        eval '! grep -E "decision=grant .*path=\"(/proc/|/dev/|$H/)" "$E2E_LOGS/virtqemud-debug.log"'
    check_eq "$f: still running" running "$(virsh domstate "$DOM")"
    e2e_guest_done "$f" "$DOM"
}

E2E_FLAVOUR=native scenario off off
E2E_FLAVOUR=native scenario native enforce
E2E_FLAVOUR=preload scenario preload enforce

trap - EXIT
rm -rf "$D" "$H"
e2e_summary
