//! Simulated annealing (Kirkpatrick et al. 1983) over a space's
//! mutations: accept a worse neighbour with probability exp(Δ/T), the
//! temperature cooling geometrically per step. Written against the core
//! traits only, so it searches any space.

use nasforge_core::rand::Rng as _;
use nasforge_core::{Evaluation, Objective, ParamError, SearchSpace, SeededRng, Strategy, seeded_rng};
use nasforge_registry::{Params, Registry, StrategyEntry};
use serde::{Deserialize, Serialize};

/// `[strategy] name = "annealing"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AnnealingParams {
    /// The starting temperature, in units of the objective.
    pub t0: f64,
    /// The factor the temperature is multiplied by after each step.
    pub cooling: f64,
}

impl Default for AnnealingParams {
    fn default() -> Self {
        Self { t0: 1.0, cooling: 0.995 }
    }
}

impl Params for AnnealingParams {
    type Checked = AnnealingParams;
    fn check(&self) -> Result<Self, ParamError> {
        if !(self.t0 > 0.0 && self.t0.is_finite()) {
            return Err(ParamError { key: "t0", reason: format!("must be a positive temperature, got {}", self.t0) });
        }
        if !(self.cooling > 0.0 && self.cooling <= 1.0) {
            return Err(ParamError { key: "cooling", reason: format!("must lie in (0, 1], got {}", self.cooling) });
        }
        Ok(self.clone())
    }
}

/// The strategy's state: the current point and the temperature.
pub struct Annealing<A> {
    params: AnnealingParams,
    rng: SeededRng,
    current: Option<(A, f64)>,
    temperature: f64,
}

impl<A> Annealing<A> {
    /// A search with these parameters and seed.
    pub fn new(params: AnnealingParams, seed: u64) -> Self {
        Self { temperature: params.t0, params, rng: seeded_rng(seed), current: None }
    }
}

impl<S: SearchSpace> Strategy<S> for Annealing<S::Arch> {
    fn name(&self) -> &str {
        "annealing"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        Some(match &self.current {
            None => space.sample(&mut self.rng),
            Some((arch, _)) => space.mutate(arch, &mut self.rng),
        })
    }

    fn tell(&mut self, _space: &S, arch: &S::Arch, outcome: &Evaluation) {
        let Some(score) = outcome.as_ref().ok().and_then(|m| Objective::valid().fitness(m)) else { return };
        let accept = match &self.current {
            None => true,
            Some((_, current)) => score >= *current || self.rng.random::<f64>() < ((score - current) / self.temperature).exp(),
        };
        if accept {
            self.current = Some((arch.clone(), score));
        }
        self.temperature *= self.params.cooling;
    }
}

/// Registers `annealing`.
pub fn register(registry: &mut Registry) {
    registry.add_strategy(StrategyEntry::new::<AnnealingParams>(
        "annealing",
        "Simulated annealing over the space's mutations (this crate's own strategy).",
        |p, ctx| Ok(Box::new(Annealing::new(p.clone(), ctx.seed))),
    ));
}
