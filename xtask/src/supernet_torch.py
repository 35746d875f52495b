"""The NAS-Bench-201 search network (TinyNetworkDarts of AutoDL-Projects,
C=16, N=1) and one first-order DARTS step in PyTorch: the peer of
`cargo xtask bench supernet`. Same layers as nasforge's supernet: stem
conv+BN; cells whose six edges mix none, skip, ReLU-Conv-BN 1x1 and 3x3
(BN without affine) and 3x3 average pooling (padding not counted) by a
softmax of alpha; residual reductions; BN-ReLU head, linear. A step: SGD on
the weights (lr 0.025, momentum 0.9, Nesterov, weight decay 5e-4, clip 5)
on one batch, then Adam on alpha (3e-4, betas 0.5/0.999, weight decay 1e-3)
on another.

Prints `params: N`, `ms_per_step: MEDIAN` and `peak_rss_mb: N`.
"""
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn

EDGES = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]


def relu_conv_bn(cin, cout, k, stride, affine):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout, affine=affine))


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


class MixedEdge(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ops = nn.ModuleList([
            Zero(),
            nn.Identity(),
            relu_conv_bn(c, c, 1, 1, False),
            relu_conv_bn(c, c, 3, 1, False),
            nn.AvgPool2d(3, 1, 1, count_include_pad=False),
        ])

    def forward(self, x, w):
        return sum(wi * op(x) for wi, op in zip(w, self.ops))


class SearchCell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList([MixedEdge(c) for _ in EDGES])

    def forward(self, x, weights):
        nodes = [x]
        for j in range(1, 4):
            nodes.append(sum(self.edges[e](nodes[i], weights[e]) for e, (i, t) in enumerate(EDGES) if t == j))
        return nodes[3]


class Reduction(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = relu_conv_bn(cin, cout, 3, 2, True)
        self.b = relu_conv_bn(cout, cout, 3, 1, True)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.b(self.a(x)) + self.shortcut(x)


class Supernet(nn.Module):
    def __init__(self, c=16, n=1, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        blocks, ch = [], c
        for stage in range(3):
            if stage:
                blocks.append(Reduction(ch, ch * 2))
                ch *= 2
            blocks += [SearchCell(ch) for _ in range(n)]
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, classes))
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), 5))

    def weights(self):
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def forward(self, x):
        w = torch.softmax(self.alpha, dim=-1)
        x = self.stem(x)
        for b in self.blocks:
            x = b(x, w) if isinstance(b, SearchCell) else b(x)
        return self.head(x)


def main():
    threads, batch, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = Supernet()
    w_opt = torch.optim.SGD(net.weights(), lr=0.025, momentum=0.9, nesterov=True, weight_decay=5e-4)
    a_opt = torch.optim.Adam([net.alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    vx, vy = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        w_opt.zero_grad()
        loss_fn(net(x), y).backward()
        torch.nn.utils.clip_grad_norm_(net.weights(), 5)
        w_opt.step()
        a_opt.zero_grad()
        loss_fn(net(vx), vy).backward()
        a_opt.step()
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    print(f"params: {sum(p.numel() for p in net.weights())}")
    print(f"ms_per_step: {statistics.median(times):.1f}")
    print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
