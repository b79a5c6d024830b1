#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds cnnrun (release, -march=native) and compares it with PyTorch,
# ONNX Runtime and Darknet on the same work: bench/README.md says what is
# measured and how.
#
#   bench/run.sh [--quick | --full] [--threads 1,2] [--reps N]
#                [--build DIR] [--out DIR] [--only REGEX] [--no-darknet]
#                [--no-ort]
#
# --quick (default) takes a few minutes: LeNet-5 training, AlexNet batch 1
# and three convolutions, LeNet-5 batch 1 and 8, ResNet-18 and MobileNetV2
# batch 1. --full adds AlexNet and VGG-16 at batch 8 (forward
# and training), VGG-16 batch 1, Darknet and all the convolutions; count on
# half an hour or more on two cores.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode=quick
threads=1,2
reps=
build=${CNN_BENCH_BUILD:-$root/build-bench}
out=
extra=()

while [ $# -gt 0 ]; do
  case $1 in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --threads) threads=$2; shift ;;
    --reps) reps=$2; shift ;;
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    --only) extra+=(--only "$2"); shift ;;
    --no-darknet) extra+=(--no-darknet) ;;
    --no-ort) extra+=(--no-ort) ;;
    -h|--help) sed -n '3,15p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$reps" ] || { [ "$mode" = quick ] && reps=3 || reps=2; }
[ -n "$out" ] || out=$build/bench-results/$mode

missing=()
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch, yaml, numpy' 2>/dev/null ||
  missing+=(python3-torch python3-yaml python3-numpy)
# The torchvision networks (ResNet-18, MobileNetV2) and the .onnx export.
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torchvision, onnx' 2>/dev/null ||
  missing+=(python3-torchvision python3-onnx)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
  missing+=(dataset-fashion-mnist)
command -v darknet >/dev/null || missing+=(darknet)
if [ ${#missing[@]} -gt 0 ]; then
  echo "run.sh: missing: ${missing[*]}" >&2
  echo "run.sh: install with: apt-get install ${missing[*]}" >&2
  case " ${missing[*]} " in
    *" darknet "*) [ ${#missing[@]} -eq 1 ] && extra+=(--no-darknet) || exit 1 ;;
    *) exit 1 ;;
  esac
fi

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release -Dnative=true -Dtests=false
fi
# cnnrun and every layer plugin; nothing else (no tests).
targets=(cnnrun/cnnrun)
while read -r t; do targets+=("$t"); done < <(
  ninja -C "$build" -t targets all | sed -n 's|^\(plugins/[a-z0-9_]*/[a-z0-9_]*\.so\):.*|\1|p' | sort -u)
ninja -C "$build" "${targets[@]}" >/dev/null

echo "run.sh: $mode mode, threads $threads, $reps invocations per tool; results in $out" >&2
exec /usr/bin/python3 "$root/bench/compare.py" --cnnrun "$build/cnnrun/cnnrun" \
  --mode "$mode" --threads "$threads" --reps "$reps" --out "$out" "${extra[@]}"
