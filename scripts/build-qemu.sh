#!/bin/bash
# Configure (once) and build QEMU twice, out of tree:
#   tools:  qemu-img, qemu-io, qemu-nbd, qemu-storage-daemon  ($QEMU_TOOLS_BUILDDIR)
#   system: a minimal qemu-system-x86_64                        ($QEMU_SYS_BUILDDIR)
# Incremental: later runs only re-run ninja.
#
# The prefix and firmware path are Debian's, so the build-tree emulator finds
# SeaBIOS and the option ROMs that Debian's qemu-system-data/seabios installed
# (the dfsg tarball ships no firmware binaries).
#
# usage: scripts/build-qemu.sh [tools|system]...   (default: both)

. "$(dirname "$0")/lib.sh"

[ -d "$QEMU_TREE/.git" ] || die "no QEMU tree: run scripts/fetch-sources.sh first"

COMMON_OPTS=(
    --prefix=/usr --sysconfdir=/etc --localstatedir=/var
    --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
    --disable-docs --without-default-features --enable-qed
)

# QEMU 10.0 (trixie): build tools newer than the host's (meson, pycotap;
# scripts/qemu-build-tools.sh) come first, and nothing is downloaded: the
# +ds tarball ships neither the firmware blobs nor the wrapped subprojects.
if [ -n "${QEMU_TOOLS_ROOT:-}" ]; then
    "$ROOT/scripts/qemu-build-tools.sh"
    export PATH=$QEMU_TOOLS_ROOT/usr/bin:$PATH
    export PYTHONPATH=$QEMU_TOOLS_ROOT/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}
    COMMON_OPTS+=(--disable-download --disable-install-blobs)
fi

LOG=$BUILD/$(basename "$QEMU_TREE")

build_one() {
    local name=$1 dir=$2; shift 2
    local -a conf=() targets=()
    while [ "$1" != -- ]; do conf+=("$1"); shift; done
    shift
    targets=("$@")

    if [ ! -f "$dir/build.ninja" ]; then
        say "configuring QEMU ($name) in $dir"
        mkdir -p "$dir"
        (cd "$dir" && "$QEMU_TREE/configure" "${COMMON_OPTS[@]}" "${conf[@]}") \
            > "$LOG-$name-configure.log" 2>&1 ||
            { tail -30 "$LOG-$name-configure.log"; die "QEMU $name configure failed"; }
    fi
    say "building QEMU ($name): ${targets[*]}"
    ninja -C "$dir" -j"$JOBS" "${targets[@]}" > "$LOG-$name-build.log" 2>&1 ||
        { grep -E 'error|FAILED' "$LOG-$name-build.log" | head -40; die "QEMU $name build failed (log: $LOG-$name-build.log)"; }
}

main() {
    local what=("$@")
    [ ${#what[@]} -gt 0 ] || what=(tools system)
    for w in "${what[@]}"; do
        case $w in
        tools)
            build_one tools "$QEMU_TOOLS_BUILDDIR" \
                --target-list= --disable-system --disable-user --enable-tools -- \
                qemu-img qemu-io qemu-nbd storage-daemon/qemu-storage-daemon
            ;;
        system)
            build_one system "$QEMU_SYS_BUILDDIR" \
                --target-list=x86_64-softmmu --enable-fdt=system -- \
                qemu-system-x86_64
            ;;
        *) die "unknown QEMU build '$w' (tools or system)" ;;
        esac
    done
    say "QEMU built"
}

main "$@"
