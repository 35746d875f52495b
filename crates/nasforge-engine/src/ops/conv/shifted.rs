//! Stride-1 ungrouped convolutions as one gemm per kernel tap, forward and
//! backward (the input gradient is itself such a convolution).

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{Conv, add_masked, conv_backward};
use crate::gemm::{View, matmul, matmul_strided};
use crate::ops::{Param, T4, finish_op, values};

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

pub(super) fn conv2d_shifted<T: Tape<f32, Cpu>>(x: T4<T>, weight: &Param, c: Conv, relu: bool) -> T4<T> {
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
