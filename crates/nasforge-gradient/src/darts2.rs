//! DARTS' second-order architecture step (Liu et al., ICLR 2019, eq. 7–8;
//! `backward_step_unrolled` of the NB201 reference's DARTS-V2): the
//! gradient of the validation loss at the weights after one virtual SGD
//! step, `∇α L_val(w', α) − ξ ∇²_{α,w} L_train(w, α) ∇_{w'} L_val(w', α)`,
//! with `w' = w − ξ (μ · m + ∇w L_train + λ w)` (the momentum buffer `m`,
//! Nesterov ignored, as the reference) and the mixed second derivative
//! as a central difference of α-gradients at `w ± R ∇_{w'} L_val`,
//! `R = 0.01 / ‖∇_{w'} L_val‖`. The batch-norm running statistics are
//! restored after these extra passes (the reference's update those of the
//! network it searches); they are not used by the search, which
//! normalises by batch statistics throughout.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::Param;
use nasforge_engine::params::OptimizerConfig;

use crate::data::Batch;
use crate::supernet::Supernet;
use crate::train::{BatchScore, Training, mixed};

/// Values of the weights at `idx`.
fn values<N: Supernet>(t: &Training<N>, idx: &[usize]) -> Vec<Vec<f32>> {
    idx.iter().map(|&i| t.net.weights().params[i].as_vec()).collect()
}

fn set<N: Supernet>(t: &mut Training<N>, idx: &[usize], v: &[Vec<f32>]) {
    for (&i, v) in idx.iter().zip(v) {
        t.net.weights_mut().params[i].copy_from(v);
    }
}

/// Gradients (weights at `idx`, then α) of the loss on `batch` through
/// DARTS' mixed edges, and the batch's score.
fn gradients<N: Supernet>(t: &mut Training<N>, batch: &Batch, idx: &[usize]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, BatchScore) {
    let alpha: Vec<Param> = t.net.alpha().params.clone();
    let weighting = t.config.weighting;
    let (loss, score) = t.loss(batch, &mut mixed(&alpha, weighting));
    let mut grads = loss.backward();
    // Zeros for what the pass did not reach (α rows of a cell kind the
    // network lacks).
    let mut of = |p: &Param| grads.get_or_alloc_mut(p).expect("a CPU gradient").to_vec();
    let w = idx.iter().map(|&i| of(&t.net.weights().params[i])).collect();
    let a = alpha.iter().map(&mut of).collect();
    (w, a, score)
}

/// One second-order α step with weights' batch `train`, α's batch
/// `valid` and the weights' learning rate `lr` (ξ); the weights and the
/// batch-norm statistics are as before. Returns the score of `valid` at
/// the unrolled weights.
pub fn alpha_step<N: Supernet>(t: &mut Training<N>, train: &Batch, valid: &Batch, lr: f64) -> BatchScore {
    let (da, score) = hypergradient(t, train, valid, lr);
    let mut grads = Gradients::leaky();
    for (p, g) in t.net.alpha().params.clone().iter().zip(&da) {
        grads.get_or_alloc_mut(p).expect("a CPU gradient").copy_from_slice(g);
    }
    t.step_alpha(&mut grads);
    score
}

