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
//! UTF-8, or Latin-1 when the file is read so ([`Encoding`]): a UTF-8 file's row that is
//! not valid UTF-8 is a per-feature error naming its line and column, and a header
//! that is not refuses the file.
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

use super::text::{Encoding, Line, LineReader, LineTracker, text};
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
    encoding: Encoding,
    /// The first data row, read at open to confirm a WKT column.
    pending: Option<ByteRecord>,
    record: ByteRecord,
    next_feature: u64,
    bytes_total: u64,
    crs: Option<String>,
    done: bool,
}

impl CsvReader {
    /// Opens `path`, whose text is in `encoding`, reads its header and first row, and
    /// finds the geometry columns.
    ///
    /// # Errors
    /// [`ReadError::Io`] when the file cannot be read, [`ReadError::Invalid`] when it is
    /// empty, its header is not in `encoding`, it has no geometry columns, or it lacks a
    /// column named in `options`.
    pub fn open(path: &Path, options: &CsvOptions, encoding: Encoding) -> Result<Self> {
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
        let columns = column_names(&header, encoding).map_err(|problem| {
            ReadError::invalid(path, format!("the header (line 1) is {problem}"))
        })?;
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
        let geometry = find_geometry(path, &columns, options, pending.as_ref(), encoding)?;
        let crs = match (geometry, &pending) {
            (GeometryColumns::Wkt(i), Some(row)) => row
                .get(i)
                .and_then(|cell| text(cell, encoding).ok())
                .and_then(|cell| split_srid(&cell).0)
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
            encoding,
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
        let mut cells = Vec::with_capacity(self.columns.len());
        for (i, raw) in record.iter().take(self.columns.len()).enumerate() {
            match text(raw, self.encoding) {
                Ok(cell) => cells.push(cell),
                Err(problem) => {
                    return Some(Err(ReadError::feature(
                        &self.path,
                        at,
                        format!("column '{}' is {problem}", self.columns[i]),
                    )));
                }
            }
        }
        let cell = |i: usize| cells.get(i).map_or("", |c| c.as_ref());
        let geometry = match self.geometry {
            GeometryColumns::LonLat { lon, lat } => {
                let (x, y) = (cell(lon), cell(lat));
                match (x.trim().is_empty(), y.trim().is_empty()) {
                    (true, true) => Ok(None),
                    _ => self.coordinate(lon, x).and_then(|x| {
                        self.coordinate(lat, y)
                            .map(|y| Some(Geometry::Point(geo_types::Point::new(x, y))))
                    }),
                }
            }
            GeometryColumns::Wkt(i) => parse_geometry_text(cell(i)).map_err(|source| {
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
                    infer(cell)
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
/// names suffixed `_2`, `_3`, ...; or why the header is not text in `encoding`.
fn column_names(header: &ByteRecord, encoding: Encoding) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = text(raw, encoding)?.trim().to_owned();
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
    Ok(names)
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
    encoding: Encoding,
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
                text(row.get(i).unwrap_or_default(), encoding)
                    .is_ok_and(|text| text.trim().is_empty() || looks_like_geometry(&text))
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
mod tests;
