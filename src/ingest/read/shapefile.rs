//! ESRI shapefiles: geometry from the `.shp`, attributes from the `.dbf`, the CRS as
//! the WKT text of the `.prj`, the text encoding from the `.cpg`.
//!
//! Companion files are found beside the `.shp` whatever the case of their extension.
//! Without a `.dbf` features have no properties; the `.shx` index is not needed, as
//! records are read in sequence. A record whose `.dbf` row is marked deleted is skipped
//! (its feature number is not reused, so numbers stay the record numbers).
//!
//! # Records
//! Each record is framed with its length checked against the file before any byte of it
//! is buffered, then decoded by the `shapefile` crate from that buffer, after checking
//! that its point and part counts fit in it (the crate reserves memory for them first).
//! A broken frame is fatal; a record that does not decode is a per-feature error.
//!
//! # Polygons
//! Rings come as a flat list: clockwise outer rings, counter-clockwise holes. Each hole
//! goes to the smallest outer ring that contains it; a hole inside no outer ring becomes
//! a polygon of its own, as GDAL does. One polygon gives a `Polygon`, several a
//! `MultiPolygon`. Lines with several parts give a `MultiLineString`. Z and M are
//! dropped; multipatches are per-feature errors.
//!
//! May import: `model`, `ingest::read`.

use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use ::shapefile::{PolygonRing, ReadableShape, Shape};
use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{Area, BoundingRect};
use geo_types::{
    Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, Rect,
};

use super::dbf::{DbfReader, Row, cpg_encoding};
use super::text::{TextEncoding, decode};
use super::{
    MAX_FEATURE_BYTES, Progress, Properties, RawFeature, ReadError, Result, SourceReader,
    feature_at,
};

/// The size of the `.shp` header.
const HEADER_BYTES: u64 = 100;

/// The largest `.prj` or `.cpg` read: a WKT CRS is a few kilobytes.
const MAX_SIDECAR_BYTES: u64 = 64 * 1024;

/// Reads a shapefile. See the module documentation.
pub struct ShapefileReader {
    path: PathBuf,
    input: Option<BufReader<File>>,
    pos: u64,
    /// Where records end: the header's file length, or the file's, whichever is less.
    end: u64,
    /// The file length the header declares.
    declared: u64,
    bytes_total: u64,
    dbf: Option<DbfReader>,
    crs: Option<String>,
    next_record: u64,
    buf: Vec<u8>,
}

