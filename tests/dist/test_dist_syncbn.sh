#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --sync-bn: batch norm's statistics over the whole batch, so a step on 2
# or 4 ranks gives one process's weights (forward's mean and variance and
# backward's two per-channel sums travel between ranks); per-rank
# statistics do not, which shows the check can fail. Also: bit-identical
# repeats, an epoch, the train: setting, and the refusal of a final batch
# that would leave a rank without samples.
source "$(dirname "$0")/dist_common.sh"
graph="$root/tests/dist/bn-net.yaml"
recipe=(--batch 64 --lr 0.05 --momentum 0.9 --seed 5 --epochs 1 --quiet)
one=(--data 'fashion-mnist:train@64')
"$cnnrun" init "$graph" --seed 5 --out "$tmp/w0.safetensors" --quiet

# 1. One step: 2 and 4 ranks against one process on the same global batch.
"$cnnrun" train "$graph" "${recipe[@]}" "${one[@]}" --out "$tmp/one.safetensors"
for np in 2 4; do
  mpi "$np" "$cnnrun" train "$graph" "${recipe[@]}" "${one[@]}" --sync-bn \
    --out "$tmp/s$np.safetensors"
  check "one step on $np ranks with --sync-bn exits 0" $?
  "$weights_close" "$tmp/s$np.safetensors" "$tmp/one.safetensors" 1e-5
  check "one step: $np ranks --sync-bn == 1 process within 1e-5 per tensor" $?
  # The updates themselves catch a wrong scale (off by N or per-rank
  # statistics: 1e-1 and more). bn1.weight's gradient is a sum of per-rank
  # parts that nearly cancel: its update differs by 5.0e-5 on 4 ranks
  # (1.8e-6 on 2), so 1e-3.
  "$weights_close" "$tmp/s$np.safetensors" "$tmp/one.safetensors" 1e-3 "$tmp/w0.safetensors"
  check "one step: the update on $np ranks == 1 process's within 1e-3 per tensor" $?
done
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" "${one[@]}" --out "$tmp/p2.safetensors"
"$weights_close" "$tmp/p2.safetensors" "$tmp/one.safetensors" 1e-3 >/dev/null 2>&1
rc=$?
check "without --sync-bn (per-rank statistics) the step differs by more than 1e-3 ($rc)" \
  $(( rc != 0 ? 0 : 1 ))

# 2. Repeats are bit-identical; the graph's train: setting does the same.
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" "${one[@]}" --sync-bn --out "$tmp/s2b.safetensors"
cmp -s "$tmp/s2.safetensors" "$tmp/s2b.safetensors"
check "two 2-rank --sync-bn runs are bit-identical" $?
{ cat "$graph"; printf 'train:\n  sync_bn: true\n'; } >"$tmp/bn-sync.yaml"
mpi 2 "$cnnrun" train "$tmp/bn-sync.yaml" "${recipe[@]}" "${one[@]}" --out "$tmp/s2g.safetensors"
cmp -s "$tmp/s2.safetensors" "$tmp/s2g.safetensors"
check "sync_bn: true in the graph's train: section == --sync-bn" $?

# 3. An epoch of 8 steps (running statistics included) on 2 ranks.
"$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@512' \
  --out "$tmp/e1.safetensors"
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@512' --sync-bn \
  --out "$tmp/e2.safetensors"
check "an epoch on 2 ranks with --sync-bn exits 0 (replicas agree)" $?
"$weights_close" "$tmp/e2.safetensors" "$tmp/e1.safetensors" 1e-4 "$tmp/w0.safetensors"
check "8 steps: the updates on 2 ranks --sync-bn == 1 process within 1e-4 per tensor" $?

# 4. A final batch of 2 samples on 4 ranks would leave two ranks without
# samples, and so outside the statistics sums: refused, said once.
err=$(mpi 4 "$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@130' --sync-bn \
  --out "$tmp/x.safetensors" 2>&1); rc=$?
check "--sync-bn with idle ranks in the last batch: non-zero exit ($rc)" $(( rc != 0 ? 0 : 1 ))
n=$(grep -c "final batch has 2 sample(s) for 4 ranks" <<<"$err")
check "--sync-bn with idle ranks: said once ($n)" $(( n == 1 ? 0 : 1 ))
mpi 4 "$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@130' --sync-bn \
  --drop-last --out "$tmp/x.safetensors"
check "... and with --drop-last it trains (exit $?)" $?
exit $fail
