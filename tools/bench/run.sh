#!/usr/bin/env bash
# run.sh — gradc's benchmark (tools/bench/README.md) in one command: builds gradc in ./build,
# installs what is missing (build deps, libopenblas0-pthread, python3-torch if it can),
# runs `gradc bench --json` (gradc against its tape engine) on every reference model,
# and beside it tools/bench/torch_bench.py (PyTorch eager and the single-core sgemm
# ceiling) on the same model, model after model, in several rounds; prints one table of
# the medians over the rounds (ratios taken within a round) and their spread; writes
# tools/bench/results/latest.{md,json}. Works from any directory; takes about fifteen
# minutes with three rounds (mostly the tape engine on mlp1024 and the CNNs, whose convolutions
# are naive loop nests until issue 17).
#
#   tools/bench/run.sh                        all reference models, 3 rounds
#   tools/bench/run.sh digits mlp784          a subset
#   tools/bench/run.sh --rounds 5 mlp784x2    more rounds (1 is a quick look)
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
  [mlp784_silu]=$BENCH/models/mlp784_silu.grad
  [mlp784_hswish_elu]=$BENCH/models/mlp784_hswish_elu.grad
  [mlp784_layernorm]=$BENCH/models/mlp784_layernorm.grad
  [mlp784_dropout]=$BENCH/models/mlp784_dropout.grad
  [mlp784x2]=$BENCH/models/mlp784x2.grad
  [mlp1024]=$BENCH/models/mlp1024.grad
  [stats_losses]=$BENCH/models/stats_losses.grad
  [dscnn]=$BENCH/models/dscnn.grad  # convolution (issue 15): depthwise-separable CNN
  [cnn_bn]=$BENCH/models/cnn_bn.grad  # batch norm and buffers (issue 15)
  [attn_block]=$BENCH/models/attn_block.grad  # attention (issue 15): causal multi-head block
  [embbag]=$BENCH/models/embbag.grad  # indexing II (issue 15): embedding, slicing, gather
  [dscnn_digits]=models/dscnn_digits.grad  # models (issue 15): DS-CNN with relu6 on the digits
  [resnet_digits]=models/resnet_digits.grad  # models (issue 15): ResNet with batch norm on the digits
  [char_transformer]=models/char_transformer.grad  # models (issue 15): 2-block character GPT, dropout
  [lenet5]=$BENCH/models/lenet5.grad  # fast convolutions (issue 17): the CNN reference models
  [cifar_cnn]=$BENCH/models/cifar_cnn.grad
  [kws_cnn]=$BENCH/models/kws_cnn.grad
  [resnet_block]=$BENCH/models/resnet_block.grad
  [digits_cnn]=models/digits_cnn.grad
)
# One call of mlp1024 takes longer than the 20 ms batch anyway (tape: ~2 s per training
# step), so one call per repeat is the same method and keeps the run short.
# The same for the CNNs whose steps take hundreds of milliseconds while their convolutions
# are naive loop nests (issue 17).
declare -A ARGS=([mlp1024]="--steps 1" [cifar_cnn]="--steps 1" [kws_cnn]="--steps 1" [resnet_block]="--steps 1")
ROUNDS=3
MODELS=()
while (($#)); do
  case $1 in
    --rounds) [[ ${2:-} =~ ^[1-9][0-9]?$ ]] || { echo "run.sh: --rounds: expected 1..99" >&2; exit 2; }
              ROUNDS=$2; shift 2 ;;
    -*) echo "run.sh: unknown option '$1' (usage: run.sh [--rounds N] [MODEL...])" >&2; exit 2 ;;
    *) MODELS+=("$1"); shift ;;
  esac
