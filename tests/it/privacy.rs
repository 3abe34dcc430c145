//! Attacks on the privacy promise, with the public API and the demo city: every route
//! and layer parameter against a personal layer, differencing by time, space and
//! overlapping zones, averaging, key rotation, a planner panning the map, restarts.
//!
//! The demo `pings` (20 000 GPS pings of 100 devices) and `trips` are ingested as
//! personal layers, the other demo layers as public ones. The noise secret is fixed
//! (see `TestServer::start_with`), so every answer is the same in every run.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value as J;
use tessera::api::routes::{LayerUse, ROUTES};
use tessera::ingest::{IngestOptions, ingest};
use tessera::model::{LayerName, Role};
use tessera::store::DataDir;

use crate::support::{TestServer, demo_city, demo_dir, ingest_public_copy_of_pings, issue_key};

async fn demo_server(config: &str) -> (TestServer, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    demo_city(tmp.path());
    let key = issue_key(tmp.path(), Role::Analyst);
    (TestServer::start_with(tmp, config).await, key)
}

/// What would identify a person in a response: every device id and every
/// `[lon,lat]` pair of the raw pings.
struct Markers {
    devices: HashSet<String>,
    positions: HashSet<String>,
}

fn markers() -> Markers {
    let text = std::fs::read_to_string(demo_dir().join("pings.csv")).expect("pings");
    let mut devices = HashSet::new();
    let mut positions = HashSet::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        positions.insert(format!("[{},{}]", cols[0], cols[1]));
        devices.insert(cols[3].to_owned());
    }
    Markers { devices, positions }
}

impl Markers {
    fn leaked_in(&self, body: &str) -> Option<String> {
        if let Some(device) = self.devices.iter().find(|d| body.contains(d.as_str())) {
            return Some(device.clone());
        }
        // Every `[x,y]` of the body, looked up among the raw positions.
        body.match_indices('[').find_map(|(start, _)| {
            let end = start + body[start..].find(']')?;
            let pair = &body[start..=end];
            self.positions.contains(pair).then(|| pair.to_owned())
        })
    }
}

