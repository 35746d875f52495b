//! `cargo xtask repro`: reproduction suites. Each suite runs the
//! experiments behind one published table and writes it to
//! `target/repro/NAME.md` (and prints it): the paper's figure, ours (mean ±
//! sd over seeds 1..=N), the figure each row is compared with, the
//! difference, the tolerance, the number of seeds and, for searches, the
//! relative improvement over the average random architecture. Any row
//! outside its tolerance fails the command.
//!
//! A suite is one module with a [`Suite`] entry in [`SUITES`].

mod gradient_nb201;
mod nb201_search;
mod nbgraph_search;
mod predictors;
mod spaces_params;
mod zero_cost_nb201;
pub mod stats;
pub mod table;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use nasforge_experiment::ExperimentConfig;
use nasforge_registry::{Configured, Registry};
use nasforge_runner::Budget;

use table::Table;

/// Tolerances are `K` standard errors (plus a published figure's own
/// spread or rounding, where the row says so).
pub const K: f64 = 3.0;

/// How a suite is run.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// `--quick`: fewer seeds.
    pub quick: bool,
    /// `--seeds`: overrides the suite's seed count.
    pub seeds: Option<u64>,
    /// `--jobs`: how many independent searches a suite may run at once
    /// (a suite whose searches are long enough to gain from it; the
    /// others ignore it). What was found does not depend on it; search
    /// times do.
    pub jobs: usize,
}

impl Mode {
    /// Seeds 1..=N for a search suite: `full` or `quick` unless overridden.
    pub fn seeds(&self, full: u64, quick: u64) -> u64 {
        self.seeds.unwrap_or(if self.quick { quick } else { full })
    }
}

/// One suite.
pub struct Suite {
    /// Its name on the command line and in `target/repro/NAME.md`.
    pub name: &'static str,
    /// The paper and table it reproduces.
    pub paper: &'static str,
    /// What it runs.
    pub runs: &'static str,
    /// What `--quick` changes.
    pub quick: &'static str,
    /// Builds the table.
    pub build: fn(Mode) -> Result<Table>,
}

/// Every suite, in the order `all` runs them.
pub const SUITES: &[Suite] = &[nb201_search::SUITE, nbgraph_search::SUITE, spaces_params::SUITE, zero_cost_nb201::SUITE, predictors::SUITE, gradient_nb201::SUITE];

/// `cargo xtask repro list`.
pub fn list() {
    for s in SUITES {
        println!("{}\n  paper: {}\n  runs:  {}\n  quick: {}\n", s.name, s.paper, s.runs, s.quick);
    }
}

