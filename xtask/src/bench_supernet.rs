//! `cargo xtask bench supernet`: one first-order DARTS step of the
//! NAS-Bench-201 supernet (C=16, N=1, batch 64, 3×32×32, 10 classes) in
//! dfdx and in PyTorch (the reference's `TinyNetworkDarts` re-typed,
//! `supernet_torch.py`) in the same run, same threads: ms/step, peak RSS
//! and the ratios.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use nasforge_gradient::data::Batch;
use nasforge_gradient::train::soft;
use nasforge_gradient::{Nb201Supernet, Optimisers, SupernetShape, Training};
use nasforge_trainer_dfdx::dfdx::prelude::*;

use crate::bench::{median, peak_rss_mb, torch_peer};

/// Runs the benchmark.
pub fn run(threads: usize, steps: usize, python: Option<PathBuf>) -> Result<()> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    let batch = 64;
    let net = Nb201Supernet::new(SupernetShape { channels: 16, cells: 1, in_channels: 3, classes: 10 }, 0);
    let dev = net.weights.device().clone();
    let mut t = Training::new(net, Optimisers::default());
    let images = || -> Tensor<(usize, usize, usize, usize), f32, Cpu> { dev.sample_normal_like(&(batch, 3, 32, 32)) };
    let batch_of = |shift: usize| {
        let labels: Vec<u32> = (0..batch).map(|i| ((i * 7 + shift) % 10) as u32).collect();
        let mut onehot = vec![0.0f32; batch * 10];
        for (i, &l) in labels.iter().enumerate() {
            onehot[i * 10 + l as usize] = 1.0;
        }
        Batch { x: images(), y: dev.tensor_from_vec(onehot, (batch, 10)), labels }
    };
    let (train, valid) = (batch_of(0), batch_of(3));
    let mut times = Vec::new();
    for i in 0..steps + 2 {
        let t0 = Instant::now();
        // The reference's DARTS-V1 step: the weights, then α.
        let alpha = t.net.alpha.params.clone();
        let loss = t.weight_step(&train, 0.025, &mut soft(&alpha)).loss;
        t.alpha_step(&valid, &mut soft(&alpha));
        if !loss.is_finite() {
            bail!("the supernet's loss is {loss}");
        }
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let ours = median(times);
    let trainable: usize = t.net.trainable().iter().map(|&i| t.net.weights.params[i].shape().0).sum();
    println!("NB201 supernet (TinyNetworkDarts), C=16, N=1, batch {batch}, 3x32x32, one first-order DARTS step (weights + alpha), {threads} threads, median of {steps} steps");
    println!("params: {trainable}");
    println!("dfdx_ms_per_step: {ours:.1}");
    let our_rss = peak_rss_mb();
    if let Some(rss) = our_rss {
        println!("dfdx_peak_rss_mb: {rss:.0}");
    }
    let Some(peer) = torch_peer(python, include_str!("supernet_torch.py"), threads, batch, steps)? else {
        println!("PyTorch unavailable: no ratio");
        return Ok(());
    };
    let (torch_ms, torch_rss) = (peer.ms_per_step, peer.peak_rss_mb);
    println!("torch_params: {}", peer.params);
    println!("torch_ms_per_step: {torch_ms:.1}");
    if let Some(r) = torch_rss {
        println!("torch_peak_rss_mb: {r:.0}");
    }
    // steps/s ratio = (1/ours) / (1/torch)
    println!("speed_ratio: {:.2} (floor 0.6)", torch_ms / ours);
    if let (Some(a), Some(b)) = (our_rss, torch_rss) {
        println!("rss_ratio: {:.2} (dfdx / PyTorch; at most 1)", a / b);
    }
    Ok(())
}
