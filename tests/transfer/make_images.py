#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a tiny class-per-folder PNG dataset and the same pixels as an
.npy batch (float32, value/255, in the folder dataset's order), with the
standard library only.

    make_images.py OUT_DIR CLASSES PER_CLASS SIZE
"""
import os
import struct
import sys
import zlib


def png_gray(pixels, size):
    raw = b"".join(b"\x00" + bytes(pixels[y * size:(y + 1) * size]) for y in range(size))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def save_npy(path, values, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


def main():
    out, classes, per_class, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    batch = []
    state = 12345
    for c in range(classes):
        folder = os.path.join(out, "images", "class%d" % c)
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            pixels = []
            for y in range(size):
                for x in range(size):
                    state = (state * 1103515245 + 12345) & 0x7FFFFFFF
                    # Each class a different stripe pattern, plus noise.
                    base = 200 if ((x + c * 3) // 4) % classes == 0 else 30
                    pixels.append(max(0, min(255, base + (state >> 16) % 40 - 20)))
            with open(os.path.join(folder, "%03d.png" % i), "wb") as f:
                f.write(png_gray(pixels, size))
            batch += [p / 255.0 for p in pixels]
    save_npy(os.path.join(out, "x.npy"), batch, (classes * per_class, 1, size, size))


if __name__ == "__main__":
    main()
