#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A plugin that crashes in any hook, during any command, is named before
# the process dies: the layer, the plugin file and the hook, and the exit
# status is still the signal's (128 + signal number in a shell).
set -u
cnnrun=$1
plugins=$2 # the folder holding crashy.so
root=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }

python3 "$root/tests/transfer/make_images.py" "$tmp" 3 4 8 >/dev/null || exit 1
graph() { # name hook how
  cat > "$tmp/$1.yaml" <<YAML
name: $1
input: [1, 8, 8]
layers:
  - {name: flat, type: flatten}
  - {name: fc, type: dense, units: 3}
  - {name: boom, type: crashy, crash: $2, how: $3}
  - {name: prob, type: softmax}
YAML
}
graph safe none segv
"$cnnrun" init "$tmp/safe.yaml" --plugin-dir "$plugins" --out "$tmp/w.safetensors" --quiet
check "a graph with the fixture loads when it does not crash" $?

# expect_crash WHAT HOOK STATUS COMMAND ARGS...: killed by the signal
# (status STATUS), after one line naming layer, file and hook.
expect_crash() {
  local what=$1 hook=$2 want=$3 err rc
  shift 3
  err=$("$cnnrun" "$@" 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq "$want" ]; check "$what: killed by the signal (status $rc, want $want)" $?
  grep -qF "layer 'boom' (type crashy, plugin $plugins/crashy.so) crashed with" <<<"$err"
  check "$what: names the layer and the plugin file" $?
  grep -qF "in its $hook hook" <<<"$err"; check "$what: names the $hook hook" $?
  [ "$rc" -eq "$want" ] && grep -qF "in its $hook hook" <<<"$err" || printf '%s\n' "$err" | sed 's/^/# /'
}
segv=139 abrt=134
for hook in forward infer_shape create params destroy; do
  graph "$hook" "$hook" segv
  expect_crash "forward, crash in $hook" "$hook" $segv forward "$tmp/$hook.yaml" --plugin-dir "$plugins" \
    --weights "$tmp/w.safetensors" --input "$tmp/x.npy" --output "$tmp/y.npy"
done
graph backward backward segv
expect_crash "train, crash in backward" backward $segv train "$tmp/backward.yaml" --plugin-dir "$plugins" \
  --data "folder:$tmp/images" --epochs 1 --batch 4 --out "$tmp/t.safetensors"
graph forward forward segv
expect_crash "train, crash in forward" forward $segv train "$tmp/forward.yaml" --plugin-dir "$plugins" \
  --data "folder:$tmp/images" --epochs 1 --batch 4 --out "$tmp/t.safetensors"
graph forward_abort forward abort
expect_crash "train, abort() in forward" forward $abrt train "$tmp/forward_abort.yaml" --plugin-dir "$plugins" \
  --data "folder:$tmp/images" --epochs 1 --batch 4 --out "$tmp/t.safetensors"
graph worker forward_worker segv
expect_crash "forward --threads 2, crash on a pool worker" forward $segv forward "$tmp/worker.yaml" \
  --plugin-dir "$plugins" --threads 2 --weights "$tmp/w.safetensors" --input "$tmp/x.npy" --output "$tmp/y.npy"
expect_crash "summary, crash in params" params $segv summary "$tmp/params.yaml" --plugin-dir "$plugins"
expect_crash "eval, crash in forward" forward $segv eval "$tmp/forward.yaml" --plugin-dir "$plugins" \
  --weights "$tmp/w.safetensors" --data "folder:$tmp/images"
[ ! -e "$tmp/t.safetensors" ]; check "no weights written by a crashed run" $?
exit $fail
