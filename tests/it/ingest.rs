//! Ingest end to end: formats, reprojection accuracy, quality reports, and that a
//! failed ingest keeps the served version. Personal data: [`personal`].

mod personal;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use geo_types::Geometry;
use tessera::ingest::format::Format;
use tessera::ingest::{CatalogOptions, IngestError, IngestOptions, ingest};
use tessera::model::{LayerName, Sensitivity, Value};
use tessera::store::DataDir;

use crate::support::{TestServer, demo_dir, read_geojson};

pub(super) fn name(s: &str) -> LayerName {
    LayerName::new(s).expect("valid name")
}

pub(super) fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write fixture");
    path
}

/// Distance in metres between two lon/lat points (haversine, good to well below 1 mm
/// at these distances).
pub(super) fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6_371_008.8;
    let (la1, la2) = (a.1.to_radians(), b.1.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.0 - a.0).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

/// Options of an ingest declared public.
pub(super) fn public() -> IngestOptions {
    catalog(CatalogOptions {
        sensitivity: Some(Sensitivity::Public),
        ..CatalogOptions::default()
    })
}

pub(super) fn catalog(catalog: CatalogOptions) -> IngestOptions {
    IngestOptions {
        catalog,
        ..IngestOptions::default()
    }
}

fn point_of(g: &Geometry<f64>) -> (f64, f64) {
    match g {
        Geometry::Point(p) => (p.x(), p.y()),
        other => panic!("expected a point, got {other:?}"),
    }
}

#[test]
fn geojson_demo_parcels_match_the_source() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let path = demo_dir().join("parcels.geojson");
    let outcome = ingest(&path, &name("parcels"), &dir, &IngestOptions::default()).expect("ingest");
    let source = read_geojson(&path);
    assert_eq!(outcome.meta.version, 1);
    assert_eq!(outcome.meta.feature_count, source.features.len() as u64);
    // Same fields and types; ingest keeps the file's column order.
    let mut fields = outcome.meta.schema.fields.clone();
    fields.sort_by(|a, b| a.name.cmp(&b.name));
    let mut expected_fields = source.schema.fields.clone();
    expected_fields.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(fields, expected_fields);
    assert_eq!(outcome.meta.schema.fields[0].name, "parcel_id");
    assert_eq!(outcome.report.features_rejected, 0);
    assert_eq!(outcome.report.missing_values["year_built"], 125);
    assert_eq!(outcome.meta.source.format, "geojson");
    assert_eq!(outcome.meta.source.sha256.len(), 64);
    let stored = dir.read_latest(&name("parcels")).expect("read");
    assert_eq!(stored.features.len(), source.features.len());
    for (got, want) in stored.features.iter().zip(&source.features) {
        assert_eq!((got.id, &got.geometry), (want.id, &want.geometry));
        for (field, value) in source.schema.fields.iter().zip(&want.properties) {
            let at = outcome.meta.schema.position(&field.name).expect("field");
            assert_eq!(&got.properties[at], value, "{} of {}", field.name, want.id);
        }
    }
}

#[test]
fn csv_pings_with_detected_columns() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let path = demo_dir().join("pings.csv");
    let outcome = ingest(&path, &name("pings"), &dir, &public()).expect("ingest");
    assert_eq!(outcome.meta.feature_count, 20_000);
    assert_eq!(outcome.meta.geometry_type, "Point");
    let fields: Vec<&str> = outcome
        .meta
        .schema
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(fields, ["ts", "device_id"]);
    let stored = dir.read_latest(&name("pings")).expect("read");
    // First data row: 2.166606,41.392449,2025-03-07T08:54:07Z,13239e076f1ba2f8
    let first = &stored.features[0];
    assert_eq!(point_of(&first.geometry), (2.166606, 41.392449));
    assert_eq!(
        first.properties,
        [
            Value::String("2025-03-07T08:54:07Z".into()),
            Value::String("13239e076f1ba2f8".into())
        ]
    );
}

