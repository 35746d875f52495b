//! Networks at initialisation as the proxies see them: the dfdx network of
//! every space that has one, behind one trait.

use std::sync::Arc;

use nasforge_engine::dfdx::prelude::*;
use nasforge_core::SearchSpace;
use nasforge_engine::ops::{T2, select_rows};
use nasforge_engine::params::ParamStore;
use nasforge_registry::{DynArch, ErasedSpace};
use nasforge_space_autognn::{AutoGnnSpace, GnnLayer};
use nasforge_space_darts::{DartsSpace, Genotype};
use nasforge_space_mobilenet::{MbNet, MobileNetSpace};
use nasforge_space_nb201::{Cell, Nb201Space};
use nasforge_space_nbgraph::{GnnCell, NbGraphSpace};
use nasforge_space_transformer::{Encoder, TransformerSpace};
use nasforge_trainer_dfdx::autognn::AutoGnnNet;
use nasforge_trainer_dfdx::gnn::{Adjacency, GnnNet, GnnShape, GraphClassifier};
use nasforge_trainer_dfdx::transformer::TransformerNet;
use nasforge_trainer_dfdx::{DartsNet, ImageClassifier, MobileNet, Nb201Net, Nb201Shape};
use serde::{Deserialize, Serialize};

use crate::batch::{Batch, BatchKind};

/// A tape that records gradients of every tensor (inputs included).
pub type Taped = OwnedTape<f32, Cpu>;
/// The continuous input, flat.
pub type Flat<T> = Tensor<(usize,), f32, Cpu, T>;

/// A network at initialisation.
pub trait ZcNet {
    /// Its parameters and batch-norm statistics.
    fn store(&mut self) -> &mut ParamStore;

    /// Logits of `batch`'s output rows for the continuous input `x` (the
    /// batch's `input`, or a perturbation of it), in training mode (batch
    /// statistics) or not.
    fn logits(&mut self, x: Flat<Taped>, batch: &Batch, train: bool) -> T2<Taped>;

    /// The embedding width a text batch's input must have (text networks).
    fn input_width(&self) -> Option<usize> {
        None
    }

    /// Positively homogeneous with batch norm bypassed and positive
    /// weights (ReLU, pooling, bias-free convolutions): synflow may
    /// rescale its input.
    fn homogeneous(&self) -> bool {
        false
    }
}

/// Sizes of the networks built for scoring.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetShape {
    /// Initial channels of cell networks (NB201 C, DARTS C).
    pub channels: usize,
    /// Cells per stage (NB201 N) or cells in all (DARTS).
    pub cells: usize,
    /// Hidden size of graph networks.
    pub dim: usize,
}

impl NetShape {
    /// The size the literature scores each space at: NB201 C=16, N=5
    /// (Abdelfattah et al.); DARTS C=16 with 8 cells (its search network);
    /// graph networks 64 wide.
    pub fn for_space(space: &str) -> NetShape {
        match space {
            "darts" => NetShape { channels: 16, cells: 8, dim: 64 },
            _ => NetShape { channels: 16, cells: 5, dim: 64 },
        }
    }
}

/// The kind of data a space's networks read (the datasets' kinds: `image`, `graph`, `text`).
pub fn data_kind(space: &str) -> Option<&'static str> {
    match space {
        "nas-bench-201" | "darts" | "mobilenet" => Some(nasforge_datasets::IMAGE),
        "nas-bench-graph" | "auto-gnn" => Some(nasforge_datasets::GRAPH),
        "transformer" => Some(nasforge_datasets::TEXT),
        _ => None,
    }
}

/// The spaces whose networks are built here.
pub const SPACES: &[&str] = &["nas-bench-201", "darts", "mobilenet", "nas-bench-graph", "auto-gnn", "transformer"];

struct Image<N>(N, bool);

impl<N: ImageClassifier> ZcNet for Image<N> {
    fn store(&mut self) -> &mut ParamStore {
        self.0.store()
    }

    fn homogeneous(&self) -> bool {
        self.1
    }

    fn logits(&mut self, x: Flat<Taped>, batch: &Batch, train: bool) -> T2<Taped> {
        let BatchKind::Images { shape: (c, h, w) } = batch.kind else { panic!("an image network given a {:?} batch", batch.kind) };
        self.0.forward(x.reshape_like(&(batch.items, c, h, w)), train)
    }
}

struct GraphNet<N> {
    net: N,
    adj: Arc<Adjacency>,
    seed: u64,
}

