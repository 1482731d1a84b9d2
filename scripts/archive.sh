# shellcheck shell=bash
# Fetching from Debian's archive without apt: every file is checked along the
# archive's own chain of trust.  A suite's InRelease must carry a signature
# gpgv accepts with Debian's archive keyring; an index (Sources.xz,
# Packages.xz) must match the sha256 the signed Release gives; a source
# tarball or a .deb must match the sha256 its index gives.  Source it after
# lib.sh.

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

fetch_url() {
    local url=$1 out=$2
    curl -fsSL --retry 3 -o "$out.part" "$url" || { rm -f "$out.part"; return 1; }
    mv "$out.part" "$out"
}

# archive_release SUITE: prints the path of SUITE's Release, the text of an
# InRelease whose signature gpgv accepted (nothing unsigned is kept).
archive_release() {
    local suite=$1 dir=$DL/dists/$1
    mkdir -p "$dir"
    fetch_url "$DEBIAN_MIRROR/dists/$suite/InRelease" "$dir/InRelease" ||
        die "cannot download $DEBIAN_MIRROR/dists/$suite/InRelease"
    [ -f "$KEYRING" ] || die "$KEYRING missing: install debian-archive-keyring"
    rm -f "$dir/Release"
    gpgv --keyring "$KEYRING" --output "$dir/Release" "$dir/InRelease" 2> "$dir/gpgv.log" ||
        { cat "$dir/gpgv.log" >&2; die "$suite's InRelease is not signed by a key in $KEYRING"; }
    echo "$dir/Release"
}

# archive_index SUITE INDEX: prints the path of INDEX (e.g.
# main/source/Sources.xz), uncompressed, checked against SUITE's Release.
archive_index() {
    local suite=$1 index=$2 release dir want file out
    release=$(archive_release "$suite")
    dir=$(dirname "$release")
    want=$(awk -v i="$index" '/^SHA256:/ {f=1; next} /^[^ ]/ {f=0} f && $3 == i {print $1}' "$release")
    [ -n "$want" ] || die "$suite's Release lists no $index"
    file=$dir/$(echo "$index" | tr / _)
    out=${file%.xz}
    if ! [ -f "$file" ] || ! echo "$want  $file" | sha256sum --quiet -c - 2>/dev/null; then
        fetch_url "$DEBIAN_MIRROR/dists/$suite/$index" "$file" ||
            die "cannot download $suite's $index"
        echo "$want  $file" | sha256sum --quiet -c - ||
            die "$suite's $index does not match its InRelease"
    fi
    xz -dc "$file" > "$out"
    echo "$out"
}

# archive_stanza INDEX PKG VER FIELD...: prints the FIELDs of PKG VER's
# stanza in INDEX, one per line (multi-line fields keep their lines); exits 3
# and prints the versions INDEX has if it lacks VER.
archive_stanza() {
    python3 - "$@" <<'PY'
import sys
index, pkg, ver, *want = sys.argv[1:]
found, versions = None, []
for para in open(index, encoding='utf-8').read().split('\n\n'):
    fields, cur = {}, None
    for line in para.split('\n'):
        if line.startswith((' ', '\t')) and cur:
            fields[cur] += '\n' + line.strip()
        elif ':' in line:
            cur, _, val = line.partition(':')
            fields[cur] = val.strip()
    if fields.get('Package') != pkg:
        continue
    versions.append(fields.get('Version', '?'))
    if fields.get('Version') == ver:
        found = fields
if not found:
    print(' '.join(versions))
    sys.exit(3)
for w in want:
    print(found.get(w, '').strip())
PY
}

# archive_source SUITE PKG VER DIR: downloads PKG VER's source tarballs into
# DIR (the .dsc is not needed, and the archive does not always serve it) and
# writes DIR/SHA256SUMS.  Works offline once DIR holds them.
archive_source() {
    local suite=$1 pkg=$2 ver=$3 dir=$4 sources out directory f
    if [ -f "$dir/SHA256SUMS" ] && (cd "$dir" && sha256sum --quiet -c SHA256SUMS 2>/dev/null); then
        return 0
    fi
    mkdir -p "$dir"
    say "downloading $pkg $ver from $DEBIAN_MIRROR ($suite)"
    sources=$(archive_index "$suite" main/source/Sources.xz)
    if ! out=$(archive_stanza "$sources" "$pkg" "$ver" Directory Checksums-Sha256); then
        die "Debian $suite does not serve $pkg $ver (it serves: ${out:-nothing}).
       Change the pin in scripts/pins.sh to one of those versions and run
       'scripts/series.sh check libvirt' to see whether the series still applies."
    fi
    directory=$(echo "$out" | head -1)
    echo "$out" | awk 'NR > 1 && $3 ~ /\.tar\./ && $3 !~ /\.asc$/ {print $1 "  " $3}' > "$dir/SHA256SUMS"
    while read -r _ f; do
        fetch_url "$DEBIAN_MIRROR/$directory/$f" "$dir/$f" ||
            die "cannot download $f from $DEBIAN_MIRROR/$directory"
    done < "$dir/SHA256SUMS"
    (cd "$dir" && sha256sum --quiet -c SHA256SUMS) ||
        die "$pkg $ver: a tarball does not match $suite's Sources: delete $dir and fetch again"
}

