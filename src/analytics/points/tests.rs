//! Tests of the point columns: order, selection, fields, time zones and persons.

use super::*;
use crate::analytics::test_data::{layer_of, ping};
use crate::analytics::time_filter::{HourSet, TimeFilter, WeekdaySet};
use crate::model::PropertyFilter;

fn pings() -> IndexedLayer {
    layer_of(vec![
        ping(
            1,
            (2.0, 41.0),
            Some("2024-05-06T08:00:00+02:00"),
            "a",
            Some(1.0),
        ),
        ping(
            2,
            (2.1, 41.0),
            Some("2024-05-06T07:00:00+02:00"),
            "b",
            Some(2.0),
        ),
        ping(3, (2.2, 41.0), None, "a", None),
        ping(
            4,
            (2.3, 41.0),
            Some("2024-05-11T12:00:00+02:00"),
            "c",
            Some(4.0),
        ),
        ping(
            5,
            (2.4, 41.0),
            Some("2024-05-06T07:00:00+02:00"),
            "a",
            Some(5.0),
        ),
    ])
}

fn fields() -> PointFields<'static> {
    PointFields {
        time: Some("ts"),
        person: Some("device"),
        value: Some("speed"),
    }
}

#[test]
fn rows_are_sorted_by_time_with_untimed_last() {
    let cols = PointColumns::build(&pings(), &fields()).expect("build");
    assert_eq!(cols.len(), 5);
    assert_eq!(cols.timed_len(), 4);
    assert!(cols.times().windows(2).all(|w| w[0] <= w[1]));
    // Equal times keep feature order: features 2 and 5 at 07:00, then 1, then 4.
    let lons: Vec<f64> = cols.lon().to_vec();
    assert_eq!(lons, vec![2.1, 2.4, 2.0, 2.3, 2.2]);
    assert_eq!(cols.persons(), Some(&[1, 0, 0, 2, 0][..]));
    assert_eq!(cols.person_count(), 3);
    assert_eq!(cols.report().untimed, 1);
    assert!(cols.values().is_some_and(|v| v[4].is_nan() && v[0] == 2.0));
    // Mercator offsets round-trip to the projected point.
    let (mx, _) = lonlat_to_mercator(2.3, 41.0);
    assert!((f64::from(cols.x()[3]) + cols.origin()[0] - mx).abs() < 0.01);
}

#[test]
fn select_by_range_hours_weekdays_and_mask() {
    let layer = pings();
    let cols = PointColumns::build(&layer, &fields()).expect("build");
    assert_eq!(
        cols.select(&TimeFilter::default(), None),
        Selection::Range(0..5)
    );
    let from = Stamp::parse("2024-05-06T07:30:00+02:00").expect("t").unix;
    let f = TimeFilter::between(Some(from), None).expect("filter");
    assert_eq!(cols.select(&f, None), Selection::Range(2..4));
    let f = TimeFilter::between(None, Some(from)).expect("filter");
    assert_eq!(cols.select(&f, None), Selection::Range(0..2));
    let f = TimeFilter {
        hours: HourSet::parse("7-8").expect("hours"),
        ..TimeFilter::default()
    };
    assert_eq!(cols.select(&f, None), Selection::Rows(vec![0, 1]));
    let f = TimeFilter {
        weekdays: WeekdaySet::parse("sat").expect("days"),
        ..TimeFilter::default()
    };
    assert_eq!(cols.select(&f, None), Selection::Rows(vec![3]));
    let mask = cols
        .property_mask(
            &layer,
            &[PropertyFilter {
                field: 1,
                value: Value::String("a".into()),
            }],
        )
        .expect("mask");
    assert_eq!(
        cols.select(&TimeFilter::default(), Some(&mask)),
        Selection::Rows(vec![1, 2, 4])
    );
    assert_eq!(
        cols.select(&TimeFilter::between(Some(0), None).expect("f"), Some(&mask)),
        Selection::Rows(vec![1, 2])
    );
}

#[test]
fn fields_from_layer_metadata() {
    let mut layer_meta = pings().meta().clone();
    layer_meta.time_field = Some("ts".into());
    layer_meta.id_field = Some("device".into());
    let f = PointFields::from_meta(&layer_meta);
    assert_eq!(
        (f.time, f.person, f.value),
        (Some("ts"), Some("device"), None)
    );
}

#[test]
fn unknown_and_non_numeric_fields_are_refused() {
    let layer = pings();
    let bad = PointFields {
        time: Some("nope"),
        ..PointFields::default()
    };
    assert!(matches!(
        PointColumns::build(&layer, &bad),
        Err(AnalyticsError::UnknownField { .. })
    ));
    let bad = PointFields {
        value: Some("device"),
        ..PointFields::default()
    };
    assert!(matches!(
        PointColumns::build(&layer, &bad),
        Err(AnalyticsError::NotNumeric { .. })
    ));
    let cols = PointColumns::build(&layer, &PointFields::default()).expect("build");
    assert!(
        cols.check(StatsSpec {
            distinct: true,
            value: false
        })
        .is_err()
    );
    assert_eq!(cols.timed_len(), 0);
}

