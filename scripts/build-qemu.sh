#!/bin/bash
# Configure (once) and build QEMU, out of tree:
#   tools:    qemu-img, qemu-io, qemu-nbd, qemu-storage-daemon  ($QEMU_TOOLS_BUILDDIR)
#   system:   a minimal qemu-system-x86_64                      ($QEMU_SYS_BUILDDIR)
#   pristine: the same qemu-system-x86_64 from the base's tree without the
#             series, what Debian 13's users run: the emulator of the
#             preload flavour ($QEMU_PRISTINE_BUILDDIR)
# Incremental: later runs only re-run ninja.
#
# The prefix and firmware path are Debian's, so the build-tree emulator finds
# SeaBIOS and the option ROMs that Debian's qemu-system-data/seabios installed
# (the dfsg tarball ships no firmware binaries).
#
# usage: scripts/build-qemu.sh [tools|system|pristine]...   (default: all three)

. "$(dirname "$0")/lib.sh"

[ -d "$QEMU_TREE/.git" ] || die "no QEMU tree: run scripts/fetch-sources.sh first"

COMMON_OPTS=(
    --prefix=/usr --sysconfdir=/etc --localstatedir=/var
    --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
    --disable-docs --without-default-features --enable-qed
)

# QEMU 10.0: build tools newer than the host's (meson, pycotap;
# scripts/qemu-build-tools.sh) come first, and nothing is downloaded: the
# +ds tarball ships neither the firmware blobs nor the wrapped subprojects.
"$ROOT/scripts/qemu-build-tools.sh"
export PATH=$QEMU_TOOLS_ROOT/usr/bin:$PATH
export PYTHONPATH=$QEMU_TOOLS_ROOT/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}
COMMON_OPTS+=(--disable-download --disable-install-blobs)

LOG=$BUILD/$(basename "$QEMU_TREE")

# The pristine tree: a worktree of the QEMU tree at the base commit, so
# that it is the tree the series applies to, file for file.
pristine_tree() {
    local base
    base=$(tree_git "$QEMU_TREE" rev-parse "$BASE_TAG^{commit}")
    if [ ! -e "$QEMU_PRISTINE_TREE/.git" ]; then
        tree_git "$QEMU_TREE" worktree prune
        tree_git "$QEMU_TREE" worktree add -q --detach "$QEMU_PRISTINE_TREE" "$base" ||
            die "cannot make the pristine QEMU tree"
    elif [ "$(tree_git "$QEMU_PRISTINE_TREE" rev-parse HEAD)" != "$base" ]; then
        tree_git "$QEMU_PRISTINE_TREE" checkout -q --detach "$base" ||
            die "cannot move the pristine QEMU tree to $BASE_TAG"
    fi
    # the subprojects the tarball unpacks and QEMU's .gitignore keeps out
    # of git (softfloat, keycodemapdb, ...) are copied from the tree
    local d
    while read -r d; do
        d=${d%/}
        [ -e "$QEMU_PRISTINE_TREE/$d" ] || cp -a "$QEMU_TREE/$d" "$QEMU_PRISTINE_TREE/$d"
    done < <(tree_git "$QEMU_TREE" ls-files --others --ignored --exclude-standard \
        --directory -- subprojects/)
}

# build_one NAME TREE BUILDDIR CONFIGURE-OPTION... -- TARGET...
build_one() {
    local name=$1 tree=$2 dir=$3; shift 3
    local -a conf=() targets=()
    while [ "$1" != -- ]; do conf+=("$1"); shift; done
    shift
    targets=("$@")

    if [ ! -f "$dir/build.ninja" ]; then
        say "configuring QEMU ($name) in $dir"
        mkdir -p "$dir"
        (cd "$dir" && "$tree/configure" "${COMMON_OPTS[@]}" "${conf[@]}") \
            > "$LOG-$name-configure.log" 2>&1 ||
            { tail -30 "$LOG-$name-configure.log"; die "QEMU $name configure failed"; }
    fi
    say "building QEMU ($name): ${targets[*]}"
    ninja -C "$dir" -j"$JOBS" "${targets[@]}" > "$LOG-$name-build.log" 2>&1 ||
        { grep -E 'error|FAILED' "$LOG-$name-build.log" | head -40; die "QEMU $name build failed (log: $LOG-$name-build.log)"; }
}

main() {
    local what=("$@")
    [ ${#what[@]} -gt 0 ] || what=(tools system pristine)
    for w in "${what[@]}"; do
        case $w in
        tools)
            build_one tools "$QEMU_TREE" "$QEMU_TOOLS_BUILDDIR" \
                --target-list= --disable-system --disable-user --enable-tools -- \
                qemu-img qemu-io qemu-nbd storage-daemon/qemu-storage-daemon
            ;;
        system)
            build_one system "$QEMU_TREE" "$QEMU_SYS_BUILDDIR" \
                --target-list=x86_64-softmmu --enable-fdt=system -- \
                qemu-system-x86_64
            ;;
        pristine)
            pristine_tree
            # not relocatable: it finds its firmware in /usr/share as
            # Debian's, installed in /usr/bin, does, wherever it is run
            # from (the preload library leaves opens there to QEMU)
            build_one pristine "$QEMU_PRISTINE_TREE" "$QEMU_PRISTINE_BUILDDIR" \
                --target-list=x86_64-softmmu --enable-fdt=system \
                --disable-relocatable -- \
                qemu-system-x86_64
            ;;
        *) die "unknown QEMU build '$w' (tools or system)" ;;
        esac
    done
    say "QEMU built"
}

main "$@"
