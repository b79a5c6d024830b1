#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Graph-file habits from Keras: `activation:` on a layer expands into a
# separate `<layer>_act` layer that computes exactly what the explicit
# layer would; an unknown type gets "did you mean" and the installed
# types; an input written [H, W, C] gets a hint; relative backbone paths
# are shown resolved; a weights file that is not safetensors is named so.
set -u
cnnrun=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")  # absolute: the checks run in a scratch folder
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
has() { grep -qF -- "$1" <<<"$2"; }

cat > short.yaml <<'YAML'
name: short
input: [1, 12, 12]
layers:
  - {name: conv1, type: conv, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {name: pool1, type: maxpool, size: 2}
  - {name: conv2, type: conv, filters: 4, kernel: 3, padding: 1, activation: tanh}
  - {name: sum, type: add, inputs: [pool1, conv2]}
  - {name: flatten, type: flatten}
  - {name: fc, type: dense, units: 5, activation: softmax}
YAML
cat > long.yaml <<'YAML'
name: long
input: [1, 12, 12]
layers:
  - {name: conv1, type: conv, filters: 4, kernel: 3, padding: 1}
  - {name: conv1_act, type: relu}
  - {name: pool1, type: maxpool, size: 2}
  - {name: conv2, type: conv, filters: 4, kernel: 3, padding: 1}
  - {name: conv2_act, type: tanh}
  - {name: sum, type: add, inputs: [pool1, conv2_act]}
  - {name: flatten, type: flatten}
  - {name: fc, type: dense, units: 5}
  - {name: fc_act, type: softmax}
YAML
out=$("$cnnrun" summary short.yaml 2>&1)
has "conv1_act              relu" "$out" && has "conv2_act              tanh" "$out" &&
  has "fc_act                 softmax" "$out"
check "activation: expands into <layer>_act layers" $?
"$cnnrun" init short.yaml --seed 3 --out w.safetensors --quiet
python3 - <<'PY'
import struct
vals = [((i * 37) % 101) / 50.0 - 1.0 for i in range(2 * 144)]
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 12, 12), }"
header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
open("x.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
                          + struct.pack("<%df" % len(vals), *vals))
PY
"$cnnrun" forward short.yaml --weights w.safetensors --input x.npy --output a.npy --quiet &&
  "$cnnrun" forward long.yaml --weights w.safetensors --input x.npy --output b.npy --quiet &&
  cmp -s a.npy b.npy
check "the shorthand computes exactly what the explicit layers do (add takes conv2's activation)" $?

sed 's/type: conv, filters: 4, kernel: 3, padding: 1, activation: relu/type: convolution, filters: 4, kernel: 3, padding: 1/' short.yaml > t1.yaml
err=$("$cnnrun" summary t1.yaml 2>&1); rc=$?
[ $rc -eq 1 ] && has "t1.yaml:4:" "$err" && has "unknown layer type 'convolution' (did you mean 'conv'?)" "$err" &&
  has "installed types: add, avgpool" "$err"
check "unknown type: did you mean, and the installed types" $?
sed 's/activation: relu/activation: rleu/' short.yaml > t2.yaml
err=$("$cnnrun" summary t2.yaml 2>&1); rc=$?
[ $rc -eq 1 ] && has "unknown layer type 'rleu' (did you mean 'relu'?)" "$err"
check "unknown activation: did you mean" $?
sed 's/activation: relu/activation: concat/' short.yaml > t3.yaml
err=$("$cnnrun" summary t3.yaml 2>&1); rc=$?
[ $rc -eq 1 ] && has "activation 'concat' takes" "$err" && has "an activation must take one" "$err"
check "an activation must be a one-input plugin" $?
sed 's/input: \[1, 12, 12\]/input: [12, 12, 1]/' short.yaml > t4.yaml
err=$("$cnnrun" summary t4.yaml 2>&1); rc=$?
[ $rc -eq 1 ] && has "[12, 12, 1] looks like [H, W, C]" "$err" && has "write [1, 12, 12]" "$err"
check "an input written [H, W, C] gets a hint" $?

mkdir heads
printf 'name: h\nbackbone:\n  graph: ../missing.yaml\nlayers:\n  - {name: d, type: dense, units: 3}\n' > heads/h.yaml
err=$("$cnnrun" summary heads/h.yaml 2>&1); rc=$?
[ $rc -eq 1 ] && has "backbone graph '../missing.yaml' (relative to heads/h.yaml's folder: $tmp/missing.yaml)" "$err"
check "a missing backbone graph is shown resolved" $?
printf 'name: h\nbackbone:\n  graph: ../short.yaml\n  weights: ../missing.safetensors\n  cut_after: flatten\nlayers:\n  - {name: d, type: dense, units: 3}\n' > heads/h2.yaml
err=$("$cnnrun" init heads/h2.yaml --out h.safetensors 2>&1); rc=$?
[ $rc -eq 1 ] && has "backbone weights heads/../missing.safetensors (that is, $tmp/missing.safetensors)" "$err"
check "missing backbone weights are shown resolved" $?
head -c 200 "$root/README.md" > notweights.safetensors
err=$("$cnnrun" forward short.yaml --weights notweights.safetensors --input x.npy --output c.npy 2>&1); rc=$?
[ $rc -eq 1 ] && has "notweights.safetensors is not a safetensors file" "$err"
check "a weights file that is not safetensors is named as such" $?
out=$("$cnnrun" summary "$root/graphs/alexnet-torchvision.yaml")
has "Total params: 61,100,840" "$out"
check "graphs/alexnet-torchvision.yaml has torchvision AlexNet's 61,100,840 parameters" $?
exit $fail
