#!/usr/bin/env bash
# run.sh — gradc's benchmark (SPEC section 7) in one command: builds gradc in ./build,
# installs what is missing (build deps, libopenblas0-pthread, python3-torch if it can),
# runs `gradc bench --json` (gradc against its tape engine) on every reference model,
# then tools/bench/torch_bench.py (PyTorch eager and the single-core sgemm ceiling),
# and prints one table; writes tools/bench/results/latest.{md,json}. Works from any
# directory; takes a few minutes (mostly the tape engine on mlp1024).
#
#   tools/bench/run.sh                 all reference models
#   tools/bench/run.sh digits mlp784   a subset
#
# Without torch the script says so and still reports gradc and the tape engine.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=build
BENCH=tools/bench
OUT=$BENCH/results
SYS_PY=/usr/bin/python3          # Debian's python, the one python3-torch installs into

declare -A FILE=(
  [logreg]=models/logreg.grad
  [digits]=models/digits.grad
  [mlp784]=$BENCH/models/mlp784.grad
  [mlp784x2]=$BENCH/models/mlp784x2.grad
  [mlp1024]=$BENCH/models/mlp1024.grad
)
# One call of mlp1024 takes longer than the 20 ms batch anyway (tape: ~2 s per training
# step), so one call per repeat is the same method and keeps the run short.
declare -A ARGS=([mlp1024]="--steps 1")
MODELS=("$@")
((${#MODELS[@]})) || MODELS=(logreg digits mlp784 mlp784x2 mlp1024)
for m in "${MODELS[@]}"; do
  [[ -n ${FILE[$m]:-} ]] || { echo "run.sh: unknown model '$m' (known: ${!FILE[*]})" >&2; exit 2; }
done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== load average before: $LOAD_BEFORE"

SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]; }
apt_install() {  # best effort: returns non-zero on failure, never exits
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    echo "run.sh: not root and no sudo: cannot install $*" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  { "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q --no-install-recommends "$@"; } >&2
}

echo "== packages"
tools/setup/install-deps.sh
# Debian's python3-torch calls libblas.so.3, which is the slow reference BLAS unless an
# OpenBLAS package provides it; the comparison is meant against torch with OpenBLAS.
if installed libopenblas0-pthread || installed libopenblas0-openmp; then
  echo "OpenBLAS is installed (libblas.so.3 -> $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '?'))"
else
  echo "installing libopenblas0-pthread so that torch uses OpenBLAS instead of the reference BLAS"
  apt_install libopenblas0-pthread || echo "run.sh: WARNING: could not install libopenblas0-pthread: torch will use the reference BLAS" >&2
fi
if [[ -x $SYS_PY ]] && "$SYS_PY" -c 'import torch' 2>/dev/null; then
  echo "torch is available for $SYS_PY"
elif ! installed python3-torch; then
  echo "installing python3-torch (large) for the PyTorch baseline"
  apt_install python3-torch || echo "run.sh: WARNING: could not install python3-torch: no PyTorch column" >&2
fi

echo "== configure and build ($ROOT/$BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target gradc
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
# A private copy: others may relink build/bin/gradc while the benchmark runs.
cp "$BUILD/bin/gradc" "$RAW/gradc"
GRADC=$RAW/gradc
# CPU time the hypervisor gave to other guests (steal, /proc/stat) as a share of all CPU
# time between two snapshots: a VM's neighbours slow a benchmark without showing in
# its own CPU share.
stat_snapshot() { awk '/^cpu /{t=0; for (i=2;i<=NF;i++) t+=$i; print $9, t; exit}' /proc/stat 2>/dev/null || echo "0 0"; }
steal_pct() { # "steal0 total0" "steal1 total1"
  awk -v a="$1" -v b="$2" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; v=0; if (d>0) v=100*(y[1]-x[1])/d; printf "%.1f", v}'
}
echo "== gradc bench (compiled vs tape, one process per model)"
for m in "${MODELS[@]}"; do
  S0=$(stat_snapshot)
  # shellcheck disable=SC2086  # ARGS holds separate words
  # bash's `time` with %P: CPU time / wall time of the process, the share of a core it
  # got (below ~90%, other jobs on the machine took the CPU during the timing).
  { TIMEFORMAT='cpu_share=%P'; time "$GRADC" bench "${FILE[$m]}" ${ARGS[$m]:-} --json >"$RAW/$m.json"; } 2>"$RAW/$m.err" ||
    { cat "$RAW/$m.err" >&2; echo "run.sh: gradc bench ${FILE[$m]} failed" >&2; exit 1; }
  sed -n 's/^cpu_share=//p' "$RAW/$m.err" >"$RAW/$m.cpu"
  steal_pct "$S0" "$(stat_snapshot)" >"$RAW/$m.steal"
  echo "$(cat "$RAW/$m.json")  [cpu share $(cat "$RAW/$m.cpu")%, steal $(cat "$RAW/$m.steal")%]"
done

echo "== PyTorch eager and sgemm ceiling ($SYS_PY, one thread)"
if [[ -x $SYS_PY ]]; then
  S0=$(stat_snapshot)
  { TIMEFORMAT='cpu_share=%P'; time OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$SYS_PY" "$BENCH/torch_bench.py" \
    --models "$(IFS=,; echo "${MODELS[*]}")" -o "$RAW/torch.json" >/dev/null; } 2>"$RAW/torch.err" ||
    echo "run.sh: WARNING: torch_bench.py failed: no PyTorch column" >&2
  grep -v '^cpu_share=' "$RAW/torch.err" >&2 || true
  sed -n 's/^cpu_share=//p' "$RAW/torch.err" >"$RAW/torch.cpu"
  steal_pct "$S0" "$(stat_snapshot)" >"$RAW/torch.steal"
else
  echo "run.sh: WARNING: $SYS_PY not found: no PyTorch column and no sgemm ceiling" >&2
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
ISA=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx512f|avx2|fma' | sort -u | tr '\n' ' ' || true)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REV="$REV+uncommitted"
PY=$(command -v python3 || echo "$SYS_PY")

echo "== results"
"$PY" "$BENCH/report.py" --gradc "$RAW" --models "$(IFS=,; echo "${MODELS[*]}")" --torch "$RAW/torch.json" \
  --out "$OUT" \
  --meta "date=$(date -Iseconds)" \
  --meta "gradc=$("$GRADC" --version) (git $REV, $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt"))" \
  --meta "cpu=${CPU:-unknown} (${ISA% })" \
  --meta "cores=$(nproc) online" \
  --meta "load_before=$LOAD_BEFORE (1/5/15 min)" \
  --meta "load_after=$LOAD_AFTER"
echo "written: $OUT/latest.md $OUT/latest.json"
