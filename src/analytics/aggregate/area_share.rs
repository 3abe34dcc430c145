//! Polygon-on-polygon overlay: for each zone, the share of its area covered by each
//! class (value of a field) of a cover layer, e.g. land use per district.
//!
//! # Method
//! For each zone, the cover polygons whose envelope meets the zone's are found with
//! the cover layer's R-tree. The zone and those polygons are projected to a
//! spherical Lambert azimuthal equal-area projection centred on the zone (equal-area,
//! so planar areas there are true areas on the sphere, and all pieces of one zone are
//! measured in one consistent plane). Then, with `geo`'s boolean operations:
//! - `A_c` = area of zone ∩ union(polygons of class c), for each class c;
//! - `C` = area of zone ∩ union(all cover polygons), the covered part;
//! - `Z` = area of the zone.
//!
//! The share of class c is `A_c / Σ A_c · C / Z` and the uncovered share `1 − C / Z`,
//! so the shares of a zone always sum to 1. When classes do not overlap each other
//! `Σ A_c = C` and the share of c is simply `A_c / Z`; where they do overlap, the
//! overlap is split between them in proportion to their areas rather than counted
//! twice.
//!
//! [`AreaShares::area_m2`] is the geodesic area of the zone on the WGS84 ellipsoid
//! (Karney's algorithm, `geo::GeodesicArea`); shares do not depend on it.
//!
//! May import: `index`, `model`.

use std::collections::BTreeMap;

use geo::orient::Direction;
use geo::{
    Area as _, BooleanOps as _, BoundingRect as _, GeodesicArea as _, MapCoords as _, Orient as _,
    unary_union,
};
use geo_types::{Coord, MultiPolygon, Polygon};

use super::zones::areal;
use crate::analytics::Result;
use crate::analytics::points::field_index;
use crate::index::IndexedLayer;
use crate::model::Value;

/// Radius of the sphere with the WGS84 ellipsoid's area, metres.
const AUTHALIC_RADIUS_M: f64 = 6_371_007.180_9;

/// The share of one class in one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassShare {
    /// The class: a value of the cover layer's field (`Null` for polygons without one).
    pub class: Value,
    /// Fraction of the zone's area, 0 to 1.
    pub share: f64,
}

/// The composition of one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaShares {
    /// Geodesic area of the zone, square metres (0 for a zone without area).
    pub area_m2: f64,
    /// Classes present in the zone, largest share first.
    pub classes: Vec<ClassShare>,
    /// Fraction of the zone covered by no cover polygon. Classes plus this sum to 1
    /// (a zone without area is wholly uncovered).
    pub uncovered: f64,
}

/// Area shares of `field`'s classes of `cover` in every zone of `zones` (in feature
/// order). See the module documentation for the method.
///
/// # Errors
/// [`crate::analytics::AnalyticsError::UnknownField`] when `cover` has no `field`.
pub fn area_shares(
    zones: &IndexedLayer,
    cover: &IndexedLayer,
    field: &str,
) -> Result<Vec<AreaShares>> {
    let field = field_index(cover, field)?;
    let props = cover.properties();
    let cover_shapes: Vec<Option<MultiPolygon<f64>>> =
        (0..cover.len()).map(|i| areal(cover.geometry(i))).collect();
    Ok((0..zones.len())
        .map(|z| {
            let Some(zone) = areal(zones.geometry(z)) else {
                return AreaShares {
                    area_m2: 0.0,
                    classes: Vec::new(),
                    uncovered: 1.0,
                };
            };
            let mut by_class: BTreeMap<u32, Vec<&MultiPolygon<f64>>> = BTreeMap::new();
            for i in cover.in_mercator_rect(zones.envelope(z)) {
                if let Some(shape) = &cover_shapes[i] {
                    by_class
                        .entry(props.value_id(i, field))
                        .or_default()
                        .push(shape);
                }
            }
            let (area_m2, classes, uncovered) = zone_shares(&zone, &by_class);
            AreaShares {
                area_m2,
                classes: classes
                    .into_iter()
                    .map(|(class, share)| ClassShare {
                        class: props.value(class).clone(),
                        share,
                    })
                    .collect(),
                uncovered,
            }
        })
        .collect())
}

