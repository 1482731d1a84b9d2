#!/bin/bash
# Fetch the pinned Debian source packages of libvirt and QEMU, verify them,
# unpack them with Debian's patches applied, and turn each tree into a git
# repository whose first commit (tag openhook-base) is the pristine Debian
# state.  Idempotent: an existing, matching tree is kept.
#
# bookworm: `apt-get source`, checked against the .dsc.
# trixie: straight from the archive, without apt and without the .dsc (the
# archive answers 404 for libvirt's): the suite's InRelease is checked with
# gpgv against Debian's archive keyring, Sources.xz against InRelease, each
# tarball against Sources; the tree is the orig tarball plus Debian's
# debian/patches/series, applied as dpkg-source does (no fuzz).
#
# usage: scripts/fetch-sources.sh [libvirt|qemu]...   (default: both)

. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/archive.sh
. "$ROOT/scripts/archive.sh"

ensure_deb_src() {
    if apt-cache showsrc "$LIBVIRT_SRC_PACKAGE" 2>/dev/null | grep -q '^Version:'; then
        return 0
    fi
    say "no deb-src entry for bookworm: adding /etc/apt/sources.list.d/openhook-src.sources"
    [ "$(id -u)" = 0 ] || die "need root to add a deb-src entry (or add one yourself)"
    cat > /etc/apt/sources.list.d/openhook-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -q >/dev/null
}

# Checks every file listed in the .dsc's Checksums-Sha256 field.
verify_dsc() {
    local dsc=$1 dir sums
    dir=$(dirname "$dsc")
    sums=$(awk '/^Checksums-Sha256:/ {f=1; next} /^[^ ]/ {f=0} f && NF==3 {print $1 "  " $3}' "$dsc")
    [ -n "$sums" ] || die "$dsc has no Checksums-Sha256 field"
    (cd "$dir" && sha256sum --quiet -c - <<<"$sums") ||
        die "checksum mismatch against $dsc: delete $dir and fetch again"
}

download() {
    local pkg=$1 ver=$2 dir=$3
    local upver=${ver#*:}
    local dsc="$dir/${pkg}_${upver}.dsc"

    if [ -f "$dsc" ] && verify_dsc "$dsc" 2>/dev/null; then
        echo "$dsc"
        return 0
    fi
    mkdir -p "$dir"
    say "downloading $pkg $ver"
    if ! (cd "$dir" && apt-get source -q --download-only "$pkg=$ver" >&2); then
        local avail
        avail=$(apt-cache showsrc "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -u | tr '\n' ' ')
        die "Debian's archive does not serve $pkg $ver (it serves: ${avail:-nothing}).
       Change the pin in scripts/pins.sh to one of those versions and run
       'scripts/series.sh check $pkg' to see whether patches/$pkg still applies."
    fi
    [ -f "$dsc" ] || die "apt-get source did not produce $dsc"
    verify_dsc "$dsc"
    echo "$dsc"
}

# Paths that exist on disk but stay out of git: debian/ and the quilt state
# are packaging, and keycodemapdb is a submodule upstream (src/ in 9.0,
# subprojects/ in 11.x); syntax-check would
# flag all three (see shared design notes).
excludes_for() {
    case $1 in
    libvirt) printf '/debian/\n/.pc/\n/src/keycodemapdb/\n/subprojects/keycodemapdb/\n/build/\n' ;;
    qemu) printf '/debian/\n/.pc/\n/build/\n' ;;
    esac
}

unpack() {
    local name=$1 pkg=$2 ver=$3 tree=$4
    local dldir=$DL/$pkg dsc stamp date

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
    if [ "$OPENHOOK_BASE" = bookworm ]; then
        dsc=$(download "$pkg" "$ver" "$dldir")
        say "$name: unpacking $(basename "$dsc") with Debian's patches"
        dpkg-source --no-check -x "$dsc" "$tree.tmp" >/dev/null
    else
        dldir=$DL/$pkg-${ver#*:}
        archive_source "$DEBIAN_SUITE" "$pkg" "$ver" "$dldir"
        say "$name: unpacking $pkg $ver with Debian's patches"
        archive_unpack "$dldir" "$tree.tmp"
    fi
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
    [ "$OPENHOOK_BASE" != bookworm ] || ensure_deb_src
    for w in "${what[@]}"; do
        case $w in
        libvirt) unpack libvirt "$LIBVIRT_SRC_PACKAGE" "$LIBVIRT_SRC_VERSION" "$LIBVIRT_TREE" ;;
        qemu) unpack qemu "$QEMU_SRC_PACKAGE" "$QEMU_SRC_VERSION" "$QEMU_TREE" ;;
        *) die "unknown source '$w' (libvirt or qemu)" ;;
        esac
    done
}

main "$@"
