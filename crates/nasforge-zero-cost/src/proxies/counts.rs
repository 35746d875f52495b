//! `params` and `flops`: the network's size, as NASLib reports them
//! (millions of parameters, millions of multiply-accumulates for one item).

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::probe::{Probe, observe};

use super::{Proxy, Session, input};
use crate::net::ZcNet;

pub(super) const PARAMS: Proxy = Proxy {
    name: "params",
    about: "trainable parameters, in millions",
    needs_data: false,
    score: |s| Ok(s.net.store().count() as f64 / 1e6),
    layers: None,
};

pub(super) const FLOPS: Proxy = Proxy {
    name: "flops",
    about: "multiply-accumulates of the convolutions and linear layers for one input item, in millions (attention's matrix products not counted)",
    needs_data: false,
    score: flops,
    layers: None,
};

fn flops(s: &mut Session<'_>) -> Result<f64, String> {
    let one = s.batch.ones();
    let net: &mut dyn ZcNet = s.net;
    let (_, probe) = observe(Probe { count_macs: true, ..Probe::default() }, || net.logits(input(&one).leaky_trace(), &one, false));
    Ok(probe.macs as f64 / 1e6)
}
