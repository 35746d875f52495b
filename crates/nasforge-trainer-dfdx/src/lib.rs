//! Trainers on dfdx (placeholder root while the crate grows).

mod gemm;
pub mod ops;
