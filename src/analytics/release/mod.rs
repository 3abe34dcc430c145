//! Differentially private releases of person counts: what personal data may become
//! before it leaves the server.
//!
//! # Mechanism
//! A release counts, for each group (a grid cell, an H3 cell, a zone, a flow), the
//! distinct persons in it, in four steps:
//! 1. **Memberships**: the (person, group) pair of each selected row.
//! 2. **Contribution bounding**: a person in more than `max_groups` groups keeps
//!    the `max_groups` where they have the most records (ties broken by a keyed hash),
//!    so one person changes at most `max_groups` counts by one each: the L1
//!    sensitivity is `max_groups`. The choice depends on that person's records alone,
//!    which is what the sensitivity argument needs.
//! 3. **Consistent noise**: each count gets discrete Laplace noise of scale
//!    `max_groups / ε` keyed by the release's context and the group
//!    ([`super::noise::NoiseKey`]), so the same release always has the same values.
//! 4. **Threshold on the noisy value**: a group is released when its noisy count is
//!    at least k; the others are left out. Groups with no person are never
//!    considered, so the threshold also hides which groups are empty.
//!
//! The release as a whole is (ε, δ)-differentially private with respect to one
//! person, with δ = `max_groups · ½ · exp(-(k - 1) / b)` for `b = max_groups / ε`
//! ([`delta`]): the chance that a group holding only one person passes the
//! threshold. Everything computed from released values (sums over cells, coarser
//! cells, tiles at any zoom) is post-processing and costs no further privacy.
//!
//! # Fixed granularity
//! Grid releases exist only at the cell zooms of [`GRID_LEVELS`] (a level-L cell is
//! the Web Mercator tile (L, x, y)), H3 releases only at [`H3_LEVELS`]. Releases of
//! one level are sorted by group: a grid level is in Morton (Z-order) order, so the
//! cells of any tile are one contiguous range.
//!
//! May import: `index`, `model`.

use h3o::{CellIndex, LatLng, Resolution};

use super::aggregate::{Boundary, ZoneIndex};
use super::flows::{Slot, Trips, flow_key, for_each_flow};
use super::noise::{NoiseKey, scale};
use super::points::{PointColumns, Selection};
use super::privacy::{Epsilon, KAnonymity};
use super::time_filter::TimeFilter;
use super::{AnalyticsError, NO_PERSON, Result};
use crate::model::TileId;
use crate::model::tile::{MERCATOR_HALF_EXTENT_M, MercatorRect};

/// Cell zooms of grid releases: cells of about 14.7 km, 3.7 km, 920 m and 230 m at 41° N.
pub const GRID_LEVELS: [u8; 4] = [11, 13, 15, 17];
/// H3 resolutions of hexagon releases (average edge 3.7 km, 1.4 km, 530 m, 200 m).
pub const H3_LEVELS: [u8; 4] = [6, 7, 8, 9];
/// The group of rows in no zone, in zone releases.
pub const UNASSIGNED: u64 = u64::MAX;

/// How persons are counted and released.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivatePolicy {
    /// Privacy loss of one release.
    pub epsilon: Epsilon,
    /// Smallest noisy count released.
    pub k: KAnonymity,
    /// Groups one person may count in, per release.
    pub max_groups: u32,
}

impl PrivatePolicy {
    /// Scale `b` of the noise added to each count.
    #[must_use]
    pub fn noise_scale(&self) -> f64 {
        scale(self.max_groups, self.epsilon.get())
    }

    /// δ of one release (see the module documentation).
    #[must_use]
    pub fn delta(&self) -> f64 {
        delta(self.max_groups, self.epsilon.get(), self.k.k())
    }
}

/// δ of a release whose persons count in at most `max_groups` groups, with noise of
/// privacy loss `epsilon` and threshold `k`.
#[must_use]
pub fn delta(max_groups: u32, epsilon: f64, k: u32) -> f64 {
    let b = scale(max_groups, epsilon);
    f64::from(max_groups) * 0.5 * (-(f64::from(k) - 1.0) / b).exp()
}

/// Released person counts, sorted by group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Released {
    groups: Vec<(u64, u64)>,
}

impl Released {
    /// `(group, noisy persons)` of every released group, sorted by group.
    #[must_use]
    pub fn groups(&self) -> &[(u64, u64)] {
        &self.groups
    }

    /// The released count of `group`, if it was released.
    #[must_use]
    pub fn get(&self, group: u64) -> Option<u64> {
        self.groups
            .binary_search_by_key(&group, |g| g.0)
            .ok()
            .map(|i| self.groups[i].1)
    }

    /// The released groups in `range` (half-open).
    #[must_use]
    pub fn in_range(&self, range: std::ops::Range<u64>) -> &[(u64, u64)] {
        let start = self.groups.partition_point(|g| g.0 < range.start);
        let end = self.groups.partition_point(|g| g.0 < range.end);
        &self.groups[start..end]
    }
}

