#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs cnnrun, PyTorch, ONNX Runtime and Darknet on the same work and
prints the ratios.

Each case runs every tool in turn, several times (--reps), rotating which
goes first, at each thread count; each invocation reports the median of its
own timed passes after warm-up, and the tables show the median of those.
The ratio is PyTorch time / cnnrun time (or ONNX Runtime's, or Darknet's):
above 1, cnnrun is faster. cnnrun, PyTorch and ONNX Runtime run the same
weights: bench/onnx_models.py writes them (`cnnrun init`) and their .onnx
(`cnnrun export`) once. ONNX Runtime (npm onnxruntime-node in bench/ort,
intra-op threads = the row's threads) times inference cases only. Writes results.json, results.md (the tables) and breakdown.md
(cnnrun's per-layer medians from the last invocation of each case) to --out.

Usually started by bench/run.sh, which builds cnnrun first.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

import onnx_models

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
NODE = "node"
ORT_DIR = os.path.join(HERE, "ort")
ORT_HINT = ("ONNX Runtime not installed (cd bench/ort && npm install --ignore-scripts; "
            "needs node): its columns say n/a")
DARKNET = "/usr/bin/darknet"
DARKNET_CFG = "/usr/share/darknet/cfg"

# Whole-graph cases. time: what the ratio compares (median step/pass time).
GRAPH_CASES = [
    dict(id="lenet5-b1", label="LeNet-5 batch-1 latency", graph="graphs/lenet5.yaml",
         train=False, batch=1, runs=300, warmup=30, quick=True),
    dict(id="lenet5-b8-fwd", label="LeNet-5 batch-8 forward", graph="graphs/lenet5.yaml",
         train=False, batch=8, runs=300, warmup=30, quick=True),
    dict(id="lenet5-train-b64", label="LeNet-5 training step, Fashion-MNIST, batch 64",
         graph="graphs/lenet5.yaml", train=True, batch=64,
         data="fashion-mnist:train", runs=300, warmup=30, quick=True,
         target=2.0, show_ips=True),
    dict(id="alexnet-b1", label="AlexNet batch-1 latency", graph="graphs/alexnet.yaml",
         train=False, batch=1, runs=20, warmup=3, quick=True, target=1.3,
         darknet="alexnet.cfg", darknet_tics=10),
    dict(id="alexnet-b8-fwd", label="AlexNet batch-8 forward", graph="graphs/alexnet.yaml",
         train=False, batch=8, runs=10, warmup=2),
    dict(id="alexnet-b8-train", label="AlexNet batch-8 training step",
         graph="graphs/alexnet.yaml", train=True, batch=8, runs=8, warmup=2),
    dict(id="vgg16-b1", label="VGG-16 batch-1 latency", graph="graphs/vgg16.yaml",
         train=False, batch=1, runs=5, warmup=1, target=1.3,
         darknet="vgg-16.cfg", darknet_tics=3, darknet_target=15.0),
    dict(id="vgg16-b8-fwd", label="VGG-16 batch-8 forward", graph="graphs/vgg16.yaml",
         train=False, batch=8, runs=3, warmup=1),
    dict(id="vgg16-b8-train", label="VGG-16 batch-8 training step",
         graph="graphs/vgg16.yaml", train=True, batch=8, runs=3, warmup=1,
         target=1.3),
    dict(id="resnet18-b1", label="ResNet-18 batch-1 latency",
         graph="graphs/resnet18.yaml", train=False, batch=1, runs=20, warmup=3,
         quick=True),
    dict(id="resnet18-b8-fwd", label="ResNet-18 batch-8 forward",
         graph="graphs/resnet18.yaml", train=False, batch=8, runs=8, warmup=2),
    dict(id="resnet18-b8-train", label="ResNet-18 batch-8 training step",
         graph="graphs/resnet18.yaml", train=True, batch=8, runs=6, warmup=2),
    dict(id="mobilenetv2-b1", label="MobileNetV2 batch-1 latency",
         graph="graphs/mobilenetv2.yaml", train=False, batch=1, runs=30,
         warmup=3, quick=True),
    dict(id="mobilenetv2-b8-fwd", label="MobileNetV2 batch-8 forward",
         graph="graphs/mobilenetv2.yaml", train=False, batch=8, runs=10,
         warmup=2),
]

# Single convolutions: C,H,W,K,KSIZE,STRIDE,PAD[,GROUPS] as in the graphs.
CONV_CASES = [
    dict(id="lenet5.conv2", spec="6,14,14,16,5,1,0", batch=64, quick=True),
    dict(id="alexnet.conv1", spec="3,227,227,96,11,4,0", batch=8),
    dict(id="alexnet.conv2", spec="96,27,27,256,5,1,2", batch=8, quick=True),
    dict(id="alexnet.conv3", spec="256,13,13,384,3,1,1", batch=8),
    dict(id="vgg16.conv1_2", spec="64,224,224,64,3,1,1", batch=8),
    dict(id="vgg16.conv2_2", spec="128,112,112,128,3,1,1", batch=8),
    dict(id="vgg16.conv3_2", spec="256,56,56,256,3,1,1", batch=8, quick=True),
    dict(id="vgg16.conv4_2", spec="512,28,28,512,3,1,1", batch=8),
    dict(id="vgg16.conv5_2", spec="512,14,14,512,3,1,1", batch=8),
    # MobileNetV2's depthwise 3x3 layers (C,H,W,C,3,STRIDE,1,GROUPS = C):
    # every distinct shape of torchvision's mobilenet_v2 at 224x224,
    # batch 1 (`--only mobilenetv2` runs just these).
    dict(id="mobilenetv2.dw32", spec="32,112,112,32,3,1,1,32", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw96s2", spec="96,112,112,96,3,2,1,96", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw144", spec="144,56,56,144,3,1,1,144", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw144s2", spec="144,56,56,144,3,2,1,144", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw192", spec="192,28,28,192,3,1,1,192", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw192s2", spec="192,28,28,192,3,2,1,192", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw384", spec="384,14,14,384,3,1,1,384", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw576", spec="576,14,14,576,3,1,1,576", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw576s2", spec="576,14,14,576,3,2,1,576", batch=1, runs=(30, 5)),
    dict(id="mobilenetv2.dw960", spec="960,7,7,960,3,1,1,960", batch=1, runs=(30, 5)),
    # Grouped, not depthwise: AlexNet's two towers (groups 2) and
    # ResNeXt-50 32x4d's 3x3 layers (groups 32).
    dict(id="alexnet2.conv2", spec="96,27,27,256,5,1,2,2", batch=1, runs=(30, 5)),
    dict(id="alexnet2.conv4", spec="384,13,13,384,3,1,1,2", batch=1, runs=(30, 5)),
    dict(id="resnext50.layer1", spec="128,56,56,128,3,1,1,32", batch=1, runs=(30, 5)),
    dict(id="resnext50.layer3", spec="512,14,14,512,3,1,1,32", batch=1, runs=(30, 5)),
]
CONV_RUNS = dict(quick=(5, 1), full=(3, 1))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, env, cwd=None):
    """Runs cmd; returns (stdout, peak RSS in bytes of that process)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if p.returncode != 0:
            raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n"
                             f"{err.read().decode()[-2000:]}")
        return text, ru.ru_maxrss * 1024


def parse_json(text, cmd):
    """The JSON a tool printed; on anything else, says what it printed."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"not JSON ({e}) from: {' '.join(cmd)}\n"
                         f"it printed: {text[:500]!r}")


