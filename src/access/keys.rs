//! API keys issued by the server: roles, purposes, and who is calling.
//!
//! `tessera keys add --role analyst --purpose "…"` issues a key and prints it once;
//! the data folder keeps only its SHA-256 (`keys.json`, rewritten atomically), with
//! its role, purpose and creation time, so the file doubles as a usage registry.
//! A request presents a key as `Authorization: Bearer KEY` or `X-Api-Key: KEY`; the
//! hash is compared in constant time. A key the server did not issue (or revoked)
//! makes the caller anonymous: every anonymous caller shares one identity, so made-up
//! keys buy nothing.
//!
//! May import: `model`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

pub use crate::model::Role;
use crate::model::hex;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The id of the caller's key; `None` for anonymous callers.
    pub key_id: Option<String>,
    /// The key's role ([`Role::Public`] without a key).
    pub role: Role,
    /// The steward a steward key speaks for (as named in layers' catalog entries).
    pub steward: Option<String>,
}

/// The payer name shared by every anonymous caller.
pub const ANONYMOUS: &str = "anonymous";

impl Caller {
    /// A caller without a key.
    #[must_use]
    pub fn anonymous() -> Self {
        Self {
            key_id: None,
            role: Role::Public,
            steward: None,
        }
    }

    /// The server itself, for its own background work on layers (preparing point
    /// columns); never the caller of a request.
    #[must_use]
    pub fn server() -> Self {
        Self {
            key_id: Some("server".into()),
            role: Role::Admin,
            steward: None,
        }
    }

    /// The name its privacy budget is kept under: the key id, or [`ANONYMOUS`].
    #[must_use]
    pub fn payer(&self) -> &str {
        self.key_id.as_deref().unwrap_or(ANONYMOUS)
    }
}

/// One issued key, as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public id, part of the key.
    pub id: String,
    /// SHA-256 of the whole key, hex.
    pub sha256: String,
    /// What the key may do.
    pub role: Role,
    /// Who holds it and why (the usage registry).
    pub purpose: String,
    /// When it was issued, RFC 3339.
    pub created_at: String,
    /// Revoked keys authenticate nobody.
    #[serde(default)]
    pub revoked: bool,
    /// For steward keys: the steward, as layers' catalog entries name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steward: Option<String>,
}

/// Prefix of every issued key.
const PREFIX: &str = "tsr";

/// The issued keys.
#[derive(Debug)]
pub struct KeyStore {
    path: Option<PathBuf>,
    records: RwLock<Vec<KeyRecord>>,
}

impl KeyStore {
    /// A store in memory only (tests).
    #[must_use]
    pub fn in_memory() -> Self {
        Self {
            path: None,
            records: RwLock::new(Vec::new()),
        }
    }

    /// The store kept at `path` (created on the first key).
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let store = Self {
            path: Some(path.to_owned()),
            records: RwLock::new(Vec::new()),
        };
        store.reload()?;
        Ok(store)
    }

    /// Reads the file again (keys issued or revoked by the command line).
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed.
    pub fn reload(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let records = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!("invalid key file {}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        *self.records.write().unwrap_or_else(PoisonError::into_inner) = records;
        Ok(())
    }

    /// Issues a key; returns its record and the key, which is shown only now.
    ///
    /// # Errors
    /// When the store cannot be written or there is no randomness.
    pub fn add(&self, role: Role, purpose: &str) -> std::io::Result<(KeyRecord, String)> {
        self.add_for(role, purpose, None)
    }

    /// Issues a key speaking for `steward` (steward keys publish that steward's layers).
    ///
    /// # Errors
    /// When the store cannot be written or there is no randomness.
    pub fn add_for(
        &self,
        role: Role,
        purpose: &str,
        steward: Option<&str>,
    ) -> std::io::Result<(KeyRecord, String)> {
        let mut bytes = [0u8; 28];
        getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        let (id, secret) = bytes.split_at(4);
        let id = hex::encode(id);
        let key = format!("{PREFIX}_{id}_{}", hex::encode(secret));
        let record = KeyRecord {
            id,
            sha256: hex::encode(&Sha256::digest(key.as_bytes())),
            role,
            purpose: purpose.to_owned(),
            created_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            revoked: false,
            steward: steward.map(str::to_owned),
        };
        self.update(|records| records.push(record.clone()))?;
        Ok((record, key))
    }

    /// Revokes the key `id`; false when there is no such key.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn revoke(&self, id: &str) -> std::io::Result<bool> {
        let mut found = false;
        self.update(|records| {
            for r in records.iter_mut().filter(|r| r.id == id) {
                r.revoked = true;
                found = true;
            }
        })?;
        Ok(found)
    }

    /// Every issued key, revoked ones included.
    #[must_use]
    pub fn list(&self) -> Vec<KeyRecord> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The caller presenting `key` (`None`: no key): the key's holder when the server
    /// issued it and has not revoked it, anonymous otherwise.
    #[must_use]
    pub fn authenticate(&self, key: Option<&str>) -> Caller {
        let Some(key) = key else {
            return Caller::anonymous();
        };
        let Some(id) = key
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix('_'))
            .and_then(|rest| rest.split('_').next())
        else {
            return Caller::anonymous();
        };
        let presented = Sha256::digest(key.as_bytes());
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        records
            .iter()
            .filter(|r| r.id == id && !r.revoked)
            .find(|r| {
                hex::decode(&r.sha256).is_some_and(|stored| {
                    stored.len() == presented.len() && bool::from(stored.ct_eq(&presented))
                })
            })
            .map_or_else(Caller::anonymous, |r| Caller {
                key_id: Some(r.id.clone()),
                role: r.role,
                steward: r.steward.clone(),
            })
    }

    /// Applies `change` to the records and stores them: temporary file, fsync, rename.
    fn update(&self, change: impl FnOnce(&mut Vec<KeyRecord>)) -> std::io::Result<()> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = records.clone();
        change(&mut next);
        if let Some(path) = &self.path {
            let tmp = path.with_extension("tmp");
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(&serde_json::to_vec_pretty(&next).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
        }
        *records = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_authenticate_and_others_are_anonymous() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        let store = KeyStore::open(&path).expect("open");
        let (record, key) = store.add(Role::Analyst, "mobility team").expect("add");
        let caller = store.authenticate(Some(&key));
        assert_eq!(caller.role, Role::Analyst);
        assert_eq!(caller.payer(), record.id);
        // The file holds the hash, never the key.
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(&record.sha256) && !text.contains(&key));
        // A forged key with a real id, a random key and no key are all anonymous.
        let forged = format!("{PREFIX}_{}_{}", record.id, "0".repeat(48));
        for other in [Some(forged.as_str()), Some("whatever"), None] {
            assert_eq!(store.authenticate(other), Caller::anonymous());
        }
        // Read back by another process; revoked keys stop working.
        let again = KeyStore::open(&path).expect("reopen");
        assert_eq!(again.authenticate(Some(&key)).role, Role::Analyst);
        assert!(again.revoke(&record.id).expect("revoke"));
        assert_eq!(again.authenticate(Some(&key)), Caller::anonymous());
        store.reload().expect("reload");
        assert_eq!(store.authenticate(Some(&key)), Caller::anonymous());
        assert_eq!(store.list().len(), 1);
    }

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(Role::Public < Role::Analyst && Role::Analyst < Role::Steward);
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }
}
