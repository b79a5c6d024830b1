#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The habits a Keras user brings, end to end: classes matched by name (a
# class folder renamed, missing or reordered is an error or mapped, never a
# silently wrong accuracy), stratified folder slices and --val-split,
# checkpoints used as weights, best.safetensors, early stopping, the
# plateau schedule, a default recipe that learns, non-finite outputs named
# by layer, output folders created, resume naming the changed setting, and
# exit status 2 for bad option values.
set -u
cnnrun=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")  # absolute: the checks run in a scratch folder
root=$2
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "Fashion-MNIST is not installed (dataset-fashion-mnist); skipping"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
has() { grep -qF -- "$1" <<<"$2"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
graph="$root/graphs/lenet5.yaml"
folder="$root/examples/fashion"   # Bag, Sneaker, Trouser: 8 PNGs each

# 1. No optimiser flags: SGD, lr 0.01, momentum 0.9 learns.
"$cnnrun" train "$graph" --data 'fashion-mnist:train@3200' --epochs 4 --seed 1 --quiet \
  --out fm.safetensors
acc=$("$cnnrun" eval "$graph" --weights fm.safetensors --data 'fashion-mnist:test@1000' --json | json 'd["top1"]')
python3 -c "import sys; sys.exit(0 if $acc > 0.6 else 1)"
check "train without optimiser flags learns: $acc > 0.6 after 4 epochs of 3,200 images" $?

# 2. Classes by name. A 10-class model on a 3-class folder: refused, naming
# the classes the folder lacks; with --allow-missing-classes the folder's
# Bag, Sneaker and Trouser are scored as the model's classes 8, 7 and 1
# (by folder order they would be T-shirt, Trouser and Pullover).
err=$("$cnnrun" eval "$graph" --weights fm.safetensors --data "folder:$folder" 2>&1); rc=$?
[ $rc -eq 1 ] && has "lacks 7 of the 10 classes" "$err" && has "'Ankle boot'" "$err" &&
  has "--allow-missing-classes" "$err"
check "eval on a folder lacking classes: exit 1, names them" $?
out=$("$cnnrun" eval "$graph" --weights fm.safetensors --data "folder:$folder" \
  --allow-missing-classes --json --quiet)
python3 - "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
sup = {c["name"]: c["support"] for c in d["classes"]}
assert sup["Bag"] == 8 and sup["Sneaker"] == 8 and sup["Trouser"] == 8, sup
assert sup["T-shirt/top"] == 0 and len(sup) == 10, sup
assert d["top1"] > 0.6, d["top1"]   # by position it would be ~0
PY
check "eval maps folder classes to the model's by name (top-1 > 0.6)" $?
mkdir -p renamed && cp -r "$folder/Bag" renamed/Bag && cp -r "$folder/Sneaker" renamed/Shoe &&
  cp -r "$folder/Trouser" renamed/Trouser
err=$("$cnnrun" eval "$graph" --weights fm.safetensors --data folder:renamed --allow-missing-classes 2>&1); rc=$?
[ $rc -eq 1 ] && has "1 class the model does not know ('Shoe')" "$err" && has "'Sneaker'" "$err"
check "a class the model does not know: exit 1, named with the model's classes" $?
err=$("$cnnrun" train "$graph" --data "folder:$folder" --epochs 1 --out x.safetensors 2>&1); rc=$?
[ $rc -eq 1 ] && has "has 3 classes ('Bag', 'Sneaker', 'Trouser') but graph 'lenet5' outputs 10" "$err"
check "training a 10-output graph on 3 classes: exit 1, names them" $?
"$cnnrun" train "$graph" --data "folder:$folder" --epochs 1 --allow-missing-classes --quiet --out x.safetensors
check "... allowed with --allow-missing-classes" $?
# Its 7 outputs without a class are stored unnamed, not as "3".."9": a
# later folder with a class called "5" is not matched to output 5.
mkdir -p five && cp -r "$folder/Bag" five/Bag && cp -r "$folder/Sneaker" five/5
err=$("$cnnrun" eval "$graph" --weights x.safetensors --data folder:five --allow-missing-classes 2>&1); rc=$?
[ $rc -eq 1 ] && has "1 class the model does not know ('5')" "$err"
check "outputs trained without a class are not named by their index" $?
err=$("$cnnrun" train "$graph" --data 'fashion-mnist:train@500' --val folder:renamed --epochs 1 \
  --allow-missing-classes --out x.safetensors 2>&1); rc=$?
[ $rc -eq 1 ] && has "'Shoe'" "$err"
check "a --val folder with a renamed class: exit 1" $?
# A graph that declares its classes in its own order: the data follows it.
sed -e 's/^input: \[1, 28, 28\].*/input: {shape: [1, 28, 28], classes: [Trouser, Bag, Sneaker]}/' \
  -e 's/units: 10/units: 3/' "$graph" > three.yaml
"$cnnrun" train three.yaml --data "folder:$folder" --epochs 3 --quiet --out three.safetensors
out=$("$cnnrun" eval three.yaml --weights three.safetensors --data "folder:$folder" --json --quiet)
python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert [c['name'] for c in d['classes']] == ['Trouser','Bag','Sneaker'], d; assert 'top5' not in d" "$out"
check "graph classes order the outputs; no top-5 for 3 classes" $?
out=$("$cnnrun" eval three.yaml --weights three.safetensors --data "folder:$folder" --quiet)
! has "Top-5" "$out"; check "eval text: no top-5 line for 3 classes" $?
sed -e 's/^input: \[1, 28, 28\].*/input: {shape: [1, 28, 28], classes: [Trouser, Bag]}/' \
  -e 's/units: 10/units: 3/' "$graph" > two.yaml
err=$("$cnnrun" eval two.yaml --weights three.safetensors --data "folder:$folder" 2>&1); rc=$?
[ $rc -eq 1 ] && has "names 2 classes ('Trouser', 'Bag') but the output layer 'prob' gives 3 scores" "$err"
check "graph classes that do not fit the output width: exit 1" $?
# Weights trained on a 3-class folder predict with its names.
sed -e 's/units: 10/units: 3/' "$graph" > plain3.yaml
"$cnnrun" train plain3.yaml --data "folder:$folder" --epochs 2 --quiet --out p3.safetensors
out=$("$cnnrun" predict plain3.yaml --weights p3.safetensors --top 3 "$folder/Bag/0.png")
has "Bag" "$out" && has "Sneaker" "$out" && has "Trouser" "$out"
check "predict names the classes stored with the weights" $?

# 3. --val-split: stratified, reported, and exclusive with --val.
err=$("$cnnrun" train "$graph" --data 'fashion-mnist:train@1000' --val-split 0.2 --epochs 1 \
  --log vs.jsonl --out vs.safetensors 2>&1); rc=$?
[ $rc -eq 0 ] && has "800 images to train on, 200 held out" "$err" &&
  python3 -c "import json; e=[json.loads(l) for l in open('vs.jsonl') if '\"epoch\", ' in l or 'val_loss' in l]; assert any('val_acc' in x for x in e)"
check "--val-split 0.2 holds out 200 of 1,000, validated every epoch" $?
err=$("$cnnrun" train "$graph" --data 'fashion-mnist:train@1000' --val-split 0.2 \
  --val 'fashion-mnist:test@10' --out x.safetensors 2>&1); rc=$?
[ $rc -eq 2 ] && has "not both" "$err"; check "--val and --val-split: exit 2" $?

# 4. Output folders are created; checkpoints are weights too; best weights.
"$cnnrun" train "$graph" --data 'fashion-mnist:train@1000' --val 'fashion-mnist:test@300' --epochs 2 \
  --log runs/a/metrics.jsonl --checkpoint-dir runs/zz --out runs/w/w.safetensors --quiet
[ -s runs/a/metrics.jsonl ] && [ -s runs/zz/last.safetensors ] && [ -s runs/zz/best.safetensors ] &&
  [ -s runs/w/w.safetensors ]
check "--log, --checkpoint-dir and --out create their folders; best.safetensors written" $?
err=$("$cnnrun" eval "$graph" --weights runs/zz/last.safetensors --data 'fashion-mnist:test@100' 2>&1); rc=$?
[ $rc -eq 0 ] && has "optimiser state (10 tensors) is ignored" "$err"
check "eval accepts a checkpoint, noting the optimiser state is ignored" $?
"$cnnrun" predict "$graph" --weights runs/zz/last.safetensors --quiet "$folder/Bag/0.png" >/dev/null &&
  "$cnnrun" forward "$graph" --weights runs/zz/last.safetensors --input "$folder/x.npy" --output y.npy --quiet &&
  "$cnnrun" features "$graph" --weights runs/zz/best.safetensors --layer relu4 --data "folder:$folder" \
    --out f/f.npy --quiet && [ -s f/f.npy ] &&
  "$cnnrun" train "$graph" --data 'fashion-mnist:train@200' --init runs/zz/last.safetensors --epochs 1 \
    --quiet --out i.safetensors
check "predict, forward, features and --init accept checkpoints" $?

# 5. Early stopping and the plateau schedule (a tiny rate: nothing moves,
# so the first epoch is the best and the monitor never improves again).
err=$("$cnnrun" train "$graph" --data 'fashion-mnist:train@300' --val 'fashion-mnist:test@100' \
  --epochs 6 --lr 1e-12 --early-stop 2 --monitor val_acc --checkpoint-dir es --log es.jsonl \
  --out es.safetensors 2>&1); rc=$?
n=$(grep -c '"event": "epoch"' es.jsonl)
[ $rc -eq 0 ] && [ "$n" = 3 ] && has "early stop after epoch 3: val_acc has not improved for 2 epochs" "$err" &&
  [ -s es.safetensors ] && [ -s es/best.safetensors ]
check "--early-stop 2 --monitor val_acc stops after epoch 3 of 6 and says why" $?
"$cnnrun" train "$graph" --data 'fashion-mnist:train@300' --val 'fashion-mnist:test@100' \
  --epochs 4 --lr 1e-12 --schedule plateau --plateau-patience 0 --gamma 0.5 --log pl.jsonl \
  --quiet --out pl.safetensors
python3 - <<'PY'
import json
lrs = [json.loads(l)["lr"] for l in open("pl.jsonl") if '"event": "epoch"' in l]
# Epoch 1 sets the best; each later one fails to improve: x 0.5 each time.
want = [1e-12, 1e-12, 5e-13, 2.5e-13]
assert all(abs(a - b) < 1e-18 for a, b in zip(lrs, want)) and len(lrs) == 4, lrs
PY
check "plateau schedule halves the rate after each epoch without improvement" $?

# 6. Resume with a changed setting names it.
err=$("$cnnrun" train "$graph" --data 'fashion-mnist:train@1000' --val 'fashion-mnist:test@300' --epochs 3 \
  --lr 0.02 --resume runs/zz/last.safetensors --out x.safetensors 2>&1); rc=$?
[ $rc -eq 1 ] && has "lr: '0.01' in the checkpoint, '0.02' now" "$err"
check "resume with another lr: exit 1, names lr with both values" $?

# 7. Non-finite numbers are never silent. Weights holding NaN or infinity
# are refused when loaded (docs/limits.md), so conv2 gets huge finite
# weights whose products overflow to infinity.
"$cnnrun" init "$graph" --seed 1 --out nan.safetensors --quiet
python3 - nan.safetensors <<'PY'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
a, b = json.loads(data[8:8 + n])["conv2.weight"]["data_offsets"]
data[8 + n + a:8 + n + b] = struct.pack("<f", 3e38) * ((b - a) // 4)
open(path, "wb").write(data)
PY
err=$("$cnnrun" forward "$graph" --weights nan.safetensors --input "$folder/x.npy" --output y.npy 2>&1); rc=$?
[ $rc -eq 1 ] && has "layer 'conv2' (conv) is the first whose output is not finite" "$err" &&
  [ -s y.npy ]
check "forward: non-finite output exits 1 naming conv2" $?
err=$("$cnnrun" eval "$graph" --weights nan.safetensors --data 'fashion-mnist:test@50' --json 2>&1); rc=$?
[ $rc -eq 1 ] && has "layer 'conv2' (conv) is the first" "$err"
check "eval: non-finite scores exit 1 naming conv2" $?
err=$("$cnnrun" train "$graph" --data 'fashion-mnist:train@200' --init nan.safetensors --epochs 1 \
  --checkpoint-dir nanck --out x.safetensors 2>&1); rc=$?
[ $rc -eq 1 ] && has "layer 'conv2' (conv) is the first" "$err" && has "No checkpoint yet" "$err"
check "train: non-finite stop names conv2 and says no checkpoint yet" $?

# 8. Bad option values are usage errors (exit 2).
"$cnnrun" train "$graph" --data 'fashion-mnist:train@10' --lr abc --out x.safetensors 2>/dev/null
check "--lr abc: exit 2" $(( $? == 2 ? 0 : 1 ))
"$cnnrun" train "$graph" --data 'fashion-mnist:train@10' --val-split 1.5 --out x.safetensors 2>/dev/null
check "--val-split 1.5: exit 2" $(( $? == 2 ? 0 : 1 ))
"$cnnrun" train "$graph" --data 'fashion-mnist:train@10' --optimizer adam --momentum 0.9 \
  --out x.safetensors 2>/dev/null
check "--momentum with adam: exit 2" $(( $? == 2 ? 0 : 1 ))
exit $fail
