//! Layer versions on disk.
//!
//! A data directory holds one folder per layer and one folder per version inside it:
//!
//! ```text
//! DATA_DIR/parcels/v000001/features.fgb   FlatGeobuf with its packed R-tree
//! DATA_DIR/parcels/v000001/meta.json      LayerMeta (schema, bbox, counts, provenance)
//! DATA_DIR/parcels/v000001/quality.json   QualityReport of the ingest
//! DATA_DIR/parcels/v000001/SHA256SUMS     checksums of the three ([`versions`])
//! ```
//!
//! A version is written into a hidden staging folder (`DATA_DIR/LAYER/.staging-PID-NANOS`),
//! every file is synced, and the folder is renamed into place in one step. A crash or a
//! failed ingest therefore never leaves a half-written version, and the version being
//! served is never touched. A writer killed mid-version (SIGKILL, power loss) leaves its
//! staging folder behind, which no reader ever looks at; [`DataDir::recover`] removes
//! such folders at start-up.
//!
//! May import: `model`.

mod fgb;
mod versions;

pub use versions::{CHECKSUMS_FILE, CURRENT_FILE, Damage};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::model::{Feature, LayerMeta, LayerName, QualityReport, Sensitivity};

/// File name of the features of a version.
pub const FEATURES_FILE: &str = "features.fgb";
/// File name of the metadata of a version.
pub const META_FILE: &str = "meta.json";
/// File name of the quality report of a version.
pub const QUALITY_FILE: &str = "quality.json";
/// Folder of the data directory where uploads are received before their ingest.
pub const UPLOADS_DIR: &str = ".uploads";
/// Name prefix of the folders versions are written in before their rename.
pub const STAGING_PREFIX: &str = ".staging-";

