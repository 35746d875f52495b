//! `cargo xtask fuzz`: builds every cargo-fuzz target of `fuzz/` once,
//! then runs each for a set time, one after another, and reports
//! executions and findings. A
//! finding's input (a crash, an out-of-memory or a timeout) is copied into
//! `tests/fuzz-regressions/TARGET/`, which the stable test suite replays
//! (`tests/fuzz_regressions.rs`), and the command fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use nasforge_core::SearchSpace;

/// The targets' bodies, as the fuzz targets and the regression test
/// compile them; its `TARGETS` is the one list of target names (the
/// `[[bin]]`s of `fuzz/Cargo.toml` are checked against it by
/// `tests/fuzz_regressions.rs`).
#[path = "../../fuzz/harness.rs"]
mod harness;

/// The targets, in the order they run.
pub fn targets() -> Vec<&'static str> {
    harness::TARGETS.iter().map(|(name, _)| *name).collect()
}

/// The longest input libFuzzer makes for `target` (`-max_len`); `None`
/// for a target with no decision here (`fuzz` refuses to run it, and
/// `tests::every_target_has_seeds_and_a_max_len` fails). Longer inputs are
/// slower to run and to mutate, so each target gets what its format needs
/// to reach every check of its reader.
fn max_len(target: &str) -> Option<usize> {
    match target {
        // Binary formats whose limits scale with the input or sit behind
        // sizes and counts: the pickle reader's expansion bound is
        // 16 values a byte plus a million, and its nesting bound 2,000
        // levels; an npz is a zip of npy members (headers, CSR arrays,
        // deflate streams); an IDX file's header is checked against the
        // bytes that follow. 16 KiB never gets past the constant term of
        // the pickle bound nor holds more than a few small npy members,
        // so bugs that need long inputs stayed hidden: 1 MiB.
        "pickle" | "npz" | "idx" => Some(1 << 20),
        // Text: an experiment file (the longest example is under 1 KiB),
        // an architecture string, one protocol message. What depends on
        // length there is nesting, which the parsers bound by depth (toml:
        // 80 levels, serde_json: 128), reached in a few hundred bytes; 16
        // KiB is well past that and keeps the mutations on the grammar.
        // Given up: a superlinear parse that only passes the 20 s timeout
        // beyond 16 KiB.
        "experiment_toml" | "arch_strings" | "plugin_protocol" => Some(16 << 10),
        _ => None,
    }
}

/// What libFuzzer wrote an artifact for, by its file-name prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArtifactKind {
    /// `crash-` (a panic, an overflow, a stack overflow), `leak-` or a
    /// prefix not known here: all failures.
    Crash,
    /// `oom-`: over `-rss_limit_mb` or one allocation over the limit.
    Oom,
    /// `timeout-`: one input ran past `-timeout`.
    Timeout,
    /// `slow-unit-`: the slowest input so far, when it took over
    /// `-report_slow_units` (10 s) but under the timeout. libFuzzer goes
    /// on after it: reported, left in `fuzz/artifacts/`, not a failure.
    Slow,
}

impl ArtifactKind {
    fn label(self) -> &'static str {
        match self {
            Self::Crash => "crash",
            Self::Oom => "oom",
            Self::Timeout => "timeout",
            Self::Slow => "slow unit",
        }
    }
}

fn artifact_kind(artifact: &Path) -> ArtifactKind {
    let name = artifact.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.starts_with("oom-") {
        ArtifactKind::Oom
    } else if name.starts_with("timeout-") {
        ArtifactKind::Timeout
    } else if name.starts_with("slow-unit-") {
        ArtifactKind::Slow
    } else {
        ArtifactKind::Crash
    }
}

/// One target's run.
struct Outcome {
    target: String,
    seconds: u64,
    executions: Option<u64>,
    corpus: usize,
    /// The new artifacts of this run, with their kind.
    artifacts: Vec<(PathBuf, ArtifactKind)>,
}

impl Outcome {
    fn count(&self, k: ArtifactKind) -> usize {
        self.artifacts.iter().filter(|a| a.1 == k).count()
    }

    /// Crashes, ooms and timeouts: the findings.
    fn findings(&self) -> impl Iterator<Item = &(PathBuf, ArtifactKind)> {
        self.artifacts.iter().filter(|a| a.1 != ArtifactKind::Slow)
    }
}

