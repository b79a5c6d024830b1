#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# onnx.checker (full_check, with shape inference) accepts every model cnnrun
# exports: LeNet-5 at each opset, and every built-in layer at 13, 17, 18.
# Skipped (77) where python3-onnx is not installed.
set -u
cnnrun=$1 root=$2
/usr/bin/python3 -c 'import onnx' 2>/dev/null || { echo "python3-onnx not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
set -e
"$cnnrun" init --quiet "$root/graphs/lenet5.yaml" --seed 1 --out "$tmp/l.st"
"$cnnrun" init --quiet "$root/tests/onnx/all_layers.yaml" --seed 1 --out "$tmp/a.st"
for o in 9 10 11 12 13 14 15 16 17 18; do
  "$cnnrun" export --quiet "$root/graphs/lenet5.yaml" --weights "$tmp/l.st" --out "$tmp/lenet5-$o.onnx" --opset $o
done
for o in 13 14 17 18; do
  "$cnnrun" export --quiet "$root/tests/onnx/all_layers.yaml" --weights "$tmp/a.st" --out "$tmp/all-$o.onnx" --opset $o
done
/usr/bin/python3 - "$tmp"/*.onnx <<'PY'
import sys, onnx
for path in sys.argv[1:]:
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N", path
    print("ok -", path.rsplit("/", 1)[1], "passes onnx.checker")
PY
