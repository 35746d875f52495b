//! Experiments: a TOML file checked into an [`ExperimentConfig`], the
//! components it names built and wired, and the search run to its budget
//! with every trial in the journal.
//!
//! ```no_run
//! let config = nasforge_experiment::load("examples/nb201-regularized-evolution.toml")?;
//! let summary = nasforge_experiment::run(&config, None)?;
//! println!("{:?}", summary.best);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod runner;
mod training;

use std::path::Path;
use std::sync::Arc;

use nasforge_core::{Estimator, SearchSpace, Strategy, TrainingEstimator, derive_seed};
use nasforge_journal::{ExperimentRecord, Journal, JournalError, TrialRecord, unix_now};
use nasforge_space_nb201::Nb201Space;
use nasforge_space_nbgraph::NbGraphSpace;
use nasforge_strategies::{RandomSearch, RegularizedEvolution};
use nasforge_tabular::{Nb201Estimator, Nb201Table, NbGraphEstimator, NbGraphTable, TableError};
use sha2::{Digest, Sha256};

pub use config::{
    Budget, ConfigError, DATA_ENV, EstimatorConfig, ExperimentConfig, SPACES, STRATEGIES, SpaceConfig, StrategyConfig,
    load, parse_str,
};
pub use runner::{BestTrial, Progress, RunError, RunSummary, Runner};
pub use training::{
    DATASETS, DatasetConfig, DatasetKind, OPTIMIZERS, TrainError, TrainJob, TrainSummary, TrainerConfig, load_train_job, train,
};

/// Anything that can stop an experiment.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The experiment file (or a stored config) is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A benchmark table could not be loaded.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The run stopped on an error.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] nasforge_datasets::DataError),
    /// The journal holds no such experiment.
    #[error("{0}")]
    NoExperiment(String),
}

/// Builds the strategy a config names, seeded from the root seed.
pub fn build_strategy<S: SearchSpace>(config: &StrategyConfig, root_seed: u64) -> Box<dyn Strategy<S>> {
    let seed = derive_seed(root_seed, "strategy");
    match config {
        StrategyConfig::RandomSearch => Box::new(RandomSearch::new(seed)),
        StrategyConfig::RegularizedEvolution(c) => Box::new(RegularizedEvolution::<S::Arch>::new(c.clone(), seed)),
    }
}

