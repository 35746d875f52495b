//! The evolution family: search strategies over any [`SearchSpace`] that
//! need nothing but its sampling and mutation (and, for NSGA-II, its
//! optional crossover). [`register`] adds them to a registry.
//!
//! - [`RandomSearch`]: independent uniform samples.
//! - [`RegularizedEvolution`]: aging evolution (Real et al., AAAI 2019):
//!   tournament selection, single-choice mutation, the oldest member dies.
//! - [`LocalSearch`]: hill climbing over neighbourhoods with restarts.
//! - [`Nsga2`]: multi-objective evolution (non-dominated sorting, crowding).
//! - [`QMutation`]: aging evolution whose mutation is chosen by Q-learning.
//!
//! Each is built from a checked config (`*Params::check`) and one seed, and
//! is deterministic given that seed and the outcomes it is told.

use std::collections::VecDeque;

mod family;
mod local_search;
mod nsga2;
mod q_mutation;
pub use family::{LocalSearchToml, Nsga2Checked, Nsga2Toml, QMutationToml, RegularizedEvolutionToml, register};
pub use local_search::LocalSearch;
pub use q_mutation::{QMutation, QMutationConfig, QMutationParams};
pub use nsga2::{Nsga2, Nsga2Config, Nsga2Params, hypervolume_2d, non_dominated_fronts};

use nasforge_core::{Evaluation, Objective, SearchSpace, Strategy};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use nasforge_core::ParamError;

/// Uniform random sampling from the space.
#[derive(Debug)]
pub struct RandomSearch {
    rng: ChaCha8Rng,
}

impl RandomSearch {
    /// A random search seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed) }
    }
}

impl<S: SearchSpace> Strategy<S> for RandomSearch {
    fn name(&self) -> &str {
        "random-search"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        Some(space.sample(&mut self.rng))
    }

    fn tell(&mut self, _space: &S, _arch: &S::Arch, _outcome: &Evaluation) {}
}

/// Unchecked parameters of [`RegularizedEvolution`]; [`Self::check`] turns
/// them into a [`RegularizedEvolutionConfig`].
#[derive(Clone, Debug, PartialEq)]
pub struct RegularizedEvolutionParams {
    /// Population size P: the first P proposals are random.
    pub population: usize,
    /// Tournament size S: parents are the best of S members drawn without
    /// replacement.
    pub sample_size: usize,
    /// What "best" means.
    pub objective: Objective,
}

impl Default for RegularizedEvolutionParams {
    fn default() -> Self {
        Self { population: 20, sample_size: 5, objective: Objective::valid() }
    }
}

impl RegularizedEvolutionParams {
    /// Sets the population size.
    pub fn population(mut self, population: usize) -> Self {
        self.population = population;
        self
    }

    /// Sets the tournament size.
    pub fn sample_size(mut self, sample_size: usize) -> Self {
        self.sample_size = sample_size;
        self
    }

    /// Sets the objective.
    pub fn objective(mut self, objective: Objective) -> Self {
        self.objective = objective;
        self
    }

    /// Validates the parameters.
    pub fn check(self) -> Result<RegularizedEvolutionConfig, ParamError> {
        if self.population < 2 {
            return Err(ParamError { key: "population", reason: format!("must be at least 2, got {}", self.population) });
        }
        if self.sample_size == 0 || self.sample_size > self.population {
            return Err(ParamError {
                key: "sample-size",
                reason: format!("must be in 1..={} (the population), got {}", self.population, self.sample_size),
            });
        }
        Ok(RegularizedEvolutionConfig(self))
    }
}

/// Checked parameters of [`RegularizedEvolution`].
#[derive(Clone, Debug, PartialEq)]
pub struct RegularizedEvolutionConfig(RegularizedEvolutionParams);

impl RegularizedEvolutionConfig {
    /// The checked parameters.
    pub fn params(&self) -> &RegularizedEvolutionParams {
        &self.0
    }
}

/// Regularized (aging) evolution.
///
/// The population is a queue: a told result joins at the back, and once the
/// queue exceeds P the oldest member leaves, however good it is. Failed
/// evaluations never join.
#[derive(Debug)]
pub struct RegularizedEvolution<A> {
    config: RegularizedEvolutionParams,
    rng: ChaCha8Rng,
    population: VecDeque<(A, f64)>,
    asked: usize,
}

impl<A> RegularizedEvolution<A> {
    /// Regularized evolution with a checked config, seeded with `seed`.
    pub fn new(config: RegularizedEvolutionConfig, seed: u64) -> Self {
        let p = config.0.population;
        Self { config: config.0, rng: ChaCha8Rng::seed_from_u64(seed), population: VecDeque::with_capacity(p + 1), asked: 0 }
    }

