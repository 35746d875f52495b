//! Image datasets: IDX `.gz` folders (Fashion-MNIST, MNIST) and the 8×8
//! UCI digits, split into train/validation/test and standardised with the
//! training part's mean and std.

use std::io::Read;
use std::path::Path;

use crate::{DataError, data_error, shuffled};

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

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

/// How many of `n` training images `spec` holds out for validation and
/// how many it trains on. A fraction outside `[0, 1)`, a positive
/// fraction that rounds to no validation images (an empty validation set
/// would score every architecture 0), and no training images left (the
/// mean to standardise with would be NaN) are errors.
fn split_sizes(n: usize, spec: SplitSpec) -> Result<(usize, usize), String> {
    let f = spec.valid_fraction;
    if !(0.0..1.0).contains(&f) {
        return Err(format!("the validation fraction must be in [0, 1), got {f}"));
    }
    // f < 1, so this is at most `n`.
    let n_valid = ((n as f64) * f).round() as usize;
    if f > 0.0 && n_valid == 0 {
        return Err(format!("a validation fraction of {f} of {n} training images rounds to no validation images"));
    }
    let rest = n - n_valid;
    let n_train = spec.max_train.map_or(rest, |m| m.min(rest));
    if n_train == 0 {
        let why = if rest == 0 { format!("the validation split takes all {n} training images") } else { "max-train is 0".to_owned() };
        return Err(format!("no training images are left: {why}"));
    }
    Ok((n_valid, n_train))
}

/// Splits `train` into train/valid ([`split_sizes`]), standardises
/// everything with the training part's mean and std.
fn split_and_standardise(train: Images, test: Images, spec: SplitSpec) -> Result<ImageSplits, String> {
    let (n_valid, n_train) = split_sizes(train.len(), spec)?;
    let idx = shuffled(train.len(), spec.seed);
    let (valid_idx, train_idx) = idx.split_at(n_valid);
    let train_idx = &train_idx[..n_train];
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
    Ok(splits)
}

/// The most bytes a compressed input (a gzip file, an `.npz` archive's
/// arrays) may inflate to: more than any dataset here needs, and few
/// enough that a decompression bomb fails with an error instead of
/// exhausting memory.
pub const MAX_INFLATED_BYTES: usize = 1 << 30;

fn read_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    read_gz_within(path, MAX_INFLATED_BYTES)
}

fn read_gz_within(path: &Path, limit: usize) -> Result<Vec<u8>, DataError> {
    let file = std::fs::File::open(path).map_err(|e| data_error(path, format!("cannot open: {e}")))?;
    let mut out = Vec::new();
    // One byte past the limit tells a file at the limit from one beyond it.
    flate2::read::GzDecoder::new(file)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| data_error(path, format!("not a gzip file: {e}")))?;
    if out.len() > limit {
        return Err(data_error(path, format!("inflates to more than {limit} bytes, the limit for one file (a corrupt file or a decompression bomb)")));
    }
    Ok(out)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The byte size an IDX header claims: `header + item × dims`, `None`
/// past `u64` (a corrupt header must not wrap to a size that matches).
fn idx_size(header: u64, item: u64, dims: &[u32]) -> Option<u64> {
    dims.iter().try_fold(item, |acc, &d| acc.checked_mul(u64::from(d)))?.checked_add(header)
}

fn idx_size_error(path: &Path, what: String, claimed: Option<u64>, found: usize) -> DataError {
    let claimed = claimed.map_or_else(|| "more bytes than fit in 64 bits".to_owned(), |c| format!("{c} bytes"));
    data_error(path, format!("the header claims {what} ({claimed}), but the file has {found} bytes"))
}

