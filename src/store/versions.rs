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

    /// Copies every version of every layer, with its served-version choice, and the
    /// named top-level files (keys, ledger, secret) into `to`, which must hold no layer.
    /// Version files are hard-linked where the file system allows (versions never
    /// change once published, so a link is a consistent copy), copied otherwise.
    /// Returns the number of versions copied. Restoring is the same copy back.
    ///
    /// # Errors
    /// [`StoreError::Io`] when `to` already holds layers or a file cannot be copied.
    pub fn backup(&self, to: &Path, files: &[&str]) -> Result<usize> {
        let target = DataDir::open(to)?;
        if !target.layers()?.is_empty() {
            return Err(io_err(to)(std::io::Error::other(
                "the target already holds layers; use an empty folder",
            )));
        }
        let mut copied = 0;
        for layer in self.layers()? {
            fs::create_dir_all(target.layer_dir(&layer)).map_err(io_err(to))?;
            for version in self.versions(&layer)? {
                let from = self.version_dir(&layer, version);
                let into = target.version_dir(&layer, version);
                fs::create_dir_all(&into).map_err(io_err(&into))?;
                for entry in fs::read_dir(&from).map_err(io_err(&from))? {
                    let entry = entry.map_err(io_err(&from))?;
                    link_or_copy(&entry.path(), &into.join(entry.file_name()))?;
                }
                copied += 1;
            }
            let current = self.layer_dir(&layer).join(CURRENT_FILE);
            if current.exists() {
                link_or_copy(&current, &target.layer_dir(&layer).join(CURRENT_FILE))?;
            }
        }
        for name in files {
            let from = self.root.join(name);
            if from.exists() {
                fs::copy(&from, target.root.join(name)).map_err(io_err(&from))?;
            }
        }
        sync_dir(&target.root)?;
        Ok(copied)
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

/// Hard-links `from` to `to`, or copies it where links are not possible.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to).map(|_| ()).map_err(io_err(from))
}

/// Writes the checksums of a version folder's files.
pub(super) fn write_checksums(dir: &Path) -> Result<()> {
    let mut list = String::new();
    for name in CHECKED_FILES {
        let path = dir.join(name);
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        list.push_str(&format!(
            "{}  {name}\n",
            crate::model::hex::encode(&Sha256::digest(&bytes))
        ));
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
            (Some(want), Ok(bytes))
                if crate::model::hex::encode(&Sha256::digest(&bytes)) != want =>
            {
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
