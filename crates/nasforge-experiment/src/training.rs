//! Real training from TOML: the `[dataset]` and `[trainer]` sections, a
//! `nasforge train` file (one architecture), and the `dfdx-train`
//! estimator that lets any strategy search with real training.

use std::path::{Path, PathBuf};

use nasforge_core::{EvalError, SearchSpace, TrainBudget};
use nasforge_datasets::{DataError, ImageSplits, SplitSpec};
use nasforge_space_nb201::{Cell, Nb201Space};
use nasforge_trainer_dfdx::gnn::GnnShape;
use nasforge_trainer_dfdx::{ImageTrainConfig, Nb201Shape, OptimizerConfig, train_nb201};
use serde::{Deserialize, Serialize};
use serde::de::IgnoredAny;

use crate::config::{ConfigError, DATA_ENV, Source, choice_error, read_config, resolve};

/// Datasets a `[dataset]` section can name.
pub const DATASETS: &[&str] = &["fashion-mnist", "idx", "digits", "graph-npz", "text"];
/// Optimisers a `[trainer]` section can name.
pub const OPTIMIZERS: &[&str] = &["sgd", "adam"];

/// Which data, checked.
#[derive(Clone, Debug, PartialEq)]
pub enum DatasetKind {
    /// An IDX folder (Fashion-MNIST, MNIST).
    Idx {
        /// The folder with the four `.gz` files.
        dir: PathBuf,
    },
    /// smartcore's embedded 8×8 digits.
    Digits,
    /// A node-classification graph as CSR arrays in an `.npz` (Cora,
    /// Citeseer), split Planetoid-style.
    GraphNpz {
        /// The `.npz` file.
        path: PathBuf,
    },
    /// A UTF-8 text for character language models (tiny-Shakespeare),
    /// split 90/5/5 into train, validation and test.
    Text {
        /// The text file.
        path: PathBuf,
    },
}

/// What a space's networks train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Images (`fashion-mnist`, `idx`, `digits`).
    Images,
    /// One graph (`graph-npz`).
    Graph,
    /// Characters (`text`).
    Text,
}

impl DataKind {
    /// As error messages say it.
    pub fn describe(self) -> &'static str {
        match self {
            DataKind::Images => "an image dataset (fashion-mnist, idx, digits)",
            DataKind::Graph => "a graph dataset (graph-npz)",
            DataKind::Text => "a text dataset (text)",
        }
    }
}

/// The `[dataset]` section, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetConfig {
    /// The data.
    pub kind: DatasetKind,
    /// Fraction of the training images held out for validation.
    pub valid_fraction: f64,
    /// Keep at most this many training images.
    pub max_train: Option<usize>,
}

impl DatasetConfig {
    /// Loads a graph dataset; the split's seed is the experiment's.
    pub fn load_graph(&self, seed: u64) -> Result<nasforge_datasets::Graph, DataError> {
        match &self.kind {
            DatasetKind::GraphNpz { path } => {
                nasforge_datasets::graph_npz(path, nasforge_datasets::GraphSplit { seed, ..Default::default() })
            }
            _ => Err(DataError { path: PathBuf::new(), reason: "not a graph dataset".into() }),
        }
    }

    /// Whether this is images, a graph or text.
    pub fn data_kind(&self) -> DataKind {
        match self.kind {
            DatasetKind::GraphNpz { .. } => DataKind::Graph,
            DatasetKind::Text { .. } => DataKind::Text,
            DatasetKind::Idx { .. } | DatasetKind::Digits => DataKind::Images,
        }
    }

    /// Loads a text dataset.
    pub fn load_text(&self) -> Result<nasforge_datasets::CharText, DataError> {
        match &self.kind {
            DatasetKind::Text { path } => nasforge_datasets::char_text(path),
            _ => Err(DataError { path: PathBuf::new(), reason: "not a text dataset".into() }),
        }
    }

