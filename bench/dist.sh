#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Data-parallel scaling on this machine: LeNet-5 and the small VGG trained
# at 1 rank x 1 thread, 2 ranks x 1 thread (mpirun) and 1 rank x 2 threads,
# plus 2 ranks with gradient sums started only after backward (one bucket),
# which shows what overlapping them with backward buys, and 2 ranks whose
# waits poll flat out instead of sleeping after a short spin
# (CNNRUN_DIST_SPIN_US; by default 5 ms when each rank has a core, else
# 200 us), which shows what sleeping buys on a busy machine. Two "ceiling"
# rows run two independent single processes at the same time (images/s added):
# what this machine's two cores allow with no communication at all, on the
# full batch each and on half the batch each (what each of 2 ranks
# computes). Read 2 ranks' figure against them: the machine is shared,
# and a neighbour's load takes from every two-core configuration alike.
# Prints medians of --reps invocations: images/s (steps only, from the
# metrics log), the step time, and the time per step spent waiting for
# gradient sums.
#   bench/dist.sh [--build DIR] [--reps N] [--only lenet|vgg]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
reps=5
only=
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: bench/dist.sh [--build DIR] [--reps N] [--only lenet|vgg]" >&2; exit 2 ;;
  esac
done
cnnrun=$build/cnnrun/cnnrun
[ -x "$cnnrun" ] || { echo "bench/dist.sh: build cnnrun first ($cnnrun)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The small VGG's graph without its train: section (no validation pass,
# 20 epochs); the recipe's augmentation is passed on the command line.
sed '/^train:/,$d' "$root/graphs/vgg-fashion.yaml" >"$tmp/vgg-fashion.yaml"
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpirun_cmd=(mpirun --oversubscribe --allow-run-as-root --bind-to none)

# name graph data batch extra-args...
cases=(
  "lenet5|$root/graphs/lenet5.yaml|fashion-mnist:train@25600|64|--lr 0.01 --momentum 0.9"
  "vgg-fashion|$tmp/vgg-fashion.yaml|fashion-mnist:train@3840|128|--lr 0.1 --momentum 0.9 --nesterov --weight-decay 0.0005 --flip --crop-padding 2"
)
configs=("1r x 1t" "2r x 1t" "1r x 2t" "2r x 1t, no overlap" "2r x 1t, waits spin"
         "ceiling: 2 x (1r x 1t) at once" "ceiling: 2 x (1r x 1t, batch/2) at once")

ips_of() { # metrics log -> images/s of its last step line
  python3 -c '
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if "\"step\"" in l]
print([s["images_per_s"] for s in steps if s["event"] == "step"][-1])' "$1"
}

# Two independent processes at once, each with the given data and batch:
# prints "ips - -" with their images/s added.
run_pair() { # graph data batch args
  local graph=$1 data=$2 batch=$3 args=$4 steps pids=() k
  steps=$(( ${data##*@} / batch ))
  for k in a b; do
    "$cnnrun" train "$graph" --data "$data" --batch "$batch" $args --epochs 1 --seed 0 \
      --threads 1 --out "$tmp/w$k.safetensors" --log "$tmp/log$k.jsonl" \
      --log-every "$steps" 2>"$tmp/err$k" &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 -c "print($(ips_of "$tmp/loga.jsonl") + $(ips_of "$tmp/logb.jsonl"), '-', '-')"
}

run_one() { # config graph data batch args -> "ips wait_ms step_ms"
  local config=$1 graph=$2 data=$3 batch=$4 args=$5 steps n
  n=${data##*@}
  steps=$((n / batch))
  local common=("$cnnrun" train "$graph" --data "$data" --batch "$batch" $args --epochs 1
                --seed 0 --out "$tmp/w.safetensors" --log "$tmp/log.jsonl" --log-every "$steps")
  case $config in
    "ceiling: 2 x (1r x 1t) at once")
      run_pair "$graph" "$data" "$batch" "$args"; return ;;
    "ceiling: 2 x (1r x 1t, batch/2) at once") # the same steps as 2 ranks
      run_pair "$graph" "${data%@*}@$((n / 2))" "$((batch / 2))" "$args"; return ;;
    "1r x 1t") "${common[@]}" --threads 1 2>"$tmp/err" ;;
    "1r x 2t") "${common[@]}" --threads 2 2>"$tmp/err" ;;
    "2r x 1t") "${mpirun_cmd[@]}" -np 2 "${common[@]}" --threads 1 2>"$tmp/err" ;;
    "2r x 1t, waits spin") CNNRUN_DIST_SPIN_US=1000000000 "${mpirun_cmd[@]}" \
      -x CNNRUN_DIST_SPIN_US -np 2 "${common[@]}" --threads 1 2>"$tmp/err" ;;
    "2r x 1t, no overlap") CNNRUN_BUCKET_KB=1048576 "${mpirun_cmd[@]}" -x CNNRUN_BUCKET_KB \
      -np 2 "${common[@]}" --threads 1 2>"$tmp/err" ;;
  esac
  python3 - "$tmp/log.jsonl" "$tmp/err" <<'PY'
import json, re, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"step"' in l]
ips = [s["images_per_s"] for s in steps if s["event"] == "step"][-1]
m = re.search(r"([\d.]+) ms per step, of which ([\d.]+) ms", open(sys.argv[2]).read())
print(ips, m.group(2) if m else "-", m.group(1) if m else "-")
PY
}

median() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x!='-']; print(round(statistics.median(v),3) if v else '-')" "$@"; }

echo "# bench/dist.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), medians of $reps"
echo
echo "| graph | batch | config | images/s | vs 1r x 1t | step ms (2 ranks) | waiting for sums, ms/step | share waiting |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
for c in "${cases[@]}"; do
  IFS='|' read -r name graph data batch args <<<"$c"
  [ -n "$only" ] && [[ $name != *$only* ]] && continue
  declare -A ips wait step
  for config in "${configs[@]}"; do ips[$config]=; wait[$config]=; step[$config]=; done
  # Configurations alternate within each repetition, so a burst of load
  # from other jobs on the machine hits all of them alike.
  for ((r = 0; r < reps; r++)); do
    for config in "${configs[@]}"; do
      read -r i w s < <(run_one "$config" "$graph" "$data" "$batch" "$args")
      ips[$config]+=" $i"; wait[$config]+=" $w"; step[$config]+=" $s"
    done
  done
  base=$(median ${ips["1r x 1t"]})
  for config in "${configs[@]}"; do
    i=$(median ${ips[$config]}); w=$(median ${wait[$config]}); s=$(median ${step[$config]})
    ratio=$(python3 -c "print(f'{$i / $base:.2f}x')")
    share=$( [ "$w" = - ] && echo - || python3 -c "print(f'{100 * $w / $s:.1f}%')")
    echo "| $name | $batch | $config | $(printf '%.0f' "$i") | $ratio | $s | $w | $share |"
  done
  unset ips wait step
done
