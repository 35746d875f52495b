//! Project automation: `cargo xtask <command>`.
//!
//! - `bench tabular`: regularized-evolution throughput on the NAS-Bench-201
//!   table, journal off and on, against a plain-Python reference.
//! - `bench trainer`: NB201 train steps in dfdx against PyTorch.
//! - `bench plugin`: one strategy in process and as a plugin (C ABI).
//! - `nbgraph-spearman`: our GNN training against the NAS-Bench-Graph table.
//! - `strategy-table`: mean test accuracy of every single-objective
//!   strategy on NAS-Bench-201 and NAS-Bench-Graph, over seeds and budgets.
//! - `repro list | NAME | all [--quick]`: reproduction suites, one
//!   published table each, written to `target/repro/NAME.md`; exits
//!   non-zero when a row is outside its tolerance (see `repro/mod.rs`).
//! - `fuzz --seconds N [TARGET...]`: every cargo-fuzz target in `fuzz/`
//!   for N seconds each; crash inputs go to `tests/fuzz-regressions/`.
//! - `nb201-order CSV`: regenerates the NAS-Bench-201 official index order
//!   shipped with the space crate, from a NAS-Bench-201 CSV.

// Training allocates and frees activation-sized buffers every step: see
// the allocator module for why this one.
#[global_allocator]
static GLOBAL: nasforge_trainer_dfdx::allocator::Allocator = nasforge_trainer_dfdx::allocator::Allocator;

mod bench;
mod bench_predictors;
mod bench_supernet;
mod fuzz;
mod repro;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use nasforge_core::SearchSpace;
use nasforge_runner::Budget;
use nasforge_space_nb201::Nb201Space;

use bench::Bench;

#[derive(Parser)]
#[command(name = "xtask", about = "nasforge project automation")]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: Bench,
    },
    /// Train NAS-Bench-Graph cells sampled from a table and report the
    /// Spearman correlation of our validation accuracy with the table's.
    NbgraphSpearman {
        /// The benchmark table.
        #[arg(long, default_value = "../shared/data/nas-bench-graph/cora.bench")]
        table: PathBuf,
        /// The graph (npz).
        #[arg(long, default_value = "../shared/data/graphs/cora.npz")]
        graph: PathBuf,
        /// Architectures to sample.
        #[arg(long, default_value_t = 40)]
        archs: usize,
        /// Full-batch epochs per architecture.
        #[arg(long, default_value_t = 100)]
        epochs: usize,
        /// Hidden size.
        #[arg(long, default_value_t = 64)]
        dim: usize,
        /// Seed of the sample and the training.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Mean test accuracy (best-by-validation trial) of random search,
    /// regularized evolution, local search, Q-learning mutation and
    /// REINFORCE (factorised and LSTM), each as configured in its
    /// `examples/nb201-*.toml`, on the benchmarks of
    /// `examples/{nb201,nbgraph-*}-regularized-evolution.toml`.
    StrategyTable {
        /// Seeds 1..=N.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Evaluation budgets (one column each).
        #[arg(long, value_delimiter = ',', default_value = "100,300")]
        budgets: Vec<u64>,
        /// Strategies, by example name (`examples/nb201-NAME.toml`).
        #[arg(long, value_delimiter = ',', default_value = "random-search,regularized-evolution,local-search,q-mutation,reinforce,reinforce-lstm")]
        strategies: Vec<String>,
        /// Benchmarks, by example name (`examples/NAME-regularized-evolution.toml`).
        #[arg(long, value_delimiter = ',', default_value = "nb201,nbgraph-cora,nbgraph-citeseer,nbgraph-pubmed")]
        benchmarks: Vec<String>,
    },
    /// Reproduction suites: `repro list`, `repro NAME [--quick]`, `repro
    /// all [--quick]`. Each runs the experiments behind one published
    /// table, prints it and writes `target/repro/NAME.md`; fails when a
    /// row is outside its stated tolerance.
    Repro {
        /// A suite (see `repro list`), `all`, or `list`.
        name: String,
        /// Fewer seeds (each suite in under a minute in the dev profile);
        /// tolerances widen with 1/sqrt(seeds).
        #[arg(long)]
        quick: bool,
        /// Seeds 1..=N, overriding the suite's count (full or quick).
        #[arg(long)]
        seeds: Option<u64>,
        /// Searches run at once, by the suites whose searches are
        /// independent and long (gradient-nb201); the cells and
        /// accuracies are the same for any value, the search seconds grow
        /// as searches share the cores.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Runs every fuzz target (or the named ones) for `--seconds` each, one
    /// after another; reports executions and crashes, copies crash inputs
    /// to `tests/fuzz-regressions/TARGET/` and fails when there are any.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// The libFuzzer memory limit per target, in MB.
        #[arg(long, default_value_t = 4096)]
        rss_limit_mb: u64,
        /// Targets to run (default: all).
        targets: Vec<String>,
    },
    /// Regenerate `search-spaces/nasforge-space-nb201/data/official-order.txt`.
    Nb201Order {
        /// A NAS-Bench-201 CSV with columns `arch` (index) and `cellstr`.
        csv: PathBuf,
    },
}

