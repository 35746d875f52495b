//! Custom dfdx operations: convolution (grouped, depthwise, dilated,
//! strided), pooling, batch norm and linear layers on runtime-shaped
//! tensors.
//!
//! dfdx 0.13 compiles its own convolution only on a nightly toolchain that
//! no longer builds, and runs it image by image through an old gemm. These
//! ops compute the forward pass on the raw buffers (im2col + `gemm`,
//! parallel over images with rayon) and register their backward pass on
//! the tape with `Tape::add_backward_op`, so gradients flow through dfdx as
//! through its built-in ops. Parameters are flat rank-1 tensors without a
//! tape; gradients accumulate under their ids.

use dfdx::prelude::*;
use rayon::prelude::*;

use crate::gemm::{View, matmul};

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
            let g_out = grads.get_or_alloc_mut(&out_ghost)?.to_vec();
            let g_x = grads.get_or_alloc_mut(&x_ghost)?;
            let g_params = backward(&g_out, &mut g_x[..]);
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
            let g = grads.get_or_alloc_mut(&out_ghost)?.to_vec();
            for ghost in &ghosts {
                let gx = grads.get_or_alloc_mut(ghost)?;
                gx.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            }
            Ok(())
        });
    }
    out.put_tape(tape)
}

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

/// For kernel column `kx`: the output columns `lo..hi` whose input column
/// `ox * stride + off` lies inside the image, and that offset.
fn valid_cols(c: &Conv, kx: usize, w: usize, wo: usize) -> (usize, usize, isize) {
    let off = (kx * c.dilation) as isize - c.padding as isize;
    let s = c.stride as isize;
    let lo = if off >= 0 { 0 } else { ((-off + s - 1) / s) as usize };
    let last = w as isize - 1 - off; // largest ox * s that stays inside
    let hi = if last < 0 { 0 } else { ((last / s) as usize + 1).min(wo) };
    (lo.min(hi), hi, off)
}