/// The geodesic area, the shares per class (dictionary id, largest first) and the
/// uncovered share of one zone.
fn zone_shares(
    zone: &MultiPolygon<f64>,
    by_class: &BTreeMap<u32, Vec<&MultiPolygon<f64>>>,
) -> (f64, Vec<(u32, f64)>, f64) {
    let area_m2 = zone.geodesic_area_unsigned();
    let Some(laea) = zone.bounding_rect().map(|r| Laea::new(r.center())) else {
        return (area_m2, Vec::new(), 1.0);
    };
    let zone_p = laea.project(zone);
    let zone_area = zone_p.unsigned_area();
    if zone_area <= 0.0 {
        return (area_m2, Vec::new(), 1.0);
    }
    let projected: BTreeMap<u32, Vec<Polygon<f64>>> = by_class
        .iter()
        .map(|(&class, shapes)| {
            (
                class,
                shapes.iter().flat_map(|s| laea.project(s).0).collect(),
            )
        })
        .collect();
    let covered_in =
        |polys: &[Polygon<f64>]| zone_p.intersection(&unary_union(polys)).unsigned_area();
    let class_areas: Vec<(u32, f64)> = projected
        .iter()
        .map(|(&class, polys)| (class, covered_in(polys)))
        .filter(|(_, a)| *a > 0.0)
        .collect();
    let all: Vec<Polygon<f64>> = projected.values().flatten().cloned().collect();
    let covered_share = covered_in(&all).min(zone_area) / zone_area;
    let class_total: f64 = class_areas.iter().map(|(_, a)| a).sum();
    let mut classes: Vec<(u32, f64)> = class_areas
        .iter()
        .map(|&(class, a)| (class, a / class_total * covered_share))
        .collect();
    classes.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    (area_m2, classes, 1.0 - covered_share)
}

/// Spherical Lambert azimuthal equal-area projection (Snyder, *Map Projections: A
/// Working Manual*, eq. 24-2 to 24-4) on the authalic sphere, centred on a point.
#[derive(Debug, Clone, Copy)]
struct Laea {
    lon0: f64,
    sin_lat0: f64,
    cos_lat0: f64,
}

impl Laea {
    fn new(centre: Coord<f64>) -> Self {
        let (sin_lat0, cos_lat0) = centre.y.to_radians().sin_cos();
        Self {
            lon0: centre.x.to_radians(),
            sin_lat0,
            cos_lat0,
        }
    }

    fn point(&self, c: Coord<f64>) -> Coord<f64> {
        let (sin_lat, cos_lat) = c.y.to_radians().sin_cos();
        let (sin_dl, cos_dl) = (c.x.to_radians() - self.lon0).sin_cos();
        let k = (2.0 / (1.0 + self.sin_lat0 * sin_lat + self.cos_lat0 * cos_lat * cos_dl)).sqrt();
        Coord {
            x: AUTHALIC_RADIUS_M * k * cos_lat * sin_dl,
            y: AUTHALIC_RADIUS_M * k * (self.cos_lat0 * sin_lat - self.sin_lat0 * cos_lat * cos_dl),
        }
    }

    /// Projects and orients (exterior counter-clockwise), as `unary_union` expects.
    fn project(&self, mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
        mp.map_coords(|c| self.point(c)).orient(Direction::Default)
    }
}

#[cfg(test)]
mod tests {
    use geo_types::{Geometry, polygon};

    use super::*;
    use crate::analytics::test_data::{layer_with, rect, zones_of};
    use crate::model::{Feature, FieldType};

    fn cover(parts: Vec<(Polygon<f64>, Option<&str>)>) -> IndexedLayer {
        layer_with(
            "landuse",
            &[("use", FieldType::String)],
            parts
                .into_iter()
                .zip(1u64..)
                .map(|((p, class), id)| Feature {
                    id,
                    geometry: Geometry::Polygon(p),
                    properties: vec![class.map_or(Value::Null, |c| Value::String(c.into()))],
                })
                .collect(),
        )
    }

