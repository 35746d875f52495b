//! The gradient strategies through the CLI: a supernet search on the
//! digits journals its epochs, prints the derived cell, and a SIGKILL
//! mid-epoch followed by `resume` continues from the last finished epoch
//! to the same epochs and the same cell as an uninterrupted run.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

fn experiment(dir: &Path, strategy: &str) -> std::path::PathBuf {
    let path = dir.join("experiment.toml");
    std::fs::write(
        &path,
        format!(
            "seed = 3\n\n[space]\nname = \"nas-bench-201\"\n\n[strategy]\n{strategy}\n\n[dataset]\nname = \"digits\"\n\n\
             [estimator]\nname = \"nas-bench-201\"\npath = \"nas-bench-201/nb201_cifar10_v1_1.csv\"\n\n[budget]\nevaluations = 1\n"
        ),
    )
    .unwrap();
    path
}

/// The step log rows, timings dropped, and when each was written.
fn steps(journal: &Path) -> Vec<(i64, serde_json::Value, f64)> {
    let c = Connection::open(journal).unwrap();
    let mut stmt = c.prepare("SELECT step, log, at FROM steps ORDER BY step").unwrap();
    stmt.query_map([], |r| {
        let mut v: serde_json::Value = serde_json::from_str(&r.get::<_, String>(1)?).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        Ok((r.get(0)?, v, r.get(2)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn a_killed_darts_search_resumes_from_its_last_epoch_to_the_uninterrupted_result() {
    const EPOCHS: i64 = 12;
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), &format!("name = \"darts\"\nchannels = 4\ncells = 1\nbatch-size = 32\nepochs = {EPOCHS}"));
    let killed = dir.path().join("killed.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nasforge"))
        .args(["run", file.to_str().unwrap(), "--journal", killed.to_str().unwrap()])
        .env("NASFORGE_DATA", common::data())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let rows = |p: &Path| Connection::open(p).and_then(|c| c.query_row("SELECT COUNT(*) FROM steps", [], |r| r.get::<_, i64>(0))).unwrap_or(0);
    while rows(&killed) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "the search ended before the kill");
    child.kill().unwrap();
    child.wait().unwrap();
    let before = steps(&killed);
    assert!(before.len() >= 3 && (before.len() as i64) < EPOCHS, "{} epochs journaled at the kill", before.len());
    let trials: i64 = Connection::open(&killed).unwrap().query_row("SELECT COUNT(*) FROM trials", [], |r| r.get(0)).unwrap();
    assert_eq!(trials, 0, "killed before the cell was chosen");

    let resumed = common::last_json(&common::nasforge(&["resume", killed.to_str().unwrap(), "--json"]));
    let whole_journal = dir.path().join("whole.sqlite");
    let whole = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--journal", whole_journal.to_str().unwrap(), "--json"]));
    let (after, uninterrupted) = (steps(&killed), steps(&whole_journal));
    // The epochs journaled before the kill were not trained again.
    assert_eq!(&after[..before.len()], &before[..]);
    let logs = |s: &[(i64, serde_json::Value, f64)]| s.iter().map(|r| (r.0, r.1.clone())).collect::<Vec<_>>();
    assert_eq!(logs(&after), logs(&uninterrupted), "the resumed search is the uninterrupted one");
    assert_eq!(after.len() as i64, EPOCHS + 1, "every epoch, then the selection");
    assert_eq!(resumed["best"], whole["best"]);
    let selected = &after.last().unwrap().1;
    assert_eq!(selected["phase"], "selected");
    assert_eq!(resumed["best"]["arch"], selected["cell"], "best.arch is the derived cell");
    assert_eq!(selected["cell"], after[after.len() - 2].1["derived"], "the cell of the largest α after the last epoch");

    // `show --json` carries the epochs.
    let shown = common::last_json(&common::nasforge(&["show", killed.to_str().unwrap(), "--json"]));
    assert_eq!(shown["steps"].as_array().unwrap().len() as i64, EPOCHS + 1);
}

#[test]
fn the_alpha_trajectory_and_the_cell_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    // SD-DARTS: DARTS' steps and the teachers' votes, in few epochs.
    let file = experiment(dir.path(), "name = \"sd-darts\"\nchannels = 4\ncells = 1\nbatch-size = 32\nepochs = 2");
    let run = |threads: usize| {
        let journal = dir.path().join(format!("threads{threads}.sqlite"));
        let out = Command::new(env!("CARGO_BIN_EXE_nasforge"))
            .args(["run", file.to_str().unwrap(), "--journal", journal.to_str().unwrap(), "--json"])
            .env("NASFORGE_DATA", common::data())
            .env("RAYON_NUM_THREADS", threads.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let best = common::last_json(&out)["best"]["arch"].clone();
        let rows: Vec<(i64, serde_json::Value)> = steps(&journal).into_iter().map(|(s, v, _)| (s, v)).collect();
        (rows, best)
    };
    let (one, three) = (run(1), run(3));
    assert!(one.0[0].1["alpha"].is_array() && one.0[1].1["distill_kl"].is_number(), "{:?}", one.0[0]);
    assert!(one.1.is_string());
    assert_eq!(one, three, "1 and 3 threads");
}
