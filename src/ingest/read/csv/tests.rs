use super::super::tests::{features, fixture, prop, read_checked};
use super::*;
use crate::model::Value;
use geo_types::{line_string, point, polygon};

fn open(path: &Path) -> CsvReader {
    CsvReader::open(path, &CsvOptions::default(), Encoding::Utf8).expect("open")
}

fn write(text: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data.csv");
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

#[test]
fn semicolons_with_longitude_latitude_and_decimal_commas() {
    let reader = CsvReader::open(
        &fixture("semicolon.csv"),
        &CsvOptions::default(),
        Encoding::Latin1,
    )
    .expect("open");
    assert_eq!(reader.geometry, GeometryColumns::LonLat { lon: 2, lat: 3 });
    let items = features(read_checked(Box::new(reader)));
    assert_eq!(items.len(), 3);
    let first = &items[0];
    assert_eq!(
        first.at,
        SourcePosition {
            feature: 1,
            line: Some(2)
        }
    );
    assert_eq!(
        first.geometry,
        Some(Geometry::Point(point!(x: 2.3522, y: 48.8566)))
    );
    let names: Vec<&str> = first.properties.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["code", "nom", "population", "capitale", "surface"]);
    assert_eq!(prop(first, "code"), Some(&Value::Int(75056)));
    assert_eq!(prop(first, "nom"), Some(&Value::String("Paris".into())));
    assert_eq!(prop(first, "population"), Some(&Value::Int(2_102_650)));
    assert_eq!(prop(first, "capitale"), Some(&Value::Bool(true)));
    assert_eq!(prop(first, "surface"), Some(&Value::Float(105.4)));
    // A leading zero keeps a code as text; a decimal comma in a property stays text;
    // Latin-1 text is decoded.
    let second = &items[1];
    assert_eq!(prop(second, "code"), Some(&Value::String("01053".into())));
    assert_eq!(
        prop(second, "nom"),
        Some(&Value::String("Bourg-en-Bresse".into()))
    );
    assert_eq!(
        second.geometry,
        Some(Geometry::Point(point!(x: 5.2258, y: 46.2052)))
    );
    assert_eq!(
        prop(second, "surface"),
        Some(&Value::String("23,86".into()))
    );
    let third = &items[2];
    assert_eq!(prop(third, "nom"), Some(&Value::String("Besançon".into())));
    assert_eq!(prop(third, "population"), Some(&Value::Null));
    assert_eq!(prop(third, "capitale"), Some(&Value::Bool(false)));
}

/// Regression test: a CSV row that was not valid UTF-8 was decoded as
/// Windows-1252 by guess, where a GeoJSONSeq line was rejected with its number.
#[test]
fn a_row_that_is_not_utf8_is_rejected_with_its_line_unless_read_as_latin1() {
    let path = fixture("semicolon.csv");
    let items = read_checked(Box::new(open(&path)));
    assert_eq!(items.len(), 3);
    assert!(items[..2].iter().all(Result::is_ok));
    let error = items[2].as_ref().expect_err("line 4 is Latin-1");
    assert!(!error.is_fatal());
    assert_eq!(
        error.to_string(),
        format!(
            "{} line 4: column 'nom' is not valid UTF-8: byte 0xE7 at byte 6; for \
             Latin-1 text, ingest with --encoding latin1",
            path.display()
        )
    );
    // A header that is not UTF-8 refuses the file.
    let (_dir, path) = write(b"lon;lat;d\xe9partement\n2;41;x\n");
    let error = CsvReader::open(&path, &CsvOptions::default(), Encoding::Utf8)
        .err()
        .expect("refused");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the header (line 1) is not valid UTF-8: byte 0xE9 at byte 2; for \
             Latin-1 text, ingest with --encoding latin1",
            path.display()
        )
    );
    let items = features(read_checked(Box::new(
        CsvReader::open(&path, &CsvOptions::default(), Encoding::Latin1).expect("open"),
    )));
    let names: Vec<&str> = items[0]
        .properties
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["département"]);
}

