#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Rounding error of cnnrun's inference convolutions (Winograd on 6x6
tiles for these layers) against float64 PyTorch, beside PyTorch's own
float32 error: one single-layer graph per case, random weights (He scale)
and post-relu-like inputs (|N(0, 1)|), `cnnrun forward` with a params
token. Prints, per layer, the worst error as a fraction of the output's
largest value and as a fraction of the sum of |terms| (the conformance
suite's error scale).

    /usr/bin/python3 bench/winograd_error.py [CNNRUN]   (default build-bench/cnnrun/cnnrun,
                                                        which bench/run.sh builds)
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

CASES = [  # channels in, plane side, filters, kernel, padding
    (64, 56, 64, 3, 1),
    (256, 56, 256, 3, 1),
    (512, 28, 512, 3, 1),
    (64, 27, 192, 5, 2),
    (48, 35, 64, 5, 2),
]


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def conv(x, w, b, pad):
    return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                      torch.from_numpy(b), padding=pad).numpy()


def main():
    cnnrun = sys.argv[1] if len(sys.argv) > 1 else "build-bench/cnnrun/cnnrun"
    if not os.access(cnnrun, os.X_OK):
        sys.exit(f"winograd_error.py: no cnnrun at {cnnrun}: build one first "
                 "(bench/run.sh builds build-bench/, or pass the path of a built cnnrun)")
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        graph, weights = os.path.join(tmp, "e.yaml"), os.path.join(tmp, "e.safetensors")
        xin, yout = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        for c, h, k, kk, pad in CASES:
            with open(graph, "w") as f:
                f.write(f"name: e\ninput: [{c}, {h}, {h}]\nlayers:\n"
                        f"  - {{name: c, type: conv, filters: {k}, kernel: {kk}, padding: {pad}}}\n")
            w = (rng.standard_normal((k, c, kk, kk)) * np.sqrt(2 / (c * kk * kk))).astype(np.float32)
            b = (rng.standard_normal(k) * 0.1).astype(np.float32)
            x = np.abs(rng.standard_normal((1, c, h, h))).astype(np.float32)
            write_safetensors(weights, {"c.weight": w, "c.bias": b})
            np.save(xin, x)
            subprocess.run([cnnrun, "forward", "--quiet", graph, "--weights", weights,
                            "--input", xin, "--output", yout], check=True)
            got = np.load(yout).astype(np.float64)
            ref = conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), pad)
            f32 = conv(x, w, b, pad).astype(np.float64)
            mag = conv(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                       np.abs(b).astype(np.float64), pad)
            top = np.abs(ref).max()
            print(f"{kk}x{kk} {c} -> {k} at {h}x{h}: worst error / max|y|: cnnrun "
                  f"{np.abs(got - ref).max() / top:.2e}, PyTorch float32 "
                  f"{np.abs(f32 - ref).max() / top:.2e}; cnnrun's worst error / sum|terms| "
                  f"{(np.abs(got - ref) / mag).max():.2e} ({c * kk * kk + 1} terms)")


if __name__ == "__main__":
    main()
