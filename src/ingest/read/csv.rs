//! Delimited text (CSV, TSV, ...) with coordinate columns or a WKT column.
//!
//! # Detection
//! Unless [`CsvOptions`] names them, the reader finds:
//! - the delimiter among `,` `;` tab `|`: the one found most often in the header line,
//!   outside quotes (ties go to that order);
//! - the geometry: a WKT column (`wkt`, `wkt_geom`, `geom`, `geometry`, `the_geom`,
//!   case-insensitive) whose first value is WKT, EWKT (`SRID=2154;POINT(...)`) or a
//!   GeoJSON geometry; otherwise a longitude column (`longitude`, `lon`, `lng`, `long`,
//!   `x`) with a latitude column (`latitude`, `lat`, `y`). A file with neither is refused
//!   at [`CsvReader::open`], naming the columns it has.
//!
//! Geometry columns are not repeated as properties. With a delimiter other than `,`, a
//! coordinate may use a decimal comma (`2,3522`), as spreadsheets in many locales write.
//!
//! # Values
//! Each cell is typed on its own (the pipeline unifies a column's type): empty → null,
//! `true`/`false` (any case) → boolean, an integer → integer, a finite decimal number →
//! float, anything else → text. Numbers with a leading zero (`01234`, postal and
//! commune codes) stay text, as do integers beyond 64 bits. Columns named in
//! [`CsvOptions::text_columns`] are text as written (trimmed), never typed. Text is
//! UTF-8, or Windows-1252 where a cell is not valid UTF-8.
//!
//! # Rows
//! A row whose geometry cannot be read is a per-feature error; a row with more non-empty
//! cells than the header has columns too. Missing trailing cells are null. Rows whose
//! cells are all empty are skipped; a row with both coordinates (or the WKT) empty is a
//! feature without geometry.
//!
//! May import: `model`, `ingest::read`.

mod cells;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ::csv::{ByteRecord, ReaderBuilder};
use geo_types::Geometry;

use super::text::{Line, LineReader, LineTracker, TextEncoding, decode};
use super::{
    BoxError, CsvOptions, Name, Progress, Properties, PropertyNames, RawFeature, ReadError, Result,
    SourceReader,
};
use crate::model::Value;
use crate::model::quality::SourcePosition;
use cells::{infer, looks_like_geometry, parse_geometry_text, parse_number, split_srid};

/// Longitude column names, in order of preference.
const LON_NAMES: [&str; 5] = ["longitude", "lon", "lng", "long", "x"];
/// Latitude column names, in order of preference.
const LAT_NAMES: [&str; 3] = ["latitude", "lat", "y"];
/// WKT column names, in order of preference.
const WKT_NAMES: [&str; 5] = ["wkt", "wkt_geom", "geom", "geometry", "the_geom"];
/// The delimiters detected, in order of preference.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The longest header line read to detect the delimiter.
const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// Where the geometry of a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GeometryColumns {
    LonLat { lon: usize, lat: usize },
    Wkt(usize),
}

/// Reads a delimited text file. See the module documentation.
pub struct CsvReader {
    path: PathBuf,
    reader: ::csv::Reader<LineTracker<File>>,
    columns: Vec<String>,
    geometry: GeometryColumns,
    /// The names of the columns that are properties (all but the geometry's), shared
    /// by every row.
    names: PropertyNames,
    /// Per column, whether its cells stay text ([`CsvOptions::text_columns`]).
    text: Vec<bool>,
    decimal_comma: bool,
    /// The first data row, read at open to confirm a WKT column.
    pending: Option<ByteRecord>,
    record: ByteRecord,
    next_feature: u64,
    bytes_total: u64,
    crs: Option<String>,
    done: bool,
}

