//! The custom stack end to end: its own strategy and estimator named in
//! TOML, run, killed with SIGKILL, resumed to the identical result, shown
//! and listed beside the default families.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_custom-stack")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("the binary runs")
}

fn last_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("output")).expect("JSON")
}

fn experiment(dir: &Path, evaluations: u64) -> PathBuf {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/custom.toml")).unwrap();
    let text = text.replace("evaluations = 300", &format!("evaluations = {evaluations}"));
    let path = dir.join("custom.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn rows(journal: &Path) -> Vec<(i64, String, String, Option<String>, i64)> {
    let conn = Connection::open(journal).unwrap();
    let mut stmt = conn.prepare("SELECT trial, arch, status, metrics, seed FROM trials ORDER BY experiment_id, trial").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn killed_resumed_and_shown_with_its_own_components() {
    const BUDGET: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), BUDGET as u64);
    let killed = dir.path().join("killed.sqlite");
    let mut child = Command::new(bin())
        .args(["run", file.to_str().unwrap(), "--journal", killed.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let done_at_kill = loop {
        std::thread::sleep(Duration::from_millis(5));
        let n: i64 = Connection::open(&killed).and_then(|c| c.query_row("SELECT COUNT(*) FROM trials", [], |r| r.get(0))).unwrap_or(0);
        if n >= 1_000 || Instant::now() > deadline {
            break n;
        }
    };
    assert!(done_at_kill >= 1_000, "only {done_at_kill} trials in 120 s");
    assert!(child.try_wait().unwrap().is_none(), "the run ended before the kill: nothing was killed mid-run");
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let after_kill = rows(&killed);
    assert!(!after_kill.is_empty() && (after_kill.len() as i64) < BUDGET, "{}", after_kill.len());

    let shown = String::from_utf8_lossy(&run(&["show", killed.to_str().unwrap()]).stdout).into_owned();
    assert!(shown.contains("[unfinished] annealing on nas-bench-201 with params-proxy"), "{shown}");

    let resumed = last_json(&run(&["resume", killed.to_str().unwrap(), "--json"]));
    let whole_journal = dir.path().join("whole.sqlite");
    let whole = last_json(&run(&["run", file.to_str().unwrap(), "--journal", whole_journal.to_str().unwrap(), "--json"]));
    assert_eq!(resumed["trials"], BUDGET);
    assert_eq!(resumed["best"], whole["best"]);
    let resumed_rows = rows(&killed);
    assert_eq!(&resumed_rows[..after_kill.len()], &after_kill[..], "finished trials survive unchanged");
    assert_eq!(resumed_rows, rows(&whole_journal), "the resumed run is the uninterrupted run");

    let shown = last_json(&run(&["show", killed.to_str().unwrap(), "--json"]));
    assert_eq!(shown["best"], whole["best"]);
    let text = String::from_utf8_lossy(&run(&["show", killed.to_str().unwrap()]).stdout).into_owned();
    assert!(text.contains("[finished] annealing on nas-bench-201 with params-proxy"), "{text}");
}

#[test]
fn list_shows_its_components_beside_the_default_families() {
    let out = run(&["list", "--json"]);
    let list = last_json(&out);
    let names = |kind: &str| -> Vec<String> { list[kind].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect() };
    let strategies = names("strategies");
    assert!(strategies.contains(&"annealing".to_owned()) && strategies.contains(&"regularized-evolution".to_owned()), "{strategies:?}");
    let estimators = names("estimators");
    assert!(estimators.contains(&"params-proxy".to_owned()) && estimators.contains(&"dfdx-train".to_owned()), "{estimators:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("parameters: t0 = 1.0, cooling = 0.995"), "{text}");
}

#[test]
fn its_parameters_are_checked_like_the_built_ins() {
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), 10);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("cooling = 0.99", "cooling = 1.5")).unwrap();
    let out = run(&["run", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("key `strategy.cooling`: must lie in (0, 1], got 1.5"), "{stderr}");
    // An estimator that does not serve the space is refused with those that do.
    std::fs::write(&file, text.replace("nas-bench-201\"", "darts\"")).unwrap();
    let stderr = String::from_utf8_lossy(&run(&["run", file.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("estimator `params-proxy` cannot evaluate space `darts`; valid choices for it: nas-bench-301-zero-cost, zero-cost, zero-cost-table, predicted, dfdx-train"), "{stderr}");
}
