//! The transformer encoder of `nasforge_space_transformer`, trained as a
//! causal character-level language model (tiny-Shakespeare, say).
//!
//! Token and position embeddings with layer norm; per layer an optional
//! projection to the layer's width (where consecutive widths differ), then
//! post-norm self-attention (Q, K, V and output projections, a causal
//! mask, so the encoder predicts the next character) and a GELU
//! feed-forward block; a linear head over the vocabulary closes it. Its
//! parameter count is the space's (vocabulary = the text's characters,
//! positions = the sequence length, no segments) plus the head's (tested).
//!
//! Metrics: next-character accuracy on fixed windows of the validation
//! (`valid`) and test (`test`) text, and validation bits per character.

use std::sync::Arc;
use std::time::Instant;

use dfdx::prelude::*;
use nasforge_core::{EvalError, Metrics, TrainBudget, TrainReport, Trainer, splitmix64};
use nasforge_datasets::CharText;
use nasforge_engine::ops::{T2, layer_norm, select_rows, values};
use nasforge_engine::params::{Dense, Optimizer, OptimizerConfig, ParamStore};
use nasforge_space_transformer::{Encoder, Layer as Choice};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Layer norm's ε (BERT's).
const LN_EPS: f64 = 1e-12;

#[derive(Clone, Copy, Debug)]
struct Norm {
    gamma: usize,
    beta: usize,
}

#[derive(Clone, Debug)]
struct Block {
    proj: Option<Dense>,
    heads: usize,
    q: Dense,
    k: Dense,
    v: Dense,
    o: Dense,
    norm1: Norm,
    ff1: Dense,
    ff2: Dense,
    norm2: Norm,
}

/// A transformer language model with its parameters.
pub struct TransformerNet {
    /// Parameters.
    pub store: ParamStore,
    tokens: usize,
    positions: usize,
    norm: Norm,
    blocks: Vec<Block>,
    head: Dense,
    vocab: usize,
    seq: usize,
    width: usize,
}

struct Builder<'a> {
    store: &'a mut ParamStore,
    rng: ChaCha8Rng,
}

impl Builder<'_> {
    /// BERT's initialisation: N(0, 0.02²), here its uniform equivalent
    /// (same variance), biases zero.
    fn lin(&mut self, name: &str, inp: usize, out: usize) -> Dense {
        self.store.dense(name, inp, out, 0.02 * 3f32.sqrt(), &mut self.rng)
    }

    fn norm(&mut self, name: &str, width: usize) -> Norm {
        Norm { gamma: self.store.constant(&format!("{name}.gamma"), &[width], 1.0), beta: self.store.constant(&format!("{name}.beta"), &[width], 0.0) }
    }
}

impl TransformerNet {
    /// The network of `arch` over `vocab` characters and windows of `seq`.
    pub fn new(arch: &Encoder, vocab: usize, seq: usize, seed: u64) -> Self {
        let mut store = ParamStore::new(Cpu::default());
        let mut b = Builder { store: &mut store, rng: ChaCha8Rng::seed_from_u64(seed) };
        let h0 = arch.first().map_or(128, |l| l.hidden as usize);
        let bound = 0.02 * 3f32.sqrt();
        let tokens = b.store.uniform("embed.tokens", &[vocab, h0], bound, &mut b.rng);
        let positions = b.store.uniform("embed.positions", &[seq, h0], bound, &mut b.rng);
        let norm = b.norm("embed.norm", h0);
        let mut prev = h0;
        let blocks = arch
            .iter()
            .enumerate()
            .map(|(i, &Choice { hidden, heads, ffn })| {
                let (h, f) = (hidden as usize, ffn as usize);
                let name = format!("layer{i}");
                let proj = (h != prev).then(|| b.lin(&format!("{name}.proj"), prev, h));
                prev = h;
                Block {
                    proj,
                    heads: heads as usize,
                    q: b.lin(&format!("{name}.q"), h, h),
                    k: b.lin(&format!("{name}.k"), h, h),
                    v: b.lin(&format!("{name}.v"), h, h),
                    o: b.lin(&format!("{name}.o"), h, h),
                    norm1: b.norm(&format!("{name}.norm1"), h),
                    ff1: b.lin(&format!("{name}.ff1"), h, f),
                    ff2: b.lin(&format!("{name}.ff2"), f, h),
                    norm2: b.norm(&format!("{name}.norm2"), h),
                }
            })
            .collect();
        let head = b.lin("head", prev, vocab);
        Self { store, tokens, positions, norm, blocks, head, vocab, seq, width: h0 }
    }

