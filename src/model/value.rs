//! Property values, field types and layer schemas.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One property value of a feature.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Missing or JSON `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A floating-point number (never NaN or infinite once ingested).
    Float(f64),
    /// Text.
    String(String),
}

impl Value {
    /// True for [`Value::Null`].
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The narrowest field type that holds this value, `None` for null.
    #[must_use]
    pub fn field_type(&self) -> Option<FieldType> {
        match self {
            Value::Null => None,
            Value::Bool(_) => Some(FieldType::Boolean),
            Value::Int(_) => Some(FieldType::Integer),
            Value::Float(_) => Some(FieldType::Number),
            Value::String(_) => Some(FieldType::String),
        }
    }

    /// Converts a JSON value; arrays and objects become their JSON text.
    #[must_use]
    pub fn from_json(json: &serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .or_else(|| n.as_f64().map(Value::Float))
                .unwrap_or(Value::Null),
            serde_json::Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        }
    }

    /// Converts the value to the given field type, as when a column mixes integers and
    /// floats. Returns `None` when the value cannot be represented.
    #[must_use]
    pub fn coerce(&self, to: FieldType) -> Option<Value> {
        match (self, to) {
            (Value::Null, _) => Some(Value::Null),
            (Value::Int(i), FieldType::Number) => Some(Value::Float(*i as f64)),
            (v, FieldType::String) if !matches!(v, Value::String(_)) => {
                Some(Value::String(v.to_string()))
            }
            (v, t) if v.field_type() == Some(t) => Some(v.clone()),
            _ => None,
        }
    }

    /// Parses the text form of a value of `field_type`, as used by query filters.
    #[must_use]
    pub fn parse_as(text: &str, field_type: FieldType) -> Option<Value> {
        match field_type {
            FieldType::Boolean => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            FieldType::Integer => text.parse().ok().map(Value::Int),
            FieldType::Number => text
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::Float),
            FieldType::String => Some(Value::String(text.to_owned())),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => f.write_str(s),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) => s.serialize_f64(*x),
            Value::String(t) => s.serialize_str(t),
        }
    }
}

/// The type of a property column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// `true`/`false`.
    Boolean,
    /// 64-bit signed integers.
    Integer,
    /// 64-bit floats.
    Number,
    /// UTF-8 text.
    String,
}

impl FieldType {
    /// The type that holds values of both `self` and `other` (integers widen to numbers,
    /// anything else mixed becomes text).
    #[must_use]
    pub fn merge(self, other: FieldType) -> FieldType {
        match (self, other) {
            (a, b) if a == b => a,
            (FieldType::Integer, FieldType::Number) | (FieldType::Number, FieldType::Integer) => {
                FieldType::Number
            }
            _ => FieldType::String,
        }
    }

    /// The JSON Schema `type` keyword for this field type.
    #[must_use]
    pub fn json_schema_type(self) -> &'static str {
        match self {
            FieldType::Boolean => "boolean",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::String => "string",
        }
    }
}

/// One property column of a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Column name as found in the source.
    pub name: String,
    /// Inferred type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
}

/// The ordered property columns of a layer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Schema {
    /// Columns in source order.
    pub fields: Vec<Field>,
}

impl Schema {
    /// The index of the column named `name`.
    #[must_use]
    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// A JSON Schema (draft 2020-12) describing a feature's `properties` object.
    #[must_use]
    pub fn json_schema(&self, title: &str) -> serde_json::Value {
        let properties: serde_json::Map<String, serde_json::Value> = self
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    serde_json::json!({ "type": [f.field_type.json_schema_type(), "null"] }),
                )
            })
            .collect();
        serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": title,
            "type": "object",
            "properties": properties,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_widens_numbers_and_falls_back_to_text() {
        assert_eq!(
            FieldType::Integer.merge(FieldType::Number),
            FieldType::Number
        );
        assert_eq!(
            FieldType::Boolean.merge(FieldType::Integer),
            FieldType::String
        );
        assert_eq!(
            FieldType::String.merge(FieldType::String),
            FieldType::String
        );
    }

    #[test]
    fn coerce_and_parse() {
        assert_eq!(
            Value::Int(3).coerce(FieldType::Number),
            Some(Value::Float(3.0))
        );
        assert_eq!(
            Value::Bool(true).coerce(FieldType::String),
            Some(Value::String("true".into()))
        );
        assert_eq!(Value::Float(1.5).coerce(FieldType::Integer), None);
        assert_eq!(
            Value::parse_as("42", FieldType::Integer),
            Some(Value::Int(42))
        );
        assert_eq!(Value::parse_as("x", FieldType::Number), None);
    }

    #[test]
    fn json_round_trip_of_scalars() {
        let v: serde_json::Value = serde_json::json!([null, true, 7, 2.5, "a"]);
        let values: Vec<Value> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::from_json)
            .collect();
        assert_eq!(serde_json::to_value(&values).ok(), Some(v));
    }
}
