//! Selecting rows: time filters narrow a [`PointColumns`] to a [`Selection`] (a
//! contiguous range found by binary search, or listed rows when hours, weekdays or a
//! property [`RowMask`] apply), and kernels read it chunk by chunk.
//!
//! May import: `index`, `model`.

use std::ops::Range;

use super::{PointColumns, layer_key};
use crate::analytics::time_filter::TimeFilter;
use crate::analytics::{AnalyticsError, Result};
use crate::index::IndexedLayer;
use crate::model::PropertyFilter;

impl PointColumns {
    /// The rows matching a time filter and an optional property mask.
    ///
    /// `from`/`to` cost two binary searches; hours, weekdays and the mask are checked
    /// per row of the resulting range only. Untimed rows are selected only when the
    /// filter does not constrain time.
    #[must_use]
    pub fn select(&self, filter: &TimeFilter, mask: Option<&RowMask>) -> Selection {
        let range = if filter.constrains_time() {
            let timed = &self.t[..self.timed];
            let start = filter.from.map_or(0, |f| timed.partition_point(|&t| t < f));
            let end = filter
                .to
                .map_or(self.timed, |to| timed.partition_point(|&t| t < to));
            start..end.max(start)
        } else {
            0..self.len()
        };
        let wall = filter.constrains_wall_clock();
        if !wall && mask.is_none() {
            return Selection::Range(range);
        }
        let rows = range
            .filter(|&i| {
                mask.is_none_or(|m| m.get(i))
                    && (!wall || filter.accepts_wall_clock(self.t[i], self.offset(i)))
            })
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        Selection::Rows(rows)
    }

    /// The rows whose source feature has all the given property values (the layer's
    /// dictionary makes this an integer comparison per row and filter).
    ///
    /// # Errors
    /// [`AnalyticsError::LayerMismatch`] when `layer` is not the layer (and version)
    /// the columns were built from.
    pub fn property_mask(
        &self,
        layer: &IndexedLayer,
        filters: &[PropertyFilter],
    ) -> Result<RowMask> {
        let given = layer_key(layer);
        if given != self.layer {
            return Err(AnalyticsError::LayerMismatch {
                built_from: self.layer.clone(),
                given,
            });
        }
        let props = layer.properties();
        let encoded: Option<Vec<(usize, u32)>> = filters
            .iter()
            .map(|f| props.lookup(&f.value).map(|v| (f.field, v)))
            .collect();
        let mut mask = RowMask::new(self.len());
        // A value absent from the dictionary matches nothing.
        if let Some(encoded) = encoded {
            for (row, &src) in self.source.iter().enumerate() {
                if encoded
                    .iter()
                    .all(|&(field, v)| props.value_id(src as usize, field) == v)
                {
                    mask.set(row);
                }
            }
        }
        Ok(mask)
    }

    /// Calls `f` for consecutive chunks of the selection with the chunk's `x`, `y`
    /// and row numbers. Listed rows are gathered into local buffers first, so kernels
    /// always read contiguous slices.
    pub(crate) fn for_each_chunk(
        &self,
        selection: &Selection,
        mut f: impl FnMut(&[f32], &[f32], ChunkRows<'_>),
    ) {
        match selection {
            Selection::Range(range) => {
                let (xs, ys) = (&self.x[range.clone()], &self.y[range.clone()]);
                for (k, (cx, cy)) in xs.chunks(CHUNK).zip(ys.chunks(CHUNK)).enumerate() {
                    f(cx, cy, ChunkRows::Contiguous(range.start + k * CHUNK));
                }
            }
            Selection::Rows(rows) => {
                let (mut bx, mut by) = ([0f32; CHUNK], [0f32; CHUNK]);
                for chunk in rows.chunks(CHUNK) {
                    for ((x, y), &r) in bx.iter_mut().zip(by.iter_mut()).zip(chunk) {
                        *x = self.x[r as usize];
                        *y = self.y[r as usize];
                    }
                    f(
                        &bx[..chunk.len()],
                        &by[..chunk.len()],
                        ChunkRows::Listed(chunk),
                    );
                }
            }
        }
    }
}

/// Rows per chunk of the binning kernels: small enough for the chunk's cell indices to
/// stay in L1, large enough to amortise the call.
pub(crate) const CHUNK: usize = 256;

/// The row numbers of one chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChunkRows<'a> {
    /// Rows `start..start + chunk length`.
    Contiguous(usize),
    /// These rows.
    Listed(&'a [u32]),
}

impl ChunkRows<'_> {
    /// The row of the chunk's `j`-th point.
    #[inline]
    pub(crate) fn row(self, j: usize) -> usize {
        match self {
            ChunkRows::Contiguous(start) => start + j,
            ChunkRows::Listed(rows) => rows[j] as usize,
        }
    }
}

/// The rows a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// A contiguous range of rows (time filter only).
    Range(Range<usize>),
    /// Ascending row numbers (hours, weekdays or property filters).
    Rows(Vec<u32>),
}

impl Selection {
    /// Number of rows selected.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Selection::Range(r) => r.len(),
            Selection::Rows(rows) => rows.len(),
        }
    }

    /// True when no row is selected.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The selection cut into `parts` consecutive parts of about equal size (fewer
    /// when it has fewer rows), for binning on several threads.
    #[must_use]
    pub fn split(&self, parts: usize) -> Vec<Selection> {
        let len = self.len();
        let size = len.div_ceil(parts.max(1)).max(1);
        (0..len)
            .step_by(size)
            .map(|from| {
                let to = (from + size).min(len);
                match self {
                    Selection::Range(r) => Selection::Range(r.start + from..r.start + to),
                    Selection::Rows(rows) => Selection::Rows(rows[from..to].to_vec()),
                }
            })
            .collect()
    }

    /// The selected rows, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let (range, rows) = match self {
            Selection::Range(r) => (r.clone(), &[][..]),
            Selection::Rows(rows) => (0..0, rows.as_slice()),
        };
        range.chain(rows.iter().map(|&r| r as usize))
    }
}

/// One bit per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMask {
    bits: Vec<u64>,
}

impl RowMask {
    /// A mask of `rows` rows, none set.
    #[must_use]
    pub fn new(rows: usize) -> Self {
        Self {
            bits: vec![0; rows.div_ceil(64)],
        }
    }

    /// Sets `row`.
    pub fn set(&mut self, row: usize) {
        self.bits[row / 64] |= 1 << (row % 64);
    }

    /// True when `row` is set.
    #[inline]
    #[must_use]
    pub fn get(&self, row: usize) -> bool {
        self.bits
            .get(row / 64)
            .is_some_and(|w| w & (1 << (row % 64)) != 0)
    }
}
