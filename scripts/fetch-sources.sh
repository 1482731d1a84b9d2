#!/bin/bash
# Fetch the pinned Debian source packages of libvirt and QEMU, verify them,
# unpack them with Debian's patches applied, and turn each tree into a git
# repository whose first commit (tag openhook-base) is the pristine Debian
# state.  Idempotent: an existing, matching tree is kept.
#
# Straight from Debian's archive, without apt and without the .dsc (the
# archive answers 404 for libvirt's): the suite's InRelease is checked with
# gpgv against Debian's archive keyring, Sources.xz against InRelease, each
# tarball against Sources; the tree is the orig tarball plus Debian's
# debian/patches/series, applied as dpkg-source does (no fuzz).
#
# usage: scripts/fetch-sources.sh [libvirt|qemu]...   (default: both)

. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/archive.sh
. "$ROOT/scripts/archive.sh"

# Paths that exist on disk but stay out of git: debian/ and the quilt state
# are packaging, and keycodemapdb is a submodule upstream; syntax-check
# would flag all three (see shared design notes).
excludes_for() {
    case $1 in
    libvirt) printf '/debian/\n/.pc/\n/subprojects/keycodemapdb/\n/build/\n' ;;
    qemu) printf '/debian/\n/.pc/\n/build/\n' ;;
    esac
}

unpack() {
    local name=$1 pkg=$2 ver=$3 tree=$4
    local dldir=$DL/$pkg-${ver#*:} stamp date

    if [ -d "$tree/.git" ] && tree_git "$tree" rev-parse -q --verify "refs/tags/$BASE_TAG" >/dev/null; then
        stamp=$(tree_git "$tree" log -1 --format=%s "$BASE_TAG")
        if [ "$stamp" = "$pkg $ver (Debian source, patches applied)" ]; then
            say "$name: $tree is already at $pkg $ver"
            return 0
        fi
        die "$tree holds '$stamp', not $pkg $ver: remove it and re-run"
    fi

    rm -rf "$tree" "$tree.tmp"
    mkdir -p "$(dirname "$tree")"
    archive_source "$DEBIAN_SUITE" "$pkg" "$ver" "$dldir"
    say "$name: unpacking $pkg $ver with Debian's patches"
    archive_unpack "$dldir" "$tree.tmp"
    mv "$tree.tmp" "$tree"

    tree_git "$tree" init -q -b master
    excludes_for "$name" >> "$tree/.git/info/exclude"
    tree_git "$tree" add -A
    # A fixed date (the Debian upload's) makes the base commit id depend on
    # the content only, so `base-commit:` in patches/ means the same everywhere.
    date=$(cd "$tree" && dpkg-parsechangelog -SDate)
    GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date \
        tree_git "$tree" commit -q -m "$pkg $ver (Debian source, patches applied)"
    tree_git "$tree" tag "$BASE_TAG"
    say "$name: $tree ready ($BASE_TAG = $(tree_git "$tree" rev-parse --short HEAD))"
}

main() {
    local what=("$@")
    [ ${#what[@]} -gt 0 ] || what=(libvirt qemu)
    for w in "${what[@]}"; do
        case $w in
        libvirt) unpack libvirt "$LIBVIRT_SRC_PACKAGE" "$LIBVIRT_SRC_VERSION" "$LIBVIRT_TREE" ;;
        qemu) unpack qemu "$QEMU_SRC_PACKAGE" "$QEMU_SRC_VERSION" "$QEMU_TREE" ;;
        *) die "unknown source '$w' (libvirt or qemu)" ;;
        esac
    done
}

main "$@"