fn main() -> Result<()> {
    nasforge_trainer_dfdx::allocator::keep_freed_pages();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).context("entering the repository root")?;
    match Cli::parse().command {
        Top::Bench { which } => bench::run(which),
        Top::Nb201Order { csv } => nb201_order(&csv),
        Top::Fuzz { seconds, rss_limit_mb, targets } => fuzz::fuzz(seconds, &targets, rss_limit_mb),
        Top::Repro { name, quick, seeds, jobs } => repro::run(&name, repro::Mode { quick, seeds, jobs: jobs.max(1) }),
        Top::StrategyTable { seeds, budgets, strategies, benchmarks } => strategy_table(seeds, &budgets, &strategies, &benchmarks),
        Top::NbgraphSpearman { table, graph, archs, epochs, dim, seed } => nbgraph_spearman(&table, &graph, archs, epochs, dim, seed),
    }
}

fn nb201_order(csv: &Path) -> Result<()> {
    let space = Nb201Space;
    let mut reader = csv::Reader::from_path(csv)?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name).with_context(|| format!("no `{name}` column"));
    let (c_index, c_str) = (col("arch")?, col("cellstr")?);
    let mut order = vec![None; nasforge_space_nb201::SIZE];
    for record in reader.records() {
        let record = record?;
        let index: usize = record[c_index].parse()?;
        let cell = space.parse(&record[c_str])?;
        let slot = order.get_mut(index).with_context(|| format!("index {index} out of range"))?;
        *slot = Some(cell);
    }
    let mut text = String::new();
    for (i, cell) in order.iter().enumerate() {
        let cell = cell.with_context(|| format!("index {i} missing"))?;
        text.extend(cell.ops.iter().map(|&op| char::from(b'0' + op as u8)));
        text.push('\n');
    }
    let out = Path::new("search-spaces/nasforge-space-nb201/data/official-order.txt");
    std::fs::write(out, text)?;
    println!("wrote {}", out.display());
    Ok(())
}

use nasforge_zero_cost::stats::spearman;

