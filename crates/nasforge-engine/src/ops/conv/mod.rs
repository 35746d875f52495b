//! Convolution: [`Conv`] geometry, [`conv2d`] and the fused
//! [`relu_conv2d`]. Stride-1 ungrouped convolutions run as shifted gemms
//! (`shifted`), the others through im2col (`im2col`); both share the
//! batch-parallel, deterministic backward driver here.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{Param, T4, add_into, values};
use crate::probe;

mod im2col;
mod shifted;

use im2col::conv2d_im2col;
use shifted::conv2d_shifted;

/// A 2-d convolution's geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    /// Input channels.
    pub in_ch: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
    /// Dilation.
    pub dilation: usize,
    /// Groups (`in_ch` for depthwise).
    pub groups: usize,
}

impl Conv {
    /// A plain convolution with "same" padding for odd kernels at stride 1.
    pub fn new(in_ch: usize, out_ch: usize, kernel: usize, stride: usize) -> Self {
        Self { in_ch, out_ch, kernel, stride, padding: kernel / 2, dilation: 1, groups: 1 }
    }

    /// The weight's length: `out_ch × in_ch/groups × k × k`.
    pub fn weight_len(&self) -> usize {
        self.out_ch * (self.in_ch / self.groups) * self.kernel * self.kernel
    }

    /// The output's spatial size.
    pub fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        let span = self.dilation * (self.kernel - 1) + 1;
        let o = |n: usize| (n + 2 * self.padding - span) / self.stride + 1;
        (o(h), o(w))
    }

    fn pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    fn check(&self, cin: usize) {
        assert_eq!(cin, self.in_ch, "conv input channels");
        assert!(self.groups > 0 && self.in_ch % self.groups == 0 && self.out_ch % self.groups == 0, "conv groups");
    }
}

/// 2-d convolution without bias: `x (B, Cin, H, W)`, weight
/// `(Cout, Cin/groups, K, K)` flattened.
pub fn conv2d<T: Tape<f32, Cpu>>(x: T4<T>, weight: &Param, c: Conv) -> T4<T> {
    conv2d_impl(x, weight, c, false)
}

/// `conv2d(relu(x))` in one op: the ReLU is applied to the op's own copy
/// of the input and its mask to the input gradient, which saves two passes
/// over the activation (NAS-Bench-201's ReLU-Conv-BN).
pub fn relu_conv2d<T: Tape<f32, Cpu>>(x: T4<T>, weight: &Param, c: Conv) -> T4<T> {
    conv2d_impl(x, weight, c, true)
}

fn conv2d_impl<T: Tape<f32, Cpu>>(x: T4<T>, weight: &Param, c: Conv, relu: bool) -> T4<T> {
    let (b, cin, h, w) = *x.shape();
    c.check(cin);
    assert_eq!(weight.shape().0, c.weight_len(), "conv weight length");
    let (oh, ow) = c.out_size(h, w);
    let per_output = (c.in_ch / c.groups) * c.kernel * c.kernel;
    probe::macs((b * c.out_ch * oh * ow * per_output) as u64);
    if relu && probe::wants_relu_codes() {
        probe::relu_input(&values(&x), b);
    }
    // A replayed piece replaces the fused ReLU.
    let (x, relu) = match relu.then(|| super::activation::frozen(&x, probe::Kink::Relu)).flatten() {
        Some(piece) => (super::activation::piecewise(x, piece), false),
        None => (x, relu),
    };
    // Stride-1 ungrouped convolutions (every cell conv) run as shifted
    // gemms, forward and backward; the input gradient is then itself a
    // stride-1 convolution, with padding `dilation·(k-1) - padding`.
    let y = if c.stride == 1 && c.groups == 1 && !c.pointwise() && c.padding <= c.dilation * (c.kernel - 1) {
        conv2d_shifted(x, weight, c, relu)
    } else {
        conv2d_im2col(x, weight, c, relu)
    };
    probe::layer_output(y, b, c.out_ch, per_output)
}

