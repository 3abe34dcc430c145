//! Ingest of personal data: a coarse extent and a redacted report, the refusal to guess
//! a sensitivity, declarations in tessera.toml, times that mean one instant, and ids
//! compared as text.

use std::path::Path;
use std::process::Command;

use tessera::analytics::points::{PointColumns, PointFields, Selection};
use tessera::analytics::time_filter::{HourSet, TimeFilter};
use tessera::index::IndexedLayer;
use tessera::ingest::{CatalogOptions, IngestError, IngestOptions, ingest};
use tessera::model::{Bbox, LayerMeta, Sensitivity, Value};
use tessera::store::DataDir;

use super::{catalog, metres, name, public, write};
use crate::support::demo_dir;

/// Runs `tessera` with `args` in `cwd`, where no tessera.toml is unless a test writes it.
fn tessera(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run tessera")
}

/// Distance in metres along a parallel at `lat` between two longitudes.
fn width_m(lat: f64, lon_a: f64, lon_b: f64) -> f64 {
    metres((lon_a, lat), (lon_b, lat))
}

#[test]
fn a_one_record_personal_layer_stores_a_bbox_of_a_kilometre_without_the_point() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let (lon, lat) = (2.166_606, 41.392_449);
    let path = write(
        tmp.path(),
        "one.csv",
        &format!("lon,lat,ts,device_id\n{lon},{lat},2025-03-07T08:54:07Z,d1\n"),
    );
    let options = catalog(CatalogOptions {
        sensitivity: Some(Sensitivity::Personal),
        id_field: Some("device_id".into()),
        time_field: Some("ts".into()),
        ..CatalogOptions::default()
    });
    let outcome = ingest(&path, &name("one"), &dir, &options).expect("ingest");
    // What is on disk, read as JSON, not through Tessera's types.
    let text = std::fs::read_to_string(tmp.path().join("one/v000001/meta.json")).expect("meta");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let b: Vec<f64> = json["bbox"]
        .as_array()
        .expect("bbox")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    let [min_x, min_y, max_x, max_y] = b[..] else {
        panic!("four numbers: {b:?}")
    };
    for x in [min_x, max_x] {
        assert!((x - lon).abs() > 1e-7, "{b:?} has the point's longitude");
    }
    for y in [min_y, max_y] {
        assert!((y - lat).abs() > 1e-7, "{b:?} has the point's latitude");
    }
    assert!(
        min_x < lon && lon < max_x && min_y < lat && lat < max_y,
        "{b:?}"
    );
    assert!(
        !text.contains("2.166606") && !text.contains("41.392449"),
        "{text}"
    );
    let poleward = max_y.abs().max(min_y.abs());
    assert!(width_m(poleward, min_x, max_x) >= 1000.0, "{b:?}");
    assert!(metres((min_x, min_y), (min_x, max_y)) >= 1000.0, "{b:?}");
    assert_eq!(
        outcome.meta.bbox,
        Some(Bbox::new(min_x, min_y, max_x, max_y))
    );
    // The server's view is the same: published() changes nothing more.
    let stored: LayerMeta = serde_json::from_str(&text).expect("meta");
    assert_eq!(stored.clone().published(), stored);
    // The quality report's extent is coarse too.
    let quality =
        std::fs::read_to_string(tmp.path().join("one/v000001/quality.json")).expect("quality");
    assert!(
        !quality.contains("2.166606") && !quality.contains("41.392449"),
        "{quality}"
    );
}

