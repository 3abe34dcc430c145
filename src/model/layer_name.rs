//! Validated layer names.
//!
//! May import: nothing from the crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A layer name: 1 to 64 characters from `[a-z0-9_-]`, the first a letter or a digit.
///
/// Layer names become directory names and URL path segments, so anything that could
/// escape a path or need escaping in a URL is refused at construction. The first
/// character is a letter or a digit: a name starting with `-` reads as an option on a
/// command line (`--layer -x`, `rm -r DATA_DIR/-x`), and names starting with `_` or `.`
/// stay free for the files the data folder keeps beside its layers.
///
/// # Examples
/// ```
/// use tessera::model::LayerName;
/// assert!(LayerName::new("parcels_2025").is_ok());
/// assert!(LayerName::new("../etc").is_err());
/// assert!(LayerName::new("_parcels").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LayerName(String);

/// The longest accepted layer name, in bytes.
pub const MAX_LAYER_NAME_LEN: usize = 64;

/// A string that is not a valid [`LayerName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid layer name {name:?}: {reason}; use 1 to 64 characters from a-z, 0-9, '_' and \
     '-', starting with a letter or a digit"
)]
pub struct InvalidLayerName {
    /// The rejected input.
    pub name: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

impl LayerName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`InvalidLayerName`] when `name` is empty, longer than 64 bytes, has a character
    /// outside `[a-z0-9_-]` or starts with `_` or `-`.
    pub fn new(name: &str) -> Result<Self, InvalidLayerName> {
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name.len() > MAX_LAYER_NAME_LEN {
            Some("it is longer than 64 bytes")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            Some("it holds a character other than a-z, 0-9, '_' and '-'")
        } else if name.starts_with(['_', '-']) {
            Some("it starts with a character other than a letter or a digit")
        } else {
            None
        };
        match reason {
            None => Ok(Self(name.to_owned())),
            Some(reason) => Err(InvalidLayerName {
                name: name.to_owned(),
                reason,
            }),
        }
    }

    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LayerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for LayerName {
    type Error = InvalidLayerName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<LayerName> for String {
    fn from(value: LayerName) -> Self {
        value.0
    }
}

impl std::str::FromStr for LayerName {
    type Err = InvalidLayerName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in [
            "a",
            "7",
            "parcels",
            "land-use_2025",
            "2025_parcels",
            "a-",
            "b_",
            &"x".repeat(64),
        ] {
            assert!(LayerName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_paths_case_and_length() {
        for bad in [
            "",
            "Parcels",
            "a/b",
            "..",
            "a b",
            "é",
            "a.b",
            &"x".repeat(65),
        ] {
            assert!(LayerName::new(bad).is_err(), "{bad}");
        }
    }

    /// Regression test: `-` and `_x` were accepted as layer names.
    #[test]
    fn a_name_starting_with_a_dash_or_an_underscore_is_refused() {
        for bad in ["-", "_x", "-parcels", "__", "_"] {
            let error = LayerName::new(bad).expect_err(bad);
            assert_eq!(
                error.to_string(),
                format!(
                    "invalid layer name {bad:?}: it starts with a character other than a \
                     letter or a digit; use 1 to 64 characters from a-z, 0-9, '_' and '-', \
                     starting with a letter or a digit"
                )
            );
        }
        assert_eq!(
            LayerName::new("Parcels").expect_err("upper case").reason,
            "it holds a character other than a-z, 0-9, '_' and '-'"
        );
        assert_eq!(LayerName::new("").expect_err("empty").reason, "it is empty");
        assert_eq!(
            LayerName::new(&"x".repeat(65)).expect_err("long").reason,
            "it is longer than 64 bytes"
        );
        // Serde goes through the same check.
        assert!(serde_json::from_str::<LayerName>("\"_x\"").is_err());
    }
}
