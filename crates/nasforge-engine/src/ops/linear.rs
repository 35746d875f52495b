//! Dense layers: [`linear`] (`x Wᵀ + b`) and a lone bias, [`add_bias`].

use dfdx::prelude::*;

use super::{Param, T2, finish_op, values};
use crate::gemm::{View, matmul};
use crate::probe;

/// A linear layer: `x (N, in) × Wᵀ + b`, with `W` `(out, in)` flattened.
pub fn linear<T: Tape<f32, Cpu>>(x: T2<T>, weight: &Param, bias: &Param, out_dim: usize) -> T2<T> {
    let (n, in_dim) = *x.shape();
    assert_eq!(weight.shape().0, out_dim * in_dim, "linear weight length");
    assert_eq!(bias.shape().0, out_dim, "linear bias length");
    let xd = values(&x);
    let (wd, bd) = (values(weight), values(bias));
    let mut out = vec![0.0f32; n * out_dim];
    for row in out.chunks_mut(out_dim) {
        row.copy_from_slice(&bd);
    }
    let threads = rayon::current_num_threads();
    matmul(View::rows(&xd, n, in_dim), View::rows(&wd, out_dim, in_dim).t(), &mut out, out_dim, true, threads);
    let params = vec![weight.clone(), bias.clone()];
    probe::macs((n * in_dim * out_dim) as u64);
    let y = finish_op(x, (n, out_dim), out, params, move |g_out, g_x| {
        let go = View::rows(g_out, n, out_dim);
        matmul(go, View::rows(&wd, out_dim, in_dim), g_x, in_dim, true, threads);
        let mut gw = vec![0.0f32; out_dim * in_dim];
        matmul(go.t(), View::rows(&xd, n, in_dim), &mut gw, in_dim, false, threads);
        let mut gb = vec![0.0f32; out_dim];
        for row in g_out.chunks(out_dim) {
            gb.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        vec![gw, gb]
    });
    probe::layer_output(y, n, out_dim, in_dim)
}

/// `x + bias` per row.
pub fn add_bias<T: Tape<f32, Cpu>>(x: T2<T>, bias: &Param) -> T2<T> {
    let (n, d) = *x.shape();
    let b = values(bias);
    let out: Vec<f32> = values(&x).iter().enumerate().map(|(i, v)| v + b[i % d]).collect();
    finish_op(x, (n, d), out, vec![bias.clone()], move |g, gx| {
        gx.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        let mut gb = vec![0.0f32; d];
        for row in g.chunks(d) {
            gb.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        vec![gb]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::grad_check;

    #[test]
    fn linear_gradients_match_finite_differences() {
        let err = grad_check((5, 3, 2, 2), &[4 * 12, 4], 1e-2, &|x, p| {
            let (b, c, h, w) = *x.shape();
            let flat = x.reshape_like(&(b, c * h * w));
            let y = linear(flat, &p[0], &p[1], 4);
            y.reshape_like(&(b, 4, 1, 1))
        });
        assert!(err < 1e-3, "{err}");
    }

    #[test]
    fn add_bias_gradients_match_finite_differences() {
        let err = grad_check((5, 3), &[3], 1e-2, &|x, p| add_bias(x, &p[0]));
        assert!(err < 1e-3, "{err}");
    }
}
