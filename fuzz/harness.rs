//! The fuzz targets' bodies, shared by `cargo fuzz` (`fuzz/fuzz_targets/`,
//! driven by `cargo xtask fuzz`) and by the regression test
//! (`tests/fuzz_regressions.rs`) that replays every input the fuzzers
//! found on the stable toolchain. Each takes arbitrary bytes and must
//! return without panicking, overflowing the stack or allocating without
//! bound; an error result is the expected outcome for most inputs. Where a
//! reader accepts an input, the target also checks the round trip (what is
//! written back reads back the same), which fuzzing alone would miss.

use std::path::Path;
use std::sync::OnceLock;

use nasforge::core::SearchSpace;
use nasforge::registry::{ErasedSpace, Kind, Registry};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target by name, as `cargo fuzz` and the regression corpus name
/// them (`tests/fuzz-regressions/NAME/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("experiment_toml", experiment_toml),
    ("arch_strings", arch_strings),
    ("pickle", pickle),
    ("idx", idx),
    ("npz", npz),
    ("plugin_protocol", plugin_protocol),
];

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(nasforge::families)
}

/// The experiment TOML checker; an accepted file's stored form must read
/// back to the same configuration.
pub fn experiment_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A base folder that does not exist: relative paths resolve under it,
    // so they name no real file. An input may still name a real file (a
    // large benchmark table, say) by an absolute path or an absolute
    // `data-root`, and with `NASFORGE_DATA` set in the fuzzer's environment
    // relative data paths resolve under that folder instead. Reading a real
    // table only makes that input slow; the checks below still hold.
    let base = Path::new("/nonexistent/nasforge-fuzz");
    let Ok(config) = nasforge::experiment::parse_str(registry(), text, "fuzz.toml", base) else { return };
    let stored = config.to_toml();
    let again = nasforge::experiment::parse_str(registry(), &stored, "stored.toml", Path::new("/"))
        .unwrap_or_else(|e| panic!("the stored form of an accepted file does not read back: {e}\n{stored}"));
    // The stored form leaves out the journal: a resume names it itself.
    let config = nasforge::experiment::ExperimentConfig { journal: None, ..config };
    assert_eq!(again, config, "the stored form reads back differently:\n{stored}");
}

/// Every registered space, built with its default parameters.
pub fn spaces() -> &'static [(String, ErasedSpace)] {
    static SPACES: OnceLock<Vec<(String, ErasedSpace)>> = OnceLock::new();
    SPACES.get_or_init(|| {
        let r = registry();
        r.names(Kind::Space)
            .into_iter()
            .filter_map(|name| {
                let config = r.configure(Kind::Space, name, "").ok()?;
                Some((name.to_owned(), r.space(name)?.build(&config, 0).ok()?))
            })
            .collect()
    })
}

/// Every space's architecture-string parser (the first byte picks the
/// space); an accepted string must format to a string that parses to the
/// same architecture, and every derived view must work on it.
pub fn arch_strings(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let spaces = spaces();
    let (name, space) = &spaces[usize::from(which) % spaces.len()];
    let Ok(arch) = space.parse(text) else { return };
    let formatted = space.format(&arch);
    let again = space
        .parse(&formatted)
        .unwrap_or_else(|e| panic!("{name}: `{formatted}`, formatted from `{text}`, does not parse: {e}"));
    assert_eq!(space.format(&again), formatted, "{name}: formatting is not stable");
    assert_eq!(space.canonical_key(&again), space.canonical_key(&arch), "{name}: the key changed over a round trip");
    let _ = (space.params(&arch), space.macs(&arch), space.to_graph(&arch), space.encode(&arch), space.describe(&arch));
    if let Some(d) = space.arch_decisions(&arch) {
        let back = space.arch_from_decisions(&d).unwrap_or_else(|| panic!("{name}: decisions {d:?} of `{formatted}` do not map back"));
        assert_eq!(space.canonical_key(&back), space.canonical_key(&arch), "{name}: decisions lose the architecture");
    }
}

/// The pickle reader NAS-Bench-Graph tables go through.
pub fn pickle(data: &[u8]) {
    let _ = nasforge::tabular::pickle::parse(data);
}

/// The IDX image and label readers (Fashion-MNIST, MNIST), on the
/// decompressed bytes.
pub fn idx(data: &[u8]) {
    let path = Path::new("fuzz.idx");
    if let Ok((pixels, n, h, w)) = nasforge::datasets::parse_idx_images(data, path) {
        assert_eq!(pixels.len(), n * h * w);
    }
    if let Ok(labels) = nasforge::datasets::parse_idx_labels(data, path) {
        assert_eq!(labels.len() + 8, data.len());
    }
}

/// The `.npz` citation-graph reader.
pub fn npz(data: &[u8]) {
    let split = nasforge::datasets::GraphSplit { train_per_class: 2, valid: 2, test: 2, seed: 0 };
    let _ = nasforge::datasets::graph_npz_from_reader(std::io::Cursor::new(data), Path::new("fuzz.npz"), split);
}

/// The plugin protocol: every message either side decodes, and the host
/// serving a plugin strategy's space requests against a real space. A
/// decoded message must encode to bytes that decode to the same encoding.
pub fn plugin_protocol(data: &[u8]) {
    use nasforge_plugin_protocol::{Create, Reply, Request, SpaceRequest, decode, encode};
    fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(data: &[u8]) -> Option<T> {
        let message: T = decode(data).ok()?;
        let bytes = encode(&message);
        let again: T = decode(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        assert_eq!(encode(&again), bytes, "a message changed over a round trip");
        Some(message)
    }
    let _ = round_trip::<Request>(data);
    let _ = round_trip::<Reply>(data);
    let _ = round_trip::<Create>(data);
    if let Some(request) = round_trip::<SpaceRequest>(data) {
        let _ = nasforge_plugin_protocol::serve_space(&nasforge::nb201::Nb201Space, request);
    }
}