/// Runs `targets` (all when empty) for `seconds` each.
pub fn fuzz(seconds: u64, targets: &[String], rss_limit_mb: u64) -> Result<()> {
    let ok = cargo_fuzz().arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        bail!("cargo-fuzz is needed: `cargo install cargo-fuzz`");
    }
    let all = self::targets();
    let chosen: Vec<&str> = if targets.is_empty() { all.clone() } else { targets.iter().map(String::as_str).collect() };
    if let Some(bad) = chosen.iter().find(|t| !all.contains(t)) {
        bail!("unknown fuzz target `{bad}`; valid choices: {}", all.join(", "));
    }
    if let Some(t) = chosen.iter().find(|t| max_len(t).is_none()) {
        bail!("fuzz target `{t}` has no -max_len: decide one in xtask/src/fuzz.rs `max_len`");
    }
    // Built once, then the binaries run: edits made to the working tree
    // while the fuzzers run do not change what is being fuzzed (`cargo
    // fuzz run` would rebuild each target from the tree as it then is).
    eprintln!("building the fuzz targets");
    let build = cargo_fuzz().args(["build", "--fuzz-dir", "fuzz", "-s", "none", "-a"]).output().context("running cargo fuzz build")?;
    if !build.status.success() {
        bail!("cargo fuzz build failed:\n{}", tail(&String::from_utf8_lossy(&build.stderr), 40));
    }
    let bin_dir = Path::new("fuzz/target").join(host_triple()?).join("release");
    let mut outcomes = Vec::new();
    for target in chosen {
        let corpus = Path::new("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        seed(target, &corpus).with_context(|| format!("seeding {}", corpus.display()))?;
        let artifacts = Path::new("fuzz/artifacts").join(target);
        let before = files(&artifacts);
        eprintln!("fuzzing {target} for {seconds} s");
        // -s none: the code under test is safe Rust, so what is sought is
        // panics, overflows (-a keeps overflow checks), stack exhaustion and
        // unbounded allocation (the RSS limit); no sanitizer run-time slows
        // the search for them.
        std::fs::create_dir_all(&artifacts)?;
        let out = Command::new(bin_dir.join(target))
            .arg(&corpus)
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-rss_limit_mb={rss_limit_mb}"))
            .arg(format!("-max_len={}", max_len(target).expect("checked above")))
            .args(["-timeout=20", "-print_final_stats=1"])
            .output()
            .with_context(|| format!("running {}", bin_dir.join(target).display()))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let executions = log.lines().rev().find_map(|l| l.strip_prefix("stat::number_of_executed_units:")).and_then(|n| n.trim().parse().ok());
        let new: Vec<(PathBuf, ArtifactKind)> = files(&artifacts).into_iter().filter(|f| !before.contains(f)).map(|f| { let k = artifact_kind(&f); (f, k) }).collect();
        let outcome = Outcome { target: target.to_owned(), seconds, executions, corpus: files(&corpus).len(), artifacts: new };
        if !out.status.success() && outcome.findings().next().is_none() {
            bail!("fuzz target {target} failed without a crash, oom or timeout input:\n{}", tail(&log, 40));
        }
        for (artifact, k) in &outcome.artifacts {
            if *k == ArtifactKind::Slow {
                eprintln!("{target}: slow input {} (kept there, not a failure)", artifact.display());
                continue;
            }
            let keep = Path::new("tests/fuzz-regressions").join(target);
            std::fs::create_dir_all(&keep)?;
            std::fs::copy(artifact, keep.join(artifact.file_name().expect("a file name")))?;
            eprintln!("{target}: {} {}\n{}", k.label(), artifact.display(), tail(&log, 30));
        }
        outcomes.push(outcome);
    }
    let mut table = String::from(
        "| target | seconds | max_len | executions | per second | corpus | crashes | ooms | timeouts | slow units |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in &outcomes {
        let per_second = o.executions.map_or("?".into(), |e| format!("{:.0}", e as f64 / o.seconds.max(1) as f64));
        table += &format!(
            "| {} | {} | {} | {} | {per_second} | {} | {} | {} | {} | {} |\n",
            o.target,
            o.seconds,
            max_len(&o.target).expect("checked above"),
            o.executions.map_or("?".into(), |e| e.to_string()),
            o.corpus,
            o.count(ArtifactKind::Crash),
            o.count(ArtifactKind::Oom),
            o.count(ArtifactKind::Timeout),
            o.count(ArtifactKind::Slow)
        );
    }
    std::fs::create_dir_all("target/fuzz")?;
    std::fs::write("target/fuzz/summary.md", &table)?;
    println!("{table}");
    let found: Vec<&str> = outcomes.iter().filter(|o| o.findings().next().is_some()).map(|o| o.target.as_str()).collect();
    if !found.is_empty() {
        bail!("crashes, ooms or timeouts in {}: inputs copied to tests/fuzz-regressions/; fix them and rerun", found.join(", "));
    }
    Ok(())
}

/// `cargo fuzz` on the stable toolchain with `RUSTC_BOOTSTRAP=1`, which
/// lets stable take the `-Z` flags cargo-fuzz passes. Not nightly: dfdx
/// 0.13 does not compile on current nightlies (E0310 in its conv
/// modules), and the targets reach it through the registry. The
/// instrumentation (`-C passes=sancov-module`) is the same.
fn cargo_fuzz() -> Command {
    let mut c = Command::new("cargo");
    c.args(["+stable", "fuzz"]).env("RUSTC_BOOTSTRAP", "1");
    c
}

