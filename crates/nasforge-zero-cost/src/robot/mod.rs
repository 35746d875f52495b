//! RoBoT (He et al., "Robustifying and Boosting Training-Free Neural
//! Architecture Search", ICLR 2024), as its `search_nb201.py` runs it:
//!
//! 1. every proxy of a table is min-max normalised over the table (left
//!    as it is where constant); a weight vector `w ∈ [-1, 1]^m` scores an
//!    architecture `Σ w_m · proxy_m`, NaN terms skipped;
//! 2. Bayesian optimisation over `w` (`rounds` queries: one uniform draw,
//!    then GP-UCB, [`gp`]): each query's value is the experiment's
//!    objective of the top architecture under `w` (ties: the last row, as
//!    the reference's flipped argsort); an architecture already evaluated
//!    costs nothing again, so the budget counts distinct architectures;
//! 3. exploitation: down the ranking of the best weights (ties to the
//!    later query), every architecture not yet evaluated, until the
//!    experiment's budget ends.
//!
//! The candidates are the table's rows. A failed evaluation gives the GP
//! no observation (the reference's tables have no failures). Two
//! deviations in edge cases: "the last row" among equal scores is the
//! last in the table's key order (standard strings), not NB201's index
//! order; and a NaN score is left out of its proxy's minimum and maximum
//! (Python's `min`/`max`, which the reference uses, give an answer that
//! depends on where the NaN sits).

pub mod gp;

use std::collections::HashMap;

use nasforge_core::{Evaluation, SearchSpace, Strategy, seeded_rng};
use rand::Rng;

use crate::table::ProxyTable;

/// RoBoT's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RobotConfig {
    /// Weight vectors Bayesian optimisation queries (the reference: the
    /// search budget, 20).
    pub rounds: usize,
    /// UCB's exploration weight (bayes_opt's default, 2.576).
    pub kappa: f64,
}

impl Default for RobotConfig {
    fn default() -> Self {
        RobotConfig { rounds: 20, kappa: 2.576 }
    }
}

/// The strategy over candidates of type `A`.
pub struct Robot<A> {
    candidates: Vec<A>,
    /// Normalised proxies, per candidate.
    proxies: Vec<Vec<f64>>,
    config: RobotConfig,
    rng: nasforge_core::SeededRng,
    /// (weights, value) the GP has seen.
    observed: Vec<(Vec<f64>, f64)>,
    /// Objective of every evaluated candidate (NaN: failed).
    evaluated: HashMap<usize, f64>,
    /// The candidate asked last, and the weights that chose it (BO only).
    pending: Option<(usize, Option<Vec<f64>>)>,
    queries: usize,
    best: Option<(Vec<f64>, f64)>,
    ranking: Option<(Vec<usize>, usize)>,
}

/// Min-max normalised columns of `table`, rows in the table's order; the
/// row keys with them.
pub fn normalised(table: &ProxyTable, proxies: &[String]) -> Result<(Vec<String>, Vec<Vec<f64>>), String> {
    let cols: Vec<usize> = proxies
        .iter()
        .map(|p| table.names().iter().position(|n| n == p).ok_or_else(|| format!("the table has no proxy `{p}`; it has: {}", table.names().join(", "))))
        .collect::<Result<_, _>>()?;
    let rows: Vec<(&String, &Vec<f64>)> = table.rows().collect();
    let mut bounds = vec![(f64::INFINITY, f64::NEG_INFINITY); cols.len()];
    for (_, r) in &rows {
        for (b, &c) in bounds.iter_mut().zip(&cols) {
            if r[c].is_finite() {
                *b = (b.0.min(r[c]), b.1.max(r[c]));
            }
        }
    }
    let values = rows
        .iter()
        .map(|(_, r)| {
            cols.iter().zip(&bounds).map(|(&c, &(lo, hi))| if hi > lo { (r[c] - lo) / (hi - lo) } else { r[c] }).collect()
        })
        .collect();
    Ok((rows.iter().map(|(k, _)| (*k).clone()).collect(), values))
}

impl<A: Clone> Robot<A> {
    /// RoBoT over `candidates` with their normalised proxies.
    pub fn new(candidates: Vec<A>, proxies: Vec<Vec<f64>>, config: RobotConfig, seed: u64) -> Self {
        assert_eq!(candidates.len(), proxies.len(), "one proxy row per candidate");
        Robot {
            candidates,
            proxies,
            config,
            rng: seeded_rng(seed),
            observed: Vec::new(),
            evaluated: HashMap::new(),
            pending: None,
            queries: 0,
            best: None,
            ranking: None,
        }
    }

