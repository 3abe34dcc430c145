//! Format readers: a source file as a stream of [`RawFeature`]s.
//!
//! # Design
//! [`open`] picks the reader for a [`Format`] and returns it as a boxed
//! [`SourceReader`]: an iterator of features that also reports the CRS the file declares
//! and how far it has read. Readers stream: memory stays bounded by the largest feature,
//! not the file, so a city's worth of parcels reads in constant memory.
//!
//! Readers do not judge: coordinates stay in the file's CRS, geometries are not
//! validated, and property values are typed cell by cell ([`Value`]). Validation,
//! reprojection and column typing are the pipeline's work.
//!
//! # Invariants every reader keeps
//! 1. Items come in file order, and `at.feature` (1-based) strictly increases from one
//!    item to the next, errors included. It may skip numbers where the file holds
//!    records that are no features (a deleted dBase row, a blank CSV row).
//! 2. An error is either per feature ([`ReadError::is_fatal`] is false: the reader goes
//!    on with the next feature) or fatal (the file cannot be read further): after a
//!    fatal error the iterator returns `None`, and after `None` it stays `None`.
//! 3. Property names are unique within a feature and come in source order. Features
//!    with the same names in the same order should share one [`PropertyNames`] list
//!    (the pipeline then matches names to columns once per list, not per feature).
//! 4. Geometries are two-dimensional: Z and M values are dropped.
//! 5. Malformed input gives an error, never a panic; memory taken on the file's say-so
//!    is capped by a named limit (see [`MAX_FEATURE_BYTES`]) or by the file's size.
//! 6. Text is UTF-8 unless [`ReadOptions::encoding`] says Latin-1: a row or feature of a
//!    text format that is not valid UTF-8 is a per-feature error naming its line or
//!    feature, never a guess (dBase tables name their code page themselves).
//!
//! A test in this module runs every reader over its fixtures and checks these.
//!
//! May import: `model`, `ingest::format`.

pub mod csv;
mod dbf;
pub mod flatgeobuf;
pub mod geojson;
mod geojson_fast;
pub mod geojsonseq;
mod json_scan;
mod properties;
pub mod shapefile;
mod text;

use std::fmt;
use std::path::{Path, PathBuf};

use geo_types::Geometry;

pub use crate::ingest::format::Format;
use crate::model::Value;
use crate::model::quality::SourcePosition;
pub use properties::{Name, Properties, PropertyNames};
pub use text::Encoding;

/// The largest single feature (one GeoJSON object, one line, one FlatGeobuf or
/// shapefile record) a reader accepts, in bytes.
///
/// A file's own framing decides how much a reader buffers for one feature; a corrupt
/// or hostile size prefix could ask for gigabytes. 256 MiB holds the most detailed
/// administrative boundary we know of several times over, while parsing it still fits
/// in the memory of a small server.
pub const MAX_FEATURE_BYTES: usize = 256 * 1024 * 1024;

/// One feature as read from a source, before validation, reprojection and typing.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    /// Where it is in the file: 1-based feature index, and 1-based line for
    /// line-oriented formats (CSV, GeoJSONSeq).
    pub at: SourcePosition,
    /// The geometry in the file's CRS, `None` when the feature has none.
    pub geometry: Option<Geometry<f64>>,
    /// Properties in source order, names unique.
    pub properties: Properties,
}

/// How far a reader has got through its file, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes consumed so far.
    pub bytes_read: u64,
    /// Size of the file in bytes.
    pub bytes_total: u64,
}

/// Options for the CSV reader; every `None` is detected from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter; detected among `,` `;` tab `|` from the header line when `None`.
    pub delimiter: Option<u8>,
    /// Name of the longitude (or x) column, matched case-insensitively.
    pub lon_column: Option<String>,
    /// Name of the latitude (or y) column, matched case-insensitively.
    pub lat_column: Option<String>,
    /// Name of a column of WKT geometries, matched case-insensitively.
    pub wkt_column: Option<String>,
    /// Columns whose cells are text as written (trimmed; empty is null), never typed
    /// as numbers or booleans: an id column, whose `1.0` and `1` are different ids.
    /// Matched by exact name.
    pub text_columns: Vec<String>,
}

/// Options for [`open`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Options for CSV sources.
    pub csv: CsvOptions,
    /// The encoding of text sources (CSV, GeoJSON, GeoJSONSeq); dBase tables name
    /// their own.
    pub encoding: Encoding,
}

