//! TOML documents with positions: every error names the file, line,
//! column and key, whether the section is written as a `[table]` or
//! inline. Positions come from the toml crate's spans.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::params::{PathContext, fields_of, with_paths};

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

/// A TOML text and the name it goes by in errors.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The file (or `journal:ID`).
    pub file: &'a str,
    /// Its text.
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at byte `offset` of the text (line and column derived).
    pub fn error_at(&self, offset: Option<usize>, key: Option<String>, message: impl Into<String>) -> ConfigError {
        let (line, column) = match offset {
            Some(o) => {
                let before = &self.text[..o.min(self.text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError { file: self.file.to_owned(), line, column, key, message: message.into() }
    }

    /// An error for the whole file (it cannot be read, say).
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        self.error_at(None, None, message)
    }
}

/// Reads a TOML file: its display name, its text, and the folder relative
/// paths in it resolve against; `what` names it in the error when it
/// cannot be read ("experiment", "training").
pub fn read_file(path: &std::path::Path, what: &str) -> Result<(String, String, std::path::PathBuf), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Source { file: &file, text: "" }.error(format!("cannot read the {what} file: {e}")))?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    Ok((file, text, base.to_owned()))
}

/// A parsed TOML document whose values keep their positions.
pub struct Document<'a> {
    src: Source<'a>,
    root: Spanned<DeTable<'a>>,
}

impl<'a> Document<'a> {
    /// Parses `text`; a syntax error is located.
    pub fn parse(file: &'a str, text: &'a str) -> Result<Self, ConfigError> {
        let src = Source { file, text };
        let root = DeTable::parse(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            let key = offset.and_then(|o| key_on_line(text, o));
            src.error_at(offset, key, e.message().to_owned())
        })?;
        Ok(Document { src, root })
    }

    /// The text and its name.
    pub fn source(&self) -> Source<'a> {
        self.src
    }

    /// The top level as a section (keys without a prefix).
    pub fn root(&self) -> Section<'_, 'a> {
        Section { src: self.src, path: String::new(), table: self.root.get_ref(), span: self.root.span() }
    }

    /// The table under `key` of the top level: `None` when absent; an error
    /// when it is not a table.
    pub fn section(&self, key: &str) -> Result<Option<Section<'_, 'a>>, ConfigError> {
        self.root().table(key)
    }
}

/// The `[[...]]` array of tables under a key, each as a section.
pub fn array_of_tables<'d, 'a>(section: &Section<'d, 'a>, key: &str) -> Result<Vec<Section<'d, 'a>>, ConfigError> {
    let Some((_, value)) = section.entry(key) else { return Ok(Vec::new()) };
    let path = section.key_path(key);
    match value.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::Table(t) => Ok(Section { src: section.src, path: path.clone(), table: t, span: item.span() }),
                other => Err(section.src.error_at(Some(item.span().start), Some(path.clone()), format!("invalid type: {}, expected a table", other.type_str()))),
            })
            .collect(),
        other => Err(section.src.error_at(Some(value.span().start), Some(path), format!("invalid type: {}, expected an array of tables", other.type_str()))),
    }
}

/// One table of a document (`[strategy]`, or `strategy = { ... }`).
#[derive(Clone)]
pub struct Section<'d, 'a> {
    src: Source<'a>,
    path: String,
    table: &'d DeTable<'a>,
    span: Range<usize>,
}

