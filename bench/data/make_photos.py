#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes a folder dataset of synthetic but photo-like JPEGs for the loader
benchmark: OUT/class_KK/NNNNNN.jpg, about 500 x 375 (sizes vary by a few
percent, one in five portrait), every file a distinct photo, saved at
quality 90 with 4:2:0 chroma, as cameras and ImageNet's files are.
Deterministic from --seed (whatever --jobs). Needs Debian's python3-pil and
python3-numpy.

    /usr/bin/python3 bench/data/make_photos.py OUT --count 20000 [--classes 10]
    /usr/bin/python3 bench/data/make_photos.py OUT100K --link-from OUT --count 100000

How it stays fast: a bank of --scenes procedurally generated scenes of
576 x 576 is made once per process (a smooth random colour field, a
bicubic upsampling of a tiny random image, like sky and out-of-focus
background, with soft-edged shapes, and sensor noise: Gaussian, sigma 6).
Each photo is then a cheap variation of one of them: its own crop
(position, size and orientation), one to three objects
(ellipses and rectangles cut out of other scenes, so they carry texture
and noise too), and a per-channel gain and gamma (exposure and white
balance). That takes about a millisecond, as does the JPEG encoding.
Every file's SHA-1 is checked at the end: the run fails if two files are
the same.

--link-from fills OUT with hard links to the files of an existing folder
(cycled), for a large folder whose index and memory are measured without
100,000 distinct images on disk.
"""
import argparse
import hashlib
import io
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter


SCENE_SIDE = 576
NOISE_SIDE = 1024
_noise = []
_scenes = {}


def noise_field():
    """128 + N(0, 6) per channel, made once per process."""
    if not _noise:
        rng = np.random.default_rng(12345)
        px = np.clip(128 + rng.normal(0, 6, (NOISE_SIDE, NOISE_SIDE, 3)), 0, 255)
        _noise.append(Image.fromarray(px.astype(np.uint8), "RGB"))
    return _noise[0]


def scene(seed, k):
    """Scene k of the bank: made at quarter size (cheap to blur), then
    enlarged, so edges are soft and gradients smooth, as optics give; then
    the sensor noise."""
    if (seed, k) not in _scenes:
        rng = np.random.default_rng([seed, 1 << 20, k])
        q = SCENE_SIDE // 4
        tiny = rng.integers(0, 256, size=(rng.integers(3, 7),
                                          rng.integers(3, 7), 3),
                            dtype=np.uint8)
        img = Image.fromarray(tiny, "RGB").resize((q, q), Image.BICUBIC)
        draw = ImageDraw.Draw(img)
        for _ in range(rng.integers(3, 9)):
            x0, y0 = int(rng.integers(0, q)), int(rng.integers(0, q))
            x1 = x0 + int(rng.integers(5, q // 2))
            y1 = y0 + int(rng.integers(5, q // 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                draw.ellipse([x0, y0, x1, y1], fill=colour)
            else:
                draw.rectangle([x0, y0, x1, y1], fill=colour)
        img = img.filter(ImageFilter.GaussianBlur(
            radius=float(rng.uniform(0.3, 0.8))))
        img = img.resize((SCENE_SIDE, SCENE_SIDE), Image.BICUBIC)
        x, y = int(rng.integers(0, NOISE_SIDE - SCENE_SIDE)), \
            int(rng.integers(0, NOISE_SIDE - SCENE_SIDE))
        noise = noise_field().crop((x, y, x + SCENE_SIDE, y + SCENE_SIDE))
        _scenes[(seed, k)] = ImageChops.add(img, noise, scale=1.0,
                                            offset=-128)
    return _scenes[(seed, k)]


def photo(index, seed, scenes):
    rng = np.random.default_rng([seed, index])
    w = int(500 * rng.uniform(0.94, 1.06))
    h = int(375 * rng.uniform(0.94, 1.06))
    if rng.random() < 0.2:
        w, h = h, w
    x, y = int(rng.integers(0, SCENE_SIDE - w + 1)), \
        int(rng.integers(0, SCENE_SIDE - h + 1))
    img = scene(seed, int(rng.integers(0, scenes))).crop((x, y, x + w, y + h))
    # Objects of its own: shapes cut out of other scenes.
    for _ in range(rng.integers(1, 4)):
        bw, bh = int(rng.integers(20, w // 3)), int(rng.integers(20, h // 3))
        sx, sy = int(rng.integers(0, SCENE_SIDE - bw)), \
            int(rng.integers(0, SCENE_SIDE - bh))
        patch = scene(seed, int(rng.integers(0, scenes))).crop(
            (sx, sy, sx + bw, sy + bh))
        mask = Image.new("L", (bw, bh), 0)
        if rng.random() < 0.5:
            ImageDraw.Draw(mask).ellipse([0, 0, bw - 1, bh - 1], fill=255)
        else:
            mask.paste(255, (0, 0, bw, bh))
        img.paste(patch, (int(rng.integers(0, w - bw)),
                          int(rng.integers(0, h - bh))), mask)
    # Exposure and white balance: a gain and a gamma per channel.
    gain = rng.uniform(0.75, 1.2, 3)
    gamma = rng.uniform(0.8, 1.25, 3)
    ramp = np.arange(256) / 255.0
    lut = np.concatenate([np.clip(255 * g * ramp ** e, 0, 255)
                          for g, e in zip(gain, gamma)]).astype(np.uint8)
    return img.point(lut.tolist())


def write_one(args):
    out, classes, seed, scenes, i = args
    path = os.path.join(out, "class_%02d" % (i % classes), "%06d.jpg" % i)
    if os.path.exists(path):  # resuming an interrupted run
        with open(path, "rb") as f:
            data = f.read()
    else:
        buf = io.BytesIO()
        photo(i, seed, scenes).save(buf, "JPEG", quality=90, subsampling=2)
        data = buf.getvalue()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path, hashlib.sha1(data).hexdigest(), len(data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scenes", type=int, default=64,
                   help="base scenes the photos are varied from")
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
    seen = {}
    total = 0
    with Pool(a.jobs) as pool:
        for k, (path, digest, size) in enumerate(pool.imap_unordered(
                write_one,
                [(a.out, a.classes, a.seed, a.scenes, i)
                 for i in range(a.count)],
                chunksize=64)):
            if digest in seen:
                sys.exit("make_photos: %s and %s are the same photo"
                         % (seen[digest], path))
            seen[digest] = path
            total += size
            if (k + 1) % 2000 == 0:
                print("make_photos: %d/%d" % (k + 1, a.count), file=sys.stderr)
    print("make_photos: %d distinct photos, %.1f KB on average, in %s"
          % (len(seen), total / max(1, len(seen)) / 1024, a.out),
          file=sys.stderr)


if __name__ == "__main__":
    main()
