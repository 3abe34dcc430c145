//! [`StatisticsInput`]: a layer that may only be counted.
//!
//! Personal layers reach analytics as a `StatisticsInput` and nothing else. It gives
//! out the layer's metadata and the inputs of statistics (point columns, trips,
//! property masks), never a feature or a geometry: the layer inside is visible to
//! this module alone, so code elsewhere cannot serve its records even by mistake.
//!
//! May import: `index`, `model`.

use std::sync::Arc;

use super::Result;
use super::flows::Trips;
use super::points::{PointColumns, PointFields, RowMask};
use crate::index::IndexedLayer;
use crate::model::{LayerMeta, PropertyFilter};

/// A layer read only as the input of statistics.
#[derive(Debug, Clone)]
pub struct StatisticsInput {
    layer: Arc<IndexedLayer>,
}

impl StatisticsInput {
    /// Wraps a layer for statistics only.
    #[must_use]
    pub fn new(layer: Arc<IndexedLayer>) -> Self {
        Self { layer }
    }

    /// The layer's catalog metadata.
    #[must_use]
    pub fn meta(&self) -> &LayerMeta {
        self.layer.meta()
    }

    /// True when every feature is a point or multipoint.
    #[must_use]
    pub fn is_point_layer(&self) -> bool {
        self.layer.is_point_layer()
    }

    /// The layer's point columns (see [`PointColumns::build`]).
    ///
    /// # Errors
    /// As [`PointColumns::build`].
    pub fn point_columns(&self, fields: &PointFields<'_>) -> Result<PointColumns> {
        PointColumns::build(&self.layer, fields)
    }

    /// The rows of `points` whose features pass every property filter.
    ///
    /// # Errors
    /// As [`PointColumns::property_mask`].
    pub fn property_mask(
        &self,
        points: &PointColumns,
        filters: &[PropertyFilter],
    ) -> Result<RowMask> {
        points.property_mask(&self.layer, filters)
    }

    /// The layer's trips (see [`Trips::from_layer`]).
    ///
    /// # Errors
    /// As [`Trips::from_layer`].
    pub fn trips(&self, time_field: &str, person_field: Option<&str>) -> Result<Trips> {
        Trips::from_layer(&self.layer, time_field, person_field)
    }
}
