#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The layers of the second wave in a graph (tests/cli/ops-mix.yaml: prelu,
# maxpool with "same" padding and ceil_mode, a squeeze-and-excitation block
# of globalavgpool, relu6, hardsigmoid and mul, avgpool with asymmetric
# padding and count_include_pad false, elu, globalmaxpool, clip, identity,
# softmax over axis -1): shapes and parameters in cnnrun summary, one
# message and exit status 1 per bad setting, and training through the fused
# softmax cross-entropy.
#   test_layer_ops.sh CNNRUN SOURCE_ROOT
set -u
cnnrun=$1
root=$2
graph=$root/tests/cli/ops-mix.yaml
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnn-ops.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
check() { # description, condition result
  if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi
}

out=$("$cnnrun" summary "$graph" 2>&1); rc=$?
check "summary exits 0" "$rc"
grep -qx "Total params: 5,698" <<<"$out"; check "total params 5,698" $?
# name, type, output shape (C, H, W) of the layers the options shape.
while read -r name type shape; do
  grep -Eq "^$name +$type +$shape " <<<"$out"
  check "$name ($type) gives $shape" $?
done <<'ROWS'
act1 prelu 16x28x28
pool1 maxpool 16x14x14
se_pool globalavgpool 32x1x1
se_out mul 32x14x14
pool2 avgpool 32x7x7
gmp globalmaxpool 32x1x1
flat flatten 32
prob softmax 10
ROWS
grep -Eq "^act1 +prelu +16x28x28 +16 " <<<"$out"; check "prelu has C slopes" $?

# A bad value per layer: exit 1 and a message with file:line, the layer and
# the value.
bad() { # description, sed expression, words the message must contain
  local what=$1 expr=$2 err rc
  shift 2
  sed "$expr" "$graph" >"$tmp/bad.yaml"
  err=$("$cnnrun" summary "$tmp/bad.yaml" 2>&1 >/dev/null); rc=$?
  check "$what: exit 1" $(( rc == 1 ? 0 : 1 ))
  for w in "$@"; do
    grep -qF -- "$w" <<<"$err"; check "$what: message has '$w'" $?
  done
}
bad "softmax axis 0" 's/axis: -1/axis: 0/' "bad.yaml:" "'prob'" "axis 0"
bad "flatten start_dim 0" \
  's/{name: flat, type: flatten}/{name: flat, type: flatten, start_dim: 0}/' \
  "'flat'" "start_dim 0"
bad "mul shapes" 's/inputs: \[block, se_gate\]/inputs: [block, se_fc1]/' \
  "'se_out'" "1x8x1x1" "[N, C, 1, ...]"
bad "prelu num_parameters" \
  's/{name: act1, type: prelu}/{name: act1, type: prelu, num_parameters: 3}/' \
  "'act1'" "num_parameters 3" "16 channels"
bad "maxpool padding over half the window" \
  's/padding: same, ceil_mode: true/padding: [0, 2, 0, 0]/' \
  "'pool1'" "left 2" "more than half"
bad "padding word" 's/padding: same, ceil_mode: true/padding: sideways/' \
  "'pool1'" '"sideways"' "same_lower"
bad "hardsigmoid alpha kind" \
  's/{name: se_gate, type: hardsigmoid}/{name: se_gate, type: hardsigmoid, alpha: x}/' \
  "'se_gate'" "alpha"

if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  "$cnnrun" train "$graph" --data 'fashion-mnist:train@256' --epochs 1 \
    --batch 64 --optimizer adam --lr 0.003 --seed 3 --quiet \
    --out "$tmp/w.safetensors" >"$tmp/train.log" 2>&1
  check "trains one epoch" $?
  "$cnnrun" eval "$graph" --weights "$tmp/w.safetensors" \
    --data 'fashion-mnist:test@128' --json >"$tmp/eval.json" 2>&1
  check "evaluates the trained weights" $?
  python3 -c 'import json,math,sys; d=json.load(open(sys.argv[1])); assert math.isfinite(d["loss"]) and 0 <= d["top1"] <= 1, d' \
    "$tmp/eval.json"
  check "eval loss finite" $?
else
  echo "skip - Fashion-MNIST not in /usr/share/datasets/fashion-mnist"
fi
exit $fail
