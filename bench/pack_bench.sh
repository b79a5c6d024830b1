#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reading a packed dataset against decoding its folder (issue 17: a packed
# file read at least 10x faster than decoding), side by side in one run.
#
#   bench/pack_bench.sh [--count N] [--size CxHxW] [--runs R] [--build DIR] [--out DIR]
#
# Makes N synthetic 500x375 JPEG photos in 4 class folders
# (bench/pack_photos.py, kept in OUT/photos-N between runs), packs them raw
# at SIZE (default 3x224x224) and encoded, then alternates R times (default
# 5) between `cnnrun pack --read` of the folder at SIZE, of the raw pack and
# of the encoded pack: each opens the dataset (the folder indexes its
# files; both packs map and check the file, CRC-32 included), reads every
# sample's bytes (the folder and the encoded pack decode and resize every
# image there, streamed; the raw pack copies its records), then walks one
# epoch through the training loader (uint8 to float batches of 64,
# decoding again for the streamed two). Reports medians of images/s read
# (open + read: what the source costs) and through the loader (open +
# epoch), their ratios to the folder, and each process's peak resident
# memory. The files are read warm (from the page cache) every time, for
# all three. One thread.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
count=2000
size=3x224x224
runs=5
build=$root/build
out=$root/build-bench/pack
while [ $# -gt 0 ]; do
  case $1 in
    --count) count=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bench/pack_bench.sh [--count N] [--size CxHxW] [--runs R] [--build DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
cnnrun=$build/cnnrun/cnnrun
[ -x "$cnnrun" ] || { echo "pack_bench: no $cnnrun (build first: meson setup build --buildtype=release && ninja -C build)" >&2; exit 1; }
mkdir -p "$out"
photos=$out/photos-$count
if [ ! -f "$photos/.done" ]; then
  echo "pack_bench: writing $count photos to $photos" >&2
  rm -rf "$photos"
  /usr/bin/python3 bench/pack_photos.py "$photos" --count "$count"
  touch "$photos/.done"
fi
raw=$out/photos-$count-$size.pack
enc=$out/photos-$count-encoded.pack
export OPENBLAS_NUM_THREADS=1
# Packed once (kept beside the photos); delete them to pack again.
[ -f "$raw" ] || "$cnnrun" pack "folder:$photos" --size "$size" --out "$raw" --quiet
[ -f "$enc" ] || "$cnnrun" pack "folder:$photos" --encoded --out "$enc" --quiet

results=$out/results.jsonl
: > "$results"
for r in $(seq 1 "$runs"); do
  for what in folder raw encoded; do
    case $what in
      folder) spec=folder:$photos ;;
      raw) spec=pack:$raw ;;
      encoded) spec=pack:$enc ;;
    esac
    line=$("$cnnrun" pack --read "$spec" --size "$size" --batch 64 --json --threads 1)
    echo "{\"case\": \"$what\", \"run\": $r, \"result\": $line}" >> "$results"
  done
done

/usr/bin/python3 - "$results" "$count" "$size" "$raw" "$enc" <<'PY'
import json, os, statistics, sys
path, count, size, raw, enc = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
def med(case, key):
    return statistics.median(r["result"][key] for r in rows if r["case"] == case)
sums = {r["result"]["checksum"] for r in rows}
print(f"## Reading {count} JPEG photos (500x375) as {size} samples, one thread, medians of "
      f"{sum(1 for r in rows if r['case'] == 'folder')} runs\n")
print("| source | open s | read s | loader epoch s | images/s read (open + read) | vs folder "
      "| images/s through the loader (open + epoch) | vs folder | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|")
base_read = med("folder", "read_images_per_second")
base = med("folder", "images_per_second")
for case, label in (("folder", "folder: (decode + resize)"),
                    ("encoded", "pack --encoded (decode + resize)"),
                    ("raw", f"pack, raw {size} (mapped)")):
    rd = med(case, "read_images_per_second")
    ips = med(case, "images_per_second")
    print(f"| {label} | {med(case, 'open_seconds'):.3f} | {med(case, 'read_seconds'):.3f} "
          f"| {med(case, 'epoch_seconds'):.3f} | {rd:,.0f} | {rd / base_read:.1f}x "
          f"| {ips:,.0f} | {ips / base:.1f}x | {med(case, 'peak_rss_mb'):,.0f} |")
print(f"\nraw pack {os.path.getsize(raw) / 1e6:.0f} MB, encoded pack "
      f"{os.path.getsize(enc) / 1e6:.0f} MB; the batches of the folder and both packs "
      f"{'identical' if len(sums) == 1 else 'DIFFER'} (checksum)")
PY
