#!/usr/bin/env bash
# irdiff.sh — for a refactoring that must not change the generated code: compiles every
# model of models/, tools/bench/models and tests/e2e/models with two gradc binaries
# (--emit ir and --emit llvm, with and without --inference) and lists what differs.
#
#   tools/dev/irdiff.sh OLD_GRADC NEW_GRADC        exit 0 when nothing differs, else 1
#
# Build OLD_GRADC from the commit before the change (git worktree add /tmp/base REV; cmake
# there). `ir` also differs when only its printing changed; `llvm` is the code itself.
set -uo pipefail
[ $# -eq 2 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
old=$1 new=$2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
n=0 d=0
for m in models/*.grad tools/bench/models/*.grad tests/e2e/models/*.grad; do
  for e in ir llvm; do
    for extra in "" --inference; do
      "$old" compile "$m" --emit $e $extra -o "$tmp/old" 2>/dev/null; a=$?
      "$new" compile "$m" --emit $e $extra -o "$tmp/new" 2>/dev/null; b=$?
      n=$((n + 1))
      if [ $a != $b ] || ! cmp -s "$tmp/old" "$tmp/new"; then echo "differs: $m --emit $e $extra"; d=$((d + 1)); fi
    done
  done
done
echo "irdiff: $n compared, $d differ"
[ $d -eq 0 ]