impl ShapefileReader {
    /// Opens the shapefile at `path` (the `.shp`, or any of its companion files) and
    /// its companions.
    ///
    /// # Errors
    /// [`ReadError::Io`] when a file cannot be read, [`ReadError::Invalid`] when there
    /// is no `.shp` or it is not one, [`ReadError::Corrupt`] when a header is damaged.
    pub fn open(path: &Path) -> Result<Self> {
        let is_shp = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("shp"));
        let shp = if is_shp {
            path.to_owned()
        } else {
            companion(path, "shp")
                .ok_or_else(|| ReadError::invalid(path, "no .shp file beside it"))?
        };
        let path = shp.as_path();
        let io = |e| ReadError::io(path, None, e);
        let file = File::open(path).map_err(io)?;
        let bytes_total = file.metadata().map_err(io)?.len();
        let mut input = BufReader::with_capacity(256 * 1024, file);
        let header = ::shapefile::header::Header::read_from(&mut input).map_err(|e| match e {
            ::shapefile::Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                ReadError::corrupt(path, None, "the header is truncated")
            }
            ::shapefile::Error::IoError(e) => ReadError::io(path, None, e),
            ::shapefile::Error::InvalidFileCode(_) => {
                ReadError::invalid(path, "not a shapefile (bad file code)")
            }
            other => ReadError::corrupt(path, None, format!("the header is damaged: {other}")),
        })?;
        let declared = u64::try_from(header.file_length)
            .unwrap_or(0)
            .saturating_mul(2);
        let end = if declared >= HEADER_BYTES {
            declared.min(bytes_total)
        } else {
            // A zero or negative length is a sloppy writer's: read to the end.
            bytes_total
        };

        let cpg = companion(path, "cpg")
            .map(|cpg| read_sidecar(&cpg))
            .transpose()?
            .and_then(|text| cpg_encoding(&text));
        let dbf = companion(path, "dbf")
            .map(|dbf| DbfReader::open(&dbf, cpg))
            .transpose()?;
        let crs = companion(path, "prj")
            .map(|prj| read_sidecar(&prj))
            .transpose()?
            .map(|text| text.trim().trim_start_matches('\u{feff}').trim().to_owned())
            .filter(|text| !text.is_empty());

        Ok(Self {
            path: shp.clone(),
            input: Some(input),
            pos: HEADER_BYTES,
            end,
            declared: declared.max(HEADER_BYTES),
            bytes_total,
            dbf,
            crs,
            next_record: 1,
            buf: Vec::new(),
        })
    }

    /// Reads the next record's content into `self.buf`; `Ok(false)` after the last.
    fn frame_next(&mut self) -> Result<bool> {
        let at = Some(feature_at(self.next_record));
        let Some(input) = self.input.as_mut() else {
            return Ok(false);
        };
        let left = self.end - self.pos.min(self.end);
        if left == 0 {
            if self.declared > self.bytes_total {
                return Err(ReadError::corrupt(
                    &self.path,
                    None,
                    format!(
                        "the header declares {} bytes but the file has {}: it is truncated",
                        self.declared, self.bytes_total
                    ),
                ));
            }
            return Ok(false);
        }
        if left < 8 {
            return Err(ReadError::corrupt(
                &self.path,
                at,
                "the record header is truncated",
            ));
        }
        let mut header = [0_u8; 8];
        input
            .read_exact(&mut header)
            .map_err(|e| ReadError::io(&self.path, at, e))?;
        self.pos += 8;
        let words = i32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let len = u64::try_from(words).unwrap_or(0) * 2;
        if words < 2 || len > MAX_FEATURE_BYTES as u64 || len > left - 8 {
            return Err(ReadError::corrupt(
                &self.path,
                at,
                format!("the record declares an impossible length ({words} words)"),
            ));
        }
        self.buf.clear();
        self.buf.resize(len as usize, 0);
        input
            .read_exact(&mut self.buf)
            .map_err(|e| ReadError::io(&self.path, at, e))?;
        self.pos += len;
        Ok(true)
    }

    /// The next feature or error; `None` for a deleted record.
    fn next_record(&mut self) -> Option<Result<RawFeature>> {
        let at = feature_at(self.next_record);
        self.next_record += 1;
        let properties = match self.dbf.as_mut().map(|dbf| (dbf.next_row(), dbf.names())) {
            None => Properties::default(),
            Some((Ok(Some(Row::Values(values))), names)) => Properties::new(names.clone(), values),
            Some((Ok(Some(Row::Deleted)), _)) => return None,
            Some((Ok(None), _)) => {
                let rows = self.dbf.as_ref().map_or(0, DbfReader::num_records);
                return Some(Err(ReadError::corrupt(
                    &self.path,
                    Some(at),
                    format!("the .dbf has {rows} records but the .shp has more shapes"),
                )));
            }
            Some((Err(e), _)) => return Some(Err(e)),
        };
        let geometry = check_counts(&self.buf)
            .and_then(|()| {
                let len =
                    i32::try_from(self.buf.len()).map_err(|_| "record too long".to_owned())?;
                Shape::read_from(&mut Cursor::new(&self.buf), len).map_err(|e| e.to_string())
            })
            .and_then(to_geo);
        Some(match geometry {
            Ok(geometry) => Ok(RawFeature {
                at,
                geometry,
                properties,
            }),
            Err(message) => Err(ReadError::feature(
                &self.path,
                at,
                format!("invalid shape: {message}"),
            )),
        })
    }
}

impl Iterator for ShapefileReader {
    type Item = Result<RawFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.frame_next() {
                Ok(true) => {
                    if let Some(item) = self.next_record() {
                        if item.as_ref().is_err_and(ReadError::is_fatal) {
                            self.input = None;
                        }
                        return Some(item);
                    }
                }
                Ok(false) => {
                    self.input = None;
                    return None;
                }
                Err(error) => {
                    self.input = None;
                    return Some(Err(error));
                }
            }
        }
    }
}

