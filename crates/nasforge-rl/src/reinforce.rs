//! REINFORCE (Williams 1992) over a space's categorical decisions: a
//! [`Policy`] sampled once per proposal, a moving-average reward baseline
//! and an entropy bonus. The policy here is the factorised one the
//! NAS-Bench-201 paper runs (independent softmax logits per decision); the
//! NASNet/ENAS LSTM controller lives with the other dfdx networks, in
//! `nasforge-trainer-dfdx`, and plugs in through [`Reinforce::with_policy`].

use std::collections::VecDeque;

use nasforge_core::{Evaluation, Objective, SearchSpace, Strategy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use nasforge_core::ParamError;


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

/// A distribution over a space's decisions that REINFORCE samples from and
/// moves. Every random draw comes from the rng it is handed, so a policy
/// is as reproducible as the strategy's seed.
pub trait Policy: Send {
    /// The policy's name (`factorised`, `lstm`).
    fn name(&self) -> &str;

    /// Sets the policy up for a space with these decisions (the number of
    /// options of each); called once, before the first sample.
    fn init(&mut self, decisions: &[usize], rng: &mut ChaCha8Rng);

    /// Draws one option per decision.
    fn sample(&mut self, rng: &mut ChaCha8Rng) -> Vec<usize>;

    /// One ascent step of size `lr` on
    /// `advantage · log π(choices) + entropy · H(π)`.
    fn update(&mut self, choices: &[usize], advantage: f64, entropy: f64, lr: f64);
}

/// Independent softmax logits per decision, updated by exact gradient
/// steps on the logits.
#[derive(Clone, Debug, Default)]
pub struct FactorisedPolicy {
    logits: Vec<Vec<f64>>,
}

impl FactorisedPolicy {
    /// Per decision, the probability of each option.
    pub fn probabilities(&self) -> Vec<Vec<f64>> {
        self.logits.iter().map(|l| softmax(l)).collect()
    }
}

impl Policy for FactorisedPolicy {
    fn name(&self) -> &str {
        "factorised"
    }

    fn init(&mut self, decisions: &[usize], _rng: &mut ChaCha8Rng) {
        self.logits = decisions.iter().map(|&n| vec![0.0; n]).collect();
    }

    fn sample(&mut self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        self.probabilities().iter().map(|p| draw(p, rng.random())).collect()
    }

    fn update(&mut self, choices: &[usize], advantage: f64, entropy: f64, lr: f64) {
        for (logits, &chosen) in self.logits.iter_mut().zip(choices) {
            let p = softmax(logits);
            let h: f64 = -p.iter().map(|&q| if q > 0.0 { q * q.ln() } else { 0.0 }).sum::<f64>();
            for (k, l) in logits.iter_mut().enumerate() {
                let grad_log = f64::from(u8::from(k == chosen)) - p[k];
                let grad_entropy = if p[k] > 0.0 { -p[k] * (p[k].ln() + h) } else { 0.0 };
                *l += lr * (advantage * grad_log + entropy * grad_entropy);
            }
        }
    }
}

/// The option a uniform draw `u ∈ [0, 1)` picks from probabilities `p`
/// (inverse CDF; the last option absorbs rounding).
pub fn draw(p: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    p.iter()
        .position(|&q| {
            acc += q;
            u < acc
        })
        .unwrap_or(p.len() - 1)
}

/// The REINFORCE controller.
///
/// Each proposal samples one option per decision from the policy. A told
/// reward `r` moves the policy along `lr · (r − b)/s · ∇ log π` (plus
/// `entropy · ∇H`), with `b` and `s²` the moving mean and variance of past
/// rewards, so that the step size does not depend on the reward's units.
/// Failed evaluations teach nothing.
pub struct Reinforce<A> {
    config: ReinforceParams,
    rng: ChaCha8Rng,
    policy: Box<dyn Policy>,
    ready: bool,
    pending: VecDeque<(A, Vec<usize>)>,
    mean: Option<f64>,
    var: f64,
    failure: Option<String>,
}

impl<A> std::fmt::Debug for Reinforce<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reinforce").field("config", &self.config).field("policy", &self.policy.name()).finish_non_exhaustive()
    }
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|v| v / total).collect()
}

impl<A: PartialEq + Clone> Reinforce<A> {
    /// A controller with the factorised policy, a checked config, seeded
    /// with `seed`.
    pub fn new(config: ReinforceConfig, seed: u64) -> Self {
        Self::with_policy(config, seed, Box::new(FactorisedPolicy::default()))
    }

    /// A controller with its own policy (the LSTM one, say).
    pub fn with_policy(config: ReinforceConfig, seed: u64, policy: Box<dyn Policy>) -> Self {
        Self { config: config.0, rng: ChaCha8Rng::seed_from_u64(seed), policy, ready: false, pending: VecDeque::new(), mean: None, var: 0.0, failure: None }
    }
}

impl<S: SearchSpace> Strategy<S> for Reinforce<S::Arch> {
    fn name(&self) -> &str {
        "reinforce"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        if !self.ready {
            let Some(decisions) = space.decisions() else {
                self.failure = Some(format!("reinforce needs a space of categorical decisions; `{}` has none", space.name()));
                return None;
            };
            self.policy.init(&decisions, &mut self.rng);
            self.ready = true;
        }
        for _ in 0..1000 {
            let choices = self.policy.sample(&mut self.rng);
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
        self.policy.update(&choices, advantage, self.config.entropy, self.config.lr);
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

    /// The share of `nor_conv_3x3` edges among the last 100 of 500
    /// proposals of a controller rewarded by the number of such edges.
    fn conv_share_after_training(mut r: Reinforce<Cell>) -> f64 {
        let space = Nb201Space;
        let mut late = 0usize;
        for step in 0..500 {
            let a = Strategy::<Nb201Space>::ask(&mut r, &space).unwrap();
            let convs = a.ops.iter().filter(|&&o| o == Op::NorConv3x3).count();
            if step >= 400 {
                late += convs;
            }
            r.tell(&space, &a, &Ok(Metrics::with_valid(convs as f64)));
        }
        late as f64 / 600.0
    }

    #[test]
    fn the_policy_concentrates_on_rewarded_options() {
        // Uniform: 1/5 of the edges.
        let share = conv_share_after_training(Reinforce::new(ReinforceParams::default().check().unwrap(), 0));
        assert!(share > 0.6, "{share}");
    }

    #[test]
    fn params_are_checked() {
        assert_eq!(ReinforceParams { lr: 0.0, ..ReinforceParams::default() }.check().unwrap_err().key, "lr");
        assert_eq!(ReinforceParams { baseline_decay: 1.0, ..ReinforceParams::default() }.check().unwrap_err().key, "baseline-decay");
    }
}
