#!/usr/bin/env bash
# run.sh GRADC SOURCE_DIR WORK_DIR — the firmware tests (issue: trained models in
# firmware), run by ctest. Each step says what it checks; any failure exits non-zero.
#
#  1. Train digits on the host, compile it for inference with the weights baked in
#     for the Cortex-M4 (and for the host): the object may call nothing but
#     memcpy/memset, and fits in 12 KB of flash (code + weights) and 1 KB of workspace.
#  2. Link infer.c + the object into a bare-metal image for the MPS2 AN386 board, run
#     it under QEMU, and compare its predictions and logits with the same program on
#     the host: identical classes, logits within 1e-4.
#  2b. The same for the CNN (models/digits_cnn.grad: conv2d with a bias, max-pooling,
#     flatten), trained for 3 epochs: its object calls nothing but memcpy/memset, the
#     device's predictions equal the host's (logits within 1e-4), and its accuracy is
#     `gradc eval`'s on the same weights, to one image (the baked constants are the
#     trained values).
#  2c. Two CNNs exported from PyTorch (tests/fixtures/onnx/dscnn.onnx, resnet.onnx; batch
#     norm folded, and kept with its running statistics): `gradc compile M.onnx
#     --inference -D batch=1` bakes the initializers; the Cortex-M4 object calls nothing
#     but memcpy/memset and predicts under QEMU what the host predicts (logits within 1e-4).
#  3. On-device training: compile the model with its train step for the Cortex-M4,
#     link train.c + the freestanding runtime core, train in QEMU; the loss must fall
#     and the test accuracy reach 85%; the RAM the image reserves for the model equals
#     what `gradc compile --stats` reports.
set -euo pipefail
gradc=$1 src=$2 work=$3
fw=$src/tests/firmware data=$src/models/data
M4=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -Wl,--no-warn-execstack)
QEMU=(qemu-system-arm -M mps2-an386 -nographic -semihosting-config enable=on,target=native -kernel)
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in arm-none-eabi-gcc arm-none-eabi-nm qemu-system-arm cc; do
  command -v "$tool" >/dev/null || fail "$tool is missing (tools/setup/install-deps.sh installs it)"
done
stat_of() { sed -n "s/.*$2 \([0-9]*\).*/\1/p" "$1" | head -1; }
# agree DEVICE HOST: infer.c's outputs on the 359 test images, the same classes and
# logits within 1e-4.
agree() {
  awk 'NR == FNR { if ($1 == "sample") { cls[$2] = $6; for (i = 8; i <= NF; i++) lg[$2, i] = $i; n++ } next }
       $1 == "sample" {
         m++
         if ($6 != cls[$2]) { printf "sample %s: device predicts %s, host %s\n", $2, cls[$2], $6; bad++ }
         for (i = 8; i <= NF; i++) { d = lg[$2, i] - $i; if (d < 0) d = -d; if (d > 1e-4) { printf "sample %s: logit %d differs by %g\n", $2, i - 8, d; bad++ } }
       }
       END { if (n != 359 || m != 359) { printf "%d device and %d host samples, expected 359\n", n, m; bad++ }
             if (bad) exit 1; print "device and host agree on all " m " samples" }' "$1" "$2"
}
rm -rf "$work" && mkdir -p "$work"/m4 "$work"/host "$work"/m4train && cd "$work"

echo "== 1. weights, and the inference object for Cortex-M4"
"$gradc" train "$src/models/digits.grad" --data "$data/digits_train.csv" --epochs 30 --lr 0.05 --momentum 0.9 \
  --seed 0 -o weights.safetensors >train.log 2>&1 || { cat train.log; fail "training on the host"; }
common=("$src/models/digits.grad" --inference --weights weights.safetensors -D N=1 --emit obj)
"$gradc" compile "${common[@]}" --target thumbv7em-none-eabihf --cpu cortex-m4 -o m4/digits.o --stats >m4.stats
"$gradc" compile "${common[@]}" -o host/digits.o
cat m4.stats
undefined=$(arm-none-eabi-nm -u m4/digits.o | awk '{print $2}' | grep -v -x -E 'memcpy|memset' || true)
[[ -z $undefined ]] || fail "the Cortex-M4 object needs more than memcpy/memset: $undefined"
flash=$(($(stat_of m4.stats "code") + $(stat_of m4.stats "constants")))
workspace=$(stat_of m4.stats "workspace")
echo "flash (code + weights): $flash bytes; workspace: $workspace bytes"
((flash < 12 * 1024)) || fail "flash $flash bytes is not under 12 KB"
((workspace < 1024)) || fail "workspace $workspace bytes is not under 1 KB"

