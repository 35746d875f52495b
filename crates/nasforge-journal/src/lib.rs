//! The trial journal: every trial of every experiment in one SQLite file.
//!
//! Each finished trial is committed on its own, so a crash or `kill -9`
//! loses at most the trial in flight. The file is in WAL mode with a busy
//! timeout, so several processes (workers of one search, or a dashboard
//! reading while a search writes) can share it. A trial number is unique
//! within its experiment: two writers can never both record trial `n`.
//!
//! Schema (version 2; a version-1 journal is upgraded in place on open):
//! - `experiments(id, hash, seed, config, space, strategy, estimator,
//!   created_at, finished_at)`; `config` is the resolved experiment TOML a
//!   resumed run is rebuilt from;
//! - `trials(experiment_id, trial, arch, arch_key, status, valid, test,
//!   metrics, error, seed, experiment_hash, started_at, finished_at,
//!   eval_seconds, elapsed)`; `metrics` and `error` are JSON, every number
//!   exact (NaN and infinities as strings);
//! - `leases(experiment_id, token, pid, host, acquired_at, heartbeat_at,
//!   ttl)`: which live process writes an experiment ([`lease`]).

mod lease;

pub use lease::{DEFAULT_LEASE, LEASE_ENV, Lease, LeaseInfo, host_name, lease_ttl};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nasforge_core::{EvalError, Evaluation, Metrics};
use rusqlite::{Connection, params};

const SCHEMA_VERSION: i64 = 4;

/// A journal operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite reported an error.
    #[error("journal {path}: {source}")]
    Sqlite {
        /// The journal file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The file is a journal of another schema version, or not a journal.
    #[error("journal {path}: {reason}")]
    Incompatible {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The journal has no experiment with that id.
    #[error("journal {path}: no experiment {experiment}")]
    NoExperiment {
        /// The journal file.
        path: PathBuf,
        /// The id asked for.
        experiment: i64,
    },
    /// `NASFORGE_LEASE_SECONDS` is not a usable time to live.
    #[error("{}={value:?}: the lease time to live must be a number of seconds from 1 to 86400", LEASE_ENV)]
    LeaseSetting {
        /// What the variable holds.
        value: String,
    },
    /// Another live process holds the experiment's lease.
    #[error(
        "journal {path}: experiment {experiment} is being run by {} (last heartbeat {age:.1} s ago; its lease expires after {:.0} s without one): wait for it to finish, or stop it and resume again",
        holder.holder(),
        holder.ttl
    )]
    Leased {
        /// The journal file.
        path: PathBuf,
        /// The experiment.
        experiment: i64,
        /// Who holds it.
        holder: Box<LeaseInfo>,
        /// Seconds since its last heartbeat.
        age: f64,
    },
    /// This process's lease was taken over (it was paused past the lease's
    /// time to live), so it must not write further trials.
    #[error(
        "journal {path}: the lease on experiment {experiment} was lost{}: stopping so that no trial is written twice",
        holder.as_ref().map(|h| format!(" to {h}")).unwrap_or_default()
    )]
    LeaseLost {
        /// The journal file.
        path: PathBuf,
        /// The experiment.
        experiment: i64,
        /// The new holder, when there is one.
        holder: Option<String>,
    },
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |source| JournalError::Sqlite { path: path.to_owned(), source }
}

/// One experiment in a journal.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentRecord {
    /// Its id in the journal.
    pub id: i64,
    /// A hash of the resolved configuration (seed included).
    pub hash: String,
    /// The root seed.
    pub seed: u64,
    /// The resolved experiment TOML.
    pub config: String,
    /// The space's name.
    pub space: String,
    /// The strategy's name.
    pub strategy: String,
    /// The estimator's name.
    pub estimator: String,
    /// Unix seconds at creation.
    pub created_at: f64,
    /// Unix seconds when the budget was spent; `None` while unfinished.
    pub finished_at: Option<f64>,
}

/// Seconds since the Unix epoch: the journal's timestamps.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl ExperimentRecord {
    /// The record of an experiment composed in code rather than from a
    /// TOML file: no stored config (so it cannot be resumed by `resume`),
    /// created now.
    pub fn composed(space: &str, strategy: &str, estimator: &str, seed: u64) -> Self {
        let created_at = unix_now();
        Self {
            id: 0,
            hash: format!("composed:{space}:{strategy}:{estimator}:{seed}"),
            seed,
            config: String::new(),
            space: space.into(),
            strategy: strategy.into(),
            estimator: estimator.into(),
            created_at,
            finished_at: None,
        }
    }
}

