//! The registry: every component by name. The config checker, the
//! builder, the command line and the plugin host all read it.

use std::path::PathBuf;

use nasforge_core::{Estimator, Objective, Strategy, derive_seed};

use crate::entry::{
    About, Built, Configured, DatasetEntry, EstimatorContext, EstimatorEntry, EstimatorKind, SpaceEntry, StrategyContext, StrategyEntry,
    TrainerContext, TrainerEntry,
};
use crate::erased::{DynArch, ErasedSpace};
use crate::params::PathContext;
use crate::source::{ConfigError, Document, Section};

/// A set of components that registers itself: what a family crate
/// exposes (bevy's `Plugin::build` is the model). Any
/// `fn(&mut Registry)` is one.
pub trait Family {
    /// Adds this family's entries.
    fn build(&self, registry: &mut Registry);
}

impl<F: Fn(&mut Registry)> Family for F {
    fn build(&self, registry: &mut Registry) {
        self(registry)
    }
}

/// The kinds of component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A search space (`[space]`).
    Space,
    /// A strategy (`[strategy]`).
    Strategy,
    /// An estimator (`[estimator]`).
    Estimator,
    /// A dataset (`[dataset]`).
    Dataset,
    /// A trainer (`[trainer]`).
    Trainer,
}

impl Kind {
    /// As experiment files and messages say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Space => "space",
            Kind::Strategy => "strategy",
            Kind::Estimator => "estimator",
            Kind::Dataset => "dataset",
            Kind::Trainer => "trainer",
        }
    }
}

/// Every registered component, in registration order.
#[derive(Clone, Default)]
pub struct Registry {
    spaces: Vec<SpaceEntry>,
    strategies: Vec<StrategyEntry>,
    estimators: Vec<EstimatorEntry>,
    datasets: Vec<DatasetEntry>,
    trainers: Vec<TrainerEntry>,
}

/// The components an experiment names, each configured.
#[derive(Clone, Debug, PartialEq)]
pub struct Components {
    /// `[space]`.
    pub space: Configured,
    /// `[strategy]`.
    pub strategy: Configured,
    /// `[estimator]`.
    pub estimator: Configured,
    /// `[dataset]`, for a training estimator.
    pub dataset: Option<Configured>,
    /// `[trainer]`, for a training estimator.
    pub trainer: Option<Configured>,
}

/// The components built and wired, ready to run.
pub struct Stack {
    /// The space searched (the estimator's refinement, where it made one).
    pub space: ErasedSpace,
    /// The strategy.
    pub strategy: Box<dyn Strategy<ErasedSpace>>,
    /// The estimator.
    pub estimator: Box<dyn Estimator<DynArch>>,
    /// The strategy's named objectives, when it has several.
    pub objectives: Vec<(String, Objective)>,
}

