//! The NASNet/ENAS REINFORCE controller: an autoregressive LSTM policy
//! over a space's decisions, trained with dfdx's tape and Adam.
//!
//! Decision `t` reads the LSTM's hidden state after it has consumed the
//! embedding of decision `t − 1`'s option (a learned start embedding for
//! the first), and samples from `softmax(c · tanh(logits / T))`, ENAS's
//! temperature and tanh squashing that keep early samples diverse. Each
//! decision has its own output head and option embeddings, so decisions of
//! any cardinality mix in one sequence.
//!
//! Sampling runs the network without a tape and draws from the given rng;
//! an update replays the sampled choices with a tape (teacher forcing gives
//! exactly the probabilities the choices were drawn from) and takes one
//! Adam step on `−(advantage · log π + entropy · H)`.

use dfdx::prelude::*;
use nasforge_engine::ops::{Param, values};
use nasforge_engine::params::{Optimizer, OptimizerConfig};
use crate::reinforce::{Policy, draw};
use nasforge_core::ParamError;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Unchecked settings of the [`LstmPolicy`].
#[derive(Clone, Debug, PartialEq)]
pub struct LstmPolicyParams {
    /// Hidden (and embedding) size of the one-layer LSTM.
    pub hidden: usize,
    /// Logits are divided by this before squashing (ENAS: 5).
    pub temperature: f64,
    /// Squashed logits lie in ±this (ENAS: 2.5); 0 turns squashing off.
    pub tanh_constant: f64,
    /// Parameters start uniform in ±this (ENAS: 0.1).
    pub init_range: f64,
}

impl Default for LstmPolicyParams {
    fn default() -> Self {
        Self { hidden: 64, temperature: 5.0, tanh_constant: 2.5, init_range: 0.1 }
    }
}

impl LstmPolicyParams {
    /// Validates the settings.
    pub fn check(self) -> Result<LstmPolicyConfig, ParamError> {
        if !(1..=4096).contains(&self.hidden) {
            return Err(ParamError { key: "hidden", reason: format!("must lie in 1..=4096, got {}", self.hidden) });
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(ParamError { key: "temperature", reason: format!("must be positive, got {}", self.temperature) });
        }
        if !(self.tanh_constant >= 0.0 && self.tanh_constant.is_finite()) {
            return Err(ParamError { key: "tanh-constant", reason: format!("must be non-negative, got {}", self.tanh_constant) });
        }
        if !(self.init_range > 0.0 && self.init_range.is_finite()) {
            return Err(ParamError { key: "init-range", reason: format!("must be positive, got {}", self.init_range) });
        }
        Ok(LstmPolicyConfig(self))
    }
}

/// Checked settings of the [`LstmPolicy`].
#[derive(Clone, Debug, PartialEq)]
pub struct LstmPolicyConfig(LstmPolicyParams);

impl LstmPolicyConfig {
    /// The checked settings.
    pub fn params(&self) -> &LstmPolicyParams {
        &self.0
    }
}

type V<T> = Tensor<(usize,), f32, Cpu, T>;

/// Where each parameter sits in `LstmPolicy::params`.
const START: usize = 0;
/// Input weights of the gates i, f, g, o.
const WX: usize = 1;
/// Recurrent weights of the gates.
const WH: usize = 5;
/// Biases of the gates.
const B: usize = 9;
/// The first per-decision parameter: head weights, head bias, embeddings.
const PER_DECISION: usize = 13;

/// The LSTM controller. See the module documentation.
pub struct LstmPolicy {
    config: LstmPolicyParams,
    dev: Cpu,
    decisions: Vec<usize>,
    params: Vec<Param>,
    optimizer: Optimizer,
}

impl LstmPolicy {
    /// A controller with checked settings; its parameters are drawn when
    /// REINFORCE hands it the space's decisions.
    pub fn new(config: LstmPolicyConfig) -> Self {
        Self {
            config: config.0,
            dev: Cpu::default(),
            decisions: Vec::new(),
            params: Vec::new(),
            // The learning rate comes with each update.
            optimizer: Optimizer::new(OptimizerConfig::Adam { lr: 0.0, weight_decay: 0.0 }),
        }
    }

    /// Number of trainable scalars (0 before the first sample).
    pub fn parameter_count(&self) -> usize {
        self.params.iter().map(|p| p.shape().0).sum()
    }

    fn param<T: Tape<f32, Cpu>>(&self, i: usize) -> V<T> {
        self.params[i].retaped::<T>()
    }

