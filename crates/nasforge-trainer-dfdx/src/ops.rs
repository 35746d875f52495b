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

use crate::gemm::{View, matmul, matmul_strided};

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

/// The outputs `lo..hi` of a 1-d sliding window whose input
/// `o·stride + off` lies inside `0..n` (of `out` outputs).
fn valid_range(off: isize, stride: usize, n: usize, out: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if off >= 0 { 0 } else { ((-off + s - 1) / s) as usize };
    let last = n as isize - 1 - off; // largest o·stride that stays inside
    let hi = if last < 0 { 0 } else { ((last / s) as usize + 1).min(out) };
    (lo.min(hi), hi)
}

/// For kernel column `kx`: the output columns `lo..hi` whose input column
/// `ox * stride + off` lies inside the image, and that offset.
fn valid_cols(c: &Conv, kx: usize, w: usize, wo: usize) -> (usize, usize, isize) {
    let off = (kx * c.dilation) as isize - c.padding as isize;
    let (lo, hi) = valid_range(off, c.stride, w, wo);
    (lo, hi, off)
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
                    // A tap can miss the image entirely (a dilated kernel
                    // wider than a small input): nothing to copy.
                    if lo == hi {
                        continue;
                    }
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
                    if lo == hi {
                        continue;
                    }
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

/// A stride-1 convolution of one image as one gemm per kernel tap.
///
/// The input is zero-padded into `hp × wp` planes. Output position
/// `q = y·wp + x` of an *extended* output row (width `wp`, of which the
/// first `wo` columns are real) reads padded input `q + offset(tap)` in
/// every channel, so each tap is the product of the tap's weights with a
/// plain strided view of the padded input: no im2col copy, whose nine-fold
/// blow-up of the activation cost more than the products themselves. The
/// extended columns read across a row's end; they are dropped from outputs
/// and zeroed in output gradients.
#[derive(Clone, Copy, Debug)]
struct Shifted {
    cin: usize,
    cout: usize,
    kernel: usize,
    dilation: usize,
    pad: usize,
    h: usize,
    w: usize,
    hp: usize,
    wp: usize,
    ho: usize,
    wo: usize,
}

impl Shifted {
    fn new(cin: usize, cout: usize, kernel: usize, dilation: usize, pad: usize, h: usize, w: usize) -> Self {
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let span = dilation * (kernel - 1);
        Self { cin, cout, kernel, dilation, pad, h, w, hp, wp, ho: hp - span, wo: wp - span }
    }

    fn taps(&self) -> usize {
        self.kernel * self.kernel
    }

    fn offset(&self, tap: usize) -> usize {
        ((tap / self.kernel) * self.wp + tap % self.kernel) * self.dilation
    }

    /// The padded planes plus the overhang the last tap's extended
    /// columns read.
    fn padded_len(&self) -> usize {
        self.cin * self.hp * self.wp + self.dilation * (self.kernel - 1)
    }

    /// [`Shifted::padded_len`] for the position-major copy.
    fn transposed_len(&self) -> usize {
        (self.hp * self.wp + self.dilation * (self.kernel - 1)) * self.cin
    }

    /// The extended output: `cout × ho·wp`.
    fn extended_len(&self) -> usize {
        self.cout * self.ho * self.wp
    }

    /// `xp ← x (cin × h × w)` zero-padded, through a ReLU when `relu`.
    /// Only the interior is written: `xp` must start zeroed, and then
    /// serves image after image without clearing.
    fn pad(&self, x: &[f32], relu: bool, xp: &mut [f32]) {
        for (plane, src) in x.chunks_exact(self.w).enumerate() {
            let (ci, y) = (plane / self.h, plane % self.h);
            let at = (ci * self.hp + y + self.pad) * self.wp + self.pad;
            let dst = &mut xp[at..at + self.w];
            if relu {
                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v.max(0.0));
            } else {
                dst.copy_from_slice(src);
            }
        }
    }

    /// As [`Shifted::pad`] (`xt` starts zeroed too), position-major:
    /// `xt[p·cin + ci]`.
    fn pad_transposed(&self, x: &[f32], relu: bool, xt: &mut [f32]) {
        let cin = self.cin;
        for (plane, src) in x.chunks_exact(self.w).enumerate() {
            let (ci, y) = (plane / self.h, plane % self.h);
            let row = (y + self.pad) * self.wp + self.pad;
            for (x, &v) in src.iter().enumerate() {
                xt[(row + x) * cin + ci] = if relu { v.max(0.0) } else { v };
            }
        }
    }

    /// `ext (cout × ho·wp) = Σ_tap weight(tap) (cout × cin) × shifted xp`.
    fn forward<'w>(&self, xp: &[f32], weight: impl Fn(usize) -> View<'w>, ext: &mut [f32]) {
        let n = self.ho * self.wp;
        for tap in 0..self.taps() {
            let rhs = View { data: &xp[self.offset(tap)..], rows: self.cin, cols: n, row_stride: self.hp * self.wp, col_stride: 1 };
            matmul(weight(tap), rhs, ext, n, tap > 0, 1);
        }
    }

    /// `gw[co, ci, tap] += Σ_q dy_ext[co, q] · xt[(q + offset(tap))·cin + ci]`,
    /// with `gw` laid out `(cout, cin, k, k)`.
    fn weight_grad(&self, dy_ext: &[f32], xt: &[f32], gw: &mut [f32]) {
        let (n, taps) = (self.ho * self.wp, self.taps());
        let lhs = View::rows(dy_ext, self.cout, n);
        for tap in 0..taps {
            let rhs = View { data: &xt[self.offset(tap) * self.cin..], rows: n, cols: self.cin, row_stride: self.cin, col_stride: 1 };
            matmul_strided(lhs, rhs, &mut gw[tap..], self.cin * taps, taps, true, 1);
        }
    }

    /// `dy (cout × ho × wo)` into the extended layout, zero in the extra
    /// columns (they must not reach the weight gradient).
    fn extend(&self, dy: &[f32], ext: &mut [f32]) {
        for (dst, src) in ext.chunks_exact_mut(self.wp).zip(dy.chunks_exact(self.wo)) {
            dst[..self.wo].copy_from_slice(src);
            dst[self.wo..].fill(0.0);
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
    let (_, cin, _, _) = *x.shape();
    c.check(cin);
    assert_eq!(weight.shape().0, c.weight_len(), "conv weight length");
    // Stride-1 ungrouped convolutions (every cell conv) run as shifted
    // gemms, forward and backward; the input gradient is then itself a
    // stride-1 convolution, with padding `dilation·(k-1) - padding`.
    if c.stride == 1 && c.groups == 1 && !c.pointwise() && c.padding <= c.dilation * (c.kernel - 1) {
        conv2d_shifted(x, weight, c, relu)
    } else {
        conv2d_im2col(x, weight, c, relu)
    }
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

fn conv2d_shifted<T: Tape<f32, Cpu>>(x: T4<T>, weight: &Param, c: Conv, relu: bool) -> T4<T> {
    let (b, cin, h, w) = *x.shape();
    let (k, taps) = (c.kernel, c.kernel * c.kernel);
    let fwd = Shifted::new(cin, c.out_ch, k, c.dilation, c.padding, h, w);
    let (ho, wo) = (fwd.ho, fwd.wo);
    // The input gradient: dy padded, convolved with the flipped,
    // transposed kernel.
    let bwd = Shifted::new(c.out_ch, cin, k, c.dilation, c.dilation * (k - 1) - c.padding, ho, wo);
    debug_assert_eq!((bwd.ho, bwd.wo), (h, w));
    let xd = values(&x);
    let wd = values(weight);
    let (in_len, out_len) = (cin * h * w, c.out_ch * ho * wo);
    let mut out = vec![0.0f32; b * out_len];
    out.par_chunks_mut(out_len).zip(xd.par_chunks(in_len)).for_each_init(
        || (vec![0.0f32; fwd.padded_len()], vec![0.0f32; fwd.extended_len()]),
        |(xp, ext), (o, xb)| {
            fwd.pad(xb, relu, xp);
            // Tap (ky, kx) of W as a `cout × cin` matrix.
            fwd.forward(xp, |tap| View { data: &wd[tap..], rows: c.out_ch, cols: cin, row_stride: cin * taps, col_stride: taps }, ext);
            for (dst, src) in o.chunks_exact_mut(wo).zip(ext.chunks_exact(fwd.wp)) {
                dst.copy_from_slice(&src[..wo]);
            }
        },
    );
    let params = vec![weight.clone()];
    finish_op(x, (b, c.out_ch, ho, wo), out, params, move |g_out, g_x| {
        let scratch = || (vec![0.0f32; bwd.padded_len()], vec![0.0f32; bwd.extended_len().max(fwd.extended_len())], vec![0.0f32; fwd.transposed_len()]);
        let gw = conv_backward(g_x, in_len, c.weight_len(), scratch, |bi, gxb, (dyp, ext, xt), gw| {
            let (dy, xb) = (&g_out[bi * out_len..(bi + 1) * out_len], &xd[bi * in_len..(bi + 1) * in_len]);
            // Input gradient; tap t of the flipped kernel is tap k²-1-t of
            // W, read as `cin × cout`.
            bwd.pad(dy, false, dyp);
            let wt = |tap: usize| View { data: &wd[taps - 1 - tap..], rows: cin, cols: c.out_ch, row_stride: taps, col_stride: cin * taps };
            bwd.forward(dyp, wt, &mut ext[..bwd.extended_len()]);
            for ((gx, src), xr) in gxb.chunks_exact_mut(w).zip(ext.chunks_exact(bwd.wp)).zip(xb.chunks_exact(w)) {
                add_masked(gx, &src[..w], xr, relu);
            }
            // Weight gradient.
            fwd.extend(dy, &mut ext[..fwd.extended_len()]);
            fwd.pad_transposed(xb, relu, xt);
            fwd.weight_grad(&ext[..fwd.extended_len()], xt, gw);
        });
        vec![gw]
    })
}

fn conv2d_im2col<T: Tape<f32, Cpu>>(x: T4<T>, weight: &Param, c: Conv, relu: bool) -> T4<T> {
    let (b, cin, h, w) = *x.shape();
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
        let tmp_len = if relu { cin_g * h * w } else { 0 };
        let scratch = || (vec![0.0f32; col_len], vec![0.0f32; tmp_len]);
        let gw = conv_backward(g_x, cin * h * w, c.weight_len(), scratch, |bi, gxb, (col, tmp), gw| {
            let xb = &xd[bi * cin * h * w..(bi + 1) * cin * h * w];
            for g in 0..c.groups {
                let go = View::rows(&g_out[bi * c.out_ch * hw_o + g * cout_g * hw_o..], cout_g, hw_o);
                let wg = View::rows(&wd[g * cout_g * ck..(g + 1) * cout_g * ck], cout_g, ck);
                let (xg, gxg) = (&xb[g * cin_g * h * w..(g + 1) * cin_g * h * w], &mut gxb[g * cin_g * h * w..(g + 1) * cin_g * h * w]);
                // Input gradient: Wᵀ × dOut, folded back. With a fused ReLU
                // the contribution is masked, so it goes through a scratch
                // buffer first.
                let target: &mut [f32] = if relu {
                    tmp.fill(0.0);
                    tmp
                } else {
                    gxg
                };
                if c.pointwise() {
                    matmul(wg.t(), go, target, hw_o, true, 1);
                } else {
                    matmul(wg.t(), go, col, hw_o, false, 1);
                    col2im_add(col, &c, cin_g, h, w, target);
                }
                if relu {
                    add_masked(&mut gxb[g * cin_g * h * w..(g + 1) * cin_g * h * w], tmp, xg, true);
                }
                // Weight gradient: dOut × colᵀ.
                let colv = if c.pointwise() {
                    View::rows(xg, cin_g, hw_o)
                } else {
                    im2col(xg, &c, cin_g, h, w, col);
                    View::rows(col, ck, hw_o)
                };
                matmul(go, colv.t(), &mut gw[g * cout_g * ck..], ck, true, 1);
            }
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

/// The runs of a 1-d window sum over `n` inputs into `out` outputs: for
/// every tap `t`, `f(inputs, outputs)` with output `o` reading input
/// `o·stride + t − padding`, both ranges scaled by `rows` (elements that
/// move together: one image row when summing along columns). At stride 1
/// each tap is one contiguous run.
fn window_runs(p: Pool, n: usize, out: usize, rows: usize, mut f: impl FnMut(std::ops::Range<usize>, std::ops::Range<usize>)) {
    for t in 0..p.kernel {
        let off = t as isize - p.padding as isize;
        let (lo, hi) = valid_range(off, p.stride, n, out);
        let input = |o: usize| ((o * p.stride) as isize + off) as usize;
        if p.stride == 1 && lo < hi {
            f(input(lo) * rows..(input(lo) + hi - lo) * rows, lo * rows..hi * rows);
        } else {
            for o in lo..hi {
                f(input(o) * rows..(input(o) + 1) * rows, o * rows..(o + 1) * rows);
            }
        }
    }
}

fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

/// Average pooling that divides by the number of in-image inputs
/// (PyTorch's `count_include_pad=False`, as NAS-Bench-201 uses). The window
/// sum is separable: along rows, then along columns, each a few shifted
/// slice additions.
pub fn avg_pool2d<T: Tape<f32, Cpu>>(x: T4<T>, p: Pool) -> T4<T> {
    let (b, c, h, w) = *x.shape();
    let (ho, wo) = p.out_size(h, w);
    let count = |n: usize, o: usize| (0..p.kernel).filter(|&t| (o * p.stride + t).checked_sub(p.padding).is_some_and(|i| i < n)).count();
    let inv: Vec<f32> = (0..ho * wo).map(|i| 1.0 / (count(h, i / wo) * count(w, i % wo)).max(1) as f32).collect();
    let xd = values(&x);
    let mut out = vec![0.0f32; b * c * ho * wo];
    out.par_chunks_mut(ho * wo).zip(xd.par_chunks(h * w)).for_each_init(
        || vec![0.0f32; h * wo],
        |rows, (o, src)| {
            rows.fill(0.0);
            for (s, r) in src.chunks_exact(w).zip(rows.chunks_exact_mut(wo)) {
                window_runs(p, w, wo, 1, |si, ri| add_into(&mut r[ri], &s[si]));
            }
            window_runs(p, h, ho, wo, |ri, oi| add_into(&mut o[oi], &rows[ri]));
            o.iter_mut().zip(&inv).for_each(|(o, i)| *o *= i);
        },
    );
    finish_op(x, (b, c, ho, wo), out, Vec::new(), move |g_out, g_x| {
        g_x.par_chunks_mut(h * w).zip(g_out.par_chunks(ho * wo)).for_each_init(
            || (vec![0.0f32; ho * wo], vec![0.0f32; h * wo]),
            |(go, rows), (gx, g)| {
                // The adjoints, in reverse order.
                go.iter_mut().zip(g).zip(&inv).for_each(|((d, g), i)| *d = g * i);
                rows.fill(0.0);
                window_runs(p, h, ho, wo, |ri, oi| add_into(&mut rows[ri], &go[oi]));
                for (s, r) in gx.chunks_exact_mut(w).zip(rows.chunks_exact(wo)) {
                    window_runs(p, w, wo, 1, |si, ri| add_into(&mut s[si], &r[ri]));
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

    #[test]
    fn pooling_gradients_match_finite_differences() {
        for p in [Pool { kernel: 3, stride: 1, padding: 1 }, Pool { kernel: 2, stride: 2, padding: 0 }, Pool { kernel: 3, stride: 2, padding: 1 }] {
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
    fn average_pooling_matches_a_direct_average() {
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (h, w) = (7, 6);
        let xv = random(&mut rng, 2 * h * w);
        for p in [Pool { kernel: 3, stride: 1, padding: 1 }, Pool { kernel: 2, stride: 2, padding: 0 }, Pool { kernel: 3, stride: 2, padding: 1 }, Pool { kernel: 5, stride: 1, padding: 2 }] {
            let x: T4<NoneTape> = dev.tensor_from_vec(xv.clone(), (2, 1, h, w));
            let y = avg_pool2d(x, p).as_vec();
            let (ho, wo) = p.out_size(h, w);
            for (i, got) in y.iter().enumerate() {
                let (plane, oy, ox) = (i / (ho * wo), i / wo % ho, i % wo);
                let (ys, xs) = p.window(oy, ox, h, w);
                let n = (ys.len() * xs.len()) as f32;
                let want: f32 = ys.flat_map(|y| xs.clone().map(move |x| (y, x))).map(|(y, x)| xv[(plane * h + y) * w + x]).sum::<f32>() / n;
                assert!((got - want).abs() < 1e-5, "{p:?} at {i}: {got} vs {want}");
            }
        }
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
