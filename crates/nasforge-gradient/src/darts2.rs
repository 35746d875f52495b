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

    let mut grads = Gradients::leaky();
    for (p, g) in t.net.alpha().params.clone().iter().zip(&da) {
        grads.get_or_alloc_mut(p).expect("a CPU gradient").copy_from_slice(g);
    }
    t.step_alpha(&mut grads);
    score
}
