//! Datasets for training candidate networks, with deterministic, seeded
//! train/validation/test splits and clear errors for missing or malformed
//! files. No ML engine here: trainers turn these buffers into tensors.
//!
//! - [`idx_images`] / [`fashion_mnist`]: IDX `.gz` image folders
//!   (Fashion-MNIST from Debian's `dataset-fashion-mnist`, MNIST too);
//! - [`digits`]: the 8×8 UCI digits embedded in smartcore (no file);
//! - [`graph_npz`]: citation graphs (Cora, Citeseer) as CSR arrays in `.npz`;
//! - [`char_text`]: character-level text (tiny-Shakespeare).
//!
//! Each kind lives in its own private module (`images`, `graph`, `text`);
//! everything public is re-exported here, at the crate root.

mod family;
pub use family::{DigitsToml, FashionMnistToml, FileDataToml, GRAPH, IMAGE, IdxToml, ImageData, ImageDataToml, TEXT, register};

mod graph;
mod images;
mod text;
pub use graph::{Graph, GraphSplit, graph_npz, graph_npz_from_reader};
pub use images::{FASHION_MNIST_DIR, ImageSplits, Images, MAX_INFLATED_BYTES, SplitSpec, digits, fashion_mnist, idx_images, parse_idx_images, parse_idx_labels};
pub use text::{CharText, char_text};

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// A dataset that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct DataError {
    /// The file or folder.
    pub path: PathBuf,
    /// What is wrong, and how to fix it where that is known.
    pub reason: String,
}

fn data_error(path: &Path, reason: impl Into<String>) -> DataError {
    DataError { path: path.to_owned(), reason: reason.into() }
}

/// `0..n` in an order seeded by `seed`: the image splits and the graph
/// node split both draw from it.
pub(crate) fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    idx
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// `rel` under the workspace's `shared/data` folder (the graphs and
    /// the text the tests load).
    pub(crate) fn shared(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(rel)
    }
}
