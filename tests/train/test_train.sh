#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Training end to end on a Fashion-MNIST subset: learning happens, runs are
# reproducible, an interrupted and resumed run equals an uninterrupted one,
# a killed checkpoint write leaves the previous checkpoint whole, a
# diverging loss stops training with a message naming the step, and batch
# norm's running statistics are saved, checkpointed and resumed exactly.
set -u
cnnrun=$1
root=$2
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "Fashion-MNIST is not installed (dataset-fashion-mnist); skipping"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
graph="$root/graphs/lenet5.yaml"
recipe=(--data 'fashion-mnist:train@2560' --batch 64 --lr 0.05 --momentum 0.9 --seed 7 --quiet)

# 1. Learning: well above the 10% of chance after a short run.
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 3 --out "$tmp/a.safetensors"
check "train exits 0" $?
acc=$("$cnnrun" eval "$graph" --weights "$tmp/a.safetensors" --data 'fashion-mnist:test@1000' --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["top1"])')
python3 -c "import sys; sys.exit(0 if float('$acc') > 0.6 else 1)"
check "accuracy after 3 short epochs is $acc (> 0.6)" $?

# 2. Reproducible: the same seed gives bit-identical weights.
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 3 --out "$tmp/a2.safetensors"
cmp -s "$tmp/a.safetensors" "$tmp/a2.safetensors"
check "same seed, same weights" $?

# 3. Resume: 1 epoch + resume + 2 more equals 3 straight.
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --checkpoint-dir "$tmp/ck" --out "$tmp/b1.safetensors"
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 3 --resume "$tmp/ck/last.safetensors" --out "$tmp/b.safetensors"
check "resumed run exits 0" $?
cmp -s "$tmp/a.safetensors" "$tmp/b.safetensors"
check "1 epoch + resume + 2 epochs == 3 epochs (bit-identical)" $?
# Mid-epoch checkpoints resume exactly too.
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 3 --checkpoint-dir "$tmp/ck2" --checkpoint-every 7 \
  --out "$tmp/c.safetensors"
cmp -s "$tmp/a.safetensors" "$tmp/c.safetensors"
check "checkpointing does not change the trajectory" $?

# 4. Resume refuses other settings.
err=$("$cnnrun" train "$graph" "${recipe[@]}" --lr 0.1 --epochs 3 --resume "$tmp/ck/last.safetensors" \
  --out "$tmp/x.safetensors" 2>&1); rc=$?
check "resume with another lr: exit 1" $(( rc == 1 ? 0 : 1 ))
grep -q "other training settings" <<<"$err"; check "resume with another lr: says why" $?

# 5. SIGKILL while checkpoints are being written: the checkpoint on disk is
# always a whole, loadable one (written to a temporary name, fsynced and
# renamed).
for delay in 0.3 0.6 0.9 1.3 1.7; do
  rm -rf "$tmp/kill"
  "$cnnrun" train "$graph" --data 'fashion-mnist:train@2560' --batch 64 --lr 0.05 --momentum 0.9 \
    --seed 7 --quiet --epochs 50 --checkpoint-dir "$tmp/kill" --checkpoint-every 1 \
    --out "$tmp/k.safetensors" &
  pid=$!
  sleep "$delay"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if [ -f "$tmp/kill/last.safetensors" ]; then
    # One epoch more than the checkpoint holds: it must load and train on.
    epochs=$(python3 -c 'import json,struct,sys; d=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",d[:8])[0]; print(int(json.loads(d[8:8+n])["__metadata__"]["epoch"]) + 1)' "$tmp/kill/last.safetensors")
    "$cnnrun" train "$graph" --data 'fashion-mnist:train@2560' --batch 64 --lr 0.05 --momentum 0.9 \
      --seed 7 --quiet --epochs "$epochs" --resume "$tmp/kill/last.safetensors" --out "$tmp/k2.safetensors" \
      >/dev/null 2>&1
    check "checkpoint after SIGKILL at ${delay}s loads" $?
  else
    echo "ok - killed at ${delay}s before the first checkpoint"
  fi
done

