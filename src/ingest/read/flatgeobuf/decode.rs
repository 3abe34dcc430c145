//! Decoding of one verified FlatGeobuf feature: its geometry into `geo-types`, its
//! property bytes into values. Every offset is checked against its buffer, and ring
//! ends against the coordinates, so that a file that passes FlatBuffers verification
//! but lies in its contents gives an error rather than a panic.
//!
//! May import: `model`.

use ::flatgeobuf::{ColumnType, GeometryType};
use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon,
};

use crate::model::Value;

/// The deepest nesting of geometry parts decoded (a collection of multipolygons of
/// polygons is three). The FlatBuffers verifier bounds it too; this keeps the decoder's
/// recursion independent of the verifier's settings.
const MAX_PART_DEPTH: usize = 16;

/// One property column.
#[derive(Debug, Clone)]
pub(super) struct Column {
    pub(super) name: String,
    pub(super) kind: ColumnType,
}

/// Decodes a geometry of type `kind` (or its own type when `kind` is `Unknown`);
/// `None` for an empty point.
pub(super) fn decode_geometry(
    g: ::flatgeobuf::Geometry<'_>,
    kind: GeometryType,
    depth: usize,
) -> std::result::Result<Option<Geometry<f64>>, String> {
    if depth > MAX_PART_DEPTH {
        return Err(format!(
            "geometry parts nested deeper than {MAX_PART_DEPTH}"
        ));
    }
    let kind = if kind == GeometryType::Unknown {
        g.type_()
    } else {
        kind
    };
    let parts = |part_kind: GeometryType| -> std::result::Result<Vec<Geometry<f64>>, String> {
        let mut out = Vec::new();
        if let Some(parts) = g.parts() {
            for part in parts.iter() {
                if let Some(geometry) = decode_geometry(part, part_kind, depth + 1)? {
                    out.push(geometry);
                }
            }
        }
        Ok(out)
    };
    Ok(Some(match kind {
        GeometryType::Point => match coords(&g)?.first() {
            Some(c) => Geometry::Point(Point(*c)),
            None => return Ok(None),
        },
        GeometryType::MultiPoint => {
            Geometry::MultiPoint(MultiPoint(coords(&g)?.into_iter().map(Point).collect()))
        }
        GeometryType::LineString => Geometry::LineString(LineString(coords(&g)?)),
        GeometryType::MultiLineString => Geometry::MultiLineString(MultiLineString(rings(&g)?)),
        GeometryType::Polygon | GeometryType::Triangle => Geometry::Polygon(polygon(&g)?),
        GeometryType::MultiPolygon => {
            if g.parts().is_some() {
                let polygons = parts(GeometryType::Polygon)?
                    .into_iter()
                    .filter_map(|p| match p {
                        Geometry::Polygon(p) => Some(p),
                        _ => None,
                    })
                    .collect();
                Geometry::MultiPolygon(MultiPolygon(polygons))
            } else {
                Geometry::MultiPolygon(MultiPolygon(vec![polygon(&g)?]))
            }
        }
        GeometryType::GeometryCollection => {
            Geometry::GeometryCollection(GeometryCollection(parts(GeometryType::Unknown)?))
        }
        other => {
            return Err(format!(
                "geometry type {} is not supported",
                other.variant_name().unwrap_or("unknown")
            ));
        }
    }))
}

/// The 2D coordinates of `g`.
fn coords(g: &::flatgeobuf::Geometry<'_>) -> std::result::Result<Vec<Coord<f64>>, String> {
    let Some(xy) = g.xy() else {
        return Ok(Vec::new());
    };
    if xy.len() % 2 != 0 {
        return Err("the geometry has an odd number of ordinates".to_owned());
    }
    let mut out = Vec::with_capacity(xy.len() / 2);
    let mut values = xy.iter();
    while let (Some(x), Some(y)) = (values.next(), values.next()) {
        out.push(Coord { x, y });
    }
    Ok(out)
}

/// The coordinates of `g` cut into rings (or lines) at its `ends`.
fn rings(g: &::flatgeobuf::Geometry<'_>) -> std::result::Result<Vec<LineString<f64>>, String> {
    let coords = coords(g)?;
    let ends = match g.ends() {
        Some(ends) if !ends.is_empty() => ends,
        _ => return Ok(vec![LineString(coords)]),
    };
    let mut out = Vec::with_capacity(ends.len().min(coords.len()));
    let mut start = 0;
    for end in ends.iter() {
        let end = end as usize;
        if end < start || end > coords.len() {
            return Err(format!(
                "a ring ends at coordinate {end}, outside {start}..={}",
                coords.len()
            ));
        }
        out.push(LineString(coords[start..end].to_vec()));
        start = end;
    }
    if start != coords.len() {
        return Err("coordinates follow the last ring end".to_owned());
    }
    Ok(out)
}

