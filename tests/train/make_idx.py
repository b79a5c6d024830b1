# SPDX-License-Identifier: MIT
"""Writes a small IDX dataset (images and labels) of random pixels for the
training tests that must not depend on Fashion-MNIST being installed.

Usage: make_idx.py IMAGES LABELS COUNT [SEED]"""
import random
import struct
import sys

images, labels, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
with open(images, "wb") as f:
    f.write(struct.pack(">IIII", 0x00000803, count, 28, 28))
    f.write(bytes(rng.randrange(256) for _ in range(count * 28 * 28)))
with open(labels, "wb") as f:
    f.write(struct.pack(">II", 0x00000801, count))
    f.write(bytes(i % 10 for i in range(count)))
