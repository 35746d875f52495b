//! The scores CSV: one row per architecture (`arch`, the space's standard
//! string, then one column per proxy), written in the order asked, so that
//! a killed run resumes where it stopped and never computes a row twice.
//!
//! Architectures are scored on `threads` OS threads (each network's ops
//! still use rayon inside: the engine's probe is per thread, see
//! `nasforge_engine::probe`), and rows are written in input order through
//! a reorder buffer, flushed one by one: the file's contents depend on the
//! architectures and the seed, never on the thread count.

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
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
    /// A network could not be built.
    #[error("{0}")]
    Build(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ScoresError + '_ {
    move |source| ScoresError::Io { path: path.to_owned(), source }
}

/// The header of a scores file for `proxies`.
pub fn header(proxies: &[&str]) -> String {
    std::iter::once("arch").chain(proxies.iter().copied()).collect::<Vec<_>>().join(",")
}

/// A score as the file writes it: Rust's shortest round-trip form; `NaN`
/// for a proxy that could not score (the table reader takes both).
fn cell(v: &Result<f64, String>) -> String {
    match v {
        Ok(v) => format!("{v}"),
        Err(_) => "NaN".into(),
    }
}

/// Scores `archs` with `scorer` into `out`, resuming a file a killed run
/// left: its complete rows are kept (a torn last line is cut), and only
/// the architectures it lacks are scored. `progress(done, total)` is called
/// after every row.
pub fn write_scores(scorer: &Scorer, archs: &[DynArch], out: &Path, threads: usize, progress: &mut dyn FnMut(usize, usize)) -> Result<Summary, ScoresError> {
    let names = scorer.names();
    let wanted = header(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let space = scorer.space();
    let done = resume_rows(out, &wanted)?;
    let todo: Vec<&DynArch> = archs.iter().filter(|a| !done.contains(&space.format(a))).collect();
    let mut file = OpenOptions::new().create(true).append(true).open(out).map_err(io(out))?;
    if done.is_empty() && file.metadata().map_err(io(out))?.len() == 0 {
        writeln!(file, "{wanted}").map_err(io(out))?;
    }
    let total = archs.len();
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
                let mut line = space.format(todo[written]);
                debug_assert!(!line.contains([',', '"', '\n']), "standard strings are CSV-safe");
                for (s, f) in scores.iter().zip(summary.failures.iter_mut()) {
                    line.push(',');
                    line.push_str(&cell(s));
                    if let Err(e) = s {
                        f.1 += 1;
                        f.2.get_or_insert_with(|| e.clone());
                    }
                }
                writeln!(file, "{line}").and_then(|()| file.flush()).map_err(io(out))?;
                written += 1;
                summary.written = written;
                progress(summary.resumed + written, total);
            }
        }
        Ok(())
    })?;
    Ok(summary)
}

/// The architectures already in `path` (none if it does not exist); cuts a
/// torn last line; refuses a file with another header.
fn resume_rows(path: &Path, wanted: &str) -> Result<HashSet<String>, ScoresError> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut reader = BufReader::new(&mut file);
    let mut rows = HashSet::new();
    let (mut complete, mut line) = (0u64, String::new());
    let mut first = true;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io(path))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        let text = line.trim_end();
        if first {
            if text != wanted {
                return Err(ScoresError::Columns { path: path.to_owned(), found: text.to_owned(), wanted: wanted.to_owned() });
            }
            first = false;
        } else if let Some((arch, _)) = text.split_once(',') {
            rows.insert(arch.to_owned());
        }
        complete += n as u64;
    }
    drop(reader);
    if file.metadata().map_err(io(path))?.len() != complete {
        file.set_len(complete).map_err(io(path))?;
    }
    file.seek(SeekFrom::End(0)).map_err(io(path))?;
    Ok(rows)
}
