//! Origin–destination flows between the zones of a zones layer, per time slot: how
//! many trips (and distinct persons) went from zone A to zone B at 8 o'clock, or on
//! Mondays at 8.
//!
//! A trip is an origin, a destination and a departure time; from a layer, a
//! linestring gives its first and last vertex (a multilinestring the first vertex of
//! its first part and the last of its last), a multipoint its first and last point.
//! Origins and destinations are placed in zones with a [`ZoneIndex`]; with
//! overlapping zones a trip counts once for every (origin zone, destination zone)
//! pair, and a trip whose origin or destination lies in no zone counts in
//! [`FlowMatrix::unassigned`]. Trips within one zone are flows from the zone to
//! itself.
//!
//! May import: `index`, `model`.

use std::collections::HashMap;

use geo_types::{Coord, Geometry};

use super::aggregate::{Boundary, ZoneIndex};
use super::points::{field_index, layer_key, layer_zone, offset_span, stamp_of};
use super::stats::{Accumulator, IntBuildHasher};
use super::time_filter::{Stamp, TimeFilter, hour_of, weekday_of};
use super::{AnalyticsError, NO_PERSON, Result, Stats, StatsSpec};
use crate::index::{IndexedLayer, NULL_VALUE};

/// One trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trip {
    /// Where it started, WGS84 lon/lat degrees.
    pub origin: Coord<f64>,
    /// Where it ended, WGS84 lon/lat degrees.
    pub destination: Coord<f64>,
    /// When it started; trips without a time are left out of every matrix.
    pub departure: Option<Stamp>,
    /// Dense person index, [`NO_PERSON`] when unknown.
    pub person: u32,
}

/// The trips of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Trips {
    layer: String,
    trips: Vec<Trip>,
    persons: u32,
    with_persons: bool,
    skipped: usize,
}

impl Trips {
    /// Trips from hand or another source; persons are indices below `persons`.
    #[must_use]
    pub fn new(layer: &str, trips: Vec<Trip>, persons: u32) -> Self {
        Self {
            layer: layer.to_owned(),
            trips,
            persons,
            with_persons: persons > 0,
            skipped: 0,
        }
    }

    /// The trips of a layer of linestrings (or multipoints), with the departure time
    /// in `time_field` and the person in `person_field`.
    ///
    /// # Errors
    /// [`AnalyticsError::UnknownField`] for unknown field names.
    pub fn from_layer(
        layer: &IndexedLayer,
        time_field: &str,
        person_field: Option<&str>,
    ) -> Result<Self> {
        let time = field_index(layer, time_field)?;
        let person = person_field.map(|f| field_index(layer, f)).transpose()?;
        let props = layer.properties();
        let zone = layer_zone(layer);
        let mut dense: HashMap<u32, u32> = HashMap::new();
        let mut trips = Vec::with_capacity(layer.len());
        let mut skipped = 0;
        for i in 0..layer.len() {
            let Some((origin, destination)) = ends(layer.geometry(i)) else {
                skipped += 1;
                continue;
            };
            let person = person.map_or(NO_PERSON, |f| match props.value_id(i, f) {
                NULL_VALUE => NO_PERSON,
                id => {
                    let next = u32::try_from(dense.len()).unwrap_or(NO_PERSON);
                    *dense.entry(id).or_insert(next)
                }
            });
            let departure = stamp_of(props.value(props.value_id(i, time))).map(|mut s| {
                // In a layer with a time zone, slots and filters count on its clock.
                if let Some(zone) = &zone {
                    s.offset_min = offset_span(zone, s.unix).2;
                }
                s
            });
            trips.push(Trip {
                origin,
                destination,
                departure,
                person,
            });
        }
        Ok(Self {
            layer: layer_key(layer),
            trips,
            persons: u32::try_from(dense.len()).unwrap_or(NO_PERSON),
            with_persons: person.is_some(),
            skipped,
        })
    }

    /// The trips.
    #[must_use]
    pub fn trips(&self) -> &[Trip] {
        &self.trips
    }

    /// Features that gave no trip (not a line or multipoint, or fewer than 2 points).
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// First and last position of a trip geometry.
fn ends(g: &Geometry<f64>) -> Option<(Coord<f64>, Coord<f64>)> {
    let (first, last) = match g {
        Geometry::LineString(ls) => (ls.0.first()?, ls.0.last()?),
        Geometry::MultiLineString(mls) => (mls.0.first()?.0.first()?, mls.0.last()?.0.last()?),
        Geometry::MultiPoint(mp) if mp.0.len() >= 2 => (&mp.0.first()?.0, &mp.0.last()?.0),
        _ => return None,
    };
    Some((*first, *last))
}

/// The time slots of a matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Hour of the day, 0–23.
    Hour,
    /// Hour of the week, 0–167: `weekday · 24 + hour`, Monday 00:00 being 0.
    WeekdayHour,
}

