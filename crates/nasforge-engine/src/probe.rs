//! What a network does inside one forward and backward pass, seen from the
//! ops: the hooks training-free NAS needs (PyTorch's forward and backward
//! hooks on modules, as the zero-cost proxies' reference code uses them).
//!
//! A [`Probe`] is installed for the current thread with [`observe`]; ops
//! called on that thread then report to it:
//!
//! - convolutions and linear layers add their multiply-accumulates;
//! - every ReLU (the fused [`crate::ops::relu_conv2d`], [`crate::ops::relu`],
//!   [`crate::ops::relu6`], ReLU-family [`crate::ops::activate`]) adds the
//!   binary code of its input to NASWOT's kernel `K`;
//! - with `layer_outputs`, convolution and linear outputs pass through an
//!   identity whose backward pass records Fisher information per channel
//!   (`½·mean_n (Σ_spatial act·grad)²`, foresight's hook on an identity
//!   after each layer);
//! - with `bypass_batch_norm`, batch norms return their input (synflow);
//! - [`crate::ops::global_avg_pool`] keeps its input (Zen-NAS's
//!   pre-pooling features).
//!
//! A thread-local, not a parameter of every op: the networks stay as they
//! are, and a proxy is a function over any network. Hooks run only on the
//! thread that calls the op (never inside its rayon workers), so callers
//! that score several networks at once give each its own OS thread: a
//! rayon task could otherwise be stolen by a thread that holds another
//! network's probe.

use std::cell::RefCell;

use dfdx::prelude::*;

use crate::ops::{finish_op, values};

/// What to record, and what was recorded.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// Batch norms return their input.
    pub bypass_batch_norm: bool,
    /// Count multiply-accumulates of convolutions and linear layers.
    pub count_macs: bool,
    /// Accumulate NASWOT's kernel over these rows of every ReLU input
    /// (rows along its first axis: images, or graph nodes).
    pub relu_codes: Option<Vec<usize>>,
    /// Record Fisher information at every convolution and linear output.
    pub layer_outputs: bool,
    /// Keep the input of the global average pooling.
    pub pre_pool: bool,
    /// Multiply-accumulates counted.
    pub macs: u64,
    /// NASWOT's `K` (`r × r` for the `r` rows, row-major): for each pair, the
    /// number of units where both codes agree, summed over ReLUs.
    pub kernel: Vec<f64>,
    /// ReLUs that reported to `kernel`.
    pub relus: usize,
    /// Per layer output (in the order their backward passes ran): Fisher
    /// information summed over channels, each channel's value counted once
    /// per weight of that channel (foresight broadcasts it to them).
    pub fisher: Vec<f64>,
    /// The last global pooling's input: values and `(batch, channels, h, w)`.
    pub pooled: Option<(Vec<f32>, [usize; 4])>,
    /// Keep the activations networks mark with [`keep`].
    pub keep_marked: bool,
    /// Marked activations: tag, values, rows (first axis).
    pub marked: Vec<(&'static str, Vec<f32>, usize)>,
    /// Record, or replay, the linear piece every ReLU-family activation
    /// is on.
    pub pieces: Pieces,
}

/// The linear pieces of a pass's ReLU-family activations (`slope·x +
/// offset` per element, in call order). Replayed on a pass with
/// perturbed weights, they keep every activation on the piece it was on:
/// a difference of gradients then measures autograd's Hessian, which
/// treats each kink as flat, instead of jumping across kinks (grasp's
/// Hessian-vector product).
#[derive(Clone, Debug, Default)]
pub enum Pieces {
    /// Activations are what they are.
    #[default]
    Off,
    /// Activations are what they are, and their pieces are kept.
    Record(Vec<(Vec<f32>, Vec<f32>)>),
    /// Each activation applies the next recorded piece instead.
    Replay(Vec<(Vec<f32>, Vec<f32>)>, usize),
}

/// Which piecewise-linear activation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kink {
    Relu,
    Relu6,
    Leaky,
}