def cnnrun_env():
    env = dict(os.environ)
    env.pop("OPENBLAS_NUM_THREADS", None)  # cnnrun sets its BLAS threads itself
    env.pop("OMP_NUM_THREADS", None)
    return env


def torch_env():
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = "1"
    env.pop("OMP_NUM_THREADS", None)
    return env


def darknet_env(threads):
    # Debian's darknet runs its GEMMs through OpenMP and OpenBLAS; left alone
    # both take every core, so the 1-thread row would compare cnnrun on one
    # core with Darknet on all of them.
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def ort_available():
    return (os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node"))
            and subprocess.run(["sh", "-c", f"command -v {NODE}"],
                               capture_output=True).returncode == 0)


def input_shape(cnnrun, graph):
    text, _ = run([cnnrun, "summary", "--json", graph], cnnrun_env(), ROOT)
    return json.loads(text)["input_shape"]


def check_shapes(cnnrun, graph):
    """The PyTorch model must have the graph's shapes, layer by layer."""
    text, _ = run([cnnrun, "summary", "--json", graph], cnnrun_env(), ROOT)
    ours = {l["name"]: l["output_shape"] for l in json.loads(text)["layers"]}
    text, _ = run([PY, os.path.join(HERE, "torch_ref.py"), "shapes", graph],
                  torch_env(), ROOT)
    theirs = json.loads(text)
    # Graphs of torchvision's nets list only the layers that are one of
    # torchvision's modules; every other graph lists all of its layers.
    if any(ours.get(k) != v for k, v in theirs.items()) or not theirs:
        raise SystemExit(f"{graph}: PyTorch shapes differ:\n{ours}\n{theirs}")


