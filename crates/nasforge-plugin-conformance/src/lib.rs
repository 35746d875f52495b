//! The conformance kit: checks a built plugin the way nasforge will use it.
//!
//! A plugin author calls [`check`] (or [`assert_conforms`]) from an
//! integration test of their own crate, after building the `cdylib`:
//!
//! ```no_run
//! use nasforge_plugin_conformance::{Kind, Manifest, assert_conforms};
//!
//! # fn my_space() -> nasforge_space_nb201::Nb201Space { nasforge_space_nb201::Nb201Space }
//! // The space the plugin will serve: a strategy is driven on it, an
//! // estimator handed its architectures (a space plugin ignores it).
//! let host = my_space();
//! assert_conforms(
//!     &Manifest {
//!         name: "simulated-annealing".into(),
//!         kind: Kind::Strategy,
//!         path: "target/debug/libnasforge_plugin_simulated_annealing.so".into(),
//!         sha256: None,
//!         config: serde_json::json!({}),
//!         base: ".".into(),
//!     },
//!     &host,
//! );
//! ```
//!
//! Every kind: the library loads and passes the host's header checks; an
//! instance is created; a malformed message and a request meant for
//! another kind get error replies (never a panic, which would make the
//! instance unusable). Then, by kind:
//!
//! - search space: samples are deterministic under a seed and parse back
//!   to themselves; canonical keys are stable and survive a parse;
//!   mutations and neighbours are valid architectures other than their
//!   parent; encodings have one length; graphs are well-formed; bad
//!   architecture strings are refused with an error; with protocol 1.1,
//!   a decision view (when the space has one) maps each sample to choices
//!   and back, and seeded random choices to parseable architectures or
//!   none.
//! - strategy: on the given host space, two instances
//!   with one seed propose the same architectures when told the same
//!   outcomes; failed evaluations are taken in stride.
//! - estimator: the same architecture of the host space (two seeded
//!   samples) and trial give the same metrics;
//!   a malformed architecture fails with an error, not a panic.

use nasforge_core::{ArchGraph, EvalError, Evaluation, Metrics, SearchSpace};
pub use nasforge_plugin_host::{Kind, Manifest};
use nasforge_plugin_host::{Instance, PluginError};
use nasforge_plugin_protocol::{ArchMessage, Reply, Request, SpaceRequest, serve_space};

/// One check's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `None` when it passed; why not otherwise.
    pub failure: Option<String>,
}

/// The outcome of every check run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// In the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.failure.is_none())
    }

    /// The failed checks.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.failure.is_some()).collect()
    }

    fn record(&mut self, name: &str, outcome: Result<(), String>) {
        self.checks.push(Check { name: name.to_owned(), failure: outcome.err() });
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.checks {
            match &c.failure {
                None => writeln!(f, "ok    {}", c.name)?,
                Some(why) => writeln!(f, "FAIL  {}: {why}", c.name)?,
            }
        }
        Ok(())
    }
}

/// Runs every check for the manifest's plugin; strategy and estimator
/// plugins are checked on the `host` space (a space plugin is its own).
pub fn check<S: SearchSpace>(manifest: &Manifest, host: &S) -> Report {
    let mut report = Report::default();
    let plugin = match nasforge_plugin_host::load(manifest) {
        Ok(p) => p,
        Err(e) => {
            report.record("loads and passes the header checks", Err(e.to_string()));
            return report;
        }
    };
    report.record("loads and passes the header checks", Ok(()));
    let space_name = match manifest.kind {
        Kind::SearchSpace => manifest.name.clone(),
        _ => host.name().to_owned(),
    };
    let instance = |seed: u64| plugin.instantiate(seed, &space_name);
    let mut first = match instance(1) {
        Ok(i) => i,
        Err(e) => {
            report.record("creates an instance", Err(e.to_string()));
            return report;
        }
    };
    report.record("creates an instance", Ok(()));
    report.record("answers a malformed message with an error", expect_error(first.call_raw(b"{not json", None)));
    let foreign = match manifest.kind {
        Kind::Estimator => Request::Ask,
        _ => Request::Estimate { arch: ArchMessage { space: space_name.clone(), text: String::new(), graph: ArchGraph::default() }, trial: 0, seed: 0 },
    };
    report.record("answers another kind's request with an error", expect_error(first.call(&foreign, None)));
    match manifest.kind {
        Kind::SearchSpace => check_space(&mut report, &mut first),
        Kind::Strategy => check_strategy(&mut report, first, instance, host),
        Kind::Estimator => check_estimator(&mut report, &mut first, host),
    }
    report
}

/// [`check`], panicking with the report when a check fails: for tests.
pub fn assert_conforms<S: SearchSpace>(manifest: &Manifest, host: &S) {
    let report = check(manifest, host);
    assert!(report.passed(), "plugin `{}` does not conform:\n{report}", manifest.name);
}

