use geo::{Area as _, Contains as _, Validation as _};
use geo_types::{LineString, Point, Polygon};

use super::*;
use crate::model::tile::mercator_to_lonlat;
use crate::model::{Feature, Field, FieldType, LayerMeta, LayerName, Schema, Value};

fn meta(n: usize) -> LayerMeta {
    let schema = Schema {
        fields: vec![Field {
            name: "weight".into(),
            field_type: FieldType::Integer,
        }],
    };
    let mut meta = LayerMeta::in_memory(LayerName::new("t").expect("name"), schema, n as u64);
    meta.version = 1;
    meta
}

/// A ring given in Web Mercator metres around a point near Barcelona, unprojected.
fn ring(coords: &[(f64, f64)]) -> LineString<f64> {
    let (ox, oy) = (241_000.0, 5_070_000.0);
    let mut v: Vec<Coord<f64>> = coords
        .iter()
        .map(|&(x, y)| {
            let (lon, lat) = mercator_to_lonlat(ox + x, oy + y);
            Coord { x: lon, y: lat }
        })
        .collect();
    v.push(v[0]);
    LineString::new(v)
}

fn layer(geometries: Vec<Geometry<f64>>, settings: GeneralizeSettings) -> IndexedLayer {
    let features: Vec<Feature> = geometries
        .into_iter()
        .zip(1u64..)
        .map(|(geometry, id)| Feature {
            id,
            geometry,
            properties: vec![Value::Int(i64::try_from(id).expect("small"))],
        })
        .collect();
    IndexedLayer::with_settings(meta(features.len()), features, settings)
}

/// A 100 m square whose edges zigzag by ±2 m every 5 m.
fn jagged() -> Geometry<f64> {
    let mut pts = Vec::new();
    for i in 0..20 {
        let t = f64::from(i) * 5.0;
        let j = if i % 2 == 0 { 2.0 } else { -2.0 };
        pts.push((t, j));
    }
    for i in 0..20 {
        let t = f64::from(i) * 5.0;
        let j = if i % 2 == 0 { 2.0 } else { -2.0 };
        pts.push((100.0 + j, t));
    }
    for i in 0..20 {
        let t = 100.0 - f64::from(i) * 5.0;
        pts.push((t, 100.0 + if i % 2 == 0 { 2.0 } else { -2.0 }));
    }
    for i in 0..20 {
        let t = 100.0 - f64::from(i) * 5.0;
        pts.push((if i % 2 == 0 { 2.0 } else { -2.0 }, t));
    }
    Geometry::Polygon(Polygon::new(ring(&pts), vec![]))
}

#[test]
fn jagged_polygon_loses_vertices_at_low_zoom_and_stays_valid() {
    let l = layer(vec![jagged()], GeneralizeSettings::default());
    // z10: a tile unit is 9.6 m, the tolerance 4.8 m flattens the ±2 m zigzag.
    let Shown::Simplified(shape) = l.band(10).shown(0) else {
        panic!("simplified at z10");
    };
    let g = shape.to_geometry();
    assert!(g.is_valid());
    let before = l.mercator(0).0.unsigned_area();
    assert!((g.unsigned_area() - before).abs() / before < 0.1);
    assert!(l.band(10).stats().vertices_after < l.band(10).stats().vertices_before / 4);
    // Deeper than the simplification zooms, geometry is raw.
    assert!(matches!(l.band(15).shown(0), Shown::Raw));
    assert!(!l.band(15).is_simplified());
}

#[test]
fn tiny_polygons_are_dropped_or_become_an_inside_point() {
    let square = Geometry::Polygon(Polygon::new(
        ring(&[(0.0, 0.0), (30.0, 0.0), (30.0, 30.0), (0.0, 30.0)]),
        vec![],
    ));
    // 900 m² is 4 square units where a unit is 15 m: z9 (19 m) is tiny, z12 is not.
    let dropped = layer(vec![square.clone()], GeneralizeSettings::default());
    assert!(matches!(dropped.band(9).shown(0), Shown::Tiny));
    assert!(!matches!(dropped.band(12).shown(0), Shown::Tiny));
    let pointed = layer(
        vec![square],
        GeneralizeSettings {
            tiny_polygons: TinyPolygons::Point,
            ..GeneralizeSettings::default()
        },
    );
    let Shown::Point(p) = pointed.band(9).shown(0) else {
        panic!("point expected");
    };
    let Geometry::Polygon(raw) = &pointed.mercator(0).0 else {
        panic!("polygon");
    };
    assert!(raw.contains(&Point(p)));
}

