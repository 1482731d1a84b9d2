#!/bin/bash
# The main job: install dependencies, fetch and patch libvirt 9.0.0 and QEMU
# 7.2 from Debian's archive, build them, and run the smoke scenario with the
# patched virtqemud, virsh and qemu-system-x86_64, printing each step.
#
# usage: scripts/demo.sh          (as root, on Debian bookworm)

. "$(dirname "$0")/lib.sh"

"$ROOT/scripts/deps.sh"
"$ROOT/scripts/build.sh"
say "running tests/e2e/smoke.sh"
"$ROOT/tests/e2e/smoke.sh"
