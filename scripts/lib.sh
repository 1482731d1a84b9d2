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

# The trees (git repositories whose tag openhook-base is Debian's source
# with Debian's patches), their builds, and the series in patches/.
LIBVIRT_TREE=$BUILD/src/libvirt-11.3
QEMU_TREE=$BUILD/src/qemu-10.0
LIBVIRT_BUILDDIR=$BUILD/libvirt-11.3-build
QEMU_TOOLS_BUILDDIR=$BUILD/qemu-10.0-tools
QEMU_SYS_BUILDDIR=$BUILD/qemu-10.0-sys
# the base's QEMU without the series, as Debian 13 ships it: the emulator
# of the preload flavour (scripts/build-qemu.sh pristine)
QEMU_PRISTINE_TREE=$BUILD/worktrees/qemu-10.0-pristine
QEMU_PRISTINE_BUILDDIR=$BUILD/qemu-10.0-pristine-sys
LIBVIRT_SERIES=libvirt
# The re-cut of the libvirt series in progress (docs/recut-plan.rst): a
# second worktree of the libvirt repository, on its own branch and build.
LIBVIRT_RECUT_TREE=$BUILD/src/libvirt-11.3-recut
LIBVIRT_RECUT_BUILDDIR=$BUILD/libvirt-11.3-recut-build
LIBVIRT_RECUT_SERIES=libvirt-recut
QEMU_SERIES=qemu
# newer build tools for QEMU (scripts/qemu-build-tools.sh)
QEMU_TOOLS_ROOT=$BUILD/tools/qemu-10.0
# a newer debhelper for the Debian packages (scripts/build-deb.sh)
DEB_TOOLS_ROOT=$BUILD/tools/debhelper

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
