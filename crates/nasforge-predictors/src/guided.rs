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

    /// Queues the `k` best-scored `candidates` (the earlier among equals;
    /// one per key where `keys` are given).
    pub fn enqueue_best<T: PartialOrd + Copy>(&mut self, candidates: &[&A], keys: Option<&[&String]>, scores: &[T], k: usize) {
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
        let mut chosen = HashSet::new();
        for i in order {
            if self.queue.len() >= k {
                break;
            }
            if keys.is_none_or(|keys| chosen.insert(keys[i])) {
                self.queue.push_back(candidates[i].clone());
            }
        }
    }

    /// The rows and values of the evaluations that did not fail.
    pub fn training_set(&self) -> (Vec<Vec<f64>>, Vec<f64>) {
        self.rows.iter().zip(&self.values).filter(|(_, v)| v.is_finite()).map(|(r, &v)| (r.clone(), v)).unzip()
    }
}

/// A strategy that evaluates `initial` random architectures, then rounds
/// its `refill` queues.
pub(crate) trait Rounds<A> {
    fn guided(&mut self) -> &mut Guided<A>;
    fn initial(&self) -> usize;
    fn refill<S: SearchSpace<Arch = A>>(&mut self, space: &S);
}

/// The ask of a [`Rounds`] strategy: random first, then its queue,
/// refilled when empty; `None` once a refill queues nothing.
pub(crate) fn ask<S: SearchSpace, R: Rounds<S::Arch>>(r: &mut R, space: &S) -> Option<S::Arch>
where
    S::Arch: Clone,
{
    if r.guided().asked < r.initial() {
        let g = r.guided();
        let a = g.fresh_sample(space);
        return Some(g.propose(space, a));
    }
    if r.guided().queue.is_empty() {
        r.refill(space);
    }
    let g = r.guided();
    let a = g.queue.pop_front()?;
    Some(g.propose(space, a))
}

/// The [`Rounds`] and `Strategy` impls of a round-based strategy type with
/// fields `g` (its [`Guided`]) and `config.initial`, and an inherent
/// `round` (its refill); `$name` is its name given `self`.
macro_rules! round_strategy {
    ($ty:ident, |$me:ident| $name:expr) => {
        impl<A: Clone> $crate::guided::Rounds<A> for $ty<A> {
            fn guided(&mut self) -> &mut $crate::guided::Guided<A> {
                &mut self.g
            }

            fn initial(&self) -> usize {
                self.config.initial
            }

            fn refill<S: nasforge_core::SearchSpace<Arch = A>>(&mut self, space: &S) {
                self.round(space);
            }
        }

        impl<S: nasforge_core::SearchSpace> nasforge_core::Strategy<S> for $ty<S::Arch> {
            fn name(&self) -> &str {
                #[allow(unused_variables)]
                let $me = self;
                $name
            }

            fn ask(&mut self, space: &S) -> Option<S::Arch> {
                $crate::guided::ask(self, space)
            }

            fn tell(&mut self, space: &S, arch: &S::Arch, outcome: &nasforge_core::Evaluation) {
                self.g.record(space, arch, outcome);
            }
        }
    };
}
pub(crate) use round_strategy;
