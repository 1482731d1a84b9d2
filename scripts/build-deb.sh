#!/bin/bash
# Build Debian binary packages of libvirt 11.3.0-3+deb13u3 (Debian 13's
# source and packaging) with the series appended to debian/patches (quilt),
# plus libvirt-openhook-preload (the LD_PRELOAD client from src/preload),
# all with version 11.3.0-3+deb13u3+openhook1, built on and installable on
# Debian 12 (bookworm), the machines' release.  docs/packaging.rst says how
# to install them.
#
#   build/deb/work/libvirt-11.3.0  Debian's source package, extracted afresh
#   build/deb/out/                 the .debs, .changes, .buildinfo, the
#                                  source package (.dsc) and an apt index
#
# Incremental: a stamp holds a hash of what each part is built from (the
# series, this script, the pins, the build options; the preload sources),
# and a part whose stamp matches and whose packages exist is not rebuilt.
#
# usage: scripts/build-deb.sh [--force]      (as root, or with build-deps)
#        scripts/build-deb.sh --print-version | --print-outdir | --print-packages
#        scripts/build-deb.sh --is-up-to-date   (exit status: 0 if nothing to rebuild)
# env:   OPENHOOK_DEB_BUILD_OPTIONS  DEB_BUILD_OPTIONS for libvirt's build
#                                    (default: "nocheck noautodbgsym parallel=$JOBS")
#        OPENHOOK_DEB_CCACHE=0       don't use ccache (default: build/deb/ccache)

. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/archive.sh
. "$ROOT/scripts/archive.sh"

