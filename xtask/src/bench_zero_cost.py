"""Zero-cost proxies on NAS-Bench-201 networks in PyTorch: the peer of
`cargo xtask bench zero-cost`. The network is NB201's (C=16, N=5, 10
classes: stem conv+BN, cells of none / skip / avg_pool_3x3 / ReLU-Conv-BN
edges, residual reductions, BN-ReLU head, linear) built from each
standard string; the proxies are NASLib's code re-typed:

- synflow (`compute_synflow_per_weight`): `linearize` (abs of every
  state-dict entry), every BatchNorm bypassed (`get_prunable_copy(bn=False)`),
  the net cast to the dtype, one input of ones [1, 3, 32, 32],
  `torch.sum(output).backward()`, the sum over Conv2d/Linear of
  |w * grad|; stored as ln, as NASLib's `ZeroCost` does. Run in float64 (the
  reference) and float32 (where R overflows, the score is inf).
- nwot (`compute_nwot`): forward hooks on every nn.ReLU adding the Hamming
  kernel of the binary codes of its input, batch norm in training mode,
  `np.linalg.slogdet(K)[1]`.

Usage: bench_zero_cost.py ARCHS BATCH [N_IMAGES]. ARCHS: one standard
string a line. BATCH: the float32 images (N, 3, 32, 32), little-endian,
that nasforge scores nwot on (xtask draws them as `nasforge zero-cost`
does: Fashion-MNIST, resized bilinearly, repeated to 3 channels), so both
sides read the same data. Every network is timed from construction to
score, one thread, after one untimed warm-up network. Prints one JSON line:
per proxy, per architecture `seconds` and `scores` (non-finite ones as the
strings "inf", "-inf", "nan").
"""
import json
import math
import sys
import time
import types

import numpy as np
import torch
import torch.nn as nn


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


def relu_conv_bn(cin, cout, k, stride):
    return nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


def edge_op(name, c):
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "nor_conv_1x1":
        return relu_conv_bn(c, c, 1, 1)
    if name == "nor_conv_3x3":
        return relu_conv_bn(c, c, 3, 1)
    raise ValueError(f"unknown op {name}")


def parse(arch):
    """[[(op, from_node), ...] for nodes 1, 2, 3]."""
    nodes = []
    for node in arch.strip().split("+"):
        edges = [e.split("~") for e in node.strip("|").split("|")]
        nodes.append([(op, int(j)) for op, j in edges])
    return nodes


class Cell(nn.Module):
    def __init__(self, arch, c):
        super().__init__()
        self.inputs = [[j for _, j in node] for node in arch]
        self.edges = nn.ModuleList(edge_op(op, c) for node in arch for op, _ in node)

    def forward(self, x):
        nodes, k = [x], 0
        for ins in self.inputs:
            total = 0
            for j in ins:
                total = total + self.edges[k](nodes[j])
                k += 1
            nodes.append(total)
        return nodes[-1]


class Reduction(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = relu_conv_bn(cin, cout, 3, 2)
        self.b = relu_conv_bn(cout, cout, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.b(self.a(x)) + self.shortcut(x)


def network(arch, c=16, n=5, classes=10):
    cell = parse(arch)
    layers = [nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)]
    ch = c
    for stage in range(3):
        if stage:
            layers.append(Reduction(ch, ch * 2))
            ch *= 2
        layers += [Cell(cell, ch) for _ in range(n)]
    layers += [nn.BatchNorm2d(ch), nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, classes)]
    return nn.Sequential(*layers)


def no_op(self, x):
    return x


def synflow(arch, dtype):
    net = network(arch)
    with torch.no_grad():  # linearize
        for param in net.state_dict().values():
            param.abs_()
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.forward = types.MethodType(no_op, m)
    net.zero_grad()
    net.to(dtype)
    output = net(torch.ones([1, 3, 32, 32], dtype=dtype))
    torch.sum(output).backward()
    total = 0.0
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None:
            total += torch.abs(m.weight * m.weight.grad).sum().item()
    return math.log(total) if total > 0 else 0.0


def nwot(arch, x):
    net = network(arch)
    net.train()
    n = x.shape[0]
    net.K = np.zeros((n, n))

    def hook(module, inp, out):
        inp = inp[0].view(inp[0].size(0), -1)
        c = (inp > 0).float()
        net.K = net.K + (c @ c.t()).cpu().numpy() + ((1.0 - c) @ (1.0 - c.t())).cpu().numpy()

    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(hook)
    net(torch.clone(x))
    return float(np.linalg.slogdet(net.K)[1])


def timed(archs, score):
    score(archs[0])  # warm-up
    seconds, scores = [], []
    for i, arch in enumerate(archs):
        torch.manual_seed(i)
        t0 = time.perf_counter()
        s = score(arch)
        seconds.append(time.perf_counter() - t0)
        scores.append(s if math.isfinite(s) else str(s))
    return {"seconds": seconds, "scores": scores}


def main():
    torch.set_num_threads(1)
    archs = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    x = torch.from_numpy(np.fromfile(sys.argv[2], dtype="<f4").reshape(n, 3, 32, 32))
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    out["synflow_f64"] = timed(archs, lambda a: synflow(a, torch.float64))
    out["synflow_f32"] = timed(archs, lambda a: synflow(a, torch.float32))
    out["nwot"] = timed(archs, lambda a: nwot(a, x))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
