#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""PyTorch's side of the loader benchmark: the same folder through
torch.utils.data.DataLoader with PIL decoding, num_workers = the thread
count, the same pipeline as loader_bench.c: RandomResizedCrop(224) (scale
0.08-1, ratio 3/4-4/3, torchvision's get_params) and a horizontal flip on
the PIL image, then ToTensor and Normalize (ImageNet's mean and std); or
eval's Resize(256) + CenterCrop(224). torchvision is not a Debian package,
so its PIL transforms are written out here as torchvision 0.15 does them
(crop, then resize with bilinear filtering). Prints one JSON line: open
seconds (the ImageFolder-style listing), images/s, and memory: the main
process's peak RSS, the largest worker's, and main + threads x worker (an
upper bound: forked workers share the parent's pages).

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 torch_loader.py DIR --threads N
"""
import argparse
import json
import math
import os
import random
import resource
import time

import numpy as np
import torch
from PIL import Image

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def rrc_params(width, height, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = torch.randint(0, height - h + 1, size=(1,)).item()
            j = torch.randint(0, width - w + 1, size=(1,)).item()
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def to_tensor(img):
    a = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    return (a.permute(2, 0, 1).float().div(255) - MEAN) / STD


class Folder(torch.utils.data.Dataset):
    def __init__(self, root, size, augment):
        classes = sorted(d for d in os.listdir(root)
                         if os.path.isdir(os.path.join(root, d)))
        self.items = []
        for c, name in enumerate(classes):
            d = os.path.join(root, name)
            for f in sorted(os.listdir(d)):
                if f.lower().endswith((".jpg", ".jpeg", ".png")):
                    self.items.append((os.path.join(d, f), c))
        self.size, self.augment = size, augment

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        path, label = self.items[k]
        img = Image.open(path).convert("RGB")
        s = self.size
        if self.augment == "imagenet":
            i, j, h, w = rrc_params(*img.size)
            img = img.crop((j, i, j + w, i + h)).resize((s, s), Image.BILINEAR)
            if random.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            short = int(s / 0.875) if self.augment == "eval" else s
            w, h = img.size
            if w <= h:
                nw, nh = short, int(short * h / w)
            else:
                nw, nh = int(short * w / h), short
            img = img.resize((nw, nh), Image.BILINEAR)
            left, top = int(round((nw - s) / 2)), int(round((nh - s) / 2))
            img = img.crop((left, top, left + s, top + s))
        return to_tensor(img), label


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--images", type=int, default=0)
    p.add_argument("--augment", default="imagenet")
    a = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.monotonic()
    ds = Folder(a.root, a.size, a.augment)
    t_open = time.monotonic() - t0
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True,
                                         num_workers=a.threads,
                                         prefetch_factor=2)
    seen = 0
    t0 = time.monotonic()
    for images, labels in loader:
        seen += images.shape[0]
        if a.images and seen >= a.images:
            break
    t_walk = time.monotonic() - t0
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # The main process plus every worker at the largest worker's peak: an
    # upper bound, since forked workers share pages with the parent.
    rss = main_rss + worker_rss * a.threads
    print(json.dumps({"tool": "pytorch", "items": len(ds), "images": seen,
                      "threads": a.threads, "open_s": round(t_open, 4),
                      "images_per_s": round(seen / t_walk, 1),
                      "peak_rss_mb": round(rss / 1024.0, 1),
                      "main_rss_mb": round(main_rss / 1024.0, 1),
                      "worker_rss_mb": round(worker_rss / 1024.0, 1)}))


if __name__ == "__main__":
    main()
