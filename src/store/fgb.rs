//! FlatGeobuf encoding of a layer version's features.
//!
//! Features are written in the order of the file's packed Hilbert R-tree, which
//! reorders them; the feature id travels in a hidden column, [`FID_COLUMN`], so that
//! reading restores the ingest order and ids.
//!
//! # Why not `flatgeobuf::FgbWriter`
//!
//! It spools the encoded features to a temporary file and copies them back in Hilbert
//! order with one seek and one read each, through a `BufReader` that every seek empties:
//! for a million parcels, a million `lseek` and 8 KiB `read` calls. Its sort also
//! recomputes the Hilbert value of both sides of every comparison. This writer encodes
//! each feature once into memory, in input order, noting its box on the way; sorts by
//! a Hilbert value computed once per feature; builds the index from the encoded sizes;
//! and then writes header, index and features in one sequential pass. For non-empty
//! single-type layers the file is byte for byte the one `FgbWriter` wrote (a test
//! checks it).
//!
//! Reading still uses `flatgeobuf::FgbReader`.
//!
//! May import: `model`.

use std::cmp::Reverse;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::ops::Range;
use std::path::Path;

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use flatgeobuf::packed_r_tree::{NodeItem, PackedRTree, calc_extent};
use flatgeobuf::{
    Column, ColumnArgs, ColumnType, Crs, CrsArgs, FallibleStreamingIterator as _, FeatureArgs,
    FgbReader, GeometryArgs, GeometryType, Header, HeaderArgs,
};
use geo_types::{Coord, Geometry as G, LineString};
use geozero::{ColumnValue, PropertyProcessor, ToGeo as _};

use super::{Result, StoreError, io_err};
use crate::model::{Feature, FieldType, LayerMeta, Schema, Value};

/// Name of the column that stores the feature id.
pub const FID_COLUMN: &str = "__tessera_fid";

/// The start of every FlatGeobuf file (`flatgeobuf::MAGIC_BYTES` is not public).
const MAGIC_BYTES: [u8; 8] = [b'f', b'g', b'b', flatgeobuf::VERSION, b'f', b'g', b'b', 0];

/// Branching factor of the R-tree, the FlatGeobuf default that readers expect.
const INDEX_NODE_SIZE: u16 = PackedRTree::DEFAULT_NODE_SIZE;

/// The largest encoded feature this writer attempts, in bytes (counted as its parts
/// are added, before each goes into the builder). A FlatBuffers builder holds at most
/// 2 GiB and panics beyond that; ingest of sane data never comes near, but one absurd
/// geometry in a source file should fail that ingest with an error, not abort the
/// process.
const MAX_FEATURE_BYTES: usize = 1 << 30;

/// Bytes counted towards [`MAX_FEATURE_BYTES`] for each table besides its vectors: its
/// vtable, fields, vector lengths and padding, generously.
const TABLE_BYTES: usize = 64;

/// Size of the chunks that hold the encoded features until they are written.
const CHUNK_BYTES: usize = 16 << 20;

/// Output buffer size: large writes, few system calls.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Largest coordinate of the Hilbert grid the feature centres are snapped to.
const HILBERT_MAX: u32 = (1 << 16) - 1;

