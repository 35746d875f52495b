//! The journal's tests: round trips, leases, upgrades.

use super::*;

fn experiment() -> ExperimentRecord {
    ExperimentRecord {
        id: 0,
        hash: "h".into(),
        seed: 3,
        config: "seed = 3".into(),
        space: "s".into(),
        strategy: "st".into(),
        estimator: "e".into(),
        created_at: 1.0,
        finished_at: None,
    }
}

fn trial(n: u64, outcome: Evaluation) -> TrialRecord {
    TrialRecord {
        trial: n,
        arch: format!("a{n}"),
        arch_key: format!("k{n}"),
        outcome,
        seed: n + 100,
        started_at: 1.0,
        finished_at: 2.0,
        eval_seconds: 1.0,
        elapsed: n as f64,
    }
}

#[test]
fn trials_round_trip_and_numbers_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let mut j = Journal::open(&path).unwrap();
    let id = j.create_experiment(&experiment()).unwrap();
    let ok = trial(0, Ok(Metrics { valid: 91.5, test: Some(93.0), extra: vec![("x".into(), 1.0)], ..Metrics::default() }));
    let failed = trial(1, Err(EvalError::Invalid("all skip".into())));
    j.append(id, "h", &ok).unwrap();
    j.append(id, "h", &failed).unwrap();
    assert!(j.append(id, "h", &ok).is_err(), "a trial number is recorded once");
    drop(j);
    // A second connection, as another process would open it.
    let j = Journal::open_existing(&path).unwrap();
    assert_eq!(j.trials(id).unwrap(), vec![ok, failed]);
    let e = &j.experiments().unwrap()[0];
    assert_eq!((e.seed, e.finished_at), (3, None));
}

/// The bits of every float, so NaN compares equal to NaN.
fn bits(m: &Metrics) -> Vec<u64> {
    let mut v = vec![m.valid.to_bits()];
    v.extend([m.test, m.params_m, m.flops_m, m.latency_s, m.cost_s].iter().map(|x| x.map_or(0, f64::to_bits)));
    v.extend(m.extra.iter().map(|(_, x)| x.to_bits()));
    v
}