    /// Next-token logits `(batch·seq, vocab)` for `ids` (`batch` windows of
    /// `seq` tokens, row-major).
    pub fn forward<T: Tape<f32, Cpu> + Merge<T>>(&self, ids: &Arc<Vec<u32>>, tape: T) -> T2<T> {
        self.forward_plus(ids, tape, None)
    }

    /// [`TransformerNet::forward`] with `extra` `(batch·seq, width)` added
    /// to the token embeddings: a continuous input whose gradient is the
    /// network's Jacobian with respect to its embedded tokens (zero-cost
    /// proxies take it as the input gradient).
    pub fn forward_plus<T: Tape<f32, Cpu> + Merge<T>>(&self, ids: &Arc<Vec<u32>>, tape: T, extra: Option<T2<T>>) -> T2<T> {
        let p = &self.store.params;
        let (n, s) = (ids.len(), self.seq);
        let batch = n / s;
        let table = |i: usize, rows: usize| p[i].clone().put_tape(T::default()).reshape_like(&(rows, self.width));
        let tok = select_rows(table(self.tokens, self.vocab), ids);
        let pos_ids = Arc::new((0..n).map(|i| (i % s) as u32).collect::<Vec<u32>>());
        let pos = select_rows(table(self.positions, s), &pos_ids);
        let (tok, t0) = tok.split_tape();
        let mut tok = tok.put_tape(t0.merge(tape));
        if let Some(extra) = extra {
            tok = tok + extra;
        }
        let mut x = layer_norm(tok + pos, &p[self.norm.gamma], &p[self.norm.beta], LN_EPS);
        // Causal: position i attends to positions ≤ i.
        let mask: Tensor<(usize, usize), f32, Cpu> =
            self.store.device().tensor_from_vec((0..s * s).map(|q| if q % s <= q / s { 0.0 } else { -1e9 }).collect(), (s, s));
        let apply = |x: T2<T>, l: &Dense| l.apply(&self.store, x);
        for blk in &self.blocks {
            if let Some(proj) = &blk.proj {
                x = apply(x, proj);
            }
            let h = x.shape().1;
            let (heads, d) = (blk.heads, h / blk.heads);
            let split = |t: T2<T>| t.reshape_like(&(batch, s, heads, d)).permute::<_, Axes4<0, 2, 1, 3>>();
            let q = split(apply(x.with_empty_tape(), &blk.q));
            let k = split(apply(x.with_empty_tape(), &blk.k)).permute::<_, Axes4<0, 1, 3, 2>>();
            let v = split(apply(x.with_empty_tape(), &blk.v));
            // A broadcast view: the mask is not copied per window and head.
            let mask = mask.clone().broadcast_like::<_, Axes2<0, 1>>(&(batch, heads, s, s));
            let scores = q.matmul(k) * (1.0 / (d as f32).sqrt()) + mask;
            let context = scores.softmax::<Axis<3>>().matmul(v).permute::<_, Axes4<0, 2, 1, 3>>().reshape_like(&(n, h));
            let attended = apply(context, &blk.o);
            x = layer_norm(x + attended, &p[blk.norm1.gamma], &p[blk.norm1.beta], LN_EPS);
            let hidden = apply(x.with_empty_tape(), &blk.ff1).accurate_gelu();
            nasforge_engine::probe::keep("ffn", &hidden);
            let y = apply(hidden, &blk.ff2);
            x = layer_norm(x + y, &p[blk.norm2.gamma], &p[blk.norm2.beta], LN_EPS);
        }
        nasforge_engine::probe::keep("hidden", &x);
        apply(x, &self.head)
    }

