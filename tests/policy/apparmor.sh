#!/bin/bash
# The AppArmor side of the open hook (src/apparmor/), checked with Debian's
# apparmor_parser against the profiles of the patched libvirt tree:
#
#   1. a guest profile made the way libvirt makes one: TEMPLATE.qemu, the
#      libvirt-qemu abstraction with our local include, and the rules the
#      built virt-aa-helper generates for a test domain (a qcow2 chain, a
#      read-only cdrom, <openhook><file> entries) compiles (-Q), and the
#      preprocessed profile (-p) holds what broker mode needs;
#   2. the daemon profiles (libvirtd with Debian's local include, virtqemud)
#      compile with the daemon side of the open hook;
#   3. the parser really checks: broken rules are refused.
#
# AppArmor need not be enabled in the running kernel: -Q only compiles.
#
# needs: apparmor (apparmor_parser), qemu-utils (qemu-img), a built libvirt
# usage: tests/policy/apparmor.sh
# env:   LIBVIRT_TREE, LIBVIRT_BUILDDIR (default build/src/libvirt-11.3 and
#        build/libvirt-11.3-build), VIRT_AA_HELPER (default: the one built there)

set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SRC=$ROOT/src/apparmor
LIBVIRT_TREE=${LIBVIRT_TREE:-$ROOT/build/src/libvirt-11.3}
LIBVIRT_BUILDDIR=${LIBVIRT_BUILDDIR:-$ROOT/build/libvirt-11.3-build}
VIRT_AA_HELPER=${VIRT_AA_HELPER:-$LIBVIRT_BUILDDIR/src/virt-aa-helper}
AA=$LIBVIRT_TREE/src/security/apparmor

# shellcheck source=tests/policy/lib.sh
. "$HERE/lib.sh"