done
((${#MODELS[@]})) || MODELS=(logreg digits mlp784 mlp784_silu mlp784_hswish_elu mlp784_layernorm mlp784_dropout mlp784x2 mlp1024 stats_losses dscnn attn_block embbag cnn_bn dscnn_digits resnet_digits char_transformer
                             lenet5 cifar_cnn kws_cnn resnet_block digits_cnn)
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
# (user nice system idle iowait irq softirq steal: the guest fields after them are
# already counted in user and nice)
stat_snapshot() { awk '/^cpu /{t=0; for (i=2;i<=9;i++) t+=$i; print $9, t; exit}' /proc/stat 2>/dev/null || echo "0 0"; }
steal_pct() { # "steal0 total0" "steal1 total1"
  awk -v a="$1" -v b="$2" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; v=0; if (d>0) v=100*(y[1]-x[1])/d; printf "%.1f", v}'
}
# One model at a time, gradc bench (compiled and tape in one process) and right beside it
# torch_bench.py (PyTorch and the sgemm ceiling) on the same model: the two processes
# whose times are divided run seconds apart, not minutes. Several rounds of that, so
# that the table can show medians over rounds and how far the ratios moved; odd rounds
# run gradc first, even rounds PyTorch first, so that a drift within a round does not
# always favour the same side.
[[ -x $SYS_PY ]] || echo "run.sh: WARNING: $SYS_PY not found: no PyTorch column and no sgemm ceiling" >&2
# timed NAME CMD...: runs CMD (stdout to NAME.out, stderr to NAME.log) and records its CPU
# share (bash's `time` %P: CPU time / wall time, below ~90% other jobs took the CPU) in
# NAME.cpu and the steal while it ran in NAME.steal; returns CMD's status.
timed() {
  local name=$1 s0 rc=0
  shift
  s0=$(stat_snapshot)
  { TIMEFORMAT='cpu_share=%P'; time "$@" >"$name.out" 2>"$name.log"; } 2>"$name.time" || rc=$?
  sed -n 's/^cpu_share=//p' "$name.time" >"$name.cpu"
  steal_pct "$s0" "$(stat_snapshot)" >"$name.steal"
  return $rc
}
run_gradc() { # model: $D/model.json
  # shellcheck disable=SC2086  # ARGS holds separate words
  timed "$D/$1" "$GRADC" bench "${FILE[$1]}" ${ARGS[$1]:-} --json ||
    { cat "$D/$1.log" >&2; trap - EXIT
      echo "run.sh: gradc bench ${FILE[$1]} failed; the raw results so far are kept in $RAW" >&2; exit 1; }
  mv "$D/$1.out" "$D/$1.json"
  echo "$(cat "$D/$1.json")  [cpu share $(cat "$D/$1.cpu")%, steal $(cat "$D/$1.steal")%]"
}
run_torch() { # model: $D/torch_model.json
  [[ -x $SYS_PY ]] || return 0
  timed "$D/torch_$1" env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$SYS_PY" "$BENCH/torch_bench.py" \
    --models "$1" -o "$D/torch_$1.json" ||
    { echo "run.sh: WARNING: torch_bench.py failed on $1: no PyTorch column for it" >&2; rm -f "$D/torch_$1.json"; }
  cat "$D/torch_$1.log" >&2
}
for ((r = 1; r <= ROUNDS; r++)); do
  echo "== round $r of $ROUNDS: gradc bench (compiled vs tape) and PyTorch eager with sgemm ($SYS_PY, one thread)"
  D=$RAW/round$r
  mkdir -p "$D"
  for m in "${MODELS[@]}"; do
    ((r % 2)) || run_torch "$m"
    run_gradc "$m"
    ((r % 2 == 0)) || run_torch "$m"
  done
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
ISA=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx512f|avx2|fma' | sort -u | tr '\n' ' ' || true)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REV="$REV+uncommitted"
PY=$(command -v python3 || echo "$SYS_PY")

echo "== results"
"$PY" "$BENCH/report.py" --raw "$RAW" --rounds "$ROUNDS" --models "$(IFS=,; echo "${MODELS[*]}")" \
  --out "$OUT" \
  --meta "date=$(date -Iseconds)" \
  --meta "gradc=$("$GRADC" --version) (git $REV, $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt"))" \
  --meta "cpu=${CPU:-unknown} (${ISA% })" \
  --meta "cores=$(nproc) online" \
  --meta "load_before=$LOAD_BEFORE (1/5/15 min)" \
  --meta "load_after=$LOAD_AFTER"
echo "written: $OUT/latest.md $OUT/latest.json"