fn fgb_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::FlatGeobuf {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn geometry_kind(g: &G<f64>) -> GeometryType {
    match g {
        G::Point(_) => GeometryType::Point,
        G::MultiPoint(_) => GeometryType::MultiPoint,
        G::LineString(_) | G::Line(_) => GeometryType::LineString,
        G::MultiLineString(_) => GeometryType::MultiLineString,
        G::Polygon(_) | G::Rect(_) | G::Triangle(_) => GeometryType::Polygon,
        G::MultiPolygon(_) => GeometryType::MultiPolygon,
        G::GeometryCollection(_) => GeometryType::GeometryCollection,
    }
}

/// The FlatGeobuf geometry type that holds every feature, and whether single
/// geometries must be promoted to multi ones.
fn dataset_type(features: &[Feature]) -> (GeometryType, bool) {
    let mut types = features.iter().map(|f| geometry_kind(&f.geometry));
    let Some(first) = types.next() else {
        return (GeometryType::Unknown, false);
    };
    let (mut all_same, mut only_polygonal, mut only_lineal) = (true, true, true);
    for t in std::iter::once(first).chain(types) {
        all_same &= t == first;
        only_polygonal &= matches!(t, GeometryType::Polygon | GeometryType::MultiPolygon);
        only_lineal &= matches!(t, GeometryType::LineString | GeometryType::MultiLineString);
    }
    if all_same {
        (first, false)
    } else if only_polygonal {
        (GeometryType::MultiPolygon, true)
    } else if only_lineal {
        (GeometryType::MultiLineString, true)
    } else {
        (GeometryType::Unknown, false)
    }
}

fn column_type(t: FieldType) -> ColumnType {
    match t {
        FieldType::Boolean => ColumnType::Bool,
        FieldType::Integer => ColumnType::Long,
        FieldType::Number => ColumnType::Double,
        FieldType::String => ColumnType::String,
    }
}

/// Writes features (WGS84) to a FlatGeobuf file with a spatial index, synced to disk.
///
/// Holds the encoded layer in memory while writing: about the size of the file, a
/// fraction of the size of `features`.
pub(super) fn write_features(path: &Path, meta: &LayerMeta, features: &[Feature]) -> Result<()> {
    let started = std::time::Instant::now();
    let (geometry_type, promote_to_multi) = dataset_type(features);
    // Property records address columns with a u16; the id column comes last.
    let fid_column = u16::try_from(meta.schema.fields.len())
        .map_err(|_| fgb_err(path, "more than 65535 columns"))?;
    let count = u64::try_from(features.len()).map_err(|e| fgb_err(path, e))?;

    // Encode in input order, which reads the features where they lie in memory, one
    // after the other; in Hilbert order nearly every feature would be a cache miss.
    let mut encoder = FeatureEncoder::new(geometry_type, promote_to_multi);
    let mut encoded = Chunks::with_capacity(features.len());
    let mut boxes = Vec::with_capacity(features.len());
    for feature in features {
        let (bytes, bbox) = encoder
            .encode(feature, &meta.schema, fid_column)
            .map_err(|e| fgb_err(path, format!("feature {}: {e}", feature.id)))?;
        encoded.push(bytes);
        boxes.push(bbox);
    }
    let encoded_s = started.elapsed().as_secs_f64();

    let extent = calc_extent(&boxes);
    let order = hilbert_order(&boxes, &extent);
    let tree = if features.is_empty() {
        None
    } else {
        let mut offset = 0;
        let leaves: Vec<NodeItem> = order
            .iter()
            .map(|&i| {
                let leaf = NodeItem {
                    offset,
                    ..boxes[i].clone()
                };
                offset += encoded.get(i).len() as u64;
                leaf
            })
            .collect();
        Some(PackedRTree::build(&leaves, &extent, INDEX_NODE_SIZE).map_err(|e| fgb_err(path, e))?)
    };
    let header = encode_header(meta, geometry_type, count, tree.as_ref().map(|_| &extent));
    let indexed_s = started.elapsed().as_secs_f64();

    let file = File::create(path).map_err(io_err(path))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
    out.write_all(&MAGIC_BYTES).map_err(io_err(path))?;
    out.write_all(&header).map_err(io_err(path))?;
    if let Some(tree) = tree {
        tree.stream_write(&mut out).map_err(io_err(path))?;
    }
    for &i in &order {
        out.write_all(encoded.get(i)).map_err(io_err(path))?;
    }
    out.flush().map_err(io_err(path))?;
    let written_s = started.elapsed().as_secs_f64();
    out.into_inner()
        .map_err(|e| io_err(path)(e.into_error()))?
        .sync_all()
        .map_err(io_err(path))?;
    tracing::debug!(
        features = features.len(),
        encode_s = encoded_s,
        sort_and_index_s = indexed_s - encoded_s,
        write_s = written_s - indexed_s,
        sync_s = started.elapsed().as_secs_f64() - written_s,
        "FlatGeobuf written"
    );
    Ok(())
}

/// Byte strings stored one after the other in chunks of [`CHUNK_BYTES`], so that
/// growing never moves what is stored (one `Vec` of 300 MB would be copied at each
/// doubling).
struct Chunks {
    chunks: Vec<Vec<u8>>,
    /// Chunk and byte range of each string, in push order.
    spans: Vec<(usize, Range<usize>)>,
}

impl Chunks {
    fn with_capacity(strings: usize) -> Self {
        Self {
            chunks: Vec::new(),
            spans: Vec::with_capacity(strings),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= bytes.len());
        if !fits {
            self.chunks
                .push(Vec::with_capacity(bytes.len().max(CHUNK_BYTES)));
        }
        let last = self.chunks.len() - 1;
        let chunk = &mut self.chunks[last];
        let start = chunk.len();
        chunk.extend_from_slice(bytes);
        self.spans.push((last, start..chunk.len()));
    }

    /// The `i`-th string pushed.
    fn get(&self, i: usize) -> &[u8] {
        let (chunk, range) = &self.spans[i];
        &self.chunks[*chunk][range.clone()]
    }
}

/// The header table, size-prefixed. `extent` is `None` for an empty layer, which then
/// declares no index: GDAL refuses a file that declares an index of no features.
fn encode_header(
    meta: &LayerMeta,
    geometry_type: GeometryType,
    features_count: u64,
    extent: Option<&NodeItem>,
) -> Vec<u8> {
    // Tables in the order flatgeobuf's writer creates them, for identical files.
    let mut fbb = FlatBufferBuilder::new();
    let org = fbb.create_string("EPSG");
    let name = fbb.create_string(meta.name.as_str());
    let crs = Crs::create(
        &mut fbb,
        &CrsArgs {
            org: Some(org),
            code: 4326,
            ..CrsArgs::default()
        },
    );
    let title = fbb.create_string(&meta.title);
    let mut columns = Vec::with_capacity(meta.schema.fields.len() + 1);
    let schema_columns = meta
        .schema
        .fields
        .iter()
        .map(|f| (f.name.as_str(), column_type(f.field_type), true));
    for (name, type_, nullable) in
        schema_columns.chain(std::iter::once((FID_COLUMN, ColumnType::ULong, false)))
    {
        let name = fbb.create_string(name);
        let column = ColumnArgs {
            name: Some(name),
            type_,
            nullable,
            ..ColumnArgs::default()
        };
        columns.push(Column::create(&mut fbb, &column));
    }
    let columns = fbb.create_vector(&columns);
    let envelope = extent.map(|e| fbb.create_vector(&[e.min_x, e.min_y, e.max_x, e.max_y]));
    let header = Header::create(
        &mut fbb,
        &HeaderArgs {
            name: Some(name),
            envelope,
            geometry_type,
            columns: Some(columns),
            features_count,
            index_node_size: if extent.is_some() { INDEX_NODE_SIZE } else { 0 },
            crs: Some(crs),
            title: Some(title),
            ..HeaderArgs::default()
        },
    );
    fbb.finish_size_prefixed(header, None);
    fbb.finished_data().to_vec()
}

/// Feature indices in descending Hilbert order of their box centres over `extent`, ties
/// in input order: the order of flatgeobuf's `hilbert_sort`, with each key computed
/// once instead of at every comparison.
fn hilbert_order(boxes: &[NodeItem], extent: &NodeItem) -> Vec<usize> {
    let mut keyed: Vec<(Reverse<u32>, usize)> = boxes
        .iter()
        .enumerate()
        .map(|(i, b)| (Reverse(hilbert_key(b, extent)), i))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Position of a box's centre on a Hilbert curve filling `extent`.
fn hilbert_key(b: &NodeItem, extent: &NodeItem) -> u32 {
    // Float to integer casts saturate, and NaN becomes 0: a box without coordinates
    // (infinite centre) or an extent of zero width lands on the grid's edge, not
    // out of it.
    let snap = |centre: f64, min: f64, size: f64| -> u32 {
        (f64::from(HILBERT_MAX) * (centre - min) / size).floor() as u32
    };
    hilbert(
        snap((b.min_x + b.max_x) / 2.0, extent.min_x, extent.width()),
        snap((b.min_y + b.max_y) / 2.0, extent.min_y, extent.height()),
    )
}

/// Index of the point `(x, y)` of a 2^16 × 2^16 grid along a Hilbert curve.
///
/// The branch-free algorithm of <https://github.com/rawrunprotected/hilbert_curves>
/// (public domain), the one FlatGeobuf uses.
fn hilbert(x: u32, y: u32) -> u32 {
    let x = x & 0xFFFF;
    let y = y & 0xFFFF;

    // Initial prefix scan round, prime with x and y.
    let mut a = x ^ y;
    let mut b = 0xFFFF ^ a;
    let mut c = 0xFFFF ^ (x | y);
    let mut d = x & (y ^ 0xFFFF);
    let (mut aa, mut bb, mut cc, mut dd) = (
        a | (b >> 1),
        (a >> 1) ^ a,
        ((c >> 1) ^ (b & (d >> 1))) ^ c,
        ((a & (c >> 1)) ^ (d >> 1)) ^ d,
    );
    for shift in [2, 4] {
        (a, b, c, d) = (aa, bb, cc, dd);
        aa = (a & (a >> shift)) ^ (b & (b >> shift));
        bb = (a & (b >> shift)) ^ (b & ((a ^ b) >> shift));
        cc ^= (a & (c >> shift)) ^ (b & (d >> shift));
        dd ^= (b & (c >> shift)) ^ ((a ^ b) & (d >> shift));
    }
    // Final round and projection.
    (a, b, c, d) = (aa, bb, cc, dd);
    cc ^= (a & (c >> 8)) ^ (b & (d >> 8));
    dd ^= (b & (c >> 8)) ^ ((a ^ b) & (d >> 8));
    a = cc ^ (cc >> 1);
    b = dd ^ (dd >> 1);

    // Undo transformation prefix scan, then recover the index by interleaving bits.
    let i0 = x ^ y;
    let i1 = b | (0xFFFF ^ (i0 | a));
    (spread_bits(i1) << 1) | spread_bits(i0)
}

/// Moves bit `k` of a 16-bit value to bit `2k`.
fn spread_bits(v: u32) -> u32 {
    let v = (v | (v << 8)) & 0x00FF_00FF;
    let v = (v | (v << 4)) & 0x0F0F_0F0F;
    let v = (v | (v << 2)) & 0x3333_3333;
    (v | (v << 1)) & 0x5555_5555
}

/// Encodes features one at a time into a reused FlatBuffers builder.
struct FeatureEncoder<'fbb> {
    fbb: FlatBufferBuilder<'fbb>,
    /// The header's geometry type: per-feature types are written only when `Unknown`.
    dataset_type: GeometryType,
    /// Whether polygons are written as one-part multipolygons (lines need no change:
    /// a multilinestring of one line is encoded as that line).
    promote_to_multi: bool,
    xy: Vec<f64>,
    ends: Vec<u32>,
    /// Finished parts of the collections being encoded, innermost last.
    parts: Vec<GeometryOffset<'fbb>>,
    properties: Vec<u8>,
    /// Bounding box of the feature being encoded.
    bbox: NodeItem,
    /// Bytes of the feature being encoded so far, at most [`MAX_FEATURE_BYTES`].
    size: usize,
}

type GeometryOffset<'fbb> = WIPOffset<flatgeobuf::Geometry<'fbb>>;
type VectorOffset<'fbb, T> = WIPOffset<flatbuffers::Vector<'fbb, T>>;
type PartsOffset<'fbb> =
    VectorOffset<'fbb, flatbuffers::ForwardsUOffset<flatgeobuf::Geometry<'fbb>>>;
type EncodeResult<T> = std::result::Result<T, String>;

impl<'fbb> FeatureEncoder<'fbb> {
    fn new(dataset_type: GeometryType, promote_to_multi: bool) -> Self {
        Self {
            fbb: FlatBufferBuilder::with_capacity(4096),
            dataset_type,
            promote_to_multi,
            xy: Vec::new(),
            ends: Vec::new(),
            parts: Vec::new(),
            properties: Vec::new(),
            bbox: NodeItem::create(0),
            size: 0,
        }
    }

    /// The size-prefixed feature table, valid until the next call, and the bounding
    /// box of its geometry (infinite and inverted when it has no coordinates).
    fn encode(
        &mut self,
        feature: &Feature,
        schema: &Schema,
        fid_column: u16,
    ) -> EncodeResult<(&[u8], NodeItem)> {
        self.fbb.reset();
        self.bbox = NodeItem::create(0);
        self.size = 0;
        let g = &feature.geometry;
        let own_type = if self.dataset_type == GeometryType::Unknown {
            geometry_kind(g)
        } else {
            GeometryType::Unknown
        };
        let geometry = match g {
            G::Polygon(_) | G::Rect(_) | G::Triangle(_) if self.promote_to_multi => {
                let start = self.parts.len();
                let part = self.geometry(g, GeometryType::Unknown)?;
                self.parts.push(part);
                self.collection(start, own_type)?
            }
            _ => self.geometry(g, own_type)?,
        };
        encode_properties(
            &mut self.properties,
            schema,
            &feature.properties,
            fid_column,
            feature.id,
        )?;
        self.grow(self.properties.len() + TABLE_BYTES)?;
        let properties = self.fbb.create_vector(&self.properties);
        let root = flatgeobuf::Feature::create(
            &mut self.fbb,
            &FeatureArgs {
                geometry: Some(geometry),
                properties: Some(properties),
                columns: None,
            },
        );
        self.fbb.finish_size_prefixed(root, None);
        Ok((self.fbb.finished_data(), self.bbox.clone()))
    }

    /// Counts `bytes` more towards the feature's size, or refuses them.
    fn grow(&mut self, bytes: usize) -> EncodeResult<()> {
        self.size = self.size.saturating_add(bytes);
        if self.size > MAX_FEATURE_BYTES {
            return Err(format!(
                "it encodes to more than {} MiB",
                MAX_FEATURE_BYTES >> 20
            ));
        }
        Ok(())
    }

    /// Encodes `g` following the FlatGeobuf spec: points and lines as `xy`; several
    /// lines or rings as `xy` cut by `ends`; multipolygons and collections as `parts`.
    /// `type_` is written only when not `Unknown`: for a feature in a dataset of mixed
    /// types, and for each part of a collection.
    fn geometry(&mut self, g: &G<f64>, type_: GeometryType) -> EncodeResult<GeometryOffset<'fbb>> {
        match g {
            G::Point(p) => self.coords(std::iter::once(p.0), type_),
            G::Line(l) => self.coords([l.start, l.end].into_iter(), type_),
            G::LineString(ls) => self.coords(ls.0.iter().copied(), type_),
            G::MultiPoint(mp) => self.coords(mp.0.iter().map(|p| p.0), type_),
            G::MultiLineString(mls) => self.lines(mls.0.iter(), type_),
            G::Polygon(p) => self.lines(std::iter::once(p.exterior()).chain(p.interiors()), type_),
            G::Rect(r) => self.geometry(&G::Polygon(r.to_polygon()), type_),
            G::Triangle(t) => self.geometry(&G::Polygon(t.to_polygon()), type_),
            G::MultiPolygon(mp) => {
                // Like GDAL, label the parts when the whole is labelled; readers take
                // them for polygons either way.
                let part_type = if type_ == GeometryType::Unknown {
                    GeometryType::Unknown
                } else {
                    GeometryType::Polygon
                };
                let start = self.parts.len();
                for p in &mp.0 {
                    let part = self.lines(
                        std::iter::once(p.exterior()).chain(p.interiors()),
                        part_type,
                    )?;
                    self.parts.push(part);
                }
                self.collection(start, type_)
            }
            G::GeometryCollection(gc) => {
                let start = self.parts.len();
                for part in &gc.0 {
                    let part = self.geometry(part, geometry_kind(part))?;
                    self.parts.push(part);
                }
                self.collection(start, type_)
            }
        }
    }

    fn coords(
        &mut self,
        coords: impl Iterator<Item = Coord<f64>>,
        type_: GeometryType,
    ) -> EncodeResult<GeometryOffset<'fbb>> {
        self.xy.clear();
        for c in coords {
            self.bbox.expand_xy(c.x, c.y);
            self.xy.extend_from_slice(&[c.x, c.y]);
        }
        self.grow(8 * self.xy.len() + TABLE_BYTES)?;
        let xy = self.fbb.create_vector(&self.xy);
        Ok(self.table(Some(xy), None, None, type_))
    }

    fn lines<'g>(
        &mut self,
        lines: impl Iterator<Item = &'g LineString<f64>>,
        type_: GeometryType,
    ) -> EncodeResult<GeometryOffset<'fbb>> {
        self.xy.clear();
        self.ends.clear();
        for line in lines {
            for c in &line.0 {
                self.bbox.expand_xy(c.x, c.y);
                self.xy.extend_from_slice(&[c.x, c.y]);
            }
            let end = u32::try_from(self.xy.len() / 2)
                .map_err(|_| "more than 2^32 coordinates".to_owned())?;
            self.ends.push(end);
        }
        self.grow(8 * self.xy.len() + 4 * self.ends.len() + TABLE_BYTES)?;
        let xy = self.fbb.create_vector(&self.xy);
        // One line needs no ends: it is all of xy.
        let ends = (self.ends.len() > 1).then(|| self.fbb.create_vector(&self.ends));
        Ok(self.table(Some(xy), ends, None, type_))
    }

    /// A table of the parts pushed since `start`, which it takes off the stack.
    fn collection(
        &mut self,
        start: usize,
        type_: GeometryType,
    ) -> EncodeResult<GeometryOffset<'fbb>> {
        self.grow(4 * (self.parts.len() - start) + TABLE_BYTES)?;
        let parts = self.fbb.create_vector(&self.parts[start..]);
        self.parts.truncate(start);
        Ok(self.table(None, None, Some(parts), type_))
    }

    fn table(
        &mut self,
        xy: Option<VectorOffset<'fbb, f64>>,
        ends: Option<VectorOffset<'fbb, u32>>,
        parts: Option<PartsOffset<'fbb>>,
        type_: GeometryType,
    ) -> GeometryOffset<'fbb> {
        flatgeobuf::Geometry::create(
            &mut self.fbb,
            &GeometryArgs {
                xy,
                ends,
                parts,
                type_,
                ..GeometryArgs::default()
            },
        )
    }
}

