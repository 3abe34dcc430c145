//! A layer version loaded in memory: features in WGS84 and pre-projected to Web
//! Mercator, dictionary-encoded properties, an R-tree over the Mercator envelopes, and
//! per-zoom generalization ([`generalized`]).
//!
//! Everything a request needs is prepared here once: projection, envelopes and the
//! value dictionary at load, each zoom's simplified geometry and density ranks on the
//! first request at that zoom. A request then only searches the tree and reads slices.
//!
//! May import: `model`.

pub mod generalized;
mod properties;
mod raw;

use std::sync::OnceLock;

use geo::{BoundingRect as _, Intersects as _, MapCoords as _};
use geo_types::Geometry;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

pub use generalized::{Band, GeneralizeSettings, TileBudget};
pub use properties::{NULL_VALUE, PropertyTable};
pub use raw::{PersonalData, RawLayer};

use crate::model::tile::{MercatorRect, lonlat_to_mercator};
use crate::model::{Bbox, Feature, FeatureQuery, FeatureSource, LayerMeta, QueryPage, SourceError};

/// A geometry in Web Mercator metres (EPSG:3857). The wrapper keeps Mercator and
/// lon/lat coordinates from being mixed up.
#[derive(Debug, Clone, PartialEq)]
pub struct MercatorGeometry(pub Geometry<f64>);

impl MercatorGeometry {
    /// Projects a WGS84 lon/lat geometry.
    #[must_use]
    pub fn project(lonlat: &Geometry<f64>) -> Self {
        Self(lonlat.map_coords(|c| {
            let (x, y) = lonlat_to_mercator(c.x, c.y);
            geo_types::Coord { x, y }
        }))
    }
}

type Envelope = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// An indexed, read-only layer version. Features are addressed by their position
/// (`0..len()`), ordered by ascending id.
#[derive(Debug)]
pub struct IndexedLayer {
    meta: LayerMeta,
    ids: Vec<u64>,
    geometries: Vec<Geometry<f64>>,
    mercator: Vec<MercatorGeometry>,
    envelopes: Vec<MercatorRect>,
    properties: PropertyTable,
    tree: RTree<Envelope>,
    settings: GeneralizeSettings,
    /// Per schema field, whether tiles carry it.
    tile_fields: Box<[bool]>,
    point_layer: bool,
    /// One per zoom 0..=`MAX_ZOOM`, built on first use.
    bands: Box<[OnceLock<Band>]>,
}

impl IndexedLayer {
    /// Projects, encodes and indexes the features of a layer version, with the default
    /// generalization settings.
    #[must_use]
    pub fn new(meta: LayerMeta, features: Vec<Feature>) -> Self {
        Self::with_settings(meta, features, GeneralizeSettings::default())
    }