#[test]
fn holes_below_the_area_threshold_are_filled() {
    let with_hole = Geometry::Polygon(Polygon::new(
        ring(&[(0.0, 0.0), (400.0, 0.0), (400.0, 400.0), (0.0, 400.0)]),
        vec![ring(&[
            (100.0, 100.0),
            (110.0, 100.0),
            (110.0, 110.0),
            (100.0, 110.0),
        ])],
    ));
    let l = layer(vec![with_hole], GeneralizeSettings::default());
    // z10: a unit is 9.6 m, the 100 m² hole is about one square unit.
    let Shown::Simplified(shape) = l.band(10).shown(0) else {
        panic!("hole removed");
    };
    let Geometry::MultiPolygon(mp) = shape.to_geometry() else {
        panic!("polygons");
    };
    assert!(mp.0[0].interiors().is_empty());
    // z16: the hole is hundreds of square units and stays.
    assert!(matches!(l.band(16).shown(0), Shown::Raw));
}

/// Douglas–Peucker drops the bulge's apex and leaves the hole outside the shell; the
/// fallback must not serve that.
#[test]
fn simplification_that_would_leave_a_hole_outside_falls_back() {
    let bulge = Geometry::Polygon(Polygon::new(
        ring(&[
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (7.0, 10.0),
            (5.0, 10.4),
            (3.0, 10.0),
            (0.0, 10.0),
        ]),
        vec![ring(&[
            (4.8, 10.05),
            (5.2, 10.05),
            (5.2, 10.25),
            (4.8, 10.25),
        ])],
    ));
    assert!(bulge.is_valid());
    let settings = GeneralizeSettings {
        min_area: 0.01,
        ..GeneralizeSettings::default()
    };
    let l = layer(vec![bulge], settings);
    // z12: tolerance 1.2 m, more than the 0.4 m bulge.
    let band = l.band(12);
    assert!(band.stats().fallbacks >= 1);
    match band.shown(0) {
        Shown::Simplified(shape) => assert!(shape.to_geometry().is_valid()),
        Shown::Raw => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn density_ranks_are_stable_and_grow_with_density() {
    let dot = |x: f64, y: f64| {
        let (lon, lat) = mercator_to_lonlat(241_000.0 + x, 5_070_000.0 + y);
        Geometry::Point(geo_types::Point::new(lon, lat))
    };
    // Forty points in one 10 m spot, one point 5 km away.
    let mut pts: Vec<Geometry<f64>> = (0..40).map(|i| dot(f64::from(i) * 0.25, 0.0)).collect();
    pts.push(dot(5000.0, 5000.0));
    let settings = GeneralizeSettings {
        cluster: None,
        ..GeneralizeSettings::default()
    };
    let a = layer(pts.clone(), settings.clone());
    let b = layer(pts, settings);
    for i in 0..41 {
        assert_eq!(a.band(12).rank(i).to_bits(), b.band(12).rank(i).to_bits());
    }
    let dense_mean: f32 = (0..40).map(|i| a.band(12).rank(i)).sum::<f32>() / 40.0;
    assert!(a.band(12).rank(40) <= 1.0);
    assert!(dense_mean > 5.0);
}

#[test]
fn clusters_cover_every_point_once() {
    let pts: Vec<Geometry<f64>> = (0..500)
        .map(|i| {
            let (x, y) = (f64::from(i % 25) * 40.0, f64::from(i / 25) * 40.0);
            let (lon, lat) = mercator_to_lonlat(241_000.0 + x, 5_070_000.0 + y);
            Geometry::Point(geo_types::Point::new(lon, lat))
        })
        .collect();
    let settings = GeneralizeSettings {
        cluster: Some(ClusterSettings {
            sum_field: Some("weight".into()),
            ..ClusterSettings::default()
        }),
        ..GeneralizeSettings::default()
    };
    let l = layer(pts, settings);
    for z in [0u8, 8, 12, 13] {
        let clusters = l.band(z).clusters().expect("clustered");
        let count: u32 = clusters.points().iter().map(|c| c.count).sum();
        assert_eq!(count, 500, "z{z}");
        let sum: i64 = clusters
            .points()
            .iter()
            .map(|c| match c.sum {
                Some(Value::Int(s)) => s,
                _ => panic!("integer sum"),
            })
            .sum();
        assert_eq!(sum, (1..=500).sum::<i64>(), "z{z}");
    }
    assert!(l.band(14).clusters().is_none());
}