impl Slot {
    /// Number of slots.
    #[must_use]
    pub fn count(self) -> u16 {
        match self {
            Slot::Hour => 24,
            Slot::WeekdayHour => 168,
        }
    }

    /// The slot of local seconds.
    #[must_use]
    pub fn of(self, local: i64) -> u16 {
        // Both are below 168.
        let slot = match self {
            Slot::Hour => hour_of(local),
            Slot::WeekdayHour => weekday_of(local) * 24 + hour_of(local),
        };
        u16::try_from(slot).unwrap_or(0)
    }
}

/// One flow: trips from one zone to another in one slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flow {
    /// The time slot.
    pub slot: u16,
    /// Origin zone (feature position in the zones layer).
    pub origin: u32,
    /// Destination zone.
    pub destination: u32,
    /// Trips (`count`) and distinct persons.
    pub stats: Stats,
}

/// An origin–destination matrix, sparse.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowMatrix {
    /// The slots used.
    pub slot: Slot,
    /// Non-empty flows, sorted by slot, origin, destination.
    pub flows: Vec<Flow>,
    /// Trips of the selection with an origin or destination in no zone.
    pub unassigned: Stats,
    /// Trips that passed the time filter (each is in `flows` or `unassigned`).
    pub trips: u64,
}

/// Calls `visit(person, Some((slot, origin, destination)))` for each flow of each trip
/// that passes `filter` (a trip in several overlapping zones makes several flows), and
/// `visit(person, None)` for a trip whose origin or destination is in no zone.
/// Returns the number of trips that passed the filter.
pub fn for_each_flow(
    trips: &Trips,
    zones: &ZoneIndex,
    rule: Boundary,
    slot: Slot,
    filter: &TimeFilter,
    mut visit: impl FnMut(u32, Option<(u16, u32, u32)>),
) -> u64 {
    let (mut origins, mut destinations) = (Vec::new(), Vec::new());
    let mut passed = 0;
    for trip in &trips.trips {
        let Some(stamp) = trip.departure.filter(|s| filter.accepts(*s)) else {
            continue;
        };
        passed += 1;
        let s = slot.of(filter.clock.local(stamp.unix, stamp.offset_min));
        origins.clear();
        destinations.clear();
        zones.for_each_zone(trip.origin.x, trip.origin.y, rule, |z| origins.push(z));
        zones.for_each_zone(trip.destination.x, trip.destination.y, rule, |z| {
            destinations.push(z)
        });
        if origins.is_empty() || destinations.is_empty() {
            visit(trip.person, None);
            continue;
        }
        for &o in &origins {
            for &d in &destinations {
                visit(trip.person, Some((s, o, d)));
            }
        }
    }
    passed
}

/// One number for a flow: slot (8 bits used) | origin (28) | destination (28); zones
/// are layer positions, far below 2^28.
#[must_use]
pub fn flow_key(slot: u16, origin: u32, destination: u32) -> u64 {
    (u64::from(slot) << 56) | (u64::from(origin) << 28) | u64::from(destination)
}

/// The flow of a [`flow_key`].
#[must_use]
pub fn flow_of_key(key: u64) -> (u16, u32, u32) {
    let mask = (1u64 << 28) - 1;
    (
        u16::try_from(key >> 56).unwrap_or(0),
        u32::try_from((key >> 28) & mask).unwrap_or(0),
        u32::try_from(key & mask).unwrap_or(0),
    )
}

