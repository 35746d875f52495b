//! Normalisation: [`batch_norm2d`] with its [`RunningStats`], and
//! [`layer_norm`].

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{Param, T2, T4, finish_op, values};

/// Independent partial sums, so that float reductions vectorise (a plain
/// `iter().sum()` must add in order and runs one lane at a time).
const LANES: usize = 16;

/// `Σ f(a_i, b_i)` over two equally long slices, in `LANES` partial sums.
#[inline]
fn reduce2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(&x, &y)| f(x, y)).sum::<f32>()
}

/// Per-channel statistics a batch-norm layer keeps for evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningStats {
    /// Running mean.
    pub mean: Vec<f32>,
    /// Running (unbiased) variance.
    pub var: Vec<f32>,
}

impl RunningStats {
    /// Fresh statistics: mean 0, variance 1.
    pub fn new(channels: usize) -> Self {
        Self { mean: vec![0.0; channels], var: vec![1.0; channels] }
    }
}

/// Batch norm over `(B, H, W)` per channel, with affine `gamma`, `beta`.
///
/// With `train` the batch's statistics normalise and `stats` is updated
/// with `momentum` (as PyTorch: `new = (1 - m) old + m batch`, unbiased
/// variance); otherwise `stats` normalises.
pub fn batch_norm2d<T: Tape<f32, Cpu>>(
    x: T4<T>,
    gamma: &Param,
    beta: &Param,
    stats: &mut RunningStats,
    train: bool,
    momentum: f32,
    eps: f32,
) -> T4<T> {
    let (b, c, h, w) = *x.shape();
    let hw = h * w;
    let n = (b * hw) as f64;
    let xd = values(&x);
    // Planes of one channel are `c * hw` apart; sums run per plane in f32
    // (vectorisable) and are combined in f64.
    let planes = move |ch: usize| (0..b).map(move |bi| (bi * c + ch) * hw);
    let (mean, inv_std): (Vec<f32>, Vec<f32>) = if train {
        let moments: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let plane = |p: usize| &xd[p..p + hw];
                let s: f64 = planes(ch).map(|p| f64::from(reduce2(plane(p), plane(p), |v, _| v))).sum();
                let m = s / n;
                let mf = m as f32;
                let v = planes(ch).map(|p| f64::from(reduce2(plane(p), plane(p), |v, _| (v - mf) * (v - mf)))).sum::<f64>() / n;
                (m, v)
            })
            .collect();
        for (ch, &(m, v)) in moments.iter().enumerate() {
            let unbiased = if n > 1.0 { v * n / (n - 1.0) } else { v };
            stats.mean[ch] = (1.0 - momentum) * stats.mean[ch] + momentum * m as f32;
            stats.var[ch] = (1.0 - momentum) * stats.var[ch] + momentum * unbiased as f32;
        }
        moments.iter().map(|&(m, v)| (m as f32, (1.0 / (v + f64::from(eps)).sqrt()) as f32)).unzip()
    } else {
        (stats.mean.clone(), stats.var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect())
    };
    let (gd, bd) = (values(gamma), values(beta));
    let mut out = vec![0.0f32; xd.len()];
    out.par_chunks_mut(hw).zip(xd.par_chunks(hw)).enumerate().for_each(|(plane, (o, xp))| {
        let ch = plane % c;
        let (m, s, g, bb) = (mean[ch], inv_std[ch], gd[ch], bd[ch]);
        for (o, &v) in o.iter_mut().zip(xp) {
            *o = g * (v - m) * s + bb;
        }
    });
    let params = vec![gamma.clone(), beta.clone()];
    finish_op(x, (b, c, h, w), out, params, move |g_out, g_x| {
        // Σ dy and Σ dy·x̂ per channel.
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (m, s) = (mean[ch], inv_std[ch]);
                planes(ch).fold((0.0, 0.0), |(sum, sum_x), p| {
                    let (dy, xp) = (&g_out[p..p + hw], &xd[p..p + hw]);
                    let a = reduce2(dy, dy, |d, _| d);
                    let bx = reduce2(dy, xp, |d, v| d * (v - m) * s);
                    (sum + f64::from(a), sum_x + f64::from(bx))
                })
            })
            .collect();
        let nf = n as f32;
        g_x.par_chunks_mut(hw).zip(g_out.par_chunks(hw)).zip(xd.par_chunks(hw)).enumerate().for_each(
            |(plane, ((gx, dy), xp))| {
                let ch = plane % c;
                let (m, s, g) = (mean[ch], inv_std[ch], gd[ch]);
                if train {
                    // dx = γ·σ⁻¹·(dy − Σdy/n − x̂·Σ(dy·x̂)/n), with x̂ = (x − μ)σ⁻¹.
                    let (a, b) = ((sums[ch].0 as f32) / nf, (sums[ch].1 as f32) / nf);
                    for ((d, &dy), &v) in gx.iter_mut().zip(dy).zip(xp) {
                        *d += g * s * (dy - a - (v - m) * s * b);
                    }
                } else {
                    for (d, &dy) in gx.iter_mut().zip(dy) {
                        *d += g * s * dy;
                    }
                }
            },
        );
        vec![sums.iter().map(|s| s.1 as f32).collect(), sums.iter().map(|s| s.0 as f32).collect()]
    })
}

/// Layer norm over each row: normalised (`eps` added to the variance, as
/// dfdx's `normalize` takes it), then scaled by `gamma` and shifted by
/// `beta`.
pub fn layer_norm<T: Tape<f32, Cpu>>(x: T2<T>, gamma: &Param, beta: &Param, eps: f64) -> T2<T> {
    let x = x.normalize::<Axis<1>>(eps);
    let (n, d) = *x.shape();
    let (xd, g, b) = (values(&x), values(gamma), values(beta));
    let out = xd.iter().enumerate().map(|(i, v)| v * g[i % d] + b[i % d]).collect();
    finish_op(x, (n, d), out, vec![gamma.clone(), beta.clone()], move |go, gx| {
        let (mut gg, mut gb) = (vec![0.0f32; d], vec![0.0f32; d]);
        for (i, (&o, dx)) in go.iter().zip(gx.iter_mut()).enumerate() {
            *dx += o * g[i % d];
            gg[i % d] += o * xd[i];
            gb[i % d] += o;
        }
        vec![gg, gb]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::grad_check;

    #[test]
    fn batch_norm_gradients_match_finite_differences() {
        for train in [true, false] {
            let err = grad_check((3, 2, 4, 3), &[2, 2], 1e-3, &|x, p| {
                let mut stats = RunningStats { mean: vec![0.1, -0.2], var: vec![0.9, 1.3] };
                batch_norm2d(x, &p[0], &p[1], &mut stats, train, 0.1, 1e-5)
            });
            assert!(err < 1e-3, "train={train}: {err}");
        }
    }

    #[test]
    fn layer_norm_gradients_match_finite_differences() {
        // BERT's ε, as the transformer uses it.
        let err = grad_check((4, 6), &[6, 6], 1e-3, &|x, p| layer_norm(x, &p[0], &p[1], 1e-12));
        assert!(err < 1e-3, "{err}");
    }
}
