#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Consistent exit status: every bad option value of every command is bad
# usage, exit 2, with a message that names the option. Each command runs
# with an otherwise valid command line (real graph, weights, data), so the
# bad value is the only thing wrong: an unknown option, a missing value,
# a non-number, a negative, an out-of-range number, an unknown choice
# (--optimizer bogus, --class-weights bogus, plugins --describe bogus).
#
# Usage: test_bad_options.sh CNNRUN SOURCE_ROOT
set -u
cnnrun=$(realpath "$1")
root=$2
wrap=${CNN_TEST_WRAPPER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
cd "$tmp" || exit 1
graph="$root/graphs/lenet5.yaml"
python3 "$root/tests/train/make_idx.py" img.idx lbl.idx 32
data="idx:$tmp/img.idx,$tmp/lbl.idx"
"$cnnrun" init "$graph" --seed 1 --out w.safetensors --quiet || exit 1
python3 - <<'PY' || exit 1
import random, struct
def npy(path, descr, shape, values):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), descr[-2]), *values))
npy("x.npy", "<f4", (2, 1, 28, 28), [0.0] * (2 * 28 * 28))
rng = random.Random(0)
npy("f.npy", "<f4", (6, 4), [rng.random() for _ in range(24)])
npy("l.npy", "<i4", (6,), [0, 1, 2, 0, 1, 2])
PY
"$cnnrun" linear train f.npy --labels l.npy --out m.safetensors --quiet || exit 1
echo '{"event": "epoch", "epoch": 1, "step": 1, "train_loss": 1, "train_acc": 0.5}' >m.jsonl

# A valid command line per command: what comes before the option tried.
declare -A base=(
  [summary]="summary $graph"
  [init]="init $graph --out o.safetensors"
  [forward]="forward $graph --weights w.safetensors --input x.npy --output y.npy"
  [train]="train $graph --data $data --out t.safetensors"
  [eval]="eval $graph --weights w.safetensors --data $data"
  [predict]="predict $graph --weights w.safetensors $root/examples/fashion/Bag/0.png"
  [features]="features $graph --weights w.safetensors --layer conv1 --data $data --out feat.npy"
  [linear-train]="linear train f.npy --labels l.npy --out m2.safetensors"
  [linear-eval]="linear eval m.safetensors f.npy --labels l.npy"
  [linear-predict]="linear predict m.safetensors f.npy"
  [plot]="plot m.jsonl --out p.svg"
  [plugins]="plugins"
  [bench]="bench $graph --runs 1 --warmup 0"
  [check-plugin]="check-plugin relu --shape 1x2x3x3"
  [export]="export $graph --weights w.safetensors --out m.onnx"
)

# import: with ONNX support only (an export of the graph to import).
if "$cnnrun" --help | grep -q '^  import '; then
  "$cnnrun" export "$graph" --weights w.safetensors --out m.onnx --quiet || exit 1
  base[import]="import m.onnx --graph g.yaml --weights gw.safetensors"
fi

# Runs one bad command line; the option must be named in the message.
try() { # key option value... (no value: the option given without one)
  local key=$1 opt=$2 out rc
  shift 2
  # shellcheck disable=SC2086 # base holds words to split
  out=$($wrap "$cnnrun" ${base[$key]} "$opt" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq 2 ] && grep -qF -- "${opt%%=*}" <<<"$out"; then
    echo "ok - $key $opt $* -> exit 2"
  else
    echo "not ok - $key $opt $* -> exit $rc: $(head -c 300 <<<"$out")"
    fail=1
  fi
}

# Sanity: every base command line is valid (exit 0).
for key in "${!base[@]}"; do
  # shellcheck disable=SC2086
  out=$($wrap "$cnnrun" ${base[$key]} --quiet 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq 0 ]; then echo "ok - $key runs as given"; else
    echo "not ok - $key exit $rc: $(head -c 300 <<<"$out")"; fail=1; fi
done

