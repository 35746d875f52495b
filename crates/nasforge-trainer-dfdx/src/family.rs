//! The dfdx trainers' registry entries: the `dfdx-train` estimator, and one
//! trainer per kind of network (images, graphs, character language
//! models), each serving the spaces whose networks it builds. Also the
//! `nasforge train` file (one image network trained for real: an NB201
//! cell, a DARTS genotype or a MobileNet).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nasforge_core::{EvalError, ParamError, SearchSpace, TrainBudget, TrainingEstimator};
use nasforge_datasets::{CharText, DataError, Graph, ImageData, ImageSplits};
use nasforge_registry::{Built, ConfigError, Data, Document, EstimatorEntry, Kind, Params, PathContext, Registry, Serves, TrainerEntry, erase_estimator};
use nasforge_space_autognn::AutoGnnSpace;
use nasforge_space_darts::DartsSpace;
use nasforge_space_mobilenet::MobileNetSpace;
use nasforge_space_nb201::{Cell, Nb201Space};
use nasforge_space_nbgraph::NbGraphSpace;
use nasforge_space_transformer::TransformerSpace;
use serde::{Deserialize, Serialize};

use crate::gnn::{GnnShape, GnnTrainConfig};
use crate::recipe::{RecipeChoices, RecipeEstimator, RecipeSpace};
use crate::transformer::{LmTrainConfig, TransformerTrainer};
use crate::{DartsTrainer, ImageTrainConfig, MobileNetTrainer, Nb201Shape, Nb201Trainer, OptimizerConfig, train_nb201};

/// Optimisers a `[trainer]` section can name.
pub const OPTIMIZERS: &[&str] = &["sgd", "adam"];

/// The `[trainer]` section. One parameter type for every trainer: the
/// optimiser and budget keys are shared; `channels`, `cells`, `width` and
/// `ece-bins` shape image networks, `dim`, `dropout`, `post-layers` graph
/// networks, `seq-len` language models. `search-lr`, `search-epochs`,
/// `search-weight-decay` and `search-batch-size` list values the search
/// chooses among per architecture (FBNetV3's joint architecture–recipe
/// search, image networks only; [`crate::recipe`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(missing_docs)] // each key is described in the type's doc and the README
pub struct TrainerToml {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nesterov: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosine: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ece_bins: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_layers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_weights: Option<nasforge_registry::OutputDir>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_lr: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_epochs: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_weight_decay: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_batch_size: Option<Vec<usize>>,
}

/// The `[trainer]` section, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerConfig {
    /// Network and optimisation settings (image networks; the optimiser is
    /// shared with graph networks and language models).
    pub image: ImageTrainConfig,
    /// Graph-network settings (`dim`, `dropout`, `post-layers`).
    pub gnn: GnnShape,
    /// Tokens per window of language models (`seq-len`).
    pub seq_len: usize,
    /// How long each network trains.
    pub budget: TrainBudget,
    /// The recipes searched with the architecture, when any key lists
    /// values.
    pub recipe: Option<RecipeChoices>,
}

impl Params for TrainerToml {
    type Checked = TrainerConfig;

