//! Analytics endpoints on hand-made data with exact expected values, and the privacy
//! rules for personal layers.

use geo_types::{Geometry, Point, polygon};
use tessera::model::{Feature, Field, FieldType, Schema, Value};
use tessera::store::DataDir;

use tessera::model::Role;

use crate::support::{SourceLayer, TestServer, issue_key, store_layer, store_personal_layer};

/// Two square zones side by side (0..1 and 1..2 degrees east), 0..1 north.
fn zones() -> SourceLayer {
    let square = |x0: f64| {
        Geometry::Polygon(polygon![
            (x: x0, y: 0.0), (x: x0 + 1.0, y: 0.0), (x: x0 + 1.0, y: 1.0), (x: x0, y: 1.0), (x: x0, y: 0.0)
        ])
    };
    SourceLayer {
        schema: Schema {
            fields: vec![Field {
                name: "name".into(),
                field_type: FieldType::String,
            }],
        },
        features: vec![
            Feature {
                id: 1,
                geometry: square(0.0),
                properties: vec![Value::String("west".into())],
            },
            Feature {
                id: 2,
                geometry: square(1.0),
                properties: vec![Value::String("east".into())],
            },
        ],
    }
}

/// Points: `n_west` in the west zone from `persons_west` persons, 3 in the east zone
/// from 3 persons, 1 outside both. Values 1, 2, 3, … in order.
pub(crate) fn points(n_west: usize, persons_west: usize) -> SourceLayer {
    let mut features = Vec::new();
    let mut push = |x: f64, y: f64, person: String| {
        let id = features.len() as u64 + 1;
        features.push(Feature {
            id,
            geometry: Geometry::Point(Point::new(x, y)),
            properties: vec![
                Value::String(person),
                Value::String(format!("2025-03-03T{:02}:00:00Z", 8 + id % 10)),
                Value::Float(id as f64),
            ],
        });
    };
    for i in 0..n_west {
        push(
            0.2 + 0.001 * i as f64,
            0.5,
            format!("w{}", i % persons_west),
        );
    }
    for i in 0..3 {
        push(1.5, 0.2 + 0.1 * f64::from(i), format!("e{i}"));
    }
    push(5.0, 5.0, "x".into());
    SourceLayer {
        schema: Schema {
            fields: vec![
                Field {
                    name: "person".into(),
                    field_type: FieldType::String,
                },
                Field {
                    name: "ts".into(),
                    field_type: FieldType::String,
                },
                Field {
                    name: "v".into(),
                    field_type: FieldType::Number,
                },
            ],
        },
        features,
    }
}

async fn server(personal: bool, n_west: usize, persons_west: usize) -> TestServer {
    server_with(personal, n_west, persons_west, "").await.0
}

/// The server of [`server`] with a config, and an analyst key.
async fn server_with(
    personal: bool,
    n_west: usize,
    persons_west: usize,
    config: &str,
) -> (TestServer, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    store_layer(&dir, "zones", &zones());
    let pts = points(n_west, persons_west);
    if personal {
        store_personal_layer(&dir, "pings", &pts, "person", "ts");
    } else {
        store_layer(&dir, "pings", &pts);
    }
    let key = issue_key(tmp.path(), Role::Analyst);
    (TestServer::start_with(tmp, config).await, key)
}

/// A personal `pings` layer whose config gives analysts exact answers (with k), and
/// an analyst key.
async fn exact_server(n_west: usize, persons_west: usize) -> (TestServer, String) {
    server_with(
        true,
        n_west,
        persons_west,
        "[layers.pings.privacy]\nexact_for = [\"analyst\"]\n",
    )
    .await
}

