//! One registry entry per component: its name, its parameter type, what it
//! serves, and its builder, all behind one erased form so that families,
//! a user's own crate and cdylib plugins add entries alike.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use nasforge_core::{Estimator, SearchSpace, Strategy, derive_seed};

use crate::erased::{DynArch, ErasedSpace};
use crate::params::{Params, PathContext, fields_of};
use crate::source::{ConfigError, Document, Section};

/// A component's parameters as configured: the checked value its builder
/// takes, and the table it was read from with every default filled in
/// (what the journal stores, and what compares two configs). Only a
/// registry makes one, so the two always agree.
#[derive(Clone)]
pub struct Configured {
    name: String,
    table: toml::Table,
    checked: Arc<dyn Any + Send + Sync>,
    /// The objectives a strategy optimises: the key's value position and
    /// the metric names.
    pub(crate) objectives: Option<(Option<usize>, Vec<String>)>,
}

impl Configured {
    /// The component's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its parameters as TOML, defaults filled in, paths absolute.
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// The checked parameters, when they are a `T`.
    pub fn checked<T: 'static>(&self) -> Option<&T> {
        self.checked.downcast_ref()
    }

    /// The metric names a strategy optimises (none for the default
    /// validation objective).
    pub fn objectives(&self) -> Option<&[String]> {
        self.objectives.as_ref().map(|(_, o)| o.as_slice())
    }
}

impl PartialEq for Configured {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.table == other.table
    }
}

impl fmt::Debug for Configured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, toml::Value::Table(self.table.clone()))
    }
}

type ParseFn = dyn Fn(&Section<'_, '_>, &PathContext) -> Result<Configured, ConfigError> + Send + Sync;

/// How an entry reads its parameters.
#[derive(Clone)]
pub struct ParamSpec {
    fields: Option<Vec<&'static str>>,
    parse: Arc<ParseFn>,
    hint: Option<String>,
}

impl ParamSpec {
    /// The spec of parameter type `P`.
    pub fn of<P: Params>(component: &str) -> Self {
        let name = component.to_owned();
        let parse = move |section: &Section<'_, '_>, paths: &PathContext| -> Result<Configured, ConfigError> {
            let raw: P = section.deserialize(&["name"], Some(paths))?;
            let checked = raw.check().map_err(|e| section.error(e.key, e.reason))?;
            let objectives = P::objectives(&checked).map(|(key, names)| (section.value_offset(key), names));
            let table = toml::Table::try_from(raw.resolved(&checked))
                .map_err(|e| section.error("name", format!("cannot store these parameters: {e}")))?;
            Ok(Configured { name: name.clone(), table, checked: Arc::new(checked), objectives })
        };
        ParamSpec { fields: fields_of::<P>(), parse: Arc::new(parse), hint: None }
    }

    /// The keys the section takes besides `name` (none known for a
    /// parameter type that takes any key).
    pub fn fields(&self) -> &[&'static str] {
        self.fields.as_deref().unwrap_or_default()
    }

    /// Reads a section (its `name` already matched).
    pub(crate) fn parse(&self, section: &Section<'_, '_>, paths: &PathContext) -> Result<Configured, ConfigError> {
        (self.parse)(section, paths).map_err(|mut e| {
            if let Some(hint) = &self.hint {
                if e.message.starts_with("unknown field") {
                    e.message = format!("{}; {hint}", e.message);
                }
            }
            e
        })
    }

    /// The parameters with nothing written: the defaults, when every
    /// parameter has one.
    pub fn defaults(&self) -> Option<toml::Table> {
        let doc = Document::parse("", "").ok()?;
        let paths = PathContext { data_root: None, base: "/".into() };
        (self.parse)(&doc.root(), &paths).ok().map(|c| c.table)
    }
}

/// The facts every entry has.
#[derive(Clone)]
pub struct About {
    /// The name experiment files use.
    pub name: String,
    /// One paragraph: what it is, after which paper.
    pub about: String,
    /// Its parameters.
    pub params: ParamSpec,
}

