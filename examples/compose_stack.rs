//! Compose a search stack from the crates, without TOML: NAS-Bench-201
//! space, the tabular estimator, regularized evolution, a journal.
//!
//! ```text
//! cargo run --example compose_stack -- ../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv
//! ```

use std::sync::Arc;

use nasforge::core::{SearchSpace, Strategy};
use nasforge::experiment::{Budget, Runner};
use nasforge::journal::{ExperimentRecord, Journal};
use nasforge::nb201::Nb201Space;
use nasforge::strategies::{RegularizedEvolution, RegularizedEvolutionParams};
use nasforge::tabular::{Nb201Estimator, Nb201Table};

fn main() -> anyhow::Result<()> {
    let csv = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv".into());
    let space = Nb201Space;
    let mut estimator = Nb201Estimator::new(Arc::new(Nb201Table::load(&csv)?));
    // Parameters are checked before anything runs.
    let config = RegularizedEvolutionParams::default().population(20).sample_size(5).check()?;
    let seed = 42;
    let mut strategy = RegularizedEvolution::new(config, seed);

    let dir = tempfile::tempdir()?;
    let mut journal = Journal::open(dir.path().join("compose.sqlite"))?;
    let record = ExperimentRecord::composed(space.name(), "regularized-evolution", "nas-bench-201", seed);
    let hash = record.hash.clone();
    let experiment = journal.create_experiment(&record)?;

    let budget = Budget { evaluations: Some(300), seconds: None };
    let mut runner =
        Runner::new(&space, &mut estimator, budget, seed).with_journal(&mut journal, experiment, hash);
    strategy.drive(&space, &mut runner);
    let summary = runner.finish()?;

    let best = summary.best.expect("some trial succeeded");
    println!("best of {} trials: {}", summary.trials, best.arch);
    println!("valid {:.2}  test {:.2}", best.valid, best.test.unwrap_or(f64::NAN));
    println!("canonical key: {}", space.canonical_key(&space.parse(&best.arch)?));
    println!("journaled trials: {}", journal.trials(experiment)?.len());
    Ok(())
}