/// An open source file, read feature by feature. See the module documentation for the
/// invariants every implementation keeps.
pub trait SourceReader: Iterator<Item = Result<RawFeature, ReadError>> + Send {
    /// The CRS the file declares, if any, as the file states it: `"EPSG:2154"` for a
    /// FlatGeobuf header or an EWKT `SRID`, the `crs` member's name in old GeoJSON
    /// (e.g. `"urn:ogc:def:crs:EPSG::2154"`), the WKT text of a shapefile's `.prj`.
    ///
    /// Known from [`open`] on, except for a GeoJSON `crs` member placed after
    /// `features`, which is seen only once the features have been read.
    fn declared_crs(&self) -> Option<String>;

    /// How many bytes have been read, out of how many; `None` when unknown.
    fn progress(&self) -> Option<Progress>;
}

/// A boxed error kept as the cause of a [`ReadError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a source could not be read, or one of its features.
///
/// Displayed as `path position: what`, e.g. `data/x.csv line 17: column 'lon' is not a
/// number: 'abc'`; the underlying error, if any, is the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file, or a companion file, could not be opened or read. Fatal.
    #[error("{}: cannot read the file", At(path, at.as_ref()))]
    Io {
        /// The file.
        path: PathBuf,
        /// The feature being read, if any.
        at: Option<SourcePosition>,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The file cannot be read at all: bad header, no geometry columns, ... Fatal.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is corrupt or truncated here; nothing after this can be read. Fatal.
    #[error("{}: {message}", At(path, at.as_ref()))]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The feature being read, if any.
        at: Option<SourcePosition>,
        /// What is wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// One feature cannot be read; the reader goes on with the next one.
    #[error("{}: {message}", At(path, Some(at)))]
    Feature {
        /// The file.
        path: PathBuf,
        /// The feature.
        at: SourcePosition,
        /// What is wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

/// A result with a [`ReadError`].
pub type Result<T, E = ReadError> = std::result::Result<T, E>;

impl ReadError {
    /// False for an error about one feature, after which reading goes on; true when the
    /// file cannot be read further.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ReadError::Feature { .. })
    }

    /// The file the error is about.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::Invalid { path, .. }
            | ReadError::Corrupt { path, .. }
            | ReadError::Feature { path, .. } => path,
        }
    }

    /// Where in the file, when known.
    #[must_use]
    pub fn position(&self) -> Option<SourcePosition> {
        match self {
            ReadError::Io { at, .. } | ReadError::Corrupt { at, .. } => *at,
            ReadError::Feature { at, .. } => Some(*at),
            ReadError::Invalid { .. } => None,
        }
    }

    /// What went wrong, with its causes, without the path and position: the text for a
    /// quality report's rejection.
    #[must_use]
    pub fn reason(&self) -> String {
        use std::error::Error as _;
        let mut reason = match self {
            ReadError::Io { .. } => "cannot read the file".to_owned(),
            ReadError::Invalid { message, .. }
            | ReadError::Corrupt { message, .. }
            | ReadError::Feature { message, .. } => message.clone(),
        };
        let mut cause = self.source();
        while let Some(error) = cause {
            reason.push_str(": ");
            reason.push_str(&error.to_string());
            cause = error.source();
        }
        reason
    }

    /// A per-feature error without an underlying cause.
    pub(crate) fn feature(path: &Path, at: SourcePosition, message: impl Into<String>) -> Self {
        ReadError::Feature {
            path: path.to_owned(),
            at,
            message: message.into(),
            source: None,
        }
    }

    /// A fatal error without an underlying cause.
    pub(crate) fn corrupt(
        path: &Path,
        at: Option<SourcePosition>,
        message: impl Into<String>,
    ) -> Self {
        ReadError::Corrupt {
            path: path.to_owned(),
            at,
            message: message.into(),
            source: None,
        }
    }

    /// A whole-file error found at open.
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        ReadError::Invalid {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// An I/O error.
    pub(crate) fn io(path: &Path, at: Option<SourcePosition>, source: std::io::Error) -> Self {
        ReadError::Io {
            path: path.to_owned(),
            at,
            source,
        }
    }
}

/// Displays `path` or `path position`.
struct At<'a>(&'a Path, Option<&'a SourcePosition>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(at) => write!(f, "{} {at}", self.0.display()),
            None => write!(f, "{}", self.0.display()),
        }
    }
}

/// The position of the `feature`-th feature (1-based) of a file without lines.
pub(crate) fn feature_at(feature: u64) -> SourcePosition {
    SourcePosition {
        feature,
        line: None,
    }
}

