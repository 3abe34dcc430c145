//! `tessera.toml`: server options and per-layer settings (zoom range, tile properties,
//! generalization, tile budget, clustering, cache policy, privacy), and the catalog
//! fields a steward declares per layer (sensitivity, id and time fields, time zone),
//! which win over what an ingest recorded ([`LayerSettings::declare`]).
//!
//! Read in two stages: the file is parsed into [`ConfigFile`], whose keys are all
//! optional and whose unknown keys are reported as warnings with their path, then
//! resolved into validated [`Settings`]. A layer's settings are its section
//! `[layers.NAME]` over `[defaults]` over the built-in defaults, so a server without
//! a config file behaves exactly as documented in `tessera.example.toml`.
//! Command-line flags override `[server]` (done by the binary).
//!
//! May import: `model`, `index`, `store`, `analytics`.

mod file;
mod limits;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use file::{
    BudgetSection, CacheSection, ClusterSection, ConfigFile, LayerSection, PrivacySection,
    ServerSection, SimplifySection, TinyPolygonsName,
};

use crate::analytics::privacy::{Epsilon, KAnonymity, PrivacyRules};
use crate::index::generalized::{ClusterSettings, TinyPolygons};
use crate::index::{GeneralizeSettings, IndexedLayer, TileBudget};
use crate::model::tile::MAX_ZOOM;
use crate::model::{Declared, LayerMeta, LayerName};
use crate::store::StoredLayer;

pub use limits::{Limits, Rate};

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "tessera.toml";
/// Default `Cache-Control: max-age` of tiles, seconds.
pub const DEFAULT_TILE_MAX_AGE: u32 = 60;
/// Smallest tile budget accepted, bytes: below it not even one parcel fits.
pub const MIN_TILE_BYTES: usize = 1024;
/// Longest `max_age_seconds` accepted: one year, the HTTP convention for "forever".
pub const MAX_AGE_LIMIT: u32 = 365 * 24 * 3600;

/// Errors of reading or validating a config file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or a value has the wrong type; the message gives
    /// the line and column.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What and where.
        message: String,
    },
    /// A value is out of range.
    #[error("{path}: {key}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted path of the key, e.g. `layers.parcels.min_zoom`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// How clients and this server cache a layer's tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// `Cache-Control: max-age`, seconds.
    pub max_age_seconds: u32,
    /// Whether rendered tiles are kept in the server's tile cache.
    pub server: bool,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            max_age_seconds: DEFAULT_TILE_MAX_AGE,
            server: true,
        }
    }
}

/// The validated settings of one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSettings {
    /// Shallowest zoom whose tiles show the layer.
    pub min_zoom: u8,
    /// Deepest zoom whose tiles show the layer; clients overzoom beyond it.
    pub max_zoom: u8,
    /// The properties written into tiles; `None`: all of them.
    pub properties: Option<Vec<String>>,
    /// Simplification, tiny polygons and clustering per zoom.
    pub generalize: GeneralizeSettings,
    /// The most one tile of the layer may hold.
    pub budget: TileBudget,
    /// HTTP and server caching of the layer's tiles.
    pub cache: CachePolicy,
    /// k-anonymity and noise of the layer's aggregates.
    pub privacy: PrivacyRules,
    /// Catalog fields declared in `[layers.NAME]`, which win over the ingest's.
    pub declared: Declared,
    /// Versions kept; older ones are removed after an ingest (never the served one).
    pub keep: u32,
}

impl Default for LayerSettings {
    fn default() -> Self {
        Self {
            min_zoom: 0,
            max_zoom: MAX_ZOOM,
            properties: None,
            generalize: GeneralizeSettings::default(),
            budget: TileBudget::default(),
            cache: CachePolicy::default(),
            privacy: PrivacyRules::default(),
            declared: Declared::default(),
            keep: DEFAULT_KEEP,
        }
    }
}

