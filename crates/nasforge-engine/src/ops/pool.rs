//! Pooling: [`avg_pool2d`] (padding not counted), [`max_pool2d`] and
//! [`global_avg_pool`].

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{T2, T4, add_into, finish_op, valid_range, values};
use crate::probe;

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

/// The mean over each channel's plane, `(B, C, H, W)` to `(B, C)` (dfdx's
/// `mean`); its input is what Zen-NAS scores, so the probe may keep it.
pub fn global_avg_pool<T: Tape<f32, Cpu>>(x: T4<T>) -> T2<T> {
    let (b, c, h, w) = *x.shape();
    probe::keep_pooled_with(|| (values(&x), [b, c, h, w]));
    x.mean::<(usize, usize), Axes2<2, 3>>()
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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::ops::tests::{grad_check, random};

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
}
