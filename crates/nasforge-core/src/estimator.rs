//! The estimator trait: what an architecture is worth.

use crate::Metrics;

/// Why an architecture could not be evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum EvalError {
    /// The architecture is not in the estimator's table.
    #[error("architecture not in the table: {0}")]
    NotInTable(String),
    /// The architecture is invalid for this estimator (an all-`skip` cell).
    #[error("invalid architecture: {0}")]
    Invalid(String),
    /// Training diverged (NaN or infinite loss).
    #[error("training diverged: {0}")]
    Diverged(String),
    /// An objective the search optimises came out NaN or infinite. The
    /// runner turns such a result into this failure, so that no strategy
    /// ranks a NaN; the measured metrics are kept for the journal.
    #[error("objective `{objective}` is not a finite number")]
    NonFinite {
        /// The objective's metric name.
        objective: String,
        /// Everything the estimator reported.
        metrics: Box<Metrics>,
    },
    /// Anything else that went wrong in the estimator.
    #[error("{0}")]
    Other(String),
}

/// What an estimator may know about the trial it serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalContext {
    /// The trial's number in its experiment, from 0.
    pub trial: u64,
    /// The seed of this trial's random choices (weight init, data order).
    pub seed: u64,
}

/// Estimates the worth of architectures of type `A`: a tabular benchmark,
/// a predictor, a zero-cost proxy, or real training.
pub trait Estimator<A>: Send {
    /// The estimator's kebab-case name.
    fn name(&self) -> &str;

    /// Evaluates one architecture.
    fn evaluate(&mut self, arch: &A, ctx: EvalContext) -> Result<Metrics, EvalError>;

    /// Why this estimator can serve no further evaluation (a plugin whose
    /// instance panicked), as opposed to one architecture failing. Runners
    /// stop the search when it is `Some`. `None` by default.
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<A, E: Estimator<A> + ?Sized> Estimator<A> for Box<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn evaluate(&mut self, arch: &A, ctx: EvalContext) -> Result<Metrics, EvalError> {
        (**self).evaluate(arch, ctx)
    }
    fn failure(&self) -> Option<String> {
        (**self).failure()
    }
}
