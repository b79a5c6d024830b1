#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A graph file is untrusted: the paths its train: section names for writing
# (out, log, checkpoint_dir) must stay under the working directory. An
# absolute path, a '..' component or a symbolic link leading out is refused
# with file:line and the key, and nothing is written; the command line may
# still name any path.
set -u
cnnrun=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # the test changes folder
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
python3 "$root/tests/transfer/make_images.py" "$tmp" 2 4 8 >/dev/null || exit 1
mkdir "$tmp/work" "$tmp/outside"
cd "$tmp/work" || exit 1
ln -s "$tmp/outside" escape
graph() { # key value
  cat > g.yaml <<YAML
name: g
input: [1, 8, 8]
layers:
  - {name: flat, type: flatten}
  - {name: fc, type: dense, units: 2}
train:
  data: folder:$tmp/images
  epochs: 1
  batch: 4
  $1: $2
YAML
}
refused() { # key value why
  local err rc
  graph "$1" "$2"
  err=$("$cnnrun" train g.yaml --out w.safetensors 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq 1 ]; check "$1: $2: exit 1 (got $rc)" $?
  grep -qF "g.yaml:10: $1: '$2' $3" <<<"$err"; check "$1: $2: names file:line, key and '$3'" $?
  [ "$rc" -eq 1 ] || printf '%s\n' "$err" | sed 's/^/# /'
}
refused out "$tmp/outside/w.safetensors" "is an absolute path"
refused log /tmp/metrics.jsonl "is an absolute path"
refused checkpoint_dir "$tmp/outside" "is an absolute path"
refused out ../outside/w.safetensors "has a '..' component"
refused checkpoint_dir runs/../../outside "has a '..' component"
refused out escape/w.safetensors "leads outside the working directory through a symbolic link"
refused log escape/deeper/m.jsonl "leads outside the working directory through a symbolic link"
[ -z "$(ls "$tmp/outside")" ]; check "nothing written outside the working directory" $?

# Relative paths under the working directory are fine, and so is any path
# given on the command line.
graph checkpoint_dir runs
"$cnnrun" train g.yaml --out w.safetensors --quiet && [ -f runs/last.safetensors ] && [ -f w.safetensors ]
check "relative checkpoint_dir under the working directory: trained" $?
graph out inside.safetensors
"$cnnrun" train g.yaml --out "$tmp/outside/cli.safetensors" --quiet && [ -f "$tmp/outside/cli.safetensors" ]
check "an absolute --out on the command line is allowed" $?
exit $fail