# archive_deb SUITE PKG VER DIR: downloads the Architecture: all package
# PKG VER into DIR and prints its path.
archive_deb() {
    local suite=$1 pkg=$2 ver=$3 dir=$4 packages out file sum
    mkdir -p "$dir"
    packages=$(archive_index "$suite" main/binary-all/Packages.xz)
    out=$(archive_stanza "$packages" "$pkg" "$ver" Filename SHA256) ||
        die "Debian $suite does not serve $pkg $ver (it serves: ${out:-nothing})"
    file=$(echo "$out" | sed -n 1p)
    sum=$(echo "$out" | sed -n 2p)
    if ! [ -f "$dir/$(basename "$file")" ] ||
       ! echo "$sum  $dir/$(basename "$file")" | sha256sum --quiet -c - 2>/dev/null; then
        fetch_url "$DEBIAN_MIRROR/$file" "$dir/$(basename "$file")" ||
            die "cannot download $DEBIAN_MIRROR/$file"
        echo "$sum  $dir/$(basename "$file")" | sha256sum --quiet -c - ||
            die "$pkg $ver does not match $suite's Packages"
    fi
    echo "$dir/$(basename "$file")"
}

# archive_tarball DIR KIND: the name of the one KIND (orig or debian)
# tarball that archive_source fetched into DIR
archive_tarball() {
    local t
    t=$(awk -v k="$2" '$2 ~ "\\." k "\\.tar\\." {print $2}' "$1/SHA256SUMS")
    [ -n "$t" ] && [ "$(printf '%s\n' "$t" | wc -l)" = 1 ] ||
        die "$1: expected one $2 tarball (got: ${t:-none})"
    echo "$t"
}

# archive_extract DIR TREE: TREE := the orig tarball in DIR plus its Debian
# tarball, as `dpkg-source -x --skip-patches` would unpack them
archive_extract() {
    local dir=$1 tree=$2 orig deb
    orig=$(archive_tarball "$dir" orig)
    deb=$(archive_tarball "$dir" debian)
    mkdir -p "$tree"
    tar -xf "$dir/$orig" -C "$tree" --strip-components=1
    tar -xf "$dir/$deb" -C "$tree"
}

# archive_unpack DIR TREE: archive_extract, then debian/patches/series
# applied as dpkg-source applies it (patch -F 0: no fuzz).
archive_unpack() {
    local dir=$1 tree=$2 name opt
    archive_extract "$dir" "$tree"
    [ -f "$tree/debian/patches/series" ] || return 0
    while read -r name opt; do
        case $name in '' | '#'*) continue ;; esac
        patch -d "$tree" -s -t -F 0 -N -u -V never -E --no-backup-if-mismatch \
            "${opt:--p1}" -i "debian/patches/$name" >&2 ||
            die "Debian's patch $name does not apply to $(archive_tarball "$dir" orig)"
    done < "$tree/debian/patches/series"
}

# archive_tools ROOT SUITE PKG=VER...: the Architecture: all packages
# PKG VER from SUITE, unpacked (dpkg-deb -x, not installed) under ROOT, for
# a build to put first in its PATH; idempotent (ROOT/.installed records
# what ROOT holds).
archive_tools() {
    local root=$1 suite=$2 want t deb
    shift 2
    want="$suite $*"
    if [ -f "$root/.installed" ] && [ "$(cat "$root/.installed")" = "$want" ]; then
        return 0
    fi
    rm -rf "$root"
    mkdir -p "$root"
    for t in "$@"; do
        deb=$(archive_deb "$suite" "${t%%=*}" "${t#*=}" "$DL/debs")
        dpkg-deb -x "$deb" "$root"
        say "unpacked $(basename "$deb") in $root"
    done
    echo "$want" > "$root/.installed"
}
