#!/usr/bin/env bash
# Makes models/data/digits_{train,test}.csv from the UCI digits (../shared/data/digits.csv
# or the path given): a fixed split, every fifth row (rows 5, 10, 15, ...) to the test
# file, the rest to the training file, so accuracy figures are reproducible.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-$here/../shared/data/digits.csv}
out=$here/models/data
echo "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8  $src" | sha256sum -c --quiet
awk -v train="$out/digits_train.csv" -v test="$out/digits_test.csv" \
  'NR % 5 == 0 { print > test; next } { print > train }' "$src"
wc -l "$out"/digits_train.csv "$out"/digits_test.csv