def graph_args(case, threads):
    a = [case["graph"], "--batch", str(case["batch"]), "--threads", str(threads),
         "--runs", str(case["runs"]), "--warmup", str(case["warmup"])]
    if case["train"]:
        a.append("--train")
    if case.get("data"):
        a += ["--data", case["data"]]
    return a


def run_graph_case(cnnrun, case, threads, reps, darknet, model):
    """model: {"weights", "onnx", "shape"} of the case's graph; "onnx" is
    None when ONNX Runtime is not to run."""
    res = dict(cnnrun=[], torch=[], darknet=[], ort=[], cnnrun_rss=[], torch_rss=[],
               darknet_rss=[], ort_rss=[], cnnrun_json=None, torch_json=None,
               cnnrun_best=[], torch_best=[], ort_best=[])
    weights = ["--weights", model["weights"]]
    tools = ["cnnrun", "torch"]
    if model["onnx"] and not case["train"]:
        tools.append("ort")
    for rep in range(reps):
        order = tools[rep % len(tools):] + tools[:rep % len(tools)]
        if darknet and case.get("darknet"):
            order.append("darknet")
        for tool in order:
            if tool == "cnnrun":
                cmd = [cnnrun, "bench", "--json", "--quiet"] + graph_args(case, threads) + weights
                text, rss = run(cmd, cnnrun_env(), ROOT)
                j = parse_json(text, cmd)
                res["cnnrun_json"] = j
                res["cnnrun"].append(j["step_ms"])
                res["cnnrun_best"].append(min(j["steps_ms"]))
                res["cnnrun_rss"].append(rss)
            elif tool == "torch":
                cmd = [PY, os.path.join(HERE, "torch_ref.py"), "graph"] + graph_args(case, threads) + weights
                text, rss = run(cmd, torch_env(), ROOT)
                j = parse_json(text, cmd)
                res["torch_json"] = j
                res["torch"].append(j["step_ms"])
                res["torch_best"].append(min(j["steps_ms"]))
                res["torch_rss"].append(rss)
            elif tool == "ort":
                cmd = [NODE, os.path.join(ORT_DIR, "bench_onnx.js"), model["onnx"],
                       "--shape", ",".join(str(v) for v in model["shape"]),
                       "--batch", str(case["batch"]), "--threads", str(threads),
                       "--runs", str(case["runs"]), "--warmup", str(case["warmup"])]
                text, rss = run(cmd, dict(os.environ), ROOT)
                j = parse_json(text, cmd)
                res["ort"].append(j["step_ms"])
                res["ort_best"].append(min(j["steps_ms"]))
                res["ort_rss"].append(rss)
                res["ort_version"] = j["ort"]
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    text, rss = run([DARKNET, "speed",
                                     os.path.join(DARKNET_CFG, case["darknet"]),
                                     str(case["darknet_tics"])], darknet_env(threads), tmp)
                m = re.search(r"Speed: ([0-9.]+) sec/eval", text)
                f = re.search(r"Floating Point Operations: ([0-9.]+) Bn", text)
                if not m:
                    raise SystemExit(f"darknet speed printed no speed:\n{text[-1000:]}")
                res["darknet"].append(1e3 * float(m.group(1)))
                res["darknet_rss"].append(rss)
                res["darknet_gflop"] = float(f.group(1)) if f else None
            log(f"  {case['id']} T={threads} rep {rep + 1}/{reps} {tool}: "
                f"{res[tool][-1]:.3f} ms")
    out = {"id": case["id"], "label": case["label"], "threads": threads,
           "batch": case["batch"], "train": case["train"],
           "target": case.get("target"), "darknet_target": case.get("darknet_target"),
           "show_ips": case.get("show_ips", False)}
    for tool in ("cnnrun", "torch", "darknet", "ort"):
        if res[tool]:
            out[tool + "_ms"] = statistics.median(res[tool])
            out[tool + "_ms_all"] = res[tool]
            out[tool + "_peak_rss"] = max(res[tool + "_rss"])
    if res["torch"]:
        out["ratio"] = out["torch_ms"] / out["cnnrun_ms"]
        # The fastest single pass of each: what each reaches when the
        # machine's other load leaves it alone.
        out["cnnrun_best_ms"] = min(res["cnnrun_best"])
        out["torch_best_ms"] = min(res["torch_best"])
        out["best_ratio"] = out["torch_best_ms"] / out["cnnrun_best_ms"]
    if res["ort"]:
        out["ort_ratio"] = out["ort_ms"] / out["cnnrun_ms"]
        out["ort_best_ms"] = min(res["ort_best"])
        out["ort_best_ratio"] = out["ort_best_ms"] / out["cnnrun_best_ms"]
        out["ort_version"] = res["ort_version"]
    if res["darknet"]:
        out["darknet_ratio"] = out["darknet_ms"] / out["cnnrun_ms"]
        out["darknet_gflop"] = res.get("darknet_gflop")
    j = res["cnnrun_json"]
    out["cnnrun_memory"] = j["memory"]
    out["cnnrun_gemm"] = j.get("gemm_kernels")
    out["cnnrun_blas"] = j.get("blas_kernels")
    out["cnnrun_breakdown"] = {k: j[k] for k in ("data_ms", "forward_ms", "loss_ms",
                                                   "backward_ms", "optimizer_ms",
                                                   "step_ms")}
    out["cnnrun_layers"] = j["layers"]
    t = res["torch_json"]
    out["torch_breakdown"] = {k: t[k] for k in ("data_ms", "forward_ms", "backward_ms",
                                                  "optimizer_ms", "step_ms")}
    return out


