//! SD-DARTS' self-distillation (see [`crate::config::Distillation`] for
//! what follows the paper and what is ours): the supernets of the previous
//! steps vote on each weight batch, and the weight step learns from the
//! vote besides the labels.

use std::collections::VecDeque;

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::Param;
use nasforge_engine::state::State;

use crate::config::Distillation;
use crate::data::{Batch, correct};
use crate::nb201::EdgeChoice;
use crate::supernet::Supernet;
use crate::train::{BatchScore, Taped, Training, Weighting, mixed};

/// The supernet's parameters at one step: weights, then α.
type Snapshot = (Vec<Param>, Vec<Param>);

/// The last `k` steps' supernets, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Teachers {
    ring: VecDeque<Snapshot>,
    k: usize,
}

impl Teachers {
    /// Room for `k` teachers.
    pub fn new(k: usize) -> Self {
        Teachers { ring: VecDeque::with_capacity(k + 1), k }
    }

    /// Teachers kept so far (fewer than `k` in the first steps).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether there is none yet (the first step learns from labels alone).
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The supernet as it is now, to be pushed once this step is taken.
    /// The tensors are shared until the step writes new values.
    pub fn snapshot<N: Supernet>(net: &N) -> Snapshot {
        (net.weights().params.clone(), net.alpha().params.clone())
    }

    /// Keeps `s`, dropping the oldest teacher beyond `k`.
    pub fn push(&mut self, s: Snapshot) {
        self.ring.push_back(s);
        while self.ring.len() > self.k {
            self.ring.pop_front();
        }
    }

    /// The teachers' vote on `batch`: the mean of their softened
    /// probabilities `softmax(z/τ)`, row-major `n × classes`; `None`
    /// without teachers. Each teacher runs as the student does (mixed
    /// edges of its own α, batch statistics), and leaves the supernet's
    /// parameters and running statistics as they were.
    pub fn vote<N: Supernet>(&self, net: &mut N, batch: &Batch, weighting: Weighting, tau: f64) -> Option<Vec<f32>> {
        if self.ring.is_empty() {
            return None;
        }
        let stats = net.weights().stats.clone();
        let mut sum: Vec<f32> = Vec::new();
        for (w, a) in &self.ring {
            let own_w = std::mem::replace(&mut net.weights_mut().params, w.clone());
            let own_a = std::mem::replace(&mut net.alpha_mut().params, a.clone());
            let logits = net.forward_with(batch.x.clone(), true, &mut mixed(a, weighting));
            net.weights_mut().params = own_w;
            net.alpha_mut().params = own_a;
            let p = (logits / tau as f32).softmax::<Axis<1>>().as_vec();
            if sum.is_empty() {
                sum = p;
            } else {
                sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
            }
        }
        net.weights_mut().stats = stats;
        let k = self.ring.len() as f32;
        Some(sum.into_iter().map(|v| v / k).collect())
    }

    /// Writes the teachers into `state`, named after `net`'s parameters.
    pub fn save_into<N: Supernet>(&self, net: &N, state: &mut State) {
        state.set_meta("teachers", self.ring.len().to_string());
        for (t, (w, a)) in self.ring.iter().enumerate() {
            for (p, (name, shape)) in w.iter().zip(&net.weights().meta) {
                state.put(format!("teacher{t}.weights.{name}"), shape, p.as_vec());
            }
            for (p, (name, shape)) in a.iter().zip(&net.alpha().meta) {
                state.put(format!("teacher{t}.alpha.{name}"), shape, p.as_vec());
            }
        }
    }

    /// Reads what [`Teachers::save_into`] wrote, as new tensors.
    pub fn load_from<N: Supernet>(&mut self, net: &N, state: &State) -> Result<(), String> {
        let n: usize = state.meta("teachers").ok_or("the checkpoint has no `teachers`")?.parse().map_err(|e| format!("the checkpoint's `teachers`: {e}"))?;
        self.ring.clear();
        let read = |store: &nasforge_engine::params::ParamStore, prefix: &str| -> Result<Vec<Param>, String> {
            store
                .meta
                .iter()
                .map(|(name, shape)| {
                    let v = state.get(&format!("{prefix}{name}"), shape)?.to_vec();
                    Ok(store.device().tensor_from_vec(v.clone(), (v.len(),)))
                })
                .collect()
        };
        for t in 0..n {
            let w = read(net.weights(), &format!("teacher{t}.weights."))?;
            let a = read(net.alpha(), &format!("teacher{t}.alpha."))?;
            self.push((w, a));
        }
        Ok(())
    }
}

