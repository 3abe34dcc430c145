//! Square-grid binning: the selected points of a [`PointColumns`] counted into an
//! N×N raster over a Web Mercator rectangle (typically a tile), with distinct
//! persons, sums and means per cell.
//!
//! # Speed
//! The count kernel works in chunks of 256 points: a branch-free pass computes
//! each point's cell from the `f32` Mercator offsets (points outside the rectangle go
//! to one of a few spare "dump" cells past the raster, rotating so that consecutive
//! misses do not wait on each other), then a second pass increments the counts.
//! Neither pass allocates or branches per point, and the only bounds check is the
//! increment's, which always passes. Distinct persons take a second pass that
//! groups each point's person by cell (a counting sort sized by the first pass's
//! counts), then one linear count per cell.
//!
//! # Cell edges
//! Cells are half-open: a point on the west or north edge of a cell is in it, a
//! point on the east or south edge is in the next one, so adjacent tiles never count a
//! point twice. Row 0 is the northern row, as in a raster. Coordinates are `f32`
//! offsets (see [`PointColumns`]), so a point within a few millimetres of an edge
//! (at city scale) may land on either side.
//!
//! May import: `index`, `model`.

use super::points::{CHUNK, ChunkRows, PointColumns, Selection};
use super::stats::distinct_in_group_sets;
use super::{AnalyticsError, NO_PERSON, Result, Stats, StatsSpec};
use crate::model::TileId;
use crate::model::tile::MercatorRect;

/// The largest grid side. 2048² cells are 16 MiB of counts; a 512-pixel tile needs
/// at most 512.
pub const MAX_GRID_SIZE: u32 = 2048;

/// Spare cells past the raster that absorb points outside it. A power of two.
const DUMPS: u32 = 16;

/// An N×N grid over a Web Mercator rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridSpec {
    rect: MercatorRect,
    size: u32,
}

impl GridSpec {
    /// A `size`×`size` grid over `rect`.
    ///
    /// # Errors
    /// [`AnalyticsError::GridSize`] unless `1 <= size <= MAX_GRID_SIZE`;
    /// [`AnalyticsError::Rect`] when `rect` has no area or is not finite.
    pub fn new(rect: MercatorRect, size: u32) -> Result<Self> {
        if size == 0 || size > MAX_GRID_SIZE {
            return Err(AnalyticsError::GridSize {
                size,
                max: MAX_GRID_SIZE,
            });
        }
        let finite = [rect.min_x, rect.min_y, rect.max_x, rect.max_y]
            .iter()
            .all(|v| v.is_finite());
        if !finite || rect.min_x >= rect.max_x || rect.min_y >= rect.max_y {
            return Err(AnalyticsError::Rect(format!("{rect:?}")));
        }
        Ok(Self { rect, size })
    }

    /// A `size`×`size` grid over a tile.
    ///
    /// # Errors
    /// [`AnalyticsError::GridSize`] unless `1 <= size <= MAX_GRID_SIZE`.
    pub fn for_tile(tile: TileId, size: u32) -> Result<Self> {
        Self::new(tile.mercator_bounds(), size)
    }

    /// The rectangle covered.
    #[must_use]
    pub fn rect(&self) -> MercatorRect {
        self.rect
    }

    /// Cells per side.
    #[must_use]
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The rectangle of cell `(col, row)`, row 0 being the northern row.
    #[must_use]
    pub fn cell_rect(&self, col: u32, row: u32) -> MercatorRect {
        let n = f64::from(self.size);
        let (w, h) = (
            self.rect.max_x - self.rect.min_x,
            self.rect.max_y - self.rect.min_y,
        );
        let x = |c: u32| self.rect.min_x + w * f64::from(c) / n;
        let y = |r: u32| self.rect.max_y - h * f64::from(r) / n;
        MercatorRect {
            min_x: x(col),
            min_y: y(row + 1),
            max_x: x(col + 1),
            max_y: y(row),
        }
    }

    fn cells(&self) -> usize {
        (self.size as usize) * (self.size as usize)
    }
}

/// The statistics of one non-empty cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridCell {
    /// Column, 0 at the west edge.
    pub col: u32,
    /// Row, 0 at the north edge.
    pub row: u32,
    /// The cell's statistics.
    pub stats: Stats,
}

/// A binned grid: dense row-major arrays, row 0 north.
#[derive(Debug, Clone, PartialEq)]
pub struct GridBins {
    spec: GridSpec,
    counts: Vec<u32>,
    distinct: Option<Vec<u32>>,
    sums: Option<Vec<f64>>,
    valued: Option<Vec<u32>>,
}

