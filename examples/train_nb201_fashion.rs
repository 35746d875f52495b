//! Train one NAS-Bench-201 cell on Fashion-MNIST with the dfdx trainer.
//!
//! ```text
//! cargo run --release --example train_nb201_fashion -- '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|' 1
//! ```

// Training allocates and frees activation-sized buffers every step: see
// the allocator module for why this one.
#[global_allocator]
static GLOBAL: nasforge::trainer_dfdx::allocator::Allocator = nasforge::trainer_dfdx::allocator::Allocator;

use nasforge::core::{SearchSpace, TrainBudget};
use nasforge::datasets::{SplitSpec, fashion_mnist};
use nasforge::nb201::Nb201Space;
use nasforge::trainer_dfdx::{ImageTrainConfig, train_nb201};

fn main() -> anyhow::Result<()> {
    nasforge::trainer_dfdx::allocator::keep_freed_pages();
    let mut args = std::env::args().skip(1);
    let arch = args.next().unwrap_or_else(|| "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|".into());
    let epochs: u32 = args.next().map_or(Ok(1), |e| e.parse())?;
    let cell = Nb201Space.parse(&arch)?;
    let data = fashion_mnist(SplitSpec::default())?;
    let budget = TrainBudget { epochs: Some(epochs), ..TrainBudget::default() };
    let t0 = std::time::Instant::now();
    let mut last = t0;
    let trained = train_nb201(&cell, &data, &ImageTrainConfig::default(), &budget, 0, &mut |step, total, loss| {
        if step % 50 == 0 {
            let now = std::time::Instant::now();
            eprintln!("step {step}/{} loss {loss:.4} ({:.0} ms/step)", total.unwrap_or(0), (now - last).as_secs_f64() * 1000.0 / 50.0);
            last = now;
        }
    })?;
    println!("valid {:.4} test {:.4} ece {:.4} params {} seconds {:.1}", trained.valid.accuracy, trained.test.accuracy, trained.test.ece, trained.net.param_count(), t0.elapsed().as_secs_f64());
    Ok(())
}
