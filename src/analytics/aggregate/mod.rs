//! Spatial aggregates over a zones layer: points in polygons ([`points_in_zones`]:
//! count, `sum:field`, `mean:field`, `distinct:field` per zone) and polygon-on-polygon
//! overlay ([`area_shares`]: the share of each zone's area per class of a field).
//!
//! # Overlaps and gaps
//! Zones may overlap and leave gaps. A point counts in *every* zone containing it, so
//! zone totals can exceed the number of points where zones overlap; a point in no
//! zone counts in [`ZoneStats::unassigned`] instead, so that nothing is silently
//! dropped. Whether a point on a border is inside is the caller's choice
//! ([`Boundary`]).
//!
//! May import: `index`, `model`.

mod area_share;
mod zones;

pub use area_share::{AreaShares, ClassShare, area_shares};
pub use zones::{Boundary, EDGE_EPS_DEG, MAX_CELLS, ZoneIndex};

use super::points::{PointColumns, Selection};
use super::stats::Accumulator;
use super::{NO_PERSON, Result, Stats, StatsSpec};

/// Statistics per zone of a points-in-polygons aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneStats {
    /// One entry per zone, in the zones layer's feature order.
    pub zones: Vec<Stats>,
    /// The points that fell in no zone.
    pub unassigned: Stats,
}

/// Aggregates the selected points into the zones: every point is tested exactly
/// against every zone that may contain it (see [`ZoneIndex`]).
///
/// `distinct` counts the table's person field and `sum`/`mean` its value field, so a
/// table is built with the fields a request names (e.g. `distinct:device_id`).
///
/// # Errors
/// [`super::AnalyticsError::NoPersonField`] / [`super::AnalyticsError::NoValueField`]
/// when `stats` asks for a column the table was built without.
pub fn points_in_zones(
    points: &PointColumns,
    selection: &Selection,
    zones: &ZoneIndex,
    rule: Boundary,
    stats: StatsSpec,
) -> Result<ZoneStats> {
    points.check(stats)?;
    let unassigned = u32::try_from(zones.len()).unwrap_or(u32::MAX);
    let mut acc = Accumulator::new(stats, zones.len() + 1);
    let (lons, lats) = (points.lon(), points.lat());
    let persons = points.persons().unwrap_or(&[]);
    let values = points.values().unwrap_or(&[]);
    for row in selection.iter() {
        let person = persons.get(row).copied().unwrap_or(NO_PERSON);
        let value = values.get(row).copied().unwrap_or(f64::NAN);
        let mut found = false;
        zones.for_each_zone(lons[row], lats[row], rule, |zone| {
            found = true;
            acc.add(zone, person, value);
        });
        if !found {
            acc.add(unassigned, person, value);
        }
    }
    let mut all = acc.finish(points.person_count());
    let unassigned = all.pop().unwrap_or_default();
    Ok(ZoneStats {
        zones: all,
        unassigned,
    })
}

#[cfg(test)]
mod tests {
    use geo_types::Geometry;

    use super::*;
    use crate::analytics::points::PointFields;
    use crate::analytics::test_data::{layer_of, ping, rect, zones_of};

    #[test]
    fn counts_sums_means_and_distinct_per_zone() {
        // Two adjacent squares, a third overlapping both, and a gap east of x = 0.02.
        let zones = zones_of(vec![
            Geometry::Polygon(rect(0.0, 0.0, 0.01, 0.01)),
            Geometry::Polygon(rect(0.01, 0.0, 0.02, 0.01)),
            Geometry::Polygon(rect(0.005, 0.0, 0.015, 0.005)),
        ]);
        let index = ZoneIndex::build(&zones);
        let layer = layer_of(vec![
            ping(1, (0.002, 0.002), None, "a", Some(1.0)),
            ping(2, (0.002, 0.008), None, "a", Some(3.0)),
            ping(3, (0.007, 0.002), None, "b", Some(5.0)), // zones 0 and 2
            ping(4, (0.012, 0.002), None, "c", None),      // zones 1 and 2
            ping(5, (0.018, 0.009), None, "a", Some(7.0)),
            ping(6, (0.01, 0.008), None, "d", Some(100.0)), // on the 0|1 border
            ping(7, (0.03, 0.005), None, "e", Some(2.0)),   // in the gap
        ]);
        let fields = PointFields {
            person: Some("device"),
            value: Some("speed"),
            ..PointFields::default()
        };
        let cols = PointColumns::build(&layer, &fields).expect("build");
        let all = StatsSpec {
            distinct: true,
            value: true,
        };
        let sel = Selection::Range(0..cols.len());
        let got = points_in_zones(&cols, &sel, &index, Boundary::Exclude, all).expect("aggregate");
        let brief = |s: &Stats| (s.count, s.distinct, s.sum, s.mean());
        assert_eq!(brief(&got.zones[0]), (3, Some(2), Some(9.0), Some(3.0)));
        assert_eq!(brief(&got.zones[1]), (2, Some(2), Some(7.0), Some(7.0)));
        assert_eq!(brief(&got.zones[2]), (2, Some(2), Some(5.0), Some(5.0)));
        // The border point and the gap point are unassigned.
        assert_eq!(
            brief(&got.unassigned),
            (2, Some(2), Some(102.0), Some(51.0))
        );
        let incl = points_in_zones(&cols, &sel, &index, Boundary::Include, all).expect("aggregate");
        assert_eq!(incl.zones[0].count, 4);
        assert_eq!(incl.zones[1].count, 3);
        assert_eq!(incl.unassigned.count, 1);
        // Every point is counted at least once.
        let plain = points_in_zones(&cols, &sel, &index, Boundary::Exclude, StatsSpec::default())
            .expect("aggregate");
        assert_eq!(plain.zones[0].distinct, None);
        let counted: u64 =
            plain.zones.iter().map(|s| s.count).sum::<u64>() + plain.unassigned.count;
        assert_eq!(counted, 7 + 2);
    }
}
