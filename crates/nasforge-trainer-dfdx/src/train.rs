//! Training and evaluation of image classifiers (the NAS-Bench-201
//! network), behind [`nasforge_core::Trainer`].

use std::sync::Arc;
use std::time::Instant;

use dfdx::prelude::*;
use nasforge_core::{EvalError, Metrics, SearchSpace, TrainBudget, TrainReport, Trainer, splitmix64};
use nasforge_datasets::{ImageSplits, Images};
use nasforge_engine::ops::{T2, T4};
use nasforge_engine::params::{Optimizer, OptimizerConfig, ParamStore};
use nasforge_space_darts::Genotype;
use nasforge_space_mobilenet::{MbNet, MobileNetSpace};
use nasforge_space_nb201::{Cell, Nb201Space};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::darts::DartsNet;
use crate::mobilenet::MobileNet;
use crate::nb201::{Nb201Net, Nb201Shape};

/// How to train an image classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageTrainConfig {
    /// The macro skeleton: NB201's C and cells per stage, DARTS' C and
    /// cells in all.
    pub shape: Nb201Shape,
    /// MobileNet's width multiplier.
    #[serde(default = "one")]
    pub width: f64,
    /// Images per step.
    pub batch_size: usize,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// Cosine-anneal the learning rate to 0 over the planned steps.
    pub cosine: bool,
    /// Bins of the expected calibration error.
    pub ece_bins: usize,
    /// A folder to keep every trained network's weights in, as
    /// [`weights_path`] names them (`save-weights`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_weights: Option<std::path::PathBuf>,
}

/// Where a network trained with seed `seed` keeps its weights in `dir`:
/// one safetensors file per trial, named by the trial's seed (which the
/// journal records), so that `export` finds a trial's weights.
pub fn weights_path(dir: &std::path::Path, seed: u64) -> std::path::PathBuf {
    dir.join(format!("{seed:016x}.safetensors"))
}

/// The metadata key of a saved network's architecture (its space's
/// standard string), which loading for that architecture checks.
pub const ARCH_META: &str = "arch";

/// The report of `t`, its weights first saved where `config` asks, with
/// `arch` (the standard string) as [`ARCH_META`]. A failed save fails the
/// trial, saying why: the weights were asked for.
fn kept<N: ImageClassifier>(mut t: Trained<N>, arch: &str, config: &ImageTrainConfig, seed: u64) -> Result<TrainReport, EvalError> {
    if let Some(dir) = &config.save_weights {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::Other(format!("save-weights: creating {}: {e}", dir.display())))?;
        t.net.store().save_with_meta(&weights_path(dir, seed), &[(ARCH_META, arch)]).map_err(|e| EvalError::Other(format!("save-weights: {e}")))?;
    }
    Ok(t.report)
}

impl Default for ImageTrainConfig {
    fn default() -> Self {
        Self {
            shape: Nb201Shape { channels: 16, cells: 1 },
            width: 1.0,
            batch_size: 128,
            optimizer: OptimizerConfig::Sgd { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5e-4 },
            cosine: true,
            ece_bins: 15,
            save_weights: None,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// Accuracy, loss and calibration of a classifier on one split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Expected calibration error (confidence = max softmax probability).
    pub ece: f64,
}

/// Accumulates predictions for [`Evaluation`].
struct Scorer {
    bins: Vec<(f64, f64, usize)>,
    correct: usize,
    loss: f64,
    n: usize,
}

impl Scorer {
    fn new(bins: usize) -> Self {
        Self { bins: vec![(0.0, 0.0, 0); bins.max(1)], correct: 0, loss: 0.0, n: 0 }
    }

    fn add(&mut self, logits: &[f32], label: usize) {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
        let (pred, _) = logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &l)| if l > b.1 { (i, l) } else { b });
        let confidence = 1.0 / z; // exp(max - max) / z
        self.loss += z.ln() - f64::from(logits[label] - max);
        let hit = pred == label;
        self.correct += usize::from(hit);
        let k = self.bins.len();
        let bin = ((confidence * k as f64) as usize).min(k - 1);
        let b = &mut self.bins[bin];
        b.0 += confidence;
        b.1 += f64::from(u8::from(hit));
        b.2 += 1;
        self.n += 1;
    }

