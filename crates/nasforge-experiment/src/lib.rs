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
use nasforge_plugin_host::{Instance, Plugin, PluginError, PluginEstimator, PluginStrategy, plugin_space};
use nasforge_journal::{ExperimentRecord, Journal, JournalError, TrialRecord, unix_now};
use nasforge_space_autognn::AutoGnnSpace;
use nasforge_space_darts::DartsSpace;
use nasforge_space_hytra::HyTraSpace;
use nasforge_space_mobilenet::{MobileNetSpace, NbMacroSpace};
use nasforge_space_nb201::Nb201Space;
use nasforge_space_nbgraph::NbGraphSpace;
use nasforge_space_transformer::TransformerSpace;
use nasforge_strategies::{LocalSearch, Nsga2, QMutation, RandomSearch, RegularizedEvolution, Reinforce};
use nasforge_trainer_dfdx::LstmPolicy;
use nasforge_tabular::{
    HwTable, Nb201Estimator, Nb201HwEstimator, Nb201Table, NbGraphEstimator, NbGraphTable, NbMacroEstimator, NbMacroTable, TableError,
};
use sha2::{Digest, Sha256};

pub use config::{
    Budget, CONTROLLERS, ConfigError, Controller, DATA_ENV, ESTIMATORS, EstimatorConfig, ExperimentConfig, SPACES, STRATEGIES, SpaceConfig, StrategyConfig,
    load, load_plugin_manifests, parse_str,
};
pub use nasforge_plugin_host::{Kind as PluginKind, Manifest as PluginManifest, PluginInfo};
pub use runner::{BestTrial, ParetoPoint, Progress, RunError, RunSummary, Runner};
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
    /// A plugin could not be loaded or instantiated.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A configuration built by hand (not by [`load`] or [`parse_str`])
    /// combines components that cannot work together.
    #[error("{0}")]
    Unsupported(String),
}

/// The plugins an experiment declares, loaded and checked once per run.
struct Plugins(Vec<Plugin>);

impl Plugins {
    fn load(config: &ExperimentConfig) -> Result<Self, PluginError> {
        config.plugins.iter().map(nasforge_plugin_host::load).collect::<Result<_, _>>().map(Plugins)
    }

    /// An instance of plugin `name`, seeded for the named component.
    fn instantiate(&self, name: &str, config: &ExperimentConfig, component: &str) -> Result<Instance, ExperimentError> {
        let plugin = self.0.iter().find(|p| p.info.name == name).ok_or_else(|| ExperimentError::Unsupported(format!("no [[plugin]] entry declares `{name}`")))?;
        Ok(plugin.instantiate(derive_seed(config.seed, component), config.space.name())?)
    }
}

/// Loads each plugin an experiment file declares, with what its header
/// says or why it cannot be loaded (`nasforge plugins list`).
pub fn inspect_plugins(manifests: &[PluginManifest]) -> Vec<(PluginManifest, Result<PluginInfo, PluginError>)> {
    manifests.iter().map(|m| (m.clone(), nasforge_plugin_host::load(m).map(|p| p.info))).collect()
}