    /// The current population, oldest first, with fitness.
    pub fn population(&self) -> impl Iterator<Item = &(A, f64)> {
        self.population.iter()
    }
}

impl<S: SearchSpace> Strategy<S> for RegularizedEvolution<S::Arch> {
    fn name(&self) -> &str {
        "regularized-evolution"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        self.asked += 1;
        // The first P proposals seed the population; if all of them failed
        // there is nobody to select from yet, so keep sampling.
        if self.asked <= self.config.population || self.population.is_empty() {
            return Some(space.sample(&mut self.rng));
        }
        let n = self.population.len();
        let k = self.config.sample_size.min(n);
        let mut best: Option<usize> = None;
        for i in rand::seq::index::sample(&mut self.rng, n, k) {
            if best.is_none_or(|b| self.population[i].1 > self.population[b].1) {
                best = Some(i);
            }
        }
        let parent = &self.population[best.expect("k >= 1")].0;
        Some(space.mutate(parent, &mut self.rng))
    }

    fn tell(&mut self, _space: &S, arch: &S::Arch, outcome: &Evaluation) {
        let Ok(metrics) = outcome else { return };
        let Some(fitness) = self.config.objective.fitness(metrics) else { return };
        if fitness.is_nan() {
            return;
        }
        self.population.push_back((arch.clone(), fitness));
        if self.population.len() > self.config.population {
            self.population.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::{EvalError, Metrics};
    use nasforge_space_nb201::{Cell, Nb201Space, Op};

    use super::*;

    /// A toy fitness with one optimum: the number of 3×3 convs.
    fn convs(c: &Cell) -> f64 {
        c.ops.iter().filter(|&&o| o == Op::NorConv3x3).count() as f64
    }

    fn run(strategy: &mut dyn Strategy<Nb201Space>, n: usize) -> Vec<Cell> {
        let space = Nb201Space;
        (0..n)
            .map(|_| {
                let a = strategy.ask(&space).unwrap();
                strategy.tell(&space, &a, &Ok(Metrics::with_valid(convs(&a))));
                a
            })
            .collect()
    }

    #[test]
    fn params_are_checked() {
        assert_eq!(RegularizedEvolutionParams::default().population(1).check().unwrap_err().key, "population");
        assert_eq!(RegularizedEvolutionParams::default().sample_size(0).check().unwrap_err().key, "sample-size");
        assert_eq!(RegularizedEvolutionParams::default().sample_size(21).check().unwrap_err().key, "sample-size");
        assert!(RegularizedEvolutionParams::default().check().is_ok());
    }

    #[test]
    fn same_seed_same_trajectory_and_seeds_differ() {
        let cfg = || RegularizedEvolutionParams::default().check().unwrap();
        let a = run(&mut RegularizedEvolution::new(cfg(), 1), 200);
        let b = run(&mut RegularizedEvolution::new(cfg(), 1), 200);
        let c = run(&mut RegularizedEvolution::new(cfg(), 2), 200);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(run(&mut RandomSearch::new(5), 50), run(&mut RandomSearch::new(5), 50));
    }

    #[test]
    fn evolution_climbs_where_random_search_does_not() {
        let cfg = RegularizedEvolutionParams::default().check().unwrap();
        let evo = run(&mut RegularizedEvolution::new(cfg, 3), 300);
        let rnd = run(&mut RandomSearch::new(3), 300);
        let best = |v: &[Cell]| v.iter().map(convs).fold(0.0, f64::max);
        assert_eq!(best(&evo), 6.0, "evolution should reach the all-conv cell");
        assert!(best(&rnd) < 6.0);
        // Late proposals are mutants of good members: far above the random
        // mean of 6 × 1/5 = 1.2 convs.
        let late_mean = evo[250..].iter().map(convs).sum::<f64>() / 50.0;
        assert!(late_mean > 3.0, "{late_mean}");
    }

    #[test]
    fn population_ages_and_failures_never_join() {
        let space = Nb201Space;
        let cfg = RegularizedEvolutionParams::default().population(3).sample_size(2).check().unwrap();
        let mut evo = RegularizedEvolution::new(cfg, 0);
        for i in 0..5 {
            let a = Strategy::<Nb201Space>::ask(&mut evo, &space).unwrap();
            let outcome = if i == 2 { Err(EvalError::Other("boom".into())) } else { Ok(Metrics::with_valid(i as f64)) };
            evo.tell(&space, &a, &outcome);
        }
        let fit: Vec<f64> = evo.population().map(|p| p.1).collect();
        assert_eq!(fit, vec![1.0, 3.0, 4.0]);
    }
}
