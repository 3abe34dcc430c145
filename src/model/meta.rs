//! Catalog metadata of a layer version: what the data is, who answers for it, how it
//! may be used and what it contains.

use serde::{Deserialize, Serialize};

use super::{Bbox, LayerName, Schema};

/// How sensitive a layer is; governs who may read it and in what form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    /// Open data: anyone may read features and tiles.
    #[default]
    Public,
    /// Readable with an API key.
    Restricted,
    /// Personal data: only privacy-protected aggregates are ever served.
    Personal,
}

impl std::str::FromStr for Sensitivity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Self::Public),
            "restricted" => Ok(Self::Restricted),
            "personal" => Ok(Self::Personal),
            other => Err(format!(
                "unknown sensitivity {other:?}: use public, restricted or personal"
            )),
        }
    }
}

/// Where a layer version came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The ingested file, as given on the command line.
    pub path: String,
    /// The format it was read as (e.g. `geojson`, `csv`).
    pub format: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// The CRS its coordinates were in before reprojection to WGS84 (e.g. `EPSG:25831`).
    pub crs: String,
}

impl LayerMeta {
    /// Metadata for a layer made in memory rather than ingested (analytics output,
    /// tests, benchmarks): public, version 0, titled by its name, with no provenance.
    #[must_use]
    pub fn in_memory(name: LayerName, schema: Schema, feature_count: u64) -> Self {
        Self {
            title: name.to_string(),
            name,
            version: 0,
            description: None,
            license: None,
            steward: None,
            update_frequency: None,
            sensitivity: Sensitivity::Public,
            id_field: None,
            time_field: None,
            geometry_type: "Mixed".into(),
            feature_count,
            bbox: None,
            schema,
            source: SourceInfo {
                path: String::new(),
                format: "memory".into(),
                sha256: String::new(),
                crs: "EPSG:4326".into(),
            },
            created_at: String::new(),
        }
    }
}

/// The metadata stored beside every layer version (`meta.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMeta {
    /// Layer name (URL and directory segment).
    pub name: LayerName,
    /// Version number, counting from 1.
    pub version: u32,
    /// Human title.
    pub title: String,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Licence of the data (SPDX id or URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The data steward: who answers for this layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steward: Option<String>,
    /// How often the data is refreshed (e.g. `monthly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_frequency: Option<String>,
    /// Sensitivity class.
    #[serde(default)]
    pub sensitivity: Sensitivity,
    /// The property that identifies a person, for personal layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_field: Option<String>,
    /// The property holding the observation time, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_field: Option<String>,
    /// Geometry type of the features (`Point`, `Polygon`, … or `Mixed`).
    pub geometry_type: String,
    /// Number of features stored.
    pub feature_count: u64,
    /// Extent of the features, WGS84 degrees; `None` when the layer is empty.
    pub bbox: Option<Bbox>,
    /// Property columns.
    pub schema: Schema,
    /// Provenance.
    pub source: SourceInfo,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
}