impl CsvReader {
    /// Opens `path`, reads its header and first row, and finds the geometry columns.
    ///
    /// # Errors
    /// [`ReadError::Io`] when the file cannot be read, [`ReadError::Invalid`] when it is
    /// empty, or has no geometry columns, or lacks a column named in `options`.
    pub fn open(path: &Path, options: &CsvOptions) -> Result<Self> {
        let io = |e| ReadError::io(path, None, e);
        let file = File::open(path).map_err(io)?;
        let bytes_total = file.metadata().map_err(io)?.len();
        let delimiter = match options.delimiter {
            Some(delimiter) => delimiter,
            None => {
                let mut lines = LineReader::new(BufReader::new(file), MAX_HEADER_BYTES);
                let mut header = Vec::new();
                match lines.next_line(&mut header).map_err(io)? {
                    None => return Err(ReadError::invalid(path, "the file is empty")),
                    Some(Line::TooLong) => {
                        return Err(ReadError::invalid(
                            path,
                            format!("the header line is longer than {MAX_HEADER_BYTES} bytes"),
                        ));
                    }
                    Some(Line::Complete) => detect_delimiter(&header),
                }
            }
        };
        let mut reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(LineTracker::new(File::open(path).map_err(io)?));
        let header = reader
            .byte_headers()
            .map_err(|e| csv_error(path, None, e))?
            .clone();
        let columns = column_names(&header);
        if columns.is_empty() {
            return Err(ReadError::invalid(path, "the file is empty"));
        }
        let mut first = ByteRecord::new();
        let pending = if reader
            .read_byte_record(&mut first)
            .map_err(|e| csv_error(path, None, e))?
        {
            Some(first)
        } else {
            None
        };
        let geometry = find_geometry(path, &columns, options, pending.as_ref())?;
        let crs = match (geometry, &pending) {
            (GeometryColumns::Wkt(i), Some(row)) => row
                .get(i)
                .and_then(|cell| split_srid(&decode(cell, TextEncoding::Auto)).0)
                .map(|srid| format!("EPSG:{srid}")),
            _ => None,
        };
        let names = PropertyNames::new(
            columns
                .iter()
                .enumerate()
                .filter(|&(i, _)| !is_geometry_column(geometry, i))
                .map(|(_, name)| Name::from(name.as_str())),
        );
        let text = columns
            .iter()
            .map(|c| options.text_columns.iter().any(|t| t == c))
            .collect();
        Ok(Self {
            path: path.to_owned(),
            reader,
            text,
            columns,
            geometry,
            names,
            decimal_comma: delimiter != b',',
            pending,
            record: ByteRecord::new(),
            next_feature: 1,
            bytes_total,
            crs,
            done: false,
        })
    }

    /// Turns a row into a feature; `None` for a row of empty cells.
    fn feature(&mut self, record: &ByteRecord) -> Option<Result<RawFeature>> {
        if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
            return None;
        }
        let start = record.position().map_or(0, ::csv::Position::byte);
        let at = SourcePosition {
            feature: self.next_feature,
            line: Some(self.reader.get_mut().line_at(start)),
        };
        self.next_feature += 1;
        if record.len() > self.columns.len()
            && record
                .iter()
                .skip(self.columns.len())
                .any(|cell| !cell.trim_ascii().is_empty())
        {
            return Some(Err(ReadError::feature(
                &self.path,
                at,
                format!(
                    "the row has {} fields but the header has {} columns",
                    record.len(),
                    self.columns.len()
                ),
            )));
        }
        let cell = |i: usize| decode(record.get(i).unwrap_or_default(), TextEncoding::Auto);
        let geometry = match self.geometry {
            GeometryColumns::LonLat { lon, lat } => {
                let (x, y) = (cell(lon), cell(lat));
                match (x.trim().is_empty(), y.trim().is_empty()) {
                    (true, true) => Ok(None),
                    _ => self.coordinate(lon, &x).and_then(|x| {
                        self.coordinate(lat, &y)
                            .map(|y| Some(Geometry::Point(geo_types::Point::new(x, y))))
                    }),
                }
            }
            GeometryColumns::Wkt(i) => parse_geometry_text(&cell(i)).map_err(|source| {
                (
                    format!("column '{}' is not a valid geometry", self.columns[i]),
                    Some(source),
                )
            }),
        };
        let geometry = match geometry {
            Ok(geometry) => geometry,
            Err((message, source)) => {
                return Some(Err(ReadError::Feature {
                    path: self.path.clone(),
                    at,
                    message,
                    source,
                }));
            }
        };
        let values = (0..self.columns.len())
            .filter(|&i| !is_geometry_column(self.geometry, i))
            .map(|i| {
                let cell = cell(i);
                if self.text[i] {
                    let trimmed = cell.trim();
                    if trimmed.is_empty() {
                        Value::Null
                    } else {
                        Value::String(trimmed.to_owned())
                    }
                } else {
                    infer(&cell)
                }
            })
            .collect();
        Some(Ok(RawFeature {
            at,
            geometry,
            properties: Properties::new(self.names.clone(), values),
        }))
    }

    /// Parses the coordinate in column `i`.
    fn coordinate(&self, i: usize, text: &str) -> Result<f64, (String, Option<BoxError>)> {
        let name = &self.columns[i];
        if text.trim().is_empty() {
            return Err((format!("column '{name}' is empty"), None));
        }
        parse_number(text, self.decimal_comma)
            .ok_or_else(|| (format!("column '{name}' is not a number: '{text}'"), None))
    }
}

