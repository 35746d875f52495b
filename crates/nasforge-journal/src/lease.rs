//! Leases: which live process is writing an experiment.
//!
//! A process that runs or resumes an experiment holds its lease: a row in
//! `leases` naming the holder (pid, host, the machine it runs on and its
//! process start time) with a heartbeat that a background thread
//! refreshes every quarter of the lease's time to live. Another process
//! may take the experiment over only when the lease is free:
//! - on the same machine (same boot and pid namespace, read from
//!   `/proc`), when the holder process no longer exists — the pid and its
//!   start time identify it, so a reused pid does not keep a dead
//!   holder's lease, and a clock that jumps cannot free a live one;
//! - elsewhere, or where `/proc` is missing, when no heartbeat came for
//!   the time to live (a heartbeat from the future, a clock that ran
//!   ahead, counts as live).
//!
//! Every trial the holder appends checks, in the same transaction, that
//! the lease is still its own, and a handle without the lease may not
//! append to an experiment someone else holds live; so no trial is ever
//! written twice.
//!
//! A journal lives on a local filesystem and is shared by processes of
//! one machine: SQLite's WAL mode needs shared memory, and on a network
//! filesystem its locks do not reliably exclude, so two acquisitions there
//! could both succeed. A `/proc` mounted with `hidepid` hides other users'
//! processes, which then look gone: share a journal between processes of
//! one user.

use std::path::Path;
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

/// The environment variable that sets the lease time to live, in seconds
/// (1 to 86,400), of the processes that run experiments: how long a
/// holder may go without a heartbeat (a process paused or starved that
/// long) before a process that cannot check it directly takes over.
pub const LEASE_ENV: &str = "NASFORGE_LEASE_SECONDS";

/// The lease time to live this process uses: [`LEASE_ENV`] when set, else
/// [`DEFAULT_LEASE`]; a value that is not a number of seconds from 1 to
/// 86,400 is an error.
pub fn lease_ttl() -> Result<Duration, JournalError> {
    parse_ttl(std::env::var(LEASE_ENV).ok())
}

fn parse_ttl(value: Option<String>) -> Result<Duration, JournalError> {
    let Some(value) = value else { return Ok(DEFAULT_LEASE) };
    match value.trim().parse::<f64>() {
        Ok(s) if (1.0..=86_400.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(JournalError::LeaseSetting { value }),
    }
}

/// Who holds an experiment's lease.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseInfo {
    /// The holder's process id.
    pub pid: u32,
    /// The holder's host name.
    pub host: String,
    /// The holder's machine: boot id and pid namespace, when known.
    pub machine: Option<String>,
    /// The holder process's start time (clock ticks since boot), when known.
    pub started: Option<u64>,
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

    /// Whether the lease still binds others at `now` (see the module docs).
    pub fn live(&self, now: f64) -> bool {
        if let (Some(machine), Some(started), Some(ours)) = (&self.machine, self.started, machine_id()) {
            if *machine == ours {
                return process_started(self.pid) == Some(started);
            }
        }
        now - self.heartbeat_at < self.ttl || self.heartbeat_at > now + self.ttl
    }
}

/// This machine's name, as leases record it.
pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// The boot id and pid namespace: processes that agree on it can check
/// each other's pids. `None` where `/proc` does not tell.
#[cfg(unix)]
fn machine_id() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let pid_ns = std::fs::metadata("/proc/self/ns/pid").ok()?.ino();
    Some(format!("{}:{pid_ns}", boot.trim()))
}

#[cfg(not(unix))]
fn machine_id() -> Option<String> {
    None
}

/// When process `pid` started (field 22 of `/proc/PID/stat`), or `None`
/// when there is no such process (or no `/proc`).
fn process_started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesised and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// An experiment's lease, held until dropped; a background thread keeps
/// its heartbeat. Dropping it releases the lease; a killed process's lease
/// frees itself (see the module docs).
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
             machine TEXT,
             started INTEGER,
             acquired_at REAL NOT NULL,
             heartbeat_at REAL NOT NULL,
             ttl REAL NOT NULL
         );",
    )
}

