#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cnnrun linear: models in the validated safetensors format, class names
# stored and matched by name, labels bounded by the classes, widths checked,
# LIBLINEAR text models refused, every hostile model a clear exit 1.
set -u
cnnrun=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
# expect STATUS DESCRIPTION WORDS... -- ARGS...: exit status and stderr words.
expect() {
  local want=$1 what=$2 err rc words=()
  shift 2
  while [ "$1" != "--" ]; do words+=("$1"); shift; done
  shift
  err=$(${CNN_TEST_WRAPPER:-} "$cnnrun" "$@" 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq "$want" ]; check "$what: exit $want (got $rc)" $?
  for w in "${words[@]}"; do
    grep -qF -- "$w" <<<"$err"; check "$what: says '$w'" $?
  done
  [ "$rc" -eq "$want" ] || printf '%s\n' "$err" | sed 's/^/# /'
}
python3 "$here/make_linear_files.py" "$tmp" || exit 1
m=$tmp/m.safetensors

"$cnnrun" linear train "$tmp/f.npy" --labels "$tmp/f.labels.npy" --out "$m" --quiet
check "train writes a model" $?
python3 - "$m" <<'PY'
import json, struct, sys
d = open(sys.argv[1], "rb").read()
h = json.loads(d[8:8 + struct.unpack("<Q", d[:8])[0]])
meta = h["__metadata__"]
assert h["weight"]["shape"] == [3, 6] and h["bias"]["shape"] == [3], h
assert json.loads(meta["classes"]) == ["cat", "dog", "eel"], meta
assert meta["format"] == "cnnrun.linear" and meta["features"] == "6", meta
assert meta["solver"] == "l2r_lr" and meta["normalize"] == "true", meta
assert int(meta["liblinear_version"]) >= 200, meta
PY
check "model: weight [3, 6], bias, class names, width, solver, LIBLINEAR version" $?
[ -z "$(ls "$tmp" | grep -F '.tmp')" ]; check "no temporary file left beside the model" $?

out=$("$cnnrun" linear eval "$m" "$tmp/f.npy" --labels "$tmp/f.labels.npy" --json)
check "eval exits 0" $?
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["top1"] == 1.0 and d["classes"] == ["cat","dog","eel"] and d["confusion"] == [[20,0,0],[0,20,0],[0,0,20]], d' "$out"
check "eval: 100% on separable data, 3x3 confusion, class names" $?
# The same rows with the classes numbered eel, cat, dog: matched by name.
out=$("$cnnrun" linear eval "$m" "$tmp/f.npy" --labels "$tmp/g.labels.npy" --json)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["top1"] == 1.0 and d["confusion"][0] == [20,0,0], d' "$out"
check "eval maps classes by name, not by number" $?
expect 1 "a class the model does not know" "the data's class 'fox'" "cat dog eel" -- \
  linear eval "$m" "$tmp/f.npy" --labels "$tmp/f.labels.npy" --classes "$tmp/unknown.json"

out=$("$cnnrun" linear predict "$m" "$tmp/f.npy" --top 2)
check "predict exits 0" $?
[ "$(sed -n 1p <<<"$out" | cut -f1,2)" = "$(printf '0\tcat')" ] &&
  [ "$(sed -n 21p <<<"$out" | cut -f2)" = dog ] && [ "$(sed -n 60p <<<"$out" | cut -f2)" = eel ] &&
  [ "$(sed -n 1p <<<"$out" | awk -F'\t' '{print NF}')" -eq 5 ]
check "predict prints row, then the top 2 class names with scores" $?
out=$("$cnnrun" linear predict "$m" "$tmp/f.npy" --json)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d) == 60 and d[59]["top"][0]["class"] == "eel" and len(d[0]["top"]) == 1, d[0]' "$out"
check "predict --json" $?
expect 1 "--top past the classes" "more than the model's 3 classes" -- linear predict "$m" "$tmp/f.npy" --top 4

# Two classes: LIBLINEAR's single weight vector becomes two rows.
"$cnnrun" linear train "$tmp/two.npy" --labels "$tmp/two.labels.npy" --out "$tmp/two.safetensors" --quiet \
  --classes "$tmp/two.json" --bias 1 &&
  out=$("$cnnrun" linear eval "$tmp/two.safetensors" "$tmp/two.npy" --labels "$tmp/two.labels.npy" \
    --classes "$tmp/two.json" --json) &&
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["top1"] == 1.0 and d["classes"] == ["cat","dog"], d' "$out"
check "two classes with a bias term: trained, stored and evaluated" $?

