//! `tessera.toml` settings as the server applies them: zoom range, tile properties,
//! budget, cache policy and per-layer privacy.

use mvt_reader::Reader;
use serde_json::json;
use tessera::store::DataDir;

use crate::support::{TestServer, demo_dir, read_geojson, store_layer, store_personal_layer};

/// The tile holding the first demo parcel at zoom `z`, as `z/x/y`.
fn demo_tile(z: u32) -> String {
    let (lon, lat) = (2.156_2_f64, 41.378_4_f64);
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    format!("{z}/{x}/{y}")
}

async fn parcels_server(config: &str) -> TestServer {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    store_layer(
        &dir,
        "parcels",
        &read_geojson(&demo_dir().join("parcels.geojson")),
    );
    TestServer::start_with(tmp, config).await
}

#[tokio::test]
async fn layer_settings_shape_tiles_tilejson_and_cache_headers() {
    let server = parcels_server(
        "[layers.parcels]\nmin_zoom = 12\nmax_zoom = 16\nproperties = [\"land_use\", \"floors\"]\n\
         cache.max_age_seconds = 600\n",
    )
    .await;
    // Outside the zoom range: a JSON 404 naming the range.
    let (status, body) = server
        .get_json(&format!("/tiles/parcels/{}.mvt", demo_tile(11)))
        .await;
    assert_eq!(status, 404);
    let description = body["description"].as_str().expect("description");
    assert!(description.contains("parcels 12–16"), "{description}");
    // Inside: only the configured properties, and the configured max-age.
    let resp = server
        .get(&format!("/tiles/parcels/{}.mvt", demo_tile(14)))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"].to_str().expect("ascii"),
        "public, max-age=600"
    );
    let bytes = resp.bytes().await.expect("body").to_vec();
    let reader = Reader::new(bytes).expect("valid MVT");
    let features = reader.get_features(0).expect("features");
    assert!(!features.is_empty());
    for f in &features {
        let mut keys: Vec<&str> = f
            .properties
            .as_ref()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["floors", "land_use"]);
    }
    // The features API still serves every property.
    let (_, item) = server.get_json("/collections/parcels/items/1").await;
    assert!(item["properties"]["parcel_id"].is_number(), "{item}");
    // TileJSON advertises the zoom range and the tile fields.
    let (_, tilejson) = server.get_json("/tiles/parcels").await;
    assert_eq!(tilejson["minzoom"], 12);
    assert_eq!(tilejson["maxzoom"], 16);
    let fields = tilejson["vector_layers"][0]["fields"]
        .as_object()
        .expect("fields");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["floors", "land_use"]);
}

