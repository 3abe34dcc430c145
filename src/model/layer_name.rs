//! Validated layer names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A layer name: 1 to 64 characters from `[a-z0-9_-]`.
///
/// Layer names become directory names and URL path segments, so anything that could
/// escape a path or need escaping in a URL is refused at construction.
///
/// # Examples
/// ```
/// use tessera::model::LayerName;
/// assert!(LayerName::new("parcels_2025").is_ok());
/// assert!(LayerName::new("../etc").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LayerName(String);

/// The longest accepted layer name, in bytes.
pub const MAX_LAYER_NAME_LEN: usize = 64;

/// A string that is not a valid [`LayerName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid layer name {name:?}: use 1 to 64 characters from a-z, 0-9, '_' and '-'")]
pub struct InvalidLayerName {
    /// The rejected input.
    pub name: String,
}

impl LayerName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`InvalidLayerName`] when `name` is empty, longer than 64 bytes or has a character
    /// outside `[a-z0-9_-]`.
    pub fn new(name: &str) -> Result<Self, InvalidLayerName> {
        let valid = !name.is_empty()
            && name.len() <= MAX_LAYER_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidLayerName {
                name: name.to_owned(),
            })
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
        for ok in ["a", "parcels", "land-use_2025", &"x".repeat(64)] {
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
}
