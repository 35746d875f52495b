//! The predictors family's registry entries: the strategies `gbdt-nas`,
//! `gbdt-nas-3s`, `bananas` and `tpe`, and the estimator `predicted`.
//!
//! Predictor and feature settings are keys of the component's own table
//! (`predictor = "gbdt"`, `rounds = 100`, `encoding = "path"`, ...), so
//! that a mistake is reported at its line.

use std::sync::Arc;

use nasforge_core::{ParamError, SearchSpace};
use nasforge_registry::{Built, DataFile, ErasedSpace, EstimatorEntry, Params, Registry, Serves, StrategyEntry};
use serde::{Deserialize, Serialize};

use crate::bananas::{Acquisition, Bananas, BananasConfig};
use crate::forest::ForestConfig;
use crate::gbdt::GbdtConfig;
use crate::gbdt_nas::{GbdtNas, GbdtNasConfig, PruneConfig};
use crate::mlp::MlpConfig;
use crate::predicted::{Labels, PredictedEstimator};
use crate::tpe::{Tpe, TpeConfig};
use crate::{Encoder, Encoding, Features, PredictorSpec};

fn bad(key: &'static str, reason: impl Into<String>) -> ParamError {
    ParamError { key, reason: reason.into() }
}

fn positive(key: &'static str, v: Option<usize>) -> Result<(), ParamError> {
    if v == Some(0) { Err(bad(key, "must be at least 1")) } else { Ok(()) }
}

fn fraction(key: &'static str, v: Option<f64>) -> Result<(), ParamError> {
    match v {
        Some(f) if !(f > 0.0 && f <= 1.0) => Err(bad(key, format!("must be in (0, 1], got {f}"))),
        _ => Ok(()),
    }
}

fn finite_non_negative(key: &'static str, v: Option<f64>) -> Result<(), ParamError> {
    match v {
        Some(f) if !(f >= 0.0 && f.is_finite()) => Err(bad(key, format!("must be a finite number ≥ 0, got {f}"))),
        _ => Ok(()),
    }
}

/// Declares a component's TOML type with its own keys followed by the
/// predictor and feature keys every predictor-backed component takes.
macro_rules! with_predictor_keys {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct $name {
            $($(#[$fm])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $f: $t,)*
            /// The predictor: `gbdt`, `forest` or `mlp-ensemble`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub predictor: Option<String>,
            /// The encoding: `one-hot`, `decisions`, `adjacency` or `path`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub encoding: Option<String>,
            /// Paths kept in the path encoding (most frequent first).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub path_cutoff: Option<usize>,
            /// A zero-cost proxy table (a scores CSV, or NASLib's NB201
            /// JSON) whose `proxies` are appended to the encoding.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_table: Option<DataFile>,
            /// The table's proxies to use as features.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxies: Option<Vec<String>>,
            /// The NASLib task (`.json` tables only; `cifar10`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_task: Option<String>,
            /// GBDT: boosting rounds (100).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub rounds: Option<usize>,
            /// GBDT: shrinkage (0.05).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub learning_rate: Option<f64>,
            /// GBDT: tree depth (5).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub max_depth: Option<u16>,
            /// GBDT: rows per leaf at least (20).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub min_child_weight: Option<usize>,
            /// GBDT: L2 penalty on leaves (0).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub lambda: Option<f64>,
            /// GBDT: columns per tree (0.9).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub feature_fraction: Option<f64>,
            /// GBDT: rows per bag (0.8).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bagging_fraction: Option<f64>,
            /// GBDT: rounds per bag (5).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bagging_freq: Option<usize>,
            /// Forest: trees (100).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub trees: Option<usize>,
            /// Forest: split candidates as a fraction of the features (1.0).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub max_features: Option<f64>,
            /// Forest: rows per leaf at least (1).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub min_samples_leaf: Option<usize>,
            /// MLP ensemble: members (5).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub members: Option<usize>,
            /// MLP ensemble: hidden layers (10).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub layers: Option<usize>,
            /// MLP ensemble: hidden width (20).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub width: Option<usize>,
            /// MLP ensemble: epochs (150).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub epochs: Option<usize>,
            /// MLP ensemble: batch size (32).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub batch: Option<usize>,
            /// MLP ensemble: Adam's learning rate (0.01).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub lr: Option<f64>,
        }

        impl PredictorKeys for $name {
            fn keys(&self) -> KeysRef<'_> {
                KeysRef {
                    predictor: &self.predictor,
                    encoding: &self.encoding,
                    path_cutoff: self.path_cutoff,
                    proxy_table: &self.proxy_table,
                    proxies: &self.proxies,
                    proxy_task: &self.proxy_task,
                    gbdt: [self.rounds.map(|v| v as f64), self.learning_rate, self.max_depth.map(f64::from), self.min_child_weight.map(|v| v as f64), self.lambda, self.feature_fraction, self.bagging_fraction, self.bagging_freq.map(|v| v as f64)],
                    forest: [self.trees.map(|v| v as f64), self.max_features, self.min_samples_leaf.map(|v| v as f64)],
                    mlp: [self.members.map(|v| v as f64), self.layers.map(|v| v as f64), self.width.map(|v| v as f64), self.epochs.map(|v| v as f64), self.batch.map(|v| v as f64), self.lr],
                }
            }
        }
    };
}