    fn matrix<T: Tape<f32, Cpu>>(&self, i: usize, rows: usize, cols: usize) -> Tensor<(usize, usize), f32, Cpu, T> {
        self.params[i].retaped::<T>().reshape_like(&(rows, cols))
    }

    /// The input after decision `t` took `option`: that option's embedding.
    fn embed<T: Tape<f32, Cpu> + Merge<T>>(&self, t: usize, option: usize) -> V<T> {
        let mut one_hot = vec![0.0f32; self.decisions[t]];
        one_hot[option] = 1.0;
        let one_hot: V<T> = self.dev.tensor_from_vec(one_hot, (self.decisions[t],)).retaped::<T>();
        one_hot.matmul(self.matrix::<T>(PER_DECISION + 3 * t + 2, self.decisions[t], self.config.hidden))
    }

    /// One LSTM step: the new hidden state, which carries the step's tape,
    /// and the new cell state without one (its ops are on the hidden
    /// state's tape; gradients meet under the tensor's id).
    fn cell<T: Tape<f32, Cpu> + Merge<T>>(&self, x: V<T>, h: V<T>, c: V<T>) -> (V<T>, V<T>) {
        let n = self.config.hidden;
        let pre = |x: V<T>, h: V<T>, k: usize| x.matmul(self.matrix::<T>(WX + k, n, n)) + h.matmul(self.matrix::<T>(WH + k, n, n)) + self.param::<T>(B + k);
        let i = pre(x.with_empty_tape(), h.with_empty_tape(), 0).sigmoid();
        let f = pre(x.with_empty_tape(), h.with_empty_tape(), 1).sigmoid();
        let g = pre(x.with_empty_tape(), h.with_empty_tape(), 2).tanh();
        let o = pre(x, h, 3).sigmoid();
        let c = f * c + i * g;
        let c_next = c.with_empty_tape();
        (o * c.tanh(), c_next)
    }

    /// Log-probabilities of decision `t`'s options from hidden state `h`.
    fn log_probs<T: Tape<f32, Cpu> + Merge<T>>(&self, t: usize, h: V<T>) -> V<T> {
        let (n, k) = (self.config.hidden, self.decisions[t]);
        let logits = h.matmul(self.matrix::<T>(PER_DECISION + 3 * t, n, k)) + self.param::<T>(PER_DECISION + 3 * t + 1);
        let logits = logits / self.config.temperature as f32;
        let logits = if self.config.tanh_constant > 0.0 { logits.tanh() * self.config.tanh_constant as f32 } else { logits };
        logits.log_softmax::<Axis<0>>()
    }

    /// Runs the controller over every decision. `pick(t, log_probs)` names
    /// the option decision `t` takes; `visit` sees each decision's taped
    /// log-probabilities and the option taken.
    fn unroll<T: Tape<f32, Cpu> + Merge<T>>(&self, mut pick: impl FnMut(usize, &[f32]) -> usize, mut visit: impl FnMut(V<T>, usize)) -> Vec<usize> {
        let n = self.config.hidden;
        let mut x = self.param::<T>(START);
        let mut h: V<T> = self.dev.zeros_like(&(n,)).retaped::<T>();
        let mut c: V<T> = self.dev.zeros_like(&(n,)).retaped::<T>();
        let mut choices = Vec::with_capacity(self.decisions.len());
        for t in 0..self.decisions.len() {
            let (h_new, c_new) = self.cell(x, h, c);
            h = h_new.with_empty_tape();
            c = c_new;
            let log_probs = self.log_probs(t, h_new);
            let option = pick(t, &values(&log_probs));
            choices.push(option);
            visit(log_probs, option);
            x = self.embed(t, option);
        }
        choices
    }
}

impl Policy for LstmPolicy {
    fn name(&self) -> &str {
        "lstm"
    }

    fn init(&mut self, decisions: &[usize], rng: &mut ChaCha8Rng) {
        let (n, r) = (self.config.hidden, self.config.init_range as f32);
        let mut draw = |len: usize| self.dev.tensor_from_vec((0..len).map(|_| rng.random_range(-r..=r)).collect::<Vec<f32>>(), (len,));
        let mut params = vec![draw(n)];
        params.extend((0..8).map(|_| draw(n * n)));
        params.extend((0..4).map(|_| draw(n)));
        for &k in decisions {
            params.extend([draw(n * k), draw(k), draw(k * n)]);
        }
        self.decisions = decisions.to_vec();
        self.params = params;
    }

