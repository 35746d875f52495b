//! The one batch of data the data-dependent proxies see, and how it is cut
//! from a dataset: images resized to the network's input, graph nodes,
//! or windows of text.

use std::sync::Arc;

use nasforge_datasets::{CharText, Graph, Images};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// What the batch's items are.
#[derive(Clone, Debug)]
pub enum BatchKind {
    /// Images `(channels, height, width)`; one output row per image.
    Images {
        /// Channels, height, width of every image.
        shape: (usize, usize, usize),
    },
    /// Every node of a graph is an input row (the network reads them all);
    /// the scored rows are these nodes.
    Graph {
        /// The graph (features, edges).
        graph: Arc<Graph>,
        /// The nodes whose outputs are scored, in batch order.
        scored: Arc<Vec<u32>>,
    },
    /// Windows of token ids; the continuous input is an addend to the
    /// token embeddings (`width` per token), one output row per token.
    Text {
        /// Token ids of the windows, window after window.
        ids: Arc<Vec<u32>>,
        /// Tokens per window.
        seq: usize,
        /// Characters in the vocabulary.
        vocab: usize,
    },
}

/// One batch: the continuous input, its items and the targets of every
/// output row.
#[derive(Clone, Debug)]
pub struct Batch {
    /// What the items are.
    pub kind: BatchKind,
    /// The continuous input, `items × item_len` values (text: zeros until a
    /// network says its embedding width; see [`Batch::for_width`]).
    pub input: Vec<f32>,
    /// Batch items (images, graph nodes, windows).
    pub items: usize,
    /// Class of every output row.
    pub targets: Vec<u32>,
    /// Number of classes.
    pub classes: usize,
}

impl Batch {
    /// `n` images drawn (seeded) from `images`, resized bilinearly to
    /// `size × size` and repeated (or averaged) to `channels`.
    pub fn images(images: &Images, n: usize, channels: usize, size: usize, seed: u64) -> Batch {
        let mut idx: Vec<usize> = (0..images.len()).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        idx.truncate(n.min(images.len()));
        let mut input = Vec::with_capacity(idx.len() * channels * size * size);
        for &i in &idx {
            input.extend(fit_image(images.image(i), images.shape, channels, size));
        }
        Batch {
            kind: BatchKind::Images { shape: (channels, size, size) },
            input,
            items: idx.len(),
            targets: idx.iter().map(|&i| images.labels[i]).collect(),
            classes: images.classes,
        }
    }

    /// The whole graph as input; `n` of its training nodes (seeded) scored.
    pub fn graph(graph: Arc<Graph>, n: usize, seed: u64) -> Batch {
        let mut scored = graph.train.clone();
        scored.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        scored.truncate(n);
        Batch {
            input: graph.features.clone(),
            items: graph.nodes,
            targets: scored.iter().map(|&v| graph.labels[v as usize]).collect(),
            classes: graph.classes,
            kind: BatchKind::Graph { scored: Arc::new(scored), graph },
        }
    }

