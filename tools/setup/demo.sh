#!/usr/bin/env bash
# demo.sh — the main job: install what is missing, build gradc, train the bundled
# digits classifier, evaluate it on the test split, compile the trained model into an
# inference shared object with its weights baked in, and use it from a C program.
# Works from any directory; about 20 s on 2 cores from a fresh clone.
#
#   tools/setup/demo.sh           the digits job
#   tools/setup/demo.sh logreg    the seed example (PyTorch autograd tutorial) step by step
#
# Structure: setup (deps + build) then one demo_* function per demonstration; main
# at the bottom picks which run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=build
GRADC="$BUILD/bin/gradc"

# The tutorial's values: x = ones(5), y = zeros(3); fixed w and b instead of randn so
# that the numbers can be compared with PyTorch.
W="-0.7,-0.6,-0.5,-0.4,-0.3,-0.2,-0.1,0,0.1,0.2,0.3,0.4,0.5,0.6,0.7"
B="0.1,-0.2,0.3"

if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
say() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
explain() { printf '%s\n' "$@" | sed 's/^/   /'; }
show() {
  printf '$ %s\n' "$*"
  "$@"
}

setup() {
  tools/setup/install-deps.sh
  say "Building gradc (cmake, ./$BUILD)"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target gradc >/dev/null
  show "$GRADC" --version
}

demo_logreg() {
  say "1. The model: models/logreg.grad"
  explain "A static graph: inputs (data), params (trainable), values, the output and the loss." ""
  sed 's/^/   | /' models/logreg.grad

  say "2. Compile it ahead of time to a shared object and its C header"
  show "$GRADC" compile models/logreg.grad -o "$BUILD/logreg.so"
  explain "" "gradc differentiated the graph symbolically (autodiff), optimised and fused both" \
    "graphs and lowered them through LLVM. The header declares the entry points:" ""
  sed -n '/^#define LOGREG_.*\(_SIZE\|_BYTES\) /p; /^void logreg_/,/);/p' "$BUILD/logreg.h" | sed 's/^/   | /'
  explain "" "logreg_backward runs forward and backward and ADDS dloss/dw, dloss/db into" \
    "grad_w, grad_b; the caller owns every buffer, including LOGREG_WORKSPACE_BYTES of workspace."

  say "3. Run it: forward and backward on the tutorial's values"
  show "$GRADC" run models/logreg.grad --set x=1 --set y=0 --set "w=$W" --set "b=$B" --backward
  explain "" "z = x @ w + b and loss = mean(BCE-with-logits(z, y)), as in PyTorch." \
    "The 'grad' lines are what loss.backward() leaves in w.grad and b.grad:" \
    "dloss/db = sigmoid(z)/3 (y = 0, mean over 3), and since x is all ones every row" \
    "of dloss/dw equals dloss/db. PyTorch 1.13 gives loss 0.7607517 and" \
    "b.grad = [0.1337708, 0.1500553, 0.2299915] for the same values."

  say "4. Train: three SGD steps (lr 0.5) on the same example"
  show "$GRADC" run models/logreg.grad --set x=1 --set y=0 --set "w=$W" --set "b=$B" --train-steps 3 --lr 0.5
  explain "" "Each step is zero_grad, forward, backward, w -= lr * w.grad (torch.optim.SGD)." \
    "What is printed (loss, z, w, b and their gradients) is at the final parameters;" \
    "PyTorch gives loss 0.281426 and b = [-0.05978851, -0.3772358, 0.03090344]."

  say "Done"
  explain "Shared object: $BUILD/logreg.so   header: $BUILD/logreg.h" \
    "More: README.md; the whole test suite: tools/setup/test.sh"
}

demo_digits() {
  local out=$BUILD/digits
  mkdir -p "$out"
  say "1. The model: models/digits.grad (an MLP 64-32-10 for 8x8 handwritten digits)"
  sed 's/^/   | /' models/digits.grad

  say "2. Train it: 30 epochs of SGD on models/data/digits_train.csv (1438 images)"
  explain "Each step: zero_grad, forward + backward (native code derived by autodiff)," \
    "a NaN/Inf check, and the SGD update. Validation on the 359 held-out images." ""
  show "$GRADC" train models/digits.grad --data models/data/digits_train.csv \
    --val models/data/digits_test.csv --epochs 30 --lr 0.05 --momentum 0.9 --seed 0 -o "$out/digits.safetensors"

  say "3. Evaluate the saved weights on the test split"
  show "$GRADC" eval models/digits.grad --weights "$out/digits.safetensors" --data models/data/digits_test.csv

  say "4. Compile the trained model for inference, weights baked in, one image per call"
  show "$GRADC" compile models/digits.grad --inference --weights "$out/digits.safetensors" -D N=1 \
    -o "$out/digits.so"
  explain "" "No backward, no loss, no label input, no parameter arguments: the header says" ""
  sed -n '/^#define DIGITS_.*\(_SIZE\|_BYTES\) /p; /^void digits_/,/);/p' "$out/digits.h" | sed 's/^/   | /'

  say "5. Use it from C: examples/classify.c includes digits.h and links digits.so"
  show cc -O2 -I"$out" examples/classify.c "$out/digits.so" -Wl,-rpath,"$(cd "$out" && pwd)" -o "$out/classify"
  printf '$ %s < %s\n' "$out/classify" models/data/digits_test.csv
  "$out/classify" <models/data/digits_test.csv

  say "6. Use it from Python: examples/classify.py calls digits.so through ctypes"
  explain "No header needed: the .so describes its entry points (gradc_model_descriptor())." ""
  printf '$ python3 examples/classify.py %s < %s | tail -n 1\n' "$out/digits.so" models/data/digits_test.csv
  python3 examples/classify.py "$out/digits.so" <models/data/digits_test.csv | tail -n 1

  say "Done"
  explain "Weights: $out/digits.safetensors (safetensors, readable by any reader)" \
    "Inference library: $out/digits.so + $out/digits.h (calls only memcpy/memset)" \
    "Firmware: add --target thumbv7em-none-eabihf --cpu cortex-m4 --emit obj" \
    "The seed example step by step: tools/setup/demo.sh logreg; the tests: tools/setup/test.sh"
}

main() {
  setup
  case "${1:-digits}" in
  digits) demo_digits ;;
  logreg) demo_logreg ;;
  *) echo "usage: demo.sh [digits|logreg]" >&2; exit 2 ;;
  esac
}

main "$@"
