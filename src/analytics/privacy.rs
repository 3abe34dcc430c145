//! Privacy by construction: every [`Stats`] passes through here before it leaves
//! the server.
//!
//! # Guarantees, in plain words
//! - **k-anonymity** ([`KAnonymity`], default k = [`DEFAULT_K`]): a cell, zone or flow
//!   whose points come from fewer than k distinct persons (the layer's id field) is
//!   suppressed: its statistics are withheld (the caller keeps the cell and shows
//!   null). Points without a person id do not count as persons, so missing ids can
//!   only cause more suppression, never less. The decision uses the true count of
//!   persons.
//! - **Differential privacy** ([`Laplace`], [`release`]): optionally, released
//!   counts get Laplace noise of scale `sensitivity / ε`, are rounded and clamped to
//!   non-negative integers. With sensitivity 1, one released count of *persons* is
//!   ε-differentially private with respect to any one person (a person changes it by
//!   at most 1); a count of *points* is ε-private with respect to one point, not to a
//!   person who contributes many points. A person present in m released cells is
//!   protected with m·ε (sequential composition), so the caller charges the ε
//!   budget per query accordingly. Sums and means are not released under noise:
//!   their sensitivity is unbounded without clipping each person's contribution.
//! - **Budget** ([`EpsilonBudget`]): ε spent per key (API key, user) and UTC day is
//!   accounted exactly (in units of 10⁻⁹ ε) and refused beyond the daily limit.
//!
//! The noise is sampled with floating-point arithmetic (inverse CDF), which is known
//! to leak in theory through the low bits of unrounded outputs (Mironov 2012);
//! rounding every release to an integer removes those bits. Callers must use a
//! cryptographically secure generator seeded from the operating system in
//! production; tests inject a seeded one.
//!
//! May import: `model`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rand_core::Rng;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::{AnalyticsError, Result, Stats};

/// The default k-anonymity threshold.
pub const DEFAULT_K: u32 = 10;

/// Budget and ε are accounted in these units, so that sums are exact.
const NANO: f64 = 1e9;
/// The largest ε accepted, so that budgets in nano-ε fit comfortably in `u64`.
pub const MAX_EPSILON: f64 = 1e6;

/// The k-anonymity threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KAnonymity {
    k: u32,
}

impl Default for KAnonymity {
    fn default() -> Self {
        Self { k: DEFAULT_K }
    }
}

impl KAnonymity {
    /// A threshold of `k` distinct persons.
    ///
    /// # Errors
    /// [`AnalyticsError::K`] when `k` is 0.
    pub fn new(k: u32) -> Result<Self> {
        if k == 0 {
            return Err(AnalyticsError::K(k));
        }
        Ok(Self { k })
    }

    /// The threshold.
    #[must_use]
    pub fn k(&self) -> u32 {
        self.k
    }

    /// True when the statistics may be released: at least k distinct persons. Stats
    /// computed without persons are never released (fail closed).
    #[must_use]
    pub fn allows(&self, stats: &Stats) -> bool {
        stats.distinct.is_some_and(|d| d >= u64::from(self.k))
    }

    /// The statistics when released, `None` when suppressed.
    #[must_use]
    pub fn apply(&self, stats: Stats) -> Option<Stats> {
        self.allows(&stats).then_some(stats)
    }
}

/// The default daily ε a caller may spend on one layer.
pub const DEFAULT_DAILY_EPSILON: f64 = 5.0;

/// A layer's privacy settings as configured: each `None` takes the default for the
/// layer's sensitivity (see [`PrivacyRules::resolve`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PrivacyRules {
    /// Smallest k of k-anonymity.
    pub k: Option<KAnonymity>,
    /// ε of queries that give none: when set, every query of the layer is noisy.
    pub epsilon: Option<Epsilon>,
    /// ε each caller may spend on the layer per UTC day.
    pub daily_epsilon: Option<Epsilon>,
}

/// The privacy rules in force for one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacySettings {
    /// Smallest k any query of the layer uses; `None`: k-anonymity only when asked.
    pub min_k: Option<KAnonymity>,
    /// Largest and default ε of the layer's queries; `None`: noise only when asked.
    pub epsilon: Option<Epsilon>,
    /// ε each caller may spend on the layer per UTC day.
    pub daily_epsilon: Epsilon,
}

