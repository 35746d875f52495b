//! Experiments: a TOML file checked through a [`Registry`] into an
//! [`ExperimentConfig`], its components built and wired, and the search run
//! to its budget with every trial in the journal.
//!
//! This crate composes no family: the registry it is given says which
//! spaces, strategies and estimators exist (the `nasforge` binary's
//! default set, or a user's own).
//!
//! ```no_run
//! # fn families() -> nasforge_registry::Registry { unimplemented!() }
//! let registry = families();
//! let config = nasforge_experiment::load(&registry, "examples/nb201-regularized-evolution.toml")?;
//! let summary = nasforge_experiment::run(&registry, &config, None)?;
//! println!("{:?}", summary.best);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod plugins;

use std::path::Path;

use nasforge_journal::{ExperimentRecord, Journal, JournalError, Lease, TrialRecord, lease_ttl, unix_now};
use nasforge_registry::{BuildError, Registry, Stack};
use sha2::{Digest, Sha256};

pub use config::{Budget, ExperimentConfig, load, load_plugin_manifests, parse_str};
pub use nasforge_registry::{DATA_ENV, read_file};
pub use nasforge_plugin_host::{Kind as PluginKind, Manifest as PluginManifest, PluginError, PluginInfo};
pub use nasforge_registry::ConfigError;
pub use nasforge_runner::{BestTrial, ParetoPoint, Progress, RunError, RunSummary, Runner};

/// Anything that can stop an experiment.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The experiment file (or a stored config) is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A component could not be built (its data did not load, its plugin
    /// did not instantiate, ...), or components configured in code do not
    /// work together.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The run stopped on an error.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The journal holds no such experiment, or one that cannot be resumed.
    #[error("{0}")]
    NoExperiment(String),
}

/// Loads each plugin an experiment file declares, with what its header
/// says and whether an instance can be created with its `[plugin.config]`
/// (`nasforge plugins list`).
pub fn inspect_plugins(manifests: &[PluginManifest], space: &str) -> Vec<(PluginManifest, Result<PluginInfo, PluginError>)> {
    manifests
        .iter()
        .map(|m| {
            let outcome = nasforge_plugin_host::load(m).and_then(|p| p.instantiate(0, space).map(|_| p.info));
            (m.clone(), outcome)
        })
        .collect()
}

