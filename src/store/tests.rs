use geo_types::{Geometry, point, polygon};

use super::*;
use crate::model::meta::SourceInfo;
use crate::model::{Field, FieldType, Schema, Sensitivity, Value};

pub(super) fn meta(name: &str) -> LayerMeta {
    LayerMeta {
        name: LayerName::new(name).expect("valid name"),
        version: 0,
        title: "Test".into(),
        description: None,
        license: None,
        steward: None,
        update_frequency: None,
        sensitivity: Sensitivity::Public,
        id_field: None,
        time_field: None,
        timezone: None,
        geometry_type: "Polygon".into(),
        feature_count: 2,
        bbox: None,
        schema: Schema {
            fields: vec![
                Field {
                    name: "name".into(),
                    field_type: FieldType::String,
                },
                Field {
                    name: "floors".into(),
                    field_type: FieldType::Integer,
                },
                Field {
                    name: "area".into(),
                    field_type: FieldType::Number,
                },
                Field {
                    name: "vacant".into(),
                    field_type: FieldType::Boolean,
                },
            ],
        },
        source: SourceInfo {
            path: "x".into(),
            format: "geojson".into(),
            sha256: "0".into(),
            crs: "EPSG:4326".into(),
        },
        created_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn features() -> Vec<Feature> {
    vec![
        Feature {
            id: 7,
            geometry: Geometry::Polygon(
                polygon![(x: 2.0, y: 41.0), (x: 2.1, y: 41.0), (x: 2.1, y: 41.1), (x: 2.0, y: 41.0)],
            ),
            properties: vec![
                Value::String("a".into()),
                Value::Int(3),
                Value::Float(12.5),
                Value::Bool(false),
            ],
        },
        Feature {
            id: 2,
            geometry: Geometry::Polygon(
                polygon![(x: 3.0, y: 40.0), (x: 3.1, y: 40.0), (x: 3.1, y: 40.1), (x: 3.0, y: 40.0)],
            ),
            properties: vec![Value::Null, Value::Int(-1), Value::Null, Value::Bool(true)],
        },
    ]
}

#[test]
fn write_then_read_round_trips_features_in_id_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let written = dir
        .write_version(meta("parcels"), &features(), &QualityReport::default())
        .expect("write");
    assert_eq!(written.version, 1);
    let stored = dir.read_latest(&written.name).expect("read");
    let mut expected = features();
    expected.sort_by_key(|f| f.id);
    assert_eq!(stored.features, expected);
    assert_eq!(stored.meta, written);
}

#[test]
fn a_personal_layer_is_written_with_a_coarse_extent_and_a_redacted_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let exact = crate::model::Bbox::new(2.0, 40.0, 3.1, 41.1);
    let mut m = meta("pings");
    m.sensitivity = Sensitivity::Personal;
    m.bbox = Some(exact);
    let mut report = QualityReport::default();
    report.reject(
        crate::model::quality::SourcePosition {
            feature: 3,
            line: Some(4),
        },
        "coordinate (200.5, 41.0) is outside lon/lat range",
    );
    report.bbox = Some(exact);
    let written = dir.write_version(m, &features(), &report).expect("write");
    assert_eq!(written.bbox, Some(exact.coarsened()));
    assert_eq!(dir.read_meta(&written.name, 1).expect("meta"), written);
    let quality = std::fs::read_to_string(tmp.path().join("pings/v000001/quality.json"))
        .expect("quality.json");
    assert!(quality.contains("\"line\": 4"), "{quality}");
    assert!(quality.contains("outside lon/lat range"), "{quality}");
    assert!(!quality.contains("200.5"), "{quality}");
    assert_eq!(
        dir.read_quality(&written.name, 1).expect("quality"),
        report.redacted()
    );
    // A public layer keeps its exact extent and full report.
    let mut m = meta("parcels");
    m.bbox = Some(exact);
    let written = dir.write_version(m, &features(), &report).expect("write");
    assert_eq!(written.bbox, Some(exact));
    assert_eq!(dir.read_quality(&written.name, 1).expect("quality"), report);
}

#[test]
fn versions_count_up_and_layers_are_listed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    for _ in 0..3 {
        dir.write_version(meta("zones"), &features(), &QualityReport::default())
            .expect("write");
    }
    dir.write_version(meta("assets"), &[], &QualityReport::default())
        .expect("write empty");
    let zones = LayerName::new("zones").expect("name");
    assert_eq!(dir.versions(&zones).expect("versions"), vec![1, 2, 3]);
    let names: Vec<String> = dir
        .layers()
        .expect("layers")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, ["assets", "zones"]);
}

#[test]
fn staging_leftovers_are_not_versions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    std::fs::create_dir_all(tmp.path().join("roads/.staging-1-2")).expect("mkdir");
    std::fs::create_dir_all(tmp.path().join("roads/v00001x")).expect("mkdir");
    assert!(dir.layers().expect("layers").is_empty());
}