impl SourceReader for ShapefileReader {
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

/// The file beside `path` with extension `extension`, in lower or upper case.
fn companion(path: &Path, extension: &str) -> Option<PathBuf> {
    [
        extension.to_ascii_lowercase(),
        extension.to_ascii_uppercase(),
    ]
    .into_iter()
    .map(|e| path.with_extension(e))
    .find(|p| p.is_file())
}

/// Reads a small text file beside the shapefile.
fn read_sidecar(path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_SIDECAR_BYTES).read_to_end(&mut bytes))
        .map_err(|e| ReadError::io(path, None, e))?;
    Ok(decode(&bytes, TextEncoding::Auto).into_owned())
}

/// Checks that the part and point counts of a record fit in it, so that the crate's
/// reservations stay within the record's size.
fn check_counts(content: &[u8]) -> std::result::Result<(), String> {
    let int = |at: usize| {
        content
            .get(at..at + 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "the record is too short".to_owned())
    };
    let count = |at: usize| {
        int(at).and_then(|n| usize::try_from(n).map_err(|_| format!("negative count {n}")))
    };
    let needed = match int(0)? {
        // Polyline, polygon and multipatch: box, parts, points, part starts, coordinates.
        3 | 5 | 13 | 15 | 23 | 25 | 31 => {
            let parts = count(36)?;
            let points = count(40)?;
            parts
                .checked_mul(4)
                .and_then(|p| points.checked_mul(16).and_then(|q| p.checked_add(q)))
                .and_then(|n| n.checked_add(44))
        }
        // Multipoint: box, points, coordinates.
        8 | 18 | 28 => count(36)?.checked_mul(16).and_then(|n| n.checked_add(40)),
        _ => Some(0),
    };
    match needed {
        Some(needed) if needed <= content.len() => Ok(()),
        _ => Err("the record's counts do not fit in it".to_owned()),
    }
}

/// Converts a shape; `None` for a null shape.
fn to_geo(shape: Shape) -> std::result::Result<Option<Geometry<f64>>, String> {
    macro_rules! xy {
        ($p:expr) => {
            Coord { x: $p.x, y: $p.y }
        };
    }
    Ok(Some(match shape {
        Shape::NullShape => return Ok(None),
        Shape::Point(p) => Geometry::Point(Point(xy!(p))),
        Shape::PointM(p) => Geometry::Point(Point(xy!(p))),
        Shape::PointZ(p) => Geometry::Point(Point(xy!(p))),
        Shape::Multipoint(m) => multipoint(m.points().iter().map(|p| xy!(p))),
        Shape::MultipointM(m) => multipoint(m.points().iter().map(|p| xy!(p))),
        Shape::MultipointZ(m) => multipoint(m.points().iter().map(|p| xy!(p))),
        Shape::Polyline(l) => lines(
            l.parts()
                .iter()
                .map(|part| part.iter().map(|p| xy!(p)).collect()),
        ),
        Shape::PolylineM(l) => lines(
            l.parts()
                .iter()
                .map(|part| part.iter().map(|p| xy!(p)).collect()),
        ),
        Shape::PolylineZ(l) => lines(
            l.parts()
                .iter()
                .map(|part| part.iter().map(|p| xy!(p)).collect()),
        ),
        Shape::Polygon(p) => polygons(p.rings().iter().map(|r| ring(r, |p| xy!(p)))),
        Shape::PolygonM(p) => polygons(p.rings().iter().map(|r| ring(r, |p| xy!(p)))),
        Shape::PolygonZ(p) => polygons(p.rings().iter().map(|r| ring(r, |p| xy!(p)))),
        Shape::Multipatch(_) => return Err("multipatch shapes are not supported".to_owned()),
    }))
}

fn multipoint(coords: impl Iterator<Item = Coord<f64>>) -> Geometry<f64> {
    Geometry::MultiPoint(MultiPoint(coords.map(Point).collect()))
}

fn lines(parts: impl Iterator<Item = Vec<Coord<f64>>>) -> Geometry<f64> {
    let mut lines: Vec<LineString<f64>> = parts.map(LineString).collect();
    if lines.len() == 1 {
        Geometry::LineString(lines.remove(0))
    } else {
        Geometry::MultiLineString(MultiLineString(lines))
    }
}

