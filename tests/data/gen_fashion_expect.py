#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Prints the Fashion-MNIST values test_fashion.c asserts, read with gzip and
struct only (independent of libcnn). Run: /usr/bin/python3 gen_fashion_expect.py"""
import gzip
import struct

ROOT = "/usr/share/datasets/fashion-mnist"


def read(name):
    with gzip.open(f"{ROOT}/{name}") as f:
        return f.read()


for split in ("train", "t10k"):
    lab = read(f"{split}-labels-idx1-ubyte.gz")
    img = read(f"{split}-images-idx3-ubyte.gz")
    magic, n = struct.unpack(">II", lab[:8])
    imagic, m, rows, cols = struct.unpack(">IIII", img[:16])
    size = rows * cols

    def pix_sum(i):
        return sum(img[16 + i * size:16 + (i + 1) * size])

    print(split, hex(magic), n, hex(imagic), m, rows, cols)
    print("  first label", lab[8], "last label", lab[8 + n - 1])
    print("  last ten labels", list(lab[8 + n - 10:]))
    print("  pixel sum first", pix_sum(0), "last", pix_sum(n - 1))
    print("  first image center pixel", img[16 + 14 * cols + 14])
    print("  per class", [lab[8:].count(c) for c in range(10)])