/// Builds the built-in strategy a config names, seeded from the root seed;
/// `None` for a plugin (which the run loads).
pub fn build_strategy<S: SearchSpace>(config: &StrategyConfig, root_seed: u64) -> Option<Box<dyn Strategy<S>>> {
    let seed = derive_seed(root_seed, "strategy");
    match config {
        StrategyConfig::RandomSearch => Some(Box::new(RandomSearch::new(seed))),
        StrategyConfig::RegularizedEvolution(c) => Some(Box::new(RegularizedEvolution::<S::Arch>::new(c.clone(), seed))),
        StrategyConfig::LocalSearch { first_improvement } => Some(Box::new(LocalSearch::<S::Arch>::new(*first_improvement, seed))),
        StrategyConfig::Nsga2(c, _) => Some(Box::new(Nsga2::<S::Arch>::new(c.clone(), seed))),
        StrategyConfig::Reinforce(c, Controller::Factorised) => Some(Box::new(Reinforce::<S::Arch>::new(c.clone(), seed))),
        StrategyConfig::Reinforce(c, Controller::Lstm(l)) => {
            Some(Box::new(Reinforce::<S::Arch>::with_policy(c.clone(), seed, Box::new(LstmPolicy::new(l.clone())))))
        }
        StrategyConfig::QMutation(c) => Some(Box::new(QMutation::<S::Arch>::new(c.clone(), seed))),
        StrategyConfig::Plugin(_) => None,
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
    let plugins = Plugins::load(config)?;
    let ctx = Context { config, plugins: &plugins, journal, start, progress };
    if let SpaceConfig::Plugin(name) = &config.space {
        let space = Arc::new(plugin_space(plugins.instantiate(name, config, "space")?));
        let EstimatorConfig::Plugin(estimator) = &config.estimator else {
            return Err(ExperimentError::Unsupported(format!("a plugin space (`{name}`) needs an estimator plugin, not `{}`", config.estimator.name())));
        };
        let instance = plugins.instantiate(estimator, config, "estimator")?;
        return drive(&*space, &mut PluginEstimator::for_space(instance, space.clone()), ctx);
    }
    match (&config.estimator, &config.space) {
        (EstimatorConfig::Plugin(name), SpaceConfig::Nb201) => plugin_estimated(Nb201Space, name, &plugins, ctx),
        (EstimatorConfig::Plugin(name), SpaceConfig::NbMacro) => plugin_estimated(NbMacroSpace, name, &plugins, ctx),
        (EstimatorConfig::Plugin(name), SpaceConfig::Darts) => plugin_estimated(DartsSpace, name, &plugins, ctx),
        (EstimatorConfig::Plugin(name), SpaceConfig::Transformer) => plugin_estimated(TransformerSpace::default(), name, &plugins, ctx),
        (EstimatorConfig::Plugin(name), SpaceConfig::AutoGnn) => plugin_estimated(AutoGnnSpace::default(), name, &plugins, ctx),
        (EstimatorConfig::Plugin(name), SpaceConfig::HyTra) => plugin_estimated(HyTraSpace::default(), name, &plugins, ctx),
        (EstimatorConfig::Plugin(name), SpaceConfig::MobileNet) => plugin_estimated(MobileNetSpace::default(), name, &plugins, ctx),
        (EstimatorConfig::Train { dataset, trainer }, SpaceConfig::MobileNet) => {
            let data = Arc::new(dataset.load(derive_seed(config.seed, "data-split"))?);
            let trainer_impl = nasforge_trainer_dfdx::MobileNetTrainer::new(data, trainer.image.clone());
            let mut estimator = TrainingEstimator::new(trainer_impl, trainer.budget.clone());
            drive(&mobilenet_space(trainer.image.width), &mut estimator, ctx)
        }
        (EstimatorConfig::Train { dataset, trainer }, SpaceConfig::Darts) => {
            let data = Arc::new(dataset.load(derive_seed(config.seed, "data-split"))?);
            let trainer_impl = nasforge_trainer_dfdx::DartsTrainer::new(data, trainer.image.clone());
            let mut estimator = TrainingEstimator::new(trainer_impl, trainer.budget.clone());
            drive(&DartsSpace, &mut estimator, ctx)
        }
        (EstimatorConfig::NbMacroTable { path }, _) => {
            let table = Arc::new(NbMacroTable::load(path)?);
            drive(&NbMacroSpace, &mut NbMacroEstimator::new(table), ctx)
        }
        (EstimatorConfig::Plugin(name), SpaceConfig::NbGraph) => plugin_estimated(NbGraphSpace::standard(), name, &plugins, ctx),
        (EstimatorConfig::Plugin(name), SpaceConfig::NbGraphProteins) => plugin_estimated(NbGraphSpace::proteins(), name, &plugins, ctx),
        (EstimatorConfig::Plugin(_), SpaceConfig::Plugin(_)) => unreachable!("plugin spaces returned above"),
        (EstimatorConfig::Nb201Table { path, hardware: None }, _) => {
            let table = Arc::new(Nb201Table::load(path)?);
            drive(&Nb201Space, &mut Nb201Estimator::new(table), ctx)
        }
        (EstimatorConfig::Nb201Table { path, hardware: Some(hw) }, _) => {
            let table = Arc::new(Nb201Table::load(path)?);
            let hw = Arc::new(HwTable::load(hw)?);
            drive(&Nb201Space, &mut Nb201HwEstimator::new(table, hw), ctx)
        }
        (EstimatorConfig::NbGraphTable { path }, space) => {
            let space = if *space == SpaceConfig::NbGraph { NbGraphSpace::standard() } else { NbGraphSpace::proteins() };
            let table = Arc::new(NbGraphTable::load(path, space.clone())?);
            drive(&space, &mut NbGraphEstimator::new(table), ctx)
        }
        (EstimatorConfig::Train { dataset, trainer }, SpaceConfig::Transformer) => {
            let text = Arc::new(dataset.load_text()?);
            let seq = trainer.seq_len;
            // The space counts parameters for this vocabulary and window.
            let space = TransformerSpace { vocab: text.vocab.len() as u64, positions: seq as u64, segments: 0, seq_len: seq as u64 };
            let lm = nasforge_trainer_dfdx::transformer::LmTrainConfig {
                seq,
                batch_size: trainer.image.batch_size,
                optimizer: trainer.image.optimizer.clone(),
                ..Default::default()
            };
            let trainer_impl = nasforge_trainer_dfdx::transformer::TransformerTrainer::new(text, lm);
            let mut estimator = TrainingEstimator::new(trainer_impl, trainer.budget.clone());
            drive(&space, &mut estimator, ctx)
        }
        (EstimatorConfig::Train { dataset, trainer }, SpaceConfig::AutoGnn) => {
            let graph = Arc::new(dataset.load_graph(derive_seed(config.seed, "data-split"))?);
            // The space counts parameters for this graph's widths.
            let space = AutoGnnSpace { features: graph.feature_dim as u64, classes: graph.classes as u64, ..AutoGnnSpace::default() };
            let trainer_impl = nasforge_trainer_dfdx::autognn::AutoGnnTrainer::new(graph, gnn_config(trainer));
            let mut estimator = TrainingEstimator::new(trainer_impl, trainer.budget.clone());
            drive(&space, &mut estimator, ctx)
        }
        (EstimatorConfig::Train { dataset, trainer }, SpaceConfig::NbGraph) => {
            let graph = Arc::new(dataset.load_graph(derive_seed(config.seed, "data-split"))?);
            let gnn = gnn_config(trainer);
            let trainer_impl = nasforge_trainer_dfdx::gnn::NbGraphTrainer::new(graph, gnn);
            let mut estimator = TrainingEstimator::new(trainer_impl, trainer.budget.clone());
            drive(&NbGraphSpace::standard(), &mut estimator, ctx)
        }
        (EstimatorConfig::Train { dataset, trainer }, _) => {
            // The split is the experiment's, the same for every candidate.
            let data = Arc::new(dataset.load(derive_seed(config.seed, "data-split"))?);
            let trainer_impl = nasforge_trainer_dfdx::Nb201Trainer::new(data, trainer.image.clone());
            let mut estimator = TrainingEstimator::new(trainer_impl, trainer.budget.clone());
            drive(&Nb201Space, &mut estimator, ctx)
        }
    }
}

/// The full-batch GNN settings of a `[trainer]` section (100 epochs when
/// it names none).
fn gnn_config(trainer: &TrainerConfig) -> nasforge_trainer_dfdx::gnn::GnnTrainConfig {
    nasforge_trainer_dfdx::gnn::GnnTrainConfig {
        shape: trainer.gnn,
        epochs: trainer.budget.epochs.unwrap_or(100) as usize,
        optimizer: trainer.image.optimizer.clone(),
    }
}

/// Runs a built-in space whose candidates an estimator plugin evaluates.
fn plugin_estimated<S: SearchSpace + 'static>(space: S, estimator: &str, plugins: &Plugins, ctx: Context<'_, '_>) -> Result<RunSummary, ExperimentError> {
    let space = Arc::new(space);
    let instance = plugins.instantiate(estimator, ctx.config, "estimator")?;
    drive(&*space, &mut PluginEstimator::for_space(instance, space.clone()), ctx)
}