#[test]
fn every_float_and_seed_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let mut j = Journal::open(&path).unwrap();
    let id = j.create_experiment(&ExperimentRecord { seed: u64::MAX, ..experiment() }).unwrap();
    let hard = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-310, 0.1 + 0.2, 1.0 / 3.0, -0.0, f64::MAX, f64::MIN_POSITIVE, 5e-324];
    let metrics = Metrics {
        valid: 0.123_456_789_012_345_68,
        test: Some(f64::NAN),
        params_m: Some(f64::INFINITY),
        flops_m: Some(f64::NEG_INFINITY),
        latency_s: Some(1e-310),
        cost_s: Some(2.0f64.sqrt()),
        extra: hard.iter().enumerate().map(|(i, &x)| (format!("m{i}"), x)).collect(),
    };
    let seeds = [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX];
    for (n, &seed) in seeds.iter().enumerate() {
        j.append(id, "h", &TrialRecord { seed, ..trial(n as u64, Ok(metrics.clone())) }).unwrap();
    }
    let non_finite = Err(EvalError::NonFinite { objective: "valid".into(), metrics: Box::new(Metrics::with_valid(f64::NAN)) });
    j.append(id, "h", &trial(seeds.len() as u64, non_finite)).unwrap();
    drop(j);
    let j = Journal::open_existing(&path).unwrap();
    assert_eq!(j.experiments().unwrap()[0].seed, u64::MAX);
    let trials = j.trials(id).unwrap();
    for (t, &seed) in trials.iter().zip(&seeds) {
        assert_eq!(t.seed, seed);
        assert_eq!(bits(t.outcome.as_ref().unwrap()), bits(&metrics));
    }
    let Err(EvalError::NonFinite { objective, metrics }) = &trials[seeds.len()].outcome else { panic!("{:?}", trials[5]) };
    assert!(objective == "valid" && metrics.valid.is_nan());
    // What SQL sees of a failed non-finite trial: its metrics, kept.
    let kept: Option<String> = j.conn.query_row("SELECT metrics FROM trials WHERE trial = 5", [], |r| r.get(0)).unwrap();
    assert_eq!(kept.as_deref(), Some(r#"{"valid":"NaN"}"#));
}

#[test]
fn nan_written_as_null_by_earlier_builds_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let mut j = Journal::open(&path).unwrap();
    let id = j.create_experiment(&experiment()).unwrap();
    j.append(id, "h", &trial(0, Ok(Metrics::with_valid(1.0)))).unwrap();
    j.conn.execute(r#"UPDATE trials SET metrics = '{"valid":1.0,"extra":[["train_loss",null]]}'"#, []).unwrap();
    let m = j.trials(id).unwrap().remove(0).outcome.unwrap();
    assert!(m.valid == 1.0 && m.extra[0].1.is_nan());
}

#[test]
fn a_live_lease_refuses_a_second_holder_and_an_expired_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let mut a = Journal::open(&path).unwrap();
    let (id, lease) = a.start_experiment(&experiment(), Duration::from_secs(30)).unwrap();
    let mut b = Journal::open(&path).unwrap();
    let err = b.acquire_lease(id, Duration::from_secs(30)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("pid {} on {}", std::process::id(), host_name())), "{text}");
    assert!(text.contains("j.sqlite") && text.contains("experiment 1"), "{text}");
    assert!(b.leased_by_other(id).unwrap().is_some());
    // A handle without the lease may not write to a live experiment.
    let err = b.append(id, "h", &trial(0, Ok(Metrics::with_valid(1.0)))).unwrap_err();
    assert!(matches!(err, JournalError::Leased { .. }), "{err}");
    assert!(matches!(b.finish_experiment(id, 1.0), Err(JournalError::Leased { .. })));
    a.append(id, "h", &trial(0, Ok(Metrics::with_valid(1.0)))).unwrap();
    drop(lease);
    assert_eq!(b.lease(id).unwrap(), None, "a dropped lease is released");
    let lease = b.acquire_lease(id, Duration::from_secs(30)).unwrap();
    // `a` no longer holds it: its next trial is refused, not written twice.
    let err = a.append(id, "h", &trial(1, Ok(Metrics::with_valid(1.0)))).unwrap_err();
    assert!(matches!(err, JournalError::LeaseLost { .. }), "{err}");
    b.append(id, "h", &trial(1, Ok(Metrics::with_valid(1.0)))).unwrap();
    std::mem::forget(lease); // as a killed process leaves it
    // A holder on another machine is judged by its heartbeat: fresh binds,
    // older than its time to live does not.
    lease::force_expired_elsewhere(&b.conn, id, 0.0);
    let mut c = Journal::open(&path).unwrap();
    assert!(matches!(c.acquire_lease(id, Duration::from_secs(30)), Err(JournalError::Leased { .. })));
    lease::force_expired_elsewhere(&b.conn, id, 31.0);
    drop(c.acquire_lease(id, Duration::from_secs(30)).unwrap());
    // One from the future (a clock that ran ahead) still binds.
    let (id2, l) = c.start_experiment(&experiment(), Duration::from_secs(30)).unwrap();
    std::mem::forget(l);
    lease::force_expired_elsewhere(&c.conn, id2, -1000.0);
    assert!(matches!(b.acquire_lease(id2, Duration::from_secs(30)), Err(JournalError::Leased { .. })));
    // On this machine the holder process itself decides, whatever the
    // clock says: a pid that is not running (or runs since another time)
    // frees the lease at once, a live one keeps it past its heartbeat.
    let (id3, l) = c.start_experiment(&experiment(), Duration::from_secs(3600)).unwrap();
    std::mem::forget(l);
    c.conn.execute("UPDATE leases SET heartbeat_at = 0 WHERE experiment_id = ?1", [id3]).unwrap();
    assert!(matches!(b.acquire_lease(id3, Duration::from_secs(30)), Err(JournalError::Leased { .. })), "a live holder keeps it");
    c.conn.execute("UPDATE leases SET started = started + 1 WHERE experiment_id = ?1", [id3]).unwrap();
    drop(b.acquire_lease(id3, Duration::from_secs(30)).unwrap());
    assert!(matches!(b.acquire_lease(99, DEFAULT_LEASE), Err(JournalError::NoExperiment { experiment: 99, .. })));
}

#[test]
fn heartbeats_keep_a_lease_alive_past_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let mut a = Journal::open(&path).unwrap();
    let (id, _lease) = a.start_experiment(&experiment(), Duration::from_secs(1)).unwrap();
    // Seen from another machine, only the heartbeat keeps it.
    lease::force_expired_elsewhere(&a.conn, id, 0.0);
    let first = a.lease(id).unwrap().unwrap().heartbeat_at;
    std::thread::sleep(Duration::from_millis(2_500));
    let later = a.lease(id).unwrap().unwrap();
    assert!(later.heartbeat_at > first + 1.0, "{} then {}", first, later.heartbeat_at);
    let mut b = Journal::open(&path).unwrap();
    assert!(matches!(b.acquire_lease(id, Duration::from_secs(1)), Err(JournalError::Leased { .. })));
}

#[test]
fn the_lease_setting_is_checked() {
    for (value, ok) in [("2", true), ("86400", true), ("0.5", false), ("1e20", false), ("soon", false), ("NaN", false)] {
        assert_eq!(lease::parse_ttl_for_test(Some(value)).is_ok(), ok, "{value}");
    }
    assert_eq!(lease::parse_ttl_for_test(None).unwrap(), DEFAULT_LEASE);
    let err = lease::parse_ttl_for_test(Some("1e20")).unwrap_err().to_string();
    assert!(err.contains("NASFORGE_LEASE_SECONDS=\"1e20\"") && err.contains("from 1 to 86400"), "{err}");
}

