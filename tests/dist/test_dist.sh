#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Data-parallel training under mpirun -np 2: the same model as one process
# (dropout, flips and crops included), bit-identical repeats, one voice,
# resume, batch norm's running statistics, eval and features split across
# ranks, and the start-up errors: a batch the ranks cannot share, ranks
# given different settings or data.
source "$(dirname "$0")/dist_common.sh"
graph="$root/tests/dist/dropout-net.yaml"
recipe=(--data 'fashion-mnist:train@512' --batch 64 --lr 0.05 --momentum 0.9 --seed 5
        --flip --crop-padding 2)

# 1. One step and a whole epoch (8 steps) on 2 ranks against one process:
# weights within 1e-5 relative per tensor, and the updates themselves (the
# weights minus the initial ones) within 1e-4, which catches a wrong scale.
"$cnnrun" init "$graph" --seed 5 --out "$tmp/w0.safetensors" --quiet
"$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@64' --epochs 1 \
  --out "$tmp/one1.safetensors" --quiet
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@64' --epochs 1 \
  --out "$tmp/one2.safetensors" --quiet
check "one step on 2 ranks exits 0" $?
"$weights_close" "$tmp/one2.safetensors" "$tmp/one1.safetensors" 1e-5
check "one step: 2 ranks == 1 process within 1e-5 per tensor" $?
"$weights_close" "$tmp/one2.safetensors" "$tmp/one1.safetensors" 1e-4 "$tmp/w0.safetensors"
check "one step: the update on 2 ranks == 1 process within 1e-4 per tensor" $?
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --out "$tmp/e1.safetensors" --quiet
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --out "$tmp/e2.safetensors" \
  2>"$tmp/e2.err"
check "an epoch on 2 ranks exits 0" $?
"$weights_close" "$tmp/e2.safetensors" "$tmp/e1.safetensors" 1e-5
check "8 steps: 2 ranks == 1 process within 1e-5 per tensor" $?
# A dropout mask drawn per rank instead of per global sample moves the
# update by far more than rounding does.
"$weights_close" "$tmp/e2.safetensors" "$tmp/e1.safetensors" 1e-4 "$tmp/w0.safetensors"
check "8 steps: updates agree within 1e-4 (dropout masks, flips and crops are the global batch's)" $?

# 2. Bit-identical repeats with the same number of ranks.
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --out "$tmp/e2b.safetensors" --quiet
cmp -s "$tmp/e2.safetensors" "$tmp/e2b.safetensors"
check "two runs on 2 ranks are bit-identical" $?

# 3. One voice: the epoch line once, the job summary, no rank prefix.
n=$(grep -c '^epoch 1/1:' "$tmp/e2.err")
check "the epoch line is printed once (got $n)" $(( n == 1 ? 0 : 1 ))
grep -q "2 ranks, 8 steps of 64 images" "$tmp/e2.err"
check "rank 0 reports the job's steps and waiting time" $?

# 4. A final short batch split unevenly (500 = 7 x 64 + 52; with 3 ranks:
# 18, 17, 17), and a rank with nothing in the last batch (batch 4 on 3
# ranks of... 4 is not divisible: use 6 samples in the last batch of 3).
"$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@500' --batch 66 --epochs 1 \
  --out "$tmp/u1.safetensors" --quiet
mpi 3 "$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@500' --batch 66 --epochs 1 \
  --out "$tmp/u3.safetensors" --quiet
check "3 ranks with an uneven final batch exit 0" $?
"$weights_close" "$tmp/u3.safetensors" "$tmp/u1.safetensors" 1e-5
check "uneven final batch: 3 ranks == 1 process within 1e-5" $?
"$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@130' --batch 64 --epochs 1 \
  --out "$tmp/s1.safetensors" --quiet
mpi 4 "$cnnrun" train "$graph" "${recipe[@]}" --data 'fashion-mnist:train@130' --batch 64 --epochs 1 \
  --out "$tmp/s4.safetensors" --quiet
check "4 ranks, last batch of 2 (two ranks idle) exits 0" $?
"$weights_close" "$tmp/s4.safetensors" "$tmp/s1.safetensors" 1e-5
check "idle ranks in the last batch: 4 ranks == 1 process within 1e-5" $?

# 5. Resume: 1 epoch, then resume to 3, equals 3 straight (2 ranks); a
# checkpoint of 2 ranks resumed alone says what it does.
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 3 --out "$tmp/r.safetensors" --quiet
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --checkpoint-dir "$tmp/ck" \
  --out "$tmp/r1.safetensors" --quiet
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 3 --resume "$tmp/ck/last.safetensors" \
  --out "$tmp/r3.safetensors" --quiet
check "resumed run on 2 ranks exits 0" $?
cmp -s "$tmp/r.safetensors" "$tmp/r3.safetensors"
check "2 ranks: 1 epoch + resume + 2 == 3 epochs (bit-identical)" $?
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 3 --resume "$tmp/ck/last.safetensors" \
  --out "$tmp/r3alone.safetensors" 2>"$tmp/alone.err"
check "a 2-rank checkpoint resumes in one process" $?
grep -q "written by 2 rank(s), this run has 1" "$tmp/alone.err"
check "resuming with another rank count says so" $?
# Same global batches in the same order, sums formed differently: the
# rounding differences grow over 16 momentum steps (1e-5 to 1e-4 of the
# weights, depending on the build's kernels), so the check is on what the
# two runs did since the checkpoint (r1): their updates agree to 1%
# (measured: 3.5e-4 at most), where different batches would differ by
# the order of the update itself.
"$weights_close" "$tmp/r3alone.safetensors" "$tmp/r.safetensors" 1e-2 "$tmp/r1.safetensors"
check "... and its updates since the checkpoint agree with the 2-rank run's to 1%" $?