/// Under [`Pieces::Replay`], the piece this activation must apply; under
/// [`Pieces::Record`], keeps the piece `x` is on and returns `None`.
pub(crate) fn piece(x: &[f32], kink: Kink) -> Option<(Vec<f32>, Vec<f32>)> {
    with(|p| match &mut p.pieces {
        Pieces::Off => None,
        Pieces::Record(list) => {
            let (slope, offset) = x
                .iter()
                .map(|&v| match kink {
                    Kink::Relu => (if v > 0.0 { 1.0 } else { 0.0 }, 0.0),
                    Kink::Leaky => (if v > 0.0 { 1.0 } else { 0.01 }, 0.0),
                    Kink::Relu6 => if v >= 6.0 { (0.0, 6.0) } else if v > 0.0 { (1.0, 0.0) } else { (0.0, 0.0) },
                })
                .unzip();
            list.push((slope, offset));
            None
        }
        Pieces::Replay(list, at) => {
            let piece = list.get(*at).cloned();
            *at += 1;
            piece
        }
    })
    .flatten()
}

pub(crate) fn pieces_on() -> bool {
    with(|p| !matches!(p.pieces, Pieces::Off)).unwrap_or(false)
}

thread_local! {
    static ACTIVE: RefCell<Option<Probe>> = const { RefCell::new(None) };
}

/// Runs `f` with `probe` installed on this thread; returns `f`'s result
/// and what the probe recorded. Nested calls are refused.
pub fn observe<R>(probe: Probe, f: impl FnOnce() -> R) -> (R, Probe) {
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        assert!(a.is_none(), "a probe is already installed on this thread");
        *a = Some(probe);
    });
    // Taken back out even when `f` panics, so that the thread stays usable.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ACTIVE.with(|a| a.borrow_mut().take());
        }
    }
    let reset = Reset;
    let out = f();
    let probe = ACTIVE.with(|a| a.borrow_mut().take()).expect("installed above");
    drop(reset);
    (out, probe)
}

fn with<R>(f: impl FnOnce(&mut Probe) -> R) -> Option<R> {
    ACTIVE.with(|a| a.borrow_mut().as_mut().map(f))
}

pub(crate) fn bypass_batch_norm() -> bool {
    with(|p| p.bypass_batch_norm).unwrap_or(false)
}

pub(crate) fn macs(n: u64) {
    with(|p| {
        if p.count_macs {
            p.macs += n;
        }
    });
}

pub(crate) fn wants_relu_codes() -> bool {
    with(|p| p.relu_codes.is_some()).unwrap_or(false)
}

/// Adds the codes `x > 0` of a ReLU input (`x.len() / batch` units per
/// row) to the kernel.
pub(crate) fn relu_input(x: &[f32], batch: usize) {
    with(|p| {
        let Some(selected) = &p.relu_codes else { return };
        if batch == 0 || selected.iter().any(|&r| r >= batch) {
            return;
        }
        let units = x.len() / batch;
        let rows = selected.len();
        let words = units.div_ceil(64);
        // Packed codes: agreements are `units − popcount(a xor b)`.
        let mut bits = vec![0u64; rows * words];
        for (r, &row) in selected.iter().enumerate() {
            for (u, &v) in x[row * units..(row + 1) * units].iter().enumerate() {
                if v > 0.0 {
                    bits[r * words + u / 64] |= 1 << (u % 64);
                }
            }
        }
        if p.kernel.len() != rows * rows {
            p.kernel = vec![0.0; rows * rows];
        }
        for i in 0..rows {
            for j in i..rows {
                let a = &bits[i * words..(i + 1) * words];
                let b = &bits[j * words..(j + 1) * words];
                let differ: u32 = a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum();
                let agree = (units - differ as usize) as f64;
                p.kernel[i * rows + j] += agree;
                if i != j {
                    p.kernel[j * rows + i] += agree;
                }
            }
        }
        p.relus += 1;
    });
}

pub(crate) fn keep_pooled_with(x: impl FnOnce() -> (Vec<f32>, [usize; 4])) {
    if with(|p| p.pre_pool).unwrap_or(false) {
        let kept = x();
        with(|p| p.pooled = Some(kept));
    }
}

/// Marks an activation of a network (`tag` says which: the transformer's
/// `ffn` hidden layers and final `hidden` states), kept when the probe asks
/// for them (W-PCA, hidden covariance).
pub fn keep<S: Shape, T>(tag: &'static str, x: &Tensor<S, f32, Cpu, T>) {
    if with(|p| p.keep_marked).unwrap_or(false) {
        let rows = x.shape().concrete().into_iter().next().unwrap_or(1);
        let v = values(x);
        with(|p| p.marked.push((tag, v, rows)));
    }
}