/// The second-order α gradient, row by row, and the score of `valid` at
/// the unrolled weights; the weights and the statistics are as before.
fn hypergradient<N: Supernet>(t: &mut Training<N>, train: &Batch, valid: &Batch, lr: f64) -> (Vec<Vec<f32>>, BatchScore) {
    let (momentum, wd) = match t.config.weights {
        OptimizerConfig::Sgd { momentum, weight_decay, .. } => (momentum, weight_decay),
        OptimizerConfig::Adam { weight_decay, .. } => (0.0, weight_decay),
    };
    let idx = t.net.trainable();
    let w = values(t, &idx);
    let stats = t.net.weights().stats.clone();

    // w' = w − ξ (μ m + ∇w L_train + λ w).
    let (gw, _, _) = gradients(t, train, &idx);
    let unrolled: Vec<Vec<f32>> = idx
        .iter()
        .zip(&w)
        .zip(&gw)
        .map(|((&i, w), g)| {
            let m = t.weight_momentum(i);
            w.iter().zip(g).zip(&m).map(|((&w, &g), &m)| w - (lr * (momentum * f64::from(m) + f64::from(g) + wd * f64::from(w))) as f32).collect()
        })
        .collect();
    set(t, &idx, &unrolled);
    let (dw, mut da, score) = gradients(t, valid, &idx);

    // The mixed second derivative times ∇w' L_val, by central differences.
    let norm = dw.iter().flatten().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
    if norm > 0.0 {
        let r = 0.01 / norm;
        let shifted = |s: f64| -> Vec<Vec<f32>> { w.iter().zip(&dw).map(|(w, d)| w.iter().zip(d).map(|(&w, &d)| w + (s * f64::from(d)) as f32).collect()).collect() };
        set(t, &idx, &shifted(r));
        let (_, plus, _) = gradients(t, train, &idx);
        set(t, &idx, &shifted(-r));
        let (_, minus, _) = gradients(t, train, &idx);
        for ((a, p), m) in da.iter_mut().zip(&plus).zip(&minus) {
            for ((a, &p), &m) in a.iter_mut().zip(p).zip(m) {
                *a -= (lr * f64::from(p - m) / (2.0 * r)) as f32;
            }
        }
    }
    set(t, &idx, &w);
    t.net.weights_mut().stats = stats;
    (da, score)
}

#[cfg(test)]
mod tests {
    use nasforge_engine::ops::{T2, T4, linear, mix};
    use nasforge_engine::params::ParamStore;
    use nasforge_space_nb201::{Cell, Op};
    use rand::SeedableRng;

    use super::*;
    use crate::data::SearchData;
    use crate::nb201::EdgeChoice;
    use crate::supernet::SupernetSpec;
    use crate::train::Optimisers;

    /// A smooth one-edge supernet: `softmax(α)`-mixed `tanh(x W_k + b_k)`
    /// of the flattened image, five candidates, then a linear layer. No
    /// ReLU kink can make finite differences of the unrolled loss disagree
    /// with its derivative.
    struct Smooth {
        weights: ParamStore,
        alpha: ParamStore,
        hidden: usize,
        classes: usize,
    }

    const K: usize = 5;

