//! [`RawLayer`]: a layer whose individual features may be read.
//!
//! Raw-feature code (OGC API items, vector tiles, zones and cover geometry, exports)
//! takes a `RawLayer`; the only constructor refuses personal layers, so no code path
//! can hand it a personal layer, whatever route or parameter it serves.
//!
//! May import: `model`.

use std::sync::Arc;

use super::IndexedLayer;
use crate::model::{LayerName, Sensitivity};

/// A layer that is not personal data: its features, geometry and tiles may be served.
#[derive(Debug, Clone)]
pub struct RawLayer(Arc<IndexedLayer>);

/// A personal layer asked for as raw features.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("layer {0} holds personal data: its features and geometry are never served")]
pub struct PersonalData(pub LayerName);

impl RawLayer {
    /// Wraps `layer` unless it is personal.
    ///
    /// # Errors
    /// [`PersonalData`] for a layer of sensitivity `personal`.
    pub fn new(layer: Arc<IndexedLayer>) -> Result<Self, PersonalData> {
        if layer.meta().sensitivity == Sensitivity::Personal {
            return Err(PersonalData(layer.meta().name.clone()));
        }
        Ok(Self(layer))
    }

    /// The shared layer, for code that holds it beyond a borrow (streamed pages).
    #[must_use]
    pub fn shared(&self) -> Arc<IndexedLayer> {
        Arc::clone(&self.0)
    }
}

impl std::ops::Deref for RawLayer {
    type Target = IndexedLayer;

    fn deref(&self) -> &IndexedLayer {
        &self.0
    }
}

impl AsRef<IndexedLayer> for RawLayer {
    fn as_ref(&self) -> &IndexedLayer {
        &self.0
    }
}
