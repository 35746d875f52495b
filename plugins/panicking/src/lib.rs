//! A faulty estimator plugin, for testing hosts: with `panic-in =
//! "create"` it panics while being created; with `panic-in = "call"` it
//! scores its first `calls-before-panic` architectures and then panics;
//! with `panic-in = "error"` it fails every evaluation instead (a
//! well-behaved failure).

use nasforge_plugin_sdk::core::{EvalContext, EvalError, Estimator, Metrics};
use nasforge_plugin_sdk::export_plugin;
use nasforge_plugin_sdk::protocol::{ArchMessage, Create};

/// The faulty estimator.
pub struct Panicking {
    mode: String,
    calls_left: u64,
}

impl Estimator<ArchMessage> for Panicking {
    fn name(&self) -> &str {
        "panicking"
    }

    fn evaluate(&mut self, arch: &ArchMessage, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        if self.mode == "error" {
            return Err(EvalError::Other(format!("refusing `{}` on purpose", arch.text)));
        }
        if self.calls_left == 0 {
            panic!("deliberate panic while estimating `{}`", arch.text);
        }
        self.calls_left -= 1;
        Ok(Metrics::with_valid(arch.text.len() as f64))
    }
}

fn create(c: Create) -> Result<Panicking, String> {
    let mode = c.config.get("panic-in").and_then(|v| v.as_str()).unwrap_or("call").to_owned();
    if mode == "create" {
        panic!("deliberate panic in create");
    }
    let calls_left = c.config.get("calls-before-panic").and_then(|v| v.as_u64()).unwrap_or(3);
    Ok(Panicking { mode, calls_left })
}

export_plugin!(estimator, "panicking", env!("CARGO_PKG_VERSION"), create);
