//! NSGA-II (Deb, Pratap, Agarwal and Meyarivan, 2002) over any space and any
//! number of objectives, as an ask/tell strategy.

use std::collections::{HashSet, VecDeque};

use nasforge_core::{Evaluation, Objective, SearchSpace, Strategy};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ParamError;
pub use nasforge_core::pareto::non_dominated_fronts;

/// Unchecked parameters of [`Nsga2`].
#[derive(Clone, Debug, PartialEq)]
pub struct Nsga2Params {
    /// Population size N: the first N proposals are random, then each
    /// generation proposes N offspring.
    pub population: usize,
    /// The objectives (each maximised or minimised).
    pub objectives: Vec<Objective>,
    /// Probability that a child is a crossover of its two parents (where
    /// the space defines crossover) rather than a copy of the first.
    pub crossover_prob: f64,
    /// Probability that a child is mutated (always, when it would repeat
    /// an evaluated architecture).
    pub mutation_prob: f64,
}

impl Nsga2Params {
    /// Defaults (population 50, crossover 0.9, mutation 0.5) for these
    /// objectives.
    pub fn new(objectives: Vec<Objective>) -> Self {
        Self { population: 50, objectives, crossover_prob: 0.9, mutation_prob: 0.5 }
    }

    /// Validates the parameters.
    pub fn check(self) -> Result<Nsga2Config, ParamError> {
        if self.population < 4 {
            return Err(ParamError { key: "population", reason: format!("must be at least 4, got {}", self.population) });
        }
        if self.objectives.is_empty() {
            return Err(ParamError { key: "objectives", reason: "name at least one objective".into() });
        }
        for (key, p) in [("crossover-prob", self.crossover_prob), ("mutation-prob", self.mutation_prob)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(ParamError { key, reason: format!("must lie in [0, 1], got {p}") });
            }
        }
        Ok(Nsga2Config(self))
    }
}

/// Checked parameters of [`Nsga2`].
#[derive(Clone, Debug, PartialEq)]
pub struct Nsga2Config(Nsga2Params);

impl Nsga2Config {
    /// The checked parameters.
    pub fn params(&self) -> &Nsga2Params {
        &self.0
    }
}

/// Crowding distance of each member of one front (boundary points are
/// infinitely far).
fn crowding(points: &[Vec<f64>], front: &[usize]) -> Vec<f64> {
    let mut distance = vec![0.0; front.len()];
    let objectives = points.first().map_or(0, Vec::len);
    // `m` is the objective, indexing inside every point.
    #[allow(clippy::needless_range_loop)]
    for m in 0..objectives {
        let mut order: Vec<usize> = (0..front.len()).collect();
        order.sort_by(|&a, &b| points[front[a]][m].total_cmp(&points[front[b]][m]));
        let (lo, hi) = (points[front[order[0]]][m], points[front[*order.last().expect("non-empty front")]][m]);
        distance[order[0]] = f64::INFINITY;
        distance[*order.last().expect("non-empty front")] = f64::INFINITY;
        if hi > lo {
            for w in 1..order.len().saturating_sub(1) {
                distance[order[w]] += (points[front[order[w + 1]]][m] - points[front[order[w - 1]]][m]) / (hi - lo);
            }
        }
    }
    distance
}

/// NSGA-II: non-dominated sorting and crowding distance for survival,
/// binary tournaments for mating, crossover and mutation through the
/// space. Architectures already proposed are not proposed again: a
/// repeating child is mutated until new, a few times. Failed evaluations
/// never join the population.
#[derive(Debug)]
pub struct Nsga2<A> {
    config: Nsga2Params,
    rng: ChaCha8Rng,
    /// Survivors with their objective vectors (maximisation form) and
    /// (rank, crowding).
    population: Vec<(A, Vec<f64>)>,
    ranks: Vec<(usize, f64)>,
    offspring: Vec<(A, Vec<f64>)>,
    queue: VecDeque<A>,
    asked: usize,
    seen: HashSet<A>,
}

