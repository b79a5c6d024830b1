#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cnnrun summary gives the papers' parameter counts, in text and JSON, and
# the exit codes of the CLI contract (0 ok, 1 bad input, 2 bad usage).
set -u
cnnrun=$1
root=$2
fail=0
check() { # description, condition result
  if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi
}
expect_total() { # graph, total, trainable
  local out
  out=$("$cnnrun" summary "$root/graphs/$1" 2>&1)
  grep -qx "Total params: $2" <<<"$out"; check "$1 total params $2" $?
  grep -qx "Trainable params: $3" <<<"$out"; check "$1 trainable params $3" $?
  out=$("$cnnrun" summary --json "$root/graphs/$1")
  python3 -c 'import json,sys; d=json.load(sys.stdin); t=int(sys.argv[1].replace(",","")); assert d["total_params"]==t, d["total_params"]; assert all(k in d["layers"][0] for k in ("name","type","output_shape","params"))' \
    "$2" <<<"$out"
  check "$1 --json total_params" $?
}
expect_total lenet5.yaml 61,706 61,706
expect_total lenet5-32.yaml 61,706 61,706
expect_total lenet5-classic.yaml 61,706 61,706
expect_total alexnet.yaml 62,378,344 62,378,344
expect_total vgg16.yaml 138,357,544 138,357,544
# torchvision's counts; batch norm's running statistics are kept beside the
# weights but are not parameters (torchvision counts them as buffers).
for net in "resnet18.yaml 11,689,512" "mobilenetv2.yaml 3,504,872" "squeezenet1_1.yaml 1,235,496"; do
  set -- $net
  out=$("$cnnrun" summary "$root/graphs/$1" 2>&1)
  grep -qx "Trainable params: $2" <<<"$out"; check "$1 trainable params $2 (torchvision's)" $?
done
# VGG-16 without its classifier: the backbone of the VGG head, all frozen.
out=$("$cnnrun" summary "$root/graphs/heads/vgg16-head.yaml")
grep -qx "Non-trainable params: 14,714,688" <<<"$out"; check "vgg16 convolutional part 14,714,688" $?

"$cnnrun" summary >/dev/null 2>&1; check "no graph: exit 2" $(( $? == 2 ? 0 : 1 ))
"$cnnrun" summary --bogus x.yaml >/dev/null 2>&1; check "unknown option: exit 2" $(( $? == 2 ? 0 : 1 ))
"$cnnrun" frobnicate >/dev/null 2>&1; check "unknown command: exit 2" $(( $? == 2 ? 0 : 1 ))
err=$("$cnnrun" summary "$root/graphs/does-not-exist.yaml" 2>&1 >/dev/null); rc=$?
check "missing graph: exit 1" $(( rc == 1 ? 0 : 1 ))
grep -q "does-not-exist.yaml" <<<"$err"; check "missing graph: message names the file" $?
# Class names that do not fit the output width: the table, then an error
# naming the classes and the width (exit 1), as every other command says.
tmpg=$(mktemp --suffix=.yaml)
sed 's/^input: \[1, 28, 28\]$/input: {shape: [1, 28, 28], classes: [cat, dog]}/' \
  "$root/graphs/lenet5.yaml" >"$tmpg"
err=$("$cnnrun" summary "$tmpg" 2>&1 >/dev/null); rc=$?
rm -f "$tmpg"
[ $rc -eq 1 ] && grep -qF "2 classes ('cat', 'dog')" <<<"$err" && grep -qF "gives 10 scores" <<<"$err"
check "classes that do not fit the outputs: exit 1 naming them ($err)" $?
"$cnnrun" --version | grep -q "layer ABI"; check "--version names the ABI" $?
for c in summary init forward plugins train eval plot features linear; do
  "$cnnrun" "$c" --help | grep -q "Usage: cnnrun $c"; check "$c --help" $?
done
exit $fail
