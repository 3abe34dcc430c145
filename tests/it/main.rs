//! Integration tests: the real server on an ephemeral port, real files, and
//! independent decoders (mvt-reader for tiles, serde_json for GeoJSON, the pmtiles crate
//! and SQLite for exported archives).

mod access;
mod admin;
mod analytics;
mod catalog;
mod config;
mod export;
mod features;
mod generalize;
mod ingest;
mod input_rules;
mod limits;
mod privacy;
mod recovery;
mod support;
mod tiles;
mod versions;
