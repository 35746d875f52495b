//! Custom dfdx operations on runtime-shaped tensors, one module per op
//! family: convolution (grouped, depthwise, dilated, strided), pooling,
//! normalisation (batch and layer norm), linear layers, sparse
//! aggregation, graph attention, activations and dropout, the
//! contrastive loss encoders pre-train with, and supernets' mixed edges.
//!
//! dfdx 0.13 compiles its own convolution only on a nightly toolchain that
//! no longer builds, and runs it image by image through an old gemm. These
//! ops compute the forward pass on the raw buffers (im2col + `gemm`,
//! parallel over images with rayon) and register their backward pass on
//! the tape with `Tape::add_backward_op`, so gradients flow through dfdx as
//! through its built-in ops. Parameters are flat rank-1 tensors without a
//! tape; gradients accumulate under their ids.
//!
//! Every op registers its backward pass through `finish_op` (or, for
//! [`sum_all`], directly), and each module checks its ops' gradients
//! against finite differences (`tests::grad_check`, here).

use dfdx::prelude::*;

pub(crate) mod activation;
mod attention;
mod contrastive;
mod conv;
mod linear;
mod mixed;
mod norm;
mod pool;
mod sparse;

pub use activation::{Activation, activate, dropout, relu, relu6};
pub use attention::{Aggregate, Attention, attend, gat_aggregate, mean_heads};
pub use contrastive::nt_xent;
pub use conv::{Conv, conv2d, relu_conv2d};
pub use linear::{add_bias, linear};
pub use mixed::{mix, mix_one};
pub use norm::{RunningStats, batch_norm2d, layer_norm};
pub use pool::{Pool, avg_pool2d, global_avg_pool, max_pool2d};
pub use sparse::{Sparse, select_rows, spmm};

/// A 4-d activation `(batch, channels, height, width)`.
pub type T4<T> = Tensor<(usize, usize, usize, usize), f32, Cpu, T>;
/// A 2-d activation `(rows, features)`.
pub type T2<T> = Tensor<(usize, usize), f32, Cpu, T>;
/// A parameter: a flat tensor, shaped by the op that reads it.
pub type Param = Tensor<(usize,), f32, Cpu>;

/// The tensor's values, copied with one `memcpy`.
///
/// dfdx's `as_vec` walks an index iterator element by element, which cost
/// 7 % of a training step. Inputs here are always contiguous (built from a
/// `Vec`, or produced by an op), where the two agree.
pub fn values<S: Shape, T>(t: &Tensor<S, f32, Cpu, T>) -> Vec<f32> {
    let mut v = vec![0.0f32; t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// Registers an op's output on `x`'s tape. `backward(grad_out, grad_x)`
/// accumulates into `grad_x` and returns the gradients of `params`, in
/// order.
pub(crate) fn finish_op<Si, So, T, B>(x: Tensor<Si, f32, Cpu, T>, out_shape: So, out: Vec<f32>, params: Vec<Param>, backward: B) -> Tensor<So, f32, Cpu, T>
where
    Si: Shape,
    So: Shape,
    T: Tape<f32, Cpu>,
    B: 'static + FnOnce(&[f32], &mut [f32]) -> Vec<Vec<f32>>,
{
    let (x, mut tape) = x.split_tape();
    let out = x.device().tensor_from_vec(out, out_shape);
    if T::OWNS_TAPE {
        let x_ghost = x.ghost();
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&out_ghost)?;
            // The output's gradient is complete once its op runs: borrow
            // it by moving it out (dfdx lends one gradient at a time) and
            // put it back afterwards, instead of copying it.
            let g_out = std::mem::take::<Vec<f32>>(grads.get_or_alloc_mut(&out_ghost)?);
            let g_x = grads.get_or_alloc_mut(&x_ghost)?;
            let g_params = backward(&g_out, &mut g_x[..]);
            **grads.get_or_alloc_mut(&out_ghost)? = g_out;
            for (p, g) in params.iter().zip(g_params) {
                let gp = grads.get_or_alloc_mut(p)?;
                gp.iter_mut().zip(g).for_each(|(a, b)| *a += b);
            }
            Ok(())
        });
    }
    out.put_tape(tape)
}

/// The elementwise sum of same-shaped tensors, in one pass. Unlike chained
/// `+`, inputs may share an id (a node summed with its own identity), and
/// each occurrence receives the output gradient.
pub fn sum_all<S: Shape, T: Tape<f32, Cpu> + Merge<T>>(inputs: Vec<Tensor<S, f32, Cpu, T>>) -> Tensor<S, f32, Cpu, T> {
    let shape = *inputs.first().expect("sum_all needs an input").shape();
    let dev = inputs[0].device().clone();
    let mut tape = T::default();
    let mut ghosts = Vec::with_capacity(inputs.len());
    let mut out: Vec<f32> = Vec::new();
    for t in inputs {
        assert_eq!(*t.shape(), shape, "sum_all shapes");
        let (t, t_tape) = t.split_tape();
        tape = tape.merge(t_tape);
        if out.is_empty() {
            out = values(&t);
        } else {
            let v = values(&t);
            out.iter_mut().zip(&v).for_each(|(o, x)| *o += x);
        }
        ghosts.push(t.ghost());
    }
    let out = dev.tensor_from_vec(out, shape);
    if T::OWNS_TAPE {
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&out_ghost)?;
            let g = std::mem::take::<Vec<f32>>(grads.get_or_alloc_mut(&out_ghost)?);
            for ghost in &ghosts {
                let gx = grads.get_or_alloc_mut(ghost)?;
                gx.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            }
            **grads.get_or_alloc_mut(&out_ghost)? = g;
            Ok(())
        });
    }
    out.put_tape(tape)
}

