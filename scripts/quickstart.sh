#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the dependencies, builds cnnrun, trains LeNet-5 on Fashion-MNIST
# (PyTorch's reference recipe) and evaluates it on the test set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build
mkdir -p weights
threads=$(nproc)
./build/cnnrun/cnnrun summary graphs/lenet5.yaml
./build/cnnrun/cnnrun train graphs/lenet5.yaml --data fashion-mnist:train --val fashion-mnist:test \
  --epochs 2 --batch 64 --optimizer sgd --lr 0.01 --momentum 0.9 --seed 0 --threads "$threads" \
  --log weights/lenet5-metrics.jsonl --out weights/lenet5.safetensors
./build/cnnrun/cnnrun eval graphs/lenet5.yaml --weights weights/lenet5.safetensors \
  --data fashion-mnist:test --threads "$threads"
./build/cnnrun/cnnrun plot weights/lenet5-metrics.jsonl --out weights/lenet5-curves.svg
