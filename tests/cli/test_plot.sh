#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cnnrun plot: tick labels stay distinct when the range is narrow (a loss
# between 2.3005 and 2.3024 read "2.3" on every grid line), per-step points
# are drawn as well as per-epoch ones, placed inside their epoch, and a
# real training log (--log-every) plots with its steps.
#
# Usage: test_plot.sh CNNRUN SOURCE_ROOT
set -u
cnnrun=$1
root=$2
wrap=${CNN_TEST_WRAPPER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }

# Three epochs of five steps each, losses within 0.002 of each other.
python3 - "$tmp/narrow.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    step = 0
    for e in range(1, 4):
        for b in range(1, 6):
            step += 1
            f.write(json.dumps({"event": "step", "epoch": e, "step": step,
                                "train_loss": 2.302 + 0.0001 * b - 0.0005 * e,
                                "train_acc": 0.1 + 0.001 * b}) + "\n")
        f.write(json.dumps({"event": "epoch", "epoch": e, "step": step,
                            "train_loss": 2.3025 - 0.0005 * e, "train_acc": 0.101 + 0.001 * e,
                            "val_loss": 2.3027 - 0.0004 * e, "val_acc": 0.1}) + "\n")
PY
$wrap "$cnnrun" plot "$tmp/narrow.jsonl" --out "$tmp/narrow.svg" 2>"$tmp/err"
check "plot of a narrow range exits 0 ($(cat "$tmp/err"))" $?

# The SVG's facts: y tick labels per panel, the polylines' points.
python3 - "$tmp/narrow.svg" <<'PY'
import re, sys
svg = open(sys.argv[1]).read()
ticks = re.findall(r'text-anchor="end">([^<]*)<', svg)
loss, acc = ticks[:5], ticks[5:]
assert len(loss) == 5 and len(acc) == 5, ticks
assert len(set(loss)) == 5, "loss ticks repeat: %s" % loss
assert len(set(acc)) == 5, "accuracy ticks repeat: %s" % acc
# Each label is the grid value it stands for, to its own precision.
vals = [float(t) for t in loss]
assert all(b > a for a, b in zip(vals, vals[1:])), loss
assert 2.2995 < vals[0] < 2.3015 and 2.3015 < vals[-1] < 2.304, loss
lines = [[tuple(map(float, p.split(","))) for p in pts.split()]
         for pts in re.findall(r'points="([^"]*)"', svg)]
# Per panel: the per-step line (15 points), train and validation (3 each).
assert [len(l) for l in lines] == [15, 3, 3, 15, 3, 3], [len(l) for l in lines]
steps, epochs = lines[0], lines[1]
xs = [p[0] for p in steps]
assert all(b > a for a, b in zip(xs, xs[1:])), "steps not in order along x"
# The last step of each epoch sits where that epoch's point is.
for k in range(3):
    assert abs(steps[5 * k + 4][0] - epochs[k][0]) < 0.2, (steps[5 * k + 4], epochs[k])
assert "train (per step)" in svg and "validation" in svg
print("loss ticks", loss, "accuracy ticks", acc)
PY
check "ticks distinct, per-step points inside their epochs" $?

# Steps only (a run stopped in its first epoch): x is the step number.
head -n 3 "$tmp/narrow.jsonl" >"$tmp/steps.jsonl"
$wrap "$cnnrun" plot "$tmp/steps.jsonl" --out "$tmp/steps.svg" 2>/dev/null &&
  grep -q '>step</text>' "$tmp/steps.svg" &&
  [ "$(grep -o 'points="[^"]*"' "$tmp/steps.svg" | head -n 1 | tr -cd , | wc -c)" -eq 3 ]
check "a log with steps only plots them against the step number" $?

# Nothing to plot: exit 1 with the file named.
echo '{"event": "start"}' >"$tmp/none.jsonl"
$wrap "$cnnrun" plot "$tmp/none.jsonl" --out "$tmp/none.svg" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && grep -qF "none.jsonl" "$tmp/err" && [ ! -e "$tmp/none.svg" ]
check "a log without epoch or step lines: exit 1 naming it (exit $rc)" $?

# A real log: 2 epochs of 4 steps, a step line every 2 steps.
python3 "$root/tests/train/make_idx.py" "$tmp/img.idx" "$tmp/lbl.idx" 64
$wrap "$cnnrun" train "$root/graphs/lenet5.yaml" --data "idx:$tmp/img.idx,$tmp/lbl.idx" \
  --epochs 2 --batch 16 --log-every 2 --log "$tmp/run/metrics.jsonl" \
  --out "$tmp/run/w.safetensors" --quiet 2>"$tmp/err"
check "train writes a metrics log ($(head -c 200 "$tmp/err"))" $?
$wrap "$cnnrun" plot "$tmp/run/metrics.jsonl" --out "$tmp/run/curves.svg" 2>"$tmp/err"
check "plot of a training log exits 0" $?
grep -qF "(2 epochs, 4 steps)" "$tmp/err"
check "plot reports 2 epochs and 4 steps ($(cat "$tmp/err"))" $?
exit $fail