fn zone_props(body: &serde_json::Value, name: &str) -> serde_json::Value {
    body["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["properties"]["name"] == name)
        .expect("zone")["properties"]
        .clone()
}

#[tokio::test]
async fn aggregate_counts_sums_and_means_per_zone() {
    let server = server(false, 4, 4).await;
    let (status, body) = server
        .get_json("/aggregate?points=pings&zones=zones&stat=mean:v")
        .await;
    assert_eq!(status, 200, "{body}");
    let west = zone_props(&body, "west");
    let east = zone_props(&body, "east");
    assert_eq!(
        (west["count"].as_u64(), east["count"].as_u64()),
        (Some(4), Some(3))
    );
    // West holds values 1..=4, east 5..=7.
    assert_eq!(west["sum"].as_f64(), Some(10.0));
    assert_eq!(west["mean"].as_f64(), Some(2.5));
    assert_eq!(east["mean"].as_f64(), Some(6.0));
    assert_eq!(body["unassigned"]["count"].as_u64(), Some(1));
}

#[tokio::test]
async fn exact_answers_for_allowed_roles_suppress_zones_under_k_and_raw_access_is_refused() {
    // West: 30 pings from 12 persons (kept at k=10); east: 3 persons (suppressed).
    let (server, key) = exact_server(30, 12).await;
    let (status, body) = server
        .get_json_as("/aggregate?points=pings&zones=zones&stat=distinct", &key)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["k"], 10);
    let west = zone_props(&body, "west");
    assert_eq!(
        (west["count"].as_u64(), west["distinct"].as_u64()),
        (Some(30), Some(12))
    );
    let east = zone_props(&body, "east");
    assert!(
        east["count"].is_null() && east["distinct"].is_null(),
        "{east}"
    );
    assert_eq!(
        body["features"].as_array().map(Vec::len),
        Some(2),
        "zones stay"
    );
    // k may be raised, never lowered.
    let (_, raised) = server
        .get_json_as("/aggregate?points=pings&zones=zones&k=13", &key)
        .await;
    assert!(zone_props(&raised, "west")["count"].is_null());
    let (_, lowered) = server
        .get_json_as("/aggregate?points=pings&zones=zones&k=2", &key)
        .await;
    assert!(zone_props(&lowered, "east")["count"].is_null());

    // Raw records are refused to everyone, the analyst included.
    for path in [
        "/collections/pings/items",
        "/collections/pings/items/1",
        "/tiles/pings/0/0/0.mvt",
        "/tiles/pings",
        "/tiles/zones,pings/0/0/0.mvt",
    ] {
        let (status, body) = server.get_json_as(path, &key).await;
        assert_eq!(status, 403, "{path}");
        assert!(
            body["description"]
                .as_str()
                .is_some_and(|d| d.contains("personal"))
        );
    }
    let (status, _) = server.get_json("/collections/pings").await;
    assert_eq!(status, 403, "not a feature collection");
    let (_, collections) = server.get_json("/collections").await;
    let ids: Vec<&str> = collections["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["zones"]);
    let (status, catalog) = server.get_json("/catalog").await;
    assert_eq!(status, 200);
    let pings = catalog["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["id"] == "pings")
        .expect("the catalog entry stays visible");
    assert_eq!(pings["sensitivity"], "personal");
    assert_eq!(pings["idField"], "person");
}

#[tokio::test]
async fn heatmap_tile_cells_hold_exact_counts_and_respect_k() {
    let (server, key) = exact_server(30, 12).await;
    // z7 tile 64/63 covers lon 0..2.8125, lat 0..2.81; with 2x2 cells the 30 west
    // points (lon 0.2..0.23, 12 persons) fall in the south-west cell and the 3 east
    // ones (lon 1.5, 3 persons) in the south-east cell, which k = 10 suppresses.
    let resp = server
        .get_as("/heatmap/pings/7/64/63.mvt?cells=2&stat=distinct", &key)
        .await;
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.expect("body").to_vec();
    let reader = mvt_reader::Reader::new(bytes).expect("mvt");
    let features = reader.get_features(0).expect("features");
    assert_eq!(features.len(), 1, "only the k-anonymous cell is released");
    let props = features[0].properties.as_ref().expect("props");
    assert_eq!(props["count"], mvt_reader::feature::Value::Int(30));
    assert_eq!(props["distinct"], mvt_reader::feature::Value::Int(12));
    // Hours filter: ids 1..=33 have hour 8 + id % 10; hours 8-9 keeps ids ending in 0.
    let (status, body) = server
        .get_json_as("/heatmap/pings.geojson?h3_res=4&hours=8-9&k=1", &key)
        .await;
    assert_eq!(status, 200);
    let total: u64 = body["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter_map(|f| f["properties"]["count"].as_u64())
        .sum();
    assert_eq!(
        total, 0,
        "k is at least 10 on a personal layer, so every small cell is dropped"
    );
    let (status, body) = server.get_json("/heatmap/pings.geojson?stat=bogus").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn flows_count_trips_between_zones_per_hour() {
    use geo_types::line_string;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    store_layer(&dir, "zones", &zones());
    // West→east at 08:xx (3 trips), east→west at 17:xx (2 trips), one trip leaving the zones.
    let trip = |id: u64, from: (f64, f64), to: (f64, f64), hour: u32| Feature {
        id,
        geometry: Geometry::LineString(
            line_string![(x: from.0, y: from.1), (x: 0.9, y: 0.9), (x: to.0, y: to.1)],
        ),
        properties: vec![
            Value::String(format!("2025-03-04T{hour:02}:{:02}:00Z", id * 5)),
            Value::String(format!("p{id}")),
        ],
    };
    let features = vec![
        trip(1, (0.5, 0.5), (1.5, 0.5), 8),
        trip(2, (0.4, 0.5), (1.6, 0.5), 8),
        trip(3, (0.3, 0.5), (1.7, 0.5), 8),
        trip(4, (1.5, 0.5), (0.5, 0.5), 17),
        trip(5, (1.5, 0.6), (0.5, 0.6), 17),
        trip(6, (0.5, 0.5), (9.0, 9.0), 9),
    ];
    let layer = SourceLayer {
        schema: Schema {
            fields: vec![
                Field {
                    name: "departure".into(),
                    field_type: FieldType::String,
                },
                Field {
                    name: "person".into(),
                    field_type: FieldType::String,
                },
            ],
        },
        features,
    };
    crate::support::store_layer_with(&dir, "trips", &layer, |m| {
        m.time_field = Some("departure".into());
        m.id_field = Some("person".into());
    });
    let server = TestServer::start(tmp).await;
    let (status, body) = server
        .get_json("/flows?trips=trips&zones=zones&slot=hour")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trips"], 6);
    assert_eq!(body["unassigned"]["count"], 1);
    let flows: Vec<(u64, u64, u64, u64)> = body["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let n = |k: &str| p[k].as_u64().expect("number");
            (n("slot"), n("origin"), n("destination"), n("count"))
        })
        .collect();
    assert_eq!(flows, [(8, 1, 2, 3), (17, 2, 1, 2)]);
    let total: u64 = flows.iter().map(|f| f.3).sum::<u64>() + 1;
    assert_eq!(
        total, 6,
        "matrix total plus unassigned equals the trip count"
    );
    // Lines run between zone centroids.
    let line = &body["features"][0]["geometry"]["coordinates"];
    assert_eq!(line[0][0].as_f64(), Some(0.5));
    assert_eq!(line[1][0].as_f64(), Some(1.5));
    let (status, _) = server
        .get_json("/flows?trips=trips&zones=zones&slot=minute")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn raster_heatmap_is_a_png_transparent_where_empty() {
    let (server, key) = exact_server(30, 12).await;
    let path = "/heatmap/pings/7/64/63.png?size=256&radius=4";
    // Without the exact role the layer is private, and a raster cannot carry noise.
    assert_eq!(server.get(path).await.status(), 403);
    let resp = server.get_as(path, &key).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let bytes = resp.bytes().await.expect("body").to_vec();
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut pixels).expect("png frame");
    assert_eq!((info.width, info.height), (256, 256));
    assert_eq!(info.color_type, png::ColorType::Rgba);
    let alpha: Vec<u8> = pixels.chunks(4).map(|p| p[3]).collect();
    let opaque = alpha.iter().filter(|a| **a > 0).count();
    assert!(opaque > 0, "the west points show");
    assert!(
        opaque < alpha.len() / 4,
        "most of the tile is empty and transparent"
    );
    // The east points (3 persons < k) were removed before blurring: the pixel at
    // lon 1.5, lat 0.3 (x ≈ 136, y ≈ 249 in this tile) stays transparent.
    assert_eq!(alpha[249 * 256 + 136], 0);
    let (status, _) = server
        .get_json_as("/heatmap/pings/7/64/63.png?size=300", &key)
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        server
            .get_as("/heatmap/pings/7/10/10.png", &key)
            .await
            .status(),
        204
    );
}

#[test]
fn cli_aggregate_writes_the_same_collection_to_a_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path().join("data")).expect("open");
    store_layer(&dir, "zones", &zones());
    store_layer(&dir, "pings", &points(4, 4));
    let out = tmp.path().join("agg.geojson");
    let aggregate = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("aggregate")
            .args(args)
            .arg("--data-dir")
            .arg(dir.root())
            .arg("--out")
            .arg(&out)
            // Away from the repository's tessera.toml, which configures a `pings` layer.
            .current_dir(tmp.path())
            .output()
            .expect("run")
    };
    let run = aggregate(&["--zones", "zones", "--points", "pings", "--stat", "mean:v"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let body: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("read")).expect("json");
    let west = zone_props(&body, "west");
    assert_eq!(
        (west["count"].as_u64(), west["mean"].as_f64()),
        (Some(4), Some(2.5))
    );
    assert_eq!(body["unassigned"]["count"].as_u64(), Some(1));
    let bad = aggregate(&["--zones", "nope", "--points", "pings"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"));
    // --config applies the layer's privacy rules: k-anonymity needs a person field.
    std::fs::write(
        tmp.path().join("strict.toml"),
        "[layers.pings.privacy]\nk = 2\n",
    )
    .expect("write config");
    let strict = aggregate(&[
        "--zones",
        "zones",
        "--points",
        "pings",
        "--config",
        "strict.toml",
    ]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("person id"));
    // A personal layer is never written out as zones, whatever the command.
    store_personal_layer(&dir, "private", &points(4, 4), "person", "ts");
    let leak = aggregate(&["--zones", "private", "--points", "pings"]);
    assert_eq!(leak.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&leak.stderr);
    assert!(stderr.contains("personal"), "{stderr}");
    assert!(!std::fs::read_to_string(&out).expect("read").contains("w3"));
}

#[tokio::test]
async fn property_filters_narrow_analytics_and_unknown_names_are_400() {
    let server = server(false, 4, 4).await;
    // Only the points of person e1 (one, in the east zone).
    let (status, body) = server
        .get_json("/aggregate?points=pings&zones=zones&person=e1")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(zone_props(&body, "east")["count"].as_u64(), Some(1));
    assert_eq!(zone_props(&body, "west")["count"].as_u64(), Some(0));
    let (status, body) = server
        .get_json("/aggregate?points=pings&zones=zones&colour=red")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["description"]
            .as_str()
            .is_some_and(|d| d.contains("colour"))
    );
    let (status, _) = server.get_json("/heatmap/pings.geojson?v=abc").await;
    assert_eq!(status, 400, "v is a number field");
}
