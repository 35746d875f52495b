//! RARTS' iteration (see [`crate::config::Method::Rarts`] for what
//! follows the paper and what is ours): Gauss-Seidel steps on
//! `L_val(y, α) + λ·L_train(w, α) + β/2·‖w − y‖²`, where `w` is the
//! supernet's weight set and `y` the second one ([`Training::with_twin`]).

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::Param;

use crate::data::Batch;
use crate::supernet::Supernet;
use crate::train::{BatchScore, Training, mixed};

/// Adds the penalty's gradient `β·(p − q)` to the gradients of `p[i]` for
/// every `i` in `which`.
fn pull(grads: &mut Gradients<f32, Cpu>, p: &[Param], q: &[Param], which: &[usize], beta: f64) {
    let beta = beta as f32;
    for &i in which {
        let (pv, qv) = (p[i].as_vec(), q[i].as_vec());
        let g = grads.get_or_alloc_mut(&p[i]).expect("a CPU gradient");
        g.iter_mut().zip(pv.iter().zip(&qv)).for_each(|(g, (a, b))| *g += beta * (a - b));
    }
}

/// One iteration on a batch of the weights' half (`wb`) and one of α's
/// (`ab`), the weights at rate `lr`: `w`, then `y` at the new `w`, then α
/// at both. The scores of `w` on `wb` and of `y` on `ab`, before their
/// steps.
pub fn iteration<N: Supernet>(t: &mut Training<N>, wb: &Batch, ab: &Batch, lr: f64, lambda: f64, beta: f64) -> (BatchScore, BatchScore) {
    let weighting = t.config.weighting;
    let alpha = t.net.alpha().params.clone();
    let trainable = t.net.trainable();

    // w ← w − η(λ∇L_train(w, α) + β(w − y)).
    let (loss, train) = t.loss(wb, &mut mixed(&alpha, weighting));
    let mut grads = (loss * lambda as f32).backward();
    let y = t.twin.as_ref().expect("RARTS trains two weight sets").0.params.clone();
    pull(&mut grads, &t.net.weights().params, &y, &trainable, beta);
    t.step_weights(&mut grads, lr);

    // y ← y − η(∇L_val(y, α) + β(y − w)), at the new w.
    let w = t.net.weights().params.clone();
    let valid = t.on_twin(|t| {
        let (loss, score) = t.loss(ab, &mut mixed(&alpha, weighting));
        let mut grads = loss.backward();
        pull(&mut grads, &t.net.weights().params, &w, &trainable, beta);
        t.step_weights(&mut grads, lr);
        score
    });

    // α ← α − η_α ∇_α(L_val(y, α) + λ·L_train(w, α)), at the new w and y.
    let mut grads = alpha_gradients(t, wb, ab, lambda);
    t.step_alpha(&mut grads);
    (train, valid)
}

/// The gradients of `L_val(y, α) + λ·L_train(w, α)`: one tape through
/// both networks (their weights are distinct tensors, α is shared). Each
/// pass updates its network's batch-norm running statistics, which the
/// search never reads (it normalises by batch statistics throughout).
fn alpha_gradients<N: Supernet>(t: &mut Training<N>, wb: &Batch, ab: &Batch, lambda: f64) -> Gradients<f32, Cpu> {
    let weighting = t.config.weighting;
    let alpha = t.net.alpha().params.clone();
    let (val, _) = t.on_twin(|t| t.loss(ab, &mut mixed(&alpha, weighting)));
    let (tr, _) = t.loss(wb, &mut mixed(&alpha, weighting));
    (val + tr * lambda as f32).backward()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SearchData;
    use crate::nb201::{Nb201Supernet, SupernetShape};
    use crate::train::Optimisers;

    fn setup() -> (Training<Nb201Supernet>, SearchData) {
        let data = SearchData::new(std::sync::Arc::new(nasforge_datasets::digits(1)), 16, 3).unwrap();
        let net = Nb201Supernet::new(SupernetShape { channels: 2, cells: 1, in_channels: data.channels(), classes: data.classes() }, 4);
        (Training::new(net, Optimisers::default()).with_twin(), data)
    }

    fn distance(t: &Training<Nb201Supernet>) -> f64 {
        let y = &t.twin.as_ref().unwrap().0.params;
        t.net.weights().params.iter().zip(y).map(|(a, b)| a.as_vec().iter().zip(b.as_vec()).map(|(x, z)| f64::from(x - z).powi(2)).sum::<f64>()).sum::<f64>().sqrt()
    }

    #[test]
    fn the_two_weight_sets_start_equal_part_and_the_penalty_holds_them_together() {
        let mut far = setup().0;
        let mut near = setup().0;
        let (_, data) = setup();
        assert_eq!(distance(&far), 0.0);
        let batches: Vec<_> = data.epoch(5).into_iter().take(6).map(|(w, a)| (data.batch(&w), data.batch(&a))).collect();
        for (wb, ab) in &batches {
            iteration(&mut far, wb, ab, 0.05, 1.0, 0.0);
            iteration(&mut near, wb, ab, 0.05, 1.0, 10.0);
        }
        let (f, n) = (distance(&far), distance(&near));
        assert!(f > 0.0 && n < 0.8 * f, "uncoupled {f}, coupled {n}");
    }

    #[test]
    fn alphas_gradient_is_the_validation_loss_at_y_plus_lambda_times_the_training_loss_at_w() {
        let (mut t, data) = setup();
        // Apart first, so that the two networks' terms differ.
        let batches = data.epoch(2);
        for (w, a) in batches.iter().take(3) {
            iteration(&mut t, &data.batch(w), &data.batch(a), 0.05, 1.0, 0.0);
        }
        assert!(distance(&t) > 0.0);
        let (wb, ab) = (data.batch(&batches[3].0), data.batch(&batches[3].1));
        let flat = |t: &Training<Nb201Supernet>, g: &mut Gradients<f32, Cpu>| -> Vec<f32> {
            t.net.alpha().params.iter().flat_map(|p| g.get_or_alloc_mut(p).unwrap().to_vec()).collect()
        };
        let mut g = alpha_gradients(&mut t, &wb, &ab, 0.7);
        let combined = flat(&t, &mut g);
        let at_w = t.alpha_gradient(&wb);
        let at_y = t.on_twin(|t| t.alpha_gradient(&ab));
        let (mut err, mut norm) = (0.0f64, 0.0f64);
        for ((c, w), y) in combined.iter().zip(&at_w).zip(&at_y) {
            let want = f64::from(*y) + 0.7 * f64::from(*w);
            err += (f64::from(*c) - want).powi(2);
            norm += want.powi(2);
        }
        assert!(norm > 0.0 && (err / norm).sqrt() < 1e-4, "relative error {}", (err / norm).sqrt());
        // Both terms matter: neither alone is the combined gradient.
        let far = |v: &[f32]| v.iter().zip(&combined).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt();
        assert!(far(&at_w) > 1e-6 && far(&at_y) > 1e-6);
    }
}
