//! GeoJSON (RFC 7946): a FeatureCollection streamed feature by feature, or a file that
//! holds a single Feature or a bare Geometry. Also the reference parsing of one Feature
//! object; the readers (this one and [`super::geojsonseq`]) go through the faster
//! `geojson_fast`, which falls back on it.
//!
//! # Streaming
//! The top-level object is walked with a byte scanner (`read::json_scan`); each
//! element of `features` is cut out and parsed on its own, so memory stays bounded by
//! the largest feature. An element that is not a valid Feature is a per-feature error;
//! a file that ends early or whose brackets do not match is a fatal one.
//!
//! # The `crs` member
//! RFC 7946 dropped `crs`, but older files (GDAL's among them) still carry it. It is
//! read wherever it is, but one placed after `features` is only seen once the features
//! have been read: [`SourceReader::declared_crs`] is `None` until then. Every writer we
//! know puts it first.
//!
//! Feature `id` members are ignored: Tessera numbers features by position.
//!
//! A feature that is not valid UTF-8 is a per-feature error, unless the file is read as
//! Latin-1 ([`Encoding`]): then each feature is decoded once framed (framing is ASCII).
//!
//! May import: `model`, `ingest::read`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon,
};
use geojson::{GeometryValue, Position};
use serde::de::{Deserializer, MapAccess, Visitor};

use super::geojson_fast::FeatureParser;
use super::json_scan::{Captured, JsonScanner, ScanError};
use super::text::{Encoding, to_utf8, utf8_problem};
use super::{
    BoxError, MAX_FEATURE_BYTES, Progress, Properties, RawFeature, ReadError, Result, SourceReader,
    feature_at,
};
use crate::model::Value;
use crate::model::quality::SourcePosition;

/// The longest top-level key or `type` value looked at, in bytes of JSON text.
const MAX_KEY_BYTES: usize = 1024;

/// The largest `crs` member read, in bytes: a name or an EPSG code is a few dozen.
const MAX_CRS_BYTES: usize = 64 * 1024;

/// Read buffer size: large enough that the scanner rarely refills mid-feature.
const BUFFER_BYTES: usize = 256 * 1024;

/// The GeoJSON geometry type names.
const GEOMETRY_TYPES: [&str; 7] = [
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
];

/// Reads a GeoJSON file. See the module documentation.
pub struct GeoJsonReader {
    path: PathBuf,
    crs: Option<String>,
    bytes_total: u64,
    /// The scanner, while the features array is being streamed.
    scanner: Option<JsonScanner<BufReader<File>>>,
    /// True before the first element of the features array.
    first: bool,
    /// The single feature of a Feature or Geometry file, until it is returned.
    single: Option<Result<RawFeature>>,
    /// The 1-based index of the next feature.
    next_feature: u64,
    /// The text of the current feature.
    buf: Vec<u8>,
    parser: FeatureParser,
    encoding: Encoding,
}

/// Where [`read_members`] stopped.
enum Stop {
    /// At the opening bracket of `features`, consumed.
    Features,
    /// At the end of the top-level object, consumed.
    End,
    /// At a `type` that makes the file a single Feature or Geometry.
    Single,
}

impl GeoJsonReader {
    /// Opens `path`, whose text is in `encoding`, and reads the top-level members up to
    /// `features`.
    ///
    /// # Errors
    /// [`ReadError::Io`] when the file cannot be read, [`ReadError::Invalid`] when it is
    /// not a GeoJSON object, [`ReadError::Corrupt`] when it ends before `features`.
    pub fn open(path: &Path, encoding: Encoding) -> Result<Self> {
        let file = File::open(path).map_err(|e| ReadError::io(path, None, e))?;
        let bytes_total = file
            .metadata()
            .map_err(|e| ReadError::io(path, None, e))?
            .len();
        let mut scanner = JsonScanner::new(BufReader::with_capacity(BUFFER_BYTES, file));
        let mut kind = None;
        let mut crs = None;
        let stop = (|| {
            scanner.skip_bom()?;
            match scanner.peek_token()? {
                Some(b'{') => {}
                Some(b'[') => {
                    return Err(ScanError::Syntax(
                        "a JSON array is not GeoJSON; expected an object".to_owned(),
                    ));
                }
                Some(other) => {
                    return Err(ScanError::Syntax(format!(
                        "expected a JSON object, found '{}'",
                        char::from(other).escape_default()
                    )));
                }
                None => return Err(ScanError::Syntax("the file is empty".to_owned())),
            }
            scanner.expect(b"{", "'{'")?;
            read_members(&mut scanner, true, true, &mut kind, &mut crs)
        })()
        .map_err(|e| match e {
            ScanError::Eof => ReadError::corrupt(
                path,
                None,
                "the file ends before the features array: it is truncated",
            ),
            ScanError::Syntax(message) => {
                ReadError::invalid(path, format!("not GeoJSON: {message}"))
            }
            ScanError::Io(e) => ReadError::io(path, None, e),
        })?;
        let mut reader = Self {
            path: path.to_owned(),
            crs,
            bytes_total,
            scanner: None,
            first: true,
            single: None,
            next_feature: 1,
            buf: Vec::new(),
            parser: FeatureParser::new(),
            encoding,
        };
        match stop {
            Stop::Features => reader.scanner = Some(scanner),
            Stop::Single => {
                drop(scanner);
                match read_single(path, bytes_total, encoding) {
                    Err(error) if error.is_fatal() => return Err(error),
                    single => reader.single = Some(single),
                }
            }
            Stop::End => {
                let message = match kind.as_deref() {
                    Some("FeatureCollection") => {
                        "the FeatureCollection has no \"features\" member".to_owned()
                    }
                    Some(other) => format!("unknown GeoJSON type {other:?}"),
                    None => "the top-level object has no \"type\" member".to_owned(),
                };
                return Err(ReadError::invalid(path, message));
            }
        }
        Ok(reader)
    }