fn expect_error(outcome: Result<Reply, PluginError>) -> Result<(), String> {
    match outcome {
        Err(PluginError::Call { .. }) => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(reply) => Err(format!("answered with {reply:?}")),
    }
}

fn space_call(instance: &mut Instance, request: SpaceRequest) -> Result<Reply, String> {
    instance.call(&Request::Space(request), None).map_err(|e| e.to_string())
}

fn arch_of(reply: Result<Reply, String>) -> Result<String, String> {
    match reply? {
        Reply::Arch(a) => Ok(a),
        other => Err(format!("expected an architecture, got {other:?}")),
    }
}

fn check_space(report: &mut Report, space: &mut Instance) {
    let samples: Result<Vec<String>, String> = (0..20).map(|seed| arch_of(space_call(space, SpaceRequest::Sample { seed }))).collect();
    let samples = match samples {
        Ok(s) => s,
        Err(e) => return report.record("samples", Err(e)),
    };
    report.record(
        "samples are deterministic under a seed",
        (0..20).try_for_each(|seed| {
            let again = arch_of(space_call(space, SpaceRequest::Sample { seed }))?;
            if again == samples[seed as usize] { Ok(()) } else { Err(format!("seed {seed}: `{}` then `{again}`", samples[seed as usize])) }
        }),
    );
    report.record(
        "parse(format(arch)) = arch",
        samples.iter().try_for_each(|a| {
            let back = arch_of(space_call(space, SpaceRequest::Parse { text: a.clone() }))?;
            if &back == a { Ok(()) } else { Err(format!("`{a}` parses to `{back}`")) }
        }),
    );
    let key = |space: &mut Instance, arch: &str| match space_call(space, SpaceRequest::CanonicalKey { arch: arch.to_owned() })? {
        Reply::Key(k) => Ok(k),
        other => Err(format!("expected a key, got {other:?}")),
    };
    report.record(
        "canonical keys are stable",
        samples.iter().try_for_each(|a| {
            let (k1, k2) = (key(space, a)?, key(space, a)?);
            if k1 == k2 { Ok(()) } else { Err(format!("`{a}`: `{k1}` then `{k2}`")) }
        }),
    );
    report.record(
        "mutations are valid and differ from their parent",
        samples.iter().enumerate().try_for_each(|(i, a)| {
            let child = arch_of(space_call(space, SpaceRequest::Mutate { arch: a.clone(), seed: i as u64 }))?;
            arch_of(space_call(space, SpaceRequest::Parse { text: child.clone() })).map_err(|e| format!("mutant `{child}` does not parse: {e}"))?;
            if &child != a { Ok(()) } else { Err(format!("`{a}` mutated to itself")) }
        }),
    );
    report.record(
        "neighbours are valid and differ from their centre",
        samples.iter().take(5).try_for_each(|a| match space_call(space, SpaceRequest::Neighbours { arch: a.clone() })? {
            Reply::Archs(v) => v.iter().try_for_each(|n| {
                arch_of(space_call(space, SpaceRequest::Parse { text: n.clone() }))?;
                if n != a { Ok(()) } else { Err(format!("`{a}` is its own neighbour")) }
            }),
            other => Err(format!("expected architectures, got {other:?}")),
        }),
    );
    let lengths: Result<Vec<usize>, String> = samples
        .iter()
        .map(|a| match space_call(space, SpaceRequest::Encode { arch: a.clone() })? {
            Reply::Encoding(e) => Ok(e.len()),
            other => Err(format!("expected an encoding, got {other:?}")),
        })
        .collect();
    report.record(
        "encodings have one length",
        lengths.and_then(|l| if l.windows(2).all(|w| w[0] == w[1]) { Ok(()) } else { Err(format!("lengths {l:?}")) }),
    );
    report.record(
        "graphs are well-formed",
        samples.iter().try_for_each(|a| match space_call(space, SpaceRequest::Graph { arch: a.clone() })? {
            Reply::Graph(g) => g.validate().map_err(|e| format!("`{a}`: {e}")),
            other => Err(format!("expected a graph, got {other:?}")),
        }),
    );
    if space.api().minor >= nasforge_plugin_protocol::OPTIONAL_SPACE_OPS {
        report.record("the decision view maps architectures to choices and back", check_decisions(space, &samples));
    }
    report.record(
        "bad architecture strings are refused with an error",
        ["", "\u{0}garbage\u{ffff}", "((((", &"x".repeat(10_000)].iter().try_for_each(|bad| {
            expect_error(space.call(&Request::Space(SpaceRequest::Parse { text: (*bad).to_owned() }), None))?;
            expect_error(space.call(&Request::Space(SpaceRequest::Mutate { arch: (*bad).to_owned(), seed: 0 }), None))
        }),
    );
}

