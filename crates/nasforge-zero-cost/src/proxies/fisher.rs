//! `fisher` (foresight): at every convolution and linear output,
//! `½·mean_n (Σ_spatial act ⊙ ∂L/∂act)²` per channel, broadcast to the
//! channel's weights and summed (the probe's identity after each layer
//! plays the reference's hooked `nn.Identity`).

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::probe::{Probe, observe};

use super::{Proxy, Session, input, loss, total};
use crate::net::ZcNet;

pub(super) const PROXY: Proxy = Proxy {
    name: "fisher",
    about: "Fisher information of the layer activations, per channel, summed",
    needs_data: true,
    score: |s| total(fisher(s)),
    layers: Some(fisher),
};

/// Per layer output, in forward order (backward passes run in reverse).
fn fisher(s: &mut Session<'_>) -> Result<Vec<f64>, String> {
    let (net, b): (&mut dyn ZcNet, _) = (s.net, s.batch);
    let (_, probe) = observe(Probe { layer_outputs: true, ..Probe::default() }, || {
        let logits = net.logits(input(b).leaky_trace(), b, true);
        loss(logits, b).backward()
    });
    Ok(probe.fisher.iter().rev().copied().collect())
}