/// `cargo xtask repro NAME|all [--quick] [--seeds N]`.
pub fn run(name: &str, mode: Mode) -> Result<()> {
    let chosen: Vec<&Suite> = match name {
        "all" => SUITES.iter().collect(),
        "list" => {
            list();
            return Ok(());
        }
        _ => match SUITES.iter().find(|s| s.name == name) {
            Some(s) => vec![s],
            None => bail!("no suite `{name}`; the suites: {}, all, list", SUITES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")),
        },
    };
    let out_dir = Path::new("target/repro");
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut failures = Vec::new();
    for suite in chosen {
        let t0 = Instant::now();
        let mut table = (suite.build)(mode).with_context(|| format!("suite {}", suite.name))?;
        let seconds = t0.elapsed().as_secs_f64();
        table.notes.push(format!(
            "Run: `xtask repro {}{}{}`, {seconds:.1} s, {} profile, {} threads.",
            suite.name,
            if mode.quick { " --quick" } else { "" },
            mode.seeds.map_or(String::new(), |n| format!(" --seeds {n}")),
            if cfg!(debug_assertions) { "dev" } else { "release" },
            rayon::current_num_threads()
        ));
        let md = table.markdown();
        println!("{md}");
        let file = out_dir.join(format!("{}.md", suite.name));
        std::fs::write(&file, &md).with_context(|| format!("writing {}", file.display()))?;
        eprintln!("wrote {} ({seconds:.1} s)", file.display());
        failures.extend(table.failures());
    }
    if !failures.is_empty() {
        bail!("{} row(s) outside their tolerance:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}

/// Where the benchmark tables are: `NASFORGE_DATA`, else `../shared/data`
/// (the examples' `data-root`, seen from the repository root).
pub fn data_root() -> PathBuf {
    std::env::var_os("NASFORGE_DATA").map_or_else(|| PathBuf::from("../shared/data"), PathBuf::from)
}

/// Loads `examples/NAME.toml`.
pub fn example(registry: &Registry, name: &str) -> Result<ExperimentConfig> {
    Ok(nasforge_experiment::load(registry, format!("examples/{name}.toml"))?)
}

/// The `[strategy]` of `examples/NAME.toml`.
pub fn strategy_of(registry: &Registry, name: &str) -> Result<Configured> {
    Ok(example(registry, name)?.components.strategy)
}

/// `(best valid, its test)` of `strategy` on `base`'s space and estimator
/// with `evaluations` trials, for seeds 1..=`seeds` (in parallel; every
/// random choice derives from the seed).
///
/// Each seed is the run `nasforge_experiment::run` makes of `base` with
/// that seed, that strategy and that budget, but the space and estimator
/// are built once per worker rather than once per seed: a tabular table
/// then loads a few times, not `seeds` times (which dominated the quick
/// suites in the dev profile). That is only sound for an estimator that
/// keeps no state between runs and a space and estimator whose build does
/// not depend on the root seed, as for the tables here; the strategy is
/// built per seed exactly as `Registry::build` builds it, and
/// `tests::run_seeds_is_experiment_run` checks the results agree.
pub fn run_seeds(registry: &Registry, base: &ExperimentConfig, strategy: &Configured, evaluations: u64, seeds: u64) -> Result<Vec<(f64, f64)>> {
    use nasforge_registry::StrategyContext;
    use rayon::prelude::*;

    let mut config = base.clone();
    (config.journal, config.components.strategy) = (None, strategy.clone());
    config.budget = Budget { evaluations: Some(evaluations), ..Budget::default() };
    anyhow::ensure!(config.plugins.is_empty(), "run_seeds composes no plugins");
    let entry = registry.strategy(strategy.name()).with_context(|| format!("strategy `{}` is not registered", strategy.name()))?;
    let run = |stack: &mut nasforge_registry::Stack, seed: u64| -> Result<(f64, f64)> {
        let ctx = StrategyContext { seed: nasforge_core::derive_seed(seed, "strategy"), root_seed: seed, space: &stack.space, data: None };
        let mut strategy = entry.build(strategy, &ctx).map_err(anyhow::Error::msg)?;
        let mut runner = nasforge_runner::Runner::new(&stack.space, &mut *stack.estimator, config.budget, seed);
        if !stack.objectives.is_empty() {
            runner = runner.with_objectives(stack.objectives.clone());
        }
        strategy.drive(&stack.space, &mut runner);
        let summary = runner.finish_with(strategy.failure())?;
        if summary.trials != evaluations {
            bail!("seed {seed}: {} trials, not {evaluations}", summary.trials);
        }
        let best = summary.best.with_context(|| format!("seed {seed}: no successful trial"))?;
        Ok((best.valid, best.test.with_context(|| format!("seed {seed}: the estimator reports no test score"))?))
    };
    // One stack per worker, each running a contiguous block of seeds.
    let all: Vec<u64> = (1..=seeds).collect();
    let block = all.len().div_ceil(rayon::current_num_threads()).max(1);
    let blocks: Vec<Vec<(f64, f64)>> = all
        .par_chunks(block)
        .map(|chunk| {
            let mut stack = nasforge_experiment::build(registry, &config)?;
            chunk.iter().map(|&seed| run(&mut stack, seed)).collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    Ok(blocks.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_seeds_is_experiment_run() {
        std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap();
        let registry = nasforge::families();
        for (file, strategy) in [
            ("nb201-regularized-evolution", "nb201-reinforce"),
            ("nbgraph-cora-regularized-evolution", "nb201-regularized-evolution"),
            ("nbgraph-proteins-regularized-evolution", "nb201-random-search"),
        ] {
            let base = example(&registry, file).unwrap();
            let strategy = strategy_of(&registry, strategy).unwrap();
            let ours = run_seeds(&registry, &base, &strategy, 60, 3).unwrap();
            for (seed, got) in (1..=3).zip(ours) {
                let mut config = base.clone();
                (config.seed, config.journal, config.components.strategy) = (seed, None, strategy.clone());
                config.budget = Budget { evaluations: Some(60), ..Budget::default() };
                let best = nasforge_experiment::run(&registry, &config, None).unwrap().best.unwrap();
                assert_eq!(got, (best.valid, best.test.unwrap()), "{file}, seed {seed}");
            }
        }
    }
}
