#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cnnrun pack end to end: a folder and IDX files packed raw and encoded read
# back with pack: as the sources themselves read (same batches through the
# loader: --read's checksum; the same trained weights under --augment
# imagenet for an encoded pack), usage errors exit 2, bad input exits 1 with
# the file named, and a failed pack leaves an existing target untouched.
#
# Usage: test_pack.sh CNNRUN SOURCE_ROOT
set -u
cnnrun=$1
root=$2
wrap=${CNN_TEST_WRAPPER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
run() { err=$($wrap "$cnnrun" "$@" 2>&1 >"$tmp/out"); rc=$?; }
expect() { # what, wanted exit code, text the message must hold
  local ok=0
  [ "$rc" -eq "$2" ] || ok=1
  [ -z "${3:-}" ] || grep -qF -- "$3" <<<"$err" || ok=1
  check "$1 (exit $rc: $(head -c 200 <<<"$err"))" $ok
}
# The checksum and counts of --read's JSON (times left out).
summary() { $wrap "$cnnrun" pack --read "$@" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["items"], r["classes"], r["shape"], r["checksum"])'; }
folder="folder:$root/examples/fashion"

run pack "$folder" --size 3x20x24 --out "$tmp/raw.pack" --quiet
expect "pack a folder raw" 0
[ "$(summary "pack:$tmp/raw.pack")" = "$(summary "$folder" --size 3x20x24)" ]
check "raw pack reads as the folder" $?
[ "$(summary "pack:$tmp/raw.pack[5:17]")" = "$(summary "$folder[5:17]" --size 3x20x24)" ]
check "a slice of the raw pack is the folder's slice" $?
run pack "$folder" --encoded --out "$tmp/enc.pack" --quiet
expect "pack a folder encoded" 0
[ "$(summary "pack:$tmp/enc.pack@9" --size 1x32x30)" = "$(summary "$folder@9" --size 1x32x30)" ]
check "encoded pack decodes as the folder" $?
# Training with --augment imagenet (RandomResizedCrop + flip at the files'
# full resolution, then validation's centre crop) on the encoded pack is
# training on the folder: the same weights, bit for bit.
payload() { python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
n = int.from_bytes(b[:8], "little")
sys.stdout.write(b[8 + n:].hex())' "$1"; }
for src in "$folder" "pack:$tmp/enc.pack"; do
  case $src in pack:*) w=$tmp/w-pack.safetensors ;; *) w=$tmp/w-folder.safetensors ;; esac
  run train "$root/graphs/lenet5.yaml" --data "$src" --augment imagenet --flip \
    --val-split 0.25 --allow-missing-classes --epochs 2 --batch 4 --seed 5 \
    --loader-threads 2 --out "$w" --quiet
  expect "train --augment imagenet on $src" 0
done
[ -s "$tmp/w-pack.safetensors" ] && [ "$(payload "$tmp/w-pack.safetensors")" = "$(payload "$tmp/w-folder.safetensors")" ]
check "--augment imagenet on the encoded pack trains the folder's weights" $?
run pack "$folder" --size 1x28x28 --out "$tmp/raw28.pack" --quiet
run train "$root/graphs/lenet5.yaml" --data "pack:$tmp/raw28.pack" --augment imagenet \
  --allow-missing-classes --epochs 1 --batch 4 --out "$tmp/x.safetensors" --quiet
expect "--augment imagenet on a raw pack is refused" 1 "pack made with --encoded"

python3 "$root/tests/train/make_idx.py" "$tmp/img.idx" "$tmp/lbl.idx" 40
idx="idx:$tmp/img.idx,$tmp/lbl.idx"
run pack "$idx" --size 32x32 --out "$tmp/idx.pack" --quiet
expect "pack IDX files at 1x32x32" 0
[ "$(summary "pack:$tmp/idx.pack")" = "$(summary "$idx" --size 1x32x32)" ]
check "IDX pack reads as the IDX files on a 32x32 canvas" $?

run pack "$idx" --encoded --out "$tmp/x.pack"
expect "--encoded needs image files" 1 "has no image files"
run pack "$folder" --size 2x8x8 --out "$tmp/x.pack"
expect "--size with 2 channels is a usage error" 2 "--size wants"
run pack "$folder" --size 8x --out "$tmp/x.pack"
expect "--size 8x is a usage error" 2 "--size wants"
run pack "$folder" --encoded --size 8x8 --out "$tmp/x.pack"
expect "--encoded with --size is a usage error" 2 "no --size"
run pack "$folder"
expect "--out is required" 2 "--out"
run pack --read "pack:$tmp/raw.pack" --size 3x20x20
expect "a raw pack refuses another geometry" 1 "pack again with --size 3x20x20"

# A corrupt copy: one record byte flipped.
cp "$tmp/raw.pack" "$tmp/bad.pack"
printf '\x55' | dd of="$tmp/bad.pack" bs=1 seek=2000 conv=notrunc status=none
run pack --read "pack:$tmp/bad.pack"
expect "a corrupt pack is refused" 1 "$tmp/bad.pack: checksum mismatch"

# A failed pack (an image that does not decode) keeps the old target.
mkdir -p "$tmp/broken/a" "$tmp/broken/b"
cp "$root"/examples/fashion/Bag/*.png "$tmp/broken/a/"
printf 'not a png' > "$tmp/broken/b/x.png"
cp "$tmp/raw.pack" "$tmp/keep.pack"
run pack "folder:$tmp/broken" --size 3x8x8 --out "$tmp/keep.pack"
expect "a folder with a broken image fails" 1 "x.png"
run pack "folder:$tmp/broken" --encoded --out "$tmp/keep.pack"
expect "an encoded pack of a folder with a broken image fails" 1 "x.png"
cmp -s "$tmp/raw.pack" "$tmp/keep.pack"
check "the old target is untouched" $?
[ -z "$(find "$tmp" -name '.keep.pack.tmp*')" ]
check "no temporary file is left" $?
exit $fail
