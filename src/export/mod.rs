//! Tile archives: `tessera export` writes the vector tiles the server serves into one
//! PMTiles or MBTiles file, for static hosting or for another tile server.
//!
//! Every tile from the minimum to the maximum zoom that touches the layers' extent is
//! rendered with [`crate::tiles::render_tile_with`], the function behind
//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt`, so an archived tile holds the same bytes as
//! the served one (before the gzip both apply). Tiles with no feature are left out,
//! as the server answers them with `204 No Content`. Tiles are rendered and
//! compressed on every core and written in PMTiles tile-id order (zoom by zoom, along
//! the Hilbert curve), so the PMTiles directory is clustered.
//!
//! An archive is written to a hidden file beside the output and renamed into place
//! once complete: a failed export never leaves a half archive under the final name,
//! and an archive being served is replaced in one step.
//!
//! Personal layers are refused: their raw points are never published, in tiles or
//! otherwise.
//!
//! May import: `model`, `index`, `tiles`, `store`.

mod mbtiles_file;
mod metadata;
mod pmtiles_file;
mod render;
mod staged;

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use crate::index::IndexedLayer;
use crate::model::tile::MAX_ZOOM;
use crate::model::{Bbox, LayerName, Sensitivity, TileId};
use crate::tiles::TileOptions;
use metadata::ArchiveMetadata;
use staged::StagedFile;

/// The most tiles one export may plan.
///
/// The plan of each zoom is held in memory and the PMTiles directory keeps an entry
/// per written tile until the end; at about ten thousand tiles a second on two cores
/// this many would also take half an hour. An export past it is more likely a
/// mistaken `--maxzoom` than an intent, so it is refused before any work.
pub const MAX_TILES: u64 = 1 << 24;

/// The container an export writes, chosen from the output's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// PMTiles v3 (`.pmtiles`): one file read with HTTP range requests.
    PmTiles,
    /// MBTiles 1.3 (`.mbtiles`): an SQLite database.
    MbTiles,
}

impl ArchiveFormat {
    /// The format named by the extension of `path` (case-insensitive).
    ///
    /// # Examples
    /// ```
    /// use std::path::Path;
    /// use tessera::export::ArchiveFormat;
    ///
    /// let format = ArchiveFormat::from_path(Path::new("city.PMTiles"));
    /// assert_eq!(format.ok(), Some(ArchiveFormat::PmTiles));
    /// assert!(ArchiveFormat::from_path(Path::new("city.zip")).is_err());
    /// ```
    ///
    /// # Errors
    /// [`ExportError::UnknownFormat`] for any other extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(OsStr::to_str)
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("pmtiles") => Ok(Self::PmTiles),
            Some("mbtiles") => Ok(Self::MbTiles),
            _ => Err(ExportError::UnknownFormat {
                path: path.to_owned(),
            }),
        }
    }
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// The first zoom written.
    pub min_zoom: u8,
    /// The last zoom written, at most [`MAX_ZOOM`].
    pub max_zoom: u8,
    /// Rendering options; the defaults are the server's.
    pub tile_options: TileOptions,
}

/// How far an export has come, reported after each batch of tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportProgress {
    /// Tiles rendered so far, empty ones included.
    pub done: u64,
    /// Tiles to render in all.
    pub total: u64,
    /// Tiles written to the archive so far.
    pub written: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The container written.
    pub format: ArchiveFormat,
    /// Tiles rendered, empty ones included.
    pub tiles_rendered: u64,
    /// Tiles written (the non-empty ones).
    pub tiles_written: u64,
    /// Size of the written tiles before compression, bytes.
    pub tile_bytes: u64,
    /// Size of the archive file, bytes.
    pub archive_bytes: u64,
}