#[test]
fn tabs_with_x_y() {
    let reader = open(&fixture("tabs.tsv"));
    assert_eq!(reader.geometry, GeometryColumns::LonLat { lon: 1, lat: 2 });
    let items = features(read_checked(Box::new(reader)));
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].geometry,
        Some(Geometry::Point(point!(x: 652_470.5, y: 6_862_035.0)))
    );
    assert_eq!(
        items[0].properties,
        vec![
            ("id".to_owned(), Value::Int(1)),
            ("label".to_owned(), Value::String("a, b and \"c\"".into())),
        ]
    );
    assert_eq!(
        items[1].at,
        SourcePosition {
            feature: 2,
            line: Some(4)
        }
    );
    assert_eq!(
        items[1].geometry,
        Some(Geometry::Point(point!(x: -1.5, y: 2e3)))
    );
}

#[test]
fn a_wkt_column() {
    let reader = open(&fixture("wkt.csv"));
    assert_eq!(reader.geometry, GeometryColumns::Wkt(1));
    assert_eq!(reader.declared_crs().as_deref(), Some("EPSG:2154"));
    let items = read_checked(Box::new(reader));
    assert_eq!(items.len(), 5);
    let ok: Vec<&RawFeature> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
    assert_eq!(ok.len(), 4);
    assert_eq!(
        ok[0].geometry,
        Some(Geometry::Point(point!(x: 10.0, y: 20.0)))
    );
    assert_eq!(
        ok[1].geometry,
        Some(Geometry::Polygon(polygon![
            (x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0), (x: 0.0, y: 0.0)
        ]))
    );
    assert_eq!(
        ok[2].geometry,
        Some(Geometry::LineString(
            line_string![(x: 1.0, y: 1.0), (x: 2.0, y: 2.5)]
        ))
    );
    assert_eq!(ok[3].geometry, None, "POINT EMPTY");
    assert_eq!(
        ok[0].properties,
        vec![("name".to_owned(), Value::String("a".into()))]
    );
    let error = items[3].as_ref().expect_err("bad WKT");
    assert_eq!(
        error.position(),
        Some(SourcePosition {
            feature: 4,
            line: Some(5)
        })
    );
    assert!(
        error
            .to_string()
            .contains("column 'WKT' is not a valid geometry"),
        "{error}"
    );
}

#[test]
fn bad_coordinates_are_per_row_errors() {
    let items = read_checked(Box::new(open(&fixture("bad_rows.csv"))));
    let summary: Vec<std::result::Result<u64, String>> = items
        .iter()
        .map(|item| match item {
            Ok(f) => Ok(f.at.line.unwrap_or_default()),
            Err(e) => Err(e.to_string()),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            Ok(2),
            Err(format!(
                "{} line 3: column 'lon' is not a number: 'abc'",
                fixture("bad_rows.csv").display()
            )),
            Err(format!(
                "{} line 4: column 'lat' is empty",
                fixture("bad_rows.csv").display()
            )),
            Ok(5),
            Err(format!(
                "{} line 7: the row has 5 fields but the header has 3 columns",
                fixture("bad_rows.csv").display()
            )),
            Ok(8),
        ]
    );
    let no_geometry = items[3].as_ref().expect("row 5");
    assert_eq!(no_geometry.geometry, None);
    // Line 6 is a row of empty cells: skipped, and not counted.
    assert_eq!(
        items[4]
            .as_ref()
            .err()
            .and_then(ReadError::position)
            .map(|p| p.feature),
        Some(5)
    );
}

