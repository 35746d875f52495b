"""Reference regularized evolution on a NAS-Bench-201 CSV, in plain Python.

The same algorithm as nasforge's (population P, tournament of S drawn
without replacement, single-edge mutation, oldest dies), as a peer for
`cargo xtask bench tabular`. Prints `evaluations_per_second: N`.
"""
import collections
import csv
import random
import sys
import time

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def load(path):
    table = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            ops = tuple(OPS.index(t.split("~")[0]) for t in row["cellstr"].replace("+", "|").split("|") if t)
            table[ops] = float(row["valid_top1"])
    return table


def rea(table, evaluations, population_size=20, sample_size=5, seed=0):
    rng = random.Random(seed)
    population = collections.deque()
    best = -1.0
    for i in range(evaluations):
        if i < population_size:
            arch = tuple(rng.randrange(5) for _ in range(6))
        else:
            parent = max(rng.sample(population, sample_size), key=lambda p: p[1])[0]
            edge = rng.randrange(6)
            arch = list(parent)
            arch[edge] = (arch[edge] + rng.randrange(1, 5)) % 5
            arch = tuple(arch)
        valid = table[arch]
        best = max(best, valid)
        population.append((arch, valid))
        if len(population) > population_size:
            population.popleft()
    return best


def main():
    path, evaluations = sys.argv[1], int(sys.argv[2])
    table = load(path)
    t0 = time.perf_counter()
    rea(table, evaluations)
    seconds = time.perf_counter() - t0
    print(f"evaluations_per_second: {evaluations / seconds:.0f}")


if __name__ == "__main__":
    main()