impl Iterator for CsvReader {
    type Item = Result<RawFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let record = if let Some(record) = self.pending.take() {
                record
            } else {
                let mut record = std::mem::take(&mut self.record);
                match self.reader.read_byte_record(&mut record) {
                    Ok(true) => record,
                    Ok(false) => {
                        self.done = true;
                        return None;
                    }
                    Err(e) => {
                        self.done = true;
                        let at = SourcePosition {
                            feature: self.next_feature,
                            line: Some(self.reader.position().line()),
                        };
                        return Some(Err(csv_error(&self.path, Some(at), e)));
                    }
                }
            };
            let item = self.feature(&record);
            self.record = record;
            if item.is_some() {
                return item;
            }
        }
        None
    }
}

impl SourceReader for CsvReader {
    fn declared_crs(&self) -> Option<String> {
        self.crs.clone()
    }

    fn progress(&self) -> Option<Progress> {
        Some(Progress {
            bytes_read: self.reader.position().byte(),
            bytes_total: self.bytes_total,
        })
    }
}

fn csv_error(path: &Path, at: Option<SourcePosition>, error: ::csv::Error) -> ReadError {
    if !error.is_io_error() {
        return ReadError::Corrupt {
            path: path.to_owned(),
            at,
            message: "cannot parse the CSV".to_owned(),
            source: Some(Box::new(error)),
        };
    }
    match error.into_kind() {
        ::csv::ErrorKind::Io(e) => ReadError::io(path, at, e),
        other => ReadError::corrupt(path, at, format!("cannot parse the CSV: {other:?}")),
    }
}

/// The delimiter found most often outside quotes in the header line.
fn detect_delimiter(header: &[u8]) -> u8 {
    let mut counts = [0_usize; DELIMITERS.len()];
    let mut quoted = false;
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for i in 1..DELIMITERS.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    DELIMITERS[best]
}

/// Header names: decoded, trimmed, unnamed columns called `field_N` (1-based), repeated
/// names suffixed `_2`, `_3`, ...
fn column_names(header: &ByteRecord) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = decode(raw, TextEncoding::Auto).trim().to_owned();
        let name = if name.is_empty() {
            format!("field_{}", i + 1)
        } else {
            name
        };
        let mut unique = name.clone();
        let mut n = 2;
        while names.contains(&unique) {
            unique = format!("{name}_{n}");
            n += 1;
        }
        names.push(unique);
    }
    names
}

/// The index of the column called `name`, ignoring case.
fn column(columns: &[String], name: &str) -> Option<usize> {
    columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name.trim()))
}

/// The first of `names` that is a column.
fn first_column(columns: &[String], names: &[&str]) -> Option<usize> {
    names.iter().find_map(|name| column(columns, name))
}