impl PrivacyRules {
    /// The rules in force for a layer of `sensitivity`: personal layers always apply
    /// k-anonymity (k = [`DEFAULT_K`] unless configured); other layers only when
    /// configured or asked.
    #[must_use]
    pub fn resolve(&self, sensitivity: crate::model::Sensitivity) -> PrivacySettings {
        let personal = sensitivity == crate::model::Sensitivity::Personal;
        PrivacySettings {
            min_k: self.k.or(personal.then_some(KAnonymity { k: DEFAULT_K })),
            epsilon: self.epsilon,
            daily_epsilon: self.daily_epsilon.unwrap_or(Epsilon(DEFAULT_DAILY_EPSILON)),
        }
    }
}

/// A validated privacy parameter ε: positive, finite, at most [`MAX_EPSILON`].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Epsilon(f64);

impl Epsilon {
    /// Validates ε.
    ///
    /// # Errors
    /// [`AnalyticsError::Epsilon`] unless `0 < epsilon <= MAX_EPSILON`.
    pub fn new(epsilon: f64) -> Result<Self> {
        if epsilon.is_finite() && epsilon > 0.0 && epsilon <= MAX_EPSILON {
            Ok(Self(epsilon))
        } else {
            Err(AnalyticsError::Epsilon(epsilon))
        }
    }

    /// The value.
    #[must_use]
    pub fn get(self) -> f64 {
        self.0
    }

    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "0 < ε <= MAX_EPSILON, so ε·10⁹ <= 10¹⁵"
    )]
    fn nanos(self) -> u64 {
        (self.0 * NANO).round() as u64
    }
}

/// The Laplace mechanism: noise of scale `sensitivity / ε`, mean 0, variance
/// `2 · scale²`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Laplace {
    scale: f64,
}

impl Laplace {
    /// Noise for a query of the given L1 sensitivity.
    ///
    /// # Errors
    /// [`AnalyticsError::Epsilon`] when `sensitivity` is not positive and finite.
    pub fn new(epsilon: Epsilon, sensitivity: f64) -> Result<Self> {
        if !(sensitivity.is_finite() && sensitivity > 0.0) {
            return Err(AnalyticsError::Epsilon(sensitivity));
        }
        Ok(Self {
            scale: sensitivity / epsilon.get(),
        })
    }

    /// Noise for counts (sensitivity 1).
    #[must_use]
    pub fn for_counts(epsilon: Epsilon) -> Self {
        Self {
            scale: 1.0 / epsilon.get(),
        }
    }

    /// The scale `b` of the distribution.
    #[must_use]
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// One draw, by inverting the CDF at a uniform point of the open interval (0, 1).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        // 53 random bits, centred in their interval: never exactly 0 or 1.
        #[expect(clippy::cast_precision_loss, reason = "53 bits are exact in f64")]
        let u = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        if u < 0.5 {
            self.scale * (2.0 * u).ln()
        } else {
            -self.scale * (2.0 * (1.0 - u)).ln()
        }
    }

    /// A noisy count: `count` plus noise, rounded to the nearest integer and clamped
    /// at 0.
    pub fn noisy_count<R: Rng + ?Sized>(&self, count: u64, rng: &mut R) -> u64 {
        #[expect(clippy::cast_precision_loss, reason = "counts stay below 2^53")]
        let noisy = (count as f64 + self.sample(rng)).round();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to be non-negative; saturates far beyond any count"
        )]
        let n = noisy.max(0.0) as u64;
        n
    }
}

/// How statistics are released: a k-anonymity threshold and optional noise.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PrivacyPolicy {
    /// Suppress groups with fewer distinct persons than this.
    pub k: KAnonymity,
    /// ε per released group, if noise is added. When both the count and the number
    /// of persons are released, each gets half of it, so a group costs ε in total.
    pub epsilon: Option<Epsilon>,
}

/// Statistics as they leave the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Released {
    /// Number of points (noisy under a noise policy).
    pub count: u64,
    /// Number of distinct persons (noisy under a noise policy).
    pub distinct: Option<u64>,
    /// Sum of values; withheld under noise.
    pub sum: Option<f64>,
    /// Mean of values; withheld under noise.
    pub mean: Option<f64>,
}

