#!/usr/bin/env python3
# Regenerate the seed corpora in tests/fuzz/corpus/ (host byte order,
# as in docs/protocol.rst). Run from anywhere; the output is committed.
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
IMG = b"/tmp/openhook-fuzz.img"
DIR = b"/tmp/openhook-fuzz.d"
O_RDONLY, O_RDWR, O_CREAT, O_TRUNC, O_CLOEXEC, O_PATH = 0, 2, 0o100, 0o1000, 0o2000000, 0o10000000


def hello(version=1, flags=0):
    return struct.pack("=IIII", 16, 3, version, flags)


def open_(rid, path, flags=O_RDONLY, mode=0):
    return struct.pack("=IIIIII", 24 + len(path), 1, rid, flags, mode, len(path)) + path


def close(handle):
    return struct.pack("=IIQ", 16, 2, handle)


def frames(*msgs):
    return b"".join(struct.pack("<H", len(m)) + m for m in msgs)


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


proto = {
    "hello": hello(),
    "hello-v2": hello(2),
    "open": open_(1, IMG, O_RDWR | O_CLOEXEC),
    "open-nul": open_(2, b"/a\0b"),
    "open-short": open_(3, IMG)[:-3],
    "close": close(7),
    "type0": struct.pack("=IIII", 16, 0, 0, 0),
    "open-reply": struct.pack("=IIIiQ", 24, 1, 1, 0, 1),
    "hello-reply": struct.pack("=IIIiIIII", 32, 3, 1, 0, 4095, 16, 1024, 0),
}
path = {
    "root": b"/",
    "dotdot": b"/a/b/../../../c",
    "slashes": b"//x/./y///",
    "escape": b"/../../etc/passwd",
    "relative": b"img/a.qcow2",
    "nul": b"/a\0/etc",
    "proc": b"/proc/self/fd/3",
}
broker = {
    "session": frames(hello(), open_(1, IMG), close(1), open_(2, IMG, O_RDWR)),
    "denials": frames(hello(), open_(1, b"/etc/passwd"), open_(2, IMG, O_RDONLY | O_TRUNC),
                      open_(3, IMG, O_PATH), open_(4, b"rel"), close(99)),
    "no-hello": frames(open_(1, IMG)),
    "bad-version": frames(hello(9), open_(1, IMG)),
    "twice-hello": frames(hello(), hello()),
    "pipeline": frames(hello(), *[open_(i, IMG) for i in range(8)]),
    "dotdot": frames(hello(), open_(1, b"/tmp/x/.." + IMG, O_RDWR | O_CREAT)),
    "dir": frames(hello(), open_(1, DIR + b"/a.img"), open_(2, DIR + b"/a.img", O_RDWR),
                  open_(3, DIR + b"/new.img", O_RDWR | O_CREAT), open_(4, DIR),
                  open_(5, DIR + b"2/a.img"), close(1)),
}
for kind, seeds in (("proto", proto), ("path", path), ("broker", broker)):
    for name, data in seeds.items():
        write(kind, name, data)
sys.exit(0)
