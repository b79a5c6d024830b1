#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `features` keeps each dataset's own class names beside its labels, and
# `linear` matches them by name: features of a folder holding only some of
# the classes, whose labels 0 and 1 are the training data's classes 1 and
# 2, are scored as those classes (not by position, which would read them
# as classes 0 and 1), and a class the linear model never learnt is an
# error naming it. A backbone's own classes do not restrict features:
# transfer takes features of classes the backbone never saw.
#
# Usage: test_features_classes.sh CNNRUN SOURCE_ROOT
set -u
cnnrun=$1
root=$2
wrap=${CNN_TEST_WRAPPER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
graph="$root/graphs/lenet5.yaml"
python3 "$root/tests/transfer/make_images.py" "$tmp" 3 10 28 || exit 1
"$cnnrun" init "$graph" --seed 2 --out "$tmp/w.safetensors" --quiet || exit 1
# class1 and class2 only: labelled 0 and 1 in their own folder.
mkdir -p "$tmp/part" "$tmp/stranger"
cp -r "$tmp/images/class1" "$tmp/images/class2" "$tmp/part/"
cp -r "$tmp/images/class1" "$tmp/stranger/"
cp -r "$tmp/images/class0" "$tmp/stranger/zebra"

feat() { # folder, output stem
  $wrap "$cnnrun" features "$graph" --weights "$tmp/w.safetensors" --layer pool2 \
    --data "folder:$1" --out "$tmp/$2.npy" --quiet
}
feat "$tmp/images" all && feat "$tmp/part" part && feat "$tmp/stranger" stranger
check "features of the three folders" $?
grep -qxF '["class1","class2"]' "$tmp/part.labels.classes.json"
check "the part's labels carry its own class names ($(cat "$tmp/part.labels.classes.json"))" $?

$wrap "$cnnrun" linear train "$tmp/all.npy" --labels "$tmp/all.labels.npy" \
  --out "$tmp/m.safetensors" --quiet
check "linear train on all three classes" $?
$wrap "$cnnrun" linear predict "$tmp/m.safetensors" "$tmp/all.npy" --json >"$tmp/all.pred.json" &&
  $wrap "$cnnrun" linear eval "$tmp/m.safetensors" "$tmp/part.npy" \
    --labels "$tmp/part.labels.npy" --json >"$tmp/part.eval.json"
check "linear predict (all) and eval (part) exit 0" $?

# The part's accuracy is that of the same images within the whole set.
python3 - "$tmp" <<'PY'
import json, struct, sys
tmp = sys.argv[1]
def labels(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<H", raw[8:10])[0]
    body = raw[10 + n:]
    return list(struct.unpack("<%di" % (len(body) // 4), body))
names = json.load(open(tmp + "/all.labels.classes.json"))
truth = [names[l] for l in labels(tmp + "/all.labels.npy")]
pred = [r["top"][0]["class"] for r in json.load(open(tmp + "/all.pred.json"))]
whole = sum(p == t for p, t in zip(pred, truth)) / len(truth)
assert whole >= 0.9, "the separable stripes should be learnt: %.2f" % whole
kept = [(p, t) for p, t in zip(pred, truth) if t in ("class1", "class2")]
want = sum(p == t for p, t in kept) / len(kept)
got = json.load(open(tmp + "/part.eval.json"))
assert got["count"] == 20, got
assert abs(got["top1"] - want) < 1e-9, (got["top1"], want)
# No sample of the part counts as class0.
assert got["classes"][0] == "class0" and sum(got["confusion"][0]) == 0, got
print("whole %.2f, part %.2f (by name)" % (whole, got["top1"]))
PY
check "linear eval maps the part's labels to the model's classes by name" $?

err=$($wrap "$cnnrun" linear eval "$tmp/m.safetensors" "$tmp/stranger.npy" \
  --labels "$tmp/stranger.labels.npy" 2>&1 >/dev/null)
rc=$?
[ "$rc" -eq 1 ] && grep -qF "'zebra'" <<<"$err"
check "a class the linear model does not know: exit 1 naming it (exit $rc: $err)" $?

# A graph naming ten other classes still gives features of these images.
sed 's/^input: \[1, 28, 28\]$/input: {shape: [1, 28, 28], classes: [a, b, c, d, e, f, g, h, i, j]}/' \
  "$graph" >"$tmp/named.yaml"
grep -q "classes: \[a," "$tmp/named.yaml" &&
  $wrap "$cnnrun" features "$tmp/named.yaml" --weights "$tmp/w.safetensors" --layer pool2 \
    --data "folder:$tmp/part" --out "$tmp/named.npy" --quiet &&
  cmp -s "$tmp/named.npy" "$tmp/part.npy" &&
  grep -qxF '["class1","class2"]' "$tmp/named.labels.classes.json"
check "a graph's own classes do not restrict features (transfer)" $?
exit $fail
