#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""PyTorch side of the cnnrun benchmarks: the same work as `cnnrun bench`.

Models are built layer by layer from the cnnrun graph file itself (conv,
maxpool, avgpool, relu, tanh, sigmoid, silu, gelu, layernorm,
channel_shuffle, slice, flatten, dense, dropout, softmax), so the shapes
are the graph's;
`--shapes` prints them for bench/compare.py to check against
`cnnrun summary --json`.

  torch_ref.py graph GRAPH.yaml [--train] [--batch B] [--threads T]
               [--runs R] [--warmup W] [--data fashion-mnist:train]
               [--weights W.safetensors]
  torch_ref.py conv C,H,W,K,KSIZE[,STRIDE[,PAD[,GROUPS]]] [--batch B] ...
  torch_ref.py shapes GRAPH.yaml

--weights loads cnnrun's weights (`cnnrun init`, bench/onnx_models.py) into
the model by name, so PyTorch, cnnrun and ONNX Runtime run the same numbers.

A training step is forward to the logits, F.cross_entropy (PyTorch's fused
log-softmax + NLL), backward, SGD momentum step; cnnrun's is forward,
its fused softmax cross-entropy, backward, SGD momentum step. Run with
/usr/bin/python3 (Debian's python3-torch). OPENBLAS_NUM_THREADS=1 is set
before torch loads, and torch.set_num_threads(T), so that torch's own
threads do not fight OpenBLAS's. Prints one JSON object.
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import struct
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402

HERE_DIR = os.path.dirname(os.path.abspath(__file__))

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def pair(v, default=None):
    if v is None:
        v = default
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


TORCHVISION_NETS = ("resnet18", "mobilenetv2", "squeezenet1_1")


class ChannelShuffle(nn.Module):
    """cnnrun's channel_shuffle: nn.ChannelShuffle(groups) by its
    definition, as torchvision's ShuffleNet V2 writes it (torch 1.13's
    nn.ChannelShuffle has no backward, which --train needs)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c = x.shape[0], x.shape[1]
        return (x.reshape(n, self.groups, c // self.groups, -1)
                .transpose(1, 2).reshape(x.shape))


class ChannelSlice(nn.Module):
    """cnnrun's slice: channels [start, end) of dim 1, x[:, start:end]."""

    def __init__(self, start, end):
        super().__init__()
        self.start, self.end = start, end

    def forward(self, x):
        return x[:, self.start:self.end]


class LayerNormChannels(nn.Module):
    """cnnrun's layernorm: F.layer_norm over dim 1 at every position (the
    channels-last view, permuted back: ConvNeXt's LayerNorm2d), with
    weight and bias named as cnnrun's."""

    def __init__(self, channels, eps, affine):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def forward(self, x):
        if x.is_meta:  # build_model's shape pass: the shape is x's
            return x
        last = (0,) + tuple(range(2, x.dim())) + (1,)
        back = (0, x.dim() - 1) + tuple(range(1, x.dim() - 1))
        return F.layer_norm(x.permute(*last), (self.channels,), self.weight,
                            self.bias, self.eps).permute(*back)


def build_torchvision(g):
    """The graphs scripts/torchvision-graphs.py writes are torchvision's own
    models: run those (not a re-creation), then the graph's softmax. The
    shapes listed are those of the layers named after a torchvision module
    (the rest, ReLU and add, have no module of their own)."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE_DIR), "scripts"))
    import torchvision_nets as tv
    c, h, w = (int(v) for v in g["input"]["shape"])
    net = tv.build(g["name"])
    shapes = {}
    hooks = [m.register_forward_hook(
        lambda m, i, o, n=tv.cnnrun_name(name + ".x").rsplit(".", 1)[0]:
        shapes.__setitem__(n, tuple(o.shape[1:])))
        for name, m in net.named_modules()
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    with torch.no_grad():
        net(torch.zeros((1, c, h, w)))
    for hk in hooks:
        hk.remove()
    seq = nn.Sequential()
    seq.add_module(g["name"], net)
    seq.add_module("prob", nn.Softmax(dim=1))
    layers = [(n, "torchvision", s) for n, s in shapes.items()]
    layers.append(("prob", "softmax", shapes[list(shapes)[-1]]))
    return seq, (c, h, w), layers


def build_model(graph_path):
    """nn.Sequential of the graph's layers, named as in the graph."""
    with open(graph_path) as f:
        g = yaml.safe_load(f)
    if g.get("name") in TORCHVISION_NETS:
        return build_torchvision(g)
    inp = g["input"]
    if isinstance(inp, dict):
        inp = inp["shape"]
    c, h, w = (int(v) for v in inp)
    shape = (c, h, w)
    mods = []
    for layer in g["layers"]:
        t, name = layer["type"], layer["name"]
        if "inputs" in layer:
            raise SystemExit(f"{graph_path}: layer {name} names its inputs; "
                             "only chains are supported here")
        if t == "conv":
            k = pair(layer["kernel"])
            s = pair(layer.get("stride"), 1)
            p = pair(layer.get("padding"), 0)
            m = nn.Conv2d(shape[0], int(layer["filters"]), k, s, p,
                          bias=bool(layer.get("bias", True)))
        elif t in ("maxpool", "avgpool"):
            k = pair(layer["size"])
            s = pair(layer.get("stride"), 0)
            s = k if s == (0, 0) else s
            p = pair(layer.get("padding"), 0)
            m = (nn.MaxPool2d(k, s, p) if t == "maxpool"
                 else nn.AvgPool2d(k, s, p, count_include_pad=True))
        elif t == "relu":
            m = nn.ReLU()
        elif t == "tanh":
            m = nn.Tanh()
        elif t == "sigmoid":
            m = nn.Sigmoid()
        elif t == "silu":
            m = nn.SiLU()
        elif t == "gelu":
            m = nn.GELU(approximate=layer.get("approximate", "none"))
        elif t == "layernorm":
            m = LayerNormChannels(shape[0], float(layer.get("eps", 1e-5)),
                                  bool(layer.get("affine", True)))
        elif t == "channel_shuffle":
            m = ChannelShuffle(int(layer["groups"]))
        elif t == "slice":
            m = ChannelSlice(int(layer.get("start", 0)), int(layer["end"]))
        elif t == "flatten":
            m = nn.Flatten()
        elif t == "dense":
            feats = 1
            for d in shape:
                feats *= d
            m = nn.Linear(feats, int(layer["units"]),
                          bias=bool(layer.get("bias", True)))
        elif t == "dropout":
            m = nn.Dropout(float(layer.get("rate", 0.5)))
        elif t == "softmax":
            m = nn.Softmax(dim=1)
        else:
            raise SystemExit(f"{graph_path}: layer type {t} not supported")
        with torch.no_grad():
            shape = tuple(m(torch.zeros((1,) + shape, device="meta")).shape[1:])
        mods.append((name, t, m, shape))
    seq = nn.Sequential()
    for name, _, m, _ in mods:
        seq.add_module(name, m)
    return seq, (c, h, w), [(n, t, s) for n, t, _, s in mods]


def read_safetensors(path):
    """{name: float32 tensor} of a safetensors file (torch 1.13 has no
    safetensors module; the format is a length, a JSON header, the data)."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name}: dtype {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(
            np.frombuffer(raw, "<f4", (b - a) // 4, base + a).reshape(t["shape"]).copy())
    return out


def load_cnnrun_weights(model, path, torchvision_net):
    """Copies cnnrun's tensors into the model: a chain's parameters are
    named as its layers; a torchvision net's are torchvision's names with
    every dot but the last made '_' (scripts/torchvision_nets.py)."""
    tensors = read_safetensors(path)
    state = model.state_dict()
    missing = []
    with torch.no_grad():
        for key, value in state.items():
            if key.endswith("num_batches_tracked"):
                continue
            name = key
            if torchvision_net:
                module, _, param = key.split(".", 1)[1].rpartition(".")
                name = module.replace(".", "_") + "." + param
            if name not in tensors:
                missing.append(name)
                continue
            if tuple(tensors[name].shape) != tuple(value.shape):
                raise SystemExit(f"{path}: {name}: shape {tuple(tensors[name].shape)}, "
                                 f"PyTorch's is {tuple(value.shape)}")
            value.copy_(tensors[name])
    if missing:
        raise SystemExit(f"{path}: no tensor for {', '.join(missing[:5])}")


def load_fashion(split):
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{FASHION_DIR}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(f"{FASHION_DIR}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    images = images.reshape(-1, 1, 28, 28)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


class Batches:
    """Shuffled full batches of uint8 images made float (x / 255) per batch,
    as cnnrun's loader does; or one fixed random batch."""

    def __init__(self, data, batch, in_shape, classes, seed):
        self.batch = batch
        self.gen = torch.Generator().manual_seed(seed)
        self.pos = 0
        if data:
            if not data.startswith("fashion-mnist:"):
                raise SystemExit("--data: only fashion-mnist:train|test")
            self.images, self.labels = load_fashion(data.split(":")[1])
            self.order = torch.randperm(len(self.labels), generator=self.gen)
        else:
            self.images = None
            self.x = torch.rand((batch,) + tuple(in_shape), generator=self.gen)
            self.y = (torch.arange(batch) * 7 + 3) % classes

    def next(self):
        if self.images is None:
            return self.x, self.y
        if self.pos + self.batch > len(self.order):
            self.order = torch.randperm(len(self.labels), generator=self.gen)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return self.images[idx].float().div_(255.0), self.labels[idx]


def median_ms(v):
    return 1e3 * statistics.median(v)


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_graph(a):
    model, in_shape, layers = build_model(a.graph)
    if a.weights:
        with open(a.graph) as f:
            net = yaml.safe_load(f).get("name")
        load_cnnrun_weights(model, a.weights, net in TORCHVISION_NETS)
    classes = layers[-1][2][0]
    if a.train:
        # Forward to the logits; the final softmax is fused into the loss.
        logits_model = model[:-1] if layers[-1][1] == "softmax" else model
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    else:
        model.eval()
    batches = Batches(a.data, a.batch, in_shape, classes, a.seed)
    t_data, t_fwd, t_bwd, t_opt, t_step = [], [], [], [], []
    layer_fwd = [[] for _ in layers]
    loss_value = None
    for r in range(-a.warmup, a.runs):
        t0 = time.perf_counter()
        x, y = batches.next()
        t1 = time.perf_counter()
        if a.train:
            out = logits_model(x)
            loss = F.cross_entropy(out, y)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t3 = time.perf_counter()
            opt.step()
            t4 = time.perf_counter()
            loss_value = float(loss.detach())
        else:
            with torch.inference_mode():
                if a.per_layer:
                    h = x
                    for i, m in enumerate(model):
                        tl = time.perf_counter()
                        h = m(h)
                        if r >= 0:
                            layer_fwd[i].append(time.perf_counter() - tl)
                else:
                    model(x)
            t2 = t3 = t4 = time.perf_counter()
        if r >= 0:
            t_data.append(t1 - t0)
            t_fwd.append(t2 - t1)
            t_bwd.append(t3 - t2)
            t_opt.append(t4 - t3)
            t_step.append(t4 - t0)
    weights = sum(p.numel() for p in model.parameters()) * 4
    res = {
        "tool": "pytorch", "torch": torch.__version__, "graph": a.graph,
        "mode": "train" if a.train else "inference", "batch": a.batch,
        "threads": torch.get_num_threads(), "runs": a.runs, "warmup": a.warmup,
        "data": a.data, "data_ms": median_ms(t_data),
        "forward_ms": median_ms(t_fwd), "backward_ms": median_ms(t_bwd),
        "optimizer_ms": median_ms(t_opt), "step_ms": median_ms(t_step),
        "step_ms_mean": 1e3 * statistics.fmean(t_step),
        "images_per_s": a.batch / statistics.median(t_step),
        "steps_ms": [1e3 * t for t in t_step],
        "memory": {"weights_bytes": weights, "peak_rss_bytes": peak_rss()},
    }
    if a.train:
        res["last_loss"] = loss_value
    if a.per_layer and not a.train and len(layers) == len(model):
        res["layers"] = [{"name": n, "type": t, "forward_ms": median_ms(v)}
                         for (n, t, _), v in zip(layers, layer_fwd)]
    return res


def parse_conv(spec):
    v = [int(x) for x in spec.split(",")]
    if len(v) < 5 or len(v) > 8:
        raise SystemExit("conv spec: C,H,W,K,KSIZE[,STRIDE[,PAD[,GROUPS]]]")
    v += [1, 0, 1][len(v) - 5:]
    return v


def run_conv(a):
    c, h, w, k, ks, s, p, g = parse_conv(a.spec)
    gen = torch.Generator().manual_seed(a.seed)
    x = torch.rand((a.batch, c, h, w), generator=gen)
    wt = (torch.rand((k, c // g, ks, ks), generator=gen) - 0.5) * 0.1
    b = torch.zeros(k)
    with torch.no_grad():
        y = F.conv2d(x, wt, b, s, p, 1, g)
    dy = (torch.rand(y.shape, generator=gen) - 0.5) * 2e-3
    flops = 2.0 * k * (c // g) * ks * ks * y.shape[2] * y.shape[3] * a.batch

    def fwd():
        return F.conv2d(x, wt, b, s, p, 1, g)

    def bwd(mask):
        return torch.ops.aten.convolution_backward(
            dy, x, wt, [k], [s, s], [p, p], [1, 1], False, [0, 0], g, mask)

    passes = [("forward", fwd),
              ("input-grad", lambda: bwd([True, False, False])),
              ("weight-grad", lambda: bwd([False, True, True]))]
    out = []
    with torch.no_grad():
        for name, fn in passes:
            times = []
            for r in range(-a.warmup, a.runs):
                t0 = time.perf_counter()
                fn()
                if r >= 0:
                    times.append(time.perf_counter() - t0)
            ms = median_ms(times)
            out.append({"pass": name, "ms": ms, "gflops": flops / ms * 1e-6})
    return {"tool": "pytorch", "spec": a.spec, "batch": a.batch,
            "oh": y.shape[2], "ow": y.shape[3],
            "threads": torch.get_num_threads(), "runs": a.runs,
            "warmup": a.warmup, "flops": flops, "passes": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("graph", "conv"):
        sp = sub.add_parser(name)
        sp.add_argument("graph" if name == "graph" else "spec")
        sp.add_argument("--batch", type=int, default=1)
        sp.add_argument("--threads", type=int, default=1)
        sp.add_argument("--runs", type=int, default=10)
        sp.add_argument("--warmup", type=int, default=2)
        sp.add_argument("--seed", type=int, default=1)
        if name == "graph":
            sp.add_argument("--train", action="store_true")
            sp.add_argument("--data")
            sp.add_argument("--lr", type=float, default=0.001)
            sp.add_argument("--momentum", type=float, default=0.9)
            sp.add_argument("--weights", help="cnnrun's weights (safetensors)")
            sp.add_argument("--per-layer", action="store_true",
                            help="inference: time each layer (module by module)")
    sp = sub.add_parser("shapes")
    sp.add_argument("graph")
    a = ap.parse_args()
    if a.cmd == "shapes":
        _, _, layers = build_model(a.graph)
        print(json.dumps({n: list(s) for n, _, s in layers}))
        return 0
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    res = run_graph(a) if a.cmd == "graph" else run_conv(a)
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