/// The origin–destination matrix of the trips that pass `filter`.
///
/// # Errors
/// [`AnalyticsError::NoPersonField`] when `distinct` is asked of trips without
/// persons.
pub fn od_matrix(
    trips: &Trips,
    zones: &ZoneIndex,
    rule: Boundary,
    slot: Slot,
    filter: &TimeFilter,
    distinct: bool,
) -> Result<FlowMatrix> {
    /// The group of trips in no zone; flows are numbered from 1.
    const UNASSIGNED: u32 = 0;
    if distinct && !trips.with_persons {
        return Err(AnalyticsError::NoPersonField {
            layer: trips.layer.clone(),
        });
    }
    let spec = StatsSpec {
        distinct,
        value: false,
    };
    let mut acc = Accumulator::new(spec, 1);
    let mut keys: HashMap<u64, u32, IntBuildHasher> = HashMap::default();
    let mut flows: Vec<(u16, u32, u32)> = Vec::new();
    let passed = for_each_flow(trips, zones, rule, slot, filter, |person, flow| {
        let Some((s, o, d)) = flow else {
            acc.add(UNASSIGNED, person, f64::NAN);
            return;
        };
        let group = *keys.entry(flow_key(s, o, d)).or_insert_with(|| {
            flows.push((s, o, d));
            acc.push_group()
        });
        acc.add(group, person, f64::NAN);
    });
    let mut stats = acc.finish(trips.persons).into_iter();
    let unassigned = stats.next().unwrap_or_default();
    let mut flows: Vec<Flow> = flows
        .into_iter()
        .zip(stats)
        .map(|((slot, origin, destination), stats)| Flow {
            slot,
            origin,
            destination,
            stats,
        })
        .collect();
    flows.sort_unstable_by_key(|f| (f.slot, f.origin, f.destination));
    Ok(FlowMatrix {
        slot,
        flows,
        unassigned,
        trips: passed,
    })
}

#[cfg(test)]
mod tests {
    use geo_types::{LineString, MultiPoint, Point};

    use super::*;
    use crate::analytics::test_data::{layer_with, rect, zones_of};
    use crate::analytics::time_filter::HourSet;
    use crate::model::{Feature, FieldType, Value};

    /// Four square zones in a 2×2 block: 0 south-west, 1 south-east, 2 north-west,
    /// 3 north-east.
    fn quad() -> ZoneIndex {
        ZoneIndex::build(&zones_of(vec![
            Geometry::Polygon(rect(0.0, 0.0, 0.01, 0.01)),
            Geometry::Polygon(rect(0.01, 0.0, 0.02, 0.01)),
            Geometry::Polygon(rect(0.0, 0.01, 0.01, 0.02)),
            Geometry::Polygon(rect(0.01, 0.01, 0.02, 0.02)),
        ]))
    }

    /// The centre of zone z of `quad`.
    fn at(z: u32) -> (f64, f64) {
        (
            0.005 + 0.01 * f64::from(z % 2),
            0.005 + 0.01 * f64::from(z / 2),
        )
    }

    fn trip_layer(trips: &[(u32, u32, &str, &str)]) -> IndexedLayer {
        layer_with(
            "trips",
            &[("start", FieldType::String), ("card", FieldType::String)],
            trips
                .iter()
                .zip(1u64..)
                .map(|(&(o, d, t, who), id)| {
                    let line = LineString::from(vec![at(o), (0.011, 0.013), at(d)]);
                    let geometry = if id % 2 == 0 {
                        Geometry::LineString(line)
                    } else {
                        Geometry::MultiPoint(MultiPoint::new(
                            line.points().collect::<Vec<Point<f64>>>(),
                        ))
                    };
                    Feature {
                        id,
                        geometry,
                        properties: vec![Value::String(t.into()), Value::String(who.into())],
                    }
                })
                .collect(),
        )
    }

    /// In a layer with a time zone, slots count on its clock, daylight saving
    /// included: 06:30Z is 07:30 in Madrid in January and 08:30 in July.
    #[test]
    fn slots_count_on_the_layer_time_zone() {
        let mut layer = trip_layer(&[
            (0, 3, "2025-01-15T06:30:00Z", "a"),
            (0, 3, "2025-07-15T06:30:00Z", "b"),
        ]);
        let mut meta = layer.meta().clone();
        meta.timezone = Some("Europe/Madrid".into());
        layer = IndexedLayer::new(
            meta,
            (0..layer.len()).map(|i| layer.feature_at(i)).collect(),
        );
        let trips = Trips::from_layer(&layer, "start", Some("card")).expect("trips");
        let m = od_matrix(
            &trips,
            &quad(),
            Boundary::Exclude,
            Slot::Hour,
            &TimeFilter::default(),
            false,
        )
        .expect("matrix");
        let slots: Vec<u16> = m.flows.iter().map(|f| f.slot).collect();
        assert_eq!(slots, [7, 8]);
    }