/// The route table × every layer parameter × {public, personal}: raw and geometric
/// uses of a personal layer are refused; statistics of it leave no raw record.
#[tokio::test]
async fn every_route_and_layer_parameter_keeps_personal_records_in() {
    let (server, analyst) = demo_server("").await;
    let markers = markers();
    let mut tried = 0;
    for route in ROUTES {
        for param in route.layers {
            for (layer, personal) in [
                ("pings", true),
                ("trips", true),
                ("zones", false),
                ("assets", false),
            ] {
                let path = param.example.replace("{}", layer);
                for key in [None, Some(analyst.as_str())] {
                    let resp = match key {
                        Some(key) => server.get_as(&path, key).await,
                        None => server.get(&path).await,
                    };
                    let status = resp.status().as_u16();
                    let body =
                        String::from_utf8_lossy(&resp.bytes().await.expect("body")).into_owned();
                    tried += 1;
                    if let Some(leak) = markers.leaked_in(&body) {
                        panic!("{path} (key {key:?}) leaked {leak}");
                    }
                    if personal && param.purpose == LayerUse::Features {
                        assert_eq!(status, 403, "{path} (key {key:?}): {body}");
                        assert!(body.contains("personal"), "{path}: {body}");
                    }
                    if !personal && param.purpose == LayerUse::Features {
                        assert!(status < 500 && status != 403, "{path}: {status} {body}");
                    }
                    if personal && param.purpose != LayerUse::Features {
                        // Answered (or refused as a raster or for its shape), never 5xx.
                        assert!(
                            matches!(status, 200 | 204 | 400 | 403),
                            "{path}: {status} {body}"
                        );
                    }
                }
            }
        }
    }
    assert!(tried > 150, "{tried} requests");
    // The detector itself finds raw records where they are served: in a public copy.
    ingest_public_copy_of_pings(server._tmp.path(), "copy");
    server.reload();
    let copy = server.get("/collections/copy/items?limit=3").await;
    let copy = copy.text().await.expect("body");
    assert!(markers.leaked_in(&copy).is_some(), "{copy}");
    // Any other query key naming a layer is refused as unknown, not read as a layer.
    for path in [
        "/aggregate?points=assets&zones=zones&layer=pings",
        "/heatmap/assets.geojson?zones=pings",
        "/flows?trips=trips&zones=zones&points=pings",
    ] {
        let (status, body) = server.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
}

/// Time windows a second apart snap to the same whole hours: one release, one answer.
#[tokio::test]
async fn windows_one_second_apart_give_identical_answers() {
    let (server, _) = demo_server("").await;
    for base in [
        "/aggregate?points=pings&zones=zones&stat=distinct",
        "/heatmap/pings.geojson?h3_res=8",
        "/flows?trips=trips&zones=zones",
    ] {
        let window =
            |to: &str| format!("{base}&from=2025-03-03T00:00:00Z&to=2025-03-07T16:51:{to}Z");
        let (s1, a) = server.get_json(&window("12")).await;
        let (s2, b) = server.get_json(&window("13")).await;
        assert_eq!((s1, s2), (200, 200), "{a} {b}");
        assert_eq!(a["features"], b["features"], "{base}");
        assert_eq!(a["privacy"]["to"], "2025-03-07T17:00:00Z");
        assert_eq!(
            b["privacy"]["charged"], 0.0,
            "the second is the same release"
        );
    }
}

/// Bounding boxes a sliver apart list the same hexagons with the same values: the
/// box picks released cells, it never cuts the points counted.
#[tokio::test]
async fn bboxes_a_sliver_apart_give_identical_answers() {
    let (server, _) = demo_server("").await;
    let h3 = |bbox: &str| format!("/heatmap/pings.geojson?h3_res=8&bbox={bbox}");
    let (_, wide) = server.get_json(&h3("2.15,41.37,2.19,41.41")).await;
    let (_, sliver) = server.get_json(&h3("2.15,41.37,2.19,41.409999")).await;
    assert!(!wide["features"].as_array().expect("features").is_empty());
    assert_eq!(wide["features"], sliver["features"]);
    assert_eq!(sliver["privacy"]["charged"], 0.0);
}

/// Asking the same question 20 times gives one answer, charged once.
#[tokio::test]
async fn averaging_repeats_gains_nothing() {
    let (server, _) = demo_server("").await;
    let path = "/aggregate?points=pings&zones=zones&stat=distinct&hours=7-9";
    let (_, first) = server.get_json(path).await;
    assert_eq!(first["privacy"]["charged"], 1.0);
    for _ in 0..20 {
        let (status, again) = server.get_json(path).await;
        assert_eq!(status, 200);
        assert_eq!(again["features"], first["features"]);
        assert_eq!(again["privacy"]["charged"], 0.0);
        assert_eq!(again["privacy"]["spent_today"], 1.0);
    }
}

/// A second, overlapping zone layer is a new release: it costs ε, so differencing
/// zone layers is bounded by the daily budget, and every released count is noisy.
#[tokio::test]
async fn overlapping_zone_layers_cost_budget_and_answers_are_noisy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    demo_city(tmp.path());
    // Five copies of the zones, as an attacker with upload rights might shift them.
    let dir = DataDir::open(tmp.path()).expect("open");
    for i in 0..5 {
        ingest(
            &demo_dir().join("zones.geojson"),
            &LayerName::new(&format!("zones{i}")).expect("name"),
            &dir,
            &IngestOptions::default(),
        )
        .expect("ingest");
    }
    let analyst = issue_key(tmp.path(), Role::Analyst);
    let server =
        TestServer::start_with(tmp, "[layers.pings.privacy]\nexact_for = [\"analyst\"]\n").await;
    let (_, exact) = server
        .get_json_as(
            "/aggregate?points=pings&zones=zones&stat=distinct",
            &analyst,
        )
        .await;
    assert_eq!(exact["privacy"]["mechanism"], "exact");
    let mut noisy_differs = 0;
    for i in 0..5 {
        let (status, body) = server
            .get_json(&format!(
                "/aggregate?points=pings&zones=zones{i}&stat=distinct"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["privacy"]["charged"], 1.0, "zones{i} is a new release");
        let values = |b: &J| -> Vec<J> {
            b["features"]
                .as_array()
                .expect("features")
                .iter()
                .map(|f| f["properties"]["distinct"].clone())
                .collect()
        };
        noisy_differs += usize::from(values(&body) != values(&exact));
    }
    assert_eq!(noisy_differs, 5, "no private answer is the exact one");
    let (status, body) = server
        .get_json("/aggregate?points=pings&zones=zones&stat=distinct")
        .await;
    assert_eq!(
        status, 429,
        "the sixth zone layer is over the daily ε of 5: {body}"
    );
    assert_eq!(body["code"], "BudgetExhausted");
}

/// Made-up keys are the one anonymous caller: rotating them buys no budget, and
/// leaves one account in the ledger. An issued key has its own budget.
#[tokio::test]
async fn random_keys_share_the_anonymous_budget() {
    let (server, analyst) = demo_server("").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let path = format!("/heatmap/pings.geojson?h3_res=8&hours={i}-{}", i + 1);
        let resp = server
            .client
            .get(format!("{}{path}", server.base))
            .header("x-api-key", format!("random-key-{i}"))
            .send()
            .await
            .expect("get");
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let (status, body) = server
        .get_json_as("/heatmap/pings.geojson?h3_res=8&hours=20-21", &analyst)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["privacy"]["spent_today"], 1.0);
    let ledger = std::fs::read_to_string(server._tmp.path().join(tessera::api::LEDGER_FILE))
        .expect("ledger");
    let ledger: J = serde_json::from_str(&ledger).expect("json");
    let accounts: Vec<&String> = ledger["spent"].as_object().expect("spent").keys().collect();
    assert_eq!(accounts.len(), 2, "anonymous and the analyst: {accounts:?}");
}