    fn check(&self) -> Result<TrainerConfig, ParamError> {
        let err = |key: &'static str, reason: String| Err(ParamError { key, reason });
        let positive = |key: &'static str, v: Option<usize>, default: usize| match v {
            Some(0) => Err(ParamError { key, reason: "must be at least 1".into() }),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let defaults = ImageTrainConfig::default();
        let lr = self.lr.unwrap_or(defaults.optimizer.lr());
        if !(lr > 0.0 && lr.is_finite()) {
            return err("lr", format!("must be a positive number, got {lr}"));
        }
        let weight_decay = self.weight_decay.unwrap_or(5e-4);
        if weight_decay.is_nan() || weight_decay < 0.0 {
            return err("weight-decay", format!("must be at least 0, got {weight_decay}"));
        }
        let optimizer = match self.optimizer.as_deref().unwrap_or("sgd") {
            "sgd" => OptimizerConfig::Sgd { lr, momentum: self.momentum.unwrap_or(0.9), nesterov: self.nesterov.unwrap_or(true), weight_decay },
            "adam" => OptimizerConfig::Adam { lr, weight_decay },
            other => return err("optimizer", format!("unknown optimizer `{other}`; valid choices: {}", OPTIMIZERS.join(", "))),
        };
        if self.epochs.is_none() && self.search_epochs.is_none() && self.steps.is_none() && self.seconds.is_none() {
            return err("epochs", "the trainer needs `epochs`, `steps` or `seconds`".into());
        }
        if self.epochs == Some(0) || self.steps == Some(0) || self.seconds.is_some_and(|s| s.is_nan() || s <= 0.0) {
            let key = if self.epochs == Some(0) { "epochs" } else if self.steps == Some(0) { "steps" } else { "seconds" };
            return err(key, "must be positive".into());
        }
        let width = self.width.unwrap_or(1.0);
        if !(width > 0.0 && width <= 8.0) {
            return err("width", format!("must lie in (0, 8], got {width}"));
        }
        let dropout = self.dropout.unwrap_or(0.5);
        if !(0.0..1.0).contains(&dropout) {
            return err("dropout", format!("must be in [0, 1), got {dropout}"));
        }
        let recipe = self.recipe(lr, weight_decay)?;
        Ok(TrainerConfig {
            gnn: GnnShape { dim: positive("dim", self.dim, 64)?, dropout, post_layers: self.post_layers.unwrap_or(1) },
            seq_len: positive("seq-len", self.seq_len, 64)?,
            image: ImageTrainConfig {
                shape: Nb201Shape { channels: positive("channels", self.channels, 16)?, cells: positive("cells", self.cells, 1)? },
                width,
                batch_size: positive("batch-size", self.batch_size, defaults.batch_size)?,
                optimizer,
                cosine: self.cosine.unwrap_or(true),
                ece_bins: positive("ece-bins", self.ece_bins, defaults.ece_bins)?,
                save_weights: self.save_weights.as_ref().map(|d| d.path().to_owned()),
            },
            budget: TrainBudget { epochs: self.epochs, steps: self.steps, seconds: self.seconds },
            recipe,
        })
    }

    fn resolved(&self, t: &TrainerConfig) -> Self {
        let i = &t.image;
        let mut out = TrainerToml {
            channels: Some(i.shape.channels),
            cells: Some(i.shape.cells),
            width: Some(i.width),
            batch_size: Some(i.batch_size),
            epochs: t.budget.epochs,
            steps: t.budget.steps,
            seconds: t.budget.seconds,
            cosine: Some(i.cosine),
            ece_bins: Some(i.ece_bins),
            dim: Some(t.gnn.dim),
            dropout: Some(t.gnn.dropout),
            post_layers: Some(t.gnn.post_layers),
            seq_len: Some(t.seq_len),
            save_weights: self.save_weights.clone(),
            search_lr: self.search_lr.clone(),
            search_epochs: self.search_epochs.clone(),
            search_weight_decay: self.search_weight_decay.clone(),
            search_batch_size: self.search_batch_size.clone(),
            ..Default::default()
        };
        match &i.optimizer {
            OptimizerConfig::Sgd { lr, momentum, nesterov, weight_decay } => {
                (out.optimizer, out.lr, out.momentum, out.nesterov, out.weight_decay) =
                    (Some("sgd".into()), Some(*lr), Some(*momentum), Some(*nesterov), Some(*weight_decay));
            }
            OptimizerConfig::Adam { lr, weight_decay } => {
                (out.optimizer, out.lr, out.weight_decay) = (Some("adam".into()), Some(*lr), Some(*weight_decay));
            }
        }
        // A searched hyper-parameter is stored as its list only.
        if self.search_lr.is_some() {
            out.lr = None;
        }
        if self.search_weight_decay.is_some() {
            out.weight_decay = None;
        }
        if self.search_batch_size.is_some() {
            out.batch_size = None;
        }
        if self.search_epochs.is_some() {
            out.epochs = None;
        }
        out
    }
}

