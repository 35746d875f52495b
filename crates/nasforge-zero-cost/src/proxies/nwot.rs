//! `nwot` (NASWOT, Mellor et al. 2021, second version; NASLib's code): the
//! kernel `K = Σ_ReLUs c cᵀ + (1 − c)(1 − c)ᵀ` of the binary codes
//! `c = (x > 0)` of every ReLU's input over the batch items, scored by
//! `log |det K|`.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::probe::{Probe, observe};

use super::{Proxy, Session, input, log_abs_det};
use crate::net::ZcNet;

pub(super) const PROXY: Proxy = Proxy {
    name: "nwot",
    about: "NASWOT: log-determinant of the Hamming kernel of ReLU codes over the batch",
    needs_data: true,
    score: nwot,
    layers: None,
};

fn nwot(s: &mut Session<'_>) -> Result<f64, String> {
    let (net, b): (&mut dyn ZcNet, _) = (s.net, s.batch);
    let rows = b.scored_items();
    let n = rows.len();
    let (_, probe) = observe(Probe { relu_codes: Some(rows), ..Probe::default() }, || net.logits(input(b).leaky_trace(), b, true));
    if probe.relus == 0 {
        return Err("NASWOT reads the codes of ReLUs, and this network has none".into());
    }
    Ok(log_abs_det(&probe.kernel, n))
}