const GBDT_KEYS: [&str; 8] = ["rounds", "learning-rate", "max-depth", "min-child-weight", "lambda", "feature-fraction", "bagging-fraction", "bagging-freq"];
const FOREST_KEYS: [&str; 3] = ["trees", "max-features", "min-samples-leaf"];
const MLP_KEYS: [&str; 6] = ["members", "layers", "width", "epochs", "batch", "lr"];

/// The predictor and feature keys of a component's table.
pub struct KeysRef<'a> {
    predictor: &'a Option<String>,
    encoding: &'a Option<String>,
    path_cutoff: Option<usize>,
    proxy_table: &'a Option<DataFile>,
    proxies: &'a Option<Vec<String>>,
    proxy_task: &'a Option<String>,
    gbdt: [Option<f64>; 8],
    forest: [Option<f64>; 3],
    mlp: [Option<f64>; 6],
}

/// A TOML type with the predictor and feature keys.
pub trait PredictorKeys {
    /// Its keys.
    fn keys(&self) -> KeysRef<'_>;
}

/// The checked predictor and feature settings.
#[derive(Clone, Debug)]
pub struct FeatureSpec {
    /// The encoding.
    pub encoding: Encoding,
    /// The path cutoff.
    pub cutoff: Option<usize>,
    /// The proxy table, its task and the proxies.
    pub proxies: Option<(std::path::PathBuf, String, Vec<String>)>,
}

