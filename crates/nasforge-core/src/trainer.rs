//! The trainer trait: what engine crates implement.

use serde::{Deserialize, Serialize};

use crate::{EvalContext, EvalError, Estimator, Metrics};

/// How much training a trainer may spend on one network. Whichever limit is
/// reached first ends training; `None` means no limit of that kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainBudget {
    /// Passes over the training set.
    pub epochs: Option<u32>,
    /// Optimiser steps.
    pub steps: Option<u64>,
    /// Wall-clock seconds.
    pub seconds: Option<f64>,
}

/// What training produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Final measurements (validation and test accuracy, parameters, ...).
    pub metrics: Metrics,
    /// Mean training loss per epoch, for learning curves.
    pub loss_curve: Vec<f64>,
    /// Optimiser steps taken.
    pub steps: u64,
}

/// Trains networks of architecture type `A` on the trainer's dataset.
///
/// Engine crates (dfdx) implement it; nothing else needs to know the engine.
pub trait Trainer<A>: Send {
    /// The trainer's kebab-case name.
    fn name(&self) -> &str;

    /// Builds the network for `arch`, trains it within `budget` with all
    /// randomness drawn from `seed`, and evaluates it.
    fn train(&mut self, arch: &A, budget: &TrainBudget, seed: u64) -> Result<TrainReport, EvalError>;
}

/// Any trainer as an estimator: each evaluation trains the architecture for
/// `budget` with the trial's seed and reports the trained metrics, so every
/// strategy can search with real training.
pub struct TrainingEstimator<T> {
    trainer: T,
    budget: TrainBudget,
}

impl<T> TrainingEstimator<T> {
    /// Wraps `trainer`, training each candidate for `budget`.
    pub fn new(trainer: T, budget: TrainBudget) -> Self {
        Self { trainer, budget }
    }
}

impl<A, T: Trainer<A>> Estimator<A> for TrainingEstimator<T> {
    fn name(&self) -> &str {
        self.trainer.name()
    }

    fn evaluate(&mut self, arch: &A, ctx: EvalContext) -> Result<Metrics, EvalError> {
        self.trainer.train(arch, &self.budget, ctx.seed).map(|r| r.metrics)
    }
}
