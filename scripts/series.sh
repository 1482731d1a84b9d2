#!/bin/bash
# The patch-series round trip between patches/<project>/ and a git tree of
# <project> (libvirt or qemu) under build/src/.  See docs/hacking.rst.
#
#   apply  <project> [--force]  tree := base + patches/<project>, then each hunk
#                               of an edit made in src/<project>/ is folded into
#                               the patch that introduced the lines it touches
#                               (fixup + autosquash); refuses when a hunk spans
#                               several patches or the base
#   export <project>            patches/<project>/ := format-patch base..HEAD,
#                               and src/<project>/ := the tree's copy of every
#                               file src/<project>/ holds
#   check  <project>            fail if src/<project>/ and patches/<project>/
#                               disagree, or if the series does not apply
#   bisect <project>            build and unit-test every patch of the series on
#                               its own (the tree ids that passed are recorded
#                               in patches/<project>.bisect)
#   walked <project>            fail unless every patch's tree id is recorded
#                               there (bisect was run since the last change)
#
# <project> is libvirt, qemu, or libvirt-recut: the re-cut of the libvirt
# series in progress (docs/recut-plan.rst), on the same base in its own
# worktree and build.  Its patches/libvirt-recut/ holds one format-patch
# directory per sub-series, each with its own cover letter, in the order
# and with the patch counts its file `subseries` gives ("A-prep 9"); the
# tree keeps them on one branch.  Its walk covers every patch, the last one
# and libvirt's syntax-check included, as nothing else builds that tree.
#
# src/<project>/<path> is the file <path> of the patched tree: the series is
# what users apply, src/ is where modules are edited and unit-tested
# standalone; `check` keeps the two identical.

. "$(dirname "$0")/lib.sh"

# The series of project $1 on the current base (scripts/pins.sh): its
# directory under patches/ (and src/, where the base has a mirror).
series_of() {
    case $1 in
    libvirt) echo "$LIBVIRT_SERIES" ;;
    libvirt-recut) echo "$LIBVIRT_RECUT_SERIES" ;;
    qemu) echo "$QEMU_SERIES" ;;
    *) die "unknown project '$1' (libvirt, libvirt-recut or qemu)" ;;
    esac
}

project_tree() {
    case $1 in
    libvirt) echo "$LIBVIRT_TREE" ;;
    libvirt-recut) echo "$LIBVIRT_RECUT_TREE" ;;
    qemu) echo "$QEMU_TREE" ;;
    *) die "unknown project '$1' (libvirt, libvirt-recut or qemu)" ;;
    esac
}

# The repository that holds a project's objects: the re-cut's tree is a
# worktree of libvirt's, and throwaway worktrees are added from the latter.
project_repo() {
    case $1 in
    libvirt-recut) echo "$LIBVIRT_TREE" ;;
    *) project_tree "$1" ;;
    esac
}

project_builddir() {
    case $1 in
    libvirt) echo "$LIBVIRT_BUILDDIR" ;;
    libvirt-recut) echo "$LIBVIRT_RECUT_BUILDDIR" ;;
    *) die "no build of '$1' is walked (libvirt or libvirt-recut)" ;;
    esac
}

# The re-cut's tree is a second worktree of the libvirt repository (its
# objects and openhook-base are shared), created on first use with the
# ignored subprojects/ libvirt's build needs.
ensure_tree() {
    local p=$1 tree
    tree=$(project_tree "$p")
    [ "$p" = libvirt-recut ] || return 0
    [ -d "$LIBVIRT_TREE/.git" ] || die "no libvirt tree: run scripts/fetch-sources.sh libvirt"
    if ! git -C "$tree" rev-parse --git-dir >/dev/null 2>&1; then
        [ ! -e "$tree" ] ||
            die "$tree is not a worktree of $LIBVIRT_TREE (any more): remove it and run again"
        tree_git "$LIBVIRT_TREE" worktree prune
        tree_git "$LIBVIRT_TREE" worktree add -q --detach "$tree" "$BASE_TAG"
    fi
    [ -d "$tree/subprojects/keycodemapdb" ] || cp -a "$LIBVIRT_TREE/subprojects" "$tree/"
}