impl About {
    /// The facts of a component with parameters `P`.
    pub fn new<P: Params>(name: &str, about: &str) -> Self {
        About { name: name.to_owned(), about: about.to_owned(), params: ParamSpec::of::<P>(name) }
    }

    /// Adds `hint` to unknown-key errors of this entry's section (say,
    /// where a plugin takes its parameters instead).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.params.hint = Some(hint.into());
        self
    }
}

/// Which spaces an estimator or trainer serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serves {
    /// Every space (a plugin that reads the architecture's graph).
    Any,
    /// These spaces, by name.
    Spaces(Vec<String>),
}

impl Serves {
    /// The named spaces.
    pub fn spaces(names: &[&str]) -> Self {
        Serves::Spaces(names.iter().map(|s| (*s).to_owned()).collect())
    }

    /// Whether the space called `name` is served.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Serves::Any => true,
            Serves::Spaces(s) => s.iter().any(|n| n == name),
        }
    }
}

/// What a strategy's builder may know.
pub struct StrategyContext<'a> {
    /// The strategy's seed (derived from the experiment's root seed).
    pub seed: u64,
    /// The root seed, for components that derive further streams.
    pub root_seed: u64,
    /// The space it will search.
    pub space: &'a ErasedSpace,
    /// The `[dataset]`'s data, for a strategy that trains on one
    /// ([`StrategyEntry::reading_data`]: a supernet).
    pub data: Option<&'a Data>,
}

/// What an estimator's builder may know.
pub struct EstimatorContext<'a> {
    /// The experiment's root seed.
    pub root_seed: u64,
    /// The space it will evaluate (downcast it to the concrete type).
    pub space: &'a ErasedSpace,
    /// The `[dataset]`'s data, for an estimator that reads one
    /// ([`EstimatorEntry::reading_data`]) when the file has the section.
    pub data: Option<&'a Data>,
}

impl EstimatorContext<'_> {
    /// A seed for the named stream (`derive_seed(root, stream)`).
    pub fn seed(&self, stream: &str) -> u64 {
        derive_seed(self.root_seed, stream)
    }
}

/// Data a dataset entry loaded, for the trainers that take its kind.
pub type Data = Arc<dyn Any + Send + Sync>;

/// What a trainer's builder may know.
pub struct TrainerContext<'a> {
    /// The experiment's root seed.
    pub root_seed: u64,
    /// The space whose candidates it trains.
    pub space: &'a ErasedSpace,
    /// The loaded data (downcast it to the dataset kind's type).
    pub data: &'a Data,
}

/// A built estimator, and the space it evaluates when it refines the one
/// configured (the transformer space counted for the dataset's vocabulary,
/// say).
pub struct Built {
    /// The estimator.
    pub estimator: Box<dyn Estimator<DynArch>>,
    /// The space to search instead of the configured one, if any.
    pub space: Option<ErasedSpace>,
}

impl Built {
    /// An estimator over the configured space.
    pub fn new(estimator: Box<dyn Estimator<DynArch>>) -> Self {
        Built { estimator, space: None }
    }

    /// With the space the run should search instead.
    pub fn with_space(mut self, space: impl SearchSpace + 'static) -> Self {
        self.space = Some(ErasedSpace::new(space));
        self
    }
}

