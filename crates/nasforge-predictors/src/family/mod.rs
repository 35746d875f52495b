//! The predictors family's registry entries: the strategies `gbdt-nas`,
//! `gbdt-nas-3s`, `bananas`, `fbnetv3` and `tpe`, and the estimator
//! `predicted`. The predictor and feature keys they share are `keys.rs`.
//!
//! Predictor and feature settings are keys of the component's own table
//! (`predictor = "gbdt"`, `rounds = 100`, `encoding = "path"`, ...), so
//! that a mistake is reported at its line.

use nasforge_core::{ParamError, SearchSpace};
use nasforge_registry::{Built, DataFile, ErasedSpace, EstimatorEntry, Params, Registry, Serves, StrategyEntry};
use serde::{Deserialize, Serialize};

use crate::bananas::{Acquisition, Bananas, BananasConfig};
use crate::fbnetv3::{FbnetV3, FbnetV3Config};
use crate::gbdt_nas::{GbdtNas, GbdtNasConfig, PruneConfig};
use crate::predicted::{Labels, PredictedEstimator};
use crate::tpe::{Tpe, TpeConfig};
use crate::{Encoder, Encoding, Features, PredictorSpec};

mod keys;

use keys::{FeatureSpec, KeysRef, PredictorKeys, bad, check_keys, no_row_keys, positive, with_predictor_keys};

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

fn resolve_gbdt_nas(t: &GbdtNasToml, c: &GbdtNasChecked) -> GbdtNasToml {
    let mut out = GbdtNasToml { initial: Some(c.config.initial), top_k: Some(c.config.top_k), candidates: Some(c.config.candidates), ..t.clone() };
    if let Some(p) = &c.config.prune {
        out.prune_rounds = Some(p.rounds);
        out.prune_per_round = p.per_round;
    }
    out.fill_predictor_keys(&PredictorSpec::Gbdt(c.config.gbdt.clone()), &c.features);
    out
}

impl Params for GbdtNasToml {
    type Checked = GbdtNasChecked;
    fn check(&self) -> Result<Self::Checked, ParamError> {
        check_gbdt_nas(self, false)
    }

    fn resolved(&self, c: &Self::Checked) -> Self {
        resolve_gbdt_nas(self, c)
    }
}

impl Params for GbdtNas3sToml {
    type Checked = GbdtNasChecked;
    fn check(&self) -> Result<Self::Checked, ParamError> {
        check_gbdt_nas(&self.0, true)
    }

    fn resolved(&self, c: &Self::Checked) -> Self {
        GbdtNas3sToml(resolve_gbdt_nas(&self.0, c))
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

    fn resolved(&self, c: &Self::Checked) -> Self {
        let b = &c.config;
        let mut out = BananasToml {
            initial: Some(b.initial),
            top_k: Some(b.top_k),
            candidates: Some(b.candidates),
            parents: Some(b.parents),
            mutation_rate: Some(b.mutation_rate),
            acquisition: Some(match b.acquisition {
                Acquisition::Its => "its".into(),
                Acquisition::Ucb => "ucb".into(),
            }),
            ..self.clone()
        };
        out.fill_predictor_keys(&b.predictor, &c.features);
        out
    }
}

/// `[strategy] name = "fbnetv3"`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FbnetV3Toml {
    /// Random configurations first (10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<usize>,
    /// Evaluations per round (5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Candidates ranked per round (1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<usize>,
    /// Configurations the predictor pre-trains on (2,000; 0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<usize>,
    /// Hidden layers (2) and width (64) of the predictor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
    /// See `layers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// Pre-training (50) and fine-tuning (200) epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_epochs: Option<usize>,
    /// See `pretrain-epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Adam's learning rate (1e-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
}

impl Params for FbnetV3Toml {
    type Checked = FbnetV3Config;
    fn check(&self) -> Result<FbnetV3Config, ParamError> {
        for (key, v) in [("initial", self.initial), ("top-k", self.top_k), ("candidates", self.candidates), ("width", self.width), ("epochs", self.epochs)] {
            positive(key, v)?;
        }
        if let Some(l) = self.lr {
            if !(l > 0.0 && l.is_finite()) {
                return Err(bad("lr", format!("must be a finite number > 0, got {l}")));
            }
        }
        let d = FbnetV3Config::default();
        Ok(FbnetV3Config {
            initial: self.initial.unwrap_or(d.initial),
            top_k: self.top_k.unwrap_or(d.top_k),
            candidates: self.candidates.unwrap_or(d.candidates),
            pretrain: self.pretrain.unwrap_or(d.pretrain),
            layers: self.layers.unwrap_or(d.layers),
            width: self.width.unwrap_or(d.width),
            pretrain_epochs: self.pretrain_epochs.unwrap_or(d.pretrain_epochs),
            epochs: self.epochs.unwrap_or(d.epochs),
            lr: self.lr.unwrap_or(d.lr),
        })
    }

    fn resolved(&self, c: &FbnetV3Config) -> Self {
        FbnetV3Toml {
            initial: Some(c.initial),
            top_k: Some(c.top_k),
            candidates: Some(c.candidates),
            pretrain: Some(c.pretrain),
            layers: Some(c.layers),
            width: Some(c.width),
            pretrain_epochs: Some(c.pretrain_epochs),
            epochs: Some(c.epochs),
            lr: Some(c.lr),
        }
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
        /// `predictor = "gennape"`: graphs sampled from the space for its
        /// contrastive pre-training (2,000; 0 skips it).
        pub pretrain_graphs: Option<usize>,
    }
}

