//! Consistent noise: the same question always gets the same noisy answer.
//!
//! Noise that is drawn afresh for every request can be averaged away: ask N times,
//! and the mean converges on the true value. Here every noise draw is a pure function
//! of a server-held secret and the *context* of the released number (the layer
//! version, the snapped query and the cell, zone or flow it describes): HMAC-SHA-256
//! of the context under the secret gives the uniform bits, and the inverse CDF turns
//! them into a draw. Asking again returns the same draw, so repeats reveal nothing
//! new, and the ε budget is charged once per distinct query.
//!
//! The distribution is the discrete Laplace (two-sided geometric) distribution,
//! `P(X = x) ∝ exp(-|x| / b)`: integer-valued, so no floating-point low bits leak
//! (the attack of Mironov 2012 on the continuous Laplace mechanism), and
//! ε-differentially private for integer counts of sensitivity Δ when `b = Δ / ε`
//! (Ghosh, Roughgarden and Sundararajan 2009).
//!
//! The secret is 32 random bytes kept in the data folder ([`NoiseKey::load_or_create`]).
//! Whoever holds it can remove the noise: it is backed up and protected like the data.
//!
//! May import: `model`.

use std::io::Write as _;
use std::path::Path;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::model::hex;

/// Bytes of the secret.
const SECRET_BYTES: usize = 32;

/// The server-held secret that derives every noise draw.
#[derive(Clone)]
pub struct NoiseKey {
    secret: [u8; SECRET_BYTES],
}

impl std::fmt::Debug for NoiseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.write_str("NoiseKey(..)")
    }
}

impl NoiseKey {
    /// A key from fixed bytes (tests, benchmarks).
    #[must_use]
    pub fn from_bytes(secret: [u8; SECRET_BYTES]) -> Self {
        Self { secret }
    }

    /// A fresh key from the operating system's randomness.
    ///
    /// # Errors
    /// When the system has no randomness to give.
    pub fn generate() -> std::io::Result<Self> {
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self { secret })
    }

    /// Reads the key stored at `path` (hex), or creates one there, readable by its
    /// owner only, written to a temporary file and renamed into place.
    ///
    /// # Errors
    /// When the file cannot be read, written or parsed; the message names the file.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        let err = |what: &str, e: &dyn std::fmt::Display| {
            std::io::Error::other(format!("{what} {}: {e}", path.display()))
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = decode_hex(text.trim())
                    .ok_or_else(|| err("invalid secret in", &"expected 64 hex digits"))?;
                Ok(Self { secret: bytes })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                let tmp = path.with_extension("tmp");
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&tmp).map_err(|e| err("cannot write", &e))?;
                file.write_all(hex::encode(&key.secret).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| err("cannot write", &e))?;
                std::fs::rename(&tmp, path).map_err(|e| err("cannot write", &e))?;
                Ok(key)
            }
            Err(e) => Err(err("cannot read", &e)),
        }
    }

    /// 256 pseudo-random bits for `context`.
    fn bits(&self, context: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(context);
        mac.finalize().into_bytes().into()
    }

    /// A 64-bit seed for `context`, for choices that need no uniformity proof (which
    /// groups a person's contribution is bounded to).
    #[must_use]
    pub fn seed(&self, context: &[u8]) -> u64 {
        let bits = self.bits(context);
        u64::from_le_bytes(bits[..8].try_into().unwrap_or_default())
    }

    /// The discrete Laplace draw of scale `scale` for `context`.
    #[must_use]
    pub fn discrete_laplace(&self, context: &[u8], scale: f64) -> i64 {
        let bits = self.bits(context);
        let word =
            |i: usize| u64::from_le_bytes(bits[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        discrete_laplace(scale, unit(word(0)), unit(word(1)))
    }
}

/// A uniform draw in the open interval (0, 1) from 53 random bits.
fn unit(word: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "53 bits are exact in f64")]
    let u = ((word >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    u
}

/// The discrete Laplace draw of scale `b` from two uniforms in (0, 1): the
/// difference of two geometric draws of parameter `1 - exp(-1/b)`, each by its
/// inverse CDF.
fn discrete_laplace(b: f64, u1: f64, u2: f64) -> i64 {
    let ln_p = -1.0 / b;
    let geometric = |u: f64| {
        // P(G >= g) = p^g, so G = floor(ln u / ln p); saturating for huge scales.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "saturates; |draws| are small"
        )]
        let g = (u.ln() / ln_p).floor() as i64;
        g
    };
    geometric(u1).saturating_sub(geometric(u2))
}

