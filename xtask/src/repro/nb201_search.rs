//! `nb201-search`: the NAS-Bench-201 paper's search table on CIFAR-10
//! (Dong & Yang, ICLR 2020, Table 5): REA, random search and REINFORCE.
//!
//! The paper searches with a simulated-time budget of 12,000 s, where each
//! evaluation costs its architecture's 12-epoch training time and returns
//! its 12-epoch validation accuracy (AutoDL-Projects
//! `exps/NAS-Bench-201-algos/R_EA.py`, `train_and_eval`, `hp="12"`;
//! `--time_budget 12000` in `scripts-search/NAS-Bench-201-algos/*.sh`), and
//! reports the 200-epoch CIFAR-10 test accuracy of the chosen cell. Our table
//! (`nb201_cifar10_v1_1.csv`) has neither the training times nor the
//! 12-epoch accuracies, and [`nasforge_runner::Budget`] has no cost budget,
//! so that run is reported as not run; we search on the 200-epoch
//! validation accuracy at 100 and 300 evaluations instead, where the
//! paper publishes nothing, and compare with what is exact at those
//! budgets: random search with its exact expectation, REA and REINFORCE
//! only as "not worse than random" (the footer says whether each is above
//! it). The REA @ 300 figure 94.29 the README once quoted has no source and is printed
//! as information only.

use anyhow::{Context, Result};
use nasforge_tabular::Nb201Table;

use super::stats::{Outcome, above_random, random_search_best, test_of_best_valid};
use super::table::{Check, Row, Table, Value, ri};
use super::{K, Mode, Suite, data_root, example, run_seeds, strategy_of};

pub const SUITE: Suite = Suite {
    name: "nb201-search",
    paper: "Dong & Yang, \"NAS-Bench-201\", ICLR 2020, Table 5 (CIFAR-10): REA 93.92 ± 0.30, RS 93.70 ± 0.36, REINFORCE 93.85 ± 0.37, optimum 94.37",
    runs: "random search, REA, REINFORCE (examples/nb201-*.toml) on the NB201 CIFAR-10 table at 100 and 300 evaluations, seeds 1..=100; random search against its exact expectation over the table, REA and REINFORCE checked only as not worse than random (the footer says whether each is above it); the paper's 12,000 s budget is not run (no training times in the table)",
    quick: "seeds 1..=10 (tolerances scale with 1/sqrt(seeds))",
    build,
};

/// The paper's Table 5, CIFAR-10: (validation, test), mean ± std of 500
/// runs (the paper: "We report the mean and std of 500 runs for RS, REA,
/// REINFORCE, and BOHB").
const PAPER_RUNS: u64 = 500;
const PAPER_REA: (f64, f64) = (93.92, 0.30);
const PAPER_RS: (f64, f64) = (93.70, 0.36);
const PAPER_REINFORCE: (f64, f64) = (93.85, 0.37);
const PAPER_OPTIMUM_TEST: f64 = 94.37;
const PAPER_OPTIMUM_VALID: f64 = 91.61;

/// Once quoted by README and a test comment as "REA (P=20, S=5) reference
/// implementation, 300 evaluations, 20 seeds": mean test 94.29.
/// Unsourced: it entered the repository with commit e05b2a9, citing
/// nothing (as the Cora 0.802 of `nbgraph_search` did); printed as
/// information, never as a reference.
const README_REA_300: (f64, u64) = (94.29, 20);

