#!/bin/bash
# scripts/series-fold.py on a small series: each hunk of an edit goes to the
# patch that wrote the lines it touches, not to the last patch that touched
# the file; a hunk that spans two patches, or touches or sits inside the
# base's own lines, is refused and the tree is left as it was.
#
# usage: tests/scripts/series-fold.sh

set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FOLD=$ROOT/scripts/series-fold.py
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PASSED=0 FAILED=0

ok() { PASSED=$((PASSED + 1)); echo "ok $((PASSED + FAILED)) - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok $((PASSED + FAILED)) - $*"; }
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else not_ok "$d"; fi; }

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@localhost
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@localhost
g() { git -C "$T/tree" "$@"; }

# base: a.c = L1..L40; p1 adds F1..F10 after L5 and new.c; p2 adds B1..B3
# after L30 and rewrites F8 (far enough from the edits below that the
# autosquash merges them without a conflict)
mkdir -p "$T/tree"
g init -q
seq -f 'L%g' 40 > "$T/tree/a.c"
g add a.c && g commit -q -m base && g tag base
seq -f 'F%g' 10 | sed -i '5r /dev/stdin' "$T/tree/a.c"
printf 'N1\nN2\nN3\nN4\n' > "$T/tree/new.c"
g add a.c new.c && g commit -q -m 'p1: add foo'
sed -i 's/^L30$/L30\nB1\nB2\nB3/; s/^F8$/F8 (p2)/' "$T/tree/a.c"
g add a.c && g commit -q -m 'p2: add bar'
HEAD0=$(g rev-parse HEAD)

# fold SED_A [SED_NEW]: the series' files edited by sed, as src/ holds
# them, then folded; prints the script's output, returns its status
fold() {
    g reset -q --hard "$HEAD0"
    rm -rf "$T/src" && mkdir "$T/src"
    cp "$T/tree/a.c" "$T/tree/new.c" "$T/src/"
    sed -i "$1" "$T/src/a.c"
    [ -z "${2:-}" ] || sed -i "$2" "$T/src/new.c"
    local files=()
    cmp -s "$T/src/a.c" "$T/tree/a.c" || files+=(a.c)
    cmp -s "$T/src/new.c" "$T/tree/new.c" || files+=(new.c)
    "$FOLD" "$T/tree" base "$T/src" "${files[@]}" > "$T/out" 2>&1
}
squash() { GIT_SEQUENCE_EDITOR=: g -c rebase.autoSquash=true rebase -q -i base; }
# at REV: does FILE hold a line LINE?
has() { g show "$1:$2" | grep -qxF "$3"; }
unchanged() { [ "$(g rev-parse HEAD)" = "$HEAD0" ] && [ -z "$(g status --porcelain)" ]; }

# 1: F2 is p1's, B2 is p2's: p2 touched a.c last, but F2's edit is p1's
fold 's/^F2$/F2 edited/; s/^B2$/B2 edited/'
check "an edit of p1's lines and one of p2's: two fixups" \
    test "$(g log --format=%s base..HEAD | grep -c '^fixup! ')" = 2
squash
check "... p1's edit lands in p1" has HEAD~1 a.c "F2 edited"
check "... and not p2's in p1" eval '! has HEAD~1 a.c "B2 edited"'
check "... p2's edit lands in p2" has HEAD a.c "B2 edited"
check "... the series ends with src/'s file" cmp -s <(g show HEAD:a.c) "$T/src/a.c"
check "... still two patches" test "$(g rev-list --count base..HEAD)" = 2

# 2: inserted between two of p1's lines
fold 's/^F4$/F4\nF4b/'
check "an insertion between p1's lines is folded" test $? = 0
squash
check "... into p1" has HEAD~1 a.c F4b

# 3: a new file's last line
fold 's/^$//' '$a N5'
check "an insertion at the end of p1's new file is folded" test $? = 0
squash
check "... into p1" has HEAD~1 new.c N5

# refused DESCRIPTION: the fold just run was refused and left the tree alone
refused() {
    local rc=$?
    check "$1 is refused" test "$rc" = 1
    check "... and the tree is left as it was" unchanged
}

# 4: inside the base's own lines
fold 's/^L2$/L2\nX/'
refused "an insertion between two lines of the base"
check "... saying why" grep -q "a.c:3.*come from the base" "$T/out"

# 5: a base line changed
fold 's/^L1$/L1 edited/'
refused "an edit of a base line"

# 6: one hunk over p2's F8 and p1's F9
fold '/^F8 (p2)$/{N;s/.*/F89/}'
refused "a hunk over p1's and p2's lines"
check "... naming both" grep -q "2 patches ('p1: add foo', 'p2: add bar')" "$T/out"

# 7: between p2's F8 and p1's F9
fold 's/^F8 (p2)$/&\nX/'
refused "an insertion between p2's and p1's lines"

# 8: one refused hunk refuses the whole edit, the good one included
fold 's/^F2$/F2 edited/; s/^L1$/L1 edited/'
refused "a good hunk beside a bad one"
check "... naming the bad one" grep -q "a.c:1 .*: the lines it changes come from the base" "$T/out"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
