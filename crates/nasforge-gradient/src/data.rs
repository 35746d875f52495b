//! DARTS' data protocol: the training split halved, one half for the
//! network weights and the other for the architecture parameters, served
//! as pairs of batches in a fresh order each epoch.

use std::sync::Arc;

use nasforge_datasets::{ImageSplits, Images};
use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::T4;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// One-hot labels of a batch.
pub type Labels = Tensor<(usize, usize), f32, Cpu>;

/// A batch: images and one-hot labels, with the class of each image.
pub struct Batch {
    /// Images.
    pub x: T4<NoneTape>,
    /// One-hot labels.
    pub y: Labels,
    /// Classes.
    pub labels: Vec<u32>,
}

/// The two halves of the training split and the batch size.
#[derive(Clone)]
pub struct SearchData {
    splits: Arc<ImageSplits>,
    /// Indices into `splits.train` that train the weights.
    pub weights: Vec<usize>,
    /// Indices into `splits.train` that train α (the search's validation).
    pub alpha: Vec<usize>,
    /// Images per batch.
    pub batch: usize,
}

impl SearchData {
    /// The training split shuffled by `seed` and halved (DARTS'
    /// `train_portion = 0.5`; an odd image goes to the weights).
    pub fn new(splits: Arc<ImageSplits>, batch: usize, seed: u64) -> Result<Self, String> {
        let n = splits.train.len();
        if n < 2 * batch {
            return Err(format!("the training split has {n} images; a search with batch size {batch} needs at least {}", 2 * batch));
        }
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let alpha = idx.split_off(n.div_ceil(2));
        Ok(SearchData { splits, weights: idx, alpha, batch })
    }

    /// The training images.
    pub fn images(&self) -> &Images {
        &self.splits.train
    }

    /// Classes.
    pub fn classes(&self) -> usize {
        self.splits.train.classes
    }

    /// Input channels.
    pub fn channels(&self) -> usize {
        self.splits.train.shape.0
    }

    /// One epoch: pairs (weights batch, α batch), both halves in an order
    /// drawn from `seed`, as many pairs as the smaller half has full
    /// batches (the reference's loaders also serve a last, partial batch;
    /// it is dropped here).
    pub fn epoch(&self, seed: u64) -> Vec<(Vec<usize>, Vec<usize>)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut w = self.weights.clone();
        let mut a = self.alpha.clone();
        w.shuffle(&mut rng);
        a.shuffle(&mut rng);
        w.chunks_exact(self.batch).zip(a.chunks_exact(self.batch)).map(|(x, y)| (x.to_vec(), y.to_vec())).collect()
    }

    /// Steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.weights.len().min(self.alpha.len()) / self.batch
    }

    /// `n` batches of the α half in an order drawn from `seed`: what
    /// candidates are scored on.
    pub fn alpha_batches(&self, n: usize, seed: u64) -> Vec<Vec<usize>> {
        let mut a = self.alpha.clone();
        a.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        a.chunks_exact(self.batch).cycle().take(n).map(<[usize]>::to_vec).collect()
    }

    /// Training-split images `idx` as a batch.
    pub fn batch(&self, idx: &[usize]) -> Batch {
        let (x, y) = self.tensors(idx);
        Batch { x, y, labels: self.labels(idx) }
    }

    /// [`SearchData::alpha_batches`] as batches.
    pub fn alpha_batch_set(&self, n: usize, seed: u64) -> Vec<Batch> {
        self.alpha_batches(n, seed).iter().map(|idx| self.batch(idx)).collect()
    }

    /// Images and one-hot labels of training-split images `idx`.
    pub fn tensors(&self, idx: &[usize]) -> (T4<NoneTape>, Labels) {
        let dev = Cpu::default();
        let data = &self.splits.train;
        let mut pixels = Vec::with_capacity(idx.len() * data.image_len());
        let mut onehot = vec![0.0f32; idx.len() * data.classes];
        for (r, &i) in idx.iter().enumerate() {
            pixels.extend_from_slice(data.image(i));
            onehot[r * data.classes + data.labels[i] as usize] = 1.0;
        }
        let (c, h, w) = data.shape;
        (dev.tensor_from_vec(pixels, (idx.len(), c, h, w)), dev.tensor_from_vec(onehot, (idx.len(), data.classes)))
    }

    /// The labels of images `idx`.
    pub fn labels(&self, idx: &[usize]) -> Vec<u32> {
        idx.iter().map(|&i| self.splits.train.labels[i]).collect()
    }
}

/// Correct predictions of `logits` (rows) for `labels`.
pub fn correct(logits: &[f32], classes: usize, labels: &[u32]) -> usize {
    logits
        .chunks_exact(classes)
        .zip(labels)
        .filter(|&(row, &y)| {
            let best = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            best == y as usize
        })
        .count()
}
