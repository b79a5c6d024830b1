#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Transfer learning end to end on a small folder of PNG images: a head on a
# backbone loaded from safetensors gives the backbone's exact features,
# exported features equal `forward --until`, frozen weights stay
# bit-identical through training, loading says what it did, and a shape
# mismatch names the tensor and both shapes.
set -u
cnnrun=$1
root=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }

python3 "$here/make_images.py" "$tmp" 3 8 28 || exit 1
"$cnnrun" init "$root/graphs/lenet5.yaml" --seed 3 --out "$tmp/backbone.safetensors" --quiet
cat > "$tmp/head.yaml" <<YAML
name: head
backbone:
  graph: $root/graphs/lenet5.yaml
  weights: backbone.safetensors
  cut_after: relu4
  freeze: all
layers:
  - {name: classes3, type: dense, units: 3}
  - {name: prob, type: softmax}
YAML

# Loading says what happened to each tensor.
err=$("$cnnrun" train "$tmp/head.yaml" --data "folder:$tmp/images" --epochs 3 --batch 8 --lr 0.1 \
  --momentum 0.9 --seed 1 --out "$tmp/head.safetensors" 2>&1 >/dev/null)
check "training a head on a frozen backbone exits 0" $?
grep -q "loaded 8 tensors" <<<"$err"; check "report: 8 backbone tensors loaded" $?
grep -q "dropped 2 not in this graph (fc3.weight, fc3.bias)" <<<"$err"; check "report: old head dropped" $?
grep -q "newly initialised 2 (classes3.weight, classes3.bias)" <<<"$err"; check "report: new head initialised" $?

# The class names of the training folders travel with the weights.
out=$("$cnnrun" predict "$tmp/head.yaml" --weights "$tmp/head.safetensors" --top 3 \
  "$tmp/images/class2/000.png" 2>&1)
grep -q "class0" <<<"$out" && grep -q "class1" <<<"$out" && grep -q "class2" <<<"$out"
check "predict names classes from the trained weights" $?

# Frozen weights are bit-identical after training; the head did change.
python3 "$here/frozen_unchanged.py" "$tmp/backbone.safetensors" "$tmp/head.safetensors" 8
check "frozen backbone tensors bit-identical after training" $?

# The head's view of the backbone gives the backbone's exact features, and
# features equal forward --until at that layer.
"$cnnrun" features "$tmp/head.yaml" --weights "$tmp/head.safetensors" --layer relu4 \
  --data "folder:$tmp/images" --out "$tmp/f_head.npy" --quiet
"$cnnrun" features "$root/graphs/lenet5.yaml" --weights "$tmp/backbone.safetensors" --layer relu4 \
  --data "folder:$tmp/images" --out "$tmp/f_backbone.npy" --quiet
cmp -s "$tmp/f_head.npy" "$tmp/f_backbone.npy"
check "head on the loaded backbone gives the backbone's exact features" $?
"$cnnrun" forward "$root/graphs/lenet5.yaml" --weights "$tmp/backbone.safetensors" \
  --input "$tmp/x.npy" --output "$tmp/f_forward.npy" --until relu4 --quiet
