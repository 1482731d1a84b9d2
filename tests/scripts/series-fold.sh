#!/bin/bash
# scripts/series-fold.py on small series: each hunk of an edit goes to the
# patch that wrote the lines it touches, not to the last patch that touched
# the file; whatever it cannot place with certainty (a hunk over two
# patches or the base's own lines, an insertion that could sit in either of
# two patches, a fold that conflicts, empties a patch or would not end with
# the edited file) is refused.  The tree is never touched: the script works
# in a throwaway worktree and prints the folded series' HEAD.
#
# usage: tests/scripts/series-fold.sh

set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FOLD=$ROOT/scripts/series-fold.py
# shellcheck source=tests/scripts/tap.sh
. "$ROOT/tests/scripts/tap.sh"

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@localhost
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@localhost
R=
g() { git -C "$R" "$@"; }

# repo NAME: a new tree $T/NAME whose a.c (FILE...) start as the base
repo() {
    R=$T/$1
    mkdir -p "$R"
    g init -q
}
# commit MSG: everything in the tree as the next patch ("base" tags it)
commit() {
    g add -A && g commit -q -m "$1"
    [ "$1" != base ] || g tag base
    HEAD0=$(g rev-parse HEAD)
}

# fold FILE SED: src/ holds the series' FILE edited by SED; fold it.
# Prints the script's output; on success the folded series is checked
# out (detached) after making sure the script left the tree alone.
fold() {
    local file=$1 expr=$2 rc head
    g checkout -q --detach "$HEAD0"
    rm -rf "$T/src" && mkdir "$T/src"
    cp "$R/$file" "$T/src/$file"
    sed -i "$expr" "$T/src/$file"
    "$FOLD" "$R" base "$T/src" "$file" > "$T/out" 2>&1
    rc=$?
    UNTOUCHED=0
    [ "$(g rev-parse HEAD)" = "$HEAD0" ] && [ -z "$(g status --porcelain)" ] &&
        [ "$(g worktree list | wc -l)" = 1 ] && UNTOUCHED=1
    head=$(sed -n 's/^HEAD //p' "$T/out")
    [ -z "$head" ] || g checkout -q --detach "$head"
    return $rc
}
untouched() { [ "$UNTOUCHED" = 1 ]; }
# at REV: does FILE hold a line LINE?
has() { g show "$1:$2" | grep -qxF "$3"; }
patches() { g rev-list --count base..HEAD; }
ends_with_src() { cmp -s <(g show "HEAD:$1") "$T/src/$1"; }

# refused DESCRIPTION: the fold just run was refused, saying so (not a
# traceback), and left the tree alone
refused() {
    local rc=$?
    check "$1 is refused" eval "[ $rc = 1 ] && grep -q 'nothing folded' '$T/out' && ! grep -q Traceback '$T/out'"
    check "... and the tree is left as it was" untouched
}
# folded DESCRIPTION FILE: the fold just run succeeded
folded() {
    local rc=$?
    check "$1 is folded" test "$rc" = 0
    check "... without touching the tree" untouched
    check "... the series ends with src/'s file" ends_with_src "$2"
}

# a.c = L1..L40 (base); p1 adds F1..F10 after L5 and new.c; p2 adds
# B1..B3 after L30 and rewrites F8
repo main
seq -f 'L%g' 40 > "$R/a.c"
commit base
seq -f 'F%g' 10 | sed -i '5r /dev/stdin' "$R/a.c"
printf 'N1\nN2\nN3\nN4\n' > "$R/new.c"
commit 'p1: add foo'
sed -i 's/^L30$/L30\nB1\nB2\nB3/; s/^F8$/F8 (p2)/' "$R/a.c"
commit 'p2: add bar'

# p2 touched a.c last, but F2 is p1's
fold a.c 's/^F2$/F2 edited/; s/^B2$/B2 edited/'
folded "an edit of p1's lines and one of p2's" a.c
check "... p1's edit lands in p1" has HEAD~1 a.c "F2 edited"
check "... and not p2's in p1" eval '! has HEAD~1 a.c "B2 edited"'
check "... p2's edit lands in p2" has HEAD a.c "B2 edited"
check "... still two patches, subjects kept" \
    test "$(g log --format=%s base..HEAD | tr '\n' ,)" = "p2: add bar,p1: add foo,"

