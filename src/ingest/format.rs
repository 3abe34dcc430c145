//! Source formats: their names on the command line and their detection from a file.
//!
//! Detection looks at the first bytes before the extension, so that a FlatGeobuf or
//! shapefile with a misleading name is still recognised, then uses the extension, and
//! sniffs text only where the extension leaves a choice (`.json` may hold a
//! FeatureCollection or one feature per line; `.txt` may be CSV or JSON).
//!
//! May import: nothing from the crate.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How many bytes of a file [`Format::detect`] looks at.
///
/// 64 KiB holds the first line of any CSV header and of most GeoJSONSeq files; a longer
/// first line is taken for a FeatureCollection (see [`Format::detect`]).
pub const SNIFF_BYTES: usize = 64 * 1024;

/// A source format that `tessera ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A GeoJSON FeatureCollection (RFC 7946), or a single Feature or Geometry.
    GeoJson,
    /// GeoJSON text sequences (RFC 8142) and newline-delimited GeoJSON: one Feature per line.
    GeoJsonSeq,
    /// Delimited text with coordinate columns or a WKT column.
    Csv,
    /// FlatGeobuf.
    FlatGeobuf,
    /// ESRI shapefile: `.shp` with its `.dbf` and `.prj`.
    Shapefile,
}

/// Why a format name or a file's format was not recognised.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A `--format` value that names no format.
    #[error("unknown format {0:?}: use one of geojson, geojsonseq, csv, fgb, shapefile")]
    UnknownName(String),
    /// The file could not be read.
    #[error("{}: cannot read the file", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// Neither the first bytes nor the extension tell the format.
    #[error("{}: cannot tell the format: {reason}; pass --format", path.display())]
    Undetected {
        /// The file.
        path: PathBuf,
        /// What was seen.
        reason: String,
    },
}

impl Format {
    /// Every format, in the order they are documented.
    pub const ALL: [Format; 5] = [
        Format::GeoJson,
        Format::GeoJsonSeq,
        Format::Csv,
        Format::FlatGeobuf,
        Format::Shapefile,
    ];