/// Scale of the discrete Laplace noise for integer counts of L1 sensitivity
/// `sensitivity` at privacy loss `epsilon`.
#[must_use]
pub fn scale(sensitivity: u32, epsilon: f64) -> f64 {
    f64::from(sensitivity) / epsilon
}

fn decode_hex(text: &str) -> Option<[u8; SECRET_BYTES]> {
    hex::decode(text)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> NoiseKey {
        NoiseKey::from_bytes([7; SECRET_BYTES])
    }

    #[test]
    fn the_same_context_gives_the_same_draw_and_others_differ() {
        let k = key();
        assert_eq!(
            k.discrete_laplace(b"pings@1|cell 42", 2.0),
            k.discrete_laplace(b"pings@1|cell 42", 2.0)
        );
        let draws: std::collections::HashSet<i64> = (0..200)
            .map(|i| k.discrete_laplace(format!("pings@1|cell {i}").as_bytes(), 2.0))
            .collect();
        assert!(draws.len() > 5, "draws vary with the context: {draws:?}");
        let other = NoiseKey::from_bytes([8; SECRET_BYTES]);
        let differ = (0..50)
            .filter(|i| {
                let c = format!("c{i}");
                k.discrete_laplace(c.as_bytes(), 5.0) != other.discrete_laplace(c.as_bytes(), 5.0)
            })
            .count();
        assert!(
            differ > 25,
            "another secret gives other noise ({differ}/50)"
        );
    }

    /// The draws follow the discrete Laplace law: mean 0, variance 2p/(1-p)², and
    /// P(X = 0) = (1-p)/(1+p).
    #[test]
    fn draws_have_the_discrete_laplace_distribution() {
        let k = key();
        for b in [0.5, 2.0, 8.0] {
            let n = 100_000;
            let draws: Vec<f64> = (0..n)
                .map(|i| k.discrete_laplace(&u32::to_le_bytes(i), b) as f64)
                .collect();
            let p = (-1.0 / b).exp();
            let want_var = 2.0 * p / (1.0 - p).powi(2);
            let mean = draws.iter().sum::<f64>() / f64::from(n);
            let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / f64::from(n);
            let zeros = draws.iter().filter(|d| **d == 0.0).count() as f64 / f64::from(n);
            assert!(
                mean.abs() < 5.0 * (want_var / f64::from(n)).sqrt(),
                "b {b}: mean {mean}"
            );
            assert!(
                (var / want_var - 1.0).abs() < 0.05,
                "b {b}: var {var} want {want_var}"
            );
            assert!(
                (zeros - (1.0 - p) / (1.0 + p)).abs() < 0.01,
                "b {b}: P(0) {zeros}"
            );
            assert!(draws.iter().all(|d| d.fract() == 0.0));
        }
    }

    #[test]
    fn the_secret_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("privacy.key");
        let a = NoiseKey::load_or_create(&path).expect("create");
        let b = NoiseKey::load_or_create(&path).expect("read");
        assert_eq!(a.secret, b.secret);
        assert_eq!(format!("{a:?}"), "NoiseKey(..)");
        std::fs::write(&path, "not hex").expect("write");
        assert!(NoiseKey::load_or_create(&path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let other = dir.path().join("other.key");
            NoiseKey::load_or_create(&other).expect("create");
            let mode = std::fs::metadata(&other)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only");
        }
    }
}
