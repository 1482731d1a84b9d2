#!/bin/bash
# openhook-blockops.sh with Debian's QEMU and the preload library, confined
# by Landlock (open_hook_confine): every block operation must get its
# images through the hook.
#
# usage: tests/e2e/openhook-blockops-confine-preload.sh  (as root; scripts/build.sh first)

E2E_FLAVOUR=preload E2E_CONFINE=1 E2E_SCENARIO=openhook-blockops-confine-preload \
    exec "$(dirname "$0")/openhook-blockops.sh"
