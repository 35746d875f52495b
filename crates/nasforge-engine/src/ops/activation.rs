//! Elementwise maps with a hand-written backward pass: [`activate`] (the
//! [`Activation`]s dfdx lacks or that the GNNs pick at run time) and
//! inverted [`dropout`]; and dfdx's own ReLU and ReLU6 ([`relu`],
//! [`relu6`]) behind the probe's ReLU hook, so that every ReLU a network
//! applies is one NASWOT sees.

use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{T2, finish_op, values};
use crate::probe::{self, Kink};

/// An elementwise activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// The identity.
    Linear,
    /// 1 / (1 + e^-z).
    Sigmoid,
    /// tanh z.
    Tanh,
    /// max(z, 0).
    Relu,
    /// ln(1 + e^z).
    Softplus,
    /// z, or 0.01·z below 0.
    LeakyRelu,
    /// z clamped to 0..=6.
    Relu6,
    /// z, or e^z − 1 below 0.
    Elu,
}

/// `activation` applied to every element (`Linear` returns `x` itself).
pub fn activate<T: Tape<f32, Cpu>>(x: T2<T>, activation: Activation) -> T2<T> {
    if activation == Activation::Linear {
        return x;
    }
    // (value, derivative) at z.
    let f = move |z: f32| -> (f32, f32) {
        match activation {
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                (s, s * (1.0 - s))
            }
            Activation::Tanh => {
                let t = z.tanh();
                (t, 1.0 - t * t)
            }
            Activation::Relu => (z.max(0.0), if z > 0.0 { 1.0 } else { 0.0 }),
            Activation::Softplus => (z.max(0.0) + (-z.abs()).exp().ln_1p(), 1.0 / (1.0 + (-z).exp())),
            Activation::LeakyRelu => (if z > 0.0 { z } else { 0.01 * z }, if z > 0.0 { 1.0 } else { 0.01 }),
            Activation::Relu6 => (z.clamp(0.0, 6.0), if z > 0.0 && z < 6.0 { 1.0 } else { 0.0 }),
            Activation::Elu => (if z > 0.0 { z } else { z.exp_m1() }, if z > 0.0 { 1.0 } else { z.exp() }),
            Activation::Linear => (z, 1.0),
        }
    };
    let shape = *x.shape();
    let xd = values(&x);
    if matches!(activation, Activation::Relu | Activation::Relu6 | Activation::LeakyRelu) {
        probe::relu_input(&xd, shape.0);
        let kink = match activation {
            Activation::Relu6 => Kink::Relu6,
            Activation::LeakyRelu => Kink::Leaky,
            _ => Kink::Relu,
        };
        if let Some(piece) = probe::pieces_on().then(|| probe::piece(&xd, kink)).flatten() {
            return piecewise(x, piece);
        }
    }
    let out = xd.iter().map(|&z| f(z).0).collect();
    finish_op(x, shape, out, Vec::new(), move |g, gx| {
        for ((d, g), &z) in gx.iter_mut().zip(g).zip(&xd) {
            *d += g * f(z).1;
        }
        Vec::new()
    })
}

/// `max(x, 0)` (dfdx's), reported to the probe; rows are `x`'s first axis.
pub fn relu<S: Shape, T: Tape<f32, Cpu>>(x: Tensor<S, f32, Cpu, T>) -> Tensor<S, f32, Cpu, T> {
    report_relu(&x);
    match frozen(&x, Kink::Relu) {
        Some(piece) => piecewise(x, piece),
        None => x.relu(),
    }
}

/// `x` clamped to `0..=6` (dfdx's), reported to the probe as a ReLU.
pub fn relu6<S: Shape, T: Tape<f32, Cpu>>(x: Tensor<S, f32, Cpu, T>) -> Tensor<S, f32, Cpu, T> {
    report_relu(&x);
    match frozen(&x, Kink::Relu6) {
        Some(piece) => piecewise(x, piece),
        None => x.clamp(0.0, 6.0),
    }
}

/// The probe's replayed piece for this activation, if it replays.
pub(crate) fn frozen<S: Shape, T>(x: &Tensor<S, f32, Cpu, T>, kink: Kink) -> Option<(Vec<f32>, Vec<f32>)> {
    if !probe::pieces_on() {
        return None;
    }
    probe::piece(&values(x), kink)
}

/// `slope·x + offset`, elementwise: an activation held on given pieces.
pub(crate) fn piecewise<S: Shape, T: Tape<f32, Cpu>>(x: Tensor<S, f32, Cpu, T>, (slope, offset): (Vec<f32>, Vec<f32>)) -> Tensor<S, f32, Cpu, T> {
    let shape = *x.shape();
    let out = values(&x).iter().zip(slope.iter().zip(&offset)).map(|(v, (s, o))| s * v + o).collect();
    finish_op(x, shape, out, Vec::new(), move |g, gx| {
        gx.iter_mut().zip(g).zip(&slope).for_each(|((d, g), s)| *d += g * s);
        Vec::new()
    })
}

fn report_relu<S: Shape, T>(x: &Tensor<S, f32, Cpu, T>) {
    if probe::wants_relu_codes() {
        let rows = x.shape().concrete().into_iter().next().unwrap_or(1);
        probe::relu_input(&values(x), rows);
    }
}

/// Inverted dropout with a mask drawn from `seed`.
pub fn dropout<T: Tape<f32, Cpu>>(x: T2<T>, p: f32, seed: u64) -> T2<T> {
    if p <= 0.0 {
        return x;
    }
    let shape = *x.shape();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scale = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..shape.0 * shape.1).map(|_| if rng.random::<f32>() < p { 0.0 } else { scale }).collect();
    let out = values(&x).iter().zip(&mask).map(|(a, m)| a * m).collect();
    finish_op(x, shape, out, Vec::new(), move |g, gx| {
        gx.iter_mut().zip(g).zip(&mask).for_each(|((d, g), m)| *d += g * m);
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::grad_check;

    #[test]
    fn every_activation_matches_finite_differences() {
        use Activation::*;
        for activation in [Linear, Sigmoid, Tanh, Relu, Softplus, LeakyRelu, Relu6, Elu] {
            let err = grad_check((5, 6), &[], 1e-3, &|x, _| activate(x, activation));
            assert!(err < 1e-3, "{activation:?}: relative error {err}");
        }
    }

    #[test]
    fn dropout_matches_finite_differences_and_keeps_the_mean() {
        let err = grad_check((5, 6), &[], 1e-2, &|x, _| dropout(x, 0.5, 3));
        assert!(err < 1e-3, "{err}");
        // Survivors are scaled by 1/(1-p): the sum of many ones stays near
        // their count.
        let dev = Cpu::default();
        let x: T2<NoneTape> = dev.ones_like(&(100, 100));
        let out = values(&dropout(x, 0.3, 1));
        assert!(out.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
        let mean = out.iter().sum::<f32>() / out.len() as f32;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
    }
}
