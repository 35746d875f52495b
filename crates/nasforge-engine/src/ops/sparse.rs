//! Sparse aggregation: the CSR matrix [`Sparse`], products with it
//! ([`spmm`]), and the row gather [`select_rows`].

use std::sync::Arc;

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{T2, finish_op, values};

/// A sparse matrix in CSR form, with its transpose for the backward pass.
#[derive(Clone, Debug)]
pub struct Sparse {
    pub(crate) n: usize,
    pub(crate) indptr: Vec<usize>,
    pub(crate) indices: Vec<u32>,
    pub(crate) values: Vec<f32>,
    transpose: Option<Box<Sparse>>,
}

impl Sparse {
    /// The `n × n` matrix with entries `(row, column, value)`; with
    /// `with_transpose`, also its transpose, which [`spmm`]'s backward pass
    /// needs (attention reads only the pattern and values).
    pub fn from_triplets(n: usize, mut t: Vec<(u32, u32, f32)>, with_transpose: bool) -> Self {
        t.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0usize; n + 1];
        for &(r, _, _) in &t {
            indptr[r as usize + 1] += 1;
        }
        for i in 0..n {
            indptr[i + 1] += indptr[i];
        }
        let transpose = with_transpose
            .then(|| Box::new(Sparse::from_triplets(n, t.iter().map(|&(r, c, v)| (c, r, v)).collect(), false)));
        Sparse { n, indptr, indices: t.iter().map(|e| e.1).collect(), values: t.iter().map(|e| e.2).collect(), transpose }
    }

    fn row(&self, i: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        (self.indptr[i]..self.indptr[i + 1]).map(move |k| (self.indices[k] as usize, self.values[k]))
    }

    /// `out += self × x` for `x` with `f` columns.
    fn mul_add(&self, x: &[f32], f: usize, out: &mut [f32]) {
        out.par_chunks_mut(f).enumerate().for_each(|(i, o)| {
            for (j, v) in self.row(i) {
                o.iter_mut().zip(&x[j * f..(j + 1) * f]).for_each(|(o, x)| *o += v * x);
            }
        });
    }
}

/// `adj × x`: aggregation over neighbours.
pub fn spmm<T: Tape<f32, Cpu>>(x: T2<T>, adj: &Arc<Sparse>) -> T2<T> {
    let (n, f) = *x.shape();
    assert_eq!(n, adj.n, "spmm rows");
    let xd = values(&x);
    let mut out = vec![0.0f32; n * f];
    adj.mul_add(&xd, f, &mut out);
    let adj = adj.clone();
    finish_op(x, (n, f), out, Vec::new(), move |g, gx| {
        adj.transpose.as_ref().expect("built with its transpose").mul_add(g, f, gx);
        Vec::new()
    })
}

/// The rows `idx` of `x`.
pub fn select_rows<T: Tape<f32, Cpu>>(x: T2<T>, idx: &Arc<Vec<u32>>) -> T2<T> {
    let (_, f) = *x.shape();
    let xd = values(&x);
    let out = idx.iter().flat_map(|&i| xd[i as usize * f..(i as usize + 1) * f].iter().copied()).collect();
    let idx = idx.clone();
    finish_op(x, (idx.len(), f), out, Vec::new(), move |g, gx| {
        for (r, &i) in idx.iter().enumerate() {
            gx[i as usize * f..(i as usize + 1) * f].iter_mut().zip(&g[r * f..(r + 1) * f]).for_each(|(d, g)| *d += g);
        }
        Vec::new()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::tests::grad_check;

    /// The adjacencies of a 5-node, 6-edge undirected graph, normalised as
    /// the GNNs normalise theirs.
    pub(crate) struct TinyGraph {
        /// D̃^-1/2 (A + I) D̃^-1/2.
        pub gcn: Arc<Sparse>,
        /// D^-1/2 A D^-1/2.
        pub sym: Arc<Sparse>,
        /// A.
        pub sum: Arc<Sparse>,
        /// D^-1 A (not symmetric).
        pub mean: Arc<Sparse>,
        /// A + I, pattern only, without its transpose.
        pub with_self: Arc<Sparse>,
    }

    pub(crate) fn tiny_graph() -> TinyGraph {
        let n = 5;
        let edges = [(0u32, 1u32), (1, 2), (2, 3), (3, 4), (0, 4), (1, 3)];
        let mut deg = vec![0f32; n];
        for &(u, v) in &edges {
            deg[u as usize] += 1.0;
            deg[v as usize] += 1.0;
        }
        let both = |f: &dyn Fn(usize, usize) -> f32| -> Vec<(u32, u32, f32)> {
            edges.iter().flat_map(|&(u, v)| [(u, v, f(u as usize, v as usize)), (v, u, f(v as usize, u as usize))]).collect()
        };
        let inv_sqrt = |d: f32| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 };
        let mut gcn = both(&|u, v| inv_sqrt(deg[u] + 1.0) * inv_sqrt(deg[v] + 1.0));
        gcn.extend((0..n as u32).map(|i| (i, i, 1.0 / (deg[i as usize] + 1.0))));
        let mut with_self = both(&|_, _| 1.0);
        with_self.extend((0..n as u32).map(|i| (i, i, 1.0)));
        TinyGraph {
            gcn: Arc::new(Sparse::from_triplets(n, gcn, true)),
            sym: Arc::new(Sparse::from_triplets(n, both(&|u, v| inv_sqrt(deg[u]) * inv_sqrt(deg[v])), true)),
            sum: Arc::new(Sparse::from_triplets(n, both(&|_, _| 1.0), true)),
            mean: Arc::new(Sparse::from_triplets(n, both(&|u, _| if deg[u] > 0.0 { 1.0 / deg[u] } else { 0.0 }), true)),
            with_self: Arc::new(Sparse::from_triplets(n, with_self, false)),
        }
    }

    #[test]
    fn spmm_and_select_rows_match_finite_differences() {
        let g = tiny_graph();
        for a in [&g.gcn, &g.sym, &g.sum, &g.mean] {
            let err = grad_check((5, 4), &[], 1e-3, &|x, _| spmm(x, a));
            assert!(err < 1e-3, "{err}");
        }
        let idx = Arc::new(vec![3u32, 0, 3]);
        let err = grad_check((5, 2), &[], 1e-3, &|x, _| select_rows(x, &idx));
        assert!(err < 1e-3, "{err}");
    }

    #[test]
    fn triplets_become_sorted_rows_and_a_transpose() {
        let m = Sparse::from_triplets(3, vec![(2, 0, 5.0), (0, 2, 1.0), (0, 1, 2.0)], true);
        assert_eq!((m.indptr.clone(), m.indices.clone(), m.values.clone()), (vec![0, 2, 2, 3], vec![1, 2, 0], vec![2.0, 1.0, 5.0]));
        let t = m.transpose.as_ref().unwrap();
        assert_eq!((t.indptr.clone(), t.indices.clone(), t.values.clone()), (vec![0, 1, 2, 3], vec![2, 0, 0], vec![5.0, 2.0, 1.0]));
    }
}
