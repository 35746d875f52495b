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
use crate::supernet::Supernet;
use crate::train::Training;

/// The α-gradient of the mean validation loss over `batches`.
fn gradient<N: Supernet>(t: &mut Training<N>, batches: &[Batch]) -> Vec<f64> {
    let mut g = vec![0.0f64; t.net.alpha().count()];
    for b in batches {
        for (a, v) in g.iter_mut().zip(t.alpha_gradient(b)) {
            *a += f64::from(v) / batches.len() as f64;
        }
    }
    g
}

fn set_alpha<N: Supernet>(t: &mut Training<N>, values: &[f64]) {
    let mut at = 0;
    for p in &mut t.net.alpha_mut().params {
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
fn hvp<N: Supernet>(t: &mut Training<N>, batches: &[Batch], alpha: &[f64], v: &[f64], eps: f64) -> Vec<f64> {
    let shifted = |s: f64| -> Vec<f64> { alpha.iter().zip(v).map(|(a, d)| a + s * d).collect() };
    set_alpha(t, &shifted(eps));
    let plus = gradient(t, batches);
    set_alpha(t, &shifted(-eps));
    let minus = gradient(t, batches);
    plus.iter().zip(&minus).map(|(p, m)| (p - m) / (2.0 * eps)).collect()
}

/// Power iteration for the eigenvalue of largest magnitude of
/// `H − shift · I`, from `v`.
fn power(t: &mut Training<impl Supernet>, batches: &[Batch], alpha: &[f64], mut v: Vec<f64>, iterations: usize, shift: f64) -> f64 {
    // Differences of f32 gradients: a step this size keeps rounding well
    // below the curvature it measures.
    const EPS: f64 = 1e-2;
    let mut lambda = 0.0;
    for _ in 0..iterations.max(1) {
        let mut hv = hvp(t, batches, alpha, &v, EPS);
        hv.iter_mut().zip(&v).for_each(|(h, x)| *h -= shift * x);
        lambda = v.iter().zip(&hv).map(|(a, b)| a * b).sum();
        let n = norm(&hv);
        if n == 0.0 || !n.is_finite() {
            break;
        }
        v = hv.into_iter().map(|x| x / n).collect();
    }
    lambda
}

/// The Hessian's largest eigenvalue (RobustDARTS' "dominant" one, the
/// largest algebraically) after `iterations` power steps from a random
/// direction drawn from `seed`: when the eigenvalue of largest magnitude
/// is negative, a second run on `H − λ I` finds the top of the spectrum.
/// α's weight decay is added (RobustDARTS differentiates the gradient
/// with `wd · α` added, so its Hessian is `H + wd · I`). α and the
/// batch-norm statistics are left as they were.
pub fn dominant_eigenvalue<N: Supernet>(t: &mut Training<N>, batches: &[Batch], iterations: usize, seed: u64) -> f64 {
    let alpha: Vec<f64> = t.net.alpha().params.iter().flat_map(|p| p.as_vec()).map(f64::from).collect();
    let stats = t.net.weights().stats.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..alpha.len()).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
    let n = norm(&v);
    v.iter_mut().for_each(|x| *x /= n);
    let mut lambda = power(t, batches, &alpha, v.clone(), iterations, 0.0);
    if lambda < 0.0 {
        lambda += power(t, batches, &alpha, v, iterations, lambda);
    }
    set_alpha(t, &alpha);
    t.net.weights_mut().stats = stats;
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
    use std::sync::Arc;

    use super::*;
    use crate::data::SearchData;
    use crate::nb201::{Nb201Supernet, SupernetShape};
    use crate::train::{Optimisers, soft};

    #[test]
    fn the_dominant_eigenvalue_is_the_top_of_the_explicit_hessians_spectrum() {
        let data = SearchData::new(Arc::new(nasforge_datasets::digits(1)), 32, 1).unwrap();
        let net = Nb201Supernet::new(SupernetShape { channels: 4, cells: 1, in_channels: 1, classes: 10 }, 3);
        let mut t = Training::new(net, Optimisers::default());
        // A few steps, so α is away from its start and the curvature is the search's.
        for (w, a) in data.epoch(5).into_iter().take(5) {
            let alpha = t.net.alpha.params.clone();
            t.weight_step(&data.batch(&w), 0.05, &mut soft(&alpha));
            t.alpha_step(&data.batch(&a), &mut soft(&alpha));
        }
        let batches = data.alpha_batch_set(1, 9);
        let wd = t.config.alpha.weight_decay();
        let lambda = dominant_eigenvalue(&mut t, &batches, 50, 2) - wd;
        // The explicit Hessian, column by column, symmetrised.
        let alpha: Vec<f64> = t.net.alpha.params.iter().flat_map(|p| p.as_vec()).map(f64::from).collect();
        let n = alpha.len();
        let cols: Vec<Vec<f64>> = (0..n).map(|i| hvp(&mut t, &batches, &alpha, &(0..n).map(|j| f64::from(u8::from(i == j))).collect::<Vec<_>>(), 1e-2)).collect();
        set_alpha(&mut t, &alpha);
        let h = |i: usize, j: usize| 0.5 * (cols[i][j] + cols[j][i]);
        // No Rayleigh quotient exceeds the top eigenvalue...
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut best = f64::MIN;
        for _ in 0..200 {
            let v: Vec<f64> = (0..n).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
            let q: f64 = (0..n).map(|i| (0..n).map(|j| v[i] * h(i, j) * v[j]).sum::<f64>()).sum::<f64>() / v.iter().map(|x| x * x).sum::<f64>();
            best = best.max(q);
        }
        let scale = (0..n).map(|i| (0..n).map(|j| h(i, j).abs()).sum::<f64>()).fold(0.0, f64::max);
        assert!(best <= lambda + 0.05 * scale, "a Rayleigh quotient {best} above λ = {lambda} (scale {scale})");
        // ...and λ is within Gershgorin's bound and above the largest diagonal entry.
        let diag = (0..n).map(|i| h(i, i)).fold(f64::MIN, f64::max);
        assert!(lambda <= scale * 1.05 && lambda >= diag - 0.05 * scale, "λ {lambda}, diagonal max {diag}, scale {scale}");
    }

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
