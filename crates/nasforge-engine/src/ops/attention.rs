//! Attention over graph neighbourhoods: GAT's ([`gat_aggregate`]) and
//! the fused score-softmax-aggregate op of the Auto-GNN layers
//! ([`attend`], every [`Attention`] type and [`Aggregate`]), with the
//! mean over heads ([`mean_heads`]).
//!
//! Attention per head in [`attend`], with `L_i = a_l·h_i`, `R_j = a_r·h_j`
//! (Gao et al.'s correlation functions): `Const` 1; `Gcn` the adjacency's
//! value, 1/√(d̃_i d̃_j); `Gat` LeakyReLU(L_i + R_j); `SymGat` the sum of
//! both directions; `Cos` (a_l⊙h_i)·(a_r⊙h_j); `Linear` tanh(R_j);
//! `GeneralizedLinear` w·tanh(a_l⊙h_i + a_r⊙h_j). All but `Const` and
//! `Gcn` are normalised by a softmax over the neighbourhood. Scores,
//! softmax and aggregation are one op with a hand-written backward pass:
//! per-edge messages are never materialised.

use std::sync::Arc;

use dfdx::prelude::*;

use super::{Param, Sparse, T2, finish_op, values};

/// GAT aggregation over `adj` (self loops included): for each head,
/// `α_ij = softmax_j LeakyReLU(a_dst·h_i + a_src·h_j)` and
/// `out_i = Σ_j α_ij h_j`; heads are concatenated.
pub fn gat_aggregate<T: Tape<f32, Cpu>>(h: T2<T>, a_src: &Param, a_dst: &Param, adj: &Arc<Sparse>, heads: usize) -> T2<T> {
    let (n, f) = *h.shape();
    let d = f / heads;
    let hd = values(&h);
    let (asv, adv) = (values(a_src), values(a_dst));
    let dot = |i: usize, k: usize, a: &[f32]| -> f32 { (0..d).map(|c| hd[i * f + k * d + c] * a[k * d + c]).sum() };
    let src: Vec<f32> = (0..n * heads).map(|ik| dot(ik / heads, ik % heads, &asv)).collect();
    let dst: Vec<f32> = (0..n * heads).map(|ik| dot(ik / heads, ik % heads, &adv)).collect();
    // Attention per edge (CSR order) and head.
    let mut alpha = vec![0.0f32; adj.indices.len() * heads];
    for i in 0..n {
        let (lo, hi) = (adj.indptr[i], adj.indptr[i + 1]);
        for k in 0..heads {
            let z = |e: usize| {
                let v = dst[i * heads + k] + src[adj.indices[e] as usize * heads + k];
                if v > 0.0 { v } else { 0.2 * v }
            };
            let m = (lo..hi).map(z).fold(f32::NEG_INFINITY, f32::max);
            let total: f32 = (lo..hi).map(|e| (z(e) - m).exp()).sum();
            for e in lo..hi {
                alpha[e * heads + k] = (z(e) - m).exp() / total;
            }
        }
    }
    let mut out = vec![0.0f32; n * f];
    for i in 0..n {
        for e in adj.indptr[i]..adj.indptr[i + 1] {
            let j = adj.indices[e] as usize;
            for k in 0..heads {
                let a = alpha[e * heads + k];
                for c in 0..d {
                    out[i * f + k * d + c] += a * hd[j * f + k * d + c];
                }
            }
        }
    }
    let adj = adj.clone();
    let params = vec![a_src.clone(), a_dst.clone()];
    finish_op(h, (n, f), out, params, move |g, gh| {
        let (mut ga_src, mut ga_dst) = (vec![0.0f32; f], vec![0.0f32; f]);
        let (mut ds, mut dt) = (vec![0.0f32; n * heads], vec![0.0f32; n * heads]);
        for i in 0..n {
            let (lo, hi) = (adj.indptr[i], adj.indptr[i + 1]);
            for k in 0..heads {
                let gi = &g[i * f + k * d..i * f + (k + 1) * d];
                // dα_ij = g_i · h_j, then through the softmax.
                let dalpha: Vec<f32> = (lo..hi)
                    .map(|e| {
                        let j = adj.indices[e] as usize;
                        gi.iter().zip(&hd[j * f + k * d..j * f + (k + 1) * d]).map(|(a, b)| a * b).sum()
                    })
                    .collect();
                let mean: f32 = (lo..hi).zip(&dalpha).map(|(e, da)| alpha[e * heads + k] * da).sum();
                for (e, da) in (lo..hi).zip(&dalpha) {
                    let j = adj.indices[e] as usize;
                    let a = alpha[e * heads + k];
                    for c in 0..d {
                        gh[j * f + k * d + c] += a * gi[c];
                    }
                    let z = dst[i * heads + k] + src[j * heads + k];
                    let dz = a * (da - mean) * if z > 0.0 { 1.0 } else { 0.2 };
                    dt[i * heads + k] += dz;
                    ds[j * heads + k] += dz;
                }
            }
        }
        for i in 0..n {
            for k in 0..heads {
                for c in 0..d {
                    let (x, at) = (i * f + k * d + c, k * d + c);
                    gh[x] += dt[i * heads + k] * adv[at] + ds[i * heads + k] * asv[at];
                    ga_dst[at] += dt[i * heads + k] * hd[x];
                    ga_src[at] += ds[i * heads + k] * hd[x];
                }
            }
        }
        vec![ga_src, ga_dst]
    })
}

