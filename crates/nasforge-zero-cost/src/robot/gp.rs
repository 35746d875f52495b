//! Gaussian-process regression and GP-UCB, as RoBoT's `bayes_opt` 1.2.0
//! configures scikit-learn: an isotropic Matérn kernel with ν = 5/2 whose
//! length scale is fitted by maximum marginal likelihood (bounds 1e-5 to
//! 1e5), `alpha = 1e-6` added to the diagonal, targets normalised to zero
//! mean and unit variance (`normalize_y=True`); UCB with κ = 2.576.
//!
//! Deviations, both in how the optimum is found, not what it is: the
//! length scale is maximised over a log-spaced grid refined by
//! golden-section search instead of L-BFGS-B with 5 restarts, and the
//! acquisition over 10,000 uniform points refined by compass search from
//! the best and 10 random starts instead of L-BFGS-B from 10 random
//! starts. Both are deterministic given the RNG.

use nalgebra::{Cholesky, DMatrix, DVector, Dyn};
use rand::Rng;

const ALPHA: f64 = 1e-6;

fn matern52(a: &[f64], b: &[f64], length: f64) -> f64 {
    let r = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt() / length;
    let s = 5f64.sqrt() * r;
    (1.0 + s + s * s / 3.0) * (-s).exp()
}

/// A fitted Gaussian process.
pub struct Gp {
    x: Vec<Vec<f64>>,
    length: f64,
    chol: Cholesky<f64, Dyn>,
    weights: DVector<f64>,
    y_mean: f64,
    y_sd: f64,
}

impl Gp {
    /// Fits observations `y` at points `x` (at least one).
    pub fn fit(x: &[Vec<f64>], y: &[f64]) -> Gp {
        let n = y.len();
        let y_mean = y.iter().sum::<f64>() / n as f64;
        let sd = (y.iter().map(|v| (v - y_mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        // scikit-learn replaces a zero standard deviation with 1.
        let y_sd = if sd > 0.0 { sd } else { 1.0 };
        let yn = DVector::from_iterator(n, y.iter().map(|v| (v - y_mean) / y_sd));
        let fitted = |length: f64| -> Option<(Cholesky<f64, Dyn>, DVector<f64>, f64)> {
            let k = DMatrix::from_fn(n, n, |i, j| matern52(&x[i], &x[j], length) + if i == j { ALPHA } else { 0.0 });
            let chol = k.cholesky()?;
            let w = chol.solve(&yn);
            let log_det: f64 = chol.l().diagonal().iter().map(|d| d.ln()).sum();
            let lml = -0.5 * yn.dot(&w) - log_det - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
            Some((chol, w, lml))
        };
        let lml = |log_l: f64| fitted(log_l.exp()).map_or(f64::NEG_INFINITY, |f| f.2);
        let (lo, hi) = (1e-5f64.ln(), 1e5f64.ln());
        let grid: Vec<f64> = (0..=60).map(|i| lo + (hi - lo) * i as f64 / 60.0).collect();
        let best = grid.iter().copied().fold((f64::NEG_INFINITY, 0.0), |acc, g| {
            let v = lml(g);
            if v > acc.0 { (v, g) } else { acc }
        });
        // Golden-section search on the bracket around the best grid point.
        let step = (hi - lo) / 60.0;
        let (mut a, mut b) = ((best.1 - step).max(lo), (best.1 + step).min(hi));
        let phi = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..40 {
            let (c, d) = (b - phi * (b - a), a + phi * (b - a));
            if lml(c) >= lml(d) {
                b = d;
            } else {
                a = c;
            }
        }
        let mut log_l = (a + b) / 2.0;
        if lml(log_l) < best.0 {
            log_l = best.1;
        }
        let length = log_l.exp();
        let (chol, weights, _) = fitted(length).or_else(|| fitted(1.0)).expect("the kernel matrix with alpha on its diagonal is positive definite");
        Gp { x: x.to_vec(), length, chol, weights, y_mean, y_sd }
    }

    /// Predictive mean and standard deviation at `q`.
    pub fn predict(&self, q: &[f64]) -> (f64, f64) {
        let k = DVector::from_iterator(self.x.len(), self.x.iter().map(|x| matern52(x, q, self.length)));
        let mean = k.dot(&self.weights);
        let v = self.chol.solve(&k);
        let var = (1.0 - k.dot(&v)).max(0.0);
        (mean * self.y_sd + self.y_mean, var.sqrt() * self.y_sd)
    }

    /// The fitted length scale.
    pub fn length_scale(&self) -> f64 {
        self.length
    }
}

/// The point of `[-1, 1]^dims` maximising `μ + κσ`.
pub fn ucb_argmax(gp: &Gp, dims: usize, kappa: f64, rng: &mut impl Rng) -> Vec<f64> {
    let ucb = |p: &[f64]| {
        let (m, s) = gp.predict(p);
        m + kappa * s
    };
    let uniform = |rng: &mut dyn rand::RngCore| -> Vec<f64> { (0..dims).map(|_| rng.random_range(-1.0..=1.0)).collect() };
    let mut best = uniform(rng);
    let mut best_v = ucb(&best);
    for _ in 1..10_000 {
        let p = uniform(rng);
        let v = ucb(&p);
        if v > best_v {
            (best, best_v) = (p, v);
        }
    }
    let mut starts = vec![best.clone()];
    starts.extend((0..10).map(|_| uniform(rng)));
    for start in starts {
        let (p, v) = compass(&ucb, start, dims);
        if v > best_v {
            (best, best_v) = (p, v);
        }
    }
    best
}

/// Compass search inside the box, step halving from 0.25 to 1e-4.
fn compass(f: &dyn Fn(&[f64]) -> f64, mut p: Vec<f64>, dims: usize) -> (Vec<f64>, f64) {
    let mut v = f(&p);
    let mut step = 0.25;
    while step > 1e-4 {
        let mut moved = false;
        for d in 0..dims {
            for dir in [1.0, -1.0] {
                let mut q = p.clone();
                q[d] = (q[d] + dir * step).clamp(-1.0, 1.0);
                let w = f(&q);
                if w > v {
                    (p, v, moved) = (q, w, true);
                }
            }
        }
        if !moved {
            step /= 2.0;
        }
    }
    (p, v)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_posterior_interpolates_its_observations_and_is_uncertain_away_from_them() {
        let x: Vec<Vec<f64>> = (0..6).map(|i| vec![-1.0 + 0.4 * i as f64]).collect();
        let y: Vec<f64> = x.iter().map(|p| (3.0 * p[0]).sin()).collect();
        let gp = Gp::fit(&x, &y);
        for (p, want) in x.iter().zip(&y) {
            let (m, s) = gp.predict(p);
            assert!((m - want).abs() < 1e-3 && s < 1e-2, "{m} vs {want} (sd {s})");
        }
        let (_, far) = gp.predict(&[5.0]);
        assert!(far > 0.3, "{far}");
    }

    #[test]
    fn ucb_finds_the_maximum_of_a_smooth_bump() {
        let x: Vec<Vec<f64>> = (0..25).map(|i| vec![-1.0 + (i % 5) as f64 * 0.5, -1.0 + (i / 5) as f64 * 0.5]).collect();
        let y: Vec<f64> = x.iter().map(|p| -((p[0] - 0.5).powi(2) + (p[1] + 0.5).powi(2))).collect();
        let gp = Gp::fit(&x, &y);
        let best = ucb_argmax(&gp, 2, 0.0, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
        assert!((best[0] - 0.5).abs() < 0.1 && (best[1] + 0.5).abs() < 0.1, "{best:?}");
    }
}
