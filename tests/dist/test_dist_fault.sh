#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Faults in a 2-rank job: rank 1 killed with SIGKILL mid-epoch ends the
# whole job within seconds, non-zero, with a message naming rank 1, and the
# last checkpoint resumes to exactly the uninterrupted run's weights; a
# rank that stops answering (SIGSTOP) trips the watchdog.
source "$(dirname "$0")/dist_common.sh"
graph="$root/tests/dist/dropout-net.yaml"
recipe=(--data 'fashion-mnist:train@4096' --batch 64 --lr 0.05 --momentum 0.9 --seed 9 --quiet
        --epochs 3)

# The pid of rank R of the job whose environment has CNNRUN_TEST_JOB=$1
# (Open MPI puts the rank in each process's environment; the marker keeps
# other jobs on the machine out).
rank_pid() {
  local p
  for p in $(pgrep -x cnnrun); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "CNNRUN_TEST_JOB=$1" &&
       tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
wait_for_file() { # path, seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ -f "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --out "$tmp/straight.safetensors"
check "uninterrupted 2-rank run exits 0" $?

# 1. SIGKILL rank 1 once a checkpoint exists.
CNNRUN_TEST_JOB=kill-$$ mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --checkpoint-dir "$tmp/ck" \
  --checkpoint-every 8 --out "$tmp/killed.safetensors" >"$tmp/kill.log" 2>&1 &
job=$!
wait_for_file "$tmp/ck/last.safetensors" 300
check "a checkpoint appears" $?
victim=$(rank_pid "kill-$$" 1)
check "found rank 1's process ($victim)" $?
start=$(date +%s.%N)
kill -KILL "$victim"
wait "$job"
rc=$?
took=$(python3 -c "import time; print(round(time.time() - $start, 1))")
check "the job exits non-zero after rank 1 is killed (exit $rc)" $(( rc != 0 ? 0 : 1 ))
python3 -c "import sys; sys.exit(0 if $took < 30 else 1)"
check "the job ended ${took}s after the kill (< 30 s)" $?
grep -q "rank 1 .*exited on signal 9" "$tmp/kill.log"
check "the message names the lost rank" $?
[ ! -f "$tmp/killed.safetensors" ]
check "no final weights from the broken job" $?

# 2. The last checkpoint loads and resumes to the uninterrupted result.
cp "$tmp/ck/last.safetensors" "$tmp/ck.safetensors"
mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --resume "$tmp/ck.safetensors" \
  --out "$tmp/resumed.safetensors"
check "the job resumes from the last checkpoint" $?
cmp -s "$tmp/straight.safetensors" "$tmp/resumed.safetensors"
check "killed + resumed == uninterrupted (bit-identical)" $?

# 3. A rank that stops answering: the watchdog ends the job and says where.
CNNRUN_TEST_JOB=stop-$$ CNNRUN_DIST_TIMEOUT=3 mpi 2 "$cnnrun" train "$graph" "${recipe[@]}" --checkpoint-dir "$tmp/ck2" \
  --checkpoint-every 8 --out "$tmp/stopped.safetensors" >"$tmp/stop.log" 2>&1 &
job=$!
wait_for_file "$tmp/ck2/last.safetensors" 300
victim=$(rank_pid "stop-$$" 1)
kill -STOP "$victim"
start=$(date +%s.%N)
wait "$job"
rc=$?
took=$(python3 -c "import time; print(round(time.time() - $start, 1))")
kill -KILL "$victim" 2>/dev/null
check "a stopped rank: the job exits non-zero (exit $rc)" $(( rc != 0 ? 0 : 1 ))
python3 -c "import sys; sys.exit(0 if $took < 40 else 1)"
check "a stopped rank: the job ended ${took}s later (timeout 3 s)" $?
grep -q "rank 0: no progress for 3 s" "$tmp/stop.log"
check "the watchdog says which rank waited and for how long" $?
exit $fail
