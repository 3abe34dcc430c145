//! PMTiles v3 output through the `pmtiles` crate's streaming writer.

use std::fs::File;
use std::path::{Path, PathBuf};

use pmtiles::{Compression, PmTilesStreamWriter, PmTilesWriter, TileCoord, TileType};

use super::metadata::ArchiveMetadata;
use super::{ArchiveWriter, ExportError, Result};
use crate::model::TileId;

/// A PMTiles archive being written into an open file.
pub(super) struct Writer<'a> {
    inner: PmTilesStreamWriter<&'a File>,
    /// The output named in errors.
    out: PathBuf,
}

impl<'a> Writer<'a> {
    /// Starts an archive in `file` (headers, metadata); `out` is named in errors.
    pub(super) fn create(file: &'a File, metadata: &ArchiveMetadata, out: &Path) -> Result<Self> {
        let b = &metadata.bounds;
        let (lon, lat, zoom) = metadata.center;
        // The renderer's threads gzip the tiles (the writer's own codec for MVT would
        // do it on the writing thread); identical tiles are still stored once.
        let inner = PmTilesWriter::new(TileType::Mvt)
            .precompressed(Compression::Gzip)
            .min_zoom(metadata.min_zoom)
            .max_zoom(metadata.max_zoom)
            .bounds(b.min_x, b.min_y, b.max_x, b.max_y)
            .center(lon, lat)
            .center_zoom(zoom)
            .metadata(metadata.pmtiles_json().to_string())
            .create(file)
            .map_err(pmtiles_err(out))?;
        Ok(Self {
            inner,
            out: out.to_owned(),
        })
    }
}

fn pmtiles_err(out: &Path) -> impl FnOnce(pmtiles::PmtError) -> ExportError + '_ {
    move |source| ExportError::PmTiles {
        path: out.to_owned(),
        source,
    }
}

impl ArchiveWriter for Writer<'_> {
    fn add_tile(&mut self, tile: TileId, gzipped: &[u8]) -> Result<()> {
        let coord = TileCoord::new(tile.z, tile.x, tile.y).map_err(pmtiles_err(&self.out))?;
        self.inner
            .add_tile(coord, gzipped)
            .map_err(pmtiles_err(&self.out))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let Self { inner, out } = *self;
        inner.finalize().map_err(pmtiles_err(&out))
    }
}
