#!/bin/sh
# SPDX-License-Identifier: MIT
# The SDK as a plugin author meets it: install the current build into a
# scratch DESTDIR, find everything through the installed cnn.pc alone,
# build examples/lrn out of tree with the one compiler line that
# docs/plugin-abi.md shows (and with its meson.build), check it, a plugin
# written from the document alone and the installed built-in plugins with
# the installed cnnrun, and train graphs that load them through
# CNN_PLUGIN_PATH.
#   sdk_install.sh BUILD_ROOT SOURCE_ROOT
# Exit status 77 (skipped) after everything else passed when the
# Fashion-MNIST files are missing.
set -eu
build=$1
src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnn-sdk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/dest

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; exit 1; }
run_logged() { # log command...: runs it, shows the log only on failure
    log=$1
    shift
    "$@" >"$log" 2>&1 || { cat "$log"; return 1; }
}

step "meson install --destdir"
run_logged "$tmp/install.log" \
    meson install -C "$build" --no-rebuild --quiet --destdir "$dest" ||
    fail "meson install"
pc=$(find "$dest" -name cnn.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no pkgconfig/cnn.pc was installed"
# The standard way to use a .pc file from a DESTDIR: the sysroot is
# prefixed to its paths.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
# pkgconf prefixes --variable values with the sysroot, pkg-config does not.
var() {
    v=$(pkg-config --variable="$1" cnn)
    [ -n "$v" ] || fail "cnn.pc has no variable $1"
    case $v in
    "$dest"/*) printf '%s\n' "$v" ;;
    *) printf '%s\n' "$dest$v" ;;
    esac
}
prefix=$(var prefix)
includedir=$(var includedir)
libdir=$(var libdir)
plugindir=$(var plugindir)
graphsdir=$(var graphsdir)
echo "cnn.pc: $pc"
echo "  cflags: $(pkg-config --cflags cnn)"
echo "  plugindir: $plugindir"
for f in status.h tensor.h layer.h context.h plugin.h; do
    [ -f "$includedir/cnn/$f" ] || fail "header cnn/$f not installed"
done
[ -e "$libdir/libcnn.so" ] || fail "libcnn.so not in $libdir"
[ -x "$prefix/bin/cnnrun" ] || fail "cnnrun not in $prefix/bin"
[ -f "$graphsdir/lenet5.yaml" ] || fail "graphs not in $graphsdir"
n_builtin=$(find "$plugindir" -name '*.so' | wc -l)
[ "$n_builtin" -ge 12 ] || fail "only $n_builtin plugins in $plugindir"
cnnrun=$prefix/bin/cnnrun
# No rpath into a DESTDIR: the installed library is found like this, and
# only it (meson test points LD_LIBRARY_PATH at the build tree).
LD_LIBRARY_PATH=$libdir
export LD_LIBRARY_PATH
"$cnnrun" --version

step "the example, built with the compiler line of docs/plugin-abi.md"
# A copy: nothing from the source tree but the example's own folder.
cp -R "$src/examples/lrn" "$tmp/lrn"
cd "$tmp/lrn"
# shellcheck disable=SC2016 # expanded by eval, as the reader's shell would
line='cc -std=c11 -O2 -fPIC -shared $(pkg-config --cflags cnn) -o lrn.so lrn.c -lm'
grep -qF -- "$line" "$src/docs/plugin-abi.md" ||
    fail "docs/plugin-abi.md no longer shows the line this test runs: $line"
echo "$ $line"
eval "$line" || fail "the documented compiler line failed"
# The same with every warning, so that the tutorial code stays clean.
eval "${line% -o *} -Wall -Wextra -Wpedantic -Werror -o lrn-warn.so lrn.c -lm" ||
    fail "the example has warnings"

step "check-plugin on the example"
"$cnnrun" check-plugin ./lrn.so || fail "check-plugin ./lrn.so"
# Defaults make the normalisation term tiny (alpha 1e-4): check it with
# values where every term of backward matters.
"$cnnrun" check-plugin --quiet ./lrn.so --set size=5 --set alpha=2 \
    --set beta=0.75 --set k=1.5 || fail "check-plugin lrn with alpha=2"
"$cnnrun" check-plugin --quiet ./lrn.so --set size=4 --set alpha=3 \
    --set beta=0.5 --set k=1 --shape 2x9x3x4 --shape 3x4 ||
    fail "check-plugin lrn, even window"

step "a plugin written from the documentation alone (tests/sdk/author)"
mkdir "$tmp/prelu"
cp "$src/tests/sdk/author/prelu.c" "$tmp/prelu/"
cd "$tmp/prelu"
prelu_line=$(printf '%s\n' "$line" | sed 's/lrn/prelu/g')
echo "$ $prelu_line"
eval "$prelu_line" || fail "building prelu.so"
"$cnnrun" check-plugin ./prelu.so || fail "check-plugin ./prelu.so"
cd "$tmp/lrn"

step "an activation on the installed cnn/elementwise.h (tests/sdk/author)"
for h in elementwise.h pool_window.h; do
    [ -f "$includedir/cnn/$h" ] || fail "header cnn/$h not installed"
done
mkdir "$tmp/softplus"
cp "$src/tests/sdk/author/softplus.c" "$tmp/softplus/"
cd "$tmp/softplus"
softplus_line=$(printf '%s\n' "$line" | sed 's/lrn/softplus/g')
echo "$ $softplus_line"
eval "$softplus_line" || fail "building softplus.so"
eval "${softplus_line% -o *} -Wall -Wextra -Wpedantic -Werror -o softplus-warn.so softplus.c -lm" ||
    fail "softplus.c has warnings against the installed headers"
"$cnnrun" check-plugin ./softplus.so || fail "check-plugin ./softplus.so"
"$cnnrun" check-plugin --quiet ./softplus.so --set beta=2 --set threshold=3 ||
    fail "check-plugin softplus with beta=2, threshold=3"
cd "$tmp/lrn"

step "check-plugin on every installed built-in plugin"
for so in "$plugindir"/*.so; do
    "$cnnrun" check-plugin --quiet "$so" || fail "check-plugin $so"
    echo "ok: $so"
done

step "the example's meson.build"
if command -v meson >/dev/null 2>&1 && command -v ninja >/dev/null 2>&1; then
    run_logged "$tmp/meson.log" \
        meson setup "$tmp/lrn-build" "$tmp/lrn" -Dwerror=true ||
        fail "meson setup of the example"
    run_logged "$tmp/ninja.log" ninja -C "$tmp/lrn-build" ||
        fail "ninja in the example"
    "$cnnrun" check-plugin --quiet "$tmp/lrn-build/lrn.so" ||
        fail "check-plugin on the meson-built lrn.so"
else
    echo "meson or ninja not found: skipped"
fi

step "a graph that uses it, through CNN_PLUGIN_PATH"
# The installed plugins too, ahead of the build tree that libcnn also
# searches.
CNN_PLUGIN_PATH=$tmp/lrn:$plugindir
export CNN_PLUGIN_PATH
"$cnnrun" summary lenet5-lrn.yaml >"$tmp/summary.txt" ||
    { cat "$tmp/summary.txt"; fail "cnnrun summary"; }
cat "$tmp/summary.txt"
grep -q 'norm1 *lrn' "$tmp/summary.txt" || fail "no lrn layer in the summary"
"$cnnrun" plugins --describe lrn | grep -qF "$tmp/lrn/lrn.so" ||
    fail "lrn did not come from CNN_PLUGIN_PATH"

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "SKIP: Fashion-MNIST is not in /usr/share/datasets/fashion-mnist"
    exit 77
fi
step "train one short epoch with each plugin and evaluate"
cat >"$tmp/prelu/small.yaml" <<'YAML'
name: small_prelu
input: [1, 28, 28]
layers:
  - {name: conv1, type: conv, filters: 4, kernel: 5, stride: 2}
  - {name: act1, type: prelu}
  - {name: flatten, type: flatten}
  - {name: fc, type: dense, units: 10}
  - {name: prob, type: softmax}
YAML
CNN_PLUGIN_PATH=$tmp/prelu:$plugindir "$cnnrun" train "$tmp/prelu/small.yaml" \
    --data 'fashion-mnist:train@256' --epochs 1 --batch 64 \
    --out "$tmp/small.safetensors" || fail "cnnrun train with prelu"
"$cnnrun" train lenet5-lrn.yaml --data 'fashion-mnist:train@512' \
    --epochs 1 --batch 64 --optimizer adam --lr 0.002 \
    --out "$tmp/lenet5-lrn.safetensors" || fail "cnnrun train"
[ -s "$tmp/lenet5-lrn.safetensors" ] || fail "no weights written"
"$cnnrun" eval lenet5-lrn.yaml --weights "$tmp/lenet5-lrn.safetensors" \
    --data 'fashion-mnist:test@256' --json >"$tmp/eval.json" ||
    fail "cnnrun eval"
top1=$(sed -n 's/.*"top1":\([0-9.eE+-]*\).*/\1/p' "$tmp/eval.json")
echo "top-1 accuracy on 256 test images: $top1 (chance: 0.1)"
awk -v a="$top1" 'BEGIN { exit !(a > 0.15) }' ||
    fail "the network did not learn (top-1 $top1)"
echo "OK"
