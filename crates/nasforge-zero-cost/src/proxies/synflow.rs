//! `synflow` (Tanaka et al. 2020; foresight and NASLib): every parameter
//! made positive, batch norm bypassed, one input of ones; the score is
//! `Σ |W ⊙ ∂R/∂W|` over the layers, `R` the sum of the outputs. Stored as
//! its natural logarithm, as NASLib's `ZeroCost` does (0 stays 0): the
//! raw value spans a hundred orders of magnitude.
//!
//! Which batch norms: NASLib bypasses every one (`copynet`); foresight's
//! own NB201 model rebuilds the network without batch norm in cells, stem
//! and head but keeps it in the two residual reductions. nasforge follows
//! NASLib, whose scores it is cross-checked against.
//!
//! Deviation: the references run in float64 because `R` overflows float32
//! (NASLib's NB201 scores reach e^115). The engine is float32, so for a
//! network that is positively homogeneous under these conditions (ReLU,
//! pooling, bias-free convolutions — NB201 and DARTS) an overflowing
//! first pass is repeated with the input and the output gradient scaled by
//! 2^-64 each: every activation and gradient shrinks by that factor, the
//! score by 2^-128, exactly, and is scaled back in f64. Other networks
//! (ReLU6, layer norm, saturating activations) stay bounded, or fail with
//! the reason.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::values;
use nasforge_engine::probe::{Probe, observe};

use super::{Proxy, Session, dev, gradients_of, layer_weights};
use crate::net::ZcNet;

pub(super) const PROXY: Proxy = Proxy {
    name: "synflow",
    about: "synaptic flow: ln Σ |weight × ∂R/∂weight| with positive weights, ones input, batch norm bypassed",
    needs_data: false,
    score: synflow,
};

fn synflow(s: &mut Session<'_>) -> Result<f64, String> {
    let exponents: &[i32] = if s.homogeneous { &[0, -64] } else { &[0] };
    for &e in exponents {
        if let Some(v) = at_exponent(s, e) {
            return Ok(v);
        }
    }
    Err("synflow overflowed float32 in this network (the engine has no float64 path)".into())
}

/// The score with input and output gradient scaled by `2^e` (and scaled
/// back), or `None` when float32 overflowed.
pub(crate) fn at_exponent(s: &mut Session<'_>, e: i32) -> Option<f64> {
    let store = s.net.store();
    let layers = layer_weights(store);
    for p in store.params.iter_mut() {
        let v: Vec<f32> = values(p).iter().map(|w| w.abs()).collect();
        p.copy_from(&v);
    }
    let ones = s.batch.ones();
    let scale = 2f32.powi(e);
    let x = dev().tensor_from_vec(ones.input.iter().map(|v| v * scale).collect(), (ones.input.len(),));
    let net: &mut dyn ZcNet = s.net;
    let (mut grads, _) = observe(Probe { bypass_batch_norm: true, ..Probe::default() }, || {
        let logits = net.logits(x.leaky_trace(), &ones, true);
        (logits.sum() * scale).backward()
    });
    let store = s.net.store();
    let g = gradients_of(&mut grads, store, &layers);
    let total: f64 = layers.iter().zip(&g).map(|(&i, g)| values(&store.params[i]).iter().zip(g).map(|(&w, &g)| f64::from(w * g).abs()).sum::<f64>()).sum();
    total.is_finite().then(|| if total > 0.0 { total.ln() - 2.0 * f64::from(e) * std::f64::consts::LN_2 } else { 0.0 })
}
