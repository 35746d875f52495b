//! A tabular-only stack: NAS-Bench-201, NAS-Bench-Graph and
//! NAS-Bench-Macro with their tables, the evolution strategies and
//! REINFORCE's factorised policy (the LSTM controller, which needs the
//! dfdx engine, left out by `default-features = false`). It builds without
//! compiling dfdx (checked by this crate's test).
//!
//! ```text
//! cargo run -p nasforge-example-tabular-stack -- run examples/nb201-regularized-evolution.toml
//! ```

use std::process::ExitCode;

use nasforge_registry::Registry;

fn main() -> ExitCode {
    let mut registry = Registry::new();
    registry
        .add(nasforge_space_nb201::register)
        .add(nasforge_space_nbgraph::register)
        .add(nasforge_space_mobilenet::register)
        .add(nasforge_evolution::register)
        .add(nasforge_rl::register)
        .add(nasforge_tabular::register);
    nasforge_cli::App::new(registry).named(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_DESCRIPTION"), env!("CARGO_PKG_VERSION")).main()
}
