//! `nasforge export --format onnx`: the network the trainer builds for a
//! journalled architecture, with a checkpoint's weights, the weights the
//! search kept (`[trainer] save-weights`) or at initialisation, as an
//! ONNX model (`nasforge_engine::onnx`: IR 10, opset 17): NAS-Bench-201,
//! DARTS and MobileNet networks.

use std::path::Path;

use nasforge_core::{SearchSpace, splitmix64};
use nasforge_datasets::ImageSplits;
use nasforge_registry::{Kind, Registry};
use nasforge_space_darts::DartsSpace;
use nasforge_space_mobilenet::MobileNetSpace;
use nasforge_space_nb201::Nb201Space;

use crate::darts::DartsNet;
use crate::family::TrainerConfig;
use crate::mobilenet::MobileNet;
use crate::nb201::Nb201Net;
use crate::train::{ARCH_META, infer};

/// The spaces whose networks export.
pub const SPACES: [&str; 3] = ["nas-bench-201", "darts", "mobilenet"];

/// The ONNX model of `arch` (the experiment's space `space`) as the
/// experiment's `[trainer]` and `[dataset]` (`config`, its journalled
/// TOML) build it, with `checkpoint`'s weights (`nasforge train`'s
/// safetensors); without one, with the weights the search kept of the
/// trial with seed `trial_seed` (`[trainer] save-weights`), else as that
/// trial's network started. The dataset is loaded for its image shape and
/// classes.
pub fn export(registry: &Registry, config: &str, space: &str, arch: &str, trial_seed: u64, checkpoint: Option<&Path>) -> Result<Vec<u8>, String> {
    let n = network(registry, config, space, arch, trial_seed, checkpoint)?;
    Ok(n.net.to_onnx(n.input, &n.doc))
}

/// A network that exports.
pub enum Net {
    /// A NAS-Bench-201 network.
    Nb201(Nb201Net),
    /// A DARTS evaluation network.
    Darts(DartsNet),
    /// A MobileNet/MBConv network.
    MobileNet(MobileNet),
}

impl Net {
    /// Its ONNX model (see [`Nb201Net::to_onnx`]).
    pub fn to_onnx(&self, input: (usize, usize, usize), doc: &str) -> Vec<u8> {
        match self {
            Net::Nb201(n) => n.to_onnx(input, doc),
            Net::Darts(n) => n.to_onnx(input, doc),
            Net::MobileNet(n) => n.to_onnx(input, doc),
        }
    }

    /// Its logits in inference mode ([`infer`]), to check a model against.
    pub fn infer(&mut self, pixels: Vec<f32>, batch: usize, shape: (usize, usize, usize)) -> Vec<f32> {
        match self {
            Net::Nb201(n) => infer(n, pixels, batch, shape),
            Net::Darts(n) => infer(n, pixels, batch, shape),
            Net::MobileNet(n) => infer(n, pixels, batch, shape),
        }
    }

    fn store(&mut self) -> &mut nasforge_engine::ParamStore {
        match self {
            Net::Nb201(n) => &mut n.store,
            Net::Darts(n) => &mut n.store,
            Net::MobileNet(n) => &mut n.store,
        }
    }
}

/// The network [`export`] writes, with what the model says of it.
pub struct Exported {
    /// The network.
    pub net: Net,
    /// Its input's `(C, H, W)`.
    pub input: (usize, usize, usize),
    /// The model's description: architecture, shape, weights.
    pub doc: String,
}

/// The network [`export`] writes.
pub fn network(registry: &Registry, config: &str, space: &str, arch: &str, trial_seed: u64, checkpoint: Option<&Path>) -> Result<Exported, String> {
    if !SPACES.contains(&space) {
        return Err(format!("ONNX export builds the networks of {} so far; `{space}` is not one", SPACES.join(", ")));
    }
    let config: toml::Table = config.parse().map_err(|e| format!("the journalled configuration: {e}"))?;
    let trainer = registry.configure_stored(Kind::Trainer, &config, "trainer", Some("image"))?;
    let image = &trainer.checked::<TrainerConfig>().ok_or_else(|| format!("trainer `{}` trains no image networks", trainer.name()))?.image;
    let shape = image.shape;
    // The search's own weights of this trial, when it kept them.
    let saved = image.save_weights.as_ref().map(|dir| crate::train::weights_path(dir, trial_seed)).filter(|p| p.is_file());
    let checkpoint = checkpoint.map(Path::to_path_buf).or(saved);
    let dataset = registry.configure_stored(Kind::Dataset, &config, "dataset", None)?;
    let dataset_name = dataset.name().to_owned();
    let entry = registry.dataset(&dataset_name).ok_or_else(|| format!("no dataset `{dataset_name}` in this build"))?;
    let data = entry.load(&dataset, 0)?;
    let images = data.downcast::<ImageSplits>().map_err(|_| format!("dataset `{dataset_name}` holds no images"))?;
    let ((c, h, w), classes) = (images.train.shape, images.train.classes);
    // As the trainer initialises the trial's network (`train_nb201`,
    // `train_darts`).
    let init = splitmix64(trial_seed);
    let bad = |e: nasforge_core::ParseArchError| format!("`{arch}`: {e}");
    // `train_mobilenet`'s space: the width multiplier is the trainer's.
    let mobilenet = MobileNetSpace { width: image.width, ..MobileNetSpace::default() };
    let (mut net, what) = if space == "darts" {
        let genotype = DartsSpace.parse(arch).map_err(bad)?;
        (Net::Darts(DartsNet::new(&genotype, shape.channels, shape.cells, c, classes, init)), format!("DARTS network, C={}, {} cells", shape.channels, shape.cells))
    } else if space == "mobilenet" {
        let mb = mobilenet.parse(arch).map_err(bad)?;
        (Net::MobileNet(MobileNet::new(&mb, &mobilenet, c, classes, init)), format!("MobileNet network, width {}", image.width))
    } else {
        let cell = Nb201Space.parse(arch).map_err(bad)?;
        (Net::Nb201(Nb201Net::new(&cell, shape, c, classes, init)), format!("NAS-Bench-201 network, C={}, {} cells per stage", shape.channels, shape.cells))
    };
    let weights = match &checkpoint {
        Some(path) => {
            net.store().load_expecting(path, &[(ARCH_META, arch)])?;
            format!("weights from {}", path.display())
        }
        None => format!("weights at initialisation (trial seed {trial_seed})"),
    };
    let doc = format!("nasforge: {what} of {arch}, {c}×{h}×{w} inputs, {classes} classes; {weights}");
    Ok(Exported { net, input: (c, h, w), doc })
}