#[test]
fn geojsonseq_with_invalid_geometries_reports_each_by_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let lines = [
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[2.17,41.39]},"properties":{"n":1}}"#,
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[200.0,41.39]},"properties":{"n":2}}"#,
        r#"{"type":"Feature","geometry":null,"properties":{"n":3}}"#,
        r#"{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]},"properties":{"n":4}}"#,
        r#"{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[0,1],[1,1],[1,0],[0,0]]]},"properties":{"n":5.5}}"#,
        r#"not json"#,
    ];
    let path = write(tmp.path(), "mixed.geojsonl", &lines.join("\n"));
    let outcome = ingest(&path, &name("mixed"), &dir, &IngestOptions::default()).expect("ingest");
    let r = &outcome.report;
    assert_eq!(
        (
            r.features_read,
            r.features_accepted,
            r.features_rejected,
            r.features_repaired
        ),
        (6, 3, 3, 1)
    );
    let rejected: Vec<(Option<u64>, &str)> = r
        .rejections
        .iter()
        .map(|x| (x.at.line, x.reason.as_str()))
        .collect();
    assert_eq!(rejected[0].0, Some(2));
    assert!(
        rejected[0].1.contains("outside lon/lat range"),
        "{}",
        rejected[0].1
    );
    assert_eq!(rejected[1].0, Some(3));
    assert!(rejected[1].1.contains("no geometry"), "{}", rejected[1].1);
    assert_eq!(rejected[2].0, Some(6));
    assert_eq!(r.repairs[0].at.line, Some(4));
    assert!(
        r.repairs[0].fix.contains("self-intersecting"),
        "{}",
        r.repairs[0].fix
    );
    // Integers and floats in one column widen to number.
    assert_eq!(
        outcome.meta.schema.fields[0].field_type,
        tessera::model::FieldType::Number
    );
    // Ids are source positions: the repaired bow-tie is feature 4.
    let stored = dir.read_latest(&name("mixed")).expect("read");
    let ids: Vec<u64> = stored.features.iter().map(|f| f.id).collect();
    assert_eq!(ids, [1, 4, 5]);
    assert!(matches!(
        stored.features[1].geometry,
        Geometry::MultiPolygon(_)
    ));
}

/// Reference values from PROJ 9.1.1: `cs2cs -f %.10f EPSG:25831 EPSG:4326`.
const BARCELONA_25831: [(f64, f64, f64, f64); 2] = [
    (431_000.0, 4_583_900.0, 2.174_509_661_8, 41.403_682_755_0),
    (426_650.0, 4_581_400.0, 2.122_776_332_3, 41.380_781_230_5),
];

/// Reference values from PROJ 9.1.1: `cs2cs -f %.10f EPSG:2154 EPSG:4326`.
const PARIS_MARSEILLE_2154: [(f64, f64, f64, f64); 2] = [
    (652_300.0, 6_861_640.0, 2.349_940_839_8, 48.853_032_971_7),
    (892_390.0, 6_247_035.0, 5.369_797_177_6, 43.296_497_750_7),
];

fn assert_within_1cm(dir: &DataDir, layer: &str, cases: &[(f64, f64, f64, f64)]) {
    let stored = dir.read_latest(&name(layer)).expect("read");
    assert_eq!(stored.features.len(), cases.len());
    for (f, &(_, _, lon, lat)) in stored.features.iter().zip(cases) {
        let d = metres(point_of(&f.geometry), (lon, lat));
        assert!(d < 0.01, "{layer}: {d} m off");
    }
}

#[test]
fn csv_in_utm_31n_is_reprojected_within_a_centimetre() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let mut text = String::from("x;y;name\n");
    for (i, (x, y, _, _)) in BARCELONA_25831.iter().enumerate() {
        text.push_str(&format!("{x};{y};p{i}\n"));
    }
    let path = write(tmp.path(), "utm.csv", &text);
    let options = IngestOptions {
        crs: Some("EPSG:25831".into()),
        ..IngestOptions::default()
    };
    let outcome = ingest(&path, &name("utm"), &dir, &options).expect("ingest");
    assert_eq!(outcome.meta.source.crs, "EPSG:25831");
    assert_within_1cm(&dir, "utm", &BARCELONA_25831);
}

#[test]
fn shapefile_with_esri_prj_in_lambert_93_is_reprojected_within_a_centimetre() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let path = tmp.path().join("cities.shp");
    let table = shapefile::dbase::TableWriterBuilder::new().add_character_field(
        shapefile::dbase::FieldName::try_from("name").expect("field name"),
        20,
    );
    let mut writer = shapefile::Writer::from_path(&path, table).expect("writer");
    for (i, (x, y, _, _)) in PARIS_MARSEILLE_2154.iter().enumerate() {
        let mut record = shapefile::dbase::Record::default();
        record.insert(
            "name".into(),
            shapefile::dbase::FieldValue::Character(Some(format!("city{i}"))),
        );
        writer
            .write_shape_and_record(&shapefile::Point::new(*x, *y), &record)
            .expect("write shape");
    }
    drop(writer);
    // ESRI WKT as ArcGIS writes it: no AUTHORITY, so the CRS is found by name.
    let prj = r#"PROJCS["RGF_1993_Lambert_93",GEOGCS["GCS_RGF_1993",DATUM["D_RGF_1993",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",700000.0],PARAMETER["False_Northing",6600000.0],PARAMETER["Central_Meridian",3.0],PARAMETER["Standard_Parallel_1",49.0],PARAMETER["Standard_Parallel_2",44.0],PARAMETER["Latitude_Of_Origin",46.5],UNIT["Meter",1.0]]"#;
    write(tmp.path(), "cities.prj", prj);
    assert_eq!(Format::detect(&path).expect("detect"), Format::Shapefile);
    let outcome = ingest(&path, &name("cities"), &dir, &IngestOptions::default()).expect("ingest");
    assert_eq!(outcome.meta.source.format, "shapefile");
    assert_within_1cm(&dir, "cities", &PARIS_MARSEILLE_2154);
    let stored = dir.read_latest(&name("cities")).expect("read");
    assert_eq!(
        stored.features[1].properties,
        [Value::String("city1".into())]
    );
}

