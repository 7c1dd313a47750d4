#!/usr/bin/env bash
# test.sh — the whole test suite: installs missing Debian packages (install-deps.sh),
# configures and builds in ./build (warnings are errors, see CMakeLists.txt), runs
# every test with ctest and exits with ctest's status. Works from any directory.
#
#   tools/setup/test.sh                 everything
#   tools/setup/test.sh -R e2e_run      extra arguments go to ctest
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=build

tools/setup/install-deps.sh

echo "== configure and build ($ROOT/$BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)"

echo "== test"
cd "$BUILD"
set +e
ctest --output-on-failure -j2 "$@" 2>&1 | tee ctest.log
status=${PIPESTATUS[0]}
set -e

# The whole run (no ctest arguments) also smoke-fuzzes every parser of outside input
# for 60 s each (tools/fuzz/README.md; replays tools/fuzz/regressions first).
# GRADC_SKIP_FUZZ=1 skips the fuzzing on purpose, and says so.
cd "$ROOT"
if [ "$#" -eq 0 ]; then
  if [ "${GRADC_SKIP_FUZZ:-0}" = 1 ]; then
    echo "== fuzz smoke: skipped (GRADC_SKIP_FUZZ=1)"
  else
    echo "== fuzz smoke (tools/fuzz/run.sh, 60 s per target)"
    tools/fuzz/run.sh --seconds 60 || status=$?
  fi
  # ... and runs the whole suite again under AddressSanitizer, UndefinedBehaviorSanitizer
  # and LeakSanitizer (./build-sanitize; every report fails its test).
  echo "== sanitizers (tools/setup/sanitize.sh)"
  tools/setup/sanitize.sh || status=$?
fi
echo "== summary"
grep -E "tests passed|tests failed" "$BUILD/ctest.log" | tail -1 # ctest's closing line, last
exit "$status"