    /// The canonical name, as accepted by `--format` and stored in layer metadata.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::GeoJson => "geojson",
            Format::GeoJsonSeq => "geojsonseq",
            Format::Csv => "csv",
            Format::FlatGeobuf => "fgb",
            Format::Shapefile => "shapefile",
        }
    }

    /// Tells the format of the file at `path`.
    ///
    /// In order: magic bytes (FlatGeobuf `fgb\x03fgb`, shapefile file code 9994; zip and
    /// gzip archives are refused with a hint), then the extension (`.geojson`/`.json`,
    /// `.geojsonl`/`.geojsons`/`.ndjson`/`.jsonl`, `.csv`/`.tsv`/`.txt`, `.fgb`,
    /// `.shp`/`.shx`/`.dbf`), then the text itself.
    ///
    /// JSON is taken for GeoJSONSeq when it starts with the RFC 8142 record separator, or
    /// when its first line is a complete JSON object other than a FeatureCollection and
    /// more text follows; otherwise (pretty-printed, or a first line longer than
    /// [`SNIFF_BYTES`]) it is taken for GeoJSON.
    ///
    /// # Examples
    /// ```
    /// use tessera::ingest::format::Format;
    /// let dir = std::env::temp_dir().join("tessera-format-doc");
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("points.data");
    /// std::fs::write(&path, "name;lon;lat\na;2.35;48.85\n").unwrap();
    /// assert_eq!(Format::detect(&path).unwrap(), Format::Csv);
    /// ```
    ///
    /// # Errors
    /// [`FormatError::Io`] when the file cannot be read, [`FormatError::Undetected`]
    /// when nothing tells the format.
    pub fn detect(path: &Path) -> Result<Format, FormatError> {
        let head = read_head(path).map_err(|source| FormatError::Io {
            path: path.to_owned(),
            source,
        })?;
        let undetected = |reason: &str| FormatError::Undetected {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(format) = sniff_magic(&head) {
            return Ok(format);
        }
        if head.starts_with(b"PK\x03\x04") {
            return Err(undetected("it is a zip archive; unzip it first"));
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            return Err(undetected("it is gzip-compressed; decompress it first"));
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match extension.as_str() {
            "fgb" => Ok(Format::FlatGeobuf),
            "shp" | "shx" | "dbf" => Ok(Format::Shapefile),
            "csv" | "tsv" => Ok(Format::Csv),
            "geojsonl" | "geojsons" | "geojsonseq" | "ndjson" | "jsonl" => Ok(Format::GeoJsonSeq),
            "geojson" | "json" => Ok(sniff_json(&head).unwrap_or(Format::GeoJson)),
            _ => {
                if let Some(format) = sniff_json(&head) {
                    Ok(format)
                } else if looks_delimited(&head) {
                    Ok(Format::Csv)
                } else if head.is_empty() {
                    Err(undetected("the file is empty"))
                } else {
                    Err(undetected(
                        "not FlatGeobuf, shapefile, GeoJSON, nor delimited text",
                    ))
                }
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = FormatError;

    /// Parses a `--format` value, case-insensitively, with common aliases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "geojson" | "json" => Ok(Format::GeoJson),
            "geojsonseq" | "geojsonl" | "geojsons" | "ndjson" | "jsonl" => Ok(Format::GeoJsonSeq),
            "csv" | "tsv" => Ok(Format::Csv),
            "fgb" | "flatgeobuf" => Ok(Format::FlatGeobuf),
            "shp" | "shapefile" => Ok(Format::Shapefile),
            _ => Err(FormatError::UnknownName(s.to_owned())),
        }
    }
}

/// Reads at most [`SNIFF_BYTES`] from the start of the file.
fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Binary formats recognised by their first bytes.
fn sniff_magic(head: &[u8]) -> Option<Format> {
    if head.len() >= 8 && &head[0..3] == b"fgb" && &head[4..7] == b"fgb" {
        return Some(Format::FlatGeobuf);
    }
    // The .shp and .shx headers open with the big-endian file code 9994.
    if head.len() >= 100 && head[0..4] == 9994_i32.to_be_bytes() {
        return Some(Format::Shapefile);
    }
    None
}

/// Strips a UTF-8 byte order mark and leading whitespace.
fn trim_start(head: &[u8]) -> &[u8] {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    &head[start..]
}

/// Tells GeoJSON from GeoJSONSeq; `None` when the text does not start like JSON.
fn sniff_json(head: &[u8]) -> Option<Format> {
    #[derive(serde::Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type")]
        kind: Option<String>,
    }

    let text = trim_start(head);
    match text.first() {
        Some(0x1e) => return Some(Format::GeoJsonSeq),
        Some(b'{') => {}
        _ => return None,
    }
    let Some(end) = text.iter().position(|&b| b == b'\n') else {
        // One line, or a first line longer than the window: a FeatureCollection, or a
        // single object that the GeoJSON reader reads as well.
        return Some(Format::GeoJson);
    };
    let rest = trim_start(&text[end..]);
    match serde_json::from_slice::<TypeOnly>(&text[..end]) {
        Ok(first) if first.kind.as_deref() != Some("FeatureCollection") && !rest.is_empty() => {
            Some(Format::GeoJsonSeq)
        }
        _ => Some(Format::GeoJson),
    }
}

/// True when the first line holds one of the delimiters the CSV reader detects.
fn looks_delimited(head: &[u8]) -> bool {
    let text = trim_start(head);
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    line.iter().any(|b| matches!(b, b',' | b';' | b'\t' | b'|'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_text(name: &str, text: &[u8]) -> Result<Format, FormatError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        Format::detect(&path)
    }

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>().ok(), Some(format));
            assert_eq!(format.to_string(), format.name());
        }
        assert_eq!("NDJSON".parse::<Format>().ok(), Some(Format::GeoJsonSeq));
        assert_eq!(
            "flatgeobuf".parse::<Format>().ok(),
            Some(Format::FlatGeobuf)
        );
        assert_eq!("shp".parse::<Format>().ok(), Some(Format::Shapefile));
        assert!(matches!(
            "gpkg".parse::<Format>(),
            Err(FormatError::UnknownName(_))
        ));
    }

    #[test]
    fn detects_by_extension() {
        let fc = br#"{"type":"FeatureCollection","features":[]}"#;
        let seq = b"{\"type\":\"Feature\",\"geometry\":null,\"properties\":{}}\n{\"type\":\"Feature\",\"geometry\":null,\"properties\":{}}\n";
        assert_eq!(detect_text("a.geojson", fc).ok(), Some(Format::GeoJson));
        assert_eq!(detect_text("a.ndjson", seq).ok(), Some(Format::GeoJsonSeq));
        assert_eq!(
            detect_text("a.geojsonl", seq).ok(),
            Some(Format::GeoJsonSeq)
        );
        assert_eq!(detect_text("a.csv", b"x,y\n1,2\n").ok(), Some(Format::Csv));
        assert_eq!(
            detect_text("a.TSV", b"x\ty\n1\t2\n").ok(),
            Some(Format::Csv)
        );
        // The extension is trusted for binary formats whose magic is missing: the reader
        // then reports the corruption.
        assert_eq!(detect_text("a.fgb", b"junk").ok(), Some(Format::FlatGeobuf));
        assert_eq!(detect_text("a.shp", b"junk").ok(), Some(Format::Shapefile));
    }

    #[test]
    fn detects_by_sniffing() {
        let mut fgb = b"fgb\x03fgb\x00".to_vec();
        fgb.extend_from_slice(&[0; 16]);
        assert_eq!(detect_text("data.bin", &fgb).ok(), Some(Format::FlatGeobuf));
        let mut shp = 9994_i32.to_be_bytes().to_vec();
        shp.resize(100, 0);
        assert_eq!(detect_text("data", &shp).ok(), Some(Format::Shapefile));
        // A .json whose first line is a whole Feature and more follows: GeoJSONSeq.
        let seq = b"{\"type\":\"Feature\",\"geometry\":null,\"properties\":{}}\n{\"type\":\"Feature\",\"geometry\":null,\"properties\":{}}\n";
        assert_eq!(detect_text("a.json", seq).ok(), Some(Format::GeoJsonSeq));
        // RFC 8142 record separator.
        assert_eq!(
            detect_text("a.txt", b"\x1e{\"type\":\"Feature\"}\n").ok(),
            Some(Format::GeoJsonSeq)
        );
        // Pretty-printed and single-line FeatureCollections.
        let pretty = b"{\n  \"type\": \"FeatureCollection\",\n  \"features\": []\n}\n";
        assert_eq!(detect_text("a.json", pretty).ok(), Some(Format::GeoJson));
        let one_line = b"{\"type\":\"FeatureCollection\",\"features\":[]}\n";
        assert_eq!(detect_text("a.data", one_line).ok(), Some(Format::GeoJson));
        // A single-line Feature alone is read as GeoJSON.
        let single = b"\xEF\xBB\xBF{\"type\":\"Feature\",\"geometry\":null}\n";
        assert_eq!(detect_text("a.json", single).ok(), Some(Format::GeoJson));
        // Delimited text without a known extension.
        assert_eq!(
            detect_text("points.txt", b"name;lon;lat\na;1;2\n").ok(),
            Some(Format::Csv)
        );
    }

    #[test]
    fn refuses_archives_and_unknown_text() {
        assert!(matches!(
            detect_text("a.zip", b"PK\x03\x04rest"),
            Err(FormatError::Undetected { .. })
        ));
        assert!(matches!(
            detect_text("a.geojson.gz", &[0x1f, 0x8b, 8, 0]),
            Err(FormatError::Undetected { .. })
        ));
        assert!(matches!(
            detect_text("notes", b"just words\n"),
            Err(FormatError::Undetected { .. })
        ));
        assert!(matches!(
            detect_text("empty", b""),
            Err(FormatError::Undetected { .. })
        ));
        let missing = Path::new("/nonexistent/tessera/file.csv");
        assert!(matches!(
            Format::detect(missing),
            Err(FormatError::Io { .. })
        ));
    }
}