impl<N: GraphClassifier> ZcNet for GraphNet<N> {
    fn store(&mut self) -> &mut ParamStore {
        self.net.store()
    }

    fn logits(&mut self, x: Flat<Taped>, batch: &Batch, train: bool) -> T2<Taped> {
        let BatchKind::Graph { graph, scored } = &batch.kind else { panic!("a graph network given a {:?} batch", batch.kind) };
        let all = self.net.forward(x.reshape_like(&(graph.nodes, graph.feature_dim)), &self.adj, train, self.seed);
        select_rows(all, scored)
    }
}

struct Text(TransformerNet);

impl ZcNet for Text {
    fn store(&mut self) -> &mut ParamStore {
        &mut self.0.store
    }

    fn logits(&mut self, x: Flat<Taped>, batch: &Batch, _train: bool) -> T2<Taped> {
        let BatchKind::Text { ids, .. } = &batch.kind else { panic!("a text network given a {:?} batch", batch.kind) };
        let rows = ids.len();
        let extra = x.reshape_like(&(rows, self.0.width()));
        self.0.forward_plus(ids, Taped::default(), Some(extra))
    }

    fn input_width(&self) -> Option<usize> {
        Some(self.0.width())
    }
}

/// The network of `arch` (an architecture of `space`) for `batch`'s data
/// at `shape`, initialised from `seed`.
pub fn build(space: &ErasedSpace, arch: &DynArch, shape: NetShape, batch: &Batch, seed: u64) -> Result<Box<dyn ZcNet>, String> {
    fn arch_of<'a, A: 'static>(arch: &'a DynArch, space: &str) -> Result<&'a A, String> {
        arch.downcast_ref::<A>().ok_or_else(|| format!("not an architecture of space `{space}`"))
    }
    let name = space.name();
    let classes = batch.classes;
    let wrong = |want: &str| format!("space `{name}` builds networks over {want}, and the batch holds other data");
    match &batch.kind {
        BatchKind::Images { shape: (c, _, _) } => {
            let c = *c;
            if space.downcast_ref::<Nb201Space>().is_some() {
                let cell = arch_of::<Cell>(arch, name)?;
                Ok(Box::new(Image(Nb201Net::new(cell, Nb201Shape { channels: shape.channels, cells: shape.cells }, c, classes, seed), true)))
            } else if space.downcast_ref::<DartsSpace>().is_some() {
                let g = arch_of::<Genotype>(arch, name)?;
                Ok(Box::new(Image(DartsNet::new(g, shape.channels, shape.cells, c, classes, seed), true)))
            } else if let Some(s) = space.downcast_ref::<MobileNetSpace>() {
                let a = arch_of::<MbNet>(arch, name)?;
                Ok(Box::new(Image(MobileNet::new(a, s, c, classes, seed), false)))
            } else {
                Err(unsupported(name))
            }
        }
        BatchKind::Graph { graph, .. } => {
            let adj = Arc::new(Adjacency::new(graph));
            let (features, seed_fwd) = (graph.feature_dim, seed);
            if space.downcast_ref::<NbGraphSpace>().is_some() {
                let cell = arch_of::<GnnCell>(arch, name)?;
                // Dropout off: proxies score the network, not a sampled mask.
                let gnn = GnnShape { dim: shape.dim, dropout: 0.0, post_layers: 1 };
                Ok(Box::new(GraphNet { net: GnnNet::new(cell, gnn, features, classes, seed), adj, seed: seed_fwd }))
            } else if space.downcast_ref::<AutoGnnSpace>().is_some() {
                let layers = arch_of::<Vec<GnnLayer>>(arch, name)?;
                Ok(Box::new(GraphNet { net: AutoGnnNet::new(layers, features, classes, 0.0, seed), adj, seed: seed_fwd }))
            } else {
                Err(if data_kind(name).is_some() { wrong(data_kind(name).unwrap_or("")) } else { unsupported(name) })
            }
        }
        BatchKind::Text { seq, vocab, .. } => {
            if space.downcast_ref::<TransformerSpace>().is_some() {
                let enc = arch_of::<Encoder>(arch, name)?;
                Ok(Box::new(Text(TransformerNet::new(enc, *vocab, *seq, seed))))
            } else {
                Err(if data_kind(name).is_some() { wrong(data_kind(name).unwrap_or("")) } else { unsupported(name) })
            }
        }
    }
}

fn unsupported(space: &str) -> String {
    format!("no network is built for space `{space}` here; zero-cost proxies serve {}", SPACES.join(", "))
}