/// Why an export failed. Nothing is left under the output name then.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output's extension names no archive format.
    #[error("{path}: unknown archive format: the file name must end in .pmtiles or .mbtiles")]
    UnknownFormat {
        /// The output file.
        path: PathBuf,
    },
    /// The zoom range is empty or too deep.
    #[error("zooms {min}..={max} are not a valid range: need min <= max <= {MAX_ZOOM}")]
    ZoomRange {
        /// The first zoom asked for.
        min: u8,
        /// The last zoom asked for.
        max: u8,
    },
    /// No layer was given.
    #[error("no layer to export")]
    NoLayers,
    /// A layer holds personal data.
    #[error(
        "layer {0} holds personal data: its raw features are never published; export \
         aggregates instead (tessera aggregate)"
    )]
    PersonalLayer(LayerName),
    /// No layer has a feature.
    #[error("the layers have no features: nothing to export")]
    Empty,
    /// The plan exceeds [`MAX_TILES`].
    #[error(
        "zooms {min}..={max} cover {tiles} tiles, more than the {MAX_TILES} one export may \
         write: lower the maximum zoom"
    )]
    TooManyTiles {
        /// Tiles the zoom range covers.
        tiles: u64,
        /// The first zoom asked for.
        min: u8,
        /// The last zoom asked for.
        max: u8,
    },
    /// A file operation failed.
    #[error("{path}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The PMTiles writer failed.
    #[error("{path}: cannot write the PMTiles archive")]
    PmTiles {
        /// The output file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: pmtiles::PmtError,
    },
    /// SQLite failed writing the MBTiles archive.
    #[error("{path}: cannot write the MBTiles archive")]
    MbTiles {
        /// The output file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, ExportError>;

/// One archive being written: tiles in the order given, then the metadata.
trait ArchiveWriter {
    /// Adds a gzip-compressed MVT tile.
    fn add_tile(&mut self, tile: TileId, gzipped: &[u8]) -> Result<()>;
    /// Writes what remains (directories, metadata) and flushes the file.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Renders every non-empty tile of `layers` from `options.min_zoom` to
/// `options.max_zoom` into the archive `out`, whose format follows its extension. An
/// existing file at `out` is replaced once the new archive is complete. `progress` is
/// called after each batch of tiles.
///
/// # Errors
/// [`ExportError`] on a bad extension or zoom range, a personal layer, no features,
/// too many tiles, or a failure writing the file; `out` is then left as it was.
pub fn export(
    layers: &[&IndexedLayer],
    out: &Path,
    options: &ExportOptions,
    progress: &mut dyn FnMut(ExportProgress),
) -> Result<ExportSummary> {
    let format = ArchiveFormat::from_path(out)?;
    if options.min_zoom > options.max_zoom || options.max_zoom > MAX_ZOOM {
        return Err(ExportError::ZoomRange {
            min: options.min_zoom,
            max: options.max_zoom,
        });
    }
    let extent = extent(layers)?;
    let plan = render::Plan::new(&extent, options.min_zoom..=options.max_zoom)?;
    let metadata = ArchiveMetadata::new(layers, extent, options);
    let staged = StagedFile::create(out)?;
    let mut writer: Box<dyn ArchiveWriter + '_> = match format {
        ArchiveFormat::PmTiles => {
            Box::new(pmtiles_file::Writer::create(staged.file(), &metadata, out)?)
        }
        ArchiveFormat::MbTiles => {
            Box::new(mbtiles_file::Writer::create(staged.path(), &metadata, out)?)
        }
    };
    let counts = render::render_into(&mut *writer, layers, &plan, options, progress)?;
    writer.finish()?;
    let archive_bytes = staged.persist(out)?;
    Ok(ExportSummary {
        format,
        tiles_rendered: plan.len(),
        tiles_written: counts.written,
        tile_bytes: counts.bytes,
        archive_bytes,
    })
}

/// The extent of the layers together, after refusing what may not be exported.
fn extent(layers: &[&IndexedLayer]) -> Result<Bbox> {
    if layers.is_empty() {
        return Err(ExportError::NoLayers);
    }
    let mut extent = Bbox::empty();
    for layer in layers {
        let meta = layer.meta();
        if meta.sensitivity == Sensitivity::Personal {
            return Err(ExportError::PersonalLayer(meta.name.clone()));
        }
        if let Some(bbox) = &meta.bbox {
            extent.extend(bbox);
        }
    }
    if extent.is_empty() {
        return Err(ExportError::Empty);
    }
    Ok(extent)
}

#[cfg(test)]
mod tests;
