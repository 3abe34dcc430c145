//! Seeding: the files of a folder (the demo city of `data/`) ingested as layers of a
//! new data folder when a server first starts on it.
//!
//! Each file whose format is detected becomes the layer named after its stem, described
//! by the folder's `catalog.json` when it has one (title, licence, sensitivity, …), under
//! the declarations of the server's config, which win as they do at every ingest.
//!
//! # Resuming
//! Seeding one layer is one ingest, atomic like every version the store writes. Seeding
//! the folder is several, and a server killed between two of them must finish the job
//! at its next start rather than serve part of the folder for ever. So seeding begins
//! only on a data folder without layers, whose first step is to write the marker file
//! [`SEED_MARKER`] there (synced). While the marker is there, every start seeds each
//! layer of the folder that has no version yet, and the marker goes once every layer
//! is stored. A layer that fails to seed is reported and tried again at the next start.
//!
//! A data folder with layers and no marker was seeded already, or filled by other
//! means: it is never seeded again. A layer deleted on purpose stays deleted, and a
//! server started beside some `data/` folder does not pour it into a store of its own.
//!
//! May import: `model`, `store`, `ingest::*`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::format::Format;
use super::pipeline::{CatalogOptions, IngestOptions, ingest};
use crate::model::{Declared, LayerName, Sensitivity};
use crate::store::{DataDir, StoreError};

/// The catalog file of a seed folder: a JSON object of entries by layer name.
pub const SEED_CATALOG: &str = "catalog.json";

/// The file in the data folder that says seeding has begun and is not finished.
pub const SEED_MARKER: &str = ".seeding";

/// Why seeding could not run at all. A layer that fails is no such error: it is listed
/// in [`SeedReport::failed`].
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The seed folder, its catalog or the marker could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The seed folder's `catalog.json` is not a JSON object of catalog entries.
    #[error("{path}: invalid catalog: {source}")]
    Catalog {
        /// The catalog file.
        path: PathBuf,
        /// The parse error, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The data folder could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A catalog entry of `catalog.json`.
#[derive(serde::Deserialize, Default)]
struct SeedEntry {
    title: Option<String>,
    description: Option<String>,
    license: Option<String>,
    steward: Option<String>,
    update_frequency: Option<String>,
    sensitivity: Option<String>,
    id_field: Option<String>,
    time_field: Option<String>,
    timezone: Option<String>,
}

/// One layer stored by seeding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// The layer.
    pub layer: LayerName,
    /// The file it was read from.
    pub path: PathBuf,
    /// Its features stored.
    pub features: u64,
}

/// What one run of [`seed`] did.
#[derive(Debug, Default)]
pub struct SeedReport {
    /// Layers stored now, in file name order.
    pub seeded: Vec<Seeded>,
    /// Files that failed, with the reason; tried again at the next start.
    pub failed: Vec<(PathBuf, String)>,
    /// Whether seeding is finished (the marker is gone, or seeding was not due).
    pub finished: bool,
}

/// Seeds the layers of `from` missing from `dir`, when `dir` holds no layer or a
/// seeding that did not finish (see the module documentation). `declared` gives the
/// config's declarations of a layer. Each layer seeded or failed is logged as it
/// happens.
///
/// # Errors
/// [`SeedError`] when the seed folder, its catalog or the marker cannot be read or
/// written; a layer that fails is listed in the report instead.
pub fn seed(
    dir: &DataDir,
    from: &Path,
    declared: &dyn Fn(&LayerName) -> Declared,
) -> Result<SeedReport, SeedError> {
    let marker = dir.root().join(SEED_MARKER);
    if !marker.exists() {
        if !dir.layers()?.is_empty() {
            return Ok(SeedReport {
                finished: true,
                ..SeedReport::default()
            });
        }
        write_marker(dir, &marker, from)?;
    }
    let catalog_path = from.join(SEED_CATALOG);
    let mut catalog = read_catalog(&catalog_path)?;
    let mut report = SeedReport::default();
    for (layer, path) in seed_files(from)? {
        if dir.latest_version(&layer)?.is_some() {
            continue;
        }
        let entry = catalog.remove(layer.as_str()).unwrap_or_default();
        let outcome = options(&layer, entry, &declared(&layer))
            .map_err(|reason| format!("{}: {reason}", catalog_path.display()))
            .and_then(|options| ingest(&path, &layer, dir, &options).map_err(|e| e.to_string()));
        match outcome {
            Ok(outcome) => {
                let features = outcome.meta.feature_count;
                tracing::info!(%layer, path = %path.display(), features, "seeded");
                report.seeded.push(Seeded {
                    layer,
                    path,
                    features,
                });
            }
            Err(reason) => {
                tracing::warn!(
                    %layer,
                    path = %path.display(),
                    "cannot seed, tried again at the next start: {reason}"
                );
                report.failed.push((path, reason));
            }
        }
    }
    if report.failed.is_empty() {
        fs::remove_file(&marker).map_err(io_err(&marker))?;
        report.finished = true;
    }
    Ok(report)
}

/// The seed files of `from` by layer, in file name order; of several files with one
/// stem (a shapefile's companions), the first.
fn seed_files(from: &Path) -> Result<Vec<(LayerName, PathBuf)>, SeedError> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(from).map_err(io_err(from))? {
        let path = entry.map_err(io_err(from))?.path();
        if path.is_file() && !path.ends_with(SEED_CATALOG) && Format::detect(&path).is_ok() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut files: Vec<(LayerName, PathBuf)> = Vec::new();
    for path in paths {
        let Some(layer) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| LayerName::new(s).ok())
        else {
            continue;
        };
        if !files.iter().any(|(l, _)| *l == layer) {
            files.push((layer, path));
        }
    }
    Ok(files)
}

fn read_catalog(path: &Path) -> Result<HashMap<String, SeedEntry>, SeedError> {
    if !path.is_file() {
        return Ok(HashMap::new());
    }
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|source| SeedError::Catalog {
        path: path.to_owned(),
        source,
    })
}

/// The ingest options of a layer from its catalog entry and declarations.
fn options(
    layer: &LayerName,
    entry: SeedEntry,
    declared: &Declared,
) -> Result<IngestOptions, String> {
    let sensitivity = entry
        .sensitivity
        .as_deref()
        .map(str::parse::<Sensitivity>)
        .transpose()
        .map_err(|e| format!("{layer}: {e}"))?;
    let mut options = IngestOptions {
        catalog: CatalogOptions {
            title: entry.title.or_else(|| Some(layer.to_string())),
            description: entry.description,
            license: entry.license,
            steward: entry.steward,
            update_frequency: entry.update_frequency,
            sensitivity,
            id_field: entry.id_field,
            time_field: entry.time_field,
            timezone: entry.timezone,
        },
        ..IngestOptions::default()
    };
    options.catalog.declare(declared);
    Ok(options)
}

/// Writes the marker and syncs it and the folder, so that a crash after the first
/// seeded layer finds it.
fn write_marker(dir: &DataDir, marker: &Path, from: &Path) -> Result<(), SeedError> {
    let text = format!("seeding from {}\n", from.display());
    crate::store::write_synced(marker, text.as_bytes())?;
    crate::store::sync_dir(dir.root())?;
    Ok(())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SeedError + '_ {
    move |source| SeedError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests;