impl LayerSettings {
    /// A stored version's metadata as the server must treat it: the declared catalog
    /// fields (sensitivity, id and time fields, time zone) over the stored ones, then
    /// [`LayerMeta::published`] (a personal layer's extent coarsened). So a layer
    /// declared personal after its ingest, or a copy ingested as public under a name
    /// declared personal, is served as personal. Call it on every version loaded.
    #[must_use]
    pub fn declare(&self, meta: LayerMeta) -> LayerMeta {
        for (role, field) in [
            ("id_field", &self.declared.id_field),
            ("time_field", &self.declared.time_field),
        ] {
            if let Some(field) = field
                && meta.schema.position(field).is_none()
            {
                tracing::warn!(
                    layer = %meta.name,
                    field,
                    "tessera.toml declares {role} {field:?}, which the layer does not have"
                );
            }
        }
        self.declared.apply(meta)
    }

    /// True when tiles at zoom `z` show the layer.
    #[must_use]
    pub fn shows_zoom(&self, z: u8) -> bool {
        (self.min_zoom..=self.max_zoom).contains(&z)
    }

    /// Indexes a stored version with these settings (generalization, tile
    /// properties); configured tile properties the layer lacks are logged as warnings.
    #[must_use]
    pub fn index(&self, stored: StoredLayer) -> IndexedLayer {
        let mut layer =
            IndexedLayer::with_settings(stored.meta, stored.features, self.generalize.clone());
        if let Some(names) = &self.properties {
            for property in layer.set_tile_properties(names) {
                tracing::warn!(
                    layer = %layer.meta().name,
                    property,
                    "tessera.toml names a tile property the layer does not have"
                );
            }
        }
        layer
    }

    /// The budget of a tile of several layers: the smallest of theirs (the renderer
    /// shares it evenly between the layers).
    pub fn shared_budget<'a>(settings: impl IntoIterator<Item = &'a LayerSettings>) -> TileBudget {
        settings
            .into_iter()
            .map(|s| s.budget)
            .reduce(|a, b| TileBudget {
                max_bytes: a.max_bytes.min(b.max_bytes),
                max_features: a.max_features.min(b.max_features),
            })
            .unwrap_or_default()
    }
}

/// Validated settings: the server options as written (flags override them) and every
/// layer's settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `[server]` as written.
    pub server: ServerSection,
    /// `[limits]`, when the file has the section (`tessera serve` applies the
    /// defaults without one).
    pub limits: Option<Limits>,
    defaults: LayerSettings,
    layers: BTreeMap<LayerName, LayerSettings>,
}