#[tokio::test]
async fn a_layer_budget_thins_its_tiles() {
    let server = parcels_server("[layers.parcels.budget]\nmax_bytes = 8000\n").await;
    let resp = server
        .get(&format!("/tiles/parcels/{}.mvt", demo_tile(13)))
        .await;
    assert_eq!(resp.status(), 200);
    let thinned = resp.headers()["x-tessera-thinned"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let bytes = resp.bytes().await.expect("body");
    assert!(bytes.len() <= 8000, "{} bytes", bytes.len());
    let dropped: usize = thinned
        .split(';')
        .find_map(|kv| kv.strip_prefix("dropped="))
        .and_then(|n| n.parse().ok())
        .expect("dropped count");
    assert!(dropped > 0, "{thinned}");
}

#[tokio::test]
async fn tiles_render_alike_with_the_server_cache_off() {
    let server = parcels_server("[layers.parcels.cache]\nserver = false\n").await;
    let path = format!("/tiles/parcels/{}.mvt", demo_tile(15));
    let first = server.get(&path).await;
    let etag = first.headers()["etag"].clone();
    let first = first.bytes().await.expect("body");
    let second = server.get(&path).await.bytes().await.expect("body");
    assert!(!first.is_empty());
    assert_eq!(first, second);
    let revalidated = server
        .client
        .get(format!("{}{path}", server.base))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("get");
    assert_eq!(revalidated.status(), 304);
}

/// A personal point layer: 30 points of 12 persons in one place, 3 persons elsewhere.
async fn pings_server(config: &str) -> TestServer {
    pings_server_with_key(config).await.0
}

const H3_QUERY: &str = "/heatmap/pings.geojson?h3_res=5&stat=distinct";

/// [`pings_server`], and an analyst key.
async fn pings_server_with_key(config: &str) -> (TestServer, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    store_personal_layer(
        &dir,
        "pings",
        &crate::analytics::points(30, 12),
        "person",
        "ts",
    );
    let key = crate::support::issue_key(tmp.path(), tessera::model::Role::Analyst);
    (TestServer::start_with(tmp, config).await, key)
}

#[tokio::test]
async fn a_configured_k_suppresses_what_the_default_k_releases() {
    // Exact answers (for the analyst role the config names) show k alone at work.
    let exact = "[layers.pings.privacy]\nexact_for = [\"analyst\"]\n";
    let (default, key) = pings_server_with_key(exact).await;
    let (status, body) = default.get_json_as(H3_QUERY, &key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["k"], 10);
    assert_eq!(body["features"][0]["properties"]["distinct"], 12);

    let (strict, key) = pings_server_with_key(&format!("{exact}k = 20\n")).await;
    let (status, body) = strict.get_json_as(H3_QUERY, &key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["k"], 20);
    assert_eq!(body["features"].as_array().map(Vec::len), Some(0), "{body}");
    // A query cannot lower the layer's k.
    let (_, body) = strict.get_json_as(&format!("{H3_QUERY}&k=5"), &key).await;
    assert_eq!(body["k"], 20);
}

#[tokio::test]
async fn a_configured_epsilon_makes_every_query_noisy_within_the_daily_budget() {
    const H3_QUERY: &str = "/heatmap/pings.geojson?h3_res=6&stat=distinct";
    let server = pings_server("[layers.pings.privacy]\nepsilon = 0.5\ndaily_epsilon = 1.0\n").await;
    let (status, body) = server.get_json(H3_QUERY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["privacy"]["epsilon"], 0.5);
    assert_eq!(body["privacy"]["remaining_today"], 0.5);
    // Asking for more ε than the layer allows is refused before anything is spent.
    let (status, body) = server.get_json(&format!("{H3_QUERY}&epsilon=0.9")).await;
    assert_eq!(status, 400);
    assert!(
        body["description"]
            .as_str()
            .is_some_and(|d| d.contains("limit of 0.5")),
        "{body}"
    );
    // Less ε (more noise) is allowed.
    let (status, body) = server.get_json(&format!("{H3_QUERY}&epsilon=0.25")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["privacy"]["remaining_today"], 0.25);
    // A repeat costs nothing; a new query beyond the daily budget of 1.0 is refused.
    let (status, body) = server.get_json(H3_QUERY).await;
    assert_eq!(
        (status, &body["privacy"]["charged"]),
        (200, &json!(0.0)),
        "{body}"
    );
    let (status, body) = server.get_json(&format!("{H3_QUERY}&hours=8-9")).await;
    assert_eq!(status, 429, "{body}");
    // Raster heatmaps cannot carry noise, so they are refused on such a layer.
    let resp = server.get("/heatmap/pings/10/513/511.png").await;
    assert_eq!(resp.status(), 403);
}

#[test]
fn serve_refuses_a_broken_config_naming_the_file_and_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("broken.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\ntile_cache_mb = \"lots\"\n",
    )
    .expect("write");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("broken.toml") && stderr.contains("line 3"),
        "{stderr}"
    );
}

#[test]
fn ingest_refuses_a_bad_declaration_naming_the_file_and_key_or_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pings = demo_dir().join("pings.csv");
    let cases = [
        (
            "[layers.pings]\ntimezone = \"Mars/Olympus\"\n",
            "layers.pings.timezone",
        ),
        ("[layers.pings]\n\nsensitivity = \"secret\"\n", "line 3"),
        (
            "[defaults]\nid_field = \"device_id\"\n",
            "defaults.id_field",
        ),
    ];
    for (text, at) in cases {
        let config = tmp.path().join("declared.toml");
        std::fs::write(&config, text).expect("write");
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["ingest", pings.to_str().expect("utf-8"), "--layer", "pings"])
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .output()
            .expect("run");
        assert_eq!(run.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("declared.toml") && stderr.contains(at),
            "{text}: {stderr}"
        );
    }
}
