//! The privacy rules of a layer and their building blocks: the k threshold, ε, and
//! the refusal of a spend beyond a daily budget.
//!
//! # Guarantees, in plain words
//! - **Personal layers are released privately by default**
//!   ([`PrivacySettings::private`]): every statistic is a count of distinct persons
//!   with consistent, calibrated noise ([`super::release`], [`super::noise`]), each
//!   person bounded to a few groups, and a group is released only when its *noisy*
//!   count reaches k. Exact statistics only for the roles a layer's config names.
//! - **k-anonymity** ([`KAnonymity`], default k = [`DEFAULT_K`]) of exact answers: a
//!   group whose points come from fewer than k distinct persons is suppressed. Points
//!   without a person id do not count as persons (fail closed).
//! - **Budget** ([`super::ledger`]): ε spent per payer, layer and UTC day, charged once
//!   per distinct release, refused beyond the daily limit.
//!
//! May import: `model`.

use time::OffsetDateTime;

use crate::model::{Role, RoleSet, Sensitivity};

use super::{AnalyticsError, Result, Stats};

/// The default k-anonymity threshold.
pub const DEFAULT_K: u32 = 10;

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
/// The default ε of one release of a personal layer.
pub const DEFAULT_RELEASE_EPSILON: f64 = 1.0;
/// The default number of groups one person may count in per release.
pub const DEFAULT_MAX_GROUPS: u32 = 1;
/// The smallest ε a query may ask for: bounds the releases one budget can pay for.
pub const MIN_EPSILON: f64 = 0.01;

/// A layer's privacy settings as configured: each `None` takes the default for the
/// layer's sensitivity (see [`PrivacyRules::resolve`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PrivacyRules {
    /// Smallest k.
    pub k: Option<KAnonymity>,
    /// ε of each release; when set, every query of the layer is private.
    pub epsilon: Option<Epsilon>,
    /// ε each payer may spend on the layer per UTC day.
    pub daily_epsilon: Option<Epsilon>,
    /// Groups one person may count in per release.
    pub max_groups: Option<u32>,
    /// Roles that get exact statistics of a personal layer.
    pub exact_for: RoleSet,
}

/// The privacy rules in force for one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacySettings {
    /// Smallest k any query of the layer uses; `None`: k only when asked.
    pub min_k: Option<KAnonymity>,
    /// Largest and default ε of the layer's releases; `None`: exact unless asked.
    pub epsilon: Option<Epsilon>,
    /// ε each payer may spend on the layer per UTC day.
    pub daily_epsilon: Epsilon,
    /// Groups one person may count in per release.
    pub max_groups: u32,
    /// Roles that get exact statistics of a personal layer.
    pub exact_for: RoleSet,
    /// True for personal layers.
    pub personal: bool,
}

impl PrivacyRules {
    /// The rules in force for a layer of `sensitivity`: personal layers are private
    /// (ε = [`DEFAULT_RELEASE_EPSILON`], k = [`DEFAULT_K`] unless configured); other
    /// layers only when configured or asked.
    #[must_use]
    pub fn resolve(&self, sensitivity: Sensitivity) -> PrivacySettings {
        let personal = sensitivity == Sensitivity::Personal;
        PrivacySettings {
            min_k: self.k.or(personal.then_some(KAnonymity { k: DEFAULT_K })),
            epsilon: self
                .epsilon
                .or(personal.then_some(Epsilon(DEFAULT_RELEASE_EPSILON))),
            daily_epsilon: self.daily_epsilon.unwrap_or(Epsilon(DEFAULT_DAILY_EPSILON)),
            max_groups: self.max_groups.unwrap_or(DEFAULT_MAX_GROUPS),
            exact_for: self.exact_for,
            personal,
        }
    }
}

impl PrivacySettings {
    /// True when `role` must get private (noisy) statistics: every query of a
    /// personal layer, unless the role is one the layer allows exact answers, and
    /// every query of a layer with a configured ε.
    #[must_use]
    pub fn private_for(&self, role: Role) -> bool {
        if self.personal {
            return !self.exact_for.contains(role);
        }
        self.epsilon.is_some()
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn personal_layers_are_private_unless_the_role_is_allowed_exact_answers() {
        let rules = PrivacyRules::default();
        let personal = rules.resolve(Sensitivity::Personal);
        assert_eq!(
            personal.epsilon.map(Epsilon::get),
            Some(DEFAULT_RELEASE_EPSILON)
        );
        assert_eq!(personal.min_k.map(|k| k.k()), Some(DEFAULT_K));
        assert!(Role::ALL.iter().all(|r| personal.private_for(*r)));
        let allowed = PrivacyRules {
            exact_for: [Role::Analyst].into_iter().collect(),
            ..rules
        }
        .resolve(Sensitivity::Personal);
        assert!(allowed.private_for(Role::Public) && !allowed.private_for(Role::Analyst));
        assert!(allowed.private_for(Role::Admin), "only the roles named");
        let public = rules.resolve(Sensitivity::Public);
        assert!(!public.private_for(Role::Public) && public.min_k.is_none());
        let noisy = PrivacyRules {
            epsilon: Some(Epsilon::new(0.5).expect("eps")),
            ..rules
        }
        .resolve(Sensitivity::Public);
        assert!(noisy.private_for(Role::Admin));
        assert!(Epsilon::new(0.0).is_err() && Epsilon::new(f64::NAN).is_err());
    }
}