/// The MobileNet space at the width the candidates are trained at, so that
/// its params and MACs describe the trained networks (at 224×224).
fn mobilenet_space(width: f64) -> MobileNetSpace {
    MobileNetSpace { width, ..MobileNetSpace::default() }
}

/// What every run needs besides its space and estimator.
struct Context<'a, 'p> {
    config: &'a ExperimentConfig,
    plugins: &'a Plugins,
    journal: Option<&'a mut Journal>,
    start: Start,
    progress: Option<&'p mut dyn FnMut(Progress)>,
}

fn drive<S: SearchSpace>(space: &S, estimator: &mut dyn Estimator<S::Arch>, ctx: Context<'_, '_>) -> Result<RunSummary, ExperimentError> {
    let Context { config, plugins, journal, start, progress } = ctx;
    let mut strategy = match build_strategy::<S>(&config.strategy, config.seed) {
        Some(s) => s,
        None => Box::new(PluginStrategy::new(plugins.instantiate(config.strategy.name(), config, "strategy")?)),
    };
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
    let mut runner = Runner::new(space, estimator, config.budget, config.seed).with_replay(replay);
    if let StrategyConfig::Nsga2(c, names) = &config.strategy {
        runner = runner.with_objectives(names.iter().cloned().zip(c.params().objectives.iter().cloned()).collect());
    }
    if let Some((j, id)) = journal.as_mut() {
        runner = runner.with_journal(j, *id, experiment_hash(config));
    }
    if let Some(p) = progress {
        runner = runner.with_progress(p);
    }
    strategy.drive(space, &mut runner);
    let summary = runner.finish_with(strategy.failure())?;
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
        pareto: None,
        trials: trials.len() as u64,
        seconds: trials.last().map_or(0.0, |t| t.elapsed),
        failed: trials.iter().filter(|t| t.outcome.is_err()).count() as u64,
        experiment: Some(experiment),
    })
}
