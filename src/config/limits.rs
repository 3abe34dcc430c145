//! `[limits]`: validated usage limits of the server.
//!
//! May import: `model`.

use std::time::Duration;

use super::file::LimitsSection;
use crate::model::Role;

/// A rate: requests per second, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests that may arrive at once (the bucket's size).
    pub burst: f64,
}

/// Usage limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The rate of each role: `public` per client IP, the others per key.
    pub rates: [Rate; 4],
    /// Heavy queries running at once.
    pub heavy_concurrency: usize,
    /// Heavy queries waiting for a slot.
    pub heavy_queue: usize,
    /// Time a heavy query may take, waiting included.
    pub heavy_timeout: Duration,
}

impl Limits {
    /// The rate of `role`.
    #[must_use]
    pub fn rate(&self, role: Role) -> Rate {
        self.rates[role as usize]
    }
}

impl Default for Limits {
    fn default() -> Self {
        resolve(&LimitsSection::default()).unwrap_or_else(|e| unreachable!("{e:?}"))
    }
}

/// Half the machine's cores, at least one: heavy queries never take every core from
/// tiles and items.
fn half_the_cores() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    u32::try_from(cores / 2).unwrap_or(1).max(1)
}

/// Validates `[limits]`.
///
/// # Errors
/// The key and what is wrong with it.
pub(super) fn resolve(s: &LimitsSection) -> Result<Limits, (String, String)> {
    let positive = |name: &str, v: Option<f64>, default: f64| match v {
        Some(v) if !(v.is_finite() && v > 0.0) => Err((
            format!("limits.{name}"),
            format!("{v} is not a positive number"),
        )),
        v => Ok(v.unwrap_or(default)),
    };
    let burst = positive("burst_seconds", s.burst_seconds, 5.0)?;
    let rate = |name: &str, v: Option<f64>, default: f64| {
        let per_second = positive(name, v, default)?;
        Ok::<_, (String, String)>(Rate {
            per_second,
            burst: (per_second * burst).max(1.0),
        })
    };
    let count = |name: &str, v: Option<u32>, default: u32| match v {
        Some(0) => Err((format!("limits.{name}"), "must be at least 1".to_owned())),
        v => Ok(v.unwrap_or(default) as usize),
    };
    Ok(Limits {
        rates: [
            rate("public_rps", s.public_rps, 200.0)?,
            rate("analyst_rps", s.analyst_rps, 500.0)?,
            rate("steward_rps", s.steward_rps, 500.0)?,
            rate("admin_rps", s.admin_rps, 2000.0)?,
        ],
        heavy_concurrency: count("heavy_concurrency", s.heavy_concurrency, half_the_cores())?,
        heavy_queue: count("heavy_queue", s.heavy_queue, 32)?,
        heavy_timeout: match s.heavy_timeout_seconds {
            Some(0) => {
                return Err((
                    "limits.heavy_timeout_seconds".into(),
                    "must be at least 1".into(),
                ));
            }
            t => Duration::from_secs(t.unwrap_or(30)),
        },
    })
}
