//! The strategy trait: how a search proposes architectures.

use crate::{Evaluation, SearchSpace};

/// The search was stopped: budget spent, or interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("search stopped: budget spent or interrupted")]
pub struct SearchStopped;

/// What a strategy may call while it drives a search: evaluate an
/// architecture under the experiment's budget. The runner behind it keeps
/// the journal, the budget and the replay of a resumed run.
pub trait Evaluator<A> {
    /// Evaluates `arch` and records the trial; `Err(SearchStopped)` once the
    /// budget is spent, in which case nothing was evaluated.
    fn evaluate(&mut self, arch: &A) -> Result<Evaluation, SearchStopped>;

    /// Whether the budget is spent.
    fn exhausted(&self) -> bool;

    /// Journals a long strategy's progress: `log` (JSON: a supernet's α and
    /// losses after an epoch) as step `step`, and `state` as the strategy's
    /// checkpoint, in one commit, so that the log never runs ahead of the
    /// state a resumed run restarts from. A step written again replaces
    /// its row. Without a
    /// journal, nothing is kept; `Err(SearchStopped)` when the journal
    /// could not be written, and the search must stop.
    fn checkpoint(&mut self, step: u64, log: &str, state: &[u8]) -> Result<(), SearchStopped> {
        let _ = (step, log, state);
        Ok(())
    }

    /// The last checkpoint of this search, `(step, state)`, when it
    /// resumes one that had written any.
    fn last_checkpoint(&mut self) -> Option<(u64, Vec<u8>)> {
        None
    }
}

/// A search strategy over space `S`.
///
/// The plain protocol is ask/tell: [`Strategy::ask`] proposes, the runner
/// evaluates, [`Strategy::tell`] reports. A strategy that must run the loop
/// itself (training a supernet between evaluations, say) overrides
/// [`Strategy::drive`].
///
/// Strategies must be deterministic given their seed and the results they
/// are told: a resumed run replays them against the journal.
pub trait Strategy<S: SearchSpace>: Send {
    /// The strategy's kebab-case name.
    fn name(&self) -> &str;

    /// Proposes the next architecture, or `None` when the strategy has
    /// nothing more to propose (an exhausted enumeration).
    fn ask(&mut self, space: &S) -> Option<S::Arch>;

    /// Reports the outcome of an architecture this strategy proposed.
    fn tell(&mut self, space: &S, arch: &S::Arch, outcome: &Evaluation);

    /// Proposes up to `n` architectures to evaluate in parallel; by default
    /// `n` calls of [`Strategy::ask`].
    fn ask_batch(&mut self, space: &S, n: usize) -> Vec<S::Arch> {
        (0..n).map_while(|_| self.ask(space)).collect()
    }

    /// Why this strategy stopped proposing, when it failed rather than ran
    /// out of proposals (a plugin whose instance panicked). `None` by
    /// default.
    fn failure(&self) -> Option<String> {
        None
    }

    /// Runs the whole search against `evaluator` until the budget is spent
    /// or the strategy has nothing more to propose. The default is the
    /// sequential ask/evaluate/tell loop.
    fn drive(&mut self, space: &S, evaluator: &mut dyn Evaluator<S::Arch>) {
        while !evaluator.exhausted() {
            let Some(arch) = self.ask(space) else { break };
            match evaluator.evaluate(&arch) {
                Ok(outcome) => self.tell(space, &arch, &outcome),
                Err(SearchStopped) => break,
            }
        }
    }
}
