use super::super::tests::{features, fixture, prop, read_checked};
use super::*;
use geo_types::{coord, line_string, point, polygon};

fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data.geojson");
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

fn read_all(path: &Path) -> Vec<Result<RawFeature>> {
    read_checked(Box::new(
        GeoJsonReader::open(path, Encoding::Utf8).expect("open"),
    ))
}

#[test]
fn reads_the_feature_collection_fixture() {
    let path = fixture("points.geojson");
    let reader = GeoJsonReader::open(&path, Encoding::Utf8).expect("open");
    assert_eq!(
        reader.declared_crs().as_deref(),
        Some("urn:ogc:def:crs:EPSG::2154")
    );
    let items = features(read_checked(Box::new(reader)));
    assert_eq!(items.len(), 4);

    let first = &items[0];
    assert_eq!(first.at, feature_at(1));
    assert_eq!(
        first.geometry,
        Some(Geometry::Point(point!(x: 652_470.5, y: 6_862_035.25)))
    );
    let names: Vec<&str> = first.properties.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "name", "height", "floors", "listed", "note", "tags", "address"
        ]
    );
    assert_eq!(
        prop(first, "name"),
        Some(&Value::String("Tour Saint-Jacques".into()))
    );
    assert_eq!(prop(first, "height"), Some(&Value::Float(52.5)));
    assert_eq!(prop(first, "floors"), Some(&Value::Int(12)));
    assert_eq!(prop(first, "listed"), Some(&Value::Bool(true)));
    assert_eq!(prop(first, "note"), Some(&Value::Null));
    assert_eq!(
        prop(first, "tags"),
        Some(&Value::String(r#"["tower","gothic"]"#.into()))
    );
    assert_eq!(
        prop(first, "address"),
        Some(&Value::String(
            r#"{"city":"Paris","street":"rue de Rivoli"}"#.into()
        ))
    );

    assert_eq!(
        items[1].geometry,
        Some(Geometry::Polygon(polygon!(
            exterior: [
                (x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0),
                (x: 0.0, y: 10.0), (x: 0.0, y: 0.0),
            ],
            interiors: [[
                (x: 2.0, y: 2.0), (x: 2.0, y: 4.0), (x: 4.0, y: 4.0),
                (x: 4.0, y: 2.0), (x: 2.0, y: 2.0),
            ]],
        )))
    );
    assert_eq!(
        items[2].geometry,
        Some(Geometry::LineString(line_string![
            (x: 1.0, y: 2.0), (x: 3.0, y: 4.0), (x: 5.0, y: 6.5)
        ]))
    );
    // A null geometry, and the id member ignored.
    assert_eq!(items[3].geometry, None);
    assert_eq!(
        items[3].properties,
        vec![("name".to_owned(), Value::String("nowhere".into()))]
    );
}

#[test]
fn a_truncated_collection_is_fatal() {
    let items = read_all(&fixture("truncated.geojson"));
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[1].is_ok());
    let error = items[2].as_ref().expect_err("truncated");
    assert!(error.is_fatal());
    assert_eq!(error.position(), Some(feature_at(3)));
    assert!(error.to_string().contains("truncated"), "{error}");
}

#[test]
fn crs_after_features_is_seen_at_the_end() {
    let (_dir, path) = write(
        r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{}}
        ],"crs":{"type":"EPSG","properties":{"code":3857}}}"#,
    );
    let mut reader = GeoJsonReader::open(&path, Encoding::Utf8).expect("open");
    assert_eq!(reader.declared_crs(), None);
    assert!(reader.next().is_some_and(|f| f.is_ok()));
    assert!(reader.next().is_none());
    assert_eq!(reader.declared_crs().as_deref(), Some("EPSG:3857"));
    assert_eq!(
        reader.progress().map(|p| p.bytes_read),
        Some(std::fs::metadata(&path).expect("len").len())
    );
}

#[test]
fn arrays_before_features_do_not_confuse_the_reader() {
    let (_dir, path) =
        write(r#"{"bbox":[0,0,1,1],"name":"a [b] {c}","type":"FeatureCollection","features":[]}"#);
    assert!(read_all(&path).is_empty());
}

#[test]
fn a_bad_feature_is_skipped_and_reading_goes_on() {
    let (_dir, path) = write(
        r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[1]},"properties":{}},
            {"type":"Feature","geometry":{"type":"Pointy","coordinates":[1,2]},"properties":{}},
            {"type":"Feature","geometry":{"type":"LineString","coordinates":[[1],[2,3]]},"properties":null},
            42,
            {"type":"Feature","geometry":{"type":"Point","coordinates":[1,2,3]},"properties":{"a":1,"a":2}}
        ]}"#,
    );
    let items = read_all(&path);
    assert_eq!(items.len(), 5);
    for item in &items[..4] {
        let error = item.as_ref().expect_err("bad feature");
        assert!(!error.is_fatal(), "{error}");
    }
    assert!(
        items[2]
            .as_ref()
            .is_err_and(|e| e.reason().contains("two numbers"))
    );
    let last = items[4].as_ref().expect("good feature");
    assert_eq!(last.at, feature_at(5));
    assert_eq!(last.geometry, Some(Geometry::Point(point!(x: 1.0, y: 2.0))));
    assert_eq!(last.properties, vec![("a".to_owned(), Value::Int(2))]);
}

#[test]
fn reads_a_single_feature_or_geometry() {
    let (_dir, path) = write(
        r#"{"properties":{"k":"v"},"type":"Feature","geometry":{"type":"MultiPoint","coordinates":[[1,2],[3,4]]}}"#,
    );
    let items = features(read_all(&path));
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].geometry,
        Some(Geometry::MultiPoint(MultiPoint(vec![
            Point(coord! {x: 1.0, y: 2.0}),
            Point(coord! {x: 3.0, y: 4.0}),
        ])))
    );
    assert_eq!(
        items[0].properties,
        vec![("k".to_owned(), Value::String("v".into()))]
    );

    let (_dir, path) = write("\u{feff}{\"type\":\"Point\",\"coordinates\":[5,6]}");
    let items = features(read_all(&path));
    assert_eq!(
        items[0].geometry,
        Some(Geometry::Point(point!(x: 5.0, y: 6.0)))
    );
    assert!(items[0].properties.is_empty());
}

#[test]
fn refuses_what_is_not_geojson() {
    for text in [
        "",
        "[1,2]",
        "{}",
        r#"{"type":"FeatureCollection"}"#,
        r#"{"type":"Topology","objects":{}}"#,
        r#"{"type":"FeatureCollection","features":{}}"#,
    ] {
        let (_dir, path) = write(text);
        let error = GeoJsonReader::open(&path, Encoding::Utf8).err();
        assert!(
            matches!(error, Some(ReadError::Invalid { .. })),
            "{text}: {error:?}"
        );
    }
    let (_dir, path) = write(r#"{"type":"FeatureCollection","#);
    assert!(matches!(
        GeoJsonReader::open(&path, Encoding::Utf8).err(),
        Some(ReadError::Corrupt { .. })
    ));
    let (_dir, path) = write(r#"{"type":"FeatureCollection","features":[]} trailing"#);
    let items = read_all(&path);
    assert!(items.len() == 1 && items[0].as_ref().is_err_and(ReadError::is_fatal));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"a":{}1{}}},"geometry":null}}]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (_dir, path) = write(&deep);
    let items = read_all(&path);
    assert_eq!(items.len(), 1);
    assert!(items[0].as_ref().is_err_and(ReadError::is_fatal));
}
