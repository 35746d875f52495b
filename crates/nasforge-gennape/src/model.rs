//! The GENNAPE predictor: encoder, fuzzy clusters of its embeddings, and
//! an ensemble of MLP heads weighted by cluster membership.
//!
//! 1. [`Gennape::pretrain`]: contrastive pre-training of the encoder on
//!    unlabelled graphs from several spaces; a graph's two views are two
//!    function-preserving rewrites of it ([`crate::cg::rewrite`]: node
//!    relabelling, identities inserted on edges), the other graphs of the
//!    batch its negatives, NT-Xent at temperature τ (the engine's
//!    `nt_xent`). GENNAPE's public code leaves pre-training out; this is
//!    SimCLR's loss (without its projection head) on GENNAPE's graphs.
//! 2. [`Gennape::fit`]: fuzzy c-means over the embeddings of the labelled
//!    graphs, then the heads (GENNAPE's head: linear 32, linear 32, ReLU,
//!    linear 32, linear 32, linear 1) and the encoder trained end to end
//!    on standardised labels with the mean squared error, Adam at 1e-4,
//!    batches of 32, as `run_cg_kgnn_predictor.py`; the prediction is
//!    `Σ_k u_k · head_k(e)`, memberships `u` of the (detached) embedding.
//! 3. [`Gennape::fine_tune`]: on a few labelled graphs of a new space, the
//!    whole model, 100 epochs of batch 1 at 1e-4 (the reference's
//!    `-fine_tune_epochs 100`), labels standardised over those graphs; the
//!    clusters stay.

use nasforge_core::rand::seq::SliceRandom;
use nasforge_core::{derive_seed, seeded_rng};
use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::{nt_xent, relu, sum_all};
use nasforge_engine::params::{Dense, Optimizer, OptimizerConfig, ParamStore};
use nasforge_engine::T2;

use crate::cg::{Cg, rewrite};
use crate::encoder::{Encoder, EncoderConfig, GraphBatch};
use crate::fcm::FuzzyCMeans;

/// GENNAPE's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct GennapeConfig {
    /// The encoder (6 layers of 32).
    pub encoder: EncoderConfig,
    /// NT-Xent's temperature (0.5, SimCLR's).
    pub tau: f32,
    /// Pre-training epochs (10), batch (64 graphs, 128 views), Adam's lr (1e-3).
    pub pretrain_epochs: usize,
    /// See `pretrain_epochs`.
    pub pretrain_batch: usize,
    /// See `pretrain_epochs`.
    pub pretrain_lr: f64,
    /// Probability of an identity on each edge of a view (0.2).
    pub rewrite_p: f64,
    /// Fuzzy clusters, one head each (3), and the fuzziness m (2).
    pub clusters: usize,
    /// See `clusters`.
    pub fuzziness: f64,
    /// Training epochs (40), batch (32), lr (1e-4), as the reference.
    pub epochs: usize,
    /// See `epochs`.
    pub batch: usize,
    /// See `epochs`.
    pub lr: f64,
    /// Fine-tuning epochs (100), batch (1), lr (1e-4), as the reference.
    pub fine_tune_epochs: usize,
    /// See `fine_tune_epochs`.
    pub fine_tune_batch: usize,
    /// See `fine_tune_epochs`.
    pub fine_tune_lr: f64,
}

impl Default for GennapeConfig {
    fn default() -> Self {
        GennapeConfig {
            encoder: EncoderConfig::default(),
            tau: 0.5,
            pretrain_epochs: 10,
            pretrain_batch: 64,
            pretrain_lr: 1e-3,
            rewrite_p: 0.2,
            clusters: 3,
            fuzziness: 2.0,
            epochs: 40,
            batch: 32,
            lr: 1e-4,
            fine_tune_epochs: 100,
            fine_tune_batch: 1,
            fine_tune_lr: 1e-4,
        }
    }
}

/// The model.
#[derive(Clone)]
pub struct Gennape {
    config: GennapeConfig,
    encoder: Encoder,
    heads: ParamStore,
    layers: Vec<[Dense; 5]>,
    clusters: Option<FuzzyCMeans>,
    scale: (f64, f64),
    seed: u64,
}

fn standardise(y: &[f64]) -> (Vec<f32>, (f64, f64)) {
    let n = y.len().max(1) as f64;
    let mean = y.iter().sum::<f64>() / n;
    let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let sd = if sd > 0.0 { sd } else { 1.0 };
    (y.iter().map(|v| ((v - mean) / sd) as f32).collect(), (mean, sd))
}

impl Gennape {
    /// A fresh model, every parameter seeded from `seed`.
    pub fn new(config: GennapeConfig, seed: u64) -> Self {
        let encoder = Encoder::new(&config.encoder, derive_seed(seed, "encoder"));
        let mut rng = seeded_rng(derive_seed(seed, "heads"));
        let mut heads = ParamStore::new(Cpu::default());
        let h = config.encoder.hidden;
        let bound = 1.0 / (h as f32).sqrt();
        let layers = (0..config.clusters.max(1))
            .map(|k| std::array::from_fn(|l| heads.dense(&format!("head{k}.{l}"), h, if l == 4 { 1 } else { h }, bound, &mut rng)))
            .collect();
        Gennape { config, encoder, heads, layers, clusters: None, scale: (0.0, 1.0), seed }
    }