/// One finished trial.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRecord {
    /// The trial's number in its experiment, from 0, in the order the
    /// strategy was told.
    pub trial: u64,
    /// The architecture in its space's standard string.
    pub arch: String,
    /// The architecture's canonical key.
    pub arch_key: String,
    /// The metrics, or why there are none.
    pub outcome: Evaluation,
    /// The seed the estimator used for this trial.
    pub seed: u64,
    /// Unix seconds when the evaluation started.
    pub started_at: f64,
    /// Unix seconds when it finished.
    pub finished_at: f64,
    /// Seconds the evaluation took.
    pub eval_seconds: f64,
    /// Seconds of search (over all sessions of the experiment) at the end of
    /// this trial; a seconds budget is counted on it.
    pub elapsed: f64,
}

/// A journal file.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
    /// The lease tokens this handle holds, by experiment.
    leases: HashMap<i64, String>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_owned();
        let conn = Connection::open(&path).map_err(|source| JournalError::Sqlite { path: path.clone(), source })?;
        let journal = Self { conn, path, leases: HashMap::new() };
        journal.init()?;
        Ok(journal)
    }

    /// Opens an existing journal, failing if there is none at `path`.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let p = path.as_ref();
        if !p.is_file() {
            return Err(JournalError::Incompatible { path: p.to_owned(), reason: "no such journal file".into() });
        }
        Self::open(p)
    }

    /// Opens an existing journal to read it only: no schema upgrade, no
    /// write lock, so a report or a dashboard can read a journal a search
    /// is writing (or one of an older schema, which it leaves as it is).
    /// A journal without step tables (schema 1 and 2) reads as having no
    /// steps.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_owned();
        if !path.is_file() {
            return Err(JournalError::Incompatible { path, reason: "no such journal file".into() });
        }
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|source| JournalError::Sqlite { path: path.clone(), source })?;
        let journal = Self { conn, path, leases: HashMap::new() };
        journal.sql(journal.conn.busy_timeout(Duration::from_secs(30)))?;
        let version = journal.conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| r.get::<_, String>(0));
        match version.as_deref() {
            Ok("1" | "2" | "3" | "4") => Ok(journal),
            Ok(other) => Err(JournalError::Incompatible { path: journal.path.clone(), reason: format!("schema version {other}, this build reads 1 to {SCHEMA_VERSION}") }),
            Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::NotADatabase => {
                Err(JournalError::Incompatible { path: journal.path.clone(), reason: "not a SQLite file".into() })
            }
            Err(_) => Err(JournalError::Incompatible { path: journal.path.clone(), reason: "not a nasforge journal (no schema version)".into() }),
        }
    }

    fn has_table(&self, name: &str) -> Result<bool, JournalError> {
        self.sql(self.conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| r.get::<_, i64>(0))).map(|n| n > 0)
    }

    /// The number of steps an experiment journaled (none in a journal
    /// without step tables).
    pub fn step_count(&self, experiment: i64) -> Result<u64, JournalError> {
        if !self.has_table("steps")? {
            return Ok(0);
        }
        self.sql(self.conn.query_row("SELECT COUNT(*) FROM steps WHERE experiment_id = ?1", [experiment], |r| r.get::<_, i64>(0))).map(|n| n as u64)
    }

    /// The number of trials of an experiment.
    pub fn trial_count(&self, experiment: i64) -> Result<u64, JournalError> {
        self.sql(self.conn.query_row("SELECT COUNT(*) FROM trials WHERE experiment_id = ?1", [experiment], |r| r.get::<_, i64>(0))).map(|n| n as u64)
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql<T>(&self, r: rusqlite::Result<T>) -> Result<T, JournalError> {
        r.map_err(|source| JournalError::Sqlite { path: self.path.clone(), source })
    }

    fn init(&self) -> Result<(), JournalError> {
        self.sql(self.conn.busy_timeout(Duration::from_secs(30)))?;
        // WAL lets readers and one writer at a time work side by side;
        // NORMAL sync keeps every committed trial across a process kill.
        // Switching to WAL does not wait on the busy handler, so two
        // processes opening a new journal at once retry here.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mode: String = loop {
            match self.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
                Ok(mode) => break mode,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::NotADatabase => {
                    return Err(JournalError::Incompatible { path: self.path.clone(), reason: "not a SQLite file".into() });
                }
                Err(source) => return Err(JournalError::Sqlite { path: self.path.clone(), source }),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::Incompatible { path: self.path.clone(), reason: format!("cannot enable WAL (mode {mode})") });
        }
        // The schema is created under a write lock taken up front
        // (IMMEDIATE), which waits on the busy handler, so concurrent
        // creators queue instead of failing.
        self.sql(self.conn.execute_batch(&format!(
            "PRAGMA synchronous=NORMAL;
             PRAGMA foreign_keys=ON;
             BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS experiments (
                 id INTEGER PRIMARY KEY,
                 hash TEXT NOT NULL,
                 seed INTEGER NOT NULL,
                 config TEXT NOT NULL,
                 space TEXT NOT NULL,
                 strategy TEXT NOT NULL,
                 estimator TEXT NOT NULL,
                 created_at REAL NOT NULL,
                 finished_at REAL
             );
             CREATE TABLE IF NOT EXISTS trials (
                 experiment_id INTEGER NOT NULL REFERENCES experiments(id),
                 trial INTEGER NOT NULL,
                 arch TEXT NOT NULL,
                 arch_key TEXT NOT NULL,
                 status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
                 valid REAL,
                 test REAL,
                 metrics TEXT,
                 error TEXT,
                 seed INTEGER NOT NULL,
                 experiment_hash TEXT NOT NULL,
                 started_at REAL NOT NULL,
                 finished_at REAL NOT NULL,
                 eval_seconds REAL NOT NULL,
                 elapsed REAL NOT NULL,
                 PRIMARY KEY (experiment_id, trial)
             );
             INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}');"
        )))?;
        // The version is read before anything else is written, so a journal
        // of a newer schema is left untouched. Version 2 added the lease
        // table, version 3 the step and checkpoint tables, version 4 the
        // checkpoint's search seconds, and nothing else; the upgrade is
        // one-way (an older build refuses the upgraded file).
        let upgrade = || -> rusqlite::Result<Result<(), String>> {
            let version: String = self.conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| r.get(0))?;
            match version.as_str() {
                "1" | "2" | "3" | "4" => {
                    lease::create_table(&self.conn)?;
                    create_step_tables(&self.conn)?;
                    if version == "3" {
                        self.conn.execute_batch("ALTER TABLE checkpoints ADD COLUMN elapsed REAL")?;
                    }
                    self.conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema'", [])?;
                    Ok(Ok(()))
                }
                other => Ok(Err(format!("schema version {other}, this build reads {SCHEMA_VERSION}"))),
            }
        };
        match upgrade().and_then(|r| self.conn.execute_batch(if r.is_ok() { "COMMIT;" } else { "ROLLBACK;" }).map(|()| r)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(JournalError::Incompatible { path: self.path.clone(), reason }),
            Err(source) => {
                let _ = self.conn.execute_batch("ROLLBACK;");
                Err(JournalError::Sqlite { path: self.path.clone(), source })
            }
        }
    }

    /// Records a new experiment and returns its id.
    pub fn create_experiment(&mut self, e: &ExperimentRecord) -> Result<i64, JournalError> {
        self.sql(self.conn.execute(
            "INSERT INTO experiments (hash, seed, config, space, strategy, estimator, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![e.hash, e.seed as i64, e.config, e.space, e.strategy, e.estimator, e.created_at],
        ))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records a new experiment and takes its lease, in one transaction:
    /// what a fresh run does, so no other process can take it over between
    /// the two. The lease lives `ttl` without a heartbeat.
    pub fn start_experiment(&mut self, e: &ExperimentRecord, ttl: Duration) -> Result<(i64, Lease), JournalError> {
        lease::acquire(self, ttl, |conn| {
            conn.execute(
                "INSERT INTO experiments (hash, seed, config, space, strategy, estimator, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![e.hash, e.seed as i64, e.config, e.space, e.strategy, e.estimator, e.created_at],
            )?;
            Ok(conn.last_insert_rowid())
        })
    }

    /// Takes the lease of an existing experiment (what `resume` does before
    /// it reads the trials), refusing with [`JournalError::Leased`] while
    /// another live process holds it. Once held, every [`Journal::append`]
    /// to the experiment checks the lease is still this handle's.
    pub fn acquire_lease(&mut self, experiment: i64, ttl: Duration) -> Result<Lease, JournalError> {
        let path = self.path.clone();
        lease::acquire(self, ttl, |conn| {
            let known: i64 = conn.query_row("SELECT COUNT(*) FROM experiments WHERE id = ?1", [experiment], |r| r.get(0))?;
            if known == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            Ok(experiment)
        })
        .map_err(|e| match e {
            JournalError::Sqlite { source: rusqlite::Error::QueryReturnedNoRows, .. } => JournalError::NoExperiment { path, experiment },
            e => e,
        })
        .map(|(_, l)| l)
    }

    /// Whether another live process holds `experiment`'s lease (what
    /// `resume` without an id skips).
    pub fn leased_by_other(&self, experiment: i64) -> Result<Option<LeaseInfo>, JournalError> {
        if self.leases.contains_key(&experiment) {
            return Ok(None);
        }
        Ok(self.lease(experiment)?.filter(|l| l.live(unix_now())))
    }

    /// Who holds an experiment's lease, if anyone (live or expired).
    pub fn lease(&self, experiment: i64) -> Result<Option<LeaseInfo>, JournalError> {
        lease::info(&self.conn, &self.path, experiment)
    }

    /// Marks an experiment finished (once: replaying a finished experiment
    /// keeps the time its budget was first reached).
    pub fn finish_experiment(&mut self, id: i64, at: f64) -> Result<(), JournalError> {
        let path = &self.path;
        let tx = self.conn.transaction().map_err(sqlite(path))?;
        lease::guard(&tx, path, id, self.leases.get(&id).map(String::as_str))?;
        tx.execute("UPDATE experiments SET finished_at = ?2 WHERE id = ?1 AND finished_at IS NULL", params![id, at]).map_err(sqlite(path))?;
        tx.commit().map_err(sqlite(path))
    }

    /// Every experiment, oldest first.
    pub fn experiments(&self) -> Result<Vec<ExperimentRecord>, JournalError> {
        let mut stmt = self.sql(self.conn.prepare(
            "SELECT id, hash, seed, config, space, strategy, estimator, created_at, finished_at
             FROM experiments ORDER BY id",
        ))?;
        let rows = self.sql(stmt.query_map([], |r| {
            Ok(ExperimentRecord {
                id: r.get(0)?,
                hash: r.get(1)?,
                seed: r.get::<_, i64>(2)? as u64,
                config: r.get(3)?,
                space: r.get(4)?,
                strategy: r.get(5)?,
                estimator: r.get(6)?,
                created_at: r.get(7)?,
                finished_at: r.get(8)?,
            })
        }))?;
        self.sql(rows.collect())
    }

    /// Appends a finished trial, committed on its own. Fails if the
    /// experiment already has a trial with that number, if this handle took
    /// the experiment's lease and has lost it since, or, for a handle
    /// without it, if another live process holds it.
    pub fn append(&mut self, experiment: i64, experiment_hash: &str, t: &TrialRecord) -> Result<(), JournalError> {
        let json = |m: &Metrics| serde_json::to_string(m).expect("metrics serialise");
        let (status, valid, test, metrics, error) = match &t.outcome {
            Ok(m) => ("ok", Some(m.valid), m.test, Some(json(m)), None),
            Err(e) => {
                // A non-finite objective keeps what was measured.
                let metrics = match e {
                    EvalError::NonFinite { metrics, .. } => Some(json(metrics)),
                    _ => None,
                };
                ("failed", None, None, metrics, Some(serde_json::to_string(e).expect("errors serialise")))
            }
        };
        let path = &self.path;
        let tx = self.conn.transaction().map_err(sqlite(path))?;
        lease::guard(&tx, path, experiment, self.leases.get(&experiment).map(String::as_str))?;
        let mut stmt = tx
            .prepare_cached(
            "INSERT INTO trials (experiment_id, trial, arch, arch_key, status, valid, test, metrics, error,
                                 seed, experiment_hash, started_at, finished_at, eval_seconds, elapsed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .map_err(sqlite(path))?;
        let r = stmt.execute(params![
            experiment,
            t.trial as i64,
            t.arch,
            t.arch_key,
            status,
            valid,
            test,
            metrics,
            error,
            t.seed as i64,
            experiment_hash,
            t.started_at,
            t.finished_at,
            t.eval_seconds,
            t.elapsed
        ]);
        r.map_err(sqlite(path))?;
        drop(stmt);
        tx.commit().map_err(sqlite(path))
    }

    /// Writes a long strategy's step: its log row (replacing the step's
    /// row if a killed run had written it) and its checkpoint (replacing
    /// the previous one), in one commit, under the same lease rules as
    /// [`Journal::append`]. `elapsed` is the search's seconds so far,
    /// summed over its sessions, from which a resumed search's clock
    /// continues.
    pub fn save_step(&mut self, experiment: i64, step: u64, log: &str, state: &[u8], elapsed: f64) -> Result<(), JournalError> {
        let path = &self.path;
        let tx = self.conn.transaction().map_err(sqlite(path))?;
        lease::guard(&tx, path, experiment, self.leases.get(&experiment).map(String::as_str))?;
        let at = unix_now();
        tx.execute(
            "INSERT OR REPLACE INTO steps (experiment_id, step, log, at) VALUES (?1, ?2, ?3, ?4)",
            params![experiment, step as i64, log, at],
        )
        .map_err(sqlite(path))?;
        tx.execute(
            "INSERT OR REPLACE INTO checkpoints (experiment_id, step, state, at, elapsed) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![experiment, step as i64, state, at, elapsed],
        )
        .map_err(sqlite(path))?;
        tx.commit().map_err(sqlite(path))
    }

    /// The step log of an experiment, `(step, log)` in step order.
    pub fn steps(&self, experiment: i64) -> Result<Vec<(u64, String)>, JournalError> {
        if !self.has_table("steps")? {
            return Ok(Vec::new());
        }
        let mut stmt = self.sql(self.conn.prepare("SELECT step, log FROM steps WHERE experiment_id = ?1 ORDER BY step"))?;
        let rows = self.sql(stmt.query_map([experiment], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))))?;
        self.sql(rows.collect())
    }

    /// The last checkpoint of an experiment.
    pub fn checkpoint(&self, experiment: i64) -> Result<Option<Checkpoint>, JournalError> {
        let r = self.conn.query_row("SELECT step, state, elapsed FROM checkpoints WHERE experiment_id = ?1", [experiment], |r| {
            Ok(Checkpoint { step: r.get::<_, i64>(0)? as u64, state: r.get(1)?, elapsed: r.get(2)? })
        });
        match r {
            Ok(c) => Ok(Some(c)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(source) => Err(JournalError::Sqlite { path: self.path.clone(), source }),
        }
    }

    /// The trials of an experiment, in trial order.
    pub fn trials(&self, experiment: i64) -> Result<Vec<TrialRecord>, JournalError> {
        let mut stmt = self.sql(self.conn.prepare(
            "SELECT trial, arch, arch_key, status, metrics, error, seed, started_at, finished_at, eval_seconds, elapsed
             FROM trials WHERE experiment_id = ?1 ORDER BY trial",
        ))?;
        let rows = self.sql(stmt.query_map([experiment], |r| {
            let status: String = r.get(3)?;
            let json_err = |i: usize, e: serde_json::Error| {
                rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
            };
            let outcome = if status == "ok" {
                let m: String = r.get(4)?;
                Ok(serde_json::from_str::<Metrics>(&m).map_err(|e| json_err(4, e))?)
            } else {
                let e: String = r.get(5)?;
                Err(serde_json::from_str::<EvalError>(&e).map_err(|e| json_err(5, e))?)
            };
            Ok(TrialRecord {
                trial: r.get::<_, i64>(0)? as u64,
                arch: r.get(1)?,
                arch_key: r.get(2)?,
                outcome,
                seed: r.get::<_, i64>(6)? as u64,
                started_at: r.get(7)?,
                finished_at: r.get(8)?,
                eval_seconds: r.get(9)?,
                elapsed: r.get(10)?,
            })
        }))?;
        self.sql(rows.collect())
    }
}

/// A long strategy's last checkpoint ([`Journal::save_step`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The step it was written after.
    pub step: u64,
    /// The strategy's state.
    pub state: Vec<u8>,
    /// Seconds of search when it was written, summed over sessions; `None`
    /// in a journal written before schema 4.
    pub elapsed: Option<f64>,
}

/// The tables of long strategies (schema 3; the checkpoint's `elapsed`
/// since schema 4): one log row per step, and the last checkpoint of each
/// experiment.
fn create_step_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS steps (
             experiment_id INTEGER NOT NULL REFERENCES experiments(id),
             step INTEGER NOT NULL,
             log TEXT NOT NULL,
             at REAL NOT NULL,
             PRIMARY KEY (experiment_id, step)
         );
         CREATE TABLE IF NOT EXISTS checkpoints (
             experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id),
             step INTEGER NOT NULL,
             state BLOB NOT NULL,
             at REAL NOT NULL,
             elapsed REAL
         );",
    )
}

#[cfg(test)]
mod tests;
