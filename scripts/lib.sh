# shellcheck shell=bash
# Shared paths and helpers for the pipeline scripts.  Source it, don't run it.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything fetched or built lives here, never in git (see .gitignore).
BUILD=${OPENHOOK_BUILD:-$ROOT/build}
DL=$BUILD/dl
BASE_TAG=openhook-base

# shellcheck source=scripts/pins.sh
. "$ROOT/scripts/pins.sh"

# Each base has its own trees, builds and series (scripts/pins.sh).
case $OPENHOOK_BASE in
bookworm)
    LIBVIRT_TREE=$BUILD/src/libvirt
    QEMU_TREE=$BUILD/src/qemu
    LIBVIRT_BUILDDIR=$BUILD/libvirt-build
    QEMU_TOOLS_BUILDDIR=$BUILD/qemu-tools
    QEMU_SYS_BUILDDIR=$BUILD/qemu-sys
    LIBVIRT_SERIES=libvirt
    QEMU_SERIES=qemu
    ;;
trixie)
    LIBVIRT_TREE=$BUILD/src/libvirt-11.3
    QEMU_TREE=$BUILD/src/qemu-10.0
    LIBVIRT_BUILDDIR=$BUILD/libvirt-11.3-build
    QEMU_TOOLS_BUILDDIR=$BUILD/qemu-10.0-tools
    QEMU_SYS_BUILDDIR=$BUILD/qemu-10.0-sys
    LIBVIRT_SERIES=libvirt-11.3
    QEMU_SERIES=qemu-10.0
    # newer build tools for QEMU (scripts/qemu-build-tools.sh)
    QEMU_TOOLS_ROOT=$BUILD/tools/qemu-10.0
    ;;
esac

# Meson and the libvirt/QEMU build scripts must use Debian's python, not a
# pyenv shim that may be first in PATH (it costs ~0.8 s per call and lacks
# the python3-docutils & co. that apt installs).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
JOBS=${JOBS:-$(nproc)}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# git in one of the fetched trees, with a fixed identity so commits made by
# the scripts don't depend on the user's configuration.
tree_git() {
    local tree=$1; shift
    git -C "$tree" -c user.name="libvirt-openhook" \
        -c user.email="openhook@localhost" -c core.autocrlf=false "$@"
}
