//! Experiment files: TOML in, a checked [`ExperimentConfig`] out.
//!
//! The top-level keys, the `[[plugin]]` entries and the budget are read
//! here; every component section through the [`Registry`], so that any
//! registered component (a family's, a user crate's, a plugin's) can be
//! named. Every error names the file, line, column, key and, where there
//! is a choice, the valid values.

use std::path::{Path, PathBuf};

use nasforge_plugin_host::{Kind as PluginKind, Manifest as PluginManifest};
use nasforge_registry::{Components, ConfigError, Configured, Document, Kind, PathContext, Registry, Section, array_of_tables, read_file};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::plugins::with_plugins;

/// When a search stops: whichever limit is reached first.
pub use nasforge_runner::Budget;

/// A checked experiment: every name known, every value in range, every
/// file present.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentConfig {
    /// The root seed; every random choice derives from it.
    pub seed: u64,
    /// The space, strategy and estimator (and, for training, dataset and
    /// trainer), each with its checked parameters.
    pub components: Components,
    /// The budget.
    pub budget: Budget,
    /// The journal file; `None` keeps trials in memory only.
    pub journal: Option<PathBuf>,
    /// The `[[plugin]]` entries: kinds known, files present.
    pub plugins: Vec<PluginManifest>,
}

impl ExperimentConfig {
    /// The space's name.
    pub fn space_name(&self) -> &str {
        self.components.space.name()
    }
}

// The top-level keys; the sections are read in their own passes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct Top {
    seed: Option<Seed>,
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

/// A root seed: any u64. TOML integers stop at 2^63 − 1, so larger seeds
/// are written as a string of digits (`seed = "18446744073709551615"`).
struct Seed(u64);

impl Seed {
    const RANGE: &'static str = "a seed is an integer from 0 to 18446744073709551615 (above 9223372036854775807, TOML's largest integer, write it as a string: seed = \"18446744073709551615\")";

