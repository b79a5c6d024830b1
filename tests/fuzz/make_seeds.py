#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of tests/fuzz/seeds/: small valid files of every
format a harness reads, each exercising another feature (dtypes, ranks,
gzip, colour types, interlacing, progressive JPEG, DAG graphs, backbones).
The outputs are committed; rerun after changing this script:

    /usr/bin/python3 tests/fuzz/make_seeds.py [--fuzz-build build-fuzz]

--fuzz-build also writes the checkpoint seed with the fuzz_checkpoint
harness of that build (the checkpoint must carry the harness graph's hash).
Needs NumPy and Pillow (Debian's python3-numpy, python3-pil)."""
import argparse
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(corpus, name, data):
    os.makedirs(os.path.join(SEEDS, corpus), exist_ok=True)
    with open(os.path.join(SEEDS, corpus, name), "wb") as f:
        f.write(data)


# ---- graphs ---------------------------------------------------------------

GRAPHS = {
    "chain.yaml": """name: chain
input: [1, 12, 12]
layers:
  - {name: conv1, type: conv, filters: 3, kernel: [3, 2], stride: 1, padding: [1, 0], init: he_uniform}
  - {name: bn1, type: batchnorm, eps: 0.001, momentum: 0.2}
  - {name: act1, type: tanh}
  - {name: pool1, type: avgpool, size: 2, stride: 2}
  - {name: pool2, type: maxpool, size: [2, 1], padding: [1, 0]}
  - {name: flat, type: flatten}
  - {name: drop, type: dropout, rate: 0.25}
  - {name: fc1, type: dense, units: 7, bias: false}
  - {name: act2, type: sigmoid}
  - {name: prob, type: softmax}
""",
    "dag.yaml": """name: dag
input:
  shape: [3, 6, 6]
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
  classes: [cat, dog]
layers:
  - {name: a, type: conv, filters: 4, kernel: 3, padding: 1}
  - {name: b, type: relu, inputs: [a]}
  - {name: c, type: conv, filters: 4, kernel: 1, inputs: [a]}
  - {name: sum, type: add, inputs: [b, c]}
  - {name: cat, type: concat, inputs: [sum, a]}
  - {name: fc, type: dense, units: 2}
  - {name: prob, type: softmax}
""",
    "train.yaml": """# a train: section as the graphs/ recipes have it
name: recipe
input: [1, 8, 8]
layers:
  - {name: fc1, type: dense, units: 4}
  - {name: prob, type: softmax}
train:
  data: idx:a.gz,b.gz@100
  val: fashion-mnist:test[0:50]
  epochs: 3
  batch: 16
  optimizer: adam
  lr: 0.001
  weight_decay: 0.0005
  schedule: step
  warmup: 1
  flip: true
  crop_padding: 2
  seed: 7
  out: w.safetensors
  log: runs/m.jsonl
  checkpoint_dir: runs
""",
    "backbone.yaml": """# base.yaml is written beside the input by the harness
name: head
backbone: {graph: base.yaml, cut_after: pool1, freeze: all}
layers:
  - {name: flatten, type: flatten}
  - {name: head_fc, type: dense, units: 3}
  - {name: prob, type: softmax}
""",
    "backbone_trainable.yaml": """name: head2
backbone:
  graph: base.yaml
  weights: base.safetensors
  cut_after: relu1
  freeze: [conv1]
layers:
  - {name: extra, type: conv, filters: 2, kernel: 1, trainable: false}
  - {name: fc, type: dense, units: 2}
""",
    "anchors.yaml": """%YAML 1.1
---
name: &n anchors
input: !!seq [1, 4, 4]
layers:
  - &l {name: l1, type: relu}
  - {name: "l2", type: 'sigmoid'}
  - name: l3
    type: flatten
...
""",
}


def graphs():
    for name, text in GRAPHS.items():
        put("graph", name, text.encode())
    for name in ("lenet5.yaml", "alexnet.yaml", "vgg-fashion.yaml"):
        shutil.copy(os.path.join(ROOT, "graphs", name),
                    os.path.join(SEEDS, "graph", name))


# ---- safetensors ----------------------------------------------------------

def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype tag, numpy array)."""
    header, data = {}, b""
    for name, tag, arr in tensors:
        raw = arr.tobytes()
        header[name] = {"dtype": tag, "shape": list(arr.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:  # the writers align the data to 8 bytes with spaces
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    rng = np.random.default_rng(0)
    f32 = rng.standard_normal((2, 3)).astype("<f4")
    put("safetensors", "f32.safetensors",
        safetensors([("conv1.weight", "F32", f32),
                     ("conv1.bias", "F32", np.arange(2, dtype="<f4"))],
                    {"format": "pt", "note": "seed"}))
    put("safetensors", "f64_rank4.safetensors",
        safetensors([("w", "F64", rng.standard_normal((2, 1, 2, 2)).astype("<f8"))]))
    f16 = np.array([0.0, -0.0, 1.0, 65504.0, 6e-8, np.inf, -1.5], dtype="<f2")
    put("safetensors", "f16.safetensors", safetensors([("h", "F16", f16)]))
    bf16 = (np.array([1.0, -2.5, 3e38, 1e-39], dtype="<f4").view("<u4") >> 16)
    put("safetensors", "bf16.safetensors",
        safetensors([("b", "BF16", bf16.astype("<u2"))], {}))
    put("safetensors", "scalar_empty.safetensors",
        safetensors([("s", "F32", np.array(3.0, dtype="<f4")),
                     ("e", "F32", np.zeros((0, 4), dtype="<f4"))], pad=False))
    put("safetensors", "no_tensors.safetensors", safetensors([], {"k": "v"}))


# ---- npy -------------------------------------------------------------------

def npy_seeds():
    rng = np.random.default_rng(1)
    cases = {
        "f32_2d.npy": rng.standard_normal((3, 4)).astype("<f4"),
        "f64_4d.npy": rng.standard_normal((1, 2, 2, 3)).astype("<f8"),
        "u8.npy": np.arange(10, dtype="u1"),
        "i32.npy": np.array([-5, 0, 16777216], dtype="<i4"),
        "i64.npy": np.array([[1, 2], [3, 4]], dtype="<i8"),
        "scalar.npy": np.array(2.5, dtype="<f4"),
        "empty.npy": np.zeros((0, 3), dtype="<f4"),
    }
    for name, arr in cases.items():
        buf = io.BytesIO()
        np.save(buf, arr)
        put("npy", name, buf.getvalue())
    buf = io.BytesIO()  # format 2.0: a 4-byte header length
    np.lib.format.write_array(buf, np.ones((2, 2), dtype="<f4"), version=(2, 0))
    put("npy", "v2.npy", buf.getvalue())


# ---- IDX -------------------------------------------------------------------

SPLIT = b"#LABELS#"  # fuzz_idx.c's FUZZ_IDX_SPLIT


def idx(arr, type_code):
    head = struct.pack(">BBBB", 0, 0, type_code, arr.ndim)
    head += b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.tobytes()


def idx_seeds():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (4, 5, 7), dtype=np.uint8)
    labels = np.array([0, 3, 1, 3], dtype=np.uint8)
    plain = idx(images, 0x08) + SPLIT + idx(labels, 0x08)
    i32 = idx(images[:3], 0x08) + SPLIT + idx(np.array([2, 0, 9], dtype=">i4"), 0x0C)
    big = rng.integers(0, 256, (2, 9, 9), dtype=np.uint8)
    large = idx(big, 0x08) + SPLIT + idx(np.array([1, 0], dtype=np.uint8), 0x08)
    for corpus in ("idx", "idx_gzip"):
        put(corpus, "ubyte_labels.idx", plain)
        put(corpus, "int32_labels.idx", i32)
        put(corpus, "larger_than_canvas.idx", large)
    # fuzz_idx passes parts on as they are: real gzip members there.
    gz = lambda b: gzip.compress(b, compresslevel=9, mtime=0)
    put("idx", "gzip_both.idx",
        gz(idx(images, 0x08)) + SPLIT + gz(idx(labels, 0x08)))
    put("idx", "gzip_images.idx", gz(idx(images[:3], 0x08)) + SPLIT +
        idx(np.array([2, 0, 9], dtype=">i4"), 0x0C))


# ---- images ----------------------------------------------------------------

def png_chunk(kind, body):
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def adam7_png(rgb):
    """An 8-bit RGB PNG with Adam7 interlacing, which Pillow cannot write."""
    h, w, _ = rgb.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
              (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = rgb[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        raw += b"".join(b"\0" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def image_seeds():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)

    def png(img, name, **kw):
        buf = io.BytesIO()
        img.save(buf, "PNG", **kw)
        put("png", name, buf.getvalue())

    png(Image.fromarray(gray, "L"), "gray.png")
    png(Image.fromarray(rgb, "RGB"), "rgb.png")
    png(Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA"), "rgba.png")
    png(Image.fromarray(np.dstack([gray, gray]), "LA"), "gray_alpha.png")
    png(Image.fromarray(rgb, "RGB").convert("P", palette=Image.ADAPTIVE, colors=8),
        "palette.png", transparency=0)
    png(Image.fromarray((gray.astype(np.int32) * 257).astype(np.uint16)), "gray16.png")
    png(Image.fromarray(gray > 128), "bilevel.png")
    put("png", "interlaced.png", adam7_png(rgb))

    def jpeg(img, name, **kw):
        buf = io.BytesIO()
        img.save(buf, "JPEG", **kw)
        put("jpeg", name, buf.getvalue())

    big = rng.integers(0, 256, (17, 19, 3), dtype=np.uint8)
    jpeg(Image.fromarray(gray, "L"), "gray.jpg", quality=90)
    jpeg(Image.fromarray(big, "RGB"), "rgb_420.jpg", quality=75, subsampling=2)
    jpeg(Image.fromarray(big, "RGB"), "rgb_444.jpg", quality=95, subsampling=0)
    jpeg(Image.fromarray(big, "RGB"), "progressive.jpg", quality=80,
         progressive=True)
    jpeg(Image.fromarray(big, "RGB").convert("CMYK"), "cmyk.jpg", quality=80)
    jpeg(Image.fromarray(rgb, "RGB"), "optimized.jpg", quality=50, optimize=True)


# ---- packed datasets ------------------------------------------------------

def pack_file(kind, shape, classes, labels, records):
    """A pack as docs/pack-format.md lays it out, written independently of
    the C writer: kind 1 (raw, shape C,H,W) or 2 (encoded, shape 0,0,0)."""
    names = b"".join(struct.pack("<I", len(n.encode())) + n.encode() for n in classes)
    front = 64 + len(names) + 4 * len(labels)
    records_at = (front + 63) // 64 * 64
    head = (b"CNNPACK\0" + struct.pack("<IIQIIII", 1, kind, len(labels), *shape,
                                        len(classes))
            + struct.pack("<QQQ", len(names), records_at, 0))
    body = head + names + struct.pack("<%dI" % len(labels), *labels)
    body += b"\0" * (records_at - len(body))
    payload = b"".join(records)
    body += payload
    if kind == 2:
        offsets = [0]
        for r in records:
            offsets.append(offsets[-1] + len(r))
        body += struct.pack("<%dQ" % len(offsets), *offsets)
    body += struct.pack("<Q", len(payload))
    return body + struct.pack("<II", zlib.crc32(body), 0) + b"CNNPEND\0"


def pack_seeds():
    rng = np.random.default_rng(5)
    raw = [rng.integers(0, 256, 36, dtype=np.uint8).tobytes() for _ in range(5)]
    put("pack", "raw_gray_6x6.pack",
        pack_file(1, (1, 6, 6), ["cat", "dog"], [0, 1, 1, 0, 1], raw))
    rgb = [rng.integers(0, 256, 60, dtype=np.uint8).tobytes() for _ in range(3)]
    put("pack", "raw_rgb_4x5.pack",
        pack_file(1, (3, 4, 5), ["a", "b", "c"], [2, 0, 1], rgb))

    def encode(arr, fmt, mode, **kw):
        buf = io.BytesIO()
        Image.fromarray(arr, mode).save(buf, fmt, **kw)
        return buf.getvalue()

    files = [encode(rng.integers(0, 256, (7, 5), dtype=np.uint8), "PNG", "L"),
             encode(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8), "JPEG", "RGB",
                    quality=80),
             encode(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "PNG", "RGB"),
             encode(rng.integers(0, 256, (5, 6), dtype=np.uint8), "JPEG", "L",
                    quality=90)]
    put("pack", "encoded_png_jpeg.pack",
        pack_file(2, (0, 0, 0), ["shoe", "bag"], [1, 0, 0, 1], files))


# ---- linear models ---------------------------------------------------------

def linear_model(weight, bias, classes, normalize):
    meta = {"format": "cnnrun.linear", "format_version": "1",
            "classes": json.dumps(classes), "features": str(weight.shape[1]),
            "normalize": normalize, "solver": "l2r_lr", "C": "1", "eps": "0.01",
            "bias_term": "1", "liblinear_version": "245"}
    return safetensors([("weight", "F32", weight), ("bias", "F32", bias)], meta)


def linear_seeds():
    rng = np.random.default_rng(4)
    put("linear", "three_classes.safetensors",
        linear_model(rng.standard_normal((3, 5)).astype("<f4"),
                     rng.standard_normal(3).astype("<f4"),
                     ["shirt", "shoe", "bag"], "true"))
    put("linear", "binary.safetensors",
        linear_model(rng.standard_normal((2, 1)).astype("<f4"),
                     np.zeros(2, dtype="<f4"), ["0", "1"], "false"))
    # A class-name file, the other reader of this harness.
    put("linear", "names.classes.json",
        json.dumps(["T-shirt/top", "Trouser", "caf\u00e9", "\u2603"]).encode())
    # LIBLINEAR's text model, which must be refused with a hint.
    put("linear", "old.liblinear",
        b"solver_type L2R_LR\nnr_class 2\nlabel 0 1\nnr_feature 2\n"
        b"bias -1\nw\n0.5 \n-0.25 \n")


# ---- checkpoints -----------------------------------------------------------

def checkpoint_seeds(build):
    harness = os.path.join(build, "tests", "fuzz", "fuzz_checkpoint")
    os.makedirs(os.path.join(SEEDS, "checkpoint"), exist_ok=True)
    out = os.path.join(SEEDS, "checkpoint", "sgd_momentum.safetensors")
    env = dict(os.environ, FUZZ_CHECKPOINT_WRITE_SEED=out)
    subprocess.run([harness], env=env, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fuzz-build", help="a -Dfuzz=true build directory")
    args = ap.parse_args()
    graphs()
    safetensors_seeds()
    npy_seeds()
    idx_seeds()
    image_seeds()
    pack_seeds()
    linear_seeds()
    if args.fuzz_build:
        checkpoint_seeds(args.fuzz_build)
    elif not os.path.isdir(os.path.join(SEEDS, "checkpoint")):
        print("make_seeds: no checkpoint seed (pass --fuzz-build)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
