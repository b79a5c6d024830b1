# SPDX-License-Identifier: MIT
"""torchvision's ResNet-18, MobileNetV2 and SqueezeNet 1.1 at any width, and
their state_dicts renamed for the graphs scripts/torchvision-graphs.py writes.

At width 1 these are torchvision's own constructors. Narrower variants (for
the committed test fixtures) are assembled from torchvision's own blocks
(BasicBlock, Fire; MobileNetV2 takes width_mult itself) with every channel
count scaled exactly as scripts/torchvision-graphs.py scales it, and the same
attribute names, so the same rename rule applies. Needs PyTorch.
"""
import json
import struct

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock
from torchvision.models.squeezenet import Fire


def scaled(c, width):
    return max(1, int(round(c * width)))


class NarrowResNet18(nn.Module):
    """torchvision.models.resnet.ResNet(BasicBlock, [2, 2, 2, 2]) with every
    stage's width scaled; the same module names."""

    def __init__(self, width, classes):
        super().__init__()
        base = scaled(64, width)
        self.inplanes = base
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(scaled(64, width), 1)
        self.layer2 = self._make_layer(scaled(128, width), 2)
        self.layer3 = self._make_layer(scaled(256, width), 2)
        self.layer4 = self._make_layer(scaled(512, width), 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, classes)

    def _make_layer(self, planes, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample),
                  BasicBlock(planes, planes)]
        self.inplanes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class NarrowSqueezeNet11(nn.Module):
    """torchvision.models.squeezenet1_1 with every width scaled."""

    def __init__(self, width, classes):
        super().__init__()
        w = lambda c: scaled(c, width)
        fire = lambda i, s, e: Fire(i, w(s), w(e), w(e))
        self.features = nn.Sequential(
            nn.Conv2d(3, w(64), 3, 2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            fire(w(64), 16, 64), fire(2 * w(64), 16, 64),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            fire(2 * w(64), 32, 128), fire(2 * w(128), 32, 128),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            fire(2 * w(128), 48, 192), fire(2 * w(192), 48, 192),
            fire(2 * w(192), 64, 256), fire(2 * w(256), 64, 256))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Conv2d(2 * w(256), classes, 1),
            nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


def build(net, width=1.0, classes=1000):
    """The torchvision model, random weights, in eval mode."""
    if net == "resnet18":
        m = (torchvision.models.resnet18(num_classes=classes) if width == 1.0
             else NarrowResNet18(width, classes))
    elif net == "mobilenetv2":
        m = torchvision.models.mobilenet_v2(width_mult=width,
                                            num_classes=classes)
    elif net == "squeezenet1_1":
        m = (torchvision.models.squeezenet1_1(num_classes=classes)
             if width == 1.0 else NarrowSqueezeNet11(width, classes))
    else:
        raise ValueError(f"unknown net {net}")
    return m.eval()


def randomize_batchnorm(model, gen):
    """Random but plausible running statistics and affine parameters, so a
    comparison in eval mode exercises every batch-norm term."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                mod.weight.copy_(0.5 + torch.rand(c, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(c, generator=gen))


def cnnrun_name(key):
    """torchvision's 'layer1.0.conv1.weight' -> cnnrun's
    'layer1_0_conv1.weight': every dot but the last becomes '_'."""
    module, _, param = key.rpartition(".")
    return module.replace(".", "_") + "." + param


def cnnrun_state(state_dict):
    """The state_dict as cnnrun's tensors: renamed, float32, without
    BatchNorm's num_batches_tracked (cnnrun keeps no such counter)."""
    out = {}
    for k, v in state_dict.items():
        if k.endswith("num_batches_tracked"):
            continue
        out[cnnrun_name(k)] = v.detach().to(torch.float32).numpy()
    return out


def save_safetensors(path, tensors):
    """Writes the safetensors format by hand (torch 1.13 has no module)."""
    header, offset, blobs = {}, 0, []
    for name, value in tensors.items():
        data = np.ascontiguousarray(value, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(value.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def save_state_dict_safetensors(path, state_dict):
    """A torchvision state_dict as it is (torchvision's names, float tensors
    as F32, integer counters such as num_batches_tracked as I64), what
    safetensors.torch.save_file would write: the input of cnnrun --rename."""
    header, offset, blobs = {}, 0, []
    for name, value in state_dict.items():
        value = value.detach().cpu()
        if value.is_floating_point():
            data = np.ascontiguousarray(value.numpy(), dtype="<f4").tobytes()
            dtype = "F32"
        else:
            data = np.ascontiguousarray(value.numpy(), dtype="<i8").tobytes()
            dtype = "I64"
        header[name] = {"dtype": dtype, "shape": list(value.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