/// `g_x += src`, where `x ≤ 0` zeroes the term when the op has a fused ReLU
/// (written as a select, so that it vectorises).
fn add_masked(g_x: &mut [f32], src: &[f32], x: &[f32], relu: bool) {
    if relu {
        g_x.iter_mut().zip(src).zip(x).for_each(|((d, &g), &v)| *d += if v > 0.0 { g } else { 0.0 });
    } else {
        g_x.iter_mut().zip(src).for_each(|(d, &g)| *d += g);
    }
}

/// Weight gradients are summed over this many fixed runs of images.
const WEIGHT_GRAD_RUNS: usize = 8;

/// A convolution's backward pass over the batch: `per_image(image, its
/// input gradient, scratch, weight gradient)` for every image, in
/// parallel; returns the weight gradient.
///
/// Each run of consecutive images accumulates its own partial weight
/// gradient, and the partials are added in order: the runs depend on the
/// batch alone, not on rayon's scheduling, so gradients (and loss curves)
/// are bit-identical from run to run and for any number of threads.
fn conv_backward<S>(
    g_x: &mut [f32],
    image_len: usize,
    weight_len: usize,
    scratch: impl Fn() -> S + Sync + Send,
    per_image: impl Fn(usize, &mut [f32], &mut S, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let images = g_x.len() / image_len;
    let per_run = images.div_ceil(WEIGHT_GRAD_RUNS).max(1);
    let partials: Vec<Vec<f32>> = g_x
        .par_chunks_mut(image_len * per_run)
        .enumerate()
        .map(|(run, gx)| {
            let (mut s, mut gw) = (scratch(), vec![0.0f32; weight_len]);
            for (i, gxb) in gx.chunks_exact_mut(image_len).enumerate() {
                per_image(run * per_run + i, gxb, &mut s, &mut gw);
            }
            gw
        })
        .collect();
    let mut total = vec![0.0f32; weight_len];
    for p in &partials {
        add_into(&mut total, p);
    }
    total
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand::SeedableRng;

    use super::*;
    use crate::ops::tests::{grad_check, random};

    #[test]
    fn conv_gradients_match_finite_differences() {
        for c in [
            Conv::new(3, 4, 3, 1),
            Conv::new(3, 4, 3, 2),
            Conv::new(4, 6, 1, 1),
            Conv { in_ch: 4, out_ch: 4, kernel: 3, stride: 1, padding: 2, dilation: 2, groups: 4 },
            Conv { in_ch: 4, out_ch: 6, kernel: 5, stride: 2, padding: 2, dilation: 1, groups: 2 },
            Conv { in_ch: 4, out_ch: 6, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 2 },
            Conv { in_ch: 3, out_ch: 2, kernel: 3, stride: 1, padding: 0, dilation: 1, groups: 1 },
            Conv { in_ch: 3, out_ch: 4, kernel: 3, stride: 1, padding: 2, dilation: 2, groups: 1 },
            Conv { in_ch: 2, out_ch: 3, kernel: 5, stride: 1, padding: 2, dilation: 1, groups: 1 },
        ] {
            let err = grad_check((2, c.in_ch, 7, 6), &[c.weight_len()], 1e-2, &|x, p| conv2d(x, &p[0], c));
            assert!(err < 1e-3, "{c:?}: relative error {err}");
        }
    }

    #[test]
    fn dilated_kernels_wider_than_the_image() {
        // DARTS' dil_conv_5x5 (span 9) on the 2×2 maps of a small network:
        // most taps miss the image entirely.
        for c in [
            Conv { in_ch: 4, out_ch: 4, kernel: 5, stride: 1, padding: 4, dilation: 2, groups: 4 },
            Conv { in_ch: 4, out_ch: 4, kernel: 5, stride: 2, padding: 4, dilation: 2, groups: 4 },
        ] {
            let err = grad_check((2, c.in_ch, 2, 2), &[c.weight_len()], 1e-2, &|x, p| conv2d(x, &p[0], c));
            assert!(err < 1e-3, "{c:?}: relative error {err}");
        }
    }

    #[test]
    fn conv_gradients_do_not_depend_on_the_thread_count() {
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (b, h) = (20, 9);
        for c in [Conv::new(4, 6, 3, 1), Conv::new(4, 6, 3, 2), Conv::new(4, 6, 1, 1)] {
            let xv = random(&mut rng, b * 4 * h * h);
            let wv = random(&mut rng, c.weight_len());
            let grads_with = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| {
                    let x: T4<NoneTape> = dev.tensor_from_vec(xv.clone(), (b, 4, h, h));
                    let w: Param = dev.tensor_from_vec(wv.clone(), (wv.len(),));
                    let g = relu_conv2d(x.leaky_trace(), &w, c).square().sum().backward();
                    (g.get(&x).as_vec(), g.get(&w).as_vec())
                })
            };
            let one = grads_with(1);
            for threads in [2, 3, 5] {
                assert!(grads_with(threads) == one, "{c:?}: {threads} threads");
            }
        }
    }

    #[test]
    fn fused_relu_conv_matches_relu_then_conv() {
        for c in [Conv::new(3, 4, 3, 1), Conv::new(4, 4, 1, 1), Conv::new(3, 4, 3, 2)] {
            let err = grad_check((2, c.in_ch, 6, 6), &[c.weight_len()], 1e-3, &|x, p| relu_conv2d(x, &p[0], c));
            assert!(err < 1e-3, "{c:?}: {err}");
            let dev = Cpu::default();
            let x: T4<NoneTape> = dev.sample_normal_like(&(2, c.in_ch, 6, 6));
            let w: Param = dev.sample_normal_like(&(c.weight_len(),));
            let fused = relu_conv2d(x.clone(), &w, c).as_vec();
            let plain = conv2d(x.relu(), &w, c).as_vec();
            assert!(fused.iter().zip(&plain).all(|(a, b)| (a - b).abs() < 1e-5));
        }
    }

    #[test]
    fn conv_matches_a_direct_convolution() {
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for c in [
            Conv { in_ch: 4, out_ch: 6, kernel: 3, stride: 2, padding: 1, dilation: 2, groups: 2 },
            Conv { in_ch: 4, out_ch: 6, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1 },
            Conv { in_ch: 3, out_ch: 5, kernel: 5, stride: 1, padding: 4, dilation: 2, groups: 1 },
            Conv { in_ch: 3, out_ch: 2, kernel: 3, stride: 1, padding: 0, dilation: 1, groups: 1 },
        ] {
            let (b, h, w) = (2, 9, 8);
            let (cin_g, cout_g) = (c.in_ch / c.groups, c.out_ch / c.groups);
            let xv = random(&mut rng, b * c.in_ch * h * w);
            let wv = random(&mut rng, c.weight_len());
            let x: T4<NoneTape> = dev.tensor_from_vec(xv.clone(), (b, c.in_ch, h, w));
            let wt: Param = dev.tensor_from_vec(wv.clone(), (wv.len(),));
            let y = conv2d(x, &wt, c).as_vec();
            let (ho, wo) = c.out_size(h, w);
            let k = c.kernel;
            for bi in 0..b {
                for co in 0..c.out_ch {
                    let g = co / cout_g;
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let mut s = 0.0f32;
                            for ci in 0..cin_g {
                                for ky in 0..k {
                                    for kx in 0..k {
                                        let iy = (oy * c.stride + ky * c.dilation) as isize - c.padding as isize;
                                        let ix = (ox * c.stride + kx * c.dilation) as isize - c.padding as isize;
                                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                            let xi = ((bi * c.in_ch + g * cin_g + ci) * h + iy as usize) * w + ix as usize;
                                            s += xv[xi] * wv[((co * cin_g + ci) * k + ky) * k + kx];
                                        }
                                    }
                                }
                            }
                            let got = y[((bi * c.out_ch + co) * ho + oy) * wo + ox];
                            assert!((got - s).abs() < 1e-4, "{c:?}: {got} vs {s}");
                        }
                    }
                }
            }
        }
    }
}
