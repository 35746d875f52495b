//! `hidden_cov` ("Training-free Neural Architecture Search for RNNs and
//! Transformers", Serianni & Kalita 2023): jacob_cov's eigenvalue score
//! applied to the correlation of the final hidden states over the batch's
//! windows (each window's hidden states flattened into one row).

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::probe::{Probe, observe};

use super::{Proxy, Session, correlation_score, input};
use crate::net::ZcNet;

pub(super) const PROXY: Proxy = Proxy {
    name: "hidden_cov",
    about: "hidden covariance (transformers): eigenvalue score of the correlation of final hidden states across windows",
    needs_data: true,
    score: hidden_cov,
    layers: None,
};

fn hidden_cov(s: &mut Session<'_>) -> Result<f64, String> {
    let (net, b): (&mut dyn ZcNet, _) = (s.net, s.batch);
    let (_, probe) = observe(Probe { keep_marked: true, ..Probe::default() }, || net.logits(input(b).leaky_trace(), b, false));
    let Some((_, hidden, _)) = probe.marked.iter().rev().find(|(tag, _, _)| *tag == "hidden") else {
        return Err("the hidden-covariance proxy reads final hidden states, which only transformer networks mark".into());
    };
    if b.items < 2 {
        return Err("needs a batch of at least 2 windows".into());
    }
    let per = hidden.len() / b.items;
    let rows: Vec<Vec<f64>> = hidden.chunks(per).map(|c| c.iter().map(|&v| f64::from(v)).collect()).collect();
    Ok(correlation_score(&rows))
}
