//! Component parameters: a serde type per component, checked into the
//! config type its builder takes before anything runs (linfa's params
//! guard).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use nasforge_core::ParamError;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The parameters of one component as written in its TOML section: a serde
/// type (kebab-case keys, `deny_unknown_fields`, defaults for what may be
/// left out) and the check that turns it into [`Params::Checked`].
///
/// The journal stores [`Params::resolved`] serialized: the parameters with
/// every default filled in, so a resumed run rebuilds exactly the
/// component that ran even if a later build changes a default.
pub trait Params: DeserializeOwned + Serialize + Clone + Send + Sync + 'static {
    /// What the component's builder takes: parameters known to be valid.
    type Checked: Send + Sync + 'static;

    /// Validates the parameters; the error's key is the offending one.
    fn check(&self) -> Result<Self::Checked, ParamError>;

    /// The objectives a strategy optimises, as metric names, and the key
    /// that names them: checked against the metrics the estimator reports.
    /// `None` (the default) for the single validation objective.
    fn objectives(_checked: &Self::Checked) -> Option<(&'static str, Vec<String>)> {
        None
    }

    /// These parameters with every default written out, as the checked
    /// form has them: what is stored. The default returns them as written,
    /// which is right for types whose defaults serde fills in (fields with
    /// `#[serde(default)]` values); types that read an absent key as
    /// "the default" (`Option`s resolved in `check`) fill them in here.
    fn resolved(&self, _checked: &Self::Checked) -> Self {
        self.clone()
    }
}

/// The parameters of a component that takes none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl Params for NoParams {
    type Checked = ();
    fn check(&self) -> Result<(), ParamError> {
        Ok(())
    }
}

/// The keys a parameter type accepts, as serde sees them (renames
/// applied): asked of its `Deserialize` without deserializing anything.
/// `None` for a type that is no struct (a map takes any key).
pub fn fields_of<P: DeserializeOwned>() -> Option<Vec<&'static str>> {
    struct Probe<'a>(&'a mut Option<Vec<&'static str>>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Stop> {
            *self.0 = Some(fields.to_vec());
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct
            newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields = None;
    let _ = P::deserialize(Probe(&mut fields));
    fields
}

/// The environment variable that overrides an experiment's `data-root`.
pub const DATA_ENV: &str = "NASFORGE_DATA";

/// Where relative data paths in the section being read resolve.
#[derive(Clone, Debug)]
pub struct PathContext {
    /// The data root (`data-root`, or `NASFORGE_DATA`), when set.
    pub data_root: Option<PathBuf>,
    /// The folder of the experiment file.
    pub base: PathBuf,
}

impl PathContext {
    /// For a file in folder `base` whose `data-root` key says `data_root`
    /// (relative to `base`); the `NASFORGE_DATA` environment variable, when
    /// set, wins over both.
    pub fn for_file(base: &Path, data_root: Option<&str>) -> Self {
        let data_root = match (std::env::var_os(DATA_ENV), data_root) {
            (Some(env), _) if !env.is_empty() => Some(PathBuf::from(env)),
            (_, Some(root)) => Some(base.join(root)),
            _ => None,
        };
        PathContext { data_root, base: base.to_owned() }
    }
}

thread_local! {
    // Set only while a section is deserialized (see `with_paths`): path
    // parameters resolve and check themselves there, so that the error
    // carries the position of the value that named the missing file.
    static PATHS: RefCell<Option<PathContext>> = const { RefCell::new(None) };
}

/// Runs `f` with path parameters resolving against `ctx`.
pub(crate) fn with_paths<T>(ctx: &PathContext, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<PathContext>);
    impl Drop for Reset {
        fn drop(&mut self) {
            PATHS.with(|p| *p.borrow_mut() = self.0.take());
        }
    }
    let _reset = Reset(PATHS.with(|p| p.borrow_mut().replace(ctx.clone())));
    f()
}

fn resolve_data(written: &str, is_file: bool) -> Result<PathBuf, String> {
    let (path, hint) = PATHS.with(|p| match &*p.borrow() {
        Some(ctx) => {
            let root = ctx.data_root.as_deref().unwrap_or(&ctx.base);
            let hint = ctx.data_root.as_ref().map(|r| format!(" (data root {}; set {DATA_ENV} to move it)", r.display()));
            (root.join(written), hint.unwrap_or_default())
        }
        None => (PathBuf::from(written), String::new()),
    });
    let ok = if is_file { path.is_file() } else { path.is_dir() };
    if !ok {
        let what = if is_file { "data file" } else { "data folder" };
        return Err(format!("no such {what}: {}{hint}", path.display()));
    }
    Ok(std::path::absolute(&path).unwrap_or(path))
}

macro_rules! data_path {
    ($name:ident, $is_file:expr, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Written relative, it resolves against the data root (`data-root`
        /// in the experiment file, or the `NASFORGE_DATA` environment
        /// variable), else the file's folder; a missing one is an error at
        /// the value's position. It is stored absolute.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(PathBuf);

        impl $name {
            /// The absolute path.
            pub fn path(&self) -> &Path {
                &self.0
            }

            /// A path taken as it is (already checked by the caller).
            pub fn from_checked(path: PathBuf) -> Self {
                Self(path)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let written = String::deserialize(d)?;
                resolve_data(&written, $is_file).map($name).map_err(de::Error::custom)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.display().to_string())
            }
        }
    };
}

data_path!(DataFile, true, "A data file named in a component's parameters (a benchmark table, a graph).");
data_path!(DataDir, false, "A data folder named in a component's parameters (an IDX image folder).");

/// A folder a component writes into (a trainer's saved weights). Written
/// relative, it resolves against the experiment file's folder (not the
/// data root: outputs are the run's, not the data's); it need not exist
/// yet (the writer creates it). It is stored absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputDir(PathBuf);

impl OutputDir {
    /// The absolute path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl<'de> Deserialize<'de> for OutputDir {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let written = String::deserialize(d)?;
        if written.is_empty() {
            return Err(de::Error::custom("an empty path"));
        }
        let path = PATHS.with(|p| p.borrow().as_ref().map_or_else(|| PathBuf::from(&written), |ctx| ctx.base.join(&written)));
        if path.exists() && !path.is_dir() {
            return Err(de::Error::custom(format!("{} exists and is not a folder", path.display())));
        }
        Ok(OutputDir(std::path::absolute(&path).unwrap_or(path)))
    }
}

impl Serialize for OutputDir {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Two {
        population: usize,
        #[serde(default)]
        sample_size: usize,
    }

    #[test]
    fn fields_are_read_off_the_deserializer() {
        assert_eq!(fields_of::<Two>().unwrap(), ["population", "sample-size"]);
        assert_eq!(fields_of::<NoParams>(), Some(Vec::new()));
        assert_eq!(fields_of::<std::collections::BTreeMap<String, u8>>(), None);
    }
}