#[test]
fn flatgeobuf_round_trips_through_ingest() {
    // A version's own features.fgb is a FlatGeobuf with an EPSG:4326 header.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let source = demo_dir().join("assets.geojson");
    ingest(&source, &name("assets"), &dir, &IngestOptions::default()).expect("ingest");
    let fgb = tmp.path().join("assets/v000001/features.fgb");
    let copy = tmp.path().join("assets_copy.fgb");
    std::fs::copy(&fgb, &copy).expect("copy");
    let outcome = ingest(&copy, &name("assets2"), &dir, &IngestOptions::default()).expect("ingest");
    assert_eq!(outcome.meta.source.format, "fgb");
    let original = dir.read_latest(&name("assets")).expect("read");
    let again = dir.read_latest(&name("assets2")).expect("read");
    assert_eq!(again.features.len(), original.features.len());
    // The hidden id column comes back as a property; geometry and values are kept.
    let mut geometries: Vec<String> = again
        .features
        .iter()
        .map(|f| format!("{:?}", f.geometry))
        .collect();
    let mut expected: Vec<String> = original
        .features
        .iter()
        .map(|f| format!("{:?}", f.geometry))
        .collect();
    geometries.sort();
    expected.sort();
    assert_eq!(geometries, expected);
}

#[tokio::test]
async fn a_corrupt_file_stores_nothing_and_the_served_version_stays() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    ingest(
        &demo_dir().join("zones.geojson"),
        &name("zones"),
        &dir,
        &IngestOptions::default(),
    )
    .expect("first version");
    let server = TestServer::start(tmp).await;
    let work = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(demo_dir().join("zones.geojson")).expect("read");
    let corrupt = write(work.path(), "zones.geojson", &text[..text.len() / 2]);
    let err = ingest(&corrupt, &name("zones"), &dir, &IngestOptions::default())
        .expect_err("corrupt file must fail");
    assert!(matches!(err, IngestError::Read(_)), "{err}");
    assert!(err.to_string().contains("zones.geojson"), "{err}");
    // A file whose every feature is invalid is refused too.
    let bad = write(
        work.path(),
        "bad.geojsonl",
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[500,500]},"properties":{}}"#,
    );
    let err = ingest(&bad, &name("zones"), &dir, &IngestOptions::default()).expect_err("no valid");
    assert!(matches!(err, IngestError::NoValidFeature { .. }), "{err}");
    assert_eq!(dir.versions(&name("zones")).expect("versions"), [1]);
    let leftovers = std::fs::read_dir(dir.root().join("zones"))
        .expect("list")
        .count();
    assert_eq!(leftovers, 1, "no staging folder is left behind");
    let (status, col) = server.get_json("/collections/zones").await;
    assert_eq!(status, 200);
    assert_eq!(col["version"], 1);
    assert_eq!(col["featureCount"], 67);
}

#[tokio::test]
async fn a_new_version_is_picked_up_by_a_running_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let zones = demo_dir().join("zones.geojson");
    ingest(&zones, &name("zones"), &dir, &IngestOptions::default()).expect("v1");
    let registry = std::sync::Arc::new(tessera::api::Registry::load(dir.clone()).expect("load"));
    let version = |r: &tessera::api::Registry| {
        r.open::<tessera::access::Catalog>("zones", &tessera::access::Caller::anonymous())
            .map(|m| m.version)
            .ok()
    };
    assert_eq!(version(&registry), Some(1));
    ingest(&zones, &name("zones"), &dir, &IngestOptions::default()).expect("v2");
    let changed = registry.reload().expect("reload");
    assert_eq!(changed, [name("zones")]);
    assert_eq!(version(&registry), Some(2));
}

#[test]
fn cli_reports_bad_input_with_file_and_exit_code() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = env!("CARGO_BIN_EXE_tessera");
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run tessera")
    };
    let csv = write(tmp.path(), "t.csv", "lon,lat,v\n2.1,41.3,1\n2.2,abc,2\n");
    let ok = run(&["ingest", csv.to_str().expect("utf-8"), "--layer", "trees"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains("accepted: 1") && out.contains("rejected: 1"),
        "{out}"
    );
    assert!(out.contains("line 3"), "{out}");

    let bad_name = run(&["ingest", csv.to_str().expect("utf-8"), "--layer", "Trees!"]);
    assert_eq!(bad_name.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_name.stderr).contains("invalid layer name"));

    let mut f = std::fs::File::create(tmp.path().join("broken.fgb")).expect("create");
    f.write_all(b"fgb\x03fgb\x00garbage").expect("write");
    let broken = tmp.path().join("broken.fgb");
    let failed = run(&[
        "ingest",
        broken.to_str().expect("utf-8"),
        "--layer",
        "trees",
    ]);
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("broken.fgb"), "{err}");
}