    /// A copy whose [`Gennape::fit`] follows the reference's schedule for
    /// `n` labels: its fine-tuning schedule (`fine_tune_epochs` of
    /// `fine_tune_batch` at `fine_tune_lr`) up to 100 labels, its training
    /// schedule (`epochs` of `batch` at `lr`) above; 40 epochs of 32 on 20
    /// labels would be 40 steps.
    pub fn for_labels(&self, n: usize) -> Gennape {
        let mut m = self.clone();
        let c = &mut m.config;
        if n <= 100 {
            (c.epochs, c.batch, c.lr) = (c.fine_tune_epochs, c.fine_tune_batch, c.fine_tune_lr);
        }
        m
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    fn head<T: Tape<f32, Cpu>>(&self, k: usize, mut x: T2<T>) -> T2<T> {
        for (l, d) in self.layers[k].iter().enumerate() {
            x = d.apply(&self.heads, x);
            if l == 1 {
                x = relu(x);
            }
        }
        x
    }

    /// Contrastive pre-training on unlabelled graphs; returns the mean
    /// loss of each epoch.
    pub fn pretrain(&mut self, graphs: &[Cg]) -> Vec<f64> {
        let c = self.config.clone();
        let mut rng = seeded_rng(derive_seed(self.seed, "pretrain"));
        let mut opt = Optimizer::new(OptimizerConfig::Adam { lr: c.pretrain_lr, weight_decay: 0.0 });
        let mut order: Vec<usize> = (0..graphs.len()).collect();
        let mut losses = Vec::with_capacity(c.pretrain_epochs);
        for _ in 0..c.pretrain_epochs {
            order.shuffle(&mut rng);
            let (mut total, mut steps) = (0.0, 0);
            for chunk in order.chunks(c.pretrain_batch.max(2)) {
                if chunk.len() < 2 {
                    continue;
                }
                let a: Vec<Cg> = chunk.iter().map(|&i| rewrite(&graphs[i], c.rewrite_p, &mut rng)).collect();
                let b: Vec<Cg> = chunk.iter().map(|&i| rewrite(&graphs[i], c.rewrite_p, &mut rng)).collect();
                let views: Vec<&Cg> = a.iter().chain(&b).collect();
                let z = self.encoder.forward(&GraphBatch::new(&views), OwnedTape::<f32, Cpu>::default());
                let loss = nt_xent(z, c.tau).sum();
                total += f64::from(loss.array());
                steps += 1;
                let mut grads = loss.backward();
                opt.step(self.encoder.params_mut(), &mut grads, c.pretrain_lr).expect("an Adam step on the CPU");
            }
            losses.push(total / f64::from(steps.max(1)));
        }
        losses
    }

    fn memberships(&self, e: &[f32], rows: usize) -> Vec<Vec<f32>> {
        let w = self.encoder.width();
        let k = self.layers.len();
        (0..rows)
            .map(|i| match &self.clusters {
                Some(f) => f.memberships(&e[i * w..(i + 1) * w]).into_iter().map(|u| u as f32).collect(),
                None => vec![1.0 / k as f32; k],
            })
            .collect()
    }

    /// `Σ_k u_k head_k(e)` on `e`'s tape.
    fn combine<T: Tape<f32, Cpu> + Merge<T>>(&self, e: T2<T>) -> T2<T> {
        let rows = e.shape().0;
        let dev = self.heads.device().clone();
        let u = self.memberships(&e.as_vec(), rows);
        let k = self.layers.len();
        let mut outs = Vec::with_capacity(k);
        for c in 0..k {
            let weights = dev.tensor_from_vec(u.iter().map(|r| r[c]).collect::<Vec<f32>>(), (rows, 1));
            outs.push(self.head(c, e.with_empty_tape()) * weights);
        }
        // `e`'s own tape joins through the first head's input.
        let first = outs.remove(0);
        let (first, tape) = first.split_tape();
        let (_, etape) = e.split_tape();
        outs.insert(0, first.put_tape(tape.merge(etape)));
        sum_all(outs)
    }

    fn train(&mut self, graphs: &[Cg], labels: &[f32], epochs: usize, batch: usize, lr: f64, stream: &str) {
        let mut rng = seeded_rng(derive_seed(self.seed, stream));
        let mut enc_opt = Optimizer::new(OptimizerConfig::Adam { lr, weight_decay: 0.0 });
        let mut head_opt = Optimizer::new(OptimizerConfig::Adam { lr, weight_decay: 0.0 });
        let dev = self.heads.device().clone();
        let mut order: Vec<usize> = (0..graphs.len()).collect();
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for chunk in order.chunks(batch.max(1)) {
                let refs: Vec<&Cg> = chunk.iter().map(|&i| &graphs[i]).collect();
                let e = self.encoder.forward(&GraphBatch::new(&refs), OwnedTape::<f32, Cpu>::default());
                let pred = self.combine(e);
                let y = dev.tensor_from_vec(chunk.iter().map(|&i| labels[i]).collect::<Vec<f32>>(), (chunk.len(), 1));
                let loss = (pred - y).square().mean();
                let mut grads = loss.backward();
                enc_opt.step(self.encoder.params_mut(), &mut grads, lr).expect("an Adam step on the CPU");
                head_opt.step(&mut self.heads.params, &mut grads, lr).expect("an Adam step on the CPU");
            }
        }
    }