/// Opens `path` as `format`.
///
/// The header (or, for text formats, the first lines) is read here, so that a file that
/// cannot be read at all fails now rather than on the first feature.
///
/// # Examples
/// ```
/// use tessera::ingest::read::{open, Format, ReadOptions};
/// let dir = std::env::temp_dir().join("tessera-read-doc");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("stops.geojsonl");
/// let line = r#"{"type":"Feature","properties":{"name":"Gare"},"geometry":{"type":"Point","coordinates":[2.37,48.84]}}"#;
/// std::fs::write(&path, format!("{line}\n{line}\n")).unwrap();
/// let mut reader = open(&path, Format::GeoJsonSeq, &ReadOptions::default()).unwrap();
/// assert_eq!(reader.next().unwrap().unwrap().at.line, Some(1));
/// assert_eq!(reader.next().unwrap().unwrap().at.line, Some(2));
/// assert!(reader.next().is_none());
/// ```
///
/// # Errors
/// [`ReadError::Io`] when the file cannot be opened, [`ReadError::Invalid`] or
/// [`ReadError::Corrupt`] when its header is unusable.
pub fn open(path: &Path, format: Format, options: &ReadOptions) -> Result<Box<dyn SourceReader>> {
    Ok(match format {
        Format::GeoJson => Box::new(geojson::GeoJsonReader::open(path, options.encoding)?),
        Format::GeoJsonSeq => Box::new(geojsonseq::GeoJsonSeqReader::open(path, options.encoding)?),
        Format::Csv => Box::new(csv::CsvReader::open(path, &options.csv, options.encoding)?),
        Format::FlatGeobuf => Box::new(flatgeobuf::FgbReader::open(path)?),
        Format::Shapefile => Box::new(shapefile::ShapefileReader::open(path)?),
    })
}