impl TrainerToml {
    /// The searched recipes: each `search-*` list (distinct, valid values,
    /// at most 255), the fixed value where a key lists none.
    fn recipe(&self, lr: f64, weight_decay: f64) -> Result<Option<RecipeChoices>, ParamError> {
        if self.search_lr.is_none() && self.search_epochs.is_none() && self.search_weight_decay.is_none() && self.search_batch_size.is_none() {
            return Ok(None);
        }
        fn list<T: Copy + PartialEq + std::fmt::Display>(key: &'static str, v: &Option<Vec<T>>, fixed: Option<T>, ok: impl Fn(T) -> bool) -> Result<Vec<T>, ParamError> {
            let bad = |reason: String| Err(ParamError { key, reason });
            match v {
                None => Ok(fixed.into_iter().collect()),
                Some(v) if v.is_empty() || v.len() > 255 => bad("list 1 to 255 values".into()),
                Some(v) => {
                    if let Some(x) = v.iter().find(|&&x| !ok(x)) {
                        return bad(format!("{x} is not a valid value"));
                    }
                    if v.iter().enumerate().any(|(i, x)| v[..i].contains(x)) {
                        return bad("lists a value twice".into());
                    }
                    Ok(v.clone())
                }
            }
        }
        for (key, set, fixed) in [
            ("search-lr", self.search_lr.is_some(), self.lr.is_some()),
            ("search-epochs", self.search_epochs.is_some(), self.epochs.is_some()),
            ("search-weight-decay", self.search_weight_decay.is_some(), self.weight_decay.is_some()),
            ("search-batch-size", self.search_batch_size.is_some(), self.batch_size.is_some()),
        ] {
            if set && fixed {
                return Err(ParamError { key, reason: format!("`{}` fixes the value the search would choose: give one of them", &key[7..]) });
            }
        }
        if self.search_epochs.is_some() && (self.steps.is_some() || self.seconds.is_some()) {
            return Err(ParamError { key: "search-epochs", reason: "the budget is `steps` or `seconds`, not epochs".into() });
        }
        // A recipe is a number of epochs: a step or time budget (or none)
        // cannot be one of its values.
        let epochs = self.epochs.or(self.search_epochs.as_ref().and_then(|v| v.first().copied()));
        if epochs.is_none() {
            let key = match (self.search_lr.is_some(), self.search_weight_decay.is_some()) {
                (true, _) => "search-lr",
                (false, true) => "search-weight-decay",
                (false, false) => "search-batch-size",
            };
            return Err(ParamError { key, reason: "a searched recipe trains for a number of epochs: give `epochs` or `search-epochs` (not a `steps` or `seconds` budget)".into() });
        }
        Ok(Some(RecipeChoices {
            lr: list("search-lr", &self.search_lr, Some(lr), |x: f64| x > 0.0 && x.is_finite())?,
            epochs: list("search-epochs", &self.search_epochs, epochs, |x: u32| x > 0)?,
            weight_decay: list("search-weight-decay", &self.search_weight_decay, Some(weight_decay), |x: f64| x >= 0.0 && x.is_finite())?,
            batch_size: list("search-batch-size", &self.search_batch_size, Some(self.batch_size.unwrap_or(ImageTrainConfig::default().batch_size)), |x: usize| x > 0)?,
        }))
    }
}

/// The full-batch GNN settings of a `[trainer]` section (100 epochs when
/// it names none).
fn gnn_config(trainer: &TrainerConfig) -> GnnTrainConfig {
    GnnTrainConfig { shape: trainer.gnn, epochs: trainer.budget.epochs.unwrap_or(100) as usize, optimizer: trainer.image.optimizer.clone() }
}

fn data<T: Send + Sync + 'static>(data: &Data, what: &str) -> Result<Arc<T>, String> {
    data.clone().downcast::<T>().map_err(|_| format!("this trainer takes {what}"))
}

fn no_recipe(t: &TrainerConfig, trainer: &str) -> Result<(), String> {
    match t.recipe {
        Some(_) => Err(format!("the {trainer} trainer searches no recipe: `search-*` keys are for image networks")),
        None => Ok(()),
    }
}

/// The image trainer over a [`RecipeSpace`] of the experiment's space.
fn recipe_estimator(t: &TrainerConfig, choices: &RecipeChoices, images: Arc<ImageSplits>, space: &nasforge_registry::ErasedSpace) -> Result<Built, String> {
    let (base, budget) = (t.image.clone(), t.budget.clone());
    if space.downcast_ref::<Nb201Space>().is_some() {
        let e = RecipeEstimator::new(choices, base, budget, move |c| Nb201Trainer::new(images.clone(), c));
        Ok(Built::new(erase_estimator::<<RecipeSpace<Nb201Space> as SearchSpace>::Arch, _>(e)).with_space(RecipeSpace::new(Nb201Space, choices.clone())))
    } else if space.downcast_ref::<DartsSpace>().is_some() {
        let e = RecipeEstimator::new(choices, base, budget, move |c| DartsTrainer::new(images.clone(), c));
        Ok(Built::new(erase_estimator::<<RecipeSpace<DartsSpace> as SearchSpace>::Arch, _>(e)).with_space(RecipeSpace::new(DartsSpace, choices.clone())))
    } else if let Some(space) = space.downcast_ref::<MobileNetSpace>() {
        let space = MobileNetSpace { width: t.image.width, ..*space };
        let e = RecipeEstimator::new(choices, base, budget, move |c| MobileNetTrainer::new(images.clone(), c));
        Ok(Built::new(erase_estimator::<<RecipeSpace<MobileNetSpace> as SearchSpace>::Arch, _>(e)).with_space(RecipeSpace::new(space, choices.clone())))
    } else {
        Err(format!("the image trainer builds no network for space `{}`", space.name()))
    }
}

