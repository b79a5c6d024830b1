#!/bin/bash
# SPDX-License-Identifier: MIT
# cnnrun predict end to end, with nothing trained: weights from
# `cnnrun init`, PNGs written here with Python's zlib. Checks the text and
# JSON layouts, sorting, the top-K cap, class names from --labels and from
# the graph, the fused-softmax and logits paths, normalisation (against
# `cnnrun forward` on the same pixels) and the error messages.
#
# Usage: test_predict.sh CNNRUN SOURCE_ROOT
# CNN_TEST_WRAPPER, when set, is put before every cnnrun run (e.g.
# "valgrind --error-exitcode=99 --leak-check=full").
set -eu

# Absolute, since the checks run in a scratch folder.
CNNRUN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$(cd "$2" && pwd)
PY=${PYTHON:-python3}
WRAP=${CNN_TEST_WRAPPER:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/cnn-predict-XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"

fail() {
    echo "FAIL: $*" >&2
    if [ -s err ]; then
        echo "--- stderr:" >&2
        cat err >&2
    fi
    exit 1
}

# Runs cnnrun with stdout to out, stderr to err; sets rc.
run() {
    rc=0
    # shellcheck disable=SC2086 # WRAP is a command line
    $WRAP "$CNNRUN" "$@" >out 2>err || rc=$?
}

expect_rc() {
    [ "$rc" = "$1" ] || fail "exit code $rc, wanted $1 (cnnrun $2)"
}

expect_err() {
    grep -qF -- "$1" err || fail "stderr lacks '$1'"
}

# ---- fixtures ---------------------------------------------------------------

"$PY" - <<'EOF'
import struct, zlib

def png(path, w, h, channels, pix):
    color = {1: 0, 3: 2}[channels]
    rows = b"".join(b"\0" + bytes(pix[y * w * channels:(y + 1) * w * channels])
                    for y in range(h))
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" +
                chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

gray = [(i * 37) % 256 for i in range(28 * 28)]
png("a.png", 28, 28, 1, gray)
png("b.png", 40, 30, 3, [(i * 11) % 256 for i in range(40 * 30 * 3)])
# The pixels of a.png, for the normalisation check.
open("a.raw", "wb").write(bytes(gray))
# A PNG cut short: a valid header, then nothing decodable.
data = open("a.png", "rb").read()
open("bad.png", "wb").write(data[:len(data) // 2])
EOF

cat >classes.yaml <<'EOF'
name: lenet5-named
input:
  shape: [1, 28, 28]
  mean: [0.25]
  std: [0.5]
  classes: [zero, one, two, three, four, five, six, seven, eight, nine]
layers:
  - {name: conv1, type: conv, filters: 6, kernel: 5, padding: 2}
  - {name: relu1, type: relu}
  - {name: pool1, type: maxpool, size: 2}
  - {name: conv2, type: conv, filters: 16, kernel: 5}
  - {name: relu2, type: relu}
  - {name: pool2, type: maxpool, size: 2}
  - {name: flatten, type: flatten}
  - {name: fc1, type: dense, units: 120}
  - {name: relu3, type: relu}
  - {name: fc2, type: dense, units: 84}
  - {name: relu4, type: relu}
  - {name: fc3, type: dense, units: 10}
EOF
# The same graph ending in softmax: predict must use its output as is.
{ cat classes.yaml; echo "  - {name: prob, type: softmax}"; } >classes-prob.yaml

printf 'T-shirt\r\n\r\nTrouser\nPullover\n  Dress  \nCoat\nSandal\nShirt\n\nSneaker\nBag\nAnkle boot' >labels.txt
printf 'a\nb\nc\n' >labels3.txt

G=$SRC/graphs/lenet5.yaml
run init "$G" --seed 0 --out w.safetensors
expect_rc 0 init

# Checks out as the text layout: every image in order, then k ranked lines
# with sorted probabilities summing to at most 100%; names, when given, are
# the class names allowed.
check_text() {
    "$PY" - "$@" <<'EOF' || fail "text output (see above)"
import re, sys
k = int(sys.argv[1]); images = sys.argv[2].split(","); names = sys.argv[3:]
lines = open("out").read().splitlines()
want = len(images) * (k + 1)
assert len(lines) == want, "%d lines, wanted %d:\n%s" % (len(lines), want, "\n".join(lines))
rank = re.compile(r"^ +(\d+)\. (.+?) +(\d+\.\d\d)%$")
for i, image in enumerate(images):
    block = lines[i * (k + 1):(i + 1) * (k + 1)]
    assert block[0] == image, "header %r, wanted %r" % (block[0], image)
    probs = []
    for j, line in enumerate(block[1:]):
        m = rank.match(line)
        assert m, "bad line %r" % line
        assert int(m.group(1)) == j + 1, line
        if names:
            assert m.group(2) in names, "unknown class %r" % m.group(2)
        probs.append(float(m.group(3)))
    assert probs == sorted(probs, reverse=True), "not sorted: %r" % probs
    assert 0 < sum(probs) <= 100.0 + 0.005 * k, "sum %r" % sum(probs)
EOF
}

# ---- text output ------------------------------------------------------------

run predict "$G" --weights w.safetensors --top 3 a.png b.png
expect_rc 0 "predict --top 3"
check_text 3 a.png,b.png

run predict "$G" --weights w.safetensors b.png a.png
expect_rc 0 "predict (default top)"
check_text 5 b.png,a.png

run predict "$G" --weights w.safetensors --top 50 a.png
expect_rc 0 "predict --top 50"
check_text 10 a.png
# All ten classes: the percentages add up to 100 (within rounding).
"$PY" -c '
import re
p = [float(m) for m in re.findall(r"(\d+\.\d\d)%", open("out").read())]
assert abs(sum(p) - 100) < 0.06, sum(p)' || fail "top 10 does not sum to 100%"

# ---- class names --------------------------------------------------------------

run predict "$G" --weights w.safetensors --labels labels.txt --top 10 a.png
expect_rc 0 "predict --labels"
check_text 10 a.png T-shirt Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag "Ankle boot"
grep -q " Ankle boot " out || fail "the last name (no final newline) is missing"

run predict "$G" --weights w.safetensors --labels labels3.txt a.png
expect_rc 1 "predict --labels (3 names)"
expect_err "labels3.txt has 3 class names but graph 'lenet5' outputs 10 classes"
[ ! -s out ] || fail "printed results despite the bad label count"

run predict "$G" --weights w.safetensors --labels missing.txt a.png
expect_rc 1 "predict --labels missing.txt"
expect_err "missing.txt"

run predict classes.yaml --weights w.safetensors --top 10 a.png
expect_rc 0 "predict with graph classes"
check_text 10 a.png zero one two three four five six seven eight nine

# ---- JSON, softmax paths and normalisation -------------------------------------

run predict classes.yaml --weights w.safetensors --top 4 --json a.png b.png
expect_rc 0 "predict --json"
"$PY" -c 'import json,sys; json.load(sys.stdin)' <out || fail "--json is not JSON"
cp out logits.json

run predict classes-prob.yaml --weights w.safetensors --top 4 --json a.png b.png
expect_rc 0 "predict --json (softmax graph)"
cp out prob.json

# The expected probabilities: forward on a.png's pixels, normalised by hand
# with the graph's mean and std, through the softmax graph.
"$PY" - <<'EOF'
import struct
pix = open("a.raw", "rb").read()
vals = [(p / 255.0 - 0.25) / 0.5 for p in pix]
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }"
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open("x.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%df" % len(vals), *vals))
EOF
run forward classes-prob.yaml --weights w.safetensors --input x.npy --output y.npy
expect_rc 0 forward

"$PY" - <<'EOF' || fail "JSON content (see above)"
import ast, json, struct
names = "zero one two three four five six seven eight nine".split()
raw = open("y.npy", "rb").read()
hlen = struct.unpack("<H", raw[8:10])[0]
head = ast.literal_eval(raw[10:10 + hlen].decode())
assert head["shape"] == (1, 10), head
want = struct.unpack("<10f", raw[10 + hlen:10 + hlen + 40])
for path in ("logits.json", "prob.json"):
    doc = json.load(open(path))
    assert isinstance(doc, list) and len(doc) == 2, doc
    assert [d["image"] for d in doc] == ["a.png", "b.png"], doc
    for d in doc:
        top = d["top"]
        assert len(top) == 4, top
        p = [t["probability"] for t in top]
        assert p == sorted(p, reverse=True), p
        assert 0 < sum(p) <= 1 + 1e-6, p
        for t in top:
            assert isinstance(t["index"], int) and 0 <= t["index"] < 10, t
            assert t["class"] == names[t["index"]], t
    # a.png: the top four of the forward pass, same order and values, both
    # when predict computes the softmax and when the graph does.
    order = sorted(range(10), key=lambda c: (-want[c], c))[:4]
    got = doc[0]["top"]
    assert [t["index"] for t in got] == order, (path, got, want)
    for t in got:
        assert abs(t["probability"] - want[t["index"]]) < 1e-5, (path, t, want)
EOF

# ---- errors ------------------------------------------------------------------

# A corrupt image: named, and nothing printed for the good one before it.
run predict "$G" --weights w.safetensors a.png bad.png
expect_rc 1 "predict bad.png"
expect_err "bad.png: corrupt PNG"
[ ! -s out ] || fail "printed results before failing on bad.png"

run predict "$G" --weights w.safetensors --json a.png nothere.png
expect_rc 1 "predict nothere.png"
expect_err "nothere.png: cannot open"
[ ! -s out ] || fail "printed results before failing on nothere.png"

run predict "$G" --weights w.safetensors
expect_rc 2 "predict without images"
run predict "$G" a.png
expect_rc 2 "predict without weights"
run predict "$G" --weights w.safetensors --top 0 a.png
expect_rc 2 "predict --top 0"

run predict --help
expect_rc 0 "predict --help"
grep -q "decoded before any is" out || fail "--help does not say images are decoded first"

echo "predict: all checks passed"
