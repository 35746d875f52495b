//! Compose a search stack in Rust, without a TOML file: the NAS-Bench-201
//! space, its table, regularized evolution and a journal, each configured
//! through the registry (so the journal stores the configuration, and
//! `nasforge resume` / `nasforge show` work on it like on any run).
//!
//! ```text
//! cargo run --example compose_stack -- ../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv
//! ```

use nasforge::experiment::{Budget, ExperimentConfig};
use nasforge::registry::{Components, Kind};

fn main() -> anyhow::Result<()> {
    let csv = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv".into());
    let registry = nasforge::families();
    // Each component is checked as an experiment file's section would be.
    let components = Components {
        space: registry.configure(Kind::Space, "nas-bench-201", "")?,
        strategy: registry.configure(Kind::Strategy, "regularized-evolution", "population = 20\nsample-size = 5")?,
        estimator: registry.configure(Kind::Estimator, "nas-bench-201", &format!("path = {:?}", std::path::absolute(&csv)?))?,
        dataset: None,
        trainer: None,
    };
    let dir = tempfile::tempdir()?;
    let journal = dir.path().join("compose.sqlite");
    let config = ExperimentConfig {
        seed: 42,
        components,
        budget: Budget { evaluations: Some(300), seconds: None },
        journal: Some(journal.clone()),
        plugins: Vec::new(),
    };
    let summary = nasforge::experiment::run(&registry, &config, None)?;
    let best = summary.best.expect("some trial succeeded");
    println!("best of {} trials: {}", summary.trials, best.arch);
    println!("valid {:.2}  test {:.2}", best.valid, best.test.unwrap_or(f64::NAN));

    // The journal holds the configuration: resuming a finished experiment
    // replays it from the journal and evaluates nothing.
    let again = nasforge::experiment::resume(&registry, &journal, None, None)?;
    assert_eq!(again.best.map(|b| b.arch), Some(best.arch));
    println!("resumed from the journal: {} trials, none evaluated again", again.trials);
    Ok(())
}
