#!/usr/bin/python3
"""Fold edits made in src/<project>/ into the patches that introduced them.

   series-fold.py TREE BASE SRCDIR PATH...

TREE is a git tree whose commits BASE..HEAD are the series; SRCDIR/PATH is
the edited copy of the tree's file PATH (which must exist at HEAD).  Each
changed region (hunk, as `git diff --histogram` cuts them) goes to the
commit that introduced the lines it touches, as `git blame` finds them at
HEAD (with and without -M: a line a later commit only moved has two
owners, so an edit of it is refused):

  - lines changed or removed: the one series commit that wrote all of them;
  - lines inserted: the one series commit that wrote the lines on both
    sides of the insertion (one side at the start or end of the file).

An insertion or a removal that could sit at several places with the same
result (next to identical lines) must give that answer at every one of
them (for a removal: at every place where it removes one commit's lines).

The fold is made in a throwaway worktree: one fixup commit per owner,
named by commit id, then an autosquash rebase; the result must hold every
file exactly as SRCDIR does and as many commits as before.  On success
the script prints "HEAD <commit>" last, for the caller to check out; the
tree itself is never touched.  Any hunk it cannot place (lines of several
commits, or of the base, which no patch owns), a conflict while moving a
fixup to its patch, or an edit that would empty a patch: the script says
which and exits 1.  git runs without the user's or the system's
configuration, which could change hunks, owners or the refs a rebase
moves.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile


class Refused(Exception):
    pass


# git as it comes: no user or system configuration (diff, blame, rebase and
# commit settings there change hunks, owners and which refs move)
GIT_ENV = dict({k: v for k, v in os.environ.items()
                if not k.startswith("GIT_") or
                k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))},
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
               GIT_SEQUENCE_EDITOR=":", GIT_EDITOR=":")


def git(tree, *args, ok=(0,)):
    r = subprocess.run(["git", "-C", tree, "-c", "core.autocrlf=false",
                        *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=GIT_ENV)
    if r.returncode not in ok:
        raise subprocess.CalledProcessError(r.returncode, args, r.stdout,
                                            r.stderr)
    return r.stdout


def lines_of(blob):
    """Lines as git counts them: split after each newline only."""
    return [m.group(0) for m in re.finditer(rb"[^\n]*\n|[^\n]+$", blob)]


def blame(tree, path, *opts):
    """The commit that wrote each line of PATH at HEAD, in order."""
    owners, current = [], None
    for line in git(tree, "blame", "--line-porcelain", *opts, "HEAD", "--",
                    path).split(b"\n"):
        if line.startswith(b"\t"):
            owners.append(current)
        elif re.match(rb"[0-9a-f]{40} ", line):
            current = line[:40].decode()
    return owners


def owners_of(tree, path):
    """For each line of PATH, the commits that wrote it: the one that put it
    where it is and, if a later commit only moved it, the one that wrote it
    (blame -M); a line with two owners is an edit no single patch owns."""
    return [set(o) for o in zip(blame(tree, path), blame(tree, path, "-M"))]


def hunks_of(tree, old, new):
    """(i1, i2, j1, j2): old[i1:i2] becomes new[j1:j2], by git's diff."""
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        with open(a, "wb") as f:
            f.write(old)
        with open(b, "wb") as f:
            f.write(new)
        out = git(tree, "diff", "--no-index", "--no-ext-diff", "--histogram",
                  "--no-color", "--text", "--inter-hunk-context=0", "-U0",
                  a, b, ok=(0, 1))
    hunks = []
    for m in re.finditer(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@",
                         out, re.M):
        a0, an = int(m.group(1)), int(m.group(2) or 1)
        b0, bn = int(m.group(3)), int(m.group(4) or 1)
        # -U0: a count of 0 names the line *after which* the hunk goes
        i1 = a0 if an == 0 else a0 - 1
        j1 = b0 if bn == 0 else b0 - 1
        hunks.append((i1, i1 + an, j1, j1 + bn))
    return hunks