/// Counts the persons of each group from `(person, group)` memberships, bounded,
/// noised and thresholded as the module documentation says. `context` names the
/// release (layer version, query, level) and keys its noise.
#[must_use]
pub fn release_person_counts(
    mut pairs: Vec<(u32, u64)>,
    policy: &PrivatePolicy,
    key: &NoiseKey,
    context: &str,
) -> Released {
    pairs.retain(|p| p.0 != NO_PERSON);
    let seed = key.seed(format!("{context}|bound").as_bytes());
    let bound = policy.max_groups as usize;
    let threads = super::grid::threads_for(pairs.len());
    let mut kept = bound_contributions(pairs, bound, seed, threads);
    kept.sort_unstable();
    let b = policy.noise_scale();
    let k = i64::from(policy.k.k());
    let groups = kept
        .chunk_by(|a, b| a == b)
        .filter_map(|run| {
            let group = run[0];
            let persons = i64::try_from(run.len()).unwrap_or(i64::MAX);
            let noise = key.discrete_laplace(format!("{context}|{group}").as_bytes(), b);
            let noisy = persons.saturating_add(noise);
            (noisy >= k).then(|| (group, u64::try_from(noisy).unwrap_or(0)))
        })
        .collect();
    Released { groups }
}

/// [`bounded_groups`] on `threads` threads, each person in one thread's part (by person
/// index), so that the parts are bounded apart; the kept groups in no set order.
fn bound_contributions(
    pairs: Vec<(u32, u64)>,
    bound: usize,
    seed: u64,
    threads: usize,
) -> Vec<u64> {
    if threads <= 1 {
        return bounded_groups(pairs, bound, seed);
    }
    let mut parts: Vec<Vec<(u32, u64)>> = vec![Vec::new(); threads];
    let n = u32::try_from(threads).unwrap_or(1);
    for pair in pairs {
        parts[(pair.0 % n) as usize].push(pair);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || bounded_groups(part, bound, seed)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The groups each person of `pairs` counts in: at most `bound` per person, those with
/// the most records (ties broken by a hash keyed with `seed`). One entry per kept
/// (person, group).
fn bounded_groups(mut pairs: Vec<(u32, u64)>, bound: usize, seed: u64) -> Vec<u64> {
    pairs.sort_unstable();
    let mut kept: Vec<u64> = Vec::with_capacity(pairs.len().min(1 << 20));
    let mut groups: Vec<(usize, u64, u64)> = Vec::new();
    for person in pairs.chunk_by(|a, b| a.0 == b.0) {
        // (records, tie-break, group) of each of the person's groups; most records first.
        groups.clear();
        groups.extend(
            person
                .chunk_by(|a, b| a.1 == b.1)
                .map(|run| (run.len(), mix(seed, run[0].0, run[0].1), run[0].1)),
        );
        if groups.len() > bound {
            groups.select_nth_unstable_by(bound - 1, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            groups.truncate(bound);
        }
        kept.extend(groups.iter().map(|g| g.2));
    }
    kept
}

/// A keyed 64-bit mix of a person and a group (splitmix64 finalizer), to break ties
/// between a person's groups when bounding.
fn mix(seed: u64, person: u32, group: u64) -> u64 {
    let mut z = seed ^ group.rotate_left(17) ^ (u64::from(person) << 1 | 1);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The person of each row: the id column's dense index, or the row itself when the
/// layer has no person field (each record then is its own unit of privacy).
fn person_of(points: &PointColumns, row: usize) -> u32 {
    match points.persons() {
        Some(persons) => persons[row],
        None => u32::try_from(row).unwrap_or(NO_PERSON),
    }
}

/// Z-order code of a tile's `(x, y)`: x on the even bits, y on the odd ones.
#[must_use]
pub fn morton(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
        v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
        v = (v | (v << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The tile `(x, y)` of a Morton code.
#[must_use]
pub fn unmorton(code: u64) -> (u32, u32) {
    fn squeeze(mut v: u64) -> u32 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
        v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
        v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
        v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff;
        u32::try_from(v).unwrap_or(u32::MAX)
    }
    (squeeze(code), squeeze(code >> 1))
}

/// The Morton code of the level-`level` cell holding Web Mercator `(x, y)`.
fn grid_cell(x: f64, y: f64, level: u8) -> u64 {
    let n = f64::from(1u32 << level);
    let to_index = |t: f64| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 0..n, n <= 2^24"
        )]
        let i = (t * n).floor().clamp(0.0, n - 1.0) as u32;
        i
    };
    let span = 2.0 * MERCATOR_HALF_EXTENT_M;
    morton(
        to_index((x + MERCATOR_HALF_EXTENT_M) / span),
        to_index((MERCATOR_HALF_EXTENT_M - y) / span),
    )
}

/// The release of one grid level over the selected rows.
#[must_use]
pub fn grid_release(
    points: &PointColumns,
    rows: &Selection,
    level: u8,
    policy: &PrivatePolicy,
    key: &NoiseKey,
    context: &str,
) -> Released {
    let [ox, oy] = points.origin();
    let (xs, ys) = (points.x(), points.y());
    let pairs = rows
        .iter()
        .map(|row| {
            let cell = grid_cell(ox + f64::from(xs[row]), oy + f64::from(ys[row]), level);
            (person_of(points, row), cell)
        })
        .collect();
    release_person_counts(pairs, policy, key, context)
}

/// The release of one H3 resolution over the selected rows.
///
/// # Errors
/// [`AnalyticsError::Resolution`] for a resolution above 15.
pub fn h3_release(
    points: &PointColumns,
    rows: &Selection,
    resolution: u8,
    policy: &PrivatePolicy,
    key: &NoiseKey,
    context: &str,
) -> Result<Released> {
    let res =
        Resolution::try_from(resolution).map_err(|_| AnalyticsError::Resolution(resolution))?;
    let (lons, lats) = (points.lon(), points.lat());
    let pairs = rows
        .iter()
        .filter_map(|row| {
            let cell = LatLng::new(lats[row], lons[row]).ok()?.to_cell(res);
            Some((person_of(points, row), u64::from(cell)))
        })
        .collect();
    Ok(release_person_counts(pairs, policy, key, context))
}

/// The release of the zones of `zones` over the selected rows; rows in no zone
/// count in [`UNASSIGNED`].
#[must_use]
pub fn zone_release(
    points: &PointColumns,
    rows: &Selection,
    zones: &ZoneIndex,
    policy: &PrivatePolicy,
    key: &NoiseKey,
    context: &str,
) -> Released {
    let (lons, lats) = (points.lon(), points.lat());
    let mut pairs = Vec::new();
    for row in rows.iter() {
        let person = person_of(points, row);
        let before = pairs.len();
        zones.for_each_zone(lons[row], lats[row], Boundary::Exclude, |z| {
            pairs.push((person, u64::from(z)));
        });
        if pairs.len() == before {
            pairs.push((person, UNASSIGNED));
        }
    }
    release_person_counts(pairs, policy, key, context)
}

/// The release of the flows of `trips` between `zones` per `slot`; groups are
/// [`flow_key`]s, trips in no zone count in [`UNASSIGNED`].
#[must_use]
pub fn flow_release(
    trips: &Trips,
    zones: &ZoneIndex,
    slot: Slot,
    filter: &TimeFilter,
    policy: &PrivatePolicy,
    key: &NoiseKey,
    context: &str,
) -> Released {
    let mut pairs = Vec::new();
    for_each_flow(
        trips,
        zones,
        Boundary::Exclude,
        slot,
        filter,
        |person, flow| {
            let group = flow.map_or(UNASSIGNED, |(s, o, d)| flow_key(s, o, d));
            pairs.push((person, group));
        },
    );
    release_person_counts(pairs, policy, key, context)
}

/// How a heatmap tile is answered from a grid release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridAnswer {
    /// The released level read.
    pub level: u8,
    /// The cell zoom of the answer's cells: the level, or coarser when the tile asks
    /// for cells coarser than every level (released cells are then summed).
    pub cell_zoom: u8,
}

impl GridAnswer {
    /// The answer for `cells_per_side` cells on a tile of zoom `z`: the finest level
    /// no finer than the cells asked for, or the coarsest level summed up.
    #[must_use]
    pub fn for_tile(z: u8, cells_per_side: u32) -> Self {
        let asked = z.saturating_add(u8::try_from(cells_per_side.max(1).ilog2()).unwrap_or(0));
        match GRID_LEVELS.iter().rev().find(|l| **l <= asked) {
            Some(&level) => Self {
                level,
                cell_zoom: level,
            },
            None => Self {
                level: GRID_LEVELS[0],
                cell_zoom: asked,
            },
        }
    }

    /// The answer's cells overlapping `tile`, as `(cell tile, persons)`.
    #[must_use]
    pub fn cells(&self, release: &Released, tile: TileId) -> Vec<(TileId, u64)> {
        let code = morton(tile.x, tile.y);
        let (level, cz) = (u32::from(self.level), u32::from(self.cell_zoom));
        let z = u32::from(tile.z);
        // The release's cells under the tile, or the one cell holding it.
        let range = if level >= z {
            let shift = 2 * (level - z);
            (code << shift)..((code + 1) << shift)
        } else {
            let parent = code >> (2 * (z - level));
            parent..parent + 1
        };
        let mut out: Vec<(TileId, u64)> = Vec::new();
        for &(cell, persons) in release.in_range(range) {
            // Summed into coarser cells when the answer's cells are coarser.
            let up = cell >> (2 * level.saturating_sub(cz));
            let (x, y) = unmorton(up);
            let zoom = if cz < level { cz } else { level };
            match out.last_mut() {
                Some((t, sum)) if (t.x, t.y) == (x, y) => *sum += persons,
                _ => {
                    if let Ok(t) = TileId::new(u64::from(zoom), u64::from(x), u64::from(y)) {
                        out.push((t, persons));
                    }
                }
            }
        }
        out
    }
}

/// The Web Mercator rectangle of a released grid cell.
#[must_use]
pub fn cell_rect(cell: TileId) -> MercatorRect {
    cell.mercator_bounds()
}

/// The H3 cell of a released group.
#[must_use]
pub fn h3_cell(group: u64) -> Option<CellIndex> {
    CellIndex::try_from(group).ok()
}

#[cfg(test)]
mod tests;
