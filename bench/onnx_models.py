#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The benchmark's networks as one set of weights and one .onnx file each.

For every graph, `cnnrun init --seed S` writes random weights
(NAME.safetensors) and `cnnrun export` writes them out as NAME.onnx. The
three peers of bench/compare.py then run the same weights: cnnrun reads the
safetensors (`cnnrun bench --weights`), PyTorch loads them into its model
by name (bench/torch_ref.py --weights) and ONNX Runtime runs the .onnx
(bench/ort/bench_onnx.js). Files already newer than the graph and the
cnnrun executable are kept.

  onnx_models.py --cnnrun CNNRUN --out DIR [--seed S] [GRAPH.yaml ...]

Prints one JSON object: graph path -> {"weights": ..., "onnx": ...}.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_GRAPHS = ["graphs/lenet5.yaml", "graphs/alexnet.yaml", "graphs/vgg16.yaml",
                  "graphs/resnet18.yaml", "graphs/mobilenetv2.yaml"]


def up_to_date(path, sources):
    if not os.path.exists(path):
        return False
    t = os.path.getmtime(path)
    return all(os.path.getmtime(s) <= t for s in sources)


def make(cnnrun, graph, out, seed):
    """NAME.safetensors and NAME.onnx for one graph (paths relative to ROOT)."""
    name = os.path.splitext(os.path.basename(graph))[0]
    os.makedirs(out, exist_ok=True)
    weights = os.path.join(out, f"{name}.seed{seed}.safetensors")
    model = os.path.join(out, f"{name}.seed{seed}.onnx")
    sources = [os.path.join(ROOT, graph), cnnrun]
    if not up_to_date(weights, sources):
        subprocess.run([cnnrun, "init", "--quiet", graph, "--seed", str(seed),
                        "--out", weights], cwd=ROOT, check=True)
    if not up_to_date(model, sources + [weights]):
        subprocess.run([cnnrun, "export", "--quiet", graph, "--weights", weights,
                        "--out", model], cwd=ROOT, check=True)
    return {"weights": weights, "onnx": model}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cnnrun", required=True, help="the cnnrun executable")
    ap.add_argument("--out", required=True, help="folder for the files")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("graphs", nargs="*", default=DEFAULT_GRAPHS)
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    cnnrun = os.path.abspath(a.cnnrun)
    try:
        files = {g: make(cnnrun, g, out, a.seed) for g in a.graphs}
    except subprocess.CalledProcessError as e:
        print(f"onnx_models: failed ({e.returncode}): {' '.join(e.cmd)}", file=sys.stderr)
        return 1
    print(json.dumps(files, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
