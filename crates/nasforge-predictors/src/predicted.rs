//! Any predictor as an estimator: trained once on labelled architectures
//! from a CSV (a benchmark table, training results written out), then
//! answering `valid` for any architecture of the space. For
//! sample-and-filter baselines: a strategy searches the predictor, and
//! the best it finds is evaluated for real afterwards. The predictor reads
//! feature rows (GBDT, forest, MLP ensemble) or the architecture's
//! computation graph (GENNAPE, pre-trained contrastively on graphs sampled
//! from the space first).

use std::path::PathBuf;

use nasforge_core::rand::seq::SliceRandom;
use nasforge_core::{EvalContext, EvalError, Estimator, Metrics, SearchSpace, derive_seed, seeded_rng};
use nasforge_gennape::{Cg, Gennape, GennapeConfig, lower};
use nasforge_registry::{DynArch, ErasedSpace};

use crate::{Features, Predictor, PredictorSpec};

/// Where the labels come from.
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    /// The CSV.
    pub path: PathBuf,
    /// Its column of standard strings.
    pub arch_column: String,
    /// Its label column.
    pub label_column: String,
    /// Rows drawn to train on (all when `None`).
    pub samples: Option<usize>,
}

impl Labels {
    /// The labelled architectures of the CSV (rows whose label is not a
    /// number are an error naming the line).
    pub fn read<S: SearchSpace + ?Sized>(&self, space: &S) -> Result<Vec<(S::Arch, f64)>, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", self.path.display());
        let mut reader = csv::Reader::from_path(&self.path).map_err(|e| at(&e))?;
        let header = reader.headers().map_err(|e| at(&e))?.clone();
        let col = |name: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| at(&format!("no column `{name}`; it has: {}", header.iter().collect::<Vec<_>>().join(", "))))
        };
        let (a, l) = (col(&self.arch_column)?, col(&self.label_column)?);
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| at(&e))?;
            let line = record.position().map_or(0, |p| p.line());
            let arch = space.parse(&record[a]).map_err(|e| at(&format!("line {line}: {e}")))?;
            let label: f64 = record[l].trim().parse().map_err(|_| at(&format!("line {line}: `{}` is not a number", &record[l])))?;
            if label.is_finite() {
                rows.push((arch, label));
            }
        }
        if rows.is_empty() {
            return Err(at(&"no labelled rows"));
        }
        Ok(rows)
    }
}

/// What the estimator predicts with.
enum Model {
    /// A predictor over feature rows.
    Rows { features: Features, model: Box<dyn Predictor> },
    /// GENNAPE over computation graphs.
    Graphs(Box<Gennape>),
}

/// The `predicted` estimator.
pub struct PredictedEstimator {
    space: ErasedSpace,
    model: Model,
}

impl PredictedEstimator {
    fn labelled(space: &ErasedSpace, labels: &Labels, seed: u64) -> Result<(Vec<DynArch>, Vec<f64>), String> {
        let mut rows = labels.read(space)?;
        if let Some(n) = labels.samples {
            if n > rows.len() {
                return Err(format!("{}: `samples = {n}` but the file has {} labelled rows", labels.path.display(), rows.len()));
            }
            rows.shuffle(&mut seeded_rng(seed));
            rows.truncate(n);
        }
        Ok(rows.into_iter().unzip())
    }

    /// Trains `spec` on `labels` (the seeded sample of them).
    pub fn train(space: ErasedSpace, labels: &Labels, features: Features, spec: &PredictorSpec, seed: u64) -> Result<Self, String> {
        let (archs, y) = Self::labelled(&space, labels, seed)?;
        let x: Vec<Vec<f64>> = archs.iter().map(|a| features.row(&space, a)).collect();
        let mut model = spec.build();
        model.fit(&x, &y, seed).map_err(|e| format!("{}: {e}", labels.path.display()))?;
        Ok(PredictedEstimator { space, model: Model::Rows { features, model } })
    }

    /// Trains GENNAPE (its defaults) on `labels`: pre-trained on
    /// `pretrain_graphs` graphs sampled from the space (none: no
    /// pre-training), then fitted with the reference's schedule for the
    /// number of labels ([`Gennape::for_labels`]).
    pub fn train_gennape(space: ErasedSpace, labels: &Labels, pretrain_graphs: usize, seed: u64) -> Result<Self, String> {
        let (archs, y) = Self::labelled(&space, labels, seed)?;
        let mut rng = seeded_rng(derive_seed(seed, "gennape-pretrain"));
        let unlabelled: Vec<Cg> = (0..pretrain_graphs).map(|_| lower(&space.to_graph(&space.sample(&mut rng)))).collect();
        let mut model = Gennape::new(GennapeConfig::default(), seed);
        model.pretrain(&unlabelled);
        let mut model = model.for_labels(archs.len());
        model.fit(&archs.iter().map(|a| lower(&space.to_graph(a))).collect::<Vec<_>>(), &y);
        Ok(PredictedEstimator { space, model: Model::Graphs(Box::new(model)) })
    }
}

impl Estimator<DynArch> for PredictedEstimator {
    fn name(&self) -> &str {
        "predicted"
    }

    fn evaluate(&mut self, arch: &DynArch, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let valid = match &self.model {
            Model::Rows { features, model } => model.predict(&[features.row(&self.space, arch)])[0],
            Model::Graphs(model) => model.predict(&[lower(&self.space.to_graph(arch))])[0],
        };
        Ok(Metrics { valid, ..Metrics::default() })
    }
}