#[test]
fn text_columns_keep_cells_as_written() {
    let (_dir, path) = write(b"lon,lat,id,n\n2,41, 1.0 ,1.0\n2,41,1,1\n2,41,,\n2,41,007,7\n");
    let options = CsvOptions {
        text_columns: vec!["id".into()],
        ..CsvOptions::default()
    };
    let items = features(read_checked(Box::new(
        CsvReader::open(&path, &options, Encoding::Utf8).expect("open"),
    )));
    let ids: Vec<Option<&Value>> = items.iter().map(|f| prop(f, "id")).collect();
    let text = |s: &str| Value::String(s.into());
    assert_eq!(
        ids,
        [
            Some(&text("1.0")),
            Some(&text("1")),
            Some(&Value::Null),
            Some(&text("007"))
        ]
    );
    // Other columns are typed as before.
    assert_eq!(prop(&items[0], "n"), Some(&Value::Float(1.0)));
    assert_eq!(prop(&items[1], "n"), Some(&Value::Int(1)));
}

#[test]
fn options_override_detection() {
    let (_dir, path) = write(b"a|b|c|where\n1|2|3|POINT(5 6)\n");
    let options = CsvOptions {
        delimiter: None,
        lon_column: Some("B".into()),
        lat_column: Some("c".into()),
        wkt_column: None,
        text_columns: Vec::new(),
    };
    let reader = CsvReader::open(&path, &options, Encoding::Utf8).expect("open");
    assert_eq!(reader.geometry, GeometryColumns::LonLat { lon: 1, lat: 2 });
    let options = CsvOptions {
        wkt_column: Some("where".into()),
        ..CsvOptions::default()
    };
    let items = features(read_checked(Box::new(
        CsvReader::open(&path, &options, Encoding::Utf8).expect("open"),
    )));
    assert_eq!(
        items[0].geometry,
        Some(Geometry::Point(point!(x: 5.0, y: 6.0)))
    );
    let options = CsvOptions {
        wkt_column: Some("nope".into()),
        ..CsvOptions::default()
    };
    let error = CsvReader::open(&path, &options, Encoding::Utf8)
        .err()
        .expect("missing column");
    assert!(
        error.to_string().contains("no column named 'nope'"),
        "{error}"
    );
}

#[test]
fn no_geometry_columns_is_fatal_and_names_the_columns() {
    let (_dir, path) = write(b"name,city\na,b\n");
    let error = CsvReader::open(&path, &CsvOptions::default(), Encoding::Utf8)
        .err()
        .expect("refused");
    assert!(matches!(error, ReadError::Invalid { .. }));
    assert!(error.to_string().contains("'name', 'city'"), "{error}");
    // A "geometry" column that holds no geometry is not taken for one.
    let (_dir, path) = write(b"geometry,size\nround,3\n");
    assert!(CsvReader::open(&path, &CsvOptions::default(), Encoding::Utf8).is_err());
    let (_dir, path) = write(b"");
    assert!(CsvReader::open(&path, &CsvOptions::default(), Encoding::Utf8).is_err());
}

#[test]
fn lines_are_where_records_start() {
    for (text, lines) in [
        (&b"h1,h2\na,1\nb,2\n"[..], [2, 3]),
        (b"h1,h2\r\na,1\r\nb,2\r\n", [2, 3]),
        (b"h1,h2\n\na,1\n\n\nb,2", [3, 6]),
        (b"h1,h2\n\"a\nstill a\",1\nb,2\n", [2, 4]),
    ] {
        let mut tracker = LineTracker::new(text);
        let mut reader = ReaderBuilder::new()
            .flexible(true)
            .from_reader(&mut tracker);
        let mut record = ByteRecord::new();
        let mut found = Vec::new();
        while reader.read_byte_record(&mut record).expect("record") {
            let start = record.position().map_or(0, ::csv::Position::byte);
            found.push(reader.get_mut().line_at(start));
        }
        assert_eq!(found, lines, "{}", String::from_utf8_lossy(text));
    }
}

#[test]
fn detects_delimiters() {
    assert_eq!(detect_delimiter(b"a,b,c"), b',');
    assert_eq!(detect_delimiter(b"a;b;c,d"), b';');
    assert_eq!(detect_delimiter(b"a\tb\tc"), b'\t');
    assert_eq!(detect_delimiter(b"a|b"), b'|');
    assert_eq!(detect_delimiter(b"\"x;y;z\",b,c"), b',');
    assert_eq!(detect_delimiter(b"single"), b',');
}
