#!/bin/bash
# scripts/series.sh on a series cut into sub-series (patches/libvirt-recut/):
# export writes one format-patch directory per sub-series, numbered from 1,
# each with its own cover letter, and a later one lists the earlier ones'
# patch ids; apply reads the directories back in order and gives the same
# commits; the count file is checked against the directories.  Runs on a
# copy of scripts/ and a small libvirt-like repository in a temporary
# directory, never on the real trees.
#
# usage: tests/scripts/series-subseries.sh

set -uo pipefail
SRCROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/scripts/tap.sh
. "$SRCROOT/tests/scripts/tap.sh"

# the project: its scripts, an empty patches/libvirt-recut/
ROOT=$T/root
mkdir -p "$ROOT/patches/libvirt-recut"
cp -a "$SRCROOT/scripts" "$ROOT/"
export OPENHOOK_BUILD=$T/build
S() { "$ROOT/scripts/series.sh" "$@"; }
P=$ROOT/patches/libvirt-recut

# the libvirt tree: a repository whose base is tagged openhook-base, with
# the ignored subprojects/ a build needs
LT=$T/build/src/libvirt-11.3
RT=$T/build/src/libvirt-11.3-recut
mkdir -p "$LT/subprojects/keycodemapdb"
echo db > "$LT/subprojects/keycodemapdb/f"
g() { git -C "$1" -c user.name=t -c user.email=t@localhost "${@:2}"; }
g "$LT" init -q
printf '/subprojects/keycodemapdb/\n' > "$LT/.git/info/exclude"
printf 'base\n' > "$LT/a.c"
g "$LT" add a.c && g "$LT" commit -q -m base && g "$LT" tag openhook-base

# patch NAME: a commit in the re-cut tree that adds file NAME
patch() {
    echo "$1" > "$RT/$1"
    g "$RT" add "$1" && g "$RT" commit -q -m "util: add $1" -m "Because $1."
}
count() { find "$1" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | wc -l; }

echo 'A-prep 0' > "$P/subseries"
check "apply on an empty sub-series creates the re-cut's worktree" \
    eval "S apply libvirt-recut >/dev/null 2>&1; test -e '$RT/.git'"
check "... with the ignored subprojects/" test -f "$RT/subprojects/keycodemapdb/f"
check "... on branch openhook-recut" \
    test "$(git -C "$RT" symbolic-ref --short HEAD)" = openhook-recut
check "... which the series tree's branch does not block" \
    test "$(git -C "$LT" worktree list | wc -l)" = 2

patch a1; patch a2
printf '# the re-cut\nA-prep 2\nB-core 0\n' > "$P/subseries"
check "a count file that leaves the last sub-series empty is refused" \
    eval "! S export libvirt-recut"
patch a3; patch a4
g "$RT" config branch.openhook-recut-A-prep.description "$(printf 'util: prepare\n\nA text.')"
check "export" S export libvirt-recut
check "... writes A-prep with its 2 patches" test "$(count "$P/A-prep")" = 2
check "... and B-core with the other 2" test "$(count "$P/B-core")" = 2
check "... numbers each from 1" \
    test -f "$P/B-core/0001-util-add-a3.patch" -a -f "$P/B-core/0002-util-add-a4.patch"
check "... gives each its cover letter" \
    test -f "$P/A-prep/0000-cover-letter.patch" -a -f "$P/B-core/0000-cover-letter.patch"
check "... with its sub-series' subject and text" \
    eval "grep -q 'Subject: \[PATCH 0/2\] util: prepare' '$P/A-prep/0000-cover-letter.patch' &&
          grep -q '^A text.' '$P/A-prep/0000-cover-letter.patch'"
check "... the later one on the base, listing its prerequisites" \
    eval "grep -q '^base-commit: $(git -C "$LT" rev-parse openhook-base)' '$P/B-core/0000-cover-letter.patch' &&
          test \"\$(grep -c '^prerequisite-patch-id: ' '$P/B-core/0000-cover-letter.patch')\" = 2"
