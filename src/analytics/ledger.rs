//! The privacy budget, held by the server: who spent how much ε on which layer
//! today, and which releases were already paid for.
//!
//! A release's answer never changes (its noise is keyed, see
//! [`super::noise`]), so asking for it again reveals nothing new: the ledger charges
//! ε once per distinct release and day, whoever asks first, and repeats are free.
//! Each payer (a server-issued key, or the one shared anonymous payer) has a daily
//! budget per layer; a charge beyond it is refused whole.
//!
//! The state is one small JSON file in the data folder, rewritten atomically (temporary
//! file, `fsync`, rename) after every charge, so a restart keeps the day's spending.
//! Memory is bounded: one counter per payer and layer (payers are issued keys), and one
//! entry per paid release, at most `daily budget / smallest ε` per payer and layer.
//!
//! May import: `model`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime, UtcOffset};

use super::privacy::{BudgetExhausted, Epsilon};

/// Budget and ε are accounted in these units, so that sums are exact.
const NANO: f64 = 1e9;

/// What a charge cost and left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Charge {
    /// ε charged now: 0 for a release already paid today.
    pub cost: f64,
    /// ε the payer has spent on the layer today, this charge included.
    pub spent: f64,
    /// ε the payer has left on the layer today.
    pub remaining: f64,
    /// When the budget starts afresh (next midnight UTC).
    pub resets_at: OffsetDateTime,
}

