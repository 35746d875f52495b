"""Optuna's TPESampler on the NAS-Bench-201 table: the peer of the
`predictors` suite's TPE rows (`cargo xtask repro predictors`).

A trial suggests the 6 edge operations (cell-string order) as categorical
parameters and is scored by the table's `valid_top1`, maximised; each seed
prints `seed best_valid test_of_that_trial`, the trial the best validation
score was first reached at, as nasforge's runner keeps the first of a tie.

Usage: optuna_search.py CSV TRIALS SEEDS multivariate|univariate
"""
import csv
import sys

import optuna

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def cellstr(o):
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def main():
    path, trials, seeds, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    table = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            table[row["cellstr"]] = (float(row["valid_top1"]), float(row["test_top1"]))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"optuna_version: {optuna.__version__}")
    for seed in range(1, seeds + 1):
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=(mode == "multivariate"))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        best = None

        def objective(trial):
            nonlocal best
            cell = cellstr([trial.suggest_categorical(f"e{i}", OPS) for i in range(6)])
            valid, test = table[cell]
            if best is None or valid > best[0]:
                best = (valid, test)
            return valid

        study.optimize(objective, n_trials=trials)
        print(f"{seed} {best[0]} {best[1]}")


if __name__ == "__main__":
    main()