def run_conv_case(cnnrun, case, threads, reps, mode):
    # Cases of a few milliseconds or less ask for more runs of their own.
    runs, warmup = case.get("runs", CONV_RUNS[mode])
    common = ["--batch", str(case["batch"]), "--threads", str(threads),
              "--runs", str(runs), "--warmup", str(warmup)]
    ours, theirs = [], []
    for rep in range(reps):
        order = ["cnnrun", "torch"] if rep % 2 == 0 else ["torch", "cnnrun"]
        for tool in order:
            if tool == "cnnrun":
                text, _ = run([cnnrun, "bench", "--json", "--quiet", "--conv",
                               case["spec"]] + common, cnnrun_env(), ROOT)
                ours.append(json.loads(text))
            else:
                text, _ = run([PY, os.path.join(HERE, "torch_ref.py"), "conv",
                               case["spec"]] + common, torch_env(), ROOT)
                theirs.append(json.loads(text))
        log(f"  {case['id']} T={threads} rep {rep + 1}/{reps}: " +
            ", ".join(f"{p['pass']} {p['gflops']:.1f}/{p['sgemm_gflops']:.1f}/"
                      f"{q['gflops']:.1f}" for p, q in
                      same_passes(ours[-1]["passes"], theirs[-1]["passes"])) +
            " GFLOP/s (cnnrun/sgemm/torch)")
    passes = []
    torch_pass = {p["pass"]: j for j, p in enumerate(theirs[0]["passes"])}
    for i, p in enumerate(ours[0]["passes"]):
        if p["pass"] not in torch_pass:
            continue  # cnnrun's "inference" pass: no PyTorch counterpart
        j = torch_pass[p["pass"]]
        ms = statistics.median(o["passes"][i]["ms"] for o in ours)
        sg = statistics.median(o["passes"][i]["sgemm_ms"] for o in ours)
        tm = statistics.median(t["passes"][j]["ms"] for t in theirs)
        # The plugins' own GEMM on the same shapes (cnnrun reports it at
        # one thread only).
        gm = [o["passes"][i].get("gemm_ms") for o in ours]
        gm = statistics.median(gm) if all(g is not None for g in gm) else None
        flops = ours[0]["flops"]
        passes.append(dict(**{"pass": p["pass"]}, cnnrun_ms=ms, sgemm_ms=sg, torch_ms=tm,
                           gemm_ms=gm, of_gemm=(gm / ms if gm else None),
                           cnnrun_gflops=flops / ms * 1e-6,
                           sgemm_gflops=flops / sg * 1e-6,
                           torch_gflops=flops / tm * 1e-6,
                           of_sgemm=sg / ms, ratio=tm / ms))
    return {"id": case["id"], "spec": case["spec"], "batch": case["batch"],
            "threads": threads, "gemm": ours[0]["gemm"], "flops": ours[0]["flops"],
            "passes": passes}


