#!/bin/bash
# Configure (once) and build the libvirt tree in $LIBVIRT_BUILDDIR.
# Incremental: later runs only re-run ninja, which rebuilds what changed.
#
# The configuration follows Debian's (debian/rules) where it matters for us:
# system paths, the libvirt-qemu user, the SELinux and AppArmor drivers, audit.
# Drivers we don't need are off, and so are the docs.
#
# usage: scripts/build-libvirt.sh [--reconfigure] [libvirt|libvirt-recut]
#        (libvirt-recut: the re-cut series' tree and build, docs/recut-plan.rst)

. "$(dirname "$0")/lib.sh"

RECONFIGURE=""
PROJECT=libvirt
for arg; do
    case $arg in
    --reconfigure) RECONFIGURE=1 ;;
    libvirt | libvirt-recut) PROJECT=$arg ;;
    *) die "usage: $0 [--reconfigure] [libvirt|libvirt-recut]" ;;
    esac
done
if [ "$PROJECT" = libvirt-recut ]; then
    LIBVIRT_TREE=$LIBVIRT_RECUT_TREE
    LIBVIRT_BUILDDIR=$LIBVIRT_RECUT_BUILDDIR
    [ -e "$LIBVIRT_TREE/.git" ] || die "no re-cut tree: run scripts/series.sh apply libvirt-recut first"
fi

[ -e "$LIBVIRT_TREE/.git" ] || die "no libvirt tree: run scripts/fetch-sources.sh first"

MESON_OPTS=(
    --buildtype=debugoptimized
    -Dsystem=true -Drunstatedir=/run
    -Dqemu_user=libvirt-qemu -Dqemu_group=libvirt-qemu
    -Dqemu_moddir=/usr/lib/x86_64-linux-gnu/qemu -Dqemu_datadir=/usr/share/qemu
    -Ddocs=disabled -Dtests=enabled -Dexpensive_tests=enabled
    -Dnls=disabled
    -Ddriver_qemu=enabled -Ddriver_remote=enabled -Ddriver_libvirtd=enabled
    -Ddriver_test=enabled -Ddriver_secrets=enabled
    -Ddriver_network=disabled -Ddriver_interface=disabled -Ddriver_lxc=disabled
    -Ddriver_libxl=disabled -Ddriver_vbox=disabled -Ddriver_openvz=disabled
    -Ddriver_esx=disabled -Ddriver_hyperv=disabled -Ddriver_vmware=disabled
    -Ddriver_vz=disabled -Ddriver_bhyve=disabled -Ddriver_ch=disabled
    -Dstorage_dir=enabled -Dstorage_fs=disabled -Dstorage_lvm=disabled
    -Dstorage_iscsi=disabled -Dstorage_iscsi_direct=disabled
    -Dstorage_disk=disabled -Dstorage_rbd=disabled -Dstorage_gluster=disabled
    -Dstorage_mpath=disabled -Dstorage_scsi=disabled -Dstorage_zfs=disabled
    -Dstorage_vstorage=disabled
    -Dselinux=enabled -Dsecdriver_selinux=enabled -Dselinux_mount=/sys/fs/selinux
    -Dapparmor=enabled -Dsecdriver_apparmor=enabled -Dapparmor_profiles=enabled
    -Daudit=enabled -Dattr=enabled -Dcapng=enabled -Dudev=enabled
    -Dlibnl=enabled -Dpciaccess=enabled -Djson_c=enabled
    -Dpolkit=disabled -Dsanlock=disabled -Dfirewalld=disabled -Dnss=disabled
    -Dwireshark_dissector=disabled -Dglusterfs=disabled -Dlibiscsi=disabled
    -Dlibssh=disabled -Dlibssh2=disabled -Dsasl=disabled -Dcurl=disabled
    -Dfuse=disabled -Dnumactl=disabled -Dnumad=disabled -Ddtrace=disabled
    -Dinit_script=none -Dbash_completion=disabled -Dhost_validate=disabled
    -Dgit_werror=disabled
)

LOG=$BUILD/$(basename "$LIBVIRT_BUILDDIR")

if [ -n "$RECONFIGURE" ] && [ -d "$LIBVIRT_BUILDDIR" ]; then
    rm -rf "$LIBVIRT_BUILDDIR"
fi
if [ ! -f "$LIBVIRT_BUILDDIR/build.ninja" ]; then
    say "configuring libvirt in $LIBVIRT_BUILDDIR"
    meson setup "$LIBVIRT_BUILDDIR" "$LIBVIRT_TREE" "${MESON_OPTS[@]}" \
        > "$LOG-configure.log" 2>&1 ||
        { tail -30 "$LOG-configure.log"; die "libvirt configure failed (log: $LOG-configure.log)"; }
fi
say "building libvirt"
ninja -C "$LIBVIRT_BUILDDIR" -j"$JOBS" > "$LOG.log" 2>&1 ||
    { grep -E 'error|FAILED' "$LOG.log" | head -40; die "libvirt build failed (log: $LOG.log)"; }
say "libvirt built"