/// A hash of the resolved configuration, the seed included.
pub fn experiment_hash(config: &ExperimentConfig) -> String {
    let digest = Sha256::digest(config.to_toml().as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Runs an experiment from the start, creating its record in the journal
/// when the config names one (once the estimator's data has loaded, so a
/// broken table leaves no empty experiment behind).
pub fn run(config: &ExperimentConfig, progress: Option<&mut dyn FnMut(Progress)>) -> Result<RunSummary, ExperimentError> {
    let mut journal = config.journal.as_deref().map(Journal::open).transpose()?;
    execute(config, journal.as_mut(), Start::Fresh, progress)
}

/// Whether a run starts afresh or continues a journaled experiment.
enum Start {
    Fresh,
    Resume { experiment: i64, trials: Vec<TrialRecord> },
}

fn new_experiment(journal: &mut Journal, config: &ExperimentConfig) -> Result<i64, JournalError> {
    journal.create_experiment(&ExperimentRecord {
        hash: experiment_hash(config),
        config: config.to_toml(),
        ..ExperimentRecord::composed(config.space.name(), config.strategy.name(), config.estimator.name(), config.seed)
    })
}

/// Continues an experiment of `journal_path` to its budget: the latest
/// unfinished one, or `experiment` when given. Finished trials are replayed
/// from the journal, never evaluated again.
pub fn resume(
    journal_path: &Path,
    experiment: Option<i64>,
    progress: Option<&mut dyn FnMut(Progress)>,
) -> Result<RunSummary, ExperimentError> {
    let mut journal = Journal::open_existing(journal_path)?;
    let experiments = journal.experiments()?;
    let record = match experiment {
        Some(id) => experiments.iter().find(|e| e.id == id),
        None => experiments.iter().rev().find(|e| e.finished_at.is_none()).or(experiments.last()),
    }
    .ok_or_else(|| {
        ExperimentError::NoExperiment(format!(
            "{}: no experiment{} to resume",
            journal_path.display(),
            experiment.map(|id| format!(" with id {id}")).unwrap_or_default()
        ))
    })?
    .clone();
    let mut config = parse_str(&record.config, &format!("{}:experiment {}", journal_path.display(), record.id), Path::new("/"))?;
    config.journal = Some(journal_path.to_owned());
    let trials = journal.trials(record.id)?;
    if let Some((i, t)) = trials.iter().enumerate().find(|(i, t)| t.trial != *i as u64) {
        return Err(ExperimentError::NoExperiment(format!(
            "{}: experiment {} has a gap in its trials before trial {} (position {i}); it cannot be replayed",
            journal_path.display(),
            record.id,
            t.trial
        )));
    }
    execute(&config, Some(&mut journal), Start::Resume { experiment: record.id, trials }, progress)
}

fn execute(
    config: &ExperimentConfig,
    journal: Option<&mut Journal>,
    start: Start,
    progress: Option<&mut dyn FnMut(Progress)>,
) -> Result<RunSummary, ExperimentError> {
    match (&config.estimator, config.space) {
        (EstimatorConfig::Nb201Table { path }, _) => {
            let table = Arc::new(Nb201Table::load(path)?);
            drive(&Nb201Space, &mut Nb201Estimator::new(table), config, journal, start, progress)
        }
        (EstimatorConfig::NbGraphTable { path }, space) => {
            let space = if space == SpaceConfig::NbGraph { NbGraphSpace::standard() } else { NbGraphSpace::proteins() };
            let table = Arc::new(NbGraphTable::load(path, space.clone())?);
            drive(&space, &mut NbGraphEstimator::new(table), config, journal, start, progress)
        }
        (EstimatorConfig::Train { dataset, trainer }, SpaceConfig::NbGraph) => {
            let graph = Arc::new(dataset.load_graph(derive_seed(config.seed, "data-split"))?);
            let gnn = nasforge_trainer_dfdx::gnn::GnnTrainConfig {
                shape: trainer.gnn,
                epochs: trainer.budget.epochs.unwrap_or(100) as usize,
                optimizer: trainer.image.optimizer.clone(),
            };
            let trainer_impl = nasforge_trainer_dfdx::gnn::NbGraphTrainer::new(graph, gnn);
            let mut estimator = TrainingEstimator::new(trainer_impl, trainer.budget.clone());
            drive(&NbGraphSpace::standard(), &mut estimator, config, journal, start, progress)
        }
        (EstimatorConfig::Train { dataset, trainer }, _) => {
            // The split is the experiment's, the same for every candidate.
            let data = Arc::new(dataset.load(derive_seed(config.seed, "data-split"))?);
            let trainer_impl = nasforge_trainer_dfdx::Nb201Trainer::new(data, trainer.image.clone());
            let mut estimator = TrainingEstimator::new(trainer_impl, trainer.budget.clone());
            drive(&Nb201Space, &mut estimator, config, journal, start, progress)
        }
    }
}

fn drive<S: SearchSpace>(
    space: &S,
    estimator: &mut dyn Estimator<S::Arch>,
    config: &ExperimentConfig,
    journal: Option<&mut Journal>,
    start: Start,
    progress: Option<&mut dyn FnMut(Progress)>,
) -> Result<RunSummary, ExperimentError> {
    let (experiment, replay) = match start {
        Start::Resume { experiment, trials } => (Some(experiment), trials),
        Start::Fresh => (None, Vec::new()),
    };
    let mut journal = match journal {
        Some(j) => {
            let id = match experiment {
                Some(id) => id,
                None => new_experiment(j, config)?,
            };
            Some((j, id))
        }
        None => None,
    };
    let mut strategy = build_strategy::<S>(&config.strategy, config.seed);
    let mut runner = Runner::new(space, estimator, config.budget, config.seed).with_replay(replay);
    if let Some((j, id)) = journal.as_mut() {
        runner = runner.with_journal(j, *id, experiment_hash(config));
    }
    if let Some(p) = progress {
        runner = runner.with_progress(p);
    }
    strategy.drive(space, &mut runner);
    let summary = runner.finish()?;
    if let Some((j, id)) = journal {
        j.finish_experiment(id, unix_now())?;
    }
    Ok(summary)
}

/// The summary of a journaled experiment, computed from its trials alone.
pub fn summarize(journal: &Journal, experiment: i64) -> Result<RunSummary, ExperimentError> {
    let trials = journal.trials(experiment)?;
    let mut best: Option<BestTrial> = None;
    for t in &trials {
        if let Ok(m) = &t.outcome {
            if best.as_ref().is_none_or(|b| m.valid > b.valid) {
                best = Some(BestTrial { arch: t.arch.clone(), valid: m.valid, test: m.test });
            }
        }
    }
    Ok(RunSummary {
        best,
        trials: trials.len() as u64,
        seconds: trials.last().map_or(0.0, |t| t.elapsed),
        failed: trials.iter().filter(|t| t.outcome.is_err()).count() as u64,
        experiment: Some(experiment),
    })
}
