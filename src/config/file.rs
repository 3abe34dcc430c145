//! The config file as written: every key optional, so that a section can override
//! another key by key.
//!
//! May import: `model`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::model::Sensitivity;

/// `tessera.toml` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigFile {
    /// `[server]`: options of `tessera serve`.
    pub server: ServerSection,
    /// `[defaults]`: layer settings for every layer without its own.
    pub defaults: LayerSection,
    /// `[layers.NAME]`: one layer's settings, over `[defaults]`.
    pub layers: BTreeMap<String, LayerSection>,
    /// `[limits]`: rate limits and the heavy-query queue.
    pub limits: Option<LimitsSection>,
}

/// `[limits]`: usage limits of `tessera serve`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LimitsSection {
    /// Requests per second of each client IP without a key (default 200).
    pub public_rps: Option<f64>,
    /// Requests per second of each analyst key (default 500).
    pub analyst_rps: Option<f64>,
    /// Requests per second of each steward key (default 500).
    pub steward_rps: Option<f64>,
    /// Requests per second of each admin key (default 2000).
    pub admin_rps: Option<f64>,
    /// Seconds of requests a caller may burst above its rate (default 5).
    pub burst_seconds: Option<f64>,
    /// Heavy queries running at once (default half the cores, at least 1).
    pub heavy_concurrency: Option<u32>,
    /// Heavy queries waiting for a slot before new ones get 503 (default 32).
    pub heavy_queue: Option<u32>,
    /// Seconds a heavy query may take, waiting included, before 504 (default 30).
    pub heavy_timeout_seconds: Option<u64>,
}

impl ConfigFile {
    /// Parses TOML text; returns the file and the dotted paths of keys no setting
    /// reads.
    ///
    /// # Errors
    /// The parser's message, with line and column.
    pub fn parse(text: &str) -> Result<(Self, Vec<String>), String> {
        let mut unknown = Vec::new();
        let deserializer = toml::Deserializer::parse(text).map_err(|e| e.to_string())?;
        let file = serde_ignored::deserialize(deserializer, |path| unknown.push(path.to_string()))
            .map_err(|e: toml::de::Error| e.to_string())?;
        Ok((file, unknown))
    }
}

/// `[server]`: options of `tessera serve`; command-line flags override them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServerSection {
    /// Folder holding the layer versions (default `tessera-data`).
    pub data_dir: Option<PathBuf>,
    /// Address and port to listen on (default `127.0.0.1:8080`).
    pub listen: Option<SocketAddr>,
    /// Public URL used in links (default: from the `Host` header).
    pub public_url: Option<String>,
    /// Folder ingested when the data folder holds no layer (default `data`).
    pub seed_from: Option<PathBuf>,
    /// Seconds between checks for new layer versions (default 2).
    pub reload_seconds: Option<u64>,
    /// Size of the in-memory tile cache, MB; 0 turns it off (default 256).
    pub tile_cache_mb: Option<u64>,
    /// Who publishes the data, named in the DCAT-AP catalog (default `Tessera`).
    pub publisher: Option<String>,
    /// The access log, JSON lines; `""` turns it off (default `DATA_DIR/access.log`).
    pub access_log: Option<PathBuf>,
    /// Size at which the access log is rotated, MB (default 64; five are kept).
    pub access_log_mb: Option<u64>,
}

/// The settings of one layer, or of `[defaults]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LayerSection {
    /// Shallowest zoom whose tiles show the layer (default 0).
    pub min_zoom: Option<u8>,
    /// Deepest zoom whose tiles show the layer (default 24).
    pub max_zoom: Option<u8>,
    /// Properties written into tiles (default: all).
    pub properties: Option<Vec<String>>,
    /// `[layers.NAME.simplify]`.
    pub simplify: SimplifySection,
    /// `[layers.NAME.budget]`.
    pub budget: BudgetSection,
    /// `[layers.NAME.cluster]`.
    pub cluster: ClusterSection,
    /// `[layers.NAME.cache]`.
    pub cache: CacheSection,
    /// Versions kept of the layer; older ones are removed after an ingest (default 10).
    pub keep: Option<u32>,
    /// `[layers.NAME.privacy]`.
    pub privacy: PrivacySection,
    /// Declared sensitivity: `public`, `restricted` or `personal` (only in
    /// `[layers.NAME]`; wins over the ingest's `--sensitivity`).
    pub sensitivity: Option<Sensitivity>,
    /// Declared property identifying a person (only in `[layers.NAME]`; wins over
    /// `--id-field`).
    pub id_field: Option<String>,
    /// Declared property holding the observation time (only in `[layers.NAME]`; wins
    /// over `--time-field`).
    pub time_field: Option<String>,
    /// Declared IANA time zone of the layer's local times, e.g. `Europe/Madrid` (only
    /// in `[layers.NAME]`; wins over `--timezone`).
    pub timezone: Option<String>,
    /// Catalog title, description, licence, steward and update frequency (only in
    /// `[layers.NAME]`; win over the ingest's, and apply without a new ingest).
    pub title: Option<String>,
    /// See `title`.
    pub description: Option<String>,
    /// See `title`.
    pub license: Option<String>,
    /// See `title`.
    pub steward: Option<String>,
    /// See `title`.
    pub update_frequency: Option<String>,
}

