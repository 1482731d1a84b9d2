#!/usr/bin/python3
"""Print a running domain's disk chains next to its open-hook whitelist.

usage: virsh dumpxml DOM | scripts/demo-view.py

Reads the live XML on stdin: each disk's <backingStore> chain (what
libvirt knows the guest uses) and the <openhook><entry/> list (what the
broker lets QEMU open, with the access and the fds QEMU holds).
"""

import sys
import xml.etree.ElementTree as ET


def chains(dom):
    rows = []
    for disk in dom.findall("./devices/disk"):
        node, depth = disk, 0
        target = disk.find("target").get("dev")
        while node is not None and node.find("source") is not None:
            path = node.find("source").get("file")
            if path:
                rows.append((target if depth == 0 else "", "  " * depth + path))
            node, depth = node.find("backingStore"), depth + 1
    return rows


def whitelist(dom):
    return [(e.get("path"), e.get("access"), e.get("fds"), e.get("origin"))
            for e in dom.findall("./openhook/entry")]


def main():
    dom = ET.parse(sys.stdin)
    entries = {p: (a, f) for p, a, f, o in whitelist(dom)}
    rows = []
    for target, path in chains(dom):
        entry = entries.pop(path.strip(), None)
        rows.append(("%-5s %s" % (target, path),
                     "%-3s fds=%s" % entry if entry else "NOT IN THE WHITELIST"))
    for path, (access, fds) in sorted(entries.items()):
        rows.append(("      (not a disk) " + path, "%-3s fds=%s" % (access, fds)))
    width = max(len(r[0]) for r in rows + [("disk chains (domain XML)", "")]) + 3
    print("  %-*s%s" % (width, "disk chains (domain XML)", "whitelist: access, fds QEMU holds"))
    for left, right in rows:
        print("  %-*s%s" % (width, left, right))


main()
