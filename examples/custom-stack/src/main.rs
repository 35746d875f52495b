//! A user's own nasforge binary: the default families, plus a strategy
//! (`annealing`) and an estimator (`params-proxy`) defined in this crate,
//! with the whole command line (`run`, `resume`, `show`, `describe`,
//! `list`). Nothing in the framework's crates names them.
//!
//! ```text
//! cargo run -p nasforge-example-custom-stack -- run examples/custom-stack/custom.toml
//! cargo run -p nasforge-example-custom-stack -- list strategy
//! ```

mod annealing;
mod params_proxy;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut registry = nasforge::families();
    registry.add(annealing::register).add(params_proxy::register);
    nasforge_cli::App::new(registry).named(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_DESCRIPTION"), env!("CARGO_PKG_VERSION")).main()
}
