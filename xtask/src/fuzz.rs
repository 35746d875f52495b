//! `cargo xtask fuzz`: runs every cargo-fuzz target of `fuzz/` for a set
//! time, one after another, and reports executions and crashes. A crash's
//! input is copied into `tests/fuzz-regressions/TARGET/`, which the stable
//! test suite replays (`tests/fuzz_regressions.rs`), and the command fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use nasforge_core::SearchSpace;
use nasforge_registry::Kind;

/// The targets, in the order they run (the names of `fuzz/fuzz_targets/`).
pub const TARGETS: &[&str] = &["experiment_toml", "arch_strings", "pickle", "idx", "npz", "plugin_protocol"];

/// One target's run.
struct Outcome {
    target: String,
    seconds: u64,
    executions: Option<u64>,
    corpus: usize,
    crashes: Vec<PathBuf>,
}

/// Runs `targets` (all when empty) for `seconds` each.
pub fn fuzz(seconds: u64, targets: &[String], rss_limit_mb: u64) -> Result<()> {
    let ok = cargo_fuzz().arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        bail!("cargo-fuzz is needed: `cargo install cargo-fuzz`");
    }
    let chosen: Vec<&str> = if targets.is_empty() { TARGETS.to_vec() } else { targets.iter().map(String::as_str).collect() };
    if let Some(bad) = chosen.iter().find(|t| !TARGETS.contains(t)) {
        bail!("unknown fuzz target `{bad}`; valid choices: {}", TARGETS.join(", "));
    }
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
        let out = cargo_fuzz()
            .args(["run", "--fuzz-dir", "fuzz", "-s", "none", "-a", target])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-rss_limit_mb={rss_limit_mb}"))
            .args(["-timeout=20", "-max_len=16384", "-print_final_stats=1"])
            .output()
            .context("running cargo fuzz")?;
        let log = String::from_utf8_lossy(&out.stderr);
        let executions = log.lines().rev().find_map(|l| l.strip_prefix("stat::number_of_executed_units:")).and_then(|n| n.trim().parse().ok());
        let crashes: Vec<PathBuf> = files(&artifacts).into_iter().filter(|f| !before.contains(f)).collect();
        if !out.status.success() && crashes.is_empty() {
            bail!("cargo fuzz {target} failed without a crash input:\n{}", tail(&log, 40));
        }
        for crash in &crashes {
            let keep = Path::new("tests/fuzz-regressions").join(target);
            std::fs::create_dir_all(&keep)?;
            std::fs::copy(crash, keep.join(crash.file_name().expect("a file name")))?;
            eprintln!("{target}: crash {}\n{}", crash.display(), tail(&log, 30));
        }
        outcomes.push(Outcome { target: target.to_owned(), seconds, executions, corpus: files(&corpus).len(), crashes });
    }
    let mut table = String::from("| target | seconds | executions | per second | corpus | crashes |\n|---|---:|---:|---:|---:|---:|\n");
    for o in &outcomes {
        let per_second = o.executions.map_or("?".into(), |e| format!("{:.0}", e as f64 / o.seconds.max(1) as f64));
        table += &format!(
            "| {} | {} | {} | {per_second} | {} | {} |\n",
            o.target,
            o.seconds,
            o.executions.map_or("?".into(), |e| e.to_string()),
            o.corpus,
            o.crashes.len()
        );
    }
    std::fs::create_dir_all("target/fuzz")?;
    std::fs::write("target/fuzz/summary.md", &table)?;
    println!("{table}");
    let crashed: Vec<&str> = outcomes.iter().filter(|o| !o.crashes.is_empty()).map(|o| o.target.as_str()).collect();
    if !crashed.is_empty() {
        bail!("crashes in {}: inputs copied to tests/fuzz-regressions/; fix them and rerun", crashed.join(", "));
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
            // The harness picks the space by the first byte, in the order
            // the registry lists them; a few samples of each.
            let registry = nasforge::families();
            for (i, name) in registry.names(Kind::Space).into_iter().enumerate() {
                let Ok(config) = registry.configure(Kind::Space, name, "") else { continue };
                let Some(Ok(space)) = registry.space(name).map(|e| e.build(&config, 0)) else { continue };
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
