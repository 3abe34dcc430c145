//! The tiles of an export, and their rendering on every core.
//!
//! A zoom's tiles are put in PMTiles tile-id order (Hilbert curve) and cut into
//! batches; each batch is rendered and gzipped by a few threads, each taking every
//! n-th tile so neighbouring (similarly costly) tiles are spread over the threads, and
//! then written in order by the calling thread.

use std::io::Write as _;
use std::num::NonZeroUsize;
use std::ops::RangeInclusive;

use super::{ArchiveWriter, ExportError, ExportOptions, ExportProgress, MAX_TILES, Result};
use crate::index::{IndexedLayer, mercator_rect_of};
use crate::model::tile::TileRange;
use crate::model::{Bbox, TileId};

/// Tiles rendered between two writes and progress reports: enough to keep the threads
/// busy, few enough to hold in memory.
const BATCH: usize = 1024;

/// The tiles to render: the block covering the extent at each zoom.
pub(super) struct Plan {
    ranges: Vec<TileRange>,
}

impl Plan {
    /// The tiles of `zooms` that touch `extent` (WGS84).
    pub(super) fn new(extent: &Bbox, zooms: RangeInclusive<u8>) -> Result<Self> {
        let (min, max) = (*zooms.start(), *zooms.end());
        let rect = mercator_rect_of(extent);
        let ranges = zooms
            .map(|z| TileRange::covering(&rect, z))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| ExportError::ZoomRange { min, max })?;
        let plan = Self { ranges };
        if plan.len() > MAX_TILES {
            return Err(ExportError::TooManyTiles {
                tiles: plan.len(),
                min,
                max,
            });
        }
        Ok(plan)
    }

    /// Number of tiles planned.
    pub(super) fn len(&self) -> u64 {
        self.ranges.iter().map(TileRange::len).sum()
    }

    /// The planned tile ranges, one per zoom.
    #[cfg(test)]
    pub(super) fn ranges(&self) -> &[TileRange] {
        &self.ranges
    }
}

/// What [`render_into`] wrote.
pub(super) struct Counts {
    /// Tiles written.
    pub written: u64,
    /// Their size before compression, bytes.
    pub bytes: u64,
}

/// A rendered, non-empty tile.
struct Rendered {
    raw_len: usize,
    gzipped: Vec<u8>,
}

/// Renders the plan's tiles and adds the non-empty ones to `writer` in tile-id order.
pub(super) fn render_into(
    writer: &mut dyn ArchiveWriter,
    layers: &[&IndexedLayer],
    plan: &Plan,
    options: &ExportOptions,
    progress: &mut dyn FnMut(ExportProgress),
) -> Result<Counts> {
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let mut counts = Counts {
        written: 0,
        bytes: 0,
    };
    let mut done = 0;
    for range in &plan.ranges {
        for batch in hilbert_order(range).chunks(BATCH) {
            let rendered = render_batch(layers, batch, options, threads);
            for (tile, rendered) in batch.iter().zip(rendered) {
                if let Some(r) = rendered {
                    writer.add_tile(*tile, &r.gzipped)?;
                    counts.written += 1;
                    counts.bytes += r.raw_len as u64;
                }
            }
            done += batch.len() as u64;
            progress(ExportProgress {
                done,
                total: plan.len(),
                written: counts.written,
            });
        }
    }
    Ok(counts)
}

/// The tiles of a range in PMTiles tile-id order.
fn hilbert_order(range: &TileRange) -> Vec<TileId> {
    // Every `TileId` is a valid PMTiles coordinate (zoom 24 against 31); were one not,
    // it would sort last and the writer would report it.
    let id = |t: TileId| {
        pmtiles::TileCoord::new(t.z, t.x, t.y)
            .map_or(u64::MAX, |c| pmtiles::TileId::from(c).value())
    };
    let mut tiles: Vec<(u64, TileId)> = range.iter().map(|t| (id(t), t)).collect();
    tiles.sort_unstable_by_key(|(id, _)| *id);
    tiles.into_iter().map(|(_, t)| t).collect()
}

/// Renders and compresses `tiles` on up to `threads` threads; results in input order.
fn render_batch(
    layers: &[&IndexedLayer],
    tiles: &[TileId],
    options: &ExportOptions,
    threads: usize,
) -> Vec<Option<Rendered>> {
    let threads = threads.clamp(1, tiles.len().max(1));
    let strides: Vec<Vec<Option<Rendered>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|first| {
                s.spawn(move || {
                    tiles
                        .iter()
                        .skip(first)
                        .step_by(threads)
                        .map(|t| render_one(layers, *t, options))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    // Tile i was rendered by thread i % threads, as its (i / threads)-th result.
    let mut strides: Vec<_> = strides.into_iter().map(Vec::into_iter).collect();
    (0..tiles.len())
        .map(|i| strides[i % threads].next().flatten())
        .collect()
}

/// One tile exactly as the server renders it, gzipped; `None` when it is empty.
fn render_one(layers: &[&IndexedLayer], tile: TileId, options: &ExportOptions) -> Option<Rendered> {
    let raw = crate::tiles::render_tile_with(layers, tile, &options.tile_options).bytes?;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 2),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(&raw);
    let gzipped = encoder.finish().unwrap_or_default();
    Some(Rendered {
        raw_len: raw.len(),
        gzipped,
    })
}