impl FeatureSpec {
    /// The features for `space` (reads the proxy table).
    pub fn build(&self, space: &ErasedSpace, seed: u64) -> Result<Features, String> {
        let encoder = Encoder::new(space, self.encoding, self.cutoff, seed)?;
        let features = Features::new(encoder);
        match &self.proxies {
            None => Ok(features),
            Some((path, task, names)) => {
                let table = nasforge_zero_cost::read_table(path, task, space)?;
                features.with_proxies(Arc::new(table), names).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }
}

/// Checks the predictor and feature keys; `default_predictor` and
/// `default_encoding` are the component's (the paper's) choices.
pub fn check_keys(k: &KeysRef<'_>, default_predictor: &str, default_encoding: Encoding) -> Result<(PredictorSpec, FeatureSpec), ParamError> {
    let kind = k.predictor.as_deref().unwrap_or(default_predictor);
    let encoding = match k.encoding.as_deref() {
        None => default_encoding,
        Some(e) => Encoding::parse(e).ok_or_else(|| bad("encoding", format!("unknown encoding `{e}`; choose one of: {}", Encoding::NAMES.join(", "))))?,
    };
    positive("path-cutoff", k.path_cutoff)?;
    if k.path_cutoff.is_some() && encoding != Encoding::Path {
        return Err(bad("path-cutoff", "applies to `encoding = \"path\"` only"));
    }
    let proxies = match (k.proxy_table, k.proxies) {
        (None, None) => {
            if k.proxy_task.is_some() {
                return Err(bad("proxy-task", "applies with `proxy-table` only"));
            }
            None
        }
        (Some(t), Some(names)) if !names.is_empty() => Some((t.path().to_path_buf(), k.proxy_task.clone().unwrap_or_else(|| "cifar10".into()), names.clone())),
        (Some(_), _) => return Err(bad("proxies", "name the proxies of `proxy-table` to use as features")),
        (None, Some(_)) => return Err(bad("proxy-table", "`proxies` needs the `proxy-table` they come from")),
    };
    let stray = |keys: &[&'static str], values: &[Option<f64>]| -> Result<(), ParamError> {
        match keys.iter().zip(values).find(|(_, v)| v.is_some()) {
            Some((key, _)) => Err(bad(key, format!("is not a setting of `predictor = \"{kind}\"`"))),
            None => Ok(()),
        }
    };
    let spec = match kind {
        "gbdt" => {
            stray(&FOREST_KEYS, &k.forest)?;
            stray(&MLP_KEYS, &k.mlp)?;
            let [rounds, lr, depth, mcw, lambda, ff, bf, freq] = k.gbdt;
            let d = GbdtConfig::default();
            for (key, v) in [("rounds", rounds), ("max-depth", depth), ("bagging-freq", freq)] {
                if v == Some(0.0) {
                    return Err(bad(key, "must be at least 1"));
                }
            }
            if let Some(l) = lr {
                if !(l > 0.0 && l.is_finite()) {
                    return Err(bad("learning-rate", format!("must be a finite number > 0, got {l}")));
                }
            }
            finite_non_negative("lambda", lambda)?;
            fraction("feature-fraction", ff)?;
            fraction("bagging-fraction", bf)?;
            PredictorSpec::Gbdt(GbdtConfig {
                rounds: rounds.map_or(d.rounds, |v| v as usize),
                learning_rate: lr.unwrap_or(d.learning_rate),
                max_depth: depth.map_or(d.max_depth, |v| v as u16),
                min_child_weight: mcw.map_or(d.min_child_weight, |v| v as usize),
                lambda: lambda.unwrap_or(d.lambda),
                feature_fraction: ff.unwrap_or(d.feature_fraction),
                bagging_fraction: bf.unwrap_or(d.bagging_fraction),
                bagging_freq: freq.map_or(d.bagging_freq, |v| v as usize),
            })
        }
        "forest" => {
            stray(&GBDT_KEYS, &k.gbdt)?;
            stray(&MLP_KEYS, &k.mlp)?;
            let [trees, mf, leaf] = k.forest;
            let d = ForestConfig::default();
            if trees == Some(0.0) {
                return Err(bad("trees", "must be at least 1"));
            }
            if leaf == Some(0.0) {
                return Err(bad("min-samples-leaf", "must be at least 1"));
            }
            fraction("max-features", mf)?;
            PredictorSpec::Forest(ForestConfig {
                trees: trees.map_or(d.trees, |v| v as usize),
                max_features: mf.unwrap_or(d.max_features),
                min_samples_leaf: leaf.map_or(d.min_samples_leaf, |v| v as usize),
            })
        }
        "mlp-ensemble" => {
            stray(&GBDT_KEYS, &k.gbdt)?;
            stray(&FOREST_KEYS, &k.forest)?;
            let [members, layers, width, epochs, batch, lr] = k.mlp;
            let d = MlpConfig::default();
            for (key, v) in [("members", members), ("width", width), ("epochs", epochs), ("batch", batch)] {
                if v == Some(0.0) {
                    return Err(bad(key, "must be at least 1"));
                }
            }
            if let Some(l) = lr {
                if !(l > 0.0 && l.is_finite()) {
                    return Err(bad("lr", format!("must be a finite number > 0, got {l}")));
                }
            }
            PredictorSpec::Mlp(MlpConfig {
                members: members.map_or(d.members, |v| v as usize),
                layers: layers.map_or(d.layers, |v| v as usize),
                width: width.map_or(d.width, |v| v as usize),
                epochs: epochs.map_or(d.epochs, |v| v as usize),
                batch: batch.map_or(d.batch, |v| v as usize),
                lr: lr.unwrap_or(d.lr),
            })
        }
        other => return Err(bad("predictor", format!("unknown predictor `{other}`; choose one of: {}", PredictorSpec::NAMES.join(", ")))),
    };
    Ok((spec, FeatureSpec { encoding, cutoff: k.path_cutoff, proxies }))
}

with_predictor_keys! {
    /// `[strategy] name = "gbdt-nas"` (and `"gbdt-nas-3s"`).
    pub struct GbdtNasToml {
        /// Random architectures before the first fit (20).
        pub initial: Option<usize>,
        /// Architectures evaluated per round (10).
        pub top_k: Option<usize>,
        /// Candidates sampled per round where the space is not listed (10,000).
        pub candidates: Option<usize>,
        /// GBDT-NAS-3S: fits after which options are pruned (3).
        pub prune_rounds: Option<usize>,
        /// GBDT-NAS-3S: options pruned at most per round (the reference's share,
        /// 20 of 147, of the space's options).
        pub prune_per_round: Option<usize>,
    }
}

/// The checked form of a [`GbdtNasToml`].
#[derive(Clone, Debug)]
pub struct GbdtNasChecked {
    config: GbdtNasConfig,
    features: FeatureSpec,
}

fn check_gbdt_nas(t: &GbdtNasToml, prune: bool) -> Result<GbdtNasChecked, ParamError> {
    for (key, v) in [("initial", t.initial), ("top-k", t.top_k), ("candidates", t.candidates), ("prune-rounds", t.prune_rounds), ("prune-per-round", t.prune_per_round)] {
        positive(key, v)?;
    }
    if !prune {
        if t.prune_rounds.is_some() {
            return Err(bad("prune-rounds", "is a setting of `gbdt-nas-3s`"));
        }
        if t.prune_per_round.is_some() {
            return Err(bad("prune-per-round", "is a setting of `gbdt-nas-3s`"));
        }
    }
    if t.predictor.as_deref().is_some_and(|p| p != "gbdt") {
        return Err(bad("predictor", "GBDT-NAS fits gradient-boosted trees: `predictor = \"gbdt\"` (the `predicted` estimator and `bananas` take others)"));
    }
    let (spec, features) = check_keys(&t.keys(), "gbdt", if prune { Encoding::Decisions } else { Encoding::OneHot })?;
    if prune && features.encoding != Encoding::Decisions {
        return Err(bad("encoding", "gbdt-nas-3s prunes decision options, so it reads `encoding = \"decisions\"`"));
    }
    let PredictorSpec::Gbdt(gbdt) = spec else { unreachable!("checked above") };
    let d = GbdtNasConfig::default();
    let pd = PruneConfig::default();
    Ok(GbdtNasChecked {
        config: GbdtNasConfig {
            initial: t.initial.unwrap_or(d.initial),
            top_k: t.top_k.unwrap_or(d.top_k),
            candidates: t.candidates.unwrap_or(d.candidates),
            enumerate_up_to: d.enumerate_up_to,
            gbdt,
            prune: prune.then(|| PruneConfig { rounds: t.prune_rounds.unwrap_or(pd.rounds), per_round: t.prune_per_round.or(pd.per_round) }),
        },
        features,
    })
}

/// `[strategy] name = "gbdt-nas-3s"`: [`GbdtNasToml`] with pruning.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GbdtNas3sToml(pub GbdtNasToml);

impl Params for GbdtNasToml {
    type Checked = GbdtNasChecked;
    fn check(&self) -> Result<Self::Checked, ParamError> {
        check_gbdt_nas(self, false)
    }
}

impl Params for GbdtNas3sToml {
    type Checked = GbdtNasChecked;
    fn check(&self) -> Result<Self::Checked, ParamError> {
        check_gbdt_nas(&self.0, true)
    }
}

with_predictor_keys! {
    /// `[strategy] name = "bananas"`.
    pub struct BananasToml {
        /// Random architectures first (10).
        pub initial: Option<usize>,
        /// Evaluations per round (10).
        pub top_k: Option<usize>,
        /// Candidates per round (100).
        pub candidates: Option<usize>,
        /// Best architectures mutated (5).
        pub parents: Option<usize>,
        /// naszilla's mutation rate (1).
        pub mutation_rate: Option<f64>,
        /// `its` (independent Thompson sampling) or `ucb`.
        pub acquisition: Option<String>,
    }
}

/// The checked form of a [`BananasToml`].
#[derive(Clone, Debug)]
pub struct BananasChecked {
    config: BananasConfig,
    features: FeatureSpec,
}

impl Params for BananasToml {
    type Checked = BananasChecked;
    fn check(&self) -> Result<Self::Checked, ParamError> {
        for (key, v) in [("initial", self.initial), ("top-k", self.top_k), ("candidates", self.candidates), ("parents", self.parents)] {
            positive(key, v)?;
        }
        if let Some(r) = self.mutation_rate {
            if !(r > 0.0 && r.is_finite()) {
                return Err(bad("mutation-rate", format!("must be a finite number > 0, got {r}")));
            }
        }
        let acquisition = match self.acquisition.as_deref() {
            None | Some("its") => Acquisition::Its,
            Some("ucb") => Acquisition::Ucb,
            Some(other) => return Err(bad("acquisition", format!("unknown acquisition `{other}`; choose one of: its, ucb"))),
        };
        let (predictor, features) = check_keys(&self.keys(), "mlp-ensemble", Encoding::Path)?;
        let d = BananasConfig::default();
        Ok(BananasChecked {
            config: BananasConfig {
                initial: self.initial.unwrap_or(d.initial),
                top_k: self.top_k.unwrap_or(d.top_k),
                candidates: self.candidates.unwrap_or(d.candidates),
                parents: self.parents.unwrap_or(d.parents),
                mutation_rate: self.mutation_rate.unwrap_or(d.mutation_rate),
                acquisition,
                predictor,
            },
            features,
        })
    }
}

/// `[strategy] name = "tpe"`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TpeToml {
    /// Random trials first (10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<usize>,
    /// Candidates drawn per choice (24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ei_candidates: Option<usize>,
    /// The prior's weight (1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_weight: Option<f64>,
    /// Joint sampling of the decisions (true, Optuna 5.0's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivariate: Option<bool>,
}

impl Params for TpeToml {
    type Checked = TpeConfig;
    fn check(&self) -> Result<TpeConfig, ParamError> {
        positive("ei-candidates", self.ei_candidates)?;
        let d = TpeConfig::default();
        let prior_weight = self.prior_weight.unwrap_or(d.prior_weight);
        if !(prior_weight > 0.0 && prior_weight.is_finite()) {
            return Err(bad("prior-weight", format!("must be a finite number > 0, got {prior_weight}")));
        }
        Ok(TpeConfig {
            startup: self.startup.unwrap_or(d.startup),
            ei_candidates: self.ei_candidates.unwrap_or(d.ei_candidates),
            prior_weight,
            multivariate: self.multivariate.unwrap_or(d.multivariate),
        })
    }

