#!/usr/bin/env bash
# tools/fuzz/run.sh — build the libFuzzer targets, make their seeds, replay the saved
# regression inputs, then fuzz each target for a while. See tools/fuzz/README.md.
#
#   tools/fuzz/run.sh [--seconds N] [--jobs J] [--build-only] [TARGET...]
#
# TARGETs: model safetensors descriptor csv set onnx random (default: all). Each runs N
# seconds (default 60), in J parallel processes when J > 1 (libFuzzer -fork=J). `random`
# is not libFuzzer: the random-model differential tester (random_models.c) checks
# models from a random first seed for N seconds, under the same sanitizers. Exit status 0
# when nothing was found; 1 when a regression input still fails or fuzzing found a
# crash, leak, timeout or out-of-memory (the reproducer's path is printed); 2 on a
# usage or build error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZ="$ROOT/tools/fuzz"
BUILD="${GRADC_FUZZ_BUILD:-$ROOT/build-fuzz}"
ALL=(model safetensors descriptor csv set onnx random)
SECS=60
JOBS=1
BUILD_ONLY=0
TARGETS=()

die() { echo "run.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || die "--seconds needs a value"; SECS=$2; shift 2 ;;
    --seconds=*) SECS=${1#*=}; shift ;;
    --jobs) [ $# -ge 2 ] || die "--jobs needs a value"; JOBS=$2; shift 2 ;;
    --jobs=*) JOBS=${1#*=}; shift ;;
    --build-only) BUILD_ONLY=1; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 1 ]] || die "--seconds: expected a positive integer, got '$SECS'"
[[ "$JOBS" =~ ^[0-9]+$ && "$JOBS" -ge 1 ]] || die "--jobs: expected a positive integer, got '$JOBS'"
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL[*]} " == *" $t "* ]] || die "unknown target '$t' (known: ${ALL[*]})"
done

# ---- toolchain ----
CC=${FUZZ_CC:-clang-16}
FUZZER_RT=/usr/lib/llvm-16/lib/clang/16/lib/linux/libclang_rt.fuzzer-x86_64.a
ASAN_RT=/usr/lib/llvm-16/lib/clang/16/lib/linux/libclang_rt.asan-x86_64.a
if ! command -v "$CC" >/dev/null || [ ! -f "$FUZZER_RT" ] || [ ! -f "$ASAN_RT" ]; then
  echo "run.sh: installing clang-16 libclang-rt-16-dev libfuzzer-16-dev" >&2
  [ "$(id -u)" = 0 ] || die "clang-16, libclang-rt-16-dev and libfuzzer-16-dev are missing and I am not root: install them (apt-get install -y clang-16 libclang-rt-16-dev libfuzzer-16-dev)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y clang-16 libclang-rt-16-dev libfuzzer-16-dev >&2 ||
    { apt-get update >&2 && apt-get install -y clang-16 libclang-rt-16-dev libfuzzer-16-dev >&2; } ||
    die "apt-get could not install clang-16 libclang-rt-16-dev libfuzzer-16-dev"
  command -v "$CC" >/dev/null && [ -f "$FUZZER_RT" ] || die "installed, but $CC or $FUZZER_RT is still missing"
fi

# ---- build: the project's libraries under the sanitizers, then the targets ----
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
LIB_FLAGS="-fsanitize=fuzzer-no-link $SAN"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  echo "run.sh: configuring $BUILD" >&2
  CC="$CC" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="$LIB_FLAGS" >"$BUILD.configure.log" 2>&1 ||
    { cat "$BUILD.configure.log" >&2; die "cmake configure failed"; }
  mv "$BUILD.configure.log" "$BUILD/configure.log"
fi
echo "run.sh: building the sanitized libraries in $BUILD" >&2
cmake --build "$BUILD" -j"$(nproc)" --target gradc_tape gradc_compiler gradcrt gradcrt_core gradc_onnx >"$BUILD/build.log" 2>&1 ||
  { tail -40 "$BUILD/build.log" >&2; die "building the libraries failed (log: $BUILD/build.log)"; }

