//! Catalog metadata of a layer version: what the data is, who answers for it, how it
//! may be used and what it contains; what of it may be published ([`LayerMeta::published`]);
//! and the catalog fields a steward declares in `tessera.toml` ([`Declared`]).
//!
//! May import: nothing from the crate.

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
            timezone: None,
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

impl LayerMeta {
    /// The metadata as it may be shown to anyone who may see the layer's catalog
    /// entry: for a personal layer, the extent coarsened to a grid of cells of at
    /// least 1 km ([`Bbox::coarsened`]), so that it does not locate the people at its
    /// edges; other layers unchanged. Idempotent.
    ///
    /// The store writes personal layers' metadata in this form; a server applies it
    /// again at load, for versions written before or declared personal since
    /// ([`Declared::apply`]).
    #[must_use]
    pub fn published(mut self) -> Self {
        if self.sensitivity == Sensitivity::Personal {
            self.bbox = self.bbox.map(|b| b.coarsened());
        }
        self
    }
}

/// Catalog fields a data steward declares for a layer (`[layers.NAME]` in
/// `tessera.toml`). Each one given wins over what the ingest recorded, so a layer
/// declared personal is served as personal whatever flags a copy was ingested with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// Sensitivity class.
    pub sensitivity: Option<Sensitivity>,
    /// The property identifying a person.
    pub id_field: Option<String>,
    /// The property holding the observation time.
    pub time_field: Option<String>,
    /// The IANA time zone of the layer's local times (already checked to exist).
    pub timezone: Option<String>,
    /// Catalog text: title, description, licence, steward, update frequency.
    pub catalog: DeclaredCatalog,
}

/// Catalog fields a steward may edit in the config without a new ingest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredCatalog {
    /// Human title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Licence (SPDX id or URL).
    pub license: Option<String>,
    /// Data steward.
    pub steward: Option<String>,
    /// Update frequency (e.g. `monthly`).
    pub update_frequency: Option<String>,
}

impl Declared {
    /// True when nothing is declared.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `meta` with the declared fields put over its own, then [`LayerMeta::published`].
    #[must_use]
    pub fn apply(&self, mut meta: LayerMeta) -> LayerMeta {
        if let Some(sensitivity) = self.sensitivity {
            meta.sensitivity = sensitivity;
        }
        if let Some(field) = &self.id_field {
            meta.id_field = Some(field.clone());
        }
        if let Some(field) = &self.time_field {
            meta.time_field = Some(field.clone());
        }
        if let Some(zone) = &self.timezone {
            meta.timezone = Some(zone.clone());
        }
        let c = &self.catalog;
        if let Some(title) = &c.title {
            meta.title.clone_from(title);
        }
        for (field, value) in [
            (&mut meta.description, &c.description),
            (&mut meta.license, &c.license),
            (&mut meta.steward, &c.steward),
            (&mut meta.update_frequency, &c.update_frequency),
        ] {
            if value.is_some() {
                field.clone_from(value);
            }
        }
        meta.published()
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
    /// The IANA time zone (e.g. `Europe/Madrid`) of the layer's local times: times
    /// written without a UTC offset were read in it at ingest, and hours and weekdays of
    /// analytics queries are read on its wall clock. `None`: each time's own offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Schema;

    fn meta(sensitivity: Sensitivity) -> LayerMeta {
        let mut meta =
            LayerMeta::in_memory(LayerName::new("pings").expect("name"), Schema::default(), 1);
        meta.sensitivity = sensitivity;
        meta.bbox = Some(Bbox::new(2.166_606, 41.392_449, 2.166_606, 41.392_449));
        meta
    }

    #[test]
    fn only_personal_layers_publish_a_coarse_extent() {
        let public = meta(Sensitivity::Public);
        assert_eq!(public.clone().published(), public);
        let restricted = meta(Sensitivity::Restricted);
        assert_eq!(restricted.clone().published(), restricted);
        let personal = meta(Sensitivity::Personal).published();
        let bbox = personal.bbox.expect("bbox");
        assert_eq!(
            Some(bbox),
            meta(Sensitivity::Public).bbox.map(|b| b.coarsened())
        );
        assert_eq!(personal.clone().published(), personal);
    }

    #[test]
    fn declared_fields_win_and_a_declared_personal_layer_is_published_coarse() {
        let declared = Declared {
            sensitivity: Some(Sensitivity::Personal),
            id_field: Some("device".into()),
            time_field: None,
            timezone: Some("Europe/Madrid".into()),
            catalog: DeclaredCatalog::default(),
        };
        let mut stored = meta(Sensitivity::Public);
        stored.time_field = Some("ts".into());
        let served = declared.apply(stored.clone());
        assert_eq!(served.sensitivity, Sensitivity::Personal);
        assert_eq!(served.id_field.as_deref(), Some("device"));
        assert_eq!(served.time_field.as_deref(), Some("ts"));
        assert_eq!(served.timezone.as_deref(), Some("Europe/Madrid"));
        assert_eq!(served.bbox, stored.bbox.map(|b| b.coarsened()));
        assert!(Declared::default().is_empty());
        assert_eq!(Declared::default().apply(stored.clone()), stored);
    }

    #[test]
    fn a_timezone_is_written_only_when_set() {
        let mut m = meta(Sensitivity::Public);
        let json = serde_json::to_string(&m).expect("json");
        assert!(!json.contains("timezone"), "{json}");
        let back: LayerMeta = serde_json::from_str(&json).expect("read back");
        assert_eq!(back.timezone, None);
        m.timezone = Some("Europe/Madrid".into());
        let json = serde_json::to_string(&m).expect("json");
        assert!(json.contains(r#""timezone":"Europe/Madrid""#), "{json}");
    }
}
