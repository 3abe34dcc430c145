//! FlatGeobuf: header CRS and columns, then the features in file order.
//!
//! # Why not `flatgeobuf::FgbReader`
//! The crate's reader trusts the file more than a server should: it sizes its feature
//! buffer from each 4-byte size prefix before reading (a corrupt prefix asks for 4 GiB),
//! asserts on an index node size of 1, and decodes properties and geometry parts by
//! indexing without bounds checks. This reader keeps the crate's FlatBuffers schema and
//! verifier but does the framing and decoding itself: every size is checked against
//! [`MAX_FEATURE_BYTES`] and the bytes left in the file, every offset against its buffer.
//!
//! A broken frame or a feature that fails FlatBuffers verification is fatal; a verified
//! feature whose geometry or properties do not make sense is a per-feature error.
//!
//! Values: integer columns → integer (an unsigned 64-bit value above `i64::MAX` →
//! float), float columns → float (non-finite → null), `String`, `Json` and `DateTime`
//! columns → text, `Binary` → null. Every column appears in every feature, null when the
//! feature has no value for it. Z and M are dropped; curve and surface types are
//! per-feature errors.
//!
//! May import: `model`, `ingest::read`.

mod decode;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ::flatgeobuf::GeometryType;

use super::properties::Columns;
use super::{
    MAX_FEATURE_BYTES, Progress, Properties, RawFeature, ReadError, Result, SourceReader,
    feature_at,
};
use crate::model::Value;
use decode::{Column, decode_geometry, decode_properties};

/// The FlatGeobuf magic: `fgb`, the major version, `fgb`, the patch version.
const MAGIC: [u8; 3] = *b"fgb";

/// The newest major version read.
const MAX_VERSION: u8 = 3;

/// The largest header accepted, in bytes: the same 10 MiB as the reference readers,
/// which leaves room for thousands of columns and a long WKT.
const MAX_HEADER_BYTES: usize = 10 * 1024 * 1024;

/// The size of one packed R-tree node: four `f64` bounds and a `u64` offset.
const NODE_ITEM_BYTES: u64 = 40;

/// Reads a FlatGeobuf file. See the module documentation.
pub struct FgbReader {
    path: PathBuf,
    /// The input, positioned at the next feature; `None` once finished.
    input: Option<BufReader<File>>,
    pos: u64,
    bytes_total: u64,
    columns: Vec<Column>,
    /// The header's column names as property names.
    names: Columns,
    geometry_type: GeometryType,
    /// Features the header declares; 0 when unknown (a streamed file).
    features_count: u64,
    crs: Option<String>,
    next_feature: u64,
    buf: Vec<u8>,
}

impl FgbReader {
    /// Opens `path`, reads and verifies its header and skips its spatial index.
    ///
    /// # Errors
    /// [`ReadError::Io`] when the file cannot be read, [`ReadError::Invalid`] when it is
    /// not FlatGeobuf, [`ReadError::Corrupt`] when its header is damaged.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |e| ReadError::io(path, None, e);
        let file = File::open(path).map_err(io)?;
        let bytes_total = file.metadata().map_err(io)?.len();
        let mut input = BufReader::with_capacity(256 * 1024, file);

        let mut magic = [0_u8; 8];
        if read_full(&mut input, &mut magic).map_err(io)? < magic.len()
            || magic[0..3] != MAGIC
            || magic[4..7] != MAGIC
        {
            return Err(ReadError::invalid(
                path,
                "not a FlatGeobuf file (bad magic bytes)",
            ));
        }
        if magic[3] > MAX_VERSION {
            return Err(ReadError::invalid(
                path,
                format!("FlatGeobuf version {} is not supported", magic[3]),
            ));
        }

        let mut size = [0_u8; 4];
        if read_full(&mut input, &mut size).map_err(io)? < size.len() {
            return Err(ReadError::corrupt(path, None, "the header is truncated"));
        }
        let header_size = u32::from_le_bytes(size) as usize;
        let mut pos: u64 = 12;
        if !(8..=MAX_HEADER_BYTES).contains(&header_size)
            || header_size as u64 > bytes_total.saturating_sub(pos)
        {
            return Err(ReadError::corrupt(
                path,
                None,
                format!("the header declares an impossible size of {header_size} bytes"),
            ));
        }
        let mut header_buf = size.to_vec();
        header_buf.resize(4 + header_size, 0);
        input.read_exact(&mut header_buf[4..]).map_err(io)?;
        pos += header_size as u64;
        let header = ::flatgeobuf::size_prefixed_root_as_header(&header_buf).map_err(|e| {
            ReadError::Corrupt {
                path: path.to_owned(),
                at: None,
                message: "the header is damaged".to_owned(),
                source: Some(Box::new(e)),
            }
        })?;