    #[test]
    fn matrix_per_hour_and_weekday_hour() {
        // 2024-05-06 is a Monday.
        let layer = trip_layer(&[
            (0, 3, "2024-05-06T08:10:00Z", "a"),
            (0, 3, "2024-05-06T08:50:00Z", "b"),
            (0, 3, "2024-05-07T08:05:00Z", "a"),
            (3, 0, "2024-05-06T17:30:00Z", "a"),
            (1, 1, "2024-05-06T17:45:00Z", "c"),
            (2, 1, "2024-05-11T08:00:00Z", "d"),
        ]);
        let trips = Trips::from_layer(&layer, "start", Some("card")).expect("trips");
        let zones = quad();
        let m = od_matrix(
            &trips,
            &zones,
            Boundary::Exclude,
            Slot::Hour,
            &TimeFilter::default(),
            true,
        )
        .expect("matrix");
        let brief: Vec<(u16, u32, u32, u64, Option<u64>)> = m
            .flows
            .iter()
            .map(|f| {
                (
                    f.slot,
                    f.origin,
                    f.destination,
                    f.stats.count,
                    f.stats.distinct,
                )
            })
            .collect();
        assert_eq!(
            brief,
            vec![
                (8, 0, 3, 3, Some(2)),
                (8, 2, 1, 1, Some(1)),
                (17, 1, 1, 1, Some(1)),
                (17, 3, 0, 1, Some(1)),
            ]
        );
        assert_eq!(m.trips, 6);
        assert_eq!(m.flows.iter().map(|f| f.stats.count).sum::<u64>(), 6);
        let w = od_matrix(
            &trips,
            &zones,
            Boundary::Exclude,
            Slot::WeekdayHour,
            &TimeFilter::default(),
            false,
        )
        .expect("matrix");
        let slots: Vec<(u16, u64)> = w.flows.iter().map(|f| (f.slot, f.stats.count)).collect();
        // Monday 8h = 8, Tuesday 8h = 32, Monday 17h = 17 (twice), Saturday 8h = 128.
        assert_eq!(slots, vec![(8, 2), (17, 1), (17, 1), (32, 1), (128, 1)]);
        let morning = TimeFilter {
            hours: HourSet::parse("8").expect("hours"),
            ..TimeFilter::default()
        };
        let m8 = od_matrix(
            &trips,
            &zones,
            Boundary::Exclude,
            Slot::Hour,
            &morning,
            false,
        )
        .expect("matrix");
        assert_eq!(m8.trips, 4);
        assert!(m8.flows.iter().all(|f| f.slot == 8));
    }

    #[test]
    fn totals_equal_trip_counts_with_gaps_and_overlaps() {
        // Random trips over a 3×3 partition plus an overlapping zone; some trips
        // start or end outside every zone.
        let mut zs: Vec<Geometry<f64>> = (0..9)
            .map(|k| {
                let (x, y) = (0.01 * f64::from(k % 3), 0.01 * f64::from(k / 3));
                Geometry::Polygon(rect(x, y, x + 0.01, y + 0.01))
            })
            .collect();
        let partition = ZoneIndex::build(&zones_of(zs.clone()));
        zs.push(Geometry::Polygon(rect(0.005, 0.005, 0.025, 0.025)));
        let overlapping = ZoneIndex::build(&zones_of(zs));
        let mut state = 3u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            f64::from(u32::try_from(state >> 40).expect("24 bits")) / f64::from(1u32 << 24)
        };
        let trips: Vec<Trip> = (0..2000)
            .map(|i| Trip {
                origin: Coord {
                    x: 0.033 * next() - 0.0015,
                    y: 0.03 * next(),
                },
                destination: Coord {
                    x: 0.03 * next(),
                    y: 0.03 * next(),
                },
                departure: (i % 10 != 0).then_some(Stamp {
                    unix: 1_714_953_600 + (next() * 604_800.0) as i64,
                    offset_min: 120,
                }),
                person: i % 37,
            })
            .collect();
        let trips = Trips::new("t", trips, 37);
        let all = TimeFilter::default();
        let m = od_matrix(
            &trips,
            &partition,
            Boundary::Exclude,
            Slot::WeekdayHour,
            &all,
            true,
        )
        .expect("matrix");
        assert_eq!(m.trips, 1800, "untimed trips are left out");
        let in_flows: u64 = m.flows.iter().map(|f| f.stats.count).sum();
        assert!(m.unassigned.count > 0);
        assert_eq!(in_flows + m.unassigned.count, m.trips);
        assert!(
            m.flows
                .iter()
                .all(|f| f.slot < 168 && f.stats.distinct.is_some_and(|d| d <= f.stats.count))
        );
        let o = od_matrix(
            &trips,
            &overlapping,
            Boundary::Exclude,
            Slot::Hour,
            &all,
            false,
        )
        .expect("matrix");
        let in_flows: u64 = o.flows.iter().map(|f| f.stats.count).sum();
        assert!(
            in_flows + o.unassigned.count > o.trips,
            "overlaps count a trip in several pairs"
        );
        assert!(
            od_matrix(
                &Trips::new("t", vec![], 0),
                &partition,
                Boundary::Exclude,
                Slot::Hour,
                &all,
                true
            )
            .is_err()
        );
    }
}