echo "== 1b. other microcontrollers: Cortex-M0 (soft float, linked), RISC-V rv32imac (compiled)"
mkdir -p m0 rv
"$gradc" compile "${common[@]}" --target thumbv6m-none-eabi --cpu cortex-m0 -o m0/digits.o
undefined=$(arm-none-eabi-nm -u m0/digits.o | awk '{print $2}' |
  grep -v -x -E 'memcpy|memset|__aeabi_[a-z0-9]+|__(add|sub|mul|div|neg)sf3|__(eq|ne|lt|le|gt|ge|un)sf2|__fix[a-z]*sfsi|__float[a-z]*sisf' || true)
[[ -z $undefined ]] || fail "the Cortex-M0 object needs more than memcpy/memset and libgcc's float helpers: $undefined"
arm-none-eabi-gcc -mcpu=cortex-m0 -mthumb -O2 -Wl,--no-warn-execstack --specs=rdimon.specs -T "$fw/mps2-an386.ld" \
  -I m0 -I . -x c - -x none m0/digits.o -o m0.elf <<'C' || fail "linking the Cortex-M0 object"
#include "digits.h"
static float x[DIGITS_X_SIZE], y[DIGITS_LOGITS_SIZE];
static unsigned char ws[DIGITS_WORKSPACE_BYTES + 1];
void reset_handler(void) { digits_forward(x, y, ws); for (;;) {} }
int main(void) { return 0; }
C
"$gradc" compile "${common[@]}" --target riscv32-unknown-elf --cpu sifive-e31 -o rv/digits.o
undefined=$(llvm-nm-16 -u rv/digits.o | awk '{print $2}' |
  grep -v -x -E 'memcpy|memset|__(add|sub|mul|div|neg)sf3|__(eq|ne|lt|le|gt|ge|un)sf2|__fix[a-z]*sfsi|__float[a-z]*sisf' || true)
[[ -z $undefined ]] || fail "the RISC-V object needs more than memcpy/memset and soft-float helpers: $undefined"
echo "Cortex-M0 object linked ($(arm-none-eabi-size m0.elf | awk 'NR == 2 { print $1 + $2 }') bytes of flash in all, with newlib); RISC-V object compiled"

echo "== 2. inference on the device (QEMU mps2-an386) against the host"
"$fw/gen_data.sh" "$data/digits_test.csv" test >test_data.h
arm-none-eabi-gcc "${M4[@]}" --specs=rdimon.specs -T "$fw/mps2-an386.ld" -I m4 -I . \
  "$fw/startup.c" "$fw/infer.c" m4/digits.o -o infer.elf
cc -O2 -I host -I . "$fw/infer.c" host/digits.o -o infer_host
timeout 300 "${QEMU[@]}" infer.elf >device.out || fail "the firmware did not run to completion"
./infer_host >host.out
tail -1 device.out
agree device.out host.out || fail "device and host outputs differ"

echo "== 2b. the CNN: trained, baked, inference on the device against the host"
"$gradc" train "$src/models/digits_cnn.grad" --data "$data/digits_train.csv" --epochs 3 --lr 0.05 --momentum 0.9 \
  --seed 0 -o cnn.safetensors >cnn_train.log 2>&1 || { cat cnn_train.log; fail "training the CNN on the host"; }
"$gradc" eval "$src/models/digits_cnn.grad" --weights cnn.safetensors --data "$data/digits_test.csv" >cnn_eval.out ||
  fail "gradc eval of the CNN's weights"
cnn=("$src/models/digits_cnn.grad" --inference --weights cnn.safetensors -D N=1 --emit obj)
"$gradc" compile "${cnn[@]}" --target thumbv7em-none-eabihf --cpu cortex-m4 -o m4/digits_cnn.o --stats >cnn_m4.stats ||
  fail "baking the CNN for the Cortex-M4"
"$gradc" compile "${cnn[@]}" -o host/digits_cnn.o || fail "baking the CNN for the host"
cat cnn_m4.stats
undefined=$(arm-none-eabi-nm -u m4/digits_cnn.o | awk '{print $2}' | grep -v -x -E 'memcpy|memset' || true)
[[ -z $undefined ]] || fail "the CNN's Cortex-M4 object needs more than memcpy/memset: $undefined"
cnn_model=(-DMODEL=digits_cnn -DMODEL_UPPER=DIGITS_CNN '-DMODEL_H="digits_cnn.h"')
arm-none-eabi-gcc "${M4[@]}" "${cnn_model[@]}" --specs=rdimon.specs -T "$fw/mps2-an386.ld" -I m4 -I . \
  "$fw/startup.c" "$fw/infer.c" m4/digits_cnn.o -o infer_cnn.elf
