#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cost model of docs/distributed.md: projected images/s and scaling
efficiency of data-parallel training for VGG-16 and ResNet-18 on N nodes.

Per step, each node computes its local batch b (forward t_f, backward t_b,
at its measured or assumed images/s), then the gradients (P parameters x 4
bytes) are summed over the N nodes. A ring allreduce, or cnnrun's
reduce-scatter + allgather, moves 2 (N-1)/N x G bytes in and out of every
node and pays 2 (N-1) message latencies per bucket:

    t_sum = 2 (N-1)/N x G / beta + 2 (N-1) x alpha x buckets

Buckets start while backward still runs; what is left after backward ends
is exposed (the first bucket of a layer can only start when its layer is
done, so the overlap window is a fraction `overlap` of backward):

    t_step = t_f + t_b + max(0, t_sum - overlap x t_b)

images/s = N b / t_step; efficiency = t_f + t_b over t_step.
Run: python3 bench/dist_model.py
"""

MODELS = {
    # parameters, node images/s (training), where the rate comes from,
    # share of backward that can hide sums
    "VGG-16": (138_357_544, 4.32,
               "measured: cnnrun bench graphs/vgg16.yaml --train --batch 8 --threads 2, "
               "1,853 ms per step on this 2-core machine", 0.8),
    "ResNet-18": (11_689_512, 22.0,
                  "assumed: 5.5 GFLOPs per training image at 120 GFLOP/s "
                  "(60% of the rate VGG-16 reaches here)", 0.6),
}
NODES = [8, 32, 128]
LINKS_GBIT = [10, 25, 100]
ALPHA = 30e-6       # seconds per message over TCP on Ethernet
BUCKET_BYTES = 25 * 2**20  # CNNRUN_BUCKET_KB=25600, as DDP's default
LOCAL_BATCH = 32
FORWARD_SHARE = 1 / 3  # forward is about a third of a training step


def step(params, node_ips, overlap, n, gbit):
    grad_bytes = 4 * params
    beta = gbit * 1e9 / 8
    buckets = -(-grad_bytes // BUCKET_BYTES)
    t_c = LOCAL_BATCH / node_ips
    t_f, t_b = FORWARD_SHARE * t_c, (1 - FORWARD_SHARE) * t_c
    t_sum = 2 * (n - 1) / n * grad_bytes / beta + 2 * (n - 1) * ALPHA * buckets
    t = t_f + t_b + max(0.0, t_sum - overlap * t_b)
    return t, t_sum, t_c


def table(name, node_speedup=1.0):
    params, ips, source, overlap = MODELS[name]
    ips *= node_speedup
    print(f"\n{name}: {params / 1e6:.1f} M parameters ({4 * params / 2**20:.0f} MiB of "
          f"gradients), node at {ips:g} images/s ({source}"
          f"{f', x{node_speedup:g}' if node_speedup != 1 else ''}), local batch {LOCAL_BATCH}\n")
    print("| nodes | global batch | " + " | ".join(f"{g} Gbit/s" for g in LINKS_GBIT) + " |")
    print("|---:|---:|" + "---:|" * len(LINKS_GBIT))
    for n in NODES:
        cells = []
        for g in LINKS_GBIT:
            t, t_sum, t_c = step(params, ips, overlap, n, g)
            cells.append(f"{n * LOCAL_BATCH / t:,.0f} img/s, {100 * t_c / t:.0f}% "
                         f"(sum {t_sum:.2f} s)")
        print(f"| {n} | {n * LOCAL_BATCH:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    print("Projected images/s, scaling efficiency and gradient-sum time per step")
    for name in MODELS:
        table(name)
    print("\nThe same on nodes 16x faster (a 32-core server instead of this 2-core VM):")
    for name in MODELS:
        table(name, 16.0)
