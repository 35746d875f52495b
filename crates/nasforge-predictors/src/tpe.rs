//! The tree-structured Parzen estimator (Bergstra, Bardenet, Bengio and
//! Kégl, "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011) as
//! Optuna 5.0's `TPESampler` runs it on categorical parameters, here the
//! space's decision view:
//!
//! - the first `startup` (10) trials are uniform random;
//! - then the finished trials (failed ones are ignored, as Optuna ignores
//!   FAIL) are sorted by value, best first (ties: the earlier trial), and
//!   split into the best `min(⌈n/10⌉, 25)` ("below", l) and the rest
//!   ("above", g); each group back in trial order;
//! - each group is a mixture: one component per observation, weighted by
//!   Optuna's `default_weights` (all 1 under 25 observations, else a ramp
//!   from 1/n for the oldest up to 1 for the last 25), plus a prior
//!   component of weight `prior-weight` (1); an observation's kernel puts
//!   `prior_weight / (n + 1)` on every option and 1 more on its own,
//!   normalised; the prior's is uniform;
//! - 24 candidates are drawn from l and the one maximising
//!   log l(x) − log g(x) is taken (the first among equals).
//!
//! `multivariate = true` (Optuna 5.0's default for one objective) draws
//! each candidate's decisions from one component and scores the joint
//! mixture; `false` treats each decision on its own (its own 24
//! candidates and one-dimensional mixtures), Optuna's earlier default.
//! Optuna's random stream (numpy's MT19937) is not reproduced, only its
//! algorithm. Where the decisions chosen do not form a valid architecture
//! (spaces with constraints between decisions), the next-best candidate
//! is taken, else a random valid one; Optuna would fail such a trial.

use std::collections::VecDeque;

use nasforge_core::{Evaluation, SearchSpace, SeededRng, Strategy, seeded_rng};
use rand::Rng;

/// TPE's settings (Optuna's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct TpeConfig {
    /// Random trials first (10).
    pub startup: usize,
    /// Candidates drawn from l per choice (24).
    pub ei_candidates: usize,
    /// The prior's weight (1.0).
    pub prior_weight: f64,
    /// Joint sampling of all decisions (true).
    pub multivariate: bool,
}

impl Default for TpeConfig {
    fn default() -> Self {
        TpeConfig { startup: 10, ei_candidates: 24, prior_weight: 1.0, multivariate: true }
    }
}

/// Optuna's `default_gamma`: the size of the "below" group.
pub fn default_gamma(n: usize) -> usize {
    n.div_ceil(10).min(25)
}

/// Optuna's `default_weights` over `n` observations in trial order.
pub fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp).map(|i| if ramp == 1 { 1.0 / n as f64 } else { 1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64 }).collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// A Parzen mixture over some decisions.
struct Parzen {
    /// Log mixture weights, the prior last.
    log_weights: Vec<f64>,
    weights: Vec<f64>,
    /// Per decision: per component, the kernel's option probabilities.
    kernels: Vec<Vec<Vec<f64>>>,
}

impl Parzen {
    /// The mixture of `observations` (each the options of `params`).
    fn new(observations: &[&[usize]], params: &[usize], options: &[usize], prior_weight: f64) -> Self {
        let n = observations.len();
        let mut weights = default_weights(n);
        weights.push(prior_weight);
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        let kernels = params
            .iter()
            .map(|&p| {
                let c = options[p];
                let mut rows = vec![vec![prior_weight / (n + 1) as f64; c]; n + 1];
                for (row, obs) in rows.iter_mut().zip(observations) {
                    row[obs[p]] += 1.0;
                }
                for row in &mut rows {
                    let s: f64 = row.iter().sum();
                    row.iter_mut().for_each(|v| *v /= s);
                }
                rows
            })
            .collect();
        Parzen { log_weights: weights.iter().map(|w| w.ln()).collect(), weights, kernels }
    }

    /// One draw: an option per decision of the mixture.
    fn sample(&self, rng: &mut SeededRng) -> Vec<usize> {
        let k = pick(&self.weights, rng);
        self.kernels.iter().map(|rows| pick(&rows[k], rng)).collect()
    }