/// A ring with whether it is an outer ring.
fn ring<P>(ring: &PolygonRing<P>, xy: impl Fn(&P) -> Coord<f64>) -> (bool, LineString<f64>) {
    let outer = matches!(ring, PolygonRing::Outer(_));
    (outer, ring.points().iter().map(xy).collect())
}

/// An outer ring being filled with holes.
struct Shell {
    polygon: Polygon<f64>,
    bounds: Option<Rect<f64>>,
    area: f64,
    holes: Vec<LineString<f64>>,
}

/// Groups rings into polygons (see the module documentation).
fn polygons(rings: impl Iterator<Item = (bool, LineString<f64>)>) -> Geometry<f64> {
    let (outers, holes): (Vec<_>, Vec<_>) = rings.partition(|(outer, _)| *outer);
    let mut shells: Vec<Shell> = outers
        .into_iter()
        .map(|(_, ring)| {
            let polygon = Polygon::new(ring, Vec::new());
            Shell {
                bounds: polygon.bounding_rect(),
                area: polygon.unsigned_area(),
                polygon,
                holes: Vec::new(),
            }
        })
        .collect();
    for (_, hole) in holes {
        let target = if shells.len() == 1 {
            Some(0)
        } else {
            shells
                .iter()
                .enumerate()
                .filter(|(_, shell)| encloses(shell, &hole))
                .min_by(|(_, a), (_, b)| a.area.total_cmp(&b.area))
                .map(|(i, _)| i)
        };
        match target {
            Some(i) => shells[i].holes.push(hole),
            None => {
                let polygon = Polygon::new(hole, Vec::new());
                shells.push(Shell {
                    bounds: polygon.bounding_rect(),
                    area: polygon.unsigned_area(),
                    polygon,
                    holes: Vec::new(),
                });
            }
        }
    }
    let mut polygons: Vec<Polygon<f64>> = shells
        .into_iter()
        .map(|shell| {
            let (exterior, _) = shell.polygon.into_inner();
            Polygon::new(exterior, shell.holes)
        })
        .collect();
    if polygons.len() == 1 {
        Geometry::Polygon(polygons.remove(0))
    } else {
        Geometry::MultiPolygon(MultiPolygon(polygons))
    }
}