#[test]
fn a_personal_layers_quality_report_gives_line_and_reason_without_coordinates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let text = "lon,lat,ts,device_id\n\
                2.1661,41.3924,2025-03-07T08:54:07Z,d1\n\
                2.1662,41.3925,2025-03-07T08:55:07Z,d1\n\
                213.456789,41.3926,2025-03-07T08:56:07Z,d2\n\
                2.1664,not-a-lat-d2-secret,2025-03-07T08:57:07Z,d2\n";
    let path = write(tmp.path(), "p.csv", text);
    let options = catalog(CatalogOptions {
        sensitivity: Some(Sensitivity::Personal),
        id_field: Some("device_id".into()),
        time_field: Some("ts".into()),
        ..CatalogOptions::default()
    });
    let outcome = ingest(&path, &name("p"), &dir, &options).expect("ingest");
    assert_eq!(outcome.report.features_rejected, 2);
    let stored =
        std::fs::read_to_string(tmp.path().join("p/v000001/quality.json")).expect("quality.json");
    let returned = serde_json::to_string(&outcome.report).expect("json");
    for json in [&stored, &returned] {
        let report: serde_json::Value = serde_json::from_str(json).expect("json");
        let rejections = report["rejections"].as_array().expect("rejections");
        assert_eq!(rejections[0]["line"], 4, "{json}");
        assert_eq!(rejections[0]["reason"], "coordinate outside lon/lat range");
        assert_eq!(rejections[1]["line"], 5, "{json}");
        assert_eq!(rejections[1]["reason"], "a coordinate is not a number");
        for leak in [
            "213.45",
            "41.3926",
            "not-a-lat",
            "secret",
            "2.1661",
            "41.3924",
        ] {
            assert!(!json.contains(leak), "{leak} in {json}");
        }
    }
    // A public layer's report keeps the detail.
    let outcome = ingest(&path, &name("q"), &dir, &public()).expect("ingest");
    assert!(
        outcome.report.rejections[0].reason.contains("213.456789"),
        "{:?}",
        outcome.report.rejections
    );
}