    fn to_toml(&self) -> toml::Value {
        match i64::try_from(self.0) {
            Ok(v) => toml::Value::Integer(v),
            Err(_) => toml::Value::String(self.0.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Seed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        let bad = || serde::de::Error::custom(Self::RANGE);
        match Raw::deserialize(d).map_err(|_| bad())? {
            Raw::Int(v) => u64::try_from(v).map(Seed).map_err(|_| bad()),
            Raw::Text(t) => t.trim().parse::<u64>().map(Seed).map_err(|_| bad()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetRaw {
    evaluations: Option<u64>,
    seconds: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // name, kind and path are read with positions
struct PluginRaw {
    name: String,
    kind: String,
    path: String,
    sha256: Option<String>,
    base: Option<String>,
    config: Option<toml::Table>,
}

fn parse_section<T: serde::de::DeserializeOwned>(section: &Section<'_, '_>) -> Result<T, ConfigError> {
    section.parse()
}

/// The `[[plugin]]` entries of an experiment: kinds known, names unique
/// and distinct from registered components, library files present, pins
/// well-formed. (Loading them, which runs their code, waits for the run.)
fn parse_plugins(doc: &Document<'_>, base: &Path, registry: &Registry) -> Result<Vec<PluginManifest>, ConfigError> {
    let mut out: Vec<PluginManifest> = Vec::new();
    for entry in array_of_tables(&doc.root(), "plugin")? {
        let raw: PluginRaw = parse_section(&entry)?;
        let kind = PluginKind::parse(&raw.kind).ok_or_else(|| {
            let valid: Vec<&str> = PluginKind::ALL.iter().map(|k| k.as_str()).collect();
            entry.value_error("kind", format!("unknown plugin kind `{}`; valid choices: {}", raw.kind, valid.join(", ")))
        })?;
        let registry_kind = match kind {
            PluginKind::SearchSpace => Kind::Space,
            PluginKind::Strategy => Kind::Strategy,
            PluginKind::Estimator => Kind::Estimator,
        };
        if registry.contains(registry_kind, &raw.name) {
            return Err(entry.value_error("name", format!("`{}` is a built-in {kind}; give the plugin another name", raw.name)));
        }
        if out.iter().any(|o| o.name == raw.name) {
            return Err(entry.value_error("name", format!("a plugin named `{}` is already declared", raw.name)));
        }
        let path = absolute(&resolve(&raw.path, base));
        if !path.is_file() {
            return Err(entry.value_error(
                "path",
                format!(
                    "no such plugin library: {} (build it first: `cargo build -p <the plugin's package>` puts it in target/debug/, with `--release` in target/release/)",
                    path.display()
                ),
            ));
        }
        let sha256 = match &raw.sha256 {
            Some(s) if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) => return Err(entry.value_error("sha256", "must be 64 hexadecimal digits")),
            Some(s) => Some(s.to_ascii_lowercase()),
            None => None,
        };
        let config = match raw.config {
            Some(t) => serde_json::to_value(t).map_err(|e| entry.error("config", format!("cannot hand this table to a plugin: {e}")))?,
            None => serde_json::Value::Object(Default::default()),
        };
        let folder = absolute(&raw.base.as_deref().map_or_else(|| base.to_owned(), |b| resolve(b, base)));
        out.push(PluginManifest { name: raw.name, kind, path, sha256, config, base: folder });
    }
    Ok(out)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// The `[[plugin]]` entries of an experiment file, checked as
/// [`parse_str`] checks them, without the rest of the file.
pub fn load_plugin_manifests(registry: &Registry, path: impl AsRef<Path>) -> Result<Vec<PluginManifest>, ConfigError> {
    let (file, text, base) = read_file(path.as_ref(), "experiment")?;
    let doc = Document::parse(&file, &text)?;
    parse_plugins(&doc, &base, registry)
}

/// Parses and checks an experiment file. Relative paths resolve against
/// the file's folder, or against the data root (`data-root`, overridden by
/// the `NASFORGE_DATA` environment variable) for data files.
pub fn load(registry: &Registry, path: impl AsRef<Path>) -> Result<ExperimentConfig, ConfigError> {
    let (file, text, base) = read_file(path.as_ref(), "experiment")?;
    parse_str(registry, &text, &file, &base)
}

/// Parses and checks experiment TOML `text`; `file` names it in errors and
/// `base` is the folder relative paths resolve against.
pub fn parse_str(registry: &Registry, text: &str, file: &str, base: &Path) -> Result<ExperimentConfig, ConfigError> {
    let doc = Document::parse(file, text)?;
    let top: Top = parse_section(&doc.root())?;
    let plugins = parse_plugins(&doc, base, registry)?;
    let registry = with_plugins(registry, &plugins);
    let paths = PathContext::for_file(base, top.data_root.as_deref());
    let components = registry.parse_components(&doc, &paths)?;

    let budget_section = doc.section("budget")?.expect("a required top-level key");
    let raw: BudgetRaw = parse_section(&budget_section)?;
    if raw.evaluations.is_none() && raw.seconds.is_none() {
        return Err(budget_section.error("evaluations", "the budget needs `evaluations` or `seconds` (or both)"));
    }
    if raw.evaluations == Some(0) {
        return Err(budget_section.error("evaluations", "must be at least 1"));
    }
    if raw.seconds.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
        return Err(budget_section.error("seconds", "must be a positive number of seconds"));
    }

    Ok(ExperimentConfig {
        seed: top.seed.map_or(0, |s| s.0),
        components,
        budget: Budget { evaluations: raw.evaluations, seconds: raw.seconds },
        journal: top.journal.map(|j| absolute(&base.join(j))),
        plugins,
    })
}

pub(crate) fn resolve(path: &str, base: &Path) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() { p.to_owned() } else { base.join(p) }
}

fn component_table(c: &Configured) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String(c.name().to_owned()));
    t.extend(c.table().clone());
    toml::Value::Table(t)
}

impl ExperimentConfig {
    /// The configuration as experiment TOML with absolute paths: what the
    /// journal stores, and what [`parse_str`] reads back unchanged.
    pub fn to_toml(&self) -> String {
        let mut doc = toml::Table::new();
        doc.insert("seed".into(), Seed(self.seed).to_toml());
        let c = &self.components;
        doc.insert("space".into(), component_table(&c.space));
        doc.insert("strategy".into(), component_table(&c.strategy));
        doc.insert("estimator".into(), component_table(&c.estimator));
        if let Some(d) = &c.dataset {
            doc.insert("dataset".into(), component_table(d));
        }
        if let Some(t) = &c.trainer {
            doc.insert("trainer".into(), component_table(t));
        }
        if !self.plugins.is_empty() {
            let text = |s: &str| toml::Value::String(s.to_owned());
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
        let mut budget = toml::Table::new();
        if let Some(e) = self.budget.evaluations {
            budget.insert("evaluations".into(), toml::Value::Integer(e as i64));
        }
        if let Some(s) = self.budget.seconds {
            budget.insert("seconds".into(), toml::Value::Float(s));
        }
        doc.insert("budget".into(), toml::Value::Table(budget));
        toml::to_string(&doc).expect("a TOML table serialises")
    }
}