    /// Width of the token embeddings.
    pub fn width(&self) -> usize {
        self.width
    }
}

/// How to train a language model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmTrainConfig {
    /// Tokens per window.
    pub seq: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// Validation and test windows (fixed, evenly spaced).
    pub eval_windows: usize,
}

impl Default for LmTrainConfig {
    fn default() -> Self {
        Self { seq: 64, batch_size: 16, optimizer: OptimizerConfig::Adam { lr: 1e-3, weight_decay: 0.0 }, eval_windows: 64 }
    }
}

/// Checks that every split of `text` holds the windows training and
/// evaluation take from it, so that a short text is an error naming its
/// file before any training (windows past a split's end would index out
/// of it). Training draws windows of `seq + 1` tokens at random starts
/// (it needs `seq + 2` tokens); validation and test read at least one
/// such window each.
pub fn check_text(text: &CharText, seq: usize) -> Result<(), EvalError> {
    if seq == 0 {
        return Err(EvalError::Other("seq-len must be at least 1".into()));
    }
    let file = text.path.as_ref().map_or_else(|| "the text".to_owned(), |p| p.display().to_string());
    for (split, len, need, what) in [
        ("training", text.train.len(), seq.saturating_add(2), "seq-len + 2"),
        ("validation", text.valid.len(), seq.saturating_add(1), "seq-len + 1"),
        ("test", text.test.len(), seq.saturating_add(1), "seq-len + 1"),
    ] {
        if len < need {
            return Err(EvalError::Other(format!("{file}: {split} split has {len} characters, fewer than {what} = {need}")));
        }
    }
    Ok(())
}

/// `count` windows of `seq + 1` tokens spread evenly over `text`: inputs
/// and next-token targets. `text` holds at least one window ([`check_text`]).
fn eval_windows(text: &[u16], seq: usize, count: usize) -> Vec<usize> {
    let span = text.len().saturating_sub(seq + 1);
    (0..count).map(|i| i * span / count.max(1)).collect()
}

/// Inputs and one-hot targets for windows starting at `starts`.
fn batch(text: &[u16], starts: &[usize], seq: usize, vocab: usize, dev: &Cpu) -> (Arc<Vec<u32>>, T2<NoneTape>) {
    let mut ids = Vec::with_capacity(starts.len() * seq);
    let mut onehot = vec![0.0f32; starts.len() * seq * vocab];
    for &s in starts {
        for t in 0..seq {
            onehot[ids.len() * vocab + usize::from(text[s + t + 1])] = 1.0;
            ids.push(u32::from(text[s + t]));
        }
    }
    (Arc::new(ids), dev.tensor_from_vec(onehot, (starts.len() * seq, vocab)))
}

/// Next-character accuracy and mean loss (nats) on `text`'s windows.
fn evaluate(net: &TransformerNet, text: &[u16], config: &LmTrainConfig) -> (f64, f64) {
    let dev = net.store.device().clone();
    let (mut hits, mut loss, mut count) = (0usize, 0.0f64, 0usize);
    for starts in eval_windows(text, config.seq, config.eval_windows).chunks(config.batch_size.max(1)) {
        let (ids, targets) = batch(text, starts, config.seq, net.vocab, &dev);
        let logits = values(&net.forward(&ids, NoneTape));
        let t = values(&targets);
        for (row, target) in logits.chunks(net.vocab).zip(t.chunks(net.vocab)) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let z: f64 = row.iter().map(|&l| f64::from(l - max).exp()).sum();
            let label = target.iter().position(|&v| v == 1.0).expect("one-hot");
            let pred = row.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &l)| if l > b.1 { (i, l) } else { b }).0;
            hits += usize::from(pred == label);
            loss += z.ln() - f64::from(row[label] - max);
            count += 1;
        }
    }
    (hits as f64 / count.max(1) as f64, loss / count.max(1) as f64)
}

