#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""CPU time of one inference pass, cnnrun against PyTorch and ONNX Runtime,
at one thread: on a machine so loaded that wall-clock medians mostly
measure the scheduler (load average 30 on 2 cores), the processor time
each tool spends on the same work still compares them.

  cpu_time.py --cnnrun CNNRUN [--batch B] [--models DIR] [GRAPH.yaml ...]

cnnrun: the CPU time (user + system, from wait4) of `cnnrun bench --runs R2`
minus that of `--runs R1`, over R2 - R1: loading and warm-up cancel out.
PyTorch: time.process_time() around each forward (bench/torch_ref.py's
model, cnnrun's weights). ONNX Runtime: bench/ort/bench_onnx.js --cpu.
Medians; the same weights and .onnx files as bench/compare.py
(bench/onnx_models.py). One thread only: with more, CPU time adds the
threads up and says nothing of latency.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import torch  # noqa: E402
import yaml  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import onnx_models  # noqa: E402
import torch_ref  # noqa: E402

RUNS = {"lenet5": 4000, "alexnet": 20, "vgg16": 4, "resnet18": 20, "mobilenetv2": 40}


def child_cpu(cmd):
    """CPU seconds (user + system) of one child process."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=ROOT)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return ru.ru_utime + ru.ru_stime


def cnnrun_ms(cnnrun, graph, weights, batch, runs):
    base = [cnnrun, "bench", "--quiet", "--json", graph, "--weights", weights,
            "--batch", str(batch), "--warmup", "2", "--threads", "1"]
    # Alternate the two lengths and take medians: three of each.
    short, long_ = [], []
    for _ in range(3):
        short.append(child_cpu(base + ["--runs", "1"]))
        long_.append(child_cpu(base + ["--runs", str(runs + 1)]))
    return 1e3 * (statistics.median(long_) - statistics.median(short)) / runs


def torch_ms(graph, weights, batch, runs):
    model, shape, _ = torch_ref.build_model(graph)
    with open(graph) as f:
        net = yaml.safe_load(f).get("name")
    torch_ref.load_cnnrun_weights(model, weights, net in torch_ref.TORCHVISION_NETS)
    model.eval()
    x = torch.rand((batch,) + tuple(shape))
    times = []
    with torch.inference_mode():
        for r in range(-3, runs):
            t0 = time.process_time()
            model(x)
            if r >= 0:
                times.append(time.process_time() - t0)
    return 1e3 * statistics.median(times), shape


def ort_ms(model, shape, batch, runs):
    out = subprocess.run(["node", os.path.join(HERE, "ort", "bench_onnx.js"), model,
                          "--shape", ",".join(map(str, shape)), "--batch", str(batch),
                          "--runs", str(runs), "--warmup", "3", "--cpu"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["step_ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cnnrun", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--models", default=os.path.join(ROOT, "build-bench", "bench-results",
                                                     "models"))
    ap.add_argument("graphs", nargs="*", default=[g for g in onnx_models.DEFAULT_GRAPHS
                                                  if "vgg16" not in g])
    a = ap.parse_args()
    torch.set_num_threads(1)
    cnnrun = os.path.abspath(a.cnnrun)
    print(f"OPENBLAS_CORETYPE {os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, batch {a.batch}, "
          "1 thread, CPU ms per pass (median)")
    print("| Network | cnnrun | PyTorch | ONNX Runtime | PyTorch / cnnrun | ORT / cnnrun |")
    print("|---|---:|---:|---:|---:|---:|")
    for g in a.graphs:
        files = onnx_models.make(cnnrun, g, os.path.abspath(a.models), 1)
        name = os.path.splitext(os.path.basename(g))[0]
        runs = max(3, RUNS.get(name, 10) // a.batch)
        t, shape = torch_ms(os.path.join(ROOT, g), files["weights"], a.batch, runs)
        o = ort_ms(files["onnx"], shape, a.batch, runs)
        c = cnnrun_ms(cnnrun, g, files["weights"], a.batch, runs)
        print(f"| {name} | {c:.3g} ms | {t:.3g} ms | {o:.3g} ms | {t / c:.2f}x | {o / c:.2f}x |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