/// Makes property names unique, keeping the first position and the last value of a
/// repeated name (as JSON parsers do for repeated keys).
pub(crate) fn dedupe_properties(properties: &mut Vec<(String, Value)>) {
    // Small maps are the rule: a quadratic scan beats hashing below a few dozen names.
    const LINEAR_LIMIT: usize = 32;
    if properties.len() <= LINEAR_LIMIT {
        let mut i = 0;
        while i < properties.len() {
            if let Some(first) = properties[..i]
                .iter()
                .position(|(n, _)| *n == properties[i].0)
            {
                let (_, value) = properties.remove(i);
                properties[first].1 = value;
            } else {
                i += 1;
            }
        }
    } else {
        let mut first_of: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(properties.len());
        let mut unique: Vec<(String, Value)> = Vec::with_capacity(properties.len());
        for (name, value) in properties.drain(..) {
            if let Some(&i) = first_of.get(&name) {
                unique[i].1 = value;
            } else {
                first_of.insert(name.clone(), unique.len());
                unique.push((name, value));
            }
        }
        *properties = unique;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The directory of the reader fixtures.
    pub(crate) fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ingest")
            .join(name)
    }

    /// Reads everything from `reader`, checking the invariants of the module
    /// documentation on the way, and returns the items.
    pub(crate) fn read_checked(mut reader: Box<dyn SourceReader>) -> Vec<Result<RawFeature>> {
        let mut items = Vec::new();
        let mut last: u64 = 0;
        for item in reader.by_ref() {
            let at = match &item {
                Ok(feature) => Some(feature.at),
                Err(error) => error.position(),
            };
            if let Some(at) = at {
                assert!(
                    at.feature > last,
                    "positions must increase: {at:?} after {last}"
                );
                last = at.feature;
            }
            if let Ok(feature) = &item {
                let names: HashSet<&str> =
                    feature.properties.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names.len(), feature.properties.len(), "duplicate names");
            }
            let fatal = item.as_ref().is_err_and(ReadError::is_fatal);
            items.push(item);
            if fatal {
                break;
            }
        }
        assert!(reader.next().is_none(), "must stay finished");
        assert!(reader.next().is_none(), "must stay finished");
        items
    }

    /// The features of `items`, panicking on any error.
    pub(crate) fn features(items: Vec<Result<RawFeature>>) -> Vec<RawFeature> {
        items
            .into_iter()
            .map(|item| item.expect("feature"))
            .collect()
    }

    /// The value of property `name`.
    pub(crate) fn prop<'a>(feature: &'a RawFeature, name: &str) -> Option<&'a Value> {
        feature
            .properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    #[test]
    fn every_reader_keeps_the_invariants_on_its_fixtures() {
        let cases = [
            ("points.geojson", Format::GeoJson),
            ("truncated.geojson", Format::GeoJson),
            ("features.geojsonl", Format::GeoJsonSeq),
            ("semicolon.csv", Format::Csv),
            ("tabs.tsv", Format::Csv),
            ("wkt.csv", Format::Csv),
            ("bad_rows.csv", Format::Csv),
        ];
        for (name, format) in cases {
            let path = fixture(name);
            assert_eq!(
                Format::detect(&path).ok(),
                Some(format),
                "{name} detected as {format}"
            );
            let reader = open(&path, format, &ReadOptions::default()).expect(name);
            let items = read_checked(reader);
            assert!(!items.is_empty(), "{name}");
        }
    }

    /// The rule of invariant 6, for every text format: a feature that is not UTF-8 is a
    /// per-feature error naming where it is, unless the file is read as Latin-1.
    #[test]
    fn every_text_reader_rejects_what_is_not_utf8_unless_read_as_latin1() {
        let dir = tempfile::tempdir().expect("temp dir");
        let feature = |name: &[u8]| {
            [
                &br#"{"type":"Feature","geometry":{"type":"Point","coordinates":[2,41]},"properties":{"name":""#[..],
                name,
                b"\"}}",
            ]
            .concat()
        };
        let (ok, latin1) = (&b"Paris"[..], &b"Soci\xe9t\xe9"[..]);
        let cases = [
            (
                "a.csv",
                [&b"lon,lat,name\n2,41,"[..], ok, b"\n2,41,", latin1, b"\n"].concat(),
                "line 3: column 'name' is not valid UTF-8: byte 0xE9 at byte 5",
            ),
            (
                "a.geojson",
                [
                    &br#"{"type":"FeatureCollection","features":["#[..],
                    &feature(ok),
                    b",",
                    &feature(latin1),
                    b"]}",
                ]
                .concat(),
                "feature 2: the feature is not valid UTF-8: byte 0xE9 at byte 94",
            ),
            (
                "a.geojsonl",
                [feature(ok), b"\n".to_vec(), feature(latin1), b"\n".to_vec()].concat(),
                "line 2: the line is not valid UTF-8: byte 0xE9 at byte 94",
            ),
        ];
        for (name, bytes, where_and_why) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            let format = Format::detect(&path).expect("format");
            let items = read_checked(open(&path, format, &ReadOptions::default()).expect(name));
            assert_eq!(items.len(), 2, "{name}");
            assert!(items[0].is_ok(), "{name}");
            let error = items[1].as_ref().expect_err(name);
            assert!(!error.is_fatal(), "{name}");
            assert_eq!(
                error.to_string(),
                format!(
                    "{} {where_and_why}; for Latin-1 text, ingest with --encoding latin1",
                    path.display()
                ),
            );
            let latin1 = ReadOptions {
                encoding: Encoding::Latin1,
                ..ReadOptions::default()
            };
            let items = features(read_checked(open(&path, format, &latin1).expect(name)));
            assert_eq!(
                prop(&items[1], "name"),
                Some(&Value::String("Société".into())),
                "{name}"
            );
        }
    }

    #[test]
    fn errors_and_readers_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        fn send<T: Send + ?Sized>() {}
        send_sync::<ReadError>();
        send::<dyn SourceReader>();
    }

    #[test]
    fn errors_name_file_and_position() {
        let error = ReadError::feature(
            Path::new("data/x.csv"),
            SourcePosition {
                feature: 16,
                line: Some(17),
            },
            "column 'lon' is not a number: 'abc'",
        );
        assert_eq!(
            error.to_string(),
            "data/x.csv line 17: column 'lon' is not a number: 'abc'"
        );
        assert!(!error.is_fatal());
        let error = ReadError::Corrupt {
            path: PathBuf::from("b.fgb"),
            at: Some(feature_at(3)),
            message: "truncated".into(),
            source: Some("unexpected end of file".into()),
        };
        assert_eq!(error.to_string(), "b.fgb feature 3: truncated");
        assert_eq!(error.reason(), "truncated: unexpected end of file");
        assert!(error.is_fatal());
    }

    #[test]
    fn dedupe_keeps_first_position_and_last_value() {
        let mut props = vec![
            ("a".to_owned(), Value::Int(1)),
            ("b".to_owned(), Value::Int(2)),
            ("a".to_owned(), Value::Int(3)),
        ];
        dedupe_properties(&mut props);
        assert_eq!(
            props,
            vec![
                ("a".to_owned(), Value::Int(3)),
                ("b".to_owned(), Value::Int(2))
            ]
        );
        let mut many: Vec<(String, Value)> = (0..100)
            .map(|i| (format!("k{}", i % 50), Value::Int(i)))
            .collect();
        dedupe_properties(&mut many);
        assert_eq!(many.len(), 50);
        assert_eq!(many[0], ("k0".to_owned(), Value::Int(50)));
    }
}
