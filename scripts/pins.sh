# shellcheck shell=bash
# The one place where the upstream versions this project targets are pinned.
#
# Both come from Debian bookworm's archive (main or bookworm-security) through
# `apt-get source`.  If the archive stops serving a version, scripts/fetch-sources.sh
# says so; pick the version `apt-cache showsrc PACKAGE | grep ^Version` lists,
# change it here, and re-run `scripts/series.sh check` to see whether the
# series still applies.

LIBVIRT_SRC_PACKAGE=libvirt
LIBVIRT_SRC_VERSION=9.0.0-4+deb12u2

QEMU_SRC_PACKAGE=qemu
QEMU_SRC_VERSION=1:7.2+dfsg-7+deb12u18
