#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A training run killed with SIGKILL at random points (checkpoints are
# written every step, so kills land inside saves too) leaves only files
# that load, and a chain of resumes from the last checkpoint ends
# bit-identical to an uninterrupted run. The delays come from a seeded
# generator, so the outcome (identical weights) is reproducible even though
# where each kill lands depends on the machine's speed.
#
# Usage: test_sigkill.sh CNNRUN SOURCE_ROOT [SEED]
set -u
cnnrun=$1
root=$2
RANDOM=${3:-20261205}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
graph="$root/graphs/lenet5.yaml"
python3 "$root/tests/train/make_idx.py" "$tmp/img.idx" "$tmp/lbl.idx" 960 5
run=("$graph" --data "idx:$tmp/img.idx,$tmp/lbl.idx" --batch 32 --lr 0.01 --momentum 0.9
     --seed 11 --epochs 12 --checkpoint-every 1 --quiet)

"$cnnrun" train "${run[@]}" --checkpoint-dir "$tmp/ref" --out "$tmp/ref.safetensors"
check "the uninterrupted run exits 0" $?

# Every file the killed run left must load: the final weights through
# eval, the checkpoint by the next resume (train refuses a broken one) and
# here by an independent check of its safetensors layout.
files_load() {
  local ok=0
  if [ -e "$tmp/k.safetensors" ] &&
     ! "$cnnrun" eval "$graph" --weights "$tmp/k.safetensors" \
       --data "idx:$tmp/img.idx,$tmp/lbl.idx@32" --quiet >/dev/null 2>"$tmp/eval.err"; then
    echo "# k.safetensors does not load: $(cat "$tmp/eval.err")"
    ok=1
  fi
  if [ -e "$tmp/k/last.safetensors" ]; then
    python3 - "$tmp/k/last.safetensors" <<'PY' || ok=1
import json, os, struct, sys
path = sys.argv[1]
data = open(path, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
assert header["__metadata__"]["format"] == "cnnrun-checkpoint-1", path
spans = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__")
at = 0
for a, b in spans:
    assert a == at, (path, a, at)
    at = b
assert 8 + n + at == len(data), (path, 8 + n + at, len(data))
PY
  fi
  return $ok
}

kills=0 landed=0
for attempt in 1 2 3 4 5 6 7 8 9 10 11 12; do
  resume=()
  [ -f "$tmp/k/last.safetensors" ] && resume=(--resume "$tmp/k/last.safetensors")
  "$cnnrun" train "${run[@]}" "${resume[@]}" --checkpoint-dir "$tmp/k" --out "$tmp/k.safetensors" &
  pid=$!
  # 10 to 250 ms: a run of these settings takes a few seconds.
  delay=$(printf '0.%03d' $(( 10 + RANDOM % 241 )))
  sleep "$delay"
  if kill -KILL "$pid" 2>/dev/null; then
    kills=$((kills + 1))
  fi
  wait "$pid" 2>/dev/null
  rc=$?
  # 137: killed; 0: finished before the kill; anything else is a failure.
  [ "$rc" -eq 137 ] || [ "$rc" -eq 0 ]
  check "attempt $attempt ends killed or done (exit $rc)" $?
  files_load
  check "after attempt $attempt (killed at ${delay}s, exit $rc) every file left loads" $?
  if [ "$rc" -eq 0 ]; then
    landed=1
    break
  fi
done
if [ "$landed" -eq 0 ]; then
  resume=()
  [ -f "$tmp/k/last.safetensors" ] && resume=(--resume "$tmp/k/last.safetensors")
  "$cnnrun" train "${run[@]}" "${resume[@]}" --checkpoint-dir "$tmp/k" --out "$tmp/k.safetensors"
  check "the last resume runs to the end" $?
fi
echo "# $kills kills"
[ "$kills" -ge 3 ]; check "at least three runs were killed ($kills)" $?
cmp -s "$tmp/ref.safetensors" "$tmp/k.safetensors"
check "killed and resumed run ends bit-identical to the uninterrupted one" $?
cmp -s "$tmp/ref/last.safetensors" "$tmp/k/last.safetensors"
check "and so does its last checkpoint" $?
[ -z "$(find "$tmp/k" -name '.*.tmp-*' -newer "$tmp/k.safetensors")" ]
check "no temporary file newer than the final weights is left" $?
exit $fail