/// Per-zoom simplification.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SimplifySection {
    /// Deepest zoom with simplified geometry (default 14).
    pub max_zoom: Option<u8>,
    /// Douglas–Peucker tolerance, tile units of 1/4096 tile (default 0.5).
    pub tolerance: Option<f64>,
    /// Polygons below this area are tiny, square tile units (default 4).
    pub min_area: Option<f64>,
    /// What tiny polygons become: `drop` (default) or `point`.
    pub tiny_polygons: Option<TinyPolygonsName>,
}

/// What tiny polygons become, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TinyPolygonsName {
    /// Left out.
    Drop,
    /// A point inside the polygon.
    Point,
}

/// The most a tile may hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BudgetSection {
    /// Uncompressed bytes (default 500 000).
    pub max_bytes: Option<usize>,
    /// Features (default 200 000).
    pub max_features: Option<usize>,
}

/// Clustering of point layers at low zoom.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClusterSection {
    /// `false` turns clustering off (default on for point layers).
    pub enabled: Option<bool>,
    /// Deepest zoom that clusters (default 13).
    pub max_zoom: Option<u8>,
    /// Cluster cell side, tile units, 16..=4096 (default 128).
    pub cell: Option<u32>,
    /// Numeric field summed over each cluster as `{field}_sum` (default none).
    pub sum_field: Option<String>,
}

/// Caching of the layer's tiles.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CacheSection {
    /// `Cache-Control: max-age` in seconds (default 60).
    pub max_age_seconds: Option<u32>,
    /// Keep rendered tiles in the server's cache (default true).
    pub server: Option<bool>,
}

/// Privacy of the layer's aggregates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PrivacySection {
    /// Smallest k of k-anonymity (default 10 for personal layers, none otherwise).
    pub k: Option<u32>,
    /// ε of every query (queries may ask for less, never more; default: no noise
    /// unless asked).
    pub epsilon: Option<f64>,
    /// ε each API key may spend on the layer per UTC day (default 5).
    pub daily_epsilon: Option<f64>,
    /// Groups (cells, zones, flows) one person may count in per release (default 1).
    pub max_groups: Option<u32>,
    /// Roles that get exact statistics of a personal layer (default none).
    pub exact_for: Option<Vec<String>>,
}

impl LayerSection {
    /// This section's keys, with the missing ones taken from `base`. The declared
    /// catalog fields (`sensitivity`, `id_field`, `time_field`, `timezone`) belong to
    /// one layer and are never taken from `base`.
    #[must_use]
    pub fn over(&self, base: &Self) -> Self {
        let s = self.clone();
        let b = base.clone();
        Self {
            min_zoom: s.min_zoom.or(b.min_zoom),
            max_zoom: s.max_zoom.or(b.max_zoom),
            properties: s.properties.or(b.properties),
            simplify: SimplifySection {
                max_zoom: s.simplify.max_zoom.or(b.simplify.max_zoom),
                tolerance: s.simplify.tolerance.or(b.simplify.tolerance),
                min_area: s.simplify.min_area.or(b.simplify.min_area),
                tiny_polygons: s.simplify.tiny_polygons.or(b.simplify.tiny_polygons),
            },
            budget: BudgetSection {
                max_bytes: s.budget.max_bytes.or(b.budget.max_bytes),
                max_features: s.budget.max_features.or(b.budget.max_features),
            },
            cluster: ClusterSection {
                enabled: s.cluster.enabled.or(b.cluster.enabled),
                max_zoom: s.cluster.max_zoom.or(b.cluster.max_zoom),
                cell: s.cluster.cell.or(b.cluster.cell),
                sum_field: s.cluster.sum_field.or(b.cluster.sum_field),
            },
            cache: CacheSection {
                max_age_seconds: s.cache.max_age_seconds.or(b.cache.max_age_seconds),
                server: s.cache.server.or(b.cache.server),
            },
            keep: s.keep.or(b.keep),
            privacy: PrivacySection {
                k: s.privacy.k.or(b.privacy.k),
                epsilon: s.privacy.epsilon.or(b.privacy.epsilon),
                daily_epsilon: s.privacy.daily_epsilon.or(b.privacy.daily_epsilon),
                max_groups: s.privacy.max_groups.or(b.privacy.max_groups),
                exact_for: s.privacy.exact_for.or(b.privacy.exact_for),
            },
            sensitivity: s.sensitivity,
            id_field: s.id_field,
            time_field: s.time_field,
            timezone: s.timezone,
            title: s.title,
            description: s.description,
            license: s.license,
            steward: s.steward,
            update_frequency: s.update_frequency,
        }
    }
}

impl LayerSection {
    /// The dotted names of the declared catalog fields this section sets, for the
    /// message that refuses them in `[defaults]`.
    pub(super) fn declared_keys(&self) -> Vec<&'static str> {
        [
            ("sensitivity", self.sensitivity.is_some()),
            ("id_field", self.id_field.is_some()),
            ("time_field", self.time_field.is_some()),
            ("timezone", self.timezone.is_some()),
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("license", self.license.is_some()),
            ("steward", self.steward.is_some()),
            ("update_frequency", self.update_frequency.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }
}
