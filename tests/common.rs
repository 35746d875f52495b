//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The shared data folder, `../shared/data` from the repository root.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `nasforge` binary with the shared data as data root.
pub fn nasforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nasforge"))
        .args(args)
        .env("NASFORGE_DATA", data())
        .output()
        .expect("the nasforge binary runs")
}

/// The JSON object on the last line of stdout.
pub fn last_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "nasforge failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("some output")).expect("the last line is JSON")
}

/// Writes an NB201 experiment file with the given strategy table body and
/// evaluation budget into `dir`.
pub fn nb201_experiment(dir: &Path, strategy: &str, evaluations: u64) -> PathBuf {
    let path = dir.join("experiment.toml");
    std::fs::write(
        &path,
        format!(
            "seed = 1\njournal = \"journal.sqlite\"\n\n[space]\nname = \"nas-bench-201\"\n\n[strategy]\n{strategy}\n\n\
             [estimator]\nname = \"nas-bench-201\"\npath = \"nas-bench-201/nb201_cifar10_v1_1.csv\"\n\n\
             [budget]\nevaluations = {evaluations}\n"
        ),
    )
    .unwrap();
    path
}