    /// Loads the splits; the split's seed is the experiment's.
    pub fn load(&self, seed: u64) -> Result<ImageSplits, DataError> {
        match &self.kind {
            DatasetKind::GraphNpz { path } | DatasetKind::Text { path } => {
                Err(DataError { path: path.clone(), reason: "not an image dataset".into() })
            }
            DatasetKind::Idx { dir } => nasforge_datasets::idx_images(
                dir,
                SplitSpec { valid_fraction: self.valid_fraction, seed, max_train: self.max_train },
            ),
            DatasetKind::Digits => {
                let mut d = nasforge_datasets::digits(seed);
                if let Some(m) = self.max_train {
                    let n = m.min(d.train.len());
                    let len = d.train.image_len();
                    d.train.pixels.truncate(n * len);
                    d.train.labels.truncate(n);
                }
                Ok(d)
            }
        }
    }
}

/// The `[trainer]` section, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerConfig {
    /// Network and optimisation settings (image networks; the optimiser is
    /// shared with graph networks).
    pub image: ImageTrainConfig,
    /// Graph-network settings (`dim`, `dropout`, `post-layers`).
    pub gnn: GnnShape,
    /// Tokens per window of language models (`seq-len`).
    pub seq_len: usize,
    /// How long each network trains.
    pub budget: TrainBudget,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DatasetRaw {
    name: toml::Spanned<String>,
    path: Option<toml::Spanned<String>>,
    valid_fraction: Option<f64>,
    max_train: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TrainerRaw {
    channels: Option<usize>,
    cells: Option<usize>,
    width: Option<f64>,
    batch_size: Option<usize>,
    epochs: Option<u32>,
    steps: Option<u64>,
    seconds: Option<f64>,
    optimizer: Option<toml::Spanned<String>>,
    lr: Option<f64>,
    momentum: Option<f64>,
    nesterov: Option<bool>,
    weight_decay: Option<f64>,
    cosine: Option<bool>,
    ece_bins: Option<usize>,
    dim: Option<usize>,
    dropout: Option<f32>,
    post_layers: Option<usize>,
    seq_len: Option<usize>,
}

#[derive(Deserialize)]
struct DatasetOnly {
    dataset: DatasetRaw,
}

#[derive(Deserialize)]
struct TrainerOnly {
    trainer: TrainerRaw,
}

/// Parses and checks `[dataset]`.
pub(crate) fn parse_dataset(src: &Source<'_>, base: &Path, data_root: Option<&Path>) -> Result<DatasetConfig, ConfigError> {
    let raw = src.parse::<DatasetOnly>()?.dataset;
    let error = |key: &str, msg: String| src.error_at(src.find_key("dataset", key), Some(format!("dataset.{key}")), msg);
    let dir = |default: Option<&str>| -> Result<PathBuf, ConfigError> {
        let path = match (&raw.path, default) {
            (Some(p), _) => resolve(p.get_ref(), data_root.unwrap_or(base)),
            (None, Some(d)) => PathBuf::from(d),
            (None, None) => return Err(error("path", "this dataset needs a `path` to its folder".into())),
        };
        if !path.is_dir() {
            let hint = if default.is_some() { " (apt-get install dataset-fashion-mnist)" } else { "" };
            return Err(src.error_at(
                raw.path.as_ref().map(|p| p.span().start).or_else(|| src.find_key("dataset", "name")),
                Some("dataset.path".into()),
                format!("no such data folder: {}{hint}", path.display()),
            ));
        }
        Ok(path)
    };
    let kind = match raw.name.get_ref().as_str() {
        "fashion-mnist" => DatasetKind::Idx { dir: dir(Some(nasforge_datasets::FASHION_MNIST_DIR))? },
        "idx" => DatasetKind::Idx { dir: dir(None)? },
        "digits" => DatasetKind::Digits,
        name @ ("graph-npz" | "text") => {
            let Some(p) = &raw.path else { return Err(error("path", format!("`{name}` needs the `path` of its file"))) };
            let path = resolve(p.get_ref(), data_root.unwrap_or(base));
            if !path.is_file() {
                return Err(src.error_at(Some(p.span().start), Some("dataset.path".into()), format!("no such {name} file: {}", path.display())));
            }
            let path = std::path::absolute(&path).unwrap_or(path);
            if name == "text" { DatasetKind::Text { path } } else { DatasetKind::GraphNpz { path } }
        }
        _ => return Err(choice_error(src, "dataset", &raw.name, DATASETS)),
    };
    let valid_fraction = raw.valid_fraction.unwrap_or(0.1);
    if !(0.0..1.0).contains(&valid_fraction) {
        return Err(error("valid-fraction", format!("must be in [0, 1), got {valid_fraction}")));
    }
    if raw.max_train == Some(0) {
        return Err(error("max-train", "must be at least 1".into()));
    }
    let kind = match kind {
        DatasetKind::Idx { dir } => DatasetKind::Idx { dir: std::path::absolute(&dir).unwrap_or(dir) },
        other => other,
    };
    Ok(DatasetConfig { kind, valid_fraction, max_train: raw.max_train })
}

/// Parses and checks `[trainer]`.
pub(crate) fn parse_trainer(src: &Source<'_>) -> Result<TrainerConfig, ConfigError> {
    let raw = src.parse::<TrainerOnly>()?.trainer;
    let error = |key: &str, msg: String| src.error_at(src.find_key("trainer", key), Some(format!("trainer.{key}")), msg);
    let positive = |key: &str, v: Option<usize>, default: usize| match v {
        Some(0) => Err(error(key, "must be at least 1".into())),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let defaults = ImageTrainConfig::default();
    let lr = raw.lr.unwrap_or(defaults.optimizer.lr());
    if !(lr > 0.0 && lr.is_finite()) {
        return Err(error("lr", format!("must be a positive number, got {lr}")));
    }
    let weight_decay = raw.weight_decay.unwrap_or(5e-4);
    if weight_decay.is_nan() || weight_decay < 0.0 {
        return Err(error("weight-decay", format!("must be at least 0, got {weight_decay}")));
    }
    let optimizer = match raw.optimizer.as_ref().map(|o| o.get_ref().as_str()).unwrap_or("sgd") {
        "sgd" => OptimizerConfig::Sgd {
            lr,
            momentum: raw.momentum.unwrap_or(0.9),
            nesterov: raw.nesterov.unwrap_or(true),
            weight_decay,
        },
        "adam" => OptimizerConfig::Adam { lr, weight_decay },
        _ => return Err(choice_error(src, "trainer", raw.optimizer.as_ref().expect("named"), OPTIMIZERS))
            .map_err(|mut e| {
                e.key = Some("trainer.optimizer".into());
                e.message = e.message.replace("unknown trainer", "unknown optimizer");
                e
            }),
    };
    if raw.epochs.is_none() && raw.steps.is_none() && raw.seconds.is_none() {
        return Err(error("epochs", "the trainer needs `epochs`, `steps` or `seconds`".into()));
    }
    if raw.epochs == Some(0) || raw.steps == Some(0) || raw.seconds.is_some_and(|s| s.is_nan() || s <= 0.0) {
        let key = if raw.epochs == Some(0) { "epochs" } else if raw.steps == Some(0) { "steps" } else { "seconds" };
        return Err(error(key, "must be positive".into()));
    }
    let width = raw.width.unwrap_or(1.0);
    if !(width > 0.0 && width <= 8.0) {
        return Err(error("width", format!("must lie in (0, 8], got {width}")));
    }
    let dropout = raw.dropout.unwrap_or(0.5);
    if !(0.0..1.0).contains(&dropout) {
        return Err(error("dropout", format!("must be in [0, 1), got {dropout}")));
    }
    Ok(TrainerConfig {
        gnn: GnnShape { dim: positive("dim", raw.dim, 64)?, dropout, post_layers: raw.post_layers.unwrap_or(1) },
        seq_len: positive("seq-len", raw.seq_len, 64)?,
        image: ImageTrainConfig {
            shape: Nb201Shape { channels: positive("channels", raw.channels, 16)?, cells: positive("cells", raw.cells, 1)? },
            width,
            batch_size: positive("batch-size", raw.batch_size, defaults.batch_size)?,
            optimizer,
            cosine: raw.cosine.unwrap_or(true),
            ece_bins: positive("ece-bins", raw.ece_bins, defaults.ece_bins)?,
        },
        budget: TrainBudget { epochs: raw.epochs, steps: raw.steps, seconds: raw.seconds },
    })
}

/// Writes `[dataset]` and `[trainer]` back as TOML tables (absolute paths).
pub(crate) fn training_tables(dataset: &DatasetConfig, trainer: &TrainerConfig) -> (toml::Table, toml::Table) {
    use toml::Value;
    let mut d = toml::Table::new();
    match &dataset.kind {
        DatasetKind::Idx { dir } => {
            d.insert("name".into(), Value::String("idx".into()));
            d.insert("path".into(), Value::String(dir.display().to_string()));
        }
        DatasetKind::Digits => {
            d.insert("name".into(), Value::String("digits".into()));
        }
        DatasetKind::GraphNpz { path } => {
            d.insert("name".into(), Value::String("graph-npz".into()));
            d.insert("path".into(), Value::String(path.display().to_string()));
        }
        DatasetKind::Text { path } => {
            d.insert("name".into(), Value::String("text".into()));
            d.insert("path".into(), Value::String(path.display().to_string()));
        }
    }
    d.insert("valid-fraction".into(), Value::Float(dataset.valid_fraction));
    if let Some(m) = dataset.max_train {
        d.insert("max-train".into(), Value::Integer(m as i64));
    }
    let mut t = toml::Table::new();
    let i = &trainer.image;
    t.insert("channels".into(), Value::Integer(i.shape.channels as i64));
    t.insert("cells".into(), Value::Integer(i.shape.cells as i64));
    t.insert("width".into(), Value::Float(i.width));
    t.insert("batch-size".into(), Value::Integer(i.batch_size as i64));
    if let Some(e) = trainer.budget.epochs {
        t.insert("epochs".into(), Value::Integer(i64::from(e)));
    }
    if let Some(s) = trainer.budget.steps {
        t.insert("steps".into(), Value::Integer(s as i64));
    }
    if let Some(s) = trainer.budget.seconds {
        t.insert("seconds".into(), Value::Float(s));
    }
    match &i.optimizer {
        OptimizerConfig::Sgd { lr, momentum, nesterov, weight_decay } => {
            t.insert("optimizer".into(), Value::String("sgd".into()));
            t.insert("lr".into(), Value::Float(*lr));
            t.insert("momentum".into(), Value::Float(*momentum));
            t.insert("nesterov".into(), Value::Boolean(*nesterov));
            t.insert("weight-decay".into(), Value::Float(*weight_decay));
        }
        OptimizerConfig::Adam { lr, weight_decay } => {
            t.insert("optimizer".into(), Value::String("adam".into()));
            t.insert("lr".into(), Value::Float(*lr));
            t.insert("weight-decay".into(), Value::Float(*weight_decay));
        }
    }
    t.insert("cosine".into(), Value::Boolean(i.cosine));
    t.insert("dim".into(), Value::Integer(trainer.gnn.dim as i64));
    t.insert("dropout".into(), Value::Float(f64::from(trainer.gnn.dropout)));
    t.insert("post-layers".into(), Value::Integer(trainer.gnn.post_layers as i64));
    t.insert("ece-bins".into(), Value::Integer(i.ece_bins as i64));
    t.insert("seq-len".into(), Value::Integer(trainer.seq_len as i64));
    (d, t)
}

/// A checked `nasforge train` file: one architecture, its data, its
/// training.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainJob {
    /// Seed of the split, the initialisation and the batch order.
    pub seed: u64,
    /// The architecture (a NAS-Bench-201 cell).
    pub arch: Cell,
    /// The data.
    pub dataset: DatasetConfig,
    /// The training.
    pub trainer: TrainerConfig,
    /// Where to save the trained weights (safetensors), if anywhere.
    pub checkpoint: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)] // sections are parsed in their own passes
