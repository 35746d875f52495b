"""Gradient-boosted trees on NAS-Bench-201 in LightGBM and scikit-learn: the
peers of nasforge's GBDT in `cargo xtask bench predictors`.

Usage: bench_predictors.py CSV_PATH REPEATS

CSV_PATH: the NB201 table (columns arch,cellstr,params,score,test_top1,
valid_top1,valid_test_top1), one row per cell. REPEATS: timed runs per
model, after one untimed warm-up run.

The data are those nasforge fits on:
- features: nasforge's one-hot encoding (`Nb201Space::encode`): the 6 edges
  in standard-string order, each one-hot over the op index in the order
  none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3: 30 floats;
- label: valid_top1, standardised to mean 0 and sd 1 with the population
  sd (sd 1 where the labels are constant), as `nasforge_predictors::
  standardise` does;
- training rows: the first 1,000 of `numpy.random.RandomState(0)
  .permutation(n_rows)` (rows in file order). The Rust side draws its own
  1,000 rows with its own seed; the timings do not depend on which rows.

Models (nasforge's GBDT settings, GBDT-NAS's LightGBM defaults):
- lightgbm: `lgb.train` with boosting_type gbdt, objective regression,
  num_leaves 31, learning_rate 0.05, feature_fraction 0.9,
  bagging_fraction 0.8, bagging_freq 5, min_data_in_leaf 20, seed 0,
  num_boost_round 100;
- sklearn_hgb: HistGradientBoostingRegressor(max_iter=100,
  learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=20,
  early_stopping=False, random_state=0).

Timings (time.perf_counter, median over REPEATS, milliseconds): the fit
(LightGBM's Dataset construction and sklearn's binning included), the
prediction of the 1,000 training rows, and of all rows (15,625 cells). The
feature matrices are built before any timing. Each model is timed on one
thread (OpenMP limited with threadpoolctl, LightGBM's num_threads = 1),
then on all cores (`os.cpu_count()`), the latter keys ending in
`_all_cores`. `*_spearman` is the Spearman rank correlation of the
one-thread model's predictions on the held-out rows (all rows less the
training ones) with their valid_top1: a check that the model learned.

OMP_WAIT_POLICY defaults to passive here (set before LightGBM and
scikit-learn load their OpenMP runtimes; an OMP_WAIT_POLICY already in the
environment wins, and the policy in force is printed). With OpenMP's own
default, spin-waiting, a machine whose cores are busy (a build running)
makes the `_all_cores` fits tens to hundreds of times slower than one
thread (8 s and 34 s for the two fits on 2 busy cores), which measures the
scheduler, not the model. The one-thread figures are the same either way.

Prints `name: value` lines only.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import csv
import gc
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import lightgbm as lgb
import sklearn
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingRegressor

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = 6
N_TRAIN = 1000
SEED = 0


def encode(cellstr):
    """nasforge's one-hot of a standard string: 6 edges × 5 ops."""
    nodes = cellstr.strip().split("+")
    if len(nodes) != 3:
        raise ValueError(f"bad cell string {cellstr!r}")
    ops = []
    for node in nodes:
        for edge in node.strip("|").split("|"):
            name, _, _ = edge.partition("~")
            ops.append(OPS.index(name))
    if len(ops) != EDGES:
        raise ValueError(f"bad cell string {cellstr!r}: {len(ops)} edges")
    v = np.zeros(EDGES * len(OPS), dtype=np.float64)
    for e, op in enumerate(ops):
        v[e * len(OPS) + op] = 1.0
    return v


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.stack([encode(r["cellstr"]) for r in rows])
    y = np.array([float(r["valid_top1"]) for r in rows], dtype=np.float64)
    return x, y


def standardise(y):
    mean = y.mean()
    sd = np.sqrt(((y - mean) ** 2).mean())
    sd = sd if sd > 0.0 else 1.0
    return (y - mean) / sd


