//! Datasets for training candidate networks, with deterministic, seeded
//! train/validation/test splits and clear errors for missing or malformed
//! files. No ML engine here: trainers turn these buffers into tensors.
//!
//! - [`idx_images`] / [`fashion_mnist`]: IDX `.gz` image folders
//!   (Fashion-MNIST from Debian's `dataset-fashion-mnist`, MNIST too);
//! - [`digits`]: the 8×8 UCI digits embedded in smartcore (no file);
//! - [`graph_npz`]: citation graphs (Cora, Citeseer) as CSR arrays in `.npz`;
//! - [`char_text`]: character-level text (tiny-Shakespeare).

mod family;
pub use family::{DigitsToml, FashionMnistToml, FileDataToml, GRAPH, IMAGE, IdxToml, ImageData, ImageDataToml, TEXT, register};

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

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

/// Images with labels, as one contiguous `N × C × H × W` buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    /// Pixels, standardised with the training split's mean and std.
    pub pixels: Vec<f32>,
    /// Class of each image.
    pub labels: Vec<u32>,
    /// Channels, height, width.
    pub shape: (usize, usize, usize),
    /// Number of classes.
    pub classes: usize,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.shape.0 * self.shape.1 * self.shape.2
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    fn subset(&self, idx: &[usize]) -> Images {
        let mut pixels = Vec::with_capacity(idx.len() * self.image_len());
        for &i in idx {
            pixels.extend_from_slice(self.image(i));
        }
        Images { pixels, labels: idx.iter().map(|&i| self.labels[i]).collect(), shape: self.shape, classes: self.classes }
    }
}

/// Train, validation and test images.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSplits {
    /// For fitting weights.
    pub train: Images,
    /// For choosing architectures (what a search sees).
    pub valid: Images,
    /// Held out, reported only.
    pub test: Images,
}

/// How many training images go to validation, and the seed that picks them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitSpec {
    /// Fraction of the training images held out for validation.
    pub valid_fraction: f64,
    /// Seed of the split.
    pub seed: u64,
    /// Keep at most this many training images (after the split), for quick
    /// runs; `None` keeps all.
    pub max_train: Option<usize>,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self { valid_fraction: 0.1, seed: 0, max_train: None }
    }
}

fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    idx
}

/// Splits `train` into train/valid, standardises everything with the
/// training part's mean and std.
fn split_and_standardise(train: Images, test: Images, spec: SplitSpec) -> ImageSplits {
    let idx = shuffled(train.len(), spec.seed);
    let n_valid = ((train.len() as f64) * spec.valid_fraction).round() as usize;
    let (valid_idx, train_idx) = idx.split_at(n_valid);
    let train_idx = &train_idx[..spec.max_train.map_or(train_idx.len(), |m| m.min(train_idx.len()))];
    let mut splits = ImageSplits { train: train.subset(train_idx), valid: train.subset(valid_idx), test };
    let n = splits.train.pixels.len() as f64;
    let mean = splits.train.pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
    let var = splits.train.pixels.iter().map(|&p| (f64::from(p) - mean).powi(2)).sum::<f64>() / n;
    let (mean, std) = (mean as f32, (var.sqrt() as f32).max(1e-6));
    for set in [&mut splits.train, &mut splits.valid, &mut splits.test] {
        for p in &mut set.pixels {
            *p = (*p - mean) / std;
        }
    }
    splits
}

fn read_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let file = std::fs::File::open(path).map_err(|e| data_error(path, format!("cannot open: {e}")))?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut out).map_err(|e| data_error(path, format!("not a gzip file: {e}")))?;
    Ok(out)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads an IDX image file (magic 0x0803) into `(pixels in [0,1], n, h, w)`.
fn read_idx_images(path: &Path) -> Result<(Vec<f32>, usize, usize, usize), DataError> {
    let b = read_gz(path)?;
    if b.len() < 16 || be_u32(&b, 0) != 0x0803 {
        return Err(data_error(path, "not an IDX image file (magic 0x00000803)"));
    }
    let (n, h, w) = (be_u32(&b, 4) as usize, be_u32(&b, 8) as usize, be_u32(&b, 12) as usize);
    if b.len() != 16 + n * h * w {
        return Err(data_error(path, format!("expected {} bytes for {n} images of {h}×{w}, found {}", 16 + n * h * w, b.len())));
    }
    Ok((b[16..].iter().map(|&p| f32::from(p) / 255.0).collect(), n, h, w))
}

