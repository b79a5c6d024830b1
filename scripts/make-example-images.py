#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes examples/fashion/: a small class-per-folder PNG dataset cut from
Fashion-MNIST's test set (Debian's dataset-fashion-mnist), for the README's
and docs' commands (predict, features, eval on a folder), plus x.npy, the
first two images as a [2, 1, 28, 28] float32 batch (value / 255) for
`cnnrun forward`. Standard library only; the output is committed.

    scripts/make-example-images.py [FASHION_DIR] [OUT_DIR]
"""
import gzip
import os
import struct
import sys
import zlib

# Three of the ten classes (folder names are the Fashion-MNIST names).
CLASSES = {1: "Trouser", 7: "Sneaker", 8: "Bag"}
PER_CLASS = 8


def png_gray(pixels, size):
    raw = b"".join(b"\x00" + bytes(pixels[y * size:(y + 1) * size]) for y in range(size))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def save_npy(path, values, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "examples", "fashion")
    with gzip.open(os.path.join(src, "t10k-images-idx3-ubyte.gz")) as f:
        images = f.read()[16:]
    with gzip.open(os.path.join(src, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = f.read()[8:]
    taken = {c: 0 for c in CLASSES}
    batch = []
    for i, label in enumerate(labels):
        if label not in CLASSES or taken[label] == PER_CLASS:
            continue
        pixels = list(images[i * 784:(i + 1) * 784])
        folder = os.path.join(out, CLASSES[label])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "%d.png" % taken[label]), "wb") as f:
            f.write(png_gray(pixels, 28))
        if len(batch) < 2 * 784:
            batch += [p / 255.0 for p in pixels]
        taken[label] += 1
    save_npy(os.path.join(out, "x.npy"), batch, (2, 1, 28, 28))


if __name__ == "__main__":
    main()
