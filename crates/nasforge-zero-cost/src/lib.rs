//! Zero-cost proxies: training-free scores of architectures (synflow,
//! snip, NASWOT, ...) and estimators that search with them.
//!
//! So far the family holds tables of scores computed once: a scores CSV
//! (column `arch`, the space's standard string, and one column per proxy)
//! for any space, and NASLib's zero-cost JSON for NAS-Bench-201
//! ([`ProxyTable`]). The `zero-cost-table` estimator scores an
//! architecture by one proxy or by a weighted sum of proxies, each
//! normalised over the table ([`Combination`]), so every strategy can
//! search with them. Rows are keyed by the architecture's standard
//! string, not its canonical key: proxies see the network, dead edges
//! included.

mod family;
mod table;

pub use family::{ZeroCostTableToml, register};
pub use table::{Combination, ProxyTable, TableError, ZeroCostTableEstimator};
