#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns a torchvision ResNet-18, MobileNetV2 or SqueezeNet 1.1 into a
safetensors file for graphs/<net>.yaml: torchvision's random initialisation
(--seed), or a state_dict saved on a machine that could download the
pretrained weights (--pth), renamed by the graphs' rule.

  # on a machine with internet:
  #   python3 -c "import torch, torchvision; torch.save(torchvision.models.\\
  #     resnet18(weights='IMAGENET1K_V1').state_dict(), 'resnet18.pth')"
  /usr/bin/python3 scripts/torchvision-weights.py resnet18 --pth resnet18.pth \\
      --out weights/resnet18.safetensors
  cnnrun summary graphs/resnet18.yaml
  cnnrun predict graphs/resnet18.yaml --weights weights/resnet18.safetensors cat.jpg
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torchvision_nets as tv  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("net", choices=["resnet18", "mobilenetv2",
                                    "squeezenet1_1"])
    ap.add_argument("--out", required=True, help="safetensors file to write")
    ap.add_argument("--pth", help="a torchvision state_dict (torch.save)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the random initialisation without --pth")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--classes", type=int, default=1000)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model = tv.build(a.net, a.width, a.classes)
    if a.pth:
        model.load_state_dict(torch.load(a.pth, map_location="cpu"))
    state = tv.cnnrun_state(model.state_dict())
    tv.save_safetensors(a.out, state)
    n = sum(v.size for k, v in state.items() if "running_" not in k)
    print(f"{a.out}: {len(state)} tensors, {n:,} parameters")


if __name__ == "__main__":
    main()