fn find<'r, E>(entries: &'r [E], name: &str, about: impl Fn(&E) -> &str) -> Option<&'r E> {
    entries.iter().find(|e| about(e) == name)
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a family's components.
    pub fn add(&mut self, family: impl Family) -> &mut Self {
        family.build(self);
        self
    }

    /// Whether a component of this kind is called `name`.
    pub fn contains(&self, kind: Kind, name: &str) -> bool {
        self.names(kind).contains(&name)
    }

    /// The facts of every component of one kind, in registration order.
    pub fn abouts(&self, kind: Kind) -> Vec<&About> {
        match kind {
            Kind::Space => self.spaces.iter().map(|e| &e.about).collect(),
            Kind::Strategy => self.strategies.iter().map(|e| &e.about).collect(),
            Kind::Estimator => self.estimators.iter().map(|e| &e.about).collect(),
            Kind::Dataset => self.datasets.iter().map(|e| &e.about).collect(),
            Kind::Trainer => self.trainers.iter().map(|e| &e.about).collect(),
        }
    }

    /// The facts of the component of kind `kind` called `name`.
    pub fn about(&self, kind: Kind, name: &str) -> Option<&About> {
        self.abouts(kind).into_iter().find(|a| a.name == name)
    }

    /// The names of one kind, in registration order.
    pub fn names(&self, kind: Kind) -> Vec<&str> {
        self.abouts(kind).into_iter().map(|a| a.name.as_str()).collect()
    }

    fn claim(&self, kind: Kind, name: &str) {
        // Two components under one name would make experiment files
        // ambiguous: a composition mistake, caught at start-up.
        assert!(!self.contains(kind, name), "two components of kind {} are registered as `{name}`", kind.as_str());
    }

    /// Registers a space.
    pub fn add_space(&mut self, entry: SpaceEntry) -> &mut Self {
        self.claim(Kind::Space, &entry.about.name);
        self.spaces.push(entry);
        self
    }

    /// Registers a strategy.
    pub fn add_strategy(&mut self, entry: StrategyEntry) -> &mut Self {
        self.claim(Kind::Strategy, &entry.about.name);
        self.strategies.push(entry);
        self
    }

    /// Registers an estimator.
    pub fn add_estimator(&mut self, entry: EstimatorEntry) -> &mut Self {
        self.claim(Kind::Estimator, &entry.about.name);
        self.estimators.push(entry);
        self
    }

    /// Registers a dataset.
    pub fn add_dataset(&mut self, entry: DatasetEntry) -> &mut Self {
        self.claim(Kind::Dataset, &entry.about.name);
        self.datasets.push(entry);
        self
    }

    /// Registers a trainer.
    pub fn add_trainer(&mut self, entry: TrainerEntry) -> &mut Self {
        self.claim(Kind::Trainer, &entry.about.name);
        self.trainers.push(entry);
        self
    }

    /// The spaces.
    pub fn spaces(&self) -> &[SpaceEntry] {
        &self.spaces
    }
    /// The strategies.
    pub fn strategies(&self) -> &[StrategyEntry] {
        &self.strategies
    }
    /// The estimators.
    pub fn estimators(&self) -> &[EstimatorEntry] {
        &self.estimators
    }
    /// The datasets.
    pub fn datasets(&self) -> &[DatasetEntry] {
        &self.datasets
    }
    /// The trainers.
    pub fn trainers(&self) -> &[TrainerEntry] {
        &self.trainers
    }

    /// The space called `name`.
    pub fn space(&self, name: &str) -> Option<&SpaceEntry> {
        find(&self.spaces, name, |e| &e.about.name)
    }
    /// The strategy called `name`.
    pub fn strategy(&self, name: &str) -> Option<&StrategyEntry> {
        find(&self.strategies, name, |e| &e.about.name)
    }
    /// The estimator called `name`.
    pub fn estimator(&self, name: &str) -> Option<&EstimatorEntry> {
        find(&self.estimators, name, |e| &e.about.name)
    }
    /// The dataset called `name`.
    pub fn dataset(&self, name: &str) -> Option<&DatasetEntry> {
        find(&self.datasets, name, |e| &e.about.name)
    }
    /// The trainer called `name`.
    pub fn trainer(&self, name: &str) -> Option<&TrainerEntry> {
        find(&self.trainers, name, |e| &e.about.name)
    }

    /// The estimators that evaluate space `space`: the training estimator
    /// where some trainer builds its networks.
    pub fn estimators_for(&self, space: &str) -> Vec<&str> {
        self.estimators
            .iter()
            .filter(|e| match e.kind {
                EstimatorKind::Training => self.trainers.iter().any(|t| t.serves.contains(space)),
                EstimatorKind::Direct(_) => e.serves.contains(space),
            })
            .map(|e| e.about.name.as_str())
            .collect()
    }

    /// The trainers that build networks of space `space`.
    pub fn trainers_for(&self, space: &str) -> Vec<&TrainerEntry> {
        self.trainers.iter().filter(|t| t.serves.contains(space)).collect()
    }

    /// The error for a `name` this registry does not know as a `kind`;
    /// names a component of another kind when it is one.
    fn unknown(&self, section: &Section<'_, '_>, kind: Kind, name: &toml::Spanned<String>, valid: &[&str]) -> ConfigError {
        let other = [Kind::Space, Kind::Strategy, Kind::Estimator, Kind::Dataset, Kind::Trainer]
            .into_iter()
            .find(|k| *k != kind && self.contains(*k, name.get_ref()));
        let also = match other {
            Some(k) => {
                let article = if k == Kind::Estimator { "an" } else { "a" };
                format!(" (`{}` is {article} {}: is it declared or registered as the right kind?)", name.get_ref(), k.as_str())
            }
            None => String::new(),
        };
        section.source().error_at(
            Some(name.span().start),
            Some(section.key_path("name")),
            format!("unknown {} `{}`; valid choices: {}{also}", kind.as_str(), name.get_ref(), valid.join(", ")),
        )
    }

    /// Reads a section of component kind `kind`: its `name` (or
    /// `default_name` when it has none), then that entry's parameters.
    pub fn parse_entry(&self, kind: Kind, section: &Section<'_, '_>, paths: &PathContext, default_name: Option<&str>) -> Result<Configured, ConfigError> {
        let name = match (section.string("name")?, default_name) {
            (Some(n), _) => n,
            (None, Some(d)) => {
                let at = section.offset_of("name");
                toml::Spanned::new(at..at, d.to_owned())
            }
            (None, None) => section.required_string("name")?,
        };
        match self.about(kind, name.get_ref()) {
            Some(about) => about.params.parse(section, paths),
            None => Err(self.unknown(section, kind, &name, &self.names(kind))),
        }
    }

    // What `parse_components` (with positions) and `check` (without) say
    // of components that do not work together: one wording for both.

    fn cannot_evaluate(space: &str, estimator: &str, served: &[&str]) -> String {
        format!("estimator `{estimator}` cannot evaluate space `{space}`; valid choices for it: {}", served.join(", "))
    }

    fn cannot_train(space: &str, trainer: &str, candidates: &[&TrainerEntry]) -> String {
        let valid: Vec<&str> = candidates.iter().map(|t| t.about.name.as_str()).collect();
        format!("trainer `{trainer}` cannot train space `{space}`; valid choices for it: {}", valid.join(", "))
    }

    /// `None` when the dataset's data is what the trainer takes.
    fn data_mismatch(&self, space: &str, dataset: &DatasetEntry, trainer: &TrainerEntry) -> Option<String> {
        if dataset.data == trainer.data {
            return None;
        }
        let fitting: Vec<&str> = self.datasets.iter().filter(|d| d.data == trainer.data).map(|d| d.about.name.as_str()).collect();
        let article = if trainer.data.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        Some(format!("space `{space}` trains on {article} {} dataset ({})", trainer.data, fitting.join(", ")))
    }

    /// `None` when a data-reading estimator takes this dataset's kind of
    /// data for `space` (or does not say which it takes).
    fn reading_mismatch(&self, space: &str, estimator: &EstimatorEntry, dataset: &DatasetEntry) -> Option<String> {
        let kind = estimator.data_kind(space)?;
        if dataset.data == kind {
            return None;
        }
        let fitting: Vec<&str> = self.datasets.iter().filter(|d| d.data == kind).map(|d| d.about.name.as_str()).collect();
        Some(format!("`{}` scores space `{space}`'s networks on {kind} data ({}); dataset `{}` loads {} data", estimator.about.name, fitting.join(", "), dataset.about.name, dataset.data))
    }

    /// `None` when every objective is a metric the estimator reports (or
    /// it does not say which it reports).
    fn unknown_objective(strategy: &Configured, estimator_entry: &EstimatorEntry, estimator: &Configured) -> Option<String> {
        let (objectives, metrics) = (strategy.objectives()?, estimator_entry.metrics(estimator)?);
        let bad = objectives.iter().find(|o| !metrics.contains(o))?;
        Some(format!("estimator `{}` reports no metric `{bad}`; valid choices: {}", estimator.name(), metrics.join(", ")))
    }

    /// Reads every component section of an experiment document and checks
    /// that they work together: the estimator serves the space, a training
    /// estimator has its dataset and a trainer for the space, and a
    /// multi-objective strategy's objectives are metrics the estimator
    /// reports.
    pub fn parse_components(&self, doc: &Document<'_>, paths: &PathContext) -> Result<Components, ConfigError> {
        let src = doc.source();
        let required = |key: &str| -> Result<Section<'_, '_>, ConfigError> {
            doc.section(key)?.ok_or_else(|| src.error_at(None, None, format!("missing field `{key}`")))
        };
        let space_section = required("space")?;
        let space = self.parse_entry(Kind::Space, &space_section, paths, None)?;
        let strategy_section = required("strategy")?;
        let strategy = self.parse_entry(Kind::Strategy, &strategy_section, paths, None)?;
        let strategy_reads = self.strategy(strategy.name()).and_then(StrategyEntry::data_kind);
        if let Some(Err(e)) = self.strategy(strategy.name()).map(|entry| entry.check_space(&strategy, space.name())) {
            return Err(strategy_section.error(e.key, format!("strategy `{}` on space `{}`: {}", strategy.name(), space.name(), e.reason)));
        }

        let estimator_section = required("estimator")?;
        let name = estimator_section.required_string("name")?;
        let served = self.estimators_for(space.name());
        let Some(entry) = self.estimator(name.get_ref()).filter(|_| served.contains(&name.get_ref().as_str())) else {
            let at = Some(name.span().start);
            let key = Some("estimator.name".to_owned());
            let message = if served.is_empty() {
                format!("no estimator evaluates space `{}` here; declare an estimator plugin with `[[plugin]]`, kind = \"estimator\"", space.name())
            } else if self.contains(Kind::Estimator, name.get_ref()) {
                Self::cannot_evaluate(space.name(), name.get_ref(), &served)
            } else {
                return Err(self.unknown(&estimator_section, Kind::Estimator, &name, &served)
                    .map_message(|m| m.replacen("valid choices:", &format!("valid choices for space `{}`:", space.name()), 1)));
            };
            return Err(src.error_at(at, key, message));
        };
        let estimator = entry.about.params.parse(&estimator_section, paths)?;

        let (dataset, trainer) = if entry.is_training() {
            let (dataset, trainer) = self.parse_training(doc, space.name(), &name, paths)?;
            (Some(dataset), Some(trainer))
        } else {
            let reads_dataset = entry.reads_data() || strategy_reads.is_some();
            let reads = if reads_dataset { &["trainer"][..] } else { &["dataset", "trainer"][..] };
            let dataset = match doc.section("dataset")? {
                Some(section) if reads_dataset => {
                    let dataset_name = section.required_string("name")?;
                    let dataset_entry = self
                        .dataset(dataset_name.get_ref())
                        .ok_or_else(|| self.unknown(&section, Kind::Dataset, &dataset_name, &self.names(Kind::Dataset)))?;
                    if let Some(message) = self.reading_mismatch(space.name(), entry, dataset_entry) {
                        return Err(src.error_at(Some(dataset_name.span().start), Some("dataset.name".into()), message));
                    }
                    Some(dataset_entry.about.params.parse(&section, paths)?)
                }
                _ => None,
            };
            for &section in reads {
                if doc.section(section)?.is_some() {
                    let training: Vec<&str> = self.estimators.iter().filter(|e| e.is_training()).map(|e| e.about.name.as_str()).collect();
                    let reading: Vec<&str> = self.estimators.iter().filter(|e| e.reads_data()).map(|e| e.about.name.as_str()).collect();
                    let also = if section == "dataset" && !reading.is_empty() { format!(" or one that reads data ({})", reading.join(", ")) } else { String::new() };
                    return Err(src.error_at(
                        Some(doc.root().offset_of(section)),
                        Some(section.to_owned()),
                        format!("`[{section}]` is only read by a training estimator ({}){also}", training.join(", ")),
                    ));
                }
            }
            (dataset, None)
        };
        if let Some(kind) = strategy_reads {
            let fitting = || self.datasets.iter().filter(|d| d.data == kind).map(|d| d.about.name.as_str()).collect::<Vec<_>>().join(", ");
            match &dataset {
                None => {
                    return Err(src.error_at(
                        Some(strategy_section.offset_of("name")),
                        Some("dataset".into()),
                        format!("strategy `{}` trains on a `[dataset]` of {kind} data ({}); the file has none", strategy.name(), fitting()),
                    ));
                }
                Some(d) => {
                    let loads = self.dataset(d.name()).map_or("no", |e| e.data);
                    if loads != kind {
                        let section = doc.section("dataset")?.expect("parsed, so present");
                        let message = format!("strategy `{}` trains on {kind} data ({}); dataset `{}` loads {loads} data", strategy.name(), fitting(), d.name());
                        return Err(section.value_error("name", message));
                    }
                }
            }
        }

        if let Some(message) = Self::unknown_objective(&strategy, entry, &estimator) {
            let at = strategy.objectives.as_ref().and_then(|(at, _)| *at);
            return Err(src.error_at(at, Some("strategy.objectives".into()), message));
        }
        Ok(Components { space, strategy, estimator, dataset, trainer })
    }

    fn parse_training(
        &self,
        doc: &Document<'_>,
        space: &str,
        estimator: &toml::Spanned<String>,
        paths: &PathContext,
    ) -> Result<(Configured, Configured), ConfigError> {
        let src = doc.source();
        let missing = |section: &str| {
            src.error_at(
                Some(estimator.span().start),
                Some(section.to_owned()),
                format!("the `{}` estimator needs a `[{section}]` section", estimator.get_ref()),
            )
        };
        let dataset_section = doc.section("dataset")?.ok_or_else(|| missing("dataset"))?;
        let trainer_section = doc.section("trainer")?.ok_or_else(|| missing("trainer"))?;
        let dataset_name = dataset_section.required_string("name")?;
        let dataset_entry = self
            .dataset(dataset_name.get_ref())
            .ok_or_else(|| self.unknown(&dataset_section, Kind::Dataset, &dataset_name, &self.names(Kind::Dataset)))?;
        let candidates = self.trainers_for(space);
        let trainer_entry = match trainer_section.string("name")? {
            Some(n) => match candidates.iter().find(|t| t.about.name == *n.get_ref()) {
                Some(t) => *t,
                None => {
                    if self.contains(Kind::Trainer, n.get_ref()) {
                        return Err(trainer_section.value_error("name", Self::cannot_train(space, n.get_ref(), &candidates)));
                    }
                    let valid: Vec<&str> = candidates.iter().map(|t| t.about.name.as_str()).collect();
                    return Err(self.unknown(&trainer_section, Kind::Trainer, &n, &valid)
                        .map_message(|m| m.replacen("valid choices:", &format!("valid choices for space `{space}`:"), 1)));
                }
            },
            None => match candidates.as_slice() {
                [one] => *one,
                [] => return Err(src.error_at(Some(estimator.span().start), Some("estimator.name".into()), format!("no trainer builds networks of space `{space}`"))),
                many => {
                    let valid: Vec<&str> = many.iter().map(|t| t.about.name.as_str()).collect();
                    return Err(trainer_section.error("name", format!("several trainers serve space `{space}`: name one of {}", valid.join(", "))));
                }
            },
        };
        if let Some(message) = self.data_mismatch(space, dataset_entry, trainer_entry) {
            return Err(src.error_at(Some(dataset_name.span().start), Some("dataset.name".into()), message));
        }
        let dataset = dataset_entry.about.params.parse(&dataset_section, paths)?;
        let trainer = trainer_entry.about.params.parse(&trainer_section, paths)?;
        Ok((dataset, trainer))
    }

    /// Checks that configured components work together, as
    /// [`Registry::parse_components`] does for a file: for components
    /// configured in code ([`Registry::configure`]).
    pub fn check(&self, components: &Components) -> Result<(), BuildError> {
        let c = components;
        let error = |kind, name: &str, message: String| BuildError { kind, name: name.to_owned(), message };
        if let Some(Err(e)) = self.strategy(c.strategy.name()).map(|s| s.check_space(&c.strategy, c.space.name())) {
            return Err(error(Kind::Strategy, c.strategy.name(), format!("on space `{}`, `{}`: {}", c.space.name(), e.key, e.reason)));
        }
        let served = self.estimators_for(c.space.name());
        if !served.contains(&c.estimator.name()) {
            return Err(error(Kind::Estimator, c.estimator.name(), Self::cannot_evaluate(c.space.name(), c.estimator.name(), &served)));
        }
        let entry = self.estimator(c.estimator.name()).expect("served, so registered");
        if entry.is_training() {
            let (Some(dataset), Some(trainer)) = (&c.dataset, &c.trainer) else {
                return Err(error(Kind::Estimator, c.estimator.name(), "trains, and needs a dataset and a trainer".into()));
            };
            let trainer_entry = self.trainer(trainer.name()).ok_or_else(|| error(Kind::Trainer, trainer.name(), "is not registered".into()))?;
            if !trainer_entry.serves.contains(c.space.name()) {
                return Err(error(Kind::Trainer, trainer.name(), Self::cannot_train(c.space.name(), trainer.name(), &self.trainers_for(c.space.name()))));
            }
            let dataset_entry = self.dataset(dataset.name()).ok_or_else(|| error(Kind::Dataset, dataset.name(), "is not registered".into()))?;
            if let Some(message) = self.data_mismatch(c.space.name(), dataset_entry, trainer_entry) {
                return Err(error(Kind::Dataset, dataset.name(), message));
            }
        }
        if let (Some(dataset), true) = (&c.dataset, entry.reads_data()) {
            let dataset_entry = self.dataset(dataset.name()).ok_or_else(|| error(Kind::Dataset, dataset.name(), "is not registered".into()))?;
            if let Some(message) = self.reading_mismatch(c.space.name(), entry, dataset_entry) {
                return Err(error(Kind::Dataset, dataset.name(), message));
            }
        }
        if let Some(kind) = self.strategy(c.strategy.name()).and_then(StrategyEntry::data_kind) {
            let Some(dataset) = &c.dataset else {
                return Err(error(Kind::Strategy, c.strategy.name(), format!("trains on a dataset of {kind} data, and none is configured")));
            };
            let dataset_entry = self.dataset(dataset.name()).ok_or_else(|| error(Kind::Dataset, dataset.name(), "is not registered".into()))?;
            if dataset_entry.data != kind {
                return Err(error(Kind::Dataset, dataset.name(), format!("loads {} data; strategy `{}` trains on {kind} data", dataset_entry.data, c.strategy.name())));
            }
        }
        if let Some(message) = Self::unknown_objective(&c.strategy, entry, &c.estimator) {
            return Err(error(Kind::Strategy, c.strategy.name(), message));
        }
        Ok(())
    }

    /// Builds and wires the components (checked first): space, then
    /// estimator (which may refine the space), then strategy. Seeds derive
    /// from `root_seed` as they always have: `strategy` for the strategy,
    /// `data-split` for a dataset's split.
    pub fn build(&self, components: &Components, root_seed: u64) -> Result<Stack, BuildError> {
        self.check(components)?;
        let c = components;
        fn failed(kind: Kind, config: &Configured) -> impl Fn(String) -> BuildError + '_ {
            move |message| BuildError { kind, name: config.name().to_owned(), message }
        }
        let space_entry = self.space(c.space.name()).ok_or_else(|| failed(Kind::Space, &c.space)("is not registered".into()))?;
        let space = space_entry.build(&c.space, root_seed).map_err(failed(Kind::Space, &c.space))?;
        let estimator_entry = self.estimator(c.estimator.name()).expect("checked");
        let strategy_entry = self.strategy(c.strategy.name()).ok_or_else(|| failed(Kind::Strategy, &c.strategy)("is not registered".into()))?;
        // Loaded once: a supernet strategy and the training estimator that
        // retrains what it derives see the same split.
        let data = match &c.dataset {
            Some(dataset) if estimator_entry.reads_data() || estimator_entry.is_training() || strategy_entry.data_kind().is_some() => Some(
                self.dataset(dataset.name())
                    .ok_or_else(|| failed(Kind::Dataset, dataset)("is not registered".into()))?
                    .load(dataset, derive_seed(root_seed, "data-split"))
                    .map_err(failed(Kind::Dataset, dataset))?,
            ),
            _ => None,
        };
        let ctx = EstimatorContext { root_seed, space: &space, data: data.as_ref().filter(|_| estimator_entry.reads_data()) };
        let built: Built = match estimator_entry.build_direct(&c.estimator, &ctx) {
            Some(built) => built.map_err(failed(Kind::Estimator, &c.estimator))?,
            None => {
                let trainer = c.trainer.as_ref().expect("checked");
                let data = data.as_ref().expect("checked: a training estimator has a dataset");
                self.trainer(trainer.name())
                    .expect("checked")
                    .build(trainer, &TrainerContext { root_seed, space: &space, data })
                    .map_err(failed(Kind::Trainer, trainer))?
            }
        };
        let space = built.space.unwrap_or(space);
        let strategy_data = data.as_ref().filter(|_| strategy_entry.data_kind().is_some());
        let strategy = strategy_entry
            .build(&c.strategy, &StrategyContext { seed: derive_seed(root_seed, "strategy"), root_seed, space: &space, data: strategy_data })
            .map_err(failed(Kind::Strategy, &c.strategy))?;
        let objectives = c.strategy.objectives().map(|names| names.iter().map(|n| (n.clone(), Objective::named(n))).collect()).unwrap_or_default();
        Ok(Stack { space, strategy, estimator: built.estimator, objectives })
    }

    /// The component of kind `kind` that section `[key]` of a stored
    /// experiment configuration (a journal's resolved TOML) names,
    /// configured; `default_name` when the section names none (a
    /// `[trainer]` names its trainer by the data it trains on). For code
    /// that rebuilds one component of a journalled run (reports, export).
    pub fn configure_stored(&self, kind: Kind, config: &toml::Table, key: &str, default_name: Option<&str>) -> Result<Configured, String> {
        let mut section = config.get(key).and_then(toml::Value::as_table).cloned().ok_or_else(|| format!("the configuration has no `[{key}]`"))?;
        let name = match section.remove("name") {
            Some(toml::Value::String(name)) => name,
            _ => default_name.ok_or_else(|| format!("`[{key}]` names no {}", kind.as_str()))?.to_owned(),
        };
        let body = toml::to_string(&section).map_err(|e| e.to_string())?;
        self.configure(kind, &name, &body).map_err(|e| e.to_string())
    }

    /// A component configured from a TOML body (`population = 30`), as if
    /// written in an experiment file's section: for tests and code that
    /// swaps one component of a loaded experiment.
    pub fn configure(&self, kind: Kind, name: &str, body: &str) -> Result<Configured, ConfigError> {
        // The name goes last, so that error lines are the body's own.
        let text = format!("{body}\nname = {}\n", toml::Value::String(name.to_owned()));
        let doc = Document::parse("<inline>", &text)?;
        let paths = PathContext { data_root: None, base: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")) };
        self.parse_entry(kind, &doc.root(), &paths, None)
    }
}

/// A component that could not be built (its data did not load, its plugin
/// did not instantiate), or configured components that do not work
/// together.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{} `{name}`: {message}", kind.as_str())]
pub struct BuildError {
    /// The component's kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

impl ConfigError {
    /// The same error with its message rewritten.
    pub fn map_message(mut self, f: impl FnOnce(&str) -> String) -> Self {
        self.message = f(&self.message);
        self
    }
}
