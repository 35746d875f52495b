//! Local search: hill climbing over a space's neighbourhoods with random
//! restarts (the NAS-Bench local search of White et al. 2020, as NASLib
//! runs it).

use std::collections::{HashSet, VecDeque};

use nasforge_core::{Evaluation, Objective, SearchSpace, Strategy};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Hill climbing with restarts.
///
/// From a random architecture, evaluate its unvisited neighbours in random
/// order; with best improvement (the default) move to the best of them once
/// all are scored, with `first_improvement` move to the first that beats
/// the current one. At a local optimum (no neighbour better), restart from
/// a random architecture. Architectures already evaluated (by canonical
/// key) are not proposed again (restarts try 100 draws for a new one).
#[derive(Debug)]
pub struct LocalSearch<A> {
    rng: ChaCha8Rng,
    objective: Objective,
    first_improvement: bool,
    current: Option<(A, f64)>,
    queue: VecDeque<A>,
    best_neighbour: Option<(A, f64)>,
    visited: HashSet<String>,
}

impl<A: Clone> LocalSearch<A> {
    /// Local search seeded with `seed`.
    pub fn new(first_improvement: bool, seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            objective: Objective::valid(),
            first_improvement,
            current: None,
            queue: VecDeque::new(),
            best_neighbour: None,
            visited: HashSet::new(),
        }
    }

    fn climb_to(&mut self, centre: (A, f64), space: &impl SearchSpace<Arch = A>) {
        let mut n = space.neighbours(&centre.0);
        n.shuffle(&mut self.rng);
        self.queue = n.into();
        self.current = Some(centre);
        self.best_neighbour = None;
    }
}

impl<S: SearchSpace> Strategy<S> for LocalSearch<S::Arch> {
    fn name(&self) -> &str {
        "local-search"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        loop {
            if self.current.is_none() {
                // A fresh start: an unvisited cell if a few draws find one.
                let mut start = space.sample(&mut self.rng);
                for _ in 0..100 {
                    if !self.visited.contains(&space.canonical_key(&start)) {
                        break;
                    }
                    start = space.sample(&mut self.rng);
                }
                return Some(start);
            }
            while let Some(n) = self.queue.pop_front() {
                if !self.visited.contains(&space.canonical_key(&n)) {
                    return Some(n);
                }
            }
            // Neighbourhood done: move, or restart at a local optimum.
            let current = self.current.take().expect("checked above");
            match self.best_neighbour.take() {
                Some(best) if best.1 > current.1 => self.climb_to(best, space),
                _ => {} // restart: `current` stays None
            }
        }
    }

    fn tell(&mut self, space: &S, arch: &S::Arch, outcome: &Evaluation) {
        self.visited.insert(space.canonical_key(arch));
        let fitness = outcome.as_ref().ok().and_then(|m| self.objective.fitness(m)).filter(|f| !f.is_nan());
        match (&self.current, fitness) {
            // A start (random sample) that failed: sample again.
            (None, None) => {}
            (None, Some(f)) => self.climb_to((arch.clone(), f), space),
            (Some(_), None) => {}
            (Some((_, current)), Some(f)) => {
                if self.first_improvement && f > *current {
                    self.climb_to((arch.clone(), f), space);
                } else if self.best_neighbour.as_ref().is_none_or(|b| f > b.1) {
                    self.best_neighbour = Some((arch.clone(), f));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::Metrics;
    use nasforge_space_nb201::{Cell, Nb201Space, Op};

    use super::*;

    fn run(seed: u64, n: usize) -> Vec<Cell> {
        let space = Nb201Space;
        let mut ls = LocalSearch::new(false, seed);
        (0..n)
            .map(|_| {
                let a = <LocalSearch<Cell> as Strategy<Nb201Space>>::ask(&mut ls, &space).unwrap();
                let convs = a.ops.iter().filter(|&&o| o == Op::NorConv3x3).count() as f64;
                ls.tell(&space, &a, &Ok(Metrics::with_valid(convs)));
                a
            })
            .collect()
    }

    #[test]
    fn climbs_to_the_optimum_without_repeating_itself_and_is_seeded() {
        let proposals = run(3, 200);
        // The all-conv cell is the unique optimum of this fitness.
        assert!(proposals.contains(&Cell::uniform(Op::NorConv3x3)));
        let keys: HashSet<String> = proposals.iter().map(|c| Nb201Space.canonical_key(c)).collect();
        assert_eq!(keys.len(), proposals.len());
        assert_eq!(run(3, 50), run(3, 50));
        assert_ne!(run(3, 50), run(4, 50));
    }
}
