//! Times each op (forward + backward) on the shapes of the NB201 network's
//! first stage: `cargo run --release -p nasforge-engine --example op_timing`.
use std::time::Instant;

#[global_allocator]
static GLOBAL: nasforge_engine::allocator::Allocator = nasforge_engine::allocator::Allocator;

use dfdx::prelude::*;
use nasforge_engine::ops::*;

fn time(name: &str, f: &mut dyn FnMut()) {
    f();
    let t = Instant::now();
    for _ in 0..5 {
        f();
    }
    println!("{name:>24}: {:7.2} ms", t.elapsed().as_secs_f64() * 1000.0 / 5.0);
}

fn main() {
    nasforge_engine::allocator::keep_freed_pages();
    let dev = Cpu::default();
    let shape = (64, 16, 32, 32);
    let x: T4<NoneTape> = dev.sample_normal_like(&shape);
    let w: Param = dev.sample_normal_like(&(16 * 16 * 9,));
    let w1: Param = dev.sample_normal_like(&(16 * 16,));
    let g: Param = dev.ones_like(&(16,));
    let b: Param = dev.zeros_like(&(16,));
    let mut stats = RunningStats::new(16);
    time("conv3x3 fwd", &mut || drop(conv2d(x.clone(), &w, Conv::new(16, 16, 3, 1))));
    time("conv3x3 fwd+bwd", &mut || drop(conv2d(x.leaky_trace(), &w, Conv::new(16, 16, 3, 1)).sum().backward()));
    time("conv1x1 fwd+bwd", &mut || drop(conv2d(x.leaky_trace(), &w1, Conv::new(16, 16, 1, 1)).sum().backward()));
    time("bn fwd (no tape)", &mut || drop(batch_norm2d(x.clone(), &g, &b, &mut stats, true, 0.1, 1e-5)));
    time("bn fwd (taped)", &mut || drop(batch_norm2d(x.leaky_trace(), &g, &b, &mut stats, true, 0.1, 1e-5)));
    time("values (memcpy)", &mut || drop(values(&x)));
    time("bn fwd+bwd", &mut || drop(batch_norm2d(x.leaky_trace(), &g, &b, &mut stats, true, 0.1, 1e-5).sum().backward()));
    time("avgpool fwd+bwd", &mut || drop(avg_pool2d(x.leaky_trace(), Pool { kernel: 3, stride: 1, padding: 1 }).sum().backward()));
    time("relu fwd+bwd", &mut || drop(x.leaky_trace().relu().sum().backward()));
    time("sum_all2 fwd+bwd", &mut || { let y = x.leaky_trace(); let z = y.with_empty_tape(); drop(sum_all(vec![y, z]).sum().backward()) });
    time("mul0 fwd+bwd", &mut || drop((x.leaky_trace() * 0.0).sum().backward()));
    time("sum fwd+bwd", &mut || drop(x.leaky_trace().sum().backward()));
    time("as_vec", &mut || drop(x.as_vec()));
}
