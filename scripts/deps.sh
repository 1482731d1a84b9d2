#!/bin/bash
# Install, from Debian's archive, everything the pipeline needs on a fresh
# bookworm machine: build dependencies of the libvirt 11.3 and QEMU 10.0
# configurations we build (Debian 13's, built on Debian 12), the test tools,
# and the firmware Debian's QEMU packages install for the E2E guests.
#
# usage: scripts/deps.sh            (as root)

. "$(dirname "$0")/lib.sh"

PKGS=(
    # common toolchain
    build-essential pkg-config git meson ninja-build python3 python3-venv
    dpkg-dev ccache clang llvm libclang-rt-14-dev
    # libvirt 11.3.0 (configuration in scripts/build-libvirt.sh)
    libglib2.0-dev libxml2-dev libxml2-utils xsltproc libgnutls28-dev
    libtirpc-dev libjson-c-dev libselinux1-dev libapparmor-dev libaudit-dev
    libcap-ng-dev libattr1-dev libacl1-dev libudev-dev libpciaccess-dev
    libnl-3-dev libnl-route-3-dev libdevmapper-dev libblkid-dev
    libreadline-dev python3-docutils augeas-tools libaugeas-dev gettext
    perl
    # QEMU 10.0 (tools and minimal x86_64 system emulators; its newer meson
    # and pycotap are unpacked under build/tools/ by scripts/build-qemu.sh
    # for QEMU's configure alone)
    libpixman-1-dev zlib1g-dev libfdt-dev flex bison
    # E2E: the firmware of Debian's QEMU packages (SeaBIOS, option ROMs)
    qemu-system-x86 qemu-utils attr procps psmisc strace
    # root-squashed storage: a FUSE mount that refuses root (tests/unit,
    # tests/e2e/openhook-rootsquash.sh)
    bindfs fuse3
    # a FUSE file system whose open() hangs (tests/fuse/sleepfs.py)
    python3-fusepy
    # MAC policies for broker mode, compiled and checked (tests/policy)
    selinux-policy-dev selinux-policy-default checkpolicy semodule-utils
    policycoreutils setools python3-selinux apparmor
)

[ "$(id -u)" = 0 ] || die "run as root"
export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
apt-get update -q >/dev/null
say "installing ${#PKGS[@]} packages"
apt-get install -y -q --no-install-recommends "${PKGS[@]}" >/dev/null

# The account libvirt runs QEMU as (-Dqemu_user/-Dqemu_group, as Debian's
# packages do); virtqemud refuses to start without it.
if ! getent group libvirt-qemu >/dev/null; then
    groupadd -r libvirt-qemu
fi
if ! getent passwd libvirt-qemu >/dev/null; then
    useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
fi
# /dev/fuse is 0666 where udev runs (Debian's fuse3 rule); a machine
# without udev leaves it 0600, and FUSE as QEMU's user (root-squashed
# storage tests) needs it.
if [ -c /dev/fuse ]; then
    chmod 0666 /dev/fuse
fi
say "dependencies installed"