def same_passes(ours, theirs):
    """Pairs of the passes both tools timed, matched by name."""
    by_name = {q["pass"]: q for q in theirs}
    return [(p, by_name[p["pass"]]) for p in ours if p["pass"] in by_name]


def machine_info():
    def first(cmd, pattern=None):
        try:
            text = subprocess.run(cmd, capture_output=True, text=True).stdout
        except OSError:
            return None
        if pattern:
            m = re.search(pattern, text, re.M)
            return m.group(1).strip() if m else None
        return text.strip()

    def pkg(name):
        return first(["dpkg-query", "-W", "-f=${Version}", name])

    with open("/proc/meminfo") as f:
        mem = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) // 1024
    return {"cpu": first(["lscpu"], r"^Model name:\s*(.*)$"),
            "cores": os.cpu_count(), "memory_mib": mem,
            "kernel": platform.release(),
            "openblas": pkg("libopenblas0-pthread"), "torch": pkg("python3-torch"),
            "darknet": pkg("darknet"), "gcc": first(["gcc", "-dumpfullversion"]),
            "cpu_flags_avx512": "avx512f" in open("/proc/cpuinfo").read(),
            # Every tool inherits it; unset, OpenBLAS picks its kernels itself.
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
            "loadavg_start": os.getloadavg()}


def fmt_ms(ms, batch, ips):
    if ips:
        return f"{batch / ms * 1e3:,.0f} img/s"
    return f"{ms:,.1f} ms" if ms >= 10 else f"{ms:.3g} ms"


def fmt_target(t):
    return f">= {t:g}x" if t else ""


def ort_cells(r, available):
    """ONNX Runtime's time, ratio and fastest pass; n/a where it is not
    installed, - where it does not take part (training)."""
    if "ort_ms" in r:
        ips = r["show_ips"]
        return (fmt_ms(r["ort_ms"], r["batch"], ips), f"{r['ort_ratio']:.2f}x",
                f"{fmt_ms(r['ort_best_ms'], r['batch'], ips)}, {r['ort_best_ratio']:.2f}x")
    na = "n/a" if (available is not True and not r["train"]) else "-"
    return na, na, na


