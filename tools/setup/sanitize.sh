#!/usr/bin/env bash
# sanitize.sh — the test suite under AddressSanitizer + UndefinedBehaviorSanitizer with
# leak detection: installs missing Debian packages (install-deps.sh), configures and
# builds a Debug build in ./build-sanitize with -fsanitize=address,undefined (every
# target: compiler, runtime, gradc, the tests), runs ctest -j2 and exits with its status.
# Works from any directory.
#
# Not run: firmware_digits (its QEMU part runs cross-compiled code, which is not
# sanitized; the host tools it uses are covered by the other tests) and
# torch_model_compare (python; registered only where python3-torch is installed);
# e2e_out_of_memory is not registered in this build (it runs gradc under a 3 GB
# address-space limit, and ASan reserves more than that).
#
# A finding fails the test even where the process that reports it does not decide the
# test's result: a Criterion worker (each test's own process) or a gradc child of an
# end-to-end test (e2e_util.c checks every captured stderr). See tests/CMakeLists.txt.
#
#   tools/setup/sanitize.sh                 everything but the above
#   tools/setup/sanitize.sh -R e2e_train    extra arguments go to ctest
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=build-sanitize
FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

tools/setup/install-deps.sh

echo "== configure and build ($ROOT/$BUILD, $FLAGS)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="$FLAGS"
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)"

echo "== test under ASan + UBSan + LeakSanitizer"
cd "$BUILD"
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
ctest --output-on-failure -j2 -E '^(firmware_digits|torch_model_compare)$' "$@" || status=$?
exit "$status"
