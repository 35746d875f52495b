//! The strategies end to end on the digits: each journals its epochs and
//! evaluates the cell it chose; a search stopped after any step resumes
//! from its checkpoint to the same trajectory and the same cell; the
//! steps fit the supernet and move α.

use std::sync::Arc;

use nasforge_core::{EvalError, Evaluation, Evaluator, Metrics, SearchSpace, SearchStopped, Strategy};
use nasforge_registry::{DynArch, ErasedSpace, Params};
use nasforge_space_nb201::{Cell, Nb201Space};
use serde_json::Value;

use nasforge_space_darts::{DartsSpace, Genotype};

use crate::darts_cell::DartsSupernet;
use crate::params::{DartsPtToml, DartsToml, GdasToml, OneShotToml, RartsToml, RspsToml, SdDartsToml, SposToml};
use crate::nb201::Nb201Supernet;
use crate::{OneShot, OneShotConfig};

/// An in-memory journal: steps, the last checkpoint, evaluated cells;
/// `stop_after` ends the search right after that step is committed (a
/// kill between two epochs).
#[derive(Default)]
struct Memory {
    steps: Vec<(u64, Value)>,
    checkpoint: Option<(u64, Vec<u8>)>,
    evaluated: Vec<String>,
    stop_after: Option<u64>,
    stopped: bool,
}

impl Evaluator<DynArch> for Memory {
    fn evaluate(&mut self, arch: &DynArch) -> Result<Evaluation, SearchStopped> {
        if self.exhausted() {
            return Err(SearchStopped);
        }
        let text = match (arch.downcast_ref::<Cell>(), arch.downcast_ref::<Genotype>()) {
            (Some(c), _) => Nb201Space.format(c),
            (_, Some(g)) => DartsSpace.format(g),
            _ => panic!("an NB201 cell or a DARTS genotype"),
        };
        self.evaluated.push(text);
        let ok: Result<Metrics, EvalError> = Ok(Metrics::with_valid(1.0));
        Ok(ok)
    }

    fn exhausted(&self) -> bool {
        self.stopped || !self.evaluated.is_empty()
    }

    fn checkpoint(&mut self, step: u64, log: &str, state: &[u8]) -> Result<(), SearchStopped> {
        self.steps.retain(|(s, _)| *s != step);
        self.steps.push((step, serde_json::from_str(log).unwrap()));
        self.checkpoint = Some((step, state.to_vec()));
        if self.stop_after == Some(step) {
            self.stopped = true;
            return Err(SearchStopped);
        }
        Ok(())
    }

    fn last_checkpoint(&mut self) -> Option<(u64, Vec<u8>)> {
        self.checkpoint.clone()
    }
}

fn digits() -> Arc<nasforge_datasets::ImageSplits> {
    Arc::new(nasforge_datasets::digits(1))
}

fn small(body: &str) -> OneShotToml {
    let mut t: toml::Table = toml::from_str("channels = 4\ncells = 1\nbatch-size = 32\nepochs = 2").unwrap();
    t.extend(toml::from_str::<toml::Table>(body).unwrap());
    t.try_into().unwrap()
}

fn search(name: &str, config: &OneShotConfig, memory: &mut Memory) -> Option<String> {
    let mut s = OneShot::<Nb201Supernet>::new(name, config.clone(), 7, digits());
    s.drive(&ErasedSpace::new(Nb201Space), memory);
    s.failure()
}

fn search_darts(name: &str, config: &OneShotConfig, memory: &mut Memory) -> Option<String> {
    let mut s = OneShot::<DartsSupernet>::new(name, config.clone(), 7, digits());
    s.drive(&ErasedSpace::new(DartsSpace), memory);
    s.failure()
}

