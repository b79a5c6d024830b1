#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""torchvision's model zoo through cnnrun's ONNX import, timed against ONNX
Runtime and PyTorch.

The graphs bench/run.sh times were written for cnnrun. These were not:
each model is exported by PyTorch (random weights, eval mode, opset 13),
read by `cnnrun import`, checked against PyTorch's own output on a random
batch (`cnnrun forward`), then timed at batch B and T threads, alternating
`cnnrun bench`, ONNX Runtime (bench/ort/bench_onnx.js on the same .onnx)
and PyTorch (the torchvision model itself, under torch.no_grad), REPS
invocations each. A model that does not import is reported with the
importer's message, not skipped silently, and the script exits 1 when a
model does not import or run, or differs from PyTorch by more than 1e-4
of its largest output.

  /usr/bin/python3 bench/zoo.py [--models a,b,...] [--batch 1] [--threads 1]
                                [--reps 3] [--runs 20] [--build build-bench]
                                [--out DIR]

Needs python3-torch, python3-torchvision, bench/ort/node_modules (for the
ONNX Runtime column) and a built cnnrun (bench/run.sh builds build-bench).
Writes DIR/zoo.md (the table) and DIR/zoo.json (every time); models and
graphs stay in DIR/models/ for reuse.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# Before torch loads (in export and --torch-time): its threads, not
# OpenBLAS's, do the work.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
ORT_JS = os.path.join(HERE, "ort", "bench_onnx.js")
# cnnrun's output against PyTorch's: largest difference over largest value.
MAX_REL_DIFF = 1e-4
DEFAULT_MODELS = ["resnet50", "resnext50_32x4d", "densenet121", "googlenet",
                  "inception_v3", "squeezenet1_1", "shufflenet_v2_x1_0",
                  "mobilenet_v3_large", "mnasnet1_0", "efficientnet_b0",
                  "regnet_y_400mf", "regnet_x_400mf", "convnext_tiny"]


def cnnrun_env():
    env = dict(os.environ)
    env.pop("OPENBLAS_NUM_THREADS", None)  # cnnrun sets its BLAS threads itself
    env.pop("OMP_NUM_THREADS", None)
    return env


def torch_env():
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = "1"  # torch.set_num_threads does the rest
    env.pop("OMP_NUM_THREADS", None)
    return env


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def torch_model(name):
    import torch
    import torchvision
    kw = {}
    if name in ("googlenet", "inception_v3"):
        kw = {"aux_logits": False, "init_weights": True}
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **kw).eval()


def export(name, models_dir):
    """NAME.onnx, a batch NAME.x.npy and PyTorch's output NAME.y.npy."""
    import numpy as np
    import torch
    onnx_path = os.path.join(models_dir, name + ".onnx")
    if os.path.exists(onnx_path):
        return onnx_path
    m = torch_model(name)
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = m(x)
    tmp = onnx_path + ".tmp"
    torch.onnx.export(m, x, tmp, opset_version=13, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                      do_constant_folding=True)
    np.save(os.path.join(models_dir, name + ".x.npy"), x.numpy())
    np.save(os.path.join(models_dir, name + ".y.npy"), y.numpy())
    os.replace(tmp, onnx_path)
    return onnx_path


def time_torch(name, batch, threads, runs, warmup):
    """Median ms of m(x) in this process (called through --torch-time)."""
    import torch
    torch.set_num_threads(threads)
    m = torch_model(name)
    x = torch.rand(batch, 3, 224, 224)
    steps = []
    with torch.no_grad():
        for r in range(warmup + runs):
            t0 = time.perf_counter()
            m(x)
            if r >= warmup:
                steps.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(steps)