/// An attention (correlation) type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attention {
    /// 1.
    Const,
    /// GCN's symmetric normalisation.
    Gcn,
    /// GAT's.
    Gat,
    /// GAT's, both directions summed.
    SymGat,
    /// Cosine-like product.
    Cos,
    /// tanh of the neighbour's score.
    Linear,
    /// A learned combination of tanh terms.
    GeneralizedLinear,
}

impl Attention {
    fn softmax(self) -> bool {
        !matches!(self, Self::Const | Self::Gcn)
    }

    /// Which of `a_l`, `a_r`, `w` it learns.
    pub fn vectors(self) -> [bool; 3] {
        match self {
            Self::Const | Self::Gcn => [false; 3],
            Self::Gat | Self::SymGat | Self::Cos => [true, true, false],
            Self::Linear => [false, true, false],
            Self::GeneralizedLinear => [true; 3],
        }
    }
}

/// How weighted neighbours are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// Σ.
    Sum,
    /// Σ / neighbourhood size.
    Mean,
    /// Element-wise max.
    Max,
}

const LEAK: f32 = 0.2;

fn leaky(z: f32) -> f32 {
    if z > 0.0 { z } else { LEAK * z }
}

fn leaky_grad(z: f32) -> f32 {
    if z > 0.0 { 1.0 } else { LEAK }
}

