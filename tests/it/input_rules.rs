//! Input rules of issue #9, each with the regression test of the bug it fixes: `k=0`
//! in analytics queries, and the text encoding of ingested files.

use serde_json::json;
use tessera::store::DataDir;

use crate::support::{TestServer, demo_dir, read_geojson, store_layer, store_layer_with};

/// Regression test: `k=0` was raised to the layer's smallest k without a word, so a
/// caller asking for no threshold got an answer to another question.
#[tokio::test]
async fn k_zero_is_refused_naming_the_minimum() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    store_layer(
        &dir,
        "zones",
        &read_geojson(&demo_dir().join("zones.geojson")),
    );
    // Public points with a person field, so that k counts persons.
    store_layer_with(&dir, "pings", &crate::analytics::points(20, 4), |meta| {
        meta.id_field = Some("person".into());
    });
    let server = TestServer::start_with(tmp, "[layers.pings.privacy]\nk = 3\n").await;
    for path in [
        "/aggregate?points=pings&zones=zones&k=0",
        "/heatmap/pings.geojson?h3_res=4&k=0",
        "/heatmap/pings/7/64/63.mvt?k=0",
    ] {
        let resp = server.get(path).await;
        assert_eq!(resp.status(), 400, "{path}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(
            body,
            json!({"code": "InvalidParameterValue", "description": "k must be at least 1, got 0"}),
            "{path}"
        );
    }
    // A k below the layer's smallest is still raised to it, as documented.
    let (status, body) = server
        .get_json("/aggregate?points=pings&zones=zones&k=1")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["k"], 3);
}