    /// Projects, encodes and indexes the features of a layer version.
    #[must_use]
    pub fn with_settings(
        meta: LayerMeta,
        mut features: Vec<Feature>,
        settings: GeneralizeSettings,
    ) -> Self {
        features.sort_unstable_by_key(|f| f.id);
        let properties = PropertyTable::build(meta.schema.fields.len(), &features);
        let mut ids = Vec::with_capacity(features.len());
        let mut geometries = Vec::with_capacity(features.len());
        for f in features {
            ids.push(f.id);
            geometries.push(f.geometry);
        }
        let mercator: Vec<MercatorGeometry> =
            geometries.iter().map(MercatorGeometry::project).collect();
        let envelopes: Vec<MercatorRect> = mercator.iter().map(envelope_of).collect();
        let entries = envelopes
            .iter()
            .zip(0u32..)
            .map(|(e, i)| {
                GeomWithData::new(
                    Rectangle::from_corners([e.min_x, e.min_y], [e.max_x, e.max_y]),
                    i,
                )
            })
            .collect();
        let tile_fields = vec![true; meta.schema.fields.len()].into();
        let point_layer =
            !mercator.is_empty() && mercator.iter().all(|g| matches!(g.0, Geometry::Point(_)));
        Self {
            meta,
            ids,
            geometries,
            mercator,
            envelopes,
            properties,
            tree: RTree::bulk_load(entries),
            tile_fields,
            settings,
            point_layer,
            bands: (0..generalized::ZOOMS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// How the layer is generalized per zoom.
    #[must_use]
    pub fn settings(&self) -> &GeneralizeSettings {
        &self.settings
    }

    /// Restricts the properties written into tiles to `names` (the features API still
    /// serves all of them). Returns the names that are not fields of the layer.
    pub fn set_tile_properties(&mut self, names: &[String]) -> Vec<String> {
        let fields = &self.meta.schema.fields;
        self.tile_fields = fields.iter().map(|f| names.contains(&f.name)).collect();
        names
            .iter()
            .filter(|n| !fields.iter().any(|f| &f.name == *n))
            .cloned()
            .collect()
    }

    /// True when tiles carry the schema field at `field`.
    #[must_use]
    pub fn tile_field(&self, field: usize) -> bool {
        self.tile_fields.get(field).copied().unwrap_or(false)
    }

    /// The non-null properties of feature `row` that tiles carry, as (field, value
    /// id) pairs in schema order.
    pub fn tile_properties(&self, row: usize) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.properties
            .row(row)
            .iter()
            .copied()
            .enumerate()
            .filter(|&(f, v)| v != NULL_VALUE && self.tile_fields[f])
    }

    /// True when every feature is a single point (such layers cluster at low zoom).
    #[must_use]
    pub fn is_point_layer(&self) -> bool {
        self.point_layer
    }

    /// The generalization at `zoom` (clamped to `MAX_ZOOM`), built on first use.
    #[must_use]
    pub fn band(&self, zoom: u8) -> &Band {
        let z = usize::from(zoom).min(self.bands.len() - 1);
        // z < ZOOMS, which is at most 25.
        self.bands[z].get_or_init(|| Band::build(self, u8::try_from(z).unwrap_or(0)))
    }

    /// The bands built so far.
    pub fn built_bands(&self) -> impl Iterator<Item = &Band> {
        self.bands.iter().filter_map(OnceLock::get)
    }

    /// Heap bytes held by the generalization bands built so far.
    #[must_use]
    pub fn band_heap_bytes(&self) -> usize {
        self.built_bands().map(Band::heap_bytes).sum()
    }

    /// Number of features.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the layer has no feature.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Catalog metadata.
    #[must_use]
    pub fn meta(&self) -> &LayerMeta {
        &self.meta
    }

    /// Id of the feature at `index`.
    #[must_use]
    pub fn id(&self, index: usize) -> u64 {
        self.ids[index]
    }

    /// WGS84 geometry of the feature at `index`.
    #[must_use]
    pub fn geometry(&self, index: usize) -> &Geometry<f64> {
        &self.geometries[index]
    }

    /// Web Mercator geometry of the feature at `index`.
    #[must_use]
    pub fn mercator(&self, index: usize) -> &MercatorGeometry {
        &self.mercator[index]
    }

    /// Web Mercator envelope of the feature at `index`.
    #[must_use]
    pub fn envelope(&self, index: usize) -> &MercatorRect {
        &self.envelopes[index]
    }

    /// The dictionary-encoded properties.
    #[must_use]
    pub fn properties(&self) -> &PropertyTable {
        &self.properties
    }

    /// Positions of features whose envelope intersects `rect`, in no particular order.
    pub fn in_mercator_rect(&self, rect: &MercatorRect) -> impl Iterator<Item = usize> + '_ {
        let aabb = AABB::from_corners([rect.min_x, rect.min_y], [rect.max_x, rect.max_y]);
        self.tree
            .locate_in_envelope_intersecting(&aabb)
            .map(|e| e.data as usize)
    }

    /// Position of the feature with `id`.
    #[must_use]
    pub fn position(&self, id: u64) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    /// The feature at `index`, decoded.
    #[must_use]
    pub fn feature_at(&self, index: usize) -> Feature {
        Feature {
            id: self.ids[index],
            geometry: self.geometries[index].clone(),
            properties: self.properties.row_values(index),
        }
    }

    /// Positions of all features matching the query's bbox and filters, ascending.
    #[must_use]
    pub fn matching(&self, query: &FeatureQuery) -> Vec<usize> {
        let encoded: Option<Vec<(usize, u32)>> = query
            .filters
            .iter()
            .map(|f| self.properties.lookup(&f.value).map(|v| (f.field, v)))
            .collect();
        // A filter value absent from the dictionary matches nothing.
        let Some(encoded) = encoded else {
            return Vec::new();
        };
        let passes = |i: usize| {
            encoded
                .iter()
                .all(|&(field, v)| self.properties.value_id(i, field) == v)
        };
        let mut hits: Vec<usize> = match &query.bbox {
            None => (0..self.len()).filter(|&i| passes(i)).collect(),
            Some(bbox) => {
                let rect = bbox.to_rect();
                self.in_mercator_rect(&mercator_rect_of(bbox))
                    .filter(|&i| passes(i) && self.geometries[i].intersects(&rect))
                    .collect()
            }
        };
        hits.sort_unstable();
        hits
    }
}

/// The Web Mercator rectangle covering a lon/lat box (exact: the projection is
/// monotonic in each axis).
#[must_use]
pub fn mercator_rect_of(bbox: &Bbox) -> MercatorRect {
    let (min_x, min_y) = lonlat_to_mercator(bbox.min_x, bbox.min_y);
    let (max_x, max_y) = lonlat_to_mercator(bbox.max_x, bbox.max_y);
    MercatorRect {
        min_x,
        min_y,
        max_x,
        max_y,
    }
}

fn envelope_of(g: &MercatorGeometry) -> MercatorRect {
    g.0.bounding_rect().map_or(
        MercatorRect {
            min_x: 0.0,
            min_y: 0.0,
            max_x: 0.0,
            max_y: 0.0,
        },
        |r| MercatorRect {
            min_x: r.min().x,
            min_y: r.min().y,
            max_x: r.max().x,
            max_y: r.max().y,
        },
    )
}

impl FeatureSource for IndexedLayer {
    fn meta(&self) -> &LayerMeta {
        &self.meta
    }

    fn query(&self, query: &FeatureQuery) -> Result<QueryPage, SourceError> {
        let hits = self.matching(query);
        let ids = hits
            .iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|&i| self.ids[i])
            .collect();
        Ok(QueryPage {
            number_matched: hits.len(),
            ids,
        })
    }

    fn features(&self, ids: &[u64]) -> Result<Vec<Feature>, SourceError> {
        Ok(ids
            .iter()
            .filter_map(|&id| self.position(id))
            .map(|i| self.feature_at(i))
            .collect())
    }
}

#[cfg(test)]
mod tests;
