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

    // α ← α − η_α ∇_α(L_val(y, α) + λ·L_train(w, α)), at the new w and y:
    // one tape through both networks (their weights are distinct tensors).
    let (val, _) = t.on_twin(|t| t.loss(ab, &mut mixed(&alpha, weighting)));
    let (tr, _) = t.loss(wb, &mut mixed(&alpha, weighting));
    let mut grads = (val + tr * lambda as f32).backward();
    t.step_alpha(&mut grads);
    (train, valid)
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
    fn alpha_learns_from_both_losses() {
        // λ = 0 leaves only the validation loss at y; λ > 0 adds the
        // training loss at w: α's trajectory differs.
        let (_, data) = setup();
        let (wi, ai) = data.epoch(2).swap_remove(0);
        let (wb, ab) = (data.batch(&wi), data.batch(&ai));
        let run = |lambda: f64| {
            let mut t = setup().0;
            let (train, valid) = iteration(&mut t, &wb, &ab, 0.05, lambda, 1.0);
            assert!(train.loss.is_finite() && valid.loss.is_finite());
            t.net.alpha().params.iter().flat_map(|p| p.as_vec()).collect::<Vec<f32>>()
        };
        let (a0, a1) = (run(0.0), run(1.0));
        let before: Vec<f32> = setup().0.net.alpha().params.iter().flat_map(|p| p.as_vec()).collect();
        assert_ne!(a0, before, "α moves on the validation loss alone");
        assert_ne!(a0, a1, "the training loss adds to α's gradient");
    }
}