def report(results, info, args):
    lines = []
    add = lines.append
    add(f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_mib']} MiB; "
        f"OpenBLAS {info['openblas']}, PyTorch {info['torch']}, "
        f"Darknet {info['darknet']}, ONNX Runtime {info.get('onnxruntime') or 'n/a'}, "
        f"gcc {info['gcc']}; "
        f"AVX-512 {'yes' if info.get('cpu_flags_avx512') else 'no'}, "
        f"OPENBLAS_CORETYPE {info.get('openblas_coretype')}")
    gemms = sorted({f"{r.get('cnnrun_gemm')} (OpenBLAS {r.get('cnnrun_blas')})"
                    for r in results["graphs"] if r.get("cnnrun_gemm")})
    if gemms:
        add(f"cnnrun's GEMM for large products: {', '.join(gemms)}; "
            "CNN_GEMM=openblas in the environment forces OpenBLAS.")
    add(f"Load average at start {info['loadavg_start'][0]:.2f}, at end "
        f"{info['loadavg_end'][0]:.2f}; mode {args.mode}, {args.reps} alternating "
        f"invocations per tool, each the median of its runs after warm-up.")
    if results.get("ort") == "missing":
        add(f"{ORT_HINT}.")
    elif results.get("ort") == "off":
        add("ONNX Runtime left out (--no-ort): its columns say n/a.")
    add("")
    add("| Benchmark | Threads | cnnrun | PyTorch | ONNX Runtime | PyTorch / cnnrun "
        "| ORT / cnnrun | Target (PyTorch) "
        "| Fastest pass: cnnrun, PyTorch, ratio | Fastest pass: ORT, ratio |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["graphs"]:
        ips = r["show_ips"]
        o_ms, o_ratio, o_best = ort_cells(r, results.get("ort") == "on")
        add(f"| {r['label']} | {r['threads']} | {fmt_ms(r['cnnrun_ms'], r['batch'], ips)} "
            f"| {fmt_ms(r['torch_ms'], r['batch'], ips)} | {o_ms} | {r['ratio']:.2f}x "
            f"| {o_ratio} | {fmt_target(r['target'])} "
            f"| {fmt_ms(r['cnnrun_best_ms'], r['batch'], ips)}, "
            f"{fmt_ms(r['torch_best_ms'], r['batch'], ips)}, {r['best_ratio']:.2f}x "
            f"| {o_best} |")
    dk = [r for r in results["graphs"] if "darknet_ms" in r]
    if dk:
        add("")
        add("| Benchmark (Darknet `speed`, OpenMP and OpenBLAS threads = Threads) | Threads | cnnrun "
            "| Darknet | Darknet / cnnrun | Target |")
        add("|---|---:|---:|---:|---:|---:|")
        for r in dk:
            add(f"| {r['label']} | {r['threads']} | {r['cnnrun_ms']:,.1f} ms "
                f"| {r['darknet_ms']:,.1f} ms | {r['darknet_ratio']:.2f}x "
                f"| {fmt_target(r.get('darknet_target'))} |")
    if results["convs"]:
        add("")
        add("| Convolution (batch) | Pass | Threads | cnnrun GFLOP/s | sgemm GFLOP/s "
            "| cnnrun / sgemm | cnnrun / own GEMM (1 thread) | PyTorch GFLOP/s "
            "| PyTorch / cnnrun time |")
        add("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for c in results["convs"]:
            for p in c["passes"]:
                add(f"| {c['id']} {c['spec']} ({c['batch']}) | {p['pass']} | "
                    f"{c['threads']} | {p['cnnrun_gflops']:.1f} | {p['sgemm_gflops']:.1f} "
                    f"| {100 * p['of_sgemm']:.0f}% "
                    f"| {('%.0f%%' % (100 * p['of_gemm'])) if p.get('of_gemm') else '-'} "
                    f"| {p['torch_gflops']:.1f} "
                    f"| {p['ratio']:.2f}x |")
    add("")
    add("| Memory | Threads | cnnrun weights | cnnrun model + executor | cnnrun peak RSS "
        "| PyTorch peak RSS |")
    add("|---|---:|---:|---:|---:|---:|")
    mib = 1024.0 * 1024.0
    for r in results["graphs"]:
        m = r["cnnrun_memory"]
        w = m["weights_bytes"]
        add(f"| {r['label']} | {r['threads']} | {w / mib:,.1f} MiB "
            f"| {m['total_bytes'] / mib:,.1f} MiB ({m['total_bytes'] / w:.2f}x) "
            f"| {r['cnnrun_peak_rss'] / mib:,.1f} MiB ({r['cnnrun_peak_rss'] / w:.2f}x) "
            f"| {r['torch_peak_rss'] / mib:,.1f} MiB |")
    return "\n".join(lines) + "\n"


def breakdown(results):
    """cnnrun's per-layer medians of each graph case, from its last run."""
    lines = []
    for r in results["graphs"]:
        b, t = r["cnnrun_breakdown"], r["torch_breakdown"]
        lines.append(f"### {r['label']}, {r['threads']} thread(s)\n")
        lines.append(f"Last invocation: cnnrun step {b['step_ms']:.2f} ms: data {b['data_ms']:.2f}, "
                     f"forward {b['forward_ms']:.2f}, loss {b['loss_ms']:.2f}, "
                     f"backward {b['backward_ms']:.2f}, optimizer {b['optimizer_ms']:.2f} ms. "
                     f"PyTorch step {t['step_ms']:.2f} ms: data {t['data_ms']:.2f}, "
                     f"forward+loss {t['forward_ms']:.2f}, backward {t['backward_ms']:.2f}, "
                     f"optimizer {t['optimizer_ms']:.2f} ms.\n")
        lines.append("| Layer | Type | Forward ms | GFLOP/s | Backward ms | GFLOP/s |")
        lines.append("|---|---|---:|---:|---:|---:|")
        def rate(g):
            return f"{g:.1f}" if g else "-"

        for l in r["cnnrun_layers"]:
            bwd = (f"{l['backward_ms']:.3f} | {rate(l['backward_gflops'])}"
                   if l.get("backward") else "- | -")
            lines.append(f"| {l['name']} | {l['type']} | {l['forward_ms']:.3f} "
                         f"| {rate(l['forward_gflops'])} | {bwd} |")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cnnrun", required=True, help="the cnnrun executable")
    ap.add_argument("--mode", choices=("quick", "full"), default="quick")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--reps", type=int, default=3,
                    help="invocations of each tool per case and thread count")
    ap.add_argument("--only", help="regular expression on case ids")
    ap.add_argument("--no-darknet", action="store_true")
    ap.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    ap.add_argument("--models", help="folder for the shared weights and .onnx files "
                    "(default: OUT/../models)")
    ap.add_argument("--out", required=True, help="folder for the results")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    darknet = not args.no_darknet and os.access(DARKNET, os.X_OK)
    if not darknet and not args.no_darknet:
        log("compare: darknet not found (apt-get install darknet): no Darknet rows")

    def chosen(case):
        if args.only and not re.search(args.only, case["id"]):
            return False
        return args.mode == "full" or case.get("quick", False)

    ort = "off" if args.no_ort else ("on" if ort_available() else "missing")
    if ort == "missing":
        log(f"compare: {ORT_HINT}")
    info = machine_info()
    results = {"mode": args.mode, "reps": args.reps, "threads": threads,
               "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "graphs": [], "convs": [], "ort": ort}
    graphs = [c for c in GRAPH_CASES if chosen(c)]
    models = {}
    models_dir = os.path.abspath(args.models) if args.models else os.path.join(os.path.dirname(os.path.abspath(args.out)),
                                             "models")
    for g in sorted({c["graph"] for c in graphs}):
        check_shapes(args.cnnrun, g)
        try:
            models[g] = onnx_models.make(os.path.abspath(args.cnnrun), g, models_dir, 1)
        except subprocess.CalledProcessError as e:
            raise SystemExit(f"failed ({e.returncode}): {' '.join(e.cmd)}")
        models[g]["shape"] = input_shape(args.cnnrun, g)
        if ort != "on":
            models[g]["onnx"] = None
    if ort == "on" and graphs:
        text, _ = run([NODE, "-p", "require('onnxruntime-node/package.json').version"],
                      dict(os.environ), ORT_DIR)
        info["onnxruntime"] = text.strip()
    for case in graphs:
        for t in threads:
            log(f"{case['label']}, {t} thread(s)")
            results["graphs"].append(run_graph_case(args.cnnrun, case, t, args.reps,
                                                    darknet, models[case["graph"]]))
    for case in (c for c in CONV_CASES if chosen(c)):
        for t in threads:
            log(f"conv {case['id']} {case['spec']} batch {case['batch']}, {t} thread(s)")
            results["convs"].append(run_conv_case(args.cnnrun, case, t, args.reps,
                                                  args.mode))
    info["loadavg_end"] = os.getloadavg()
    results["machine"] = info
    os.makedirs(args.out, exist_ok=True)
    table = report(results, info, args)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "breakdown.md"), "w") as f:
        f.write(breakdown(results))
    print(table)
    log(f"compare: wrote results.json, results.md and breakdown.md to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
