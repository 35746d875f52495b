//! Leases: which live process is writing an experiment.
//!
//! A process that runs or resumes an experiment holds its lease: a row in
//! `leases` with the holder's pid and host and a heartbeat a background
//! thread refreshes every quarter of the lease's time to live. Another
//! process may take the experiment over only when the lease has expired
//! (no heartbeat for the time to live) or its holder is a process on this
//! host that no longer exists. Every trial the holder appends checks, in
//! the same transaction, that the lease is still its own, so a holder that
//! was paused past its lease and taken over stops instead of writing
//! trials twice.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use nasforge_core::splitmix64;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{Journal, JournalError, sqlite, unix_now};

/// How long a lease lives without a heartbeat unless the holder chooses
/// otherwise ([`LEASE_ENV`]).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The environment variable that sets the lease time to live, in seconds,
/// of the processes that run experiments (for clusters whose processes
/// pause longer, or tests that kill one).
pub const LEASE_ENV: &str = "NASFORGE_LEASE_SECONDS";

/// The lease time to live this process uses: [`LEASE_ENV`] when set to a
/// positive number, else [`DEFAULT_LEASE`].
pub fn lease_ttl() -> Duration {
    std::env::var(LEASE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_LEASE, Duration::from_secs_f64)
}

/// Who holds an experiment's lease.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseInfo {
    /// The holder's process id.
    pub pid: u32,
    /// The holder's host name.
    pub host: String,
    /// Unix seconds when it took the lease.
    pub acquired_at: f64,
    /// Unix seconds of its last heartbeat.
    pub heartbeat_at: f64,
    /// Seconds without a heartbeat after which the lease expires.
    pub ttl: f64,
}

impl LeaseInfo {
    /// `pid N on HOST`.
    pub fn holder(&self) -> String {
        format!("pid {} on {}", self.pid, self.host)
    }

    /// Whether the lease still binds others at `now`.
    pub fn live(&self, now: f64) -> bool {
        now - self.heartbeat_at < self.ttl && (self.host != host_name() || process_exists(self.pid))
    }
}

/// This machine's name, as leases record it.
pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Whether process `pid` exists on this host. Where that cannot be told
/// (no `/proc`), every process is taken to exist and only the time to live
/// frees a lease.
fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// An experiment's lease, held until dropped; a background thread keeps
/// its heartbeat. Dropping it releases the lease; a killed process's lease
/// expires on its own.
#[derive(Debug)]
pub struct Lease {
    experiment: i64,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Lease {
    /// The experiment it is for.
    pub fn experiment(&self) -> i64 {
        self.experiment
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn create_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS leases (
             experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id),
             token TEXT NOT NULL,
             pid INTEGER NOT NULL,
             host TEXT NOT NULL,
             acquired_at REAL NOT NULL,
             heartbeat_at REAL NOT NULL,
             ttl REAL NOT NULL
         );",
    )
}

fn read(conn: &Connection, experiment: i64) -> rusqlite::Result<Option<(String, LeaseInfo)>> {
    conn.query_row(
        "SELECT token, pid, host, acquired_at, heartbeat_at, ttl FROM leases WHERE experiment_id = ?1",
        [experiment],
        |r| {
            Ok((
                r.get(0)?,
                LeaseInfo { pid: r.get(1)?, host: r.get(2)?, acquired_at: r.get(3)?, heartbeat_at: r.get(4)?, ttl: r.get(5)? },
            ))
        },
    )
    .optional()
}

/// Takes the lease of `experiment` inside an IMMEDIATE transaction (so two
/// processes cannot both see it free), refusing when another holder's
/// lease is live. Runs `before` first in the same transaction (creating
/// the experiment, for a fresh run).
pub(crate) fn acquire(
    journal: &mut Journal,
    ttl: Duration,
    before: impl FnOnce(&Connection) -> rusqlite::Result<i64>,
) -> Result<(i64, Lease), JournalError> {
    static TAKEN: AtomicU64 = AtomicU64::new(0);
    let nonce = splitmix64(unix_now().to_bits() ^ TAKEN.fetch_add(1, Ordering::Relaxed));
    let token = format!("{}:{}:{nonce:016x}", host_name(), std::process::id());
    let path = journal.path.clone();
    let tx = journal.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite(&path))?;
    let experiment = before(&tx).map_err(sqlite(&path))?;
    let now = unix_now();
    if let Some((_, held)) = read(&tx, experiment).map_err(sqlite(&path))?.filter(|(_, l)| l.live(now)) {
        return Err(JournalError::Leased { path, experiment, age: now - held.heartbeat_at, holder: held });
    }
    tx.execute(
        "INSERT OR REPLACE INTO leases (experiment_id, token, pid, host, acquired_at, heartbeat_at, ttl)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![experiment, token, std::process::id(), host_name(), now, ttl.as_secs_f64()],
    ).map_err(sqlite(&path))?;
    tx.commit().map_err(sqlite(&path))?;
    journal.leases.insert(experiment, token.clone());
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("nasforge-lease-{experiment}"))
        .spawn(move || heartbeat(path, experiment, token, ttl, stopped))
        .ok();
    Ok((experiment, Lease { experiment, stop: Some(stop), thread }))
}

/// Refreshes the heartbeat until told to stop (or the lease is gone), then
/// releases the lease. Its own connection: the journal's is the search's.
fn heartbeat(path: PathBuf, experiment: i64, token: String, ttl: Duration, stopped: mpsc::Receiver<()>) {
    let Ok(conn) = Connection::open(&path) else { return };
    let _ = conn.busy_timeout(Duration::from_secs(30));
    let every = (ttl / 4).max(Duration::from_millis(20));
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
        let updated = conn.execute(
            "UPDATE leases SET heartbeat_at = ?3 WHERE experiment_id = ?1 AND token = ?2",
            params![experiment, token, unix_now()],
        );
        if let Ok(0) = updated {
            // Taken over: the search's next append fails with LeaseLost,
            // and the row is the new holder's to release.
            return;
        }
    }
    let _ = conn.execute("DELETE FROM leases WHERE experiment_id = ?1 AND token = ?2", params![experiment, token]);
}

/// Fails unless this journal still holds `experiment`'s lease (when it
/// took one), and refreshes the heartbeat: called inside each append's
/// transaction.
pub(crate) fn check_held(conn: &Connection, path: &Path, experiment: i64, token: &str) -> Result<(), JournalError> {
    let updated = conn.execute(
        "UPDATE leases SET heartbeat_at = ?3 WHERE experiment_id = ?1 AND token = ?2",
        params![experiment, token, unix_now()],
    ).map_err(sqlite(path))?;
    if updated == 1 {
        return Ok(());
    }
    let holder = read(conn, experiment).map_err(sqlite(path))?.map(|(_, l)| l.holder());
    Err(JournalError::LeaseLost { path: path.to_owned(), experiment, holder })
}

pub(crate) fn info(conn: &Connection, path: &Path, experiment: i64) -> Result<Option<LeaseInfo>, JournalError> {
    read(conn, experiment).map(|o| o.map(|(_, l)| l)).map_err(sqlite(path))
}
