#!/usr/bin/env python3
"""A dead open-hook broker, for the fail-closed checks.

usage: deadpeer.py closed|hello [--watch FILE]... -- COMMAND [ARG|@FD@]...

Runs COMMAND on one end of a SOCK_SEQPACKET socketpair, like
openhook-broker -- COMMAND does (@FD@ in the arguments and $OPENHOOK_FD
give the socket's number), but with a broker that is dead:

  closed  the broker's end is closed before COMMAND starts
  hello   the broker answers the client's HELLO (docs/protocol.rst), then
          hangs up: the first OPEN finds the channel dead

Every FILE is watched with inotify (IN_OPEN) while COMMAND runs: a client
that fails closed never opens them itself.  At the end the helper opens the
first FILE once on its own to prove the watch works, and prints on stderr

  deadpeer: hello=yes|no|n/a local-opens=N

(N: open events on the watched files while COMMAND ran; inotify merges
repeats, so only whether it is 0 means anything).  Exits with COMMAND's
status, or 3 if the watch saw nothing of its own open.
"""

import ctypes
import os
import socket
import struct
import subprocess
import sys

IN_OPEN = 0x20
HELLO = 3


def watcher(paths):
    libc = ctypes.CDLL(None, use_errno=True)
    ifd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if ifd < 0:
        sys.exit("inotify_init1: %s" % os.strerror(ctypes.get_errno()))
    for p in paths:
        if libc.inotify_add_watch(ifd, os.fsencode(p), IN_OPEN) < 0:
            sys.exit("inotify_add_watch %s: %s" % (p, os.strerror(ctypes.get_errno())))
    return ifd


def count_opens(ifd):
    n = 0
    while True:
        try:
            buf = os.read(ifd, 65536)
        except BlockingIOError:
            return n
        off = 0
        while off < len(buf):
            _wd, mask, _cookie, length = struct.unpack_from("iIII", buf, off)
            if mask & IN_OPEN:
                n += 1
            off += 16 + length


def main(argv):
    if len(argv) < 3 or argv[0] not in ("closed", "hello") or "--" not in argv:
        sys.exit(__doc__)
    mode = argv[0]
    sep = argv.index("--")
    opts, cmd = argv[1:sep], argv[sep + 1:]
    watch = [opts[i + 1] for i in range(0, len(opts) - 1, 2) if opts[i] == "--watch"]
    if not cmd or not watch or len(watch) * 2 != len(opts):
        sys.exit(__doc__)

    ifd = watcher(watch)
    broker, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = str(client.fileno())
    env = dict(os.environ, OPENHOOK_FD=fd)
    if mode == "closed":
        broker.close()
    proc = subprocess.Popen([a.replace("@FD@", fd) for a in cmd], env=env,
                            pass_fds=(client.fileno(),))
    client.close()

    hello = "n/a"
    if mode == "hello":
        broker.settimeout(20)
        try:
            msg = broker.recv(64)
            size, typ, version, flags = struct.unpack("=IIII", msg)
            ok = size == 16 == len(msg) and typ == HELLO and version == 1 and flags == 0
        except (OSError, struct.error):
            ok = False
        if ok:
            # size, type, version, status, max_path, max_outstanding, max_fds, flags
            broker.send(struct.pack("=IIIiIIII", 32, HELLO, 1, 0, 4096, 16, 1024, 0))
        hello = "yes" if ok else "no"
        broker.close()

    rc = proc.wait()
    opens = count_opens(ifd)
    with open(watch[0], "rb"):
        pass
    seen = count_opens(ifd)
    print("deadpeer: hello=%s local-opens=%d" % (hello, opens), file=sys.stderr)
    if seen != 1:
        print("deadpeer: the inotify watch did not see our own open", file=sys.stderr)
        return 3
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
