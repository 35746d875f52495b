//! The search runner: the [`Evaluator`] strategies drive.
//!
//! It evaluates, counts the budget, tracks the best trial, writes each
//! finished trial to the journal, and, when resuming, replays the journal:
//! the strategy is rebuilt from its seed and re-proposes the same
//! architectures, which are answered from the journal instead of being
//! evaluated again. A proposal that differs from the journal stops the run
//! with [`RunError::Diverged`].

use std::collections::VecDeque;
use std::time::Instant;

use nasforge_core::{EvalContext, EvalError, Evaluation, Evaluator, Estimator, Metrics, Objective, SearchSpace, SearchStopped, splitmix64};
use nasforge_journal::{Journal, JournalError, TrialRecord, unix_now};
use serde::Serialize;

/// When a search stops: whichever limit is reached first.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Budget {
    /// Trials, failed ones included.
    pub evaluations: Option<u64>,
    /// Seconds of search, summed over resumed sessions.
    pub seconds: Option<f64>,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The journal could not be written or read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A component failed for good (a plugin that panicked, say).
    #[error("{0}")]
    ComponentFailed(String),
    /// A resumed run proposed another architecture than the journal holds.
    #[error(
        "the journal diverges from the replayed search at trial {trial}: the journal has `{journal}`, the strategy proposed `{proposed}` (was the code or the data changed since the run started?)"
    )]
    Diverged {
        /// The trial number.
        trial: u64,
        /// What the journal holds.
        journal: String,
        /// What the strategy proposed.
        proposed: String,
    },
}

/// Progress after each trial, and after each step of a long strategy
/// (a supernet's epoch), for progress bars.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Trials done, replayed ones included.
    pub trials: u64,
    /// The evaluation budget, when there is one.
    pub budget: Option<u64>,
    /// The best validation score so far.
    pub best_valid: Option<f64>,
    /// The step just journaled and its log (JSON), when this is a step's.
    pub step: Option<(u64, String)>,
}

/// The best trial of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BestTrial {
    /// The architecture's standard string.
    pub arch: String,
    /// Its validation score.
    pub valid: f64,
    /// Its test score, when the estimator has one.
    pub test: Option<f64>,
}

/// A non-dominated trial of a multi-objective run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParetoPoint {
    /// The architecture's standard string.
    pub arch: String,
    /// Its objectives by name, as measured (not negated).
    pub objectives: std::collections::BTreeMap<String, f64>,
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// The best trial by the objective (validation score).
    pub best: Option<BestTrial>,
    /// Trials done, failed ones included.
    pub trials: u64,
    /// Seconds of search, summed over resumed sessions.
    pub seconds: f64,
    /// The evaluated non-dominated trials, for runs with several
    /// objectives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pareto: Option<Vec<ParetoPoint>>,
    /// Trials that failed.
    #[serde(skip)]
    pub failed: u64,
    /// The experiment's id in the journal, when there is one.
    #[serde(skip)]
    pub experiment: Option<i64>,
    /// What a reader must know to read these figures (from the estimator's
    /// registry entry: NAS-Bench-Macro's `valid` is a test accuracy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Where finished trials go.
struct Sink<'a> {
    journal: &'a mut Journal,
    experiment: i64,
    hash: String,
}

/// Runs a search: give it to [`nasforge_core::Strategy::drive`], then call
/// [`Runner::finish`].
pub struct Runner<'a, S: SearchSpace> {
    space: &'a S,
    estimator: &'a mut dyn Estimator<S::Arch>,
    budget: Budget,
    seed: u64,
    objective: Objective,
    sink: Option<Sink<'a>>,
    replay: VecDeque<TrialRecord>,
    trials: u64,
    failed: u64,
    elapsed_before: f64,
    clock: Instant,
    best: Option<(S::Arch, f64, Metrics)>,
    progress: Option<&'a mut dyn FnMut(Progress)>,
    error: Option<RunError>,
    /// Several named objectives: every successful trial's measured values
    /// and fitness vector, for the Pareto front.
    objectives: Vec<(String, Objective)>,
    measured: Vec<(S::Arch, Vec<f64>, Vec<f64>)>,
}

