//! What an evaluation produces, and what a search optimises.

use serde::{Deserialize, Serialize};

use crate::EvalError;

/// The measurements of one architecture.
///
/// Scores are in the source's own unit (NAS-Bench-201 reports percent,
/// NAS-Bench-Graph fractions); higher is better for scores, lower for costs.
/// Fields a source does not have are `None`. Every value round-trips
/// through serde exactly, NaN and infinities included (as the strings
/// `"NaN"`, `"inf"`, `"-inf"` in formats that lack them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The score a search may look at (validation accuracy).
    #[serde(with = "crate::float::plain")]
    pub valid: f64,
    /// The held-out score, reported but never searched on.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::float::option")]
    pub test: Option<f64>,
    /// Parameters, in millions.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::float::option")]
    pub params_m: Option<f64>,
    /// Multiply-accumulates, in millions.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::float::option")]
    pub flops_m: Option<f64>,
    /// Inference latency, in seconds, on the source's hardware.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::float::option")]
    pub latency_s: Option<f64>,
    /// What producing these numbers would cost (training seconds for a
    /// tabular source, measured seconds for a real trainer).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::float::option")]
    pub cost_s: Option<f64>,
    /// Any further named measurements (proxy scores, energy, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "crate::float::pairs")]
    pub extra: Vec<(String, f64)>,
}

impl Metrics {
    /// A measurement with only a validation score.
    pub fn with_valid(valid: f64) -> Self {
        Self { valid, ..Self::default() }
    }

    /// The value of one metric, when present.
    pub fn get(&self, metric: &Metric) -> Option<f64> {
        match metric {
            Metric::Valid => Some(self.valid),
            Metric::Test => self.test,
            Metric::Params => self.params_m,
            Metric::Flops => self.flops_m,
            Metric::Latency => self.latency_s,
            Metric::Cost => self.cost_s,
            Metric::Named(name) => self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| *v),
        }
    }
}

/// A metric by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// [`Metrics::valid`].
    Valid,
    /// [`Metrics::test`].
    Test,
    /// [`Metrics::params_m`].
    Params,
    /// [`Metrics::flops_m`].
    Flops,
    /// [`Metrics::latency_s`].
    Latency,
    /// [`Metrics::cost_s`].
    Cost,
    /// An entry of [`Metrics::extra`].
    Named(String),
}

/// Whether an objective is maximised or minimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// Higher is better.
    Maximize,
    /// Lower is better.
    Minimize,
}

/// One objective of a search: a metric and its direction.
///
/// Single-objective strategies use one; multi-objective strategies take a
/// list and compare [`Objective::fitness`] vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// The metric.
    pub metric: Metric,
    /// Its direction.
    pub goal: Goal,
}

impl Objective {
    /// Maximise the validation score: the default objective.
    pub fn valid() -> Self {
        Self { metric: Metric::Valid, goal: Goal::Maximize }
    }

    /// An objective by metric name, as experiment files write it: `valid`
    /// and `test` are maximised, every other metric (params, flops,
    /// latency, cost, any named metric) minimised.
    pub fn named(name: &str) -> Self {
        let (metric, goal) = match name {
            "valid" => (Metric::Valid, Goal::Maximize),
            "test" => (Metric::Test, Goal::Maximize),
            "params" => (Metric::Params, Goal::Minimize),
            "flops" => (Metric::Flops, Goal::Minimize),
            "latency" => (Metric::Latency, Goal::Minimize),
            "cost" => (Metric::Cost, Goal::Minimize),
            other => (Metric::Named(other.to_owned()), Goal::Minimize),
        };
        Self { metric, goal }
    }

    /// The metric as a "higher is better" number, or `None` when the
    /// metrics lack it.
    pub fn fitness(&self, metrics: &Metrics) -> Option<f64> {
        let v = metrics.get(&self.metric)?;
        Some(match self.goal {
            Goal::Maximize => v,
            Goal::Minimize => -v,
        })
    }
}

impl Default for Objective {
    fn default() -> Self {
        Self::valid()
    }
}

/// The outcome of evaluating one architecture.
pub type Evaluation = Result<Metrics, EvalError>;
