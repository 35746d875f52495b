//! cdylib plugins as registry entries: each `[[plugin]]` of an experiment
//! adds one space, strategy or estimator to (a copy of) the registry, and
//! from then on is named, checked and built like any other component.

use std::sync::Arc;

use nasforge_core::derive_seed;
use nasforge_plugin_host::{Kind as PluginKind, Manifest, PluginEstimator, PluginStrategy, plugin_space};
use nasforge_registry::{About, Built, EstimatorEntry, NoParams, Registry, Serves, SpaceEntry, StrategyEntry};

/// `registry` with one entry per plugin manifest.
pub(crate) fn with_plugins(registry: &Registry, manifests: &[Manifest]) -> Registry {
    let mut registry = registry.clone();
    for m in manifests {
        let about = About::new::<NoParams>(&m.name, &format!("{} plugin ({})", m.kind, m.path.display()))
            .with_hint(format!("plugin `{}` takes its parameters in `[plugin.config]` of its `[[plugin]]` entry", m.name));
        let manifest = m.clone();
        // Loading runs the plugin's code: it waits for the run, and each
        // build loads (the library is mapped once and never unloaded).
        let instance = move |root_seed: u64, component: &str, space: &str| {
            let plugin = nasforge_plugin_host::load(&manifest).map_err(|e| e.to_string())?;
            plugin.instantiate(derive_seed(root_seed, component), space).map_err(|e| e.to_string())
        };
        match m.kind {
            PluginKind::SearchSpace => {
                let space_name = m.name.clone();
                registry.add_space(SpaceEntry::fallible(about, move |_, seed| {
                    Ok(nasforge_registry::ErasedSpace::new(plugin_space(instance(seed, "space", &space_name)?)))
                }));
            }
            PluginKind::Strategy => {
                registry.add_strategy(StrategyEntry::erased(about, move |_, ctx| {
                    Ok(Box::new(PluginStrategy::new(instance(ctx.root_seed, "strategy", nasforge_core::SearchSpace::name(ctx.space))?)))
                }));
            }
            PluginKind::Estimator => {
                registry.add_estimator(EstimatorEntry::erased(about, Serves::Any, move |_, ctx| {
                    let plugin = instance(ctx.root_seed, "estimator", nasforge_core::SearchSpace::name(ctx.space))?;
                    Ok(Built::new(Box::new(PluginEstimator::for_space(plugin, Arc::new(ctx.space.clone())))))
                }));
            }
        }
    }
    registry
}