    fn score(&self, i: usize, w: &[f64]) -> f64 {
        self.proxies[i].iter().zip(w).filter(|(p, _)| !p.is_nan()).map(|(p, w)| p * w).sum()
    }

    /// The top candidate under `w` (the last of equals).
    fn top(&self, w: &[f64]) -> usize {
        let mut best = 0;
        for i in 1..self.candidates.len() {
            if self.score(i, w) >= self.score(best, w) {
                best = i;
            }
        }
        best
    }

    fn observe(&mut self, w: Vec<f64>, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.best.as_ref().is_none_or(|b| value >= b.1) {
            self.best = Some((w.clone(), value));
        }
        self.observed.push((w, value));
    }

    fn next_weights(&mut self) -> Vec<f64> {
        let dims = self.proxies.first().map_or(0, Vec::len);
        if self.observed.is_empty() {
            return (0..dims).map(|_| self.rng.random_range(-1.0..=1.0)).collect();
        }
        let (x, y): (Vec<Vec<f64>>, Vec<f64>) = self.observed.iter().cloned().unzip();
        let gp = gp::Gp::fit(&x, &y);
        gp::ucb_argmax(&gp, dims, self.config.kappa, &mut self.rng)
    }
}

impl<S: SearchSpace> Strategy<S> for Robot<S::Arch> {
    fn name(&self) -> &str {
        "robot"
    }

    fn ask(&mut self, _space: &S) -> Option<S::Arch> {
        while self.queries < self.config.rounds {
            let w = self.next_weights();
            self.queries += 1;
            let top = self.top(&w);
            match self.evaluated.get(&top) {
                Some(&v) => self.observe(w, v),
                None => {
                    self.pending = Some((top, Some(w)));
                    return Some(self.candidates[top].clone());
                }
            }
        }
        if self.ranking.is_none() {
            let w = match &self.best {
                Some((w, _)) => w.clone(),
                None => self.next_weights(),
            };
            let mut order: Vec<usize> = (0..self.candidates.len()).collect();
            // Highest score first; among equals the later row first.
            order.sort_by(|&a, &b| self.score(b, &w).total_cmp(&self.score(a, &w)).then(b.cmp(&a)));
            self.ranking = Some((order, 0));
        }
        let (order, at) = self.ranking.as_mut().expect("set above");
        while *at < order.len() {
            let i = order[*at];
            *at += 1;
            if !self.evaluated.contains_key(&i) {
                self.pending = Some((i, None));
                return Some(self.candidates[i].clone());
            }
        }
        None
    }

    fn tell(&mut self, _space: &S, _arch: &S::Arch, outcome: &Evaluation) {
        let Some((i, w)) = self.pending.take() else { return };
        let value = outcome.as_ref().map_or(f64::NAN, |m| m.valid);
        self.evaluated.insert(i, value);
        if let Some(w) = w {
            self.observe(w, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::Metrics;
    use nasforge_space_nb201::{Cell, Nb201Space, Op};

    use super::*;

    #[test]
    fn robot_finds_the_weighting_that_ranks_the_best_first_and_never_repeats() {
        // Two proxies: the first anti-correlated with the objective, the
        // second its copy. BO must learn a negative weight on the first.
        let space = Nb201Space;
        let cells: Vec<Cell> = space.enumerate().expect("enumerable").take(200).collect();
        let objective = |c: &Cell| c.ops.iter().filter(|&&o| o == Op::NorConv3x3).count() as f64 + 0.01 * c.ops.iter().filter(|&&o| o == Op::SkipConnect).count() as f64;
        let proxies: Vec<Vec<f64>> = cells.iter().map(|c| vec![-objective(c) / 6.0, objective(c) / 6.0]).collect();
        let mut robot = Robot::new(cells.clone(), proxies, RobotConfig::default(), 3);
        let mut seen = std::collections::HashSet::new();
        let mut best: f64 = f64::NEG_INFINITY;
        for _ in 0..10 {
            let a = Strategy::<Nb201Space>::ask(&mut robot, &space).expect("candidates left");
            assert!(seen.insert(space.format(&a)), "asked twice");
            let v = objective(&a);
            best = best.max(v);
            Strategy::<Nb201Space>::tell(&mut robot, &space, &a, &Ok(Metrics { valid: v, ..Metrics::default() }));
        }
        let top = cells.iter().map(objective).fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(best, top);
    }
}
