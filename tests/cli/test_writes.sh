#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every write is checked: results on stdout, the training metrics log and
# files behind the atomic writer report a full disk (/dev/full) with a
# message and exit 1 instead of exiting 0 with a truncated or empty file;
# a save killed before its rename leaves a temporary file that the next
# save of the same target removes (and nothing else).
#
# Usage: test_writes.sh CNNRUN SOURCE_ROOT
set -u
cnnrun=$1
root=$2
wrap=${CNN_TEST_WRAPPER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
graph="$root/graphs/lenet5.yaml"
python3 "$root/tests/train/make_idx.py" "$tmp/img.idx" "$tmp/lbl.idx" 32
data="idx:$tmp/img.idx,$tmp/lbl.idx"
$wrap "$cnnrun" init "$graph" --seed 1 --out "$tmp/w.safetensors" --quiet
check "init writes weights" $?

# Runs cnnrun with stdout to $1; sets rc and err.
run_to() {
  local out=$1
  shift
  err=$($wrap "$cnnrun" "$@" 2>&1 >"$out")
  rc=$?
}
expect() { # what, wanted exit code, text the message must hold
  local ok=0
  [ "$rc" -eq "$2" ] || ok=1
  [ -z "${3:-}" ] || grep -qF -- "$3" <<<"$err" || ok=1
  check "$1 (exit $rc: $(head -c 200 <<<"$err"))" $ok
}

if [ -c /dev/full ]; then
  # 1. Results on stdout.
  run_to /dev/full summary "$graph" --json
  expect "summary --json to a full disk" 1 "cannot write the output: No space left on device"
  run_to /dev/full summary "$graph"
  expect "summary to a full disk" 1 "No space left on device"
  run_to /dev/full eval "$graph" --weights "$tmp/w.safetensors" --data "$data" --json --quiet
  expect "eval --json to a full disk" 1 "No space left on device"
  run_to /dev/full eval "$graph" --weights "$tmp/w.safetensors" --data "$data" --quiet
  expect "eval to a full disk" 1 "No space left on device"
  run_to /dev/full plugins
  expect "plugins to a full disk" 1 "No space left on device"
  run_to /dev/full --help
  expect "--help to a full disk" 1 "No space left on device"
  run_to /dev/null summary "$graph" --json
  expect "summary --json to /dev/null still succeeds" 0

  # 2. The metrics log: the first line that cannot be written stops the run.
  run_to /dev/null train "$graph" --data "$data" --batch 16 --epochs 1 --log /dev/full \
    --out "$tmp/t.safetensors" --quiet
  expect "train --log to a full disk" 1 "/dev/full: cannot write the metrics log: No space left on device"
  [ ! -e "$tmp/t.safetensors" ]; check "train --log to a full disk writes no weights" $?
  run_to /dev/null train "$graph" --data "$data" --batch 16 --epochs 1 --log "$tmp/m.jsonl" \
    --out "$tmp/t.safetensors" --quiet
  expect "train --log to a real file succeeds" 0
  [ "$(grep -c '"event": "epoch"' "$tmp/m.jsonl")" -eq 1 ]; check "the log holds the epoch line" $?
else
  echo "ok - # SKIP /dev/full is missing"
fi

# 3. Files behind the atomic writer: a folder that cannot take the file.
run_to /dev/null init "$graph" --out /proc/cnnrun-test.safetensors --quiet
expect "init into a folder that cannot be written" 1 "/proc/cnnrun-test.safetensors"
run_to /dev/null plot "$tmp/m.jsonl" --out /proc/curves.svg --quiet
expect "plot into a folder that cannot be written" 1 "/proc/curves.svg"

# 4. Stale temporaries of a killed save. Only our exact pattern for this
# target, older than the process, regular and ours, is removed.
mkdir "$tmp/s"
old=(-d '2 hours ago')
touch "${old[@]}" "$tmp/s/.w.safetensors.tmp-Ab3dE9" "$tmp/s/.w.safetensors.tmp-zzzzzz"
touch "${old[@]}" "$tmp/s/.w.safetensors.tmp-Ab3dE" "$tmp/s/.w.safetensors.tmp-Ab3dE90" \
  "$tmp/s/.w.safetensors.tmp-Ab-dE9" "$tmp/s/.v.safetensors.tmp-Ab3dE9" \
  "$tmp/s/w.safetensors.tmp-Ab3dE9" "$tmp/s/.w.safetensors.tmp-Ab3dE9.keep" "$tmp/s/keep.txt"
mkdir "$tmp/s/.w.safetensors.tmp-D1rect"
touch "${old[@]}" "$tmp/s/.w.safetensors.tmp-D1rect"
ln -s "$tmp/s/keep.txt" "$tmp/s/.w.safetensors.tmp-L1nked"
touch -h "${old[@]}" "$tmp/s/.w.safetensors.tmp-L1nked"
touch -d '1 hour' "$tmp/s/.w.safetensors.tmp-Fresh1" # newer than the next process
$wrap "$cnnrun" init "$graph" --seed 1 --out "$tmp/s/w.safetensors"
check "init over stale temporaries exits 0" $?
[ ! -e "$tmp/s/.w.safetensors.tmp-Ab3dE9" ] && [ ! -e "$tmp/s/.w.safetensors.tmp-zzzzzz" ]
check "stale temporaries of the target are removed" $?
kept=0
for name in .w.safetensors.tmp-Ab3dE .w.safetensors.tmp-Ab3dE90 .w.safetensors.tmp-Ab-dE9 \
  .v.safetensors.tmp-Ab3dE9 w.safetensors.tmp-Ab3dE9 .w.safetensors.tmp-Ab3dE9.keep keep.txt \
  .w.safetensors.tmp-D1rect .w.safetensors.tmp-L1nked .w.safetensors.tmp-Fresh1; do
  [ -e "$tmp/s/$name" ] || [ -L "$tmp/s/$name" ] || { echo "# removed $name"; kept=1; }
done
check "other names, a folder, a link and a fresh file are kept" $kept
[ "$(ls -A "$tmp/s" | grep -c '^\.w\.safetensors\.tmp-')" -eq 7 ]
check "no temporary of the new save is left" $?
exit $fail
