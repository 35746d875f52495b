//! The dominant eigenvalue of the validation loss' Hessian with respect
//! to α, the collapse indicator of RobustDARTS (Zela et al., ICLR 2020):
//! power iteration on Hessian-vector products, each a central difference
//! of α-gradients.

use nasforge_core::rand_distr::StandardNormal;
use nasforge_engine::dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::EarlyStop;
use crate::data::Batch;
use crate::train::Training;

/// The α-gradient of the mean validation loss over `batches`.
fn gradient(t: &mut Training, batches: &[Batch]) -> Vec<f64> {
    let mut g = vec![0.0f64; t.net.alpha.count()];
    for b in batches {
        for (a, v) in g.iter_mut().zip(t.alpha_gradient(b)) {
            *a += f64::from(v) / batches.len() as f64;
        }
    }
    g
}

fn set_alpha(t: &mut Training, values: &[f64]) {
    let mut at = 0;
    for p in &mut t.net.alpha.params {
        let n = p.shape().0;
        let v: Vec<f32> = values[at..at + n].iter().map(|&x| x as f32).collect();
        p.copy_from(&v);
        at += n;
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// `Hv ≈ (∇L(α + εv) − ∇L(α − εv)) / 2ε` for a unit `v`.
fn hvp(t: &mut Training, batches: &[Batch], alpha: &[f64], v: &[f64], eps: f64) -> Vec<f64> {
    let shifted = |s: f64| -> Vec<f64> { alpha.iter().zip(v).map(|(a, d)| a + s * d).collect() };
    set_alpha(t, &shifted(eps));
    let plus = gradient(t, batches);
    set_alpha(t, &shifted(-eps));
    let minus = gradient(t, batches);
    plus.iter().zip(&minus).map(|(p, m)| (p - m) / (2.0 * eps)).collect()
}

/// The Hessian's eigenvalue of largest magnitude after `iterations` power
/// steps from a random direction drawn from `seed`, plus α's weight decay
/// (RobustDARTS differentiates the gradient with `wd · α` added, so its
/// Hessian is `H + wd · I`). α and the batch-norm statistics are left as
/// they were.
pub fn dominant_eigenvalue(t: &mut Training, batches: &[Batch], iterations: usize, seed: u64) -> f64 {
    // Differences of f32 gradients: a step this size keeps rounding well
    // below the curvature it measures.
    const EPS: f64 = 1e-2;
    let alpha: Vec<f64> = t.net.alpha.params.iter().flat_map(|p| p.as_vec()).map(f64::from).collect();
    let stats = t.net.weights.stats.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..alpha.len()).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
    let n = norm(&v);
    v.iter_mut().for_each(|x| *x /= n);
    let mut lambda = 0.0;
    for _ in 0..iterations.max(1) {
        let hv = hvp(t, batches, &alpha, &v, EPS);
        lambda = v.iter().zip(&hv).map(|(a, b)| a * b).sum();
        let n = norm(&hv);
        if n == 0.0 || !n.is_finite() {
            break;
        }
        v = hv.into_iter().map(|x| x / n).collect();
    }
    set_alpha(t, &alpha);
    t.net.weights.stats = stats;
    lambda + t.config.alpha.weight_decay()
}

/// RobustDARTS' early-stopping test (`EVLocalAvg` and the check in its
/// `train_search.py`) after the eigenvalues of epochs `0..n`: the local
/// averages are the means of `window` consecutive eigenvalues, and the
/// search stops when the last exceeds `factor` times the one `delta`
/// before it, once that earlier average's epoch is at least `start`.
pub fn rising(eigenvalues: &[f64], rule: &EarlyStop) -> bool {
    let w = rule.window.max(1);
    if eigenvalues.len() < w {
        return false;
    }
    let la: Vec<f64> = eigenvalues.windows(w).map(|s| s.iter().sum::<f64>() / w as f64).collect();
    // Average k is centred on epoch k + w/2, as `la_epoch` places it.
    let now = la.len() - 1;
    let Some(then) = now.checked_sub(rule.delta) else { return false };
    then + w / 2 >= rule.start && la[then] > 0.0 && la[now] / la[then] > rule.factor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rising_compares_local_averages_delta_apart_after_the_start() {
        let rule = EarlyStop { window: 2, delta: 2, factor: 1.3, start: 1 };
        assert!(!rising(&[1.0, 1.0, 1.0, 1.0], &rule));
        assert!(!rising(&[1.0, 1.0, 1.1, 1.2], &rule));
        assert!(rising(&[1.0, 1.0, 1.5, 1.5], &rule));
        assert!(!rising(&[0.0, 0.0, 1.5, 1.5], &rule));
        // Before the start epoch nothing stops.
        assert!(!rising(&[1.0, 1.0, 1.5, 1.5], &EarlyStop { start: 5, ..rule }));
    }
}
