#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite: a -Werror release build, the same without
# -march=native, then again under AddressSanitizer and
# UndefinedBehaviorSanitizer, then built with clang; then a short run of
# every fuzzer (scripts/fuzz.sh, FUZZ_SECONDS each). Prints a closing
# line "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/install-deps.sh || exit 1
passed=0
failed=0

run_suite() { # name, build dir, meson setup args...
  local name=$1 dir=$2
  shift 2
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
  else
    meson setup "$dir" "$@" >/dev/null || return 1
  fi
  ninja -C "$dir" || return 1
  meson test -C "$dir" --print-errorlogs --num-processes 2 \
    --timeout-multiplier "${TEST_TIMEOUT_MULTIPLIER:-1}"
  local rc=$?
  # Count from meson's own log so the closing line is the runner's truth.
  local ok fail
  ok=$(grep -c '"result": "OK"' "$dir/meson-logs/testlog.json" || true)
  fail=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$dir/meson-logs/testlog.json" || true)
  passed=$((passed + ok))
  failed=$((failed + fail))
  echo "== $name: $ok passed, $fail failed"
  return $rc
}

status=0
run_suite release "$root/build-test" -Dwerror=true --buildtype=release || status=1
# Without -march=native: the portable code paths that an AVX-512 build
# compiles out (maxpool's 8-lane vectors, the direct convolution's AVX2
# width), with the AVX-512 GEMM still chosen at run time.
run_suite portable "$root/build-portable" -Dwerror=true --buildtype=release \
  -Dnative=false || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite sanitizers "$root/build-asan" -Dwerror=true --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false || status=1
# clang: the whole tree builds warning-free and passes with clang as well.
CC=clang run_suite clang "$root/build-clang" -Dwerror=true --buildtype=release || status=1
# Fuzzing: each libFuzzer harness of tests/fuzz for FUZZ_SECONDS (default
# 20) under ASan + UBSan, after replaying its seeds and past findings; any
# crash, leak, timeout or memory blow-up fails it. One result per harness.
fuzz_log=$(mktemp)
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}" | tee "$fuzz_log"
fuzz_summary=$(tail -n 1 "$fuzz_log")
rm -f "$fuzz_log"
if [[ $fuzz_summary =~ ^fuzz:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
  [ "${BASH_REMATCH[2]}" -eq 0 ] || status=1
else
  echo "== fuzz: the harnesses did not build or run"
  failed=$((failed + 1))
  status=1
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
