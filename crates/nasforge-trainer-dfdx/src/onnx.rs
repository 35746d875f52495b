//! `nasforge export --format onnx`: the network the trainer builds for a
//! journalled architecture, with a checkpoint's weights, the weights the
//! search kept (`[trainer] save-weights`) or at initialisation, as an ONNX model (`nasforge_engine::onnx`: IR 10, opset 17).
//! NAS-Bench-201 networks so far.

use std::path::Path;

use nasforge_core::{SearchSpace, splitmix64};
use nasforge_datasets::ImageSplits;
use nasforge_registry::{Kind, Registry};
use nasforge_space_nb201::Nb201Space;

use crate::family::TrainerConfig;
use crate::nb201::Nb201Net;

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

/// The network [`export`] writes, with what the model says of it.
pub struct Exported {
    /// The network (for checking an exported model against dfdx with
    /// [`crate::train::infer`]).
    pub net: Nb201Net,
    /// Its input's `(C, H, W)`.
    pub input: (usize, usize, usize),
    /// The model's description: architecture, shape, weights.
    pub doc: String,
}

/// The network [`export`] writes.
pub fn network(registry: &Registry, config: &str, space: &str, arch: &str, trial_seed: u64, checkpoint: Option<&Path>) -> Result<Exported, String> {
    if space != "nas-bench-201" {
        return Err(format!("ONNX export builds NAS-Bench-201 networks so far; `{space}` is not one"));
    }
    let cell = Nb201Space.parse(arch).map_err(|e| format!("`{arch}`: {e}"))?;
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
    let (c, h, w) = images.train.shape;
    let mut net = Nb201Net::new(&cell, shape, c, images.train.classes, splitmix64(trial_seed));
    let weights = match &checkpoint {
        Some(path) => {
            net.store.load_expecting(path, &[(crate::train::ARCH_META, arch)])?;
            format!("weights from {}", path.display())
        }
        None => format!("weights at initialisation (trial seed {trial_seed})"),
    };
    let doc = format!("nasforge: NAS-Bench-201 network of {arch}, C={}, {} cells per stage, {c}×{h}×{w} inputs, {} classes; {weights}", shape.channels, shape.cells, images.train.classes);
    Ok(Exported { net, input: (c, h, w), doc })
}
