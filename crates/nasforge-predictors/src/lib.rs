//! Performance predictors and the searches they guide.
//!
//! A [`Predictor`] learns an architecture's accuracy from a few evaluated
//! ones ([`Predictor::fit`] on feature rows) and ranks many unseen ones.
//! Rows come from [`Features`]: an [`Encoding`] of the architecture
//! (the space's one-hot, the decision view's one-hot, GBDT-NAS's
//! adjacency and operations, BANANAS' paths) and, optionally, zero-cost
//! proxy scores from a table.
//!
//! - [`gbdt`]: gradient-boosted trees grown by smartcore, with LightGBM's
//!   settings as GBDT-NAS uses them (and what has no equivalent);
//! - [`forest`]: smartcore's random forest, the baseline;
//! - [`mlp`]: BANANAS' ensemble of MLPs, on the engine;
//! - [`shap`]: exact TreeSHAP over [`gbdt`]'s trees, for GBDT-NAS-3S.
//!
//! Strategies (each ask/tell, so a resumed run replays them from the
//! journal): [`gbdt_nas`] (GBDT-NAS and GBDT-NAS-3S), [`bananas`],
//! [`fbnetv3`] (joint architecture–recipe search with a predictor
//! pre-trained on architecture statistics), [`tpe`] (Optuna's
//! tree-structured Parzen estimator over the decision view).
//! [`predicted`] is any predictor as an estimator.

pub mod bananas;
pub mod encoding;
mod family;
pub mod fbnetv3;
pub mod forest;
pub mod gbdt;
pub mod gbdt_nas;
mod guided;
pub mod mlp;
pub mod predicted;
pub mod shap;
pub mod tpe;

pub use encoding::{Encoder, Encoding, Features};
pub use family::{PredictorToml, register};

/// A regression model over fixed-width feature rows.
///
/// Fitting is deterministic given its seed; rows may hold NaN (a proxy
/// that failed), which each model treats its own way.
pub trait Predictor: Send + Sync {
    /// The model's name (`gbdt`, `forest`, `mlp-ensemble`).
    fn name(&self) -> &str;

    /// Fits to rows `x` with labels `y`, replacing any earlier fit.
    fn fit(&mut self, x: &[Vec<f64>], y: &[f64], seed: u64) -> Result<(), String>;

    /// Predicted labels.
    fn predict(&self, x: &[Vec<f64>]) -> Vec<f64>;

    /// Predicted mean and standard deviation per row, for models with a
    /// spread (ensembles); by default the prediction with no spread.
    fn predict_spread(&self, x: &[Vec<f64>]) -> Vec<(f64, f64)> {
        self.predict(x).into_iter().map(|m| (m, 0.0)).collect()
    }
}

/// A predictor by kind and settings: each fit builds a fresh one.
#[derive(Clone, Debug, PartialEq)]
pub enum PredictorSpec {
    /// [`gbdt::Gbdt`].
    Gbdt(gbdt::GbdtConfig),
    /// [`forest::Forest`].
    Forest(forest::ForestConfig),
    /// [`mlp::MlpEnsemble`].
    Mlp(mlp::MlpConfig),
}

impl PredictorSpec {
    /// Names in TOML.
    pub const NAMES: [&'static str; 3] = ["gbdt", "forest", "mlp-ensemble"];

    /// An unfitted predictor.
    pub fn build(&self) -> Box<dyn Predictor> {
        match self {
            PredictorSpec::Gbdt(c) => Box::new(gbdt::Gbdt::new(c.clone())),
            PredictorSpec::Forest(c) => Box::new(forest::Forest::new(c.clone())),
            PredictorSpec::Mlp(c) => Box::new(mlp::MlpEnsemble::new(c.clone())),
        }
    }
}

/// Labels standardised to mean 0 and standard deviation 1 (left centred
/// where they are constant), as NASLib's tree predictors and GBDT-NAS do;
/// with the mean and standard deviation.
pub fn standardise(y: &[f64]) -> Result<(Vec<f64>, (f64, f64)), String> {
    if y.is_empty() {
        return Err("no labelled architectures to fit on".into());
    }
    if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
        return Err(format!("a label is {bad}: failed trials must be left out of a fit"));
    }
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let sd = if sd > 0.0 { sd } else { 1.0 };
    Ok((y.iter().map(|v| (v - mean) / sd).collect(), (mean, sd)))
}