/// Errors reading or writing the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A metadata file could not be read or written.
    #[error("{path}: invalid metadata: {source}")]
    Json {
        /// The metadata file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The FlatGeobuf file could not be written or read back.
    #[error("{path}: {message}")]
    FlatGeobuf {
        /// The FlatGeobuf file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The layer has no stored version.
    #[error("layer {0} has no stored version")]
    NoVersion(LayerName),
    /// The layer has no version of that number.
    #[error("layer {layer} has no version {version}")]
    NoSuchVersion {
        /// The layer.
        layer: LayerName,
        /// The version asked for.
        version: u32,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, StoreError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A layer version read back from disk.
#[derive(Debug, Clone)]
pub struct StoredLayer {
    /// Its metadata.
    pub meta: LayerMeta,
    /// Its features, ordered by id.
    pub features: Vec<Feature>,
}

/// A Tessera data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (and creates if needed) a data directory.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the folder cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(Self { root })
    }

    /// The root folder.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Layers that have at least one version, sorted by name.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the folder cannot be listed.
    pub fn layers(&self) -> Result<Vec<LayerName>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|n| LayerName::new(n).ok())
            else {
                continue;
            };
            if !self.versions(&name)?.is_empty() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Complete versions of a layer, ascending.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the layer folder exists but cannot be listed.
    pub fn versions(&self, layer: &LayerName) -> Result<Vec<u32>> {
        let dir = self.layer_dir(layer);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut versions = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            if let Some(v) = entry.file_name().to_str().and_then(parse_version_dir) {
                versions.push(v);
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    /// The newest version of a layer, if any.
    ///
    /// # Errors
    /// As [`DataDir::versions`].
    pub fn latest_version(&self, layer: &LayerName) -> Result<Option<u32>> {
        Ok(self.versions(layer)?.last().copied())
    }

    /// Reads the metadata of a version.
    ///
    /// # Errors
    /// [`StoreError`] when the file is missing or invalid.
    pub fn read_meta(&self, layer: &LayerName, version: u32) -> Result<LayerMeta> {
        read_json(&self.version_dir(layer, version).join(META_FILE))
    }

    /// Reads the quality report of a version.
    ///
    /// # Errors
    /// [`StoreError`] when the file is missing or invalid.
    pub fn read_quality(&self, layer: &LayerName, version: u32) -> Result<QualityReport> {
        read_json(&self.version_dir(layer, version).join(QUALITY_FILE))
    }

    /// Reads a whole version: metadata and features.
    ///
    /// # Errors
    /// [`StoreError`] when a file is missing or corrupt.
    pub fn read_version(&self, layer: &LayerName, version: u32) -> Result<StoredLayer> {
        let dir = self.version_dir(layer, version);
        let meta: LayerMeta = read_json(&dir.join(META_FILE))?;
        let features = fgb::read_features(&dir.join(FEATURES_FILE), &meta.schema)?;
        Ok(StoredLayer { meta, features })
    }

    /// Reads the served version of a layer: the newest, or the one a rollback chose.
    ///
    /// # Errors
    /// [`StoreError::NoVersion`] when there is none, or as [`DataDir::read_version`].
    pub fn read_latest(&self, layer: &LayerName) -> Result<StoredLayer> {
        let version = self
            .current_version(layer)?
            .ok_or_else(|| StoreError::NoVersion(layer.clone()))?;
        self.read_version(layer, version)
    }

    /// Writes a new version of `meta.name` and returns its metadata with the version
    /// number filled in. The write is atomic: readers see either no new version or a
    /// complete one.
    ///
    /// A personal layer's metadata and quality report are written in their published
    /// forms ([`LayerMeta::published`], [`QualityReport::redacted`]): its `meta.json`
    /// holds only the coarse extent, and its `quality.json` no coordinate or value.
    ///
    /// # Errors
    /// [`StoreError`] on any I/O or encoding failure; nothing is published then.
    pub fn write_version(
        &self,
        meta: LayerMeta,
        features: &[Feature],
        quality: &QualityReport,
    ) -> Result<LayerMeta> {
        let mut meta = meta.published();
        let redacted;
        let quality = if meta.sensitivity == Sensitivity::Personal {
            redacted = quality.redacted();
            &redacted
        } else {
            quality
        };
        let layer_dir = self.layer_dir(&meta.name);
        fs::create_dir_all(&layer_dir).map_err(io_err(&layer_dir))?;
        let staging = TempDir::create(&layer_dir)?;
        fgb::write_features(&staging.path.join(FEATURES_FILE), &meta, features)?;
        write_json(&staging.path.join(QUALITY_FILE), quality)?;
        loop {
            meta.version = self.latest_version(&meta.name)?.unwrap_or(0) + 1;
            write_json(&staging.path.join(META_FILE), &meta)?;
            versions::write_checksums(&staging.path)?;
            sync_dir(&staging.path)?;
            let target = self.version_dir(&meta.name, meta.version);
            match fs::rename(&staging.path, &target) {
                Ok(()) => break,
                // Another ingest took this number first: take the next one.
                Err(_) if target.exists() => {}
                Err(e) => return Err(io_err(&target)(e)),
            }
        }
        staging.disarm();
        sync_dir(&layer_dir)?;
        // A new version is served, whatever an earlier rollback chose.
        self.clear_current(&meta.name)?;
        Ok(meta)
    }

    /// Removes the staging folders that writers killed mid-version left in the layer
    /// folders, and the uploads a killed server left in [`UPLOADS_DIR`], and returns
    /// their paths, sorted. Call it at start-up, before this
    /// process writes a version.
    ///
    /// A staging folder is named after the process writing it
    /// (`.staging-PID-NANOS`). It is left alone while that process runs, so that a
    /// `tessera ingest` running beside a starting server keeps its work; it counts as
    /// abandoned when the process is gone or a zombie, when the PID is this process's
    /// own (a previous process with the same PID, as in a container where the server is
    /// always PID 1), or when the name holds no PID. Where `/proc` is not mounted,
    /// liveness cannot be told and every staging folder counts as abandoned: an ingest
    /// that loses its folder that way fails with an I/O error and stores nothing. The
    /// same happens to an ingest in another PID namespace (another container sharing
    /// the folder) whose PID means nothing here.
    ///
    /// # Errors
    /// [`StoreError::Io`] when a folder cannot be listed or a staging folder removed;
    /// the folders removed before stay removed.
    pub fn recover(&self) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            let is_layer = entry
                .file_name()
                .to_str()
                .is_some_and(|n| LayerName::new(n).is_ok());
            if !is_layer || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let layer_dir = entry.path();
            let before = removed.len();
            for entry in fs::read_dir(&layer_dir).map_err(io_err(&layer_dir))? {
                let entry = entry.map_err(io_err(&layer_dir))?;
                let name = entry.file_name();
                let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(STAGING_PREFIX)) else {
                    continue;
                };
                let path = entry.path();
                if writer_is_running(rest) {
                    tracing::info!(path = %path.display(), "staging folder of a running writer kept");
                    continue;
                }
                let removal = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removal.map_err(io_err(&path))?;
                removed.push(path);
            }
            if removed.len() > before {
                sync_dir(&layer_dir)?;
            }
        }
        // Uploads of a server killed mid-request (`PUT /admin/layers/...`).
        let uploads = self.root.join(UPLOADS_DIR);
        if let Ok(entries) = fs::read_dir(&uploads) {
            for entry in entries.flatten() {
                let path = entry.path();
                fs::remove_file(&path).map_err(io_err(&path))?;
                removed.push(path);
            }
        }
        removed.sort();
        Ok(removed)
    }

    fn layer_dir(&self, layer: &LayerName) -> PathBuf {
        self.root.join(layer.as_str())
    }

    fn version_dir(&self, layer: &LayerName, version: u32) -> PathBuf {
        self.layer_dir(layer).join(format!("v{version:06}"))
    }
}

fn parse_version_dir(name: &str) -> Option<u32> {
    let digits = name.strip_prefix('v')?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
        path: path.to_owned(),
        source,
    })
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Json {
        path: path.to_owned(),
        source,
    })?;
    write_synced(path, &bytes)
}

/// Writes a file and syncs it to disk before returning.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use io::Write as _;
    let mut file = fs::File::create(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Syncs a folder, so that the entries created or removed in it last.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err(path))
}

/// True when the staging folder named `.staging-{rest}` belongs to a process that is
/// running, other than this one (see [`DataDir::recover`]).
fn writer_is_running(rest: &str) -> bool {
    let Some(pid) = rest
        .split('-')
        .next()
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() || !Path::new("/proc/self").exists() {
        return false;
    }
    // `/proc/PID/stat` is `PID (COMMAND) STATE ...`; the command may hold spaces and
    // parentheses, so the state is read after the last `)`. A zombie (Z) or dead (X)
    // process writes nothing more.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, after)| after.trim_start().chars().next())
            .is_none_or(|state| !matches!(state, 'Z' | 'X')),
        Err(_) => false,
    }
}

/// A staging folder removed on drop unless disarmed.
struct TempDir {
    path: PathBuf,
    armed: bool,
}

impl TempDir {
    fn create(parent: &Path) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = parent.join(format!("{STAGING_PREFIX}{}-{nanos}", std::process::id()));
        fs::create_dir(&path).map_err(io_err(&path))?;
        Ok(Self { path, armed: true })
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests;
