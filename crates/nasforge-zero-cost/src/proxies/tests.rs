use nasforge_core::SearchSpace;
use nasforge_registry::{DynArch, ErasedSpace};
use nasforge_space_nb201::{Cell, Nb201Space, Op};

use super::*;
use crate::net::{NetShape, build};
use crate::score::Scorer;

fn digits_batch(n: usize, size: usize) -> Batch {
    Batch::images(&nasforge_datasets::digits(0).train, n, 3, size, 1)
}

fn space() -> ErasedSpace {
    ErasedSpace::new(Nb201Space)
}

fn cell(s: &str) -> DynArch {
    space().parse(s).expect("a valid cell")
}

const SMALL: NetShape = NetShape { channels: 4, cells: 1, dim: 8 };
const MIXED: &str = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|";

fn score(arch: &DynArch, batch: &Batch, proxy: &str, shape: NetShape) -> Result<f64, String> {
    let scorer = Scorer::new(space(), shape, batch.clone(), true, &[proxy.to_owned()], 3).expect("a scorer");
    scorer.score(arch).expect("a network").remove(0)
}

#[test]
fn synflow_rescaled_equals_synflow_unscaled() {
    // The second pass (input and output gradient × 2^-64) must give the
    // first pass's score: the network is positively homogeneous.
    let batch = digits_batch(4, 8);
    let arch = cell(MIXED);
    let mut net = build(&space(), &arch, SMALL, &batch, 5).expect("a network");
    let initial = net.store().clone();
    let mut at = |e: i32| {
        *net.store() = initial.clone();
        synflow::at_exponent(&mut Session { net: net.as_mut(), batch: &batch, seed: 0, homogeneous: true }, e).expect("finite")
    };
    let (plain, scaled) = (at(0), at(-64));
    assert!((plain - scaled).abs() < 1e-4, "{plain} vs {scaled}");
}