/// A planner pans the demo map over every tile at z12–z16: the tiles are read from
/// the grid releases, so the budget spent is one ε per level, whatever the tiles.
#[tokio::test]
async fn panning_the_map_spends_nothing_beyond_the_release() {
    let (server, _) = demo_server("").await;
    let mut charged = 0.0;
    let mut tiles = 0;
    let mut cells = 0;
    for z in 12u32..=16 {
        let n = f64::from(1u32 << z);
        let x = |lon: f64| ((lon + 180.0) / 360.0 * n) as u32;
        let y = |lat: f64| {
            let r = lat.to_radians();
            ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n) as u32
        };
        for tx in x(2.154)..=x(2.186) {
            for ty in y(41.402)..=y(41.378) {
                let resp = server
                    .get(&format!(
                        "/heatmap/pings/{z}/{tx}/{ty}.mvt?cells=64&stat=distinct"
                    ))
                    .await;
                assert!(matches!(resp.status().as_u16(), 200 | 204));
                let cost: f64 = resp.headers()["x-privacy-epsilon-charged"]
                    .to_str()
                    .expect("header")
                    .parse()
                    .expect("number");
                charged += cost;
                tiles += 1;
                if resp.status() == 200 {
                    let bytes = resp.bytes().await.expect("body").to_vec();
                    let reader = mvt_reader::Reader::new(bytes).expect("mvt");
                    cells += reader.get_features(0).expect("features").len();
                }
            }
        }
    }
    assert!(tiles > 50, "{tiles} tiles");
    assert!(cells > 0, "the map shows released cells");
    // 64 cells per tile side read the level-17 release at every zoom from z12 up.
    assert_eq!(charged, 1.0, "{tiles} tiles cost one release");
}

/// The ledger survives a restart: the day's spending stays, repeats stay free.
#[tokio::test]
async fn the_budget_persists_over_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    demo_city(tmp.path());
    let root = tmp.path().to_owned();
    let path = "/heatmap/pings.geojson?h3_res=8";
    let server = TestServer::start_with(tmp, "").await;
    let (_, first) = server.get_json(path).await;
    assert_eq!(first["privacy"]["remaining_today"], 4.0);
    // A second server on the same data folder: the state is read back from disk.
    let keep = tempfile::tempdir().expect("tempdir");
    copy_dir(&root, keep.path());
    drop(server);
    let restarted = TestServer::start_with(keep, "").await;
    let (_, again) = restarted.get_json(path).await;
    assert_eq!(
        again["features"], first["features"],
        "same secret, same answer"
    );
    assert_eq!(again["privacy"]["charged"], 0.0);
    let (_, other) = restarted.get_json(&format!("{path}&hours=8-9")).await;
    assert_eq!(other["privacy"]["remaining_today"], 3.0);
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A personal layer's extent is published on a grid of at least 1 km: no bound is a
/// ping's coordinate. Its quality report gives no position either.
#[tokio::test]
async fn personal_metadata_names_no_individual() {
    let (server, _) = demo_server("").await;
    let (_, catalog) = server.get_json("/catalog").await;
    let pings = catalog["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["id"] == "pings")
        .expect("pings");
    let bbox: Vec<f64> = pings["extent"]["spatial"]["bbox"][0]
        .as_array()
        .expect("bbox")
        .iter()
        .filter_map(J::as_f64)
        .collect();
    let text = std::fs::read_to_string(demo_dir().join("pings.csv")).expect("pings");
    let raw: HashSet<String> = text
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').take(2).map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert_eq!(bbox.len(), 4);
    for b in &bbox {
        assert!(
            !raw.contains(&b.to_string()),
            "bound {b} is a raw coordinate"
        );
        assert!(
            (b * 100.0 - (b * 100.0).round()).abs() < 1e-9,
            "{b} is on the 0.01° grid"
        );
    }
    let km_per_degree = 111.32;
    assert!((bbox[3] - bbox[1]) * km_per_degree >= 1.0);
    assert!((bbox[2] - bbox[0]) * km_per_degree * 41.39f64.to_radians().cos() >= 1.0);
    let (status, quality) = server.get_json("/collections/pings/quality").await;
    assert_eq!(status, 200);
    assert!(markers().leaked_in(&quality.to_string()).is_none());
}

/// A copy of personal data ingested as public is caught by the steward's config:
/// `[layers.NAME] sensitivity = "personal"` wins over the ingest.
#[tokio::test]
async fn a_copy_declared_personal_in_the_config_is_served_as_personal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    ingest_public_copy_of_pings(tmp.path(), "copy");
    let server = TestServer::start_with(
        tmp,
        "[layers.copy]\nsensitivity = \"personal\"\nid_field = \"device_id\"\ntime_field = \"ts\"\n",
    )
    .await;
    let (status, body) = server.get_json("/collections/copy/items").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.get_json("/heatmap/copy.geojson?h3_res=8").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["privacy"]["epsilon"], 1.0, "released privately");
}
