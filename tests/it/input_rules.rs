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

/// Regression test: a CSV row that was not valid UTF-8 was decoded as Windows-1252 by
/// guess, where GeoJSONSeq rejects such a line; now both reject it with its line, and
/// `--encoding latin1` reads either as Latin-1.
#[test]
fn cli_rejects_a_csv_row_that_is_not_utf8_unless_told_latin1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("communes.csv");
    std::fs::write(&csv, b"lon,lat,nom\n2.1,41.3,Paris\n2.2,41.4,Besan\xe7on\n").expect("write");
    let data = tmp.path().join("data");
    let run = |extra: &[&str]| {
        // Run in the temporary folder, away from the repository's tessera.toml.
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .current_dir(tmp.path())
            .arg("ingest")
            .arg(&csv)
            .args(["--layer", "communes", "--data-dir"])
            .arg(&data)
            .args(extra)
            .output()
            .expect("run tessera")
    };
    let strict = run(&[]);
    assert!(
        strict.status.success(),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
    let out = String::from_utf8_lossy(&strict.stdout);
    assert!(
        out.contains(&format!(
            "features read: 2, accepted: 1, repaired: 0, rejected: 1\n  rejected line 3: {} \
             line 3: column 'nom' is not valid UTF-8: byte 0xE7 at byte 6; for Latin-1 text, \
             ingest with --encoding latin1\n",
            csv.display()
        )),
        "{out}"
    );

    let latin1 = run(&["--encoding", "latin1"]);
    assert!(
        latin1.status.success(),
        "{}",
        String::from_utf8_lossy(&latin1.stderr)
    );
    let out = String::from_utf8_lossy(&latin1.stdout);
    assert!(
        out.contains("features read: 2, accepted: 2, repaired: 0, rejected: 0\n"),
        "{out}"
    );
    let dir = DataDir::open(&data).expect("open");
    let layer = tessera::model::LayerName::new("communes").expect("name");
    let stored = dir.read_latest(&layer).expect("read");
    assert_eq!(stored.meta.version, 2);
    let nom = stored.meta.schema.position("nom").expect("nom");
    let names: Vec<&tessera::model::Value> =
        stored.features.iter().map(|f| &f.properties[nom]).collect();
    assert_eq!(
        names,
        [
            &tessera::model::Value::String("Paris".into()),
            &tessera::model::Value::String("Besançon".into())
        ]
    );

    let unknown = run(&["--encoding", "ebcdic"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("unknown encoding \"ebcdic\": use utf-8 or latin1"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}
