"""Optuna on the NAS-Bench-201 table, as a peer for `cargo xtask bench tabular`.

A trial suggests the 6 edge operations as categorical parameters and is
scored by the table's validation accuracy, as nasforge's searches are.
Prints `name: trials_per_second` lines for: the random sampler in memory,
TPE over 1,000 trials in memory, and the random sampler with Optuna's
SQLite storage (its journal, as nasforge's is).
"""
import csv
import os
import sys
import tempfile
import time

import optuna

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def load(path):
    table = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            ops = tuple(t.split("~")[0] for t in row["cellstr"].replace("+", "|").split("|") if t)
            table[ops] = float(row["valid_top1"])
    return table


def rate(table, sampler, trials, storage=None):
    def objective(trial):
        return table[tuple(trial.suggest_categorical(f"edge{i}", OPS) for i in range(6))]

    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return trials / (time.perf_counter() - t0)


def main():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = load(sys.argv[1])
    print(f"optuna_version: {optuna.__version__}")
    print(f"random_in_memory: {rate(table, optuna.samplers.RandomSampler(seed=0), 20000):.1f}")
    print(f"tpe_in_memory: {rate(table, optuna.samplers.TPESampler(seed=0), 1000):.1f}")
    with tempfile.TemporaryDirectory() as d:
        storage = "sqlite:///" + os.path.join(d, "optuna.db")
        print(f"random_sqlite: {rate(table, optuna.samplers.RandomSampler(seed=0), 1000, storage):.1f}")


if __name__ == "__main__":
    main()