/// Regression test: an ingest killed mid-version (SIGKILL) left its staging folder
/// in the layer folder for ever.
#[test]
fn recover_removes_staging_folders_of_killed_ingests() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    dir.write_version(meta("roads"), &features(), &QualityReport::default())
        .expect("write");
    let roads = tmp.path().join("roads");
    // No process has a PID this high (Linux caps PIDs at 2^22).
    let killed = roads.join(".staging-4000000000-17");
    std::fs::create_dir_all(&killed).expect("mkdir");
    std::fs::write(killed.join(FEATURES_FILE), b"half a file").expect("write");
    let own = roads.join(format!(".staging-{}-18", std::process::id()));
    std::fs::create_dir_all(&own).expect("mkdir");
    let nameless = tmp.path().join("zones/.staging-x");
    std::fs::create_dir_all(&nameless).expect("mkdir");
    // A staging folder at the root is none of the store's: left alone.
    let foreign = tmp.path().join(".staging-4000000000-19");
    std::fs::create_dir_all(&foreign).expect("mkdir");

    let removed = dir.recover().expect("recover");
    let mut expected = vec![own.clone(), killed.clone(), nameless.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    for path in [&killed, &own, &nameless] {
        assert!(!path.exists(), "{}", path.display());
    }
    assert!(foreign.exists());
    let roads_name = LayerName::new("roads").expect("name");
    assert_eq!(dir.versions(&roads_name).expect("versions"), vec![1]);
    assert_eq!(
        dir.read_latest(&roads_name).expect("read").features.len(),
        2
    );
    assert_eq!(dir.recover().expect("again"), Vec::<PathBuf>::new());
}

#[cfg(target_os = "linux")]
#[test]
fn recover_keeps_the_staging_folder_of_a_running_writer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    // The test runner's parent (cargo, or a shell) runs while this test does.
    let running = tmp.path().join(format!(
        "roads/.staging-{}-1",
        std::os::unix::process::parent_id()
    ));
    std::fs::create_dir_all(&running).expect("mkdir");
    assert_eq!(dir.recover().expect("recover"), Vec::<PathBuf>::new());
    assert!(running.exists());
}

#[test]
fn mixed_points_are_stored() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let mut m = meta("mixed");
    m.schema.fields.clear();
    let feats = vec![
        Feature {
            id: 1,
            geometry: Geometry::Point(point!(x: 1.0, y: 2.0)),
            properties: vec![],
        },
        Feature {
            id: 2,
            geometry: features()[0].geometry.clone(),
            properties: vec![],
        },
    ];
    let written = dir
        .write_version(m, &feats, &QualityReport::default())
        .expect("write");
    let stored = dir.read_latest(&written.name).expect("read");
    assert_eq!(stored.features, feats);
}

#[test]
fn rollback_serves_an_earlier_version_until_the_next_ingest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let name = LayerName::new("parcels").expect("name");
    for _ in 0..3 {
        dir.write_version(meta("parcels"), &features(), &QualityReport::default())
            .expect("write");
    }
    assert_eq!(dir.current_version(&name).expect("current"), Some(3));
    dir.rollback(&name, 1).expect("rollback");
    assert_eq!(dir.current_version(&name).expect("current"), Some(1));
    assert_eq!(dir.read_latest(&name).expect("read").meta.version, 1);
    assert!(matches!(
        dir.rollback(&name, 9),
        Err(StoreError::NoSuchVersion { version: 9, .. })
    ));
    // Retention keeps the served version even when it is among the oldest.
    assert_eq!(dir.prune(&name, 1).expect("prune"), [2]);
    assert_eq!(dir.versions(&name).expect("versions"), [1, 3]);
    // A new ingest is served again.
    dir.write_version(meta("parcels"), &features(), &QualityReport::default())
        .expect("write");
    assert_eq!(dir.current_version(&name).expect("current"), Some(4));
    assert_eq!(dir.prune(&name, 2).expect("prune"), [1]);
    assert_eq!(dir.versions(&name).expect("versions"), [3, 4]);
}

#[test]
fn verify_finds_a_changed_byte_and_a_missing_checksum_list() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let written = dir
        .write_version(meta("parcels"), &features(), &QualityReport::default())
        .expect("write");
    dir.write_version(meta("parcels"), &features(), &QualityReport::default())
        .expect("write");
    assert_eq!(dir.verify().expect("verify"), []);
    let v1 = tmp.path().join("parcels").join("v000001");
    let fgb = v1.join(FEATURES_FILE);
    let mut bytes = std::fs::read(&fgb).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&fgb, bytes).expect("write");
    std::fs::remove_file(tmp.path().join("parcels/v000002").join(CHECKSUMS_FILE)).expect("rm");
    let damage = dir.verify().expect("verify");
    assert_eq!(damage.len(), 2, "{damage:?}");
    assert_eq!((damage[0].version, written.version), (1, 1));
    assert!(damage[0].problem.contains("features.fgb") && damage[0].problem.contains("differs"));
    assert_eq!(damage[1].version, 2);
    assert!(damage[1].problem.contains(CHECKSUMS_FILE));
}

#[test]
fn recover_removes_uploads_left_by_a_killed_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let uploads = tmp.path().join(UPLOADS_DIR);
    std::fs::create_dir_all(&uploads).expect("mkdir");
    std::fs::write(uploads.join("zones-abc123"), b"{\"type\":").expect("write");
    let removed = dir.recover().expect("recover");
    assert_eq!(removed, [uploads.join("zones-abc123")]);
    assert_eq!(std::fs::read_dir(&uploads).expect("dir").count(), 0);
}
