#!/bin/bash
# openhook-blockops.sh with QEMU confined by Landlock (open_hook_confine):
# every block operation must get its images through the hook.
#
# usage: tests/e2e/openhook-blockops-confine.sh  (as root; scripts/build.sh first)

E2E_CONFINE=1 E2E_SCENARIO=openhook-blockops-confine \
    exec "$(dirname "$0")/openhook-blockops.sh"