/// Applies a policy to one group: `None` when suppressed by k-anonymity, otherwise
/// the released statistics (noised when the policy has an ε).
///
/// # Examples
/// ```
/// use tessera::analytics::Stats;
/// use tessera::analytics::privacy::{PrivacyPolicy, release};
/// let few = Stats { count: 40, distinct: Some(3), ..Stats::default() };
/// let mut rng = rand_pcg::Pcg64::new(1, 1);
/// assert!(release(&few, &PrivacyPolicy::default(), &mut rng).is_none());
/// ```
pub fn release<R: Rng + ?Sized>(
    stats: &Stats,
    policy: &PrivacyPolicy,
    rng: &mut R,
) -> Option<Released> {
    let stats = policy.k.apply(*stats)?;
    Some(match policy.epsilon {
        None => Released {
            count: stats.count,
            distinct: stats.distinct,
            sum: stats.sum,
            mean: stats.mean(),
        },
        Some(eps) => {
            let parts = if stats.distinct.is_some() { 2.0 } else { 1.0 };
            // eps / parts is still positive and finite.
            let noise = Laplace {
                scale: parts / eps.get(),
            };
            Released {
                count: noise.noisy_count(stats.count, rng),
                distinct: stats.distinct.map(|d| noise.noisy_count(d, rng)),
                sum: None,
                mean: None,
            }
        }
    })
}

/// What is left of a key's daily budget after a spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Remaining {
    /// ε spent today, including this spend.
    pub spent: f64,
    /// ε left today.
    pub remaining: f64,
    /// When the budget starts afresh (next midnight UTC).
    pub resets_at: OffsetDateTime,
}

/// A spend refused because the key's daily budget is used up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the daily privacy budget of {key:?} is exhausted: this query needs ε = {requested}, \
     but only ε = {remaining} of {daily} is left today; it resets at {resets_at} (midnight UTC)"
)]
pub struct BudgetExhausted {
    /// The key.
    pub key: String,
    /// ε asked for.
    pub requested: f64,
    /// ε left today.
    pub remaining: f64,
    /// The daily budget.
    pub daily: f64,
    /// When the budget starts afresh.
    pub resets_at: OffsetDateTime,
}

/// Per-key daily ε budgets, shared between request handlers.
#[derive(Debug)]
pub struct EpsilonBudget {
    daily: u64,
    state: Mutex<BudgetDay>,
}

/// The spends of the current UTC day; older days are dropped when a new day starts,
/// so memory is bounded by one day's keys.
#[derive(Debug, Default)]
struct BudgetDay {
    day: i64,
    spent: HashMap<String, u64>,
}

impl EpsilonBudget {
    /// A budget of `daily` ε per key and UTC day.
    #[must_use]
    pub fn new(daily: Epsilon) -> Self {
        Self {
            daily: daily.nanos(),
            state: Mutex::new(BudgetDay::default()),
        }
    }

    /// Spends `epsilon` for `key` at time `now`, or refuses without spending anything.
    ///
    /// # Errors
    /// [`BudgetExhausted`] when the spend would exceed the daily budget.
    pub fn spend(
        &self,
        key: &str,
        epsilon: Epsilon,
        now: OffsetDateTime,
    ) -> Result<Remaining, BudgetExhausted> {
        let (day, resets_at) = utc_day(now);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.day != day {
            state.day = day;
            state.spent.clear();
        }
        let spent = state.spent.get(key).copied().unwrap_or(0);
        let left = self.daily.saturating_sub(spent);
        let want = epsilon.nanos();
        if want > left {
            return Err(BudgetExhausted {
                key: key.to_owned(),
                requested: epsilon.get(),
                remaining: from_nanos(left),
                daily: from_nanos(self.daily),
                resets_at,
            });
        }
        let spent = spent + want;
        state.spent.insert(key.to_owned(), spent);
        Ok(Remaining {
            spent: from_nanos(spent),
            remaining: from_nanos(self.daily - spent),
            resets_at,
        })
    }

    /// What `key` has left at time `now`, without spending.
    #[must_use]
    pub fn remaining(&self, key: &str, now: OffsetDateTime) -> Remaining {
        let (day, resets_at) = utc_day(now);
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let spent = if state.day == day {
            state.spent.get(key).copied().unwrap_or(0)
        } else {
            0
        };
        Remaining {
            spent: from_nanos(spent),
            remaining: from_nanos(self.daily.saturating_sub(spent)),
            resets_at,
        }
    }
}

#[expect(clippy::cast_precision_loss, reason = "budgets are below 2^53 nano-ε")]
fn from_nanos(n: u64) -> f64 {
    n as f64 / NANO
}

