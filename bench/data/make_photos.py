#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes a folder dataset of synthetic but photo-like JPEGs for the loader
benchmark: OUT/class_KK/NNNNNN.jpg, about 500 x 375 (sizes vary by a few
percent, some portrait), each a smooth random colour field (a bicubic
upsampling of a tiny random image, like sky and out-of-focus background),
a few soft-edged shapes, and sensor-like noise, saved at quality 90 with
4:2:0 chroma, as cameras and ImageNet's files are. Deterministic from
--seed. Needs Debian's python3-pil and python3-numpy.

    /usr/bin/python3 bench/data/make_photos.py OUT --count 20000 [--classes 10]
    /usr/bin/python3 bench/data/make_photos.py OUT100K --link-from OUT --count 100000

--link-from fills OUT with hard links to the files of an existing folder
(cycled), for a large folder whose index and memory are measured without
100,000 distinct images on disk.
"""
import argparse
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter


NOISE_SIDE = 1024
_noise = []


def noise_field():
    """128 + N(0, 6) per channel, made once per process."""
    if not _noise:
        rng = np.random.default_rng(12345)
        px = np.clip(128 + rng.normal(0, 6, (NOISE_SIDE, NOISE_SIDE, 3)), 0, 255)
        _noise.append(Image.fromarray(px.astype(np.uint8), "RGB"))
    return _noise[0]


def photo(index, seed):
    rng = np.random.default_rng([seed, index])
    w, h = 500, 375
    if rng.random() < 0.2:
        w, h = h, w
    w = int(w * rng.uniform(0.94, 1.06))
    h = int(h * rng.uniform(0.94, 1.06))
    # The scene at quarter size (cheap to blur), then enlarged: soft edges
    # and smooth gradients, as optics give.
    qw, qh = w // 4, h // 4
    tiny = rng.integers(0, 256, size=(rng.integers(3, 7), rng.integers(3, 7), 3),
                        dtype=np.uint8)
    img = Image.fromarray(tiny, "RGB").resize((qw, qh), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(3, 9)):
        x0, y0 = int(rng.integers(0, qw)), int(rng.integers(0, qh))
        x1 = x0 + int(rng.integers(5, qw // 2))
        y1 = y0 + int(rng.integers(5, qh // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.8))))
    img = img.resize((w, h), Image.BICUBIC)
    # Sensor noise: a window of a fixed Gaussian noise field (sigma 6).
    x, y = int(rng.integers(0, NOISE_SIDE - w)), int(rng.integers(0, NOISE_SIDE - h))
    noise = noise_field().crop((x, y, x + w, y + h))
    return ImageChops.add(img, noise, scale=1.0, offset=-128)


def write_one(args):
    out, classes, seed, i = args
    path = os.path.join(out, "class_%02d" % (i % classes), "%06d.jpg" % i)
    if not os.path.exists(path):
        photo(i, seed).save(path, "JPEG", quality=90, subsampling=2)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--link-from", help="hard-link the files of this folder")
    a = p.parse_args()
    for c in range(a.classes):
        os.makedirs(os.path.join(a.out, "class_%02d" % c), exist_ok=True)
    if a.link_from:
        src = sorted(os.path.join(d, f) for d, _, fs in os.walk(a.link_from)
                     for f in fs if f.endswith(".jpg"))
        if not src:
            sys.exit("make_photos: no .jpg under %s" % a.link_from)
        for i in range(a.count):
            dst = os.path.join(a.out, "class_%02d" % (i % a.classes),
                               "%06d.jpg" % i)
            if not os.path.exists(dst):
                os.link(src[i % len(src)], dst)
        return
    with Pool(a.jobs) as pool:
        for k, _ in enumerate(pool.imap_unordered(
                write_one, [(a.out, a.classes, a.seed, i) for i in range(a.count)],
                chunksize=64)):
            if (k + 1) % 2000 == 0:
                print("make_photos: %d/%d" % (k + 1, a.count), file=sys.stderr)


if __name__ == "__main__":
    main()