impl<A: Clone + Eq + std::hash::Hash> Nsga2<A> {
    /// NSGA-II with a checked config, seeded with `seed`.
    pub fn new(config: Nsga2Config, seed: u64) -> Self {
        Self {
            config: config.0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            population: Vec::new(),
            ranks: Vec::new(),
            offspring: Vec::new(),
            queue: VecDeque::new(),
            asked: 0,
            seen: HashSet::new(),
        }
    }

    /// The current population with its objective vectors (maximisation
    /// form: minimised objectives negated).
    pub fn population(&self) -> &[(A, Vec<f64>)] {
        &self.population
    }

    /// Survival: the best N of parents and offspring by front, then by
    /// crowding distance within the last front admitted.
    fn select(&mut self) {
        let mut pool = std::mem::take(&mut self.population);
        pool.append(&mut self.offspring);
        let points: Vec<Vec<f64>> = pool.iter().map(|p| p.1.clone()).collect();
        let mut keep: Vec<(usize, usize, f64)> = Vec::new(); // (index, rank, crowding)
        for (rank, front) in non_dominated_fronts(&points).iter().enumerate() {
            let dist = crowding(&points, front);
            let mut members: Vec<(usize, usize, f64)> = front.iter().zip(&dist).map(|(&i, &d)| (i, rank, d)).collect();
            if keep.len() + members.len() > self.config.population {
                members.sort_by(|a, b| b.2.total_cmp(&a.2));
                members.truncate(self.config.population - keep.len());
            }
            keep.extend(members);
            if keep.len() >= self.config.population {
                break;
            }
        }
        let mut pool: Vec<Option<(A, Vec<f64>)>> = pool.into_iter().map(Some).collect();
        self.ranks = keep.iter().map(|k| (k.1, k.2)).collect();
        self.population = keep.iter().map(|k| pool[k.0].take().expect("each index kept once")).collect();
    }

    /// Binary tournament: lower rank wins, then larger crowding distance.
    fn tournament(&mut self) -> usize {
        let n = self.population.len();
        let pick = sample(&mut self.rng, n, 2.min(n));
        let (a, b) = (pick.index(0), if n > 1 { pick.index(1) } else { pick.index(0) });
        let better = |x: (usize, f64), y: (usize, f64)| x.0 < y.0 || (x.0 == y.0 && x.1 > y.1);
        if better(self.ranks[b], self.ranks[a]) { b } else { a }
    }

    fn breed<S: SearchSpace<Arch = A>>(&mut self, space: &S) {
        for _ in 0..self.config.population {
            let (p1, p2) = (self.tournament(), self.tournament());
            let mut child = if self.rng.random::<f64>() < self.config.crossover_prob {
                space.crossover(&self.population[p1].0, &self.population[p2].0, &mut self.rng).unwrap_or_else(|| self.population[p1].0.clone())
            } else {
                self.population[p1].0.clone()
            };
            if self.rng.random::<f64>() < self.config.mutation_prob {
                child = space.mutate(&child, &mut self.rng);
            }
            for _ in 0..20 {
                if !self.seen.contains(&child) {
                    break;
                }
                child = space.mutate(&child, &mut self.rng);
            }
            self.seen.insert(child.clone());
            self.queue.push_back(child);
        }
    }
}

impl<S: SearchSpace> Strategy<S> for Nsga2<S::Arch> {
    fn name(&self) -> &str {
        "nsga2"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        self.asked += 1;
        // The random first population (and again while fewer than two
        // members made it: nobody to mate).
        if self.asked <= self.config.population || self.population.len() + self.offspring.len() < 2 {
            let mut arch = space.sample(&mut self.rng);
            for _ in 0..20 {
                if !self.seen.contains(&arch) {
                    break;
                }
                arch = space.sample(&mut self.rng);
            }
            self.seen.insert(arch.clone());
            return Some(arch);
        }
        if self.queue.is_empty() {
            self.select();
            self.breed(space);
        }
        self.queue.pop_front()
    }

    fn tell(&mut self, _space: &S, arch: &S::Arch, outcome: &Evaluation) {
        self.seen.insert(arch.clone());
        let Ok(metrics) = outcome else { return };
        let values: Option<Vec<f64>> = self.config.objectives.iter().map(|o| o.fitness(metrics).filter(|v| !v.is_nan())).collect();
        let Some(values) = values else { return };
        self.offspring.push((arch.clone(), values));
    }
}

