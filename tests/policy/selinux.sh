#!/bin/bash
# The SELinux policy module of the open hook (src/selinux/openhook.*),
# compiled and proven against Debian's own refpolicy:
#
#   1. it compiles with the refpolicy module Makefile of selinux-policy-dev,
#      without errors or warnings;
#   2. it links into a copy of the installed selinux-policy-default store,
#      with neverallow checking on (so every type and interface it uses
#      exists, and its neverallow rules hold against every module);
#   3. sesearch on the linked policy: what virtd_t and svirt_broker_t may do;
#   4. real access decisions (TE, booleans, MCS constraints) computed by
#      libsepol through audit2why for the contexts libvirt uses;
#   5. modules that break the guarantee fail to link.
#
# The running kernel need not have SELinux: nothing is loaded, the system's
# policy store is only read.
#
# needs: selinux-policy-dev selinux-policy-default checkpolicy semodule-utils
#        policycoreutils setools python3-selinux
# usage: tests/policy/selinux.sh      (as root: semodule wants to own its store)

set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SRC=$ROOT/src/selinux
DEVEL_MK=/usr/share/selinux/devel/Makefile
STORE=/var/lib/selinux/default
PY=/usr/bin/python3

# shellcheck source=tests/policy/lib.sh
. "$HERE/lib.sh"

for tool in make checkmodule semodule_package semodule sesearch; do
    command -v "$tool" >/dev/null || { not_ok "tool $tool is installed"; finish; }