    /// Frames the next element of the features array into `self.buf`; `None` after the
    /// closing bracket.
    fn frame_next(&mut self) -> Result<Option<Captured>, ScanError> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(None);
        };
        if self.first {
            self.first = false;
            if scanner.peek_token()? == Some(b']') {
                scanner.expect(b"]", "']'")?;
                return Ok(None);
            }
        } else if scanner.expect(b",]", "',' or ']' after a feature")? == b']' {
            return Ok(None);
        }
        self.buf.clear();
        scanner
            .value(Some(&mut self.buf), MAX_FEATURE_BYTES)
            .map(Some)
    }

    /// Reads the members after the features array and checks that nothing follows.
    fn finish(&mut self) -> Result<(), ScanError> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(());
        };
        let mut kind = None;
        read_members(scanner, false, false, &mut kind, &mut self.crs)?;
        if scanner.peek_token()?.is_some() {
            return Err(ScanError::Syntax(format!(
                "unexpected data after the end of the FeatureCollection at byte {}",
                scanner.pos
            )));
        }
        Ok(())
    }

    fn next_in_collection(&mut self) -> Option<Result<RawFeature>> {
        let at = feature_at(self.next_feature);
        let framed = self.frame_next();
        let error = match framed {
            Ok(Some(Captured::Whole)) => {
                self.next_feature += 1;
                let text = to_utf8(&self.buf, self.encoding);
                return Some(
                    self.parser
                        .parse(&text, at)
                        .map_err(|e| not_utf8_or(e, &text, &self.path, at)),
                );
            }
            Ok(Some(Captured::TooLong)) => {
                self.next_feature += 1;
                return Some(Err(ReadError::feature(
                    &self.path,
                    at,
                    format!("the feature is larger than {MAX_FEATURE_BYTES} bytes"),
                )));
            }
            Ok(None) => match self.finish() {
                Ok(()) => {
                    self.scanner = None;
                    return None;
                }
                Err(ScanError::Eof) => ReadError::corrupt(
                    &self.path,
                    None,
                    "the file ends before the FeatureCollection is closed: it is truncated",
                ),
                Err(e) => self.scan_error(None, e),
            },
            Err(ScanError::Eof) => ReadError::corrupt(
                &self.path,
                Some(at),
                "the file ends inside the features array: it is truncated",
            ),
            Err(e) => self.scan_error(Some(at), e),
        };
        self.scanner = None;
        Some(Err(error))
    }

    fn scan_error(&self, at: Option<SourcePosition>, error: ScanError) -> ReadError {
        match error {
            ScanError::Io(e) => ReadError::io(&self.path, at, e),
            other => ReadError::Corrupt {
                path: self.path.clone(),
                at,
                message: "broken JSON".to_owned(),
                source: Some(Box::new(other)),
            },
        }
    }
}

impl Iterator for GeoJsonReader {
    type Item = Result<RawFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(single) = self.single.take() {
            return Some(single);
        }
        self.next_in_collection()
    }
}

impl SourceReader for GeoJsonReader {
    fn declared_crs(&self) -> Option<String> {
        self.crs.clone()
    }