/// Attention-weighted aggregation over `adj`'s neighbourhoods (its pattern;
/// its values are the `Gcn` weights). `h` is `(n, heads·f)`; `vectors` are
/// `a_l`, `a_r`, `w` (each `heads·f`; those the type does not learn are
/// ignored and get a zero gradient).
pub fn attend<T: Tape<f32, Cpu>>(h: T2<T>, vectors: [&Param; 3], attention: Attention, aggregate: Aggregate, adj: &Arc<Sparse>, heads: usize) -> T2<T> {
    let (n, hf) = *h.shape();
    let f = hf / heads;
    let hd = values(&h);
    let [al, ar, w] = vectors.map(values);
    let e_count = adj.indices.len();
    let dot = |v: &[f32], i: usize, k: usize| -> f32 { (0..f).map(|c| hd[i * hf + k * f + c] * v[k * f + c]).sum() };
    let [use_l, use_r, _] = attention.vectors();
    let node = |used: bool, v: &[f32]| -> Vec<f32> { if used { (0..n * heads).map(|ik| dot(v, ik / heads, ik % heads)).collect() } else { Vec::new() } };
    let (left, right) = (node(use_l, &al), node(use_r, &ar));
    // Raw scores per edge (CSR order) and head.
    let mut score = vec![0.0f32; e_count * heads];
    for i in 0..n {
        for e in adj.indptr[i]..adj.indptr[i + 1] {
            let j = adj.indices[e] as usize;
            for k in 0..heads {
                let (hi, hj) = (&hd[i * hf + k * f..i * hf + (k + 1) * f], &hd[j * hf + k * f..j * hf + (k + 1) * f]);
                let a = |v: &[f32], c: usize| v[k * f + c];
                score[e * heads + k] = match attention {
                    Attention::Const => 1.0,
                    Attention::Gcn => adj.values[e],
                    Attention::Gat => leaky(left[i * heads + k] + right[j * heads + k]),
                    Attention::SymGat => leaky(left[i * heads + k] + right[j * heads + k]) + leaky(left[j * heads + k] + right[i * heads + k]),
                    Attention::Cos => (0..f).map(|c| a(&al, c) * hi[c] * a(&ar, c) * hj[c]).sum(),
                    Attention::Linear => right[j * heads + k].tanh(),
                    Attention::GeneralizedLinear => (0..f).map(|c| a(&w, c) * (a(&al, c) * hi[c] + a(&ar, c) * hj[c]).tanh()).sum(),
                };
            }
        }
    }
    let mut alpha = score.clone();
    if attention.softmax() {
        for i in 0..n {
            let (lo, hi) = (adj.indptr[i], adj.indptr[i + 1]);
            for k in 0..heads {
                let m = (lo..hi).map(|e| score[e * heads + k]).fold(f32::NEG_INFINITY, f32::max);
                let total: f32 = (lo..hi).map(|e| (score[e * heads + k] - m).exp()).sum();
                for e in lo..hi {
                    alpha[e * heads + k] = (score[e * heads + k] - m).exp() / total;
                }
            }
        }
    }
    let scale: Vec<f32> = (0..n)
        .map(|i| if aggregate == Aggregate::Mean { 1.0 / (adj.indptr[i + 1] - adj.indptr[i]).max(1) as f32 } else { 1.0 })
        .collect();
    let mut out = vec![0.0f32; n * hf];
    // For max: the edge each output element came from.
    let mut arg = if aggregate == Aggregate::Max { vec![usize::MAX; n * hf] } else { Vec::new() };
    for i in 0..n {
        for e in adj.indptr[i]..adj.indptr[i + 1] {
            let j = adj.indices[e] as usize;
            for k in 0..heads {
                let a = alpha[e * heads + k] * scale[i];
                for c in k * f..(k + 1) * f {
                    let v = a * hd[j * hf + c];
                    if aggregate != Aggregate::Max {
                        out[i * hf + c] += v;
                    } else if arg[i * hf + c] == usize::MAX || v > out[i * hf + c] {
                        out[i * hf + c] = v;
                        arg[i * hf + c] = e;
                    }
                }
            }
        }
    }
    let adj = adj.clone();
    let params: Vec<Param> = vectors.iter().map(|&p| p.clone()).collect();
    finish_op(h, (n, hf), out, params, move |g, gh| {
        // dα per edge and head, and the direct path into h.
        let mut dalpha = vec![0.0f32; e_count * heads];
        for i in 0..n {
            for e in adj.indptr[i]..adj.indptr[i + 1] {
                let j = adj.indices[e] as usize;
                for k in 0..heads {
                    let a = alpha[e * heads + k] * scale[i];
                    let mut da = 0.0;
                    for c in k * f..(k + 1) * f {
                        if aggregate == Aggregate::Max && arg[i * hf + c] != e {
                            continue;
                        }
                        gh[j * hf + c] += a * g[i * hf + c];
                        da += g[i * hf + c] * hd[j * hf + c];
                    }
                    dalpha[e * heads + k] = da * scale[i];
                }
            }
        }
        let [mut gal, mut gar, mut gw] = [al.len(), ar.len(), w.len()].map(|l| vec![0.0f32; l]);
        if !attention.vectors().contains(&true) {
            return vec![gal, gar, gw];
        }
        // Through the softmax to the raw scores.
        let mut dscore = dalpha;
        for i in 0..n {
            let (lo, hi) = (adj.indptr[i], adj.indptr[i + 1]);
            for k in 0..heads {
                let mean: f32 = (lo..hi).map(|e| alpha[e * heads + k] * dscore[e * heads + k]).sum();
                for e in lo..hi {
                    dscore[e * heads + k] = alpha[e * heads + k] * (dscore[e * heads + k] - mean);
                }
            }
        }
        // Through the score functions: node scores first, then h and the
        // vectors.
        let (mut dleft, mut dright) = (vec![0.0f32; n * heads], vec![0.0f32; n * heads]);
        for i in 0..n {
            for e in adj.indptr[i]..adj.indptr[i + 1] {
                let j = adj.indices[e] as usize;
                for k in 0..heads {
                    let ds = dscore[e * heads + k];
                    let (ik, jk) = (i * heads + k, j * heads + k);
                    match attention {
                        Attention::Gat => {
                            let dz = ds * leaky_grad(left[ik] + right[jk]);
                            dleft[ik] += dz;
                            dright[jk] += dz;
                        }
                        Attention::SymGat => {
                            let dz = ds * leaky_grad(left[ik] + right[jk]);
                            dleft[ik] += dz;
                            dright[jk] += dz;
                            let dz = ds * leaky_grad(left[jk] + right[ik]);
                            dleft[jk] += dz;
                            dright[ik] += dz;
                        }
                        Attention::Linear => dright[jk] += ds * (1.0 - score[e * heads + k].powi(2)),
                        Attention::Cos => {
                            for c in k * f..(k + 1) * f {
                                let (hi, hj) = (hd[i * hf + c], hd[j * hf + c]);
                                gh[i * hf + c] += ds * al[c] * ar[c] * hj;
                                gh[j * hf + c] += ds * al[c] * ar[c] * hi;
                                gal[c] += ds * ar[c] * hi * hj;
                                gar[c] += ds * al[c] * hi * hj;
                            }
                        }
                        Attention::GeneralizedLinear => {
                            for c in k * f..(k + 1) * f {
                                let (hi, hj) = (hd[i * hf + c], hd[j * hf + c]);
                                let t = (al[c] * hi + ar[c] * hj).tanh();
                                gw[c] += ds * t;
                                let du = ds * w[c] * (1.0 - t * t);
                                gh[i * hf + c] += du * al[c];
                                gh[j * hf + c] += du * ar[c];
                                gal[c] += du * hi;
                                gar[c] += du * hj;
                            }
                        }
                        Attention::Const | Attention::Gcn => unreachable!("no learned vectors"),
                    }
                }
            }
        }
        if matches!(attention, Attention::Gat | Attention::SymGat | Attention::Linear) {
            for i in 0..n {
                for k in 0..heads {
                    for c in k * f..(k + 1) * f {
                        let x = i * hf + c;
                        if use_l {
                            gh[x] += dleft[i * heads + k] * al[c];
                            gal[c] += dleft[i * heads + k] * hd[x];
                        }
                        gh[x] += dright[i * heads + k] * ar[c];
                        gar[c] += dright[i * heads + k] * hd[x];
                    }
                }
            }
        }
        vec![gal, gar, gw]
    })
}

