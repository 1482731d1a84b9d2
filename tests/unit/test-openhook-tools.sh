#!/bin/sh
# End-to-end check of the two tools: openhook-broker BROKER CLIENT
set -eu
broker=$1
client=$2
tmp=$(mktemp -d)
trap 'kill "$bpid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; cat "$tmp/broker.log" 2>/dev/null || true; exit 1; }

echo hello > "$tmp/a.img"
echo secret > "$tmp/secret"
ln -s a.img "$tmp/link.img"
printf 'rw %s vda[0]\n# comment\ncreate %s\n' "$tmp/link.img" "$tmp/new.img" > "$tmp/wl"

# 1. Listening socket + whitelist file.
"$broker" -s "$tmp/sock" -f "$tmp/wl" -g test >"$tmp/broker.log" 2>&1 &
bpid=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$tmp/sock" ] && break; sleep 0.2; done

out=$("$client" -s "$tmp/sock" cat "$tmp/link.img") || fail "cat"
[ "$out" = hello ] || fail "cat gave '$out'"
"$client" -s "$tmp/sock" open "$tmp/a.img" rdwr | grep -q ': ok handle=' || fail "rw open"
"$client" -s "$tmp/sock" open "$tmp/new.img" rdwr,creat,excl | grep -q ': ok' || fail "create"
[ -f "$tmp/new.img" ] || fail "new.img not created"
set +e
"$client" -s "$tmp/sock" open "$tmp/secret" >"$tmp/out"; rc=$?
set -e
[ $rc -eq 1 ] || fail "secret: exit $rc"
grep -q 'error -13' "$tmp/out" || fail "secret not EACCES"
set +e
"$client" -s "$tmp/sock" open "$tmp/a.img" path >/dev/null; rc=$?
set -e
[ $rc -eq 1 ] || fail "O_PATH: exit $rc"
kill "$bpid"; wait "$bpid" 2>/dev/null || true
grep -q 'decision=deny reason=not-listed guest="test"' "$tmp/broker.log" || fail "no deny event"
grep -q 'origin="vda\[0\]"' "$tmp/broker.log" || fail "no origin"
grep -q 'reason=bad-flags' "$tmp/broker.log" || fail "no bad-flags event"

# 2. Spawn mode: the child gets the socket as @FD@ / $OPENHOOK_FD.
out=$("$broker" -q -r "$tmp/a.img" -- "$client" --fd @FD@ cat "$tmp/a.img") || fail "spawn"
[ "$out" = hello ] || fail "spawn cat gave '$out'"
set +e
"$broker" -q -r "$tmp/a.img" -- sh -c "exec \"$client\" --fd \$OPENHOOK_FD open $tmp/secret" >/dev/null
rc=$?
set -e
[ $rc -eq 1 ] || fail "spawn exit status not propagated ($rc)"

# 3. The command inherits stdin (scripts pipe data or QMP into it).
out=$(echo piped | "$broker" -q -r "$tmp/a.img" -- cat) || fail "stdin"
[ "$out" = piped ] || fail "child did not inherit stdin (got '$out')"

# 4. --help says which entries must exist.
"$broker" --help | grep -q -- '-r and -w .* must exist' || fail "help: -r/-w must exist"
"$broker" --help | grep -q -- '-c .* may not exist yet' || fail "help: -c may not exist"
echo "tools OK"