fn polygon(g: &::flatgeobuf::Geometry<'_>) -> std::result::Result<Polygon<f64>, String> {
    let mut rings = rings(g)?.into_iter();
    let exterior = rings.next().unwrap_or_else(|| LineString(Vec::new()));
    Ok(Polygon::new(exterior, rings.collect()))
}

/// Decodes a feature's property bytes: one value per column, null where absent.
pub(super) fn decode_properties(
    bytes: &[u8],
    columns: &[Column],
) -> std::result::Result<Vec<Value>, String> {
    let mut values = vec![Value::Null; columns.len()];
    let mut offset = 0;
    let take = |n: usize, offset: &mut usize| -> std::result::Result<&[u8], String> {
        let slice = bytes
            .get(*offset..offset.saturating_add(n))
            .ok_or_else(|| "the property data is truncated".to_owned())?;
        *offset += n;
        Ok(slice)
    };
    // Like the reference reader, tolerate one stray byte after the last value.
    while bytes.len().saturating_sub(offset) >= 2 {
        let index = usize::from(u16::from_le_bytes(array(take(2, &mut offset)?)));
        let column = columns.get(index).ok_or_else(|| {
            format!(
                "a property refers to column {index}, but there are {}",
                columns.len()
            )
        })?;
        let value = match column.kind {
            ColumnType::Byte => {
                Value::Int(i64::from(i8::from_le_bytes(array(take(1, &mut offset)?))))
            }
            ColumnType::UByte => Value::Int(i64::from(take(1, &mut offset)?[0])),
            ColumnType::Bool => Value::Bool(take(1, &mut offset)?[0] != 0),
            ColumnType::Short => {
                Value::Int(i64::from(i16::from_le_bytes(array(take(2, &mut offset)?))))
            }
            ColumnType::UShort => {
                Value::Int(i64::from(u16::from_le_bytes(array(take(2, &mut offset)?))))
            }
            ColumnType::Int => {
                Value::Int(i64::from(i32::from_le_bytes(array(take(4, &mut offset)?))))
            }
            ColumnType::UInt => {
                Value::Int(i64::from(u32::from_le_bytes(array(take(4, &mut offset)?))))
            }
            ColumnType::Long => Value::Int(i64::from_le_bytes(array(take(8, &mut offset)?))),
            ColumnType::ULong => {
                let v = u64::from_le_bytes(array(take(8, &mut offset)?));
                i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)
            }
            ColumnType::Float => {
                finite(f64::from(f32::from_le_bytes(array(take(4, &mut offset)?))))
            }
            ColumnType::Double => finite(f64::from_le_bytes(array(take(8, &mut offset)?))),
            ColumnType::String | ColumnType::Json | ColumnType::DateTime => {
                let len = u32::from_le_bytes(array(take(4, &mut offset)?)) as usize;
                Value::String(String::from_utf8_lossy(take(len, &mut offset)?).into_owned())
            }
            ColumnType::Binary => {
                let len = u32::from_le_bytes(array(take(4, &mut offset)?)) as usize;
                take(len, &mut offset)?;
                Value::Null
            }
            other => {
                return Err(format!(
                    "column '{}' has an unknown type ({})",
                    column.name, other.0
                ));
            }
        };
        values[index] = value;
    }
    Ok(values)
}

/// The first `N` bytes of `slice`, which [`decode_properties`] has cut to length `N`.
fn array<const N: usize>(slice: &[u8]) -> [u8; N] {
    let mut out = [0_u8; N];
    out.copy_from_slice(&slice[..N]);
    out
}

fn finite(value: f64) -> Value {
    if value.is_finite() {
        Value::Float(value)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_properties_with_bounds_checks() {
        let columns = vec![Column {
            name: "s".into(),
            kind: ColumnType::String,
        }];
        // Column 0, length 100, but 2 bytes of text.
        let bytes = [0, 0, 100, 0, 0, 0, b'h', b'i'];
        assert!(decode_properties(&bytes, &columns).is_err());
        // Column 7 does not exist.
        assert!(decode_properties(&[7, 0, 1], &columns).is_err());
        assert_eq!(
            decode_properties(&[0, 0, 2, 0, 0, 0, b'h', b'i'], &columns),
            Ok(vec![Value::String("hi".into())])
        );
    }
}