type SpaceBuild = dyn Fn(&Configured, u64) -> Result<ErasedSpace, String> + Send + Sync;
type StrategyBuild = dyn Fn(&Configured, &StrategyContext<'_>) -> Result<Box<dyn Strategy<ErasedSpace>>, String> + Send + Sync;
type EstimatorBuild = dyn Fn(&Configured, &EstimatorContext<'_>) -> Result<Built, String> + Send + Sync;
type MetricsFn = dyn Fn(&Configured) -> Option<Vec<String>> + Send + Sync;
type DatasetLoad = dyn Fn(&Configured, u64) -> Result<Data, String> + Send + Sync;
type TrainerBuild = dyn Fn(&Configured, &TrainerContext<'_>) -> Result<Built, String> + Send + Sync;

fn checked<T: 'static>(c: &Configured) -> &T {
    c.checked().unwrap_or_else(|| panic!("`{}` was configured by another entry's parameter type", c.name))
}

/// A search space.
#[derive(Clone)]
pub struct SpaceEntry {
    /// Name, description, parameters.
    pub about: About,
    build: Arc<SpaceBuild>,
}

impl SpaceEntry {
    /// A space with parameters `P`.
    pub fn new<P: Params, S: SearchSpace + 'static>(name: &str, about: &str, build: impl Fn(&P::Checked) -> S + Send + Sync + 'static) -> Self {
        SpaceEntry { about: About::new::<P>(name, about), build: Arc::new(move |c, _| Ok(ErasedSpace::new(build(checked::<P::Checked>(c))))) }
    }

    /// A space whose construction can fail (a plugin that will not load);
    /// the builder gets the experiment's root seed.
    pub fn fallible(about: About, build: impl Fn(&Configured, u64) -> Result<ErasedSpace, String> + Send + Sync + 'static) -> Self {
        SpaceEntry { about, build: Arc::new(build) }
    }

    /// Builds the space for an experiment with this root seed.
    pub fn build(&self, config: &Configured, root_seed: u64) -> Result<ErasedSpace, String> {
        (self.build)(config, root_seed)
    }
}

/// A strategy.
#[derive(Clone)]
pub struct StrategyEntry {
    /// Name, description, parameters.
    pub about: About,
    build: Arc<StrategyBuild>,
    reads_data: Option<&'static str>,
    space_check: Option<Arc<SpaceCheck>>,
    /// The checked parameters' type (`None` for an erased entry).
    checked_type: Option<(std::any::TypeId, &'static str)>,
}

/// A strategy's check of its checked parameters against a space's name.
type SpaceCheck = dyn Fn(&Configured, &str) -> Result<(), nasforge_core::ParamError> + Send + Sync;

impl StrategyEntry {
    /// A strategy with parameters `P`; the builder may refuse a space (one
    /// without the decisions view it learns over, say).
    pub fn new<P: Params>(
        name: &str,
        about: &str,
        build: impl Fn(&P::Checked, &StrategyContext<'_>) -> Result<Box<dyn Strategy<ErasedSpace>>, String> + Send + Sync + 'static,
    ) -> Self {
        StrategyEntry {
            about: About::new::<P>(name, about),
            build: Arc::new(move |c, ctx| build(checked::<P::Checked>(c), ctx)),
            reads_data: None,
            space_check: None,
            checked_type: Some((std::any::TypeId::of::<P::Checked>(), std::any::type_name::<P::Checked>())),
        }
    }

    /// A strategy whose settings hold only on some spaces (a supernet
    /// option of one space's network): `check(params, space)` runs while
    /// the file is read, so that a refusal names the file, the line and
    /// the key ([`nasforge_core::ParamError::key`], `name` for the
    /// strategy itself) rather than surfacing when the search starts.
    /// `C` is the entry's checked parameter type (a mismatch panics here,
    /// at registration).
    pub fn checking_space<C: 'static>(mut self, check: impl Fn(&C, &str) -> Result<(), nasforge_core::ParamError> + Send + Sync + 'static) -> Self {
        if let Some((id, name)) = self.checked_type {
            assert!(id == std::any::TypeId::of::<C>(), "strategy `{}`: its space check takes {}, its parameters check into {name}", self.about.name, std::any::type_name::<C>());
        }
        self.space_check = Some(Arc::new(move |c, space| check(checked::<C>(c), space)));
        self
    }

    /// Whether `config` works on space `space` (see [`StrategyEntry::checking_space`]).
    pub fn check_space(&self, config: &Configured, space: &str) -> Result<(), nasforge_core::ParamError> {
        self.space_check.as_ref().map_or(Ok(()), |f| f(config, space))
    }

    /// A strategy that trains on the experiment's `[dataset]` itself (a
    /// supernet), which must load data of `kind` (`images`, `graph`,
    /// `text`); the builder finds it in [`StrategyContext::data`].
    pub fn reading_data(mut self, kind: &'static str) -> Self {
        self.reads_data = Some(kind);
        self
    }

    /// The kind of data it trains on, when it reads a `[dataset]`.
    pub fn data_kind(&self) -> Option<&'static str> {
        self.reads_data
    }

    /// A strategy from an [`About`] and an erased builder (plugins).
    pub fn erased(
        about: About,
        build: impl Fn(&Configured, &StrategyContext<'_>) -> Result<Box<dyn Strategy<ErasedSpace>>, String> + Send + Sync + 'static,
    ) -> Self {
        StrategyEntry { about, build: Arc::new(build), reads_data: None, space_check: None, checked_type: None }
    }

    /// Builds the strategy.
    pub fn build(&self, config: &Configured, ctx: &StrategyContext<'_>) -> Result<Box<dyn Strategy<ErasedSpace>>, String> {
        (self.build)(config, ctx)
    }
}

/// How an estimator comes to be.
#[derive(Clone)]
pub(crate) enum EstimatorKind {
    /// Built from its own section.
    Direct(Arc<EstimatorBuild>),
    /// Trains every candidate: the `[trainer]` entry serving the space,
    /// on the `[dataset]`.
    Training,
}

/// An estimator.
#[derive(Clone)]
pub struct EstimatorEntry {
    /// Name, description, parameters.
    pub about: About,
    /// The spaces it evaluates.
    pub serves: Serves,
    pub(crate) kind: EstimatorKind,
    metrics: Option<Arc<MetricsFn>>,
    note: Option<String>,
    reads_data: Option<DataKindFn>,
}

/// The kind of data (`images`, `graph`, `text`) an estimator that reads
/// data wants for a space, if it says.
pub type DataKindFn = fn(&str) -> Option<&'static str>;

impl EstimatorEntry {
    /// An estimator with parameters `P` serving `serves`.
    pub fn new<P: Params>(
        name: &str,
        about: &str,
        serves: Serves,
        build: impl Fn(&P::Checked, &EstimatorContext<'_>) -> Result<Built, String> + Send + Sync + 'static,
    ) -> Self {
        EstimatorEntry {
            about: About::new::<P>(name, about),
            serves,
            kind: EstimatorKind::Direct(Arc::new(move |c, ctx| build(checked::<P::Checked>(c), ctx))),
            metrics: None,
            note: None,
            reads_data: None,
        }
    }

    /// An estimator from an [`About`] and an erased builder (plugins).
    pub fn erased(
        about: About,
        serves: Serves,
        build: impl Fn(&Configured, &EstimatorContext<'_>) -> Result<Built, String> + Send + Sync + 'static,
    ) -> Self {
        EstimatorEntry { about, serves, kind: EstimatorKind::Direct(Arc::new(build)), metrics: None, note: None, reads_data: None }
    }

    /// The estimator that trains every candidate with the trainer serving
    /// the space, on the experiment's `[dataset]`; it takes the
    /// `[dataset]` and `[trainer]` sections.
    pub fn training(name: &str, about: &str) -> Self {
        EstimatorEntry {
            about: About::new::<crate::NoParams>(name, about)
                .with_hint(format!("`{name}` takes its training settings in `[trainer]` and its data in `[dataset]`")),
            serves: Serves::Spaces(Vec::new()),
            kind: EstimatorKind::Training,
            metrics: None,
            note: None,
            reads_data: None,
        }
    }

    /// An estimator that reads the experiment's `[dataset]` when the file
    /// has one (zero-cost proxies take a batch from it); it gets the data
    /// in [`EstimatorContext::data`], and no `[trainer]`. `kind(space)`
    /// names the data kind it wants for a space, checked against the
    /// dataset's with the file.
    pub fn reading_data(mut self, kind: DataKindFn) -> Self {
        self.reads_data = Some(kind);
        self
    }

    /// Whether it reads a `[dataset]` without training.
    pub fn reads_data(&self) -> bool {
        self.reads_data.is_some() && !self.is_training()
    }

    /// The data kind it wants for `space`, when it reads data and says.
    pub fn data_kind(&self, space: &str) -> Option<&'static str> {
        self.reads_data.and_then(|f| f(space))
    }

    /// Whether this estimator trains (and reads `[dataset]`, `[trainer]`).
    pub fn is_training(&self) -> bool {
        matches!(self.kind, EstimatorKind::Training)
    }

    /// The metric names it reports, as a function of its parameters (for
    /// checking a multi-objective strategy's objectives).
    pub fn with_metrics<P: Params>(mut self, metrics: impl Fn(&P::Checked) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.metrics = Some(Arc::new(move |c| Some(metrics(checked::<P::Checked>(c)))));
        self
    }

    /// What a reader of its results must know, printed with every summary
    /// of a run that used it (NAS-Bench-Macro's `valid` is a test accuracy).
    pub fn with_note(mut self, note: &str) -> Self {
        self.note = Some(note.to_owned());
        self
    }

    /// Its note, when it has one.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// The metrics it reports with these parameters; `None` when unknown.
    pub fn metrics(&self, config: &Configured) -> Option<Vec<String>> {
        self.metrics.as_ref().and_then(|m| m(config))
    }

    pub(crate) fn build_direct(&self, config: &Configured, ctx: &EstimatorContext<'_>) -> Option<Result<Built, String>> {
        match &self.kind {
            EstimatorKind::Direct(b) => Some(b(config, ctx)),
            EstimatorKind::Training => None,
        }
    }
}

/// A dataset for trainers.
#[derive(Clone)]
pub struct DatasetEntry {
    /// Name, description, parameters.
    pub about: About,
    /// The kind of data it loads (`images`, `graph`, `text`): trainers say
    /// which kind they take.
    pub data: &'static str,
    load: Arc<DatasetLoad>,
}

impl DatasetEntry {
    /// A dataset with parameters `P`, loading data of kind `data` with the
    /// experiment's split seed.
    pub fn new<P: Params>(
        name: &str,
        about: &str,
        data: &'static str,
        load: impl Fn(&P::Checked, u64) -> Result<Data, String> + Send + Sync + 'static,
    ) -> Self {
        DatasetEntry { about: About::new::<P>(name, about), data, load: Arc::new(move |c, seed| load(checked::<P::Checked>(c), seed)) }
    }

    /// Loads the data; `seed` fixes the split.
    pub fn load(&self, config: &Configured, seed: u64) -> Result<Data, String> {
        (self.load)(config, seed)
    }
}

/// A trainer: how the training estimator trains candidates of its spaces.
#[derive(Clone)]
pub struct TrainerEntry {
    /// Name, description, parameters.
    pub about: About,
    /// The spaces whose networks it builds.
    pub serves: Serves,
    /// The kind of data it trains on.
    pub data: &'static str,
    build: Arc<TrainerBuild>,
}

impl TrainerEntry {
    /// A trainer with parameters `P`.
    pub fn new<P: Params>(
        name: &str,
        about: &str,
        serves: Serves,
        data: &'static str,
        build: impl Fn(&P::Checked, &TrainerContext<'_>) -> Result<Built, String> + Send + Sync + 'static,
    ) -> Self {
        TrainerEntry { about: About::new::<P>(name, about), serves, data, build: Arc::new(move |c, ctx| build(checked::<P::Checked>(c), ctx)) }
    }

    /// Builds the estimator that trains with these parameters.
    pub fn build(&self, config: &Configured, ctx: &TrainerContext<'_>) -> Result<Built, String> {
        (self.build)(config, ctx)
    }
}