/// Trains the language model of `arch` on `text` within `budget` (steps,
/// or epochs of `train.len() / (batch·seq)` steps, or seconds); windows
/// are drawn from `seed`.
pub fn train_lm(arch: &Encoder, text: &CharText, config: &LmTrainConfig, budget: &TrainBudget, seed: u64) -> Result<TrainReport, EvalError> {
    let start = Instant::now();
    let (seq, vocab) = (config.seq, text.vocab.len());
    check_text(text, seq)?;
    // No evaluation windows would report an accuracy of 0 as if measured.
    if config.batch_size == 0 || config.eval_windows == 0 {
        return Err(EvalError::Other(format!("batch size {} and eval windows {} must both be at least 1", config.batch_size, config.eval_windows)));
    }
    let planned = crate::train::planned_steps(budget, (text.train.len() / seq.saturating_mul(config.batch_size)).max(1) as u64)?;
    let mut net = TransformerNet::new(arch, vocab, seq, splitmix64(seed));
    let dev = net.store.device().clone();
    let mut optimizer = Optimizer::new(config.optimizer.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(seed ^ 0x5eed));
    let (mut step, mut losses) = (0u64, Vec::new());
    while planned.is_none_or(|p| step < p) && budget.seconds.is_none_or(|s| start.elapsed().as_secs_f64() < s) {
        let starts: Vec<usize> = (0..config.batch_size).map(|_| rng.random_range(0..text.train.len() - seq - 1)).collect();
        let (ids, targets) = batch(&text.train, &starts, seq, vocab, &dev);
        let loss = cross_entropy_with_logits_loss(net.forward(&ids, OwnedTape::default()), targets);
        let value = f64::from(loss.array());
        if !value.is_finite() {
            return Err(EvalError::Diverged(format!("loss {value} at step {step}")));
        }
        let mut grads = loss.backward();
        optimizer.step(&mut net.store.params, &mut grads, config.optimizer.lr()).map_err(|e| EvalError::Other(format!("{e:?}")))?;
        losses.push(value);
        step += 1;
    }
    if step == 0 {
        return Err(crate::train::nothing_trained(budget));
    }
    let cost_s = start.elapsed().as_secs_f64();
    let (valid, valid_loss) = evaluate(&net, &text.valid, config);
    let (test, _) = evaluate(&net, &text.test, config);
    let metrics = Metrics {
        valid,
        test: Some(test),
        params_m: Some(net.store.count() as f64 / 1e6),
        cost_s: Some(cost_s),
        extra: vec![("valid_loss".into(), valid_loss), ("valid_bpc".into(), valid_loss / std::f64::consts::LN_2)],
        ..Metrics::default()
    };
    Ok(TrainReport { metrics, loss_curve: losses, steps: step })
}

/// Trains transformer encoders as character language models on one text.
pub struct TransformerTrainer {
    text: Arc<CharText>,
    config: LmTrainConfig,
}

impl TransformerTrainer {
    /// A trainer over `text` with `config`.
    pub fn new(text: Arc<CharText>, config: LmTrainConfig) -> Self {
        Self { text, config }
    }
}

impl Trainer<Encoder> for TransformerTrainer {
    fn name(&self) -> &str {
        "dfdx-transformer-lm"
    }

