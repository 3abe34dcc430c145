//! Shared fixtures: demo layers read with the `geojson` crate (independently of
//! Tessera's ingest), a data folder, and a server on an ephemeral port.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use geo_types::Geometry;
use tessera::api::{AppState, Registry, router};
use tessera::model::meta::SourceInfo;
use tessera::model::{
    Bbox, Feature, Field, LayerMeta, LayerName, QualityReport, Schema, Sensitivity, Value,
};
use tessera::store::DataDir;

/// The repository's `data/` folder.
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// A source layer as read straight from a GeoJSON file.
pub struct SourceLayer {
    pub schema: Schema,
    pub features: Vec<Feature>,
}

/// Reads a GeoJSON FeatureCollection; ids are 1-based positions, like Tessera's.
pub fn read_geojson(path: &Path) -> SourceLayer {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let fc: geojson::FeatureCollection = text.parse().expect("parse fixture");
    let mut fields: Vec<Field> = Vec::new();
    let mut features = Vec::new();
    for (i, f) in fc.features.iter().enumerate() {
        let props = f.properties.clone().unwrap_or_default();
        for (name, v) in &props {
            let value = Value::from_json(v);
            let Some(t) = value.field_type() else {
                continue;
            };
            match fields.iter_mut().find(|x| &x.name == name) {
                Some(field) => field.field_type = field.field_type.merge(t),
                None => fields.push(Field {
                    name: name.clone(),
                    field_type: t,
                }),
            }
        }
        let geometry: Geometry<f64> = f
            .geometry
            .clone()
            .expect("geometry")
            .try_into()
            .expect("convert geometry");
        features.push((i, geometry, props));
    }
    let schema = Schema { fields };
    let features = features
        .into_iter()
        .map(|(i, geometry, props)| Feature {
            id: i as u64 + 1,
            geometry,
            properties: schema
                .fields
                .iter()
                .map(|field| {
                    props
                        .get(&field.name)
                        .map(Value::from_json)
                        .and_then(|v| v.coerce(field.field_type))
                        .unwrap_or(Value::Null)
                })
                .collect(),
        })
        .collect();
    SourceLayer { schema, features }
}

fn meta(name: &str, layer: &SourceLayer) -> LayerMeta {
    let mut bbox = Bbox::empty();
    for f in &layer.features {
        use geo::BoundingRect as _;
        if let Some(r) = f.geometry.bounding_rect() {
            bbox.extend(&Bbox::from(r));
        }
    }
    LayerMeta {
        name: LayerName::new(name).expect("name"),
        version: 0,
        title: format!("Demo {name}"),
        description: None,
        license: Some("CC0-1.0".into()),
        steward: None,
        update_frequency: None,
        sensitivity: Sensitivity::Public,
        id_field: None,
        time_field: None,
        timezone: None,
        geometry_type: "Polygon".into(),
        feature_count: layer.features.len() as u64,
        bbox: Some(bbox),
        schema: layer.schema.clone(),
        source: SourceInfo {
            path: String::new(),
            format: "geojson".into(),
            sha256: String::new(),
            crs: "EPSG:4326".into(),
        },
        created_at: "2026-01-01T00:00:00Z".into(),
    }
}

/// Writes a layer into a data folder through the store.
pub fn store_layer(dir: &DataDir, name: &str, layer: &SourceLayer) {
    dir.write_version(
        meta(name, layer),
        &layer.features,
        &QualityReport::default(),
    )
    .expect("write version");
}

/// Writes a layer after `edit` adjusts its metadata.
pub fn store_layer_with(
    dir: &DataDir,
    name: &str,
    layer: &SourceLayer,
    edit: impl FnOnce(&mut LayerMeta),
) {
    let mut m = meta(name, layer);
    edit(&mut m);
    dir.write_version(m, &layer.features, &QualityReport::default())
        .expect("write version");
}

/// Writes a personal layer (person field `id_field`, time field `time_field`).
pub fn store_personal_layer(
    dir: &DataDir,
    name: &str,
    layer: &SourceLayer,
    id_field: &str,
    time_field: &str,
) {
    let mut m = meta(name, layer);
    m.sensitivity = Sensitivity::Personal;
    m.id_field = Some(id_field.into());
    m.time_field = Some(time_field.into());
    dir.write_version(m, &layer.features, &QualityReport::default())
        .expect("write version");
}

/// The access log's file name in a test server's data folder.
pub const ACCESS_LOG: &str = "access.log";

/// A running server and what it serves.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub _tmp: tempfile::TempDir,
    registry: Arc<Registry>,
}

impl TestServer {
    /// Serves the given data folder on 127.0.0.1 with an ephemeral port.
    pub async fn start(tmp: tempfile::TempDir) -> Self {
        Self::start_with(tmp, "").await
    }