/// `y` itself; with `layer_outputs` on, through an identity whose backward
/// pass adds the layer's Fisher information to the probe. `y` is
/// `(batch, channels, spatial...)` flattened: `channels` per item, `per_weight`
/// weights per channel.
pub(crate) fn layer_output<S: Shape, T: Tape<f32, Cpu>>(y: Tensor<S, f32, Cpu, T>, batch: usize, channels: usize, per_weight: usize) -> Tensor<S, f32, Cpu, T> {
    if !T::OWNS_TAPE || !with(|p| p.layer_outputs).unwrap_or(false) {
        return y;
    }
    let act = values(&y);
    let shape = *y.shape();
    let out = act.clone();
    finish_op(y, shape, out, Vec::new(), move |g_out, g_x| {
        g_x.iter_mut().zip(g_out).for_each(|(d, g)| *d += g);
        let spatial = act.len() / (batch * channels).max(1);
        let mut total = 0.0f64;
        for k in 0..channels {
            let mut sum_sq = 0.0f64;
            for n in 0..batch {
                let at = (n * channels + k) * spatial;
                let g: f64 = (at..at + spatial).map(|i| f64::from(act[i]) * f64::from(g_out[i])).sum();
                sum_sq += g * g;
            }
            total += (0.5 * sum_sq / batch as f64).abs() * per_weight as f64;
        }
        with(|p| p.fisher.push(total));
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_counts_agreeing_codes_per_pair() {
        let probe = Probe { relu_codes: Some(vec![0, 1]), ..Probe::default() };
        let ((), p) = observe(probe, || {
            relu_input(&[1.0, -1.0, 2.0, 1.0, 1.0, -3.0], 2);
        });
        // rows (+,-,+) and (+,+,-): each agrees with itself 3 times, with the
        // other once.
        assert_eq!(p.kernel, vec![3.0, 1.0, 1.0, 3.0]);
        assert_eq!(p.relus, 1);
    }

    #[test]
    fn the_fisher_identity_passes_gradients_through_unchanged() {
        let probe = Probe { layer_outputs: true, ..Probe::default() };
        let (err, p) = observe(probe, || {
            crate::ops::tests::grad_check((2, 3, 2, 2), &[], 1e-2, &|x, _| layer_output(x, 2, 3, 5))
        });
        assert!(err < 1e-3, "{err}");
        assert!(!p.fisher.is_empty() && p.fisher.iter().all(|f| f.is_finite() && *f >= 0.0));
    }

    #[test]
    fn replayed_pieces_reproduce_the_recorded_pass_and_their_gradients_check() {
        use crate::ops::{T2, relu};
        let dev = Cpu::default();
        let x: T2<NoneTape> = dev.tensor_from_vec(vec![-1.0, 0.5, 2.0, -0.25, 3.0, -2.0], (2, 3));
        let (y, p) = observe(Probe { pieces: Pieces::Record(Vec::new()), ..Probe::default() }, || relu(x.clone()).as_vec());
        let Pieces::Record(list) = p.pieces else { panic!("recorded") };
        let (z, _) = observe(Probe { pieces: Pieces::Replay(list.clone(), 0), ..Probe::default() }, || relu(x.clone()).as_vec());
        assert_eq!(y, z);
        // Held on its pieces, a perturbed input stays linear where ReLU is not.
        let moved: T2<NoneTape> = dev.tensor_from_vec(vec![1.0, 0.5, 2.0, -0.25, 3.0, -2.0], (2, 3));
        let (held, _) = observe(Probe { pieces: Pieces::Replay(list.clone(), 0), ..Probe::default() }, || relu(moved).as_vec());
        assert_eq!(held[0], 0.0);
        let err = crate::ops::tests::grad_check((2, 3), &[], 1e-2, &|x, _| crate::ops::activation::piecewise(x, list[0].clone()));
        assert!(err < 1e-3, "{err}");
    }

    #[test]
    fn hooks_outside_a_probe_do_nothing() {
        macs(5);
        relu_input(&[1.0], 1);
        assert!(!bypass_batch_norm());
        let (_, p) = observe(Probe { count_macs: true, ..Probe::default() }, || macs(7));
        assert_eq!(p.macs, 7);
        macs(5);
        assert!(ACTIVE.with(|a| a.borrow().is_none()));
    }
}
