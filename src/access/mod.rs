//! Who may reach which layer, and for what.
//!
//! Every layer a request or command names passes through [`admit`] with a
//! [`Purpose`], and comes out as the purpose's own type:
//! - [`Features`] (items, tiles, zones and cover geometry, exports) gives a
//!   [`RawLayer`], which cannot hold a personal layer;
//! - [`Catalog`] (metadata, schema, quality report) gives the [`LayerMeta`];
//! - [`Statistics`] (the points of heatmaps and aggregates, the trips of flows) gives a
//!   [`StatisticsInput`], which gives out no feature or geometry.
//!
//! So the wrong use is not a missed check but a type error. Restricted layers need a
//! caller with the analyst role or above, whatever the purpose.
//!
//! Callers are anonymous or hold a key issued by the server ([`keys`]).
//!
//! May import: `model`, `index`, `analytics`.

pub mod keys;

use std::sync::Arc;

use crate::analytics::StatisticsInput;
use crate::index::{IndexedLayer, RawLayer};
use crate::model::{LayerMeta, LayerName, Sensitivity};

pub use crate::model::Role;
pub use keys::{Caller, KeyStore};

/// What a layer is asked for: the type of access and the handle it gives.
pub trait Purpose {
    /// What the caller gets.
    type Handle;
    /// The purpose in words, for refusals.
    const NAME: &'static str;
    /// Wraps `layer` for this purpose, or refuses.
    ///
    /// # Errors
    /// [`AccessError::Personal`] when the purpose may not read a personal layer.
    fn wrap(layer: Arc<IndexedLayer>) -> Result<Self::Handle, AccessError>;
}

/// Raw features or geometry: items, tiles, zones, cover, exports.
#[derive(Debug, Clone, Copy)]
pub struct Features;

/// The input of statistics: points of heatmaps and aggregates, trips of flows.
#[derive(Debug, Clone, Copy)]
pub struct Statistics;

impl Purpose for Features {
    type Handle = RawLayer;
    const NAME: &'static str = "features or geometry";
    fn wrap(layer: Arc<IndexedLayer>) -> Result<RawLayer, AccessError> {
        RawLayer::new(layer).map_err(|e| AccessError::Personal {
            layer: e.0,
            purpose: Self::NAME,
        })
    }
}

impl Purpose for Statistics {
    type Handle = StatisticsInput;
    const NAME: &'static str = "statistics";
    fn wrap(layer: Arc<IndexedLayer>) -> Result<StatisticsInput, AccessError> {
        Ok(StatisticsInput::new(layer))
    }
}

/// The catalog entry only: metadata, schema, quality report.
#[derive(Debug, Clone, Copy)]
pub struct Catalog;

impl Purpose for Catalog {
    type Handle = LayerMeta;
    const NAME: &'static str = "its catalog entry";
    fn wrap(layer: Arc<IndexedLayer>) -> Result<LayerMeta, AccessError> {
        Ok(layer.meta().clone())
    }
}

/// Why a layer was not handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No such layer.
    #[error("layer {0:?} does not exist")]
    NotFound(String),
    /// A personal layer asked for raw features or geometry.
    #[error(
        "layer {layer} holds personal data: it is never served as {purpose}; use \
         /heatmap/{layer}/{{z}}/{{x}}/{{y}}.mvt, /heatmap/{layer}.geojson or \
         /aggregate?points={layer}"
    )]
    Personal {
        /// The layer.
        layer: LayerName,
        /// What it was asked for.
        purpose: &'static str,
    },
    /// A restricted layer, or an earlier version, asked for without an analyst key.
    #[error(
        "layer {0} is restricted (or an earlier version of it was asked): it needs an API \
         key with the analyst role or above"
    )]
    Restricted(LayerName),
    /// A version the layer does not have.
    #[error("layer {layer} has no version {version}")]
    NoSuchVersion {
        /// The layer.
        layer: LayerName,
        /// The version asked for.
        version: u32,
    },
}

/// The one gate: hands `layer` (found under `name`, or `None`) to `caller` for
/// purpose `P`, or refuses.
///
/// # Errors
/// [`AccessError`] saying why.
pub fn admit<P: Purpose>(
    name: &str,
    layer: Option<Arc<IndexedLayer>>,
    caller: &Caller,
) -> Result<P::Handle, AccessError> {
    let layer = layer.ok_or_else(|| AccessError::NotFound(name.to_owned()))?;
    let meta = layer.meta();
    if meta.sensitivity == Sensitivity::Restricted && caller.role < Role::Analyst {
        return Err(AccessError::Restricted(meta.name.clone()));
    }
    P::wrap(layer)
}

/// True when `caller` may see that `sensitivity`'s layers exist at all (listings).
#[must_use]
pub fn may_list(sensitivity: Sensitivity, caller: &Caller) -> bool {
    sensitivity != Sensitivity::Restricted || caller.role >= Role::Analyst
}
