#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Exports a torchvision model to NAME.onnx with a batch (NAME.x.npy) and its
# PyTorch output (NAME.y.npy), for docs/onnx.md's walkthrough. Random
# weights; --pretrained takes torchvision's ImageNet weights (weights=
# "DEFAULT", downloaded: needs internet).
#   /usr/bin/python3 scripts/onnx-export-torchvision.py resnet18 [--pretrained]
import sys, warnings, torch, torchvision, numpy as np
# The model is in eval mode, so the folding this warns about cannot happen.
warnings.filterwarnings("ignore", message="It is recommended that constant folding")
torch.set_num_threads(1); torch.manual_seed(0)
name = sys.argv[1]
weights = "DEFAULT" if "--pretrained" in sys.argv[2:] else None
m = getattr(torchvision.models, name)(weights=weights).eval()
print(name, "parameters:", sum(p.numel() for p in m.parameters()))
x = torch.rand(2, 3, 224, 224)
with torch.no_grad(): y = m(x)
# PRESERVE keeps batch norm as its own nodes (in eval mode PyTorch would
# fold it into the convolutions and the parameter count would change).
torch.onnx.export(m, x, f"{name}.onnx", opset_version=13, input_names=["x"], output_names=["logits"],
                  dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
                  training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
np.save(f"{name}.x.npy", x.numpy()); np.save(f"{name}.y.npy", y.numpy())