# x.npy holds the images class by class; a folder dataset's order is the
# fixed stratified shuffle, so rows are matched by content: each feature
# row is exactly one forward row, and its label is that row's class.
python3 - "$tmp/f_backbone.npy" "$tmp/f_forward.npy" "$tmp/f_head.labels.npy" <<'PY'
import struct, sys
def rows(path):
    data = open(path, "rb").read()
    n = struct.unpack("<H", data[8:10])[0]
    body = data[10 + n:]
    return [body[i:i + len(body) // 24] for i in range(0, len(body), len(body) // 24)]
feat, fwd = rows(sys.argv[1]), rows(sys.argv[2])
assert sorted(feat) == sorted(fwd), "features are not the forward rows"
labels = [struct.unpack("<i", r)[0] for r in rows(sys.argv[3])]
for i, row in enumerate(feat):
    assert fwd.index(row) // 8 == labels[i], (i, labels[i])
assert labels[:6] != [0] * 6, "folder order is still class order"
PY
check "features equal forward --until relu4, labels follow the class folders" $?

# LIBSVM export and LIBLINEAR on the features.
"$cnnrun" features "$root/graphs/lenet5.yaml" --weights "$tmp/backbone.safetensors" --layer relu4 \
  --data "folder:$tmp/images" --out "$tmp/f.npy" --libsvm "$tmp/f.svm" --quiet
[ "$(wc -l < "$tmp/f.svm")" -eq 24 ] && grep -Eq '^2( [0-9]+:[-0-9.e]+)+$' <(tail -1 "$tmp/f.svm")
check "LIBSVM text: one line per sample, label then index:value" $?
"$cnnrun" linear train "$tmp/f.npy" --labels "$tmp/f.labels.npy" --out "$tmp/m.safetensors" --quiet
check "LIBLINEAR trains on the features" $?
python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == ["class0", "class1", "class2"]' \
  "$tmp/f.labels.classes.json"
check "features writes the class names beside the labels" $?
acc=$("$cnnrun" linear eval "$tmp/m.safetensors" "$tmp/f.npy" --labels "$tmp/f.labels.npy" --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["confusion"]) == 3 and d["classes"] == ["class0", "class1", "class2"]; print(d["top1"])')
check "LIBLINEAR evaluates with a 3x3 confusion matrix and the folder names (train accuracy $acc)" $?
"$cnnrun" linear predict "$tmp/m.safetensors" "$tmp/f.npy" | cut -f2 | sort -u | tr '\n' ' ' |
  grep -Eq '^(class[012] )+$'
check "linear predict prints the folders' class names" $?

# A backbone whose weights do not fit the graph: both shapes named.
cat > "$tmp/wide.yaml" <<YAML
name: wide
input: [1, 28, 28]
layers:
  - {name: conv1, type: conv, filters: 8, kernel: 5, padding: 2}
YAML
cat > "$tmp/bad_head.yaml" <<YAML
name: bad_head
backbone: {graph: wide.yaml, weights: backbone.safetensors}
layers:
  - {name: flat, type: flatten}
YAML
err=$("$cnnrun" init "$tmp/bad_head.yaml" --out "$tmp/x.safetensors" 2>&1); rc=$?
check "shape mismatch: exit 1" $(( rc == 1 ? 0 : 1 ))
grep -q "conv1.weight" <<<"$err" && grep -q "\[6, 1, 5, 5\]" <<<"$err" && grep -q "\[8, 1, 5, 5\]" <<<"$err"
check "shape mismatch: names the tensor and both shapes" $?

# summary marks backbone layers and counts frozen parameters apart.
out=$("$cnnrun" summary "$tmp/head.yaml")
grep -qx "Non-trainable params: 60,856" <<<"$out" && grep -qx "Trainable params: 255" <<<"$out"
check "summary: frozen and trainable parameters apart" $?
grep -Eq "^conv1 .* BF$" <<<"$out"; check "summary: backbone layers marked" $?

# A frozen backbone with batch norm runs it as in inference: the running
# statistics normalise, and stay bit-identical through training like the
# weights (a training-mode batch norm would move them off their 0 and 1).
cat > "$tmp/bnnet.yaml" <<YAML
name: bnnet
input: [1, 28, 28]
layers:
  - {name: conv1, type: conv, filters: 4, kernel: 5, padding: 2}
  - {name: bn1, type: batchnorm}
  - {name: relu1, type: relu}
  - {name: pool1, type: maxpool, size: 4}
  - {name: flat, type: flatten}
  - {name: fc1, type: dense, units: 8}
  - {name: bn2, type: batchnorm}
  - {name: relu2, type: relu}
YAML
cat > "$tmp/bnhead.yaml" <<YAML
name: bnhead
backbone: {graph: bnnet.yaml, weights: bnnet.safetensors, freeze: all}
layers:
  - {name: classes3, type: dense, units: 3}
  - {name: prob, type: softmax}
YAML
"$cnnrun" init "$tmp/bnnet.yaml" --seed 4 --out "$tmp/bnnet.safetensors" --quiet
out=$("$cnnrun" summary "$tmp/bnhead.yaml")
grep -qx "Non-trainable params: 1,728" <<<"$out" && grep -qx "Trainable params: 27" <<<"$out"
check "summary: a frozen batch norm's parameters and statistics are non-trainable" $?
"$cnnrun" train "$tmp/bnhead.yaml" --data "folder:$tmp/images" --epochs 2 --batch 8 --lr 0.1 \
  --momentum 0.9 --seed 1 --quiet --out "$tmp/bnhead.safetensors"
check "training a head on a frozen batch-norm backbone exits 0" $?
python3 "$here/frozen_unchanged.py" "$tmp/bnnet.safetensors" "$tmp/bnhead.safetensors" 12 \
  bn1.running_mean bn2.running_var
check "frozen batch norm: weights and running statistics bit-identical after training" $?
exit $fail
