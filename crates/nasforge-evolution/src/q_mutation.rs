//! Evolution with Q-learning adaptive mutation (after HHNAS-AM): which
//! decision to mutate is an action, learned from the fitness change each
//! mutation caused.

use std::collections::VecDeque;

use nasforge_core::{Evaluation, Objective, SearchSpace, Strategy};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ParamError;

/// Unchecked parameters of [`QMutation`].
#[derive(Clone, Debug, PartialEq)]
pub struct QMutationParams {
    /// Population size (aging, as in regularized evolution).
    pub population: usize,
    /// Tournament size.
    pub sample_size: usize,
    /// Exploration: the probability of a random action.
    pub epsilon: f64,
    /// Learning rate of the Q-values.
    pub alpha: f64,
    /// What is rewarded.
    pub objective: Objective,
}

impl Default for QMutationParams {
    fn default() -> Self {
        Self { population: 20, sample_size: 5, epsilon: 0.2, alpha: 0.3, objective: Objective::valid() }
    }
}

impl QMutationParams {
    /// Validates the parameters.
    pub fn check(self) -> Result<QMutationConfig, ParamError> {
        if self.population < 2 {
            return Err(ParamError { key: "population", reason: format!("must be at least 2, got {}", self.population) });
        }
        if self.sample_size == 0 || self.sample_size > self.population {
            return Err(ParamError { key: "sample-size", reason: format!("must be in 1..={}, got {}", self.population, self.sample_size) });
        }
        for (key, v) in [("epsilon", self.epsilon), ("alpha", self.alpha)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ParamError { key, reason: format!("must lie in [0, 1], got {v}") });
            }
        }
        Ok(QMutationConfig(self))
    }
}

/// Checked parameters of [`QMutation`].
#[derive(Clone, Debug, PartialEq)]
pub struct QMutationConfig(QMutationParams);

impl QMutationConfig {
    /// The checked parameters.
    pub fn params(&self) -> &QMutationParams {
        &self.0
    }
}

/// Aging evolution whose mutation operator is chosen by Q-learning.
///
/// Actions are the space's decisions (an action changes that decision to
/// another option at random). A child's reward is its fitness minus its
/// parent's; `Q[a] ← Q[a] + α (reward − Q[a])`; actions are chosen
/// ε-greedily. For a space without a decision view, every mutation is the
/// space's own `mutate` (one action).
#[derive(Debug)]
pub struct QMutation<A> {
    config: QMutationParams,
    rng: ChaCha8Rng,
    population: VecDeque<(A, f64)>,
    q: Vec<f64>,
    /// Proposed children: (child, parent fitness, action).
    pending: VecDeque<(A, f64, usize)>,
    asked: usize,
}

impl<A: Clone + PartialEq> QMutation<A> {
    /// The strategy with a checked config, seeded with `seed`.
    pub fn new(config: QMutationConfig, seed: u64) -> Self {
        Self { config: config.0, rng: ChaCha8Rng::seed_from_u64(seed), population: VecDeque::new(), q: Vec::new(), pending: VecDeque::new(), asked: 0 }
    }

    /// The learned value of each action.
    pub fn q_values(&self) -> &[f64] {
        &self.q
    }

    fn choose(&mut self) -> usize {
        if self.rng.random::<f64>() < self.config.epsilon {
            return self.rng.random_range(0..self.q.len());
        }
        let best = self.q.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let ties: Vec<usize> = (0..self.q.len()).filter(|&a| self.q[a] == best).collect();
        ties[self.rng.random_range(0..ties.len())]
    }
}

impl<S: SearchSpace> Strategy<S> for QMutation<S::Arch> {
    fn name(&self) -> &str {
        "q-mutation"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        self.asked += 1;
        let decisions = space.decisions();
        if self.q.is_empty() {
            self.q = vec![0.0; decisions.as_ref().map_or(1, Vec::len).max(1)];
        }
        if self.asked <= self.config.population || self.population.is_empty() {
            return Some(space.sample(&mut self.rng));
        }
        let n = self.population.len();
        let picked = sample(&mut self.rng, n, self.config.sample_size.min(n));
        let best = picked.iter().max_by(|&a, &b| self.population[a].1.total_cmp(&self.population[b].1)).expect("k >= 1");
        let (parent, parent_fitness) = self.population[best].clone();
        let action = self.choose();
        let child = match (&decisions, space.arch_decisions(&parent)) {
            (Some(options), Some(mut choices)) if options[action] > 1 => {
                // Another option for decision `action`; an invalid
                // combination, or a decision the parent does not use (a
                // block past its stage's depth, say), falls back to the
                // space's own mutation.
                let shift = self.rng.random_range(1..options[action]);
                choices[action] = (choices[action] + shift) % options[action];
                space.arch_from_decisions(&choices).filter(|c| c != &parent).unwrap_or_else(|| space.mutate(&parent, &mut self.rng))
            }
            _ => space.mutate(&parent, &mut self.rng),
        };
        self.pending.push_back((child.clone(), parent_fitness, action));
        Some(child)
    }

    fn tell(&mut self, _space: &S, arch: &S::Arch, outcome: &Evaluation) {
        let fitness = outcome.as_ref().ok().and_then(|m| self.config.objective.fitness(m)).filter(|f| f.is_finite());
        if let Some(at) = self.pending.iter().position(|p| &p.0 == arch) {
            let (_, parent_fitness, action) = self.pending.remove(at).expect("found above");
            // A failed child is the worst outcome a mutation can have here:
            // no fitness at all; it is not rewarded.
            if let Some(f) = fitness {
                self.q[action] += self.config.alpha * ((f - parent_fitness) - self.q[action]);
            }
        }
        if let Some(f) = fitness {
            self.population.push_back((arch.clone(), f));
            if self.population.len() > self.config.population {
                self.population.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::Metrics;
    use nasforge_space_nb201::{Cell, Nb201Space, Op};

    use super::*;

    #[test]
    fn learns_which_decision_not_to_touch() {
        // Only edge 5 matters: once the population has it right, mutating
        // it can only hurt, and its Q-value must come out lowest.
        let space = Nb201Space;
        let mut s = QMutation::<Cell>::new(QMutationParams::default().check().unwrap(), 0);
        for _ in 0..600 {
            let a = Strategy::<Nb201Space>::ask(&mut s, &space).unwrap();
            let f = if a.ops[5] == Op::NorConv3x3 { 1.0 } else { 0.0 };
            s.tell(&space, &a, &Ok(Metrics::with_valid(f)));
        }
        let q = s.q_values();
        assert_eq!(q.len(), 6);
        let bottom = (0..6).min_by(|&a, &b| q[a].total_cmp(&q[b])).unwrap();
        assert_eq!(bottom, 5, "{q:?}");
        assert!(q[5] < -0.5, "{q:?}");
    }
}