/// The log rows without their timings.
fn rows(m: &Memory) -> Vec<Value> {
    let mut steps = m.steps.clone();
    steps.sort_by_key(|s| s.0);
    steps
        .into_iter()
        .map(|(_, mut v)| {
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

fn check_resumes(name: &str, config: OneShotConfig) {
    check_resumes_with(name, config, search);
}

fn check_resumes_with(name: &str, config: OneShotConfig, search: fn(&str, &OneShotConfig, &mut Memory) -> Option<String>) {
    let mut whole = Memory::default();
    assert_eq!(search(name, &config, &mut whole), None);
    assert_eq!(whole.evaluated.len(), 1, "{name} evaluates its cell");
    let n = whole.steps.len() as u64;
    for stop in 0..n {
        let mut m = Memory { stop_after: Some(stop), ..Memory::default() };
        assert_eq!(search(name, &config, &mut m), None);
        assert!(m.evaluated.is_empty() && m.steps.len() as u64 == stop + 1, "{name} stopped after step {stop}");
        m.stop_after = None;
        m.stopped = false;
        assert_eq!(search(name, &config, &mut m), None);
        assert_eq!(rows(&m), rows(&whole), "{name}: stopped after step {stop}, then resumed");
        assert_eq!(m.evaluated, whole.evaluated, "{name}: the same cell after a resume");
    }
}

#[test]
fn darts_journals_every_epoch_and_resumes_after_any_step_to_the_same_cell() {
    let config = DartsToml::from_general(&small("")).check().unwrap();
    let mut m = Memory::default();
    assert_eq!(search("darts", &config, &mut m), None);
    let r = rows(&m);
    assert_eq!(r.len(), 3, "two epochs and the selection: {r:?}");
    assert_eq!((r[0]["phase"].as_str(), r[0]["epoch"].as_u64()), (Some("train"), Some(0)));
    for k in ["train_loss", "train_acc", "valid_loss", "valid_acc", "lr"] {
        assert!(r[1][k].as_f64().is_some_and(f64::is_finite), "{k}: {}", r[1]);
    }
    assert_ne!(r[0]["alpha"], r[1]["alpha"], "α moves");
    assert_eq!(r[2]["cell"].as_str().unwrap(), m.evaluated[0]);
    check_resumes("darts", config);
}

#[test]
fn gdas_rsps_spos_and_darts_pt_resume_to_the_same_trajectory() {
    check_resumes("gdas", GdasToml::from_general(&small("")).check().unwrap());
    check_resumes("rsps", RspsToml::from_general(&small("candidates = 10\nranking-sample = 5")).check().unwrap());
    check_resumes("spos", SposToml::from_general(&small("epochs = 1\npopulation = 6\nparents = 2\ngenerations = 2\nscore-batches = 1")).check().unwrap());
    // Fine-tuning moves α between decisions: the magnitude cell journaled
    // beside the choice must still be the one of the trained supernet.
    check_resumes("darts-pt", DartsPtToml::from_general(&small("epochs = 1\nscore-batches = 1\nfinetune-epochs = 1\nbatch-size = 128")).check().unwrap());
}

#[test]
fn sd_darts_and_rarts_journal_their_terms_and_resume_to_the_same_trajectory() {
    let sd = SdDartsToml::from_general(&small("teachers = 2")).check().unwrap();
    let mut m = Memory::default();
    assert_eq!(search("sd-darts", &sd, &mut m), None);
    let r = rows(&m);
    assert!(r[0]["distill_kl"].as_f64().is_some_and(|k| k.is_finite() && k >= 0.0), "{}", r[0]);
    assert_ne!(r[0]["alpha"], r[1]["alpha"], "α moves");
    // The teachers are in the checkpoint: a resume votes as before.
    check_resumes("sd-darts", sd);
    let rarts = RartsToml::from_general(&small("beta = 0.5")).check().unwrap();
    let mut m = Memory::default();
    assert_eq!(search("rarts", &rarts, &mut m), None);
    let r = rows(&m);
    assert!(r[0]["weight_distance"].as_f64().is_some_and(|d| d > 0.0), "{}", r[0]);
    check_resumes("rarts", rarts);
    // Both on DARTS' supernet too.
    let tiny = "channels = 2\ncells = 3\nepochs = 1\nbatch-size = 64";
    for (name, config) in [("sd-darts", SdDartsToml::from_general(&small(tiny)).check().unwrap()), ("rarts", RartsToml::from_general(&small(tiny)).check().unwrap())] {
        let mut m = Memory::default();
        assert_eq!(search_darts(name, &config, &mut m), None);
        assert!(m.evaluated[0].starts_with("Genotype(normal="), "{name}: {}", m.evaluated[0]);
    }
}

#[test]
fn second_order_darts_and_the_hessian_tracker_journal_finite_values() {
    let config = DartsToml::from_general(&small("order = 2\nhessian = true\nhessian-iterations = 3")).check().unwrap();
    let mut m = Memory::default();
    assert_eq!(search("darts", &config, &mut m), None);
    let r = rows(&m);
    assert!(r[0]["eigenvalue"].as_f64().is_some_and(f64::is_finite), "{}", r[0]);
    assert!(r[1]["valid_loss"].as_f64().is_some_and(f64::is_finite), "{}", r[1]);
    assert_ne!(r[0]["alpha"], r[1]["alpha"]);
}

#[test]
fn a_checkpoint_of_another_strategy_is_refused() {
    let mut m = Memory::default();
    assert_eq!(search("darts", &DartsToml::from_general(&small("epochs = 1")).check().unwrap(), &mut m), None);
    m.evaluated.clear();
    let err = search("gdas", &GdasToml::from_general(&small("epochs = 1")).check().unwrap(), &mut m).unwrap();
    assert!(err.contains("strategy `darts`, not `gdas`"), "{err}");
}

#[test]
fn darts_and_gdas_search_the_darts_cell_supernet_and_resume() {
    // Three cells (both reductions), C = 2: the smallest network with
    // every kind of edge.
    let tiny = "channels = 2\ncells = 3\nepochs = 1\nbatch-size = 64";
    let config = DartsToml::from_general(&small(tiny)).check().unwrap();
    let mut m = Memory::default();
    assert_eq!(search_darts("darts", &config, &mut m), None);
    let r = rows(&m);
    assert_eq!(r[0]["alpha"].as_array().unwrap().len(), 28, "14 normal and 14 reduction rows");
    assert!(m.evaluated[0].starts_with("Genotype(normal="), "{}", m.evaluated[0]);
    assert_eq!(r[1]["cell"].as_str(), Some(m.evaluated[0].as_str()));
    check_resumes_with("darts", config, search_darts);
    let mut m = Memory::default();
    assert_eq!(search_darts("gdas", &GdasToml::from_general(&small(tiny)).check().unwrap(), &mut m), None);
    assert!(rows(&m)[0]["tau"].as_f64().is_some());
}

#[test]
fn rsps_and_spos_train_darts_paths_and_choose_among_genotypes() {
    let tiny = "channels = 2\ncells = 3\nepochs = 1\nbatch-size = 64\ncandidates = 4";
    let config = RspsToml::from_general(&small(tiny)).check().unwrap();
    let mut m = Memory::default();
    assert_eq!(search_darts("rsps", &config, &mut m), None);
    let r = rows(&m);
    let selected = &r[1];
    let candidates = selected["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 4);
    assert!(candidates.iter().any(|c| c.as_str() == Some(m.evaluated[0].as_str())), "the choice is one of the candidates");
    assert!(m.evaluated[0].starts_with("Genotype(normal="), "{}", m.evaluated[0]);
    check_resumes_with("rsps", config, search_darts);
    // SPOS' evolution breeds genotypes: mutated and crossed-over children
    // stay valid (the evaluator formats them), and resumes reach the same one.
    let spos = SposToml::from_general(&small("channels = 2\ncells = 3\nepochs = 1\nbatch-size = 64\npopulation = 6\nparents = 2\ngenerations = 2\nscore-batches = 1")).check().unwrap();
    let mut m = Memory::default();
    assert_eq!(search_darts("spos", &spos, &mut m), None);
    let r = rows(&m);
    assert_eq!(r[1]["by"].as_str(), Some("evolution"));
    assert!(r[1]["scored"].as_u64().unwrap() > 6, "the second generation scores children: {}", r[1]);
    check_resumes_with("spos", spos, search_darts);
}
