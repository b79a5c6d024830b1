#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The transfer-learning demo: pretrain LeNet-5 on Fashion-MNIST, then learn
# MNIST digits from only 10, 50 and 100 labelled images per class, four ways:
#   (a) from scratch, (b) a new head on the frozen backbone, (c) everything
#   fine-tuned from the pretrained start, (d) LIBLINEAR on backbone features.
# Prints one table of test accuracy on 8,000 held-out digits.
#
#   scripts/transfer-demo.sh [BUILD_DIR]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cnnrun="$build/cnnrun/cnnrun"
[ -x "$cnnrun" ] || { echo "transfer-demo: $cnnrun not built (meson setup $build && ninja -C $build)" >&2; exit 1; }
seed=${SEED:-0}
threads=${THREADS:-$(nproc)}
out=out/transfer-seed$seed
mkdir -p weights "$out"

# Recipe shared by every run (PyTorch's reference used the same).
recipe=(--batch 64 --optimizer sgd --lr 0.01 --momentum 0.9 --seed "$seed" --threads "$threads" --quiet)

# The head graphs name weights/lenet5-fashion.safetensors; each seed
# pretrains its own and puts it there.
pretrained=weights/lenet5-fashion-seed$seed.safetensors
if [ ! -f "$pretrained" ]; then
  echo "== pretraining LeNet-5 on Fashion-MNIST (3 epochs, seed $seed)"
  "$cnnrun" train graphs/lenet5.yaml --data fashion-mnist:train --epochs 3 \
    "${recipe[@]}" --out "$pretrained"
fi
cp "$pretrained" weights/lenet5-fashion.safetensors
scripts/fetch-mnist-digits.sh data/mnist

accuracy() { # graph weights -> top-1 in percent on the held-out digits
  "$cnnrun" eval "$1" --weights "$2" --data folder:data/mnist/test --json --quiet --threads "$threads" |
    python3 -c 'import json,sys; print("%.1f" % (100 * json.load(sys.stdin)["top1"]))'
}

printf '\n%-10s %12s %16s %14s %14s\n' "per class" "(a) scratch" "(b) frozen+head" "(c) fine-tune" "(d) LIBLINEAR"
for k in 10 50 100; do
  data="folder:data/mnist/train-$k"
  # About 3,000 sample visits whatever the set size, as in the reference.
  epochs=$(( (3000 + 10 * k - 1) / (10 * k) ))
  "$cnnrun" train graphs/lenet5.yaml --data "$data" --epochs "$epochs" "${recipe[@]}" \
    --out "$out/scratch-$k.safetensors"
  a=$(accuracy graphs/lenet5.yaml "$out/scratch-$k.safetensors")
  "$cnnrun" train graphs/heads/lenet5-digits.yaml --data "$data" --epochs "$epochs" "${recipe[@]}" \
    --out "$out/frozen-$k.safetensors"
  b=$(accuracy graphs/heads/lenet5-digits.yaml "$out/frozen-$k.safetensors")
  "$cnnrun" train graphs/heads/lenet5-digits-finetune.yaml --data "$data" --epochs "$epochs" "${recipe[@]}" \
    --out "$out/finetune-$k.safetensors"
  c=$(accuracy graphs/heads/lenet5-digits-finetune.yaml "$out/finetune-$k.safetensors")
  "$cnnrun" features graphs/lenet5.yaml --weights weights/lenet5-fashion.safetensors --layer pool2 \
    --data "$data" --out "$out/feat-train-$k.npy" --quiet
  [ -f "$out/feat-test.npy" ] || "$cnnrun" features graphs/lenet5.yaml --weights weights/lenet5-fashion.safetensors \
    --layer pool2 --data folder:data/mnist/test --out "$out/feat-test.npy" --quiet
  "$cnnrun" linear train "$out/feat-train-$k.npy" --labels "$out/feat-train-$k.labels.npy" \
    --out "$out/linear-$k.safetensors" --quiet
  d=$("$cnnrun" linear eval "$out/linear-$k.safetensors" "$out/feat-test.npy" --labels "$out/feat-test.labels.npy" --json |
    python3 -c 'import json,sys; print("%.1f" % (100 * json.load(sys.stdin)["top1"]))')
  printf '%-10s %11s%% %15s%% %13s%% %13s%%\n' "$k" "$a" "$b" "$c" "$d"
done
