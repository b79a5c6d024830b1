#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cnnrun bench --roofline: the machine's peak and bandwidth are measured,
# every layer gets the bound max(FLOPs / peak, bytes / bandwidth) (recomputed
# here from the reported numbers), and batch-1 dense layers, at 0.5 FLOP per
# byte, are memory-bound on any machine whose ridge is above that.
set -u
cnnrun=$1
root=$2
fail=0
check() { # description, condition result
  if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi
}
out=$("$cnnrun" bench "$root/graphs/lenet5.yaml" --roofline --json --runs 2 --warmup 0)
check "bench --roofline --json exits 0" $?
python3 - "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
m = d["machine"]
assert m["peak_gflops"] > 0 and m["triad_gbs"] > 0, m
assert m["fma"] in ("AVX-512", "AVX2", "scalar"), m
for l in d["layers"]:
    want = max(l["forward_flops"] / (m["peak_gflops"] * 1e9),
               l["forward_bytes"] / (m["triad_gbs"] * 1e9)) * 1e3
    assert abs(l["forward_bound_ms"] - want) <= 1e-5 * want, (l, want)  # JSON keeps 6 digits
    limit = ("memory" if l["forward_bytes"] / (m["triad_gbs"] * 1e9)
             > l["forward_flops"] / (m["peak_gflops"] * 1e9) else "compute")
    assert l["forward_limit"] == limit, l
    if l["type"] == "dense" and m["peak_gflops"] / m["triad_gbs"] > 0.5:
        assert l["forward_limit"] == "memory", l
fc1 = next(l for l in d["layers"] if l["name"] == "fc1")
# fc1: 400 -> 120 at batch 1: x 400, y 120, weights 48,000 + 120.
assert fc1["forward_bytes"] == 4 * (400 + 120 + 48120), fc1
PY
check "roofline bounds recomputed from the JSON" $?
text=$("$cnnrun" bench "$root/graphs/lenet5.yaml" --roofline --train --batch 4 --runs 1 --warmup 0)
grep -q "^Roofline at 1 thread: .* FMA peak .* GFLOP/s, STREAM triad .* GB/s" <<<"$text"
check "roofline table header" $?
grep -Eq "^conv1 +conv .*[0-9]+% +[0-9.]+ +[0-9.]+[cm] +[0-9]+%$" <<<"$text"
check "training roofline has forward and backward bounds" $?
"$cnnrun" bench --conv 3,8,8,4,3 --roofline >/dev/null 2>&1
check "--conv with --roofline: exit 2" $(( $? == 2 ? 0 : 1 ))
exit $fail
