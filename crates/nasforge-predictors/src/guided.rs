//! What the predictor-guided strategies share: the evaluated
//! architectures with their rows, the queue of proposals chosen at the
//! last refit, and the random start.

use std::collections::{HashSet, VecDeque};

use nasforge_core::{Evaluation, SearchSpace, SeededRng, seeded_rng};

use crate::Features;

/// Tries at drawing an architecture not yet proposed before settling for
/// any sample (a space nearly exhausted).
const FRESH_TRIES: usize = 1_000;

pub(crate) struct Guided<A> {
    pub features: Features,
    pub rng: SeededRng,
    /// Evaluated architectures, their rows and objective (NaN: failed).
    pub archs: Vec<A>,
    pub rows: Vec<Vec<f64>>,
    pub values: Vec<f64>,
    /// Canonical keys of every proposal: an architecture computing the
    /// same function as one proposed before is not proposed again (the
    /// references dedupe by NAS-Bench-101's isomorphism-invariant hash).
    pub seen: HashSet<String>,
    pub queue: VecDeque<A>,
    pub asked: usize,
    /// Refits so far (each fit's seed derives from it).
    pub fits: u64,
}

impl<A: Clone> Guided<A> {
    pub fn new(features: Features, seed: u64) -> Self {
        Guided {
            features,
            rng: seeded_rng(seed),
            archs: Vec::new(),
            rows: Vec::new(),
            values: Vec::new(),
            seen: HashSet::new(),
            queue: VecDeque::new(),
            asked: 0,
            fits: 0,
        }
    }

    /// A uniformly sampled architecture not proposed before (when one is
    /// found in [`FRESH_TRIES`] draws).
    pub fn fresh_sample<S: SearchSpace<Arch = A>>(&mut self, space: &S) -> A {
        let mut arch = space.sample(&mut self.rng);
        for _ in 0..FRESH_TRIES {
            if !self.seen.contains(&space.canonical_key(&arch)) {
                break;
            }
            arch = space.sample(&mut self.rng);
        }
        arch
    }

    /// Records `arch` as proposed and returns it.
    pub fn propose<S: SearchSpace<Arch = A>>(&mut self, space: &S, arch: A) -> A {
        self.seen.insert(space.canonical_key(&arch));
        self.asked += 1;
        arch
    }

    pub fn record<S: SearchSpace<Arch = A>>(&mut self, space: &S, arch: &A, outcome: &Evaluation) {
        self.rows.push(self.features.row(space, arch));
        self.archs.push(arch.clone());
        self.values.push(outcome.as_ref().map_or(f64::NAN, |m| m.valid));
    }

    /// The rows and values of the evaluations that did not fail.
    pub fn training_set(&self) -> (Vec<Vec<f64>>, Vec<f64>) {
        self.rows.iter().zip(&self.values).filter(|(_, v)| v.is_finite()).map(|(r, &v)| (r.clone(), v)).unzip()
    }
}
