//! Privacy-preserving analytics over indexed layers: heatmaps on square grids and
//! H3 hexagons, points-in-zones aggregates, area shares of a polygon overlay, and
//! origin–destination flows per time slot.
//!
//! # Design
//! Expensive work happens once per layer version, and callers cache it:
//! [`points::PointColumns`] turns a point layer into columns (Web Mercator `f32`
//! offsets for grid binning, exact WGS84 degrees for H3 and point-in-polygon, time,
//! person, value) sorted by time, and [`aggregate::ZoneIndex`] turns a zones layer
//! into a grid that answers point-in-polygon mostly without touching a polygon. A
//! request then only
//! 1. narrows the rows by time with a binary search ([`time_filter::TimeFilter`],
//!    [`points::Selection`]),
//! 2. bins them in a tight loop into [`Stats`] per cell, zone or flow ([`grid`],
//!    [`hex`], [`aggregate`], [`flows`]), and
//! 3. passes each [`Stats`] through [`privacy`] (k-anonymity, Laplace noise, ε
//!    budget) before anything leaves the server.
//!
//! Every statistic is exact: grid cells up to the `f32` offsets (millimetres at city
//! scale), H3 cells identical to `h3o`'s, zones identical to `geo`'s `Contains` (or
//! `Intersects`). Nothing here knows about HTTP.
//!
//! # Example
//! ```
//! use tessera::analytics::grid::{GridSpec, bin};
//! use tessera::analytics::points::{PointColumns, PointFields};
//! use tessera::analytics::privacy::KAnonymity;
//! use tessera::analytics::time_filter::{HourSet, TimeFilter};
//! use tessera::analytics::StatsSpec;
//! # fn heatmap(layer: &tessera::index::IndexedLayer, tile: tessera::model::TileId)
//! #     -> tessera::analytics::Result<()> {
//! // Once per layer version:
//! let points = PointColumns::build(layer, &PointFields::from_meta(layer.meta()))?;
//! // Per request:
//! let rush = TimeFilter { hours: HourSet::parse("7-9,17-19")?, ..TimeFilter::default() };
//! let rows = points.select(&rush, None);
//! let spec = StatsSpec { distinct: true, value: false };
//! let bins = bin(&points, &rows, &GridSpec::for_tile(tile, 256)?, spec)?;
//! let k = KAnonymity::default();
//! for cell in bins.cells() {
//!     let released = k.apply(cell.stats); // None: show the cell without statistics
//!     # let _ = released;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! May import: `index`, `model`.

pub mod aggregate;
mod error;
pub mod flows;
pub mod grid;
pub mod hex;
mod input;
pub mod ledger;
pub mod noise;
pub mod points;
pub mod privacy;
pub mod raster;
pub mod release;
mod stats;
#[doc(hidden)]
pub mod synthetic;
pub mod time_filter;

pub use error::{AnalyticsError, Result};
pub use input::StatisticsInput;
pub use stats::{NO_PERSON, Stats, StatsSpec};

#[cfg(test)]
pub(crate) mod test_data;
