#!/usr/bin/env bash
# install-deps.sh — installs the Debian 12 packages gradc needs to build and test, if
# any is missing. Idempotent: when everything is installed it prints nothing and exits
# 0. Installing needs root (or sudo). Any failure stops the script with a message.
#
#   build:  cmake make gcc pkg-config llvm-16-dev libffi-dev libcjson-dev
#           libprotobuf-c-dev protobuf-c-compiler libonnx-dev (ONNX import: onnx.proto)
#   tests:  libcriterion-dev, llvm-16 (llvm-nm-16 for the object-file checks),
#           python3 (examples/classify.py), g++ (the header compiles as C++), gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm (firmware tests),
#           libonnx-testdata (the ONNX conformance suite)
set -euo pipefail

PACKAGES=(cmake make gcc pkg-config llvm-16-dev llvm-16 libffi-dev libcjson-dev libcriterion-dev python3 g++
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata)

die() {
  echo "install-deps: error: $*" >&2
  exit 1
}

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script is for Debian 12 (bookworm); install by hand: ${PACKAGES[*]}"

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

echo "install-deps: missing Debian packages: ${missing[*]}" >&2
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run as root, or: apt-get install ${missing[*]}"
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q || die "apt-get update failed"
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" || die "apt-get install ${missing[*]} failed"

# Check again: apt-get may succeed without installing what was asked.
still=()
for p in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || still+=("$p")
done
((${#still[@]} == 0)) || die "still missing after apt-get install: ${still[*]}"
echo "install-deps: installed ${missing[*]}" >&2
