//! `nasforge export`: one trial's architecture out of a journal, as JSON
//! (standard string, canonical key, decisions, graph, metrics), Graphviz
//! DOT, or an SVG drawing.

use std::path::Path;

use anyhow::{Context, Result, bail};
use nasforge_core::SearchSpace;
use nasforge_journal::{ExperimentRecord, Journal, TrialRecord};
use nasforge_registry::Registry;

/// Which trial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Which {
    /// The best by validation score.
    Best,
    /// Trial number N.
    Trial(u64),
}

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    /// A JSON object.
    Json,
    /// Graphviz DOT.
    Dot,
    /// An SVG drawing.
    Svg,
}

impl Format {
    /// Every format by name, for the command line.
    pub const NAMES: [&'static str; 3] = ["json", "dot", "svg"];

    /// The format called `name`.
    pub fn parse(name: &str) -> Result<Format> {
        Ok(match name {
            "json" => Format::Json,
            "dot" => Format::Dot,
            "svg" => Format::Svg,
            other => bail!("unknown export format `{other}`; valid choices: {}", Format::NAMES.join(", ")),
        })
    }
}

/// The chosen trial of the experiment (`None`: the latest) of `journal`,
/// in `format`.
pub fn export(registry: &Registry, journal: &Path, experiment: Option<i64>, which: Which, format: Format) -> Result<String> {
    let (e, trial) = select(journal, experiment, which)?;
    render(registry, journal, &e, &trial, format)
}

/// The experiment (`None`: the latest) of `journal` and its chosen trial.
pub fn select(journal: &Path, experiment: Option<i64>, which: Which) -> Result<(ExperimentRecord, TrialRecord)> {
    let j = Journal::open_read_only(journal)?;
    let experiments = j.experiments()?;
    let e = match experiment {
        Some(id) => experiments.iter().find(|e| e.id == id).with_context(|| format!("{}: no experiment with id {id}", journal.display()))?,
        None => experiments.last().with_context(|| format!("{}: no experiment", journal.display()))?,
    };
    let trials = j.trials(e.id)?;
    let trial: &TrialRecord = match which {
        Which::Best => crate::first_best(trials.iter().filter_map(|t| crate::finite_valid(t).map(|v| (t, v))))
            .map(|(t, _)| t)
            .with_context(|| format!("{} experiment {}: no successful trial", journal.display(), e.id))?,
        Which::Trial(n) => trials.iter().find(|t| t.trial == n).with_context(|| format!("{} experiment {}: no trial {n} (it has {})", journal.display(), e.id, trials.len()))?,
    };
    Ok((e.clone(), trial.clone()))
}

/// `trial` of experiment `e` (of `journal`, for messages) in `format`.
pub fn render(registry: &Registry, journal: &Path, e: &ExperimentRecord, trial: &TrialRecord, format: Format) -> Result<String> {
    let space = crate::space_of(registry, e).map_err(|why| anyhow::anyhow!("{} experiment {}: {why}", journal.display(), e.id))?;
    let arch = space.parse(&trial.arch).map_err(|err| anyhow::anyhow!("trial {}'s architecture `{}`: {err}", trial.trial, trial.arch))?;
    let graph = space.to_graph(&arch);
    let title = format!("{}: {}", space.name(), trial.arch);
    Ok(match format {
        Format::Dot => crate::drawing::dot(&graph, &title),
        Format::Svg => crate::drawing::svg(&graph).map_err(anyhow::Error::msg)?,
        Format::Json => {
            let (metrics, error) = match &trial.outcome {
                Ok(m) => (serde_json::to_value(m)?, None),
                Err(err) => (serde_json::Value::Null, Some(err.to_string())),
            };
            let v = serde_json::json!({
                "space": space.name(),
                "arch": space.format(&arch),
                "canonical_key": space.canonical_key(&arch),
                "decisions": space.arch_decisions(&arch),
                "params": space.params(&arch),
                "macs": space.macs(&arch),
                "graph": graph,
                "experiment": e.id,
                "strategy": e.strategy,
                "seed": e.seed,
                "trial": trial.trial,
                "trial_seed": trial.seed,
                "metrics": metrics,
                "error": error,
            });
            serde_json::to_string_pretty(&v)? + "\n"
        }
    })
}
