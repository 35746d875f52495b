//! The tabular stack compiles no ML engine, and runs a search.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn the_dependency_tree_holds_no_dfdx() {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["tree", "--offline", "-p", "nasforge-example-tabular-stack", "-e", "normal,build", "--prefix", "none"])
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("nasforge-tabular") && tree.contains("nasforge-cli"), "{tree}");
    for engine in ["dfdx", "nasforge-engine", "nasforge-trainer-dfdx", "gemm"] {
        assert!(!tree.lines().any(|l| l.starts_with(&format!("{engine} "))), "{engine} is in the tabular stack:\n{tree}");
    }
}

#[test]
fn it_runs_an_experiment_file_and_lists_only_its_components() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("q.sqlite");
    let out = Command::new(env!("CARGO_BIN_EXE_tabular-stack"))
        .current_dir(root())
        .args(["run", "examples/quickstart.toml", "--json", "--journal", journal.to_str().unwrap()])
        .env_remove("NASFORGE_DATA")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().last().is_some_and(|l| l.contains("\"trials\":100")), "{stdout}");
    let list = Command::new(env!("CARGO_BIN_EXE_tabular-stack")).args(["list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("regularized-evolution") && text.contains("nas-bench-201"), "{text}");
    assert!(!text.contains("dfdx-train"), "{text}");
    // No DARTS space here: the NB301 table that serves it says so.
    assert!(!text.lines().any(|l| l.trim() == "darts"), "{text}");
    assert!(text.contains("serves: darts (not in this binary)"), "{text}");
}
