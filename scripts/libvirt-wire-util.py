#!/usr/bin/python3
"""Wire a src/libvirt/src/util/ module into the libvirt tree.

usage: scripts/libvirt-wire-util.py MODULE...     (e.g. viropenhookproto)

For each MODULE: copies src/libvirt/src/util/MODULE.{c,h} into the tree, adds
MODULE.c to util_sources in src/util/meson.build and (re)writes the
"# util/MODULE.h" section of src/libvirt_private.syms with the module's
global functions, taken from the standalone build's object file (so run
`ninja -C build/openhook` first).  The caller commits the result in the tree.
"""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("OPENHOOK_BUILD", os.path.join(ROOT, "build"))
TREE = os.path.join(BUILD, "src", "libvirt")
OBJDIR = os.path.join(BUILD, "openhook", "libopenhook.a.p")


def symbols(module):
    obj = os.path.join(OBJDIR, "src_libvirt_src_util_%s.c.o" % module)
    out = subprocess.run(["nm", "--defined-only", "-g", obj], check=True,
                         capture_output=True, text=True).stdout
    return sorted(line.split()[2] for line in out.splitlines()
                  if line.split()[1] in ("T", "D", "R", "B"))


def wire_meson(module):
    path = os.path.join(TREE, "src", "util", "meson.build")
    text = open(path).read()
    m = re.search(r"util_sources = \[\n(.*?)\n\]", text, re.S)
    entries = m.group(1).split("\n")
    entry = "  '%s.c'," % module
    if entry not in entries:
        # before the first entry that sorts after it; upstream's list is not
        # strictly sorted, so don't reorder it
        pos = next((i for i, e in enumerate(entries) if e > entry), len(entries))
        entries.insert(pos, entry)
    text = text[:m.start(1)] + "\n".join(entries) + text[m.end(1):]
    open(path, "w").write(text)


def wire_syms(module, syms):
    path = os.path.join(TREE, "src", "libvirt_private.syms")
    text = open(path).read()
    header = "# util/%s.h\n" % module
    section = header + "".join("%s;\n" % s for s in syms) + "\n\n"
    # drop an old section of this module
    text = re.sub(re.escape(header) + r"(?:[^\n]+\n)*\n*", "", text)
    # insert it before the first util section that sorts after it
    for m in re.finditer(r"^# util/([a-z0-9_]+)\.h\n", text, re.M):
        if m.group(1) > module:
            text = text[:m.start()] + section + text[m.start():]
            break
    else:
        raise SystemExit("no util section sorts after %s" % module)
    open(path, "w").write(text)


def main():
    for module in sys.argv[1:]:
        for ext in (".c", ".h"):
            shutil.copy(os.path.join(ROOT, "src", "libvirt", "src", "util",
                                     module + ext),
                        os.path.join(TREE, "src", "util", module + ext))
        wire_meson(module)
        wire_syms(module, symbols(module))
        print("wired %s" % module)


if __name__ == "__main__":
    main()
