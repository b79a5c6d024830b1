#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the files test_linear.sh needs, with the standard library only:
feature rows and labels (.npy), class-name files, a LIBLINEAR text model of
the shape that once overflowed LIBLINEAR's loader, and hostile linear
models (safetensors) each breaking one rule of docs/linear-models.md's format.

    make_linear_files.py OUT_DIR
"""
import json
import math
import os
import random
import struct
import sys


def npy(path, descr, shape, values):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    fmt = {"<f4": "f", "<i4": "i", "<f8": "d"}[descr]
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


def safetensors(path, tensors, metadata):
    header, data = {"__metadata__": metadata}, b""
    for name, shape, values in tensors:
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def main(out):
    rng = random.Random(7)
    classes = ["cat", "dog", "eel"]
    width, per_class = 6, 20
    rows, labels = [], []
    for c in range(3):
        for _ in range(per_class):
            # Class c is bright in features 2c and 2c+1.
            rows += [(1.0 if j // 2 == c else 0.0) + rng.uniform(0, 0.3) for j in range(width)]
            labels.append(c)
    n = len(labels)
    npy(os.path.join(out, "f.npy"), "<f4", (n, width), rows)
    npy(os.path.join(out, "f.labels.npy"), "<i4", (n,), labels)
    with open(os.path.join(out, "f.labels.classes.json"), "w") as f:
        json.dump(classes, f)
    # The same data with the classes numbered in another order.
    order = ["eel", "cat", "dog"]
    npy(os.path.join(out, "g.labels.npy"), "<i4", (n,), [order.index(classes[l]) for l in labels])
    with open(os.path.join(out, "g.labels.classes.json"), "w") as f:
        json.dump(order, f)
    with open(os.path.join(out, "unknown.json"), "w") as f:
        json.dump(["cat", "dog", "fox"], f)
    # Other widths and hostile labels.
    npy(os.path.join(out, "narrow.npy"), "<f4", (n, 4), [0.5] * (n * 4))
    npy(os.path.join(out, "big.labels.npy"), "<i4", (n,), [49999] * n)
    npy(os.path.join(out, "intmax.labels.npy"), "<f8", (n,), [2147483647.0] * n)
    npy(os.path.join(out, "neg.labels.npy"), "<i4", (n,), [-1] * n)
    # Two classes only: LIBLINEAR keeps one weight vector for them.
    npy(os.path.join(out, "two.npy"), "<f4", (40, width), rows[:40 * width])
    npy(os.path.join(out, "two.labels.npy"), "<i4", (40,), labels[:40])
    with open(os.path.join(out, "two.json"), "w") as f:
        json.dump(classes[:2], f)
    # What `cnnrun linear train` wrote before: 4 classes, 2^30 features.
    with open(os.path.join(out, "old.liblinear"), "w") as f:
        f.write("solver_type L2R_LR\nnr_class 4\nlabel 0 1 2 3\nnr_feature 1073741824\n"
                "bias -1\nw\n0 0 0 0\n")
    # Hostile models: one broken rule each.
    meta = {"format": "cnnrun.linear", "format_version": "1",
            "classes": json.dumps(classes), "features": str(width), "normalize": "true"}
    w = [0.1] * (3 * width)
    b = [0.0] * 3
    good = [("weight", [3, width], w), ("bias", [3], b)]

    def bad(name, tensors=good, **changes):
        m = dict(meta)
        for k, v in changes.items():
            if v is None:
                m.pop(k, None)
            else:
                m[k] = v
        safetensors(os.path.join(out, "bad-%s.safetensors" % name), tensors, m)

    bad("format", format="pt")
    bad("version", format_version="2")
    bad("no-classes", classes=None)
    bad("dup-classes", classes=json.dumps(["cat", "dog", "cat"]))
    bad("empty-class", classes=json.dumps(["cat", "", "eel"]))
    bad("few-classes", classes=json.dumps(["cat", "dog"]))
    bad("features", features="7")
    bad("huge-features", features="1073741824")
    bad("features-junk", features="6x")
    bad("normalize", normalize="maybe")
    bad("nan", tensors=[("weight", [3, width], [math.nan] + w[1:]), ("bias", [3], b)])
    bad("inf-bias", tensors=[("weight", [3, width], w), ("bias", [3], [0.0, math.inf, 0.0])])
    bad("bias-shape", tensors=[("weight", [3, width], w), ("bias", [2], b[:2])])
    bad("extra", tensors=good + [("extra", [1], [0.0])])
    bad("no-bias", tensors=good[:1])
    bad("one-class", tensors=[("weight", [1, width], w[:width]), ("bias", [1], [0.0])],
        classes=json.dumps(["cat"]))


if __name__ == "__main__":
    main(sys.argv[1])