    impl Supernet for Smooth {
        type Arch = Cell;
        fn op_names() -> Vec<&'static str> {
            Op::ALL.iter().map(|o| o.name()).collect()
        }
        fn build(s: &SupernetSpec, seed: u64) -> Self {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let (d, hidden) = (s.in_channels * 64, 6);
            let mut w = ParamStore::new(Cpu::default());
            for k in 0..K {
                w.uniform(&format!("w{k}"), &[hidden * d], 0.3, &mut rng);
                w.uniform(&format!("b{k}"), &[hidden], 0.3, &mut rng);
            }
            w.uniform("out.w", &[s.classes * hidden], 0.5, &mut rng);
            w.uniform("out.b", &[s.classes], 0.1, &mut rng);
            let mut alpha = ParamStore::new(Cpu::default());
            let a = alpha.constant("alpha", &[K], 0.0);
            alpha.params[a] = alpha.device().tensor_from_vec(vec![0.3, -0.5, 0.8, 0.0, -0.2], (K,));
            Smooth { weights: w, alpha, hidden, classes: s.classes }
        }
        fn weights(&self) -> &ParamStore {
            &self.weights
        }
        fn weights_mut(&mut self) -> &mut ParamStore {
            &mut self.weights
        }
        fn alpha(&self) -> &ParamStore {
            &self.alpha
        }
        fn alpha_mut(&mut self) -> &mut ParamStore {
            &mut self.alpha
        }
        fn trainable(&self) -> Vec<usize> {
            (0..self.weights.params.len()).collect()
        }
        fn forward_with<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, _train: bool, choice: &mut dyn FnMut(usize) -> EdgeChoice<T>) -> T2<T> {
            let (n, c, h, w) = *x.shape();
            let x: T2<T> = x.reshape_like(&(n, c * h * w));
            let EdgeChoice::All(mixing) = choice(0) else { panic!("a mixed edge") };
            let p = &self.weights.params;
            let terms = (0..K).map(|k| (k, linear(x.with_empty_tape(), &p[2 * k], &p[2 * k + 1], self.hidden).tanh().reshape_like(&(n, self.hidden, 1, 1)))).collect();
            let hidden: T2<T> = mix(terms, mixing).reshape_like(&(n, self.hidden));
            linear(hidden, &p[2 * K], &p[2 * K + 1], self.classes)
        }
        fn derive(&self) -> Cell {
            Cell::from_code(0)
        }
        fn format(arch: &Cell) -> String {
            format!("{arch:?}")
        }
        fn parse(_: &str) -> Result<Cell, String> {
            Err("not a space".into())
        }
        fn random_arch(_: &mut rand_chacha::ChaCha8Rng) -> Cell {
            Cell::from_code(0)
        }
        fn path_of(_: &Cell) -> Vec<usize> {
            vec![0]
        }
    }

    /// At `w' = w − ξ(∇w L_train(w, α) + λw)`, the objective DARTS' second
    /// order differentiates (a fresh optimiser: no momentum yet): the α
    /// gradient of `L_val(w', α)` with `w'` held fixed (the first-order
    /// term alone) and the loss itself; the weights are restored.
    fn at_unrolled(t: &mut Training<Smooth>, train: &Batch, valid: &Batch, lr: f64, wd: f64) -> (Vec<Vec<f32>>, f64) {
        let idx = t.net.trainable();
        let w = values(t, &idx);
        let (gw, _, _) = gradients(t, train, &idx);
        let unrolled: Vec<Vec<f32>> = w.iter().zip(&gw).map(|(w, g)| w.iter().zip(g).map(|(&w, &g)| w - (lr * (f64::from(g) + wd * f64::from(w))) as f32).collect()).collect();
        set(t, &idx, &unrolled);
        let (_, a, score) = gradients(t, valid, &idx);
        set(t, &idx, &w);
        (a, score.loss)
    }

    #[test]
    fn the_second_order_gradient_matches_finite_differences_of_the_unrolled_loss() {
        let data = SearchData::new(std::sync::Arc::new(nasforge_datasets::digits(1)), 64, 3).unwrap();
        let spec = SupernetSpec { channels: 1, cells: None, sharp_sep_conv: false, in_channels: data.channels(), classes: data.classes() };
        let mut t = Training::new(Smooth::build(&spec, 2), Optimisers::default());
        let (wi, ai) = data.epoch(1).swap_remove(0);
        let (train, valid) = (data.batch(&wi), data.batch(&ai));
        // A large ξ: the second-order term is far from negligible.
        let (lr, wd) = (2.0, 5e-4);
        let (hyper, _) = hypergradient(&mut t, &train, &valid, lr);
        let (first, _) = at_unrolled(&mut t, &train, &valid, lr, wd);
        let h = 1e-2f32;
        let (mut err, mut err_first, mut norm) = (0.0f64, 0.0f64, 0.0f64);
        for o in 0..K {
            let mut at = |d: f32| {
                let mut v = t.net.alpha.params[0].as_vec();
                v[o] += d;
                t.net.alpha.params[0].copy_from(&v);
                let (_, l) = at_unrolled(&mut t, &train, &valid, lr, wd);
                v[o] -= d;
                t.net.alpha.params[0].copy_from(&v);
                l
            };
            let fd = (at(h) - at(-h)) / f64::from(2.0 * h);
            err += (f64::from(hyper[0][o]) - fd).powi(2);
            err_first += (f64::from(first[0][o]) - fd).powi(2);
            norm += fd.powi(2);
        }
        let (rel, rel_first) = ((err / norm).sqrt(), (err_first / norm).sqrt());
        assert!(norm > 0.0 && rel < 2e-2, "second order: relative error {rel} (the first-order term alone: {rel_first})");
        assert!(rel_first > 5.0 * rel, "the second-order term matters here: {rel} with it, {rel_first} without");
    }
}
