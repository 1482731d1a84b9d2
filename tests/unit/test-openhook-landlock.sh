#!/bin/sh
# openhook-landlock on its own and under openhook-broker:
#   test-openhook-landlock.sh BROKER CLIENT LANDLOCK
# Exits 77 (meson: skipped) if the kernel has no Landlock.
set -eu
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
broker=$(abspath "$1")
client=$(abspath "$2")
landlock=$(abspath "$3")
# LeakSanitizer reads /proc at exit, which a confined process may not: in
# the ASan build the tool's own failure paths would fail it, and the
# client under Landlock gets read access to /proc (which does not let it
# re-open anything, see the /proc case below)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; cat "$tmp/err" 2>/dev/null || true; exit 1; }

if ! "$landlock" -x /usr -- true 2>"$tmp/err"; then
    if grep -q 'Landlock is' "$tmp/err"; then
        echo "SKIP: $(cat "$tmp/err")"
        exit 77
    fi
    fail "cannot run true under Landlock"
fi

mkdir "$tmp/sys" "$tmp/run" "$tmp/guest"
echo lib > "$tmp/sys/lib"
echo hello > "$tmp/guest/a.img"
echo secret > "$tmp/guest/secret"
ll() { "$landlock" -x /usr -r "$tmp/sys" -w "$tmp/run" -- "$@"; }

# allowed and denied opens; the command's exit status comes through
[ "$(ll cat "$tmp/sys/lib")" = lib ] || fail "read an allowed file"
ll sh -c "echo x > $tmp/run/new && rm $tmp/run/new" || fail "runtime dir"
if ll cat "$tmp/guest/a.img" 2>"$tmp/err"; then fail "read a guest file"; fi
grep -q 'Permission denied' "$tmp/err" || fail "guest file: not EACCES"
if ll sh -c "echo x > $tmp/sys/new" 2>"$tmp/err"; then fail "write to a read-only dir"; fi
set +e
ll sh -c 'exit 3'; rc=$?
ll /nonexistent 2>/dev/null; rc2=$?
"$landlock" -r /nonexistent -- true 2>"$tmp/err"; rc3=$?
"$landlock" -r /usr -- true 2>/dev/null; rc4=$?
set -e
[ $rc -eq 3 ] || fail "exit status ($rc)"
[ $rc2 -eq 127 ] || fail "not found: $rc2"
{ [ $rc3 -eq 125 ] && grep -q "'/nonexistent'" "$tmp/err"; } || fail "missing path: $rc3"
[ $rc4 -eq 126 ] || fail "no execute right: $rc4"
"$landlock" -o -x /usr -r /nonexistent -- true || fail "-o skips a missing path"

# fds it inherits stay usable, but are not re-opened through /proc
[ "$(ll sh -c 'cat <&5' 5<"$tmp/guest/a.img")" = hello ] || fail "inherited fd"
if "$landlock" -x /usr -r /proc -- sh -c 'cat /proc/self/fd/5' 5<"$tmp/guest/a.img" \
       >/dev/null 2>&1; then
    fail "re-open of an inherited fd through /proc"
fi
# and the ruleset's own fd is not among them
[ "$("$landlock" -x /usr -r /proc -- ls /proc/self/fd | wc -l)" = "$(ls /proc/self/fd | wc -l)" ] ||
    fail "an fd leaked into the command"

# the point: the guest file only through the broker (/proc readable or not)
out=$("$broker" -q -r "$tmp/guest/a.img" -- \
      "$landlock" -x /usr -r /proc -x "$(dirname "$client")" -- "$client" --fd @FD@ cat "$tmp/guest/a.img") ||
    fail "open through the broker under Landlock"
[ "$out" = hello ] || fail "broker gave '$out'"
set +e
"$broker" -q -r "$tmp/guest/a.img" -- \
    "$landlock" -x /usr -r /proc -x "$(dirname "$client")" -- "$client" --fd @FD@ cat "$tmp/guest/secret" \
    >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || fail "a file not in the whitelist: exit $rc"
echo "landlock tool OK"