/// Decodes an (already decompressed) IDX image file, magic 0x0803, into
/// `(pixels in [0,1], n, h, w)`; `path` names the file in errors. A header
/// whose `n × h × w` disagrees with the data's length is an error.
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<(Vec<f32>, usize, usize, usize), DataError> {
    if bytes.len() < 16 || be_u32(bytes, 0) != 0x0803 {
        return Err(data_error(path, "not an IDX image file (magic 0x00000803)"));
    }
    let (n, h, w) = (be_u32(bytes, 4), be_u32(bytes, 8), be_u32(bytes, 12));
    let claimed = idx_size(16, 1, &[n, h, w]);
    if claimed != Some(bytes.len() as u64) {
        return Err(idx_size_error(path, format!("{n} images of {h}×{w}"), claimed, bytes.len()));
    }
    if h == 0 || w == 0 {
        return Err(data_error(path, format!("the header claims images of {h}×{w} pixels")));
    }
    let dim = |d: u32| usize::try_from(d).map_err(|_| data_error(path, format!("the header claims a dimension of {d}, more than this machine addresses")));
    Ok((bytes[16..].iter().map(|&p| f32::from(p) / 255.0).collect(), dim(n)?, dim(h)?, dim(w)?))
}

/// Decodes an (already decompressed) IDX label file, magic 0x0801; `path`
/// names the file in errors.
pub fn parse_idx_labels(bytes: &[u8], path: &Path) -> Result<Vec<u32>, DataError> {
    if bytes.len() < 8 || be_u32(bytes, 0) != 0x0801 {
        return Err(data_error(path, "not an IDX label file (magic 0x00000801)"));
    }
    let n = be_u32(bytes, 4);
    let claimed = idx_size(8, 1, &[n]);
    if claimed != Some(bytes.len() as u64) {
        return Err(idx_size_error(path, format!("{n} labels"), claimed, bytes.len()));
    }
    Ok(bytes[8..].iter().map(|&l| u32::from(l)).collect())
}

/// Reads a gzipped IDX image file.
fn read_idx_images(path: &Path) -> Result<(Vec<f32>, usize, usize, usize), DataError> {
    parse_idx_images(&read_gz(path)?, path)
}