    fn sample(&mut self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let pick = |_t: usize, log_probs: &[f32]| {
            let p: Vec<f64> = log_probs.iter().map(|&l| f64::from(l).exp()).collect();
            draw(&p, rng.random())
        };
        self.unroll::<NoneTape>(pick, |_, _| {})
    }

    fn update(&mut self, choices: &[usize], advantage: f64, entropy: f64, lr: f64) {
        let mut objective: Option<Tensor<(), f32, Cpu, OwnedTape<f32, Cpu>>> = None;
        let mut add = |term: Tensor<(), f32, Cpu, OwnedTape<f32, Cpu>>| {
            objective = Some(match objective.take() {
                Some(total) => total + term,
                None => term,
            });
        };
        self.unroll::<OwnedTape<f32, Cpu>>(
            |t, _| choices[t],
            |log_probs, option| {
                let k = log_probs.shape().0;
                let mut one_hot = vec![0.0f32; k];
                one_hot[option] = 1.0;
                let one_hot = self.dev.tensor_from_vec(one_hot, (k,));
                let chosen: Tensor<(), f32, Cpu, _> = (log_probs.with_empty_tape() * one_hot).sum();
                let h: Tensor<(), f32, Cpu, _> = (log_probs.with_empty_tape().exp() * log_probs).sum::<(), _>().negate();
                add(chosen * advantage as f32 + h * entropy as f32);
            },
        );
        let Some(objective) = objective else { return };
        let mut grads = objective.negate().backward();
        // Plain f32 arithmetic on the CPU cannot fail.
        self.optimizer.step(&mut self.params, &mut grads, lr).expect("an Adam step on the CPU");
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::{Metrics, SearchSpace, Strategy};
    use nasforge_space_nb201::{Cell, Nb201Space, Op};
    use crate::reinforce::{Reinforce, ReinforceParams};
    use rand::SeedableRng;

    use super::*;

    fn policy() -> LstmPolicy {
        LstmPolicy::new(LstmPolicyParams { hidden: 16, ..LstmPolicyParams::default() }.check().unwrap())
    }

    /// The policy's log-probability of `choices`, without a tape.
    fn log_prob(p: &LstmPolicy, choices: &[usize]) -> f64 {
        let mut total = 0.0;
        p.unroll::<NoneTape>(|t, lp| {
            total += f64::from(lp[choices[t]]);
            choices[t]
        }, |_, _| {});
        total
    }

    #[test]
    fn an_update_raises_the_probability_of_rewarded_choices() {
        let mut p = policy();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        p.init(&[5, 3, 7], &mut rng);
        assert_eq!(p.parameter_count(), 16 + 8 * 256 + 4 * 16 + (16 * 5 + 5 + 5 * 16) + (16 * 3 + 3 + 3 * 16) + (16 * 7 + 7 + 7 * 16));
        let choices = p.sample(&mut rng);
        let before = log_prob(&p, &choices);
        p.update(&choices, 1.0, 0.0, 0.01);
        let after = log_prob(&p, &choices);
        assert!(after > before, "{before} → {after}");
        p.update(&choices, -1.0, 0.0, 0.01);
        p.update(&choices, -1.0, 0.0, 0.01);
        assert!(log_prob(&p, &choices) < after);
    }

    #[test]
    fn sampling_follows_the_seed() {
        let run = |seed| {
            let mut p = policy();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            p.init(&[5; 6], &mut rng);
            (0..20).map(|_| p.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn reinforce_with_the_lstm_learns_a_rewarded_pattern() {
        let config = ReinforceParams { lr: 0.02, ..ReinforceParams::default() }.check().unwrap();
        let mut r = Reinforce::<Cell>::with_policy(config, 0, Box::new(policy()));
        let space = Nb201Space;
        let mut late = 0usize;
        for step in 0..300 {
            let a = Strategy::<Nb201Space>::ask(&mut r, &space).unwrap();
            let convs = a.ops.iter().filter(|&&o| o == Op::NorConv3x3).count();
            if step >= 250 {
                late += convs;
            }
            r.tell(&space, &a, &Ok(Metrics::with_valid(convs as f64)));
        }
        // Uniform sampling would give 1/5 of the 300 late edges.
        let share = late as f64 / 300.0;
        assert!(share > 0.6, "share of nor_conv_3x3 edges late in the run: {share}");
        assert_eq!(space.decisions().unwrap().len(), 6);
    }
}