    fn train(&mut self, arch: &Encoder, budget: &TrainBudget, seed: u64) -> Result<TrainReport, EvalError> {
        train_lm(arch, &self.text, &self.config, budget, seed)
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;
    use nasforge_space_transformer::TransformerSpace;

    use super::*;

    fn shakespeare() -> CharText {
        nasforge_datasets::char_text(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/text/tinyshakespeare.txt")).unwrap()
    }

    #[test]
    fn the_parameter_count_is_the_spaces_plus_the_head() {
        let space = TransformerSpace { vocab: 65, positions: 32, segments: 0, seq_len: 32 };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..3 {
            let mut arch = space.sample(&mut rng);
            arch.truncate(3);
            let net = TransformerNet::new(&arch, 65, 32, 0);
            let last = arch.last().unwrap().hidden as u64;
            assert_eq!(net.store.count() as u64, space.cost(&arch).params + last * 65 + 65, "{}", space.format(&arch));
        }
    }

    #[test]
    fn texts_too_short_for_their_windows_are_errors_not_panics() {
        let arch = TransformerSpace::default().parse("h128a4f512").unwrap();
        let config = LmTrainConfig { seq: 8, eval_windows: 4, batch_size: 2, ..LmTrainConfig::default() };
        let budget = TrainBudget { steps: Some(1), ..TrainBudget::default() };
        let text = |train: usize, valid: usize, test: usize| CharText {
            vocab: vec!['a', 'b'],
            train: (0..train).map(|i| (i % 2) as u16).collect(),
            valid: vec![1; valid],
            test: vec![0; test],
            path: Some("corpus/short.txt".into()),
        };
        for (t, expect) in [
            (text(9, 9, 9), "corpus/short.txt: training split has 9 characters, fewer than seq-len + 2 = 10"),
            (text(10, 8, 9), "corpus/short.txt: validation split has 8 characters, fewer than seq-len + 1 = 9"),
            (text(10, 9, 0), "corpus/short.txt: test split has 0 characters, fewer than seq-len + 1 = 9"),
        ] {
            let err = train_lm(&arch, &t, &config, &budget, 0).unwrap_err().to_string();
            assert_eq!(err, expect);
        }
        let unnamed = CharText { path: None, ..text(10, 0, 9) };
        let err = check_text(&unnamed, 8).unwrap_err().to_string();
        assert_eq!(err, "the text: validation split has 0 characters, fewer than seq-len + 1 = 9");
        assert!(check_text(&text(10, 9, 9), 0).is_err());
        let none = LmTrainConfig { eval_windows: 0, ..config.clone() };
        assert!(train_lm(&arch, &text(10, 9, 9), &none, &budget, 0).unwrap_err().to_string().contains("eval windows 0"));
        // Exactly one window in each split is enough.
        let report = train_lm(&arch, &text(10, 9, 9), &config, &budget, 0).unwrap();
        assert_eq!(report.steps, 1);
    }

    #[test]
    fn a_budget_that_ends_before_the_first_step_is_an_error_not_untrained_metrics() {
        let arch = TransformerSpace::default().parse("h128a4f512").unwrap();
        let config = LmTrainConfig { seq: 8, eval_windows: 4, batch_size: 2, ..LmTrainConfig::default() };
        let text = CharText { vocab: vec!['a', 'b'], train: (0..64).map(|i| (i % 2) as u16).collect(), valid: vec![1; 16], test: vec![0; 16], path: None };
        for (budget, expect) in [
            (TrainBudget { seconds: Some(1e-9), ..TrainBudget::default() }, "0.000000001 s"),
            (TrainBudget { steps: Some(0), seconds: Some(60.0), ..TrainBudget::default() }, "0 steps, 60 s"),
            (TrainBudget { epochs: Some(0), ..TrainBudget::default() }, "0 epochs"),
        ] {
            match train_lm(&arch, &text, &config, &budget, 0) {
                Err(EvalError::Other(m)) => {
                    assert_eq!(m, format!("the training budget ({expect}) ended before the first step: nothing was trained"));
                }
                other => panic!("{budget:?}: {other:?}"),
            }
        }
        let report = train_lm(&arch, &text, &config, &TrainBudget { steps: Some(2), ..TrainBudget::default() }, 0).unwrap();
        assert_eq!(report.steps, 2);
    }

    #[test]
    fn a_small_model_learns_characters_and_repeats_with_the_seed() {
        let text = shakespeare();
        let arch = TransformerSpace::default().parse("h128a4f512").unwrap();
        let config = LmTrainConfig { seq: 32, eval_windows: 16, ..LmTrainConfig::default() };
        let budget = TrainBudget { steps: Some(150), ..TrainBudget::default() };
        let a = train_lm(&arch, &text, &config, &budget, 1).unwrap();
        let b = train_lm(&arch, &text, &config, &budget, 1).unwrap();
        assert_eq!(a.loss_curve, b.loss_curve);
        // The most frequent character (space) is about 15 % of the text.
        assert!(a.metrics.valid > 0.3, "{:?}", a.metrics);
        assert!(a.loss_curve.last().unwrap() < &a.loss_curve[0], "{:?}", a.loss_curve);
    }
}