/// Reads a gzipped IDX label file.
fn read_idx_labels(path: &Path) -> Result<Vec<u32>, DataError> {
    parse_idx_labels(&read_gz(path)?, path)
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
    if train.is_empty() {
        // Standardising by an empty set's mean would turn every pixel NaN.
        return Err(data_error(&dir.join("train-images-idx3-ubyte.gz"), "the header claims 0 images"));
    }
    let mut test = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")?;
    if test.is_empty() {
        // No test images would report a test accuracy of 0 as if measured.
        return Err(data_error(&dir.join("t10k-images-idx3-ubyte.gz"), "the header claims 0 images"));
    }
    if test.shape != train.shape {
        let ((_, th, tw), (_, h, w)) = (test.shape, train.shape);
        return Err(data_error(&dir.join("t10k-images-idx3-ubyte.gz"), format!("images of {th}×{tw}, but the training images are {h}×{w}")));
    }
    // The network has `train.classes` outputs; a larger test label would
    // index past its logits.
    if let Some(&l) = test.labels.iter().find(|&&l| l as usize >= train.classes) {
        return Err(data_error(
            &dir.join("t10k-labels-idx1-ubyte.gz"),
            format!("test label {l} but the training labels have only {} classes", train.classes),
        ));
    }
    test.classes = train.classes;
    split_and_standardise(train, test, spec).map_err(|reason| data_error(dir, reason))
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
        .expect("the digits leave images in every split")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GraphSplit, graph_npz};

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
    fn fashion_mnist_loads() {
        // CI installs the Debian package; a missing folder is a broken
        // setup to report, not a reason to pass.
        assert!(
            Path::new(FASHION_MNIST_DIR).is_dir(),
            "Fashion-MNIST missing: `apt-get install dataset-fashion-mnist` (Debian) fills {FASHION_MNIST_DIR}; CI installs it"
        );
        let s = fashion_mnist(SplitSpec::default()).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (54_000, 6_000, 10_000));
        assert_eq!((s.train.shape, s.train.classes), ((1, 28, 28), 10));
    }

    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = magic.to_be_bytes().to_vec();
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend(data);
        b
    }

    #[test]
    fn idx_headers_that_disagree_with_the_data_are_errors_naming_the_file() {
        let path = Path::new("some/train-images-idx3-ubyte.gz");
        let (pixels, n, h, w) = parse_idx_images(&idx(0x0803, &[2, 1, 2], &[0, 255, 51, 0]), path).unwrap();
        assert_eq!((pixels, n, h, w), (vec![0.0, 1.0, 0.2, 0.0], 2, 1, 2));
        assert_eq!(parse_idx_labels(&idx(0x0801, &[3], &[1, 2, 9]), path).unwrap(), vec![1, 2, 9]);

        let err = parse_idx_images(&idx(0x0803, &[u32::MAX; 3], &[]), path).unwrap_err().to_string();
        assert!(err.contains("some/train-images-idx3-ubyte.gz") && err.contains("4294967295 images of 4294967295×4294967295"), "{err}");
        assert!(err.contains("more bytes than fit in 64 bits") && err.contains("the file has 16 bytes"), "{err}");
        // 65536 × 65536 × 4096 = 2^44: fits in u64, but 16 + 2^44 would wrap in 32 bits of usize.
        let err = parse_idx_images(&idx(0x0803, &[65_536, 65_536, 4_096], &[0; 8]), path).unwrap_err().to_string();
        assert!(err.contains("(17592186044432 bytes)") && err.contains("the file has 24 bytes"), "{err}");
        let err = parse_idx_images(&idx(0x0803, &[2, 2, 2], &[0; 4]), path).unwrap_err().to_string();
        assert!(err.contains("2 images of 2×2 (24 bytes), but the file has 20 bytes"), "{err}");
        let err = parse_idx_images(&idx(0x0803, &[0, 0, 5], &[]), path).unwrap_err().to_string();
        assert!(err.contains("0×5 pixels"), "{err}");
        let err = parse_idx_images(&idx(0x0801, &[1, 1, 1], &[0]), path).unwrap_err().to_string();
        assert!(err.contains("not an IDX image file"), "{err}");
        let err = parse_idx_images(&[0, 0, 8], path).unwrap_err().to_string();
        assert!(err.contains("not an IDX image file"), "{err}");

        let err = parse_idx_labels(&idx(0x0801, &[u32::MAX], &[1, 2]), path).unwrap_err().to_string();
        assert!(err.contains("4294967295 labels (4294967303 bytes), but the file has 10 bytes"), "{err}");
        let err = parse_idx_labels(&idx(0x0801, &[1], &[1, 2]), path).unwrap_err().to_string();
        assert!(err.contains("1 labels (9 bytes), but the file has 10 bytes"), "{err}");
        assert!(parse_idx_labels(&[0, 0, 8, 1], path).is_err());
    }

    #[test]
    fn a_gzip_that_inflates_past_the_limit_is_an_error() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.gz");
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 100_000]).unwrap();
        gz.finish().unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() < 1_000);
        assert_eq!(read_gz_within(&path, 100_000).unwrap().len(), 100_000);
        let err = read_gz_within(&path, 99_999).unwrap_err().to_string();
        assert!(err.contains("bomb.gz") && err.contains("inflates to more than 99999 bytes"), "{err}");
    }

    #[test]
    fn idx_folders_with_inconsistent_files_are_errors() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: Vec<u8>| {
            let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(dir.path().join(name)).unwrap(), flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            gz.finish().unwrap();
        };
        write("train-images-idx3-ubyte.gz", idx(0x0803, &[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]));
        write("train-labels-idx1-ubyte.gz", idx(0x0801, &[2], &[0, 1]));
        write("t10k-images-idx3-ubyte.gz", idx(0x0803, &[1, 1, 2], &[0, 1]));
        write("t10k-labels-idx1-ubyte.gz", idx(0x0801, &[1], &[0]));
        let err = idx_images(dir.path(), SplitSpec { valid_fraction: 0.0, ..SplitSpec::default() }).unwrap_err().to_string();
        assert!(err.contains("t10k-images-idx3-ubyte.gz: images of 1×2, but the training images are 2×2"), "{err}");
        write("t10k-images-idx3-ubyte.gz", idx(0x0803, &[1, 2, 2], &[0, 1, 2, 3]));
        let s = idx_images(dir.path(), SplitSpec { valid_fraction: 0.0, ..SplitSpec::default() }).unwrap();
        assert_eq!((s.train.len(), s.test.len(), s.test.shape), (2, 1, (1, 2, 2)));
        write("train-labels-idx1-ubyte.gz", idx(0x0801, &[3], &[0, 1, 1]));
        let err = idx_images(dir.path(), SplitSpec::default()).unwrap_err().to_string();
        assert!(err.contains("train-labels-idx1-ubyte.gz: 3 labels for 2 images"), "{err}");
        write("train-images-idx3-ubyte.gz", idx(0x0803, &[0, 2, 2], &[]));
        write("train-labels-idx1-ubyte.gz", idx(0x0801, &[0], &[]));
        let err = idx_images(dir.path(), SplitSpec::default()).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte.gz: the header claims 0 images"), "{err}");
    }

    /// Writes `bytes` gzipped as `dir/name`.
    fn write_gz(dir: &Path, name: &str, bytes: &[u8]) {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(dir.join(name)).unwrap(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap();
    }

    /// An IDX folder of 1×1 images with these labels.
    fn idx_folder(dir: &Path, train_labels: &[u8], test_labels: &[u8]) {
        let (n, m) = (train_labels.len() as u32, test_labels.len() as u32);
        write_gz(dir, "train-images-idx3-ubyte.gz", &idx(0x0803, &[n, 1, 1], &vec![7; n as usize]));
        write_gz(dir, "train-labels-idx1-ubyte.gz", &idx(0x0801, &[n], train_labels));
        write_gz(dir, "t10k-images-idx3-ubyte.gz", &idx(0x0803, &[m, 1, 1], &vec![7; m as usize]));
        write_gz(dir, "t10k-labels-idx1-ubyte.gz", &idx(0x0801, &[m], test_labels));
    }

    #[test]
    fn a_test_label_the_training_labels_do_not_have_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SplitSpec { valid_fraction: 0.25, ..SplitSpec::default() };
        // Training labels 0..=2: three classes, so test label 3 has no logit.
        idx_folder(dir.path(), &[0, 1, 2, 0], &[0, 3]);
        let err = idx_images(dir.path(), spec).unwrap_err();
        assert_eq!(err.path, dir.path().join("t10k-labels-idx1-ubyte.gz"));
        assert_eq!(err.reason, "test label 3 but the training labels have only 3 classes");
        idx_folder(dir.path(), &[0, 1, 2, 0], &[2, 0]);
        let s = idx_images(dir.path(), spec).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (3, 1, 2));
        assert_eq!((s.train.classes, s.valid.classes, s.test.classes), (3, 3, 3));
    }

    #[test]
    fn an_empty_test_set_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        idx_folder(dir.path(), &[0, 1, 1, 0], &[]);
        let err = idx_images(dir.path(), SplitSpec { valid_fraction: 0.25, ..SplitSpec::default() }).unwrap_err().to_string();
        assert!(err.contains("t10k-images-idx3-ubyte.gz: the header claims 0 images"), "{err}");
    }

    #[test]
    fn splits_that_leave_validation_or_training_empty_are_errors_naming_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        idx_folder(dir.path(), &[0, 1, 1, 0], &[1]);
        let split = |valid_fraction, max_train| idx_images(dir.path(), SplitSpec { valid_fraction, seed: 0, max_train });
        for (fraction, max_train, expect) in [
            // 4 × 0.1 rounds to 0: no validation images for a search to score.
            (0.1, None, "a validation fraction of 0.1 of 4 training images rounds to no validation images"),
            // 4 × 0.9 rounds to 4: nothing left to train on.
            (0.9, None, "no training images are left: the validation split takes all 4 training images"),
            (0.25, Some(0), "no training images are left: max-train is 0"),
            (1.0, None, "the validation fraction must be in [0, 1), got 1"),
            (-0.5, None, "the validation fraction must be in [0, 1), got -0.5"),
            (f64::NAN, None, "the validation fraction must be in [0, 1), got NaN"),
        ] {
            let err = split(fraction, max_train).unwrap_err();
            assert_eq!((err.path.as_path(), err.reason.as_str()), (dir.path(), expect));
        }
        // No validation split asked for, none made; the smallest non-empty
        // ones are fine.
        let s = split(0.0, None).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (4, 0, 1));
        let s = split(0.125, Some(1)).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (1, 1, 1));
        assert!(s.train.pixels.iter().chain(&s.valid.pixels).chain(&s.test.pixels).all(|p| p.is_finite()));
    }
}
