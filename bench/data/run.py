#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The loader benchmark: cnnrun's streaming folder loader against PyTorch's
DataLoader on the same folder of JPEG photos, alternating the two, and
cnnrun's AlexNet training step on that folder against random in-memory
input. Prints a Markdown report (medians of --reps runs, ratios).

    /usr/bin/python3 bench/data/run.py --folder DIR [--threads 2] [--reps 3]
        [--images 3000] [--big DIR100K] [--build build] [--alexnet]

--images: images walked per run (0: one whole epoch). --big: a second,
larger folder whose open time and peak memory cnnrun is measured on (the
<1 GB target on 100,000 images). --alexnet: `cnnrun bench
graphs/alexnet.yaml --train` with --data folder:DIR --augment imagenet
against the same without --data (random input).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_bench(build):
    exe = os.path.join(build, "bench-loader")
    src = os.path.join(HERE, "loader_bench.c")
    subprocess.run(["cc", "-O2", "-std=c11", "-D_DEFAULT_SOURCE",
                    "-I", os.path.join(ROOT, "include"), src,
                    "-L", os.path.join(build, "core"), "-lcnn",
                    "-Wl,-rpath," + os.path.abspath(os.path.join(build, "core")),
                    "-o", exe], check=True)
    return exe


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=env)
    return json.loads(out.stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--folder", required=True)
    p.add_argument("--big")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--images", type=int, default=3000)
    p.add_argument("--augment", default="imagenet")
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--alexnet", action="store_true")
    p.add_argument("--alexnet-batch", type=int, default=32)
    p.add_argument("--skip-loader", action="store_true",
                   help="only the AlexNet comparison")
    a = p.parse_args()
    exe = build_bench(a.build)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if not a.skip_loader:
        loader_report(a, exe, env)
    if a.alexnet:
        alexnet_report(a, env)


def loader_report(a, exe, env):
    common = ["--threads", str(a.threads), "--images", str(a.images),
              "--augment", a.augment]
    ours, theirs = [], []
    for r in range(a.reps):
        ours.append(run_json([exe, "folder:" + a.folder] + common, env))
        theirs.append(run_json(["/usr/bin/python3", os.path.join(HERE, "torch_loader.py"),
                                a.folder] + common, env))
        print("rep %d: cnnrun %s img/s, pytorch %s img/s" % (
            r + 1, ours[-1]["images_per_s"], theirs[-1]["images_per_s"]),
            file=sys.stderr)

    def med(rows, key):
        return statistics.median(x[key] for x in rows)

    print("## Loader: %s, %d threads, %s augmentation, %d images a run, "
          "median of %d\n" % (a.folder, a.threads, a.augment,
                              ours[0]["images"], a.reps))
    print("| | items | open s | images/s | peak RSS MB |")
    print("|---|---|---|---|---|")
    for name, rows in (("cnnrun", ours), ("PyTorch DataLoader", theirs)):
        print("| %s | %d | %.3f | %.1f | %.1f |" % (
            name, rows[0]["items"], med(rows, "open_s"), med(rows, "images_per_s"),
            med(rows, "peak_rss_mb")))
    print("\nPyTorch memory: main process %.1f MB, largest worker %.1f MB "
          "(peak RSS above: main + %d x worker, an upper bound)" % (
              med(theirs, "main_rss_mb"), med(theirs, "worker_rss_mb"), a.threads))
    print("\ncnnrun / PyTorch images/s: %.2fx (runs: %s vs %s)\n" % (
        med(ours, "images_per_s") / med(theirs, "images_per_s"),
        [x["images_per_s"] for x in ours], [x["images_per_s"] for x in theirs]))
    if a.big:
        big = run_json([exe, "folder:" + a.big, "--threads", str(a.threads),
                        "--images", str(a.images), "--augment", a.augment], env)
        print("## Large folder: %s\n" % a.big)
        print("%d items: open %.2f s, %.1f images/s over %d images, peak RSS "
              "%.1f MB\n" % (big["items"], big["open_s"], big["images_per_s"],
                             big["images"], big["peak_rss_mb"]))


def alexnet_report(a, env):
    if True:
        cnnrun = os.path.join(a.build, "cnnrun", "cnnrun")
        graph = os.path.join(ROOT, "graphs", "alexnet.yaml")
        # 15 steps: with fewer, the two batches the loader prefetches
        # during loading and warm-up hide most of its cost.
        base = [cnnrun, "bench", graph, "--train", "--batch", str(a.alexnet_batch),
                "--runs", "15", "--warmup", "1", "--json", "--threads",
                str(a.threads)]
        rand, fold = [], []
        for r in range(a.reps):
            rand.append(run_json(base, env))
            fold.append(run_json(base + ["--data", "folder:" + a.folder,
                                         "--augment", "imagenet",
                                         "--loader-threads", str(a.threads)], env))
        print("## AlexNet training, batch %d, %d compute threads\n" % (
            a.alexnet_batch, a.threads))
        print("| input | images/s (median of %d) |" % a.reps)
        print("|---|---|")
        ips = lambda rows: statistics.median(x["images_per_s"] for x in rows)
        print("| random in memory | %.2f |" % ips(rand))
        print("| folder, RandomResizedCrop | %.2f |" % ips(fold))
        print("\nfolder / random: %.3f\n" % (ips(fold) / ips(rand)))


if __name__ == "__main__":
    main()
