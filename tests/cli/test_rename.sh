#!/bin/bash
# SPDX-License-Identifier: MIT
# Rename rules end to end, with no PyTorch: a small torchvision-shaped
# state_dict saved under PyTorch's names, I64 num_batches_tracked included
# (tests/fixtures/rename/, from gen_rename_fixtures.py), loads into a graph
# with cnnrun's names through --rename FILE, --rename FROM=TO rules and the
# graph's own rename: key, and matches torch's logits within 1e-4; weights
# already under the layers' names still load; a backbone's weights go
# through the head graph's rules; and the mistakes (a missing rule, a rule
# that matches nothing, two names meeting, a bad rule in a file) are named.
#
# Usage: test_rename.sh CNNRUN SOURCE_ROOT
set -eu

CNNRUN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$(cd "$2" && pwd)
PY=${PYTHON:-python3}
WRAP=${CNN_TEST_WRAPPER:-}
F=$SRC/tests/fixtures/rename
T=$(mktemp -d "${TMPDIR:-/tmp}/cnn-rename-XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"

fail() {
    echo "FAIL: $*" >&2
    if [ -s err ]; then
        echo "--- stderr:" >&2
        cat err >&2
    fi
    exit 1
}

run() {
    rc=0
    # shellcheck disable=SC2086 # WRAP is a command line
    $WRAP "$CNNRUN" "$@" >out 2>err || rc=$?
}

expect_rc() {
    [ "$rc" = "$1" ] || fail "exit code $rc, wanted $1 (cnnrun $2)"
}

expect_err() {
    grep -qF -- "$1" err || fail "stderr lacks: $1"
}

# Largest |a - b| over the largest |b|, for two float32 .npy files.
close_to() {
    "$PY" - "$1" "$2" <<'PYEOF' || fail "$1 differs from $2 (see above)"
import ast, struct, sys
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<H", raw[8:10])[0]
    head = ast.literal_eval(raw[10:10 + n].decode())
    assert head["descr"] == "<f4", head
    count = 1
    for d in head["shape"]:
        count *= d
    return head["shape"], struct.unpack("<%df" % count, raw[10 + n:])
(sa, a), (sb, b) = load(sys.argv[1]), load(sys.argv[2])
assert sa == sb, (sa, sb)
rel = max(abs(x - y) for x, y in zip(a, b)) / max(abs(y) for y in b)
print("%s vs %s: max |diff| / max |ref| = %.3g" % (sys.argv[1], sys.argv[2], rel))
assert rel <= 1e-4, rel
PYEOF
}

SD=$F/state_dict.safetensors

# 1. A rename file on the command line.
run forward "$F/graph.yaml" --weights "$SD" --rename "$F/rename.yaml" \
    --input "$F/x.npy" --output y_file.npy
expect_rc 0 "forward --rename FILE"
expect_err "renamed 12 tensors, dropped 1"
close_to y_file.npy "$F/logits.npy"

# 2. The same rules one by one (FROM= drops).
run forward "$F/graph.yaml" --weights "$SD" \
    --rename 'features.0.*=conv1.*' --rename '*.num_batches_tracked=' \
    --rename 'features.1.*=bn1.*' --rename 'features.4.*=conv2.*' \
    --rename 'classifier.1.*=fc1.*' --rename 'classifier.4.*=fc2.*' \
    --input "$F/x.npy" --output y_rules.npy
expect_rc 0 "forward --rename FROM=TO"
close_to y_rules.npy "$F/logits.npy"

# 3. The graph's own rename: key, no flag.
run forward "$F/graph-renamed.yaml" --weights "$SD" --input "$F/x.npy" \
    --output y_graph.npy
expect_rc 0 "forward with the graph's rename: key"
close_to y_graph.npy "$F/logits.npy"

# 4. Weights already under the layers' names load into that graph as they
#    are (no rule matches, nothing renamed).
run init "$F/graph-renamed.yaml" --out own.safetensors --seed 3
expect_rc 0 init
run forward "$F/graph-renamed.yaml" --weights own.safetensors \
    --input "$F/x.npy" --output y_own.npy
expect_rc 0 "forward, cnnrun's own names"
expect_err "no rename rule matches its tensors"
run forward "$F/graph.yaml" --weights own.safetensors --input "$F/x.npy" \
    --output y_own2.npy
expect_rc 0 "forward, cnnrun's own names, no rules"
cmp -s y_own.npy y_own2.npy || fail "the graph's rules changed cnnrun-named weights"

# 5. A backbone's weights go through the head graph's rules, and predict,
#    eval and features take --rename too (here, predict's usage).
cat > head.yaml <<EOF2
name: head
backbone:
  graph: $F/graph.yaml
  weights: $SD
  cut_after: relu3
  freeze: all
rename: $F/rename.yaml
layers:
  - {name: out, type: dense, units: 3}
EOF2
run init head.yaml --out head.safetensors
expect_rc 0 "init of a head on a torchvision backbone"
expect_err "backbone weights"
expect_err "loaded 10 tensors (conv1.weight, conv1.bias, bn1.weight"
run forward head.yaml --weights head.safetensors --input "$F/x.npy" \
    --output h_relu3.npy --until relu3
expect_rc 0 "forward of the head"
run forward "$F/graph.yaml" --weights "$SD" --rename "$F/rename.yaml" \
    --input "$F/x.npy" --output g_relu3.npy --until relu3
expect_rc 0 "forward --until relu3"
cmp -s h_relu3.npy g_relu3.npy || fail "the head's backbone differs from the renamed weights"
# A head without rename: of its own takes its backbone file's rules.
cat > head2.yaml <<EOF2
name: head2
backbone:
  graph: $F/graph-renamed.yaml
  weights: $SD
  cut_after: relu3
layers:
  - {name: out, type: dense, units: 3}
EOF2
run init head2.yaml --out head2.safetensors
expect_rc 0 "init of a head inheriting its backbone's rename: rules"
expect_err "loaded 10 tensors (conv1.weight, conv1.bias, bn1.weight"
run forward head2.yaml --weights head2.safetensors --input "$F/x.npy" \
    --output h2_relu3.npy --until relu3
expect_rc 0 "forward of the second head"
cmp -s h2_relu3.npy g_relu3.npy || fail "the inherited rules loaded other weights"
for cmd in predict eval features train; do
    run "$cmd" --help
    grep -q -- "--rename FILE|FROM=TO" out || fail "cnnrun $cmd --help lacks --rename"
done

# 6. Without the counter's rule the I64 tensor is named, not loaded.
run forward "$F/graph.yaml" --weights "$SD" \
    --rename 'features.0.*=conv1.*' --rename 'features.1.*=bn1.*' \
    --rename 'features.4.*=conv2.*' --rename 'classifier.1.*=fc1.*' \
    --rename 'classifier.4.*=fc2.*' --input "$F/x.npy" --output bad.npy
expect_rc 1 "forward without the num_batches_tracked rule"
expect_err "tensor 'bn1.num_batches_tracked' is not a parameter of graph 'tiny-torchvision' after renaming"
expect_err "'bn1.num_batches_tracked: ~' to drop it"

# 7. No rules at all: the first torchvision name is the error.
run forward "$F/graph.yaml" --weights "$SD" --input "$F/x.npy" --output bad.npy
expect_rc 1 "forward without rules"
expect_err "missing tensor 'conv1.weight'"

# 8. A rule that matches nothing is a warning naming it; the load goes on.
run forward "$F/graph.yaml" --weights "$SD" --rename "$F/rename.yaml" \
    --rename 'features.9.*=conv9.*' --input "$F/x.npy" --output y_warn.npy
expect_rc 0 "forward with a rule matching nothing"
expect_err "--rename features.9.*=conv9.*: rename rule 'features.9.*' -> 'conv9.*' matches no tensor"

# 9. Two names meeting in one.
run forward "$F/graph.yaml" --weights "$SD" --rename 'features.0.bias=x' \
    --rename 'features.4.bias=x' --input "$F/x.npy" --output bad.npy
expect_rc 1 "forward with two names meeting"
expect_err "tensors 'features.0.bias' (--rename features.0.bias=x) and 'features.4.bias' (--rename features.4.bias=x) would both be named 'x'"

# 10. Bad rules: in a graph (file:line:column), in a rename file, on the
#     command line.
sed 's/  - features.4.\*: conv2.\*/  - features.4.*.*: conv2.*/' \
    "$F/graph-renamed.yaml" >bad-graph.yaml
run forward bad-graph.yaml --weights "$SD" --input "$F/x.npy" --output bad.npy
expect_rc 1 "forward with a bad rule in the graph"
expect_err "bad-graph.yaml:10:5: rename rule 'features.4.*.*' -> 'conv2.*' has more than one '*'"
printf 'rename:\n  features.0.*: conv1\n' >bad-rules.yaml
run forward "$F/graph.yaml" --weights "$SD" --rename bad-rules.yaml \
    --input "$F/x.npy" --output bad.npy
expect_rc 1 "forward with a bad rename file"
expect_err "bad-rules.yaml:2:3: rename rule 'features.0.*' -> 'conv1' maps every name"
printf 'name: r\nrename: nowhere.yaml\ninput: {shape: [3, 16, 16]}\nlayers:\n  - {name: fc2, type: dense, units: 10}\n' >missing.yaml
run summary missing.yaml
expect_rc 1 "summary of a graph naming a missing rename file"
expect_err "missing.yaml:2:9: rename file 'nowhere.yaml'"
run forward "$F/graph.yaml" --weights "$SD" --rename no-such-file \
    --input "$F/x.npy" --output bad.npy
expect_rc 1 "forward --rename no-such-file"
expect_err "--rename no-such-file: no such rename file, and not a FROM=TO rule"
[ ! -e bad.npy ] || fail "a failed forward wrote its output"
echo "rename: all checks passed"
