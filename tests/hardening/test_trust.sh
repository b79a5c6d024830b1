#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Plugin folders and files others could write are refused before any of
# their code runs (OpenSSH's StrictModes); only <type>.so is ever opened
# for a type; a user folder's relu.so overriding the built-in one says so.
# The fixtures' constructors append to $CNN_TEST_MARKER, so "no code ran"
# is checked, not assumed.
set -u
cnnrun=$1
fixtures=$2 # relu.so and evil.so, marking when loaded
root=$3
tmp=$(mktemp -d)
trap 'chmod -R u+rwx "$tmp"; rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
export CNN_TEST_MARKER=$tmp/marker
graph=$root/graphs/lenet5.yaml
# plant DIR: a folder holding the marking relu.so and evil.so.
plant() { mkdir -p "$1" && cp "$fixtures/relu.so" "$fixtures/evil.so" "$1/" && chmod 755 "$1"/*.so; }
# refused WHAT WORDS... -- ARGS...: exit 1, the words in the output, no mark.
refused() {
  local what=$1 err rc words=()
  shift
  while [ "$1" != "--" ]; do words+=("$1"); shift; done
  shift
  rm -f "$CNN_TEST_MARKER"
  # A first argument NAME=VALUE goes to the environment.
  if [[ $1 == *=* ]]; then
    err=$(env "$1" "$cnnrun" "${@:2}" 2>&1); rc=$?
  else
    err=$("$cnnrun" "$@" 2>&1); rc=$?
  fi
  [ "$rc" -eq 1 ]; check "$what: exit 1 (got $rc)" $?
  for w in "${words[@]}"; do grep -qF -- "$w" <<<"$err"; check "$what: says '$w'" $?; done
  [ ! -e "$CNN_TEST_MARKER" ]; check "$what: no plugin code ran" $?
  [ "$rc" -eq 1 ] || printf '%s\n' "$err" | sed 's/^/# /'
}

# A world-writable folder, whether or not it holds the type asked for.
mkdir "$tmp/open"; chmod 777 "$tmp/open"
refused "--plugin-dir writable by others, empty" "plugin directory $tmp/open is writable by others (mode 0777)" \
  "chmod go-w $tmp/open" -- summary "$graph" --plugin-dir "$tmp/open"
plant "$tmp/open"
refused "--plugin-dir writable by others, holding relu.so" "writable by others" -- summary "$graph" --plugin-dir "$tmp/open"
refused "CNN_PLUGIN_PATH writable by others" "plugin directory $tmp/open is writable by others" -- \
  CNN_PLUGIN_PATH="$tmp/open" summary "$graph"
refused "CNN_PLUGIN_PATH=/tmp (sticky, world-writable)" "plugin directory /tmp is writable by others (mode 1777)" -- \
  CNN_PLUGIN_PATH=/tmp summary "$graph"
plant "$tmp/group"; chmod 775 "$tmp/group"
refused "--plugin-dir writable by its group" "is writable by its group (mode 0775)" -- summary "$graph" --plugin-dir "$tmp/group"

# A world-writable plugin file in a folder of the user's own.
plant "$tmp/own"; chmod 700 "$tmp/own"; chmod 666 "$tmp/own/relu.so"
refused "plugin file writable by others" "plugin file $tmp/own/relu.so is writable by others (mode 0666)" -- \
  summary "$graph" --plugin-dir "$tmp/own"
refused "check-plugin on a file writable by others" "writable by others" -- check-plugin "$tmp/own/relu.so"
# A folder above, writable by others and not sticky: anyone may swap ours.
mkdir -p "$tmp/shared"; plant "$tmp/shared/mine"; chmod 700 "$tmp/shared/mine"; chmod 777 "$tmp/shared"
refused "a folder above writable by others" "directory above the plugins $tmp/shared is writable by others" -- \
  summary "$graph" --plugin-dir "$tmp/shared/mine"
# A symbolic link is judged by where it leads.
mkdir "$tmp/links"; ln -s "$tmp/open/relu.so" "$tmp/links/relu.so"
refused "a link to a plugin in a folder writable by others" \
  "plugin directory $tmp/open (via $tmp/links/relu.so) is writable by others" -- summary "$graph" --plugin-dir "$tmp/links"
if [ "$(id -u)" -eq 0 ]; then
  plant "$tmp/theirs"; chown 65534 "$tmp/theirs"
  refused "a folder owned by someone else" "is owned by uid 65534, neither root nor you" -- \
    summary "$graph" --plugin-dir "$tmp/theirs"
else
  echo "ok - # SKIP a folder owned by someone else (needs root to chown)"
fi
# Listing reports refused files without loading them (evil.so, trusted
# beside it, is listed and so loaded).
rm -f "$CNN_TEST_MARKER"
out=$("$cnnrun" plugins --plugin-dir "$tmp/own" 2>&1)
grep -qF "writable by others" <<<"$out"; check "plugins: a refused file is listed with the reason" $?
[ "$(cat "$CNN_TEST_MARKER" 2>/dev/null)" = e ]; check "plugins: the refused relu.so's code did not run" $?

# A sticky world-writable folder above the user's own 0700 one is fine; the
# user's relu.so then overrides the built-in, and says so.
mkdir "$tmp/sticky"; plant "$tmp/sticky/mine"; chmod 700 "$tmp/sticky/mine"; chmod 1777 "$tmp/sticky"
rm -f "$CNN_TEST_MARKER"
err=$("$cnnrun" summary "$graph" --plugin-dir "$tmp/sticky/mine" 2>&1 >/dev/null); rc=$?
check "a trusted folder under a sticky one: exit 0" $rc
grep -qF "layer type 'relu' from $tmp/sticky/mine/relu.so overrides the built-in" <<<"$err"
check "a relu.so in --plugin-dir overrides the built-in with a warning naming both" $?
[ "$(cat "$CNN_TEST_MARKER" 2>/dev/null)" = r ]; check "the trusted relu.so was loaded, evil.so beside it was not" $?
# Only relu.so is opened for type relu: evil.so, beside it, never runs.
out=$("$cnnrun" plugins --plugin-dir "$tmp/sticky/mine" 2>&1)
grep -qF "overrides the built-in" <<<"$out"; check "plugins: the override is said" $?
[ "$(cat "$CNN_TEST_MARKER")" = rer ]; check "plugins (and only plugins) loads every file: evil.so ran too" $?
"$cnnrun" plugins --help | grep -q "loads every plugin"; check "plugins --help says it loads every plugin" $?
# The built-in folders and the build tree pass the rules themselves.
rm -f "$CNN_TEST_MARKER"
"$cnnrun" summary "$graph" --quiet >/dev/null; check "built-in plugins load" $?
exit $fail