# Sub-series, in order: "NAME COUNT" lines of patches/<series>/subseries
# ('#' starts a comment), or nothing for a series in one directory.
subseries() {
    local f=$ROOT/patches/$S/subseries
    [ -f "$f" ] || return 0
    sed 's/#.*//' "$f" | awk 'NF { print $1, $2 }'
}

# dir_patches DIR: the patches of one format-patch directory, in order
dir_patches() {
    find "$1" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' \
        ! -name '0000-cover-letter.patch' 2>/dev/null | sort
}

# Fails unless patches/<series>/subseries is well formed and (without
# --syntax) each sub-series' directory holds as many patches as it says.
# Run it before patch_files, whose output is read through a pipe.
check_subseries() {
    local mode=${1:-} name count n last
    [ -f "$ROOT/patches/$S/subseries" ] || return 0
    last=$(subseries | tail -1 | cut -d' ' -f1)
    [ -n "$last" ] || die "patches/$S/subseries names no sub-series"
    [ -z "$(subseries | cut -d' ' -f1 | sort | uniq -d)" ] ||
        die "patches/$S/subseries names a sub-series twice"
    while read -r name count; do
        [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] && [[ $count =~ ^[0-9]+$ ]] ||
            die "patches/$S/subseries: '$name $count' is not 'NAME COUNT'"
        [ "$count" -gt 0 ] || [ "$name" = "$last" ] ||
            die "patches/$S/subseries: $name has no patch (only the last one may be empty)"
        [ "$mode" != --syntax ] || continue
        n=$(dir_patches "$ROOT/patches/$S/$name" | wc -l)
        [ "$n" = "$count" ] ||
            die "patches/$S/$name holds $n patches, patches/$S/subseries says $count"
    done < <(subseries)
}

patch_files() {
    local name count
    if [ ! -f "$ROOT/patches/$S/subseries" ]; then
        dir_patches "$ROOT/patches/$S"
        return
    fi
    while read -r name count; do
        dir_patches "$ROOT/patches/$S/$name"
    done < <(subseries)
}

# A digest of the series and the src/ overlay, to skip work already done.
series_digest() {
    local p=$1
    {
        echo "$BASE_TAG $(tree_git "$(project_tree "$p")" rev-parse "$BASE_TAG")"
        find "$ROOT/patches/$S" -type f -print0 2>/dev/null | sort -z | xargs -0r cat
        if [ -d "$ROOT/src/$S" ]; then
            (cd "$ROOT/src/$S" && find . -type f -print0 | sort -z | xargs -0r sha256sum)
        fi
    } | sha256sum | cut -d' ' -f1
}

stamp_file() { echo "$BUILD/series-$S.stamp"; }
manifest_file() { echo "$BUILD/series-$S.manifest"; }

# Records the content of src/<p>/ as last synchronised with the tree.
write_manifest() {
    local p=$1
    : > "$(manifest_file "$p")"
    [ -d "$ROOT/src/$S" ] || return 0
    (cd "$ROOT/src/$S" && find . -type f -printf '%P\0' | sort -z | xargs -0r sha256sum) \
        > "$(manifest_file "$p")"
}

