# SPDX-License-Identifier: MIT
"""Rewrites __metadata__ entries of a safetensors file, keeping its tensors:
what a hostile or hand-edited checkpoint looks like.

Usage: set_metadata.py IN OUT KEY=VALUE...   (KEY= with no value removes KEY)"""
import json
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
meta = header.setdefault("__metadata__", {})
for item in sys.argv[3:]:
    key, _, value = item.partition("=")
    if value:
        meta[key] = value
    else:
        meta.pop(key, None)
text = json.dumps(header).encode()
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
