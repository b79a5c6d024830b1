#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ONNX Runtime agrees with cnnrun: exports LeNet-5, AlexNet and VGG-16
# (weights from `cnnrun init`), runs each on the same random batch in
# `cnnrun forward` and in ONNX Runtime (bench/ort, npm onnxruntime-node),
# and checks every output within 1e-4 relative. Exit 77 where ONNX Runtime
# is not installed (cd bench/ort && npm install --ignore-scripts).
#   bash bench/ort_check.sh [BUILD_DIR] [GRAPH...]
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
graphs=("$@")
[ ${#graphs[@]} -eq 0 ] && graphs=(lenet5 alexnet vgg16)
cnnrun=$build/cnnrun/cnnrun
close=$build/tests/onnx/npy_close
[ -d "$root/bench/ort/node_modules/onnxruntime-node" ] || {
  echo "ONNX Runtime not installed: cd bench/ort && npm install --ignore-scripts"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for g in "${graphs[@]}"; do
  shape=$("$cnnrun" summary --json "$root/graphs/$g.yaml" |
    /usr/bin/python3 -c 'import json,sys; print(*json.load(sys.stdin)["input_shape"])' 2>/dev/null)
  node -e '
    const fs=require("fs"); const [c,h,w]=process.argv.slice(2).map(Number); const n=2;
    const d=new Float32Array(n*c*h*w); let s=12345;
    for (let i=0;i<d.length;i++){ s=(s*1103515245+12345)%2147483648; d[i]=s/2147483648; }
    let hd=`{"descr": "<f4", "fortran_order": False, "shape": (${n}, ${c}, ${h}, ${w}), }`.replace(/"/g,"\x27");
    hd+=" ".repeat(63-((10+hd.length)%64))+"\n";
    const b=Buffer.alloc(10+hd.length+4*d.length); b.write("\x93NUMPY",0,"latin1"); b[6]=1;
    b.writeUInt16LE(hd.length,8); b.write(hd,10,"latin1");
    d.forEach((v,i)=>b.writeFloatLE(v,10+hd.length+4*i)); fs.writeFileSync(process.argv[1],b);
  ' "$tmp/x.npy" $shape
  "$cnnrun" init --quiet "$root/graphs/$g.yaml" --seed 1 --out "$tmp/w.st" &&
  "$cnnrun" export --quiet "$root/graphs/$g.yaml" --weights "$tmp/w.st" --out "$tmp/$g.onnx" &&
  "$cnnrun" forward --quiet "$root/graphs/$g.yaml" --weights "$tmp/w.st" --input "$tmp/x.npy" --output "$tmp/y_cnnrun.npy" &&
  node "$root/bench/ort/run_onnx.js" "$tmp/$g.onnx" "$tmp/x.npy" "$tmp/y_ort.npy" &&
  "$close" "$tmp/y_ort.npy" "$tmp/y_cnnrun.npy" 1e-4
  if [ $? -eq 0 ]; then echo "ok - $g: ONNX Runtime equals cnnrun forward"; else echo "not ok - $g"; fail=1; fi
done
exit $fail