/// A hash of the resolved configuration, the seed included.
pub fn experiment_hash(config: &ExperimentConfig) -> String {
    let digest = Sha256::digest(config.to_toml().as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Runs an experiment from the start, creating its record in the journal
/// when the config names one (once the components are built, so a broken
/// table leaves no empty experiment behind).
pub fn run(registry: &Registry, config: &ExperimentConfig, progress: Option<&mut dyn FnMut(Progress)>) -> Result<RunSummary, ExperimentError> {
    let mut journal = config.journal.as_deref().map(Journal::open).transpose()?;
    execute(registry, config, journal.as_mut(), Start::Fresh, progress)
}

/// Whether a run starts afresh or continues a journaled experiment.
enum Start {
    Fresh,
    Resume { experiment: i64, trials: Vec<TrialRecord>, lease: Lease },
}

/// Records the experiment and takes its lease in one step.
fn new_experiment(journal: &mut Journal, config: &ExperimentConfig) -> Result<(i64, Lease), JournalError> {
    let c = &config.components;
    let record = ExperimentRecord {
        hash: experiment_hash(config),
        config: config.to_toml(),
        ..ExperimentRecord::composed(c.space.name(), c.strategy.name(), c.estimator.name(), config.seed)
    };
    journal.start_experiment(&record, lease_ttl()?)
}

/// Continues an experiment of `journal_path` to its budget: the latest
/// unfinished one, or `experiment` when given. Finished trials are replayed
/// from the journal, never evaluated again. Refused while another live
/// process holds the experiment's lease (see [`nasforge_journal::Lease`]).
pub fn resume(
    registry: &Registry,
    journal_path: &Path,
    experiment: Option<i64>,
    progress: Option<&mut dyn FnMut(Progress)>,
) -> Result<RunSummary, ExperimentError> {
    let mut journal = Journal::open_existing(journal_path)?;
    let record = resume_target(&journal, journal_path, experiment)?;
    if record.config.trim().is_empty() {
        return Err(ExperimentError::NoExperiment(format!(
            "{}: experiment {} was composed in code with a hand-built runner and stored no configuration, so it cannot be rebuilt here; \
             run it through `nasforge_experiment::run` (which stores its configuration) to make it resumable",
            journal_path.display(),
            record.id
        )));
    }
    let file = format!("{}:experiment {}", journal_path.display(), record.id);
    let mut config = parse_str(registry, &record.config, &file, Path::new("/")).map_err(|e| {
        if e.message.starts_with("unknown ") && e.key.as_deref().is_some_and(|k| k.ends_with(".name")) {
            // A journal written by another binary (a user's own stack).
            e.map_message(|m| format!("{m}; this experiment was run by a binary that registers it: resume it with that binary"))
        } else {
            e
        }
    })?;
    config.journal = Some(journal_path.to_owned());
    // Taken before the trials are read: no live writer adds one after.
    let lease = journal.acquire_lease(record.id, lease_ttl()?)?;
    let trials = journal.trials(record.id)?;
    if let Some((i, t)) = trials.iter().enumerate().find(|(i, t)| t.trial != *i as u64) {
        return Err(ExperimentError::NoExperiment(format!(
            "{}: experiment {} has a gap in its trials before trial {} (position {i}); it cannot be replayed",
            journal_path.display(),
            record.id,
            t.trial
        )));
    }
    execute(registry, &config, Some(&mut journal), Start::Resume { experiment: record.id, trials, lease }, progress)
}

/// The experiment [`resume`] continues: `experiment` when given, else the
/// latest unfinished one that no other live process holds, else the latest
/// unfinished one (whose resume is then refused, naming its holder), else
/// the latest.
pub fn resume_target(journal: &Journal, journal_path: &Path, experiment: Option<i64>) -> Result<ExperimentRecord, ExperimentError> {
    let experiments = journal.experiments()?;
    let record = match experiment {
        Some(id) => experiments.iter().find(|e| e.id == id),
        None => {
            let unfinished: Vec<&ExperimentRecord> = experiments.iter().rev().filter(|e| e.finished_at.is_none()).collect();
            let mut free = None;
            for e in &unfinished {
                if journal.leased_by_other(e.id)?.is_none() {
                    free = Some(*e);
                    break;
                }
            }
            free.or(unfinished.first().copied()).or(experiments.last())
        }
    };
    record.cloned().ok_or_else(|| {
        ExperimentError::NoExperiment(format!(
            "{}: no experiment{} to resume",
            journal_path.display(),
            experiment.map(|id| format!(" with id {id}")).unwrap_or_default()
        ))
    })
}

/// The stack an experiment describes, built through `registry` (with the
/// experiment's plugins as further entries).
pub fn build(registry: &Registry, config: &ExperimentConfig) -> Result<Stack, ExperimentError> {
    let registry = plugins::with_plugins(registry, &config.plugins);
    Ok(registry.build(&config.components, config.seed)?)
}

fn execute(
    registry: &Registry,
    config: &ExperimentConfig,
    journal: Option<&mut Journal>,
    start: Start,
    progress: Option<&mut dyn FnMut(Progress)>,
) -> Result<RunSummary, ExperimentError> {
    let Stack { space, mut strategy, mut estimator, objectives } = build(registry, config)?;
    let (resumed, replay) = match start {
        Start::Resume { experiment, trials, lease } => (Some((experiment, lease)), trials),
        Start::Fresh => (None, Vec::new()),
    };
    // The lease lives until the run returns, finished or failed.
    let (mut journal, _lease) = match journal {
        Some(j) => {
            let (id, lease) = match resumed {
                Some(held) => held,
                None => new_experiment(j, config)?,
            };
            (Some((j, id)), Some(lease))
        }
        None => (None, None),
    };
    let mut runner = Runner::new(&space, &mut *estimator, config.budget, config.seed).with_replay(replay);
    if !objectives.is_empty() {
        runner = runner.with_objectives(objectives);
    }
    if let Some((j, id)) = journal.as_mut() {
        runner = runner.with_journal(j, *id, experiment_hash(config));
    }
    if let Some(p) = progress {
        runner = runner.with_progress(p);
    }
    strategy.drive(&space, &mut runner);
    let mut summary = runner.finish_with(strategy.failure())?;
    summary.notes = notes(registry, config.components.estimator.name());
    if let Some((j, id)) = journal {
        j.finish_experiment(id, unix_now())?;
    }
    Ok(summary)
}

/// The notes a summary of a run with `estimator` carries.
pub fn notes(registry: &Registry, estimator: &str) -> Vec<String> {
    registry.estimator(estimator).and_then(|e| e.note()).map(|n| vec![format!("{estimator}: {n}")]).unwrap_or_default()
}

/// The summary of a journaled experiment, computed from its trials alone.
pub fn summarize(journal: &Journal, experiment: i64) -> Result<RunSummary, ExperimentError> {
    Ok(summarize_trials(&journal.trials(experiment)?, experiment))
}

/// The summary of experiment `experiment` from its journaled trials.
pub fn summarize_trials(trials: &[TrialRecord], experiment: i64) -> RunSummary {
    let mut best: Option<BestTrial> = None;
    for t in trials {
        if let Ok(m) = &t.outcome {
            // A NaN marked ok by a build before non-finite objectives failed
            // their trial is never the best.
            if m.valid.is_finite() && best.as_ref().is_none_or(|b| m.valid > b.valid) {
                best = Some(BestTrial { arch: t.arch.clone(), valid: m.valid, test: m.test });
            }
        }
    }
    RunSummary {
        best,
        pareto: None,
        trials: trials.len() as u64,
        seconds: trials.last().map_or(0.0, |t| t.elapsed),
        failed: trials.iter().filter(|t| t.outcome.is_err()).count() as u64,
        experiment: Some(experiment),
        notes: Vec::new(),
    }
}
