//! The one-shot search as a strategy: it trains its supernet epoch by
//! epoch inside `drive`, journaling each epoch's α, losses and accuracies
//! with a checkpoint (so a killed search resumes from its last epoch),
//! then chooses a cell and has the experiment's estimator evaluate it.
//!
//! A `[budget] seconds` limit counts every session of a resumed search:
//! the runner restores the elapsed time with the checkpoint (a checkpoint
//! written before journal schema 4 has none, and the clock restarts at
//! 0). A budget spent during training ends the search without a cell:
//! the runner evaluates nothing once its budget is spent.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use nasforge_core::{Evaluator, Strategy, derive_seed};
use nasforge_datasets::ImageSplits;
use nasforge_engine::state::State;
use nasforge_registry::{DynArch, ErasedSpace};
use nasforge_space_nb201::Cell;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::config::{Method, OneShotConfig, Selection};
use crate::data::SearchData;
use crate::nb201::Nb201Supernet;
use crate::select::{self, Evolve, Projection};
use crate::supernet::{Supernet, SupernetSpec};
use crate::train::{GumbelSample, Meter, Training, mixed, path, score_batch};
use crate::sd_darts::Teachers;
use crate::{darts2, hessian, rarts, sd_darts};

/// A one-shot search on supernet `N` (the NAS-Bench-201 or DARTS search
/// network). Uniform paths, the fixed-α supernet and every selection but
/// the magnitude one are NAS-Bench-201's: the family's builder refuses
/// them elsewhere.
pub struct OneShot<N> {
    name: String,
    config: OneShotConfig,
    seed: u64,
    splits: Arc<ImageSplits>,
    failure: Option<String>,
    /// When the last step was committed (or the search started): a row
    /// without its own `seconds` is timed from here.
    clock: Instant,
    net: PhantomData<fn() -> N>,
}

/// The NAS-Bench-201 view of a training supernet, for what only that
/// supernet supports.
fn nb201<N: Supernet>(t: &mut Training<N>) -> Result<&mut Training<Nb201Supernet>, String> {
    (t as &mut dyn Any).downcast_mut::<Training<Nb201Supernet>>().ok_or_else(|| "this method needs the NAS-Bench-201 supernet".to_owned())
}

/// A NAS-Bench-201 cell as `N`'s architecture (it is one when `N` is the
/// NAS-Bench-201 supernet).
fn as_arch<N: Supernet>(cell: Cell) -> Result<N::Arch, String> {
    (Box::new(cell) as Box<dyn Any>).downcast::<N::Arch>().map(|b| *b).map_err(|_| "a NAS-Bench-201 cell on another supernet".to_owned())
}

/// Where a search stands: what the checkpoint holds besides the tensors.
#[derive(Clone, Debug, PartialEq)]
struct Progress<A> {
    /// Epochs trained.
    epochs: usize,
    /// The Hessian tracker stopped training early.
    stopped: bool,
    /// Eigenvalues so far.
    eigenvalues: Vec<f64>,
    /// The architecture α derived after each epoch (RobustDARTS' early
    /// stop returns an earlier epoch's).
    derived: Vec<String>,
    /// The magnitude-selected architecture when training ended, before
    /// DARTS-PT's fine-tuning moved α.
    magnitude: Option<String>,
    /// The ranking sample is journaled.
    ranked: bool,
    /// DARTS-PT's decisions so far.
    projection: Projection,
    /// The chosen architecture, once chosen.
    selected: Option<A>,
    /// The next step number in the journal.
    step: u64,
}

impl<A> Default for Progress<A> {
    fn default() -> Self {
        Progress {
            epochs: 0,
            stopped: false,
            ranked: false,
            eigenvalues: Vec::new(),
            derived: Vec::new(),
            magnitude: None,
            projection: Projection::default(),
            selected: None,
            step: 0,
        }
    }
}

impl<N: Evolve> OneShot<N> {
    /// A search `name` (its registry name) with `config`, drawing every
    /// random choice from `seed`, on `splits`' training split.
    pub fn new(name: &str, config: OneShotConfig, seed: u64, splits: Arc<ImageSplits>) -> Self {
        OneShot { name: name.to_owned(), config, seed, splits, failure: None, clock: Instant::now(), net: PhantomData }
    }

    fn fresh(&self, data: &SearchData) -> Training<N> {
        let spec = SupernetSpec {
            channels: self.config.channels,
            cells: self.config.cells,
            sharp_sep_conv: self.config.sharp_sep_conv,
            in_channels: data.channels(),
            classes: data.classes(),
        };
        let net = N::build(&spec, derive_seed(self.seed, "supernet"));
        let mut t = Training::new(net, self.config.optimisers.clone());
        if matches!(self.config.method, Method::Rarts { .. }) {
            t = t.with_twin();
        }
        t.teachers = self.config.distillation.map(|d| Teachers::new(d.teachers));
        t
    }

