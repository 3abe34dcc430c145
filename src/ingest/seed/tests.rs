use super::*;

const POINT: &str = r#"{"type":"Feature","properties":{"n":1},"geometry":{"type":"Point","coordinates":[2.1,41.3]}}"#;

/// A seed folder with one-point GeoJSON files named `layers`, and a catalog.
fn seed_folder(layers: &[&str], catalog: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    for layer in layers {
        write_layer(tmp.path(), layer, 1);
    }
    fs::write(tmp.path().join(SEED_CATALOG), catalog).expect("catalog");
    fs::write(tmp.path().join("README.md"), "# not a layer\n").expect("readme");
    tmp
}

/// Writes `FOLDER/LAYER.geojson` with `points` copies of [`POINT`].
fn write_layer(folder: &Path, layer: &str, points: usize) {
    let features = vec![POINT; points].join(",");
    let text = format!(r#"{{"type":"FeatureCollection","features":[{features}]}}"#);
    fs::write(folder.join(format!("{layer}.geojson")), text).expect("write layer");
}

fn name(s: &str) -> LayerName {
    LayerName::new(s).expect("name")
}

fn no_declarations(_: &LayerName) -> Declared {
    Declared::default()
}

fn seeded_names(report: &SeedReport) -> Vec<&str> {
    report.seeded.iter().map(|s| s.layer.as_str()).collect()
}

#[test]
fn an_empty_data_folder_gets_every_layer_with_its_catalog_entry() {
    let from = seed_folder(
        &["assets", "parcels"],
        r#"{"parcels": {"title": "Cadastral parcels", "license": "CC0-1.0"}}"#,
    );
    let data = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(data.path()).expect("open");
    let report = seed(&dir, from.path(), &no_declarations).expect("seed");
    assert_eq!(seeded_names(&report), ["assets", "parcels"]);
    assert_eq!(report.seeded[1].path, from.path().join("parcels.geojson"));
    assert_eq!(report.seeded[1].features, 1);
    assert!(report.failed.is_empty() && report.finished);
    assert!(!data.path().join(SEED_MARKER).exists());
    let parcels = dir.read_meta(&name("parcels"), 1).expect("meta");
    assert_eq!(parcels.title, "Cadastral parcels");
    assert_eq!(parcels.license.as_deref(), Some("CC0-1.0"));
    assert_eq!(
        dir.read_meta(&name("assets"), 1).expect("meta").title,
        "assets"
    );
    // Seeded once: the next start seeds nothing, even with a layer deleted on purpose.
    fs::remove_dir_all(data.path().join("assets")).expect("delete a layer");
    let again = seed(&dir, from.path(), &no_declarations).expect("seed again");
    assert!(again.seeded.is_empty() && again.finished);
    assert_eq!(dir.layers().expect("layers"), [name("parcels")]);
}

/// Regression test: a server killed while seeding its first start stored one layer,
/// and the next start, seeing a data folder with layers, never seeded the others.
#[test]
fn seeding_resumes_after_a_crash_between_layers() {
    let from = seed_folder(&["assets", "parcels", "zones"], "{}");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(data.path()).expect("open");
    // The state a kill after the first layer leaves: the marker and one layer.
    let marker = data.path().join(SEED_MARKER);
    write_marker(&dir, &marker, from.path()).expect("marker");
    ingest(
        &from.path().join("assets.geojson"),
        &name("assets"),
        &dir,
        &IngestOptions::default(),
    )
    .expect("first layer");
    let report = seed(&dir, from.path(), &no_declarations).expect("seed");
    assert_eq!(seeded_names(&report), ["parcels", "zones"]);
    assert!(report.finished);
    assert!(!marker.exists());
    assert_eq!(
        dir.layers().expect("layers"),
        [name("assets"), name("parcels"), name("zones")]
    );
    // The layer stored before the crash was not seeded twice.
    assert_eq!(dir.versions(&name("assets")).expect("versions"), [1]);
}

#[test]
fn a_layer_that_fails_is_reported_and_seeded_at_the_next_start() {
    let from = seed_folder(&["assets"], r#"{"zones": {"sensitivity": "secret"}}"#);
    write_layer(from.path(), "parcels", 0);
    write_layer(from.path(), "zones", 1);
    let data = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(data.path()).expect("open");
    let report = seed(&dir, from.path(), &no_declarations).expect("seed");
    assert_eq!(seeded_names(&report), ["assets"]);
    let failed: Vec<(&Path, &str)> = report
        .failed
        .iter()
        .map(|(p, why)| (p.as_path(), why.as_str()))
        .collect();
    let parcels = from.path().join("parcels.geojson");
    let zones = from.path().join("zones.geojson");
    assert_eq!(
        failed,
        [
            (
                parcels.as_path(),
                format!(
                    "{}: no valid feature (0 read, 0 rejected); nothing was stored\n\
                     features read: 0, accepted: 0, repaired: 0, rejected: 0\n",
                    parcels.display()
                )
                .as_str()
            ),
            (
                zones.as_path(),
                format!(
                    "{}: zones: unknown sensitivity \"secret\": use public, restricted or personal",
                    from.path().join(SEED_CATALOG).display()
                )
                .as_str()
            ),
        ]
    );
    assert!(!report.finished);
    assert!(data.path().join(SEED_MARKER).exists());
    // Fixed by the next start: only the missing layers are seeded.
    write_layer(from.path(), "parcels", 2);
    fs::write(from.path().join(SEED_CATALOG), "{}").expect("catalog");
    let report = seed(&dir, from.path(), &no_declarations).expect("seed again");
    assert_eq!(seeded_names(&report), ["parcels", "zones"]);
    assert_eq!(report.seeded[0].features, 2);
    assert!(report.finished && report.failed.is_empty());
    assert!(!data.path().join(SEED_MARKER).exists());
    assert_eq!(dir.versions(&name("assets")).expect("versions"), [1]);
}

#[test]
fn a_data_folder_with_layers_of_its_own_is_never_seeded() {
    let from = seed_folder(&["assets"], "{}");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(data.path()).expect("open");
    let roads = tempfile::tempdir().expect("tempdir");
    write_layer(roads.path(), "roads", 1);
    ingest(
        &roads.path().join("roads.geojson"),
        &name("roads"),
        &dir,
        &IngestOptions::default(),
    )
    .expect("roads");
    let report = seed(&dir, from.path(), &no_declarations).expect("seed");
    assert!(report.seeded.is_empty() && report.failed.is_empty() && report.finished);
    assert_eq!(dir.layers().expect("layers"), [name("roads")]);
    assert!(!data.path().join(SEED_MARKER).exists());
}

#[test]
fn declarations_win_over_the_catalog_and_a_broken_catalog_names_its_line() {
    let from = seed_folder(&["pings"], r#"{"pings": {"sensitivity": "public"}}"#);
    let data = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(data.path()).expect("open");
    let restricted = |_: &LayerName| Declared {
        sensitivity: Some(Sensitivity::Restricted),
        ..Declared::default()
    };
    let report = seed(&dir, from.path(), &restricted).expect("seed");
    assert_eq!(seeded_names(&report), ["pings"]);
    assert_eq!(
        dir.read_meta(&name("pings"), 1).expect("meta").sensitivity,
        Sensitivity::Restricted
    );

    let from = seed_folder(&["zones"], "{\n  \"zones\": {\"title\": 3}\n}");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(data.path()).expect("open");
    let error = seed(&dir, from.path(), &no_declarations).expect_err("broken catalog");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: invalid catalog: invalid type: integer `3`, expected a string at line 2 column 22",
            from.path().join(SEED_CATALOG).display()
        )
    );
}