/// The hypervolume dominated by `points` (two objectives, both maximised)
/// above the reference point `reference`: the area of the union of the
/// boxes `[reference, p]`.
pub fn hypervolume_2d(points: &[[f64; 2]], reference: [f64; 2]) -> f64 {
    let mut pts: Vec<[f64; 2]> = points.iter().copied().filter(|p| p[0] > reference[0] && p[1] > reference[1]).collect();
    // Sweep by the first objective, best first; each point adds the slab
    // its second objective rises above the best seen so far.
    pts.sort_by(|a, b| b[0].total_cmp(&a[0]).then(b[1].total_cmp(&a[1])));
    let mut area = 0.0;
    let mut best_second = reference[1];
    for p in pts {
        if p[1] > best_second {
            area += (p[0] - reference[0]) * (p[1] - best_second);
            best_second = p[1];
        }
    }
    area
}

#[cfg(test)]
mod tests {
    use nasforge_core::{Goal, Metric, Metrics};
    use nasforge_space_nb201::{Cell, Nb201Space, Op};

    use super::*;

    #[test]
    fn fronts_and_crowding_follow_the_definitions() {
        let pts = vec![vec![1.0, 5.0], vec![2.0, 4.0], vec![3.0, 1.0], vec![1.0, 1.0], vec![0.5, 0.5]];
        let fronts = non_dominated_fronts(&pts);
        assert_eq!(fronts[0], vec![0, 1, 2]);
        assert_eq!(fronts[1], vec![3]);
        assert_eq!(fronts[2], vec![4]);
        let d = crowding(&pts, &fronts[0]);
        assert!(d[0].is_infinite() && d[2].is_infinite());
        assert!((d[1] - (2.0 / 2.0 + 4.0 / 4.0)).abs() < 1e-12);
    }

    #[test]
    fn hypervolume_of_a_staircase() {
        // Boxes [0,3]×[0,1] ∪ [0,2]×[0,2] ∪ [0,1]×[0,3] = 6.
        assert_eq!(hypervolume_2d(&[[3.0, 1.0], [2.0, 2.0], [1.0, 3.0], [0.5, 0.5]], [0.0, 0.0]), 6.0);
        assert_eq!(hypervolume_2d(&[], [0.0, 0.0]), 0.0);
    }

    #[test]
    fn params_are_checked() {
        assert_eq!(Nsga2Params::new(vec![]).check().unwrap_err().key, "objectives");
        assert_eq!(Nsga2Params { population: 2, ..Nsga2Params::new(vec![Objective::valid()]) }.check().unwrap_err().key, "population");
    }

    #[test]
    fn two_conflicting_objectives_spread_the_population_along_the_front() {
        // Maximise 3×3 convs, minimise 1×1 convs + convs: the front trades
        // one against the other; NSGA-II keeps both ends.
        let objectives = vec![
            Objective { metric: Metric::Valid, goal: Goal::Maximize },
            Objective { metric: Metric::Named("cost".into()), goal: Goal::Minimize },
        ];
        let mut s = Nsga2::new(Nsga2Params { population: 12, ..Nsga2Params::new(objectives) }.check().unwrap(), 1);
        let space = Nb201Space;
        for _ in 0..240 {
            let a: Cell = Strategy::<Nb201Space>::ask(&mut s, &space).unwrap();
            let convs = a.ops.iter().filter(|&&o| o == Op::NorConv3x3).count() as f64;
            let metrics = Metrics { valid: convs, extra: vec![("cost".into(), convs * 2.0 - a.ops.iter().filter(|&&o| o == Op::None).count() as f64)], ..Metrics::default() };
            s.tell(&space, &a, &Ok(metrics));
        }
        let valid: Vec<f64> = s.population().iter().map(|p| p.1[0]).collect();
        assert!(valid.contains(&6.0), "{valid:?}");
        assert!(valid.contains(&0.0), "{valid:?}");
    }
}
