#!/usr/bin/python3
"""Check that QEMU's docs/interop/open-hook.rst gives the wire layouts of
docs/protocol.rst: every message table of the one must be a table of the
other, field for field (offset, size, name), and none may be missing.

   doc-layouts.py PROTOCOL_RST QEMU_OPEN_HOOK_RST

Tables are reStructuredText simple tables whose rows start with a byte
offset; a message's own fields are those at offset 8 and beyond (QEMU's
document gives the common header once), the header those below 8.
Prints what differs and exits 1, or prints the number of tables matched.
"""

import re
import sys


def tables(path):
    """Each table's rows as a frozenset of (offset, size, field)."""
    out, rows = [], []
    for line in open(path, encoding="utf-8"):
        m = re.match(r"(\d+)\s+(\S+)\s+``(\w+)``", line)
        if m:
            rows.append((int(m.group(1)), m.group(2), m.group(3)))
        elif rows and not line.startswith(" "):
            out.append(rows)
            rows = []
    if rows:
        out.append(rows)
    result = []
    for t in out:
        header = frozenset(r for r in t if r[0] < 8)
        body = frozenset(r for r in t if r[0] >= 8)
        result.append(body if body else header)
    return result


def main():
    proto, qemu = tables(sys.argv[1]), tables(sys.argv[2])
    bad = 0
    for t in qemu:
        if t not in proto:
            print("QEMU's table %s is not in %s" % (sorted(t), sys.argv[1]))
            bad += 1
    for t in proto:
        if t not in qemu:
            print("%s's table %s is not in QEMU's" % (sys.argv[1], sorted(t)))
            bad += 1
    if bad or not qemu:
        sys.exit(1)
    print("%d message layouts agree" % len(qemu))


if __name__ == "__main__":
    main()
