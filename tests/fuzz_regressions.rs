//! Replays, on the stable toolchain, every input the fuzzers found that
//! once crashed a reader (`tests/fuzz-regressions/TARGET/`), and a few
//! hand-made hostile inputs per target, through the same target bodies
//! `cargo xtask fuzz` runs (`fuzz/harness.rs`). A regression is a panic
//! here.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

#[test]
fn every_input_the_fuzzers_found_is_handled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut replayed = 0;
    for (name, target) in harness::TARGETS {
        let dir = root.join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
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
    eprintln!("replayed {replayed} inputs");
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