# 6. Batch norm: per-rank statistics; running statistics identical on all
# ranks (the trainer compares the replicas' final weights and fails if they
# differ), and the first batch norm's running mean equals one process's
# (the mean of equal-sized per-rank means is the batch mean; later layers
# see activations normalised per rank, so theirs differ by design).
bn="$root/tests/dist/bn-net.yaml"
mpi 2 "$cnnrun" train "$bn" "${recipe[@]}" --epochs 1 --out "$tmp/bn2.safetensors" --quiet
check "batch-norm graph on 2 ranks exits 0 (replicas agree)" $?
"$cnnrun" train "$bn" "${recipe[@]}" --data 'fashion-mnist:train@64' --epochs 1 \
  --out "$tmp/bn1.safetensors" --quiet
mpi 2 "$cnnrun" train "$bn" "${recipe[@]}" --data 'fashion-mnist:train@64' --epochs 1 \
  --out "$tmp/bn2s.safetensors" --quiet
"$weights_close" "$tmp/bn2s.safetensors" "$tmp/bn1.safetensors" 1e-5 2>/dev/null |
  awk '$1 == "bn1.running_mean" { found = 1; if ($5 > 1e-5) bad = 1 } END { exit bad || !found }'
check "batch norm: bn1's running mean after one step equals one process's within 1e-5" $?

# 7. eval and features split across ranks give one process's results.
"$cnnrun" eval "$graph" --weights "$tmp/e1.safetensors" --data 'fashion-mnist:test@700' \
  --batch 64 --json >"$tmp/eval1.json"
mpi 2 "$cnnrun" eval "$graph" --weights "$tmp/e1.safetensors" --data 'fashion-mnist:test@700' \
  --batch 64 --json >"$tmp/eval2.json"
check "eval on 2 ranks exits 0" $?
cmp -s "$tmp/eval1.json" "$tmp/eval2.json"
check "eval on 2 ranks prints exactly one process's result" $?
"$cnnrun" features "$graph" --weights "$tmp/e1.safetensors" --layer fc1 \
  --data 'fashion-mnist:test@700' --out "$tmp/f1.npy" --quiet
mpi 2 "$cnnrun" features "$graph" --weights "$tmp/e1.safetensors" --layer fc1 \
  --data 'fashion-mnist:test@700' --out "$tmp/f2.npy" --quiet
check "features on 2 ranks exits 0" $?
cmp -s "$tmp/f1.npy" "$tmp/f2.npy" && cmp -s "$tmp/f1.labels.npy" "$tmp/f2.labels.npy"
check "features on 2 ranks are one process's, byte for byte" $?

# 8. Start-up errors: a clear message from rank 0 only, non-zero from all.
err=$(mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --batch 63 --epochs 1 \
  --out "$tmp/x.safetensors" 2>&1); rc=$?
check "batch 63 on 2 ranks: non-zero exit ($rc)" $(( rc != 0 ? 0 : 1 ))
n=$(grep -c "must be divisible by the 2 ranks" <<<"$err")
check "batch 63 on 2 ranks: said once by rank 0 ($n)" $(( n == 1 ? 0 : 1 ))
err=$(mpi_raw \
  -np 1 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --out "$tmp/x.safetensors" : \
  -np 1 "$cnnrun" train "$graph" "${recipe[@]}" --lr 0.1 --epochs 1 --out "$tmp/x.safetensors" \
  2>&1); rc=$?
check "ranks with different settings: non-zero exit ($rc)" $(( rc != 0 ? 0 : 1 ))
grep -q "rank 1 differs from rank 0 in its training settings" <<<"$err"
check "ranks with different settings: rank 0 names rank 1 and the settings" $?
err=$(mpi_raw \
  -np 1 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --out "$tmp/x.safetensors" : \
  -np 1 "$cnnrun" train "$root/graphs/lenet5.yaml" "${recipe[@]}" --epochs 1 --out "$tmp/x.safetensors" \
  2>&1); rc=$?
check "ranks with different graphs: non-zero exit" $(( rc != 0 ? 0 : 1 ))
grep -q "rank 1 differs from rank 0 in its graph" <<<"$err"
check "ranks with different graphs: rank 0 says so" $?
err=$(mpi_raw \
  -np 1 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --out "$tmp/x.safetensors" : \
  -np 1 "$cnnrun" train "$graph" "${recipe[@]}" --data "fashion-mnist:train[1:513]" --epochs 1 \
  --out "$tmp/x.safetensors" 2>&1); rc=$?
check "ranks with different data: non-zero exit" $(( rc != 0 ? 0 : 1 ))
grep -q "rank 1 differs from rank 0 in its training data" <<<"$err"
check "ranks with different data: rank 0 says so" $?
err=$(mpi_raw \
  -np 1 "$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --out "$tmp/x.safetensors" : \
  -np 1 "$cnnrun" train "$graph" "${recipe[@]}" --data "idx:/nonexistent,/nonexistent" --epochs 1 \
  --out "$tmp/x.safetensors" 2>&1); rc=$?
check "a rank that cannot open its data: non-zero exit" $(( rc != 0 ? 0 : 1 ))
grep -q "error: rank 1: .*nonexistent" <<<"$err"
check "a rank that cannot open its data: rank 0 relays rank 1's message" $?
[ ! -e "$tmp/x.safetensors" ]
check "no weights written by a job that did not start" $?
exit $fail