fn read(conn: &Connection, experiment: i64) -> rusqlite::Result<Option<(String, LeaseInfo)>> {
    conn.query_row(
        "SELECT token, pid, host, machine, started, acquired_at, heartbeat_at, ttl FROM leases WHERE experiment_id = ?1",
        [experiment],
        |r| {
            Ok((
                r.get(0)?,
                LeaseInfo {
                    pid: r.get(1)?,
                    host: r.get(2)?,
                    machine: r.get(3)?,
                    started: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
                    acquired_at: r.get(5)?,
                    heartbeat_at: r.get(6)?,
                    ttl: r.get(7)?,
                },
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
    let pid = std::process::id();
    let token = format!("{}:{pid}:{nonce:016x}", host_name());
    let path = journal.path.clone();
    // The heartbeat's own connection, opened now so that a journal it
    // cannot reach fails the acquisition instead of silently letting the
    // lease lapse; by absolute path, so a later change of directory does
    // not point it elsewhere.
    let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let beat = Connection::open(&absolute).map_err(sqlite(&path))?;
    beat.busy_timeout(Duration::from_secs(30)).map_err(sqlite(&path))?;
    let tx = journal.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite(&path))?;
    let experiment = before(&tx).map_err(sqlite(&path))?;
    refuse_if_held(&tx, &path, experiment)?;
    let now = unix_now();
    tx.execute(
        "INSERT OR REPLACE INTO leases (experiment_id, token, pid, host, machine, started, acquired_at, heartbeat_at, ttl)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
        params![experiment, token, pid, host_name(), machine_id(), process_started(pid).map(|s| s as i64), now, ttl.as_secs_f64()],
    )
    .map_err(sqlite(&path))?;
    tx.commit().map_err(sqlite(&path))?;
    journal.leases.insert(experiment, token.clone());
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("nasforge-lease-{experiment}"))
        .spawn({
            let token = token.clone();
            move || heartbeat(beat, experiment, token, ttl, stopped)
        })
        .map_err(|e| JournalError::Incompatible { path: path.clone(), reason: format!("cannot start the lease heartbeat: {e}") });
    match thread {
        Ok(thread) => Ok((experiment, Lease { experiment, stop: Some(stop), thread: Some(thread) })),
        Err(e) => {
            let _ = journal.conn.execute("DELETE FROM leases WHERE experiment_id = ?1 AND token = ?2", params![experiment, token]);
            journal.leases.remove(&experiment);
            Err(e)
        }
    }
}

/// Refreshes the heartbeat until told to stop (or the lease is gone), then
/// releases the lease.
fn heartbeat(conn: Connection, experiment: i64, token: String, ttl: Duration, stopped: mpsc::Receiver<()>) {
    let every = (ttl / 4).max(Duration::from_millis(20));
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
        if let Ok(0) = beat(&conn, experiment, &token) {
            // Taken over: the search's next append fails with LeaseLost,
            // and the row is the new holder's to release.
            return;
        }
    }
    let _ = conn.execute("DELETE FROM leases WHERE experiment_id = ?1 AND token = ?2", params![experiment, token]);
}

/// Refreshes the heartbeat of the lease `token` names; the rows updated
/// (0 once another holder has taken the experiment over).
fn beat(conn: &Connection, experiment: i64, token: &str) -> rusqlite::Result<usize> {
    conn.execute("UPDATE leases SET heartbeat_at = ?3 WHERE experiment_id = ?1 AND token = ?2", params![experiment, token, unix_now()])
}

/// Fails with [`JournalError::Leased`] when a live holder has the lease.
fn refuse_if_held(conn: &Connection, path: &Path, experiment: i64) -> Result<(), JournalError> {
    let now = unix_now();
    match read(conn, experiment).map_err(sqlite(path))?.filter(|(_, l)| l.live(now)) {
        Some((_, held)) => Err(JournalError::Leased { path: path.to_owned(), experiment, age: now - held.heartbeat_at, holder: Box::new(held) }),
        None => Ok(()),
    }
}

/// Inside a write's transaction: with `token`, fails unless this handle
/// still holds the lease (and refreshes the heartbeat); without one, fails
/// when another live process holds it.
pub(crate) fn guard(conn: &Connection, path: &Path, experiment: i64, token: Option<&str>) -> Result<(), JournalError> {
    let Some(token) = token else { return refuse_if_held(conn, path, experiment) };
    let updated = beat(conn, experiment, token).map_err(sqlite(path))?;
    if updated == 1 {
        return Ok(());
    }
    let holder = read(conn, experiment).map_err(sqlite(path))?.map(|(_, l)| l.holder());
    Err(JournalError::LeaseLost { path: path.to_owned(), experiment, holder })
}

pub(crate) fn info(conn: &Connection, path: &Path, experiment: i64) -> Result<Option<LeaseInfo>, JournalError> {
    read(conn, experiment).map(|o| o.map(|(_, l)| l)).map_err(sqlite(path))
}

#[cfg(test)]
pub(crate) fn parse_ttl_for_test(value: Option<&str>) -> Result<Duration, JournalError> {
    parse_ttl(value.map(str::to_owned))
}

#[cfg(test)]
pub(crate) fn force_expired_elsewhere(conn: &Connection, experiment: i64, age: f64) {
    conn.execute(
        "UPDATE leases SET host = 'elsewhere', machine = 'another-machine', heartbeat_at = heartbeat_at - ?2 WHERE experiment_id = ?1",
        params![experiment, age],
    )
    .unwrap();
}
