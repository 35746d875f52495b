//! The zero-cost family's registry entries: the `zero-cost` and
//! `zero-cost-table` estimators.

use std::sync::Arc;

use nasforge_core::{ParamError, SearchSpace, derive_seed};
use nasforge_datasets::{CharText, Graph, ImageSplits};
use nasforge_registry::{Built, Data, DataFile, DynArch, ErasedSpace, EstimatorEntry, Params, Registry, Serves, StrategyEntry, erase_estimator};
use nasforge_space_nb201::Nb201Space;
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::net::{NetShape, data_kind};
use crate::score::{Scorer, blank_images};
use crate::robot::{Robot, RobotConfig, normalised};
use crate::{Combination, ProxyTable, ZeroCostEstimator, ZeroCostTableEstimator, proxies};

/// `[strategy] name = "robot"`: RoBoT over the rows of a proxy table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RobotToml {
    /// The proxy table: a scores CSV, or NASLib's NB201 zero-cost JSON;
    /// its rows are the candidates.
    pub table: DataFile,
    /// The proxies whose weighted sum Bayesian optimisation tunes.
    pub proxies: Vec<String>,
    /// The NASLib task (`.json` only).
    #[serde(default = "default_task")]
    pub task: String,
    /// Weight vectors queried by Bayesian optimisation (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<usize>,
    /// UCB's κ (default 2.576).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kappa: Option<f64>,
}

impl Params for RobotToml {
    type Checked = (RobotToml, RobotConfig);

    fn check(&self) -> Result<Self::Checked, ParamError> {
        if self.proxies.is_empty() {
            return Err(ParamError { key: "proxies", reason: "name at least one proxy".into() });
        }
        let d = RobotConfig::default();
        let config = RobotConfig { rounds: self.rounds.unwrap_or(d.rounds), kappa: self.kappa.unwrap_or(d.kappa) };
        if config.rounds == 0 {
            return Err(ParamError { key: "rounds", reason: "must be at least 1".into() });
        }
        if !(config.kappa >= 0.0 && config.kappa.is_finite()) {
            return Err(ParamError { key: "kappa", reason: format!("must be a finite number ≥ 0, got {}", config.kappa) });
        }
        Ok((self.clone(), config))
    }

    fn resolved(&self, c: &Self::Checked) -> Self {
        RobotToml { rounds: Some(c.1.rounds), kappa: Some(c.1.kappa), ..self.clone() }
    }
}

/// Reads a proxy table for `space`: NASLib's NB201 JSON, or a scores CSV.
pub fn read_table(path: &std::path::Path, task: &str, space: &ErasedSpace) -> Result<ProxyTable, String> {
    if path.extension().is_some_and(|e| e == "json") {
        if space.name() != "nas-bench-201" {
            return Err(format!("{}: NASLib's zero-cost JSON read here keys NAS-Bench-201 cells, not `{}` architectures; give a scores CSV", path.display(), space.name()));
        }
        ProxyTable::from_naslib_nb201(path, task)
    } else {
        ProxyTable::from_csv(path, space)
    }
    .map_err(|e| e.to_string())
}

/// `[estimator] name = "zero-cost"`: proxies computed on each candidate's
/// network at initialisation, from a batch of the `[dataset]` (optional for
/// data-free proxies on image spaces).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ZeroCostToml {
    /// The proxies (one: its raw score; several: a weighted sum of scores
    /// normalised over `reference` sampled architectures).
    pub proxies: Vec<String>,
    /// One weight per proxy; 1 each by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// Initial channels of cell networks (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// Cells per stage (NB201, default 5) or in all (DARTS, default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<usize>,
    /// Hidden size of graph networks (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// Items in the batch (images, scored nodes, text windows; default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Side of the square images the networks read (default 32: the
    /// dataset's images are resized to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<usize>,
    /// Channels of those images (default 3: grey images are repeated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_channels: Option<usize>,
    /// Tokens per text window (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_len: Option<usize>,
    /// Architectures sampled to normalise several proxies (default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<usize>,
}

/// How the `zero-cost` estimator scores, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ZeroCostConfig {
    /// Proxy names.
    pub proxies: Vec<String>,
    /// One weight per proxy.
    pub weights: Vec<f64>,
    /// Network sizes, where the file gives them (else each space's).
    pub channels: Option<usize>,
    /// See [`ZeroCostToml::cells`].
    pub cells: Option<usize>,
    /// See [`ZeroCostToml::dim`].
    pub dim: Option<usize>,
    /// Batch items.
    pub batch_size: usize,
    /// Image side.
    pub image_size: usize,
    /// Image channels.
    pub image_channels: usize,
    /// Tokens per window.
    pub seq_len: usize,
    /// Reference architectures for normalisation.
    pub reference: usize,
}

