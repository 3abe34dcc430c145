//! Ingest: turning a source file into a stored layer version.
//!
//! So far this holds the two bottom stages: [`format`](mod@format) tells which format a
//! file is in, and [`read`] streams its features as [`read::RawFeature`]s, untouched: in
//! the file's own CRS, not validated, with per-cell property values whose column types
//! are unified later.
//!
//! May import: `model`, `crs`, `geometry_check`, `store`.

mod builder;
pub mod format;
pub mod pipeline;
mod progress;
pub mod read;

pub use pipeline::{CatalogOptions, IngestError, IngestOptions, IngestOutcome, ingest};