    fn log_pdf(&self, x: &[usize]) -> f64 {
        let terms: Vec<f64> = (0..self.weights.len())
            .map(|k| self.log_weights[k] + self.kernels.iter().zip(x).map(|(rows, &v)| rows[k][v].ln()).sum::<f64>())
            .collect();
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return max;
        }
        max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
    }
}

/// The first index whose cumulative probability reaches a uniform draw.
fn pick(p: &[f64], rng: &mut SeededRng) -> usize {
    let u: f64 = rng.random();
    let mut cum = 0.0;
    for (i, &v) in p.iter().enumerate() {
        cum += v;
        if cum >= u {
            return i;
        }
    }
    p.len() - 1
}

/// The strategy over architectures of type `A`.
pub struct Tpe<A> {
    config: TpeConfig,
    rng: SeededRng,
    options: Vec<usize>,
    /// Finished trials: (trial number, options, value).
    observed: Vec<(usize, Vec<usize>, f64)>,
    asked: usize,
    /// Asked and not yet told: (trial number, options), in ask order
    /// (several when asked in a batch).
    pending: VecDeque<(usize, Vec<usize>, String)>,
    _arch: std::marker::PhantomData<fn() -> A>,
}

impl<A> Tpe<A> {
    /// TPE over a space with these decisions.
    pub fn new(config: TpeConfig, options: Vec<usize>, seed: u64) -> Self {
        Tpe { config, rng: seeded_rng(seed), options, observed: Vec::new(), asked: 0, pending: VecDeque::new(), _arch: std::marker::PhantomData }
    }

    /// Candidates from l, best first by log l − log g, over `params`.
    fn ranked(&mut self, params: &[usize]) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.observed.len()).collect();
        order.sort_by(|&a, &b| self.observed[b].2.total_cmp(&self.observed[a].2).then(self.observed[a].0.cmp(&self.observed[b].0)));
        let n_below = default_gamma(order.len()).min(order.len());
        let (mut below, mut above) = (order[..n_below].to_vec(), order[n_below..].to_vec());
        below.sort_by_key(|&i| self.observed[i].0);
        above.sort_by_key(|&i| self.observed[i].0);
        let obs = |idx: &[usize]| -> Vec<&[usize]> { idx.iter().map(|&i| self.observed[i].1.as_slice()).collect() };
        let l = Parzen::new(&obs(&below), params, &self.options, self.config.prior_weight);
        let g = Parzen::new(&obs(&above), params, &self.options, self.config.prior_weight);
        let candidates: Vec<Vec<usize>> = (0..self.config.ei_candidates).map(|_| l.sample(&mut self.rng)).collect();
        let acq: Vec<f64> = candidates.iter().map(|c| l.log_pdf(c) - g.log_pdf(c)).collect();
        let mut idx: Vec<usize> = (0..candidates.len()).collect();
        idx.sort_by(|&a, &b| acq[b].total_cmp(&acq[a]).then(a.cmp(&b)));
        idx.into_iter().map(|i| candidates[i].clone()).collect()
    }

    fn random<S: SearchSpace<Arch = A>>(&mut self, space: &S) -> (A, Vec<usize>) {
        for _ in 0..100 {
            let c: Vec<usize> = self.options.iter().map(|&n| self.rng.random_range(0..n)).collect();
            if let Some(a) = space.arch_from_decisions(&c) {
                return (a, c);
            }
        }
        let a = space.sample(&mut self.rng);
        let c = space.arch_decisions(&a).expect("a space with decisions gives an architecture's decisions");
        (a, c)
    }
}

impl<S: SearchSpace> Strategy<S> for Tpe<S::Arch> {
    fn name(&self) -> &str {
        "tpe"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        let trial = self.asked;
        self.asked += 1;
        let (arch, choices) = if self.observed.len() < self.config.startup {
            self.random(space)
        } else if self.config.multivariate {
            let all: Vec<usize> = (0..self.options.len()).collect();
            match self.ranked(&all).into_iter().find_map(|c| space.arch_from_decisions(&c).map(|a| (a, c))) {
                Some(found) => found,
                None => self.random(space),
            }
        } else {
            let c: Vec<usize> = (0..self.options.len()).map(|p| self.ranked(&[p])[0][0]).collect();
            match space.arch_from_decisions(&c) {
                Some(a) => (a, c),
                None => self.random(space),
            }
        };
        // Matched in `tell` by the architecture's key: decisions read back
        // from an architecture need not be the ones sampled (MobileNet's
        // unused block slots read back as option 0).
        self.pending.push_back((trial, choices, space.canonical_key(&arch)));
        Some(arch)
    }

