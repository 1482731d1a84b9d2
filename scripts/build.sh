#!/bin/bash
# Fetch the pinned sources (once), apply patches/ to them, and build the
# patched libvirt and QEMU (tools + minimal qemu-system-x86_64), and the
# same qemu-system-x86_64 without the series (the preload flavour's).  Every
# step is incremental: after a one-line change only that change is rebuilt.
#
# usage: scripts/build.sh

. "$(dirname "$0")/lib.sh"

"$ROOT/scripts/fetch-sources.sh"
"$ROOT/scripts/series.sh" apply libvirt
"$ROOT/scripts/series.sh" apply qemu
"$ROOT/scripts/build-libvirt.sh"
"$ROOT/scripts/build-qemu.sh" tools system pristine
