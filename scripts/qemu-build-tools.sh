#!/bin/bash
# Unpack the build tools QEMU needs that the host's release lacks
# (QEMU_BUILD_TOOLS in scripts/pins.sh) under build/tools/, each .deb
# fetched from Debian's archive and checked along its chain of trust
# (scripts/archive.sh).  scripts/build-qemu.sh puts them first in PATH and
# PYTHONPATH.  Idempotent; prints nothing to do for a base without tools.
#
# usage: OPENHOOK_BASE=trixie scripts/qemu-build-tools.sh

. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/archive.sh
. "$ROOT/scripts/archive.sh"

[ -n "${QEMU_BUILD_TOOLS+x}" ] || exit 0

stamp=$QEMU_TOOLS_ROOT/.installed
want="${QEMU_BUILD_TOOLS_SUITE} ${QEMU_BUILD_TOOLS[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

rm -rf "$QEMU_TOOLS_ROOT"
mkdir -p "$QEMU_TOOLS_ROOT"
for t in "${QEMU_BUILD_TOOLS[@]}"; do
    deb=$(archive_deb "$QEMU_BUILD_TOOLS_SUITE" "${t%%=*}" "${t#*=}" "$DL/debs")
    dpkg-deb -x "$deb" "$QEMU_TOOLS_ROOT"
    say "unpacked $(basename "$deb") in $QEMU_TOOLS_ROOT"
done
echo "$want" > "$stamp"
