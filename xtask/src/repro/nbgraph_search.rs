//! `nbgraph-search`: NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets
//! and Benchmarks): random search, REA and REINFORCE at 100 evaluations
//! on every table in `../shared/data/nas-bench-graph`.
//!
//! No published figure is compared with. The paper's search table could
//! not be read from any stored copy (they stop at the abstract), and the
//! authors' own search scripts do not run our protocol: 40 (NNI) or 500
//! (AutoGL; 40 on proteins) evaluations, each rewarded with the table's
//! test figure `perf`, one run each. So every row is decided by an exact
//! expectation (random search) or a "not worse than random" floor on the
//! best validation accuracy (REA, REINFORCE), which a strategy no better
//! than random also passes; the footer says, per dataset, whether each is
//! above random, and gives the sources. The figure
//! 0.802 ± 0.013 that README and tests/search.rs once quoted for REA on Cora
//! has no traceable source and is shown as information only.

use std::collections::HashMap;

use anyhow::{Context, Result};
use nasforge_core::SearchSpace;
use nasforge_space_nbgraph::NbGraphSpace;
use nasforge_tabular::NbGraphTable;

use super::stats::{Outcome, above_random, mean_sd, random_search_best, test_of_best_valid};
use super::table::{Check, Row, Table, Value, ri};
use super::{K, Mode, Suite, data_root, example, run_seeds, strategy_of};

pub const SUITE: Suite = Suite {
    name: "nbgraph-search",
    paper: "Qin et al., \"NAS-Bench-Graph\", NeurIPS 2022 Datasets & Benchmarks (arXiv 2206.09166); its search table could not be read and its published search scripts use another protocol, so no paper figure is compared with",
    runs: "random search, REA, REINFORCE (the [strategy] of examples/nb201-*.toml) on cora, citeseer, pubmed, cs, proteins (examples/nbgraph-*-regularized-evolution.toml), 100 evaluations, seeds 1..=100; random search against its exact expectation under the space's sampler, REA and REINFORCE checked only as not worse than random's best validation accuracy (the footer says whether each is above random, on best valid and on test)",
    quick: "seeds 1..=10 (tolerances scale with 1/sqrt(seeds))",
    build,
};

const DATASETS: [&str; 5] = ["cora", "citeseer", "pubmed", "cs", "proteins"];
const BUDGET: u64 = 100;

/// Once quoted by README and tests/search.rs: REA at 100 evaluations on Cora, test
/// accuracy 0.802 ± 0.013 (runs not stated). Unsourced: it entered the
/// repository as a comment in tests/search.rs (commit e05b2a9) and is in
/// neither the readable part of the paper nor the authors' repositories;
/// printed as information, never as a reference.
const README_CORA_REA: (f64, f64) = (0.802, 0.013);