/// GENNAPE's pre-training graphs by default.
const PRETRAIN_GRAPHS: usize = 2_000;

/// The checked form of a [`PredictorToml`].
#[derive(Clone, Debug)]
pub struct PredictedChecked {
    labels: Labels,
    model: PredictedModel,
}

/// What `predicted` trains.
#[derive(Clone, Debug)]
enum PredictedModel {
    /// A predictor over features.
    Rows(PredictorSpec, FeatureSpec),
    /// GENNAPE over computation graphs, with its pre-training graphs.
    Gennape(usize),
}

impl Params for PredictorToml {
    type Checked = PredictedChecked;
    fn check(&self) -> Result<Self::Checked, ParamError> {
        let path = self.labels.as_ref().ok_or_else(|| bad("labels", "name the CSV of labelled architectures the predictor trains on"))?;
        positive("samples", self.samples)?;
        let model = if self.predictor.as_deref() == Some("gennape") {
            // GENNAPE reads graphs: no encoding, proxy or row-predictor key applies.
            no_row_keys(&self.keys(), "a setting of the feature-row predictors; GENNAPE reads the architecture's computation graph and trains with its reference's schedule")?;
            PredictedModel::Gennape(self.pretrain_graphs.unwrap_or(PRETRAIN_GRAPHS))
        } else {
            let (predictor, features) = check_keys(&self.keys(), "gbdt", Encoding::OneHot).map_err(|e| match e.key {
                "predictor" if e.reason.starts_with("unknown") => ParamError { reason: format!("{}, gennape", e.reason), ..e },
                _ => e,
            })?;
            if self.pretrain_graphs.is_some() {
                return Err(bad("pretrain-graphs", "applies to `predictor = \"gennape\"` only"));
            }
            PredictedModel::Rows(predictor, features)
        };
        Ok(PredictedChecked {
            labels: Labels {
                path: path.path().to_path_buf(),
                arch_column: self.arch_column.clone().unwrap_or_else(|| "arch".into()),
                label_column: self.label_column.clone().unwrap_or_else(|| "valid".into()),
                samples: self.samples,
            },
            model,
        })
    }

    fn resolved(&self, c: &Self::Checked) -> Self {
        let mut out = PredictorToml { arch_column: Some(c.labels.arch_column.clone()), label_column: Some(c.labels.label_column.clone()), ..self.clone() };
        match &c.model {
            PredictedModel::Rows(predictor, features) => out.fill_predictor_keys(predictor, features),
            PredictedModel::Gennape(graphs) => out.pretrain_graphs = Some(*graphs),
        }
        out
    }
}

fn decisions_of(space: &ErasedSpace, who: &str) -> Result<Vec<usize>, String> {
    space.decisions().ok_or_else(|| format!("{who} samples the space's decision view, which `{}` does not have", space.name()))
}

/// Registers the strategies `gbdt-nas`, `gbdt-nas-3s`, `bananas`,
/// `fbnetv3`, `tpe` and the estimator `predicted`.
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
    registry.add_strategy(StrategyEntry::new::<FbnetV3Toml>(
        "fbnetv3",
        "FBNetV3 (Dai et al., CVPR 2021): an MLP predictor pre-trained on architecture statistics (parameters, MACs), fine-tuned on the evaluations each round to pick the top-k of fresh samples; with a `[trainer]` that lists `search-*` values, architecture and training recipe are searched together.",
        |c, ctx| {
            let encoder = Encoder::new(ctx.space, Encoding::OneHot, None, nasforge_core::derive_seed(ctx.seed, "encoding-scan"))?;
            Ok(Box::new(FbnetV3::new(c.clone(), Features::new(encoder), ctx.seed)))
        },
    ));
    registry.add_strategy(StrategyEntry::new::<TpeToml>(
        "tpe",
        "TPE (Bergstra et al. 2011) as Optuna 5.0's TPESampler runs it over the space's decisions: random startup, then the candidate from the good trials' Parzen mixture that best beats the rest's (multivariate by default).",
        |c, ctx| Ok(Box::new(Tpe::new(c.clone(), decisions_of(ctx.space, "tpe")?, ctx.seed))),
    ));
    registry.add_estimator(EstimatorEntry::new::<PredictorToml>(
        "predicted",
        "A predictor (gbdt, forest, mlp-ensemble, or gennape on computation graphs) trained on labelled architectures from a CSV (any N of its rows), answering `valid` for any architecture: sample-and-filter baselines.",
        Serves::Any,
        |c, ctx| {
            let seed = ctx.seed("predicted");
            let e = match &c.model {
                PredictedModel::Rows(predictor, features) => PredictedEstimator::train(ctx.space.clone(), &c.labels, features.build(ctx.space, seed)?, predictor, seed)?,
                PredictedModel::Gennape(graphs) => PredictedEstimator::train_gennape(ctx.space.clone(), &c.labels, *graphs, seed)?,
            };
            Ok(Built::new(Box::new(e)))
        },
    ));
}