cc -O2 "${cnn_model[@]}" -I host -I . "$fw/infer.c" host/digits_cnn.o -o infer_cnn_host
timeout 300 "${QEMU[@]}" infer_cnn.elf >cnn_device.out || fail "the CNN firmware did not run to completion"
./infer_cnn_host >cnn_host.out
tail -1 cnn_device.out
agree cnn_device.out cnn_host.out || fail "the CNN's device and host outputs differ"
right=$(awk '$1 == "accuracy" { split($2, f, "/"); print f[1] }' cnn_device.out)
eval_pct=$(sed -n 's/^accuracy \([0-9.]*\)%$/\1/p' cnn_eval.out)
# (eval runs batches of 32, the firmware one image: a near tie may fall the other way)
awk -v r="$right" -v p="$eval_pct" 'BEGIN { d = r - p * 359 / 100; exit !(p != "" && d < 1.1 && d > -1.1) }' ||
  fail "the CNN classifies $right/359 on the device, gradc eval says $eval_pct% on its weights"
echo "the CNN classifies $right/359 on the device, as gradc eval ($eval_pct%)"

echo "== 2c. CNNs exported from PyTorch (tests/fixtures/onnx): imported, weights baked, on the device"
for onnx in dscnn resnet; do
  model="$src/tests/fixtures/onnx/$onnx.onnx"
  "$gradc" compile "$model" --inference -D batch=1 --emit obj --target thumbv7em-none-eabihf --cpu cortex-m4 \
    -o "m4/$onnx.o" --stats >"${onnx}_m4.stats" || fail "compiling $onnx.onnx for the Cortex-M4"
  "$gradc" compile "$model" --inference -D batch=1 --emit obj -o "host/$onnx.o" || fail "compiling $onnx.onnx for the host"
  undefined=$(arm-none-eabi-nm -u "m4/$onnx.o" | awk '{print $2}' | grep -v -x -E 'memcpy|memset' || true)
  [[ -z $undefined ]] || fail "$onnx.onnx's Cortex-M4 object needs more than memcpy/memset: $undefined"
  upper=$(echo "$onnx" | tr a-z A-Z)
  flags=(-DMODEL="$onnx" -DMODEL_UPPER="$upper" "-DMODEL_H=\"$onnx.h\"")
  arm-none-eabi-gcc "${M4[@]}" "${flags[@]}" --specs=rdimon.specs -T "$fw/mps2-an386.ld" -I m4 -I . \
    "$fw/startup.c" "$fw/infer.c" "m4/$onnx.o" -o "$onnx.elf"
  cc -O2 "${flags[@]}" -I host -I . "$fw/infer.c" "host/$onnx.o" -o "${onnx}_host"
  timeout 300 "${QEMU[@]}" "$onnx.elf" >"${onnx}_device.out" || fail "the $onnx.onnx firmware did not run to completion"
  "./${onnx}_host" >"${onnx}_host.out"
  echo "$onnx.onnx: flash $(($(stat_of "${onnx}_m4.stats" code) + $(stat_of "${onnx}_m4.stats" constants))) bytes (code + weights); $(tail -1 "${onnx}_device.out") (untrained weights)"
  agree "${onnx}_device.out" "${onnx}_host.out" || fail "$onnx.onnx: device and host outputs differ"
done

echo "== 3. training on the device"
"$gradc" compile "$src/models/digits.grad" --target thumbv7em-none-eabihf --cpu cortex-m4 --emit obj \
  -o m4train/digits.o --stats >train.stats
cat train.stats
"$fw/gen_data.sh" "$data/digits_train.csv" train 1024 >train_data.h
arm-none-eabi-gcc "${M4[@]}" -ffreestanding -fno-builtin -I "$src/include" -c "$src/runtime/core.c" -o core.o
arm-none-eabi-gcc "${M4[@]}" --specs=rdimon.specs -T "$fw/mps2-an386.ld" -I m4train -I . -I "$src/include" \
  "$fw/startup.c" "$fw/train.c" m4train/digits.o core.o -o train.elf
timeout 600 "${QEMU[@]}" train.elf >train.out || fail "the training firmware did not run to completion"
cat train.out
first=$(awk '$1 == "epoch" { print $4; exit }' train.out)
last=$(awk '$1 == "epoch" { l = $4 } END { print l }' train.out)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "the loss did not fall ($first -> $last)"
right=$(awk '$1 == "test" { split($3, f, "/"); print f[1] }' train.out)
((right * 100 >= 85 * 359)) || fail "test accuracy $right/359 is under 85%"
size_of() { echo $((16#$(arm-none-eabi-nm -S train.elf | awk -v s="$1" '$4 == s { print $2 }'))); }
model_ram=$(size_of model)
want=$(($(stat_of train.stats "params") + $(stat_of train.stats "grads") + $(stat_of train.stats "momentum")))
[[ $model_ram == "$want" ]] || fail "the image reserves $model_ram bytes for the model, --stats says $want"
ws_image=$(size_of workspace)
ws_stats=$(stat_of train.stats "workspace")
[[ $ws_image == $((ws_stats + 1)) ]] || fail "the image's workspace is $ws_image bytes, --stats says $ws_stats"
echo "RAM for the model: $model_ram bytes (params, grads, momentum) + workspace $ws_stats bytes, as --stats reports"
echo "firmware tests passed"