#[test]
fn synflow_is_zero_when_no_signal_reaches_the_output_and_grows_with_convolutions() {
    let batch = digits_batch(4, 8);
    let dead = score(&cell("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), &batch, "synflow", SMALL).unwrap();
    assert_eq!(dead, 0.0);
    let conv1 = score(&DynArch::new(Cell::uniform(Op::NorConv1x1)), &batch, "synflow", SMALL).unwrap();
    let conv3 = score(&DynArch::new(Cell::uniform(Op::NorConv3x3)), &batch, "synflow", SMALL).unwrap();
    assert!(conv3 > conv1 && conv1 > 0.0, "{conv1} {conv3}");
}

#[test]
fn params_is_the_benchmark_count_in_millions() {
    let batch = digits_batch(2, 8);
    for op in [Op::None, Op::NorConv3x3, Op::AvgPool3x3] {
        let c = Cell::uniform(op);
        let p = score(&DynArch::new(c), &batch, "params", SMALL).unwrap();
        assert_eq!(p, c.param_count(4, 1, 3, 10) as f64 / 1e6, "{op:?}");
    }
}

#[test]
fn flops_counts_the_convolutions_of_one_image() {
    // All-none cells leave stem, reductions and classifier: count them by hand.
    let batch = digits_batch(2, 8);
    let f = score(&cell("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), &batch, "flops", SMALL).unwrap();
    let conv = |cin: usize, cout: usize, k: usize, side: usize| (cin * k * k * cout * side * side) as f64;
    let stem = conv(3, 4, 3, 8);
    let red1 = conv(4, 8, 3, 4) + conv(8, 8, 3, 4) + conv(4, 8, 1, 4);
    let red2 = conv(8, 16, 3, 2) + conv(16, 16, 3, 2) + conv(8, 16, 1, 2);
    let fc = (16 * 10) as f64;
    assert_eq!(f, (stem + red1 + red2 + fc) / 1e6);
}

#[test]
fn nwot_kernel_is_singular_when_two_items_are_the_same() {
    let mut batch = digits_batch(4, 8);
    let distinct = score(&cell(MIXED), &batch, "nwot", SMALL).unwrap();
    assert!(distinct.is_finite(), "{distinct}");
    let len = batch.item_len();
    let first = batch.input[..len].to_vec();
    batch.input[len..2 * len].copy_from_slice(&first);
    let twin = score(&cell(MIXED), &batch, "nwot", SMALL).unwrap();
    assert!(twin < distinct - 10.0, "two equal rows make K (nearly) singular: {twin} vs {distinct}");
}

#[test]
fn jacob_cov_is_nan_for_a_network_that_ignores_its_input() {
    let batch = digits_batch(4, 8);
    let dead = score(&cell("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), &batch, "jacob_cov", SMALL).unwrap();
    assert!(dead.is_nan());
    assert!(score(&cell(MIXED), &batch, "jacob_cov", SMALL).unwrap().is_finite());
}

#[test]
fn correlation_score_matches_numpy_on_a_small_case() {
    // numpy: rows [1,2,3], [1,2,4], [3,1,2] -> corrcoef eigenvalues
    // 2.1448, 0.8552 and (nearly) 0; score −Σ log(λ+k) + 1/(λ+k).
    let rows = vec![vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 4.0], vec![3.0, 1.0, 2.0]];
    let c = corrcoef(&rows);
    assert!((c[1] - 0.9819805060619657).abs() < 1e-12, "{}", c[1]);
    let eig = symmetric_eigenvalues(&c, 3);
    assert!((eig.iter().sum::<f64>() - 3.0).abs() < 1e-12);
}

#[test]
fn gradient_proxies_are_finite_and_the_same_for_the_same_seed() {
    let batch = digits_batch(6, 8);
    for p in ["grad_norm", "snip", "grasp", "fisher", "gradsign", "epe_nas", "plain", "zen", "l2_norm"] {
        let a = score(&cell(MIXED), &batch, p, SMALL).unwrap();
        let b = score(&cell(MIXED), &batch, p, SMALL).unwrap();
        assert!(a.is_finite(), "{p}: {a}");
        assert_eq!(a.to_bits(), b.to_bits(), "{p}");
    }
}

#[test]
fn proxies_a_network_lacks_fail_with_their_reason() {
    let text = nasforge_datasets::CharText {
        vocab: ('a'..='z').collect(),
        train: (0..600).map(|i| (i * 7 % 26) as u16).collect(),
        valid: vec![0; 10],
        test: vec![0; 10],
        path: None,
    };
    let batch = Batch::text(&text, 4, 16, 0);
    let space = ErasedSpace::new(nasforge_space_transformer::TransformerSpace::default());
    let arch = space.sample(&mut nasforge_core::seeded_rng(1));
    let scorer = Scorer::new(space, SMALL, batch, true, &["nwot".into(), "zen".into(), "w_pca".into(), "hidden_cov".into(), "synflow".into()], 0).unwrap();
    let scores = scorer.score(&arch).unwrap();
    assert!(scores[0].as_ref().unwrap_err().contains("ReLU"), "{:?}", scores[0]);
    assert!(scores[1].as_ref().unwrap_err().contains("global average pooling"), "{:?}", scores[1]);
    for s in &scores[2..] {
        assert!(s.as_ref().is_ok_and(|v| v.is_finite()), "{s:?}");
    }
}

#[test]
fn w_pca_components_reach_the_variance_threshold() {
    // Points on a line in 3-d: one component explains everything.
    let line: Vec<f32> = (0..20).flat_map(|i| [i as f32, 2.0 * i as f32, -(i as f32)]).collect();
    assert_eq!(w_pca::components(&line, 20, 0.99), 1);
    // Independent noise in 3 axes of equal spread needs all three.
    let mut rng = 12345u64;
    let mut next = || {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((rng >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let cloud: Vec<f32> = (0..600).map(|_| next()).collect();
    assert_eq!(w_pca::components(&cloud, 200, 0.99), 3);
}

#[test]
fn w_pca_gram_and_covariance_paths_agree() {
    // 6 rows in 4 dimensions (covariance path) and their transpose-shaped
    // twin, 4 rows in 6 dimensions (Gram path), see the same spectrum
    // structure: a rank-2 cloud needs at most 2 components either way.
    let basis = [[1.0f32, 0.5, -0.25, 2.0, 0.0, 1.0], [0.0, 1.0, 1.0, -1.0, 3.0, 0.5]];
    let coef = [(1.0f32, 0.2f32), (-0.5, 1.0), (2.0, -1.5), (0.3, 0.3), (-1.0, -0.7), (0.7, 2.0)];
    let rows6: Vec<f32> = coef.iter().flat_map(|&(a, b)| (0..4).map(move |k| a * basis[0][k] + b * basis[1][k])).collect();
    let rows4: Vec<f32> = coef[..4].iter().flat_map(|&(a, b)| (0..6).map(move |k| a * basis[0][k] + b * basis[1][k])).collect();
    assert!(w_pca::components(&rows6, 6, 0.999) <= 2);
    assert!(w_pca::components(&rows4, 4, 0.999) <= 2);
    assert_eq!(w_pca::components(&rows4, 4, 0.5), 1);
}

#[test]
fn grasps_difference_of_gradients_converges_with_the_relu_pieces_held() {
    // With every ReLU held on its piece the loss is smooth in the weights:
    // the difference converges at second order as the step shrinks.
    let batch = digits_batch(8, 8);
    let arch = cell(MIXED);
    let mut net = build(&space(), &arch, SMALL, &batch, 5).expect("a network");
    let initial = net.store().clone();
    let mut at = |step: f64| {
        *net.store() = initial.clone();
        let layers = grasp::at_step(&mut Session { net: net.as_mut(), batch: &batch, seed: 0, homogeneous: true }, step).unwrap();
        layers.iter().sum::<f64>()
    };
    // Measured: 4.1247, 4.2260, 4.2517, 4.2583, 4.2598 for steps 0.01 to
    // 0.000625: the error quarters with each halving (second order).
    let (coarse, fine, finer) = (at(0.004), at(0.002), at(0.001));
    assert!((fine - coarse).abs() > 3.0 * (finer - fine).abs(), "{coarse} {fine} {finer}");
    assert!(((finer - fine) / finer).abs() < 0.005, "{coarse} {fine} {finer}");
}