    fn share_of(s: &AreaShares, class: &str) -> f64 {
        s.classes
            .iter()
            .find(|c| c.class == Value::String(class.into()))
            .map_or(0.0, |c| c.share)
    }

    fn total(s: &AreaShares) -> f64 {
        s.classes.iter().map(|c| c.share).sum::<f64>() + s.uncovered
    }

    #[test]
    fn halves_quarters_and_uncovered() {
        // A 0.02° square zone on the equator; the west half residential (as two
        // overlapping pieces), a quarter of the east half park, a polygon reaching
        // out of the zone, and a zone far away with nothing on it.
        let zones = zones_of(vec![
            Geometry::Polygon(rect(0.0, -0.01, 0.02, 0.01)),
            Geometry::Polygon(rect(10.0, 10.0, 10.01, 10.01)),
            Geometry::Point(geo_types::Point::new(0.0, 0.0)),
        ]);
        let land = cover(vec![
            (rect(0.0, -0.01, 0.007, 0.01), Some("residential")),
            (rect(0.005, -0.01, 0.01, 0.01), Some("residential")),
            (rect(0.01, 0.0, 0.02, 0.005), Some("park")),
            (rect(0.015, -0.05, 0.05, -0.005), Some("water")),
        ]);
        let shares = area_shares(&zones, &land, "use").expect("shares");
        let s = &shares[0];
        // By symmetry about the central meridian, the halves are exact.
        assert!((share_of(s, "residential") - 0.5).abs() < 1e-9, "{s:?}");
        // A latitude band is nearly but not exactly proportional to its degrees.
        assert!((share_of(s, "park") - 0.125).abs() < 1e-6, "{s:?}");
        assert!((share_of(s, "water") - 0.0625).abs() < 1e-6, "{s:?}");
        assert!((s.uncovered - 0.3125).abs() < 1e-6, "{s:?}");
        assert!((total(s) - 1.0).abs() < 1e-9);
        assert_eq!(s.classes[0].class, Value::String("residential".into()));
        // 0.02° × 0.02° at the equator: 2226.4 m of longitude × 2211.5 m of latitude.
        assert!((s.area_m2 / 4.9236e6 - 1.0).abs() < 1e-3, "{}", s.area_m2);
        assert!(shares[1].classes.is_empty() && (shares[1].uncovered - 1.0).abs() < 1e-12);
        assert_eq!(shares[2].area_m2, 0.0);
        assert!(area_shares(&zones, &land, "nope").is_err());
    }

    #[test]
    fn shares_sum_to_one_with_overlapping_classes() {
        // Random overlapping rectangles of three classes over irregular zones.
        let mut state = 11u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            f64::from(u32::try_from(state >> 40).expect("24 bits")) / f64::from(1u32 << 24)
        };
        let mut parts = Vec::new();
        for i in 0..60 {
            let (x, y) = (2.0 + 0.1 * next(), 41.3 + 0.1 * next());
            let class = ["a", "b", "c"][i % 3];
            parts.push((
                rect(x, y, x + 0.03 * next(), y + 0.03 * next()),
                Some(class),
            ));
        }
        parts.push((rect(2.05, 41.35, 2.06, 41.36), None));
        let land = cover(parts);
        let zones = zones_of(
            (0..9)
                .map(|k| {
                    let (x, y) = (
                        2.0 + 0.035 * f64::from(k % 3),
                        41.3 + 0.035 * f64::from(k / 3),
                    );
                    Geometry::Polygon(polygon![
                        (x: x, y: y), (x: x + 0.035, y: y + 0.004), (x: x + 0.03, y: y + 0.035),
                        (x: x + 0.01, y: y + 0.03), (x: x, y: y)
                    ])
                })
                .collect(),
        );
        let shares = area_shares(&zones, &land, "use").expect("shares");
        for s in &shares {
            assert!((total(s) - 1.0).abs() < 1e-9, "{s:?}");
            assert!(s.classes.iter().all(|c| c.share > 0.0 && c.share <= 1.0));
            assert!(s.uncovered >= 0.0);
        }
        assert!(
            shares
                .iter()
                .any(|s| s.classes.iter().any(|c| c.class == Value::Null))
        );
    }
}
