//! What an archive says about its tiles, the same for both formats and as the
//! server's TileJSON says it: names, titles, licences, extent, zooms and
//! `vector_layers`.

use serde_json::{Value, json};

use super::ExportOptions;
use crate::index::IndexedLayer;
use crate::model::Bbox;
use crate::model::tile::MAX_LATITUDE;

/// The description of one archive.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ArchiveMetadata {
    /// The layer names, comma-separated (the name of the tile source on the server).
    pub name: String,
    /// The layer titles, comma-separated.
    pub description: String,
    /// The layer licences, semicolon-separated; `None` when no layer has one.
    pub attribution: Option<String>,
    /// The extent, WGS84 degrees, within the Web Mercator latitudes.
    pub bounds: Bbox,
    /// Where a map opens: longitude, latitude (degrees) and zoom.
    pub center: (f64, f64, u8),
    /// The first zoom written.
    pub min_zoom: u8,
    /// The last zoom written.
    pub max_zoom: u8,
    /// One TileJSON `vector_layers` entry per layer.
    pub vector_layers: Vec<Value>,
}

impl ArchiveMetadata {
    /// Describes `layers`, whose features lie within `extent`, exported with `options`.
    pub(super) fn new(layers: &[&IndexedLayer], extent: Bbox, options: &ExportOptions) -> Self {
        let metas = || layers.iter().map(|l| l.meta());
        let bounds = Bbox::new(
            extent.min_x.max(-180.0),
            extent.min_y.max(-MAX_LATITUDE),
            extent.max_x.min(180.0),
            extent.max_y.min(MAX_LATITUDE),
        );
        let (lon, lat) = bounds.center();
        let zooms = options.min_zoom..=options.max_zoom;
        let licences: Vec<&str> = metas().filter_map(|m| m.license.as_deref()).collect();
        Self {
            name: metas()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            description: metas()
                .map(|m| m.title.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            attribution: (!licences.is_empty()).then(|| licences.join("; ")),
            bounds,
            center: (
                lon,
                lat,
                bounds
                    .viewport_zoom()
                    .clamp(options.min_zoom, options.max_zoom),
            ),
            min_zoom: options.min_zoom,
            max_zoom: options.max_zoom,
            vector_layers: layers
                .iter()
                .map(|l| crate::tiles::tilejson::vector_layer(l, zooms.clone()))
                .collect(),
        }
    }

    /// The JSON object PMTiles stores as its metadata.
    pub(super) fn pmtiles_json(&self) -> Value {
        let mut json = json!({
            "name": self.name,
            "description": self.description,
            "type": "overlay",
            "format": "pbf",
            "vector_layers": self.vector_layers,
        });
        if let (Some(attribution), Some(map)) = (&self.attribution, json.as_object_mut()) {
            map.insert("attribution".into(), attribution.clone().into());
        }
        json
    }

    /// The `(name, value)` rows of the MBTiles `metadata` table (spec 1.3).
    pub(super) fn mbtiles_rows(&self) -> Vec<(&'static str, String)> {
        let b = &self.bounds;
        let (lon, lat, zoom) = self.center;
        let mut rows = vec![
            ("name", self.name.clone()),
            ("description", self.description.clone()),
            ("type", "overlay".to_owned()),
            ("format", "pbf".to_owned()),
            (
                "bounds",
                format!("{},{},{},{}", b.min_x, b.min_y, b.max_x, b.max_y),
            ),
            ("center", format!("{lon},{lat},{zoom}")),
            ("minzoom", self.min_zoom.to_string()),
            ("maxzoom", self.max_zoom.to_string()),
            (
                "json",
                json!({ "vector_layers": self.vector_layers }).to_string(),
            ),
        ];
        if let Some(attribution) = &self.attribution {
            rows.push(("attribution", attribution.clone()));
        }
        rows
    }
}
