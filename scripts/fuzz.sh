#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan, in
# build-fuzz/) and runs each for SECONDS (default 60), one after another.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     e.g. scripts/fuzz.sh 3600 png jpeg
#
# Each harness starts from its growing corpus (build-fuzz/fuzz-corpus/NAME,
# kept between runs), the committed seeds (tests/fuzz/seeds/NAME) and the
# committed reproducers of past findings (tests/fuzz/regressions/NAME),
# with its dictionary (tests/fuzz/dict/NAME.dict). A crash, leak, timeout
# (an input taking over FUZZ_TIMEOUT seconds, default 10) or out-of-memory
# (over FUZZ_RSS_MB, default 2048) is a finding: its input is kept in
# build-fuzz/findings/NAME/ and the harness fails. Ends with a line
# "fuzz: N passed, N failed" and exits non-zero on any failure.
# FUZZ_BUILD overrides the build directory.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-60}
shift || true
case $seconds in
  ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [HARNESS...]" >&2; exit 2 ;;
esac
build=${FUZZ_BUILD:-$root/build-fuzz}
timeout_s=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}

# Not -march=native: the portable paths, and clang compiling the AVX-512
# kernels from their target attributes alone.
setup_args=(-Dfuzz=true -Db_lundef=false -Dtests=false -Dnative=false
            --buildtype=debugoptimized)
if [ -d "$build" ]; then
  CC=clang meson setup --reconfigure "$build" "${setup_args[@]}" >/dev/null || exit 1
else
  CC=clang meson setup "$build" "${setup_args[@]}" >/dev/null || exit 1
fi
ninja -C "$build" >/dev/null || { ninja -C "$build"; exit 1; }

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for exe in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$exe" ] && [ -f "$exe" ] && names+=("${exe##*/fuzz_}")
  done
fi

export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Harnesses write their inputs to files: a private folder, on tmpfs when
# there is one, that nothing else reads.
scratch=$(mktemp -d "${FUZZ_TMP:-/dev/shm}/cnn-fuzz.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
for name in "${names[@]}"; do
  exe=$build/tests/fuzz/fuzz_$name
  if [ ! -x "$exe" ]; then
    echo "fuzz: no harness '$name' in $build/tests/fuzz" >&2
    failed=$((failed + 1))
    continue
  fi
  corpus=$build/fuzz-corpus/$name
  findings=$build/findings/$name
  log=$build/fuzz-logs/$name.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")" "$scratch/$name"
  dirs=("$corpus")
  for d in "$root/tests/fuzz/seeds/$name" "$root/tests/fuzz/regressions/$name"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  # The ONNX fixtures (models PyTorch exported, hand-made and broken ones)
  # are its seeds.
  [ "$name" = onnx ] && dirs+=("$root/tests/fixtures/onnx")
  opts=(-max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb="$rss_mb"
        -artifact_prefix="$findings/" -print_final_stats=1)
  dict=$root/tests/fuzz/dict/$name.dict
  [ -f "$dict" ] && opts+=(-dict="$dict")
  # Run from a scratch folder: whatever a harness's input names relative
  # to the working directory stays there. The outer timeout only guards
  # against a hang libFuzzer itself cannot see (its -timeout covers inputs).
  before=$(find "$findings" -type f | wc -l)
  touch "$scratch/$name.start"
  (cd "$scratch/$name" && TMPDIR="$scratch/$name" \
     timeout -k 10 $((seconds + 300)) "$exe" "${opts[@]}" "${dirs[@]}") >"$log" 2>&1
  rc=$?
  after=$(find "$findings" -type f | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
    passed=$((passed + 1))
    echo "fuzz $name: ok, ${execs:-?} inputs in ${seconds}s, coverage ${cov:-?} edges"
  else
    failed=$((failed + 1))
    echo "fuzz $name: FAILED (exit $rc); log $log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*Test unit written)|ALARM|out-of-memory|detected memory leaks' "$log" | head -8 | sed 's/^/    /'
    find "$findings" -type f -newer "$scratch/$name.start" | head -5 | sed 's/^/    finding: /'
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