impl<'d, 'a> Section<'d, 'a> {
    /// The text the section belongs to.
    pub fn source(&self) -> Source<'a> {
        self.src
    }

    /// The section's dotted name (empty for the top level).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `section.key` (or `key` at the top level).
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    fn entry(&self, key: &str) -> Option<(&'d Spanned<toml::de::DeString<'a>>, &'d Spanned<DeValue<'a>>)> {
        self.table.iter().find(|(k, _)| k.get_ref() == key)
    }

    /// The keys written in this section, in order of position.
    pub fn keys(&self) -> Vec<&'d str> {
        let mut keys: Vec<_> = self.table.iter().map(|(k, _)| (k.span().start, k.get_ref().as_ref())).collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// Whether `key` is written here.
    pub fn has(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    /// Where `key` is written, or the section itself when it is not.
    pub fn offset_of(&self, key: &str) -> usize {
        self.entry(key).map_or(self.span.start, |(k, _)| k.span().start)
    }

    /// Where the value of `key` starts, when written.
    pub fn value_offset(&self, key: &str) -> Option<usize> {
        self.entry(key).map(|(_, v)| v.span().start)
    }

    /// An error about `key` of this section, at its position.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let at = self.entry(key).map(|(k, _)| k.span().start).unwrap_or(self.span.start);
        self.src.error_at(Some(at), Some(self.key_path(key)), message)
    }

    /// An error about the value of `key`, at the value.
    pub fn value_error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let at = self.value_offset(key).unwrap_or_else(|| self.offset_of(key));
        self.src.error_at(Some(at), Some(self.key_path(key)), message)
    }

    /// The table under `key`; `None` when absent.
    pub fn table(&self, key: &str) -> Result<Option<Section<'d, 'a>>, ConfigError> {
        let Some((_, value)) = self.entry(key) else { return Ok(None) };
        match value.get_ref() {
            DeValue::Table(t) => Ok(Some(Section { src: self.src, path: self.key_path(key), table: t, span: value.span() })),
            other => Err(self.src.error_at(
                Some(value.span().start),
                Some(self.key_path(key)),
                format!("invalid type: {}, expected a table", describe(other)),
            )),
        }
    }

    /// The string under `key` with its position; `None` when absent.
    pub fn string(&self, key: &str) -> Result<Option<Spanned<String>>, ConfigError> {
        let Some((_, value)) = self.entry(key) else { return Ok(None) };
        match value.get_ref() {
            DeValue::String(s) => Ok(Some(Spanned::new(value.span(), s.to_string()))),
            other => Err(self.value_error(key, format!("invalid type: {}, expected a string", describe(other)))),
        }
    }

    /// The string under `key`, which must be there.
    pub fn required_string(&self, key: &str) -> Result<Spanned<String>, ConfigError> {
        self.string(key)?.ok_or_else(|| self.src.error_at(Some(self.span.start), Some(self.key_path(key)), format!("missing field `{key}`")))
    }

    /// Deserializes this section into `T` (for a format's own keys, as
    /// opposed to a component's parameters).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.deserialize(&[], None)
    }

    /// Deserializes this section into `P`, leaving out the keys in `skip`
    /// (a component's `name`, read before). Unknown keys are reported with
    /// every valid one (`skip` included), type errors at the value.
    pub(crate) fn deserialize<P: DeserializeOwned>(&self, skip: &[&str], paths: Option<&PathContext>) -> Result<P, ConfigError> {
        if let Some(fields) = fields_of::<P>() {
            for key in self.keys() {
                if !skip.contains(&key) && !fields.contains(&key) {
                    let valid: Vec<String> = skip.iter().chain(&fields).map(|f| format!("`{f}`")).collect();
                    let message = match valid.len() {
                        0 => format!("unknown field `{key}`: this section takes no keys"),
                        1 => format!("unknown field `{key}`, expected {}", valid[0]),
                        _ => format!("unknown field `{key}`, expected one of {}", valid.join(", ")),
                    };
                    return Err(self.error(key, message));
                }
            }
        }
        let mut table = DeTable::new();
        for (k, v) in self.table.iter() {
            if !skip.contains(&k.get_ref().as_ref()) {
                table.insert(k.clone(), v.clone());
            }
        }
        let value = Spanned::new(self.span.clone(), DeValue::Table(table));
        let run = || P::deserialize(value.into_deserializer());
        let result = match paths {
            Some(p) => with_paths(p, run),
            None => run(),
        };
        result.map_err(|e| self.toml_error(&e))
    }

    /// A toml error of this section as a located [`ConfigError`].
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let offset = e.span().map(|s| s.start);
        // serde names the Rust type a table deserializes into; the user
        // wrote a table.
        let message = match e.message().split_once("expected struct ") {
            Some((head, _)) => format!("{head}expected a table"),
            None => e.message().to_owned(),
        };
        let key = match message.strip_prefix("missing field `") {
            Some(rest) => Some(self.key_path(rest.split('`').next().unwrap_or(""))),
            None => offset.and_then(|o| self.key_containing(o)).or_else(|| (!self.path.is_empty()).then(|| self.path.clone())),
        };
        self.src.error_at(offset, key, message)
    }

    /// The dotted key whose key or value holds byte `offset`.
    fn key_containing(&self, offset: usize) -> Option<String> {
        fn find(table: &DeTable<'_>, prefix: &str, offset: usize) -> Option<String> {
            for (k, v) in table.iter() {
                let name = if prefix.is_empty() { k.get_ref().to_string() } else { format!("{prefix}.{}", k.get_ref()) };
                if k.span().contains(&offset) {
                    return Some(name);
                }
                if v.span().contains(&offset) || v.span().start == offset {
                    if let DeValue::Table(t) = v.get_ref() {
                        if let Some(inner) = find(t, &name, offset) {
                            return Some(inner);
                        }
                    }
                    return Some(name);
                }
            }
            None
        }
        find(self.table, &self.path, offset)
    }
}

/// A TOML value's type and, for short scalars, the value, as serde's
/// messages say it (`string "random-search"`).
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer `{}`", i.as_str()),
        DeValue::Boolean(b) => format!("boolean `{b}`"),
        other => other.type_str().to_owned(),
    }
}

/// The `section.key` written on the line holding `offset`, for syntax
/// errors (which come before any table exists to look keys up in).
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let section = text[..start].lines().rev().find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.split(']').next()).map(str::trim));
    let (k, _) = line.split_once('=')?;
    let k = k.trim().trim_matches('"');
    Some(section.map_or_else(|| k.to_owned(), |s| format!("{s}.{k}")))
}