impl<'a, S: SearchSpace> Runner<'a, S> {
    /// A runner over `space` and `estimator` with the given budget; trial
    /// seeds derive from `seed`.
    pub fn new(space: &'a S, estimator: &'a mut dyn Estimator<S::Arch>, budget: Budget, seed: u64) -> Self {
        Self {
            space,
            estimator,
            budget,
            seed,
            objective: Objective::valid(),
            sink: None,
            replay: VecDeque::new(),
            trials: 0,
            failed: 0,
            elapsed_before: 0.0,
            clock: Instant::now(),
            best: None,
            progress: None,
            error: None,
            objectives: Vec::new(),
            measured: Vec::new(),
        }
    }

    /// Tracks these named objectives and reports the Pareto front of the
    /// evaluated trials in the summary (when there are two or more).
    pub fn with_objectives(mut self, objectives: Vec<(String, Objective)>) -> Self {
        self.objectives = objectives;
        self
    }

    /// Writes every finished trial to `journal` under `experiment`.
    pub fn with_journal(mut self, journal: &'a mut Journal, experiment: i64, hash: String) -> Self {
        self.sink = Some(Sink { journal, experiment, hash });
        self
    }

    /// Answers the first proposals from these journaled trials (a resume).
    pub fn with_replay(mut self, trials: Vec<TrialRecord>) -> Self {
        self.replay = trials.into();
        self
    }

    /// Calls `f` after every trial.
    pub fn with_progress(mut self, f: &'a mut dyn FnMut(Progress)) -> Self {
        self.progress = Some(f);
        self
    }

    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.clock.elapsed().as_secs_f64()
    }

    fn record(&mut self, arch: &S::Arch, outcome: &Evaluation) {
        self.trials += 1;
        if let (true, Ok(m)) = (self.objectives.len() > 1, outcome) {
            let raw: Option<Vec<f64>> = self.objectives.iter().map(|(_, o)| m.get(&o.metric).filter(|v| v.is_finite())).collect();
            let fit: Option<Vec<f64>> = self.objectives.iter().map(|(_, o)| o.fitness(m)).collect();
            if let (Some(raw), Some(fit)) = (raw, fit) {
                self.measured.push((arch.clone(), raw, fit));
            }
        }
        match outcome {
            Ok(m) => {
                // Replayed trials skip `finite`: a journal written before it
                // may hold a NaN marked ok, which must not become the best.
                if let Some(f) = self.objective.fitness(m).filter(|f| f.is_finite()) {
                    if self.best.as_ref().is_none_or(|b| f > b.1) {
                        self.best = Some((arch.clone(), f, m.clone()));
                    }
                }
            }
            Err(_) => self.failed += 1,
        }
        if let Some(p) = self.progress.as_mut() {
            p(Progress {
                trials: self.trials,
                budget: self.budget.evaluations,
                best_valid: self.best.as_ref().map(|b| b.2.valid),
                step: None,
            });
        }
    }

    /// The metrics, or a failure when an objective is NaN or infinite: a
    /// strategy must never rank a NaN, and the search goes on.
    fn finite(&self, m: Metrics) -> Evaluation {
        let primary = std::iter::once(("valid", &self.objective));
        let named = self.objectives.iter().map(|(n, o)| (n.as_str(), o));
        let bad = primary.chain(named).find(|(_, o)| m.get(&o.metric).is_some_and(|v| !v.is_finite()));
        match bad {
            Some((name, _)) => Err(EvalError::NonFinite { objective: name.to_owned(), metrics: Box::new(m) }),
            None => Ok(m),
        }
    }

    fn trial_seed(&self, trial: u64) -> u64 {
        splitmix64(nasforge_core::derive_seed(self.seed, "trial").wrapping_add(trial))
    }

    /// Ends the run: the summary, or the error that stopped it.
    pub fn finish(self) -> Result<RunSummary, RunError> {
        self.finish_with(None)
    }

    /// [`Runner::finish`], given the strategy's [`failure`], which the
    /// runner cannot see itself.
    ///
    /// [`failure`]: nasforge_core::Strategy::failure
    pub fn finish_with(self, strategy_failure: Option<String>) -> Result<RunSummary, RunError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some(f) = strategy_failure {
            return Err(RunError::ComponentFailed(f));
        }
        let seconds = self.elapsed();
        let pareto = (self.objectives.len() > 1).then(|| {
            let fits: Vec<Vec<f64>> = self.measured.iter().map(|m| m.2.clone()).collect();
            let front = nasforge_core::pareto::non_dominated_fronts(&fits).into_iter().next().unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            front
                .into_iter()
                .filter_map(|i| {
                    let (arch, raw, _) = &self.measured[i];
                    let text = self.space.format(arch);
                    seen.insert(text.clone()).then(|| ParetoPoint {
                        arch: text,
                        objectives: self.objectives.iter().map(|(n, _)| n.clone()).zip(raw.iter().copied()).collect(),
                    })
                })
                .collect()
        });
        Ok(RunSummary {
            best: self.best.map(|(arch, _, m)| BestTrial { arch: self.space.format(&arch), valid: m.valid, test: m.test }),
            trials: self.trials,
            seconds,
            pareto,
            failed: self.failed,
            experiment: self.sink.map(|s| s.experiment),
            notes: Vec::new(),
        })
    }
}