    fn finish(&self) -> Evaluation {
        let n = self.n.max(1) as f64;
        let ece = self.bins.iter().filter(|b| b.2 > 0).map(|b| (b.0 - b.1).abs() / n).sum();
        Evaluation { accuracy: self.correct as f64 / n, loss: self.loss / n, ece }
    }
}

fn batch_tensor(dev: &Cpu, data: &Images, idx: &[usize]) -> T4<NoneTape> {
    let mut pixels = Vec::with_capacity(idx.len() * data.image_len());
    for &i in idx {
        pixels.extend_from_slice(data.image(i));
    }
    let (c, h, w) = data.shape;
    dev.tensor_from_vec(pixels, (idx.len(), c, h, w))
}

/// An image classifier the training loop drives: logits from a batch, and
/// the parameters it updates.
pub trait ImageClassifier {
    /// Logits `(batch, classes)` for images `x`; `train` uses batch
    /// statistics in batch norm and updates the running ones.
    fn forward<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool) -> T2<T>;

    /// Parameters and batch-norm statistics.
    fn store(&mut self) -> &mut ParamStore;
}

/// The logits `(batch, classes)`, row-major, of `net` in inference mode
/// (batch norm on its running statistics) for `batch` images of
/// `(C, H, W)` = `shape`, row-major in `pixels`.
pub fn infer(net: &mut impl ImageClassifier, pixels: Vec<f32>, batch: usize, (c, h, w): (usize, usize, usize)) -> Vec<f32> {
    let x: T4<NoneTape> = net.store().device().tensor_from_vec(pixels, (batch, c, h, w));
    net.forward(x, false).as_vec()
}

/// The names of `net`'s parameters that get no gradient from one training
/// forward pass on `x` (a loss quadratic in the logits: a linear one gives
/// none through a batch norm pooled straight into them).
#[cfg(test)]
pub(crate) fn parameters_without_gradient<N: ImageClassifier>(net: &mut N, x: T4<NoneTape>) -> Vec<String> {
    let grads = net.forward(x.leaky_trace(), true).square().sum().backward();
    let store = net.store();
    store.params.iter().zip(&store.meta).filter(|(p, _)| grads.get(*p).as_vec().iter().all(|&g| g == 0.0)).map(|(_, (name, _))| name.clone()).collect()
}

/// Evaluates `net` on `data` (batch-norm running statistics, no tape).
pub fn evaluate<N: ImageClassifier>(net: &mut N, data: &Images, bins: usize) -> Evaluation {
    let dev = net.store().device().clone();
    let mut scorer = Scorer::new(bins);
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(500) {
        let logits = net.forward(batch_tensor(&dev, data, chunk), false).as_vec();
        for (row, &i) in logits.chunks(data.classes).zip(chunk) {
            scorer.add(row, data.labels[i] as usize);
        }
    }
    scorer.finish()
}

/// Everything a training run produced, the network included.
pub struct Trained<N = Nb201Net> {
    /// The report the trainer trait returns.
    pub report: TrainReport,
    /// The trained network (for checkpoints).
    pub net: N,
    /// Validation figures.
    pub valid: Evaluation,
    /// Test figures.
    pub test: Evaluation,
}

/// Trains the NAS-Bench-201 network of `cell` on `data` within `budget`;
/// every random choice (initialisation, batch order) derives from `seed`.
/// `on_step(step, planned_steps, loss)` is called after each step.
pub fn train_nb201(
    cell: &Cell,
    data: &ImageSplits,
    config: &ImageTrainConfig,
    budget: &TrainBudget,
    seed: u64,
    on_step: &mut dyn FnMut(u64, Option<u64>, f64),
) -> Result<Trained, EvalError> {
    let net = Nb201Net::new(cell, config.shape, data.train.shape.0, data.train.classes, splitmix64(seed));
    train_classifier(net, data, config, budget, seed, on_step)
}

/// Trains the DARTS network of `arch` (C = `config.shape.channels`,
/// `config.shape.cells` cells in all) like [`train_nb201`].
pub fn train_darts(
    arch: &Genotype,
    data: &ImageSplits,
    config: &ImageTrainConfig,
    budget: &TrainBudget,
    seed: u64,
    on_step: &mut dyn FnMut(u64, Option<u64>, f64),
) -> Result<Trained<DartsNet>, EvalError> {
    let (c, layers) = (config.shape.channels, config.shape.cells);
    let net = DartsNet::new(arch, c, layers, data.train.shape.0, data.train.classes, splitmix64(seed));
    train_classifier(net, data, config, budget, seed, on_step)
}

