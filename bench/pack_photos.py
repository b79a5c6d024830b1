#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes a folder-per-class dataset of synthetic JPEG "photos" for
bench/pack_bench.sh: COUNT images of 500x375 (landscape) or 375x500, in
CLASSES class folders, each a smooth colour field with soft blobs, edges
and sensor-like noise, saved at quality 90 with 4:2:0 subsampling, so that
their size (about 40-60 KB) and decoding cost are those of camera JPEGs
scaled to ImageNet's typical size. Deterministic for a given seed.
Needs NumPy and Pillow (Debian's python3-numpy, python3-pil).

    bench/pack_photos.py OUT_DIR [--count 2000] [--classes 4] [--seed 1]
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image


def photo(rng, tint, landscape):
    h, w = (375, 500) if landscape else (500, 375)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x + np.sin(angle) * y) / max(h, w)
    for c in range(3):
        img[..., c] = 90 + 60 * tint[c] + 50 * ramp
    for _ in range(rng.integers(3, 8)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(20, 120)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
        img += blob[..., None] * rng.uniform(-90, 90, 3)
    # A few hard edges (objects), then texture and noise.
    for _ in range(rng.integers(1, 4)):
        y0, x0 = rng.integers(0, h - 40), rng.integers(0, w - 40)
        img[y0:y0 + rng.integers(20, 150), x0:x0 + rng.integers(20, 150)] += \
            rng.uniform(-60, 60, 3)
    img += 12 * np.sin(x / rng.uniform(2, 9))[..., None] * np.cos(y / rng.uniform(2, 9))[..., None]
    img += rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    tints = rng.uniform(-1, 1, (args.classes, 3))
    for c in range(args.classes):
        os.makedirs(os.path.join(args.out, "class%02d" % c), exist_ok=True)
    for i in range(args.count):
        c = i % args.classes
        img = photo(rng, tints[c], landscape=rng.uniform() < 0.75)
        img.save(os.path.join(args.out, "class%02d" % c, "img%06d.jpg" % i),
                 "JPEG", quality=90, subsampling=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