/// Why a charge was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    /// The payer's budget cannot pay for the release.
    #[error(transparent)]
    Exhausted(#[from] BudgetExhausted),
    /// The ledger file could not be written: nothing is released unaccounted.
    #[error("cannot record the privacy budget in {path}: {source}")]
    Io {
        /// The ledger file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// The day's spending, as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Day {
    /// UTC day number (days since 1970-01-01).
    day: i64,
    /// nano-ε spent, by `layer payer`.
    spent: BTreeMap<String, u64>,
    /// SHA-256 (hex) of each `layer release` paid today.
    paid: BTreeSet<String>,
}

/// The server's privacy ledger.
#[derive(Debug)]
pub struct Ledger {
    path: Option<PathBuf>,
    state: Mutex<Day>,
}

impl Ledger {
    /// A ledger kept in memory only (tests, one-shot commands).
    #[must_use]
    pub fn in_memory() -> Self {
        Self {
            path: None,
            state: Mutex::new(Day::default()),
        }
    }

    /// The ledger stored at `path`, read back when the file exists.
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed (the message names it).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!("invalid privacy ledger {}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Day::default(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            path: Some(path.to_owned()),
            state: Mutex::new(state),
        })
    }

    /// Charges `epsilon` for `release` of `layer` to `payer`, unless the release was
    /// already paid today (then it costs nothing). `daily` is the payer's daily
    /// budget on the layer.
    ///
    /// # Errors
    /// [`ChargeError::Exhausted`] when the budget cannot pay (nothing is spent),
    /// [`ChargeError::Io`] when the new state cannot be stored (nothing is spent).
    pub fn charge(
        &self,
        layer: &str,
        payer: &str,
        release: &str,
        epsilon: Epsilon,
        daily: Epsilon,
        now: OffsetDateTime,
    ) -> Result<Charge, ChargeError> {
        let (day, resets_at) = utc_day(now);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.day != day {
            *state = Day {
                day,
                ..Day::default()
            };
        }
        let account = format!("{layer} {payer}");
        let spent = state.spent.get(&account).copied().unwrap_or(0);
        let daily = nanos(daily);
        let receipt = receipt(layer, release);
        if state.paid.contains(&receipt) {
            return Ok(Charge {
                cost: 0.0,
                spent: from_nanos(spent),
                remaining: from_nanos(daily.saturating_sub(spent)),
                resets_at,
            });
        }
        let want = nanos(epsilon);
        let left = daily.saturating_sub(spent);
        if want > left {
            return Err(BudgetExhausted {
                key: payer.to_owned(),
                requested: epsilon.get(),
                remaining: from_nanos(left),
                daily: from_nanos(daily),
                resets_at,
            }
            .into());
        }
        let mut next = Day {
            day,
            spent: state.spent.clone(),
            paid: state.paid.clone(),
        };
        next.spent.insert(account, spent + want);
        next.paid.insert(receipt);
        self.store(&next)?;
        *state = next;
        Ok(Charge {
            cost: epsilon.get(),
            spent: from_nanos(spent + want),
            remaining: from_nanos(daily - spent - want),
            resets_at,
        })
    }

    /// ε spent today on each layer, all payers together (for monitoring).
    #[must_use]
    pub fn spent_today(&self, now: OffsetDateTime) -> BTreeMap<String, f64> {
        let (day, _) = utc_day(now);
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by_layer = BTreeMap::new();
        if state.day == day {
            for (account, nanos) in &state.spent {
                let layer = account.split(' ').next().unwrap_or_default();
                *by_layer.entry(layer.to_owned()).or_insert(0.0) += from_nanos(*nanos);
            }
        }
        by_layer
    }

    /// Writes `day` to the ledger file, if any: temporary file, fsync, rename.
    fn store(&self, day: &Day) -> Result<(), ChargeError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let io = |source| ChargeError::Io {
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec(day).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// The receipt of a paid release: SHA-256 of the layer and the release, hex.
fn receipt(layer: &str, release: &str) -> String {
    let digest = Sha256::new()
        .chain_update(layer.as_bytes())
        .chain_update([0])
        .chain_update(release.as_bytes())
        .finalize();
    crate::model::hex::encode(&digest)
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "0 < ε <= MAX_EPSILON, so ε·10⁹ <= 10¹⁵"
)]
fn nanos(epsilon: Epsilon) -> u64 {
    (epsilon.get() * NANO).round() as u64
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
    use time::macros::datetime;

    use super::*;

    fn eps(e: f64) -> Epsilon {
        Epsilon::new(e).expect("eps")
    }

    #[test]
    fn distinct_releases_are_charged_once_and_repeats_are_free() {
        let ledger = Ledger::in_memory();
        let now = datetime!(2025-03-03 10:00 UTC);
        let c = |release: &str, payer: &str| {
            ledger.charge("pings", payer, release, eps(1.0), eps(3.0), now)
        };
        assert_eq!(c("grid 17", "anonymous").expect("paid").cost, 1.0);
        for _ in 0..50 {
            let again = c("grid 17", "anonymous").expect("free");
            assert_eq!((again.cost, again.spent), (0.0, 1.0));
        }
        // Another payer reads the paid release for free too.
        assert_eq!(c("grid 17", "k-analyst").expect("free").cost, 0.0);
        assert_eq!(ledger.spent_today(now).get("pings"), Some(&1.0));
        assert_eq!(c("grid 15", "anonymous").expect("paid").remaining, 1.0);
        assert_eq!(c("grid 13", "anonymous").expect("paid").remaining, 0.0);
        let refused = c("grid 11", "anonymous").expect_err("exhausted");
        assert!(matches!(refused, ChargeError::Exhausted(ref e) if e.remaining == 0.0));
        // The next UTC day starts afresh.
        let tomorrow = datetime!(2025-03-04 00:00:01 UTC);
        let next = ledger
            .charge(
                "pings",
                "anonymous",
                "grid 11",
                eps(1.0),
                eps(3.0),
                tomorrow,
            )
            .expect("new day");
        assert_eq!(next.spent, 1.0);
    }

    #[test]
    fn the_ledger_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("privacy-ledger.json");
        let now = datetime!(2025-03-03 10:00 UTC);
        {
            let ledger = Ledger::open(&path).expect("open");
            ledger
                .charge("pings", "anonymous", "a", eps(2.0), eps(5.0), now)
                .expect("charged");
        }
        let ledger = Ledger::open(&path).expect("reopen");
        let repeat = ledger
            .charge("pings", "anonymous", "a", eps(2.0), eps(5.0), now)
            .expect("free");
        assert_eq!((repeat.cost, repeat.spent), (0.0, 2.0));
        let more = ledger
            .charge("pings", "anonymous", "b", eps(2.0), eps(5.0), now)
            .expect("charged");
        assert_eq!(more.remaining, 1.0);
        // Releases are stored as receipts (hashes), not as the queries themselves.
        ledger
            .charge("pings", "anonymous", "hours=7-9", eps(0.5), eps(5.0), now)
            .expect("charged");
        assert!(
            !std::fs::read_to_string(&path)
                .expect("read")
                .contains("hours=7-9")
        );
    }
}