# Every command: an unknown option, and --threads out of its range, a
# negative or no number, and no value at all.
for key in "${!base[@]}"; do
  try "$key" --bogus-option
  for v in 0 -1 abc 1.5 99999; do try "$key" --threads "$v"; done
  try "$key" --threads
done

# name: option, then its bad values.
numbers() { # key option bad values...
  local key=$1 opt=$2
  shift 2
  for v in "$@"; do try "$key" "$opt" "$v"; done
  try "$key" "$opt" # the value missing: the option comes last
}
numbers init --seed -1 abc 1e3 18446744073709551616
numbers forward --batch 0 -1 abc 65537
numbers eval --batch 0 -1 abc 65537
numbers features --batch 0 -1 abc 65537
numbers predict --batch 0 -1 abc 65537
numbers predict --top 0 -1 abc 2147483648
numbers linear-train --C 0 -1 abc 1e10
numbers linear-train --bias -1 abc 1e7
numbers linear-train --solver bogus 7
numbers linear-predict --top 0 -1 abc 1000000000
numbers plugins --describe bogus
numbers bench --batch 0 -1 abc 65537
numbers bench --runs 0 -1 abc 1000001
numbers bench --warmup -1 abc 1000001
numbers bench --lr -1 abc 1e7
numbers bench --momentum -1 abc 1.5
numbers bench --seed -1 abc
numbers bench --conv bogus 3x3 -1
numbers check-plugin --samples 0 -1 abc
numbers check-plugin --rtol 0 -1 abc 2
numbers check-plugin --seed -1 abc
numbers check-plugin --shape bogus 0x2x3x3 -1
numbers check-plugin --set bogus
numbers export --opset 0 -1 abc 1000
if [ -n "${base[import]:-}" ]; then
  numbers import --input-shape bogus 1,28 0,28,28 -1,28,28 1,28,abc 1,28,28,1 1000001,1,1
  for o in --graph --weights --name; do try import "$o"; done
fi
for o in --labels --classes; do try linear-eval "$o"; done
for o in epochs batch early-stop; do numbers train --$o 0 -1 abc 1e9 1000001; done
numbers train --lr 0 -1 abc 1001
numbers train --momentum -1 abc 1
numbers train --weight-decay -1 abc 2
numbers train --warmup -1 abc
numbers train --step-epochs 0 -1 abc
numbers train --gamma 0 -1 abc 1.5
numbers train --seed -1 abc
numbers train --checkpoint-every -1 abc
numbers train --log-every 0 -1 abc
numbers train --crop-padding -1 abc 1025
numbers train --val-split 0 1 -1 abc
numbers train --plateau-patience -1 abc
numbers train --label-smoothing -1 1 abc
numbers train --optimizer bogus
numbers train --schedule bogus
numbers train --monitor bogus
numbers train --class-weights bogus 1,2 -1,1,1,1,1,1,1,1,1,1 1,,2
# Options that take a path: only a missing value is bad usage.
for o in --data --val --init --out --checkpoint-dir --resume --log; do try train "$o"; done
for o in --weights --data; do try eval "$o"; done
for o in --weights --input --output --until; do try forward "$o"; done
for o in --weights --layer --data --out --labels --libsvm; do try features "$o"; done
for o in --weights --labels; do try predict "$o"; done
for o in --out --title; do try plot "$o"; done
for o in --labels --classes --out; do try linear-train "$o"; done
for o in --weights --data; do try bench "$o"; done
try init --out
try export --out

# An unknown command or linear action is bad usage too, and named.
for words in "frobnicate" "linear frobnicate f.npy"; do
  # shellcheck disable=SC2086
  out=$($wrap "$cnnrun" $words 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq 2 ] && grep -qF "'frobnicate'" <<<"$out"; then echo "ok - $words -> exit 2"; else
    echo "not ok - $words -> exit $rc: $(head -c 300 <<<"$out")"; fail=1; fi
done
exit $fail
