#!/bin/sh
# openhook-broker on a listening socket under hostile peers (TAP):
# a full fd table (EMFILE), peers of another uid, and a peer that opens
# more connections than the broker serves at once.
#
#   test-openhook-tool-broker.sh BROKER CLIENT
#
# The peer-uid test needs root (it runs a client as nobody) and is
# skipped otherwise.  python3 holds the many connections.
set -u
broker=$1
client=$2
tmp=$(mktemp -d)
bpid=
hpid=
n=0
failed=0
trap 'stop_holder; stop_broker; rm -rf "$tmp"' EXIT

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"
    sed 's/^/# broker: /' "$tmp/broker.log" 2>/dev/null | head -n 20
}
# verdict RC MESSAGE: ok if RC is 0
verdict() { if [ "$1" -eq 0 ]; then ok "$2"; else not_ok "$2"; fi; }
skip() { n=$((n + 1)); echo "ok $n - # SKIP $*"; }

# start_broker [--nofile N] [broker options]: broker on $tmp/sock, with
# RLIMIT_NOFILE N if given
start_broker() {
    rm -f "$tmp/sock"
    lim=
    if [ "${1:-}" = --nofile ]; then lim="prlimit --nofile=$2 --"; shift 2; fi
    # shellcheck disable=SC2086
    $lim "$broker" -q -s "$tmp/sock" -r "$tmp/a.img" "$@" >"$tmp/broker.log" 2>&1 &
    bpid=$!
    for _ in $(seq 50); do [ -S "$tmp/sock" ] && return 0; sleep 0.1; done
    echo "Bail out! the broker did not start"; cat "$tmp/broker.log"; exit 1
}

stop_broker() {
    [ -n "$bpid" ] || return 0
    kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null; bpid=
}

# hold N WAIT: open N connections to $tmp/sock (each sends HELLO) and keep
# them until killed; $tmp/held gets one line per connection once all are
# made: "reply" (the broker answered HELLO) or "closed" (EOF, no reply) or
# "none" (no answer within WAIT seconds: still in the backlog).  A second
# later, it sends OPEN of a.img on the first answered connection and writes
# the reply's status (or "none") to $tmp/held.open.
hold() {
    python3 - "$tmp/sock" "$1" "$2" "$tmp/held" "$tmp/a.img" <<'PY' &
import socket, struct, sys, time, signal, os, select
path, count, wait, out, img = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
socks = []
state = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    socks.append(s)
    try:
        s.send(struct.pack("=IIII", 16, 3, 1, 0))
        state.append("none")
    except (BrokenPipeError, ConnectionResetError):
        state.append("closed")  # the broker was quicker than our HELLO
deadline = time.monotonic() + wait
while time.monotonic() < deadline and "none" in state:
    ready = [s for i, s in enumerate(socks) if state[i] == "none"]
    r, _, _ = select.select(ready, [], [], max(0, deadline - time.monotonic()))
    for s in r:
        i = socks.index(s)
        try:
            state[i] = "reply" if s.recv(64) else "closed"
        except ConnectionResetError:
            state[i] = "closed"
with open(out + ".tmp", "w") as f:
    f.write("\n".join(state) + "\n")
os.rename(out + ".tmp", out)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
if "reply" in state:
    time.sleep(1)
    s = socks[state.index("reply")]
    s.send(struct.pack("=IIIIII", 24 + len(img), 1, 7, os.O_RDONLY, 0, len(img)) + img.encode())
    r, _, _ = select.select([s], [], [], 5)
    rep = s.recv(64) if r else b""
    with open(out + ".open", "w") as f:
        f.write("%d\n" % struct.unpack("=IIIiQ", rep)[3] if len(rep) == 24 else "none\n")
while True:
    time.sleep(3600)
PY
    hpid=$!
    for _ in $(seq 200); do [ -f "$tmp/held" ] && return 0; sleep 0.1; done
    echo "# holder did not report"
}

stop_holder() {
    [ -n "$hpid" ] || return 0
    kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null; hpid=; rm -f "$tmp/held" "$tmp/held.open"
}

