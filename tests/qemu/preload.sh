# shellcheck shell=bash
# Scenarios for Debian's stock QEMU + the LD_PRELOAD client against the
# standalone openhook-broker.  Sourced by run-all.sh (needs lib.sh).
# The broker puts the socket's number in OPENHOOK_FD for the child.
# What the native flavour runs too is in lib.sh (shared_all preload); this
# file has what only the preload client has: its routing rule.

# The routing rule: paths under system prefixes (/usr, /etc, /dev, ...)
# stay local; OPENHOOK_ROUTE restricts routing to the listed prefixes.
preload_route() {
    local d=$QT_DIR/img-preload log=$QT_DIR/p-route.log
    mkdir -p "$QT_DIR/elsewhere"
    cp "$d/hot.qcow2" "$QT_DIR/elsewhere/local.qcow2"
    broker "$log" -r "$d/base.qcow2" -- env OPENHOOK_ROUTE="$d" LD_PRELOAD="$PRELOAD_LIB" \
        /usr/bin/qemu-img info "$QT_DIR/elsewhere/local.qcow2"
    local rc1=$?
    broker "$log.2" -r "$d/base.qcow2" -- env LD_PRELOAD="$PRELOAD_LIB" /usr/bin/qemu-img info "$QT_DIR/elsewhere/local.qcow2"
    local rc2=$?
    if [ $rc1 -eq 0 ] && [ "$(count_events "$log" '^event=open')" -eq 0 ] &&
       [ $rc2 -ne 0 ] && grep -qF "Permission denied" "$log.2.out" &&
       grep -qE "decision=deny .*elsewhere/local.qcow2" "$log.2"; then
        ok "preload: OPENHOOK_ROUTE=<dir> routes only that directory; by default every non-system path is routed"
    else
        not_ok "preload: routing rule"; diag "$log" "$log.out" "$log.2" "$log.2.out"
    fi
}

preload_all() {
    if [ ! -f "$PRELOAD_LIB" ]; then
        not_ok "preload library not built ($PRELOAD_LIB)"
        return
    fi
    shared_all preload || return
    preload_route
}