#[test]
fn demo_pings_without_a_sensitivity_are_refused_until_declared() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pings = demo_dir().join("pings.csv");
    let pings = pings.to_str().expect("utf-8");
    let refused = tessera(tmp.path(), &["ingest", pings, "--layer", "pings"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("pings.csv"), "{err}");
    assert!(err.contains("personal data"), "{err}");
    assert!(
        err.contains("\"ts\"") && err.contains("\"device_id\""),
        "{err}"
    );
    assert!(
        err.contains("--sensitivity personal --id-field device_id --time-field ts"),
        "{err}"
    );
    assert!(err.contains("--sensitivity public"), "{err}");
    let dir = DataDir::open(tmp.path().join("tessera-data")).expect("open");
    assert!(
        dir.layers().expect("layers").is_empty(),
        "nothing is stored"
    );
    // The library says the same, with the fields it found.
    let lib_dir = DataDir::open(tmp.path().join("lib")).expect("open");
    let e = ingest(
        Path::new(pings),
        &name("pings"),
        &lib_dir,
        &IngestOptions::default(),
    )
    .expect_err("refused");
    let IngestError::UndeclaredSensitivity { shape, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(shape.time_field, "ts");
    assert_eq!(shape.id_fields.len(), 1);
    assert_eq!(shape.id_fields[0].field, "device_id");
    // Declared public: accepted, as public.
    let accepted = tessera(
        tmp.path(),
        &[
            "ingest",
            pings,
            "--layer",
            "pings",
            "--sensitivity",
            "public",
        ],
    );
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let meta = dir.read_latest(&name("pings")).expect("stored").meta;
    assert_eq!(meta.sensitivity, Sensitivity::Public);
    // Layers without the shape are public as before: the demo's assets are points with
    // a date (not a time) and recurring types.
    let assets = demo_dir().join("assets.geojson");
    let ok = tessera(
        tmp.path(),
        &[
            "ingest",
            assets.to_str().expect("utf-8"),
            "--layer",
            "assets",
        ],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn a_layer_declared_personal_in_the_config_is_stored_personal_whatever_the_flags() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("tessera.toml"),
        "[layers.copy]\nsensitivity = \"personal\"\nid_field = \"device_id\"\ntime_field = \"ts\"\n",
    )
    .expect("config");
    let pings = demo_dir().join("pings.csv");
    let out = tessera(
        tmp.path(),
        &[
            "ingest",
            pings.to_str().expect("utf-8"),
            "--layer",
            "copy",
            "--sensitivity",
            "public",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = DataDir::open(tmp.path().join("tessera-data")).expect("open");
    let meta = dir.read_latest(&name("copy")).expect("stored").meta;
    assert_eq!(meta.sensitivity, Sensitivity::Personal);
    assert_eq!(meta.id_field.as_deref(), Some("device_id"));
    assert_eq!(meta.time_field.as_deref(), Some("ts"));
    let bbox = meta.bbox.expect("bbox");
    assert_eq!(
        bbox.coarsened(),
        bbox,
        "the stored extent is the coarse one"
    );
    // --config names the file; another name is not declared there.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("tessera.toml");
    let out = tessera(
        elsewhere.path(),
        &[
            "ingest",
            pings.to_str().expect("utf-8"),
            "--layer",
            "copy",
            "--config",
            config.to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = DataDir::open(elsewhere.path().join("tessera-data")).expect("open");
    let meta = dir.read_latest(&name("copy")).expect("stored").meta;
    assert_eq!(meta.sensitivity, Sensitivity::Personal);
}

/// Pings at local 08:30 in Madrid: March 3 (UTC+1), July 3 (UTC+2), and 09:30.
const LOCAL_PINGS: &str = "lon,lat,ts,device_id\n\
                           2.17,41.39,2025-03-03T08:30:00,d1\n\
                           2.17,41.39,2025-07-03T08:30:00,d1\n\
                           2.17,41.39,2025-07-04T09:30:00,d1\n";

fn personal_with(zone: Option<&str>) -> IngestOptions {
    catalog(CatalogOptions {
        sensitivity: Some(Sensitivity::Personal),
        id_field: Some("device_id".into()),
        time_field: Some("ts".into()),
        timezone: zone.map(str::to_owned),
        ..CatalogOptions::default()
    })
}

#[test]
fn a_time_without_offset_is_rejected_without_a_time_zone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let text = format!("{LOCAL_PINGS}2.17,41.39,2025-07-04T09:30:00Z,d1\n");
    let path = write(tmp.path(), "local.csv", &text);
    let outcome = ingest(&path, &name("local"), &dir, &personal_with(None)).expect("ingest");
    assert_eq!(outcome.meta.feature_count, 1, "only the row with an offset");
    let lines: Vec<Option<u64>> = outcome
        .report
        .rejections
        .iter()
        .map(|r| r.at.line)
        .collect();
    assert_eq!(lines, [Some(2), Some(3), Some(4)]);
    assert!(
        outcome
            .report
            .rejections
            .iter()
            .all(|r| r.reason == "time has no UTC offset"),
        "{:?}",
        outcome.report.rejections
    );
    // A public layer says why in full, naming the field and the remedy.
    let outcome = ingest(
        &path,
        &name("local_public"),
        &dir,
        &catalog(CatalogOptions {
            sensitivity: Some(Sensitivity::Public),
            time_field: Some("ts".into()),
            ..CatalogOptions::default()
        }),
    )
    .expect("ingest");
    let reason = &outcome.report.rejections[0].reason;
    assert!(reason.contains("\"ts\" has no UTC offset"), "{reason}");
    assert!(reason.contains("--timezone"), "{reason}");
    // An unknown zone is refused, naming it.
    let e = ingest(
        &path,
        &name("x"),
        &dir,
        &personal_with(Some("Europe/Madird")),
    )
    .expect_err("unknown zone");
    assert!(e.to_string().contains("Europe/Madird"), "{e}");
}

#[test]
fn local_times_in_europe_madrid_match_their_hours_in_winter_and_summer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let path = write(tmp.path(), "local.csv", LOCAL_PINGS);
    let outcome = ingest(
        &path,
        &name("local"),
        &dir,
        &personal_with(Some("Europe/Madrid")),
    )
    .expect("ingest");
    assert_eq!(outcome.report.features_rejected, 0);
    assert_eq!(outcome.meta.timezone.as_deref(), Some("Europe/Madrid"));
    let stored = dir.read_latest(&name("local")).expect("read");
    assert_eq!(stored.meta.timezone.as_deref(), Some("Europe/Madrid"));
    let times: Vec<&Value> = stored.features.iter().map(|f| &f.properties[0]).collect();
    assert_eq!(
        times,
        [
            &Value::String("2025-03-03T08:30:00+01:00".into()),
            &Value::String("2025-07-03T08:30:00+02:00".into()),
            &Value::String("2025-07-04T09:30:00+02:00".into()),
        ]
    );
    let layer = IndexedLayer::new(stored.meta, stored.features);
    let cols = PointColumns::build(&layer, &PointFields::from_meta(layer.meta())).expect("columns");
    let filter = TimeFilter {
        hours: HourSet::parse("8-9").expect("hours"),
        ..TimeFilter::default()
    };
    assert_eq!(cols.select(&filter, None), Selection::Rows(vec![0, 1]));
}

#[test]
fn a_time_zone_declared_in_the_config_reads_local_times() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("tessera.toml"),
        "[layers.local]\ntimezone = \"Europe/Madrid\"\n",
    )
    .expect("config");
    let path = write(tmp.path(), "local.csv", LOCAL_PINGS);
    let out = tessera(
        tmp.path(),
        &[
            "ingest",
            path.to_str().expect("utf-8"),
            "--layer",
            "local",
            "--sensitivity",
            "personal",
            "--id-field",
            "device_id",
            "--time-field",
            "ts",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("accepted: 3") && stdout.contains("rejected: 0"),
        "{stdout}"
    );
    let dir = DataDir::open(tmp.path().join("tessera-data")).expect("open");
    let meta = dir.read_latest(&name("local")).expect("stored").meta;
    assert_eq!(meta.timezone.as_deref(), Some("Europe/Madrid"));
}

#[test]
fn ids_1_and_1_0_are_two_persons() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let path = write(
        tmp.path(),
        "ids.csv",
        "lon,lat,ts,id\n\
         2.17,41.39,2025-03-03T08:30:00Z,1\n\
         2.17,41.39,2025-03-03T08:31:00Z,1.0\n\
         2.17,41.39,2025-03-03T08:32:00Z,1\n",
    );
    let options = catalog(CatalogOptions {
        sensitivity: Some(Sensitivity::Personal),
        id_field: Some("id".into()),
        time_field: Some("ts".into()),
        ..CatalogOptions::default()
    });
    ingest(&path, &name("ids"), &dir, &options).expect("ingest");
    let stored = dir.read_latest(&name("ids")).expect("read");
    let position = stored.meta.schema.position("id").expect("id field");
    assert_eq!(
        stored.meta.schema.fields[position].field_type,
        tessera::model::FieldType::String
    );
    let ids: Vec<&Value> = stored
        .features
        .iter()
        .map(|f| &f.properties[position])
        .collect();
    assert_eq!(
        ids,
        [
            &Value::String("1".into()),
            &Value::String("1.0".into()),
            &Value::String("1".into())
        ]
    );
    let layer = IndexedLayer::new(stored.meta, stored.features);
    let cols = PointColumns::build(&layer, &PointFields::from_meta(layer.meta())).expect("columns");
    assert_eq!(cols.person_count(), 2);
    assert_eq!(cols.persons(), Some(&[0, 1, 0][..]));
    // GeoJSON numbers too: 1 and 1.0 stay apart.
    let geojson = write(
        tmp.path(),
        "ids.geojsonl",
        "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[2.17,41.39]},\"properties\":{\"ts\":\"2025-03-03T08:30:00Z\",\"id\":1}}\n\
         {\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[2.17,41.39]},\"properties\":{\"ts\":\"2025-03-03T08:31:00Z\",\"id\":1.0}}\n",
    );
    ingest(&geojson, &name("ids_json"), &dir, &options).expect("ingest");
    let stored = dir.read_latest(&name("ids_json")).expect("read");
    let ids: Vec<&Value> = stored.features.iter().map(|f| &f.properties[1]).collect();
    assert_eq!(
        ids,
        [&Value::String("1".into()), &Value::String("1.0".into())]
    );
}