    /// Serves the given data folder with the settings of a `tessera.toml` text. The
    /// noise secret is a fixed one (unless the folder has its own), so that private
    /// answers are the same in every run.
    pub async fn start_with(tmp: tempfile::TempDir, config: &str) -> Self {
        let secret = tmp.path().join(tessera::api::NOISE_KEY_FILE);
        if !secret.exists() {
            std::fs::write(&secret, "5e".repeat(32)).expect("write secret");
        }
        let (settings, warnings) =
            tessera::config::Settings::parse(config, Path::new("test.toml")).expect("config");
        assert!(warnings.is_empty(), "{warnings:?}");
        let dir = DataDir::open(tmp.path()).expect("open data dir");
        let registry = Arc::new(Registry::load_with(dir, Arc::new(settings)).expect("load"));
        let mut state = AppState::new(Arc::clone(&registry), None).expect("state");
        // Limits only where the test's config asks for them.
        state.limits = registry
            .settings()
            .limits
            .clone()
            .map(|l| Arc::new(tessera::api::limits::Limiter::new(l)));
        let log = tmp.path().join(ACCESS_LOG);
        state.trace = Arc::new(tessera::api::trace::Trace {
            log: Some(tessera::api::trace::AccessLog::open(&log, 1 << 20).expect("log")),
            metrics: tessera::api::trace::Metrics::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, router(state)).await.expect("serve");
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            _tmp: tmp,
            registry,
        }
    }

    /// Serves the demo parcels and assets (written through the store).
    pub async fn demo() -> (Self, SourceLayer, SourceLayer) {
        Self::demo_with("").await
    }

    /// Serves the demo parcels and assets with the settings of a `tessera.toml` text.
    pub async fn demo_with(config: &str) -> (Self, SourceLayer, SourceLayer) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::open(tmp.path()).expect("open");
        let parcels = read_geojson(&demo_dir().join("parcels.geojson"));
        let assets = read_geojson(&demo_dir().join("assets.geojson"));
        store_layer(&dir, "parcels", &parcels);
        store_layer(&dir, "assets", &assets);
        (Self::start_with(tmp, config).await, parcels, assets)
    }

    /// Loads new layer versions now instead of waiting for the poll.
    pub fn reload(&self) {
        self.registry.reload().expect("reload");
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// A GET presenting `key` as `Authorization: Bearer`.
    pub async fn get_as(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json_as(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        let resp = self.get_as(path, key).await;
        let status = resp.status().as_u16();
        let body = resp.json().await.expect("json body");
        (status, body)
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        let body = resp.json().await.expect("json body");
        (status, body)
    }
}

/// Issues an API key of `role` in the data folder `root` (before the server starts).
pub fn issue_key(root: &Path, role: tessera::model::Role) -> String {
    let store =
        tessera::access::KeyStore::open(&root.join(tessera::api::KEYS_FILE)).expect("key store");
    store.add(role, "integration test").expect("issue key").1
}

/// Ingests the demo city into `root` as `tessera serve` seeds it: pings and trips
/// personal (person `device_id`), parcels, zones and assets public.
pub fn demo_city(root: &Path) {
    use tessera::ingest::{CatalogOptions, IngestOptions, ingest};
    let dir = DataDir::open(root).expect("open");
    for (file, time) in [
        ("parcels.geojson", None),
        ("zones.geojson", None),
        ("assets.geojson", None),
        ("pings.csv", Some("ts")),
        ("trips.geojson", Some("departure")),
    ] {
        let catalog = match time {
            Some(time) => CatalogOptions {
                sensitivity: Some(Sensitivity::Personal),
                id_field: Some("device_id".into()),
                time_field: Some(time.into()),
                ..CatalogOptions::default()
            },
            None => CatalogOptions::default(),
        };
        let name = LayerName::new(file.split('.').next().expect("name")).expect("name");
        let options = IngestOptions {
            catalog,
            ..IngestOptions::default()
        };
        ingest(&demo_dir().join(file), &name, &dir, &options).expect("ingest demo layer");
    }
}

/// Ingests the demo pings as layer `name`, confirmed public: the copy a careless
/// ingest makes of personal data.
pub fn ingest_public_copy_of_pings(root: &Path, name: &str) {
    use tessera::ingest::{CatalogOptions, IngestOptions, ingest};
    let options = IngestOptions {
        catalog: CatalogOptions {
            sensitivity: Some(Sensitivity::Public),
            ..CatalogOptions::default()
        },
        ..IngestOptions::default()
    };
    let dir = DataDir::open(root).expect("open");
    ingest(
        &demo_dir().join("pings.csv"),
        &LayerName::new(name).expect("name"),
        &dir,
        &options,
    )
    .expect("ingest a copy confirmed public");
}
