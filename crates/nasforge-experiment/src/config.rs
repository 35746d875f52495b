//! Experiment files: TOML in, a checked [`ExperimentConfig`] out.
//!
//! Parsing happens in passes over the same text so that every error keeps
//! its position: first the top-level keys, then each section's `name`, then
//! that section with the parameter struct of the named component (unknown
//! keys rejected). Every error names the file, line, key and, where there
//! is a choice, the valid values.

use std::fmt;
use std::path::{Path, PathBuf};

use nasforge_plugin_host::{Kind as PluginKind, Manifest as PluginManifest};
use nasforge_core::{Goal, Metric, Objective};
use nasforge_strategies::{
    Nsga2Config, Nsga2Params, QMutationConfig, QMutationParams, RegularizedEvolutionConfig, RegularizedEvolutionParams, ReinforceConfig,
    ReinforceParams,
};
use nasforge_trainer_dfdx::{LstmPolicyConfig, LstmPolicyParams};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::training::{DataKind, DatasetConfig, TrainerConfig, data_root, parse_dataset, parse_trainer, training_tables};

/// The environment variable that overrides an experiment's `data-root`.
pub const DATA_ENV: &str = "NASFORGE_DATA";

/// Search spaces an experiment can name.
pub const SPACES: &[&str] = &["nas-bench-201", "nas-bench-graph", "nas-bench-graph-proteins", "nas-bench-macro", "darts", "mobilenet", "transformer", "auto-gnn", "hytra"];
/// Strategies an experiment can name.
pub const STRATEGIES: &[&str] = &["random-search", "regularized-evolution", "local-search", "nsga2", "reinforce", "q-mutation"];
/// Built-in estimators an experiment can name.
pub const ESTIMATORS: &[&str] = &["nas-bench-201", "nas-bench-graph", "nas-bench-macro", "dfdx-train"];

/// A mistake in an experiment file, located as precisely as possible.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct ConfigError {
    /// The file (or `journal:ID` for a stored config).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The key, as `section.key`, when known.
    pub key: Option<String>,
    /// What is wrong, with the valid choices where there are some.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// The search space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpaceConfig {
    /// `nas-bench-201`.
    Nb201,
    /// `nas-bench-graph` (9 ops).
    NbGraph,
    /// `nas-bench-graph-proteins` (5 ops).
    NbGraphProteins,
    /// `nas-bench-macro` (8 layers of 3 MobileNet-style candidates).
    NbMacro,
    /// `darts` (DARTS normal and reduction cells; trained for real).
    Darts,
    /// `mobilenet` (MBConv stages; trained for real).
    MobileNet,
    /// `transformer` (FlexiBERT/HAT-like encoders; trained for real as
    /// character language models).
    Transformer,
    /// `auto-gnn` (GraphNAS layers; trained for real on a graph).
    AutoGnn,
    /// `hytra` (BossNAS hybrid CNN-transformer; estimator plugins only).
    HyTra,
    /// A search-space plugin, by name.
    Plugin(String),
}

impl SpaceConfig {
    /// The space's name in experiment files.
    pub fn name(&self) -> &str {
        match self {
            SpaceConfig::Nb201 => "nas-bench-201",
            SpaceConfig::NbGraph => "nas-bench-graph",
            SpaceConfig::NbGraphProteins => "nas-bench-graph-proteins",
            SpaceConfig::NbMacro => "nas-bench-macro",
            SpaceConfig::Darts => "darts",
            SpaceConfig::MobileNet => "mobilenet",
            SpaceConfig::Transformer => "transformer",
            SpaceConfig::AutoGnn => "auto-gnn",
            SpaceConfig::HyTra => "hytra",
            SpaceConfig::Plugin(name) => name,
        }
    }

    /// The built-in estimators that can evaluate this space (estimator
    /// plugins can evaluate any).
    pub fn estimators(&self) -> &'static [&'static str] {
        match self {
            SpaceConfig::Nb201 => &["nas-bench-201", "dfdx-train"],
            SpaceConfig::NbGraph => &["nas-bench-graph", "dfdx-train"],
            SpaceConfig::NbGraphProteins => &["nas-bench-graph"],
            SpaceConfig::NbMacro => &["nas-bench-macro"],
            SpaceConfig::Darts | SpaceConfig::MobileNet | SpaceConfig::AutoGnn | SpaceConfig::Transformer => &["dfdx-train"],
            // No built-in estimator can evaluate these yet: a plugin can.
            SpaceConfig::HyTra | SpaceConfig::Plugin(_) => &[],
        }
    }
}

/// The strategy, with checked parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyConfig {
    /// `random-search`.
    RandomSearch,
    /// `regularized-evolution`.
    RegularizedEvolution(RegularizedEvolutionConfig),
    /// `local-search`.
    LocalSearch {
        /// Move at the first better neighbour instead of the best one.
        first_improvement: bool,
    },
    /// `nsga2`, with its objectives' names as written.
    Nsga2(Nsga2Config, Vec<String>),
    /// `reinforce`, with its policy.
    Reinforce(ReinforceConfig, Controller),
    /// `q-mutation`.
    QMutation(QMutationConfig),
    /// A strategy plugin, by name.
    Plugin(String),
}