/// Copies one group's receptive fields of one image into `col`
/// (`(c, ky, kx) × (oy, ox)`). Whole runs of in-image pixels are copied at
/// once; only the padded margins are zero-filled.
fn im2col(x: &[f32], c: &Conv, cin_g: usize, h: usize, w: usize, col: &mut [f32]) {
    let (ho, wo) = c.out_size(h, w);
    let k = c.kernel;
    for ch in 0..cin_g {
        for ky in 0..k {
            for kx in 0..k {
                let row = ((ch * k + ky) * k + kx) * ho * wo;
                let (lo, hi, off) = valid_cols(c, kx, w, wo);
                for oy in 0..ho {
                    let iy = (oy * c.stride + ky * c.dilation) as isize - c.padding as isize;
                    let dst = &mut col[row + oy * wo..row + (oy + 1) * wo];
                    if iy < 0 || iy >= h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &x[(ch * h + iy as usize) * w..(ch * h + iy as usize + 1) * w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if c.stride == 1 {
                        let start = (lo as isize + off) as usize;
                        dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                    } else {
                        for (ox, d) in dst[lo..hi].iter_mut().enumerate() {
                            *d = src[(((ox + lo) * c.stride) as isize + off) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds `col` back into the image gradient.
fn col2im_add(col: &[f32], c: &Conv, cin_g: usize, h: usize, w: usize, gx: &mut [f32]) {
    let (ho, wo) = c.out_size(h, w);
    let k = c.kernel;
    for ch in 0..cin_g {
        for ky in 0..k {
            for kx in 0..k {
                let row = ((ch * k + ky) * k + kx) * ho * wo;
                let (lo, hi, off) = valid_cols(c, kx, w, wo);
                for oy in 0..ho {
                    let iy = (oy * c.stride + ky * c.dilation) as isize - c.padding as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let dst = &mut gx[(ch * h + iy as usize) * w..(ch * h + iy as usize + 1) * w];
                    let src = &col[row + oy * wo + lo..row + oy * wo + hi];
                    if c.stride == 1 {
                        let start = (lo as isize + off) as usize;
                        dst[start..start + src.len()].iter_mut().zip(src).for_each(|(d, g)| *d += g);
                    } else {
                        for (ox, g) in src.iter().enumerate() {
                            dst[(((ox + lo) * c.stride) as isize + off) as usize] += g;
                        }
                    }
                }
            }
        }
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
    let (ho, wo) = c.out_size(h, w);
    let (hw_o, cin_g, cout_g) = (ho * wo, cin / c.groups, c.out_ch / c.groups);
    let ck = cin_g * c.kernel * c.kernel;
    let mut xd = values(&x);
    if relu {
        xd.par_chunks_mut(h * w).for_each(|p| p.iter_mut().for_each(|v| *v = v.max(0.0)));
    }
    let wd = values(weight);
    let mut out = vec![0.0f32; b * c.out_ch * hw_o];
    let col_len = if c.pointwise() { 0 } else { ck * hw_o };
    out.par_chunks_mut(c.out_ch * hw_o).enumerate().for_each_init(|| vec![0.0f32; col_len], |col, (bi, ob)| {
        let xb = &xd[bi * cin * h * w..(bi + 1) * cin * h * w];
        for g in 0..c.groups {
            let xg = &xb[g * cin_g * h * w..(g + 1) * cin_g * h * w];
            let rhs = if c.pointwise() {
                View::rows(xg, cin_g, hw_o)
            } else {
                im2col(xg, &c, cin_g, h, w, col);
                View::rows(col, ck, hw_o)
            };
            let lhs = View::rows(&wd[g * cout_g * ck..(g + 1) * cout_g * ck], cout_g, ck);
            matmul(lhs, rhs, &mut ob[g * cout_g * hw_o..], hw_o, false, 1);
        }
    });
    let params = vec![weight.clone()];
    finish_op(x, (b, c.out_ch, ho, wo), out, params, move |g_out, g_x| {
        // Input gradient: Wᵀ × dOut per image and group, folded back.
        let tmp_len = if relu { cin_g * h * w } else { 0 };
        // For stride 1 (no dilation) the input gradient is a convolution of
        // the output gradient with the flipped, transposed weights.
        let flipped = (c.stride == 1 && c.dilation == 1 && !c.pointwise() && c.padding < c.kernel).then(|| {
            let k = c.kernel;
            let ct = Conv { in_ch: c.out_ch, out_ch: cin, kernel: k, stride: 1, padding: k - 1 - c.padding, dilation: 1, groups: c.groups };
            let mut wf = vec![0.0f32; wd.len()];
            for g in 0..c.groups {
                for ci in 0..cin_g {
                    for co in 0..cout_g {
                        for ky in 0..k {
                            for kx in 0..k {
                                let src = (((g * cout_g + co) * cin_g + ci) * k + ky) * k + kx;
                                let dst = (((g * cin_g + ci) * cout_g + co) * k + (k - 1 - ky)) * k + (k - 1 - kx);
                                wf[dst] = wd[src];
                            }
                        }
                    }
                }
            }
            (ct, wf)
        });
        let dcol_len = if flipped.is_some() { cout_g * c.kernel * c.kernel * h * w } else { col_len };
        g_x.par_chunks_mut(cin * h * w).enumerate().for_each_init(
            || (vec![0.0f32; dcol_len], vec![0.0f32; tmp_len]),
            |(dcol, tmp), (bi, gxb)| {
                for g in 0..c.groups {
                    let go = View::rows(&g_out[bi * c.out_ch * hw_o + g * cout_g * hw_o..], cout_g, hw_o);
                    let wt = View::rows(&wd[g * cout_g * ck..(g + 1) * cout_g * ck], cout_g, ck).t();
                    let gxg = &mut gxb[g * cin_g * h * w..(g + 1) * cin_g * h * w];
                    // With a fused ReLU the contribution is masked, so it
                    // goes through a scratch buffer first.
                    let target: &mut [f32] = if relu {
                        tmp.fill(0.0);
                        tmp
                    } else {
                        gxg
                    };
                    if c.pointwise() {
                        matmul(wt, go, target, hw_o, true, 1);
                    } else if let Some((ct, wf)) = &flipped {
                        // dX = conv(dY, flipped Wᵀ): im2col of dY, then a
                        // gemm as wide as the forward one.
                        let gy = &g_out[bi * c.out_ch * hw_o + g * cout_g * hw_o..][..cout_g * hw_o];
                        im2col(gy, ct, cout_g, ho, wo, dcol);
                        let kk = cout_g * c.kernel * c.kernel;
                        let lhs = View::rows(&wf[g * cin_g * kk..(g + 1) * cin_g * kk], cin_g, kk);
                        matmul(lhs, View::rows(dcol, kk, h * w), target, h * w, true, 1);
                    } else {
                        matmul(wt, go, dcol, hw_o, false, 1);
                        col2im_add(dcol, &c, cin_g, h, w, target);
                    }
                    if relu {
                        let xg = &xd[bi * cin * h * w + g * cin_g * h * w..bi * cin * h * w + (g + 1) * cin_g * h * w];
                        let gxg = &mut gxb[g * cin_g * h * w..(g + 1) * cin_g * h * w];
                        for ((d, &t), &v) in gxg.iter_mut().zip(tmp.iter()).zip(xg) {
                            if v > 0.0 {
                                *d += t;
                            }
                        }
                    }
                }
            },
        );
        // Weight gradient: Σ over images of dOut × colᵀ.
        let wlen = c.weight_len();
        let gw = (0..b)
            .into_par_iter()
            .fold(
                || (vec![0.0f32; wlen], vec![0.0f32; col_len]),
                |(mut acc, mut col), bi| {
                    let xb = &xd[bi * cin * h * w..(bi + 1) * cin * h * w];
                    for g in 0..c.groups {
                        let xg = &xb[g * cin_g * h * w..(g + 1) * cin_g * h * w];
                        let colv = if c.pointwise() {
                            View::rows(xg, cin_g, hw_o)
                        } else {
                            im2col(xg, &c, cin_g, h, w, &mut col);
                            View::rows(&col, ck, hw_o)
                        };
                        let go = View::rows(&g_out[bi * c.out_ch * hw_o + g * cout_g * hw_o..], cout_g, hw_o);
                        matmul(go, colv.t(), &mut acc[g * cout_g * ck..], ck, true, 1);
                    }
                    (acc, col)
                },
            )
            .map(|(acc, _)| acc)
            .reduce(|| vec![0.0; wlen], |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            });
        vec![gw]
    })
}

/// Pooling geometry: square window, stride, zero padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Window size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on each side.
    pub padding: usize,
}

impl Pool {
    fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        let o = |n: usize| (n + 2 * self.padding - self.kernel) / self.stride + 1;
        (o(h), o(w))
    }

    /// The input window of output `(oy, ox)`, clipped to the image.
    fn window(&self, oy: usize, ox: usize, h: usize, w: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let y0 = (oy * self.stride) as isize - self.padding as isize;
        let x0 = (ox * self.stride) as isize - self.padding as isize;
        let clip = |a: isize, n: usize| (a.max(0) as usize)..((a + self.kernel as isize).min(n as isize).max(0) as usize);
        (clip(y0, h), clip(x0, w))
    }
}

/// For each output position along one axis: the clipped input window.
fn windows(n: usize, out: usize, p: Pool) -> Vec<std::ops::Range<usize>> {
    (0..out)
        .map(|o| {
            let start = (o * p.stride) as isize - p.padding as isize;
            let lo = start.max(0) as usize;
            let hi = ((start + p.kernel as isize).min(n as isize)).max(0) as usize;
            lo.min(hi)..hi
        })
        .collect()
}

/// Average pooling that divides by the number of in-image inputs
/// (PyTorch's `count_include_pad=False`, as NAS-Bench-201 uses). The window
/// sum is separable: rows first, then columns.
pub fn avg_pool2d<T: Tape<f32, Cpu>>(x: T4<T>, p: Pool) -> T4<T> {
    let (b, c, h, w) = *x.shape();
    let (ho, wo) = p.out_size(h, w);
    let (wy, wx) = (windows(h, ho, p), windows(w, wo, p));
    let xd = values(&x);
    let mut out = vec![0.0f32; b * c * ho * wo];
    out.par_chunks_mut(ho * wo).zip(xd.par_chunks(h * w)).for_each_init(
        || vec![0.0f32; h * wo],
        |rows, (o, xp)| {
            for y in 0..h {
                let src = &xp[y * w..(y + 1) * w];
                for (ox, r) in wx.iter().enumerate() {
                    rows[y * wo + ox] = src[r.clone()].iter().sum();
                }
            }
            for (oy, ry) in wy.iter().enumerate() {
                let dst = &mut o[oy * wo..(oy + 1) * wo];
                for y in ry.clone() {
                    dst.iter_mut().zip(&rows[y * wo..(y + 1) * wo]).for_each(|(d, s)| *d += s);
                }
                for (ox, d) in dst.iter_mut().enumerate() {
                    *d /= (ry.len() * wx[ox].len()).max(1) as f32;
                }
            }
        },
    );
    finish_op(x, (b, c, ho, wo), out, Vec::new(), move |g_out, g_x| {
        g_x.par_chunks_mut(h * w).zip(g_out.par_chunks(ho * wo)).for_each_init(
            || vec![0.0f32; h * wo],
            |rows, (gx, go)| {
                // Adjoint of the column pass, then of the row pass.
                rows.fill(0.0);
                for (oy, ry) in wy.iter().enumerate() {
                    for y in ry.clone() {
                        for ox in 0..wo {
                            rows[y * wo + ox] += go[oy * wo + ox] / (ry.len() * wx[ox].len()).max(1) as f32;
                        }
                    }
                }
                for y in 0..h {
                    let dst = &mut gx[y * w..(y + 1) * w];
                    for (ox, r) in wx.iter().enumerate() {
                        let g = rows[y * wo + ox];
                        dst[r.clone()].iter_mut().for_each(|d| *d += g);
                    }
                }
            },
        );
        Vec::new()
    })
}

/// Max pooling (padding never wins).
pub fn max_pool2d<T: Tape<f32, Cpu>>(x: T4<T>, p: Pool) -> T4<T> {
    let (b, c, h, w) = *x.shape();
    let (ho, wo) = p.out_size(h, w);
    let xd = values(&x);
    let mut out = vec![0.0f32; b * c * ho * wo];
    let mut arg = vec![0u32; b * c * ho * wo];
    out.par_chunks_mut(ho * wo).zip(arg.par_chunks_mut(ho * wo)).zip(xd.par_chunks(h * w)).for_each(|((o, a), xp)| {
        for oy in 0..ho {
            for ox in 0..wo {
                let (ys, xs) = p.window(oy, ox, h, w);
                let (mut best, mut at) = (f32::NEG_INFINITY, 0);
                for y in ys {
                    for x in xs.clone() {
                        if xp[y * w + x] > best {
                            (best, at) = (xp[y * w + x], y * w + x);
                        }
                    }
                }
                o[oy * wo + ox] = best;
                a[oy * wo + ox] = at as u32;
            }
        }
    });
    finish_op(x, (b, c, ho, wo), out, Vec::new(), move |g_out, g_x| {
        g_x.par_chunks_mut(h * w).zip(g_out.par_chunks(ho * wo)).zip(arg.par_chunks(ho * wo)).for_each(|((gx, go), a)| {
            for (g, &i) in go.iter().zip(a) {
                gx[i as usize] += g;
            }
        });
        Vec::new()
    })
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
    finish_op(x, (n, out_dim), out, params, move |g_out, g_x| {
        let go = View::rows(g_out, n, out_dim);
        matmul(go, View::rows(&wd, out_dim, in_dim), g_x, in_dim, true, threads);
        let mut gw = vec![0.0f32; out_dim * in_dim];
        matmul(go.t(), View::rows(&xd, n, in_dim), &mut gw, in_dim, false, threads);
        let mut gb = vec![0.0f32; out_dim];
        for row in g_out.chunks(out_dim) {
            gb.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        vec![gw, gb]
    })
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
    fn conv_gradients_match_finite_differences() {
        for c in [
            Conv::new(3, 4, 3, 1),
            Conv::new(3, 4, 3, 2),
            Conv::new(4, 6, 1, 1),
            Conv { in_ch: 4, out_ch: 4, kernel: 3, stride: 1, padding: 2, dilation: 2, groups: 4 },
            Conv { in_ch: 4, out_ch: 6, kernel: 5, stride: 2, padding: 2, dilation: 1, groups: 2 },
            Conv { in_ch: 4, out_ch: 6, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 2 },
            Conv { in_ch: 3, out_ch: 2, kernel: 3, stride: 1, padding: 0, dilation: 1, groups: 1 },
        ] {
            let err = grad_check((2, c.in_ch, 7, 6), &[c.weight_len()], 1e-2, &|x, p| conv2d(x, &p[0], c));
            assert!(err < 1e-3, "{c:?}: relative error {err}");
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
        let c = Conv { in_ch: 4, out_ch: 6, kernel: 3, stride: 2, padding: 1, dilation: 2, groups: 2 };
        let (b, h, w) = (2, 9, 8);
        let xv = random(&mut rng, b * 4 * h * w);
        let wv = random(&mut rng, c.weight_len());
        let x: T4<NoneTape> = dev.tensor_from_vec(xv.clone(), (b, 4, h, w));
        let wt: Param = dev.tensor_from_vec(wv.clone(), (wv.len(),));
        let y = conv2d(x, &wt, c).as_vec();
        let (ho, wo) = c.out_size(h, w);
        for bi in 0..b {
            for co in 0..6 {
                let g = co / 3;
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut s = 0.0f32;
                        for ci in 0..2 {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let iy = (oy * 2 + ky * 2) as isize - 1;
                                    let ix = (ox * 2 + kx * 2) as isize - 1;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                        let xi = ((bi * 4 + g * 2 + ci) * h + iy as usize) * w + ix as usize;
                                        s += xv[xi] * wv[((co * 2 + ci) * 3 + ky) * 3 + kx];
                                    }
                                }
                            }
                        }
                        let got = y[((bi * 6 + co) * ho + oy) * wo + ox];
                        assert!((got - s).abs() < 1e-4, "{got} vs {s}");
                    }
                }
            }
        }
    }

    #[test]
    fn pooling_gradients_match_finite_differences() {
        for p in [Pool { kernel: 3, stride: 1, padding: 1 }, Pool { kernel: 2, stride: 2, padding: 0 }] {
            let err = grad_check((2, 3, 6, 5), &[], 1e-2, &|x, _| avg_pool2d(x, p));
            assert!(err < 1e-3, "avg {p:?}: {err}");
            let err = grad_check((2, 3, 6, 5), &[], 1e-3, &|x, _| max_pool2d(x, p));
            assert!(err < 1e-3, "max {p:?}: {err}");
        }
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

    #[test]
    fn average_pooling_does_not_count_padding() {
        let dev = Cpu::default();
        let x: T4<NoneTape> = dev.tensor_from_vec(vec![1.0; 9], (1, 1, 3, 3));
        let y = avg_pool2d(x, Pool { kernel: 3, stride: 1, padding: 1 }).as_vec();
        assert!(y.iter().all(|&v| (v - 1.0).abs() < 1e-6), "{y:?}");
    }

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
    fn linear_gradients_match_finite_differences() {
        let err = grad_check((5, 3, 2, 2), &[4 * 12, 4], 1e-2, &|x, p| {
            let (b, c, h, w) = *x.shape();
            let flat = x.reshape_like(&(b, c * h * w));
            let y = linear(flat, &p[0], &p[1], 4);
            y.reshape_like(&(b, 4, 1, 1))
        });
        assert!(err < 1e-3, "{err}");
    }
}
