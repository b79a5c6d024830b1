#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What folding batch norm and activations into the layer below buys at
# inference (plugin ABI 1.4, docs/performance.md "Folding batch norm and
# activations"): `cnnrun bench` on the same build with folding on and off
# (CNN_EXEC_NO_FUSION=1), alternated, and the medians of --reps
# invocations of each, each itself the median of --runs passes.
#   bench/fusion.sh [--build DIR] [--reps N] [--runs R] [--threads 1,2]
#                   [--batches 1,8] [GRAPH ...]
# Graphs default to MobileNetV2 and ResNet-18.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
reps=5
runs=30
threads=1,2
batches=1,8
graphs=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    -*) echo "usage: bench/fusion.sh [--build DIR] [--reps N] [--runs R]" \
          "[--threads 1,2] [--batches 1,8] [GRAPH ...]" >&2; exit 2 ;;
    *) graphs+=("$1"); shift ;;
  esac
done
[ ${#graphs[@]} -gt 0 ] ||
  graphs=("$root/graphs/mobilenetv2.yaml" "$root/graphs/resnet18.yaml")
cnnrun=$build/cnnrun/cnnrun
[ -x "$cnnrun" ] || { echo "fusion.sh: no $cnnrun; build first" >&2; exit 1; }

pass_ms() { # GRAPH BATCH THREADS -> the forward pass's median, ms
  "$cnnrun" bench "$1" --batch "$2" --threads "$3" --runs "$runs" \
    --warmup 5 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["forward_ms"])'
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

echo "# bench/fusion.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
  "load $(cut -d' ' -f1-3 /proc/loadavg), medians of $reps"
echo
echo "| graph | batch | threads | folded ms | not folded ms | not folded / folded |"
echo "|---|---:|---:|---:|---:|---:|"
for g in "${graphs[@]}"; do
  for b in ${batches//,/ }; do
    for t in ${threads//,/ }; do
      on=() off=()
      for ((r = 0; r < reps; r++)); do
        on+=("$(pass_ms "$g" "$b" "$t")")
        off+=("$(CNN_EXEC_NO_FUSION=1 pass_ms "$g" "$b" "$t")")
      done
      m_on=$(printf '%s\n' "${on[@]}" | median)
      m_off=$(printf '%s\n' "${off[@]}" | median)
      awk -v g="$(basename "$g" .yaml)" -v b="$b" -v t="$t" -v on="$m_on" \
        -v off="$m_off" 'BEGIN { printf "| %s | %s | %s | %.3f | %.3f | %.2fx |\n",
                                 g, b, t, on, off, off / on }'

    done
  done
done