# 6. A non-finite loss stops training, names the step, exits 1 and keeps
# the last good checkpoint. (ReLU nets die rather than overflow with a huge
# learning rate, so a huge weight makes the loss overflow at the first step;
# an infinite one is refused when the weights are loaded.)
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --checkpoint-dir "$tmp/nan" --out "$tmp/good.safetensors"
cp "$tmp/nan/last.safetensors" "$tmp/last-good.safetensors"
"$cnnrun" init "$graph" --seed 1 --out "$tmp/inf.safetensors" --quiet
python3 - "$tmp/inf.safetensors" <<'PY'
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
header = struct.unpack("<Q", data[:8])[0]
data[8 + header:8 + header + 4] = struct.pack("<f", float("inf"))
open(path, "wb").write(data)
data[8 + header:8 + header + 600] = struct.pack("<150f", *[3e38] * 150)  # all of conv1
open(path[:-len("inf.safetensors")] + "huge.safetensors", "wb").write(data)
PY
err=$("$cnnrun" train "$graph" "${recipe[@]}" --epochs 2 --init "$tmp/inf.safetensors" \
  --out "$tmp/nan.safetensors" 2>&1); rc=$?
check "infinite weight: exit 1" $(( rc == 1 ? 0 : 1 ))
grep -Eq "inf.safetensors: tensor '[a-z0-9]+\.[a-z]+' holds \+infinity at index 0" <<<"$err"
check "infinite weight: message names the tensor and index ($err)" $?
err=$("$cnnrun" train "$graph" "${recipe[@]}" --epochs 2 --init "$tmp/huge.safetensors" \
  --checkpoint-dir "$tmp/nan" --out "$tmp/nan.safetensors" 2>&1); rc=$?
check "non-finite loss: exit 1" $(( rc == 1 ? 0 : 1 ))
grep -Eq "loss is (NaN|infinite) at epoch 1, step 1" <<<"$err"
check "non-finite loss: message names epoch and step" $?
[ ! -f "$tmp/nan.safetensors" ]; check "non-finite loss: no final weights written" $?
cmp -s "$tmp/nan/last.safetensors" "$tmp/last-good.safetensors"
check "non-finite loss: the last good checkpoint is kept" $?

# 7. Bad data reaches the user as a message naming the file.
printf 'not an idx file' > "$tmp/bad.idx"
err=$("$cnnrun" train "$graph" --data "idx:$tmp/bad.idx,$tmp/bad.idx" --out "$tmp/y.safetensors" 2>&1); rc=$?
check "bad IDX data: exit 1" $(( rc == 1 ? 0 : 1 ))
grep -q "bad.idx" <<<"$err"; check "bad IDX data: message names the file" $?

# 8. Metrics log and plot; the cosine schedule decays the rate.
"$cnnrun" train "$graph" "${recipe[@]}" --epochs 2 --val 'fashion-mnist:test@500' --log "$tmp/m.jsonl" \
  --log-every 5 --schedule cosine --out "$tmp/d.safetensors"
python3 - "$tmp/m.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
epochs = [l for l in lines if l["event"] == "epoch"]
steps = [l for l in lines if l["event"] == "step"]
assert len(epochs) == 2 and len(steps) >= 4, (len(epochs), len(steps))
for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s", "wall"):
    assert k in epochs[-1], k
assert abs(epochs[0]["lr"] - 0.025) < 1e-6 and epochs[1]["lr"] < 1e-9, [e["lr"] for e in epochs]
PY
check "metrics log has step and epoch lines with validation; cosine lr 0.05 -> 0.025 -> 0" $?
"$cnnrun" plot "$tmp/m.jsonl" --out "$tmp/c.svg" --quiet && grep -q "<polyline" "$tmp/c.svg"
check "plot writes an SVG with curves" $?

# 9. Batch normalisation: the running statistics are trained by forward
# passes only (never by the optimiser, weight decay included), saved with
# the weights and in checkpoints, and restored on resume.
cat > "$tmp/bn.yaml" <<'YAML'
name: lenet5_bn
input: [1, 28, 28]
layers:
  - {name: conv1, type: conv, filters: 6, kernel: 5, padding: 2, bias: false}
  - {name: bn1, type: batchnorm}
  - {name: relu1, type: relu}
  - {name: pool1, type: maxpool, size: 2}
  - {name: conv2, type: conv, filters: 16, kernel: 5, bias: false}
  - {name: bn2, type: batchnorm, momentum: 0.2}
  - {name: relu2, type: relu}
  - {name: pool2, type: maxpool, size: 2}
  - {name: flatten, type: flatten}
  - {name: fc1, type: dense, units: 64, bias: false}
  - {name: bn3, type: batchnorm}
  - {name: relu3, type: relu}
  - {name: fc2, type: dense, units: 10}
  - {name: prob, type: softmax}
