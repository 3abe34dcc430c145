//! Ingest: turning a source file into a stored layer version.
//!
//! So far this holds format detection ([`format`]).
//!
//! May import: `model`.

pub mod format;
