#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Streamed image folders through the commands: a broken image mid-epoch
# stops train and eval with a message naming the file; --skip-bad-images
# trains on and counts it each epoch; the loader thread count does not
# change the trained weights; --augment imagenet and --center-crop run
# (and --center-crop is refused on IDX data, which has no image to crop).
set -u
cnnrun=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
has() { grep -qF -- "$1" <<<"$2"; }
graph="$root/graphs/lenet5.yaml"
mkdir data
cp -r "$root/examples/fashion/Bag" "$root/examples/fashion/Trouser" "$root/examples/fashion/Sneaker" data/
good=(--data folder:data --epochs 2 --batch 4 --seed 3 --allow-missing-classes --quiet)

"$cnnrun" train "$graph" "${good[@]}" --loader-threads 1 --out one.safetensors
"$cnnrun" train "$graph" "${good[@]}" --loader-threads 4 --out four.safetensors
cmp -s one.safetensors four.safetensors
check "1 and 4 loader threads train bit-identical weights" $?

"$cnnrun" train "$graph" "${good[@]}" --augment imagenet --flip --loader-threads 2 \
  --val-split 0.25 --out rrc.safetensors
check "--augment imagenet trains, validation centre-cropped" $?
"$cnnrun" eval "$graph" --weights rrc.safetensors --data folder:data --center-crop 0.875 \
  --allow-missing-classes --quiet > /dev/null
check "eval --center-crop 0.875 on a folder" $?
if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  err=$("$cnnrun" features "$graph" --weights one.safetensors --layer relu4 \
    --center-crop 0.875 --data 'fashion-mnist:test@20' --out f.npy 2>&1); rc=$?
  [ $rc -eq 1 ] && has "center_crop need the full-resolution images" "$err"
  check "--center-crop on IDX data: exit 1, says why ($err)" $?
fi

head -c 120 data/Bag/0.png > data/Bag/zz_broken.png
err=$("$cnnrun" train "$graph" "${good[@]}" --out bad.safetensors 2>&1); rc=$?
[ $rc -eq 1 ] && has "data/Bag/zz_broken.png" "$err" && has "truncated" "$err"
check "a truncated PNG mid-epoch: exit 1, named ($err)" $?
[ ! -e bad.safetensors ]
check "... and no weights written" $?
err=$("$cnnrun" eval "$graph" --weights one.safetensors --data folder:data \
  --allow-missing-classes 2>&1); rc=$?
[ $rc -eq 1 ] && has "data/Bag/zz_broken.png" "$err"
check "eval names the broken file too" $?
err=$("$cnnrun" train "$graph" "${good[@]}" --skip-bad-images --out skip.safetensors 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(grep -c 'skipped 1 image(s)' <<<"$err")" -eq 2 ] &&
  has "data/Bag/zz_broken.png" "$err"
check "--skip-bad-images: trains, counts 1 skip in each of 2 epochs" $?

exit $fail