/// Trains the MobileNet/MBConv network of `arch` (width multiplier
/// `config.width`) like [`train_nb201`].
pub fn train_mobilenet(
    arch: &MbNet,
    data: &ImageSplits,
    config: &ImageTrainConfig,
    budget: &TrainBudget,
    seed: u64,
    on_step: &mut dyn FnMut(u64, Option<u64>, f64),
) -> Result<Trained<MobileNet>, EvalError> {
    let space = MobileNetSpace { width: config.width, ..MobileNetSpace::default() };
    let net = MobileNet::new(arch, &space, data.train.shape.0, data.train.classes, splitmix64(seed));
    train_classifier(net, data, config, budget, seed, on_step)
}

/// The steps `budget` names: its `epochs` of `steps_per_epoch` steps or
/// its `steps`, the smaller; `None` when it names neither.
pub(crate) fn budget_steps(budget: &TrainBudget, steps_per_epoch: u64) -> Option<u64> {
    let epochs = budget.epochs.map(|e| u64::from(e) * steps_per_epoch);
    match (epochs, budget.steps) {
        (Some(e), Some(s)) => Some(e.min(s)),
        (one, other) => one.or(other),
    }
}

/// [`budget_steps`] for a loop that can also stop on time: a budget with
/// neither steps nor seconds is an error.
pub(crate) fn planned_steps(budget: &TrainBudget, steps_per_epoch: u64) -> Result<Option<u64>, EvalError> {
    let planned = budget_steps(budget, steps_per_epoch);
    if planned.is_none() && budget.seconds.is_none() {
        return Err(EvalError::Other("the training budget needs epochs, steps or seconds".into()));
    }
    Ok(planned)
}

/// The limits `budget` sets, for messages: `2 epochs, 100 steps, 0.5 s`,
/// `no limits` when it sets none.
pub(crate) fn describe_budget(budget: &TrainBudget) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let parts: Vec<String> = [
        budget.epochs.map(|e| plural(u64::from(e), "epoch", "epochs")),
        budget.steps.map(|s| plural(s, "step", "steps")),
        budget.seconds.map(|s| format!("{s} s")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() { "no limits".to_owned() } else { parts.join(", ") }
}

/// The error of a training loop that took no step within `budget`: an
/// untrained network's accuracy is its initialisation's, not a
/// measurement of the architecture, and it has no training loss.
pub(crate) fn nothing_trained(budget: &TrainBudget) -> EvalError {
    EvalError::Other(format!("the training budget ({}) ended before the first step: nothing was trained", describe_budget(budget)))
}

/// The training loop shared by every image network: seeded batch order,
/// optional cosine schedule, divergence as [`EvalError::Diverged`], then
/// validation and test figures.
pub fn train_classifier<N: ImageClassifier>(
    mut net: N,
    data: &ImageSplits,
    config: &ImageTrainConfig,
    budget: &TrainBudget,
    seed: u64,
    on_step: &mut dyn FnMut(u64, Option<u64>, f64),
) -> Result<Trained<N>, EvalError> {
    let start = Instant::now();
    let train = &data.train;
    if train.is_empty() || config.batch_size == 0 {
        return Err(EvalError::Other("no training data or a zero batch size".into()));
    }
    let mut optimizer = Optimizer::new(config.optimizer.clone());
    let dev = net.store().device().clone();
    let planned = planned_steps(budget, train.len().div_ceil(config.batch_size) as u64)?;
    let lr0 = config.optimizer.lr();
    let mut loss_curve = Vec::new();
    let mut step = 0u64;
    let mut epoch = 0u64;
    'epochs: loop {
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(splitmix64(seed ^ splitmix64(epoch + 1))));
        let (mut epoch_loss, mut batches) = (0.0, 0usize);
        for idx in order.chunks(config.batch_size) {
            if planned.is_some_and(|p| step >= p) || budget.seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s) {
                if batches > 0 {
                    loss_curve.push(epoch_loss / batches as f64);
                }
                break 'epochs;
            }
            let lr = match planned {
                Some(p) if config.cosine => 0.5 * lr0 * (1.0 + (std::f64::consts::PI * step as f64 / p as f64).cos()),
                _ => lr0,
            };
            let x = batch_tensor(&dev, train, idx);
            let mut onehot = vec![0.0f32; idx.len() * train.classes];
            for (r, &i) in idx.iter().enumerate() {
                onehot[r * train.classes + train.labels[i] as usize] = 1.0;
            }
            let targets = dev.tensor_from_vec(onehot, (idx.len(), train.classes));
            let logits = net.forward(x.leaky_trace(), true);
            let loss = cross_entropy_with_logits_loss(logits, targets);
            let loss_value = f64::from(loss.array());
            if !loss_value.is_finite() {
                return Err(EvalError::Diverged(format!("loss {loss_value} at step {step} (epoch {epoch})")));
            }
            let mut grads = loss.backward();
            optimizer.step(&mut net.store().params, &mut grads, lr).map_err(|e| EvalError::Other(e.to_string()))?;
            epoch_loss += loss_value;
            batches += 1;
            step += 1;
            on_step(step, planned, loss_value);
        }
        loss_curve.push(epoch_loss / batches.max(1) as f64);
        epoch += 1;
    }
    if step == 0 {
        return Err(nothing_trained(budget));
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let valid = evaluate(&mut net, &data.valid, config.ece_bins);
    let test = evaluate(&mut net, &data.test, config.ece_bins);
    let metrics = Metrics {
        valid: valid.accuracy,
        test: Some(test.accuracy),
        params_m: Some(net.store().count() as f64 / 1e6),
        cost_s: Some(train_seconds),
        extra: vec![
            ("valid_loss".into(), valid.loss),
            ("valid_ece".into(), valid.ece),
            ("test_ece".into(), test.ece),
            ("train_loss".into(), loss_curve.last().copied().expect("at least one step")),
        ],
        ..Metrics::default()
    };
    Ok(Trained { report: TrainReport { metrics, loss_curve, steps: step }, net, valid, test })
}