def positions(old, new, i1, i2, j1, j2):
    """Every (a, b) where the hunk, if it is a pure insertion or removal,
    gives the same file: it slides while the line leaving one end equals
    the line joining the other."""
    out = [(i1, i2)]
    if i1 == i2 and j1 != j2:               # insert s between old[a-1], old[a]
        for step in (-1, 1):
            a, s = i1, list(new[j1:j2])
            while True:
                if step < 0 and a > 0 and old[a - 1] == s[-1]:
                    s, a = [old[a - 1]] + s[:-1], a - 1
                elif step > 0 and a < len(old) and old[a] == s[0]:
                    s, a = s[1:] + [old[a]], a + 1
                else:
                    break
                out.append((a, a))
    elif j1 == j2 and i1 != i2:             # remove old[a:b]
        a, b = i1, i2
        while a > 0 and old[a - 1] == old[b - 1]:
            a, b = a - 1, b - 1
            out.append((a, b))
        a, b = i1, i2
        while b < len(old) and old[b] == old[a]:
            a, b = a + 1, b + 1
            out.append((a, b))
    return out


def owner_at(a, b, insert, owners, series):
    """The one series commit owning the lines at [a, b), or why not."""
    if insert:
        touched = set().union(*(owners[i] for i in (a - 1, a)
                                if 0 <= i < len(owners)))
        what = "the lines around the insertion"
    else:
        touched = set().union(*owners[a:b])
        what = "the lines it changes"
    if touched - set(series):
        return None, what + " come from the base, which no patch owns"
    if len(touched) != 1:
        names = ", ".join("'%s'" % series[c] for c in series if c in touched)
        return None, "%s come from %d patches (%s)" % (what, len(touched),
                                                         names)
    return next(iter(touched)), None


def hunk_owner(old, new, hunk, owners, series):
    insert = hunk[0] == hunk[1]
    found = [owner_at(a, b, insert, owners, series)
             for a, b in positions(old, new, *hunk)]
    single = set(o for o, _ in found if o)
    if insert:
        # every place it could go must be inside one and the same patch
        if all(o for o, _ in found) and len(single) == 1:
            return single.pop(), None
        if len(found) > 1 and any(o for o, _ in found):
            return None, ("it could go at %d places with the same result, "
                          "not all inside one patch" % len(found))
        return None, found[0][1]
    # a removal: the places that remove one patch's lines must agree
    if len(single) == 1:
        return single.pop(), None
    if len(single) > 1:
        return None, ("it could remove the lines of %d patches with the "
                      "same result" % len(single))
    return None, found[0][1]


def plan_fold(tree, series, srcdir, paths):
    plan, refused = {}, []
    for path in paths:
        old_blob = git(tree, "show", "HEAD:" + path)
        with open(os.path.join(srcdir, path), "rb") as f:
            new_blob = f.read()
        old, new = lines_of(old_blob), lines_of(new_blob)
        owners = owners_of(tree, path)
        hunks = []
        for h in hunks_of(tree, old_blob, new_blob):
            owner, why = hunk_owner(old, new, h, owners, series)
            where = "%s:%d" % (path, h[0] + 1)
            if h[3] > h[2]:
                where += " (new lines %d-%d)" % (h[2] + 1, h[3])
            if owner is None:
                refused.append("%s: %s" % (where, why))
            else:
                hunks.append((owner,) + h)
        plan[path] = (old, new, new_blob, hunks)
    return plan, refused


