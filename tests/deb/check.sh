#!/bin/bash
# Checks the Debian packages that scripts/build-deb.sh built (it does not
# build them): every expected .deb is there and well formed, the source
# package carries the series as quilt patches, the patched code is in the
# binaries (so an unpatched build fails), the preload library exports the
# open family, and the set (built from Debian 13's libvirt 11.3 on Debian
# 12) installs on bookworm: apt resolves it, and it is
# really installed into a throwaway root (an overlay of this system, in a
# private mount namespace; nothing changes on the host, no daemon starts).
# Prints TAP-ish lines and a final "N passed, M failed".
#
# usage: tests/deb/check.sh          (root for the throwaway install)
# env:   KEEP=1                      keep the scratch directory
#        OPENHOOK_DEB_NO_INSTALL=1   skip the throwaway install

. "$(dirname "$0")/../../scripts/lib.sh"
set +e

T_N=0
T_PASS=0
T_FAIL=0
ok() { T_N=$((T_N + 1)); T_PASS=$((T_PASS + 1)); echo "ok $T_N - $*"; }
not_ok() { T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $*"; }
skip() { echo "# SKIP $*"; }
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds; shows its output if not
check() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then
        ok "$desc"
    else
        not_ok "$desc"
        printf '%s\n' "$out" | tail -15 | sed 's/^/#   /'
    fi
}
summary() {
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

BUILD_DEB=$ROOT/scripts/build-deb.sh
VERSION=$("$BUILD_DEB" --print-version)
OUT=$("$BUILD_DEB" --print-outdir)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
PRELOAD_PATH=/usr/lib/libvirt/openhook-preload.so

SCRATCH=$(mktemp -d /tmp/openhook-deb-check.XXXXXX) && [ -d "$SCRATCH" ] || die "mktemp failed"
if [ "${KEEP:-0}" != 1 ]; then
    trap 'rm -rf "$SCRATCH"' EXIT
else
    echo "# scratch: $SCRATCH"
fi

deb() { echo "$OUT/$1_${VERSION#*:}_${2:-$(dpkg --print-architecture)}.deb"; }

series_patches() {
    local p
    for p in "$ROOT"/patches/libvirt/0*.patch; do
        [ "$(basename "$p")" = 0000-cover-letter.patch ] || echo "$p"
    done
}

# grep_bin FILE STRING...: every STRING occurs in FILE's printable strings
grep_bin() {
    local f=$1 s strs; shift
    [ -f "$f" ] || { echo "no $f"; return 1; }
    strs=$(strings -a "$f")
    for s in "$@"; do
        grep -qF -- "$s" <<<"$strs" || { echo "'$s' not in $f"; return 1; }
    done
}

# has_dynsyms FILE SYMBOL...: FILE exports every SYMBOL (defined, dynamic)
has_dynsyms() {
    local f=$1 s syms; shift
    syms=$(nm -D --defined-only "$f" | awk '{print $3}' | sed 's/@.*//')
    for s in "$@"; do
        grep -qx -- "$s" <<<"$syms" || { echo "$s not exported by $f"; return 1; }
    done
}

# has_files DEB PATH...: DEB contains every PATH (as dpkg-deb --contents names it)
has_files() {
    local d=$1 f list; shift
    list=$(dpkg-deb --contents "$d" | awk '{print $6}') || return 1
    for f in "$@"; do
        grep -qxF -- "$f" <<<"$list" || { echo "$f not in $(basename "$d")"; return 1; }
    done
}

check_files() {
    local f name arch info
    while read -r f; do
        name=$(basename "$f" .deb)
        arch=${name##*_}
        name=${name%%_*}
        if [ ! -f "$OUT/$f" ]; then
            not_ok "$f exists"
            continue
        fi
        if info=$(dpkg-deb --field "$OUT/$f" Package Version Architecture 2>&1) &&
            [ "$info" = "$(printf 'Package: %s\nVersion: %s\nArchitecture: %s' "$name" "$VERSION" "$arch")" ] &&
            dpkg-deb --info "$OUT/$f" >/dev/null && dpkg-deb --contents "$OUT/$f" >/dev/null; then
            ok "$f: dpkg-deb --info, Package/Version/Architecture"
        else
            not_ok "$f: dpkg-deb --info, Package/Version/Architecture"
            printf '%s\n' "$info" | sed 's/^/#   /'
        fi
    done < <("$BUILD_DEB" --print-packages)
}

# The source package: our changelog entry and the series, byte for byte, at
# the end of debian/patches/series; dpkg-source -x applies all of it (fuzz 0).
check_source() {
    local dsc=$OUT/libvirt_${VERSION#*:}.dsc tree=$SCRATCH/src/libvirt
    check "source package: $(basename "$dsc") exists" test -f "$dsc"
    [ -f "$dsc" ] || return
    mkdir -p "$(dirname "$tree")"
    if ! dpkg-source --no-check -x "$dsc" "$tree" > "$SCRATCH/dpkg-source.log" 2>&1; then
        not_ok "source package: dpkg-source -x applies Debian's patches and the series"
        tail -10 "$SCRATCH/dpkg-source.log" | sed 's/^/#   /'
        return
    fi
    ok "source package: dpkg-source -x applies Debian's patches and the series"
    check "source package: debian/changelog is at $VERSION, bookworm" \
        test "$(cd "$tree" && dpkg-parsechangelog -SVersion)/$(cd "$tree" && dpkg-parsechangelog -SDistribution)" = "$VERSION/bookworm"
    local expected actual
    expected=$(series_patches | xargs -n1 basename | sed 's|^|openhook/|')
    actual=$(grep -v '^#' "$tree/debian/patches/series" | grep -v '^$' | tail -n "$(wc -l <<<"$expected")")
    check "source package: the series ends debian/patches/series, in order" \
        diff <(echo "$expected") <(echo "$actual")
    local p bad=
    while read -r p; do
        cmp -s "$p" "$tree/debian/patches/openhook/$(basename "$p")" || bad+=" $(basename "$p")"
    done < <(series_patches)
    check "source package: debian/patches/openhook/ holds patches/libvirt/ unchanged" \
        bash -c "[ -z '$bad' ] || { echo 'differ:$bad'; false; }"
    check "source package: all patches applied (quilt state)" \
        test "$(grep -c . "$tree/.pc/applied-patches")" = "$(grep -v '^#' "$tree/debian/patches/series" | grep -c .)"
    bad=
    for p in "$ROOT"/src/libvirt/src/util/viropenhook*.[ch] "$ROOT"/src/libvirt/src/qemu/*.[ch]; do
        # src/ may hold a module no patch carries yet: only compare those the series creates
        grep -q "^+++ b/${p#"$ROOT"/src/libvirt/}$" "$ROOT"/patches/libvirt/0*.patch || continue
        cmp -s "$p" "$tree/${p#"$ROOT"/src/libvirt/}" || bad+=" ${p#"$ROOT"/}"
    done
    check "source package: the patched tree's open-hook modules equal src/libvirt/" \
        bash -c "[ -z '$bad' ] || { echo 'differ:$bad'; false; }"
}

check_contents() {
    local x=$SCRATCH/root p
    mkdir -p "$x"
    for p in libvirt0 libvirt-common libvirt-clients libvirt-daemon \
        libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-openhook-preload; do
        dpkg-deb -x "$(deb "$p")" "$x" || { not_ok "dpkg-deb -x $p"; return; }
    done
    dpkg-deb -x "$(deb libvirt-doc all)" "$x" || { not_ok "dpkg-deb -x libvirt-doc"; return; }
    ok "dpkg-deb -x of libvirt0, -common, -clients, -daemon, -daemon-driver-qemu, -daemon-system, -doc and the preload package"

    local drv=$x/usr/lib/$MULTIARCH/libvirt/connection-driver/libvirt_driver_qemu.so
    local libs=("$x/usr/lib/$MULTIARCH"/libvirt.so.0.*)
    local lib=${libs[0]}
    local vq=$x/usr/sbin/virtqemud
    # Both daemons load the qemu driver module from
    # libvirt-daemon-driver-qemu, which is where the patched driver code is:
    # libvirtd (libvirt-daemon), Debian's default, and virtqemud, which
    # Debian's 11.3 packaging leaves out and build-deb.sh ships.
    check "libvirt-daemon ships /usr/sbin/libvirtd, the daemon that loads the qemu driver" \
        test -x "$x/usr/sbin/libvirtd"
    check "libvirt-daemon-driver-qemu ships virtqemud, its configuration, units, augeas lens and man page" \
        has_files "$(deb libvirt-daemon-driver-qemu)" ./usr/sbin/virtqemud ./etc/libvirt/virtqemud.conf \
        ./usr/lib/systemd/system/virtqemud.service ./usr/lib/systemd/system/virtqemud.socket \
        ./usr/lib/systemd/system/virtqemud-ro.socket ./usr/lib/systemd/system/virtqemud-admin.socket \
        ./usr/share/augeas/lenses/virtqemud.aug ./usr/share/augeas/lenses/tests/test_virtqemud.aug \
        ./usr/share/man/man8/virtqemud.8.gz
    check "libvirt-daemon-driver-qemu ships the open hook's opener helper, mode 0711 (not readable, so not traceable, by QEMU's user)" \
        bash -c "dpkg-deb -c '$(deb libvirt-daemon-driver-qemu)' | grep -qE '^-rwx--x--x .* ./usr/lib/libvirt/libvirt_openhook_opener$'"
    check "libvirt-daemon-driver-qemu: /etc/libvirt/virtqemud.conf is a conffile" \
        bash -c "dpkg-deb --info '$(deb libvirt-daemon-driver-qemu)' conffiles | grep -qx /etc/libvirt/virtqemud.conf"
    check "virtqemud is the QEMU daemon: it loads the qemu driver module (qemuRegister) and reads virtqemud.conf" \
        grep_bin "$vq" qemuRegister virtqemud.conf
    check "virtqemud (packaged, with the packaged libvirt.so.0) --version is 11.3.0" \
        bash -c "LD_LIBRARY_PATH='$x/usr/lib/$MULTIARCH' '$vq' --version | grep -qx '$vq (libvirt) 11.3.0'"
    check "virtqemud.service conflicts with libvirtd.service, its sockets are virtqemud's own" \
        bash -c "grep -qx Conflicts=libvirtd.service '$x/usr/lib/systemd/system/virtqemud.service' &&
            grep -qx ListenStream=/run/libvirt/virtqemud-sock '$x/usr/lib/systemd/system/virtqemud.socket'"
    check "libvirt-daemon-driver-qemu's postinst handles virtqemud's units (dh_installsystemd)" \
        bash -c "dpkg-deb --info '$(deb libvirt-daemon-driver-qemu)' postinst |
            grep -q \"deb-systemd-helper update-state 'virtqemud-admin.socket'\""
    check "libvirt-daemon-driver-qemu: libvirt_driver_qemu.so passes -open-hook-fd and reads open_hook*" \
        grep_bin "$drv" open-hook-fd open_hook open_hook_preload OPENHOOK_FD LD_PRELOAD
    check "libvirt-daemon-driver-qemu: libvirt_driver_qemu.so has the open-hook error messages" \
        grep_bin "$drv" "the open hook in enforce mode needs a QEMU"
    check "libvirt0: libvirt.so.0 exports the open-hook util symbols (LIBVIRT_PRIVATE)" \
        has_dynsyms "$lib" virOpenHookWhitelistNew virOpenHookWhitelistAdd \
        virOpenHookBrokerOpen virOpenHookProtoDecodeRequest virOpenHookPathNormalize \
        virOpenHookEventFormat
    check "libvirt0: the private symbols carry libvirt's version node" \
        bash -c "nm -D --defined-only '$lib' | grep -q 'virOpenHookWhitelistNew@@LIBVIRT_PRIVATE_11.3.0'"
    check "libvirt-common: the domain schema has <openhook>" \
        grep -q '<element name="openhook">' "$x/usr/share/libvirt/schemas/domaincommon.rng"
    check "libvirt-daemon-driver-qemu: /etc/libvirt/qemu.conf documents open_hook and open_hook_preload" \
        grep -qxF "#open_hook_preload = \"$PRELOAD_PATH\"" "$x/etc/libvirt/qemu.conf"
    check "libvirt-daemon-driver-qemu: qemu.conf has open_hook" grep -q '^#open_hook = ' "$x/etc/libvirt/qemu.conf"
    check "libvirt-daemon-driver-qemu: the augeas lens knows open_hook and open_hook_preload" \
        grep_bin "$x/usr/share/augeas/lenses/libvirtd_qemu.aug" '"open_hook"' '"open_hook_preload"'
    if command -v augparse >/dev/null; then
        check "libvirt-daemon-driver-qemu: augparse passes the lens's own test (with open_hook)" \
            augparse -I "$x/usr/share/augeas/lenses" "$x/usr/share/augeas/lenses/tests/test_libvirtd_qemu.aug"
        check "libvirt-daemon-driver-qemu: augparse passes virtqemud's lens test" \
            augparse -I "$x/usr/share/augeas/lenses" "$x/usr/share/augeas/lenses/tests/test_virtqemud.aug"
        printf 'open_hook = "enforce"\nopen_hook_preload = "%s"\n' "$PRELOAD_PATH" > "$SCRATCH/q.conf"
        check "the lens parses a qemu.conf that sets open_hook and open_hook_preload" \
            bash -c "augtool --noautoload -I '$x/usr/share/augeas/lenses' \
                -t 'Libvirtd_qemu.lns incl $SCRATCH/q.conf' print /files$SCRATCH/q.conf |
                grep -qx '/files$SCRATCH/q.conf/open_hook = \"enforce\"'"
    else
        skip "augparse missing (augeas-tools)"
    fi
    check "libvirt-doc: formatdomain.html documents <openhook>" \
        grep -q 'Open hook' "$x/usr/share/doc/libvirt-doc/html/formatdomain.html"

    # The patched libvirt0 and virsh, as packaged: the test driver keeps
    # <openhook> through define and dumpxml (an unpatched libvirt drops it).
    cat > "$SCRATCH/dom.xml" <<'XML'
<domain type='test'>
  <name>openhook-deb-check</name>
  <memory unit='KiB'>65536</memory>
  <os><type>hvm</type></os>
  <openhook mode='enforce'>
    <file path='/srv/guest/extra.img' access='rw'/>
  </openhook>
</domain>
XML
    check "virsh (packaged, test:///default) keeps <openhook mode='enforce'> through define and dumpxml" \
        bash -c "LD_LIBRARY_PATH='$x/usr/lib/$MULTIARCH' '$x/usr/bin/virsh' -q -c test:///default \
            'define $SCRATCH/dom.xml; dumpxml openhook-deb-check' |
            grep -q \"<openhook mode='enforce'>\""

    local so=$x$PRELOAD_PATH
    check "libvirt-openhook-preload: $PRELOAD_PATH (the path qemu.conf documents)" test -f "$so"
    check "libvirt-openhook-preload: exports the open family and the close tracking" \
        has_dynsyms "$so" open open64 openat openat64 __open_2 __open64_2 creat creat64 \
        fopen fopen64 close fclose dup dup2 dup3 fcntl
    check "libvirt-openhook-preload: exports nothing else (no vir*/glib symbols)" \
        bash -c "! nm -D --defined-only '$so' | awk '{print \$3}' |
            grep -vxE 'open|open64|openat|openat64|__open_2|__open64_2|creat|creat64|fopen|fopen64|close|fclose|dup|dup2|dup3|fcntl|fcntl64'"
    check "libvirt-openhook-preload: hardened (BIND_NOW, RELRO) and stripped" \
        bash -c "readelf -d '$so' | grep -q BIND_NOW && readelf -lW '$so' | grep -q GNU_RELRO &&
            ! readelf -S '$so' | grep -q '\.debug_info'"
    check "libvirt-openhook-preload: Depends (dpkg-shlibdeps) names libc6" \
        bash -c "dpkg-deb --field '$(deb libvirt-openhook-preload)' Depends | grep -q 'libc6 (>= '"
    check "libvirt-openhook-preload: without OPENHOOK_FD a preloaded program runs unchanged" \
        env LD_PRELOAD="$so" /bin/true
    check "libvirt-openhook-preload: OPENHOOK_FD on a non-socket makes the program exit 1" \
        bash -c "OPENHOOK_FD=0 LD_PRELOAD='$so' /bin/true </dev/null 2>/dev/null; test \$? = 1"
}

# Relationships: the set requires exactly our build of its parts.
check_relations() {
    check "libvirt-daemon-driver-qemu depends on libvirt0 (= $VERSION)" \
        bash -c "dpkg-deb --field '$(deb libvirt-daemon-driver-qemu)' Depends | grep -qF 'libvirt0 (= $VERSION)'"
    check "libvirt-daemon-system depends on libvirt-daemon-config-network (= $VERSION)" \
        bash -c "dpkg-deb --field '$(deb libvirt-daemon-system)' Depends | grep -qF 'libvirt-daemon-config-network (= $VERSION)'"
}

# install_closure PACKAGE...: the .debs of PACKAGE... and of everything
# they depend on among the packages built here (the first of alternatives
# that is ours), one path a line: these must come from here, since the
# archive has none of them at this version
install_closure() {
    /usr/bin/python3 - "$OUT" "${VERSION#*:}" "$@" <<'PY'
import glob, os, re, subprocess, sys
out, ver, queue = sys.argv[1], sys.argv[2], sys.argv[3:]
ours = {os.path.basename(f).split("_")[0]: f
        for f in glob.glob(os.path.join(out, "*_%s_*.deb" % ver))}
seen = []
while queue:
    p = queue.pop(0)
    if p in seen or p not in ours:
        continue
    seen.append(p)
    fields = subprocess.run(["dpkg-deb", "--field", ours[p], "Pre-Depends", "Depends"],
                            capture_output=True, text=True, check=True).stdout
    text = re.sub(r"^[A-Za-z-]+:", ",", fields, flags=re.M).replace("\n", " ")
    for alt in text.split(","):
        for name in (re.sub(r"[\s(\[].*", "", a.strip()) for a in alt.split("|")):
            if name in ours:
                queue.append(name)
                break
print("\n".join(ours[p] for p in seen))
PY
}

# The set a user installs for a QEMU host (docs/packaging.rst):
# libvirt-daemon-system, virsh and the preload library, with what they
# need of this build.
mapfile -t INSTALL_SET < <(install_closure libvirt-daemon-system libvirt-clients \
    libvirt-openhook-preload)

check_simulate() {
    # Against this machine's bookworm archive lists; no lock, nothing changes.
    local out
    if out=$(apt-get install --simulate -q -o Debug::NoLocking=1 "${INSTALL_SET[@]}" 2>&1) &&
        grep '^Inst libvirt-daemon-system ' <<<"$out" | grep -qF "($VERSION "; then
        ok "apt-get install --simulate resolves the set on this bookworm system"
    else
        not_ok "apt-get install --simulate resolves the set on this bookworm system"
        printf '%s\n' "$out" | grep -E '^E:|^ |Depends' | head -15 | sed 's/^/#   /'
    fi
}

# The real install, into an overlay of / in a private mount and PID
# namespace: the host's files, dpkg database and services are untouched
# (all writes land in the scratch upper directory, which is removed).
check_install() {
    if [ "${OPENHOOK_DEB_NO_INSTALL:-0}" = 1 ]; then
        skip "throwaway install (OPENHOOK_DEB_NO_INSTALL=1)"
        return
    fi
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
        skip "throwaway install needs root and unshare"
        return
    fi
    local o=$SCRATCH/ovl f
    mkdir -p "$o/upper" "$o/work" "$o/merged"
    local debs=()
    for f in "${INSTALL_SET[@]}"; do debs+=("/mnt/openhook-debs/$(basename "$f")"); done
    # inside.sh runs in the chroot: it installs the set, then prints one
    # "CHECK ok|fail DESCRIPTION" line a check.
    cat > "$SCRATCH/inside.sh" <<EOF
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin
# no service may start in the throwaway root
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
# a fresh install: not the configuration this host's own runs left in /etc/libvirt
rm -rf /etc/libvirt
apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confnew \
    ${debs[*]} </dev/null || exit 10
t() { local d=\$1; shift; if "\$@"; then echo "CHECK ok \$d"; else echo "CHECK fail \$d"; fi; }
t "installed: the set is at $VERSION, status ii" \
    test "\$(dpkg-query -W -f '\${Version} \${db:Status-Abbrev}\n' libvirt0 libvirt-clients \
        libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-openhook-preload |
        grep -c '^$VERSION ii ')" = 6
t "installed: dpkg --verify finds no changed file" \
    dpkg --verify libvirt0 libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-openhook-preload
t "installed: the qemu driver module's libraries all resolve" \
    bash -c "! ldd /usr/lib/$MULTIARCH/libvirt/connection-driver/libvirt_driver_qemu.so | grep 'not found'"
t "installed: libvirtd --version runs (11.3.0)" \
    bash -c "/usr/sbin/libvirtd --version | grep -q 'libvirtd (libvirt) 11.3.0'"
t "installed: virtqemud --version runs (11.3.0)" \
    bash -c "/usr/sbin/virtqemud --version | grep -qx '/usr/sbin/virtqemud (libvirt) 11.3.0'"
t "installed: virtqemud --help runs and names /etc/libvirt/virtqemud.conf" \
    bash -c "/usr/sbin/virtqemud --help 2>&1 | grep -qx '      /etc/libvirt/virtqemud.conf'"
units_ok() {
    local u
    for u in virtqemud.service virtqemud.socket virtqemud-ro.socket virtqemud-admin.socket; do
        test -f /usr/lib/systemd/system/\$u || { echo "no \$u"; return 1; }
    done
    test -L /etc/systemd/system/multi-user.target.wants/libvirtd.service &&
        test -L /etc/systemd/system/sockets.target.wants/libvirtd.socket &&
        ! find /etc/systemd/system -name 'virtqemud*' | grep .
}
t "installed: virtqemud's units are in /usr/lib/systemd/system, none enabled; libvirtd's are enabled" \
    units_ok
# virtqemud itself, as an unprivileged user with every directory private
# (qemu:///session): it never sees /run/libvirt or /etc/libvirt.
mkdir -p /tmp/vq/run /tmp/vq/config/libvirt /tmp/vq/cache
chown -R nobody: /tmp/vq && chmod 700 /tmp/vq/run
vq() {
    runuser -u nobody -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp/vq \
        XDG_RUNTIME_DIR=/tmp/vq/run XDG_CONFIG_HOME=/tmp/vq/config XDG_CACHE_HOME=/tmp/vq/cache "\$@"
}
vq_refuses() {
    echo 'open_hook = "nonsense"' > /tmp/vq/config/libvirt/qemu.conf
    vq timeout 120 /usr/sbin/virtqemud --timeout 10 > /tmp/vq/bad.log 2>&1
    grep -q 'Unknown open_hook value nonsense' /tmp/vq/bad.log
}
vq_serves() {
    local pid i
    echo 'open_hook = "enforce"' > /tmp/vq/config/libvirt/qemu.conf
    vq timeout 120 /usr/sbin/virtqemud --timeout 60 > /tmp/vq/good.log 2>&1 &
    for i in \$(seq 60); do
        [ -S /tmp/vq/run/libvirt/virtqemud-sock ] && break
        sleep 1
    done
    vq virsh -c 'qemu:///session?socket=/tmp/vq/run/libvirt/virtqemud-sock' version |
        grep -q 'Running hypervisor: QEMU' || return 1
    pid=\$(cat /tmp/vq/run/libvirt/virtqemud.pid) && kill -TERM "\$pid" || return 1
    for i in \$(seq 30); do
        kill -0 "\$pid" 2>/dev/null || return 0
        sleep 1
    done
    return 1
}
t "installed: virtqemud (session) refuses open_hook = \"nonsense\": it runs the patched qemu driver" \
    vq_refuses
t "installed: virtqemud (session, open_hook = \"enforce\") serves virsh with the QEMU driver, then stops" \
    vq_serves
t "installed: Debian's qemu-img runs with $PRELOAD_PATH preloaded" \
    bash -c "LD_PRELOAD=$PRELOAD_PATH qemu-img --version >/dev/null"
t "installed: augtool sets open_hook in /etc/libvirt/qemu.conf with the installed lens" \
    bash -c "augtool -s set /files/etc/libvirt/qemu.conf/open_hook enforce >/dev/null &&
        grep -qx 'open_hook = \"enforce\"' /etc/libvirt/qemu.conf"
t "installed: virsh keeps <openhook> through define and dumpxml" \
    bash -c "virsh -q -c test:///default 'define /mnt/openhook-dom.xml; dumpxml openhook-deb-check' |
        grep -q \"<openhook mode='enforce'>\""
EOF
    # The merged view of / lacks the host's submounts: bind the few needed.
    cat > "$SCRATCH/outside.sh" <<EOF
set -eu
mount -t overlay overlay -o lowerdir=/,upperdir=$o/upper,workdir=$o/work $o/merged
mount -t proc proc $o/merged/proc
mount --bind /dev $o/merged/dev
mount --bind /etc/resolv.conf $o/merged/etc/resolv.conf 2>/dev/null || true
mkdir -p $o/merged/mnt/openhook-debs
mount --bind $OUT $o/merged/mnt/openhook-debs
cp $SCRATCH/dom.xml $o/merged/mnt/openhook-dom.xml
cp $SCRATCH/inside.sh $o/merged/mnt/openhook-inside.sh
exec chroot $o/merged /bin/bash /mnt/openhook-inside.sh
EOF
    local log=$SCRATCH/install.log rc line
    echo "# throwaway install (KEEP=1 keeps its log)"
    timeout 900 unshare --mount --pid --fork --propagation private bash "$SCRATCH/outside.sh" > "$log" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then
        ok "the set installs into a throwaway bookworm root (apt-get install, maintainer scripts run)"
    else
        not_ok "the set installs into a throwaway bookworm root (exit $rc)"
        grep -E '^E:|^dpkg: |rror' "$log" | tail -15 | sed 's/^/#   /'
        return
    fi
    while read -r line; do
        case $line in
        "CHECK ok "*) ok "${line#CHECK ok }" ;;
        "CHECK fail "*) not_ok "${line#CHECK fail }" ;;
        esac
    done < <(grep '^CHECK ' "$log")
    check "installed: all $(grep -c '^t "' "$SCRATCH/inside.sh") checks ran in the throwaway root" \
        test "$(grep -c '^CHECK ' "$log")" = "$(grep -c '^t "' "$SCRATCH/inside.sh")"
}

main() {
    if [ ! -d "$OUT" ]; then
        not_ok "no packages in $OUT: run scripts/build-deb.sh"
        summary
        exit 1
    fi
    echo "# packages: $OUT ($VERSION)"
    check "the packages are those of patches/libvirt and src/preload as they are now (else: scripts/build-deb.sh)" \
        "$BUILD_DEB" --is-up-to-date
    check_files
    check_source
    check_contents
    check_relations
    check_simulate
    check_install
    summary
}

main
