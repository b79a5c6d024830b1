#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The full-width comparison behind graphs/resnet18.yaml, mobilenetv2.yaml
and squeezenet1_1.yaml: torchvision 0.14's model with random weights (batch
norm statistics randomised too), the same weights converted for cnnrun, one
batch through both; the logits must agree within 1e-4 relative and the
parameter counts must be torchvision's. Needs PyTorch, so it is a script
beside the suite (which checks narrow variants from committed fixtures).

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/torchvision-check.py \\
      [--cnnrun build/cnnrun/cnnrun] [--batch 2] [NET ...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import torchvision_nets as tv  # noqa: E402

LOGITS = {"resnet18": "fc", "mobilenetv2": "classifier_1",
          "squeezenet1_1": "flatten"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("nets", nargs="*", default=sorted(LOGITS))
    ap.add_argument("--cnnrun", default=os.path.join(ROOT, "build", "cnnrun",
                                                     "cnnrun"))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for net in a.nets:
            graph = os.path.join(ROOT, "graphs", net + ".yaml")
            gen = torch.Generator().manual_seed(1)
            torch.manual_seed(1)
            model = tv.build(net)
            tv.randomize_batchnorm(model, gen)
            x = torch.rand(a.batch, 3, 224, 224, generator=gen) * 2 - 1
            with torch.no_grad():
                want = model(x).numpy()
            w = os.path.join(tmp, net + ".safetensors")
            xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
            tv.save_safetensors(w, tv.cnnrun_state(model.state_dict()))
            np.save(xp, x.numpy())
            summary = json.loads(subprocess.run(
                [a.cnnrun, "summary", graph, "--json"], check=True,
                capture_output=True, text=True).stdout)
            torch_params = sum(p.numel() for p in model.parameters())
            subprocess.run([a.cnnrun, "forward", graph, "--weights", w,
                            "--input", xp, "--output", yp, "--until",
                            LOGITS[net], "--threads", str(a.threads),
                            "--quiet"], check=True)
            got = np.load(yp).reshape(want.shape)
            err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
            ours = summary["trainable_params"]
            ok = err.max() <= 1e-4 and ours == torch_params
            failed += not ok
            print(f"{net}: parameters cnnrun {ours:,} torchvision "
                  f"{torch_params:,}; logits max relative difference "
                  f"{err.max():.2e} over {want.size} values: "
                  f"{'ok' if ok else 'FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
