//! Typed request parameters, validated once; invalid input becomes a JSON 400.

use crate::model::bbox::Bbox;
use crate::model::{PropertyFilter, Schema, TileId, Value};

use super::ApiError;

/// Default page size of `items`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size of `items`; larger requests are clamped, as OGC API – Features
/// requires.
pub const MAX_LIMIT: usize = 10_000;

/// Parses `z`, `x` and `y` (the last with an optional `.mvt`/`.pbf` suffix).
///
/// # Errors
/// [`ApiError::BadRequest`] for non-numbers, unknown suffixes or tiles outside the
/// pyramid.
pub fn tile_id(z: &str, x: &str, y: &str) -> Result<TileId, ApiError> {
    let y = y
        .strip_suffix(".mvt")
        .or_else(|| y.strip_suffix(".pbf"))
        .unwrap_or(y);
    let number = |name: &str, v: &str| {
        v.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "tile {name} must be a non-negative integer, got {v:?}"
            ))
        })
    };
    TileId::new(number("z", z)?, number("x", x)?, number("y", y)?)
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Query parameters of `/collections/{layer}/items`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsParams {
    /// `bbox`.
    pub bbox: Option<Bbox>,
    /// `limit`, clamped to [`MAX_LIMIT`].
    pub limit: usize,
    /// `offset`.
    pub offset: usize,
    /// Property equality filters.
    pub filters: Vec<PropertyFilter>,
    /// The filter parameters as given, to repeat them in paging links.
    pub filter_pairs: Vec<(String, String)>,
}

impl ItemsParams {
    /// Validates the raw query pairs against the layer's schema.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the offending parameter.
    pub fn parse(pairs: &[(String, String)], schema: &Schema) -> Result<Self, ApiError> {
        let mut params = Self {
            bbox: None,
            limit: DEFAULT_LIMIT,
            offset: 0,
            filters: Vec::new(),
            filter_pairs: Vec::new(),
        };
        for (key, value) in pairs {
            match key.as_str() {
                "bbox" => {
                    params.bbox =
                        Some(Bbox::parse(value).map_err(|e| ApiError::BadRequest(e.to_string()))?);
                }
                "bbox-crs" => check_crs84(value)?,
                "limit" => params.limit = positive("limit", value)?.min(MAX_LIMIT),
                "offset" => params.offset = non_negative("offset", value)?,
                "f" => check_json_format(value)?,
                // Temporal filtering applies to layers with a time field; accepted and
                // ignored elsewhere, as OGC API – Features allows.
                "datetime" => {}
                field => params.push_filter(field, value, schema)?,
            }
        }
        Ok(params)
    }

    fn push_filter(&mut self, field: &str, text: &str, schema: &Schema) -> Result<(), ApiError> {
        let Some(index) = schema.position(field) else {
            return Err(ApiError::BadRequest(format!(
                "unknown query parameter {field:?}: use bbox, limit, offset, or a property name ({})",
                schema
                    .fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let field_type = schema.fields[index].field_type;
        let value = Value::parse_as(text, field_type).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "property {field:?} is of type {}, cannot compare it with {text:?}",
                field_type.json_schema_type()
            ))
        })?;
        self.filters.push(PropertyFilter {
            field: index,
            value,
        });
        self.filter_pairs.push((field.to_owned(), text.to_owned()));
        Ok(())
    }
}

fn check_crs84(value: &str) -> Result<(), ApiError> {
    if value == "http://www.opengis.net/def/crs/OGC/1.3/CRS84" {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "bbox-crs {value:?} is not supported: only http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        )))
    }
}

/// Accepts the JSON formats; HTML is not served by these endpoints.
///
/// # Errors
/// [`ApiError::BadRequest`] for any other format.
pub fn check_json_format(value: &str) -> Result<(), ApiError> {
    if matches!(
        value,
        "json" | "geojson" | "application/geo+json" | "application/json"
    ) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "format f={value:?} is not available: use f=json"
        )))
    }
}

fn non_negative(name: &str, value: &str) -> Result<usize, ApiError> {
    value.parse::<usize>().map_err(|_| {
        ApiError::BadRequest(format!(
            "{name} must be a non-negative integer, got {value:?}"
        ))
    })
}

fn positive(name: &str, value: &str) -> Result<usize, ApiError> {
    match non_negative(name, value)? {
        0 => Err(ApiError::BadRequest(format!("{name} must be at least 1"))),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, FieldType};

    fn schema() -> Schema {
        Schema {
            fields: vec![Field {
                name: "floors".into(),
                field_type: FieldType::Integer,
            }],
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_and_clamping() {
        let p = ItemsParams::parse(&[], &schema()).expect("ok");
        assert_eq!((p.limit, p.offset), (DEFAULT_LIMIT, 0));
        let p = ItemsParams::parse(&pairs(&[("limit", "50000")]), &schema()).expect("ok");
        assert_eq!(p.limit, MAX_LIMIT);
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            ("limit", "0"),
            ("limit", "-1"),
            ("offset", "x"),
            ("bbox", "1,2"),
            ("floors", "three"),
            ("colour", "red"),
            ("f", "xml"),
        ] {
            assert!(
                ItemsParams::parse(&pairs(&[bad]), &schema()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn typed_filter() {
        let p = ItemsParams::parse(&pairs(&[("floors", "3")]), &schema()).expect("ok");
        assert_eq!(
            p.filters,
            vec![PropertyFilter {
                field: 0,
                value: Value::Int(3)
            }]
        );
    }

    #[test]
    fn tile_ids() {
        assert!(tile_id("3", "1", "2.mvt").is_ok());
        assert!(tile_id("3", "8", "2.mvt").is_err());
        assert!(tile_id("a", "1", "2").is_err());
        assert!(tile_id("3", "1", "2.png").is_err());
    }
}