# cpu_ticks PID: user + system time in clock ticks
cpu_ticks() {
    # the name field (2) may hold spaces: count from the closing ')'
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

served() {
    out=$(timeout 10 "$client" -s "$tmp/sock" cat "$tmp/a.img" 2>&1) && [ "$out" = hello ]
}

echo hello > "$tmp/a.img"
echo "1..10"

# 1. EMFILE: with 20 fds the broker's table fills up; it must neither spin
# nor flood its log, and must serve again once the fds are back.
start_broker --nofile 20
tck=$(getconf CLK_TCK)
before=$(cpu_ticks "$bpid")
hold 40 0.5
sleep 2
used=$(( $(cpu_ticks "$bpid") - before ))
lines=$(grep -c accept "$tmp/broker.log")
[ "$used" -lt $((tck / 2)) ]
verdict $? "EMFILE: the broker used little CPU while its fd table was full ($used ticks of 1/$tck s)"
[ "$lines" -ge 1 ] && [ "$lines" -lt 10 ]
verdict $? "EMFILE: the condition is logged, a few lines at most ($lines lines)"
st=$(cat "$tmp/held.open" 2>/dev/null)
[ "$st" = -24 ]
verdict $? "EMFILE: a connection accepted before still gets answers meanwhile (OPEN: status ${st:-missing}, -EMFILE)"
stop_holder
served
verdict $? "EMFILE: once the clients are gone, a new client is served"
stop_broker

# 2. peer uid: by default only the broker's own uid is served, even if the
# socket's permissions let anyone connect.
chmod 0755 "$tmp"
chmod 0644 "$tmp/a.img"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
if [ "$(id -u)" -ne 0 ] || ! as_nobody "$client" --help >/dev/null 2>&1; then
    why="needs root, and a client nobody can run"
    skip "peer uid: $why"; skip "peer uid: $why"; skip "peer uid: $why"
else
    start_broker
    chmod 0777 "$tmp/sock"
    timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$client" -s "$tmp/sock" cat "$tmp/a.img" >"$tmp/nobody.out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] && ! grep -q hello "$tmp/nobody.out"
    verdict $? "peer uid: a client running as nobody is refused without a reply (exit $rc: $(head -c 200 "$tmp/nobody.out"))"
    served
    verdict $? "peer uid: the broker's own uid is served"
    stop_broker
    nuid=$(id -u nobody)
    start_broker -u nobody
    chmod 0777 "$tmp/sock"
    out=$(timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups \
          "$client" -s "$tmp/sock" cat "$tmp/a.img" 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] && [ "$out" = hello ] && ! served &&
        grep -q "uid=0: .*$nuid" "$tmp/broker.log"
    verdict $? "peer uid: with -u nobody, nobody is served (exit $rc) and root is refused"
    stop_broker
fi

# 3. refusals are logged at most once a second, with a count of the rest
# (python: the client tool is too slow under ASan to refuse many in 1 s)
start_broker -u 12345
python3 - "$tmp/sock" <<'PY'
import socket, sys
for _ in range(200):
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(5)
        s.connect(sys.argv[1])
        try:
            s.recv(64)          # EOF at once when refused
        except socket.timeout:
            sys.exit("# a connection was not refused")
PY
sleep 1.1
timeout 10 "$client" -s "$tmp/sock" cat "$tmp/a.img" >/dev/null 2>&1
sleep 0.2
lines=$(grep -c 'refused' "$tmp/broker.log")
total=$(sed -n 's/^refused.*(\([0-9]*\) similar lines suppressed)$/\1/p' "$tmp/broker.log" |
        awk -v n="$lines" '{ n += $1 } END { print n }')
[ "$lines" -ge 2 ] && [ "$lines" -le 4 ] && [ "$total" -eq 201 ]
verdict $? "peer uid: 201 refusals make a few log lines ($lines), which account for all of them ($total)"
stop_broker

# 4. connection cap: beyond it, connections are closed at once, so the
# broker's fds stay bounded; the held ones are served.
start_broker --max-connections 3
fds0=$(find "/proc/$bpid/fd" -mindepth 1 | wc -l)
hold 20 10
fds=$(find "/proc/$bpid/fd" -mindepth 1 | wc -l)
replies=$(grep -c reply "$tmp/held")
closed=$(grep -c closed "$tmp/held")
[ "$replies" -eq 3 ] && [ "$closed" -eq 17 ] && [ "$fds" -le $((fds0 + 3)) ]
verdict $? "cap: 3 of 20 connections served, 17 closed at once (served $replies, closed $closed; fds $fds0 -> $fds)"
stop_holder
served
verdict $? "cap: once they are closed, a new client is served"
stop_broker

[ "$failed" -eq 0 ]