# Bump when the packaging changes without a change of the series.
OPENHOOK_DEB_REV=1
DEB_VERSION=$LIBVIRT_SRC_VERSION+openhook$OPENHOOK_DEB_REV
UPSTREAM_VERSION=${LIBVIRT_SRC_VERSION%-*}
UPSTREAM_VERSION=${UPSTREAM_VERSION#*:}
DEB_ARCH=$(dpkg --print-architecture)

DEB_TOP=$BUILD/deb
DEB_WORK=$DEB_TOP/work
DEB_TREE=$DEB_WORK/libvirt-$UPSTREAM_VERSION
DEB_OUT=$DEB_TOP/out
# the orig and Debian tarballs, as scripts/fetch-sources.sh fetched and
# verified them (the archive has no .dsc for this upload)
SRC_DIR=$DL/$LIBVIRT_SRC_PACKAGE-${LIBVIRT_SRC_VERSION#*:}

# Where the preload library goes: the path qemu.conf documents for
# open_hook_preload (patch 0009) and docs/openhook.rst uses.
PRELOAD_PKG=libvirt-openhook-preload
PRELOAD_PATH=/usr/lib/libvirt/openhook-preload.so

# The binary packages libvirt's debian/control builds on amd64
# (Architecture: any, linux-any, amd64 and all), all of which we keep.
LIBVIRT_PKGS=(
    libvirt0 libvirt-common libvirt-clients libvirt-clients-qemu
    libvirt-login-shell libvirt-ssh-proxy
    libvirt-daemon libvirt-daemon-common libvirt-daemon-log
    libvirt-daemon-lock libvirt-daemon-driver-qemu libvirt-daemon-driver-lxc
    libvirt-daemon-driver-vbox libvirt-daemon-driver-xen
    libvirt-daemon-driver-storage libvirt-daemon-driver-storage-disk
    libvirt-daemon-driver-storage-gluster libvirt-daemon-driver-storage-iscsi
    libvirt-daemon-driver-storage-iscsi-direct
    libvirt-daemon-driver-storage-logical libvirt-daemon-driver-storage-mpath
    libvirt-daemon-driver-storage-rbd libvirt-daemon-driver-storage-scsi
    libvirt-daemon-driver-storage-zfs libvirt-daemon-driver-network
    libvirt-daemon-driver-nwfilter libvirt-daemon-driver-interface
    libvirt-daemon-driver-nodedev libvirt-daemon-driver-secret
    libvirt-daemon-plugin-lockd libvirt-daemon-plugin-sanlock
    libvirt-daemon-system libvirt-daemon-system-systemd
    libvirt-daemon-system-sysv libvirt-daemon-config-network
    libvirt-daemon-config-nwfilter libvirt-l10n libvirt-doc libvirt-dev
    libvirt-sanlock libnss-libvirt libvirt-wireshark
)

# nocheck: libvirt's test suite runs on the same series in scripts/test.sh;
# the tests are still compiled, as debian/rules asks.  noautodbgsym: no
# -dbgsym packages (nobody installs them from here; skipping them saves
# their stripping into packages and compression).  Not nodoc: debian/rules
# builds the docs regardless, so nodoc would only leave the man pages and
# libvirt-doc empty.  docs/packaging.rst has the rest.
BUILD_OPTIONS=${OPENHOOK_DEB_BUILD_OPTIONS:-"nocheck noautodbgsym parallel=$JOBS"}

series_patches() {
    local p
    for p in "$ROOT"/patches/libvirt/0*.patch; do
        [ "$(basename "$p")" = 0000-cover-letter.patch ] || echo "$p"
    done
}

deb_file() {  # deb_file PACKAGE: the file name of PACKAGE's .deb
    local arch=$DEB_ARCH
    case $1 in
    libvirt-clients-qemu | libvirt-daemon-config-network | \
    libvirt-daemon-config-nwfilter | libvirt-daemon-system-systemd | \
    libvirt-daemon-system-sysv | libvirt-l10n | libvirt-doc) arch=all ;;
    esac
    echo "${1}_${DEB_VERSION#*:}_$arch.deb"
}

libvirt_hash() {
    {
        echo "$LIBVIRT_SRC_PACKAGE $LIBVIRT_SRC_VERSION $DEB_VERSION"
        echo "$BUILD_OPTIONS"
        (cd "$ROOT" && sha256sum scripts/build-deb.sh scripts/pins.sh)
        (cd "$SRC_DIR" && sha256sum "$(archive_tarball . orig)" "$(archive_tarball . debian)")
        # by name, so that the hash does not depend on where the checkout is
        series_patches | while read -r p; do
            printf '%s %s\n' "$(sha256sum < "$p" | cut -d' ' -f1)" "$(basename "$p")"
        done
    } | sha256sum | cut -d' ' -f1
}

preload_hash() {
    {
        echo "$DEB_VERSION"
        (cd "$ROOT" && sha256sum scripts/build-deb.sh meson.build meson_options.txt \
            src/preload/* src/libvirt/src/util/viropenhookproto.[ch] docs/preload.rst)
    } | sha256sum | cut -d' ' -f1
}

up_to_date() {  # up_to_date STAMP HASH PACKAGE...
    local stamp=$1 hash=$2 p; shift 2
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] || return 1
    for p in "$@"; do
        [ -f "$DEB_OUT/$(deb_file "$p")" ] || return 1
    done
}

# The changelog date: that of the last commit of the series, so that the
# same series gives the same packages (SOURCE_DATE_EPOCH comes from it).
changelog_date() {
    local d
    d=$(git -C "$ROOT" log -1 --format=%aD -- patches/libvirt 2>/dev/null || true)
    if [ -z "$d" ] || ! git -C "$ROOT" diff --quiet HEAD -- patches/libvirt 2>/dev/null; then
        d=$(date -R)
    fi
    echo "$d"
}

extract_tree() {
    local orig
    # fetched (or checked again) against the suite's signed index
    archive_source "$DEBIAN_SUITE" "$LIBVIRT_SRC_PACKAGE" "$LIBVIRT_SRC_VERSION" "$SRC_DIR"
    rm -rf "$DEB_WORK"
    mkdir -p "$DEB_WORK"
    say "extracting $LIBVIRT_SRC_PACKAGE $LIBVIRT_SRC_VERSION into $DEB_TREE"
    archive_extract "$SRC_DIR" "$DEB_TREE"
    # dpkg-source -b needs the original tarball beside the tree
    orig=$(archive_tarball "$SRC_DIR" orig)
    ln -f "$SRC_DIR/$orig" "$DEB_WORK/" 2>/dev/null || cp "$SRC_DIR/$orig" "$DEB_WORK/"
}

add_series() {
    local p n=0
    mkdir -p "$DEB_TREE/debian/patches/openhook"
    {
        echo "# libvirt-openhook: libvirt opens QEMU's files on its behalf"
        while read -r p; do
            cp "$p" "$DEB_TREE/debian/patches/openhook/"
            echo "openhook/$(basename "$p")"
            n=$((n + 1))
        done < <(series_patches)
    } >> "$DEB_TREE/debian/patches/series"
    [ "$n" -gt 0 ] || die "no patches in $ROOT/patches/libvirt"

    local entry
    entry=$(mktemp)
    cat > "$entry" <<EOF
$LIBVIRT_SRC_PACKAGE ($DEB_VERSION) bookworm; urgency=medium

  * Add the libvirt-openhook series ($n patches in debian/patches/openhook/):
    with open_hook = "enforce" in qemu.conf (or <openhook/> in a domain),
    QEMU does not open a guest's files itself but asks libvirt over a
    socket, and libvirt opens only the files in the guest's whitelist
    (its disks' backing chains and its other files) and passes the
    descriptors back.  Off by default.
  * Ship virtqemud, its configuration, units, augeas lens and man page in
    libvirt-daemon-driver-qemu; the units are not enabled, libvirtd stays
    the default.
  * Built on bookworm from the trixie source $LIBVIRT_SRC_VERSION, so that
    these packages replace Debian's libvirt on a bookworm host.

 -- libvirt-openhook <openhook@localhost>  $(changelog_date)

EOF
    cat "$DEB_TREE/debian/changelog" >> "$entry"
    mv "$entry" "$DEB_TREE/debian/changelog"
    chmod 644 "$DEB_TREE/debian/changelog"

    # Apply the whole quilt series now (what dpkg-buildpackage would do),
    # so that a patch that does not apply fails here, clearly.  dpkg-source
    # applies with fuzz 0, like a Debian upload would be checked.
    say "applying Debian's patches and the $n of the series (quilt, fuzz 0)"
    (cd "$DEB_TREE" && dpkg-source --before-build .) > "$DEB_WORK/apply.log" 2>&1 ||
        { tail -20 "$DEB_WORK/apply.log"; die "the series does not apply to $LIBVIRT_SRC_PACKAGE $LIBVIRT_SRC_VERSION under quilt"; }
}

install_build_deps() {
    if (cd "$DEB_TREE" && dpkg-checkbuilddeps) >/dev/null 2>&1; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "build dependencies missing (dpkg-checkbuilddeps in $DEB_TREE); run as root or install them"
    say "installing libvirt's build dependencies (apt-get build-dep)"
    local t=$SECONDS
    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q -o DPkg::Lock::Timeout=600 \
        "$DEB_TREE" > "$DEB_TOP/build-dep.log" 2>&1 ||
        { tail -20 "$DEB_TOP/build-dep.log"; die "apt-get build-dep failed (log: $DEB_TOP/build-dep.log)"; }
    say "build dependencies installed in $((SECONDS - t)) s"
}

# Debian's 11.3 packaging builds the split daemons but ships none of them
# (debian/not-installed).  Ship virtqemud, which runs the same patched qemu
# driver as libvirtd, with its configuration, units, augeas lens and man
# page in libvirt-daemon-driver-qemu, next to the driver module, the way
# Debian's later packaging goes (each daemon with its configuration, in
# its driver's package).  libvirtd stays the default: the units are
# installed but not enabled (dh_installsystemd --no-enable), so nothing
# listens on virtqemud's sockets until the admin switches
# (docs/packaging.rst).  Its AppArmor profile and /etc/default/virtqemud
# stay out, as for the other split daemons.
ship_virtqemud() {
    local d=$DEB_TREE/debian
    sed -i -E '\#^(usr/sbin/virtqemud|etc/libvirt/virtqemud\.conf|usr/lib/systemd/system/virtqemud.*|usr/share/augeas/lenses/(tests/test_)?virtqemud\.aug|usr/share/man/man8/virtqemud\.8)$#d' \
        "$d/not-installed"
    [ "$(grep virtqemud "$d/not-installed" | LC_ALL=C sort | tr '\n' ' ')" = \
        "etc/apparmor.d/usr.sbin.virtqemud " ] ||
        die "debian/not-installed: unexpected virtqemud entries"
    # debian/*.install and debian/control are generated from their .in
    # templates (debian/scripts/process-templates.py): edit the templates
    cat >> "$d/libvirt-daemon-driver-qemu.install.in" <<'EOF2'
etc/libvirt/virtqemud.conf
usr/lib/systemd/system/virtqemud*
usr/sbin/virtqemud
usr/share/augeas/lenses/tests/test_virtqemud.aug
usr/share/augeas/lenses/virtqemud.aug
usr/share/man/man8/virtqemud.8
usr/lib/libvirt/libvirt_openhook_opener
EOF2
    # After Debian's own dh_installsystemd calls: the admin's choice
    # survives upgrades, an enabled virtqemud is restarted like libvirtd,
    # and a disabled one is never started (deb-systemd-invoke).
    sed -i '/^\tdh_installsystemd -p libvirt-daemon --no-stop-on-upgrade libvirtd\.socket /a\
\tdh_installsystemd -p libvirt-daemon-driver-qemu --no-enable --no-also virtqemud.service\
\tdh_installsystemd -p libvirt-daemon-driver-qemu --no-enable --no-stop-on-upgrade virtqemud.socket virtqemud-ro.socket virtqemud-admin.socket' \
        "$d/rules"
    [ "$(grep -cP '^\tdh_installsystemd -p libvirt-daemon-driver-qemu --no-enable ' "$d/rules")" = 2 ] ||
        die "debian/rules: cannot add virtqemud's units to override_dh_installsystemd"
    # The open hook's opener runs as QEMU's user: if that user could read
    # the binary, the kernel would let QEMU ptrace it from exec on (the
    # helper refuses to run then).  dh_fixperms makes executables 0755.
    grep -q '^override_dh_fixperms' "$d/rules" &&
        die "debian/rules: has an override_dh_fixperms already"
    printf '\noverride_dh_fixperms:\n\tdh_fixperms\n\t%s\n' \
        'if [ -e $(OPENER) ]; then chmod 0711 $(OPENER); fi' >> "$d/rules"
    printf 'OPENER = %s\n' \
        debian/libvirt-daemon-driver-qemu/usr/lib/libvirt/libvirt_openhook_opener >> "$d/rules"

    sed -i '/^ This package contains the QEMU connection driver\.$/a\
 It also contains virtqemud, the modular daemon for QEMU, whose units are\
 not enabled: libvirtd stays the default.' "$d/control.in"
    [ "$(grep -c '^ It also contains virtqemud' "$d/control.in")" = 1 ] ||
        die "debian/control.in: cannot describe virtqemud in libvirt-daemon-driver-qemu"
    (cd "$DEB_TREE" && debian/scripts/process-templates.py --mode generate) > /dev/null ||
        die "debian/control: cannot regenerate it from debian/control.in"
}

# DEB_BUILD_TOOLS (scripts/pins.sh), unpacked under build/tools/ and
# checked along the archive's chain of trust; build_libvirt puts them first
# in PATH and PERL5LIB, so the host's own debhelper stays as it is.
unpack_deb_tools() {
    archive_tools "$DEB_TOOLS_ROOT" "$DEB_BUILD_TOOLS_SUITE" "${DEB_BUILD_TOOLS[@]}"
}

build_libvirt() {
    local hash p
    hash=$(libvirt_hash)
    if [ "${FORCE:-0}" != 1 ] && up_to_date "$DEB_OUT/stamp-libvirt" "$hash" "${LIBVIRT_PKGS[@]}"; then
        say "libvirt packages $DEB_VERSION are up to date in $DEB_OUT"
        return 0
    fi
    extract_tree
    add_series
    ship_virtqemud
    install_build_deps
    unpack_deb_tools

    # meson puts ccache in front of the compiler whenever it is installed;
    # debhelper resets HOME, so the cache must be named.  It only makes
    # rebuilds of a changed series fast.
    local -a env=(DEB_BUILD_OPTIONS="$BUILD_OPTIONS"
                  PATH="$DEB_TOOLS_ROOT/usr/bin:$PATH"
                  PERL5LIB="$DEB_TOOLS_ROOT/usr/share/perl5${PERL5LIB:+:$PERL5LIB}")
    if [ "${OPENHOOK_DEB_CCACHE:-1}" = 0 ]; then
        env+=(CCACHE_DISABLE=1)
    else
        env+=(CCACHE_DIR="$DEB_TOP/ccache" CCACHE_MAXSIZE=3G)
    fi
    local log=$DEB_TOP/build.log t=$SECONDS
    say "building libvirt $DEB_VERSION (DEB_BUILD_OPTIONS='$BUILD_OPTIONS'; log: $log)"
    (cd "$DEB_TREE" && env "${env[@]}" dpkg-buildpackage --build=full -us -uc \
        -j"$JOBS") > "$log" 2>&1 ||
        { grep -E 'error|FAILED|dpkg-buildpackage: ' "$log" | tail -30; die "dpkg-buildpackage failed (log: $log)"; }
    say "libvirt built in $((SECONDS - t)) s"

    mkdir -p "$DEB_OUT"
    rm -f "$DEB_OUT"/*.deb "$DEB_OUT"/*.dsc "$DEB_OUT"/*.changes "$DEB_OUT"/*.buildinfo \
        "$DEB_OUT"/*.tar.* "$DEB_OUT"/stamp-* "$DEB_OUT"/Packages*
    mv "$DEB_WORK"/*.deb "$DEB_WORK"/*.dsc "$DEB_WORK"/*.changes "$DEB_WORK"/*.buildinfo \
        "$DEB_WORK"/*.debian.tar.* "$DEB_OUT/"
    cp "$DEB_WORK"/*.orig.tar.* "$DEB_OUT/"
    for p in "${LIBVIRT_PKGS[@]}"; do
        [ -f "$DEB_OUT/$(deb_file "$p")" ] || die "dpkg-buildpackage did not produce $(deb_file "$p")"
    done
    echo "$hash" > "$DEB_OUT/stamp-libvirt"
    # The tree is large and has served its purpose (the log stays).
    rm -rf "$DEB_WORK"
}

build_preload() {
    local hash bdir=$DEB_TOP/preload-build root=$DEB_TOP/preload-root
    hash=$(preload_hash)
    if [ "${FORCE:-0}" != 1 ] && up_to_date "$DEB_OUT/stamp-preload" "$hash" "$PRELOAD_PKG"; then
        say "$PRELOAD_PKG $DEB_VERSION is up to date in $DEB_OUT"
        return 0
    fi
    say "building $PRELOAD_PKG $DEB_VERSION"
    # Debian's build flags (hardening, -O2, relro/now).  _FORTIFY_SOURCE
    # would turn the open() the library defines into glibc's inline wrapper.
    rm -rf "$bdir" "$root"
    mkdir -p "$DEB_TOP"
    (
        export DEB_BUILD_MAINT_OPTIONS=hardening=+all
        CFLAGS="$(dpkg-buildflags --get CFLAGS) -U_FORTIFY_SOURCE"
        LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
        export CFLAGS LDFLAGS
        meson setup "$bdir" "$ROOT" --buildtype=plain >/dev/null &&
            meson compile -C "$bdir" openhook-preload >/dev/null
    ) > "$DEB_TOP/preload-build.log" 2>&1 ||
        { tail -30 "$DEB_TOP/preload-build.log"; die "preload build failed (log: $DEB_TOP/preload-build.log)"; }

    local doc=$root/usr/share/doc/$PRELOAD_PKG
    install -d -m755 "$root/DEBIAN" "$root$(dirname "$PRELOAD_PATH")" "$doc"
    install -m644 "$bdir/src/preload/libopenhook-preload.so" "$root$PRELOAD_PATH"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note \
        "$root$PRELOAD_PATH"
    gzip -9n < "$ROOT/docs/preload.rst" > "$doc/preload.rst.gz"
    cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: libvirt-openhook
Comment: The LD_PRELOAD client of libvirt's open hook (src/preload/ and
 src/libvirt/src/util/viropenhookproto.c of libvirt-openhook).

Files: *
Copyright: libvirt-openhook contributors
License: LGPL-2.1+
 This library is free software; you can redistribute it and/or
 modify it under the terms of the GNU Lesser General Public
 License as published by the Free Software Foundation; either
 version 2.1 of the License, or (at your option) any later version.
 .
 On Debian systems, the complete text of the GNU Lesser General Public
 License version 2.1 can be found in /usr/share/common-licenses/LGPL-2.1.
EOF
    {
        printf '%s (%s) bookworm; urgency=medium\n\n' "$PRELOAD_PKG" "$DEB_VERSION"
        printf '  * Built from libvirt-openhook %s.\n\n' \
            "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
        printf ' -- libvirt-openhook <openhook@localhost>  %s\n' "$(changelog_date)"
    } | gzip -9n > "$doc/changelog.Debian.gz"

    # Depends from the library's NEEDED entries and the shlibs/symbols files
    # of the installed libraries.
    local deps
    mkdir -p "$root.shlibs/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PRELOAD_PKG" "$PRELOAD_PKG" \
        > "$root.shlibs/debian/control"
    deps=$(cd "$root.shlibs" && dpkg-shlibdeps -O "$root$PRELOAD_PATH" 2>>"$DEB_TOP/preload-build.log" |
        sed -n 's/^shlibs:Depends=//p')
    rm -rf "$root.shlibs"
    [ -n "$deps" ] || die "dpkg-shlibdeps found no dependencies (log: $DEB_TOP/preload-build.log)"

    cat > "$root/DEBIAN/control" <<EOF
Package: $PRELOAD_PKG
Version: $DEB_VERSION
Architecture: $DEB_ARCH
Maintainer: libvirt-openhook <openhook@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $deps
Enhances: libvirt-daemon-driver-qemu
Section: admin
Priority: optional
Multi-Arch: no
Description: libvirt open hook for QEMU binaries without -open-hook-fd
 An LD_PRELOAD library that gives Debian's stock qemu-system-*, qemu-img,
 qemu-io and qemu-nbd the behaviour of a QEMU patched with -open-hook-fd:
 the opens of guest files are sent to libvirt over the open-hook socket,
 and libvirt opens only the files in the guest's whitelist.
 .
 libvirt uses it when qemu.conf sets
 open_hook_preload = "$PRELOAD_PATH".
 It is a transition aid, not a confinement mechanism on its own; see
 /usr/share/doc/$PRELOAD_PKG/preload.rst.gz.
EOF
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
        LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums)
    chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

    mkdir -p "$DEB_OUT"
    rm -f "$DEB_OUT/${PRELOAD_PKG}_"*.deb "$DEB_OUT/stamp-preload"
    SOURCE_DATE_EPOCH=$(date -d "$(changelog_date)" +%s) \
        dpkg-deb --root-owner-group -Zxz --build "$root" "$DEB_OUT/$(deb_file "$PRELOAD_PKG")" >/dev/null
    echo "$hash" > "$DEB_OUT/stamp-preload"
    rm -rf "$root"
}

# A flat apt repository, so that apt resolves the set by itself:
#   deb [trusted=yes] file:/path/to/build/deb/out ./
write_index() {
    (cd "$DEB_OUT" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null > Packages &&
        gzip -9nk -f Packages)
}

main() {
    case ${1:-} in
    --print-version) echo "$DEB_VERSION"; return ;;
    --print-outdir) echo "$DEB_OUT"; return ;;
    --print-packages)
        local p
        for p in "${LIBVIRT_PKGS[@]}" "$PRELOAD_PKG"; do deb_file "$p"; done
        return ;;
    --is-up-to-date)
        up_to_date "$DEB_OUT/stamp-libvirt" "$(libvirt_hash)" "${LIBVIRT_PKGS[@]}" &&
            up_to_date "$DEB_OUT/stamp-preload" "$(preload_hash)" "$PRELOAD_PKG"
        return ;;
    --force) FORCE=1 ;;
    "") ;;
    *) die "usage: $0 [--force|--is-up-to-date|--print-version|--print-outdir|--print-packages]" ;;
    esac
    command -v dpkg-buildpackage >/dev/null || die "dpkg-buildpackage missing (apt-get install dpkg-dev)"
    # one build at a time in build/deb
    mkdir -p "$DEB_TOP"
    exec 9> "$DEB_TOP/.lock"
    flock -n 9 || { say "waiting for another scripts/build-deb.sh"; flock 9; }
    build_libvirt
    build_preload
    write_index
    say "packages in $DEB_OUT"
}

main "$@"
