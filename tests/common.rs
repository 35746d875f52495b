//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The shared data folder, `../shared/data` from the repository root.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// Fails the calling test, with how to fix it, when Fashion-MNIST is not
/// installed: a test that needs it must not pass by skipping.
pub fn require_fashion_mnist() {
    let dir = nasforge::datasets::FASHION_MNIST_DIR;
    assert!(
        Path::new(dir).join("train-images-idx3-ubyte.gz").is_file(),
        "Fashion-MNIST missing: this test reads it from {dir}; `apt-get install dataset-fashion-mnist` (Debian) installs it there, as .ci/run does"
    );
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

/// Builds the example plugins (once per test binary) into their own target
/// folder, so that the nested cargo never waits on the outer one's lock;
/// returns the folder holding the libraries.
pub fn example_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = root().join("target/plugin-tests");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root()).args(["build", "--quiet", "--target-dir"]).arg(&target);
        for p in ["simulated-annealing", "nb201-table", "mlp-chain", "synthetic-score", "panicking"] {
            cmd.args(["-p", &format!("nasforge-plugin-{p}")]);
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building the example plugins failed");
        target.join("debug")
    })
}

