#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Four ranks against one process (one step, then an epoch with dropout,
# flips and crops), and four-rank runs bit-identical to each other.
source "$(dirname "$0")/dist_common.sh"
graph="$root/tests/dist/dropout-net.yaml"
recipe=(--batch 64 --lr 0.05 --momentum 0.9 --seed 11 --flip --crop-padding 2 --epochs 1 --quiet)
"$cnnrun" init "$graph" --seed 11 --out "$tmp/w0.safetensors" --quiet
for data in 'fashion-mnist:train@64' 'fashion-mnist:train@640'; do
  "$cnnrun" train "$graph" --data "$data" "${recipe[@]}" --out "$tmp/one.safetensors"
  mpi 4 "$cnnrun" train "$graph" --data "$data" "${recipe[@]}" --out "$tmp/four.safetensors"
  check "$data on 4 ranks exits 0" $?
  "$weights_close" "$tmp/four.safetensors" "$tmp/one.safetensors" 1e-5
  check "$data: 4 ranks == 1 process within 1e-5 per tensor" $?
  "$weights_close" "$tmp/four.safetensors" "$tmp/one.safetensors" 1e-4 "$tmp/w0.safetensors"
  check "$data: the updates agree within 1e-4 per tensor" $?
  mpi 4 "$cnnrun" train "$graph" --data "$data" "${recipe[@]}" --out "$tmp/four2.safetensors"
  cmp -s "$tmp/four.safetensors" "$tmp/four2.safetensors"
  check "$data: two 4-rank runs are bit-identical" $?
done
exit $fail