check "... records the last one's count and keeps comments" \
    test "$(cat "$P/subseries")" = "$(printf '# the re-cut\nA-prep 2\nB-core 2')"
check "the exported series applies and matches" S check libvirt-recut

cp -a "$P" "$T/first"
head=$(git -C "$RT" rev-parse "HEAD^{tree}")
subjects=$(git -C "$RT" log --format=%s openhook-base..HEAD)
git -C "$RT" checkout -q --detach openhook-base
git -C "$RT" branch -q -D openhook-recut
git -C "$RT" config --unset branch.openhook-recut-A-prep.description
rm -f "$T/build/series-libvirt-recut.stamp"
check "apply reads the sub-series back in order" S apply libvirt-recut
check "... to the same patches" \
    eval "test \"\$(git -C '$RT' rev-parse HEAD^{tree})\" = '$head' &&
          test \"\$(git -C '$RT' log --format=%s openhook-base..HEAD)\" = '$subjects'"
check "... and the cover letters into the descriptions" \
    eval "git -C '$RT' config branch.openhook-recut-A-prep.description | grep -q '^A text.'"
check "... of the sub-series' branches, at their last patches" \
    eval "test \"\$(git -C '$RT' log -1 --format=%s openhook-recut-A-prep)\" = 'util: add a2' &&
          test \"\$(git -C '$RT' rev-parse openhook-recut-B-core)\" = \"\$(git -C '$RT' rev-parse HEAD)\""
check "export then gives the same files, byte for byte" \
    eval "S export libvirt-recut && diff -r '$T/first' '$P'"

patch b3
check "a new patch goes to the last sub-series" \
    eval "S export libvirt-recut && test \"\$(count '$P/B-core')\" = 3 &&
          grep -qx 'B-core 3' '$P/subseries'"

mv "$P/subseries" "$T/subseries.good"
printf 'A-prep 3\nB-core 3\n' > "$P/subseries"
check "a count file that disagrees with the directories is refused" \
    eval "! S check libvirt-recut 2>'$T/err' && grep -q 'A-prep holds 2 patches' '$T/err'"
printf 'A-prep 0\nB-core 5\n' > "$P/subseries"
check "a sub-series without patches before the last is refused" \
    eval "! S export libvirt-recut 2>'$T/err' && grep -q 'A-prep has no patch' '$T/err'"
printf 'A-prep 2\nB-core x\n' > "$P/subseries"
check "a count that is not a number is refused" \
    eval "! S check libvirt-recut 2>'$T/err' && grep -q 'is not' '$T/err'"
printf 'A-prep 2\nA-prep 3\n' > "$P/subseries"
check "a sub-series named twice is refused" \
    eval "! S check libvirt-recut 2>'$T/err' && grep -q 'twice' '$T/err'"
check "... and nothing was written" diff -r "$T/first/A-prep" "$P/A-prep"
mv "$T/subseries.good" "$P/subseries"

# comments and blank lines stay where they are; the last count is the
# only thing export rewrites, even with digits in a name
printf '# head\nA-prep 2   # two\n\n# B2 next\nB2-core 1 # one\n' > "$P/subseries"
mv "$P/B-core" "$P/B2-core"
check "export keeps the count file's comments and blank lines" \
    eval "S export libvirt-recut &&
          test \"\$(cat '$P/subseries')\" = \"\$(printf '# head\nA-prep 2   # two\n\n# B2 next\nB2-core 3 # one')\""

rm -rf "$RT"
check "walked fails without the re-cut's tree" \
    eval "! S walked libvirt-recut 2>'$T/err' && grep -q 'no libvirt-recut tree' '$T/err'"
mkdir -p "$RT"
check "apply refuses a directory that is not its worktree" \
    eval "! S apply libvirt-recut 2>'$T/err' && grep -q 'not a worktree' '$T/err'"

check "the series tree is untouched" \
    test "$(git -C "$LT" rev-parse HEAD)" = "$(git -C "$LT" rev-parse openhook-base)"

finish
