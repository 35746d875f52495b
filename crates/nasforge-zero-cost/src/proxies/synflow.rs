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
//! 2^-64 each: activations and activation gradients shrink by that factor,
//! weight gradients and the score by 2^-128 (powers of two: no rounding),
//! and the score is scaled back in f64. Only weights whose true term is
//! below ~4 then lose precision to float32's subnormals, beside a total
//! that overflowed 3.4e38. Other networks (ReLU6, layer norm, saturating
//! activations) stay bounded, or fail with the reason.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::values;
use nasforge_engine::probe::{Probe, observe};

use super::{Proxy, Session, dev, gradients_of, layer_weights, per_layer};
use crate::net::ZcNet;

pub(super) const PROXY: Proxy = Proxy {
    name: "synflow",
    about: "synaptic flow: ln Σ |weight × ∂R/∂weight| with positive weights, ones input, batch norm bypassed",
    needs_data: false,
    score: |s| {
        let (layers, e) = passes(s)?;
        Ok(ln_scaled_back(layers.iter().sum(), e).unwrap_or(0.0))
    },
    layers: Some(|s| {
        // Each layer's own ln, NaN where a layer gets no flow.
        let (layers, e) = passes(s)?;
        Ok(layers.iter().map(|&v| ln_scaled_back(v, e).unwrap_or(f64::NAN)).collect())
    }),
};

/// Per-layer sums of the first pass that does not overflow, and its
/// exponent.
fn passes(s: &mut Session<'_>) -> Result<(Vec<f64>, i32), String> {
    let exponents: &[i32] = if s.homogeneous { &[0, -64] } else { &[0] };
    for &e in exponents {
        if let Some(v) = layers_at(s, e) {
            return Ok((v, e));
        }
    }
    Err("synflow overflowed float32 in this network (the engine has no float64 path)".into())
}

/// `ln v` of a value measured with input and output gradient scaled by
/// `2^e` each, scaled back; `None` for 0.
fn ln_scaled_back(v: f64, e: i32) -> Option<f64> {
    (v > 0.0).then(|| v.ln() - 2.0 * f64::from(e) * std::f64::consts::LN_2)
}

/// The score with input and output gradient scaled by `2^e` (and scaled
/// back), or `None` when float32 overflowed.
#[cfg(test)]
pub(crate) fn at_exponent(s: &mut Session<'_>, e: i32) -> Option<f64> {
    Some(ln_scaled_back(layers_at(s, e)?.iter().sum(), e).unwrap_or(0.0))
}

/// `Σ |w·∂R/∂w|` per layer at scale `2^e` (not scaled back), or `None`
/// when float32 overflowed.
fn layers_at(s: &mut Session<'_>, e: i32) -> Option<Vec<f64>> {
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
    // Widened before the product: in the rescaled pass a weight's gradient
    // is 2^-128 of its true value.
    let per: Vec<f64> = per_layer(store, &layers, &g, |w, g| (f64::from(w) * f64::from(g)).abs());
    per.iter().all(|v| v.is_finite()).then_some(per)
}