/// Registers `dfdx-train` and the `image`, `gnn` and `char-lm` trainers.
pub fn register(registry: &mut Registry) {
    registry
        .add_estimator(
            EstimatorEntry::training(
                "dfdx-train",
                "Trains every candidate for real on the `[dataset]`, with the `[trainer]` serving the space (dfdx, CPU), and reports its trained metrics.",
            )
            .with_metrics::<nasforge_registry::NoParams>(|_| ["valid", "test", "params"].map(String::from).to_vec()),
        )
        .add_trainer(TrainerEntry::new::<TrainerToml>(
            "image",
            "Image classifiers (NB201, DARTS and MobileNet networks): SGD or Adam, cosine schedule, seeded init and batch order, validation and test accuracy and ECE.",
            Serves::spaces(&["nas-bench-201", "darts", "mobilenet"]),
            nasforge_datasets::IMAGE,
            |t, ctx| {
                let images = data::<ImageSplits>(ctx.data, "images")?;
                if let Some(choices) = &t.recipe {
                    return recipe_estimator(t, choices, images, ctx.space);
                }
                let estimator = |e| Built::new(e);
                if ctx.space.downcast_ref::<Nb201Space>().is_some() {
                    Ok(estimator(erase_estimator::<<Nb201Space as SearchSpace>::Arch, _>(TrainingEstimator::new(Nb201Trainer::new(images, t.image.clone()), t.budget.clone()))))
                } else if ctx.space.downcast_ref::<DartsSpace>().is_some() {
                    Ok(estimator(erase_estimator::<<DartsSpace as SearchSpace>::Arch, _>(TrainingEstimator::new(DartsTrainer::new(images, t.image.clone()), t.budget.clone()))))
                } else if let Some(space) = ctx.space.downcast_ref::<MobileNetSpace>() {
                    // The space's params and MACs describe the trained width.
                    let space = MobileNetSpace { width: t.image.width, ..*space };
                    let e = TrainingEstimator::new(MobileNetTrainer::new(images, t.image.clone()), t.budget.clone());
                    Ok(estimator(erase_estimator::<<MobileNetSpace as SearchSpace>::Arch, _>(e)).with_space(space))
                } else {
                    Err(format!("the image trainer builds no network for space `{}`", ctx.space.name()))
                }
            },
        ))
        .add_trainer(TrainerEntry::new::<TrainerToml>(
            "gnn",
            "Full-batch node classification on one graph (NAS-Bench-Graph cells, Auto-GNN layers): best-validation epoch.",
            Serves::spaces(&["nas-bench-graph", "auto-gnn"]),
            nasforge_datasets::GRAPH,
            |t, ctx| {
                no_recipe(t, "gnn")?;
                let graph = data::<Graph>(ctx.data, "a graph")?;
                if ctx.space.downcast_ref::<NbGraphSpace>().is_some() {
                    let e = TrainingEstimator::new(crate::gnn::NbGraphTrainer::new(graph, gnn_config(t)), t.budget.clone());
                    Ok(Built::new(erase_estimator::<<NbGraphSpace as SearchSpace>::Arch, _>(e)))
                } else if let Some(space) = ctx.space.downcast_ref::<AutoGnnSpace>() {
                    // The space counts parameters for this graph's widths.
                    let space = AutoGnnSpace { features: graph.feature_dim as u64, classes: graph.classes as u64, ..*space };
                    let e = TrainingEstimator::new(crate::autognn::AutoGnnTrainer::new(graph, gnn_config(t)), t.budget.clone());
                    Ok(Built::new(erase_estimator::<<AutoGnnSpace as SearchSpace>::Arch, _>(e)).with_space(space))
                } else {
                    Err(format!("the gnn trainer builds no network for space `{}`", ctx.space.name()))
                }
            },
        ))
        .add_trainer(TrainerEntry::new::<TrainerToml>(
            "char-lm",
            "Transformer encoders as causal character language models on random windows of a text (validation and test: next-character accuracy).",
            Serves::spaces(&["transformer"]),
            nasforge_datasets::TEXT,
            |t, ctx| {
                no_recipe(t, "char-lm")?;
                let text = data::<CharText>(ctx.data, "a text")?;
                let seq = t.seq_len;
                // Now, not at the first trial: the text's file is named, and
                // no architecture is sampled for a run that cannot train.
                crate::transformer::check_text(&text, seq).map_err(|e| e.to_string())?;
                // The space counts parameters for this vocabulary and window.
                let space = TransformerSpace { vocab: text.vocab.len() as u64, positions: seq as u64, segments: 0, seq_len: seq as u64 };
                let lm = LmTrainConfig { seq, batch_size: t.image.batch_size, optimizer: t.image.optimizer.clone(), ..Default::default() };
                let e = TrainingEstimator::new(TransformerTrainer::new(text, lm), t.budget.clone());
                Ok(Built::new(erase_estimator::<<TransformerSpace as SearchSpace>::Arch, _>(e)).with_space(space))
            },
        ));
}