        let columns: Vec<Column> = header
            .columns()
            .map(|columns| {
                columns
                    .iter()
                    .map(|c| Column {
                        name: c.name().to_owned(),
                        kind: c.type_(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let crs = header.crs().and_then(|crs| {
            let org = crs
                .org()
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .unwrap_or("EPSG")
                .to_ascii_uppercase();
            if crs.code() != 0 {
                Some(format!("{org}:{}", crs.code()))
            } else if let Some(code) = crs.code_string().filter(|c| !c.trim().is_empty()) {
                Some(format!("{org}:{}", code.trim()))
            } else {
                crs.wkt()
                    .filter(|w| !w.trim().is_empty())
                    .map(|w| w.trim().to_owned())
            }
        });
        let features_count = header.features_count();
        let index_bytes =
            index_size(features_count, header.index_node_size()).ok_or_else(|| {
                ReadError::corrupt(
                    path,
                    None,
                    format!(
                        "the header declares an impossible index ({features_count} features, \
                     node size {})",
                        header.index_node_size()
                    ),
                )
            })?;
        if index_bytes > bytes_total.saturating_sub(pos) {
            return Err(ReadError::corrupt(
                path,
                None,
                "the spatial index runs past the end of the file: it is truncated",
            ));
        }
        let geometry_type = header.geometry_type();
        let skip = i64::try_from(index_bytes)
            .map_err(|_| ReadError::corrupt(path, None, "the spatial index is impossibly large"))?;
        input.seek_relative(skip).map_err(io)?;
        pos += index_bytes;

        let names = Columns::new(columns.iter().map(|c| c.name.as_str()));
        Ok(Self {
            path: path.to_owned(),
            input: Some(input),
            pos,
            bytes_total,
            columns,
            names,
            geometry_type,
            features_count,
            crs,
            next_feature: 1,
            buf: Vec::new(),
        })
    }

    /// Reads the next feature's bytes into `self.buf`; `Ok(false)` at the end.
    fn frame_next(&mut self) -> Result<bool> {
        let feature = self.next_feature;
        let at = Some(feature_at(feature));
        let Some(input) = self.input.as_mut() else {
            return Ok(false);
        };
        if self.features_count > 0 && feature > self.features_count {
            return Ok(false);
        }
        let mut size = [0_u8; 4];
        let n = read_full(input, &mut size).map_err(|e| ReadError::io(&self.path, at, e))?;
        if n == 0 {
            if self.features_count > 0 && feature <= self.features_count {
                return Err(ReadError::corrupt(
                    &self.path,
                    None,
                    format!(
                        "the header declares {} features but the file ends after {}: it is \
                         truncated",
                        self.features_count,
                        feature - 1
                    ),
                ));
            }
            return Ok(false);
        }
        if n < size.len() {
            return Err(ReadError::corrupt(&self.path, at, "the file is truncated"));
        }
        self.pos += 4;
        let len = u32::from_le_bytes(size) as usize;
        let left = self.bytes_total.saturating_sub(self.pos);
        if len > MAX_FEATURE_BYTES {
            return Err(ReadError::corrupt(
                &self.path,
                at,
                format!(
                    "the feature declares {len} bytes, more than the {MAX_FEATURE_BYTES} accepted"
                ),
            ));
        }
        if len as u64 > left {
            return Err(ReadError::corrupt(
                &self.path,
                at,
                format!(
                    "the feature declares {len} bytes but {left} are left: the file is truncated"
                ),
            ));
        }
        self.buf.clear();
        self.buf.extend_from_slice(&size);
        self.buf.resize(4 + len, 0);
        input
            .read_exact(&mut self.buf[4..])
            .map_err(|e| ReadError::io(&self.path, at, e))?;
        self.pos += len as u64;
        Ok(true)
    }

    /// Decodes the feature in `self.buf`.
    fn decode(&self) -> Result<RawFeature> {
        let at = feature_at(self.next_feature);
        let feature = ::flatgeobuf::size_prefixed_root_as_feature(&self.buf).map_err(|e| {
            ReadError::Corrupt {
                path: self.path.clone(),
                at: Some(at),
                message: "the feature is damaged".to_owned(),
                source: Some(Box::new(e)),
            }
        })?;
        let geometry = feature
            .geometry()
            .map(|g| decode_geometry(g, self.geometry_type, 0))
            .transpose()
            .map_err(|message| ReadError::feature(&self.path, at, message))?
            .flatten();
        let own_columns: Option<Vec<Column>> = feature.columns().and_then(|columns| {
            (!columns.is_empty()).then(|| {
                columns
                    .iter()
                    .map(|c| Column {
                        name: c.name().to_owned(),
                        kind: c.type_(),
                    })
                    .collect()
            })
        });
        let columns = own_columns.as_deref().unwrap_or(&self.columns);
        let values: Vec<Value> = decode_properties(
            feature.properties().map(|p| p.bytes()).unwrap_or_default(),
            columns,
        )
        .map_err(|message| ReadError::feature(&self.path, at, message))?;
        let properties = match &own_columns {
            None => self.names.properties(values),
            Some(own) => Properties::from_pairs(
                own.iter()
                    .zip(values)
                    .map(|(c, v)| (c.name.clone(), v))
                    .collect(),
            ),
        };
        Ok(RawFeature {
            at,
            geometry,
            properties,
        })
    }
}

impl Iterator for FgbReader {
    type Item = Result<RawFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.frame_next() {
            Ok(true) => {
                let item = self.decode();
                self.next_feature += 1;
                if item.as_ref().is_err_and(ReadError::is_fatal) {
                    self.input = None;
                }
                Some(item)
            }
            Ok(false) => {
                self.input = None;
                None
            }
            Err(error) => {
                self.input = None;
                Some(Err(error))
            }
        }
    }
}

impl SourceReader for FgbReader {
    fn declared_crs(&self) -> Option<String> {
        self.crs.clone()
    }

    fn progress(&self) -> Option<Progress> {
        Some(Progress {
            bytes_read: self.pos,
            bytes_total: self.bytes_total,
        })
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The size of the packed Hilbert R-tree of `count` features, in bytes; `None` when the
/// header's numbers cannot describe an index.
fn index_size(count: u64, node_size: u16) -> Option<u64> {
    if node_size == 0 || count == 0 {
        return Some(0);
    }
    if node_size < 2 {
        return None;
    }
    let node_size = u64::from(node_size);
    let mut level = count;
    let mut nodes = count;
    while level > 1 {
        level = level.div_ceil(node_size);
        nodes = nodes.checked_add(level)?;
    }
    if count == 1 {
        // A single feature still gets a root node above its leaf.
        nodes += 1;
    }
    nodes.checked_mul(NODE_ITEM_BYTES)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{features, prop, read_checked};
    use super::*;
    use ::flatgeobuf::{ColumnType, FgbCrs, FgbWriter, FgbWriterOptions};
    use geo_types::{Geometry, Polygon};
    use geo_types::{line_string, point, polygon};
    use geozero::{ColumnValue, PropertyProcessor};

    fn square_with_hole() -> Polygon<f64> {
        polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)],
            interiors: [[(x: 2.0, y: 2.0), (x: 2.0, y: 4.0), (x: 4.0, y: 4.0), (x: 4.0, y: 2.0)]],
        )
    }

    /// Writes three features of mixed types with a column of each common type.
    fn write_fgb(path: &Path, write_index: bool) {
        let options = FgbWriterOptions {
            write_index,
            detect_type: false,
            promote_to_multi: false,
            crs: FgbCrs {
                code: 2154,
                ..FgbCrs::default()
            },
            ..FgbWriterOptions::default()
        };
        let mut fgb = FgbWriter::create_with_options("parcels", GeometryType::Unknown, options)
            .expect("create");
        fgb.add_column("name", ColumnType::String, |_, _| {});
        fgb.add_column("area", ColumnType::Double, |_, _| {});
        fgb.add_column("floors", ColumnType::Int, |_, _| {});
        fgb.add_column("listed", ColumnType::Bool, |_, _| {});
        fgb.add_column("id", ColumnType::ULong, |_, _| {});
        let geometries = [
            Geometry::Point(point!(x: 652_470.5, y: 6_862_035.25)),
            Geometry::Polygon(square_with_hole()),
            Geometry::LineString(line_string![(x: 1.0, y: 2.0), (x: 3.0, y: 4.0)]),
        ];
        for (i, geometry) in geometries.into_iter().enumerate() {
            fgb.add_feature_geom(geometry, |feature| {
                let name = format!("feature {}", i + 1);
                feature
                    .property(0, "name", &ColumnValue::String(&name))
                    .expect("name");
                feature
                    .property(1, "area", &ColumnValue::Double(12.5 * i as f64))
                    .expect("area");
                if i != 1 {
                    feature
                        .property(2, "floors", &ColumnValue::Int(3 - i as i32))
                        .expect("floors");
                }
                feature
                    .property(3, "listed", &ColumnValue::Bool(i == 0))
                    .expect("listed");
                feature
                    .property(4, "id", &ColumnValue::ULong(u64::MAX - i as u64))
                    .expect("id");
            })
            .expect("add feature");
        }
        let mut out = std::io::BufWriter::new(File::create(path).expect("create file"));
        fgb.write(&mut out).expect("write");
        std::io::Write::flush(&mut out).expect("flush");
    }

    fn read(path: &Path) -> (Option<String>, Vec<RawFeature>) {
        let reader = FgbReader::open(path).expect("open");
        let crs = reader.declared_crs();
        (crs, features(read_checked(Box::new(reader))))
    }

    #[test]
    fn reads_back_what_the_flatgeobuf_writer_wrote() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("parcels.fgb");
        write_fgb(&path, false);
        let (crs, items) = read(&path);
        assert_eq!(crs.as_deref(), Some("EPSG:2154"));
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].at, feature_at(1));
        assert_eq!(
            items[0].geometry,
            Some(Geometry::Point(point!(x: 652_470.5, y: 6_862_035.25)))
        );
        assert_eq!(
            items[1].geometry,
            Some(Geometry::Polygon(square_with_hole()))
        );
        assert_eq!(
            items[2].geometry,
            Some(Geometry::LineString(
                line_string![(x: 1.0, y: 2.0), (x: 3.0, y: 4.0)]
            ))
        );
        let names: Vec<&str> = items[0]
            .properties
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["name", "area", "floors", "listed", "id"]);
        assert_eq!(
            prop(&items[0], "name"),
            Some(&Value::String("feature 1".into()))
        );
        assert_eq!(prop(&items[0], "area"), Some(&Value::Float(0.0)));
        assert_eq!(prop(&items[0], "floors"), Some(&Value::Int(3)));
        assert_eq!(prop(&items[0], "listed"), Some(&Value::Bool(true)));
        assert_eq!(prop(&items[0], "id"), Some(&Value::Float(u64::MAX as f64)));
        assert_eq!(
            prop(&items[1], "floors"),
            Some(&Value::Null),
            "absent value"
        );
        assert_eq!(prop(&items[1], "area"), Some(&Value::Float(12.5)));
        assert_eq!(prop(&items[2], "listed"), Some(&Value::Bool(false)));
    }

    #[test]
    fn skips_the_spatial_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("indexed.fgb");
        write_fgb(&path, true);
        let (_, items) = read(&path);
        // Indexed files are Hilbert-sorted: compare as a set.
        let mut names: Vec<String> = items
            .iter()
            .filter_map(|f| match prop(f, "name") {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        assert_eq!(names, ["feature 1", "feature 2", "feature 3"]);
    }

    #[test]
    fn index_sizes_match_the_reference() {
        for count in [1_usize, 2, 15, 16, 17, 256, 1000, 4097] {
            for node in [2_u16, 16, 100] {
                assert_eq!(
                    index_size(count as u64, node),
                    Some(::flatgeobuf::packed_r_tree::PackedRTree::index_size(count, node) as u64),
                    "{count} features, node size {node}"
                );
            }
        }
        assert_eq!(index_size(10, 1), None);
        assert_eq!(index_size(0, 16), Some(0));
        assert_eq!(index_size(10, 0), Some(0));
    }

    #[test]
    fn truncation_and_damage_are_fatal_errors_not_panics() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("parcels.fgb");
        write_fgb(&path, false);
        let bytes = std::fs::read(&path).expect("read");

        // Cut at every length: opening or reading fails cleanly, never panics, and
        // whatever is read before the cut is intact.
        for len in 0..bytes.len() {
            let cut = dir.path().join("cut.fgb");
            std::fs::write(&cut, &bytes[..len]).expect("write");
            let Ok(reader) = FgbReader::open(&cut) else {
                continue;
            };
            let items = read_checked(Box::new(reader));
            let last = items.last().expect("at least an error");
            assert!(
                last.as_ref().is_err_and(ReadError::is_fatal),
                "cut at {len}"
            );
        }

        // Flip bytes one at a time after the magic: an error or a feature, never a panic.
        for i in 8..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0xA5;
            let bad = dir.path().join("bad.fgb");
            std::fs::write(&bad, &damaged).expect("write");
            if let Ok(reader) = FgbReader::open(&bad) {
                read_checked(Box::new(reader));
            }
        }
    }

    #[test]
    fn a_huge_size_prefix_is_refused_before_allocating() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("parcels.fgb");
        write_fgb(&path, false);
        let mut bytes = std::fs::read(&path).expect("read");
        let header_size = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        let first_feature = 12 + header_size;
        bytes[first_feature..first_feature + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).expect("write");
        let items = read_checked(Box::new(FgbReader::open(&path).expect("open")));
        assert_eq!(items.len(), 1);
        let error = items[0].as_ref().expect_err("refused");
        assert!(error.to_string().contains("more than"), "{error}");
    }

    #[test]
    fn refuses_other_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.fgb");
        std::fs::write(&path, b"not a flatgeobuf file at all").expect("write");
        assert!(matches!(
            FgbReader::open(&path),
            Err(ReadError::Invalid { .. })
        ));
        std::fs::write(&path, b"fgb\x09fgb\x00").expect("write");
        assert!(matches!(
            FgbReader::open(&path),
            Err(ReadError::Invalid { .. })
        ));
    }
}