def max_rel_diff(a_path, b_path):
    import numpy as np
    a, b = np.load(a_path), np.load(b_path)
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--torch-time", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_time:
        print(json.dumps({"ms": time_torch(a.torch_time, a.batch, a.threads,
                                           a.runs, a.warmup)}))
        return
    a.build = os.path.abspath(a.build)  # the tools run in ROOT
    cnnrun = os.path.join(a.build, "cnnrun", "cnnrun")
    if not os.access(cnnrun, os.X_OK):
        sys.exit(f"zoo: {cnnrun} not found; build it first (bench/run.sh does, "
                 "or: meson setup build-bench --buildtype=release -Dnative=true "
                 "-Dtests=false && ninja -C build-bench)")
    ort = os.path.isdir(os.path.join(HERE, "ort", "node_modules", "onnxruntime-node"))
    out = os.path.abspath(a.out or os.path.join(a.build, "bench-results", "zoo"))
    models_dir = os.path.join(out, "models")
    os.makedirs(models_dir, exist_ok=True)
    env = cnnrun_env()
    rows = []
    for name in a.models.split(","):
        row = {"model": name, "cnnrun": [], "ort": [], "torch": []}
        rows.append(row)
        print(f"zoo: {name}", file=sys.stderr)
        onnx_path = export(name, models_dir)
        base = os.path.join(models_dir, name)
        rc, _, err = run([cnnrun, "import", "--quiet", onnx_path, "--graph",
                          base + ".yaml", "--weights", base + ".safetensors",
                          "--input-shape", "3,224,224"], env)
        if rc != 0:
            row["error"] = err.strip().splitlines()[-1] if err.strip() else f"exit {rc}"
            continue
        rc, _, err = run([cnnrun, "forward", "--quiet", base + ".yaml", "--weights",
                          base + ".safetensors", "--input", base + ".x.npy",
                          "--output", base + ".cnnrun.npy"], env)
        row["max_rel_diff"] = (max_rel_diff(base + ".cnnrun.npy", base + ".y.npy")
                               if rc == 0 else None)
        for rep in range(a.reps):
            common = ["--batch", str(a.batch), "--threads", str(a.threads),
                      "--runs", str(a.runs), "--warmup", str(a.warmup)]
            rc, text, err = run([cnnrun, "bench", base + ".yaml", "--weights",
                                 base + ".safetensors", "--json"] + common, env)
            if rc == 0:
                row["cnnrun"].append(statistics.median(json.loads(text)["steps_ms"]))
            if ort:
                rc, text, err = run(["node", ORT_JS, onnx_path, "--shape",
                                     "3,224,224"] + common, env)
                if rc == 0:
                    row["ort"].append(json.loads(text.strip().splitlines()[-1])["step_ms"])
            rc, text, err = run([PY, os.path.abspath(__file__), "--torch-time", name]
                                + common, torch_env())
            if rc == 0:
                row["torch"].append(json.loads(text)["ms"])
    write(rows, a, out, ort)
    bad = [r["model"] for r in rows
           if "error" in r or r.get("max_rel_diff") is None
           or r["max_rel_diff"] > MAX_REL_DIFF]
    if bad:
        sys.exit(f"zoo: {', '.join(bad)}: did not import, did not run, or "
                 f"differ from PyTorch by more than {MAX_REL_DIFF} of the "
                 "largest output")


def med(v):
    return statistics.median(v) if v else None


def write(rows, a, out, ort):
    lines = [f"torchvision models imported from ONNX: batch {a.batch}, "
             f"{a.threads} thread(s), medians of {a.reps} alternating invocations "
             f"of {a.runs} runs each (OPENBLAS_CORETYPE "
             f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}).", "",
             "| Model | cnnrun | ONNX Runtime | PyTorch | ORT / cnnrun | "
             "PyTorch / cnnrun | cnnrun vs PyTorch output |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v: f"{v:.2f} ms" if v is not None else "n/a"
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | does not import: {r['error']} |  |  |  |  |  |")
            continue
        c, o, t = med(r["cnnrun"]), med(r["ort"]), med(r["torch"])
        ratio = lambda x: f"{x / c:.2f}x" if x is not None and c else "n/a"
        d = r.get("max_rel_diff")
        lines.append(f"| {r['model']} | {fmt(c)} | {fmt(o) if ort else 'n/a'} | "
                     f"{fmt(t)} | {ratio(o)} | {ratio(t)} | "
                     f"{'%.1e' % d if d is not None else 'n/a'} |")
    text = "\n".join(lines) + "\n"
    for path, data in (("zoo.md", text), ("zoo.json", json.dumps(rows, indent=1))):
        tmp = os.path.join(out, path + ".tmp")
        with open(tmp, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(out, path))
    print(text)


if __name__ == "__main__":
    main()
