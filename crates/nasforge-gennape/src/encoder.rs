//! The graph encoder: GENNAPE's k-GNN (`run_cg_kgnn_predictor.py`):
//! an embedding of each node's features, 6 `GraphConv` layers of width 32
//! (`x_i' = W_root x_i + W_rel Σ_{j → i} x_j`, PyG's default sum over the
//! node's inputs), tanh after every layer, and the mean over nodes as the
//! graph's embedding. GENNAPE embeds the op index and the shape vector
//! separately and concatenates; here one linear layer reads their
//! concatenation (the one-hot op and the five shape numbers), which is the
//! same family of maps.

use std::sync::Arc;

use nasforge_core::seeded_rng;
use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::{Sparse, select_rows, spmm};
use nasforge_engine::params::{Dense, ParamStore};
use nasforge_engine::{Param, T2};

use crate::cg::{Cg, CgNode};

/// A batch of graphs as one block-diagonal graph.
pub struct GraphBatch {
    x: Vec<f32>,
    nodes: usize,
    graphs: usize,
    adj: Arc<Sparse>,
    pool: Arc<Sparse>,
    first: Arc<Vec<u32>>,
}

impl GraphBatch {
    /// The batch of `cgs`.
    ///
    /// # Panics
    /// When a graph has no node ([`crate::cg::lower`] never makes one).
    pub fn new(cgs: &[&Cg]) -> Self {
        assert!(cgs.iter().all(|g| !g.nodes.is_empty()), "a graph without nodes has no embedding");
        let nodes: usize = cgs.iter().map(|g| g.nodes.len()).sum();
        let mut x = Vec::with_capacity(nodes * CgNode::WIDTH);
        let (mut adj, mut pool) = (Vec::new(), Vec::new());
        let mut offset = 0u32;
        for (g, cg) in cgs.iter().enumerate() {
            for n in &cg.nodes {
                x.extend_from_slice(&n.features());
            }
            for &(a, b) in &cg.edges {
                adj.push((offset + b as u32, offset + a as u32, 1.0));
            }
            let share = 1.0 / cg.nodes.len().max(1) as f32;
            for i in 0..cg.nodes.len() as u32 {
                pool.push((g as u32, offset + i, share));
            }
            offset += cg.nodes.len() as u32;
        }
        GraphBatch {
            x,
            nodes,
            graphs: cgs.len(),
            adj: Arc::new(Sparse::from_triplets(nodes, adj, true)),
            pool: Arc::new(Sparse::from_triplets(nodes, pool, true)),
            first: Arc::new((0..cgs.len() as u32).collect()),
        }
    }

    /// Graphs in the batch.
    pub fn len(&self) -> usize {
        self.graphs
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.graphs == 0
    }
}

/// The encoder's size.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderConfig {
    /// GraphConv layers (6).
    pub layers: usize,
    /// Width of every layer and of the embedding (32).
    pub hidden: usize,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig { layers: 6, hidden: 32 }
    }
}

/// The encoder's parameters.
#[derive(Clone)]
pub struct Encoder {
    /// Its parameters (trained by the model).
    pub store: ParamStore,
    embed: Dense,
    convs: Vec<(Dense, Dense)>,
    hidden: usize,
}

impl Encoder {
    /// A freshly initialised encoder: weights U(±1/√fan_in) as PyTorch's
    /// default, biases zero; the root map has a bias PyG's `lin_root`
    /// lacks (it adds to the neighbours' bias).
    pub fn new(config: &EncoderConfig, seed: u64) -> Self {
        let mut rng = seeded_rng(seed);
        let mut store = ParamStore::new(Cpu::default());
        let h = config.hidden;
        let embed = store.dense("embed", CgNode::WIDTH, h, 1.0 / (CgNode::WIDTH as f32).sqrt(), &mut rng);
        let convs = (0..config.layers)
            .map(|l| {
                let bound = 1.0 / (h as f32).sqrt();
                (store.dense(&format!("conv{l}.root"), h, h, bound, &mut rng), store.dense(&format!("conv{l}.rel"), h, h, bound, &mut rng))
            })
            .collect();
        Encoder { store, embed, convs, hidden: h }
    }

    /// The embedding width.
    pub fn width(&self) -> usize {
        self.hidden
    }

    /// The parameters, for an optimiser.
    pub fn params_mut(&mut self) -> &mut [Param] {
        &mut self.store.params
    }

    /// The graphs' embeddings `(graphs, hidden)` on `tape`.
    pub fn forward<T: Tape<f32, Cpu> + Merge<T>>(&self, batch: &GraphBatch, tape: T) -> T2<T> {
        let dev = self.store.device().clone();
        let x = dev.tensor_from_vec(batch.x.clone(), (batch.nodes, CgNode::WIDTH)).put_tape(tape);
        let mut h = self.embed.apply(&self.store, x);
        for (root, rel) in &self.convs {
            let own = root.apply(&self.store, h.with_empty_tape());
            let neighbours = rel.apply(&self.store, spmm(h, &batch.adj));
            h = (own + neighbours).tanh();
        }
        select_rows(spmm(h, &batch.pool), &batch.first)
    }

    /// Embeddings of `cgs` without a tape, in batches of 256.
    pub fn embed(&self, cgs: &[Cg]) -> Vec<Vec<f32>> {
        let mut out = Vec::with_capacity(cgs.len());
        for chunk in cgs.chunks(256) {
            let refs: Vec<&Cg> = chunk.iter().collect();
            let e = self.forward(&GraphBatch::new(&refs), NoneTape).as_vec();
            out.extend(e.chunks(self.hidden).map(<[f32]>::to_vec));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;

    use super::*;
    use crate::cg::{lower, rewrite};

    #[test]
    fn embeddings_do_not_depend_on_node_order_or_batch_company() {
        let space = nasforge_space_nb201::Nb201Space;
        let mut rng = seeded_rng(4);
        let cgs: Vec<Cg> = (0..5).map(|_| lower(&space.to_graph(&space.sample(&mut rng)))).collect();
        let enc = Encoder::new(&EncoderConfig::default(), 1);
        let together = enc.embed(&cgs);
        let alone = enc.embed(&cgs[2..3]);
        let relabelled = enc.embed(&[rewrite(&cgs[2], 0.0, &mut rng)]);
        for k in 0..enc.width() {
            assert!((together[2][k] - alone[0][k]).abs() < 1e-5);
            assert!((relabelled[0][k] - alone[0][k]).abs() < 1e-5);
        }
        assert!(together[0] != together[1]);
    }
}