    /// Clusters the embeddings of `graphs`, then trains heads and encoder
    /// on their labels.
    pub fn fit(&mut self, graphs: &[Cg], labels: &[f64]) {
        let (y, scale) = standardise(labels);
        self.scale = scale;
        let e = self.encoder.embed(graphs);
        let c = &self.config;
        self.clusters = Some(FuzzyCMeans::fit(&e, self.layers.len(), c.fuzziness, 100, 1e-5, derive_seed(self.seed, "clusters")));
        let (epochs, batch, lr) = (c.epochs, c.batch, c.lr);
        self.train(graphs, &y, epochs, batch, lr, "fit");
    }

    /// A copy fine-tuned on a few labelled graphs of another space.
    pub fn fine_tuned(&self, graphs: &[Cg], labels: &[f64], seed: u64) -> Gennape {
        let mut m = self.clone();
        m.seed = seed;
        let (y, scale) = standardise(labels);
        m.scale = scale;
        let c = &self.config;
        let (epochs, batch, lr) = (c.fine_tune_epochs, c.fine_tune_batch, c.fine_tune_lr);
        m.train(graphs, &y, epochs, batch, lr, "fine-tune");
        m
    }

    /// Predicted labels (in the units of the last fit's labels).
    pub fn predict(&self, graphs: &[Cg]) -> Vec<f64> {
        let mut out = Vec::with_capacity(graphs.len());
        for chunk in graphs.chunks(256) {
            let refs: Vec<&Cg> = chunk.iter().collect();
            let e = self.encoder.forward(&GraphBatch::new(&refs), NoneTape);
            out.extend(self.combine(e).as_vec().into_iter().map(|v| self.scale.0 + self.scale.1 * f64::from(v)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;
    use nasforge_space_nb201::Nb201Space;

    use super::*;
    use crate::cg::lower;

    fn spearman(a: &[f64], b: &[f64]) -> f64 {
        let rank = |v: &[f64]| {
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
            let mut r = vec![0.0; v.len()];
            for (k, &i) in idx.iter().enumerate() {
                r[i] = k as f64;
            }
            r
        };
        let (ra, rb) = (rank(a), rank(b));
        let n = ra.len() as f64;
        let m = (n - 1.0) / 2.0;
        let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - m) * (y - m)).sum();
        let var: f64 = ra.iter().map(|x| (x - m).powi(2)).sum();
        cov / var
    }

    /// NB201 cells with the table's validation accuracy.
    fn nb201(n: usize, seed: u64) -> (Vec<Cg>, Vec<f64>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv");
        let table = nasforge_tabular::Nb201Table::load(&path).expect("the NB201 table at ../shared/data");
        let mut cells: Vec<_> = table.iter().map(|(c, r)| (c, r.valid)).collect();
        cells.shuffle(&mut seeded_rng(seed));
        cells.truncate(n);
        cells.into_iter().map(|(c, v)| (lower(&Nb201Space.to_graph(&c)), v)).unzip()
    }

    #[test]
    fn gennape_learns_nb201_from_its_graphs_and_is_seeded() {
        let (graphs, labels) = nb201(1_500, 3);
        let (train, test) = graphs.split_at(500);
        let config = GennapeConfig { pretrain_epochs: 2, epochs: 15, lr: 1e-3, ..GennapeConfig::default() };
        let mut model = Gennape::new(config.clone(), 1);
        let losses = model.pretrain(&graphs[..300]);
        assert!(losses.iter().all(|l| l.is_finite()) && losses.len() == 2);
        model.fit(train, &labels[..500]);
        let rho = spearman(&model.predict(test), &labels[500..]);
        assert!(rho > 0.5, "ρ {rho}");
        let mut again = Gennape::new(config, 1);
        again.pretrain(&graphs[..300]);
        again.fit(train, &labels[..500]);
        assert_eq!(model.predict(&test[..20]), again.predict(&test[..20]));
        // Fine-tuning moves predictions towards the new labels' scale.
        let tuned = model.fine_tuned(&test[..20], &labels[500..520].iter().map(|v| v / 100.0).collect::<Vec<_>>(), 2);
        let mean = tuned.predict(&test[20..40]).iter().sum::<f64>() / 20.0;
        assert!(mean < 2.0, "predictions in the fine-tuning labels' units: {mean}");
    }
}