fold a.c 's/^F4$/F4\nF4b/'
folded "an insertion between p1's lines" a.c
check "... into p1" has HEAD~1 a.c F4b

fold new.c '$a N5'
folded "an insertion at the end of p1's new file" new.c
check "... into p1" has HEAD~1 new.c N5

fold a.c 's/^L2$/L2\nX/'
refused "an insertion between two lines of the base"
check "... saying why" grep -q "a.c:3.*come from the base" "$T/out"

fold a.c 's/^L1$/L1 edited/'
refused "an edit of a base line"

fold a.c '/^F8 (p2)$/{N;s/.*/F89/}'
refused "a hunk over p2's F8 and p1's F9"
check "... naming both" grep -q "2 patches ('p1: add foo', 'p2: add bar')" "$T/out"

fold a.c 's/^F8 (p2)$/&\nX/'
refused "an insertion between p2's and p1's lines"

fold a.c 's/^F2$/F2 edited/; s/^L1$/L1 edited/'
refused "a good hunk beside a bad one"
check "... naming the bad one" grep -q "a.c:1 .*: the lines it changes come from the base" "$T/out"

# the edit is p1's, but p2 changed the line next to it: moving the fixup
# to p1 conflicts
fold a.c 's/^F7$/F7 edited/'
refused "an edit next to a later patch's change (the fixup conflicts)"
check "... saying so" grep -q "conflicts with a later patch" "$T/out"

# an edit that takes back all of p2's change to p1's code would empty
# nothing, but one that undoes a whole patch would
repo empty
printf 'a\nb\nc\n' > "$R/f.c"; commit base
printf 'a\nb\nc\nd\n' > "$R/f.c"; commit 'p1: add d'
printf 'a\nb\nc\nd (p2)\n' > "$R/f.c"; commit 'p2: rework d'
fold f.c 's/^d (p2)$/d/'
refused "an edit that undoes a whole patch"
check "... saying it would empty it" grep -q "leave a patch empty" "$T/out"

# a line p2 deleted, added back: blame cannot see the deletion, and the
# fold into p1 would change nothing
repo readd
printf 'a\nb\nc\n' > "$R/f.c"; commit base
printf 'a\nb\nF1\nX\nF2\nc\n' > "$R/f.c"; commit 'p1: add F'
printf 'a\nb\nF1\nF2\nc\n' > "$R/f.c"; commit 'p2: drop X'
fold f.c 's/^F1$/F1\nX/'
refused "adding back a line a later patch removed"
check "... saying the result would not be the edited file" grep -q "does not end with the edited file" "$T/out"

# lines as git counts them: a form feed in a line is not a line break
# (p2 adds its lines away from the edit, so the fixup moves cleanly)
repo formfeed
printf 'a\nb\n' > "$R/f.c"; commit base
printf 'a\nF1 \f x\nF2\nF3\nF4\nF5\nF6\nF7\nF8\nb\n' > "$R/f.c"; commit 'p1: add F'
printf 'G1\nG2\na\nF1 \f x\nF2\nF3\nF4\nF5\nF6\nF7\nF8\nb\n' > "$R/f.c"; commit 'p2: add G'
fold f.c 's/^F5$/F5 edited/'
folded "an edit after a line with a form feed" f.c
check "... lands in the patch that wrote the line" has HEAD~1 f.c "F5 edited"

repo latin1
printf 'a\nb\n' > "$R/f.c"; commit base
printf 'a\nF1 \xfc\nF2\nF3\nF4\nF5\nF6\nF7\nb\n' > "$R/f.c"; commit 'p1: add F'
printf 'G1\nG2\na\nF1 \xfc\nF2\nF3\nF4\nF5\nF6\nF7\nb\n' > "$R/f.c"; commit 'p2: add G'
fold f.c 's/^F5$/F5 edited/'
folded "an edit of a file that is not UTF-8" f.c
check "... lands in the patch that wrote the line" has HEAD~1 f.c "F5 edited"

