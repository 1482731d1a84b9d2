# shellcheck shell=bash
# The one place where the upstream versions this project targets are pinned:
# Debian 13 (trixie)'s libvirt and QEMU, fetched straight from Debian's
# archive and verified against the suite's signed InRelease
# (scripts/fetch-sources.sh); the machines that build them stay Debian 12.
# The series for Debian 12's libvirt 9.0.0 and QEMU 7.2 is the git tag
# debian12-libvirt-9.0 (README).
#
# If the archive stops serving a version, scripts/fetch-sources.sh says so and
# lists what it serves; change the pin here and re-run
# `scripts/series.sh check libvirt` to see whether the series still applies.

DEBIAN_SUITE=trixie
LIBVIRT_SRC_PACKAGE=libvirt
LIBVIRT_SRC_VERSION=11.3.0-3+deb13u3
QEMU_SRC_PACKAGE=qemu
QEMU_SRC_VERSION=1:10.0.13+ds-0+deb13u1
# QEMU 10.0 wants meson >= 1.5 and pycotap >= 1.1, newer than bookworm's;
# scripts/qemu-build-tools.sh unpacks these (Architecture: all) into
# build/tools/ for QEMU's configure alone, so the rest keeps bookworm's meson.
QEMU_BUILD_TOOLS_SUITE=bookworm-backports
QEMU_BUILD_TOOLS=(meson=1.7.0-1~bpo12+1 python3-pycotap=1.3.1-2~bpo12+1)
# trixie's libvirt packaging installs its systemd units under /usr/lib, which
# bookworm's debhelper (13.11) does not look in; scripts/build-deb.sh runs
# dpkg-buildpackage with this debhelper unpacked under build/tools/ instead.
DEB_BUILD_TOOLS_SUITE=bookworm-backports
DEB_BUILD_TOOLS=(debhelper=13.23~bpo12+1 libdebhelper-perl=13.23~bpo12+1)