done
[ -f "$DEVEL_MK" ] || { not_ok "refpolicy module Makefile $DEVEL_MK (selinux-policy-dev)"; finish; }
[ -d "$STORE/active" ] || { not_ok "policy store $STORE (selinux-policy-default)"; finish; }
$PY -c 'import selinux.audit2why' 2>/dev/null || { not_ok "python3-selinux (audit2why)"; finish; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- 1. compile -------------------------------------------------------------

mkdir "$TMP/mod"
cp "$SRC"/openhook.te "$SRC"/openhook.if "$SRC"/openhook.fc "$TMP/mod/"
if make -C "$TMP/mod" -f "$DEVEL_MK" openhook.pp > "$TMP/build.log" 2>&1 &&
   [ -s "$TMP/mod/openhook.pp" ]; then
    ok "openhook.pp compiles with $DEVEL_MK"
else
    cat "$TMP/build.log"
    not_ok "openhook.pp compiles with $DEVEL_MK"
    finish
fi
if grep -Ei 'error|warning' "$TMP/build.log"; then
    not_ok "the build prints no error or warning"
else
    ok "the build prints no error or warning"
fi

# --- 2. link into a copy of Debian's policy ----------------------------------

# link_into DIR PP...: a fresh copy of the installed store in DIR, with the
# modules inserted; the kernel policy ends up in DIR/etc/selinux/default.
link_into() {
    local dir=$1; shift
    mkdir -p "$dir/var/lib/selinux" "$dir/etc/selinux"
    cp -a "$STORE" "$dir/var/lib/selinux/"
    cp -a /etc/selinux/default "$dir/etc/selinux/"
    [ -f /etc/selinux/config ] && cp /etc/selinux/config "$dir/etc/selinux/"
    # Debian's semanage.conf has expand-check=0, which skips the neverallow
    # check when modules are installed; check them here.
    printf 'module-store = direct\nexpand-check=1\n' > "$dir/etc/selinux/semanage.conf"
    semodule -p "$dir" -s default -n -i "$@"
}

if link_into "$TMP/root" "$TMP/mod/openhook.pp" > "$TMP/link.log" 2>&1; then
    ok "openhook.pp links into selinux-policy-default (neverallow checked)"
else
    cat "$TMP/link.log"
    not_ok "openhook.pp links into selinux-policy-default (neverallow checked)"
    finish
fi
POLICY=$(ls "$TMP"/root/etc/selinux/default/policy/policy.* 2>/dev/null | head -1)
[ -n "$POLICY" ] || { not_ok "a kernel policy was written"; finish; }
if ls "$STORE"/active/modules/*/openhook >/dev/null 2>&1; then
    not_ok "the system's own policy store is left alone"
else
    ok "the system's own policy store is left alone"
fi

# --- 3. sesearch --------------------------------------------------------------

# has_rule DESC PATTERN SESEARCH-ARGS...: some rule matches PATTERN
has_rule() {
    local desc=$1 pat=$2 out; shift 2
    out=$(sesearch "$@" "$POLICY" 2>&1)
    if grep -qE -- "$pat" <<<"$out"; then ok "$desc"; else printf '%s\n' "$out"; not_ok "$desc"; fi
}
# no_rule DESC SESEARCH-ARGS...: no rule at all, conditional or not, through
# attributes or not
no_rule() {
    local desc=$1 out; shift
    out=$(sesearch "$@" "$POLICY" 2>&1)
    if [ -z "$out" ]; then ok "$desc"; else printf '%s\n' "$out"; not_ok "$desc"; fi
}

for t in svirt_image_t virt_image_t virt_content_t; do
    for c in file blk_file; do
        has_rule "virtd_t may open $t:$c" '^allow ' -A -s virtd_t -t "$t" -c "$c" -p open
    done
done
for fs in nfs_t:virt_broker_use_nfs cifs_t:virt_broker_use_samba fusefs_t:virt_broker_use_fusefs; do
    has_rule "virtd_t may open ${fs%%:*} files with ${fs#*:}" "\\[ ${fs#*:} \\]:True" \
        -A -s virtd_t -t "${fs%%:*}" -c file -p open
done

for t in svirt_image_t virt_image_t virt_content_t svirt_prot_exec_image_t nfs_t cifs_t fusefs_t; do
    for c in file blk_file; do
        no_rule "svirt_broker_t may never open $t:$c" -A -s svirt_broker_t -t "$t" -c "$c" -p open
    done
done
no_rule "svirt_broker_t may not create files among the images" \
    -A -s svirt_broker_t -t svirt_image_t -c dir -p add_name
no_rule "svirt_broker_t may not unlink or rename images" \
    -A -s svirt_broker_t -t svirt_image_t -c file -p unlink,rename,link
no_rule "svirt_broker_t is not a virt_domain" -A -s svirt_broker_t -t svirt_image_t -c file -p create

for p in read write getattr lock ioctl append; do
    has_rule "svirt_broker_t may $p svirt_image_t files it receives" '^allow ' \
        -A -s svirt_broker_t -t svirt_image_t -c file -p "$p"
done
has_rule "svirt_broker_t may read and write svirt_image_t block devices it receives" \
    'blk_file .*read.*write' -A -s svirt_broker_t -t svirt_image_t -c blk_file -p read,write
has_rule "svirt_broker_t may read virt_content_t (shared, read-only) it receives" '^allow ' \
    -A -s svirt_broker_t -t virt_content_t -c file -p read
no_rule "svirt_broker_t may not write virt_content_t" \
    -A -s svirt_broker_t -t virt_content_t -c file -p write
has_rule "svirt_broker_t may read/write NFS descriptors with virt_broker_use_nfs" \
    '\[ virt_broker_use_nfs \]:True' -A -s svirt_broker_t -t nfs_t -c file -p read,write
has_rule "svirt_broker_t may use descriptors virtd_t opened (fd use)" '^allow ' \
    -A -s svirt_broker_t -t virtd_t -c fd -p use
has_rule "virtd_t may transition to svirt_broker_t" '^allow ' \
    -A -s virtd_t -t svirt_broker_t -c process -p transition
has_rule "svirt_broker_t is entered by executing qemu_exec_t" '^allow ' \
    -A -s svirt_broker_t -t qemu_exec_t -c file -p entrypoint
for t in svirt_t svirt_broker_t; do
    has_rule "virtd_t may use descriptors the opener opened in $t (fd use)" '^allow ' \
        -A -s virtd_t -t "$t" -c fd -p use
done
has_rule "svirt_t is unchanged (still opens svirt_image_t)" '^allow ' \
    -A -s svirt_t -t svirt_image_t -c file -p open

# --- 4. access decisions (TE, booleans, MCS) ----------------------------------

# Each line: expected result, source context, target context, class, perms.
# ALLOW: granted; TERULE: no allow rule; CONSTRAINT: refused by MCS;
# BOOLEAN: granted once the named boolean is on.
cat > "$TMP/decisions" <<'EOF'
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c1,c2 file read,write,getattr,lock,ioctl,append
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c1,c2 file open
CONSTRAINT system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c3,c4 file read
CONSTRAINT system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c3,c4 file write
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c1,c2 blk_file read,write,getattr,lock,ioctl
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c1,c2 blk_file open
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:virt_content_t:s0 file read,getattr,lock
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:virt_content_t:s0 file open
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:virt_content_t:s0 file write
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:virt_image_t:s0 file open
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c1,c2 dir add_name
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:system_r:virtd_t:s0-s0:c0.c1023 fd use
BOOLEAN:virt_broker_use_nfs system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:nfs_t:s0 file read,write,getattr,lock
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:nfs_t:s0 file open
BOOLEAN:virt_broker_use_samba system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:cifs_t:s0 file read,write
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:cifs_t:s0 file open
BOOLEAN:virt_broker_use_nfs system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:object_r:nfs_t:s0 file open,read,write,create
BOOLEAN:virt_broker_use_samba system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:object_r:cifs_t:s0 file open,read,write
BOOLEAN:virt_broker_use_fusefs system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:object_r:fusefs_t:s0 file open,read,write
ALLOW      system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:object_r:svirt_image_t:s0:c1,c2 file open,read,write
ALLOW      system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:object_r:virt_image_t:s0 file open,read,write,create
ALLOW      system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:object_r:virt_content_t:s0 file open,read
ALLOW      system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:object_r:svirt_image_t:s0:c1,c2 blk_file open,read,write
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:system_r:svirt_broker_t:s0:c1,c2 unix_stream_socket read,write,getopt,getattr
ALLOW      system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:system_r:svirt_broker_t:s0:c1,c2 unix_stream_socket create,read,write,getopt
TERULE     system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:system_r:virtd_t:s0-s0:c0.c1023 unix_stream_socket read,write
DONTAUDIT  system_u:system_r:svirt_t:s0:c1,c2 system_u:system_r:virtd_t:s0-s0:c0.c1023 unix_stream_socket read,write
ALLOW      system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:system_r:svirt_broker_t:s0:c1,c2 process transition,signal,sigkill,getattr
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:qemu_exec_t:s0 file entrypoint,execute,read,map
BOOLEAN:virt_broker_preload system_u:system_r:virtd_t:s0-s0:c0.c1023 system_u:system_r:svirt_broker_t:s0:c1,c2 process noatsecure
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:lib_t:s0 file open,read,map,execute
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:kvm_device_t:s0 chr_file open,read,write
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c1,c2 chr_file open,read,write
ALLOW      system_u:system_r:svirt_broker_t:s0:c1,c2 system_u:system_r:virtlogd_t:s0-s0:c0.c1023 fd use
ALLOW      system_u:system_r:svirt_t:s0:c1,c2 system_u:object_r:svirt_image_t:s0:c1,c2 file open
EOF
$PY - "$POLICY" "$TMP/decisions" > "$TMP/decisions.out" 2>&1 <<'PY'
import sys
import selinux.audit2why as a2w

a2w.init(sys.argv[1])
names = {getattr(a2w, n): n for n in
         ("ALLOW", "DONTAUDIT", "TERULE", "BOOLEAN", "CONSTRAINT", "RBAC",
          "BOUNDS", "BADSCON", "BADTCON", "BADTCLASS", "BADPERM",
          "BADCOMPUTE", "NOPOLICY") if hasattr(a2w, n)}
for line in open(sys.argv[2]):
    want, scon, tcon, tclass, perms = line.split()
    rc, data = a2w.analyze(scon, tcon, tclass, perms.split(","))
    got = names.get(rc, str(rc))
    if got == "BOOLEAN":
        # the booleans that would grant it, e.g. [('virt_broker_use_nfs', 1)]
        got = "BOOLEAN:" + ",".join(b for b, v in data)
    if want.startswith("BOOLEAN:"):
        match = got.startswith("BOOLEAN:") and want[8:] in got[8:].split(",")
    else:
        match = got == want
    print("%s %s: %s -> %s %s %s (%s)" % ("PASS" if match else "FAIL", want,
          scon.split(":")[2], tcon.split(":")[2], tclass, perms, got))
PY
while read -r status rest; do
    case $status in
    PASS) ok "decision $rest" ;;
    FAIL) not_ok "decision $rest" ;;
    *) not_ok "audit2why: $status $rest" ;;
    esac
done < "$TMP/decisions.out"

# --- 5. the neverallow rules bite ---------------------------------------------

# bad NAME DESC < RULES: a module with RULES must fail to link next to openhook
bad() {
    local name=$1 desc=$2 dir=$TMP/bad-$1
    mkdir -p "$dir"
    { printf 'policy_module(%s, 1.0.0)\n\n' "$name"; cat; } > "$dir/$name.te"
    : > "$dir/$name.if"; : > "$dir/$name.fc"
    if ! make -C "$dir" -f "$DEVEL_MK" "$name.pp" > "$dir/build.log" 2>&1; then
        cat "$dir/build.log"
        not_ok "$desc (the module did not even compile)"
        return
    fi
    if link_into "$dir/root" "$TMP/mod/openhook.pp" "$dir/$name.pp" > "$dir/link.log" 2>&1; then
        not_ok "$desc: linked although it breaks a neverallow"
    elif grep -q 'neverallow' "$dir/link.log"; then
        ok "$desc: refused by the neverallow"
    else
        cat "$dir/link.log"
        not_ok "$desc: failed for another reason than the neverallow"
    fi
}

bad ohbad1 "a module granting svirt_broker_t open on svirt_image_t" <<'EOF'
gen_require(`
	type svirt_broker_t, svirt_image_t;
')
allow svirt_broker_t svirt_image_t:file open;
EOF

bad ohbad2 "a boolean granting svirt_broker_t open on nfs_t" <<'EOF'
gen_require(`
	type svirt_broker_t;
')
gen_tunable(ohbad_nfs, false)
tunable_policy(`ohbad_nfs',`
	fs_read_nfs_files(svirt_broker_t)
')
EOF

bad ohbad3 "making svirt_broker_t a virt_domain (which opens virt_content_t)" <<'EOF'
gen_require(`
	type svirt_broker_t;
	attribute virt_domain;
')
typeattribute svirt_broker_t virt_domain;
EOF

finish
