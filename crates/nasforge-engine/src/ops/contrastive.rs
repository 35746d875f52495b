//! Contrastive losses: [`nt_xent`], SimCLR's normalised-temperature cross
//! entropy (Chen et al. 2020), which GENNAPE-style encoders pre-train with.

use dfdx::prelude::*;

use super::{T2, finish_op, values};

/// NT-Xent over `2B` embeddings whose rows `i` and `i + B` are the two
/// views of one example: with `u` the rows scaled to unit length and
/// `s_ij = u_i · u_j / τ`, the mean over rows `i` of
/// `−s_{i,p(i)} + log Σ_{j ≠ i} exp(s_ij)`, `p(i)` the other view.
/// The output is a one-element tensor.
///
/// # Panics
/// When the row count is odd or below 2, or `tau` is not positive.
pub fn nt_xent<T: Tape<f32, Cpu>>(z: T2<T>, tau: f32) -> Tensor<(usize,), f32, Cpu, T> {
    let (n, d) = *z.shape();
    assert!(n >= 2 && n % 2 == 0, "nt_xent needs two views per example, got {n} rows");
    assert!(tau > 0.0, "nt_xent's temperature must be positive");
    let half = n / 2;
    let zv = values(&z);
    let norms: Vec<f32> = zv.chunks(d).map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12)).collect();
    let u: Vec<f32> = zv.chunks(d).zip(&norms).flat_map(|(r, &m)| r.iter().map(move |v| v / m)).collect();
    let dot = |i: usize, j: usize| u[i * d..(i + 1) * d].iter().zip(&u[j * d..(j + 1) * d]).map(|(a, b)| a * b).sum::<f32>();
    let positive = move |i: usize| if i < half { i + half } else { i - half };
    // Softmax over j ≠ i of each row, in f64 for the log-sum-exp.
    let mut soft = vec![0.0f32; n * n];
    let mut loss = 0.0f64;
    for i in 0..n {
        let s: Vec<f64> = (0..n).map(|j| if j == i { f64::NEG_INFINITY } else { f64::from(dot(i, j) / tau) }).collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = s.iter().map(|v| (v - max).exp()).sum();
        loss += max + sum.ln() - s[positive(i)];
        for j in 0..n {
            soft[i * n + j] = ((s[j] - max).exp() / sum) as f32;
        }
    }
    let out = vec![(loss / n as f64) as f32];
    finish_op(z, (1,), out, Vec::new(), move |g_out, g_z| {
        let scale = g_out[0] / (n as f32 * tau);
        // dL/ds_ij = (softmax_ij − [j = p(i)]) / n; s is symmetric in u.
        let g = |i: usize, j: usize| soft[i * n + j] - if j == positive(i) { 1.0 } else { 0.0 };
        for i in 0..n {
            let mut gu = vec![0.0f32; d];
            for j in 0..n {
                if j == i {
                    continue;
                }
                let w = g(i, j) + g(j, i);
                for (a, b) in gu.iter_mut().zip(&u[j * d..(j + 1) * d]) {
                    *a += w * b;
                }
            }
            // Through the normalisation: (I − u uᵀ) / |z|.
            let ui = &u[i * d..(i + 1) * d];
            let along: f32 = gu.iter().zip(ui).map(|(a, b)| a * b).sum();
            for k in 0..d {
                g_z[i * d + k] += scale * (gu[k] - along * ui[k]) / norms[i];
            }
        }
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::grad_check;

    #[test]
    fn nt_xent_gradients_match_finite_differences() {
        let err = grad_check((6, 4), &[], 1e-3, &|x, _| nt_xent(x, 0.5));
        assert!(err < 1e-2, "{err}");
    }

    #[test]
    fn nt_xent_is_low_when_views_agree_and_high_when_they_do_not() {
        let dev = Cpu::default();
        let agree: T2<NoneTape> = dev.tensor_from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0], (4, 2));
        let crossed: T2<NoneTape> = dev.tensor_from_vec(vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0], (4, 2));
        let (a, c) = (nt_xent(agree, 0.1).as_vec()[0], nt_xent(crossed, 0.1).as_vec()[0]);
        assert!(a < 0.01 && c > 5.0, "{a} {c}");
    }
}