#[test]
fn a_version_1_journal_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let mut j = Journal::open(&path).unwrap();
    let id = j.create_experiment(&experiment()).unwrap();
    j.conn.execute_batch("DROP TABLE leases; DROP TABLE steps; DROP TABLE checkpoints; UPDATE meta SET value = '1';").unwrap();
    drop(j);
    let mut j = Journal::open(&path).unwrap();
    let lease = j.acquire_lease(id, DEFAULT_LEASE).unwrap();
    let v: String = j.conn.query_row("SELECT value FROM meta", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "4");
    j.save_step(id, 0, "{}", b"state", 1.5).unwrap();
    drop(lease);
    // A journal of a newer schema is refused and left as it was.
    j.conn.execute_batch("DROP TABLE leases; UPDATE meta SET value = '5';").unwrap();
    drop(j);
    let err = Journal::open(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 5, this build reads 4"), "{err}");
    let raw = rusqlite::Connection::open(&path).unwrap();
    let leases: i64 = raw.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'leases'", [], |r| r.get(0)).unwrap();
    assert_eq!(leases, 0);
}

#[test]
fn a_version_3_journal_keeps_its_checkpoint_and_gains_its_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let mut j = Journal::open(&path).unwrap();
    let id = j.create_experiment(&experiment()).unwrap();
    // Schema 3's checkpoint table, with a checkpoint in it.
    j.conn
        .execute_batch(&format!(
            "DROP TABLE checkpoints;
             CREATE TABLE checkpoints (experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id), step INTEGER NOT NULL, state BLOB NOT NULL, at REAL NOT NULL);
             INSERT INTO checkpoints VALUES ({id}, 7, x'0102', 0.0);
             UPDATE meta SET value = '3';"
        ))
        .unwrap();
    drop(j);
    let mut j = Journal::open(&path).unwrap();
    assert_eq!(j.checkpoint(id).unwrap(), Some(Checkpoint { step: 7, state: vec![1, 2], elapsed: None }));
    j.save_step(id, 8, "{}", &[3], 12.5).unwrap();
    assert_eq!(j.checkpoint(id).unwrap(), Some(Checkpoint { step: 8, state: vec![3], elapsed: Some(12.5) }));
}

#[test]
fn steps_and_checkpoints_round_trip_and_a_step_written_again_replaces_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path().join("j.sqlite")).unwrap();
    let (id, _lease) = j.start_experiment(&experiment(), DEFAULT_LEASE).unwrap();
    let other = j.create_experiment(&experiment()).unwrap();
    assert_eq!(j.checkpoint(id).unwrap(), None);
    j.save_step(id, 0, r#"{"epoch":0}"#, &[1, 2], 1.0).unwrap();
    j.save_step(id, 1, r#"{"epoch":1}"#, &[3], 2.0).unwrap();
    j.save_step(id, 1, r#"{"epoch":1,"again":true}"#, &[4, 5, 6], 3.0).unwrap();
    assert_eq!(j.checkpoint(id).unwrap(), Some(Checkpoint { step: 1, state: vec![4, 5, 6], elapsed: Some(3.0) }));
    assert_eq!(j.steps(id).unwrap(), vec![(0, r#"{"epoch":0}"#.to_owned()), (1, r#"{"epoch":1,"again":true}"#.to_owned())]);
    assert_eq!((j.steps(other).unwrap(), j.checkpoint(other).unwrap()), (vec![], None));
}

#[test]
fn refuses_non_journals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.sqlite");
    std::fs::write(&path, "this is not a database, just some text padding it out to a page").unwrap();
    let err = Journal::open(&path).unwrap_err().to_string();
    assert!(err.contains("not.sqlite"), "{err}");
    assert!(Journal::open_existing(dir.path().join("missing.sqlite")).is_err());
}

#[test]
fn a_read_only_handle_reads_without_upgrading_or_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let mut j = Journal::open(&path).unwrap();
    let id = j.create_experiment(&experiment()).unwrap();
    j.append(id, "h", &trial(0, Ok(Metrics::with_valid(0.5)))).unwrap();
    // A schema-2 journal: no step tables.
    j.conn.execute_batch("DROP TABLE steps; DROP TABLE checkpoints; UPDATE meta SET value = '2';").unwrap();
    drop(j);
    let r = Journal::open_read_only(&path).unwrap();
    assert_eq!((r.experiments().unwrap().len(), r.trial_count(id).unwrap(), r.steps(id).unwrap(), r.step_count(id).unwrap()), (1, 1, vec![], 0));
    let version: String = r.conn.query_row("SELECT value FROM meta", [], |row| row.get(0)).unwrap();
    assert_eq!(version, "2", "left as it was");
    assert!(r.conn.execute("DELETE FROM trials", []).is_err(), "the handle cannot write");
    assert!(Journal::open_read_only(dir.path().join("missing.sqlite")).is_err());
    std::fs::write(dir.path().join("text.sqlite"), "not a database at all, only some text to fill a page").unwrap();
    assert!(Journal::open_read_only(dir.path().join("text.sqlite")).unwrap_err().to_string().contains("text.sqlite"));
}