/// The spaces whose architectures `nasforge train` trains: the image
/// networks, whose weights it can keep.
pub const TRAIN_SPACES: [&str; 3] = ["nas-bench-201", "darts", "mobilenet"];

/// The architecture a training file names.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainArch {
    /// A NAS-Bench-201 cell.
    Nb201(Cell),
    /// A DARTS genotype.
    Darts(nasforge_space_darts::Genotype),
    /// A MobileNet/MBConv network.
    MobileNet(nasforge_space_mobilenet::MbNet),
}

/// A checked `nasforge train` file: one architecture, its data, its
/// training.
#[derive(Clone, Debug)]
pub struct TrainJob {
    /// Seed of the split, the initialisation and the batch order.
    pub seed: u64,
    /// The architecture.
    pub arch: TrainArch,
    /// Its standard string (what a checkpoint records).
    pub arch_text: String,
    /// The `[dataset]` (an image dataset).
    pub dataset: nasforge_registry::Configured,
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
    space: serde::de::IgnoredAny,
    dataset: serde::de::IgnoredAny,
    trainer: serde::de::IgnoredAny,
}

/// Loads and checks a `nasforge train` file; its dataset is one of
/// `registry`'s image datasets.
pub fn load_train_job(registry: &Registry, path: impl AsRef<Path>) -> Result<TrainJob, ConfigError> {
    let (file, text, base) = nasforge_registry::read_file(path.as_ref(), "training")?;
    let doc = Document::parse(&file, &text)?;
    let top: TrainTop = doc.root().parse()?;
    let section = |key: &str| doc.section(key).map(|s| s.expect("a required key"));
    let space = section("space")?;
    let name = space.required_string("name")?;
    if !TRAIN_SPACES.contains(&name.get_ref().as_str()) {
        return Err(doc.source().error_at(Some(name.span().start), Some("space.name".into()), format!("unknown space `{}`; valid choices: {}", name.get_ref(), TRAIN_SPACES.join(", "))));
    }
    if let Some(other) = space.keys().into_iter().find(|k| !["name", "arch"].contains(k)) {
        let hint = if other == "width" { " (a MobileNet's width multiplier is `[trainer] width`)" } else { "" };
        return Err(space.value_error(other, format!("unknown key `{other}`; a training file's `[space]` has `name` and `arch`{hint}")));
    }
    let arch_text = space.required_string("arch")?;
    let text = arch_text.get_ref();
    let parsed = match name.get_ref().as_str() {
        "darts" => DartsSpace.parse(text).map(|a| (TrainArch::Darts(a), DartsSpace.format(&a))),
        "mobilenet" => MobileNetSpace::default().parse(text).map(|a| (TrainArch::MobileNet(a.clone()), MobileNetSpace::default().format(&a))),
        _ => Nb201Space.parse(text).map(|a| (TrainArch::Nb201(a), Nb201Space.format(&a))),
    };
    let (arch, arch_text) = parsed.map_err(|e| space.value_error("arch", e.reason))?;
    let paths = PathContext::for_file(&base, top.data_root.as_deref());
    let dataset_section = section("dataset")?;
    let dataset = registry.parse_entry(Kind::Dataset, &dataset_section, &paths, None)?;
    if dataset.checked::<ImageData>().is_none() {
        return Err(dataset_section.value_error("name", format!("`nasforge train` trains image networks; `{}` is no image dataset", dataset.name())));
    }
    let trainer_section = section("trainer")?;
    let trainer = registry.parse_entry(Kind::Trainer, &trainer_section, &paths, Some("image"))?;
    if trainer.checked::<TrainerConfig>().is_some_and(|t| t.recipe.is_some()) {
        return Err(trainer_section.value_error("name", "`nasforge train` trains one recipe: `search-*` keys are for searches"));
    }
    if trainer.name() != "image" {
        return Err(trainer_section.value_error("name", format!("`nasforge train` trains image networks with the `image` trainer, not `{}`", trainer.name())));
    }
    Ok(TrainJob {
        seed: top.seed.unwrap_or(0),
        arch,
        arch_text,
        trainer: trainer.checked::<TrainerConfig>().expect("the image trainer's parameters").clone(),
        dataset,
        checkpoint: top.checkpoint.map(|c| base.join(c)),
    })
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
    #[error("{0}")]
    Data(String),
    /// Training failed (diverged, ...).
    #[error("training failed: {0}")]
    Train(#[from] EvalError),
    /// The checkpoint could not be written.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

impl From<DataError> for TrainError {
    fn from(e: DataError) -> Self {
        TrainError::Data(e.to_string())
    }
}

/// Runs a training job; `on_step(step, planned, loss)` reports progress.
pub fn train(registry: &Registry, job: &TrainJob, on_step: &mut dyn FnMut(u64, Option<u64>, f64)) -> Result<TrainSummary, TrainError> {
    let start = std::time::Instant::now();
    let entry = registry.dataset(job.dataset.name()).ok_or_else(|| TrainError::Data(format!("no dataset `{}`", job.dataset.name())))?;
    let loaded = entry.load(&job.dataset, job.seed).map_err(TrainError::Data)?;
    let data = loaded.downcast::<ImageSplits>().map_err(|_| TrainError::Data(format!("`{}` loads no images", job.dataset.name())))?;
    let (config, budget) = (&job.trainer.image, &job.trainer.budget);
    match &job.arch {
        TrainArch::Nb201(cell) => summary(job, start, train_nb201(cell, &data, config, budget, job.seed, on_step)?),
        TrainArch::Darts(g) => summary(job, start, crate::train_darts(g, &data, config, budget, job.seed, on_step)?),
        TrainArch::MobileNet(m) => summary(job, start, crate::train_mobilenet(m, &data, config, budget, job.seed, on_step)?),
    }
}

/// The summary of a trained network, its weights first saved (with its
/// architecture, which loading checks) when the job asks.
fn summary<N: crate::train::ImageClassifier>(job: &TrainJob, start: std::time::Instant, mut trained: crate::train::Trained<N>) -> Result<TrainSummary, TrainError> {
    if let Some(path) = &job.checkpoint {
        trained.net.store().save_with_meta(path, &[(crate::train::ARCH_META, &job.arch_text)]).map_err(TrainError::Checkpoint)?;
    }
    Ok(TrainSummary {
        valid: trained.valid.accuracy,
        test: trained.test.accuracy,
        ece: trained.test.ece,
        params: trained.net.store().count(),
        seconds: start.elapsed().as_secs_f64(),
        loss_curve: trained.report.loss_curve,
    })
}

#[cfg(test)]
mod tests {
    use nasforge_registry::{ErasedSpace, TrainerContext};

    use super::*;

    #[test]
    fn a_text_too_short_for_the_windows_fails_at_build_naming_its_file() {
        let mut registry = Registry::new();
        register(&mut registry);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.txt");
        // 90/5/5: 180 training, 10 validation, 10 test characters.
        std::fs::write(&path, "ab".repeat(100)).unwrap();
        let text: Data = Arc::new(nasforge_datasets::char_text(&path).unwrap());
        let space = ErasedSpace::new(TransformerSpace::default());
        let build = |body: &str| {
            let config = registry.configure(Kind::Trainer, "char-lm", body).unwrap();
            registry.trainer("char-lm").unwrap().build(&config, &TrainerContext { root_seed: 0, space: &space, data: &text }).err()
        };
        let err = build("seq-len = 64\nsteps = 1").expect("a build error");
        assert_eq!(err, format!("{}: validation split has 10 characters, fewer than seq-len + 1 = 65", path.display()));
        let err = build("seq-len = 200\nsteps = 1").expect("a build error");
        assert!(err.contains("short.txt: training split has 180 characters, fewer than seq-len + 2 = 202"), "{err}");
        assert!(build("seq-len = 9\nsteps = 1").is_none());
    }
}