/// Encodes a feature's property record: for each non-null value, its column index
/// (u16) and its bytes as FlatGeobuf stores that column type (little-endian; strings
/// with a u32 length), then the id in the last column.
fn encode_properties(
    out: &mut Vec<u8>,
    schema: &Schema,
    values: &[Value],
    fid_column: u16,
    fid: u64,
) -> EncodeResult<()> {
    out.clear();
    for (column, (field, value)) in (0..fid_column).zip(schema.fields.iter().zip(values)) {
        // Ingest conforms values to the schema; should one still differ, convert it
        // rather than write bytes that readers would decode as another type.
        let converted;
        let value = match (value, field.field_type) {
            (Value::Null, _) => continue,
            (Value::Bool(_), FieldType::Boolean)
            | (Value::Int(_), FieldType::Integer)
            | (Value::Float(_), FieldType::Number)
            | (Value::String(_), FieldType::String) => value,
            (other, t) => {
                converted = other
                    .coerce(t)
                    .filter(|v| v.field_type() == Some(t))
                    .ok_or_else(|| {
                        format!("value {other} does not fit column {} ({t:?})", field.name)
                    })?;
                &converted
            }
        };
        out.extend_from_slice(&column.to_le_bytes());
        match value {
            Value::Null => {}
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Int(n) => out.extend_from_slice(&n.to_le_bytes()),
            Value::Float(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::String(s) => {
                let len = u32::try_from(s.len())
                    .map_err(|_| format!("value of column {} is over 4 GiB", field.name))?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    out.extend_from_slice(&fid_column.to_le_bytes());
    out.extend_from_slice(&fid.to_le_bytes());
    Ok(())
}

/// Collects one feature's properties from FlatGeobuf columns.
struct PropertyCollector<'a> {
    schema: &'a Schema,
    values: Vec<Value>,
    fid: Option<u64>,
}

impl PropertyProcessor for PropertyCollector<'_> {
    fn property(&mut self, i: usize, name: &str, v: &ColumnValue) -> geozero::error::Result<bool> {
        if name == FID_COLUMN {
            if let ColumnValue::ULong(fid) = v {
                self.fid = Some(*fid);
            }
            return Ok(false);
        }
        let value = match v {
            ColumnValue::Bool(b) => Value::Bool(*b),
            ColumnValue::Long(n) => Value::Int(*n),
            ColumnValue::Double(x) => Value::Float(*x),
            ColumnValue::String(s) => Value::String((*s).to_owned()),
            _ => Value::Null,
        };
        if let Some(slot) = self.values.get_mut(i)
            && self.schema.fields.get(i).is_some_and(|f| f.name == name)
        {
            *slot = value;
        }
        Ok(false)
    }
}

/// Reads every feature of a version, sorted by id.
pub(super) fn read_features(path: &Path, schema: &Schema) -> Result<Vec<Feature>> {
    let file = File::open(path).map_err(io_err(path))?;
    let reader = FgbReader::open(BufReader::new(file)).map_err(|e| fgb_err(path, e))?;
    let count = reader.header().features_count();
    let mut iter = reader.select_all_seq().map_err(|e| fgb_err(path, e))?;
    // The count comes from a file we wrote, but cap the reservation anyway.
    let mut features = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 24));
    while let Some(fgb_feature) = iter.next().map_err(|e| fgb_err(path, e))? {
        let geometry = fgb_feature.to_geo().map_err(|e| fgb_err(path, e))?;
        let mut collector = PropertyCollector {
            schema,
            values: vec![Value::Null; schema.fields.len()],
            fid: None,
        };
        geozero::FeatureProperties::process_properties(fgb_feature, &mut collector)
            .map_err(|e| fgb_err(path, e))?;
        let id = collector
            .fid
            .ok_or_else(|| fgb_err(path, format!("feature without {FID_COLUMN}")))?;
        features.push(Feature {
            id,
            geometry,
            properties: collector.values,
        });
    }
    features.sort_unstable_by_key(|f| f.id);
    Ok(features)
}

#[cfg(test)]
mod tests;