command -v apparmor_parser >/dev/null || { not_ok "apparmor_parser is installed"; finish; }
command -v qemu-img >/dev/null || { not_ok "qemu-img is installed"; finish; }
[ -f "$AA/libvirt-qemu" ] || { not_ok "libvirt's AppArmor files in $AA"; finish; }
[ -x "$VIRT_AA_HELPER" ] || { not_ok "virt-aa-helper is built ($VIRT_AA_HELPER)"; finish; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# An /etc/apparmor.d of our own, searched before the system's: libvirt's
# abstraction and template, our abstractions and local includes.
D=$TMP/apparmor.d
mkdir -p "$D/abstractions" "$D/local/abstractions" "$D/libvirt"
cp "$AA/libvirt-qemu" "$D/abstractions/"
cp "$SRC"/abstractions/* "$D/abstractions/"
cp "$SRC/local/abstractions/libvirt-qemu" "$D/local/abstractions/"
cp "$SRC/local/usr.sbin.libvirtd" "$D/local/"
PARSER=(apparmor_parser -K -I "$D" -I /etc/apparmor.d)

# compiles DESC FILE: apparmor_parser -Q accepts FILE
compiles() {
    if "${PARSER[@]}" -Q "$2" > "$TMP/parser.log" 2>&1; then
        ok "$1"
    else
        grep -v '^Cache read/write disabled' "$TMP/parser.log"
        not_ok "$1"
    fi
}
# refused DESC FILE: apparmor_parser -Q rejects FILE
refused() {
    if "${PARSER[@]}" -Q "$2" > "$TMP/parser.log" 2>&1; then
        not_ok "$1"
    else
        ok "$1"
    fi
}
# holds DESC FILE REGEX: the preprocessed FILE has a line matching REGEX
holds() {
    if grep -qE -- "$3" "$2"; then ok "$1"; else not_ok "$1 (no /$3/)"; fi
}
lacks() {
    if grep -qE -- "$3" "$2"; then not_ok "$1 (has /$3/)"; else ok "$1"; fi
}

# --- 1. a guest profile --------------------------------------------------------

IMG=$TMP/images
mkdir "$IMG"
qemu-img create -q -f qcow2 "$IMG/base.qcow2" 16M
qemu-img create -q -f qcow2 -b "$IMG/base.qcow2" -F qcow2 "$IMG/top.qcow2"
qemu-img create -q -f raw "$IMG/cd.iso" 1M
qemu-img create -q -f raw "$IMG/extra.img" 1M
qemu-img create -q -f raw "$IMG/table.bin" 1M

UUID=00000000-0000-0000-0000-0123456789ab
cat > "$TMP/domain.xml" <<EOF
<domain type='kvm'>
  <name>openhook-aa</name>
  <uuid>$UUID</uuid>
  <memory>131072</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$IMG/top.qcow2'/>
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file='$IMG/base.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='$IMG/cd.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
  </devices>
  <openhook mode='enforce'>
    <file path='$IMG/extra.img' access='rw'/>
    <file path='$IMG/table.bin'/>
  </openhook>
</domain>
EOF

# What libvirt does on start (virt-aa-helper -c), as a dry run: the rules
# for libvirt/libvirt-UUID.files are the indented lines of the output.
if LD_LIBRARY_PATH="$LIBVIRT_BUILDDIR/src" "$VIRT_AA_HELPER" --dryrun -c \
       -u "libvirt-$UUID" < "$TMP/domain.xml" > "$TMP/helper.out" 2>&1; then
    ok "virt-aa-helper generates the guest's rules"
else
    cat "$TMP/helper.out"
    not_ok "virt-aa-helper generates the guest's rules"
    finish
fi
grep -E '^  ' "$TMP/helper.out" | grep -v '#include' > "$D/libvirt/libvirt-$UUID.files"
F=$D/libvirt/libvirt-$UUID.files
holds "the disk's top image is 'rwk'" "$F" "^  \"$IMG/top.qcow2\" rwk,$"
holds "its backing image is 'rk'" "$F" "^  \"$IMG/base.qcow2\" rk,$"
holds "its backing image may not be written" "$F" "^  deny \"$IMG/base.qcow2\" w,$"
holds "the read-only cdrom is 'rk'" "$F" "^  \"$IMG/cd.iso\" rk,$"
holds "<openhook><file access='rw'> is 'rwk'" "$F" "^  \"$IMG/extra.img\" rwk,$"
holds "<openhook><file> (read-only) is 'rk'" "$F" "^  \"$IMG/table.bin\" rk,$"
holds "<openhook><file> (read-only) may not be written" "$F" "^  deny \"$IMG/table.bin\" w,$"

# The guest profile as virt-aa-helper's create_profile() writes it.
PROFILE=$D/libvirt/libvirt-$UUID
sed -e "s/LIBVIRT_TEMPLATE/libvirt-$UUID/" \
    -e "s|^}$|  #include <libvirt/libvirt-$UUID.files>\n}|" \
    "$AA/TEMPLATE.qemu" > "$PROFILE"
compiles "the guest profile compiles (TEMPLATE.qemu + libvirt-qemu + openhook + generated rules)" "$PROFILE"
"${PARSER[@]}" -p "$PROFILE" > "$TMP/guest.pp" 2> "$TMP/guest.pp.err"
P=$TMP/guest.pp
holds "the guest profile includes the openhook abstraction (local include)" "$P" \
    '^# QEMU guests whose files libvirt opens'
for peer in libvirtd /usr/sbin/libvirtd virtqemud unconfined; do
    holds "QEMU may use the seqpacket channel with $peer" "$P" \
        "^  unix \\(send, receive\\) type=seqpacket addr=none peer=\\(label=$peer\\),"
done
holds "QEMU may check the channel's socket type" "$P" 'unix \(getattr, getopt\) type=seqpacket addr=none,'
holds "ld.so may map the preload library" "$P" '^  /usr/lib/libvirt/openhook-preload.so mr,'
holds "the opener helper runs under the guest profile" "$P" \
    '^  /usr/\{lib,libexec\}/libvirt/libvirt_openhook_opener rm,'
holds "dac_override is denied (QEMU opens no image)" "$P" '^  deny capability dac_override,'
holds "dac_read_search is denied" "$P" '^  deny capability dac_read_search,'
holds "the stock abstraction still allows only stream sockets with the daemon" "$P" \
    'unix \(send, receive\) type=stream addr=none peer=\(label=virtqemud\)'
holds "the images stay in the profile (AppArmor revalidates received fds)" "$P" \
    "\"$IMG/top.qcow2\" rwk,"

# Without our abstraction the channel is not covered.
sed -e "s/LIBVIRT_TEMPLATE/libvirt-$UUID/" "$AA/TEMPLATE.qemu" > "$TMP/stock"
: > "$D/local/abstractions/libvirt-qemu"
"${PARSER[@]}" -p "$TMP/stock" > "$TMP/stock.pp" 2>/dev/null
lacks "the stock guest profile has no seqpacket rule" "$TMP/stock.pp" 'seqpacket'
cp "$SRC/local/abstractions/libvirt-qemu" "$D/local/abstractions/"

# --- 2. the daemons ------------------------------------------------------------

subst() {
    sed -e 's,@sbindir@,/usr/sbin,g' -e 's,@libexecdir@,/usr/lib/libvirt,g' \
        -e 's,@sysconfdir@,/etc,g' -e 's,@runstatedir@,/run,g' "$1"
}
subst "$AA/usr.sbin.libvirtd.in" > "$TMP/usr.sbin.libvirtd"
compiles "libvirtd's profile compiles with the open hook (Debian's local include)" "$TMP/usr.sbin.libvirtd"
"${PARSER[@]}" -p "$TMP/usr.sbin.libvirtd" > "$TMP/libvirtd.pp" 2>/dev/null
holds "libvirtd includes the daemon side through local/usr.sbin.libvirtd" "$TMP/libvirtd.pp" \
    "^# The daemon's side of the open hook"
holds "libvirtd may talk to the guests over the seqpacket channel" "$TMP/libvirtd.pp" \
    'unix \(send, receive\) type=seqpacket addr=none peer=\(label=libvirt-'
holds "libvirtd may open any path it brokers, NFS included (/** rwmkl)" "$TMP/libvirtd.pp" \
    '^  /\*\* rwmkl,'
holds "the exec into a guest profile is unsafe for QEMU only (preload)" "$TMP/libvirtd.pp" \
    '^  change_profile unsafe /usr/\{bin,libexec\}/qemu-system-\* -> libvirt-'

# virtqemud has no local include in 9.0: add the line the manual tells
# the administrator to add.
subst "$AA/usr.sbin.virtqemud.in" |
    sed -e 's|^}$|  include <abstractions/libvirtd-openhook>\n}|' > "$TMP/usr.sbin.virtqemud"
compiles "virtqemud's profile compiles with the open hook" "$TMP/usr.sbin.virtqemud"

# --- 3. the parser is not a rubber stamp ---------------------------------------

printf '#include <tunables/global>\nprofile bad1 {\n  unix (getopt) type=seqpacket peer=(label=virtqemud),\n}\n' > "$TMP/bad1"
refused "a unix getopt rule with a peer is refused" "$TMP/bad1"
printf '#include <tunables/global>\nprofile bad2 {\n  change_profile unsafe -> libvirt-*,\n}\n' > "$TMP/bad2"
refused "an exec mode without an exec condition is refused" "$TMP/bad2"
printf '#include <tunables/global>\nprofile bad3 {\n  #include <abstractions/libvirt-qemu-openhook-missing>\n}\n' > "$TMP/bad3"
refused "a missing abstraction is refused" "$TMP/bad3"

finish
