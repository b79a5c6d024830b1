#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Limits before work, end to end: files that are not regular files (a FIFO
# blocked the open forever), weights with NaN or infinity, a safetensors
# header of a million empty tensors, and a graph whose parameters or batch
# could never fit in memory. Each is exit 1 with a message naming the file
# or graph and the limit, and each comes at once (a timeout guards the
# ones that used to hang).
#
# Usage: test_limits.sh CNNRUN SOURCE_ROOT
set -u
cnnrun=$1
root=$2
wrap=${CNN_TEST_WRAPPER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
graph="$root/graphs/lenet5.yaml"
python3 "$root/tests/train/make_idx.py" "$tmp/img.idx" "$tmp/lbl.idx" 16
data="idx:$tmp/img.idx,$tmp/lbl.idx"
$wrap "$cnnrun" init "$graph" --seed 1 --out "$tmp/w.safetensors" --quiet

run() {
  err=$(timeout 20 $wrap "$cnnrun" "$@" 2>&1 >/dev/null)
  rc=$?
}
expect() { # what, text the message must hold (exit 1 wanted)
  local ok=0
  [ "$rc" -eq 1 ] || ok=1
  for want in "${@:2}"; do grep -qF -- "$want" <<<"$err" || ok=1; done
  check "$1 (exit $rc: $(head -c 240 <<<"$err"))" $ok
}

# 1. Only regular files are read.
mkfifo "$tmp/fifo"
run eval "$graph" --weights "$tmp/fifo" --data "$data"
expect "--weights FIFO" "$tmp/fifo: not a regular file (it is a FIFO"
run summary "$tmp/fifo"
expect "graph FIFO" "$tmp/fifo: not a regular file"
run summary "$tmp"
expect "graph directory" "not a regular file (it is a directory)"
run eval "$graph" --weights "$tmp/w.safetensors" --data "idx:$tmp/fifo,$tmp/lbl.idx"
expect "IDX FIFO" "$tmp/fifo: not a regular file"
run predict "$graph" --weights "$tmp/w.safetensors" "$tmp/fifo"
expect "image FIFO" "$tmp/fifo: not a regular file"
run forward "$graph" --weights "$tmp/w.safetensors" --input "$tmp/fifo" --output "$tmp/y.npy"
expect "npy FIFO" "$tmp/fifo: not a regular file"
run train "$graph" --data "$data" --epochs 2 --resume "$tmp/fifo" --out "$tmp/x.safetensors"
expect "checkpoint FIFO" "$tmp/fifo: not a regular file"
run eval "$graph" --weights /dev/zero --data "$data"
expect "--weights device" "/dev/zero: not a regular file (it is a character device)"
cat > "$tmp/head.yaml" <<YAML
name: head
input: [1, 32, 32]
backbone: {graph: fifo, cut_after: pool2}
layers:
  - {name: out, type: dense, units: 3}
YAML
run summary "$tmp/head.yaml"
expect "backbone graph FIFO" "fifo: not a regular file"
cat > "$tmp/head2.yaml" <<YAML
name: head
input: [1, 32, 32]
backbone: {graph: $graph, weights: fifo, cut_after: pool2}
layers:
  - {name: out, type: dense, units: 3}
YAML
run init "$tmp/head2.yaml" --out "$tmp/h2.safetensors"
expect "backbone weights FIFO" "fifo: not a regular file"

# 2. NaN and infinity in weights, named with the tensor and first index.
python3 - "$tmp/w.safetensors" "$tmp/nan.safetensors" <<'PY'
import json, struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
a, b = header["conv2.weight"]["data_offsets"]
data[8 + n + a + 4 * 7:8 + n + a + 4 * 8] = struct.pack("<f", float("nan"))
data[8 + n + a + 4 * 9:8 + n + a + 4 * 10] = struct.pack("<f", float("-inf"))
open(sys.argv[2], "wb").write(data)
PY
run eval "$graph" --weights "$tmp/nan.safetensors" --data "$data"
expect "NaN weight" "nan.safetensors: tensor 'conv2.weight' holds NaN at index 7"

# 3. A million empty tensors: refused on the count, in well under a second.
python3 - "$tmp/many.safetensors" <<'PY'
import json, struct, sys
entry = '"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
text = ("{" + ",".join(entry % i for i in range(1000000)) + "}").encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text)
PY
start=$(date +%s%N)
run eval "$graph" --weights "$tmp/many.safetensors" --data "$data"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect "a million tensors" "many.safetensors: header lists 1000000 entries, more than the 65536 tensors"
[ "$ms" -lt 3000 ]; check "a million tensors refused in $ms ms (was 9.5 s)" $?

# 4. Memory computed before allocating, naming both sizes.
cat > "$tmp/huge.yaml" <<'YAML'
name: huge
input: [1, 1000, 1000]
layers:
  - {name: flat, type: flatten}
  - {name: fc, type: dense, units: 1000000}
YAML
run init "$tmp/huge.yaml" --out "$tmp/h.safetensors"
expect "10^12 parameters" "graph 'huge': its 1000001000000 parameters" "physical memory of"
cat > "$tmp/wide.yaml" <<'YAML'
name: wide
input: [3, 16384, 16384]
layers:
  - {name: conv, type: conv, filters: 64, kernel: 1}
YAML
run bench "$tmp/wide.yaml" --batch 1024
expect "a batch that cannot fit" "the random input batch needs" "physical memory"
cat > "$tmp/wide2.yaml" <<'YAML'
name: wide2
input: [1, 64, 64]
layers:
  - {name: conv, type: conv, filters: 4096, kernel: 1}
YAML
run bench "$tmp/wide2.yaml" --batch 1024
expect "activations that cannot fit" "activations of a batch of 1024 needs" "physical memory"
exit $fail
