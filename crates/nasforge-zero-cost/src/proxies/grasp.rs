//! `grasp` (foresight): `Σ −W ⊙ (H g)` with `g = ∂L/∂W` and `H` the
//! Hessian of the loss in the layer weights.
//!
//! Deviation: the reference differentiates twice (`create_graph=True`);
//! dfdx has no second-order gradients, so `H g` is the central difference
//! of gradients `(∇L(W + εg) − ∇L(W − εg)) / 2ε`, with `ε = 0.001 / ‖g‖`
//! (a tenth of DARTS' step for its Hessian-vector product: the test shows
//! second-order convergence and float32 noise still far below). Only the layer weights
//! move, as only they enter the reference's `autograd.grad`. Autograd's
//! Hessian treats every ReLU kink as flat, while a plain difference of
//! gradients jumps across kinks (on NB201 networks it does not converge
//! to double backward even in float64: checked in PyTorch); so the
//! perturbed passes replay the linear piece each ReLU was on in the
//! unperturbed one (the probe's `Pieces`), which makes the difference
//! the derivative autograd takes.

use nasforge_engine::ops::values;
use nasforge_engine::probe::{Pieces, Probe, observe};

use super::{Proxy, Session, layer_weights, loss_gradients, per_layer, total};

pub(super) const PROXY: Proxy = Proxy {
    name: "grasp",
    about: "gradient signal preservation: −Σ weight × (Hessian · gradient); the Hessian-vector product by central differences",
    needs_data: true,
    score: |s| total(grasp(s)),
    layers: Some(grasp),
};

fn grasp(s: &mut Session<'_>) -> Result<Vec<f64>, String> {
    at_step(s, 0.001)
}

/// grasp's layers with the difference step `ε = step / ‖g‖`.
pub(crate) fn at_step(s: &mut Session<'_>, step: f64) -> Result<Vec<f64>, String> {
    let layers = layer_weights(s.net.store());
    let (g, probe) = observe(Probe { pieces: Pieces::Record(Vec::new()), ..Probe::default() }, || loss_gradients(s.net, s.batch, &layers));
    let Pieces::Record(pieces) = probe.pieces else { unreachable!("recorded above") };
    let norm = g.iter().flatten().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Ok(vec![0.0; layers.len()]);
    }
    let eps = (step / norm) as f32;
    let original: Vec<Vec<f32>> = layers.iter().map(|&i| values(&s.net.store().params[i])).collect();
    let mut shifted = |sign: f32| -> Vec<Vec<f32>> {
        let store = s.net.store();
        for ((&i, w), gi) in layers.iter().zip(&original).zip(&g) {
            let moved: Vec<f32> = w.iter().zip(gi).map(|(&w, &g)| w + sign * eps * g).collect();
            store.params[i].copy_from(&moved);
        }
        let replay = Probe { pieces: Pieces::Replay(pieces.clone(), 0), ..Probe::default() };
        observe(replay, || loss_gradients(s.net, s.batch, &layers)).0
    };
    let (plus, minus) = (shifted(1.0), shifted(-1.0));
    let store = s.net.store();
    for (&i, w) in layers.iter().zip(&original) {
        store.params[i].copy_from(w);
    }
    let hg: Vec<Vec<f32>> = plus.iter().zip(&minus).map(|(p, m)| p.iter().zip(m).map(|(a, b)| (a - b) / (2.0 * eps)).collect()).collect();
    Ok(per_layer(store, &layers, &hg, |w, hg| -f64::from(w) * f64::from(hg)))
}