fn nbgraph_spearman(table: &Path, graph: &Path, archs: usize, epochs: usize, dim: usize, seed: u64) -> Result<()> {
    use nasforge_space_nbgraph::{GnnCell, NbGraphSpace};
    use nasforge_tabular::NbGraphTable;
    use nasforge_trainer_dfdx::gnn::{Adjacency, GnnShape, GnnTrainConfig, train_gnn};
    use rand::SeedableRng;
    use rand::seq::SliceRandom;

    let space = NbGraphSpace::standard();
    let table = NbGraphTable::load(table, space.clone())?;
    let g = nasforge_datasets::graph_npz(graph, nasforge_datasets::GraphSplit { seed, ..Default::default() })?;
    let adj = Adjacency::new(&g);
    let mut hashes: Vec<u64> = table.iter().map(|(h, _)| h).collect();
    hashes.sort_unstable();
    hashes.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let config = GnnTrainConfig {
        shape: GnnShape { dim, dropout: 0.5, post_layers: 1 },
        epochs,
        optimizer: nasforge_trainer_dfdx::OptimizerConfig::Adam { lr: 0.01, weight_decay: 5e-4 },
    };
    println!("{archs} architectures from {} ({epochs} epochs, dim {dim}, Adam lr 0.01, wd 5e-4, dropout 0.5)", graph.display());
    let (mut ours, mut theirs, mut ours_test, mut theirs_test) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, &h) in hashes.iter().take(archs).enumerate() {
        let cell = GnnCell::from_hash(h).context("table keys are canonical")?;
        let t0 = Instant::now();
        let r = train_gnn(&cell, &g, &adj, &config, seed + i as u64).map_err(|e| anyhow::anyhow!("{e}"))?;
        let row = table.get_hash(h).context("in the table")?;
        println!(
            "{:>2} {:<28} ours valid {:.3} test {:.3} | table valid {:.3} test {:.3} ({:.1}s)",
            i + 1,
            space.format(&cell),
            r.valid,
            r.test,
            row.valid,
            row.test,
            t0.elapsed().as_secs_f64()
        );
        ours.push(r.valid);
        theirs.push(row.valid);
        ours_test.push(r.test);
        theirs_test.push(row.test);
    }
    println!("spearman_test: {:.3}", spearman(&ours_test, &theirs_test));
    println!("spearman_valid: {:.3}", spearman(&ours, &theirs));
    Ok(())
}

/// See [`Top::StrategyTable`]. Every cell is a mean over seeds 1..=`seeds`
/// of the test score of the trial with the best validation score.
fn strategy_table(seeds: u64, budgets: &[u64], strategies: &[String], benchmarks: &[String]) -> Result<()> {
    use nasforge_experiment as experiment;
    use rayon::prelude::*;

    let registry = nasforge::families();
    let strategy_configs = strategies
        .iter()
        .map(|name| Ok(experiment::load(&registry, format!("examples/nb201-{name}.toml"))?.components.strategy))
        .collect::<Result<Vec<_>>>()?;
    let mut header = String::from("| strategy |");
    let mut rule = String::from("|---|");
    for b in benchmarks {
        for n in budgets {
            header += &format!(" {b} @{n} |");
            rule += "---:|";
        }
    }
    let mut rows: Vec<String> = strategies.iter().map(|s| format!("| {s} |")).collect();
    let t0 = Instant::now();
    for benchmark in benchmarks {
        let base = experiment::load(&registry, format!("examples/{benchmark}-regularized-evolution.toml"))?;
        for (row, strategy) in rows.iter_mut().zip(&strategy_configs) {
            for &budget in budgets {
                let tests = (1..=seeds)
                    .into_par_iter()
                    .map(|seed| {
                        let mut config = base.clone();
                        (config.seed, config.journal, config.components.strategy) = (seed, None, strategy.clone());
                        config.budget = Budget { evaluations: Some(budget), seconds: None };
                        let summary = experiment::run(&registry, &config, None)?;
                        summary.best.and_then(|b| b.test).with_context(|| format!("{benchmark}, seed {seed}: no test score"))
                    })
                    .collect::<Result<Vec<f64>>>()?;
                let mean = tests.iter().sum::<f64>() / tests.len() as f64;
                let sd = (tests.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (tests.len() as f64 - 1.0).max(1.0)).sqrt();
                // NB201 reports percent, NAS-Bench-Graph fractions.
                let (mean, sd) = if mean <= 1.0 { (100.0 * mean, 100.0 * sd) } else { (mean, sd) };
                *row += &format!(" {mean:.2} ± {sd:.2} |");
            }
        }
        eprintln!("{benchmark} done ({:.0} s)", t0.elapsed().as_secs_f64());
    }
    println!("Mean test accuracy (%) ± sd over seeds 1..={seeds}, best-by-validation trial:\n");
    println!("{header}\n{rule}");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
