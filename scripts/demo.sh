#!/bin/bash
# The main job, for a libvirt user: install what is missing, fetch libvirt
# 11.3.0 and QEMU 10.0.13 (Debian 13's) from Debian's archive, apply the series, build, then
# run one guest whose files libvirt opens on QEMU's behalf through a tour of
# block operations.  After each step it prints the disk's backing chain (as
# the domain XML has it) next to the open hook's whitelist (what QEMU may
# open, with the access and the number of fds QEMU holds), and the
# decisions the broker made during the step.  Everything runs on a private
# virtqemud started from the build tree and is cleaned up at the end.
#
# usage: scripts/demo.sh          (as root, on Debian 12 or 13)

. "$(dirname "$0")/lib.sh"

"$ROOT/scripts/deps.sh"
"$ROOT/scripts/build.sh"

E2E_SCENARIO=demo
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
set +e

DOM=openhook-demo
D=$E2E_DIR/$DOM
LOG=$E2E_LOGS/virtqemud.log
SEEN=0

trap e2e_daemons_down EXIT

# show TITLE: the chain next to the whitelist, and the broker's decisions
# since the previous step
show() {
    local lines
    printf '\n\033[1m== %s\033[0m\n' "$1"
    virsh dumpxml "$DOM" | "$ROOT/scripts/demo-view.py"
    lines=$(wc -l < "$DEBUGLOG")
    echo "  broker decisions:"
    sed -n "$((SEEN + 1)),${lines}p" "$DEBUGLOG" |
        grep -oE 'decision=[a-z-]+ reason=[a-z-]+ .*path="[^"]*"' |
        sed -E 's/^decision=([a-z-]+) reason=none .*path="([^"]*)"/\1 \2/;
                s/^decision=([a-z-]+) reason=([a-z-]+) .*path="([^"]*)"/\1 \3 (\2)/' |
        sort | uniq -c | awk '{n=$1; $1=""; printf "    %-6s%s (%d open%s)\n", $2, substr($0, length($2) + 3), n, (n > 1 ? "s" : "")}' | head -20
    SEEN=$lines
}

FAILED=()

# run VIRSH-ARGS...: one step; a step that fails is named at the end and
# makes the demo exit 1
run() {
    printf '\n$ virsh %s\n' "$*"
    virsh_verbose "$@" 2>&1 | sed 's/^/  /'
    [ "${PIPESTATUS[0]}" = 0 ] || FAILED+=("virsh $1")
}

rm -rf "$D"
e2e_mkchain "$D" qcow2 base.qcow2 mid.qcow2 top.qcow2
"$QEMU_IMG" create -q -f qcow2 "$D/outside.qcow2" 16M
rm -f "$E2E_LOGS"/virtqemud*.log
say "starting a private virtqemud with open_hook = \"enforce\" in qemu.conf"
E2E_QEMU_CONF='open_hook = "enforce"' e2e_daemons_up
DEBUGLOG=$E2E_LOGS/virtqemud-debug.log
e2e_domain_xml "$DOM" "$D/top.qcow2" > "$D/$DOM.xml"

run define "$D/$DOM.xml"
run start "$DOM"
show "start on base.qcow2 <- mid.qcow2 <- top.qcow2: QEMU got each image from libvirt"

run snapshot-create-as "$DOM" snap1 --disk-only --no-metadata --diskspec "sda,file=$D/snap1.qcow2"
show "disk-only snapshot: the new overlay is allowed read-write, the old top becomes read-only"

run blockpull "$DOM" sda --base "$D/base.qcow2" --wait --verbose
show "blockpull --base base.qcow2: the pulled-in layers leave the whitelist"

# The copy's chain is given in the XML: a backing image that only the
# copy's header names would be opened with QEMU's credentials, and
# base.qcow2 is root's (docs/openhook.rst, "Ownership and where images
# may live").
"$QEMU_IMG" create -q -f qcow2 -b "$D/base.qcow2" -F qcow2 "$D/copy.qcow2"
cat > "$D/copy.xml" <<EOF
<disk type='file'><driver type='qcow2'/><source file='$D/copy.qcow2'/>$(e2e_backing_chain qcow2 "$D/base.qcow2")</disk>
EOF
run blockcopy "$DOM" sda --xml "$D/copy.xml" --shallow --reuse-external --transient-job --wait --verbose --pivot
show "blockcopy --pivot to copy.qcow2: the copy's chain replaces the old one"

run blockcommit "$DOM" sda --active --wait --verbose --pivot
show "blockcommit --active --pivot: only base.qcow2 remains"

printf '\n$ virsh qemu-monitor-command %s (QMP blockdev-add of %s)\n' "$DOM" "$D/outside.qcow2"
virsh qemu-monitor-command "$DOM" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"node-name\":\"outside\",\"filename\":\"$D/outside.qcow2\",\"read-only\":true}}" 2>&1 |
    sed 's/^/  /'
show "an open outside the whitelist: refused, audited and logged, the guest runs on ($(virsh domstate "$DOM"))"
echo "  the log line:"
grep "decision=deny" "$LOG" | tail -1 | cut -c1-200 | sed 's/^/    /'

run destroy "$DOM"
run undefine "$DOM"
trap - EXIT
e2e_daemons_down
rm -rf "$D"
if [ "${#FAILED[@]}" -gt 0 ]; then
    say "demo done; these steps failed: ${FAILED[*]}"
    exit 1
fi
say "demo done"
