//! Plain data shared by every layer of Tessera: layer names, property values and
//! schemas, features, bounding boxes, tile coordinates, layer metadata and the
//! [`FeatureSource`] trait through which the HTTP layer reads features.
//!
//! Nothing here does I/O or heavy computation.
//!
//! May import: nothing from the crate.

pub mod bbox;
pub mod feature;
pub mod hex;
pub mod layer_name;
pub mod meta;
pub mod quality;
pub mod role;
pub mod source;
pub mod tile;
pub mod value;

pub use bbox::Bbox;
pub use feature::Feature;
pub use layer_name::{InvalidLayerName, LayerName};
pub use meta::{Declared, LayerMeta, Sensitivity};
pub use quality::{QualityReport, Rejection};
pub use role::{Role, RoleSet};
pub use source::{FeatureQuery, FeatureSource, PropertyFilter, QueryPage, SourceError};
pub use tile::{InvalidTile, TileId, TileRange};
pub use value::{Field, FieldType, Schema, Value};