/// One weight step on `batch` at rate `lr` whose loss is the labels'
/// cross-entropy plus `d.weight · τ² · KL(vote ‖ softmax(z/τ))` (Hinton
/// et al.'s scaling keeps the term's gradient comparable across τ); the
/// batch's score and the divergence (0 without a vote).
pub fn weight_step<N: Supernet>(
    t: &mut Training<N>,
    batch: &Batch,
    lr: f64,
    choice: &mut dyn FnMut(usize) -> EdgeChoice<Taped>,
    vote: Option<&[f32]>,
    d: &Distillation,
) -> (BatchScore, f64) {
    let Some(vote) = vote else {
        return (t.weight_step(batch, lr, choice), 0.0);
    };
    let logits = t.net.forward_with(batch.x.leaky_trace(), true, choice);
    let (n, classes) = *logits.shape();
    let hits = correct(&logits.as_vec(), classes, &batch.labels);
    let ce = cross_entropy_with_logits_loss(logits.with_empty_tape(), batch.y.clone());
    let score = BatchScore { loss: f64::from(ce.array()), correct: hits, n };
    let target = logits.device().tensor_from_vec(vote.to_vec(), (n, classes));
    let tau = d.temperature as f32;
    let cross = cross_entropy_with_logits_loss(logits / tau, target);
    // KL = cross-entropy − the vote's entropy (a constant of the step).
    let entropy: f64 = -vote.iter().map(|&p| if p > 0.0 { f64::from(p) * f64::from(p).ln() } else { 0.0 }).sum::<f64>() / n as f64;
    let kl = f64::from(cross.array()) - entropy;
    let loss = ce + cross * (d.weight as f32 * tau * tau);
    let mut grads = loss.backward();
    t.step_weights(&mut grads, lr);
    (score, kl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SearchData;
    use crate::nb201::{Nb201Supernet, SupernetShape};
    use crate::train::Optimisers;

    fn setup() -> (Training<Nb201Supernet>, Batch) {
        let data = SearchData::new(std::sync::Arc::new(nasforge_datasets::digits(1)), 16, 3).unwrap();
        let (wi, _) = data.epoch(1).swap_remove(0);
        let net = Nb201Supernet::new(SupernetShape { channels: 2, cells: 1, in_channels: data.channels(), classes: data.classes() }, 4);
        (Training::new(net, Optimisers::default()), data.batch(&wi))
    }

    #[test]
    fn the_vote_is_the_mean_of_the_teachers_softened_probabilities_and_leaves_the_net_as_it_was() {
        let (mut t, batch) = setup();
        let d = Distillation { teachers: 2, temperature: 2.0, weight: 1.0 };
        let mut teachers = Teachers::new(d.teachers);
        let alpha = t.net.alpha.params.clone();
        let mut probs = Vec::new();
        for _ in 0..3 {
            let s = Teachers::snapshot(&t.net);
            let logits = {
                let stats = t.net.weights.stats.clone();
                let l = t.net.forward_with(batch.x.clone(), true, &mut mixed(&alpha, Weighting::Softmax));
                t.net.weights.stats = stats;
                l
            };
            probs.push((logits / 2.0).softmax::<Axis<1>>().as_vec());
            teachers.push(s);
            t.weight_step(&batch, 0.1, &mut mixed(&alpha, Weighting::Softmax));
        }
        assert_eq!(teachers.len(), 2, "the oldest is dropped");
        let before = (t.net.weights.params.iter().map(|p| p.as_vec()).collect::<Vec<_>>(), t.net.weights.stats.clone());
        let vote = teachers.vote(&mut t.net, &batch, Weighting::Softmax, 2.0).unwrap();
        for (i, v) in vote.iter().enumerate() {
            let want = (probs[1][i] + probs[2][i]) / 2.0;
            assert!((v - want).abs() < 1e-5, "{i}: {v} vs {want}");
        }
        assert_eq!(before.0, t.net.weights.params.iter().map(|p| p.as_vec()).collect::<Vec<_>>());
        assert_eq!(before.1, t.net.weights.stats);
    }

    #[test]
    fn with_weight_zero_a_vote_changes_nothing_the_labels_still_train() {
        let (mut voted, batch) = setup();
        let (mut plain, _) = setup();
        let alpha = voted.net.alpha.params.clone();
        let n = batch.labels.len();
        let vote: Vec<f32> = vec![0.1; n * 10];
        let d = Distillation { teachers: 1, temperature: 2.0, weight: 0.0 };
        let (a, _) = weight_step(&mut voted, &batch, 0.05, &mut mixed(&alpha, Weighting::Softmax), Some(&vote), &d);
        let (b, _) = weight_step(&mut plain, &batch, 0.05, &mut mixed(&alpha, Weighting::Softmax), None, &d);
        assert_eq!(a, b);
        let before = setup().0;
        let mut moved = 0.0f32;
        for ((p, q), r) in voted.net.weights.params.iter().zip(&plain.net.weights.params).zip(&before.net.weights.params) {
            for ((x, y), z) in p.as_vec().iter().zip(q.as_vec()).zip(r.as_vec()) {
                assert!((x - y).abs() < 1e-6, "{x} vs {y}");
                moved = moved.max((x - z).abs());
            }
        }
        assert!(moved > 1e-4, "the label loss moved the weights");
    }

    #[test]
    fn the_distillation_term_pulls_the_student_towards_the_vote() {
        let (mut t, batch) = setup();
        let alpha = t.net.alpha.params.clone();
        let classes = 10;
        let n = batch.labels.len();
        // A vote certain of class 0 everywhere: the student's probability
        // of class 0 rises faster with the term than without it.
        let vote: Vec<f32> = (0..n).flat_map(|_| (0..classes).map(|c| if c == 0 { 1.0 } else { 0.0 })).collect();
        let p0 = |t: &mut Training<Nb201Supernet>| {
            let stats = t.net.weights.stats.clone();
            let l = t.net.forward_with(batch.x.clone(), true, &mut mixed(&alpha, Weighting::Softmax));
            t.net.weights.stats = stats;
            let p = l.softmax::<Axis<1>>().as_vec();
            (0..n).map(|i| p[i * classes]).sum::<f32>() / n as f32
        };
        let mut plain = setup().0;
        let d = Distillation { teachers: 1, temperature: 1.0, weight: 5.0 };
        for _ in 0..3 {
            let (_, kl) = weight_step(&mut t, &batch, 0.05, &mut mixed(&alpha, Weighting::Softmax), Some(&vote), &d);
            assert!(kl.is_finite() && kl > 0.0, "{kl}");
            weight_step(&mut plain, &batch, 0.05, &mut mixed(&alpha, Weighting::Softmax), None, &d);
        }
        assert!(p0(&mut t) > p0(&mut plain) + 0.05, "{} vs {}", p0(&mut t), p0(&mut plain));
    }
}