impl<S: SearchSpace> Evaluator<S::Arch> for Runner<'_, S> {
    fn exhausted(&self) -> bool {
        self.error.is_some()
            || self.budget.evaluations.is_some_and(|n| self.trials >= n)
            || self.budget.seconds.is_some_and(|s| self.replay.is_empty() && self.elapsed() >= s)
    }

    fn evaluate(&mut self, arch: &S::Arch) -> Result<Evaluation, SearchStopped> {
        if self.exhausted() {
            return Err(SearchStopped);
        }
        if let Some(f) = self.space.failure() {
            self.error = Some(RunError::ComponentFailed(f));
            return Err(SearchStopped);
        }
        let trial = self.trials;
        if let Some(rec) = self.replay.pop_front() {
            let proposed = self.space.format(arch);
            if rec.trial != trial || rec.arch != proposed {
                self.error = Some(RunError::Diverged { trial, journal: rec.arch, proposed });
                return Err(SearchStopped);
            }
            if self.replay.is_empty() {
                // Live search time continues from where the journal ends
                // (or from the restored checkpoint's time, when later).
                self.elapsed_before = rec.elapsed.max(self.elapsed());
                self.clock = Instant::now();
            }
            self.record(arch, &rec.outcome);
            return Ok(rec.outcome);
        }
        let ctx = EvalContext { trial, seed: self.trial_seed(trial) };
        let started_at = self.sink.as_ref().map(|_| unix_now());
        let t0 = Instant::now();
        let outcome = self.estimator.evaluate(arch, ctx).and_then(|m| self.finite(m));
        if let (Some(sink), Some(started_at)) = (self.sink.as_mut(), started_at) {
            let eval_seconds = t0.elapsed().as_secs_f64();
            let record = TrialRecord {
                trial,
                arch: self.space.format(arch),
                arch_key: self.space.canonical_key(arch),
                outcome: outcome.clone(),
                seed: ctx.seed,
                started_at,
                finished_at: started_at + eval_seconds,
                eval_seconds,
                elapsed: self.elapsed_before + self.clock.elapsed().as_secs_f64(),
            };
            if let Err(e) = sink.journal.append(sink.experiment, &sink.hash, &record) {
                // Nothing unjournaled counts: stop before telling the strategy.
                self.error = Some(e.into());
                return Err(SearchStopped);
            }
        }
        self.record(arch, &outcome);
        if let Some(f) = self.estimator.failure() {
            // The trial is journaled (as failed); nothing further can be.
            self.error = Some(RunError::ComponentFailed(f));
        }
        Ok(outcome)
    }

    fn checkpoint(&mut self, step: u64, log: &str, state: &[u8]) -> Result<(), SearchStopped> {
        if self.error.is_some() {
            return Err(SearchStopped);
        }
        let elapsed = self.elapsed();
        if let Some(sink) = self.sink.as_mut() {
            if let Err(e) = sink.journal.save_step(sink.experiment, step, log, state, elapsed) {
                self.error = Some(e.into());
                return Err(SearchStopped);
            }
        }
        if let Some(p) = self.progress.as_mut() {
            p(Progress {
                trials: self.trials,
                budget: self.budget.evaluations,
                best_valid: self.best.as_ref().map(|b| b.2.valid),
                step: Some((step, log.to_owned())),
            });
        }
        Ok(())
    }

    fn last_checkpoint(&mut self) -> Option<(u64, Vec<u8>)> {
        let sink = self.sink.as_ref()?;
        match sink.journal.checkpoint(sink.experiment) {
            Ok(Some(c)) => {
                // A resumed search's clock (and `[budget] seconds`)
                // continues from the checkpoint's, not from zero.
                let elapsed = c.elapsed.unwrap_or(0.0).max(self.elapsed());
                self.elapsed_before = elapsed;
                self.clock = Instant::now();
                Some((c.step, c.state))
            }
            Ok(None) => None,
            Err(e) => {
                // Unreadable: the run stops rather than silently starting over.
                self.error = Some(e.into());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::Strategy;
    use nasforge_space_nb201::{Cell, Nb201Space, Op};
    use nasforge_evolution::RandomSearch;

    use super::*;

    /// Scores a cell by its number of 3×3 convs; cells without any fail.
    struct Convs;

    impl Estimator<Cell> for Convs {
        fn name(&self) -> &str {
            "convs"
        }
        fn evaluate(&mut self, arch: &Cell, _ctx: EvalContext) -> Result<Metrics, EvalError> {
            let n = arch.ops.iter().filter(|&&o| o == Op::NorConv3x3).count();
            if n == 0 { Err(EvalError::Invalid("no conv".into())) } else { Ok(Metrics::with_valid(n as f64)) }
        }
    }

    fn search(budget: Budget, replay: Vec<TrialRecord>) -> Result<RunSummary, RunError> {
        let mut estimator = Convs;
        let mut runner = Runner::new(&Nb201Space, &mut estimator, budget, 0).with_replay(replay);
        RandomSearch::new(1).drive(&Nb201Space, &mut runner);
        runner.finish()
    }

    #[test]
    fn evaluation_budget_counts_failures_and_best_is_tracked() {
        let s = search(Budget { evaluations: Some(500), seconds: None }, Vec::new()).unwrap();
        assert_eq!(s.trials, 500);
        assert!(s.failed > 50 && s.failed < 200, "{}", s.failed); // (4/5)^6 = 26% have no conv
        // The best of 500 uniform cells has several convs (the mean is 1.2).
        assert!(s.best.unwrap().valid >= 3.0);
    }

    /// Valid NaN for cells with a pooling op, 1 otherwise; an infinite `loss` always.
    struct NanPools;

    impl Estimator<Cell> for NanPools {
        fn name(&self) -> &str {
            "nan-pools"
        }
        fn evaluate(&mut self, arch: &Cell, _ctx: EvalContext) -> Result<Metrics, EvalError> {
            let pools = arch.ops.iter().filter(|&&o| o == Op::AvgPool3x3).count();
            let extra = vec![("loss".to_owned(), f64::INFINITY)];
            Ok(Metrics { valid: if pools > 0 { f64::NAN } else { 1.0 }, extra, ..Metrics::default() })
        }
    }

    #[test]
    fn a_non_finite_objective_fails_the_trial_and_the_search_goes_on() {
        let mut estimator = NanPools;
        let mut runner = Runner::new(&Nb201Space, &mut estimator, Budget { evaluations: Some(200), seconds: None }, 0)
            .with_objectives(vec![("valid".into(), Objective::valid()), ("loss".into(), Objective::named("loss"))]);
        RandomSearch::new(1).drive(&Nb201Space, &mut runner);
        let s = runner.finish().unwrap();
        // Every trial has an infinite `loss` objective; the NaN-valid ones fail on `valid` first.
        assert_eq!((s.trials, s.failed), (200, 200));
        let mut estimator = NanPools;
        let mut runner = Runner::new(&Nb201Space, &mut estimator, Budget { evaluations: Some(200), seconds: None }, 0);
        let mut outcomes = Vec::new();
        for i in 0..200u64 {
            let cell = Cell::from_code((i * 61) as usize);
            outcomes.push(runner.evaluate(&cell).unwrap());
        }
        let s = runner.finish().unwrap();
        assert_eq!(s.trials, 200);
        assert!(s.failed > 0 && s.failed < 200, "{}", s.failed);
        assert_eq!(s.best.unwrap().valid, 1.0);
        let failed = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
        let EvalError::NonFinite { objective, metrics } = failed else { panic!("{failed:?}") };
        assert_eq!(objective, "valid");
        assert!(metrics.valid.is_nan() && metrics.extra[0].1 == f64::INFINITY);
    }

    #[test]
    fn seconds_budget_stops_the_search() {
        let s = search(Budget { evaluations: None, seconds: Some(0.05) }, Vec::new()).unwrap();
        assert!(s.trials > 0 && s.seconds >= 0.05 && s.seconds < 5.0, "{s:?}");
    }

    #[test]
    fn a_resumed_long_search_continues_its_clock_from_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path().join("j.sqlite")).unwrap();
        let record = nasforge_journal::ExperimentRecord {
            id: 0,
            hash: "h".into(),
            seed: 0,
            config: String::new(),
            space: "nas-bench-201".into(),
            strategy: "s".into(),
            estimator: "convs".into(),
            created_at: 0.0,
            finished_at: None,
        };
        let id = journal.create_experiment(&record).unwrap();
        // A session that spent 100 s before its checkpoint.
        journal.save_step(id, 4, "{}", b"state", 100.0).unwrap();
        let mut estimator = Convs;
        let budget = |s| Budget { evaluations: None, seconds: Some(s) };
        let mut runner = Runner::new(&Nb201Space, &mut estimator, budget(50.0), 0).with_journal(&mut journal, id, "h".into());
        assert!(!runner.exhausted(), "the fresh clock alone is under the budget");
        assert_eq!(runner.last_checkpoint(), Some((4, b"state".to_vec())));
        assert!(runner.exhausted(), "the restored 100 s spend the 50 s budget");
        let mut runner = Runner::new(&Nb201Space, &mut estimator, budget(1000.0), 0).with_journal(&mut journal, id, "h".into());
        runner.last_checkpoint();
        assert!(!runner.exhausted());
        runner.checkpoint(5, "{}", b"next").unwrap();
        let s = runner.finish().unwrap();
        assert!(s.seconds >= 100.0, "{s:?}");
        let elapsed = journal.checkpoint(id).unwrap().unwrap().elapsed.unwrap();
        assert!((100.0..s.seconds + 1e-9).contains(&elapsed), "{elapsed}");
    }

    #[test]
    fn a_replay_that_disagrees_with_the_strategy_is_an_error() {
        let record = TrialRecord {
            trial: 0,
            arch: Nb201Space.format(&Cell::uniform(Op::None)),
            arch_key: "zero".into(),
            outcome: Ok(Metrics::with_valid(1.0)),
            seed: 0,
            started_at: 0.0,
            finished_at: 0.0,
            eval_seconds: 0.0,
            elapsed: 0.0,
        };
        // RandomSearch(1)'s first proposal is not the all-none cell.
        let err = search(Budget { evaluations: Some(10), seconds: None }, vec![record]).unwrap_err();
        assert!(matches!(err, RunError::Diverged { trial: 0, .. }), "{err}");
    }
}
