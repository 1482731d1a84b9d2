#!/bin/bash
# openhook-blockops.sh with Debian's own QEMU (no -open-hook-fd) and the
# preload library: every block operation under the hook in that flavour.
#
# usage: tests/e2e/openhook-blockops-preload.sh  (as root; scripts/build.sh first)

E2E_FLAVOUR=preload E2E_SCENARIO=openhook-blockops-preload \
    exec "$(dirname "$0")/openhook-blockops.sh"
