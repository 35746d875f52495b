//! BANANAS (White, Neiswanger and Savani, "BANANAS: Bayesian Optimization
//! with Neural Architectures for Neural Architecture Search", AAAI 2021),
//! as naszilla's `bananas()` runs it on NAS-Bench-201:
//!
//! 1. `initial` (10) random architectures;
//! 2. each round: fit the predictor (by default the [`crate::mlp`]
//!    ensemble on the path encoding) on every evaluation; generate
//!    `candidates` (100) by mutating the best `parents` (5) evaluated
//!    architectures in turn until there are enough, each decision of a
//!    parent changing with probability `mutation-rate / (decisions − 2)`
//!    (naszilla's 1/4 on NB201's six edges) to another option; drop
//!    candidates proposed before or generated twice (by canonical key);
//! 3. score candidates by independent Thompson sampling (a draw from
//!    N(mean, sd) of the ensemble) or UCB (mean + 0.5 sd), and evaluate
//!    the `top-k` (10).
//!
//! Spaces without a decision view mutate by their own `mutate`.
//! naszilla minimises the validation error; here the validation accuracy
//! is maximised, which is the same ranking.

use std::collections::HashSet;

use nasforge_core::rand_distr::{Distribution, Normal};
use nasforge_core::{SearchSpace, derive_seed};
use rand::Rng;

use crate::guided::{self, Guided};
use crate::{Features, PredictorSpec};

/// How candidates are scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquisition {
    /// Independent Thompson sampling (`its`).
    Its,
    /// Upper confidence bound, mean + 0.5 sd (`ucb`).
    Ucb,
}

/// BANANAS' settings.
#[derive(Clone, Debug, PartialEq)]
pub struct BananasConfig {
    /// Random architectures first (10).
    pub initial: usize,
    /// Evaluations per round (10).
    pub top_k: usize,
    /// Candidates per round (100).
    pub candidates: usize,
    /// Best architectures mutated (naszilla's `num_arches_to_mutate ×
    /// patience_factor`, 5).
    pub parents: usize,
    /// naszilla's `mutation_rate` (1).
    pub mutation_rate: f64,
    /// The acquisition.
    pub acquisition: Acquisition,
    /// The predictor.
    pub predictor: PredictorSpec,
}

impl Default for BananasConfig {
    fn default() -> Self {
        BananasConfig {
            initial: 10,
            top_k: 10,
            candidates: 100,
            parents: 5,
            mutation_rate: 1.0,
            acquisition: Acquisition::Its,
            predictor: PredictorSpec::Mlp(crate::mlp::MlpConfig::default()),
        }
    }
}

/// The strategy over architectures of type `A`.
pub struct Bananas<A> {
    config: BananasConfig,
    seed: u64,
    g: Guided<A>,
}

impl<A: Clone> Bananas<A> {
    /// BANANAS on `features` (naszilla: the path encoding).
    pub fn new(config: BananasConfig, features: Features, seed: u64) -> Self {
        Bananas { config, seed, g: Guided::new(features, seed) }
    }

    fn mutate<S: SearchSpace<Arch = A>>(&mut self, space: &S, parent: &A) -> Option<A> {
        let (Some(options), Some(mut choices)) = (space.decisions(), space.arch_decisions(parent)) else {
            return Some(space.mutate(parent, &mut self.g.rng));
        };
        let p = (self.config.mutation_rate / (options.len().saturating_sub(2).max(1)) as f64).min(1.0);
        for (c, &n) in choices.iter_mut().zip(&options) {
            if n > 1 && self.g.rng.random_bool(p) {
                let other = self.g.rng.random_range(0..n - 1);
                *c = if other >= *c { other + 1 } else { other };
            }
        }
        space.arch_from_decisions(&choices)
    }

    fn round<S: SearchSpace<Arch = A>>(&mut self, space: &S) {
        let mut ranked: Vec<usize> = (0..self.g.archs.len()).filter(|&i| self.g.values[i].is_finite()).collect();
        ranked.sort_by(|&a, &b| self.g.values[b].total_cmp(&self.g.values[a]).then(a.cmp(&b)));
        let mut candidates: Vec<A> = Vec::new();
        let mut made = HashSet::new();
        for &p in ranked.iter().take(self.config.parents) {
            let parent = self.g.archs[p].clone();
            for _ in 0..self.config.candidates {
                if let Some(c) = self.mutate(space, &parent) {
                    let key = space.canonical_key(&c);
                    if !self.g.seen.contains(&key) && made.insert(key) {
                        candidates.push(c);
                    }
                }
            }
            if candidates.len() >= self.config.candidates {
                break;
            }
        }
        candidates.truncate(self.config.candidates);
        if candidates.is_empty() {
            let a = self.g.fresh_sample(space);
            self.g.queue.push_back(a);
            return;
        }
        let (x, y) = self.g.training_set();
        let mut model = self.config.predictor.build();
        let fit_seed = derive_seed(self.seed, &format!("fit-{}", self.g.fits));
        self.g.fits += 1;
        let rows: Vec<Vec<f64>> = candidates.iter().map(|c| self.g.features.row(space, c)).collect();
        let scores: Vec<f64> = if model.fit(&x, &y, fit_seed).is_ok() {
            let spread = model.predict_spread(&rows);
            match self.config.acquisition {
                Acquisition::Ucb => spread.iter().map(|&(m, s)| m + 0.5 * s).collect(),
                Acquisition::Its => spread
                    .iter()
                    .map(|&(m, s)| if s > 0.0 { Normal::new(m, s).expect("finite spread").sample(&mut self.g.rng) } else { m })
                    .collect(),
            }
        } else {
            vec![0.0; rows.len()]
        };
        let refs: Vec<&A> = candidates.iter().collect();
        self.g.enqueue_best(&refs, None, &scores, self.config.top_k);
    }
}

guided::round_strategy!(Bananas, |s| "bananas");
