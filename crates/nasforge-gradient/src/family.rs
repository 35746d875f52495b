//! The gradient family's registry entries: the one-shot strategies
//! `darts`, `gdas`, `sd-darts`, `rarts`, `rsps`, `spos` and `darts-pt` on
//! the NAS-Bench-201 supernet (all but the last on the DARTS supernet
//! too), each training
//! on the experiment's `[dataset]` (image data), each with its own table
//! ([`crate::params`]).

use std::sync::Arc;

use nasforge_datasets::ImageSplits;
use nasforge_core::ParamError;
use nasforge_registry::{Params, Registry, StrategyContext, StrategyEntry};
use nasforge_space_darts::DartsSpace;
use nasforge_space_nb201::Nb201Space;

use crate::config::{Method, OneShotConfig, Selection};
use crate::darts_cell::DartsSupernet;
use crate::nb201::Nb201Supernet;
use crate::params::{DartsPtToml, DartsToml, GdasToml, RartsToml, RspsToml, SdDartsToml, SposToml};
use crate::strategy::OneShot;

/// Whether `config` holds on `space`: checked while the file is read, so
/// that a refusal names the file, the line and the key.
fn space_check(config: &OneShotConfig, space: &str) -> Result<(), ParamError> {
    let refuse = |key: &'static str, reason: String| Err(ParamError { key, reason });
    match space {
        "nas-bench-201" if config.sharp_sep_conv => refuse(
            "sharp-sep-conv",
            "replaces the DARTS supernet's dilated convolutions; NAS-Bench-201's cell has none (use `[space] name = \"darts\"`)".into(),
        ),
        "nas-bench-201" => Ok(()),
        "darts" => {
            let nb201_only = match (&config.method, &config.selection) {
                (Method::FixedAlpha, _) => Some(("supernet", "the fixed-α supernet")),
                (_, Selection::Perturbation(_)) => Some(("name", "perturbation-based selection")),
                _ if config.ranking_sample > 0 => Some(("ranking-sample", "the ranking sample")),
                _ => None,
            };
            match nb201_only {
                Some((key, what)) => refuse(key, format!("{what} is implemented on the NAS-Bench-201 supernet only so far; on `darts` use `darts`, `gdas`, `sd-darts`, `rarts`, `rsps` or `spos`")),
                None => Ok(()),
            }
        }
        _ => refuse("name", "searches the NAS-Bench-201 or the DARTS supernet: use `[space] name = \"nas-bench-201\"` or `\"darts\"`".into()),
    }
}

fn build(name: &'static str) -> impl Fn(&OneShotConfig, &StrategyContext<'_>) -> Result<Box<dyn nasforge_core::Strategy<nasforge_registry::ErasedSpace>>, String> + Send + Sync + 'static {
    move |config, ctx| {
        let data = ctx.data.ok_or("trains on the experiment's `[dataset]`, and none was loaded")?;
        let splits: Arc<ImageSplits> = data.clone().downcast::<ImageSplits>().map_err(|_| "trains on image data".to_owned())?;
        if ctx.space.downcast_ref::<Nb201Space>().is_some() {
            return Ok(Box::new(OneShot::<Nb201Supernet>::new(name, config.clone(), ctx.seed, splits)));
        }
        if ctx.space.downcast_ref::<DartsSpace>().is_some() {
            return Ok(Box::new(OneShot::<DartsSupernet>::new(name, config.clone(), ctx.seed, splits)));
        }
        Err("searches the NAS-Bench-201 or the DARTS supernet: use `[space] name = \"nas-bench-201\"` or `\"darts\"`".into())
    }
}

/// A one-shot strategy's entry: its table, its builder, image data and
/// the space check.
fn entry<P: Params<Checked = OneShotConfig>>(name: &'static str, about: &str) -> StrategyEntry {
    StrategyEntry::new::<P>(name, about, build(name)).reading_data(nasforge_datasets::IMAGE).checking_space(space_check)
}

/// Registers the gradient family's strategies.
pub fn register(registry: &mut Registry) {
    registry.add_strategy(entry::<DartsToml>(
        "darts",
        "DARTS (Liu et al., ICLR 2019) on the NAS-Bench-201 or the DARTS supernet: mixed edges weighed by softmax(α), weights and α trained on the two halves of the training split, first order (`order = 1`, DARTS-V1) or second order (`order = 2`, the unrolled step with the finite-difference Hessian-vector product); the cell of the largest α per edge.",
    ));
    registry.add_strategy(entry::<GdasToml>(
        "gdas",
        "GDAS (Dong & Yang, CVPR 2019): one Gumbel-softmax sample per edge and forward pass with straight-through weights, only the sampled operation computed, τ annealed linearly from `tau-max` to `tau-min`; the cell of the largest α per edge.",
    ));
    registry.add_strategy(entry::<SdDartsToml>(
        "sd-darts",
        "SD-DARTS (Zhu et al., Neural Networks 2023): DARTS whose weight step also distils from the supernets of the previous `teachers` steps, their softened predictions averaged as the vote (τ² · KL at temperature `temperature`, weighted by `distill-weight`). Built from the paper's abstract: the vote's form, the term and the defaults are ours.",
    ));
    registry.add_strategy(entry::<RartsToml>(
        "rarts",
        "RARTS (Xue, Qi & Xin, IEEE Access 2022): two weight sets sharing α, `w` on the weights' half and `y` on α's, coupled by `beta`/2 · ‖w − y‖²; Gauss-Seidel first-order steps of w, y, then α on `L_val(y, α) + lambda · L_train(w, α)`. Built from the paper's abstract: the objective's exact form and the defaults are ours.",
    ));
    registry.add_strategy(entry::<RspsToml>(
        "rsps",
        "Random search with parameter sharing (Li & Talwalkar, 2019; the NB201 paper's RSPS): the supernet trained on a uniformly random path per step; the best of `candidates` random cells, each scored on one batch.",
    ));
    registry.add_strategy(entry::<SposToml>(
        "spos",
        "Single-path one-shot (Guo et al., ECCV 2020): the supernet trained on uniformly sampled paths, then an evolutionary search (mutation and crossover of the best) on the supernet's accuracy.",
    ));
    registry.add_strategy(entry::<DartsPtToml>(
        "darts-pt",
        "DARTS-PT (Wang et al., ICLR 2021): perturbation-based selection on a trained supernet (`supernet = \"darts\"` or `\"fixed-alpha\"`): edges in random order, each keeping the operation whose removal costs the supernet the most validation accuracy, with fine-tuning between decisions.",
    ));
}
