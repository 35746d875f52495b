//! Reports of searches, read from their journals: `nasforge report
//! JOURNAL... --out DIR` writes one self-contained HTML page (inline SVG,
//! no script, no network) with
//! - best-so-far validation and test accuracy against evaluations and
//!   against search time, the seeds of one configuration as mean ± sd,
//!   several configurations side by side;
//! - the Pareto front of multi-objective runs;
//! - the α trajectories, supernet accuracies and Hessian eigenvalue of
//!   one-shot (supernet) runs, from their journal steps;
//! - the top trials, and a drawing of each configuration's best
//!   architecture ([`drawing`]).
//!
//! [`dashboard`] serves the same page live on 127.0.0.1.
//!
//! Experiments are grouped into series by their configuration with the
//! seed left out: the seeds of one configuration are one series.

pub mod curves;
pub mod dashboard;
pub mod drawing;
pub mod export;
mod figures;
pub(crate) mod page;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nasforge_journal::{ExperimentRecord, Journal, TrialRecord};
use nasforge_registry::{ErasedSpace, Kind, Registry};
use serde_json::Value as Json;

/// One experiment of a journal, with what the figures need.
pub struct Run {
    /// The journal it is in.
    pub journal: PathBuf,
    /// Its record.
    pub experiment: ExperimentRecord,
    /// Its trials, in trial order.
    pub trials: Vec<TrialRecord>,
    /// Its steps' logs (a long strategy's epochs), in step order.
    pub steps: Vec<Json>,
    /// The index of its series in [`Report::series`].
    pub series: usize,
    /// Its space, rebuilt from the journalled configuration (for
    /// drawings); `None` when this build's registry cannot.
    pub space: Option<ErasedSpace>,
    /// The strategy's named objectives, when it has several.
    pub objectives: Vec<String>,
}

/// The experiments of one configuration, seeds apart.
pub struct Series {
    /// Its name in legends and tables (the strategy, and what tells
    /// apart series of the same strategy).
    pub label: String,
    /// Indices into [`Report::runs`], in load order.
    pub runs: Vec<usize>,
}

/// Everything a report shows, loaded.
pub struct Report {
    /// Every experiment of every journal, in the order given.
    pub runs: Vec<Run>,
    /// The series, in order of first appearance.
    pub series: Vec<Series>,
    /// What could not be shown and why (a configuration this build
    /// cannot read, say).
    pub notes: Vec<String>,
}

/// The first of the items with the highest score, as the runner picks
/// its best trial (a later tie does not replace it).
pub(crate) fn first_best<T>(items: impl IntoIterator<Item = (T, f64)>) -> Option<(T, f64)> {
    items.into_iter().fold(None, |best, (item, score)| match best {
        Some((_, b)) if b >= score => best,
        _ => Some((item, score)),
    })
}

/// What a series shares: the components, and the configuration without
/// its seed and journal (empty for a runner built in code, which stores
/// none).
fn series_key(e: &ExperimentRecord) -> String {
    let config = match e.config.parse::<toml::Table>() {
        Ok(mut t) => {
            t.remove("seed");
            t.remove("journal");
            toml::to_string(&t).unwrap_or_default()
        }
        Err(_) => e.config.clone(),
    };
    format!("{}\n{}\n{}\n{config}", e.space, e.strategy, e.estimator)
}

/// The validation score of a successful trial with a finite one.
pub(crate) fn finite_valid(t: &TrialRecord) -> Option<f64> {
    t.outcome.as_ref().ok().map(|m| m.valid).filter(|v| v.is_finite())
}

/// The experiment's space, rebuilt from its journalled `[space]` (only
/// that section: the data and plugins of the rest need not exist any
/// more).
pub fn space_of(registry: &Registry, e: &ExperimentRecord) -> Result<ErasedSpace, String> {
    let config: toml::Table = e.config.parse().map_err(|err| format!("its configuration does not parse: {err}"))?;
    let space = registry.configure_stored(Kind::Space, &config, "space", None)?;
    let entry = registry.space(space.name()).ok_or_else(|| format!("no space `{}` in this build", space.name()))?;
    entry.build(&space, e.seed)
}

impl Report {
    /// Reads every experiment of `journals`. A journal that cannot be
    /// opened is an error; an experiment whose configuration this build
    /// cannot read is shown without a drawing, with a note.
    pub fn load(registry: &Registry, journals: &[PathBuf]) -> Result<Report> {
        let mut report = Report { runs: Vec::new(), series: Vec::new(), notes: Vec::new() };
        let mut keys: Vec<String> = Vec::new();
        for path in journals {
            let journal = Journal::open_read_only(path).with_context(|| format!("opening {}", path.display()))?;
            for experiment in journal.experiments()? {
                let trials = journal.trials(experiment.id)?;
                let steps = journal
                    .steps(experiment.id)?
                    .into_iter()
                    .map(|(_, log)| serde_json::from_str(&log).unwrap_or(Json::Null))
                    .collect();
                let key = series_key(&experiment);
                let series = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                    keys.push(key);
                    report.series.push(Series { label: String::new(), runs: Vec::new() });
                    keys.len() - 1
                });
                let (space, objectives) = report.components(registry, path, &experiment);
                report.series[series].runs.push(report.runs.len());
                report.runs.push(Run { journal: path.clone(), experiment, trials, steps, series, space, objectives });
            }
        }
        report.label_series();
        Ok(report)
    }

    /// The run's space and objectives from its configuration, or a note.
    fn components(&mut self, registry: &Registry, path: &Path, e: &ExperimentRecord) -> (Option<ErasedSpace>, Vec<String>) {
        let config: toml::Table = e.config.parse().unwrap_or_default();
        let space = space_of(registry, e).map_err(|why| self.notes.push(format!("{} experiment {}: no drawing of its architectures: {why}", path.display(), e.id))).ok();
        let objectives = match registry.configure_stored(Kind::Strategy, &config, "strategy", None) {
            Ok(c) => c.objectives().map(<[String]>::to_vec).unwrap_or_default(),
            Err(why) => {
                self.notes.push(format!("{} experiment {}: its strategy's objectives are unknown (no Pareto front): {why}", path.display(), e.id));
                Vec::new()
            }
        };
        (space, objectives)
    }

    /// Labels: the strategy; then the space and estimator where series of
    /// one strategy differ in them; then a number where they still clash.
    fn label_series(&mut self) {
        let first = |s: &Series| &self.runs[s.runs[0]].experiment;
        let mut labels: Vec<String> = self.series.iter().map(|s| first(s).strategy.clone()).collect();
        let clash = |labels: &[String], i: usize| labels.iter().filter(|l| **l == labels[i]).count() > 1;
        let with_stack: Vec<String> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| if clash(&labels, i) { format!("{} ({} on {})", labels[i], first(s).estimator, first(s).space) } else { labels[i].clone() })
            .collect();
        labels = with_stack;
        let mut seen = std::collections::HashMap::<String, usize>::new();
        let counts: Vec<bool> = (0..labels.len()).map(|i| clash(&labels, i)).collect();
        for (i, label) in labels.iter_mut().enumerate() {
            if counts[i] {
                let n = seen.entry(label.clone()).or_default();
                *n += 1;
                *label = format!("{label} #{n}");
            }
        }
        for (s, label) in self.series.iter_mut().zip(labels) {
            s.label = label;
        }
    }

    /// The page, as one HTML string.
    pub fn html(&self) -> Result<String> {
        page::html(self)
    }

    /// Writes the page to `DIR/index.html` (creating `dir`) and returns
    /// its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("index.html");
        std::fs::write(&path, self.html()?).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}