    fn resolved(&self, c: &TpeConfig) -> Self {
        TpeToml { startup: Some(c.startup), ei_candidates: Some(c.ei_candidates), prior_weight: Some(c.prior_weight), multivariate: Some(c.multivariate) }
    }
}

with_predictor_keys! {
    /// `[estimator] name = "predicted"`.
    pub struct PredictorToml {
        /// The labelled architectures: a CSV with a column of standard
        /// strings and one of labels (an NB201 table, a journal export).
        pub labels: Option<DataFile>,
        /// The column of standard strings (`arch`).
        pub arch_column: Option<String>,
        /// The label column (`valid`).
        pub label_column: Option<String>,
        /// Rows drawn (seeded) to train on; all by default.
        pub samples: Option<usize>,
    }
}

/// The checked form of a [`PredictorToml`].
#[derive(Clone, Debug)]
pub struct PredictedChecked {
    labels: Labels,
    predictor: PredictorSpec,
    features: FeatureSpec,
}

impl Params for PredictorToml {
    type Checked = PredictedChecked;
    fn check(&self) -> Result<Self::Checked, ParamError> {
        let path = self.labels.as_ref().ok_or_else(|| bad("labels", "name the CSV of labelled architectures the predictor trains on"))?;
        positive("samples", self.samples)?;
        let (predictor, features) = check_keys(&self.keys(), "gbdt", Encoding::OneHot)?;
        Ok(PredictedChecked {
            labels: Labels {
                path: path.path().to_path_buf(),
                arch_column: self.arch_column.clone().unwrap_or_else(|| "arch".into()),
                label_column: self.label_column.clone().unwrap_or_else(|| "valid".into()),
                samples: self.samples,
            },
            predictor,
            features,
        })
    }
}

fn decisions_of(space: &ErasedSpace, who: &str) -> Result<Vec<usize>, String> {
    space.decisions().ok_or_else(|| format!("{who} samples the space's decision view, which `{}` does not have", space.name()))
}

/// Registers the strategies `gbdt-nas`, `gbdt-nas-3s`, `bananas`, `tpe`
/// and the estimator `predicted`.
pub fn register(registry: &mut Registry) {
    registry.add_strategy(StrategyEntry::new::<GbdtNasToml>(
        "gbdt-nas",
        "GBDT-NAS (Luo et al. 2020): gradient-boosted trees (smartcore, LightGBM's settings) fitted on every evaluation predict the whole space (or a large sample); the top-k predicted unseen architectures are evaluated, and again.",
        |c, ctx| {
            let features = c.features.build(ctx.space, ctx.seed)?;
            Ok(Box::new(GbdtNas::new(c.config.clone(), features, ctx.space.decisions(), ctx.seed)?))
        },
    ));
    registry.add_strategy(StrategyEntry::new::<GbdtNas3sToml>(
        "gbdt-nas-3s",
        "GBDT-NAS-3S (Luo et al. 2020): GBDT-NAS that also prunes the search space, dropping decision options whose mean exact TreeSHAP value is negative.",
        |c, ctx| {
            let features = c.features.build(ctx.space, ctx.seed)?;
            let options = decisions_of(ctx.space, "gbdt-nas-3s")?;
            Ok(Box::new(GbdtNas::new(c.config.clone(), features, Some(options), ctx.seed)?))
        },
    ));
    registry.add_strategy(StrategyEntry::new::<BananasToml>(
        "bananas",
        "BANANAS (White et al., AAAI 2021): an ensemble of MLPs on the path encoding, candidates mutated from the best architectures, independent Thompson sampling (or UCB) picks the top-k to evaluate each round.",
        |c, ctx| {
            let features = c.features.build(ctx.space, ctx.seed)?;
            Ok(Box::new(Bananas::new(c.config.clone(), features, ctx.seed)))
        },
    ));
    registry.add_strategy(StrategyEntry::new::<TpeToml>(
        "tpe",
        "TPE (Bergstra et al. 2011) as Optuna 5.0's TPESampler runs it over the space's decisions: random startup, then the candidate from the good trials' Parzen mixture that best beats the rest's (multivariate by default).",
        |c, ctx| Ok(Box::new(Tpe::new(c.clone(), decisions_of(ctx.space, "tpe")?, ctx.seed))),
    ));
    registry.add_estimator(EstimatorEntry::new::<PredictorToml>(
        "predicted",
        "A predictor (gbdt, forest or mlp-ensemble) trained on labelled architectures from a CSV (any N of its rows), answering `valid` for any architecture: sample-and-filter baselines.",
        Serves::Any,
        |c, ctx| {
            let features = c.features.build(ctx.space, ctx.seed("predicted-features"))?;
            let e = PredictedEstimator::train(ctx.space.clone(), &c.labels, features, &c.predictor, ctx.seed("predicted"))?;
            Ok(Built::new(Box::new(e)))
        },
    ));
}