fn is_geometry_column(geometry: GeometryColumns, i: usize) -> bool {
    match geometry {
        GeometryColumns::LonLat { lon, lat } => i == lon || i == lat,
        GeometryColumns::Wkt(wkt) => i == wkt,
    }
}

/// Finds the geometry columns from the options, or by name (see the module docs).
fn find_geometry(
    path: &Path,
    columns: &[String],
    options: &CsvOptions,
    first_row: Option<&ByteRecord>,
) -> Result<GeometryColumns> {
    let listed = || {
        columns
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let named = |name: &Option<String>| -> Result<Option<usize>> {
        name.as_deref()
            .map(|name| {
                column(columns, name).ok_or_else(|| {
                    ReadError::invalid(
                        path,
                        format!("no column named '{name}'; the columns are {}", listed()),
                    )
                })
            })
            .transpose()
    };
    if let Some(wkt) = named(&options.wkt_column)? {
        return Ok(GeometryColumns::Wkt(wkt));
    }
    let lon = named(&options.lon_column)?;
    let lat = named(&options.lat_column)?;
    if lon.is_none() && lat.is_none() {
        let holds_geometry = |i: usize| {
            first_row.is_none_or(|row| {
                let text = decode(row.get(i).unwrap_or_default(), TextEncoding::Auto);
                text.trim().is_empty() || looks_like_geometry(&text)
            })
        };
        if let Some(wkt) = WKT_NAMES
            .iter()
            .filter_map(|name| column(columns, name))
            .find(|&i| holds_geometry(i))
        {
            return Ok(GeometryColumns::Wkt(wkt));
        }
    }
    let lon = lon.or_else(|| first_column(columns, &LON_NAMES));
    let lat = lat.or_else(|| first_column(columns, &LAT_NAMES));
    match (lon, lat) {
        (Some(lon), Some(lat)) if lon != lat => Ok(GeometryColumns::LonLat { lon, lat }),
        _ => Err(ReadError::invalid(
            path,
            format!(
                "no geometry columns among {}: expected longitude and latitude columns \
                 (lon/lat, lng, x/y, ...) or a WKT column (wkt, geom, geometry, the_geom)",
                listed()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{features, fixture, prop, read_checked};
    use super::*;
    use crate::model::Value;
    use geo_types::{line_string, point, polygon};

    fn open(path: &Path) -> CsvReader {
        CsvReader::open(path, &CsvOptions::default()).expect("open")
    }

    fn write(text: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data.csv");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn semicolons_with_longitude_latitude_and_decimal_commas() {
        let reader = open(&fixture("semicolon.csv"));
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
        // Windows-1252 text is decoded.
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
            CsvReader::open(&path, &options).expect("open"),
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
        let reader = CsvReader::open(&path, &options).expect("open");
        assert_eq!(reader.geometry, GeometryColumns::LonLat { lon: 1, lat: 2 });
        let options = CsvOptions {
            wkt_column: Some("where".into()),
            ..CsvOptions::default()
        };
        let items = features(read_checked(Box::new(
            CsvReader::open(&path, &options).expect("open"),
        )));
        assert_eq!(
            items[0].geometry,
            Some(Geometry::Point(point!(x: 5.0, y: 6.0)))
        );
        let options = CsvOptions {
            wkt_column: Some("nope".into()),
            ..CsvOptions::default()
        };
        let error = CsvReader::open(&path, &options)
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
        let error = CsvReader::open(&path, &CsvOptions::default())
            .err()
            .expect("refused");
        assert!(matches!(error, ReadError::Invalid { .. }));
        assert!(error.to_string().contains("'name', 'city'"), "{error}");
        // A "geometry" column that holds no geometry is not taken for one.
        let (_dir, path) = write(b"geometry,size\nround,3\n");
        assert!(CsvReader::open(&path, &CsvOptions::default()).is_err());
        let (_dir, path) = write(b"");
        assert!(CsvReader::open(&path, &CsvOptions::default()).is_err());
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
}
