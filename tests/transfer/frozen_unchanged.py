# SPDX-License-Identifier: MIT
"""frozen_unchanged.py BEFORE AFTER COUNT [NAME ...]

Asserts that the tensors two safetensors files share are byte-identical
(a frozen backbone's weights, and its running statistics, after training a
head), that they share exactly COUNT tensors, and that each NAME is among
them."""
import json
import struct
import sys


def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    return {k: body[v["data_offsets"][0]:v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}


before, after = tensors(sys.argv[1]), tensors(sys.argv[2])
shared = [k for k in before if k in after]
assert len(shared) == int(sys.argv[3]), shared
for name in sys.argv[4:]:
    assert name in shared, (name, shared)
for k in shared:
    assert before[k] == after[k], "frozen tensor %s changed" % k
