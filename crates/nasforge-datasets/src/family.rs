//! The datasets' registry entries: what a `[dataset]` section can name.
//! Each says the kind of data it loads (`image`, `graph`, `text`) so that
//! a trainer is only ever handed data it can train on.

use std::path::PathBuf;
use std::sync::Arc;

use nasforge_core::ParamError;
use nasforge_registry::{DataDir, DataFile, DatasetEntry, Params, Registry};
use serde::{Deserialize, Serialize};

use crate::{FASHION_MNIST_DIR, GraphSplit, SplitSpec};

/// The data kind of image datasets.
pub const IMAGE: &str = "image";
/// The data kind of graph datasets.
pub const GRAPH: &str = "graph";
/// The data kind of text datasets.
pub const TEXT: &str = "text";

/// `[dataset]` of an image dataset.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageDataToml {
    /// The IDX folder (for `fashion-mnist`, default: Debian's
    /// `dataset-fashion-mnist` folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<DataDir>,
    /// Fraction of the training images held out for validation.
    #[serde(default = "valid_fraction")]
    pub valid_fraction: f64,
    /// Keep at most this many training images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train: Option<usize>,
}

fn valid_fraction() -> f64 {
    0.1
}

/// An image dataset's checked settings.
#[derive(Clone, Debug)]
pub struct ImageData {
    /// The IDX folder; `None` for the built-in digits.
    pub dir: Option<PathBuf>,
    /// Held-out fraction.
    pub valid_fraction: f64,
    /// Training images kept.
    pub max_train: Option<usize>,
}

impl ImageDataToml {
    fn checked(&self, dir: Option<PathBuf>) -> Result<ImageData, ParamError> {
        if !(0.0..1.0).contains(&self.valid_fraction) {
            return Err(ParamError { key: "valid-fraction", reason: format!("must be in [0, 1), got {}", self.valid_fraction) });
        }
        if self.max_train == Some(0) {
            return Err(ParamError { key: "max-train", reason: "must be at least 1".into() });
        }
        Ok(ImageData { dir, valid_fraction: self.valid_fraction, max_train: self.max_train })
    }
}

macro_rules! image_params {
    ($name:ident, $dir:expr) => {
        /// `[dataset]` of one image dataset.
        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub ImageDataToml);

        impl Params for $name {
            type Checked = ImageData;
            fn check(&self) -> Result<ImageData, ParamError> {
                #[allow(clippy::redundant_closure_call)]
                let dir: Result<Option<PathBuf>, ParamError> = ($dir)(&self.0);
                self.0.checked(dir?)
            }
            fn resolved(&self, c: &ImageData) -> Self {
                // The folder a default pointed to is stored.
                let path = c.dir.clone().map(DataDir::from_checked);
                $name(ImageDataToml { path, ..self.0.clone() })
            }
        }
    };
}

image_params!(FashionMnistToml, |p: &ImageDataToml| match &p.path {
    Some(d) => Ok(Some(d.path().to_owned())),
    None if std::path::Path::new(FASHION_MNIST_DIR).is_dir() => Ok(Some(PathBuf::from(FASHION_MNIST_DIR))),
    None => Err(ParamError { key: "path", reason: format!("no such data folder: {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)") }),
});
image_params!(IdxToml, |p: &ImageDataToml| match &p.path {
    Some(d) => Ok(Some(d.path().to_owned())),
    None => Err(ParamError { key: "path", reason: "this dataset needs a `path` to its folder".into() }),
});
image_params!(DigitsToml, |p: &ImageDataToml| match &p.path {
    Some(_) => Err(ParamError { key: "path", reason: "the digits ship with smartcore; there is no path to give".into() }),
    None => Ok(None),
});

/// `[dataset]` of a dataset in one file (`graph-npz`, `text`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileDataToml {
    /// The file.
    pub path: DataFile,
}

impl Params for FileDataToml {
    type Checked = PathBuf;
    fn check(&self) -> Result<PathBuf, ParamError> {
        Ok(self.path.path().to_owned())
    }
}

fn load_images(c: &ImageData, seed: u64) -> Result<nasforge_registry::Data, String> {
    let data = match &c.dir {
        Some(dir) => crate::idx_images(dir, SplitSpec { valid_fraction: c.valid_fraction, seed, max_train: c.max_train }).map_err(|e| e.to_string())?,
        None => {
            let mut d = crate::digits(seed);
            if let Some(m) = c.max_train {
                let n = m.min(d.train.len());
                let len = d.train.image_len();
                d.train.pixels.truncate(n * len);
                d.train.labels.truncate(n);
            }
            d
        }
    };
    Ok(Arc::new(data))
}

/// Registers `fashion-mnist`, `idx`, `digits` (images: [`crate::ImageSplits`]),
/// `graph-npz` ([`crate::Graph`]) and `text` ([`crate::CharText`]).
pub fn register(registry: &mut Registry) {
    registry
        .add_dataset(DatasetEntry::new::<FashionMnistToml>(
            "fashion-mnist",
            "Fashion-MNIST (Xiao et al. 2017), IDX files from Debian's `dataset-fashion-mnist`; a seeded validation split.",
            IMAGE,
            load_images,
        ))
        .add_dataset(DatasetEntry::new::<IdxToml>("idx", "Any IDX image folder (MNIST layout: the four `.gz` files).", IMAGE, load_images))
        .add_dataset(DatasetEntry::new::<DigitsToml>("digits", "smartcore's 8x8 digits (1,797 images), split by the seed.", IMAGE, load_images))
        .add_dataset(DatasetEntry::new::<FileDataToml>(
            "graph-npz",
            "A node-classification graph as CSR arrays in an `.npz` (Cora, Citeseer), split Planetoid-style by the seed.",
            GRAPH,
            |path, seed| Ok(Arc::new(crate::graph_npz(path, GraphSplit { seed, ..Default::default() }).map_err(|e| e.to_string())?)),
        ))
        .add_dataset(DatasetEntry::new::<FileDataToml>(
            "text",
            "A UTF-8 text for character language models (tiny-Shakespeare), split 90/5/5.",
            TEXT,
            |path, _| Ok(Arc::new(crate::char_text(path).map_err(|e| e.to_string())?)),
        ));
}
