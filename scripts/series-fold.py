#!/usr/bin/python3
"""Fold edits made in src/<project>/ into the patches that introduced them.

   series-fold.py TREE BASE SRCDIR PATH...

TREE is a git tree whose commits BASE..HEAD are the series; SRCDIR/PATH is
the edited copy of the tree's file PATH (which must exist at HEAD).  Each
changed region (hunk) of each file goes to the commit that introduced the
lines it touches, as found by `git blame` at HEAD:

  - lines changed or removed: the one series commit that wrote all of them;
  - lines inserted: the one series commit that wrote the lines on both
    sides of the insertion (one side at the start or end of the file).

A hunk whose lines come from several commits, or from the base itself
(upstream's own code, which no patch owns), cannot be placed: the script
then names every such hunk and exits 1 without touching the tree.
Otherwise it makes one `git commit --fixup=<owner>` per owner, in series
order, and prints what went where; the caller runs the autosquash rebase.
"""

import difflib
import os
import subprocess
import sys


def git(tree, *args, data=False):
    out = subprocess.run(["git", "-C", tree, "-c", "core.autocrlf=false", *args], check=True,
                         stdout=subprocess.PIPE).stdout
    return out if data else out.decode()


def lines_of(blob):
    return blob.decode("utf-8", "surrogateescape").splitlines(keepends=True)


def blame(tree, path):
    """The commit that wrote each line of PATH at HEAD, in order."""
    owners = []
    for line in git(tree, "blame", "--line-porcelain", "HEAD", "--",
                    path).splitlines():
        head = line.split(" ", 1)[0]
        if len(head) == 40 and not line.startswith("\t"):
            try:
                int(head, 16)
            except ValueError:
                continue
            current = head
        elif line.startswith("\t"):
            owners.append(current)
    return owners


def hunk_owner(tag, i1, i2, owners, series):
    """(owner, None) or (None, why) for one difflib opcode."""
    if tag in ("replace", "delete"):
        touched = set(owners[i1:i2])
        what = "the lines it changes"
    else:
        touched = set(owners[i] for i in (i1 - 1, i1)
                      if 0 <= i < len(owners))
        what = "the lines around the insertion"
    outside = touched - set(series)
    if outside:
        return None, what + " come from the base, which no patch owns"
    if len(touched) != 1:
        names = ", ".join("'%s'" % series[c] for c in series
                          if c in touched)
        return None, "%s come from %d patches (%s)" % (what, len(touched),
                                                         names)
    return touched.pop(), None


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    tree, base, srcdir, paths = (sys.argv[1], sys.argv[2], sys.argv[3],
                                 sys.argv[4:])
    order = git(tree, "rev-list", "--reverse", base + "..HEAD").split()
    series = {c: git(tree, "log", "-1", "--format=%s", c).strip()
              for c in order}

    plan = {}            # path -> (old lines, [(owner, i1, i2, j1, j2)])
    refused = []
    for path in paths:
        old = lines_of(git(tree, "show", "HEAD:" + path, data=True))
        with open(os.path.join(srcdir, path), "rb") as f:
            new = lines_of(f.read())
        owners = blame(tree, path)
        hunks = []
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            owner, why = hunk_owner(tag, i1, i2, owners, series)
            where = "%s:%d" % (path, i1 + 1)
            if j2 > j1:
                where += " (new lines %d-%d)" % (j1 + 1, j2)
            if owner is None:
                refused.append("%s: %s" % (where, why))
            else:
                hunks.append((owner, i1, i2, j1, j2))
        plan[path] = (old, new, hunks)

    if refused:
        for r in refused:
            print("series-fold: cannot tell which patch owns %s" % r,
                  file=sys.stderr)
        print("series-fold: nothing folded; split the edit so each hunk "
              "touches one patch's lines, or commit it in the tree as a "
              "fixup of the patch you mean", file=sys.stderr)
        sys.exit(1)

    done = set()
    for owner in order:
        mine = [(p, h) for p, (_, _, hs) in plan.items()
                for h in hs if h[0] == owner]
        if not mine:
            continue
        done.add(owner)
        for path, (old, new, hunks) in plan.items():
            if not any(p == path for p, _ in mine):
                continue
            # the file as the hunks of the owners folded so far make it
            out, pos = [], 0
            for h_owner, i1, i2, j1, j2 in hunks:
                if h_owner not in done:
                    continue
                out += old[pos:i1] + new[j1:j2]
                pos = i2
            out += old[pos:]
            with open(os.path.join(tree, path), "wb") as f:
                f.write("".join(out).encode("utf-8", "surrogateescape"))
            git(tree, "add", "--", path)
        git(tree, "commit", "-q", "--fixup=" + owner)
        for path, (_, i1, i2, j1, j2) in mine:
            print("%s:%d: folded into '%s'" % (path, i1 + 1, series[owner]))


if __name__ == "__main__":
    main()