def lgb_params(threads):
    return {
        "boosting_type": "gbdt",
        "objective": "regression",
        "num_leaves": 31,
        "learning_rate": 0.05,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 5,
        "min_data_in_leaf": 20,
        "verbose": -1,
        "num_threads": threads,
        "seed": SEED,
    }


def run_lightgbm(x_train, z_train, x_all, threads):
    params = lgb_params(threads)
    t0 = time.perf_counter()
    booster = lgb.train(params, lgb.Dataset(x_train, label=z_train), num_boost_round=100)
    t1 = time.perf_counter()
    booster.predict(x_train, num_threads=threads)
    t2 = time.perf_counter()
    pred_all = booster.predict(x_all, num_threads=threads)
    t3 = time.perf_counter()
    return (t1 - t0, t2 - t1, t3 - t2), pred_all


def run_sklearn(x_train, z_train, x_all, threads):
    model = HistGradientBoostingRegressor(
        max_iter=100,
        learning_rate=0.05,
        max_leaf_nodes=31,
        min_samples_leaf=20,
        early_stopping=False,
        random_state=SEED,
    )
    t0 = time.perf_counter()
    model.fit(x_train, z_train)
    t1 = time.perf_counter()
    model.predict(x_train)
    t2 = time.perf_counter()
    pred_all = model.predict(x_all)
    t3 = time.perf_counter()
    return (t1 - t0, t2 - t1, t3 - t2), pred_all


def bench(run, x_train, z_train, x_all, threads, repeats):
    """Median (fit, predict 1000, predict all) seconds and the last run's
    predictions on all rows."""
    with threadpool_limits(limits=threads):
        run(x_train, z_train, x_all, threads)  # warm-up
        times = []
        pred_all = None
        for _ in range(repeats):
            gc.collect()
            t, pred_all = run(x_train, z_train, x_all, threads)
            times.append(t)
    return [statistics.median(col) for col in zip(*times)], pred_all


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench_predictors.py CSV_PATH REPEATS")
    path, repeats = sys.argv[1], int(sys.argv[2])
    if repeats < 1:
        sys.exit("REPEATS must be at least 1")

    x_all, y_all = load(path)
    n = len(y_all)
    if n < N_TRAIN + 2:
        sys.exit(f"{path}: {n} rows, need more than {N_TRAIN}")
    train = np.random.RandomState(SEED).permutation(n)[:N_TRAIN]
    held = np.ones(n, dtype=bool)
    held[train] = False
    x_train = np.ascontiguousarray(x_all[train])
    z_train = standardise(y_all[train])
    cores = os.cpu_count() or 1

    out = [
        ("lightgbm_version", lgb.__version__),
        ("sklearn_version", sklearn.__version__),
        ("numpy_version", np.__version__),
        ("rows_train", N_TRAIN),
        ("rows_all", n),
        ("rows_held_out", int(held.sum())),
        ("repeats", repeats),
        ("cores", cores),
        ("omp_wait_policy", os.environ.get("OMP_WAIT_POLICY", "default")),
    ]
    for name, run in [("lightgbm", run_lightgbm), ("sklearn_hgb", run_sklearn)]:
        for threads, suffix in [(1, "")] + ([(cores, "_all_cores")] if cores > 1 else []):
            (fit, p1000, pall), pred_all = bench(run, x_train, z_train, x_all, threads, repeats)
            out += [
                (f"{name}_fit_ms{suffix}", f"{fit * 1e3:.3f}"),
                (f"{name}_predict_1000_ms{suffix}", f"{p1000 * 1e3:.3f}"),
                (f"{name}_predict_all_ms{suffix}", f"{pall * 1e3:.3f}"),
            ]
            if threads == 1:
                rho = spearmanr(pred_all[held], y_all[held]).correlation
                out.append((f"{name}_spearman", f"{rho:.4f}"))
    for key, value in out:
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