    fn progress(&self) -> Option<Progress> {
        let bytes_read = self
            .scanner
            .as_ref()
            .map_or(self.bytes_total, |scanner| scanner.pos);
        Some(Progress {
            bytes_read,
            bytes_total: self.bytes_total,
        })
    }
}

/// Reads members of the top-level object, recording `type` and `crs`, until the
/// features array (when `stop_at_features`), the end of the object, or a `type` other
/// than FeatureCollection (when `stop_at_features`).
fn read_members<R: std::io::BufRead>(
    scanner: &mut JsonScanner<R>,
    mut first: bool,
    stop_at_features: bool,
    kind: &mut Option<String>,
    crs: &mut Option<String>,
) -> Result<Stop, ScanError> {
    let mut raw = Vec::new();
    loop {
        if first {
            first = false;
            if scanner.peek_token()? == Some(b'}') {
                scanner.expect(b"}", "'}'")?;
                return Ok(Stop::End);
            }
        } else if scanner.expect(b",}", "',' or '}'")? == b'}' {
            return Ok(Stop::End);
        }
        let key = scanner.key(MAX_KEY_BYTES)?;
        scanner.expect(b":", "':' after a key")?;
        raw.clear();
        match key.as_deref() {
            Some("features") if stop_at_features => {
                if scanner.peek_token()? != Some(b'[') {
                    return Err(ScanError::Syntax("\"features\" is not an array".to_owned()));
                }
                scanner.expect(b"[", "'['")?;
                return Ok(Stop::Features);
            }
            Some("type") => {
                if scanner.value(Some(&mut raw), MAX_KEY_BYTES)? == Captured::Whole {
                    *kind = serde_json::from_slice::<String>(&raw).ok();
                }
                let single = kind
                    .as_deref()
                    .is_some_and(|k| k == "Feature" || GEOMETRY_TYPES.contains(&k));
                if single && stop_at_features {
                    return Ok(Stop::Single);
                }
            }
            Some("crs") => {
                if scanner.value(Some(&mut raw), MAX_CRS_BYTES)? == Captured::Whole
                    && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&raw)
                {
                    *crs = crs_name(&value);
                }
            }
            _ => {
                scanner.value(None, 0)?;
            }
        }
    }
}

/// The CRS named by an old-style `crs` member: `{"type": "name", "properties": {"name":
/// ...}}`, or the 2008 draft's `{"type": "EPSG", "properties": {"code": ...}}`.
fn crs_name(crs: &serde_json::Value) -> Option<String> {
    let properties = crs.get("properties")?;
    match crs.get("type")?.as_str()? {
        "name" => properties
            .get("name")?
            .as_str()
            .map(|name| name.trim().to_owned()),
        "EPSG" | "epsg" => {
            let code = properties.get("code")?;
            let code = code
                .as_i64()
                .map(|c| c.to_string())
                .or_else(|| code.as_str().map(str::to_owned))?;
            Some(format!("EPSG:{code}"))
        }
        _ => None,
    }
}

/// Reads a file that holds one Feature or Geometry.
fn read_single(path: &Path, bytes_total: u64, encoding: Encoding) -> Result<RawFeature> {
    if bytes_total > MAX_FEATURE_BYTES as u64 {
        return Err(ReadError::invalid(
            path,
            format!("a single GeoJSON object larger than {MAX_FEATURE_BYTES} bytes"),
        ));
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_FEATURE_BYTES as u64).read_to_end(&mut bytes))
        .map_err(|e| ReadError::io(path, None, e))?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = to_utf8(text, encoding);
    let at = feature_at(1);
    parse_feature(&text, at).map_err(|e| not_utf8_or(e, &text, path, at))
}

/// The error of a feature `text` that did not parse: that it is not UTF-8 when so
/// (checked only then: valid text pays nothing for it), else `error`.
fn not_utf8_or(error: FeatureError, text: &[u8], path: &Path, at: SourcePosition) -> ReadError {
    match utf8_problem(text) {
        Some(problem) => ReadError::feature(path, at, format!("the feature is {problem}")),
        None => error.at(path, at),
    }
}

/// Why one Feature object could not be read.
#[derive(Debug)]
pub(crate) struct FeatureError {
    message: String,
    source: Option<BoxError>,
}

impl FeatureError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// The per-feature [`ReadError`] for the feature at `at` of `path`.
    pub(crate) fn at(self, path: &Path, at: SourcePosition) -> ReadError {
        ReadError::Feature {
            path: path.to_owned(),
            at,
            message: self.message,
            source: self.source,
        }
    }
}

/// The members of a Feature that Tessera reads.
#[derive(serde::Deserialize)]
struct FeatureObject {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    geometry: Option<geojson::Geometry>,
    #[serde(default)]
    properties: Option<JsonProperties>,
}