# Without names anywhere the classes are their numbers.
cp "$tmp/f.labels.npy" "$tmp/bare.npy"
"$cnnrun" linear train "$tmp/f.npy" --labels "$tmp/bare.npy" --out "$tmp/bare.safetensors" --quiet &&
  "$cnnrun" linear predict "$tmp/bare.safetensors" "$tmp/f.npy" | sed -n 60p | cut -f2 | grep -qx 2
check "no class names: classes named by their numbers" $?

# Widths, labels and classes out of range.
expect 1 "another feature width" "narrow.npy has 4 features per row" "trained on 6" -- \
  linear eval "$m" "$tmp/narrow.npy" --labels "$tmp/f.labels.npy"
expect 1 "another feature width (predict)" "has 4 features per row" -- linear predict "$m" "$tmp/narrow.npy"
expect 1 "label 49999 on a 3-class model" "label 49999 (row 0)" "from 0 to 2" -- \
  linear eval "$m" "$tmp/f.npy" --labels "$tmp/big.labels.npy" --classes "$tmp/f.labels.classes.json"
expect 1 "label 49999 without names" "label 49999 (row 0)" "the model's classes" -- \
  linear eval "$m" "$tmp/f.npy" --labels "$tmp/big.labels.npy"
expect 1 "label 2^31-1" "label 2.14748e+09 (row 0)" -- linear eval "$m" "$tmp/f.npy" --labels "$tmp/intmax.labels.npy"
expect 1 "label 2^31-1 in training" "label 2.14748e+09 (row 0)" -- \
  linear train "$tmp/f.npy" --labels "$tmp/intmax.labels.npy" --out "$tmp/x.safetensors"
expect 1 "negative label" "label -1 (row 0)" -- linear train "$tmp/f.npy" --labels "$tmp/neg.labels.npy" --out "$tmp/x.safetensors"
expect 1 "label past the class names" "label 49999 (row 0)" "number of class names" -- \
  linear train "$tmp/f.npy" --labels "$tmp/big.labels.npy" --classes "$tmp/unknown.json" --out "$tmp/x.safetensors"
expect 1 "a class without rows" "class 'fox' (label 2) has no training rows" -- \
  linear train "$tmp/two.npy" --labels "$tmp/two.labels.npy" --classes "$tmp/unknown.json" --out "$tmp/x.safetensors"
[ ! -e "$tmp/x.safetensors" ]; check "no model written after a refusal" $?

# LIBLINEAR's own text format is refused before LIBLINEAR sees it.
expect 1 "old LIBLINEAR model (4 classes, 2^30 features)" "LIBLINEAR text model" \
  "cnnrun linear train FEATURES.npy --labels LABELS.npy --out MODEL.safetensors" -- \
  linear eval "$tmp/old.liblinear" "$tmp/f.npy" --labels "$tmp/f.labels.npy"
# A file of another format is named as such, not by the length its first
# eight bytes would give.
printf 'solver l2r_lr, trained yesterday\n' >"$tmp/text.safetensors"
expect 1 "a text file as the model" "text.safetensors is not a safetensors file" -- \
  linear predict "$tmp/text.safetensors" "$tmp/f.npy"
mkfifo "$tmp/fifo"
expect 1 "a FIFO as the model" "not a regular file" -- linear predict "$tmp/fifo" "$tmp/f.npy"

# Hostile models: each refused with the rule it breaks.
bad() { local name=$1; shift; expect 1 "hostile model: $name" "bad-$name.safetensors" "$@" -- \
  linear predict "$tmp/bad-$name.safetensors" "$tmp/f.npy"; }
bad format 'metadata "format" is "pt"'
bad version 'format version "2"'
bad no-classes 'class names are missing'
bad dup-classes 'class name "cat" appears twice (classes 0 and 2)'
bad empty-class 'class name 1 is not a string'
bad few-classes '2 class names but the weight has 3 rows'
bad features 'weight must be [classes, 7]'
bad huge-features 'metadata "features" is missing or not a whole number'
bad features-junk 'metadata "features" is missing or not a whole number'
bad normalize 'metadata "normalize"'
bad nan 'weight[0, 0] is nan'
bad inf-bias 'bias[1] is inf'
bad bias-shape 'bias [classes]'
bad extra 'exactly the tensors "weight" and "bias" (found 3'
bad no-bias 'no bias'
bad one-class 'needs 2 to 65536 classes, not 1'
exit $fail
