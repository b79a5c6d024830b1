#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README's 2-epoch LeNet-5 recipe under mpirun -np 2 lands in the band one
# process and PyTorch land in (83.5-86.5% top-1 on the 10,000 test images).
source "$(dirname "$0")/dist_common.sh"
graph="$root/graphs/lenet5.yaml"
mpi 2 "$cnnrun" train "$graph" --data fashion-mnist:train --epochs 2 --batch 64 \
  --optimizer sgd --lr 0.01 --momentum 0.9 --seed 0 --out "$tmp/w.safetensors" --quiet
check "2 epochs on 2 ranks exit 0" $?
acc=$(mpi 2 "$cnnrun" eval "$graph" --weights "$tmp/w.safetensors" --data fashion-mnist:test --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["top1"])')
python3 -c "import sys; sys.exit(0 if 0.835 <= float('$acc') <= 0.865 else 1)"
check "top-1 $acc within 83.5-86.5%" $?
exit $fail