/// The UTC day number of `now` and the instant the next day starts.
fn utc_day(now: OffsetDateTime) -> (i64, OffsetDateTime) {
    let now = now.to_offset(UtcOffset::UTC);
    let day = now.unix_timestamp().div_euclid(86_400);
    let midnight = now.replace_time(time::Time::MIDNIGHT) + Duration::DAY;
    (day, midnight)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand_pcg::Pcg64;
    use time::macros::datetime;

    use super::*;
    use crate::analytics::StatsSpec;
    use crate::analytics::grid::{GridSpec, bin};
    use crate::analytics::points::{PointColumns, PointFields, Selection};
    use crate::analytics::test_data::{layer_of, ping};
    use crate::model::TileId;
    use crate::model::tile::mercator_to_lonlat;

    fn eps(e: f64) -> Epsilon {
        Epsilon::new(e).expect("valid epsilon")
    }

    #[test]
    fn k_anonymity_suppresses_below_k_and_fails_closed() {
        let k = KAnonymity::new(3).expect("k");
        let s = |d: Option<u64>| Stats {
            count: 50,
            distinct: d,
            ..Stats::default()
        };
        assert!(k.apply(s(Some(2))).is_none());
        assert_eq!(k.apply(s(Some(3))), Some(s(Some(3))));
        assert!(k.apply(s(None)).is_none());
        assert_eq!(KAnonymity::default().k(), 10);
        assert!(KAnonymity::new(0).is_err());
    }

    /// Property: over random data and random k, no released grid cell has fewer than
    /// k distinct persons, and no suppressed cell has k or more.
    #[test]
    fn no_released_cell_has_fewer_than_k_persons() {
        let tile = TileId::new(13, 4145, 3059).expect("tile");
        let spec = GridSpec::for_tile(tile, 8).expect("spec");
        let r = spec.rect();
        let mut rng = Pcg64::new(0xcafe, 0xf00d);
        let mut unit = || {
            #[expect(clippy::cast_precision_loss, reason = "test data")]
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            u
        };
        for round in 0..40 {
            let persons = 1 + (unit() * 30.0) as u64;
            let n = 50 + (unit() * 400.0) as u64;
            let k = KAnonymity::new(1 + (unit() * 12.0) as u32).expect("k");
            let mut truth: HashMap<(u32, u32), HashSet<u64>> = HashMap::new();
            let features = (1..=n)
                .map(|id| {
                    // Clustered: squared uniforms favour the north-west cells.
                    let (u, v) = (unit() * unit(), unit() * unit());
                    let (x, y) = (
                        r.min_x + u * (r.max_x - r.min_x),
                        r.max_y - v * (r.max_y - r.min_y),
                    );
                    let person = (unit() * persons as f64) as u64;
                    let cell = ((u * 8.0) as u32, (v * 8.0) as u32);
                    truth.entry(cell).or_default().insert(person);
                    ping(
                        id,
                        mercator_to_lonlat(x, y),
                        None,
                        &format!("p{person}"),
                        None,
                    )
                })
                .collect();
            let layer = layer_of(features);
            let fields = PointFields {
                person: Some("device"),
                ..PointFields::default()
            };
            let cols = PointColumns::build(&layer, &fields).expect("build");
            let stats = StatsSpec {
                distinct: true,
                value: false,
            };
            let bins = bin(&cols, &Selection::Range(0..cols.len()), &spec, stats).expect("bin");
            let mut released = 0;
            for c in bins.cells() {
                let want = truth.get(&(c.col, c.row)).map_or(0, HashSet::len) as u64;
                assert_eq!(c.stats.distinct, Some(want), "round {round}");
                match k.apply(c.stats) {
                    Some(s) => {
                        released += 1;
                        assert!(s.distinct.is_some_and(|d| d >= u64::from(k.k())));
                    }
                    None => assert!(want < u64::from(k.k())),
                }
            }
            let _ = released;
        }
    }

    #[test]
    fn laplace_noise_has_the_right_mean_and_variance() {
        for e in [0.1, 0.5, 2.0] {
            let noise = Laplace::for_counts(eps(e));
            let mut rng = Pcg64::new(42, 54);
            let n = 200_000;
            let draws: Vec<f64> = (0..n).map(|_| noise.sample(&mut rng)).collect();
            let mean = draws.iter().sum::<f64>() / f64::from(n);
            let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / f64::from(n - 1);
            let want_var = 2.0 / (e * e);
            // Standard errors: sqrt(var / n) for the mean, sqrt(20 b^4 / n) for the
            // variance (Laplace kurtosis 6); allow five of each.
            let b = 1.0 / e;
            assert!(
                mean.abs() < 5.0 * (want_var / f64::from(n)).sqrt(),
                "ε {e}: mean {mean}"
            );
            assert!(
                (var - want_var).abs() < 5.0 * (20.0 * b.powi(4) / f64::from(n)).sqrt(),
                "ε {e}: variance {var}, want {want_var}"
            );
        }
    }

    #[test]
    fn noisy_counts_are_non_negative_integers_near_the_truth() {
        let noise = Laplace::for_counts(eps(1.0));
        let mut rng = Pcg64::new(7, 7);
        let zeros: Vec<u64> = (0..10_000)
            .map(|_| noise.noisy_count(0, &mut rng))
            .collect();
        assert!(zeros.contains(&0) && zeros.iter().any(|&c| c > 0));
        let mean = (0..10_000)
            .map(|_| noise.noisy_count(1000, &mut rng))
            .sum::<u64>()
            / 10_000;
        assert!((999..=1001).contains(&mean));
        // The same seed gives the same noise.
        let (mut a, mut b) = (Pcg64::new(1, 2), Pcg64::new(1, 2));
        assert_eq!(noise.noisy_count(5, &mut a), noise.noisy_count(5, &mut b));
        assert!(Epsilon::new(0.0).is_err() && Epsilon::new(f64::NAN).is_err());
        assert!(Laplace::new(eps(1.0), -1.0).is_err());
    }

    #[test]
    fn release_applies_k_then_noise() {
        let stats = Stats {
            count: 100,
            distinct: Some(20),
            sum: Some(50.0),
            valued: 100,
        };
        let mut rng = Pcg64::new(3, 3);
        let plain = release(&stats, &PrivacyPolicy::default(), &mut rng).expect("released");
        assert_eq!(
            (plain.count, plain.distinct, plain.mean),
            (100, Some(20), Some(0.5))
        );
        let noisy = PrivacyPolicy {
            epsilon: Some(eps(1.0)),
            ..PrivacyPolicy::default()
        };
        let r = release(&stats, &noisy, &mut rng).expect("released");
        assert!(r.sum.is_none() && r.mean.is_none() && r.distinct.is_some());
        let few = Stats {
            distinct: Some(9),
            ..stats
        };
        assert!(release(&few, &noisy, &mut rng).is_none());
    }

    #[test]
    fn budget_is_spent_exactly_and_refused_when_exhausted() {
        let budget = EpsilonBudget::new(eps(1.0));
        let morning = datetime!(2024-05-06 08:00 UTC);
        for i in 1..=10 {
            let r = budget
                .spend("team-a", eps(0.1), morning)
                .expect("within budget");
            assert!((r.spent - 0.1 * f64::from(i)).abs() < 1e-12);
        }
        let err = budget
            .spend("team-a", eps(0.1), morning)
            .expect_err("exhausted");
        assert_eq!(err.remaining, 0.0);
        assert_eq!(err.resets_at, datetime!(2024-05-07 00:00 UTC));
        assert!(err.to_string().contains("exhausted") && err.to_string().contains("2024-05-07"));
        // A refused spend costs nothing, other keys are independent.
        assert_eq!(budget.remaining("team-a", morning).spent, 1.0);
        assert!(budget.spend("team-b", eps(0.7), morning).is_ok());
        assert!(budget.spend("team-b", eps(0.31), morning).is_err());
        assert!(budget.spend("team-b", eps(0.3), morning).is_ok());
        // The next UTC day starts afresh, whatever offset `now` is given in.
        let next = datetime!(2024-05-07 01:30 +02:00);
        assert_eq!(
            budget.remaining("team-a", next).spent,
            1.0,
            "still the 6th in UTC"
        );
        let later = datetime!(2024-05-07 02:30 +02:00);
        assert_eq!(
            budget.spend("team-a", eps(0.5), later).map(|r| r.remaining),
            Ok(0.5)
        );
    }

    #[test]
    fn budget_is_thread_safe() {
        let budget = std::sync::Arc::new(EpsilonBudget::new(eps(10.0)));
        let now = datetime!(2024-05-06 12:00 UTC);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = std::sync::Arc::clone(&budget);
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| b.spend("k", eps(0.1), now).is_ok())
                        .count()
                })
            })
            .collect();
        let granted: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
        assert_eq!(granted, 100);
    }
}