    /// GDAS' τ in `epoch`: `τ_max − (τ_max − τ_min) · epoch / (epochs − 1)`.
    fn tau(&self, epoch: usize) -> Option<f64> {
        match self.config.method {
            Method::Gdas { tau_max, tau_min } => Some(tau_max - (tau_max - tau_min) * epoch as f64 / (self.config.epochs.max(2) - 1) as f64),
            _ => None,
        }
    }

    /// One epoch of supernet training; its log row.
    fn train_epoch(&self, t: &mut Training<N>, data: &SearchData, epoch: usize) -> Result<Value, String> {
        let lr = t.lr(epoch, self.config.epochs);
        let tau = self.tau(epoch);
        let weighting = t.config.weighting;
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, &format!("epoch{epoch}")));
        let (mut train, mut valid) = (Meter::default(), Meter::default());
        let (mut kl, mut distilled) = (0.0, 0usize);
        for (wi, ai) in data.epoch(derive_seed(self.seed, &format!("order{epoch}"))) {
            let (wb, ab) = (data.batch(&wi), data.batch(&ai));
            match &self.config.method {
                Method::Rarts { lambda, beta } => {
                    let (tr, va) = rarts::iteration(t, &wb, &ab, lr, *lambda, *beta);
                    train.add(tr);
                    valid.add(va);
                }
                Method::Darts { second_order } => {
                    // SD-DARTS: the previous steps' supernets vote on the
                    // weight batch; this step's supernet joins them after.
                    let distill = self.config.distillation.map(|d| {
                        let snapshot = Teachers::snapshot(&t.net);
                        let teachers = t.teachers.take().expect("SD-DARTS keeps teachers");
                        let vote = teachers.vote(&mut t.net, &wb, weighting, d.temperature);
                        t.teachers = Some(teachers);
                        (d, snapshot, vote)
                    });
                    let mut weight_step = |t: &mut Training<N>| {
                        let alpha = t.net.alpha().params.clone();
                        match &distill {
                            Some((d, _, vote)) => {
                                let (score, k) = sd_darts::weight_step(t, &wb, lr, &mut mixed(&alpha, weighting), vote.as_deref(), d);
                                train.add(score);
                                if vote.is_some() {
                                    kl += k;
                                    distilled += 1;
                                }
                            }
                            None => train.add(t.weight_step(&wb, lr, &mut mixed(&alpha, weighting))),
                        }
                    };
                    if *second_order {
                        valid.add(darts2::alpha_step(t, &wb, &ab, lr));
                        weight_step(t);
                    } else if N::ALPHA_FIRST {
                        let alpha = t.net.alpha().params.clone();
                        valid.add(t.alpha_step(&ab, &mut mixed(&alpha, weighting)));
                        weight_step(t);
                    } else {
                        weight_step(t);
                        let alpha = t.net.alpha().params.clone();
                        valid.add(t.alpha_step(&ab, &mut mixed(&alpha, weighting)));
                    }
                    if let Some((_, snapshot, _)) = distill {
                        t.teachers.as_mut().expect("SD-DARTS keeps teachers").push(snapshot);
                    }
                }
                Method::Gdas { .. } => {
                    let tau = tau.expect("GDAS has a τ");
                    let alpha = t.net.alpha().params.clone();
                    let sample = GumbelSample::draw(&alpha, tau, &mut rng)?;
                    train.add(t.weight_step(&wb, lr, &mut sample.edges(&alpha)));
                    let sample = GumbelSample::draw(&alpha, tau, &mut rng)?;
                    valid.add(t.alpha_step(&ab, &mut sample.edges(&alpha)));
                }
                Method::UniformPaths => {
                    let ops = N::path_of(&N::random_arch(&mut rng));
                    train.add(t.weight_step(&wb, lr, &mut path(ops.clone())));
                    // The α half is only watched (no α): the same path's score.
                    valid.add(score_batch(&mut t.net, &ab, true, &mut path(ops)));
                }
                Method::FixedAlpha => {
                    let alpha = t.net.alpha().params.clone();
                    train.add(t.weight_step(&wb, lr, &mut mixed(&alpha, weighting)));
                    valid.add(score_batch(&mut t.net, &ab, true, &mut mixed(&alpha, weighting)));
                }
            }
        }
        let ((tl, ta), (vl, va)) = (train.mean(), valid.mean());
        let mut row = json!({
            "phase": "train",
            "epoch": epoch,
            "lr": lr,
            "train_loss": tl,
            "train_acc": ta,
            "valid_loss": vl,
            "valid_acc": va,
        });
        if distilled > 0 {
            row["distill_kl"] = json!(kl / distilled as f64);
        }
        if let Some((y, _)) = &t.twin {
            // RARTS: how far apart the penalty lets the two weight sets drift.
            let d2: f64 = t.net.weights().params.iter().zip(&y.params).map(|(a, b)| a.as_vec().iter().zip(b.as_vec()).map(|(u, v)| f64::from(u - v).powi(2)).sum::<f64>()).sum();
            row["weight_distance"] = json!(d2.sqrt());
        }
        if matches!(self.config.method, Method::Darts { .. } | Method::Gdas { .. } | Method::Rarts { .. }) {
            row["alpha"] = json!(t.net.alpha_rows());
            if epoch == 0 && !N::op_names().is_empty() {
                // Once: the names of α's columns, for readers of the log.
                row["ops"] = json!(N::op_names());
            }
            row["derived"] = json!(N::format(&t.net.derive()));
        }
        if let Some(tau) = tau {
            row["tau"] = json!(tau);
        }
        Ok(row)
    }

    fn save(&self, t: &mut Training<N>, p: &Progress<N::Arch>) -> Result<Vec<u8>, String> {
        let mut state = State::new();
        t.save_into(&mut state);
        state.set_meta("strategy", &self.name);
        state.set_meta("epochs", p.epochs.to_string());
        state.set_meta("stopped", p.stopped.to_string());
        state.set_meta("ranked", p.ranked.to_string());
        // As bit patterns: a diverged search's NaN must read back.
        let bits: Vec<u64> = p.eigenvalues.iter().map(|v| v.to_bits()).collect();
        state.set_meta("eigenvalues", serde_json::to_string(&bits).expect("numbers serialise"));
        state.set_meta("derived", serde_json::to_string(&p.derived).expect("strings serialise"));
        if let Some(m) = &p.magnitude {
            state.set_meta("magnitude", m);
        }
        state.set_meta("projection", p.projection.to_text());
        state.set_meta("step", p.step.to_string());
        if let Some(c) = &p.selected {
            state.set_meta("selected", N::format(c));
        }
        state.to_bytes()
    }

    fn restore(&self, t: &mut Training<N>, bytes: &[u8]) -> Result<Progress<N::Arch>, String> {
        let state = State::from_bytes(bytes)?;
        if state.meta("strategy") != Some(self.name.as_str()) {
            return Err(format!("the journal's checkpoint is of strategy `{}`, not `{}`", state.meta("strategy").unwrap_or("?"), self.name));
        }
        t.load_from(&state)?;
        let meta = |k: &str| state.meta(k).ok_or_else(|| format!("the checkpoint has no `{k}`"));
        let number = |k: &str| meta(k)?.parse::<u64>().map_err(|e| format!("the checkpoint's `{k}`: {e}"));
        Ok(Progress {
            epochs: number("epochs")? as usize,
            stopped: meta("stopped")? == "true",
            ranked: meta("ranked")? == "true",
            eigenvalues: serde_json::from_str::<Vec<u64>>(meta("eigenvalues")?).map_err(|e| e.to_string())?.into_iter().map(f64::from_bits).collect(),
            derived: serde_json::from_str(meta("derived")?).map_err(|e| e.to_string())?,
            magnitude: state.meta("magnitude").map(str::to_owned),
            projection: Projection::from_text(meta("projection")?)?,
            selected: state.meta("selected").map(N::parse).transpose()?,
            step: number("step")?,
        })
    }

    /// Journals `log` as the next step with the current state; `false`
    /// when the search must stop. Every row's `seconds` is the time since
    /// the step before (an epoch's with its Hessian tracking), so that the
    /// search's time, the sum, survives a resume in its steps.
    fn commit(&mut self, t: &mut Training<N>, p: &mut Progress<N::Arch>, log: &Value, evaluator: &mut dyn Evaluator<DynArch>) -> bool {
        let mut log = log.clone();
        log["seconds"] = json!(self.clock.elapsed().as_secs_f64());
        self.clock = Instant::now();
        let step = p.step;
        p.step += 1;
        let bytes = match self.save(t, p) {
            Ok(b) => b,
            Err(e) => {
                self.failure = Some(format!("{}: cannot write the checkpoint: {e}", self.name));
                return false;
            }
        };
        evaluator.checkpoint(step, &log.to_string(), &bytes).is_ok()
    }

    fn run(&mut self, evaluator: &mut dyn Evaluator<DynArch>) -> Result<(), String> {
        self.clock = Instant::now();
        let data = SearchData::new(self.splits.clone(), self.config.batch_size, derive_seed(self.seed, "halves"))?;
        let mut t = self.fresh(&data);
        let mut p = Progress::default();
        if let Some((_, bytes)) = evaluator.last_checkpoint() {
            p = self.restore(&mut t, &bytes)?;
        }
        // The tracker's batches are the same every epoch.
        let hessian_batches = self.config.hessian.as_ref().map(|h| data.alpha_batch_set(h.batches, derive_seed(self.seed, "hessian")));
        while p.epochs < self.config.epochs && !p.stopped && !evaluator.exhausted() {
            let epoch = p.epochs;
            let mut row = self.train_epoch(&mut t, &data, epoch)?;
            if let (Some(h), Some(batches)) = (&self.config.hessian, &hessian_batches) {
                let ev = hessian::dominant_eigenvalue(&mut t, batches, h.iterations, derive_seed(self.seed, &format!("power{epoch}")));
                p.eigenvalues.push(ev);
                row["eigenvalue"] = json!(ev);
                if let Some(rule) = &h.early_stop {
                    if hessian::rising(&p.eigenvalues, rule) {
                        p.stopped = true;
                        row["stopped"] = json!(true);
                    }
                }
            }
            p.derived.push(N::format(&t.net.derive()));
            p.epochs += 1;
            if !self.commit(&mut t, &mut p, &row, evaluator) {
                return Ok(());
            }
        }
        if evaluator.exhausted() {
            return Ok(());
        }
        if p.selected.is_none() {
            if self.config.ranking_sample > 0 && !p.ranked {
                let row = select::ranking(&mut nb201(&mut t)?.net, &data, self.config.ranking_sample, self.config.ranking_batches, derive_seed(self.seed, "ranking"));
                p.ranked = true;
                if !self.commit(&mut t, &mut p, &row, evaluator) {
                    return Ok(());
                }
            }
            // Fixed when training ends: DARTS-PT's fine-tuning moves α.
            let magnitude = match &p.magnitude {
                Some(m) => N::parse(m)?,
                None => {
                    let m = t.net.derive();
                    p.magnitude = Some(N::format(&m));
                    m
                }
            };
            let (arch, row) = match self.config.selection.clone() {
                Selection::Magnitude if p.stopped => {
                    // RobustDARTS returns the architecture of the epoch its
                    // local averages compare against: `window / 2 + delta`
                    // epochs before the one that stopped.
                    let rule = self.config.hessian.as_ref().and_then(|h| h.early_stop).expect("only the tracker stops early");
                    let at = p.derived.len().saturating_sub(1 + rule.window / 2 + rule.delta);
                    let arch = N::parse(&p.derived[at])?;
                    (arch, json!({ "phase": "selected", "cell": N::format(&arch), "by": "magnitude", "early_stop_epoch": at }))
                }
                Selection::Magnitude => (magnitude, json!({ "phase": "selected", "cell": N::format(&magnitude), "by": "magnitude" })),
                Selection::Sampled { candidates } => select::sampled(&mut t.net, &data, candidates, derive_seed(self.seed, "candidates")),
                Selection::Evolution(e) => select::evolution(&mut t.net, &data, &e, derive_seed(self.seed, "evolution")),
                Selection::Perturbation(pt) => {
                    let order = select::edge_order(derive_seed(self.seed, "edge-order"));
                    while let Some(edge) = p.projection.next(&order) {
                        let fixed = self.fixed_alpha();
                        let row = select::project_edge(nb201(&mut t)?, &data, &mut p.projection, edge, &pt, fixed, self.seed);
                        if !self.commit(&mut t, &mut p, &row, evaluator) {
                            return Ok(());
                        }
                    }
                    let cell = as_arch::<N>(p.projection.cell().expect("every edge decided"))?;
                    (cell, json!({ "phase": "selected", "cell": N::format(&cell), "by": "perturbation", "magnitude": N::format(&magnitude) }))
                }
            };
            p.selected = Some(arch);
            if !self.commit(&mut t, &mut p, &row, evaluator) {
                return Ok(());
            }
        }
        let arch = p.selected.expect("selected above");
        let _ = evaluator.evaluate(&DynArch::new(arch));
        Ok(())
    }

    fn fixed_alpha(&self) -> bool {
        self.config.method == Method::FixedAlpha
    }
}

impl<N: Evolve> Strategy<ErasedSpace> for OneShot<N> {
    fn name(&self) -> &str {
        &self.name
    }

    /// A one-shot search proposes nothing step by step: it drives.
    fn ask(&mut self, _space: &ErasedSpace) -> Option<DynArch> {
        None
    }

    fn tell(&mut self, _space: &ErasedSpace, _arch: &DynArch, _outcome: &nasforge_core::Evaluation) {}

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }

    fn drive(&mut self, _space: &ErasedSpace, evaluator: &mut dyn Evaluator<DynArch>) {
        if let Err(e) = self.run(evaluator) {
            self.failure = Some(format!("{}: {e}", self.name));
        }
    }
}
