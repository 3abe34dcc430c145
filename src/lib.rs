//! Tessera: a geospatial tiling and analytics server for open city data.
//!
//! Modules, from the bottom up (imports only point downwards):
//! - [`model`]: plain data (names, values, schemas, features, tiles, metadata) and the
//!   [`model::FeatureSource`] trait.
//! - [`crs`]: coordinate reference systems and reprojection to WGS84.
//! - [`geometry_check`]: geometry validation and repair.
//! - [`store`]: layer versions on disk (FlatGeobuf + metadata), written atomically.
//! - [`index`]: a layer version loaded in memory with its R-tree.
//! - [`tiles`]: Mapbox Vector Tile rendering from an indexed layer.
//! - [`analytics`]: heatmap binning (grid, H3), zone aggregates, flows and privacy.
//! - [`export`]: the served vector tiles written into a PMTiles or MBTiles archive.
//! - [`access`]: the one gate between a layer name and its use (raw features or
//!   statistics), API keys and roles.
//! - [`ingest`]: reading source files, validating and repairing geometry, reporting.
//! - [`config`]: `tessera.toml`, the server's and each layer's settings.
//! - [`api`]: the HTTP server (tiles, TileJSON, OGC API – Features).

pub mod access;
pub mod analytics;
pub mod api;
pub mod config;
pub mod crs;
pub mod export;
pub mod geometry_check;
pub mod index;
pub mod ingest;
pub mod model;
pub mod store;
pub mod tiles;
