#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs `cnnrun check-plugin` and checks its verdict and its words:
#   expect_check.sh CNNRUN STATUS ARG... -- WORD...
# STATUS is the exit status wanted; every WORD must appear in the report.
# @HOST@ in a word stands for the host's layer ABI version ("1.1"), so that
# the expectations survive a minor version bump.
set -eu
cnnrun=$1
want=$2
shift 2
args=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    args="$args '$1'"
    shift
done
[ $# -gt 0 ] && shift
host=$("$cnnrun" --version | sed -n 's/.*layer ABI \([0-9]*\.[0-9]*\).*/\1/p')
[ -n "$host" ] || { echo "cannot read the host ABI from cnnrun --version"; exit 1; }
out=$(mktemp "${TMPDIR:-/tmp}/cnn-check.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
status=0
eval "\"\$cnnrun\" check-plugin $args" >"$out" 2>&1 || status=$?
cat "$out"
echo "-- exit status $status (want $want)"
[ "$status" -eq "$want" ] || { echo "FAIL: exit status $status, want $want"; exit 1; }
for word in "$@"; do
    w=$(printf '%s' "$word" | sed "s/@HOST@/$host/g")
    grep -qF -- "$w" "$out" || { echo "FAIL: the report does not say: $w"; exit 1; }
done
echo "OK"
