//! Strided, grouped and pointwise convolutions: each image's receptive
//! fields copied into columns (im2col; pointwise convolutions read the
//! input directly), then one gemm per image and group.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{Conv, add_masked, conv_backward};
use crate::gemm::{View, matmul};
use crate::ops::{Param, T4, finish_op, valid_range, values};

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

pub(super) fn conv2d_im2col<T: Tape<f32, Cpu>>(x: T4<T>, weight: &Param, c: Conv, relu: bool) -> T4<T> {
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