fn check_decisions(space: &mut Instance, samples: &[String]) -> Result<(), String> {
    let choices = |reply: Result<Reply, String>| match reply? {
        Reply::Decisions(d) => Ok(d),
        other => Err(format!("expected decisions, got {other:?}")),
    };
    let maybe_arch = |reply: Result<Reply, String>| match reply? {
        Reply::MaybeArch(a) => Ok(a),
        other => Err(format!("expected an optional architecture, got {other:?}")),
    };
    let Some(options) = choices(space_call(space, SpaceRequest::Decisions))? else { return Ok(()) };
    for (i, a) in samples.iter().enumerate() {
        let c = choices(space_call(space, SpaceRequest::ArchDecisions { arch: a.clone() }))?.ok_or_else(|| format!("no choices for `{a}`"))?;
        if c.len() != options.len() || c.iter().zip(&options).any(|(c, n)| c >= n) {
            return Err(format!("choices {c:?} of `{a}` do not fit the options {options:?}"));
        }
        let back = maybe_arch(space_call(space, SpaceRequest::FromDecisions { choices: c.clone() }))?;
        if back.as_deref() != Some(a.as_str()) {
            return Err(format!("`{a}` → {c:?} → {back:?}"));
        }
        // A deterministic spread of choice vectors.
        let random: Vec<usize> = options.iter().enumerate().map(|(d, &n)| (i * 7 + d * 13) % n).collect();
        if let Some(arch) = maybe_arch(space_call(space, SpaceRequest::FromDecisions { choices: random.clone() }))? {
            arch_of(space_call(space, SpaceRequest::Parse { text: arch.clone() })).map_err(|e| format!("{random:?} → `{arch}`, which does not parse: {e}"))?;
        }
    }
    Ok(())
}

/// Drives a strategy instance for `n` proposals on the host space,
/// telling it a deterministic score per architecture (every fifth fails).
fn proposals<S: SearchSpace>(strategy: &mut Instance, n: usize, host: &S) -> Result<Vec<String>, String> {
    let serve = |r: SpaceRequest| serve_space(host, r);
    let mut out = Vec::new();
    for _ in 0..n {
        let arch = match strategy.call(&Request::Ask, Some(&serve)).map_err(|e| e.to_string())? {
            Reply::Proposal(Some(a)) => a,
            Reply::Proposal(None) => break,
            other => return Err(format!("answered ask with {other:?}")),
        };
        host.parse(&arch).map_err(|e| format!("proposed `{arch}`, which the space does not parse: {e}"))?;
        let score = arch.bytes().map(u64::from).sum::<u64>() % 100;
        let outcome: Evaluation = if score % 5 == 0 { Err(EvalError::Invalid("conformance".into())) } else { Ok(Metrics::with_valid(score as f64)) };
        match strategy.call(&Request::Tell { arch: arch.clone(), outcome }, Some(&serve)).map_err(|e| e.to_string())? {
            Reply::Done => {}
            other => return Err(format!("answered tell with {other:?}")),
        }
        out.push(arch);
    }
    Ok(out)
}

fn check_strategy<S: SearchSpace>(report: &mut Report, mut first: Instance, instance: impl Fn(u64) -> Result<Instance, PluginError>, host: &S) {
    let a = proposals(&mut first, 60, host);
    report.record("proposes valid architectures and takes failed evaluations", a.as_ref().map(|_| ()).map_err(Clone::clone));
    let b = instance(1).map_err(|e| e.to_string()).and_then(|mut i| proposals(&mut i, 60, host));
    report.record(
        "is deterministic under a seed",
        match (&a, &b) {
            (Ok(a), Ok(b)) if a == b => Ok(()),
            (Ok(_), Ok(_)) => Err("two instances with seed 1 proposed different architectures".into()),
            (_, Err(e)) | (Err(e), _) => Err(e.clone()),
        },
    );
}

fn check_estimator<S: SearchSpace>(report: &mut Report, estimator: &mut Instance, host: &S) {
    let mut rng = nasforge_core::seeded_rng(11);
    let cells: Vec<String> = (0..2).map(|_| host.format(&host.sample(&mut rng))).collect();
    let estimate = |estimator: &mut Instance, text: &str, trial: u64| {
        let arch = ArchMessage { space: host.name().to_owned(), text: text.to_owned(), graph: host.parse(text).map(|a| host.to_graph(&a)).unwrap_or_default() };
        estimator.call(&Request::Estimate { arch, trial, seed: 7 }, None)
    };
    report.record(
        "the same architecture and trial give the same result",
        cells.iter().try_for_each(|c| {
            let (a, b) = (estimate(estimator, c, 3).map_err(|e| e.to_string())?, estimate(estimator, c, 3).map_err(|e| e.to_string())?);
            if a == b { Ok(()) } else { Err(format!("`{c}`: {a:?} then {b:?}")) }
        }),
    );
    report.record(
        "a malformed architecture fails without a panic",
        match estimate(estimator, "\u{0}not an architecture", 0) {
            Ok(Reply::Evaluation(Err(_))) | Err(PluginError::Call { .. }) => Ok(()),
            Ok(other) => Err(format!("answered with {other:?}")),
            Err(e) => Err(e.to_string()),
        },
    );
}
