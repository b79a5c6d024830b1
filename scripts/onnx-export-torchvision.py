#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Exports a torchvision model (random weights; pass weights="DEFAULT" on a
# machine with internet for the pretrained ones) to NAME.onnx with a batch
# and its PyTorch output: /usr/bin/python3 scripts/onnx-export-torchvision.py resnet18
import sys, torch, torchvision, numpy as np
torch.set_num_threads(1); torch.manual_seed(0)
name = sys.argv[1]
m = getattr(torchvision.models, name)(weights=None).eval()
print(name, sum(p.numel() for p in m.parameters()))
x = torch.rand(2, 3, 224, 224)
with torch.no_grad(): y = m(x)
torch.onnx.export(m, x, f"{name}.onnx", opset_version=13, input_names=["x"], output_names=["logits"],
                  dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
                  training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
np.save(f"{name}.x.npy", x.numpy()); np.save(f"{name}.y.npy", y.numpy())
