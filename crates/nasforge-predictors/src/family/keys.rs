//! The predictor and feature keys every predictor-backed component takes
//! in its own table, their check, and the features they build.

use std::sync::Arc;

use nasforge_core::ParamError;
use nasforge_registry::{DataFile, ErasedSpace};

use crate::forest::ForestConfig;
use crate::gbdt::GbdtConfig;
use crate::mlp::MlpConfig;
use crate::{Encoder, Encoding, Features, PredictorSpec};

pub(crate) fn bad(key: &'static str, reason: impl Into<String>) -> ParamError {
    ParamError { key, reason: reason.into() }
}

pub(crate) fn positive(key: &'static str, v: Option<usize>) -> Result<(), ParamError> {
    if v == Some(0) { Err(bad(key, "must be at least 1")) } else { Ok(()) }
}

pub(crate) fn fraction(key: &'static str, v: Option<f64>) -> Result<(), ParamError> {
    match v {
        Some(f) if !(f > 0.0 && f <= 1.0) => Err(bad(key, format!("must be in (0, 1], got {f}"))),
        _ => Ok(()),
    }
}

pub(crate) fn finite_non_negative(key: &'static str, v: Option<f64>) -> Result<(), ParamError> {
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
            /// The predictor: `gbdt`, `forest` or `mlp-ensemble` (and, in
            /// the `predicted` estimator, `gennape`).
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
            /// GBDT: rows per leaf at least (5, NASLib's).
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

        impl $name {
            /// These keys with the checked predictor's and features'
            /// settings written out (what the journal stores).
            pub(crate) fn fill_predictor_keys(&mut self, spec: &PredictorSpec, features: &FeatureSpec) {
                self.encoding = Some(features.encoding.name().to_owned());
                self.path_cutoff = features.cutoff;
                if let Some((path, task, _)) = &features.proxies {
                    if path.extension().is_some_and(|e| e == "json") {
                        self.proxy_task = Some(task.clone());
                    }
                }
                match spec {
                    PredictorSpec::Gbdt(c) => {
                        self.predictor = Some("gbdt".into());
                        (self.rounds, self.learning_rate, self.max_depth, self.min_child_weight) = (Some(c.rounds), Some(c.learning_rate), Some(c.max_depth), Some(c.min_child_weight));
                        (self.lambda, self.feature_fraction, self.bagging_fraction, self.bagging_freq) = (Some(c.lambda), Some(c.feature_fraction), Some(c.bagging_fraction), Some(c.bagging_freq));
                    }
                    PredictorSpec::Forest(c) => {
                        self.predictor = Some("forest".into());
                        (self.trees, self.max_features, self.min_samples_leaf) = (Some(c.trees), Some(c.max_features), Some(c.min_samples_leaf));
                    }
                    PredictorSpec::Mlp(c) => {
                        self.predictor = Some("mlp-ensemble".into());
                        (self.members, self.layers, self.width, self.epochs, self.batch, self.lr) = (Some(c.members), Some(c.layers), Some(c.width), Some(c.epochs), Some(c.batch), Some(c.lr));
                    }
                }
            }
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
pub(crate) use with_predictor_keys;

pub(crate) const GBDT_KEYS: [&str; 8] = ["rounds", "learning-rate", "max-depth", "min-child-weight", "lambda", "feature-fraction", "bagging-fraction", "bagging-freq"];
pub(crate) const FOREST_KEYS: [&str; 3] = ["trees", "max-features", "min-samples-leaf"];
pub(crate) const MLP_KEYS: [&str; 6] = ["members", "layers", "width", "epochs", "batch", "lr"];

/// The predictor and feature keys of a component's table.
pub struct KeysRef<'a> {
    pub(crate) predictor: &'a Option<String>,
    pub(crate) encoding: &'a Option<String>,
    pub(crate) path_cutoff: Option<usize>,
    pub(crate) proxy_table: &'a Option<DataFile>,
    pub(crate) proxies: &'a Option<Vec<String>>,
    pub(crate) proxy_task: &'a Option<String>,
    pub(crate) gbdt: [Option<f64>; 8],
    pub(crate) forest: [Option<f64>; 3],
    pub(crate) mlp: [Option<f64>; 6],
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
    /// The features for `space` (reads the proxy table); `seed` is the
    /// component's, from which the scan's own stream derives.
    pub fn build(&self, space: &ErasedSpace, seed: u64) -> Result<Features, String> {
        let encoder = Encoder::new(space, self.encoding, self.cutoff, nasforge_core::derive_seed(seed, "encoding-scan"))?;
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

/// Refuses every feature and row-predictor key (for a predictor that
/// reads something else: `why`).
pub(crate) fn no_row_keys(k: &KeysRef<'_>, why: &str) -> Result<(), ParamError> {
    let set = [("encoding", k.encoding.is_some()), ("path-cutoff", k.path_cutoff.is_some()), ("proxy-table", k.proxy_table.is_some()), ("proxies", k.proxies.is_some()), ("proxy-task", k.proxy_task.is_some())]
        .into_iter()
        .chain(GBDT_KEYS.iter().zip(&k.gbdt).map(|(key, v)| (*key, v.is_some())))
        .chain(FOREST_KEYS.iter().zip(&k.forest).map(|(key, v)| (*key, v.is_some())))
        .chain(MLP_KEYS.iter().zip(&k.mlp).map(|(key, v)| (*key, v.is_some())));
    for (key, on) in set {
        if on {
            return Err(bad(key, format!("does not apply: {why}")));
        }
    }
    Ok(())
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
        (Some(t), Some(names)) if !names.is_empty() => {
            let json = t.path().extension().is_some_and(|e| e == "json");
            if k.proxy_task.is_some() && !json {
                return Err(bad("proxy-task", "names a task of NASLib's JSON tables; a scores CSV has one set of scores"));
            }
            Some((t.path().to_path_buf(), k.proxy_task.clone().unwrap_or_else(|| "cifar10".into()), names.clone()))
        }
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
        "gennape" => return Err(bad("predictor", format!("GENNAPE reads computation graphs, and only the `predicted` estimator takes it; choose one of: {}", PredictorSpec::NAMES.join(", ")))),
        other => return Err(bad("predictor", format!("unknown predictor `{other}`; choose one of: {}", PredictorSpec::NAMES.join(", ")))),
    };
    Ok((spec, FeatureSpec { encoding, cutoff: k.path_cutoff, proxies }))
}