fn build(mode: Mode) -> Result<Table> {
    let seeds = mode.seeds(100, 10);
    let registry = nasforge::families();
    let strategies = [("random search", "nb201-random-search"), ("REA", "nb201-regularized-evolution"), ("REINFORCE", "nb201-reinforce")];
    let configs = strategies.iter().map(|s| strategy_of(&registry, s.1)).collect::<Result<Vec<_>>>()?;
    let mut t = Table::new(
        SUITE.name,
        "NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets & Benchmarks), search at 100 evaluations",
        "Test accuracy (%, `perf`) of the best-by-validation (`valid_perf`) trial after 100 evaluations, and, for REA and REINFORCE, \
         the best validation accuracy found (what they optimise).",
        2,
    );
    let mut footer = Vec::new();
    for dataset in DATASETS {
        let space = if dataset == "proteins" { NbGraphSpace::proteins() } else { NbGraphSpace::standard() };
        let path = data_root().join(format!("nas-bench-graph/{dataset}.bench"));
        let table = NbGraphTable::load(&path, space.clone()).with_context(|| format!("loading {}", path.display()))?;
        // The space samples uniformly among its valid raw (links, ops)
        // choices; many share a canonical hash, so a key's weight is the
        // number of raw choices it stands for.
        let mut weights: HashMap<u64, f64> = HashMap::new();
        for cell in space.enumerate().context("the space enumerates")? {
            *weights.entry(space.hash(&cell).context("enumerated cells are valid")?).or_default() += 1.0;
        }
        let mut outcomes = Vec::with_capacity(table.len());
        for (hash, row) in table.iter() {
            let weight = *weights.get(&hash).with_context(|| format!("{dataset}: table key {hash} is no cell of the space"))?;
            outcomes.push(Outcome { valid: 100.0 * row.valid, test: 100.0 * row.test, weight });
        }
        anyhow::ensure!(outcomes.len() == weights.len(), "{dataset}: {} keys in the table, {} canonical cells in the space", outcomes.len(), weights.len());
        let acc_rand = mean_sd(&outcomes.iter().map(|o| o.test).collect::<Vec<_>>()).0;
        let sampled = outcomes.iter().map(|o| o.weight * o.test).sum::<f64>() / outcomes.iter().map(|o| o.weight).sum::<f64>();
        let best_test = outcomes.iter().map(|o| o.test).fold(f64::MIN, f64::max);
        let rs = random_search_best(&outcomes, BUDGET);
        let base = example(&registry, &format!("nbgraph-{dataset}-regularized-evolution"))?;
        // Whether each strategy is above random search's exact
        // expectation: a fact for the footer, not a check.
        let mut above = Vec::new();
        for ((name, _), config) in strategies.iter().zip(&configs) {
            let results = run_seeds(&registry, &base, config, BUDGET, seeds)?;
            let tests = Value::of(&results.iter().map(|r| 100.0 * r.1).collect::<Vec<_>>());
            let valids = Value::of(&results.iter().map(|r| 100.0 * r.0).collect::<Vec<_>>());
            let label = format!("{dataset}: {name} @ {BUDGET} evals");
            let (paper, check) = match (*name, dataset) {
                ("random search", _) => (
                    None,
                    Check::Near {
                        target: rs.test_mean,
                        tol: K * rs.test_sd / (seeds as f64).sqrt(),
                        against: format!("exact E under the space's sampler (sd {:.2})", rs.test_sd),
                    },
                ),
                ("REA", "cora") => (
                    None,
                    Check::Info(format!(
                        "no paper figure (notes); README and tests once quoted {:.2} ± {:.2}, unsourced, not a reference",
                        100.0 * README_CORA_REA.0,
                        100.0 * README_CORA_REA.1
                    )),
                ),
                _ => (None, Check::Info("no paper figure (notes); the best-valid row below is checked".into())),
            };
            t.rows.push(Row { label: format!("{label}, test"), paper, ours: Some(tests), ri: Some(ri(tests.mean, acc_rand)), check });
            if *name != "random search" {
                above.push(format!(
                    "{name}: {}, {}",
                    above_random("best valid", valids.mean, "E[best valid]", rs.valid_mean),
                    above_random("test", tests.mean, "E[test]", rs.test_mean)
                ));
                t.rows.push(Row {
                    label: format!("{label}, best valid"),
                    paper: None,
                    ours: Some(valids),
                    ri: None,
                    check: Check::AtLeast {
                        floor: rs.valid_mean - K * valids.se().unwrap_or(0.0),
                        reference: rs.valid_mean,
                        against: format!("not worse than random: ≥ random search's exact E[best valid] @ {BUDGET} − {K}·se"),
                    },
                });
            }
        }
        footer.push(format!(
            "{dataset}: {} architectures; acc_rand {acc_rand:.2} (mean over the table's architectures; under the space's sampler {sampled:.2}); \
             best test {best_test:.2}; test of the best-valid architecture {:.2}; random search @ {BUDGET}: E[test] {:.2} ± {:.2}, E[best valid] {:.2} ± {:.2} (exact). \
             Above random search's exact expectation @ {BUDGET} (means over seeds 1..={seeds}; a fact, not a check): {}.",
            outcomes.len(),
            test_of_best_valid(&outcomes),
            rs.test_mean,
            rs.test_sd,
            rs.valid_mean,
            rs.valid_sd,
            above.join("; ")
        ));
    }
    let cfg = |i: usize| format!("`{}` = {:?}", strategies[i].1, configs[i]);
    t.notes = vec![
        format!("Strategies: {}, {}, {}; space and estimator of `examples/nbgraph-DATASET-regularized-evolution.toml`; seeds 1..={seeds}.", cfg(0), cfg(1), cfg(2)),
        "RI = 100 × (acc − acc_rand) / acc_rand (Yang et al., ICLR 2020); acc_rand: the mean test accuracy over all architectures of the table (each canonical architecture once).".into(),
        format!("Tolerances, k = {K}: random search: k·sd/√seeds around its exact expectation (every sampled raw cell weighted, ties broken as the runner does: the first found); REA and REINFORCE: not worse than random, a floor on the best validation accuracy of random search's exact expectation at the same budget minus k·se, which a strategy no better than random also passes (whether each is above random, on best valid and on test, is stated per dataset below, as a fact, not a check); their test accuracy is information only (it is only loosely tied to validation: see tests/search.rs)."),
        "Paper figures: none shown. The search table of Qin et al. (arXiv 2206.09166; stored copies of https://arxiv.org/html/2206.09166v2, OpenReview bBff294gqLp and the NeurIPS proceedings page give no more than the abstract) could not be read, so no figure of it is known here; none is made up.".into(),
        "The paper's published search protocol is not ours, so even its figures could not decide a row: THUMNLab/NAS-Bench-Graph `runnni.py` (NNI Retiarii; commit a54ac56, unchanged as `nas-bench-graph/runnni.py` at be42534) runs Random(dedup=True), RegularizedEvolution() and PolicyBasedRL() with `max_trial_number = 40`, rewards each trial with `bench[h]['perf']` (the table's test figure, not `valid_perf`) and exports the top model, one run per algorithm and dataset; its op list is `gcn, arma, cheb, fc, skip` for every dataset (the proteins table and `architecture.py` use `gcn, sage, arma, fc, skip`, as we do). THUMNLab/AutoGL `examples/nas_bench_graph_example.py` (also `test/nas/bench.py`) runs GraphNAS (GraphNasRL, an LSTM controller) and Auto-GNN (AGNNRL) for 500 architectures (proteins: 40), again rewarded with `perf`. Ours: 100 evaluations, selection on `valid_perf`, test of the best-valid trial, mean over seeds.".into(),
        "Their strategies differ from ours too: NNI's EA is regularized evolution with population 100, tournament 25 and per-choice mutation probability 0.05 by default (ours: population 20, sample 5), so with those defaults all 40 trials are its random initial population; NNI's PolicyBasedRL is PPO (tianshou) by default, not REINFORCE; GraphNAS and Auto-GNN are not run here.".into(),
        "0.802 ± 0.013 (REA, Cora, 100 evaluations), once quoted by README and tests/search.rs, is no longer a reference: it entered the repository as a comment in tests/search.rs (commit e05b2a9) without a source, it is in neither the readable part of the paper nor the authors' repositories, and their scripts never run 100 evaluations; the cora REA row prints it as information.".into(),
    ];
    t.notes.extend(footer);
    Ok(t)
}