/// An architecture whose network the image training loop can build.
pub trait ImageArch: Sized {
    /// The trainer's name.
    const TRAINER: &'static str;

    /// Trains this architecture's network (see [`train_nb201`]).
    fn train_on(&self, data: &ImageSplits, config: &ImageTrainConfig, budget: &TrainBudget, seed: u64) -> Result<TrainReport, EvalError>;
}

impl ImageArch for Cell {
    const TRAINER: &'static str = "dfdx-nb201";

    fn train_on(&self, data: &ImageSplits, config: &ImageTrainConfig, budget: &TrainBudget, seed: u64) -> Result<TrainReport, EvalError> {
        train_nb201(self, data, config, budget, seed, &mut |_, _, _| {}).and_then(|t| kept(t, &Nb201Space.format(self), config, seed))
    }
}

impl ImageArch for Genotype {
    const TRAINER: &'static str = "dfdx-darts";

    fn train_on(&self, data: &ImageSplits, config: &ImageTrainConfig, budget: &TrainBudget, seed: u64) -> Result<TrainReport, EvalError> {
        train_darts(self, data, config, budget, seed, &mut |_, _, _| {}).and_then(|t| kept(t, &nasforge_space_darts::DartsSpace.format(self), config, seed))
    }
}

impl ImageArch for MbNet {
    const TRAINER: &'static str = "dfdx-mobilenet";

    fn train_on(&self, data: &ImageSplits, config: &ImageTrainConfig, budget: &TrainBudget, seed: u64) -> Result<TrainReport, EvalError> {
        train_mobilenet(self, data, config, budget, seed, &mut |_, _, _| {}).and_then(|t| kept(t, &MobileNetSpace::default().format(self), config, seed))
    }
}

/// Trains one space's architectures on one image dataset.
pub struct ImageTrainer<A> {
    data: Arc<ImageSplits>,
    config: ImageTrainConfig,
    arch: std::marker::PhantomData<fn(&A)>,
}

impl<A> ImageTrainer<A> {
    /// A trainer over `data` with `config`.
    pub fn new(data: Arc<ImageSplits>, config: ImageTrainConfig) -> Self {
        Self { data, config, arch: std::marker::PhantomData }
    }
}