impl StrategyConfig {
    /// The strategy's name in experiment files.
    pub fn name(&self) -> &str {
        match self {
            StrategyConfig::RandomSearch => "random-search",
            StrategyConfig::RegularizedEvolution(_) => "regularized-evolution",
            StrategyConfig::LocalSearch { .. } => "local-search",
            StrategyConfig::Nsga2(..) => "nsga2",
            StrategyConfig::Reinforce(..) => "reinforce",
            StrategyConfig::QMutation(_) => "q-mutation",
            StrategyConfig::Plugin(name) => name,
        }
    }
}

/// The estimator, with its data resolved to existing paths.
#[derive(Clone, Debug, PartialEq)]
pub enum EstimatorConfig {
    /// `dfdx-train`: train every candidate for real (needs `[dataset]` and
    /// `[trainer]`).
    Train {
        /// The data.
        dataset: DatasetConfig,
        /// The training of each candidate.
        trainer: TrainerConfig,
    },
    /// `nas-bench-201`: the NAS-Bench-201 CSV, optionally joined with an
    /// HW-NAS-Bench table (its metrics become named extra metrics).
    Nb201Table {
        /// The CSV file.
        path: PathBuf,
        /// The HW-NAS-Bench CSV, when given.
        hardware: Option<PathBuf>,
    },
    /// `nas-bench-graph`: a NAS-Bench-Graph `.bench` pickle.
    NbGraphTable {
        /// The pickle file.
        path: PathBuf,
    },
    /// `nas-bench-macro`: the NAS-Bench-Macro JSON.
    NbMacroTable {
        /// The JSON file.
        path: PathBuf,
    },
    /// An estimator plugin, by name.
    Plugin(String),
}

impl EstimatorConfig {
    /// The estimator's name in experiment files.
    pub fn name(&self) -> &str {
        match self {
            EstimatorConfig::Nb201Table { .. } => "nas-bench-201",
            EstimatorConfig::NbGraphTable { .. } => "nas-bench-graph",
            EstimatorConfig::NbMacroTable { .. } => "nas-bench-macro",
            EstimatorConfig::Train { .. } => "dfdx-train",
            EstimatorConfig::Plugin(name) => name,
        }
    }
}

/// When a search stops: whichever limit is reached first.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Budget {
    /// Trials, failed ones included.
    pub evaluations: Option<u64>,
    /// Seconds of search, summed over resumed sessions.
    pub seconds: Option<f64>,
}

/// A checked experiment: every name known, every value in range, every
/// file present.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentConfig {
    /// The root seed; every random choice derives from it.
    pub seed: u64,
    /// The search space.
    pub space: SpaceConfig,
    /// The strategy.
    pub strategy: StrategyConfig,
    /// The estimator.
    pub estimator: EstimatorConfig,
    /// The budget.
    pub budget: Budget,
    /// The journal file; `None` keeps trials in memory only.
    pub journal: Option<PathBuf>,
    /// The `[[plugin]]` entries: kinds known, files present.
    pub plugins: Vec<PluginManifest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)] // the sections are parsed in their own passes
