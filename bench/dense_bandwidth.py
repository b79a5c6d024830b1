#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Dense layers at batch 1 against the memory bandwidth of a STREAM triad
on the same machine (issue 15's target: at least 85%).

  dense_bandwidth.py [--cnnrun PATH] [--threads 1,2] [--reps 3] [--runs 10]
                     [GRAPH.yaml ...]   (default: AlexNet and VGG-16)

Each invocation is `cnnrun bench GRAPH --batch 1 --threads T --runs R
--roofline --json`: cnnrun measures the triad (a = b + s c over three
96 MiB arrays, counted as STREAM counts it: three arrays, no
write-allocate; best of 5) at T threads, then times every layer (median of
R passes). A dense layer's bandwidth is the bytes it must move (weights,
input and output, once each: `forward_bytes`) over its forward time. The
table shows, per layer and thread count, the median over --reps
invocations of that bandwidth and of its fraction of the same invocation's
triad (the machine may be shared, so each invocation is its own
reference).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def one_run(cnnrun, graph, threads, runs):
    cmd = [cnnrun, "bench", graph, "--batch", "1", "--threads", str(threads),
           "--runs", str(runs), "--roofline", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         cwd=ROOT).stdout
    report = json.loads(out)
    triad = report["machine"]["triad_gbs"]
    rows = {}
    for layer in report["layers"]:
        if layer["type"] != "dense" or layer["forward_ms"] <= 0:
            continue
        gbs = layer["forward_bytes"] / (layer["forward_ms"] * 1e-3) * 1e-9
        rows[layer["name"]] = (layer["forward_ms"], gbs, triad, gbs / triad)
    return report.get("name", graph), rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("graphs", nargs="*",
                    default=["graphs/alexnet.yaml", "graphs/vgg16.yaml"])
    ap.add_argument("--cnnrun", default=os.path.join(ROOT, "build/cnnrun/cnnrun"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    print(f"{'Network':10} {'Layer':8} {'Thr':>3} {'ms':>8} {'GB/s':>7} "
          f"{'triad':>7} {'of triad':>8}   (medians of {args.reps} invocations)")
    worst = None
    for graph in args.graphs:
        for t in threads:
            runs = [one_run(args.cnnrun, graph, t, args.runs)
                    for _ in range(args.reps)]
            name = runs[0][0]
            for layer in runs[0][1]:
                cols = list(zip(*[r[1][layer] for r in runs]))
                ms, gbs, triad, frac = (statistics.median(c) for c in cols)
                worst = frac if worst is None else min(worst, frac)
                print(f"{name[:10]:10} {layer[:8]:8} {t:3d} {ms:8.3f} "
                      f"{gbs:7.1f} {triad:7.1f} {100 * frac:7.0f}%")
            sys.stdout.flush()
    if worst is not None:
        print(f"Lowest fraction of the triad: {100 * worst:.0f}% "
              f"(target: at least 85%)")


if __name__ == "__main__":
    main()