impl<A: ImageArch> Trainer<A> for ImageTrainer<A> {
    fn name(&self) -> &str {
        A::TRAINER
    }

    fn train(&mut self, arch: &A, budget: &TrainBudget, seed: u64) -> Result<TrainReport, EvalError> {
        arch.train_on(&self.data, &self.config, budget, seed)
    }
}

/// Trains NAS-Bench-201 cells.
pub type Nb201Trainer = ImageTrainer<Cell>;
/// Trains DARTS genotypes (C = `shape.channels`, `shape.cells` cells).
pub type DartsTrainer = ImageTrainer<Genotype>;
/// Trains MobileNet/MBConv architectures (width multiplier `width`).
pub type MobileNetTrainer = ImageTrainer<MbNet>;

#[cfg(test)]
mod tests {
    use nasforge_space_nb201::Op;

    use super::*;

    fn quick() -> ImageTrainConfig {
        ImageTrainConfig { shape: Nb201Shape { channels: 4, cells: 1 }, batch_size: 32, ..ImageTrainConfig::default() }
    }

    #[test]
    fn same_seed_same_loss_curve_and_digits_are_learned() {
        let data = nasforge_datasets::digits(0);
        let budget = TrainBudget { epochs: Some(3), ..TrainBudget::default() };
        let cell = Cell::uniform(Op::NorConv3x3);
        let a = train_nb201(&cell, &data, &quick(), &budget, 5, &mut |_, _, _| {}).unwrap();
        let b = train_nb201(&cell, &data, &quick(), &budget, 5, &mut |_, _, _| {}).unwrap();
        assert_eq!(a.report.loss_curve, b.report.loss_curve);
        let without_time = |m: &Metrics| Metrics { cost_s: None, ..m.clone() };
        assert_eq!(without_time(&a.report.metrics), without_time(&b.report.metrics));
        assert!(a.test.accuracy > 0.8, "{:?}", a.test);
        let c = train_nb201(&cell, &data, &quick(), &budget, 6, &mut |_, _, _| {}).unwrap();
        assert_ne!(a.report.loss_curve, c.report.loss_curve);
    }

    #[test]
    fn darts_networks_learn_digits_and_repeat_with_the_seed() {
        use nasforge_space_darts::DartsSpace;
        let data = nasforge_datasets::digits(0);
        let budget = TrainBudget { epochs: Some(3), ..TrainBudget::default() };
        let config = ImageTrainConfig { shape: Nb201Shape { channels: 4, cells: 3 }, batch_size: 32, ..ImageTrainConfig::default() };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let arch = DartsSpace.sample(&mut rng);
        let a = train_darts(&arch, &data, &config, &budget, 5, &mut |_, _, _| {}).unwrap();
        let b = train_darts(&arch, &data, &config, &budget, 5, &mut |_, _, _| {}).unwrap();
        assert_eq!(a.report.loss_curve, b.report.loss_curve);
        assert!(a.test.accuracy > 0.8, "{arch}: {:?}", a.test);
    }

    #[test]
    fn mobilenets_learn_digits() {
        let data = nasforge_datasets::digits(0);
        let budget = TrainBudget { epochs: Some(6), ..TrainBudget::default() };
        // lr 0.1 diverges here (the 1,280-feature classifier at batch 32).
        let optimizer = OptimizerConfig::Sgd { lr: 0.02, momentum: 0.9, nesterov: true, weight_decay: 5e-4 };
        let config = ImageTrainConfig { width: 0.35, batch_size: 32, optimizer, ..ImageTrainConfig::default() };
        let space = MobileNetSpace { width: 0.35, ..MobileNetSpace::default() };
        let arch = space.parse("e3k3|e3k5|e4k3|e6k7|e3k3|e6k5").unwrap();
        let t = train_mobilenet(&arch, &data, &config, &budget, 5, &mut |_, _, _| {}).unwrap();
        assert!(t.test.accuracy > 0.8, "{:?}", t.test);
    }