impl Settings {
    /// Reads and validates `path`; returns the settings and one warning per key that
    /// no setting reads.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, and the line or key at fault.
    pub fn load(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text; `path` is only used in messages.
    ///
    /// # Errors
    /// [`ConfigError`] naming `path`, and the line or key at fault.
    pub fn parse(text: &str, path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let (file, unknown) = ConfigFile::parse(text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        let warnings = unknown
            .into_iter()
            .map(|key| format!("{}: unknown key {key} is ignored", path.display()))
            .collect();
        Ok((Self::resolve(file, path)?, warnings))
    }

    /// Resolves a parsed file: layer sections over `[defaults]` over built-in defaults.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a bad layer name or an out-of-range value.
    pub fn resolve(file: ConfigFile, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            reason,
        };
        if let Some(key) = file.defaults.declared_keys().first() {
            return Err(invalid(
                format!("defaults.{key}"),
                "sensitivity, id_field, time_field, timezone and the catalog fields \
                 (title, description, license, steward, update_frequency) describe one layer: \
                 declare them in [layers.NAME]"
                    .into(),
            ));
        }
        let defaults =
            layer_settings(&file.defaults, "defaults").map_err(|(k, r)| invalid(k, r))?;
        let mut layers = BTreeMap::new();
        for (name, section) in &file.layers {
            let key = format!("layers.{name}");
            let layer = LayerName::new(name).map_err(|e| invalid(key.clone(), e.to_string()))?;
            let merged = section.over(&file.defaults);
            let settings = layer_settings(&merged, &key).map_err(|(k, r)| invalid(k, r))?;
            layers.insert(layer, settings);
        }
        let limits = file
            .limits
            .as_ref()
            .map(limits::resolve)
            .transpose()
            .map_err(|(k, r)| invalid(k, r))?;
        Ok(Self {
            server: file.server,
            limits,
            defaults,
            layers,
        })
    }

    /// The settings of `layer`: its own section, or the defaults.
    #[must_use]
    pub fn layer(&self, layer: &LayerName) -> &LayerSettings {
        self.layers.get(layer).unwrap_or(&self.defaults)
    }

    /// The layers that have a section of their own.
    pub fn configured_layers(&self) -> impl Iterator<Item = &LayerName> {
        self.layers.keys()
    }
}

/// A key and what is wrong with its value.
type Invalid = (String, String);

/// Validates one (merged) layer section; `key` is its dotted path for messages.
fn layer_settings(s: &LayerSection, key: &str) -> Result<LayerSettings, Invalid> {
    let base = LayerSettings::default();
    let zoom = |name: &str, z: Option<u8>, default: u8| match z {
        Some(z) if z > MAX_ZOOM => Err((
            format!("{key}.{name}"),
            format!("{z} is beyond the deepest zoom {MAX_ZOOM}"),
        )),
        z => Ok(z.unwrap_or(default)),
    };
    let min_zoom = zoom("min_zoom", s.min_zoom, base.min_zoom)?;
    let max_zoom = zoom("max_zoom", s.max_zoom, base.max_zoom)?;
    if min_zoom > max_zoom {
        return Err((
            format!("{key}.min_zoom"),
            format!("min_zoom {min_zoom} is above max_zoom {max_zoom}"),
        ));
    }
    Ok(LayerSettings {
        min_zoom,
        max_zoom,
        properties: s.properties.clone(),
        generalize: generalize(s, key)?,
        budget: budget(&s.budget, key)?,
        cache: CachePolicy {
            max_age_seconds: match s.cache.max_age_seconds {
                Some(a) if a > MAX_AGE_LIMIT => {
                    return Err((
                        format!("{key}.cache.max_age_seconds"),
                        format!("{a} is more than a year ({MAX_AGE_LIMIT})"),
                    ));
                }
                a => a.unwrap_or(DEFAULT_TILE_MAX_AGE),
            },
            server: s.cache.server.unwrap_or(true),
        },
        privacy: privacy(&s.privacy, key)?,
        declared: declared(s, key)?,
        keep: match s.keep {
            Some(0) => return Err((format!("{key}.keep"), "must be at least 1".into())),
            k => k.unwrap_or(DEFAULT_KEEP),
        },
    })
}

/// Versions of a layer kept by default.
pub const DEFAULT_KEEP: u32 = 10;

/// The declared catalog fields of a layer section; the time zone must be a known IANA
/// name.
fn declared(s: &LayerSection, key: &str) -> Result<Declared, Invalid> {
    let field = |name: &str, value: &Option<String>| match value {
        Some(v) if v.trim().is_empty() => Err((
            format!("{key}.{name}"),
            "must name a property of the layer".to_owned(),
        )),
        v => Ok(v.clone()),
    };
    if let Some(zone) = &s.timezone {
        jiff::tz::TimeZone::get(zone).map_err(|e| {
            (
                format!("{key}.timezone"),
                format!("{zone:?} is not a known IANA time zone (e.g. \"Europe/Madrid\"): {e}"),
            )
        })?;
    }
    Ok(Declared {
        sensitivity: s.sensitivity,
        id_field: field("id_field", &s.id_field)?,
        time_field: field("time_field", &s.time_field)?,
        timezone: s.timezone.clone(),
        catalog: crate::model::meta::DeclaredCatalog {
            title: s.title.clone(),
            description: s.description.clone(),
            license: s.license.clone(),
            steward: s.steward.clone(),
            update_frequency: s.update_frequency.clone(),
        },
    })
}

fn generalize(s: &LayerSection, key: &str) -> Result<GeneralizeSettings, Invalid> {
    let base = GeneralizeSettings::default();
    let simplify = &s.simplify;
    let non_negative = |name: &str, v: Option<f64>, default: f64| match v {
        Some(v) if !(v.is_finite() && v >= 0.0) => Err((
            format!("{key}.simplify.{name}"),
            format!("{v} must be a finite number ≥ 0 (tile units)"),
        )),
        v => Ok(v.unwrap_or(default)),
    };
    let simplify_max_zoom = match simplify.max_zoom {
        Some(z) if z > MAX_ZOOM => {
            return Err((
                format!("{key}.simplify.max_zoom"),
                format!("{z} is beyond the deepest zoom {MAX_ZOOM}"),
            ));
        }
        z => z.unwrap_or(base.simplify_max_zoom),
    };
    Ok(GeneralizeSettings {
        simplify_max_zoom,
        tolerance: non_negative("tolerance", simplify.tolerance, base.tolerance)?,
        min_area: non_negative("min_area", simplify.min_area, base.min_area)?,
        tiny_polygons: simplify
            .tiny_polygons
            .map_or(base.tiny_polygons, |t| match t {
                TinyPolygonsName::Drop => TinyPolygons::Drop,
                TinyPolygonsName::Point => TinyPolygons::Point,
            }),
        cluster: cluster(&s.cluster, key)?,
    })
}

fn cluster(c: &ClusterSection, key: &str) -> Result<Option<ClusterSettings>, Invalid> {
    if c.enabled == Some(false) {
        return Ok(None);
    }
    let base = ClusterSettings::default();
    let cell = c.cell.unwrap_or(base.cell);
    if !(16..=4096).contains(&cell) {
        return Err((
            format!("{key}.cluster.cell"),
            format!("{cell} is not within 16..=4096 tile units"),
        ));
    }
    let max_zoom = c.max_zoom.unwrap_or(base.max_zoom);
    if max_zoom > MAX_ZOOM {
        return Err((
            format!("{key}.cluster.max_zoom"),
            format!("{max_zoom} is beyond the deepest zoom {MAX_ZOOM}"),
        ));
    }
    Ok(Some(ClusterSettings {
        max_zoom,
        cell,
        sum_field: c.sum_field.clone(),
    }))
}

fn budget(b: &BudgetSection, key: &str) -> Result<TileBudget, Invalid> {
    let base = TileBudget::default();
    let max_bytes = b.max_bytes.unwrap_or(base.max_bytes);
    if max_bytes < MIN_TILE_BYTES {
        return Err((
            format!("{key}.budget.max_bytes"),
            format!("{max_bytes} is below the smallest budget, {MIN_TILE_BYTES} bytes"),
        ));
    }
    let max_features = b.max_features.unwrap_or(base.max_features);
    if max_features == 0 {
        return Err((
            format!("{key}.budget.max_features"),
            "must be at least 1".into(),
        ));
    }
    Ok(TileBudget {
        max_bytes,
        max_features,
    })
}

fn privacy(p: &PrivacySection, key: &str) -> Result<PrivacyRules, Invalid> {
    let epsilon = |name: &str, v: Option<f64>| {
        v.map(Epsilon::new)
            .transpose()
            .map_err(|e| (format!("{key}.privacy.{name}"), e.to_string()))
    };
    Ok(PrivacyRules {
        k: p.k
            .map(KAnonymity::new)
            .transpose()
            .map_err(|e| (format!("{key}.privacy.k"), e.to_string()))?,
        epsilon: epsilon("epsilon", p.epsilon)?,
        daily_epsilon: epsilon("daily_epsilon", p.daily_epsilon)?,
        max_groups: match p.max_groups {
            Some(0) => {
                return Err((
                    format!("{key}.privacy.max_groups"),
                    "must be at least 1".into(),
                ));
            }
            m => m,
        },
        exact_for: p
            .exact_for
            .iter()
            .flatten()
            .map(|r| {
                r.parse()
                    .map_err(|e: String| (format!("{key}.privacy.exact_for"), e))
            })
            .collect::<Result<_, Invalid>>()?,
    })
}
