//! Replays, on the stable toolchain, every input the fuzzers found that
//! once crashed a reader (`tests/fuzz-regressions/TARGET/`), and a few
//! hand-made hostile inputs per target, through the same target bodies
//! `cargo xtask fuzz` runs (`fuzz/harness.rs`). A regression is a panic
//! here. The harness's `TARGETS` is the one list of targets (`cargo xtask
//! fuzz` reads it too); this also checks `fuzz/Cargo.toml` builds exactly
//! those, and that no regression input sits where it is not replayed.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn every_input_the_fuzzers_found_is_handled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    // A folder a target was renamed away from would otherwise be skipped
    // and its inputs never replayed.
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(
                harness::TARGETS.iter().any(|(n, _)| *n == name),
                "{}: no fuzz target `{name}` (the targets: {:?})",
                path.display(),
                harness::TARGETS.iter().map(|t| t.0).collect::<Vec<_>>()
            );
        }
    }
    let mut replayed = 0;
    for (name, target) in harness::TARGETS {
        let dir = root.join(name);
        if !dir.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() || path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| target(&data)) {
                let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
                panic!("{}: {}", path.display(), message.unwrap_or_default());
            }
            replayed += 1;
        }
    }
    // Every input under the folder, at any depth and in any folder, is one
    // the loop above replayed: none sits where it is never read.
    let inputs: Vec<PathBuf> = files_under(&root).into_iter().filter(|p| p.extension().is_none_or(|e| e != "md")).collect();
    assert_eq!(replayed, inputs.len(), "replayed {replayed} of the {} inputs under {}: {inputs:?}", inputs.len(), root.display());
    eprintln!("replayed {replayed} inputs");
}

/// The `name`s of the `[[bin]]` tables of a Cargo manifest, with their
/// `path`s: a line scan (the root package has no TOML parser among its
/// dev-dependencies), enough for `fuzz/Cargo.toml`'s one-key-a-line form.
fn bins(manifest: &str) -> Vec<(String, Option<String>)> {
    let mut bins: Vec<(String, Option<String>)> = Vec::new();
    let mut in_bin = false;
    let value = |line: &str, key: &str| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    };
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            if in_bin {
                bins.push((String::new(), None));
            }
        } else if in_bin {
            let last = bins.last_mut().unwrap();
            if let Some(name) = value(line, "name") {
                last.0 = name;
            } else if let Some(path) = value(line, "path") {
                last.1 = Some(path);
            }
        }
    }
    bins
}

#[test]
fn the_fuzz_manifest_builds_exactly_the_harness_targets() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    let bins = bins(&manifest);
    let mut names: Vec<&str> = bins.iter().map(|b| b.0.as_str()).collect();
    let mut targets: Vec<&str> = harness::TARGETS.iter().map(|t| t.0).collect();
    names.sort_unstable();
    targets.sort_unstable();
    assert_eq!(names, targets, "the [[bin]]s of fuzz/Cargo.toml against fuzz/harness.rs TARGETS");
    for (name, path) in &bins {
        let file = format!("fuzz_targets/{name}.rs");
        assert_eq!(path.as_deref(), Some(file.as_str()), "[[bin]] {name}: its path");
        let source = std::fs::read_to_string(fuzz.join(&file)).unwrap_or_else(|e| panic!("fuzz/{file}: {e}"));
        assert!(source.contains(&format!("harness::{name}(")), "fuzz/{file} does not run harness::{name}");
    }
    // And no target file that no [[bin]] builds.
    for entry in std::fs::read_dir(fuzz.join("fuzz_targets")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy();
        assert!(targets.contains(&stem.as_ref()), "{}: no [[bin]] and no harness target `{stem}`", path.display());
    }
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    let hostile: &[(&str, &[u8])] = &[
        ("experiment_toml", b"seed = -1\n[space]\nname = 1\n"),
        ("experiment_toml", b"[[plugin]]\nname = \"x\"\nkind = \"strategy\"\npath = \"/\"\n"),
        ("experiment_toml", b"seed = \"18446744073709551616\"\n"),
        ("arch_strings", b"\x00|nor_conv_3x3~9|+|"),
        ("arch_strings", b"\x02Genotype(normal=[], normal_concat=[], reduce=[], reduce_concat=[])"),
        ("pickle", b"\x80\x03]q\x00h\x00a."),
        ("pickle", b"X\xff\xff\xff\xff"),
        ("idx", &[0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]),
        ("idx", &[0, 0, 8, 1, 0, 0, 0, 9, 1]),
        ("npz", b"PK\x03\x04garbage"),
        ("plugin_protocol", br#"{"to":"space","op":"sample","seed":18446744073709551615}"#),
        ("plugin_protocol", br#"{"reply":"evaluation","value":{"Ok":{"valid":"NaN","extra":[["x","-inf"]]}}}"#),
    ];
    for (name, data) in hostile {
        let target = harness::TARGETS.iter().find(|(n, _)| n == name).unwrap().1;
        target(data);
    }
    for (name, _) in harness::TARGETS {
        assert!(hostile.iter().any(|(n, _)| n == name), "no hostile input for {name}");
    }
    // The architecture target reaches every registered space.
    let built: Vec<&str> = harness::spaces().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(built, nasforge::families().names(nasforge::registry::Kind::Space));
}
