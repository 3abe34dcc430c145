//! Versions as a feature: which version is served, rollback without copying, retention,
//! and checksums of every stored file.
//!
//! ```text
//! DATA_DIR/parcels/current            the served version's number, when rolled back
//! DATA_DIR/parcels/v000003/SHA256SUMS  SHA-256 of the version's files
//! ```
//!
//! The served version is the newest one, unless `current` names another: a rollback
//! writes that file (atomically) and copies nothing; the next ingest removes it, so the
//! new version is served. Retention removes the oldest versions beyond a count, never
//! the served one.
//!
//! May import: `model`.

use std::fs;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::{
    DataDir, FEATURES_FILE, META_FILE, QUALITY_FILE, Result, StoreError, io_err, sync_dir,
    write_synced,
};
use crate::model::LayerName;

/// File naming the served version of a layer after a rollback.
pub const CURRENT_FILE: &str = "current";
/// File of a version listing the SHA-256 of its other files (`sha256sum` format).
pub const CHECKSUMS_FILE: &str = "SHA256SUMS";
/// The files a checksum list covers.
const CHECKED_FILES: [&str; 3] = [FEATURES_FILE, META_FILE, QUALITY_FILE];

/// What `tessera verify` found wrong with a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The layer.
    pub layer: LayerName,
    /// The version.
    pub version: u32,
    /// What is wrong, naming the file.
    pub problem: String,
}

impl DataDir {
    /// The version served: the one a rollback chose, else the newest.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the layer folder or its `current` file cannot be read.
    pub fn current_version(&self, layer: &LayerName) -> Result<Option<u32>> {
        let versions = self.versions(layer)?;
        let path = self.layer_dir(layer).join(CURRENT_FILE);
        let chosen = match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<u32>().ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(chosen
            .filter(|v| versions.contains(v))
            .or_else(|| versions.last().copied()))
    }

    /// Serves `version` of `layer` from now on, without copying anything.
    ///
    /// # Errors
    /// [`StoreError::NoSuchVersion`] when the layer has no such version, or
    /// [`StoreError::Io`] when the choice cannot be written.
    pub fn rollback(&self, layer: &LayerName, version: u32) -> Result<()> {
        if !self.versions(layer)?.contains(&version) {
            return Err(StoreError::NoSuchVersion {
                layer: layer.clone(),
                version,
            });
        }
        let dir = self.layer_dir(layer);
        let tmp = dir.join(format!("{CURRENT_FILE}.tmp"));
        write_synced(&tmp, version.to_string().as_bytes())?;
        let path = dir.join(CURRENT_FILE);
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&dir)
    }

    /// Forgets a rollback: the newest version is served again (after a new version).
    pub(super) fn clear_current(&self, layer: &LayerName) -> Result<()> {
        let path = self.layer_dir(layer).join(CURRENT_FILE);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.layer_dir(layer)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Removes the oldest versions of `layer` beyond the newest `keep`, never the
    /// served one; returns the versions removed.
    ///
    /// # Errors
    /// [`StoreError::Io`] when a version cannot be removed (those before stay removed).
    pub fn prune(&self, layer: &LayerName, keep: usize) -> Result<Vec<u32>> {
        let versions = self.versions(layer)?;
        let current = self.current_version(layer)?;
        let excess = versions.len().saturating_sub(keep.max(1));
        let mut removed = Vec::new();
        for &version in versions.iter().take(excess) {
            if Some(version) == current {
                continue;
            }
            let dir = self.version_dir(layer, version);
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
            removed.push(version);
        }
        if !removed.is_empty() {
            sync_dir(&self.layer_dir(layer))?;
        }
        Ok(removed)
    }

    /// Retires a layer: moves its folder to `DATA_DIR/.retired/LAYER-UNIXTIME`, so it
    /// is no longer listed or served; nothing is deleted. Returns the new place.
    ///
    /// # Errors
    /// [`StoreError::NoVersion`] when the layer has no version, [`StoreError::Io`] when
    /// the folder cannot be moved.
    pub fn retire(&self, layer: &LayerName) -> Result<std::path::PathBuf> {
        if self.versions(layer)?.is_empty() {
            return Err(StoreError::NoVersion(layer.clone()));
        }
        let retired = self.root.join(".retired");
        fs::create_dir_all(&retired).map_err(io_err(&retired))?;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let target = retired.join(format!("{layer}-{secs}"));
        let from = self.layer_dir(layer);
        fs::rename(&from, &target).map_err(io_err(&from))?;
        sync_dir(&self.root)?;
        Ok(target)
    }

    /// Checks every version of every layer against its checksums; returns what is
    /// wrong (nothing when all is well).
    ///
    /// # Errors
    /// [`StoreError::Io`] when a folder cannot be listed.
    pub fn verify(&self) -> Result<Vec<Damage>> {
        let mut damage = Vec::new();
        for layer in self.layers()? {
            for version in self.versions(&layer)? {
                for problem in check_version(&self.version_dir(&layer, version)) {
                    damage.push(Damage {
                        layer: layer.clone(),
                        version,
                        problem,
                    });
                }
            }
        }
        Ok(damage)
    }
}

/// Writes the checksums of a version folder's files.
pub(super) fn write_checksums(dir: &Path) -> Result<()> {
    let mut list = String::new();
    for name in CHECKED_FILES {
        let path = dir.join(name);
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        list.push_str(&format!("{}  {name}\n", hex(&Sha256::digest(&bytes))));
    }
    write_synced(&dir.join(CHECKSUMS_FILE), list.as_bytes())
}

/// What is wrong with the files of one version folder.
fn check_version(dir: &Path) -> Vec<String> {
    let sums = dir.join(CHECKSUMS_FILE);
    let Ok(list) = fs::read_to_string(&sums) else {
        return vec![format!("{}: missing or unreadable", sums.display())];
    };
    let mut problems = Vec::new();
    for name in CHECKED_FILES {
        let path = dir.join(name);
        let want = list
            .lines()
            .find_map(|l| l.strip_suffix(name).and_then(|h| h.strip_suffix("  ")));
        match (want, fs::read(&path)) {
            (None, _) => problems.push(format!("{}: no checksum listed", path.display())),
            (_, Err(e)) => problems.push(format!("{}: {e}", path.display())),
            (Some(want), Ok(bytes)) if hex(&Sha256::digest(&bytes)) != want => {
                problems.push(format!(
                    "{}: SHA-256 differs from {CHECKSUMS_FILE}",
                    path.display()
                ));
            }
            _ => {}
        }
    }
    problems
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
