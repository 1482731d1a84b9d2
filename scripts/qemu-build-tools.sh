#!/bin/bash
# Unpack the build tools QEMU needs that the host's release lacks
# (QEMU_BUILD_TOOLS in scripts/pins.sh) under build/tools/, each .deb
# fetched from Debian's archive and checked along its chain of trust
# (scripts/archive.sh).  scripts/build-qemu.sh puts them first in PATH and
# PYTHONPATH.  Idempotent.
#
# usage: scripts/qemu-build-tools.sh

. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/archive.sh
. "$ROOT/scripts/archive.sh"

archive_tools "$QEMU_TOOLS_ROOT" "$QEMU_BUILD_TOOLS_SUITE" "${QEMU_BUILD_TOOLS[@]}"