# functions f (p1) and g (p2, with b), each after a blank line
repo slide
printf 'int a;\n' > "$R/f.c"; commit base
printf 'int a;\n\nint f(void)\n{\n    return 1;\n}\n' > "$R/f.c"; commit 'p1: add f'
printf 'int a;\nint b;\n\nint f(void)\n{\n    return 1;\n}\n\nint g(void)\n{\n    return 2;\n}\n' > "$R/f.c"
commit 'p2: add b and g'
fold f.c '$a\\nint h(void)\n{\n    return 3;\n}'
folded "a function added after the last one" f.c
check "... lands in the patch that wrote the last one" \
    eval "grep -q \"folded into 'p2: add b and g'\" '$T/out' && ! has HEAD~1 f.c 'int h(void)'"
# g's blank line and the three closing lines could be cut in several places
fold f.c '8,$d'
check "removing p2's function with its blank line is folded" \
    eval "grep -q \"folded into 'p2: add b and g'\" '$T/out'"
check "... and leaves p1's" test "$(g show HEAD~1:f.c | wc -l)" = 6
# a function between f (p1) and g (p2): either patch's, so neither
fold f.c 's/^int g(void)$/int h(void)\n{\n    return 3;\n}\n\n&/'
refused "a function inserted between p1's and p2's"

# a removal git places on the base's blank line: only sliding it onto
# p1's own blank line gives it an owner
repo slide-base
printf 'L\n\n' > "$R/f.c"; commit base
printf 'L\n\n\nF\n' > "$R/f.c"; commit 'p1: add F'
fold f.c '2d'
folded "removing one of two blank lines, one of them p1's" f.c
check "... into p1" grep -q "folded into 'p1: add F'" "$T/out"

# the same removal could take p1's blank line or p2's
repo slide-two
printf 'L\n' > "$R/f.c"; commit base
printf 'L\nF\n\n' > "$R/f.c"; commit 'p1: add F'
printf 'L\nF\n\n\nG\n' > "$R/f.c"; commit 'p2: add G'
fold f.c '3d'
refused "removing a blank line that could be p1's or p2's"

# p2 moved p1's function (long enough for blame -M to see the move): an
# edit of it is p1's code in p2's place
repo moved
F='int first_function(void)\n{\n    int value = compute_the_first_value();\n    return value + 1;\n}\n'
G='int second_function(void)\n{\n    return compute_the_second_value();\n}\n'
printf 'int a;\n' > "$R/f.c"; commit base
printf "int a;\n\n$F\n$G" > "$R/f.c"; commit 'p1: add the functions'
printf "int a;\n\n$G\n$F" > "$R/f.c"; commit 'p2: move the first after the second'
fold f.c 's/value + 1;/value + 42;/'
refused "an edit of lines a later patch moved"
check "... naming both patches" grep -q "2 patches ('p1: add the functions', 'p2: move the first after the second')" "$T/out"

# the user's configuration changes nothing: hunks merged across a line
# (diff.interHunkContext) would hide an insertion between two patches,
# and rebase.updateRefs would move other branches
repo config
printf 'a\n' > "$R/f.c"; commit base
printf 'a\nF1\nF2\nF3\n' > "$R/f.c"; commit 'p1: add F'
g branch keep-p1
printf 'a\nF1\nF2\nF3\nG1\nG2\nG3\n' > "$R/f.c"; commit 'p2: add G'
mkdir -p "$T/home"
printf '[diff]\n\tinterHunkContext = 5\n[rebase]\n\tupdateRefs = true\n' > "$T/home/.gitconfig"
HOME=$T/home fold f.c 's/^F3$/F3\nY/; s/^G2$/G2x/'
refused "with the user's diff.interHunkContext, an insertion between p1 and p2"
HOME=$T/home fold f.c 's/^F2$/F2x/'
folded "with the user's rebase.updateRefs, an edit of p1's" f.c
check "... moves no other branch" test "$(g rev-parse keep-p1)" = "$(g rev-parse "$HEAD0~1")"

finish