/// The outputs `lo..hi` of a 1-d sliding window whose input
/// `o·stride + off` lies inside `0..n` (of `out` outputs).
pub(crate) fn valid_range(off: isize, stride: usize, n: usize, out: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if off >= 0 { 0 } else { ((-off + s - 1) / s) as usize };
    let last = n as isize - 1 - off; // largest o·stride that stays inside
    let hi = if last < 0 { 0 } else { ((last / s) as usize + 1).min(out) };
    (lo.min(hi), hi)
}

/// `dst += src`, element by element.
pub(crate) fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

#[cfg(test)]
pub(crate) mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// An op under test: taped input and parameters to a taped output.
    pub(crate) type TapedOp<'a, S, So> =
        dyn Fn(Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>, &[Param]) -> Tensor<So, f32, Cpu, OwnedTape<f32, Cpu>> + 'a;

    pub(crate) fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Checks the gradients of `L = Σ f(x, params) · r` against central
    /// differences (computed in f64 from f32 outputs) on sampled
    /// coordinates; returns the worst relative error over x and params.
    pub(crate) fn grad_check<S: Shape, So: Shape>(x_shape: S, param_lens: &[usize], eps: f32, f: &TapedOp<'_, S, So>) -> f64 {
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let xv = random(&mut rng, x_shape.num_elements());
        let pv: Vec<Vec<f32>> = param_lens.iter().map(|&n| random(&mut rng, n)).collect();
        let make = |xv: &[f32], pv: &[Vec<f32>]| {
            let x: Tensor<S, f32, Cpu> = dev.tensor_from_vec(xv.to_vec(), x_shape);
            let ps: Vec<Param> = pv.iter().map(|v| dev.tensor_from_vec(v.clone(), (v.len(),))).collect();
            (x, ps)
        };
        let (x, ps) = make(&xv, &pv);
        let probe = f(x.leaky_trace(), &ps);
        let r = random(&mut rng, probe.shape().num_elements());
        let r_t = dev.tensor_from_vec(r.clone(), *probe.shape());
        let loss = (probe * r_t).sum();
        let grads = loss.backward();
        let loss_of = |xv: &[f32], pv: &[Vec<f32>]| -> f64 {
            let (x, ps) = make(xv, pv);
            let out = f(x.leaky_trace(), &ps).as_vec();
            out.iter().zip(&r).map(|(&o, &r)| f64::from(o) * f64::from(r)).sum()
        };
        let mut worst = 0.0f64;
        let mut check = |analytic: &[f32], which: Option<usize>| {
            let n = analytic.len();
            let (mut num, mut den) = (0.0f64, 0.0f64);
            for s in 0..n.min(24) {
                let i = (s * 7919 + 3) % n;
                let (mut xp, mut xm, mut pp, mut pm) = (xv.clone(), xv.clone(), pv.clone(), pv.clone());
                match which {
                    None => {
                        xp[i] += eps;
                        xm[i] -= eps;
                    }
                    Some(k) => {
                        pp[k][i] += eps;
                        pm[k][i] -= eps;
                    }
                }
                let fd = (loss_of(&xp, &pp) - loss_of(&xm, &pm)) / (2.0 * f64::from(eps));
                num += (f64::from(analytic[i]) - fd).powi(2);
                den += fd.powi(2);
            }
            worst = worst.max((num / den.max(1e-12)).sqrt());
        };
        check(&grads.get(&x).as_vec(), None);
        for (k, p) in ps.iter().enumerate() {
            check(&grads.get(p).as_vec(), Some(k));
        }
        worst
    }

    #[test]
    fn sum_all_handles_repeated_inputs() {
        let dev = Cpu::default();
        let x: T4<NoneTape> = dev.tensor_from_vec(vec![1.0, 2.0], (1, 1, 1, 2));
        let t = x.leaky_trace();
        let branch = t.with_empty_tape();
        let y = sum_all(vec![t, branch.with_empty_tape(), branch]);
        assert_eq!(y.as_vec(), vec![3.0, 6.0]);
        let g = y.sum().backward();
        assert_eq!(g.get(&x).as_vec(), vec![3.0, 3.0]);
        let err = grad_check((2, 3, 4, 4), &[], 1e-2, &|x, _| {
            let y = x.with_empty_tape().relu();
            sum_all(vec![x.with_empty_tape(), y, x])
        });
        assert!(err < 1e-3, "{err}");
    }
}