    #[test]
    fn budgets_name_steps_or_time() {
        let b = |epochs, steps, seconds| TrainBudget { epochs, steps, seconds };
        assert_eq!(budget_steps(&b(Some(2), None, None), 10), Some(20));
        assert_eq!(budget_steps(&b(Some(2), Some(15), None), 10), Some(15));
        assert_eq!(budget_steps(&b(None, Some(7), None), 10), Some(7));
        assert_eq!(planned_steps(&b(None, None, Some(1.0)), 10).unwrap(), None);
        assert!(planned_steps(&b(None, None, None), 10).is_err());
    }

    #[test]
    fn a_budget_that_ends_before_the_first_step_is_an_error_naming_the_budget() {
        let b = |epochs, steps, seconds| TrainBudget { epochs, steps, seconds };
        assert_eq!(describe_budget(&b(Some(2), Some(1), Some(0.5))), "2 epochs, 1 step, 0.5 s");
        assert_eq!(describe_budget(&b(Some(1), None, None)), "1 epoch");
        assert_eq!(describe_budget(&b(None, Some(0), None)), "0 steps");
        assert_eq!(describe_budget(&b(None, None, None)), "no limits");
        let data = nasforge_datasets::digits(0);
        let cell = Cell::uniform(Op::NorConv1x1);
        for (budget, expect) in [
            (b(None, Some(0), None), "the training budget (0 steps) ended before the first step: nothing was trained"),
            (b(Some(0), None, None), "the training budget (0 epochs) ended before the first step: nothing was trained"),
            (b(None, None, Some(1e-9)), "the training budget (0.000000001 s) ended before the first step: nothing was trained"),
        ] {
            match train_nb201(&cell, &data, &quick(), &budget, 1, &mut |_, _, _| {}) {
                Err(EvalError::Other(m)) => assert_eq!(m, expect),
                other => panic!("{budget:?}: {:?}", other.map(|t| t.report)),
            }
        }
    }

    #[test]
    fn the_zero_cell_stays_at_chance() {
        let data = nasforge_datasets::digits(0);
        let budget = TrainBudget { epochs: Some(2), ..TrainBudget::default() };
        let t = train_nb201(&Cell::uniform(Op::None), &data, &quick(), &budget, 1, &mut |_, _, _| {}).unwrap();
        assert!(t.test.accuracy < 0.2, "{:?}", t.test);
    }

    #[test]
    fn divergence_is_a_typed_failure() {
        let data = nasforge_datasets::digits(0);
        let mut config = quick();
        // Large enough that the classifier's logits overflow f32.
        config.optimizer = OptimizerConfig::Sgd { lr: 1e38, momentum: 0.9, nesterov: false, weight_decay: 0.0 };
        config.cosine = false;
        let budget = TrainBudget { steps: Some(50), ..TrainBudget::default() };
        let err = train_nb201(&Cell::uniform(Op::NorConv3x3), &data, &config, &budget, 1, &mut |_, _, _| {}).err();
        assert!(matches!(err, Some(EvalError::Diverged(_))), "{err:?}");
    }

    #[test]
    fn checkpoints_round_trip() {
        let data = nasforge_datasets::digits(0);
        let budget = TrainBudget { steps: Some(5), ..TrainBudget::default() };
        let cell = Cell::uniform(Op::NorConv1x1);
        let mut t = train_nb201(&cell, &data, &quick(), &budget, 2, &mut |_, _, _| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net.safetensors");
        t.net.store.save(&path).unwrap();
        let mut fresh = Nb201Net::new(&cell, quick().shape, 1, 10, 99);
        fresh.store.load(&path).unwrap();
        assert_eq!(evaluate(&mut fresh, &data.test, 15), evaluate(&mut t.net, &data.test, 15));
        let mut other = Nb201Net::new(&Cell::uniform(Op::NorConv3x3), quick().shape, 1, 10, 0);
        assert!(other.store.load(&path).is_err());
    }

    #[test]
    fn ece_of_perfectly_calibrated_and_overconfident_predictions() {
        let mut s = Scorer::new(10);
        // Confident and right: confidence ≈ 1, accuracy 1, ECE ≈ 0.
        s.add(&[20.0, 0.0], 0);
        assert!(s.finish().ece < 1e-6);
        let mut s = Scorer::new(10);
        // Confident and wrong: ECE ≈ 1.
        s.add(&[20.0, 0.0], 1);
        assert!((s.finish().ece - 1.0).abs() < 1e-6);
    }
}