/// True when `hole` lies inside `shell`: its box inside the shell's, and its first
/// vertex not on the shell's boundary inside the shell.
fn encloses(shell: &Shell, hole: &LineString<f64>) -> bool {
    let (Some(outer), Some(inner)) = (shell.bounds, hole.bounding_rect()) else {
        return false;
    };
    if inner.min().x < outer.min().x
        || inner.min().y < outer.min().y
        || inner.max().x > outer.max().x
        || inner.max().y > outer.max().y
    {
        return false;
    }
    hole.0
        .iter()
        .map(|c| shell.polygon.coordinate_position(c))
        .find(|position| *position != CoordPos::OnBoundary)
        .is_some_and(|position| position == CoordPos::Inside)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{features, prop, read_checked};
    use super::*;
    use crate::model::Value;
    use ::shapefile::dbase::{self, FieldValue, TableWriterBuilder};
    use geo_types::{line_string, point, polygon};

    const LAMBERT93_WKT: &str = r#"PROJCS["RGF93_Lambert_93",GEOGCS["GCS_RGF_1993",DATUM["D_RGF_1993",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],UNIT["Meter",1.0]]"#;

    fn field_name(name: &str) -> dbase::FieldName {
        dbase::FieldName::try_from(name).expect("field name")
    }

    /// Writes a polygon shapefile: a square with a hole, a two-part polygon, and a
    /// polygon with empty attributes; then a `.prj` beside it.
    fn write_parcels(dir: &Path) -> PathBuf {
        let path = dir.join("parcels.shp");
        let table = TableWriterBuilder::new()
            .add_character_field(field_name("NAME"), 20)
            .add_numeric_field(field_name("FLOORS"), 5, 0)
            .add_numeric_field(field_name("AREA"), 10, 2)
            .add_logical_field(field_name("LISTED"))
            .add_date_field(field_name("BUILT"));
        let mut writer = ::shapefile::Writer::from_path(&path, table).expect("writer");
        let square = ::shapefile::Polygon::with_rings(vec![
            PolygonRing::Outer(vec![
                ::shapefile::Point::new(0.0, 0.0),
                ::shapefile::Point::new(0.0, 10.0),
                ::shapefile::Point::new(10.0, 10.0),
                ::shapefile::Point::new(10.0, 0.0),
                ::shapefile::Point::new(0.0, 0.0),
            ]),
            PolygonRing::Inner(vec![
                ::shapefile::Point::new(2.0, 2.0),
                ::shapefile::Point::new(4.0, 2.0),
                ::shapefile::Point::new(4.0, 4.0),
                ::shapefile::Point::new(2.0, 4.0),
                ::shapefile::Point::new(2.0, 2.0),
            ]),
        ]);
        let mut record = dbase::Record::default();
        record.insert("NAME".into(), FieldValue::Character(Some("Mairie".into())));
        record.insert("FLOORS".into(), FieldValue::Numeric(Some(3.0)));
        record.insert("AREA".into(), FieldValue::Numeric(Some(96.25)));
        record.insert("LISTED".into(), FieldValue::Logical(Some(true)));
        record.insert(
            "BUILT".into(),
            FieldValue::Date(Some(dbase::Date::new(14, 7, 1882).expect("date"))),
        );
        writer
            .write_shape_and_record(&square, &record)
            .expect("write 1");

        // Two islands, the second with a hole: holes listed after both outer rings.
        let islands = ::shapefile::Polygon::with_rings(vec![
            PolygonRing::Outer(vec![
                ::shapefile::Point::new(0.0, 0.0),
                ::shapefile::Point::new(0.0, 1.0),
                ::shapefile::Point::new(1.0, 1.0),
                ::shapefile::Point::new(1.0, 0.0),
                ::shapefile::Point::new(0.0, 0.0),
            ]),
            PolygonRing::Outer(vec![
                ::shapefile::Point::new(20.0, 20.0),
                ::shapefile::Point::new(20.0, 30.0),
                ::shapefile::Point::new(30.0, 30.0),
                ::shapefile::Point::new(30.0, 20.0),
                ::shapefile::Point::new(20.0, 20.0),
            ]),
            PolygonRing::Inner(vec![
                ::shapefile::Point::new(22.0, 22.0),
                ::shapefile::Point::new(24.0, 22.0),
                ::shapefile::Point::new(24.0, 24.0),
                ::shapefile::Point::new(22.0, 24.0),
                ::shapefile::Point::new(22.0, 22.0),
            ]),
        ]);
        let mut record = dbase::Record::default();
        record.insert("NAME".into(), FieldValue::Character(Some("Îles".into())));
        record.insert("FLOORS".into(), FieldValue::Numeric(Some(0.0)));
        record.insert("AREA".into(), FieldValue::Numeric(Some(97.0)));
        record.insert("LISTED".into(), FieldValue::Logical(Some(false)));
        record.insert("BUILT".into(), FieldValue::Date(None));
        writer
            .write_shape_and_record(&islands, &record)
            .expect("write 2");

        let small = ::shapefile::Polygon::new(PolygonRing::Outer(vec![
            ::shapefile::Point::new(5.0, 5.0),
            ::shapefile::Point::new(5.0, 6.0),
            ::shapefile::Point::new(6.0, 6.0),
            ::shapefile::Point::new(5.0, 5.0),
        ]));
        let mut record = dbase::Record::default();
        record.insert("NAME".into(), FieldValue::Character(None));
        record.insert("FLOORS".into(), FieldValue::Numeric(None));
        record.insert("AREA".into(), FieldValue::Numeric(None));
        record.insert("LISTED".into(), FieldValue::Logical(None));
        record.insert("BUILT".into(), FieldValue::Date(None));
        writer
            .write_shape_and_record(&small, &record)
            .expect("write 3");
        drop(writer);

        std::fs::write(path.with_extension("prj"), LAMBERT93_WKT).expect("prj");
        path
    }

    #[test]
    fn reads_a_polygon_shapefile_with_its_dbf_and_prj() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_parcels(dir.path());
        let reader = ShapefileReader::open(&path).expect("open");
        assert_eq!(reader.declared_crs().as_deref(), Some(LAMBERT93_WKT));
        let items = features(read_checked(Box::new(reader)));
        assert_eq!(items.len(), 3);

        let first = &items[0];
        assert_eq!(first.at, feature_at(1));
        assert_eq!(
            first.geometry,
            Some(Geometry::Polygon(polygon!(
                exterior: [(x: 0.0, y: 0.0), (x: 0.0, y: 10.0), (x: 10.0, y: 10.0), (x: 10.0, y: 0.0), (x: 0.0, y: 0.0)],
                interiors: [[(x: 2.0, y: 2.0), (x: 4.0, y: 2.0), (x: 4.0, y: 4.0), (x: 2.0, y: 4.0), (x: 2.0, y: 2.0)]],
            )))
        );
        assert_eq!(
            first.properties,
            vec![
                ("NAME".to_owned(), Value::String("Mairie".into())),
                ("FLOORS".to_owned(), Value::Int(3)),
                ("AREA".to_owned(), Value::Float(96.25)),
                ("LISTED".to_owned(), Value::Bool(true)),
                ("BUILT".to_owned(), Value::String("1882-07-14".into())),
            ]
        );

        let Some(Geometry::MultiPolygon(islands)) = &items[1].geometry else {
            panic!("two islands: {:?}", items[1].geometry);
        };
        assert_eq!(islands.0.len(), 2);
        assert!(islands.0[0].interiors().is_empty());
        assert_eq!(
            islands.0[1].interiors().len(),
            1,
            "the hole goes to the island holding it"
        );
        assert_eq!(islands.0[1].interiors()[0].0[0], Coord { x: 22.0, y: 22.0 });
        assert_eq!(prop(&items[1], "NAME"), Some(&Value::String("Îles".into())));
        assert_eq!(prop(&items[1], "FLOORS"), Some(&Value::Int(0)));
        assert_eq!(prop(&items[1], "AREA"), Some(&Value::Float(97.0)));
        assert_eq!(prop(&items[1], "LISTED"), Some(&Value::Bool(false)));
        assert_eq!(prop(&items[1], "BUILT"), Some(&Value::Null));

        // The writer closed the ring; empty attributes are null.
        let Some(Geometry::Polygon(small)) = &items[2].geometry else {
            panic!("a polygon");
        };
        assert_eq!(small.exterior().0.len(), 4);
        assert!(items[2].properties.iter().all(|(_, v)| v.is_null()));
    }

    #[test]
    fn reads_points_and_lines_without_a_dbf() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("LINES.SHP");
        let mut writer = ::shapefile::ShapeWriter::from_path(&path).expect("writer");
        writer
            .write_shape(&::shapefile::Polyline::with_parts(vec![
                vec![
                    ::shapefile::Point::new(1.0, 2.0),
                    ::shapefile::Point::new(3.0, 4.0),
                ],
                vec![
                    ::shapefile::Point::new(5.0, 6.0),
                    ::shapefile::Point::new(7.0, 8.0),
                ],
            ]))
            .expect("write");
        writer
            .write_shape(&::shapefile::Polyline::new(vec![
                ::shapefile::Point::new(0.0, 0.0),
                ::shapefile::Point::new(1.0, 1.0),
            ]))
            .expect("write");
        drop(writer);
        // Opened through a companion name, in the other case.
        let reader = ShapefileReader::open(&dir.path().join("LINES.shx")).expect("open");
        assert_eq!(reader.declared_crs(), None);
        let items = features(read_checked(Box::new(reader)));
        assert_eq!(
            items[0].geometry,
            Some(Geometry::MultiLineString(MultiLineString(vec![
                line_string![(x: 1.0, y: 2.0), (x: 3.0, y: 4.0)],
                line_string![(x: 5.0, y: 6.0), (x: 7.0, y: 8.0)],
            ])))
        );
        assert_eq!(
            items[1].geometry,
            Some(Geometry::LineString(
                line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)]
            ))
        );
        assert!(items[1].properties.is_empty());

        let path = dir.path().join("points.shp");
        let mut writer = ::shapefile::ShapeWriter::from_path(&path).expect("writer");
        writer
            .write_shape(&::shapefile::PointZ::new(1.5, 2.5, 100.0, 0.0))
            .expect("write");
        drop(writer);
        let items = features(read_checked(Box::new(
            ShapefileReader::open(&path).expect("open"),
        )));
        assert_eq!(
            items[0].geometry,
            Some(Geometry::Point(point!(x: 1.5, y: 2.5)))
        );
    }

    #[test]
    fn deleted_rows_are_skipped_and_keep_their_numbers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_parcels(dir.path());
        let dbf = path.with_extension("dbf");
        let mut bytes = std::fs::read(&dbf).expect("dbf");
        let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        let record_len = usize::from(u16::from_le_bytes([bytes[10], bytes[11]]));
        bytes[header_len + record_len] = b'*';
        std::fs::write(&dbf, &bytes).expect("write");
        let items = features(read_checked(Box::new(
            ShapefileReader::open(&path).expect("open"),
        )));
        let numbers: Vec<u64> = items.iter().map(|f| f.at.feature).collect();
        assert_eq!(numbers, [1, 3]);
    }

    #[test]
    fn windows_1252_attributes_are_decoded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_parcels(dir.path());
        let dbf = path.with_extension("dbf");
        let bytes = std::fs::read(&dbf).expect("dbf");
        // "Îles" written as UTF-8 (C3 8E) becomes Windows-1252 (CE) plus a space.
        let utf8 = "Îles".as_bytes();
        let at = bytes
            .windows(utf8.len())
            .position(|w| w == utf8)
            .expect("name in dbf");
        let mut bytes = bytes;
        bytes.splice(at..at + utf8.len(), b"\xCEles ".iter().copied());
        std::fs::write(&dbf, &bytes).expect("write");
        let items = features(read_checked(Box::new(
            ShapefileReader::open(&path).expect("open"),
        )));
        assert_eq!(prop(&items[1], "NAME"), Some(&Value::String("Îles".into())));
    }

    #[test]
    fn truncation_and_damage_are_errors_not_panics() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_parcels(dir.path());
        let shp = std::fs::read(&path).expect("shp");
        let dbf = std::fs::read(path.with_extension("dbf")).expect("dbf");
        for len in 0..shp.len() {
            std::fs::write(&path, &shp[..len]).expect("write");
            if let Ok(reader) = ShapefileReader::open(&path) {
                let items = read_checked(Box::new(reader));
                assert!(
                    items
                        .last()
                        .is_some_and(|i| i.as_ref().is_err_and(ReadError::is_fatal)),
                    "cut at {len}"
                );
            }
        }
        for i in 0..shp.len() {
            let mut damaged = shp.clone();
            damaged[i] ^= 0xA5;
            std::fs::write(&path, &damaged).expect("write");
            if let Ok(reader) = ShapefileReader::open(&path) {
                read_checked(Box::new(reader));
            }
        }
        std::fs::write(&path, &shp).expect("write");
        for len in 0..dbf.len() {
            std::fs::write(path.with_extension("dbf"), &dbf[..len]).expect("write");
            if let Ok(reader) = ShapefileReader::open(&path) {
                read_checked(Box::new(reader));
            }
        }
    }

    #[test]
    fn counts_that_do_not_fit_are_refused() {
        let mut record = vec![0_u8; 44];
        record[0..4].copy_from_slice(&5_i32.to_le_bytes());
        record[36..40].copy_from_slice(&1_i32.to_le_bytes());
        record[40..44].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(check_counts(&record).is_err());
        record[40..44].copy_from_slice(&(-1_i32).to_le_bytes());
        assert!(check_counts(&record).is_err());
        record[36..40].copy_from_slice(&0_i32.to_le_bytes());
        record[40..44].copy_from_slice(&0_i32.to_le_bytes());
        assert!(check_counts(&record).is_ok());
    }

    #[test]
    fn orphan_holes_become_polygons() {
        let outer =
            line_string![(x: 0.0, y: 0.0), (x: 0.0, y: 1.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)];
        let far =
            line_string![(x: 5.0, y: 5.0), (x: 6.0, y: 5.0), (x: 6.0, y: 6.0), (x: 5.0, y: 5.0)];
        let other =
            line_string![(x: 9.0, y: 9.0), (x: 9.0, y: 10.0), (x: 10.0, y: 10.0), (x: 9.0, y: 9.0)];
        let geometry = polygons(vec![(true, outer), (true, other), (false, far)].into_iter());
        let Geometry::MultiPolygon(polygons) = geometry else {
            panic!("a multipolygon");
        };
        assert_eq!(polygons.0.len(), 3);
        assert!(polygons.0.iter().all(|p| p.interiors().is_empty()));
    }
}
