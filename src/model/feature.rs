//! A feature as handed to API consumers.

use geo_types::Geometry;

/// One feature of a layer: a stable id, a WGS84 lon/lat geometry and one property
/// value per schema field.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Stable id within a layer version: the 1-based position of the feature in the
    /// ingested source file.
    pub id: u64,
    /// Geometry in WGS84 lon/lat degrees.
    pub geometry: Geometry<f64>,
    /// Values in schema order.
    pub properties: Vec<super::Value>,
}