/// Reads an IDX label file (magic 0x0801).
fn read_idx_labels(path: &Path) -> Result<Vec<u32>, DataError> {
    let b = read_gz(path)?;
    if b.len() < 8 || be_u32(&b, 0) != 0x0801 {
        return Err(data_error(path, "not an IDX label file (magic 0x00000801)"));
    }
    let n = be_u32(&b, 4) as usize;
    if b.len() != 8 + n {
        return Err(data_error(path, format!("expected {n} labels, found {}", b.len() - 8)));
    }
    Ok(b[8..].iter().map(|&l| u32::from(l)).collect())
}

/// Loads a folder holding the four standard IDX files
/// (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
/// `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`): Fashion-MNIST
/// or MNIST.
pub fn idx_images(dir: impl AsRef<Path>, spec: SplitSpec) -> Result<ImageSplits, DataError> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(data_error(
            dir,
            format!("no such folder (for Fashion-MNIST: `apt-get install dataset-fashion-mnist` fills {FASHION_MNIST_DIR})"),
        ));
    }
    let load = |images: &str, labels: &str| -> Result<Images, DataError> {
        let (pixels, n, h, w) = read_idx_images(&dir.join(images))?;
        let labels_path = dir.join(labels);
        let labels = read_idx_labels(&labels_path)?;
        if labels.len() != n {
            return Err(data_error(&labels_path, format!("{} labels for {n} images", labels.len())));
        }
        let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
        Ok(Images { pixels, labels, shape: (1, h, w), classes })
    };
    let train = load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")?;
    let mut test = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")?;
    test.classes = train.classes;
    Ok(split_and_standardise(train, test, spec))
}

/// Fashion-MNIST from Debian's package folder.
pub fn fashion_mnist(spec: SplitSpec) -> Result<ImageSplits, DataError> {
    idx_images(FASHION_MNIST_DIR, spec)
}

/// The UCI 8×8 digits (1,797 images, 10 classes) embedded in smartcore:
/// a seeded 60/20/20 train/valid/test split.
pub fn digits(seed: u64) -> ImageSplits {
    let d = smartcore::dataset::digits::load_dataset();
    let all = Images {
        pixels: d.data.iter().map(|&p| p / 16.0).collect(),
        labels: d.target.iter().map(|&t| t as u32).collect(),
        shape: (1, 8, 8),
        classes: 10,
    };
    let idx = shuffled(all.len(), seed);
    let n_test = all.len() / 5;
    let (test_idx, rest) = idx.split_at(n_test);
    let test = all.subset(test_idx);
    let rest = all.subset(rest);
    split_and_standardise(rest, test, SplitSpec { valid_fraction: 0.25, seed: seed ^ 0x5eed, max_train: None })
}

/// An undirected graph for full-batch node classification.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Number of nodes.
    pub nodes: usize,
    /// Dense node features, row-normalised (each row sums to 1), `nodes × features`.
    pub features: Vec<f32>,
    /// Features per node.
    pub feature_dim: usize,
    /// Class of each node.
    pub labels: Vec<u32>,
    /// Number of classes.
    pub classes: usize,
    /// Undirected edges `(u, v)` with `u < v`, no self loops, no duplicates.
    pub edges: Vec<(u32, u32)>,
    /// Training nodes.
    pub train: Vec<u32>,
    /// Validation nodes.
    pub valid: Vec<u32>,
    /// Test nodes.
    pub test: Vec<u32>,
}

/// How a graph's nodes are split: the Planetoid protocol by default
/// (20 training nodes per class, 500 validation, 1,000 test), seeded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GraphSplit {
    /// Training nodes per class.
    pub train_per_class: usize,
    /// Validation nodes.
    pub valid: usize,
    /// Test nodes.
    pub test: usize,
    /// Seed of the split.
    pub seed: u64,
}

impl Default for GraphSplit {
    fn default() -> Self {
        Self { train_per_class: 20, valid: 500, test: 1000, seed: 0 }
    }
}

