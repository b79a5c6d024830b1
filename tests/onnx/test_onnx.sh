#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cnnrun import/export end to end: every fixture model (exported from
# PyTorch by tests/fixtures/gen_onnx_fixtures.py) imports and its forward
# output equals PyTorch's within 1e-4 relative; every broken model is
# refused with exit 1 and a message naming what is wrong; truncated and
# garbage files never crash; export then import is exact (a second export
# is byte-identical); a third-party layer is refused by name.
set -u
cnnrun=$1 root=$2 npy_close=$3 plugin_dir=$4
fix=$root/tests/fixtures/onnx
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
run() { ${CNN_TEST_WRAPPER:-} "$cnnrun" "$@"; }

for m in "$fix"/*.onnx; do
  n=$(basename "$m" .onnx)
  run import --quiet "$m" --graph "$tmp/$n.yaml" --weights "$tmp/$n.safetensors"
  check "$n imports" $?
  run forward --quiet "$tmp/$n.yaml" --weights "$tmp/$n.safetensors" \
    --input "$fix/$n.x.npy" --output "$tmp/$n.y.npy"
  check "$n runs" $?
  "$npy_close" "$tmp/$n.y.npy" "$fix/$n.y.npy" 1e-4
  check "$n equals PyTorch within 1e-4" $?
done
# The YAML is for people: one layer a line, inputs only where needed.
grep -q '^  - {name: c1, type: conv, filters: 4, kernel: 3, padding: 1}$' "$tmp/basic.yaml"
check "basic.yaml: readable conv line" $?
grep -q 'inputs: \[' "$tmp/residual.yaml"; check "residual.yaml names a join's inputs" $?
grep -q '# ONNX does not record the input' "$tmp/basic.yaml"; check "normalisation comment" $?

expect_error() { # file, expected text...
  local f=$1 out rc
  shift
  out=$(run import "$fix/bad/$f.onnx" --graph "$tmp/bad.yaml" --weights "$tmp/bad.st" 2>&1)
  rc=$?
  check "$f: exit 1" $(( rc == 1 ? 0 : 1 ))
  for text in "$@"; do
    grep -qF -- "$text" <<<"$out"; check "$f: message has '$text'" $?
  done
}
expect_error unsupported_op "node 'mystery'" "Einsum" "opset 13" "supported ops: Conv"
expect_error custom_domain "com.example"
expect_error cycle "cycle"
expect_error unknown_input "'ghost'" "add_ghost"
expect_error dynamic_hw "dynamic size 'H'" "--input-shape"
expect_error int_input "INT64"
expect_error conv_group "group 3 does not divide"
expect_error maxpool_storage_order "storage_order 1"
expect_error opset5 "opset 5"
expect_error conv_unknown_attr "'frobnicate'"
expect_error raw_size "needs 72 elements, raw_data holds 70"
expect_error typed_size "needs 72 elements, float_data holds 70"
expect_error external_absolute "/etc/hostname" "relative path"
expect_error external_dotdot "'..'"
expect_error reduce_channels "node 'mean_c'" "only a reduction over axes 2 and 3"
expect_error transpose_nhwc "output 'y'" "channels-last"
expect_error transpose_hw "node 'swap_hw'" "channels-last and back" "inside a channel shuffle"
expect_error view_read "node 'relu_view'" "grouped view of channels"
expect_error channels_last_pool "node 'pool_last'" "channels-last"
expect_error gelu_step "node 'relu_of_step'" "step of a GELU"
expect_error gelu_step_add "node 'add_erf'" "Add of computed values"
expect_error reduce_nhwc "node 'mean_wc'" "reduction of channels-last data"
expect_error pad_ceil_pool "node 'pool_ceil'" "ceil_mode 1 after a Pad"
expect_error pad_wide_pool "node 'pool_wide'" "wider than half the 3x3 window"
expect_error computed_huge "node 'fill_huge'" "constants computed at import"
expect_error computed_copy "node 'copy_big'" "constants computed at import"
grep -q 'type: silu' "$tmp/silu_channels_last.yaml"
check "silu_channels_last.yaml: x * Sigmoid(x) on channels-last data is one silu" $?
for n in convnext_bits convnext_bits_opset17; do
  [ "$(grep -c 'type: layernorm' "$tmp/$n.yaml")" -eq 5 ] && [ "$(grep -c 'type: gelu' "$tmp/$n.yaml")" -eq 2 ]
  check "$n.yaml: five layer norms and two GELUs, each one layer" $?
  grep -q 'type: conv, filters: 32, kernel: 1' "$tmp/$n.yaml"
  check "$n.yaml: a channels-last Linear is a 1x1 conv" $?
done
expect_error pad_maxpool "node 'max_after_pad'" "padded with zeros by a Pad"
expect_error pad_reflect "node 'pad_reflect'" "only padding with zeros" "'reflect'"
grep -q 'type: avgpool, size: 3, stride: 1, padding: 1, count_include_pad: true' "$tmp/pads.yaml"
check "pads.yaml: a Pad then an AveragePool is one avgpool counting its padding" $?
grep -q 'type: conv, filters: 4, kernel: 3, padding: \[0, 1, 1, 2\]' "$tmp/pads.yaml"
check "pads.yaml: a Pad before a conv is the conv's padding" $?
grep -q 'type: channel_shuffle, groups: 3' "$tmp/shuffle.yaml"; check "shuffle.yaml: a three-way channel shuffle" $?
grep -q 'type: sigmoid' "$tmp/gate_alias.yaml" && ! grep -q 'type: silu' "$tmp/gate_alias.yaml"
check "gate_alias.yaml: a sigmoid read under two names is not fused" $?
grep -q 'type: slice, start: 3, end: 6' "$tmp/shuffle.yaml"; check "shuffle.yaml: x[:, -3:] of 6 channels as 3 to 6" $?
# A symbolic H and W can be fixed on the command line.
run import --quiet "$fix/bad/dynamic_hw.onnx" --input-shape 2,7,7 --graph "$tmp/d.yaml" \
  --weights "$tmp/d.st"; check "--input-shape fixes a dynamic size" $?
grep -q '^input: \[2, 7, 7\]$' "$tmp/d.yaml"; check "--input-shape lands in the graph" $?

# Truncated at every length and garbage: refused, never a crash.
size=$(stat -c %s "$fix/basic.onnx")
crash=0
step=$(( size / 150 + 1 ))
for ((len = 0; len < size; len += step)); do
  head -c "$len" "$fix/basic.onnx" >"$tmp/cut.onnx"
  run import "$tmp/cut.onnx" --graph "$tmp/c.yaml" --weights "$tmp/c.st" >/dev/null 2>&1
  [ $? -eq 1 ] || { crash=1; echo "# length $len"; }
done
check "every truncation of basic.onnx exits 1" $crash
head -c 4096 /dev/urandom >"$tmp/garbage.onnx"
run import "$tmp/garbage.onnx" --graph "$tmp/c.yaml" --weights "$tmp/c.st" 2>/dev/null
check "random bytes exit 1" $(( $? == 1 ? 0 : 1 ))

# Round trip: export, import, export again: byte-identical models.
run init --quiet "$root/graphs/lenet5.yaml" --seed 7 --out "$tmp/l.st"
for opset in 9 11 13 17 18; do
  run export --quiet "$root/graphs/lenet5.yaml" --weights "$tmp/l.st" --out "$tmp/l1.onnx" --opset $opset
  check "lenet5 exports at opset $opset" $?
  run import --quiet "$tmp/l1.onnx" --name lenet5 --graph "$tmp/l.yaml" --weights "$tmp/l2.st"
  check "lenet5 opset $opset imports back" $?
  run export --quiet "$tmp/l.yaml" --weights "$tmp/l2.st" --out "$tmp/l2.onnx" --opset $opset
  cmp -s "$tmp/l1.onnx" "$tmp/l2.onnx"; check "lenet5 opset $opset round trip is exact" $?
done
run init --quiet "$root/tests/onnx/all_layers.yaml" --seed 3 --out "$tmp/a.st"
for opset in 13 17 18; do
  run export --quiet "$root/tests/onnx/all_layers.yaml" --weights "$tmp/a.st" --out "$tmp/a$opset.onnx" --opset $opset
  check "every built-in layer exports at opset $opset" $?
  run import --quiet "$tmp/a$opset.onnx" --graph "$tmp/a.yaml" --weights "$tmp/a2.st"
  check "... and imports back" $?
  grep -q '^  - {name: swish, type: silu' "$tmp/a.yaml"; check "... silu's Sigmoid and Mul fused back (opset $opset)" $?
  # Before opset 14 hardswish goes out as HardSigmoid and Mul.
  grep -q '^  - {name: hsw, type: hardswish' "$tmp/a.yaml"; check "... hardswish comes back as one layer (opset $opset)" $?
  run forward --quiet "$tmp/a.yaml" --weights "$tmp/a2.st" --input "$fix/all_layers.x.npy" --output "$tmp/b.npy"
  run forward --quiet "$root/tests/onnx/all_layers.yaml" --weights "$tmp/a.st" --input "$fix/all_layers.x.npy" --output "$tmp/a.npy"
  "$npy_close" "$tmp/b.npy" "$tmp/a.npy" 1e-5; check "... and computes the same (opset $opset)" $?
done
out=$(run export "$root/tests/onnx/all_layers.yaml" --weights "$tmp/a.st" --out "$tmp/a.onnx" --opset 11 2>&1)
check "opset 11 refuses logsoftmax on 4-D: exit 1" $(( $? == 1 ? 0 : 1 ))
grep -q "layer 'lsm' (logsoftmax)" <<<"$out"; check "... naming the layer" $?
run export "$root/graphs/lenet5.yaml" --weights "$tmp/l.st" --out "$tmp/x.onnx" --opset 3 2>/dev/null
check "--opset 3: exit 2" $(( $? == 2 ? 0 : 1 ))
run import "$fix/basic.onnx" --graph "$tmp/x.yaml" 2>/dev/null
check "import without --weights: exit 2" $(( $? == 2 ? 0 : 1 ))
# A third-party layer has no ONNX form: refused by name.
cat >"$tmp/probe.yaml" <<YAML
name: p
input: [1, 4, 4]
layers:
  - {name: mystery_layer, type: probe}
YAML
if [ -f "$plugin_dir/probe.so" ]; then
  run init --quiet --plugin-dir "$plugin_dir" "$tmp/probe.yaml" --out "$tmp/p.st"
  out=$(run export --plugin-dir "$plugin_dir" "$tmp/probe.yaml" --weights "$tmp/p.st" --out "$tmp/p.onnx" 2>&1)
  check "third-party layer: exit 1" $(( $? == 1 ? 0 : 1 ))
  grep -q "layer 'mystery_layer' has type 'probe', which has no ONNX export" <<<"$out"
  check "... naming the layer and its type" $?
fi
for c in import export; do
  run "$c" --help | grep -q "Usage: cnnrun $c"; check "$c --help" $?
done
exit $fail
