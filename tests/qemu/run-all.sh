#!/bin/bash
# QEMU-side tests of the open hook: the patched QEMU (native -open-hook-fd)
# and, if built, the LD_PRELOAD client with Debian's stock QEMU, both
# against the standalone openhook-broker.
#
# Builds what it needs incrementally (patched QEMU tools + system emulator,
# QEMU's unit test, the broker, the preload library), then prints TAP-ish
# lines and a final "N passed, M failed".  KEEP=1 keeps the scratch dir.
#
# usage: tests/qemu/run-all.sh [native|preload|landlock]...   (default: all)

. "$(dirname "$0")/lib.sh"

build_all() {
    local blog=$QT_BUILD/test-logs/qemu-tests-build.log
    mkdir -p "$QT_BUILD/test-logs"
    echo "# building (log: $blog)"
    {
        "$QT_ROOT/scripts/build-qemu.sh" tools system &&
        ninja -C "$QT_TOOLS" -j2 tests/unit/test-open-hook &&
        { [ -f "$QT_BUILD/openhook/build.ninja" ] ||
          meson setup "$QT_BUILD/openhook" "$QT_ROOT"; } &&
        ninja -C "$QT_BUILD/openhook" -j2
    } > "$blog" 2>&1 || { tail -30 "$blog"; echo "# build failed"; return 1; }
}

main() {
    local what=("$@")
    [ ${#what[@]} -gt 0 ] || what=(native preload landlock)
    if ! build_all; then
        not_ok "build"
        summary
        exit 1
    fi
    qt_scratch
    local w
    for w in "${what[@]}"; do
        case $w in
        native)
            . "$QT_ROOT/tests/qemu/native.sh"
            native_all
            ;;
        preload)
            if [ -f "$QT_ROOT/tests/qemu/preload.sh" ]; then
                . "$QT_ROOT/tests/qemu/preload.sh"
                preload_all
            fi
            ;;
        landlock) . "$QT_ROOT/tests/qemu/landlock.sh"; landlock_all ;;
        *) echo "unknown test set '$w'" >&2; exit 2 ;;
        esac
    done
    summary
}

main "$@"