fn npz_array<T: npyz::Deserialize>(archive: &mut npyz::npz::NpzArchive<std::io::BufReader<std::fs::File>>, path: &Path, name: &str) -> Result<Vec<T>, DataError> {
    let npy = archive
        .by_name(name)
        .map_err(|e| data_error(path, format!("cannot read `{name}`: {e}")))?
        .ok_or_else(|| data_error(path, format!("no array `{name}` in the archive")))?;
    npy.into_vec::<T>().map_err(|e| data_error(path, format!("array `{name}`: {e}")))
}

/// Loads a graph stored as CSR arrays (`adj_data/adj_indices/adj_indptr/
/// adj_shape`, `attr_*`, `labels`) in an `.npz`, as in the gnn-benchmark
/// release of Cora and Citeseer.
pub fn graph_npz(path: impl AsRef<Path>, split: GraphSplit) -> Result<Graph, DataError> {
    let path = path.as_ref();
    let mut archive =
        npyz::npz::NpzArchive::open(path).map_err(|e| data_error(path, format!("not a readable .npz archive: {e}")))?;
    let adj_indices: Vec<i32> = npz_array(&mut archive, path, "adj_indices")?;
    let adj_indptr: Vec<i32> = npz_array(&mut archive, path, "adj_indptr")?;
    let attr_data: Vec<f32> = npz_array(&mut archive, path, "attr_data")?;
    let attr_indices: Vec<i32> = npz_array(&mut archive, path, "attr_indices")?;
    let attr_indptr: Vec<i32> = npz_array(&mut archive, path, "attr_indptr")?;
    let attr_shape: Vec<i64> = npz_array(&mut archive, path, "attr_shape")?;
    let labels: Vec<i8> = npz_array(&mut archive, path, "labels")?;

    let nodes = labels.len();
    let feature_dim = *attr_shape.get(1).ok_or_else(|| data_error(path, "attr_shape must have 2 entries"))? as usize;
    if adj_indptr.len() != nodes + 1 || attr_indptr.len() != nodes + 1 {
        return Err(data_error(path, format!("CSR pointers do not match the {nodes} labels")));
    }
    let bad_index = |what: &str| data_error(path, format!("{what} index out of range"));
    let mut features = vec![0.0f32; nodes * feature_dim];
    for row in 0..nodes {
        let span = attr_indptr[row] as usize..attr_indptr[row + 1] as usize;
        let (cols, vals) = (attr_indices.get(span.clone()), attr_data.get(span));
        let (Some(cols), Some(vals)) = (cols, vals) else { return Err(bad_index("attribute")) };
        for (&col, &v) in cols.iter().zip(vals) {
            let col = col as usize;
            if col >= feature_dim {
                return Err(bad_index("attribute column"));
            }
            features[row * feature_dim + col] = v;
        }
        let r = &mut features[row * feature_dim..(row + 1) * feature_dim];
        let sum: f32 = r.iter().sum();
        if sum > 0.0 {
            r.iter_mut().for_each(|v| *v /= sum);
        }
    }
    let mut edges = Vec::with_capacity(adj_indices.len());
    for row in 0..nodes {
        for k in adj_indptr[row] as usize..adj_indptr[row + 1] as usize {
            let col = *adj_indices.get(k).ok_or_else(|| bad_index("adjacency"))? as usize;
            if col >= nodes {
                return Err(bad_index("adjacency column"));
            }
            if col != row {
                edges.push((row.min(col) as u32, row.max(col) as u32));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    if labels.iter().any(|&l| l < 0) {
        return Err(data_error(path, "negative label"));
    }
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);

    // Planetoid-style split: the first `train_per_class` nodes of each class
    // in a seeded order train; then validation, then test, from the rest.
    let order = shuffled(nodes, split.seed);
    let mut per_class = vec![0usize; classes];
    let (mut train, mut rest) = (Vec::new(), Vec::new());
    for &n in &order {
        let c = labels[n] as usize;
        if per_class[c] < split.train_per_class {
            per_class[c] += 1;
            train.push(n as u32);
        } else {
            rest.push(n as u32);
        }
    }
    if rest.len() < split.valid + split.test {
        return Err(data_error(path, format!("{} nodes left for {} validation + {} test", rest.len(), split.valid, split.test)));
    }
    let valid = rest[..split.valid].to_vec();
    let test = rest[split.valid..split.valid + split.test].to_vec();
    Ok(Graph { nodes, features, feature_dim, labels, classes, edges, train, valid, test })
}

/// Character-level text: a vocabulary and the text as token ids, split
/// into contiguous train (90 %), validation (5 %) and test (5 %) parts.
#[derive(Clone, Debug, PartialEq)]
pub struct CharText {
    /// The distinct characters, sorted; token `i` is `vocab[i]`.
    pub vocab: Vec<char>,
    /// Training tokens.
    pub train: Vec<u16>,
    /// Validation tokens.
    pub valid: Vec<u16>,
    /// Test tokens.
    pub test: Vec<u16>,
}

/// Loads a UTF-8 text file as characters.
pub fn char_text(path: impl AsRef<Path>) -> Result<CharText, DataError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| data_error(path, format!("cannot read as UTF-8 text: {e}")))?;
    let mut vocab: Vec<char> = text.chars().collect();
    vocab.sort_unstable();
    vocab.dedup();
    if vocab.len() > usize::from(u16::MAX) {
        return Err(data_error(path, "more than 65,535 distinct characters"));
    }
    let tokens: Vec<u16> = text.chars().map(|c| vocab.binary_search(&c).expect("in vocab") as u16).collect();
    let (a, b) = (tokens.len() * 90 / 100, tokens.len() * 95 / 100);
    Ok(CharText { vocab, train: tokens[..a].to_vec(), valid: tokens[a..b].to_vec(), test: tokens[b..].to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(rel)
    }

    #[test]
    fn digits_split_is_seeded_and_standardised() {
        let a = digits(1);
        assert_eq!(a.train.len() + a.valid.len() + a.test.len(), 1797);
        assert_eq!((a.train.shape, a.train.classes), ((1, 8, 8), 10));
        assert_eq!(a, digits(1));
        assert_ne!(a.train.labels, digits(2).train.labels);
        let mean = a.train.pixels.iter().sum::<f32>() / a.train.pixels.len() as f32;
        assert!(mean.abs() < 1e-3, "{mean}");
    }

    #[test]
    fn cora_loads_with_the_planetoid_split() {
        let g = graph_npz(shared("graphs/cora.npz"), GraphSplit::default()).unwrap();
        assert_eq!((g.nodes, g.feature_dim, g.classes), (2708, 1433, 7));
        assert_eq!((g.train.len(), g.valid.len(), g.test.len()), (140, 500, 1000));
        assert!(g.edges.len() > 5000 && g.edges.iter().all(|&(u, v)| u < v));
        let mut all: Vec<u32> = g.train.iter().chain(&g.valid).chain(&g.test).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1640, "splits are disjoint");
        let c = graph_npz(shared("graphs/citeseer.npz"), GraphSplit::default()).unwrap();
        assert_eq!((c.nodes, c.feature_dim, c.classes), (3312, 3703, 6));
    }

    #[test]
    fn shakespeare_has_its_65_symbols() {
        let t = char_text(shared("text/tinyshakespeare.txt")).unwrap();
        assert_eq!(t.vocab.len(), 65);
        assert_eq!(t.train.len() + t.valid.len() + t.test.len(), 1_115_394);
    }

    #[test]
    fn missing_and_malformed_files_are_clear_errors() {
        let err = idx_images("/no/such/folder", SplitSpec::default()).unwrap_err().to_string();
        assert!(err.contains("dataset-fashion-mnist"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train-images-idx3-ubyte.gz"), b"not gzip").unwrap();
        let err = idx_images(dir.path(), SplitSpec::default()).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte.gz") && err.contains("gzip"), "{err}");
        let err = graph_npz(dir.path().join("train-images-idx3-ubyte.gz"), GraphSplit::default()).unwrap_err();
        assert!(err.to_string().contains(".npz"), "{err}");
    }

    #[test]
    fn fashion_mnist_loads_when_installed() {
        // The Debian package is installed by .ci/run; skip quietly elsewhere.
        if !Path::new(FASHION_MNIST_DIR).is_dir() {
            eprintln!("skipped: {FASHION_MNIST_DIR} missing");
            return;
        }
        let s = fashion_mnist(SplitSpec::default()).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (54_000, 6_000, 10_000));
        assert_eq!((s.train.shape, s.train.classes), ((1, 28, 28), 10));
    }
}