impl GridBins {
    /// The grid.
    #[must_use]
    pub fn spec(&self) -> &GridSpec {
        &self.spec
    }

    /// Points per cell, row-major from the north-west cell (for raster rendering).
    #[must_use]
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Points binned in total.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// The statistics of cell `(col, row)`.
    ///
    /// # Panics
    /// When `col` or `row` is not below the grid size.
    #[must_use]
    pub fn stats(&self, col: u32, row: u32) -> Stats {
        assert!(
            col < self.spec.size && row < self.spec.size,
            "cell outside the grid"
        );
        self.stats_at(row as usize * self.spec.size as usize + col as usize)
    }

    fn stats_at(&self, i: usize) -> Stats {
        Stats {
            count: u64::from(self.counts[i]),
            distinct: self.distinct.as_ref().map(|d| u64::from(d[i])),
            sum: self.sums.as_ref().map(|s| s[i]),
            valued: self.valued.as_ref().map_or(0, |v| u64::from(v[i])),
        }
    }

    /// The non-empty cells, row by row from the north-west.
    pub fn cells(&self) -> impl Iterator<Item = GridCell> + '_ {
        let n = self.spec.size as usize;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(move |(i, _)| GridCell {
                // i < n * n <= MAX_GRID_SIZE², so both fit in u32.
                col: u32::try_from(i % n).unwrap_or(u32::MAX),
                row: u32::try_from(i / n).unwrap_or(u32::MAX),
                stats: self.stats_at(i),
            })
    }
}

/// The grid in the `f32` frame of the point offsets.
#[derive(Debug, Clone, Copy)]
struct Frame {
    west: f32,
    north: f32,
    scale_x: f32,
    scale_y: f32,
    size: u32,
}

impl Frame {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the kernel works in f32 by design, see the module documentation"
    )]
    fn new(spec: &GridSpec, origin: [f64; 2]) -> Self {
        let r = spec.rect;
        let n = f64::from(spec.size);
        Self {
            west: (r.min_x - origin[0]) as f32,
            north: (r.max_y - origin[1]) as f32,
            scale_x: (n / (r.max_x - r.min_x)) as f32,
            scale_y: (n / (r.max_y - r.min_y)) as f32,
            size: spec.size,
        }
    }

    /// The cell of each point, or a dump cell (`>= size²`) for points outside.
    #[inline]
    fn cells(&self, xs: &[f32], ys: &[f32], out: &mut [u32; CHUNK]) {
        #[expect(clippy::cast_precision_loss, reason = "size <= 2048 is exact in f32")]
        let n = self.size as f32;
        let dump = self.size * self.size;
        for (j, ((cell, &x), &y)) in out.iter_mut().zip(xs).zip(ys).enumerate() {
            let fx = (x - self.west) * self.scale_x;
            let fy = (self.north - y) * self.scale_y;
            // NaN fails every compare.
            #[expect(clippy::needless_bitwise_bool, reason = "no branch to mispredict")]
            let inside = (fx >= 0.0) & (fx < n) & (fy >= 0.0) & (fy < n);
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "used only when 0 <= fx, fy < size, where truncation is floor"
            )]
            let c = (fy as i32 as u32)
                .wrapping_mul(self.size)
                .wrapping_add(fx as i32 as u32);
            // j < CHUNK, so the cast is exact.
            #[expect(clippy::cast_possible_truncation, reason = "j < CHUNK")]
            let spare = dump + (j as u32 & (DUMPS - 1));
            *cell = if inside { c } else { spare };
        }
    }
}

/// Bins the selected points into the grid.
///
/// # Errors
/// [`AnalyticsError::NoPersonField`] / [`AnalyticsError::NoValueField`] when `stats`
/// asks for a column the table was built without.
///
/// # Examples
/// ```
/// # use tessera::analytics::points::{PointColumns, Selection};
/// # use tessera::analytics::grid::{GridSpec, bin};
/// # use tessera::analytics::StatsSpec;
/// # fn heat(points: &PointColumns, tile: tessera::model::TileId) -> tessera::analytics::Result<u64> {
/// let grid = GridSpec::for_tile(tile, 256)?;
/// let all = Selection::Range(0..points.len());
/// let bins = bin(points, &all, &grid, StatsSpec::default())?;
/// Ok(bins.total())
/// # }
/// ```
pub fn bin(
    points: &PointColumns,
    selection: &Selection,
    spec: &GridSpec,
    stats: StatsSpec,
) -> Result<GridBins> {
    points.check(stats)?;
    Ok(bin_in_parts(
        points,
        selection,
        spec,
        stats,
        threads_for(selection.len()),
    ))
}