impl ZeroCostConfig {
    /// The network size for `space`: the file's, else the space's default.
    pub fn shape(&self, space: &str) -> NetShape {
        let d = NetShape::for_space(space);
        NetShape { channels: self.channels.unwrap_or(d.channels), cells: self.cells.unwrap_or(d.cells), dim: self.dim.unwrap_or(d.dim) }
    }

    /// The batch for `space` from the loaded data (`None`: no
    /// `[dataset]`), seeded; and whether it holds real data.
    pub fn batch(&self, space: &str, data: Option<&Data>, seed: u64) -> Result<(Batch, bool), String> {
        let kind = data_kind(space).ok_or_else(|| format!("no network is built for space `{space}` here"))?;
        let Some(data) = data else {
            return match kind {
                nasforge_datasets::IMAGE => Ok((blank_images(self.batch_size, self.image_size), false)),
                other => Err(format!("space `{space}` builds its networks for {other} data: add a `[dataset]` (its shape fixes the network)")),
            };
        };
        let wrong = || format!("space `{space}` scores networks on {kind} data, and the `[dataset]` loads other data");
        let batch = match kind {
            nasforge_datasets::IMAGE => {
                let splits = data.clone().downcast::<ImageSplits>().map_err(|_| wrong())?;
                Batch::images(&splits.train, self.batch_size, self.image_channels, self.image_size, seed)
            }
            nasforge_datasets::GRAPH => Batch::graph(data.clone().downcast::<Graph>().map_err(|_| wrong())?, self.batch_size, seed),
            _ => {
                let text = data.clone().downcast::<CharText>().map_err(|_| wrong())?;
                if text.train.len() <= self.seq_len {
                    return Err(format!("the text's training part ({} characters) is shorter than one window of {}", text.train.len(), self.seq_len));
                }
                Batch::text(&text, self.batch_size, self.seq_len, seed)
            }
        };
        Ok((batch, true))
    }

    /// The scorer of these proxies for `space`.
    pub fn scorer(&self, space: ErasedSpace, data: Option<&Data>, seed: u64) -> Result<Scorer, String> {
        // The smallest side each image network's downsampling survives.
        let least = match space.name() {
            "nas-bench-201" => 4,
            "darts" => 8,
            "mobilenet" => 32,
            _ => 1,
        };
        if data_kind(space.name()) == Some(nasforge_datasets::IMAGE) && self.image_size < least {
            return Err(format!("image-size {} is too small for `{}` networks: at least {least}", self.image_size, space.name()));
        }
        let (batch, real) = self.batch(space.name(), data, derive_seed(seed, "zero-cost-batch"))?;
        let shape = self.shape(space.name());
        Scorer::new(space, shape, batch, real, &self.proxies, derive_seed(seed, "zero-cost-init"))
    }
}

impl Params for ZeroCostToml {
    type Checked = ZeroCostConfig;

    fn check(&self) -> Result<ZeroCostConfig, ParamError> {
        let err = |key: &'static str, reason: String| Err(ParamError { key, reason });
        if self.proxies.is_empty() {
            return err("proxies", format!("name at least one proxy; valid choices: {}", proxies::names().join(", ")));
        }
        for p in &self.proxies {
            if proxies::proxy(p).is_none() {
                return err("proxies", format!("unknown proxy `{p}`; valid choices: {}", proxies::names().join(", ")));
            }
        }
        let weights = match &self.weights {
            Some(w) if w.len() != self.proxies.len() => return err("weights", format!("{} weights for {} proxies", w.len(), self.proxies.len())),
            Some(w) if w.iter().any(|x| !x.is_finite()) => return err("weights", "weights must be finite numbers".into()),
            Some(w) => w.clone(),
            None => vec![1.0; self.proxies.len()],
        };
        let positive = |key: &'static str, v: Option<usize>| match v {
            Some(0) => Err(ParamError { key, reason: "must be at least 1".into() }),
            v => Ok(v),
        };
        let batch_size = positive("batch-size", self.batch_size)?.unwrap_or(64);
        if batch_size < 2 {
            return err("batch-size", "must be at least 2 (correlations need two items)".into());
        }
        Ok(ZeroCostConfig {
            proxies: self.proxies.clone(),
            weights,
            channels: positive("channels", self.channels)?,
            cells: positive("cells", self.cells)?,
            dim: positive("dim", self.dim)?,
            batch_size,
            image_size: positive("image-size", self.image_size)?.unwrap_or(32),
            image_channels: positive("image-channels", self.image_channels)?.unwrap_or(3),
            seq_len: positive("seq-len", self.seq_len)?.unwrap_or(64),
            reference: positive("reference", self.reference)?.unwrap_or(32),
        })
    }

    fn resolved(&self, c: &ZeroCostConfig) -> Self {
        ZeroCostToml {
            proxies: c.proxies.clone(),
            weights: Some(c.weights.clone()),
            channels: c.channels,
            cells: c.cells,
            dim: c.dim,
            batch_size: Some(c.batch_size),
            image_size: Some(c.image_size),
            image_channels: Some(c.image_channels),
            seq_len: Some(c.seq_len),
            reference: Some(c.reference),
        }
    }
}

