# shellcheck shell=bash
# The one place where the upstream versions this project targets are pinned.
#
# Two bases while the series moves to Debian 13 (docs/hacking.rst, "Two
# bases"); OPENHOOK_BASE picks one:
#
#   bookworm  Debian 12: libvirt 9.0.0 and QEMU 7.2, fetched with
#             `apt-get source` (the default until the port is complete)
#   trixie    Debian 13: libvirt 11.3.0 and QEMU 10.0.13, fetched straight
#             from Debian's archive and verified against the suite's signed
#             InRelease (scripts/fetch-sources.sh); the series on it lives in
#             patches/libvirt-11.3/
#
# If the archive stops serving a version, scripts/fetch-sources.sh says so and
# lists what it serves; change the pin here and re-run
# `scripts/series.sh check libvirt` to see whether the series still applies.

case ${OPENHOOK_BASE:=bookworm} in
bookworm)
    LIBVIRT_SRC_PACKAGE=libvirt
    LIBVIRT_SRC_VERSION=9.0.0-4+deb12u2
    QEMU_SRC_PACKAGE=qemu
    QEMU_SRC_VERSION=1:7.2+dfsg-7+deb12u18
    ;;
trixie)
    DEBIAN_SUITE=trixie
    LIBVIRT_SRC_PACKAGE=libvirt
    LIBVIRT_SRC_VERSION=11.3.0-3+deb13u3
    QEMU_SRC_PACKAGE=qemu
    QEMU_SRC_VERSION=1:10.0.13+ds-0+deb13u1
    # QEMU 10.0 wants meson >= 1.5 and pycotap >= 1.1, newer than bookworm's;
    # scripts/deps.sh unpacks these (Architecture: all) into build/tools/
    # for QEMU's configure alone, so the rest keeps bookworm's meson.
    QEMU_BUILD_TOOLS_SUITE=bookworm-backports
    QEMU_BUILD_TOOLS=(meson=1.7.0-1~bpo12+1 python3-pycotap=1.3.1-2~bpo12+1)
    ;;
*)
    echo "error: OPENHOOK_BASE=$OPENHOOK_BASE: use bookworm or trixie" >&2
    exit 1
    ;;
esac
export OPENHOOK_BASE