#[test]
fn chunks_cover_the_selection_in_order() {
    let cols = PointColumns::build(&pings(), &fields()).expect("build");
    for sel in [Selection::Range(1..5), Selection::Rows(vec![0, 3, 4])] {
        let mut seen = Vec::new();
        cols.for_each_chunk(&sel, |xs, _, rows| {
            for j in 0..xs.len() {
                seen.push(rows.row(j));
            }
        });
        assert_eq!(seen, sel.iter().collect::<Vec<_>>());
    }
}

/// Pings in a layer with time zone `zone`.
fn zoned(zone: Option<&str>, times: &[&str]) -> IndexedLayer {
    let features = || {
        times
            .iter()
            .zip(1..)
            .map(|(t, id)| ping(id, (2.0, 41.0), Some(t), "a", None))
            .collect()
    };
    let mut meta = layer_of(features()).meta().clone();
    meta.timezone = zone.map(str::to_owned);
    meta.time_field = Some("ts".into());
    IndexedLayer::new(meta, features())
}

fn hours(text: &str) -> TimeFilter {
    TimeFilter {
        hours: HourSet::parse(text).expect("hours"),
        ..TimeFilter::default()
    }
}

#[test]
fn hours_are_counted_on_the_layer_zone_clock_across_daylight_saving() {
    // 08:30 in Madrid: 07:30Z in March (UTC+1), 06:30Z in July (UTC+2); then 08:30Z,
    // which is 09:30 in March.
    let times = [
        "2025-03-03T07:30:00Z",
        "2025-07-03T06:30:00Z",
        "2025-03-04T08:30:00Z",
    ];
    let layer = zoned(Some("Europe/Madrid"), &times);
    let cols = PointColumns::build(&layer, &PointFields::from_meta(layer.meta())).expect("build");
    // Rows are in time order: March 3, March 4, July 3.
    let offsets: Vec<Option<i16>> = (0..3)
        .map(|r| cols.stamp(r).map(|s| s.offset_min))
        .collect();
    assert_eq!(offsets, [Some(60), Some(60), Some(120)]);
    assert_eq!(
        cols.select(&hours("8-9"), None),
        Selection::Rows(vec![0, 2])
    );
    assert_eq!(cols.select(&hours("9-10"), None), Selection::Rows(vec![1]));
    // Without a zone, each time's own offset (here UTC) counts.
    let utc = zoned(None, &times);
    let cols = PointColumns::build(&utc, &PointFields::from_meta(utc.meta())).expect("build");
    assert_eq!(cols.select(&hours("8-9"), None), Selection::Rows(vec![1]));
    // Bare local times (versions ingested before offsets were required) are read in
    // the zone.
    let bare = zoned(
        Some("Europe/Madrid"),
        &["2025-03-03T08:30:00", "2025-07-03 08:30:00"],
    );
    let cols = PointColumns::build(&bare, &PointFields::from_meta(bare.meta())).expect("build");
    assert_eq!(cols.timed_len(), 2);
    assert_eq!(
        cols.select(&hours("8-9"), None),
        Selection::Rows(vec![0, 1])
    );
    assert_eq!(
        cols.times()[0],
        Stamp::parse("2025-03-03T07:30:00Z").expect("t").unix
    );
}

#[test]
fn zone_offsets_follow_each_transition_in_sorted_times() {
    let zone = TimeZone::get("Europe/Madrid").expect("zone");
    // Around the 2025-03-30 01:00Z change, and a year on.
    let at = |t: &str| Stamp::parse(t).expect("t").unix;
    let times = [
        at("2025-03-30T00:59:59Z"),
        at("2025-03-30T01:00:00Z"),
        at("2025-10-26T00:59:59Z"),
        at("2025-10-26T01:00:00Z"),
        at("2026-07-01T00:00:00Z"),
    ];
    match zone_offsets(&times, &zone) {
        Offsets::PerRow(v) => assert_eq!(v, [60, 120, 120, 60, 120]),
        Offsets::Uniform(o) => panic!("uniform {o}"),
    }
    assert!(matches!(
        zone_offsets(&times[..1], &zone),
        Offsets::Uniform(60)
    ));
}

#[test]
fn persons_are_told_apart_by_the_text_of_their_id() {
    let layer = crate::analytics::test_data::layer_with(
        "ids",
        &[("device", FieldType::String)],
        [
            Value::Int(1),
            Value::Float(1.0),
            Value::String("1".into()),
            Value::String("1.0".into()),
            Value::Int(2),
        ]
        .into_iter()
        .zip(1..)
        .map(|(v, id)| crate::model::Feature {
            id,
            geometry: Geometry::Point(Point::new(2.0, 41.0)),
            properties: vec![v],
        })
        .collect(),
    );
    let fields = PointFields {
        person: Some("device"),
        ..PointFields::default()
    };
    let cols = PointColumns::build(&layer, &fields).expect("build");
    // "1" and 1 are one id; "1.0" and 1.0 another, as the ingest's text of them.
    assert_eq!(cols.persons(), Some(&[0, 1, 0, 1, 2][..]));
    assert_eq!(cols.person_count(), 3);
}