fn build(mode: Mode) -> Result<Table> {
    let seeds = mode.seeds(100, 10);
    let registry = nasforge::families();
    let base = example(&registry, "nb201-regularized-evolution")?;
    let csv = data_root().join("nas-bench-201/nb201_cifar10_v1_1.csv");
    let table = Nb201Table::load(&csv).with_context(|| format!("loading {}", csv.display()))?;
    // The exact expectations below are over what the sampler draws from:
    // all 15,625 cells. A table with fewer would make them wrong (and a
    // search would meet cells it has no row for).
    anyhow::ensure!(
        table.len() == nasforge_space_nb201::SIZE,
        "{}: {} cells, not all {} of NAS-Bench-201; the exact random-search expectations assume the full table (what `Nb201Space::sample` draws from)",
        csv.display(),
        table.len(),
        nasforge_space_nb201::SIZE
    );

    // Uniform over the 15,625 cells: what `Nb201Space::sample` draws.
    let outcomes: Vec<Outcome> = table.iter().map(|(_, r)| Outcome { valid: r.valid, test: r.test, weight: 1.0 }).collect();
    let acc_rand = outcomes.iter().map(|o| o.test).sum::<f64>() / outcomes.len() as f64;
    let best_test = outcomes.iter().map(|o| o.test).fold(f64::MIN, f64::max);
    let best_valid = outcomes.iter().map(|o| o.valid).fold(f64::MIN, f64::max);
    let test_of_best_valid = test_of_best_valid(&outcomes);

    let strategies = [
        ("random search", "nb201-random-search", PAPER_RS),
        ("REA", "nb201-regularized-evolution", PAPER_REA),
        ("REINFORCE", "nb201-reinforce", PAPER_REINFORCE),
    ];
    let configs = strategies.iter().map(|s| strategy_of(&registry, s.1)).collect::<Result<Vec<_>>>()?;

    let mut t = Table::new(
        SUITE.name,
        "NAS-Bench-201 (Dong & Yang, ICLR 2020), Table 5, CIFAR-10",
        "Test accuracy (%) of the best-by-validation trial, CIFAR-10 (NB201 `cifar10` test split, 200 epochs). \
         Paper: its Table 5 at a 12,000 s simulated budget with the 12-epoch validation accuracy as the search signal; \
         ours: the 200-epoch validation accuracy (`valid_top1`) at 100 and 300 evaluations, where the paper publishes nothing, \
         so its figures stand only on the 12,000 s rows (not run) and decide no row.",
        2,
    );
    for (name, _, paper) in &strategies {
        t.rows.push(Row {
            label: format!("{name} @ 12,000 s (the paper's budget)"),
            paper: Some(Value::published(paper.0, paper.1, Some(PAPER_RUNS))),
            ours: None,
            ri: Some(ri(paper.0, acc_rand)),
            check: Check::Info("not run: the table has no per-architecture training time (nor 12-epoch accuracies) and `Budget` has no cost budget".into()),
        });
    }
    // Whether each strategy's mean is above random search's exact
    // expectation: a fact for the footer, not a check.
    let mut above = Vec::new();
    for budget in [100u64, 300] {
        let rs = random_search_best(&outcomes, budget);
        let mut facts = Vec::new();
        for ((name, _, _), config) in strategies.iter().zip(&configs) {
            let results = run_seeds(&registry, &base, config, budget, seeds)?;
            let tests: Vec<f64> = results.iter().map(|r| r.1).collect();
            let ours = Value::of(&tests);
            let se = ours.se().unwrap_or(0.0);
            let check = if *name == "random search" {
                Check::Near {
                    target: rs.test_mean,
                    tol: K * rs.test_sd / (seeds as f64).sqrt(),
                    against: format!("exact E over the table ({budget} uniform draws; sd {:.2})", rs.test_sd),
                }
            } else {
                facts.push(above_random(name, ours.mean, "random search's exact E[test]", rs.test_mean));
                Check::AtLeast {
                    floor: rs.test_mean - K * se,
                    reference: rs.test_mean,
                    against: format!("not worse than random (no published figure at this budget): ≥ random search's exact E @ {budget} − {K}·se"),
                }
            };
            t.rows.push(Row { label: format!("{name} @ {budget} evals"), paper: None, ours: Some(ours), ri: Some(ri(ours.mean, acc_rand)), check });
            if (*name, budget) == ("REA", 300) {
                let (figure, runs) = README_REA_300;
                t.rows.push(Row {
                    label: "REA @ 300 evals, beside a figure the README once quoted".into(),
                    paper: None,
                    ours: Some(ours),
                    ri: None,
                    check: Check::Info(format!(
                        "an unsourced figure the README once quoted, {figure:.2} (\"REA reference implementation, {runs} seeds\"; no citation, entered in e05b2a9): information, not a reference"
                    )),
                });
            }
        }
        above.push(format!("@ {budget} evals: {}", facts.join("; ")));
    }
    t.rows.push(Row {
        label: "optimum: best test accuracy in the table".into(),
        paper: Some(Value::exact(PAPER_OPTIMUM_TEST)),
        ours: Some(Value::exact(best_test)),
        ri: Some(ri(best_test, acc_rand)),
        check: Check::Near { target: PAPER_OPTIMUM_TEST, tol: 0.005, against: "Table 5 \"optimal\" (rounding to 0.01)".into() },
    });
    t.rows.push(Row {
        label: "optimum: best validation accuracy in the table".into(),
        paper: Some(Value::exact(PAPER_OPTIMUM_VALID)),
        ours: Some(Value::exact(best_valid)),
        ri: None,
        check: Check::Near { target: PAPER_OPTIMUM_VALID, tol: 0.005, against: "Table 5 \"optimal\", valid (rounding to 0.01)".into() },
    });
    t.rows.push(Row {
        label: "test accuracy of the best-validation cell".into(),
        paper: None,
        ours: Some(Value::exact(test_of_best_valid)),
        ri: Some(ri(test_of_best_valid, acc_rand)),
        check: Check::Info("what a search that finds the best validation accuracy reports".into()),
    });
    t.rows.push(Row {
        label: "acc_rand: mean test accuracy of all cells".into(),
        paper: None,
        ours: Some(Value::exact(acc_rand)),
        ri: Some(0.0),
        check: Check::Info(format!("exact, over all {} cells of the table (uniform, as the space samples)", outcomes.len())),
    });

    let cfg = |i: usize| format!("`{}` = {:?}", strategies[i].1, configs[i]);
    t.notes = vec![
        format!("Strategies: {}, {}, {} (the `[strategy]` of each example file); estimator and space of `examples/nb201-regularized-evolution.toml`; seeds 1..={seeds}.", cfg(0), cfg(1), cfg(2)),
        format!("RI = 100 × (acc − acc_rand) / acc_rand (Yang et al., ICLR 2020), acc_rand = {acc_rand:.2} %: the mean test accuracy over all {} cells of the table, computed exactly.", outcomes.len()),
        format!("Tolerances, k = {K}: random search: k·sd/√seeds around its exact expectation (sd: the exact sd of one run's result); REA and REINFORCE (no published figure at 100 or 300 evaluations): not worse than random, a floor of the exact random-search expectation at the same budget minus k·se, which a strategy no better than random also passes (whether each is above random is stated below, as a fact, not a check); the table's optima: ± 0.005 (the paper rounds to 0.01)."),
        format!("Above random search's exact expectation (means over seeds 1..={seeds}; a fact, not a check): {}.", above.join("; ")),
        format!("{:.2} (REA, 300 evaluations, \"reference implementation, {} seeds\"), once quoted by README and a test comment, is no longer a reference: it entered the repository in commit e05b2a9 without a source; the REA @ 300 row beside it prints it as information.", README_REA_300.0, README_REA_300.1),
        "The paper's figures are not compared with ours: different budget (12,000 s simulated ≈ an unknown, architecture-dependent number of evaluations), different search signal (the 12-epoch validation accuracy of one randomly chosen training seed, `hp=\"12\", is_random=True`, vs the table's 200-epoch `valid_top1`), and different REA settings (the paper's R-EA.sh: population 10, sample size 3; ours P = 20, S = 5). The cleaner signal is the likely reason our searches end above the paper's. The RI of the 12,000 s rows is the paper's figure's.".into(),
        "Paper figures: Dong & Yang, ICLR 2020 (arXiv 2001.00326), Table 5, CIFAR-10 test: REA 93.92 ± 0.30, RS 93.70 ± 0.36, REINFORCE 93.85 ± 0.37, optimal 94.37 (valid 91.61); 500 runs each (quoted in D-X-Y/AutoDL-Projects issue #70).".into(),
    ];
    Ok(t)
}
