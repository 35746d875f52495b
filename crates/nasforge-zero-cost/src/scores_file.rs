//! The scores CSV: one row per architecture (`arch`, the space's standard
//! string, quoted where it holds commas, then one column per proxy),
//! written in the order asked, so that a killed run resumes where it
//! stopped and never computes a row twice. Beside it, `OUT.settings`
//! holds what the rows depend on (space, network size, batch, seed): a
//! run with other settings refuses to add to the file.
//!
//! Architectures are scored on `threads` OS threads (each network's ops
//! still use rayon inside: the engine's probe is per thread, see
//! `nasforge_engine::probe`), and rows are written in input order through
//! a reorder buffer, flushed one by one: the file's contents depend on the
//! architectures and the seed, never on the thread count.

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use nasforge_core::SearchSpace;
use nasforge_registry::DynArch;

use crate::score::Scorer;

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Rows already in the file when the run started.
    pub resumed: usize,
    /// Rows this run wrote.
    pub written: usize,
    /// Per proxy: how many of this run's rows it could not score, and one
    /// reason.
    pub failures: Vec<(String, usize, Option<String>)>,
}

/// Why a scores file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScoresError {
    /// Reading or writing the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The existing file holds other columns.
    #[error("{path}: has columns `{found}`, not `{wanted}`: it was written for other proxies (give another --out, or the same --proxies)")]
    Columns {
        /// The file.
        path: PathBuf,
        /// Its header.
        found: String,
        /// The header this run writes.
        wanted: String,
    },
    /// The existing rows were scored with other settings.
    #[error("{path}: its rows were scored with other settings ({found}), not this run's ({wanted}): give another --out, or the same settings")]
    Settings {
        /// The file.
        path: PathBuf,
        /// What its settings file says (`none` when it has none).
        found: String,
        /// This run's settings.
        wanted: String,
    },
    /// The file is not a scores CSV.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A network could not be built.
    #[error("{0}")]
    Build(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ScoresError + '_ {
    move |source| ScoresError::Io { path: path.to_owned(), source }
}

/// The header of a scores file for `proxies`.
pub fn header(proxies: &[&str]) -> Vec<String> {
    std::iter::once("arch").chain(proxies.iter().copied()).map(String::from).collect()
}

/// A score as the file writes it: Rust's shortest round-trip form; `NaN`
/// for a proxy that could not score (the table reader takes both).
fn cell(v: &Result<f64, String>) -> String {
    match v {
        Ok(v) => format!("{v}"),
        Err(_) => "NaN".into(),
    }
}

/// The settings file beside `out`.
pub fn settings_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_owned();
    name.push(".settings");
    out.with_file_name(name)
}

/// Scores `archs` with `scorer` into `out`, resuming a file a killed run
/// left: its complete rows are kept (a torn last line is cut), and only
/// the architectures it lacks are scored, each once however often it is
/// listed. `progress(done, total)` is called after every row.
pub fn write_scores(scorer: &Scorer, archs: &[DynArch], out: &Path, threads: usize, progress: &mut dyn FnMut(usize, usize)) -> Result<Summary, ScoresError> {
    let names = scorer.names();
    let wanted = header(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let space = scorer.space();
    let done = resume_rows(out, &wanted, &scorer.fingerprint())?;
    let mut seen = HashSet::new();
    let unique: Vec<&DynArch> = archs.iter().filter(|a| seen.insert(space.format(a))).collect();
    let todo: Vec<&DynArch> = unique.iter().copied().filter(|a| !done.contains(&space.format(a))).collect();
    let file = OpenOptions::new().create(true).append(true).open(out).map_err(io(out))?;
    let fresh = file.metadata().map_err(io(out))?.len() == 0;
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(file);
    let csv_error = |e: csv::Error| ScoresError::Io { path: out.to_owned(), source: std::io::Error::other(e) };
    if fresh {
        writer.write_record(&wanted).map_err(csv_error)?;
        writer.flush().map_err(io(out))?;
    }
    let total = unique.len();
    let mut summary = Summary { resumed: total - todo.len(), failures: names.iter().map(|n| (n.clone(), 0, None)).collect(), ..Summary::default() };
    progress(summary.resumed, total);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<Vec<Result<f64, String>>, String>)>();
    std::thread::scope(|scope| -> Result<(), ScoresError> {
        for _ in 0..threads.max(1).min(todo.len().max(1)) {
            let (tx, next, todo) = (tx.clone(), &next, &todo);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= todo.len() || tx.send((i, scorer.score(todo[i]))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut written = 0;
        for (i, scores) in rx {
            pending.insert(i, scores);
            while let Some(scores) = pending.remove(&written) {
                let scores = match scores {
                    Ok(s) => s,
                    Err(e) => {
                        // Stop the workers: no row may be skipped silently.
                        next.store(usize::MAX / 2, Ordering::Relaxed);
                        return Err(ScoresError::Build(format!("{}: {e}", space.format(todo[written]))));
                    }
                };
                let mut record = vec![space.format(todo[written])];
                for (s, f) in scores.iter().zip(summary.failures.iter_mut()) {
                    record.push(cell(s));
                    if let Err(e) = s {
                        f.1 += 1;
                        f.2.get_or_insert_with(|| e.clone());
                    }
                }
                writer.write_record(&record).map_err(csv_error)?;
                writer.flush().map_err(io(out))?;
                written += 1;
                summary.written = written;
                progress(summary.resumed + written, total);
            }
        }
        Ok(())
    })?;
    Ok(summary)
}

/// The architectures already in `path` (none if it does not exist or is
/// empty). Refuses a file with another header or scored with other
/// settings, before touching it; then cuts a torn last line.
fn resume_rows(path: &Path, wanted: &[String], settings: &str) -> Result<HashSet<String>, ScoresError> {
    let corrupt = |reason: String| ScoresError::Corrupt { path: path.to_owned(), reason };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(path)(e)),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut rows = HashSet::new();
    if complete == 0 {
        // No complete line: an empty file, or a header torn by a kill.
        let joined = wanted.join(",");
        if !joined.as_bytes().starts_with(&bytes) {
            return Err(ScoresError::Columns { path: path.to_owned(), found: String::from_utf8_lossy(&bytes).into_owned(), wanted: joined });
        }
    } else {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(&bytes[..complete]);
        let found: Vec<String> = reader.headers().map_err(|e| corrupt(e.to_string()))?.iter().map(String::from).collect();
        if found != wanted {
            return Err(ScoresError::Columns { path: path.to_owned(), found: found.join(","), wanted: wanted.join(",") });
        }
        for record in reader.records() {
            let record = record.map_err(|e| corrupt(e.to_string()))?;
            rows.insert(record.get(0).unwrap_or_default().to_owned());
        }
        let stored = std::fs::read_to_string(settings_path(path)).unwrap_or_else(|_| "none".into());
        if !rows.is_empty() && stored.trim() != settings {
            return Err(ScoresError::Settings { path: path.to_owned(), found: stored.trim().to_owned(), wanted: settings.to_owned() });
        }
    }
    std::fs::write(settings_path(path), format!("{settings}\n")).map_err(io(&settings_path(path)))?;
    if complete < bytes.len() {
        let file = OpenOptions::new().write(true).open(path).map_err(io(path))?;
        file.set_len(complete as u64).map_err(io(path))?;
    }
    Ok(rows)
}
