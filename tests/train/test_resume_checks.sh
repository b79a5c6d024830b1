#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `cnnrun train --resume` on checkpoints that are not what they claim: a
# safetensors file of another producer (metadata format "pt", as PyTorch and
# Hugging Face write), and positions that are malformed, out of range or
# inconsistent. Each is exit 1 with a message naming the file and the
# value; none trains anything or writes weights.
#
# Usage: test_resume_checks.sh CNNRUN SOURCE_ROOT
set -u
cnnrun=$1
root=$2
here=$(cd "$(dirname "$0")" && pwd)
wrap=${CNN_TEST_WRAPPER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
graph="$root/graphs/lenet5.yaml"
python3 "$here/make_idx.py" "$tmp/img.idx" "$tmp/lbl.idx" 64
recipe=(--data "idx:$tmp/img.idx,$tmp/lbl.idx" --batch 16 --lr 0.01 --seed 3 --quiet)

# A real checkpoint after one epoch of four batches.
$wrap "$cnnrun" train "$graph" "${recipe[@]}" --epochs 1 --checkpoint-dir "$tmp/ck" \
  --out "$tmp/w1.safetensors"
check "one epoch with a checkpoint exits 0" $?
good="$tmp/ck/last.safetensors"

# Runs a resume from checkpoint $1 with --epochs $2; sets rc and err.
resume() {
  rm -f "$tmp/out.safetensors"
  err=$($wrap "$cnnrun" train "$graph" "${recipe[@]}" --epochs "$2" --resume "$1" \
    --out "$tmp/out.safetensors" 2>&1)
  rc=$?
}

# Expects exit 1, no weights written, and each further argument in the message.
expect_refused() {
  local what=$1 ok=0
  shift
  [ "$rc" -eq 1 ] || ok=1
  [ ! -e "$tmp/out.safetensors" ] || ok=1
  for want in "$@"; do grep -qF -- "$want" <<<"$err" || ok=1; done
  # Sanitizer reports must not appear (the use-after-free printed freed memory).
  grep -q "AddressSanitizer\|runtime error" <<<"$err" && ok=1
  check "$what (exit $rc: $(head -c 300 <<<"$err"))" $ok
}

resume "$good" 2
check "the real checkpoint resumes (exit $rc)" "$rc"

# 1. Another producer's safetensors: the format is quoted exactly.
python3 "$here/set_metadata.py" "$good" "$tmp/pt.safetensors" format=pt
resume "$tmp/pt.safetensors" 2
expect_refused "format 'pt' is refused, quoting it" "pt.safetensors" "metadata format is 'pt'"
python3 "$here/set_metadata.py" "$good" "$tmp/nofmt.safetensors" format=
resume "$tmp/nofmt.safetensors" 2
expect_refused "no format is refused" "metadata format is 'absent'"
python3 "$here/set_metadata.py" "$good" "$tmp/ctl.safetensors" "format=$(printf 'a\033[2Jb')"
resume "$tmp/ctl.safetensors" 2
expect_refused "a format with control characters is quoted safely" "metadata format is 'a?[2Jb'"

# 2. Positions that no run of these settings writes.
for bad in 18446744073709551615 18446744073709551616 -1 " 1" "+1" 1x 0x1 ""; do
  python3 "$here/set_metadata.py" "$good" "$tmp/e.safetensors" "epoch=$bad"
  resume "$tmp/e.safetensors" 1000
  if [ "$bad" = 18446744073709551615 ]; then
    expect_refused "epoch 2^64-1 is refused" "e.safetensors" "inconsistent" "epoch 18446744073709551615"
  elif [ -z "$bad" ]; then
    expect_refused "a missing epoch is refused" "metadata 'epoch' is absent"
  else
    expect_refused "epoch '$bad' is malformed" "metadata 'epoch' is '$bad'"
  fi
done
python3 "$here/set_metadata.py" "$good" "$tmp/s.safetensors" step=5
resume "$tmp/s.safetensors" 2
expect_refused "a step that does not follow from the position is refused" "epoch 1, batch 0 and step 5" "4 batches per epoch"
python3 "$here/set_metadata.py" "$good" "$tmp/b.safetensors" batch=9 step=13
resume "$tmp/b.safetensors" 2
expect_refused "a batch past the epoch's end is refused" "batch 9 of an epoch that has only 4 batches"
python3 "$here/set_metadata.py" "$good" "$tmp/h.safetensors" graph_hash=zz
resume "$tmp/h.safetensors" 2
expect_refused "a malformed hash is refused" "metadata 'graph_hash' is 'zz'"

# 3. A checkpoint at or past the run's last epoch trains nothing: an error
# that says how to continue, not a silent exit 0.
resume "$good" 1
expect_refused "resuming a finished run is refused" "1 epochs done" "this run has 1 epochs" "raise --epochs"
exit $fail
