#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite: a -Werror release build, the same without
# -march=native, then again under AddressSanitizer and
# UndefinedBehaviorSanitizer. Prints a closing
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
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite sanitizers "$root/build-asan" -Dwerror=true --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false || status=1
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