/// The mean over `heads` column blocks of `x` (`(n, heads·f)` → `(n, f)`).
pub fn mean_heads<T: Tape<f32, Cpu>>(x: T2<T>, heads: usize) -> T2<T> {
    let (n, hf) = *x.shape();
    let f = hf / heads;
    let xd = values(&x);
    let out: Vec<f32> = (0..n * f).map(|o| (0..heads).map(|k| xd[(o / f) * hf + k * f + o % f]).sum::<f32>() / heads as f32).collect();
    finish_op(x, (n, f), out, Vec::new(), move |g, gx| {
        for (o, go) in g.iter().enumerate() {
            for k in 0..heads {
                gx[(o / f) * hf + k * f + o % f] += go / heads as f32;
            }
        }
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::sparse::tests::tiny_graph;
    use crate::ops::tests::grad_check;

    #[test]
    fn gat_matches_finite_differences() {
        let g = tiny_graph();
        let err = grad_check((5, 4), &[4, 4], 1e-3, &|x, p| gat_aggregate(x, &p[0], &p[1], &g.with_self, 2));
        assert!(err < 1e-3, "gat: {err}");
    }

    #[test]
    fn attention_rows_are_a_softmax() {
        let g = tiny_graph();
        let dev = Cpu::default();
        // Constant features: every neighbour gets the same weight, so the
        // output equals the input.
        let h: T2<NoneTape> = dev.tensor_from_vec(vec![1.0; 5 * 4], (5, 4));
        let a: Param = dev.tensor_from_vec(vec![0.3; 4], (4,));
        let out = values(&gat_aggregate(h, &a, &a, &g.with_self, 2));
        assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-5), "{out:?}");
    }

    #[test]
    fn every_attention_and_aggregator_matches_finite_differences() {
        let g = tiny_graph();
        let attentions =
            [Attention::Const, Attention::Gcn, Attention::Gat, Attention::SymGat, Attention::Cos, Attention::Linear, Attention::GeneralizedLinear];
        for attention in attentions {
            // Unused vectors get one element (dfdx cannot read back an
            // empty tensor's gradient) and must be ignored.
            let lens = attention.vectors().map(|v| if v { 6 } else { 1 });
            for aggregate in [Aggregate::Sum, Aggregate::Mean, Aggregate::Max] {
                let err = grad_check((5, 6), &lens, 1e-3, &|x, p| attend(x, [&p[0], &p[1], &p[2]], attention, aggregate, &g.gcn, 2));
                assert!(err < 1e-3, "{attention:?}, {aggregate:?}: relative error {err}");
            }
        }
    }

    #[test]
    fn mean_heads_matches_finite_differences() {
        let err = grad_check((5, 6), &[], 1e-2, &|x, _| mean_heads(x, 3));
        assert!(err < 1e-3, "{err}");
    }
}