def fold(tree, base, order, series, plan):
    """Make the fixups and squash them in a worktree; return the new HEAD."""
    wt = tempfile.mkdtemp(prefix="series-fold-")
    os.rmdir(wt)
    git(tree, "worktree", "add", "-q", "--detach", wt, "HEAD")
    try:
        done = set()
        for owner in order:
            if not any(h[0] == owner for _, _, _, hs in plan.values()
                       for h in hs):
                continue
            done.add(owner)
            for path, (old, new, _, hunks) in plan.items():
                if not any(h[0] == owner for h in hunks):
                    continue
                # the file as the hunks of the owners folded so far make it
                out, pos = [], 0
                for h_owner, i1, i2, j1, j2 in hunks:
                    if h_owner in done:
                        out += old[pos:i1] + new[j1:j2]
                        pos = i2
                out += old[pos:]
                with open(os.path.join(wt, path), "wb") as f:
                    f.write(b"".join(out))
                git(wt, "add", "--", path)
            # by id: autosquash matches "fixup! <id>" whatever the subjects
            git(wt, "commit", "-q", "--no-verify", "-m", "fixup! " + owner)
        r = subprocess.run(["git", "-C", wt, "rebase", "-q", "-i",
                            "--autosquash", "--no-update-refs",
                            "--committer-date-is-author-date", base],
                           env=GIT_ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            target = git(wt, "log", "-1", "--format=%s", "REBASE_HEAD",
                         ok=(0, 128)).decode().strip()
            target = target.replace("fixup! ", "", 1)
            stopped = series.get(target, target) or "?"
            unmerged = git(wt, "diff", "--name-only", "--diff-filter=U",
                           ok=(0, 1, 128)).decode().split()
            if unmerged:
                stopped += "; in " + ", ".join(unmerged)
            git(wt, "rebase", "--abort", ok=(0, 128))
            out = r.stdout.decode("utf-8", "replace")
            if re.search(r"would\s+make\s+it\s+empty|is\s+now\s+empty", out):
                why = "the edit would leave a patch empty (drop it instead)"
            else:
                why = ("moving the edit into its patch conflicts with a "
                       "later patch")
            raise Refused("%s (folding into '%s')" % (why, stopped))
        head = git(wt, "rev-parse", "HEAD").decode().strip()
        count = int(git(wt, "rev-list", "--count", base + "..HEAD"))
        if count != len(order):
            raise Refused("the fold left %d patches instead of %d"
                          % (count, len(order)))
        for path, (_, _, new_blob, _) in plan.items():
            if git(wt, "show", head + ":" + path) != new_blob:
                raise Refused("%s: the folded series does not end with the "
                              "edited file (a later patch already made or "
                              "undid that change)" % path)
        return head
    finally:
        git(tree, "worktree", "remove", "--force", wt, ok=(0, 128))
        shutil.rmtree(wt, ignore_errors=True)


def report(e):
    for line in str(e).split("\n"):
        print("series-fold: " + line, file=sys.stderr)
    print("series-fold: nothing folded; split the edit so each hunk "
          "stays within one patch's lines, or make it in the tree as a "
          "fixup of the patch you mean (docs/hacking.rst)",
          file=sys.stderr)
    sys.exit(1)


def on_signal(signum, frame):
    # let fold()'s finally remove the worktree
    raise Refused("interrupted by signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    tree, base, srcdir, paths = (sys.argv[1], sys.argv[2], sys.argv[3],
                                 sys.argv[4:])
    try:
        order = git(tree, "rev-list", "--reverse",
                    base + "..HEAD").decode().split()
        series = {c: git(tree, "log", "-1", "--format=%s",
                         c).decode().strip() for c in order}
        plan, refused = plan_fold(tree, series, srcdir, paths)
        if refused:
            raise Refused("\n".join("cannot tell which patch owns " + r
                                    for r in refused))
        head = fold(tree, base, order, series, plan)
    except subprocess.CalledProcessError as e:
        err = (e.stderr or b"").decode("utf-8", "replace").strip()
        e = Refused("git %s failed: %s" % (" ".join(e.cmd), err or e))
        report(e)
    except Refused as e:
        report(e)
    for path, (_, _, _, hunks) in plan.items():
        for owner, i1, _, _, _ in hunks:
            print("%s:%d: folded into '%s'" % (path, i1 + 1, series[owner]))
    print("HEAD " + head)


if __name__ == "__main__":
    main()