# The importer and the tape first: they use the compiler (the driver's options.c, in fuzz_set,
# uses the tape); the importer's protobuf-c code and the safetensors writer after it.
LIBS=("$BUILD/onnx/libgradc_onnx.a" "$BUILD/onnx/libgradc_onnx_proto.a" "$BUILD/tape/libgradc_tape.a"
  "$BUILD/compiler/libgradc_compiler.a" "$BUILD/formats/libgradc_formats.a" "$BUILD/runtime/libgradcrt.a"
  "$BUILD/runtime/libgradcrt_core.a")
LDLIBS="-L/usr/lib/llvm-16/lib -Wl,-rpath,/usr/lib/llvm-16/lib -lLLVM-16 $(pkg-config --libs libcjson libffi libprotobuf-c) -ldl -lm"
INC="-I$ROOT/include -I$ROOT/runtime -I$ROOT/compiler -I$ROOT/tools/gradc -I$FUZZ $(pkg-config --cflags libcjson libffi)"
CFLAGS="-std=c11 -O1 -Wall -Wextra -Werror $SAN"
BIN="$BUILD/bin"
mkdir -p "$BIN"

# build OUT "EXTRA CFLAGS" SOURCES...: relinks when OUT is older than a source, a header
# of tools/fuzz, a library or this script.
build() {
  local out=$1 extra=$2; shift 2
  local stale=0 f
  [ -f "$out" ] || stale=1
  for f in "$@" "$FUZZ"/*.h "${LIBS[@]}" "$0"; do [ "$stale" = 1 ] || [ "$f" -nt "$out" ] && stale=1; done
  if [ "$stale" = 1 ]; then
    echo "run.sh: linking $(basename "$out")" >&2
    # shellcheck disable=SC2086
    "$CC" $CFLAGS $extra $INC -o "$out" "$@" "${LIBS[@]}" $LDLIBS || die "building $(basename "$out") failed"
  fi
}
declare -A SRCS=(
  [model]="$FUZZ/fuzz_model.c"
  [safetensors]="$FUZZ/fuzz_safetensors.c"
  [descriptor]="$FUZZ/fuzz_descriptor.c"
  [csv]="$FUZZ/fuzz_csv.c $ROOT/tools/gradc/data.c"
  [set]="$FUZZ/fuzz_set.c $ROOT/tools/gradc/options.c $ROOT/tools/gradc/data.c $ROOT/tools/gradc/onnx_args.c"
  [onnx]="$FUZZ/fuzz_onnx.c"
)
for t in "${ALL[@]}"; do
  [ "$t" != random ] || continue
  # shellcheck disable=SC2086
  build "$BIN/fuzz_$t" "-fsanitize=fuzzer" ${SRCS[$t]}
done
build "$BIN/random_models" "-I$ROOT/tests" "$FUZZ/random_models.c" "$ROOT/tests/support/randmodel.c" "$ROOT/tests/support/randmodel_check.c"
build "$BIN/mkseeds" "" "$FUZZ/mkseeds.c"

# The targets' private temporary directories: a crashing process cannot remove its own.
# On /dev/shm when there is one: the file-reading targets write every input to a file.
# A fresh one per run (two runs at once must not share it); removed at exit.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then TMPDIR=$(mktemp -d /dev/shm/gradc-fuzz-tmp.XXXXXX); else
  mkdir -p "$BUILD" && TMPDIR=$(mktemp -d "$BUILD/tmp.XXXXXX"); fi
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# ---- seeds: generated into $BUILD/seeds/<target>; small hand-written ones live in
# tools/fuzz/seeds/<target> ----
SEEDS="$BUILD/seeds"
newest_input=$(ls -t "$BIN/mkseeds" "$0" "$ROOT"/models/*.grad "$ROOT"/models/data/*.csv \
  "$ROOT"/tests/e2e/bad/*.grad "$ROOT"/tests/e2e/models/*.grad "$ROOT"/tests/e2e/onnx_bad/* 2>/dev/null | sed -n 1p) # sed reads it all: head would SIGPIPE ls
if [ ! -f "$SEEDS/.stamp" ] || [ "$newest_input" -nt "$SEEDS/.stamp" ]; then
  echo "run.sh: generating seeds in $SEEDS" >&2
  rm -rf "$SEEDS"
  mkdir -p "$SEEDS"/{model,safetensors,descriptor,csv,set,onnx}
  # model: every model in the tree, good and bad.
  for f in "$ROOT"/models/*.grad "$ROOT"/tests/e2e/models/*.grad; do cp "$f" "$SEEDS/model/"; done
  for f in "$ROOT"/tests/e2e/bad/*.grad; do cp "$f" "$SEEDS/model/bad_$(basename "$f")"; done
  # onnx: the bad models of the importer's tests (tools/fuzz/seeds/onnx/ holds good ones).
  for f in "$ROOT"/tests/e2e/onnx_bad/*.onnx; do cp "$f" "$SEEDS/onnx/bad_$(basename "$f")"; done
  # descriptor + safetensors: compiled from the models (normal and --inference).
  ASAN_OPTIONS=detect_leaks=0 "$BIN/mkseeds" "$SEEDS" "$ROOT"/models/*.grad "$ROOT"/tests/e2e/models/*.grad \
    >"$SEEDS/mkseeds.log" 2>&1 || { cat "$SEEDS/mkseeds.log" >&2; die "mkseeds failed"; }
  for f in "$SEEDS"/safetensors/*.safetensors; do # truncations: framing, header, data
    n=$(stat -c %s "$f"); b="$SEEDS/safetensors/$(basename "$f" .safetensors)"
    for k in 7 8 16 $((n / 2)) $((n - 4)); do [ "$k" -lt "$n" ] && head -c "$k" "$f" >"$b.trunc$k"; done
  done
  for f in "$SEEDS"/descriptor/*.json; do head -c $(($(stat -c %s "$f") / 2)) "$f" >"${f%.json}.trunc"; done
  # csv: selector byte (0 digits, 1 small, 2 mixed; see fuzz_csv.c), then lines.
  { printf '\0'; head -n 4 "$ROOT/models/data/digits_train.csv"; } >"$SEEDS/csv/digits"
  { printf '\0'; printf '\xef\xbb\xbf'; head -n 3 "$ROOT/models/data/digits_test.csv" | tr -d '\n' | sed 's/,/, /g'; } >"$SEEDS/csv/digits_bom"
  { printf '\0'; head -n 2 "$ROOT/models/data/digits_test.csv" | sed 's/[0-9]*$/12/'; } >"$SEEDS/csv/digits_badlabel"
  printf '\1x0,x1,x2,label\n0.5,-1e3,2,1\n\n  1 , 2 ,3, 0\r\n' >"$SEEDS/csv/small_header"
  printf '\1-0.25,+.5,1e-3,2\n1,2,3\n' >"$SEEDS/csv/small_short"
  printf '\2 1.5,2,-3,7\n0,0,2147483647,1e38\n' >"$SEEDS/csv/mixed"
  printf '\2 1,2,3.5,4\n' >"$SEEDS/csv/mixed_notint"
  # set: selector byte (bits 0-2: x label w b logits nosuch "" raw; bit 3: @FILE), then VALUES.
  printf '\0%s' '1,2,3,4,5,6' >"$SEEDS/set/x_list"
  printf '\0%s' ' 0.5 ' >"$SEEDS/set/x_broadcast"
  printf '\1%s' '0, 3' >"$SEEDS/set/label_list"
  printf '\2%s' '1 2 3 4 5 6 7 8 9 10 11 12' >"$SEEDS/set/w_spaces"
  printf '\3%s' '1e-3,-2.5e+2,inf' >"$SEEDS/set/b_inf"
  printf '\4%s' '1' >"$SEEDS/set/logits_output"
  printf '\5%s' '1' >"$SEEDS/set/nosuch"
  printf '\7%s' 'w=1,2,,3' >"$SEEDS/set/raw"
  printf '\12%s' $'1\t2\n3\r\n4,5\n6,\n7,8,9,10,11,12\n' >"$SEEDS/set/w_file"
  printf '\11%s' '2147483648 -1' >"$SEEDS/set/label_file_big"
  touch "$SEEDS/.stamp"
fi

# ---- regressions: every saved input must now pass ----
FAILED=0
report() { echo "run.sh: FAIL: $*" >&2; FAILED=1; }
for t in "${TARGETS[@]}"; do
  d="$FUZZ/regressions/$t"
  [ -d "$d" ] || continue
  mapfile -t files < <(find "$d" -type f ! -name '*.md' ! -name '.*' | sort)
  [ ${#files[@]} -gt 0 ] || continue
  echo "run.sh: replaying ${#files[@]} regression input(s) of $t" >&2
  for f in "${files[@]}"; do
    if ! "$BIN/fuzz_$t" -timeout=10 -rss_limit_mb=2048 "$f" >"$BUILD/replay.log" 2>&1; then
      report "regression input still fails: $t $f"
      grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$BUILD/replay.log" | head -5 >&2 || true
    fi
  done
done
[ "$BUILD_ONLY" = 0 ] || exit "$FAILED"

# ---- fuzz ----
SUMMARY=()
for t in "${TARGETS[@]}"; do
  if [ "$t" = random ]; then # models from a fresh first seed each run; a failure names its seed
    log="$BUILD/logs/random.log" first=$(( ($(od -An -N4 -tu4 /dev/urandom) % 100000) * 1000 ))
    mkdir -p "$(dirname "$log")"
    echo "run.sh: random models from seed $first for ${SECS}s (log: $log)" >&2
    rc=0
    "$BIN/random_models" --seed "$first" --seconds "$SECS" >"$log" 2>&1 || rc=$?
    SUMMARY+=("random: exit $rc; $(tail -1 "$log")")
    if [ "$rc" != 0 ]; then
      report "random: a model disagreed or crashed; log: $log"
      grep -E '^(== seed|==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -8 >&2 || true
    fi
    continue
  fi
  corpus="$BUILD/corpus/$t" art="$BUILD/artifacts/$t/" log="$BUILD/logs/$t.log"
  mkdir -p "$corpus" "$art" "$(dirname "$log")"
  dirs=("$corpus" "$SEEDS/$t")
  [ -d "$FUZZ/seeds/$t" ] && dirs+=("$FUZZ/seeds/$t")
  opts=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$art" -print_final_stats=1)
  [ -f "$FUZZ/$t.dict" ] && opts+=(-dict="$FUZZ/$t.dict")
  [ "$JOBS" -gt 1 ] && opts+=(-fork="$JOBS")
  find "$art" -type f ! -name 'slow-unit-*' | sort >"$BUILD/artifacts/.before"
  echo "run.sh: fuzzing $t for ${SECS}s (log: $log)" >&2
  rc=0
  "$BIN/fuzz_$t" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  stats=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  SUMMARY+=("$t: exit $rc; last: ${stats:-none}")
  new=$(find "$art" -type f ! -name 'slow-unit-*' | sort | comm -13 "$BUILD/artifacts/.before" -)
  if [ "$rc" != 0 ] || [ -n "$new" ]; then
    report "$t: libFuzzer exited $rc; log: $log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*Test unit written to)' "$log" | head -8 >&2 || true
    [ -z "$new" ] || printf 'run.sh: reproducer: %s\n' $new >&2
  fi
done
echo "run.sh: summary" >&2
printf '  %s\n' "${SUMMARY[@]}" >&2
exit "$FAILED"
