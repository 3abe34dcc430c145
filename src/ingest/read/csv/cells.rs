//! One CSV cell: its value typed on its own, a coordinate, or a geometry as WKT, EWKT
//! or GeoJSON text.
//!
//! May import: `model`, `ingest::read`.

use geo_types::Geometry;
use geozero::ToGeo;

use super::super::{BoxError, geojson};
use crate::model::Value;

/// The deepest parenthesis nesting accepted in WKT: the `wkt` crate parses recursively,
/// so a hostile cell of nested `GEOMETRYCOLLECTION(`s would otherwise overflow the stack.
const MAX_WKT_DEPTH: usize = 32;

/// Splits an EWKT `SRID=n;` prefix off `text`.
pub(super) fn split_srid(text: &str) -> (Option<u32>, &str) {
    let trimmed = text.trim();
    if let Some(head) = trimmed.get(..5)
        && head.eq_ignore_ascii_case("SRID=")
        && let Some((srid, rest)) = trimmed[5..].split_once(';')
    {
        return (srid.trim().parse().ok(), rest.trim());
    }
    (None, trimmed)
}

/// True when `text` starts like WKT, EWKT or a GeoJSON object.
pub(super) fn looks_like_geometry(text: &str) -> bool {
    const KEYWORDS: [&str; 7] = [
        "POINT",
        "LINESTRING",
        "POLYGON",
        "MULTIPOINT",
        "MULTILINESTRING",
        "MULTIPOLYGON",
        "GEOMETRYCOLLECTION",
    ];
    let (_, text) = split_srid(text);
    text.starts_with('{')
        || KEYWORDS.iter().any(|k| {
            text.get(..k.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(k))
        })
}

/// Parses a WKT, EWKT or GeoJSON geometry; `None` for an empty cell or an `EMPTY`
/// geometry.
pub(super) fn parse_geometry_text(text: &str) -> Result<Option<Geometry<f64>>, BoxError> {
    let (_, text) = split_srid(text);
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with('{') {
        let geometry: ::geojson::Geometry = serde_json::from_str(text)?;
        return Ok(Some(geojson::to_geo(&geometry.value)?));
    }
    let mut depth: usize = 0;
    for b in text.bytes() {
        match b {
            b'(' => {
                depth += 1;
                if depth > MAX_WKT_DEPTH {
                    return Err(format!("nested deeper than {MAX_WKT_DEPTH} levels").into());
                }
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let upper_tail = text.get(text.len().saturating_sub(5)..).unwrap_or_default();
    if upper_tail.eq_ignore_ascii_case("EMPTY") {
        return Ok(None);
    }
    Ok(Some(geozero::wkt::Wkt(text).to_geo()?))
}

/// Parses a coordinate, accepting a decimal comma when `decimal_comma`.
pub(super) fn parse_number(text: &str, decimal_comma: bool) -> Option<f64> {
    let text = text.trim();
    let value = text.parse::<f64>().ok().or_else(|| {
        (decimal_comma && text.matches(',').count() == 1 && !text.contains('.'))
            .then(|| text.replace(',', ".").parse::<f64>().ok())
            .flatten()
    })?;
    value.is_finite().then_some(value)
}

/// Types one cell (see the module documentation).
pub(super) fn infer(cell: &str) -> Value {
    let text = cell.trim();
    if text.is_empty() {
        return Value::Null;
    }
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let leading_zero = unsigned.len() > 1
        && unsigned.starts_with('0')
        && unsigned.as_bytes().get(1).is_some_and(u8::is_ascii_digit);
    let numeric = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if numeric && !leading_zero {
        if unsigned.bytes().all(|b| b.is_ascii_digit()) {
            // Integers beyond 64 bits stay text rather than lose digits.
            return text
                .parse::<i64>()
                .map_or_else(|_| Value::String(cell.to_owned()), Value::Int);
        }
        if let Ok(value) = text.parse::<f64>()
            && value.is_finite()
        {
            return Value::Float(value);
        }
    }
    Value::String(cell.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::point;

    #[test]
    fn infers_cell_types() {
        assert_eq!(infer(""), Value::Null);
        assert_eq!(infer("  "), Value::Null);
        assert_eq!(infer("TRUE"), Value::Bool(true));
        assert_eq!(infer("false"), Value::Bool(false));
        assert_eq!(infer("42"), Value::Int(42));
        assert_eq!(infer("-7"), Value::Int(-7));
        assert_eq!(infer("0"), Value::Int(0));
        assert_eq!(infer("0.25"), Value::Float(0.25));
        assert_eq!(infer("-1.5e3"), Value::Float(-1500.0));
        assert_eq!(infer("007"), Value::String("007".into()));
        assert_eq!(
            infer("99999999999999999999"),
            Value::String("99999999999999999999".into())
        );
        assert_eq!(infer("inf"), Value::String("inf".into()));
        assert_eq!(infer("NaN"), Value::String("NaN".into()));
        assert_eq!(infer("1e999"), Value::String("1e999".into()));
        assert_eq!(infer("12 rue"), Value::String("12 rue".into()));
        assert_eq!(infer("1-2"), Value::String("1-2".into()));
    }

    #[test]
    fn hostile_wkt_is_an_error() {
        let deep = format!("GEOMETRYCOLLECTION{}", "(GEOMETRYCOLLECTION".repeat(10_000));
        assert!(parse_geometry_text(&deep).is_err());
        assert!(parse_geometry_text("POINT(1)").is_err());
        assert!(parse_geometry_text("{\"type\":\"Point\",\"coordinates\":[1]}").is_err());
        assert_eq!(
            parse_geometry_text("{\"type\":\"Point\",\"coordinates\":[1,2]}").ok(),
            Some(Some(Geometry::Point(point!(x: 1.0, y: 2.0))))
        );
    }
}