struct TrainTop {
    seed: Option<u64>,
    checkpoint: Option<String>,
    data_root: Option<String>,
    space: IgnoredAny,
    dataset: IgnoredAny,
    trainer: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainSpace {
    name: toml::Spanned<String>,
    arch: toml::Spanned<String>,
}

#[derive(Deserialize)]
struct SpaceOnly {
    space: TrainSpace,
}

/// Loads and checks a `nasforge train` file.
pub fn load_train_job(path: impl AsRef<Path>) -> Result<TrainJob, ConfigError> {
    let (file, text, base) = read_config(path.as_ref(), "training")?;
    let base = base.as_path();
    let src = Source { file: &file, text: &text };
    let top: TrainTop = src.parse()?;
    let space = src.parse::<SpaceOnly>()?.space;
    if space.name.get_ref() != "nas-bench-201" {
        return Err(choice_error(&src, "space", &space.name, &["nas-bench-201"]));
    }
    let arch = Nb201Space
        .parse(space.arch.get_ref())
        .map_err(|e| src.error_at(Some(space.arch.span().start), Some("space.arch".into()), e.reason))?;
    let data_root = data_root(base, top.data_root.as_deref());
    Ok(TrainJob {
        seed: top.seed.unwrap_or(0),
        arch,
        dataset: parse_dataset(&src, base, data_root.as_deref())?,
        trainer: parse_trainer(&src)?,
        checkpoint: top.checkpoint.map(|c| base.join(c)),
    })
}

/// The data root: `NASFORGE_DATA`, else the file's `data-root`.
pub(crate) fn data_root(base: &Path, from_file: Option<&str>) -> Option<PathBuf> {
    match (std::env::var_os(DATA_ENV), from_file) {
        (Some(env), _) if !env.is_empty() => Some(PathBuf::from(env)),
        (_, Some(root)) => Some(base.join(root)),
        _ => None,
    }
}

/// What `nasforge train --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainSummary {
    /// Validation accuracy (fraction).
    pub valid: f64,
    /// Test accuracy (fraction).
    pub test: f64,
    /// Test expected calibration error.
    pub ece: f64,
    /// Trainable parameters.
    pub params: usize,
    /// Training and evaluation seconds.
    pub seconds: f64,
    /// Mean training loss per epoch.
    #[serde(skip)]
    pub loss_curve: Vec<f64>,
}

/// Why a training job failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Training failed (diverged, ...).
    #[error("training failed: {0}")]
    Train(#[from] EvalError),
    /// The checkpoint could not be written.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// Runs a training job; `on_step(step, planned, loss)` reports progress.
pub fn train(job: &TrainJob, on_step: &mut dyn FnMut(u64, Option<u64>, f64)) -> Result<TrainSummary, TrainError> {
    let start = std::time::Instant::now();
    let data = job.dataset.load(job.seed)?;
    let trained = train_nb201(&job.arch, &data, &job.trainer.image, &job.trainer.budget, job.seed, on_step)?;
    if let Some(path) = &job.checkpoint {
        trained.net.store.save(path).map_err(TrainError::Checkpoint)?;
    }
    Ok(TrainSummary {
        valid: trained.valid.accuracy,
        test: trained.test.accuracy,
        ece: trained.test.ece,
        params: trained.net.param_count(),
        seconds: start.elapsed().as_secs_f64(),
        loss_curve: trained.report.loss_curve,
    })
}
