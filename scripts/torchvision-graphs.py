#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes cnnrun graph files for torchvision 0.14's ResNet-18, MobileNetV2
and SqueezeNet 1.1, layer for layer as torchvision builds them.

Layer names are torchvision's module paths with dots turned into
underscores, so a torchvision state_dict loads after the one rename rule
"every dot but the last becomes an underscore" (scripts/torchvision-weights.py
applies it; BatchNorm's num_batches_tracked is dropped). Layers that hold no
parameter (ReLU, add, pooling) get names of our own beside them.

Needs no PyTorch. The committed graphs/*.yaml are this script's output at full
width; tests/fixtures/torchvision/ holds narrow variants (--width), whose
outputs PyTorch computed, so the suite checks the same generator.

  scripts/torchvision-graphs.py resnet18 > graphs/resnet18.yaml
  scripts/torchvision-graphs.py mobilenetv2 --width 0.25 --size 64 > small.yaml
"""
import argparse
import sys

IMAGENET = "mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]"


class Graph:
    def __init__(self):
        self.lines = []
        self.last = "input"

    def add(self, name, type_, inputs=None, **hp):
        """One layer a line, in flow style; inputs only where the layer does
        not take the previous one."""
        fields = [f"name: {name}", f"type: {type_}"]
        if inputs is not None and inputs != [self.last]:
            fields.append("inputs: " + (inputs[0] if len(inputs) == 1
                                        else "[" + ", ".join(inputs) + "]"))
        for k, v in hp.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, (list, tuple)):
                v = "[" + ", ".join(str(x) for x in v) + "]"
            fields.append(f"{k}: {v}")
        self.lines.append("  - {" + ", ".join(fields) + "}")
        self.last = name
        return name

    def comment(self, text):
        self.lines.append(f"  # {text}")


def scaled(c, width):
    return max(1, int(round(c * width)))


def resnet18(width, classes):
    """torchvision.models.resnet18: BasicBlock, [2, 2, 2, 2]."""
    g = Graph()
    base = scaled(64, width)
    g.add("conv1", "conv", filters=base, kernel=7, stride=2, padding=3,
          bias=False)
    g.add("bn1", "batchnorm")
    g.add("relu", "relu")
    g.add("maxpool", "maxpool", size=3, stride=2, padding=1)
    inplanes = base
    for stage, (planes, stride) in enumerate(
            [(64, 1), (128, 2), (256, 2), (512, 2)], start=1):
        planes = scaled(planes, width)
        for b in range(2):
            s = stride if b == 0 else 1
            p = f"layer{stage}_{b}"
            g.comment(f"layer{stage}.{b}: BasicBlock {inplanes} -> {planes}"
                      + (f", stride {s}" if s != 1 else ""))
            block_in = g.last
            g.add(f"{p}_conv1", "conv", filters=planes, kernel=3, stride=s,
                  padding=1, bias=False)
            g.add(f"{p}_bn1", "batchnorm")
            g.add(f"{p}_relu1", "relu")
            g.add(f"{p}_conv2", "conv", filters=planes, kernel=3, padding=1,
                  bias=False)
            main = g.add(f"{p}_bn2", "batchnorm")
            shortcut = block_in
            if s != 1 or inplanes != planes:
                g.add(f"{p}_downsample_0", "conv", inputs=[block_in],
                      filters=planes, kernel=1, stride=s, bias=False)
                shortcut = g.add(f"{p}_downsample_1", "batchnorm")
            g.add(f"{p}_add", "add", inputs=[main, shortcut])
            g.add(f"{p}_relu2", "relu")
            inplanes = planes
    g.add("avgpool", "globalavgpool")
    g.add("flatten", "flatten")
    g.add("fc", "dense", units=classes)
    g.add("prob", "softmax")
    return g


def make_divisible(v, divisor=8):
    """torchvision's _make_divisible: round to a multiple of 8, never more
    than 10% down."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def mobilenetv2(width, classes):
    """torchvision.models.mobilenet_v2(width_mult=width)."""
    g = Graph()
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    inp = make_divisible(32 * width)
    last = make_divisible(1280 * max(1.0, width))
    g.add("features_0_0", "conv", filters=inp, kernel=3, stride=2, padding=1,
          bias=False)
    g.add("features_0_1", "batchnorm")
    g.add("features_0_2", "relu6")
    i = 1
    for t, c, n, s in settings:
        out = make_divisible(c * width)
        for k in range(n):
            stride = s if k == 0 else 1
            hidden = int(round(inp * t))
            p = f"features_{i}_conv"
            g.comment(f"features.{i}: InvertedResidual {inp} -> {out}, "
                      f"expand {t}, stride {stride}")
            block_in = g.last
            j = 0
            if t != 1:
                g.add(f"{p}_{j}_0", "conv", filters=hidden, kernel=1,
                      bias=False)
                g.add(f"{p}_{j}_1", "batchnorm")
                g.add(f"{p}_{j}_2", "relu6")
                j += 1
            g.add(f"{p}_{j}_0", "conv", filters=hidden, kernel=3,
                  **({"stride": stride} if stride != 1 else {}), padding=1,
                  groups=hidden, bias=False)
            g.add(f"{p}_{j}_1", "batchnorm")
            g.add(f"{p}_{j}_2", "relu6")
            j += 1
            g.add(f"{p}_{j}", "conv", filters=out, kernel=1, bias=False)
            main = g.add(f"{p}_{j + 1}", "batchnorm")
            if stride == 1 and inp == out:
                g.add(f"features_{i}_add", "add", inputs=[block_in, main])
            inp = out
            i += 1
    g.add(f"features_{i}_0", "conv", filters=last, kernel=1, bias=False)
    g.add(f"features_{i}_1", "batchnorm")
    g.add(f"features_{i}_2", "relu6")
    g.add("avgpool", "globalavgpool")
    g.add("flatten", "flatten")
    g.add("classifier_0", "dropout", rate=0.2)
    g.add("classifier_1", "dense", units=classes)
    g.add("prob", "softmax")
    return g


def squeezenet1_1(width, classes):
    """torchvision.models.squeezenet1_1: Fire modules, ceil-mode pools."""
    g = Graph()
    w = lambda c: scaled(c, width)
    g.add("features_0", "conv", filters=w(64), kernel=3, stride=2)
    g.add("features_1", "relu")
    g.add("features_2", "maxpool", size=3, stride=2, ceil_mode=True)
    fires = {3: (16, 64), 4: (16, 64), 6: (32, 128), 7: (32, 128),
             9: (48, 192), 10: (48, 192), 11: (64, 256), 12: (64, 256)}
    for i in range(3, 13):
        if i in (5, 8):
            g.add(f"features_{i}", "maxpool", size=3, stride=2,
                  ceil_mode=True)
            continue
        sq, ex = fires[i]
        p = f"features_{i}"
        g.comment(f"features.{i}: Fire, squeeze {w(sq)}, expand {w(ex)} + "
                  f"{w(ex)}")
        g.add(f"{p}_squeeze", "conv", filters=w(sq), kernel=1)
        squeeze = g.add(f"{p}_squeeze_activation", "relu")
        g.add(f"{p}_expand1x1", "conv", filters=w(ex), kernel=1)
        e1 = g.add(f"{p}_expand1x1_activation", "relu")
        g.add(f"{p}_expand3x3", "conv", inputs=[squeeze], filters=w(ex),
              kernel=3, padding=1)
        e3 = g.add(f"{p}_expand3x3_activation", "relu")
        g.add(f"{p}_cat", "concat", inputs=[e1, e3])
    g.add("classifier_0", "dropout", rate=0.5)
    g.add("classifier_1", "conv", filters=classes, kernel=1)
    g.add("classifier_2", "relu")
    g.add("classifier_3", "globalavgpool")
    g.add("flatten", "flatten")
    g.add("prob", "softmax")
    return g


NETS = {
    "resnet18": (resnet18, "ResNet-18 (He et al. 2015)", 11689512),
    "mobilenetv2": (mobilenetv2, "MobileNetV2 (Sandler et al. 2018)",
                    3504872),
    "squeezenet1_1": (squeezenet1_1, "SqueezeNet 1.1 (Iandola et al. 2016)",
                      1235496),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("net", choices=sorted(NETS))
    ap.add_argument("--width", type=float, default=1.0,
                    help="channel multiplier (torchvision's width_mult for "
                         "MobileNetV2; every stage scaled for the others)")
    ap.add_argument("--size", type=int, default=224, help="input side")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--name", help="graph name (default: the net's)")
    a = ap.parse_args()
    build, title, params = NETS[a.net]
    g = build(a.width, a.classes)
    out = sys.stdout
    out.write(f"# {title} as torchvision 0.14 builds it")
    if a.width == 1.0 and a.classes == 1000:
        out.write(f": {params:,} parameters,\n# the same as torchvision's.")
    else:
        out.write(f", width {a.width:g}, {a.classes} classes.")
    out.write(
        "\n# Layer names are torchvision's module paths with '_' for '.': "
        "scripts/torchvision-weights.py\n# turns a torchvision state_dict "
        "into weights for this graph. Generated by\n"
        f"# scripts/torchvision-graphs.py {a.net}"
        + (f" --width {a.width:g}" if a.width != 1.0 else "")
        + (f" --size {a.size}" if a.size != 224 else "")
        + (f" --classes {a.classes}" if a.classes != 1000 else "")
        + "\n")
    out.write(f"name: {a.name or a.net}\n")
    out.write(f"input: {{shape: [3, {a.size}, {a.size}], {IMAGENET}}}\n")
    out.write("layers:\n")
    out.write("\n".join(g.lines) + "\n")


if __name__ == "__main__":
    main()