/// Bins the selection cut into `threads` parts, one thread each.
fn bin_in_parts(
    points: &PointColumns,
    selection: &Selection,
    spec: &GridSpec,
    stats: StatsSpec,
    threads: usize,
) -> GridBins {
    let parts = if threads > 1 {
        selection.split(threads)
    } else {
        Vec::new()
    };
    let partials = if parts.len() < 2 {
        vec![bin_part(points, selection, spec, stats)]
    } else {
        std::thread::scope(|scope| {
            let running: Vec<_> = parts
                .iter()
                .map(|part| scope.spawn(move || bin_part(points, part, spec, stats)))
                .collect();
            running
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    merge(*spec, partials, points.person_count())
}

/// Selections of at least this many rows per thread are binned on several threads
/// (at most [`MAX_THREADS`]): below it, starting a thread costs more than it saves.
const PARALLEL_MIN_ROWS: usize = 1 << 20;
/// The most threads one binning uses, so that one request leaves cores to others.
const MAX_THREADS: usize = 4;

pub(crate) fn threads_for(rows: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    cores.min(MAX_THREADS).min(rows / PARALLEL_MIN_ROWS).max(1)
}

/// One thread's share of a binning.
struct Partial {
    counts: Vec<u32>,
    sums: Option<Vec<f64>>,
    valued: Option<Vec<u32>>,
    persons: Option<PersonGroups>,
}

/// The persons of the in-grid points, grouped by cell: cell `c`'s persons are
/// `grouped[start[c]..start[c + 1]]`.
struct PersonGroups {
    grouped: Vec<u32>,
    start: Vec<usize>,
}

/// Adds up the threads' shares; distinct persons are counted over the union of each
/// cell's groups.
fn merge(spec: GridSpec, mut partials: Vec<Partial>, persons: u32) -> GridBins {
    let distinct = {
        let sets: Option<Vec<(&[u32], &[usize])>> = partials
            .iter()
            .map(|p| {
                p.persons
                    .as_ref()
                    .map(|g| (g.grouped.as_slice(), g.start.as_slice()))
            })
            .collect();
        sets.map(|sets| distinct_in_group_sets(&sets, persons))
    };
    let mut first = partials.swap_remove(0);
    for p in partials {
        add_into(&mut first.counts, &p.counts);
        if let (Some(a), Some(b)) = (first.sums.as_mut(), p.sums.as_ref()) {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        if let (Some(a), Some(b)) = (first.valued.as_mut(), p.valued.as_ref()) {
            add_into(a, b);
        }
    }
    GridBins {
        spec,
        counts: first.counts,
        distinct,
        sums: first.sums,
        valued: first.valued,
    }
}

fn add_into(a: &mut [u32], b: &[u32]) {
    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
}

/// Bins one part of a selection.
fn bin_part(
    points: &PointColumns,
    selection: &Selection,
    spec: &GridSpec,
    stats: StatsSpec,
) -> Partial {
    let frame = Frame::new(spec, points.origin());
    let cells = spec.cells();
    // Counts fit in u32: a table has at most MAX_ROWS < 2^32 rows.
    let mut counts = vec![0u32; cells + DUMPS as usize];
    let mut sums = stats.value.then(|| vec![0f64; cells + DUMPS as usize]);
    let mut valued = stats.value.then(|| vec![0u32; cells + DUMPS as usize]);
    let values = points.values().unwrap_or(&[]);
    // For distinct counts, the in-grid points (row, cell) are remembered in the first
    // pass so that the second one reads only them: a tile usually holds a small part
    // of a city's points, and re-scanning all of them doubled the cost of a tile.
    let remember = stats.distinct && grid_is_small(spec, points);
    let rescan = stats.distinct && !remember;
    let mut inside: Option<Vec<(u32, u32)>> = remember.then(Vec::new);
    let mut buf = [0u32; CHUNK];
    points.for_each_chunk(selection, |xs, ys, rows| {
        frame.cells(xs, ys, &mut buf);
        let chunk = &buf[..xs.len()];
        for &c in chunk {
            if let Some(n) = counts.get_mut(c as usize) {
                *n += 1;
            }
        }
        if let (Some(sums), Some(valued)) = (sums.as_mut(), valued.as_mut()) {
            add_values(chunk, rows, values, sums, valued);
        }
        if let Some(list) = inside.as_mut() {
            let limit = u32::try_from(cells).unwrap_or(u32::MAX);
            for (j, &c) in chunk.iter().enumerate() {
                if c < limit {
                    // Rows are below MAX_ROWS < 2^32.
                    list.push((u32::try_from(rows.row(j)).unwrap_or(u32::MAX), c));
                }
            }
        }
    });
    counts.truncate(cells);
    let persons = if rescan {
        Some(group_by_rescan(points, selection, &frame, &counts))
    } else {
        inside.map(|inside| group_cells(points, &inside, &counts))
    };
    Partial {
        counts,
        sums: sums.map(|mut s| {
            s.truncate(cells);
            s
        }),
        valued: valued.map(|mut v| {
            v.truncate(cells);
            v
        }),
        persons,
    }
}

#[inline]
fn add_values(
    chunk: &[u32],
    rows: ChunkRows<'_>,
    values: &[f64],
    sums: &mut [f64],
    valued: &mut [u32],
) {
    for (j, &c) in chunk.iter().enumerate() {
        let v = values[rows.row(j)];
        let has = !v.is_nan();
        if let (Some(s), Some(n)) = (sums.get_mut(c as usize), valued.get_mut(c as usize)) {
            *s += if has { v } else { 0.0 };
            *n += u32::from(has);
        }
    }
}

/// True when the grid covers under a sixteenth of the points' extent: then few points
/// fall in it and remembering them beats a second scan of the whole selection.
fn grid_is_small(spec: &GridSpec, points: &PointColumns) -> bool {
    let Some(extent) = points.extent() else {
        return true;
    };
    let area = |r: &MercatorRect| (r.max_x - r.min_x).max(0.0) * (r.max_y - r.min_y).max(0.0);
    let grid = spec.rect();
    let overlap = MercatorRect {
        min_x: grid.min_x.max(extent.min_x),
        min_y: grid.min_y.max(extent.min_y),
        max_x: grid.max_x.min(extent.max_x),
        max_y: grid.max_y.min(extent.max_y),
    };
    area(&overlap) * 16.0 < area(&extent)
}

/// Persons grouped by cell when most points fall in the grid: a second pass over the
/// selection drops each point's person into its cell's slice of one array (a counting
/// sort, with the counts of the first pass as sizes); points outside the grid write to
/// scratch slots past the end, so the pass stays branch-free.
fn group_by_rescan(
    points: &PointColumns,
    selection: &Selection,
    frame: &Frame,
    counts: &[u32],
) -> PersonGroups {
    let persons = points.persons().unwrap_or(&[]);
    let (start, total) = group_starts(counts);
    let mut next: Vec<usize> = start[..counts.len()].to_vec();
    next.extend((0..DUMPS as usize).map(|d| total + d));
    let mut grouped = vec![NO_PERSON; total + DUMPS as usize];
    let mut buf = [0u32; CHUNK];
    points.for_each_chunk(selection, |xs, ys, rows| {
        frame.cells(xs, ys, &mut buf);
        for (j, &c) in buf[..xs.len()].iter().enumerate() {
            let c = c as usize;
            if let Some(slot) = next.get_mut(c) {
                if let Some(g) = grouped.get_mut(*slot) {
                    *g = persons.get(rows.row(j)).copied().unwrap_or(NO_PERSON);
                }
                *slot += usize::from(c < counts.len());
            }
        }
    });
    grouped.truncate(total);
    PersonGroups { grouped, start }
}

/// Where each cell's slice starts in a grouped array, and the total length.
fn group_starts(counts: &[u32]) -> (Vec<usize>, usize) {
    let mut start = Vec::with_capacity(counts.len() + 1);
    let mut total = 0usize;
    start.push(0);
    for &c in counts {
        total += c as usize;
        start.push(total);
    }
    (start, total)
}

/// Persons grouped by cell: the in-grid points `(row, cell)` of the first pass are
/// dropped into their cell's slice of one array (a counting sort, with the counts of
/// the first pass as sizes).
fn group_cells(points: &PointColumns, inside: &[(u32, u32)], counts: &[u32]) -> PersonGroups {
    let persons = points.persons().unwrap_or(&[]);
    let (start, total) = group_starts(counts);
    let mut next: Vec<usize> = start[..counts.len()].to_vec();
    let mut grouped = vec![NO_PERSON; total];
    for &(row, cell) in inside {
        if let Some(slot) = next.get_mut(cell as usize) {
            if let Some(g) = grouped.get_mut(*slot) {
                *g = persons.get(row as usize).copied().unwrap_or(NO_PERSON);
            }
            *slot += 1;
        }
    }
    PersonGroups { grouped, start }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::points::PointFields;
    use crate::analytics::test_data::{layer_of, ping};
    use crate::analytics::time_filter::{HourSet, TimeFilter};
    use crate::model::tile::mercator_to_lonlat;

    /// The lon/lat of the centre of cell (col, row) of `spec`.
    fn centre(spec: &GridSpec, col: u32, row: u32) -> (f64, f64) {
        let r = spec.cell_rect(col, row);
        mercator_to_lonlat((r.min_x + r.max_x) / 2.0, (r.min_y + r.max_y) / 2.0)
    }

    fn fields() -> PointFields<'static> {
        PointFields {
            time: Some("ts"),
            person: Some("device"),
            value: Some("speed"),
        }
    }

    fn all() -> StatsSpec {
        StatsSpec {
            distinct: true,
            value: true,
        }
    }

    /// Barcelona at zoom 12, a 4×4 grid.
    fn spec() -> GridSpec {
        GridSpec::for_tile(TileId::new(12, 2072, 1529).expect("tile"), 4).expect("spec")
    }

    /// Both ways of counting distinct persons (remembering the in-grid points, or
    /// scanning again) give the same answer.
    #[test]
    fn distinct_paths_agree() {
        let s = spec();
        let ts = Some("2024-05-06T08:00:00Z");
        let people = ["p1", "p2", "p3", "p1", "p2", "p4", "p1", "p5"];
        let pings = |far: bool| {
            let mut v: Vec<_> = people
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let col = u32::try_from(i % 4).expect("small");
                    ping(i as u64 + 1, centre(&s, col, col), ts, p, None)
                })
                .collect();
            if far {
                // Widens the extent so the grid is small against it.
                v.push(ping(99, (0.0, 0.0), ts, "p9", None));
            }
            v
        };
        let spec_distinct = StatsSpec {
            distinct: true,
            value: false,
        };
        let fields = PointFields {
            time: Some("ts"),
            person: Some("device"),
            value: None,
        };
        let near = PointColumns::build(&layer_of(pings(false)), &fields).expect("build");
        let far = PointColumns::build(&layer_of(pings(true)), &fields).expect("build");
        assert!(!grid_is_small(&s, &near) && grid_is_small(&s, &far));
        let a = bin(&near, &Selection::Range(0..near.len()), &s, spec_distinct).expect("bin");
        let b = bin(&far, &Selection::Range(0..far.len()), &s, spec_distinct).expect("bin");
        for col in 0..4 {
            assert_eq!(a.stats(col, col), b.stats(col, col), "cell {col}");
        }
        assert_eq!(a.stats(0, 0).distinct, Some(2));
        assert_eq!(a.stats(2, 2).distinct, Some(2));
        // Cut into parts binned on threads of their own, the answer is the same, with a
        // person seen by two threads counted once.
        for threads in [2, 3, 8] {
            for points in [&near, &far] {
                let all = Selection::Range(0..points.len());
                let whole = bin_in_parts(points, &all, &s, spec_distinct, 1);
                assert_eq!(
                    bin_in_parts(points, &all, &s, spec_distinct, threads),
                    whole,
                    "{threads} threads"
                );
                let listed = Selection::Rows((0..points.len()).map(|r| r as u32).collect());
                assert_eq!(
                    bin_in_parts(points, &listed, &s, spec_distinct, threads),
                    whole
                );
            }
        }
    }

    #[test]
    fn selections_split_into_consecutive_parts() {
        let parts = Selection::Range(10..17).split(3);
        assert_eq!(
            parts,
            [
                Selection::Range(10..13),
                Selection::Range(13..16),
                Selection::Range(16..17)
            ]
        );
        assert_eq!(Selection::Rows(vec![1, 5]).split(4).len(), 2);
        assert!(Selection::Range(0..0).split(2).is_empty());
    }

    #[test]
    fn counts_distinct_sums_and_means_per_cell() {
        let s = spec();
        let (a, b, c) = (centre(&s, 0, 0), centre(&s, 3, 1), centre(&s, 2, 3));
        let ts = Some("2024-05-06T08:00:00Z");
        let layer = layer_of(vec![
            ping(1, a, ts, "p1", Some(10.0)),
            ping(2, a, ts, "p1", Some(20.0)),
            ping(3, a, ts, "p2", None),
            ping(4, b, ts, "p3", Some(1.5)),
            ping(5, c, ts, "p1", Some(-4.0)),
            ping(6, c, ts, "p4", Some(8.0)),
            // Outside the tile.
            ping(7, (0.0, 0.0), ts, "p1", Some(99.0)),
        ]);
        let cols = PointColumns::build(&layer, &fields()).expect("build");
        let bins = bin(&cols, &Selection::Range(0..cols.len()), &s, all()).expect("bin");
        assert_eq!(bins.total(), 6);
        let sa = bins.stats(0, 0);
        assert_eq!(
            (sa.count, sa.distinct, sa.sum, sa.valued),
            (3, Some(2), Some(30.0), 2)
        );
        assert_eq!(sa.mean(), Some(15.0));
        let sb = bins.stats(3, 1);
        assert_eq!((sb.count, sb.distinct, sb.mean()), (1, Some(1), Some(1.5)));
        let sc = bins.stats(2, 3);
        assert_eq!(
            (sc.count, sc.distinct, sc.sum, sc.mean()),
            (2, Some(2), Some(4.0), Some(2.0))
        );
        assert_eq!(
            bins.stats(1, 1),
            Stats {
                count: 0,
                distinct: Some(0),
                sum: Some(0.0),
                valued: 0
            }
        );
        let cells: Vec<(u32, u32, u64)> = bins
            .cells()
            .map(|c| (c.col, c.row, c.stats.count))
            .collect();
        assert_eq!(cells, vec![(0, 0, 3), (3, 1, 1), (2, 3, 2)]);
        assert_eq!(bins.counts()[4 + 3], 1);
    }

    #[test]
    fn listed_rows_bin_like_the_equivalent_range() {
        let s = spec();
        let layer = layer_of(
            (0..200u32)
                .map(|i| {
                    let p = centre(&s, i % 4, (i / 4) % 4);
                    let ts = format!("2024-05-06T{:02}:00:00Z", i % 24);
                    ping(
                        u64::from(i) + 1,
                        p,
                        Some(&ts),
                        &format!("d{}", i % 7),
                        Some(f64::from(i)),
                    )
                })
                .collect(),
        );
        let cols = PointColumns::build(&layer, &fields()).expect("build");
        let f = TimeFilter {
            hours: HourSet::parse("7-9").expect("hours"),
            ..TimeFilter::default()
        };
        let sel = cols.select(&f, None);
        assert!(matches!(sel, Selection::Rows(_)));
        let got = bin(&cols, &sel, &s, all()).expect("bin");
        // The same rows, filtered by hand into a layer of their own.
        let kept: Vec<_> = (0..layer.len())
            .filter(|&i| matches!((layer.id(i) - 1) % 24, 7 | 8))
            .map(|i| layer.feature_at(i))
            .collect();
        assert_eq!(kept.len(), sel.len());
        let only = layer_of(kept);
        let cols2 = PointColumns::build(&only, &fields()).expect("build");
        let want = bin(&cols2, &Selection::Range(0..cols2.len()), &s, all()).expect("bin");
        assert_eq!(got, want);
    }

    #[test]
    fn edges_and_invalid_specs() {
        let s = spec();
        let r = s.rect();
        // The north-west corner is in the tile.
        let nw = mercator_to_lonlat(r.min_x, r.max_y);
        let layer = layer_of(vec![ping(1, nw, None, "a", None)]);
        let cols = PointColumns::build(&layer, &fields()).expect("build");
        let bins = bin(&cols, &Selection::Range(0..1), &s, StatsSpec::default()).expect("bin");
        assert_eq!(bins.stats(0, 0).count, 1);
        assert!(bins.stats(0, 0).distinct.is_none());
        assert!(GridSpec::new(r, 0).is_err());
        assert!(GridSpec::new(r, MAX_GRID_SIZE + 1).is_err());
        let flat = MercatorRect {
            max_y: r.min_y,
            ..r
        };
        assert!(GridSpec::new(flat, 4).is_err());
        let plain = PointColumns::build(&layer, &PointFields::default()).expect("build");
        assert!(bin(&plain, &Selection::Range(0..1), &s, all()).is_err());
    }
}