    /// `n` windows of `seq` tokens at seeded offsets of the training text;
    /// targets are the next tokens.
    pub fn text(text: &CharText, n: usize, seq: usize, seed: u64) -> Batch {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let last = text.train.len().saturating_sub(seq + 1);
        let (mut ids, mut targets) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let s = rng.random_range(0..=last);
            ids.extend(text.train[s..s + seq].iter().map(|&t| u32::from(t)));
            targets.extend(text.train[s + 1..s + seq + 1].iter().map(|&t| u32::from(t)));
        }
        Batch { kind: BatchKind::Text { ids: Arc::new(ids), seq, vocab: text.vocab.len() }, input: Vec::new(), items: n, targets, classes: text.vocab.len() }
    }

    /// Text batches get their (zero) input once the embedding width is
    /// known; other batches are returned as they are.
    pub fn for_width(&self, width: usize) -> Batch {
        let mut b = self.clone();
        if let BatchKind::Text { seq, .. } = b.kind {
            b.input = vec![0.0; b.items * seq * width];
        }
        b
    }

    /// Values per item.
    pub fn item_len(&self) -> usize {
        self.input.len() / self.items.max(1)
    }

    /// Output rows per item (text: one per token).
    pub fn rows_per_item(&self) -> usize {
        match &self.kind {
            BatchKind::Text { seq, .. } => *seq,
            _ => 1,
        }
    }

    /// The items whose input gradients are per-sample Jacobians (graph: the
    /// scored nodes), in output order.
    pub fn scored_items(&self) -> Vec<usize> {
        match &self.kind {
            BatchKind::Graph { scored, .. } => scored.iter().map(|&v| v as usize).collect(),
            _ => (0..self.items).collect(),
        }
    }

    /// The batch of item `i` alone (graph: the same input, node `i` of the
    /// scored ones).
    pub fn item(&self, i: usize) -> Batch {
        let rows = self.rows_per_item();
        let targets = self.targets[i * rows..(i + 1) * rows].to_vec();
        match &self.kind {
            BatchKind::Graph { graph, scored } => Batch {
                kind: BatchKind::Graph { graph: graph.clone(), scored: Arc::new(vec![scored[i]]) },
                input: self.input.clone(),
                items: self.items,
                targets,
                classes: self.classes,
            },
            BatchKind::Text { ids, seq, vocab } => Batch {
                kind: BatchKind::Text { ids: Arc::new(ids[i * seq..(i + 1) * seq].to_vec()), seq: *seq, vocab: *vocab },
                input: self.input[i * self.item_len()..(i + 1) * self.item_len()].to_vec(),
                items: 1,
                targets,
                classes: self.classes,
            },
            BatchKind::Images { .. } => Batch {
                kind: self.kind.clone(),
                input: self.input[i * self.item_len()..(i + 1) * self.item_len()].to_vec(),
                items: 1,
                targets,
                classes: self.classes,
            },
        }
    }

    /// Synflow's input: one item of ones (graph: every node's features).
    pub fn ones(&self) -> Batch {
        let mut b = match &self.kind {
            BatchKind::Graph { .. } => self.clone(),
            _ => self.item(0),
        };
        b.input.iter_mut().for_each(|v| *v = 1.0);
        b
    }

    /// The same batch with `input` in place of its own (same length).
    pub fn with_input(&self, input: Vec<f32>) -> Batch {
        assert_eq!(input.len(), self.input.len(), "input length");
        Batch { input, ..self.clone() }
    }
}

/// One image `(c, h, w)` resized bilinearly (half-pixel centres, as
/// PyTorch's `interpolate(align_corners=False)`) to `size × size`, its
/// channels repeated (grey to RGB) or averaged (RGB to grey).
fn fit_image(pixels: &[f32], (c, h, w): (usize, usize, usize), channels: usize, size: usize) -> Vec<f32> {
    let plane = |ch: usize| &pixels[ch * h * w..(ch + 1) * h * w];
    let resize = |src: &[f32]| -> Vec<f32> {
        let mut out = Vec::with_capacity(size * size);
        let coord = |o: usize, n: usize| -> (usize, usize, f32) {
            let x = ((o as f32 + 0.5) * n as f32 / size as f32 - 0.5).max(0.0);
            let x0 = (x.floor() as usize).min(n - 1);
            (x0, (x0 + 1).min(n - 1), x - x0 as f32)
        };
        for oy in 0..size {
            let (y0, y1, fy) = coord(oy, h);
            for ox in 0..size {
                let (x0, x1, fx) = coord(ox, w);
                let at = |y: usize, x: usize| src[y * w + x];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                out.push(top * (1.0 - fy) + bottom * fy);
            }
        }
        out
    };
    let planes: Vec<Vec<f32>> = if channels == c {
        (0..c).map(|ch| resize(plane(ch))).collect()
    } else {
        let mut mean = vec![0.0f32; h * w];
        for ch in 0..c {
            mean.iter_mut().zip(plane(ch)).for_each(|(m, v)| *m += v / c as f32);
        }
        let grey = resize(&mean);
        vec![grey; channels]
    };
    planes.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_keeps_a_constant_image_constant_and_repeats_channels() {
        let out = fit_image(&[2.0; 28 * 28], (1, 28, 28), 3, 32);
        assert_eq!(out.len(), 3 * 32 * 32);
        assert!(out.iter().all(|&v| (v - 2.0).abs() < 1e-6));
        // A 2×2 ramp upsampled to 4×4: half-pixel centres give 0, .25, .75, 1.
        let out = fit_image(&[0.0, 1.0, 0.0, 1.0], (1, 2, 2), 1, 4);
        assert_eq!(&out[..4], &[0.0, 0.25, 0.75, 1.0]);
    }
}