struct Top {
    seed: Option<u64>,
    journal: Option<String>,
    data_root: Option<String>,
    space: IgnoredAny,
    strategy: IgnoredAny,
    estimator: IgnoredAny,
    budget: IgnoredAny,
    dataset: Option<IgnoredAny>,
    trainer: Option<IgnoredAny>,
    plugin: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct PluginsPass {
    #[serde(default)]
    plugin: Vec<PluginRaw>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginRaw {
    name: toml::Spanned<String>,
    kind: toml::Spanned<String>,
    path: toml::Spanned<String>,
    sha256: Option<toml::Spanned<String>>,
    base: Option<String>,
    config: Option<toml::Table>,
}

#[derive(Deserialize)]
struct Named {
    name: toml::Spanned<String>,
}

#[derive(Deserialize)]
struct Names {
    space: Named,
    strategy: Named,
    estimator: Named,
}

/// One pass: the sections in these shapes, the top-level keys ignored.
#[derive(Deserialize)]
#[allow(dead_code)] // each pass reads one section
struct Sections<Sp, St, Es, Bu> {
    space: Sp,
    strategy: St,
    estimator: Es,
    budget: Bu,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NameOnly {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct RegularizedEvolutionRaw {
    name: String,
    population: Option<usize>,
    sample_size: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct LocalSearchRaw {
    name: String,
    first_improvement: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TableRaw {
    name: String,
    path: toml::Spanned<String>,
    hardware: Option<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct QMutationRaw {
    name: String,
    population: Option<usize>,
    sample_size: Option<usize>,
    epsilon: Option<f64>,
    alpha: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct ReinforceRaw {
    name: String,
    controller: Option<toml::Spanned<String>>,
    lr: Option<f64>,
    baseline_decay: Option<f64>,
    entropy: Option<f64>,
    hidden: Option<usize>,
    temperature: Option<f64>,
    tanh_constant: Option<f64>,
}

/// REINFORCE's policies, as named in experiment files.
pub const CONTROLLERS: &[&str] = &["factorised", "lstm"];

/// The policy REINFORCE learns.
#[derive(Clone, Debug, PartialEq)]
pub enum Controller {
    /// `factorised`: independent softmax logits per decision.
    Factorised,
    /// `lstm`: the NASNet/ENAS autoregressive LSTM controller (dfdx).
    Lstm(LstmPolicyConfig),
}

impl Controller {
    /// The controller's name in experiment files.
    pub fn name(&self) -> &str {
        match self {
            Controller::Factorised => "factorised",
            Controller::Lstm(_) => "lstm",
        }
    }

    /// The default step size: on the logits for the factorised policy
    /// (NB201, 20 seeds: 0.05–0.15 all within 0.04 of the best), Adam's
    /// for the LSTM.
    pub fn default_lr(&self) -> f64 {
        match self {
            Controller::Factorised => 0.1,
            Controller::Lstm(_) => LSTM_LR,
        }
    }
}

/// Adam's step size for the LSTM controller when the file gives none.
const LSTM_LR: f64 = 0.005;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct Nsga2Raw {
    name: String,
    population: Option<usize>,
    objectives: toml::Spanned<Vec<String>>,
    crossover_prob: Option<f64>,
    mutation_prob: Option<f64>,
}

/// An objective by name: `valid` and `test` are maximised, every other
/// metric (params, flops, latency, cost, any named metric) minimised.
pub fn objective_named(name: &str) -> Objective {
    let (metric, goal) = match name {
        "valid" => (Metric::Valid, Goal::Maximize),
        "test" => (Metric::Test, Goal::Maximize),
        "params" => (Metric::Params, Goal::Minimize),
        "flops" => (Metric::Flops, Goal::Minimize),
        "latency" => (Metric::Latency, Goal::Minimize),
        "cost" => (Metric::Cost, Goal::Minimize),
        other => (Metric::Named(other.to_owned()), Goal::Minimize),
    };
    Objective { metric, goal }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetRaw {
    evaluations: Option<u64>,
    seconds: Option<f64>,
}

/// Where the text came from, to locate errors.
pub(crate) struct Source<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    pub(crate) fn error_at(&self, offset: Option<usize>, key: Option<String>, message: impl Into<String>) -> ConfigError {
        let (line, column) = match offset {
            Some(o) => {
                let before = &self.text[..o.min(self.text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError { file: self.file.to_owned(), line, column, key, message: message.into() }
    }

    /// The `section.key` written on the line holding `offset`.
    fn key_at(&self, offset: usize) -> Option<String> {
        let start = self.text[..offset.min(self.text.len())].rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next().unwrap_or("");
        let section = self.text[..start]
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.split(']').next()).map(str::trim));
        match line.split_once('=') {
            Some((k, _)) => {
                let k = k.trim().trim_matches('"');
                Some(section.map_or_else(|| k.to_owned(), |s| format!("{s}.{k}")))
            }
            None => line.trim().strip_prefix('[').and_then(|l| l.split(']').next()).map(|s| s.trim().to_owned()),
        }
    }

    /// The offset of `key = ...` inside `[section]`, for errors found after
    /// parsing.
    pub(crate) fn find_key(&self, section: &str, key: &str) -> Option<usize> {
        let mut offset = 0;
        let mut inside = false;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim();
            if let Some(header) = t.strip_prefix('[') {
                inside = header.split(']').next().map(str::trim) == Some(section);
            } else if inside
                && t.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
            {
                return Some(offset + line.find(key).unwrap_or(0));
            }
            offset += line.len();
        }
        None
    }

    fn toml_error(&self, e: toml::de::Error) -> ConfigError {
        let offset = e.span().map(|s| s.start);
        // serde names the Rust type a section deserializes into; the user
        // wrote a table.
        let message = match e.message().split_once("expected struct ") {
            Some((head, _)) => format!("{head}expected a table"),
            None => e.message().to_owned(),
        };
        // "missing field `x`" points at the enclosing table: name the key.
        let key = match (offset.and_then(|o| self.key_at(o)), message.strip_prefix("missing field `")) {
            (Some(section), Some(rest)) if !section.contains('.') => {
                Some(format!("{section}.{}", rest.split('`').next().unwrap_or("")))
            }
            (None, Some(rest)) => Some(rest.split('`').next().unwrap_or("").to_owned()),
            (key, _) => key,
        };
        self.error_at(offset, key, message)
    }

    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|e| self.toml_error(e))
    }
}

pub(crate) fn choice_error(src: &Source<'_>, what: &str, name: &toml::Spanned<String>, valid: &[&str]) -> ConfigError {
    src.error_at(
        Some(name.span().start),
        Some(format!("{what}.name")),
        format!("unknown {what} `{}`; valid choices: {}", name.get_ref(), valid.join(", ")),
    )
}

/// The `[[plugin]]` entries of an experiment: kinds known, names unique
/// and distinct from built-ins, library files present, pins well-formed.
/// (Loading them, which runs their code, waits for the run.)
pub(crate) fn parse_plugins(src: &Source<'_>, base: &Path) -> Result<Vec<PluginManifest>, ConfigError> {
    let raw = src.parse::<PluginsPass>()?.plugin;
    let mut out: Vec<PluginManifest> = Vec::new();
    for p in raw {
        let at = |s: &toml::Spanned<String>, key: &str, message: String| src.error_at(Some(s.span().start), Some(format!("plugin.{key}")), message);
        let kind = PluginKind::parse(p.kind.get_ref()).ok_or_else(|| {
            let valid: Vec<&str> = PluginKind::ALL.iter().map(|k| k.as_str()).collect();
            at(&p.kind, "kind", format!("unknown plugin kind `{}`; valid choices: {}", p.kind.get_ref(), valid.join(", ")))
        })?;
        let name = p.name.get_ref().clone();
        let builtins = match kind {
            PluginKind::SearchSpace => SPACES,
            PluginKind::Strategy => STRATEGIES,
            PluginKind::Estimator => ESTIMATORS,
        };
        if builtins.contains(&name.as_str()) {
            return Err(at(&p.name, "name", format!("`{name}` is a built-in {kind}; give the plugin another name")));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(at(&p.name, "name", format!("a plugin named `{name}` is already declared")));
        }
        let path = std::path::absolute(resolve(p.path.get_ref(), base)).unwrap_or_else(|_| resolve(p.path.get_ref(), base));
        if !path.is_file() {
            return Err(at(&p.path, "path", format!("no such plugin library: {} (build it first)", path.display())));
        }
        let sha256 = match &p.sha256 {
            Some(s) if s.get_ref().len() != 64 || !s.get_ref().bytes().all(|b| b.is_ascii_hexdigit()) => {
                return Err(at(s, "sha256", "must be 64 hexadecimal digits".into()));
            }
            Some(s) => Some(s.get_ref().to_ascii_lowercase()),
            None => None,
        };
        let config = match p.config {
            Some(t) => serde_json::to_value(t).map_err(|e| at(&p.name, "config", format!("cannot hand this table to a plugin: {e}")))?,
            None => serde_json::Value::Object(Default::default()),
        };
        let folder = p.base.as_deref().map_or_else(|| base.to_owned(), |b| resolve(b, base));
        let folder = std::path::absolute(&folder).unwrap_or(folder);
        out.push(PluginManifest { name, kind, path, sha256, config, base: folder });
    }
    Ok(out)
}

/// The `[[plugin]]` entries of an experiment file, checked as
/// [`parse_str`] checks them, without the rest of the file.
pub fn load_plugin_manifests(path: impl AsRef<Path>) -> Result<Vec<PluginManifest>, ConfigError> {
    let (file, text, base) = read_config(path.as_ref(), "experiment")?;
    parse_plugins(&Source { file: &file, text: &text }, &base)
}

/// Parses and checks an experiment file. Relative paths resolve against
/// the file's folder, or against the data root (`data-root`, overridden by
/// the `NASFORGE_DATA` environment variable) for data files.
pub fn load(path: impl AsRef<Path>) -> Result<ExperimentConfig, ConfigError> {
    let (file, text, base) = read_config(path.as_ref(), "experiment")?;
    parse_str(&text, &file, &base)
}

/// Reads a TOML file: its display name, its text, and the folder relative
/// paths in it resolve against.
pub(crate) fn read_config(path: &Path, what: &str) -> Result<(String, String, PathBuf), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read the {what} file: {e}"),
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok((file, text, base.to_owned()))
}

/// Parses and checks experiment TOML `text`; `file` names it in errors and
/// `base` is the folder relative paths resolve against.
pub fn parse_str(text: &str, file: &str, base: &Path) -> Result<ExperimentConfig, ConfigError> {
    let src = Source { file, text };
    let top: Top = src.parse()?;
    let plugins = parse_plugins(&src, base)?;
    let names: Names = src.parse()?;
    // Built-ins, then the plugins of a kind, as choices.
    let choices = |builtins: &[&'static str], kind: PluginKind| -> Vec<String> {
        builtins.iter().map(|s| (*s).to_owned()).chain(plugins.iter().filter(|p| p.kind == kind).map(|p| p.name.clone())).collect()
    };
    let is_plugin = |name: &str, kind: PluginKind| plugins.iter().any(|p| p.kind == kind && p.name == name);
    let choice = |what: &str, name: &toml::Spanned<String>, valid: Vec<String>| {
        choice_error(&src, what, name, &valid.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let mut objectives_at = None;
    let space = match names.space.name.get_ref().as_str() {
        "nas-bench-201" => SpaceConfig::Nb201,
        "nas-bench-graph" => SpaceConfig::NbGraph,
        "nas-bench-graph-proteins" => SpaceConfig::NbGraphProteins,
        "nas-bench-macro" => SpaceConfig::NbMacro,
        "darts" => SpaceConfig::Darts,
        "mobilenet" => SpaceConfig::MobileNet,
        "transformer" => SpaceConfig::Transformer,
        "auto-gnn" => SpaceConfig::AutoGnn,
        "hytra" => SpaceConfig::HyTra,
        n if is_plugin(n, PluginKind::SearchSpace) => SpaceConfig::Plugin(n.to_owned()),
        _ => return Err(choice("space", &names.space.name, choices(SPACES, PluginKind::SearchSpace))),
    };
    src.parse::<Sections<NameOnly, IgnoredAny, IgnoredAny, IgnoredAny>>()?;

    let strategy = match names.strategy.name.get_ref().as_str() {
        "random-search" => {
            src.parse::<Sections<IgnoredAny, NameOnly, IgnoredAny, IgnoredAny>>()?;
            StrategyConfig::RandomSearch
        }
        "regularized-evolution" => {
            let raw = src.parse::<Sections<IgnoredAny, RegularizedEvolutionRaw, IgnoredAny, IgnoredAny>>()?.strategy;
            let mut params = RegularizedEvolutionParams::default();
            if let Some(p) = raw.population {
                params = params.population(p);
            }
            if let Some(s) = raw.sample_size {
                params = params.sample_size(s);
            }
            let checked = params.check().map_err(|e| {
                src.error_at(src.find_key("strategy", e.key), Some(format!("strategy.{}", e.key)), e.reason)
            })?;
            StrategyConfig::RegularizedEvolution(checked)
        }
        "nsga2" => {
            let raw = src.parse::<Sections<IgnoredAny, Nsga2Raw, IgnoredAny, IgnoredAny>>()?.strategy;
            let names = raw.objectives.get_ref().clone();
            let mut params = Nsga2Params::new(names.iter().map(|n| objective_named(n)).collect());
            params.population = raw.population.unwrap_or(params.population);
            params.crossover_prob = raw.crossover_prob.unwrap_or(params.crossover_prob);
            params.mutation_prob = raw.mutation_prob.unwrap_or(params.mutation_prob);
            let checked = params.check().map_err(|e| {
                src.error_at(src.find_key("strategy", e.key), Some(format!("strategy.{}", e.key)), e.reason)
            })?;
            objectives_at = Some(raw.objectives.span().start);
            StrategyConfig::Nsga2(checked, names)
        }
        "q-mutation" => {
            let raw = src.parse::<Sections<IgnoredAny, QMutationRaw, IgnoredAny, IgnoredAny>>()?.strategy;
            let d = QMutationParams::default();
            let params = QMutationParams {
                population: raw.population.unwrap_or(d.population),
                sample_size: raw.sample_size.unwrap_or(d.sample_size),
                epsilon: raw.epsilon.unwrap_or(d.epsilon),
                alpha: raw.alpha.unwrap_or(d.alpha),
                objective: d.objective,
            };
            let checked = params.check().map_err(|e| {
                src.error_at(src.find_key("strategy", e.key), Some(format!("strategy.{}", e.key)), e.reason)
            })?;
            StrategyConfig::QMutation(checked)
        }
        "reinforce" => {
            let raw = src.parse::<Sections<IgnoredAny, ReinforceRaw, IgnoredAny, IgnoredAny>>()?.strategy;
            let key_error = |key: &str, reason: String| src.error_at(src.find_key("strategy", key), Some(format!("strategy.{key}")), reason);
            let controller = match raw.controller.as_ref().map(|c| c.get_ref().as_str()) {
                None | Some("factorised") => {
                    for (key, given) in [("hidden", raw.hidden.is_some()), ("temperature", raw.temperature.is_some()), ("tanh-constant", raw.tanh_constant.is_some())] {
                        if given {
                            return Err(key_error(key, format!("`{key}` sets the LSTM controller; add `controller = \"lstm\"` or remove it")));
                        }
                    }
                    Controller::Factorised
                }
                Some("lstm") => {
                    let d = LstmPolicyParams::default();
                    let params = LstmPolicyParams {
                        hidden: raw.hidden.unwrap_or(d.hidden),
                        temperature: raw.temperature.unwrap_or(d.temperature),
                        tanh_constant: raw.tanh_constant.unwrap_or(d.tanh_constant),
                        init_range: d.init_range,
                    };
                    Controller::Lstm(params.check().map_err(|e| key_error(e.key, e.reason))?)
                }
                Some(other) => {
                    let at = raw.controller.as_ref().map(|c| c.span().start);
                    return Err(src.error_at(at, Some("strategy.controller".into()), format!("unknown controller `{other}`; valid choices: {}", CONTROLLERS.join(", "))));
                }
            };
            let d = ReinforceParams::default();
            let params = ReinforceParams {
                lr: raw.lr.unwrap_or(controller.default_lr()),
                baseline_decay: raw.baseline_decay.unwrap_or(d.baseline_decay),
                entropy: raw.entropy.unwrap_or(d.entropy),
                objective: d.objective,
            };
            let checked = params.check().map_err(|e| key_error(e.key, e.reason))?;
            StrategyConfig::Reinforce(checked, controller)
        }
        "local-search" => {
            let raw = src.parse::<Sections<IgnoredAny, LocalSearchRaw, IgnoredAny, IgnoredAny>>()?.strategy;
            StrategyConfig::LocalSearch { first_improvement: raw.first_improvement.unwrap_or(false) }
        }
        n if is_plugin(n, PluginKind::Strategy) => {
            src.parse::<Sections<IgnoredAny, NameOnly, IgnoredAny, IgnoredAny>>()?;
            StrategyConfig::Plugin(n.to_owned())
        }
        _ => return Err(choice("strategy", &names.strategy.name, choices(STRATEGIES, PluginKind::Strategy))),
    };

    let estimator_name = names.estimator.name.get_ref().as_str();
    let valid_estimators = choices(space.estimators(), PluginKind::Estimator);
    if !valid_estimators.iter().any(|e| e == estimator_name) {
        let message = if space.estimators().is_empty() {
            let plugins = if valid_estimators.is_empty() {
                "declare one with `[[plugin]]`, kind = \"estimator\"".to_owned()
            } else {
                format!("valid choices here: {}", valid_estimators.join(", "))
            };
            format!("no built-in estimator evaluates space `{}` yet; name an estimator plugin ({plugins})", space.name())
        } else if ESTIMATORS.contains(&estimator_name) {
            format!("estimator `{estimator_name}` cannot evaluate space `{}`; valid choices for it: {}", space.name(), valid_estimators.join(", "))
        } else {
            format!("unknown estimator `{estimator_name}`; valid choices for space `{}`: {}", space.name(), valid_estimators.join(", "))
        };
        return Err(src.error_at(Some(names.estimator.name.span().start), Some("estimator.name".into()), message));
    }
    let data_root = data_root(base, top.data_root.as_deref());
    let only_for_training = |top: &Top| -> Result<(), ConfigError> {
        match [("dataset", top.dataset.is_some()), ("trainer", top.trainer.is_some())].iter().find(|s| s.1) {
            Some(section) => Err(src.error_at(
                src.text.find(&format!("[{}]", section.0)),
                Some(section.0.to_owned()),
                format!("`[{}]` is only read by the `dfdx-train` estimator", section.0),
            )),
            None => Ok(()),
        }
    };
    let estimator = if is_plugin(estimator_name, PluginKind::Estimator) {
        only_for_training(&top)?;
        src.parse::<Sections<IgnoredAny, IgnoredAny, NameOnly, IgnoredAny>>()?;
        EstimatorConfig::Plugin(estimator_name.to_owned())
    } else if estimator_name == "dfdx-train" {
        src.parse::<Sections<IgnoredAny, IgnoredAny, NameOnly, IgnoredAny>>()?;
        let missing = |section: &str| {
            src.error_at(
                Some(names.estimator.name.span().start),
                Some(section.to_owned()),
                format!("the `dfdx-train` estimator needs a `[{section}]` section"),
            )
        };
        if top.dataset.is_none() {
            return Err(missing("dataset"));
        }
        if top.trainer.is_none() {
            return Err(missing("trainer"));
        }
        let dataset = parse_dataset(&src, base, data_root.as_deref())?;
        let needs = match space {
            SpaceConfig::NbGraph | SpaceConfig::AutoGnn => DataKind::Graph,
            SpaceConfig::Transformer => DataKind::Text,
            _ => DataKind::Images,
        };
        if dataset.data_kind() != needs {
            let want = needs.describe();
            return Err(src.error_at(
                src.find_key("dataset", "name"),
                Some("dataset.name".into()),
                format!("space `{}` trains on {want}", space.name()),
            ));
        }
        EstimatorConfig::Train { dataset, trainer: parse_trainer(&src)? }
    } else {
        only_for_training(&top)?;
        let table = src.parse::<Sections<IgnoredAny, IgnoredAny, TableRaw, IgnoredAny>>()?.estimator;
        let data_file = |spanned: &toml::Spanned<String>, key: &str| {
            let data_path = resolve(spanned.get_ref(), data_root.as_deref().unwrap_or(base));
            if !data_path.is_file() {
                let hint = match &data_root {
                    Some(root) => format!(" (data root {}; set {DATA_ENV} to move it)", root.display()),
                    None => String::new(),
                };
                return Err(src.error_at(
                    Some(spanned.span().start),
                    Some(format!("estimator.{key}")),
                    format!("no such data file: {}{hint}", data_path.display()),
                ));
            }
            Ok(std::path::absolute(&data_path).unwrap_or(data_path))
        };
        let data_path = data_file(&table.path, "path")?;
        let hardware = table.hardware.as_ref().map(|h| data_file(h, "hardware")).transpose()?;
        match estimator_name {
            "nas-bench-201" => EstimatorConfig::Nb201Table { path: data_path, hardware },
            "nas-bench-macro" if hardware.is_none() => EstimatorConfig::NbMacroTable { path: data_path },
            _ if hardware.is_some() => {
                return Err(src.error_at(
                    src.find_key("estimator", "hardware"),
                    Some("estimator.hardware".into()),
                    "only the `nas-bench-201` estimator joins a hardware table",
                ));
            }
            _ => EstimatorConfig::NbGraphTable { path: data_path },
        }
    };

    if let StrategyConfig::Nsga2(_, names) = &strategy {
        // Named objectives must be metrics the estimator reports.
        let mut valid: Vec<String> = ["valid", "test", "params"].map(String::from).to_vec();
        if matches!(estimator, EstimatorConfig::NbMacroTable { .. }) {
            valid.push("flops".into());
        }
        if let EstimatorConfig::Nb201Table { hardware: Some(hw), .. } = &estimator {
            let header = std::fs::read_to_string(hw).ok().and_then(|t| t.lines().next().map(str::to_owned)).unwrap_or_default();
            valid.extend(header.split(',').skip(1).map(|c| c.trim().to_owned()));
        }
        let is_plugin_estimator = matches!(estimator, EstimatorConfig::Plugin(_));
        if let Some(bad) = names.iter().find(|n| !valid.contains(n) && !is_plugin_estimator) {
            return Err(src.error_at(
                objectives_at,
                Some("strategy.objectives".into()),
                format!("estimator `{}` reports no metric `{bad}`; valid choices: {}", estimator.name(), valid.join(", ")),
            ));
        }
    }

    let raw_budget = src.parse::<Sections<IgnoredAny, IgnoredAny, IgnoredAny, BudgetRaw>>()?.budget;
    let budget_error = |key: &str, message: &str| {
        src.error_at(src.find_key("budget", key).or_else(|| src.find_key("budget", "")), Some(format!("budget.{key}")), message)
    };
    if raw_budget.evaluations.is_none() && raw_budget.seconds.is_none() {
        return Err(budget_error("evaluations", "the budget needs `evaluations` or `seconds` (or both)"));
    }
    if raw_budget.evaluations == Some(0) {
        return Err(budget_error("evaluations", "must be at least 1"));
    }
    if raw_budget.seconds.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
        return Err(budget_error("seconds", "must be a positive number of seconds"));
    }

    Ok(ExperimentConfig {
        seed: top.seed.unwrap_or(0),
        space,
        strategy,
        estimator,
        budget: Budget { evaluations: raw_budget.evaluations, seconds: raw_budget.seconds },
        journal: top.journal.map(|j| std::path::absolute(base.join(&j)).unwrap_or_else(|_| base.join(j))),
        plugins,
    })
}

pub(crate) fn resolve(path: &str, base: &Path) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() { p.to_owned() } else { base.join(p) }
}

impl ExperimentConfig {
    /// The configuration as experiment TOML with absolute paths: what the
    /// journal stores, and what [`parse_str`] reads back unchanged.
    pub fn to_toml(&self) -> String {
        let mut doc = toml::Table::new();
        doc.insert("seed".into(), toml::Value::Integer(self.seed as i64));
        let section = |pairs: Vec<(&str, toml::Value)>| {
            toml::Value::Table(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        };
        let text = |s: &str| toml::Value::String(s.to_owned());
        doc.insert("space".into(), section(vec![("name", text(self.space.name()))]));
        let mut strategy = vec![("name", text(self.strategy.name()))];
        if let StrategyConfig::RegularizedEvolution(c) = &self.strategy {
            strategy.push(("population", toml::Value::Integer(c.params().population as i64)));
            strategy.push(("sample-size", toml::Value::Integer(c.params().sample_size as i64)));
        }
        if let StrategyConfig::LocalSearch { first_improvement } = &self.strategy {
            strategy.push(("first-improvement", toml::Value::Boolean(*first_improvement)));
        }
        if let StrategyConfig::QMutation(c) = &self.strategy {
            let p = c.params();
            strategy.push(("population", toml::Value::Integer(p.population as i64)));
            strategy.push(("sample-size", toml::Value::Integer(p.sample_size as i64)));
            strategy.push(("epsilon", toml::Value::Float(p.epsilon)));
            strategy.push(("alpha", toml::Value::Float(p.alpha)));
        }
        if let StrategyConfig::Reinforce(c, controller) = &self.strategy {
            strategy.push(("controller", text(controller.name())));
            if let Controller::Lstm(l) = controller {
                strategy.push(("hidden", toml::Value::Integer(l.params().hidden as i64)));
                strategy.push(("temperature", toml::Value::Float(l.params().temperature)));
                strategy.push(("tanh-constant", toml::Value::Float(l.params().tanh_constant)));
            }
            strategy.push(("lr", toml::Value::Float(c.params().lr)));
            strategy.push(("baseline-decay", toml::Value::Float(c.params().baseline_decay)));
            strategy.push(("entropy", toml::Value::Float(c.params().entropy)));
        }
        if let StrategyConfig::Nsga2(c, names) = &self.strategy {
            strategy.push(("population", toml::Value::Integer(c.params().population as i64)));
            strategy.push(("objectives", toml::Value::Array(names.iter().map(|n| text(n)).collect())));
            strategy.push(("crossover-prob", toml::Value::Float(c.params().crossover_prob)));
            strategy.push(("mutation-prob", toml::Value::Float(c.params().mutation_prob)));
        }
        doc.insert("strategy".into(), section(strategy));
        match &self.estimator {
            EstimatorConfig::Nb201Table { path, hardware } => {
                let mut e = vec![("name", text(self.estimator.name())), ("path", text(&path.display().to_string()))];
                if let Some(h) = hardware {
                    e.push(("hardware", text(&h.display().to_string())));
                }
                doc.insert("estimator".into(), section(e));
            }
            EstimatorConfig::NbGraphTable { path } | EstimatorConfig::NbMacroTable { path } => {
                doc.insert(
                    "estimator".into(),
                    section(vec![("name", text(self.estimator.name())), ("path", text(&path.display().to_string()))]),
                );
            }
            EstimatorConfig::Train { dataset, trainer } => {
                doc.insert("estimator".into(), section(vec![("name", text(self.estimator.name()))]));
                let (d, t) = training_tables(dataset, trainer);
                doc.insert("dataset".into(), toml::Value::Table(d));
                doc.insert("trainer".into(), toml::Value::Table(t));
            }
            EstimatorConfig::Plugin(name) => {
                doc.insert("estimator".into(), section(vec![("name", text(name))]));
            }
        }
        if !self.plugins.is_empty() {
            let entries = self.plugins.iter().map(|p| {
                let mut t = toml::Table::new();
                t.insert("name".into(), text(&p.name));
                t.insert("kind".into(), text(p.kind.as_str()));
                t.insert("path".into(), text(&p.path.display().to_string()));
                if let Some(pin) = &p.sha256 {
                    t.insert("sha256".into(), text(pin));
                }
                t.insert("base".into(), text(&p.base.display().to_string()));
                // JSON that came from TOML goes back without loss.
                if let Ok(toml::Value::Table(c)) = toml::Value::try_from(&p.config) {
                    t.insert("config".into(), toml::Value::Table(c));
                }
                toml::Value::Table(t)
            });
            doc.insert("plugin".into(), toml::Value::Array(entries.collect()));
        }
        let mut budget = Vec::new();
        if let Some(e) = self.budget.evaluations {
            budget.push(("evaluations", toml::Value::Integer(e as i64)));
        }
        if let Some(s) = self.budget.seconds {
            budget.push(("seconds", toml::Value::Float(s)));
        }
        doc.insert("budget".into(), section(budget));
        toml::to_string(&doc).expect("a TOML table serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nb201_csv() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv")
    }

    fn doc(strategy: &str, budget: &str) -> String {
        format!(
            "seed = 4\n\n[space]\nname = \"nas-bench-201\"\n\n[strategy]\n{strategy}\n\n[estimator]\nname = \"nas-bench-201\"\npath = \"{}\"\n\n[budget]\n{budget}\n",
            nb201_csv().display()
        )
    }

    fn err(text: &str) -> ConfigError {
        parse_str(text, "x.toml", Path::new(".")).unwrap_err()
    }

    #[test]
    fn a_valid_file_round_trips_through_its_stored_form() {
        let text = doc("name = \"regularized-evolution\"\npopulation = 30\nsample-size = 7", "evaluations = 50");
        let c = parse_str(&text, "x.toml", Path::new(".")).unwrap();
        assert_eq!(c.seed, 4);
        assert_eq!(c.budget.evaluations, Some(50));
        let again = parse_str(&c.to_toml(), "journal:1", Path::new("/")).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn errors_name_line_key_and_choices() {
        let e = err(&doc("name = \"regularised-evolution\"", "evaluations = 5"));
        assert_eq!((e.line, e.key.as_deref()), (Some(7), Some("strategy.name")));
        assert!(e.message.contains("random-search, regularized-evolution"), "{e}");

        let e = err(&doc("name = \"regularized-evolution\"\npopulaton = 3", "evaluations = 5"));
        assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("strategy.populaton")));
        assert!(e.message.contains("`population`") && e.message.contains("`sample-size`"), "{e}");

        let e = err(&doc("name = \"regularized-evolution\"\npopulation = \"many\"", "evaluations = 5"));
        assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("strategy.population")));

        let e = err(&doc("name = \"regularized-evolution\"\npopulation = 4\nsample-size = 9", "evaluations = 5"));
        assert_eq!((e.line, e.key.as_deref()), (Some(9), Some("strategy.sample-size")));

        let e = err(&doc("name = \"random-search\"", "evaluations = 0"));
        assert_eq!(e.key.as_deref(), Some("budget.evaluations"));
        let e = err(&doc("name = \"random-search\"", "seconds = -1.0"));
        assert_eq!(e.key.as_deref(), Some("budget.seconds"));

        let e = err(&doc("name = \"random-search\"", "evaluations = 5").replace("seed = 4", "sede = 4"));
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("sede")));

        let e = err(&doc("name = \"random-search\"", "evaluations = 5").replace("cifar10_v1_1", "nope"));
        assert_eq!(e.key.as_deref(), Some("estimator.path"));
        assert!(e.message.contains("no such data file"), "{e}");

        let e = err(&doc("name = \"random-search\"", "evaluations = 5").replace("name = \"nas-bench-201\"\npath", "name = \"nas-bench-graph\"\npath"));
        assert_eq!(e.key.as_deref(), Some("estimator.name"));
        assert!(e.message.contains("valid choices for it: nas-bench-201"), "{e}");
    }

    #[test]
    fn reinforce_controllers_are_checked_and_round_trip() {
        let e = err(&doc("name = \"reinforce\"\ncontroller = \"gru\"", "evaluations = 5"));
        assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("strategy.controller")));
        assert!(e.message.contains("valid choices: factorised, lstm"), "{e}");
        let e = err(&doc("name = \"reinforce\"\nhidden = 32", "evaluations = 5"));
        assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("strategy.hidden")));
        assert!(e.message.contains("controller = \"lstm\""), "{e}");
        let e = err(&doc("name = \"reinforce\"\ncontroller = \"lstm\"\nhidden = 0", "evaluations = 5"));
        assert_eq!((e.line, e.key.as_deref()), (Some(9), Some("strategy.hidden")));

        let c = parse_str(&doc("name = \"reinforce\"\ncontroller = \"lstm\"\nhidden = 32", "evaluations = 5"), "x.toml", Path::new(".")).unwrap();
        let StrategyConfig::Reinforce(r, Controller::Lstm(l)) = &c.strategy else { panic!("{:?}", c.strategy) };
        assert_eq!((r.params().lr, l.params().hidden), (LSTM_LR, 32));
        assert_eq!(parse_str(&c.to_toml(), "x.toml", Path::new(".")).unwrap(), c);
    }
}
