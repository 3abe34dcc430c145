//! Ingest: turning a source file into a stored layer version.
//!
//! [`format`](mod@format) tells which format a file is in; [`read`] streams its features
//! as [`read::RawFeature`]s, untouched: in the file's own CRS, not validated, with
//! per-cell property values whose column types are unified later; [`fields`] gives the
//! catalog's time and id fields one meaning and tells the shape of personal data;
//! [`pipeline`] runs the whole ingest into a stored version; [`seed`] ingests a folder of
//! files into a new data folder, resuming after a crash.
//!
//! May import: `model`, `crs`, `geometry_check`, `store`.

mod builder;
pub mod fields;
pub mod format;
pub mod pipeline;
mod progress;
pub mod read;
pub mod seed;

pub use fields::{IdLike, PersonalShape};
pub use pipeline::{CatalogOptions, IngestError, IngestOptions, IngestOutcome, ingest};
