//! What a one-shot search does, as checked settings: how the supernet is
//! trained (the method), how a cell is chosen from it (the selection),
//! and the settings every method shares.

use crate::train::Optimisers;

/// How the supernet trains.
#[derive(Clone, Debug, PartialEq)]
pub enum Method {
    /// DARTS (Liu et al., ICLR 2019): every candidate weighed by softmax(α);
    /// first order (on NB201 as its reference's DARTS-V1: weights, then α
    /// on the other half; on the DARTS space as Liu et al.'s
    /// `train_search.py`: α, then the weights) or second order (DARTS-V2:
    /// α through the unrolled weight step, then the weights).
    Darts {
        /// The unrolled step with the finite-difference Hessian-vector product.
        second_order: bool,
    },
    /// GDAS (Dong & Yang, CVPR 2019): one Gumbel-softmax sample per edge
    /// and forward pass, only the sampled candidate computed, τ annealed
    /// linearly per epoch from `tau_max` to `tau_min`.
    Gdas {
        /// τ of the first epoch (10).
        tau_max: f64,
        /// τ of the last epoch (0.1).
        tau_min: f64,
    },
    /// RARTS (Xue, Qi & Xin, IEEE Access 2022): a relaxed single-level
    /// problem with two weight sets sharing α, `w` on the weights' half
    /// and `y` on α's, coupled by a penalty: minimise
    /// `L_val(y, α) + λ·L_train(w, α) + β/2·‖w − y‖²` by Gauss-Seidel
    /// steps, first `w`, then `y` (at the new `w`), then α on both losses
    /// (at the new `w` and `y`), every gradient first order.
    ///
    /// Only the paper's abstract was readable here (no reference code is
    /// public): the two networks, the data split, α shared and the
    /// Gauss-Seidel order are its; the objective's exact form, λ and β
    /// (1 and 1 by default), `y` starting as a copy of `w`, and the
    /// penalty's gradient clipped together with the loss' (DARTS' norm
    /// clip of 5 on each weight set's whole step) are ours.
    Rarts {
        /// λ, the training loss' weight in the objective.
        lambda: f64,
        /// β, the penalty coupling the two weight sets.
        beta: f64,
    },
    /// Weight sharing with a uniformly random path per step and no α
    /// (RSPS, Li & Talwalkar 2019; SPOS, Guo et al. 2020).
    UniformPaths,
    /// DARTS' mixed edges with α fixed at its initial, nearly uniform
    /// value: DARTS-PT's supernet without architecture training.
    FixedAlpha,
}

/// How the cell is chosen from the trained supernet.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    /// The largest α on each edge (DARTS, GDAS).
    Magnitude,
    /// RSPS' `search_find_best`: `candidates` uniform cells, each scored
    /// by the supernet's accuracy on one batch of α's half; the best wins.
    Sampled {
        /// Cells sampled (100).
        candidates: usize,
    },
    /// SPOS' evolutionary search on supernet accuracy.
    Evolution(EvolutionConfig),
    /// DARTS-PT's perturbation-based selection (Wang et al., ICLR 2021).
    Perturbation(PerturbationConfig),
}

/// SPOS' evolutionary search (Guo et al.; the reference's `search.py`).
#[derive(Clone, Debug, PartialEq)]
pub struct EvolutionConfig {
    /// Population (50).
    pub population: usize,
    /// Generations (20).
    pub generations: usize,
    /// Parents kept per generation (10).
    pub parents: usize,
    /// Per-edge mutation probability (0.1).
    pub mutation_prob: f64,
    /// Batches of α's half each candidate is scored on (4).
    pub score_batches: usize,
}

/// DARTS-PT's selection.
#[derive(Clone, Debug, PartialEq)]
pub struct PerturbationConfig {
    /// Epochs of weight fine-tuning after each edge's decision (1).
    pub finetune_epochs: usize,
    /// Batches of α's half each masked supernet is scored on (10).
    pub score_batches: usize,
}

/// The dominant-eigenvalue tracker (RobustDARTS, Zela et al., ICLR 2020).
#[derive(Clone, Debug, PartialEq)]
pub struct HessianConfig {
    /// Power-iteration steps per epoch (20). RobustDARTS decomposes the
    /// dense Hessian instead, which its DARTS-space α (2 × 14 × 8) allows.
    pub iterations: usize,
    /// Batches of α's half the validation loss is taken on (1, as the
    /// reference's last validation batch of the epoch).
    pub batches: usize,
    /// Stop the search when the eigenvalue rises.
    pub early_stop: Option<EarlyStop>,
}

/// RobustDARTS' early-stopping rule: with `la` the eigenvalues' local
/// averages over `window` epochs, stop when `la[now] / la[now − delta] >
/// factor`, checked from epoch `start` on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStop {
    /// Epochs averaged (5).
    pub window: usize,
    /// Averages apart (4).
    pub delta: usize,
    /// The rise that stops (1.3).
    pub factor: f64,
    /// The first epoch checked (10).
    pub start: usize,
}

/// SD-DARTS' self-distillation (Zhu et al., "Improving Differentiable
/// Architecture Search via Self-Distillation", Neural Networks 2023):
/// the supernets of the previous `teachers` steps are kept, and the
/// weight step's loss adds the divergence of the student's softened
/// prediction from their vote.
///
/// Only the paper's abstract was readable here (no reference code is
/// public): teachers from previous steps and their output probabilities
/// aggregated by voting are its; the vote as the mean of the teachers'
/// probabilities, the Hinton-style term `weight · τ² · KL(vote ‖
/// softmax(z/τ))` on the weight step only (its gradient clipped together
/// with the labels', DARTS' norm clip of 5 on the whole step), and the
/// defaults (2 teachers, τ = 2, weight 1) are ours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distillation {
    /// Previous steps' supernets kept as teachers (2).
    pub teachers: usize,
    /// The softening temperature τ (2).
    pub temperature: f64,
    /// The distillation term's weight (1).
    pub weight: f64,
}

/// A checked one-shot search.
#[derive(Clone, Debug, PartialEq)]
pub struct OneShotConfig {
    /// How the supernet trains.
    pub method: Method,
    /// How the cell is chosen.
    pub selection: Selection,
    /// Channels of the first stage (16 in the NB201 search).
    pub channels: usize,
    /// NAS-Bench-201: cells per stage (5 in its search); DARTS: cells in
    /// all (8 in its search); the supernet's default when `None`.
    pub cells: Option<usize>,
    /// sharpDARTS' SharpSepConv for the DARTS supernet's dilated candidates.
    pub sharp_sep_conv: bool,
    /// Epochs of supernet training.
    pub epochs: usize,
    /// Images per batch (64).
    pub batch_size: usize,
    /// The optimisers.
    pub optimisers: Optimisers,
    /// SD-DARTS' self-distillation of the weight step.
    pub distillation: Option<Distillation>,
    /// Track the Hessian's dominant eigenvalue each epoch.
    pub hessian: Option<HessianConfig>,
    /// Uniform cells whose supernet accuracy is journaled after training,
    /// for the supernet's ranking against a table (0: none).
    pub ranking_sample: usize,
    /// Batches of α's half each ranked cell is scored on (4).
    pub ranking_batches: usize,
}
