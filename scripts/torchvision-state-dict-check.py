#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A torchvision VGG-16 and AlexNet state_dict, saved as safetensors under
torchvision's own names, loaded by `cnnrun forward --rename` into
graphs/vgg16.yaml and graphs/alexnet-torchvision.yaml: the logits (fc8)
must agree with torchvision's within 1e-4 of their largest magnitude, and
the parameter counts must be torchvision's. Random weights (no download);
a pretrained state_dict takes the same path (README, "Pretrained weights
from PyTorch"). Needs PyTorch, so it is a script beside the suite, which
checks a small net from committed fixtures (tests/cli/test_rename.sh).

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/torchvision-state-dict-check.py \\
      [--cnnrun build/cnnrun/cnnrun] [--batch 2] [vgg16] [alexnet]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import torchvision_nets as tv  # noqa: E402

# net: (torchvision constructor, graph, rename file)
NETS = {
    "vgg16": (torchvision.models.vgg16, "vgg16.yaml",
              "vgg16-torchvision.yaml"),
    "alexnet": (torchvision.models.alexnet, "alexnet-torchvision.yaml",
                "alexnet-torchvision.yaml"),
}
TOLERANCE = 1e-4


def check(a, net, tmp):
    build, graph, rename = NETS[net]
    graph = os.path.join(ROOT, "graphs", graph)
    rename = os.path.join(ROOT, "graphs", "renames", rename)
    torch.manual_seed(1)
    model = build().eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(a.batch, 3, 224, 224, generator=gen) * 2 - 1
    with torch.no_grad():
        want = model(x).numpy()
    w = os.path.join(tmp, net + ".safetensors")
    xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
    tv.save_state_dict_safetensors(w, model.state_dict())
    np.save(xp, x.numpy())
    summary = json.loads(subprocess.run(
        [a.cnnrun, "summary", graph, "--json"], check=True,
        capture_output=True, text=True).stdout)
    torch_params = sum(p.numel() for p in model.parameters())
    subprocess.run([a.cnnrun, "forward", graph, "--weights", w,
                    "--rename", rename, "--input", xp, "--output", yp,
                    "--until", "fc8", "--threads", str(a.threads)],
                   check=True)
    got = np.load(yp)
    rel = float(np.abs(got - want).max() / np.abs(want).max())
    ok = rel <= TOLERANCE and summary["total_params"] == torch_params
    print(f"{net}: {os.path.relpath(graph, ROOT)} --rename "
          f"{os.path.relpath(rename, ROOT)}: parameters cnnrun "
          f"{summary['total_params']:,} torchvision {torch_params:,}; logits "
          f"max |diff| / max |torchvision| = {rel:.3g} "
          f"({'ok' if ok else 'FAIL'}, tolerance {TOLERANCE:g})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("nets", nargs="*", default=sorted(NETS),
                    help="vgg16, alexnet (default: both)")
    ap.add_argument("--cnnrun", default=os.path.join(ROOT, "build", "cnnrun",
                                                     "cnnrun"))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    unknown = [net for net in a.nets if net not in NETS]
    if unknown:
        ap.error(f"unknown net {unknown[0]} (known: {', '.join(NETS)})")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        failed = [net for net in a.nets if not check(a, net, tmp)]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
