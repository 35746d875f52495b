//! REINFORCE (Williams 1992) over a space's categorical decisions, as the
//! NAS-Bench-201 paper runs it: a factorised policy (independent softmax
//! logits per decision), a moving-average reward baseline and an entropy
//! bonus.

use std::collections::VecDeque;

use nasforge_core::{Evaluation, Objective, SearchSpace, Strategy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ParamError;

/// Unchecked parameters of [`Reinforce`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReinforceParams {
    /// Step size of the policy-gradient ascent on the logits.
    pub lr: f64,
    /// Decay of the moving averages of the reward's mean and variance
    /// (the baseline, and the scale advantages are divided by).
    pub baseline_decay: f64,
    /// Weight of the entropy bonus.
    pub entropy: f64,
    /// What is rewarded.
    pub objective: Objective,
}

impl Default for ReinforceParams {
    fn default() -> Self {
        Self { lr: 0.1, baseline_decay: 0.9, entropy: 0.0, objective: Objective::valid() }
    }
}

impl ReinforceParams {
    /// Validates the parameters.
    pub fn check(self) -> Result<ReinforceConfig, ParamError> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(ParamError { key: "lr", reason: format!("must be positive, got {}", self.lr) });
        }
        if !(0.0..1.0).contains(&self.baseline_decay) {
            return Err(ParamError { key: "baseline-decay", reason: format!("must lie in [0, 1), got {}", self.baseline_decay) });
        }
        if !(self.entropy >= 0.0 && self.entropy.is_finite()) {
            return Err(ParamError { key: "entropy", reason: format!("must be non-negative, got {}", self.entropy) });
        }
        Ok(ReinforceConfig(self))
    }
}

/// Checked parameters of [`Reinforce`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReinforceConfig(ReinforceParams);

impl ReinforceConfig {
    /// The checked parameters.
    pub fn params(&self) -> &ReinforceParams {
        &self.0
    }
}

/// The REINFORCE controller.
///
/// Each proposal samples one option per decision from the softmax of its
/// logits. A told reward `r` moves the logits of the sampled options by
/// `lr · (r − b)/s · ∇ log π` (plus `entropy · ∇H`), with `b` and `s²` the
/// moving mean and variance of past rewards, so that the step size does not
/// depend on the reward's units. Failed evaluations teach nothing.
#[derive(Debug)]
pub struct Reinforce<A> {
    config: ReinforceParams,
    rng: ChaCha8Rng,
    logits: Vec<Vec<f64>>,
    pending: VecDeque<(A, Vec<usize>)>,
    mean: Option<f64>,
    var: f64,
    failure: Option<String>,
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|v| v / total).collect()
}

impl<A: PartialEq + Clone> Reinforce<A> {
    /// A controller with a checked config, seeded with `seed`.
    pub fn new(config: ReinforceConfig, seed: u64) -> Self {
        Self { config: config.0, rng: ChaCha8Rng::seed_from_u64(seed), logits: Vec::new(), pending: VecDeque::new(), mean: None, var: 0.0, failure: None }
    }

    /// The policy: per decision, the probability of each option.
    pub fn policy(&self) -> Vec<Vec<f64>> {
        self.logits.iter().map(|l| softmax(l)).collect()
    }

    fn sample(&mut self) -> Vec<usize> {
        let policy = self.policy();
        policy
            .iter()
            .map(|p| {
                let u: f64 = self.rng.random();
                let mut acc = 0.0;
                p.iter().position(|&q| {
                    acc += q;
                    u < acc
                })
                .unwrap_or(p.len() - 1)
            })
            .collect()
    }
}

impl<S: SearchSpace> Strategy<S> for Reinforce<S::Arch> {
    fn name(&self) -> &str {
        "reinforce"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        if self.logits.is_empty() {
            let Some(decisions) = space.decisions() else {
                self.failure = Some(format!("reinforce needs a space of categorical decisions; `{}` has none", space.name()));
                return None;
            };
            self.logits = decisions.into_iter().map(|n| vec![0.0; n]).collect();
        }
        for _ in 0..1000 {
            let choices = self.sample();
            if let Some(arch) = space.arch_from_decisions(&choices) {
                self.pending.push_back((arch.clone(), choices));
                return Some(arch);
            }
        }
        self.failure = Some("the policy samples only invalid combinations".into());
        None
    }

    fn tell(&mut self, _space: &S, arch: &S::Arch, outcome: &Evaluation) {
        let Some(at) = self.pending.iter().position(|p| &p.0 == arch) else { return };
        let (_, choices) = self.pending.remove(at).expect("found above");
        let Some(reward) = outcome.as_ref().ok().and_then(|m| self.config.objective.fitness(m)).filter(|r| r.is_finite()) else {
            return;
        };
        let d = self.config.baseline_decay;
        let (mean, var) = match self.mean {
            None => (reward, 0.0),
            Some(m) => (m, self.var),
        };
        let advantage = if var > 0.0 { (reward - mean) / var.sqrt() } else { 0.0 };
        // Moving moments, updated after the advantage uses the old ones.
        let new_mean = d * mean + (1.0 - d) * reward;
        self.var = d * var + (1.0 - d) * (reward - mean) * (reward - new_mean);
        self.mean = Some(new_mean);
        let (lr, beta) = (self.config.lr, self.config.entropy);
        for (logits, &chosen) in self.logits.iter_mut().zip(&choices) {
            let p = softmax(logits);
            let h: f64 = -p.iter().map(|&q| if q > 0.0 { q * q.ln() } else { 0.0 }).sum::<f64>();
            for (k, l) in logits.iter_mut().enumerate() {
                let grad_log = f64::from(u8::from(k == chosen)) - p[k];
                let grad_entropy = if p[k] > 0.0 { -p[k] * (p[k].ln() + h) } else { 0.0 };
                *l += lr * (advantage * grad_log + beta * grad_entropy);
            }
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::Metrics;
    use nasforge_space_nb201::{Cell, Nb201Space, Op};

    use super::*;

    #[test]
    fn the_policy_concentrates_on_rewarded_options() {
        let space = Nb201Space;
        let mut r = Reinforce::<Cell>::new(ReinforceParams::default().check().unwrap(), 0);
        for _ in 0..400 {
            let a = Strategy::<Nb201Space>::ask(&mut r, &space).unwrap();
            let convs = a.ops.iter().filter(|&&o| o == Op::NorConv3x3).count() as f64;
            r.tell(&space, &a, &Ok(Metrics::with_valid(convs)));
        }
        let conv = Op::ALL.iter().position(|&o| o == Op::NorConv3x3).unwrap();
        for p in r.policy() {
            assert!(p[conv] > 0.6, "{p:?}");
        }
    }

    #[test]
    fn params_are_checked() {
        assert_eq!(ReinforceParams { lr: 0.0, ..ReinforceParams::default() }.check().unwrap_err().key, "lr");
        assert_eq!(ReinforceParams { baseline_decay: 1.0, ..ReinforceParams::default() }.check().unwrap_err().key, "baseline-decay");
    }
}