/// `[estimator] name = "zero-cost-table"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ZeroCostTableToml {
    /// A scores CSV (`arch` and one column per proxy), or NASLib's
    /// NAS-Bench-201 zero-cost JSON (`.json`).
    pub path: DataFile,
    /// The proxies the score combines (one: its raw score; several: a
    /// weighted sum of scores normalised over the table).
    pub proxies: Vec<String>,
    /// One weight per proxy; 1 each by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// The NASLib task whose entries are read (`.json` only).
    #[serde(default = "default_task")]
    pub task: String,
}

fn default_task() -> String {
    "cifar10".into()
}

impl Params for ZeroCostTableToml {
    type Checked = Self;
    fn check(&self) -> Result<Self, ParamError> {
        if self.proxies.is_empty() {
            return Err(ParamError { key: "proxies", reason: "name at least one proxy".into() });
        }
        if let Some(w) = &self.weights {
            if w.len() != self.proxies.len() {
                return Err(ParamError { key: "weights", reason: format!("{} weights for {} proxies", w.len(), self.proxies.len()) });
            }
            if w.iter().any(|x| !x.is_finite()) {
                return Err(ParamError { key: "weights", reason: "weights must be finite numbers".into() });
            }
        }
        Ok(self.clone())
    }
}

/// Registers the `zero-cost` and `zero-cost-table` estimators and the
/// `robot` strategy.
pub fn register(registry: &mut Registry) {
    registry.add_strategy(StrategyEntry::new::<RobotToml>(
        "robot",
        "RoBoT (He et al., ICLR 2024): Bayesian optimisation (GP-UCB) of the weights of a linear combination of min-max normalised proxies from a table, each query evaluating the top architecture, then greedy exploitation down the best combination's ranking.",
        |(t, config), ctx| {
            let path = t.table.path();
            let table = read_table(path, &t.task, ctx.space)?;
            let (keys, values) = normalised(&table, &t.proxies).map_err(|e| format!("{}: {e}", path.display()))?;
            let candidates: Vec<DynArch> = keys.iter().map(|k| ctx.space.parse(k).map_err(|e| format!("{}: `{k}`: {e}", path.display()))).collect::<Result<_, _>>()?;
            if candidates.is_empty() {
                return Err(format!("{}: the table has no rows: RoBoT has no candidates", path.display()));
            }
            Ok(Box::new(Robot::new(candidates, values, config.clone(), ctx.seed)))
        },
    ));
    registry.add_estimator(
        EstimatorEntry::new::<ZeroCostToml>(
            "zero-cost",
            "Zero-cost proxies computed on each candidate's dfdx network at initialisation (NB201, DARTS, MobileNet, NAS-Bench-Graph, Auto-GNN, transformer) from one batch of the `[dataset]` (images resized to the network's input); `valid` is one proxy, or a weighted sum of proxies normalised over reference architectures; every proxy is a named metric.",
            Serves::spaces(crate::net::SPACES),
            |c, ctx| {
                let scorer = c.scorer(ctx.space.clone(), ctx.data, ctx.root_seed)?;
                let e = ZeroCostEstimator::new(scorer, c.weights.clone(), c.reference, ctx.root_seed)?;
                Ok(Built::new(Box::new(e)))
            },
        )
        .reading_data(data_kind)
        .with_metrics::<ZeroCostToml>(|c| {
            let mut m = vec!["valid".to_owned()];
            m.extend(c.proxies.iter().cloned());
            m
        }),
    );
    registry.add_estimator(
        EstimatorEntry::new::<ZeroCostTableToml>(
            "zero-cost-table",
            "Zero-cost proxy scores read from a table computed once: a scores CSV (column `arch` in the space's standard strings, one column per proxy) for any space, or NASLib's NAS-Bench-201 zero-cost JSON. `valid` is one proxy, or a weighted sum of proxies normalised over the table; every proxy is a named metric.",
            Serves::Any,
            |c, ctx| {
                let path = c.path.path();
                let json = path.extension().is_some_and(|e| e == "json");
                let table = read_table(path, &c.task, ctx.space)?;
                let combination = Combination::new(&table, &c.proxies, c.weights.as_deref()).map_err(|e| format!("{}: {e}", path.display()))?;
                let table = Arc::new(table);
                Ok(Built::new(if json {
                    erase_estimator(ZeroCostTableEstimator::new(Nb201Space, table, combination))
                } else {
                    erase_estimator(ZeroCostTableEstimator::new(ctx.space.clone(), table, combination))
                }))
            },
        )
        .with_metrics::<ZeroCostTableToml>(|c| {
            let mut m = vec!["valid".to_owned()];
            m.extend(c.proxies.iter().cloned());
            m
        }),
    );
}