YAML
out=$("$cnnrun" summary "$tmp/bn.yaml")
grep -qx "Total params: 29,144" <<<"$out" && grep -qx "Non-trainable params: 172" <<<"$out"
check "batch norm: running statistics count as non-trainable (172 of 29,144)" $?
bn=(--data 'fashion-mnist:train@2560' --batch 64 --lr 0.05 --momentum 0.9 --weight-decay 0.01 --seed 7 --quiet)
"$cnnrun" train "$tmp/bn.yaml" "${bn[@]}" --epochs 2 --out "$tmp/bn2.safetensors"
check "batch norm: train exits 0" $?
"$cnnrun" train "$tmp/bn.yaml" "${bn[@]}" --epochs 1 --checkpoint-dir "$tmp/bnck" --out "$tmp/bn1.safetensors" &&
  "$cnnrun" train "$tmp/bn.yaml" "${bn[@]}" --epochs 2 --resume "$tmp/bnck/last.safetensors" \
    --out "$tmp/bnr.safetensors"
check "batch norm: resumed run exits 0" $?
cmp -s "$tmp/bn2.safetensors" "$tmp/bnr.safetensors"
check "batch norm: 1 epoch + resume + 1 epoch == 2 epochs (bit-identical)" $?
python3 - "$tmp/bn1.safetensors" "$tmp/bnck/last.safetensors" "$tmp/bn2.safetensors" <<'PY'
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = struct.unpack("<%df" % ((b - a) // 4), body[a:b])
    return out
one, ck, two = (tensors(p) for p in sys.argv[1:])
for layer, c in (("bn1", 6), ("bn2", 16), ("bn3", 64)):
    for p in ("weight", "bias", "running_mean", "running_var"):
        name = "%s.%s" % (layer, p)
        assert name in one and name in ck and name in two, name
        assert len(two[name]) == c, (name, len(two[name]))
        assert ck[name] == one[name], "checkpoint and weights differ: " + name
    # Moved by the forward passes, and away from their initial 0 and 1.
    assert two["%s.running_mean" % layer] != one["%s.running_mean" % layer], layer
    assert any(abs(v) > 1e-3 for v in one["%s.running_mean" % layer]), layer
    assert all(v > 0 for v in two["%s.running_var" % layer]), layer
    assert any(abs(v - 1) > 1e-3 for v in two["%s.running_var" % layer]), layer
    # No optimiser state for running statistics.
    for p in ("running_mean", "running_var"):
        assert "optim.%s.%s.momentum" % (layer, p) not in ck, (layer, p)
    assert "optim.%s.weight.momentum" % layer in ck, layer
PY
check "batch norm: running statistics saved, checkpointed, updated; no optimiser state for them" $?
acc=$("$cnnrun" eval "$tmp/bn.yaml" --weights "$tmp/bn2.safetensors" --data 'fashion-mnist:test@1000' --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["top1"])')
python3 -c "import sys; sys.exit(0 if float('$acc') > 0.6 else 1)"
check "batch norm: inference with the running statistics, accuracy $acc (> 0.6)" $?

# 10. 129 images in batches of 64 leave a last batch of one sample, on which
# bn3 (BatchNorm1d) cannot estimate a variance: a clear error, and
# --drop-last (or drop_last: true) skips that batch.
msg=$("$cnnrun" train "$tmp/bn.yaml" --data 'fashion-mnist:train@129' --batch 64 --epochs 1 \
  --quiet --out "$tmp/bnd.safetensors" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "bn3" <<<"$msg" && grep -q "more than one value per channel" <<<"$msg"
check "batch norm: a last batch of one sample is refused, naming the layer" $?
out=$("$cnnrun" train "$tmp/bn.yaml" --data 'fashion-mnist:train@129' --batch 64 --epochs 1 \
  --drop-last --log "$tmp/bnd.jsonl" --out "$tmp/bnd.safetensors" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -s "$tmp/bnd.safetensors" ] &&
  python3 -c "import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; s=max(x.get('step',0) for x in e); sys.exit(0 if s==2 else 1)" "$tmp/bnd.jsonl"
check "--drop-last: trains on the two full batches only (exit $rc)" $?
exit $fail