/// The host's target triple, under which cargo-fuzz puts its binaries.
fn host_triple() -> Result<String> {
    let out = Command::new("rustc").args(["+stable", "-vV"]).output().context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV printed no host triple")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Writes the seed inputs of `target`: real files where the repository
/// has them, small well-formed ones otherwise, so the fuzzer starts from
/// the formats' shapes rather than from nothing.
fn seed(target: &str, corpus: &Path) -> Result<()> {
    let write = |name: String, bytes: &[u8]| std::fs::write(corpus.join(format!("seed-{name}")), bytes);
    match target {
        "experiment_toml" => {
            for dir in ["examples", "tests/broken-configs"] {
                for f in files(Path::new(dir)).into_iter().filter(|f| f.extension().is_some_and(|e| e == "toml")) {
                    write(f.file_name().unwrap().to_string_lossy().into_owned(), &std::fs::read(&f)?)?;
                }
            }
        }
        "arch_strings" => {
            // The harness picks the space by the first byte from its own
            // list of built spaces: a few samples of each, indexed alike.
            for (i, (name, space)) in harness::spaces().iter().enumerate() {
                let mut rng = nasforge_core::seeded_rng(i as u64);
                for k in 0..8 {
                    let mut bytes = vec![i as u8];
                    bytes.extend(space.format(&space.sample(&mut rng)).as_bytes());
                    write(format!("{name}-{k}"), &bytes)?;
                }
            }
        }
        "pickle" => {
            // Python's pickle.dumps of nested dicts, lists, tuples, bytes,
            // big and negative ints, at protocols 2 to 4; and a numpy scalar.
            let seeds: [&[u8]; 4] = [
                b"\x80\x02}q\x00(K\x01}q\x01(X\x01\x00\x00\x00aq\x02G?\xe0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00bq\x03]q\x04(K\x01K\x02K\x03X\x01\x00\x00\x00xq\x05\x86q\x06euX\x01\x00\x00\x00kq\x07NX\x03\x00\x00\x00bigq\x08\x8a\x06\x00\x00\x00\x00\x00\x01X\x03\x00\x00\x00negq\tJ\xf9\xff\xff\xffX\x01\x00\x00\x00tq\n\x88u.",
                b"\x80\x03]q\x00(]q\x01}q\x02X\x01\x00\x00\x00aq\x03h\x03h\x03\x87q\x04C\x05bytesq\x05G~A\xeb-f\x00X5e.",
                b"\x80\x04\x95$\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94}\x94\x8c\x01a\x94h\x03h\x03\x87\x94C\x05bytes\x94G~A\xeb-f\x00X5e.",
                b"\x80\x03}q\x00K\x01cnumpy.core.multiarray\nscalar\nq\x02cnumpy\ndtype\nq\x03X\x02\x00\x00\x00f8q\x04\x89\x88\x87q\x05Rq\x06(K\x03X\x01\x00\x00\x00<q\x07NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x08bC\x08\x00\x00\x00\x00\x00\x00\x02@q\x09\x86q\x0aRq\x0bs.",
            ];
            for (i, s) in seeds.iter().enumerate() {
                write(i.to_string(), s)?;
            }
        }
        "idx" => {
            let mut images = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3];
            images.extend((0..18).map(|i| (i * 14) as u8));
            write("images".into(), &images)?;
            write("labels".into(), &[0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 9])?;
        }
        // A 4-node ring graph (`fuzz/seeds/npz/ring.npz`, written by hand
        // in the gnn-benchmark layout).
        "npz" => write("ring.npz".into(), &std::fs::read("fuzz/seeds/npz/ring.npz")?)?,
        "plugin_protocol" => {
            let messages: [&[u8]; 6] = [
                br#"{"to":"ask"}"#,
                br#"{"to":"space","op":"sample","seed":7}"#,
                br#"{"to":"tell","arch":"a","outcome":{"Ok":{"valid":91.5,"test":"NaN","extra":[["x",1.0]]}}}"#,
                br#"{"to":"estimate","arch":{"space":"nas-bench-201","text":"|none~0|","graph":{"nodes":[],"edges":[]}},"trial":3,"seed":4}"#,
                br#"{"reply":"evaluation","value":{"Err":{"NotInTable":"a"}}}"#,
                br#"{"seed":1,"space":"darts","config":{"k":[1,2,{"x":null}]},"base":"/"}"#,
            ];
            for (i, m) in messages.iter().enumerate() {
                write(i.to_string(), m)?;
            }
        }
        other => bail!("no seeds for {other}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_seeds_and_a_max_len() {
        std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap();
        for target in targets() {
            assert!(max_len(target).is_some(), "{target}: no -max_len decision");
            let dir = tempfile::tempdir().unwrap();
            seed(target, dir.path()).unwrap_or_else(|e| panic!("{target}: {e:#}"));
            assert!(!files(dir.path()).is_empty(), "{target}: no seed inputs");
        }
    }

    #[test]
    fn artifacts_are_told_apart_by_their_prefix() {
        let k = |name: &str| artifact_kind(Path::new("fuzz/artifacts/t").join(name).as_path());
        assert_eq!(k("crash-0a1b"), ArtifactKind::Crash);
        assert_eq!(k("oom-0a1b"), ArtifactKind::Oom);
        assert_eq!(k("timeout-0a1b"), ArtifactKind::Timeout);
        assert_eq!(k("slow-unit-0a1b"), ArtifactKind::Slow);
        assert_eq!(k("leak-0a1b"), ArtifactKind::Crash);
    }
}