    fn tell(&mut self, space: &S, arch: &S::Arch, outcome: &Evaluation) {
        // The earliest pending ask of this architecture (the oldest ask
        // when none matches: an estimator may report a rewritten one).
        let key = space.canonical_key(arch);
        let at = self.pending.iter().position(|p| p.2 == key).unwrap_or(0);
        let Some((trial, choices, _)) = self.pending.remove(at) else { return };
        if let Ok(m) = outcome {
            if m.valid.is_finite() {
                self.observed.push((trial, choices, m.valid));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optunas_gamma_and_weights() {
        assert_eq!((default_gamma(0), default_gamma(1), default_gamma(10), default_gamma(11), default_gamma(300)), (0, 1, 1, 2, 25));
        assert_eq!(default_weights(3), vec![1.0; 3]);
        let w = default_weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12 && (w[4] - 1.0).abs() < 1e-12 && w[5..].iter().all(|&v| v == 1.0));
    }

    #[test]
    fn kernels_follow_optunas_formula() {
        // Two observations of a 3-option decision: kernel rows put
        // (1/3 + 1) / (1 + 1) on the observed option, 1/6 elsewhere;
        // the prior row is uniform; weights 1, 1, 1 normalised.
        let a = [0usize];
        let b = [2usize];
        let p = Parzen::new(&[&a, &b], &[0], &[3], 1.0);
        let k = &p.kernels[0];
        assert!((k[0][0] - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12 && (k[0][1] - 1.0 / 6.0).abs() < 1e-12);
        assert!(k[2].iter().all(|&v| (v - 1.0 / 3.0).abs() < 1e-12));
        assert!(p.weights.iter().all(|&w| (w - 1.0 / 3.0).abs() < 1e-12));
        let density: f64 = (0..3).map(|v| p.log_pdf(&[v]).exp()).sum();
        assert!((density - 1.0).abs() < 1e-12);
    }

    #[test]
    fn batched_asks_are_told_back_in_any_order() {
        use nasforge_core::Metrics;
        use nasforge_space_nb201::Nb201Space;
        let space = Nb201Space;
        let mut tpe = Tpe::new(TpeConfig::default(), space.decisions().unwrap(), 1);
        let asked = Strategy::<Nb201Space>::ask_batch(&mut tpe, &space, 3);
        for (i, a) in asked.iter().enumerate().rev() {
            Strategy::<Nb201Space>::tell(&mut tpe, &space, a, &Ok(Metrics { valid: i as f64, ..Metrics::default() }));
        }
        let mut seen: Vec<(usize, Vec<usize>, f64)> = tpe.observed.clone();
        seen.sort_by_key(|o| o.0);
        for (i, (trial, choices, v)) in seen.iter().enumerate() {
            assert_eq!((*trial, *v), (i, i as f64));
            assert_eq!(*choices, space.arch_decisions(&asked[i]).unwrap());
        }
        assert!(tpe.pending.is_empty());
    }

    #[test]
    fn asks_whose_decisions_do_not_read_back_are_still_observed() {
        // MobileNet reads unused block slots back as option 0, so an
        // architecture's decisions differ from the sampled ones.
        use nasforge_core::Metrics;
        use nasforge_space_mobilenet::MobileNetSpace;
        let space = MobileNetSpace::default();
        let mut tpe = Tpe::new(TpeConfig::default(), space.decisions().unwrap(), 2);
        for i in 0..12 {
            let a = Strategy::<MobileNetSpace>::ask(&mut tpe, &space).unwrap();
            Strategy::<MobileNetSpace>::tell(&mut tpe, &space, &a, &Ok(Metrics { valid: f64::from(i), ..Metrics::default() }));
        }
        assert_eq!(tpe.observed.len(), 12);
        assert!(tpe.pending.is_empty());
    }
}