/// A `properties` object with its members in source order (`serde_json::Map` sorts
/// them unless serde_json's `preserve_order` feature is on).
struct JsonProperties(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonProperties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PropertiesVisitor;

        impl<'de> Visitor<'de> for PropertiesVisitor {
            type Value = JsonProperties;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a properties object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonProperties, A::Error> {
                // The hint comes from the data: bound what is reserved up front.
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(JsonProperties(members))
            }
        }

        deserializer.deserialize_map(PropertiesVisitor)
    }
}

/// Parses one Feature object (or a bare Geometry object, read as a feature without
/// properties) from its JSON text, as the feature at `at`.
///
/// The reference parser: readers go through [`FeatureParser`], which is faster and
/// falls back on this one for errors and rare shapes.
pub(crate) fn parse_feature(text: &[u8], at: SourcePosition) -> Result<RawFeature, FeatureError> {
    let invalid = |e: serde_json::Error| FeatureError {
        message: "invalid GeoJSON".to_owned(),
        source: Some(Box::new(e)),
    };
    let object: FeatureObject = serde_json::from_slice(text).map_err(invalid)?;
    match object.kind.as_str() {
        "Feature" => {
            let geometry = object
                .geometry
                .map(|g| to_geo(&g.value))
                .transpose()
                .map_err(FeatureError::new)?;
            let properties = Properties::from_pairs(
                object
                    .properties
                    .map(|p| p.0)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, value)| (name, Value::from_json(&value)))
                    .collect(),
            );
            Ok(RawFeature {
                at,
                geometry,
                properties,
            })
        }
        kind if GEOMETRY_TYPES.contains(&kind) => {
            let geometry: geojson::Geometry = serde_json::from_slice(text).map_err(invalid)?;
            let geometry = to_geo(&geometry.value).map_err(FeatureError::new)?;
            Ok(RawFeature {
                at,
                geometry: Some(geometry),
                properties: Properties::default(),
            })
        }
        "FeatureCollection" => Err(FeatureError::new(
            "a FeatureCollection where a Feature was expected",
        )),
        other => Err(FeatureError::new(format!("unknown GeoJSON type {other:?}"))),
    }
}

/// Converts a GeoJSON geometry, checking every position (`geojson`'s own conversion
/// indexes positions without checking their length).
pub(crate) fn to_geo(value: &GeometryValue) -> Result<Geometry<f64>, String> {
    Ok(match value {
        GeometryValue::Point { coordinates } => Geometry::Point(Point(coord(coordinates)?)),
        GeometryValue::MultiPoint { coordinates } => Geometry::MultiPoint(MultiPoint(
            coordinates
                .iter()
                .map(|p| coord(p).map(Point))
                .collect::<Result<_, _>>()?,
        )),
        GeometryValue::LineString { coordinates } => Geometry::LineString(line(coordinates)?),
        GeometryValue::MultiLineString { coordinates } => {
            Geometry::MultiLineString(MultiLineString(
                coordinates
                    .iter()
                    .map(|l| line(l))
                    .collect::<Result<_, _>>()?,
            ))
        }
        GeometryValue::Polygon { coordinates } => Geometry::Polygon(polygon(coordinates)?),
        GeometryValue::MultiPolygon { coordinates } => Geometry::MultiPolygon(MultiPolygon(
            coordinates
                .iter()
                .map(|p| polygon(p))
                .collect::<Result<_, _>>()?,
        )),
        GeometryValue::GeometryCollection { geometries } => {
            Geometry::GeometryCollection(GeometryCollection(
                geometries
                    .iter()
                    .map(|g| to_geo(&g.value))
                    .collect::<Result<_, _>>()?,
            ))
        }
    })
}

fn coord(position: &Position) -> Result<Coord<f64>, String> {
    match position.as_slice() {
        [x, y, ..] => Ok(Coord { x: *x, y: *y }),
        other => Err(format!(
            "a position needs at least two numbers, found {}",
            other.len()
        )),
    }
}

fn line(positions: &[Position]) -> Result<LineString<f64>, String> {
    positions
        .iter()
        .map(coord)
        .collect::<Result<Vec<_>, _>>()
        .map(LineString)
}

fn polygon(rings: &[Vec<Position>]) -> Result<Polygon<f64>, String> {
    let mut rings = rings.iter().map(|r| line(r));
    let exterior = rings
        .next()
        .transpose()?
        .unwrap_or_else(|| LineString(Vec::new()));
    let interiors = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

#[cfg(test)]
mod tests;