# Builds base + patches on a throwaway worktree; prints the resulting commit.
# Commits are deterministic (committer date = author date), so the same
# patches on the same base always give the same ids.
build_series() {
    local p=$1 tree wt cover subject
    tree=$(project_repo "$p")
    check_subseries
    wt=$BUILD/worktrees/$S-apply
    rm -rf "$wt"
    tree_git "$tree" worktree prune
    tree_git "$tree" worktree add -q --detach "$wt" "$BASE_TAG"
    local -a patches
    mapfile -t patches < <(patch_files "$p")
    if [ ${#patches[@]} -gt 0 ]; then
        if ! tree_git "$wt" am -q --committer-date-is-author-date --keep-cr "${patches[@]}" >&2; then
            tree_git "$wt" am --show-current-patch=diff >&2 2>/dev/null | head -20 || true
            tree_git "$wt" am --abort >/dev/null 2>&1 || true
            die "patches/$S does not apply to $BASE_TAG (see above)"
        fi
    fi
    tree_git "$wt" rev-parse HEAD
    tree_git "$tree" worktree remove --force "$wt"
}

# Folds the edits made in src/<p>/ into the series: each changed hunk
# becomes a fixup of the commit that introduced the lines it touches
# (scripts/series-fold.py, which works in a throwaway worktree and checks
# that the result ends with src/'s files); then the tree's branch moves to
# the result.  When a hunk cannot be placed, or moving it conflicts, it
# refuses and the tree stays as the series made it.
absorb_src() {
    local p=$1 tree f rel out head
    local -a changed=()
    tree=$(project_tree "$p")
    [ -d "$ROOT/src/$S" ] || return 0
    while IFS= read -r -d '' f; do
        rel=${f#"$ROOT/src/$S/"}
        if [ -f "$tree/$rel" ] && cmp -s "$f" "$tree/$rel"; then
            continue
        fi
        if ! tree_git "$tree" cat-file -e "HEAD:$rel" 2>/dev/null; then
            mkdir -p "$(dirname "$tree/$rel")"
            cp "$f" "$tree/$rel"
            say "$p: src/$S/$rel is not in any patch yet: left uncommitted in the tree;"
            say "    add it to a patch (with its meson.build wiring) and run export"
            continue
        fi
        changed+=("$rel")
    done < <(find "$ROOT/src/$S" -type f -print0 | sort -z)
    [ ${#changed[@]} -gt 0 ] || return 0
    # a fold killed before it could remove its worktree left an entry
    tree_git "$tree" worktree prune
    if ! out=$(GIT_AUTHOR_NAME=libvirt-openhook GIT_AUTHOR_EMAIL=openhook@localhost \
               GIT_COMMITTER_NAME=libvirt-openhook GIT_COMMITTER_EMAIL=openhook@localhost \
               "$ROOT/scripts/series-fold.py" "$tree" "$BASE_TAG" "$ROOT/src/$S" "${changed[@]}"); then
        die "$p: src/$S edits not folded (see above); the tree holds patches/$S as it is"
    fi
    head=$(sed -n 's/^HEAD //p' <<<"$out")
    sed '/^HEAD /d; s|^|'"$p: src/$S/"'|' <<<"$out" >&2
    tree_git "$tree" checkout -q -f -B "$BRANCH" "$head"
    say "$p: run 'scripts/series.sh export $p' to write the result to patches/$S"
}

cmd_apply() {
    local p=$1 force=${2:-} tree stamp digest head
    ensure_tree "$p"
    tree=$(project_tree "$p")
    [ -e "$tree/.git" ] || die "no $p tree: run scripts/fetch-sources.sh $p"
    stamp=$(stamp_file "$p")
    digest=$(series_digest "$p")

    # Never throw away a developer's work in the tree.
    if [ "$force" != --force ]; then
        if [ -n "$(tree_git "$tree" status --porcelain --untracked-files=no)" ]; then
            die "$tree has uncommitted changes: commit and 'export' them, or use --force to discard"
        fi
        if [ -f "$stamp" ] && [ "$(tree_git "$tree" rev-parse HEAD)" != "$(sed -n 2p "$stamp")" ] &&
           [ "$(tree_git "$tree" rev-parse HEAD)" != "$(tree_git "$tree" rev-parse "$BASE_TAG")" ]; then
            die "$tree has commits that are not in patches/$S: 'export' them, or use --force to discard"
        fi
    fi
    if [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$digest" ] &&
       [ "$(tree_git "$tree" rev-parse HEAD)" = "$(sed -n 2p "$stamp")" ] &&
       [ -z "$(tree_git "$tree" status --porcelain --untracked-files=no)" ]; then
        say "$p: tree already holds patches/$S"
        return 0
    fi

    head=$(build_series "$p" | tail -1)
    # checkout -B only rewrites files that differ, so the build stays incremental.
    tree_git "$tree" checkout -q -f -B "$BRANCH" "$head"
    set_cover_description "$p"
    absorb_src "$p"
    write_manifest "$p"
    printf '%s\n%s\n' "$(series_digest "$p")" "$(tree_git "$tree" rev-parse HEAD)" > "$stamp"
    say "$p: $tree = $BASE_TAG + $(tree_git "$tree" rev-list --count "$BASE_TAG..HEAD") patches"
}

# The cover letter's subject and text live in the branch description, which
# format-patch turns back into 0000-cover-letter.patch on export.  A
# sub-series' cover lives in the description of branch <branch>-<name>,
# which export points at the sub-series' last patch.
set_cover_description() {
    local p=$1 tree name count
    tree=$(project_tree "$p")
    if [ -f "$ROOT/patches/$S/subseries" ]; then
        mark_subseries "$tree" > /dev/null
        while read -r name count; do
            cover_to_description "$tree" "$ROOT/patches/$S/$name/0000-cover-letter.patch" \
                "$BRANCH-$name"
        done < <(subseries)
    else
        cover_to_description "$tree" "$ROOT/patches/$S/0000-cover-letter.patch" "$BRANCH"
    fi
}

# cover_to_description TREE COVER BRANCH
cover_to_description() {
    local tree=$1 cover=$2 branch=$3
    [ -f "$cover" ] || return 0
    python3 - "$cover" > "$BUILD/cover-$S.txt" <<'PY'
import sys, email, email.policy
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
subject = msg['Subject']
subject = subject.split('] ', 1)[1] if subject.startswith('[') else subject
body = msg.get_content().split('\n-- \n')[0]
# drop format-patch's shortlog and diffstat: everything from the first
# "Name (N):" shortlog header on
lines = body.rstrip('\n').split('\n')
out = []
for line in lines:
    if line and not line.startswith(' ') and line.rstrip().endswith('):') and '(' in line:
        break
    out.append(line)
print(subject)
print()
print('\n'.join(out).rstrip())
PY
    tree_git "$tree" config "branch.$branch.description" "$(cat "$BUILD/cover-$S.txt")"
}

# format_patches TREE OUT RANGE BRANCH: OUT := the patches of RANGE and a
# cover letter from BRANCH's description (BRANCH points at RANGE's end)
format_patches() {
    local tree=$1 out=$2 range=$3 branch=$4
    mkdir -p "$out"
    rm -f "$out"/[0-9][0-9][0-9][0-9]-*.patch
    if ! tree_git "$tree" config "branch.$branch.description" >/dev/null; then
        tree_git "$tree" config "branch.$branch.description" \
            "open hook: let libvirt open files on QEMU's behalf

Cover letter text: edit it with 'git -C $tree branch --edit-description $branch'."
    fi
    # The cover letter is from the series' last author, not the scripts.
    # core.abbrev: the index lines' hash length must not depend on
    # how many objects the tree happens to hold.  --base: a sub-series
    # after the first lists its prerequisites' patch ids.
    # No user or system configuration (diff.algorithm, format.*): the
    # files must be the same wherever they are exported.
    GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
        tree_git "$tree" -c user.name="$(tree_git "$tree" log -1 --format=%an "$branch")" \
        -c user.email="$(tree_git "$tree" log -1 --format=%ae "$branch")" -c core.abbrev=8 \
        format-patch -q --cover-letter --cover-from-description=subject \
        --zero-commit --no-signature --base="$BASE_TAG" --subject-prefix=PATCH \
        --numbered -o "$out" "$range" >/dev/null
    # format-patch dates the cover letter "now"; use the series' last
    # date so that an unchanged series exports to identical files.
    sed -i "0,/^Date: /s/^Date: .*/Date: $(tree_git "$tree" log -1 --format=%aD "$branch")/" \
        "$out/0000-cover-letter.patch"
}

# mark_subseries TREE: branch <branch>-<name> at each sub-series' last
# patch, by the counts of patches/<series>/subseries (the last one takes
# the patches that follow the others).  Prints "NAME COUNT" of the last.
mark_subseries() {
    local tree=$1 name count to=0 total=0 n last i
    local -a names counts commits
    check_subseries --syntax
    while read -r name count; do
        names+=("$name")
        counts+=("$count")
    done < <(subseries)
    last=$((${#names[@]} - 1))
    for ((i = 0; i < last; i++)); do
        total=$((total + counts[i]))
    done
    n=$(tree_git "$tree" rev-list --count "$BASE_TAG..HEAD")
    if [ "$n" = 0 ] && [ "$total" = 0 ]; then
        echo "${names[last]} 0"
        return 0
    fi
    [ "$n" -gt "$total" ] ||
        die "$n patches, but the sub-series before ${names[last]} take $total: edit patches/$S/subseries"
    counts[last]=$((n - total))
    mapfile -t commits < <(tree_git "$tree" rev-list --reverse "$BASE_TAG..HEAD")
    for ((i = 0; i <= last; i++)); do
        to=$((to + counts[i]))
        tree_git "$tree" branch -f "$BRANCH-${names[i]}" "${commits[to - 1]}"
    done
    echo "${names[last]} ${counts[last]}"
}

# Writes patches/<series>/<name>/ for each sub-series, and the last one's
# count into the count file (its other lines stay as they are).
export_subseries() {
    local tree=$1 name count from=$BASE_TAG lastline
    lastline=$(mark_subseries "$tree")
    [ "${lastline#* }" != 0 ] || die "no patch to export"
    while read -r name count; do
        format_patches "$tree" "$ROOT/patches/$S/$name" "$from..$BRANCH-$name" "$BRANCH-$name"
        from=$(tree_git "$tree" rev-parse "$BRANCH-$name")
    done < <(subseries)
    awk -v name="${lastline% *}" -v count="${lastline#* }" '
        { line = $0; sub(/#.*/, "", line) }
        split(line, f) >= 2 && f[1] == name {
            i = index($0, name) + length(name)
            rest = substr($0, i)
            match(rest, /^[ \t]+[0-9]+/)
            pre = substr(rest, 1, RLENGTH)
            sub(/[0-9]+$/, "", pre)
            $0 = substr($0, 1, i - 1) pre count substr(rest, RLENGTH + 1)
        }
        { print }' "$ROOT/patches/$S/subseries" > "$ROOT/patches/$S/subseries.new"
    mv "$ROOT/patches/$S/subseries.new" "$ROOT/patches/$S/subseries"
}

cmd_export() {
    local p=$1 tree out n
    tree=$(project_tree "$p")
    [ "$(tree_git "$tree" symbolic-ref -q --short HEAD)" = "$BRANCH" ] ||
        die "$tree is not on branch $BRANCH: run 'scripts/series.sh apply $p' first"
    [ -z "$(tree_git "$tree" status --porcelain --untracked-files=no)" ] ||
        die "$tree has uncommitted changes: commit them first"
    n=$(tree_git "$tree" rev-list --count "$BASE_TAG..HEAD")
    out=$ROOT/patches/$S
    if [ -f "$out/subseries" ]; then
        export_subseries "$tree"
    elif [ "$n" -gt 0 ]; then
        format_patches "$tree" "$out" "$BASE_TAG..$BRANCH" "$BRANCH"
    else
        rm -f "$out"/[0-9][0-9][0-9][0-9]-*.patch
    fi

    # Bring the tree's copies of src/ files back, so src/ never lags.  Only
    # files the series holds, and never over an edit made in src/ since the
    # last apply/export (that edit belongs in the tree first: run apply).
    local stale=0
    if [ -d "$ROOT/src/$S" ]; then
        local f rel
        while IFS= read -r -d '' f; do
            rel=${f#"$ROOT/src/$S/"}
            tree_git "$tree" cat-file -e "HEAD:$rel" 2>/dev/null || continue
            tree_git "$tree" show "HEAD:$rel" | cmp -s - "$f" && continue
            if ! grep -qxF "$(sha256sum < "$f" | cut -d' ' -f1)  $rel" "$(manifest_file "$p")" 2>/dev/null; then
                say "$p: src/$S/$rel was edited after the last apply: kept;"
                say "    'scripts/series.sh apply $p' folds it into the series, then export again"
                stale=1
                continue
            fi
            tree_git "$tree" show "HEAD:$rel" > "$f"
            say "$p: updated src/$S/$rel from the tree"
        done < <(find "$ROOT/src/$S" -type f -print0)
    fi
    # Files kept above stay "edited" for the next export, and the next
    # apply must not skip folding them in.
    local digest=stale
    if [ "$stale" = 0 ]; then
        write_manifest "$p"
        digest=$(series_digest "$p")
    fi
    printf '%s\n%s\n' "$digest" "$(tree_git "$tree" rev-parse HEAD)" > "$(stamp_file "$p")"
    say "$p: exported $n patches to patches/$S"
}

# Applies the committed series to a throwaway worktree and compares src/.
cmd_check() {
    local p=$1 tree head wt f rel bad=0
    tree=$(project_repo "$p")
    [ -d "$tree/.git" ] || die "no $p tree: run scripts/fetch-sources.sh $p"
    head=$(build_series "$p" | tail -1)
    if [ -d "$ROOT/src/$S" ]; then
        while IFS= read -r -d '' f; do
            rel=${f#"$ROOT/src/$S/"}
            if ! tree_git "$tree" cat-file -e "$head:$rel" 2>/dev/null; then
                echo "drift: src/$S/$rel is not created by patches/$S"
                bad=1
            elif ! tree_git "$tree" show "$head:$rel" | cmp -s - "$f"; then
                echo "drift: src/$S/$rel differs from what patches/$S creates:"
                tree_git "$tree" show "$head:$rel" | diff -u --label "patches/$S:$rel" - \
                    --label "src/$S/$rel" "$f" | head -20 || true
                bad=1
            fi
        done < <(find "$ROOT/src/$S" -type f -print0 | sort -z)
    fi
    if [ $bad -ne 0 ]; then
        echo "fix: 'scripts/series.sh apply $p' folds src/ into the series, then 'scripts/series.sh export $p'"
        return 1
    fi
    say "$p: patches/$S applies and matches src/$S"
}

# Every commit of the series must build and pass the unit tests on its own.
# Walks the commits in order in the real build tree, so each step is an
# incremental build.  The tree id of each commit that passed goes into
# patches/<series>.bisect (committed with the series: a tree id names the
# patched tree's content alone, so it is the same in every checkout), and a
# commit whose tree id is listed there is skipped.
cmd_bisect() {
    local p=$1 tree ok commits c tid branch_head builddir
    local -a suites=(--no-suite syntax-check)
    builddir=$(project_builddir "$p")
    tree=$(project_tree "$p")
    [ "$p" = libvirt ] || suites=()
    ok=$(bisect_record)
    touch "$ok"
    branch_head=$(tree_git "$tree" rev-parse HEAD)
    mapfile -t commits < <(walked_commits "$p" "$tree")
    local failed=0
    for c in "${commits[@]}"; do
        tid=$(tree_git "$tree" rev-parse "$c^{tree}")
        if grep -q "^$tid " "$ok"; then
            echo "bisect: ok (recorded) $(tree_git "$tree" log -1 --format=%s "$c")"
            continue
        fi
        tree_git "$tree" checkout -q --detach "$c"
        if ninja -C "$builddir" -j"$JOBS" > "$BUILD/bisect-build.log" 2>&1 &&
           meson test -C "$builddir" --no-rebuild "${suites[@]}" \
               --num-processes "$JOBS" > "$BUILD/bisect-test.log" 2>&1; then
            echo "$tid $(tree_git "$tree" log -1 --format=%s "$c")" >> "$ok"
            echo "bisect: ok $(tree_git "$tree" log -1 --format=%s "$c")"
        else
            echo "bisect: FAILED $(tree_git "$tree" log -1 --format=%s "$c") (logs: $BUILD/bisect-*.log)"
            grep -E 'error:|FAILED|^[0-9]+/[0-9]+ .*FAIL' "$BUILD/bisect-build.log" "$BUILD/bisect-test.log" | head -20 || true
            failed=1
            break
        fi
    done
    tree_git "$tree" checkout -q "$BRANCH"
    [ "$(tree_git "$tree" rev-parse HEAD)" = "$branch_head" ] || die "bisect left $tree off its branch"
    prune_record "$p" "$tree" "$ok"
    return $failed
}

bisect_record() {
    echo "$ROOT/patches/$S.bisect"
}

# The commits bisect walks: for libvirt all but the last, which is the tree
# the full test run builds and tests (with syntax-check); for the re-cut,
# which no other step builds, every one of them.
walked_commits() {
    local p=$1 tree=$2
    local -a commits
    mapfile -t commits < <(tree_git "$tree" rev-list --reverse "$BASE_TAG..HEAD")
    [ "$p" != libvirt ] || unset 'commits[${#commits[@]}-1]' 2>/dev/null || true
    [ "${#commits[@]}" = 0 ] || printf '%s\n' "${commits[@]}"
}

# keep the record to the current series, in its order
prune_record() {
    local p=$1 tree=$2 ok=$3 c tid line
    {
        for c in $(walked_commits "$p" "$tree"); do
            tid=$(tree_git "$tree" rev-parse "$c^{tree}")
            line=$(grep -m1 "^$tid " "$ok") && echo "$line"
        done
    } > "$ok.new"
    mv "$ok.new" "$ok"
}

# Fail unless every commit bisect walks is in the record: a patch changed
# since the last walk shows up here, without rebuilding anything.
cmd_walked() {
    local p=$1 tree ok c tid missing=0
    project_builddir "$p" > /dev/null
    tree=$(project_tree "$p")
    tree_git "$tree" rev-parse -q --verify HEAD >/dev/null ||
        die "no $p tree at $tree: run 'scripts/series.sh apply $p'"
    ok=$(bisect_record)
    for c in $(walked_commits "$p" "$tree"); do
        tid=$(tree_git "$tree" rev-parse "$c^{tree}")
        if [ -f "$ok" ] && grep -q "^$tid " "$ok"; then
            echo "walked: ok $(tree_git "$tree" log -1 --format=%s "$c")"
        else
            echo "walked: MISSING $(tree_git "$tree" log -1 --format=%s "$c")"
            missing=1
        fi
    done
    [ "$missing" = 0 ] ||
        echo "run 'scripts/series.sh bisect $p' and commit patches/$S.bisect" >&2
    return $missing
}

main() {
    local cmd=${1:-} p=${2:-}
    [ -n "$cmd" ] && [ -n "$p" ] ||
        die "usage: $0 apply|export|check|bisect|walked libvirt|libvirt-recut|qemu"
    S=$(series_of "$p")
    BRANCH=openhook
    [ "$p" != libvirt-recut ] || BRANCH=openhook-recut
    case $cmd in
    apply) cmd_apply "$p" "${3:-}" ;;
    export) cmd_export "$p" ;;
    check) cmd_check "$p" ;;
    bisect) cmd_bisect "$p" ;;
    walked) cmd_walked "$p" ;;
    *) die "unknown command '$cmd'" ;;
    esac
}

main "$@"
