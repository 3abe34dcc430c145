//! The deterministic pings and districts of the analytics benches (see
//! `tessera::analytics::synthetic`).

#[allow(
    unused_imports,
    reason = "the integration tests include this folder but not these items"
)]
pub use tessera::analytics::synthetic::*;
