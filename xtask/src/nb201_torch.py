"""The NAS-Bench-201 network (every edge nor_conv_3x3, C=16, N=1) in
PyTorch: the peer of `cargo xtask bench trainer`. Same layers as nasforge's
dfdx network: stem conv+BN, cells of ReLU-Conv-BN edges, residual reduction
blocks (ReLU-Conv-BN x2 + avgpool/1x1 shortcut), BN-ReLU head, linear.

Prints `ms_per_step: MEDIAN` and `peak_rss_mb: N`.
"""
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn


def relu_conv_bn(cin, cout, k, stride):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Cell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList([relu_conv_bn(c, c, 3, 1) for _ in range(6)])

    def forward(self, x):
        e = self.edges
        n1 = e[0](x)
        n2 = e[1](x) + e[2](n1)
        return e[3](x) + e[4](n1) + e[5](n2)


class Reduction(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = relu_conv_bn(cin, cout, 3, 2)
        self.b = relu_conv_bn(cout, cout, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.b(self.a(x)) + self.shortcut(x)


def network(c=16, n=1, classes=10):
    layers = [nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)]
    ch = c
    for stage in range(3):
        if stage:
            layers.append(Reduction(ch, ch * 2))
            ch *= 2
        layers += [Cell(ch) for _ in range(n)]
    layers += [nn.BatchNorm2d(ch), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, classes)]
    return nn.Sequential(*layers)


def main():
    threads, batch, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = network()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    print(f"params: {sum(p.numel() for p in net.parameters())}")
    print(f"ms_per_step: {statistics.median(times):.1f}")
    print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
