use geo_types::{Geometry, point, polygon};

use super::*;
use crate::model::{Field, FieldType, LayerName, PropertyFilter, Schema, Value};

fn layer(features: Vec<Feature>) -> IndexedLayer {
    let meta = LayerMeta::in_memory(
        LayerName::new("t").expect("name"),
        Schema {
            fields: vec![Field {
                name: "kind".into(),
                field_type: FieldType::String,
            }],
        },
        features.len() as u64,
    );
    IndexedLayer::new(meta, features)
}

fn feature(id: u64, geometry: Geometry<f64>, kind: &str) -> Feature {
    Feature {
        id,
        geometry,
        properties: vec![Value::String(kind.into())],
    }
}

/// An L-shaped polygon whose envelope covers the box (0.6..0.9, 0.6..0.9) but whose
/// area does not.
fn l_shape() -> Geometry<f64> {
    Geometry::Polygon(polygon![
        (x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 0.5),
        (x: 0.5, y: 0.5), (x: 0.5, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)
    ])
}

#[test]
fn bbox_matches_geometry_not_envelope() {
    let l = layer(vec![
        feature(1, l_shape(), "a"),
        feature(2, Geometry::Point(point!(x: 0.7, y: 0.7)), "b"),
    ]);
    let q = FeatureQuery {
        bbox: Some(Bbox::new(0.6, 0.6, 0.9, 0.9)),
        limit: 10,
        ..FeatureQuery::default()
    };
    assert_eq!(l.query(&q).expect("query").ids, vec![2]);
    let q = FeatureQuery {
        bbox: Some(Bbox::new(0.1, 0.1, 0.2, 0.2)),
        limit: 10,
        ..FeatureQuery::default()
    };
    assert_eq!(l.query(&q).expect("query").ids, vec![1]);
}

#[test]
fn filters_and_paging() {
    let l = layer(
        (1u32..=10)
            .map(|i| {
                let p = Geometry::Point(point!(x: f64::from(i), y: 0.0));
                feature(u64::from(i), p, if i % 2 == 0 { "even" } else { "odd" })
            })
            .collect(),
    );
    let q = FeatureQuery {
        filters: vec![PropertyFilter {
            field: 0,
            value: Value::String("even".into()),
        }],
        offset: 1,
        limit: 2,
        bbox: None,
    };
    let page = l.query(&q).expect("query");
    assert_eq!(page.number_matched, 5);
    assert_eq!(page.ids, vec![4, 6]);
    let none = FeatureQuery {
        filters: vec![PropertyFilter {
            field: 0,
            value: Value::String("absent".into()),
        }],
        limit: 10,
        ..FeatureQuery::default()
    };
    assert_eq!(l.query(&none).expect("query").number_matched, 0);
}

#[test]
fn features_by_id_in_given_order() {
    let l = layer(vec![
        feature(5, Geometry::Point(point!(x: 1.0, y: 1.0)), "x"),
        feature(3, Geometry::Point(point!(x: 2.0, y: 2.0)), "y"),
    ]);
    let got = l.features(&[5, 4, 3]).expect("features");
    assert_eq!(got.iter().map(|f| f.id).collect::<Vec<_>>(), vec![5, 3]);
    assert_eq!(got[1].properties, vec![Value::String("y".into())]);
}

#[test]
fn mercator_projection_of_known_point() {
    let g = MercatorGeometry::project(&Geometry::Point(point!(x: 180.0, y: 0.0)));
    let Geometry::Point(p) = g.0 else {
        panic!("point expected");
    };
    assert!((p.x() - 20_037_508.342_789_244).abs() < 1e-6);
    assert!(p.y().abs() < 1e-9);
}

#[test]
fn indexed_layer_keeps_the_feature_source_contract() {
    let features = vec![
        feature(3, l_shape(), "a"),
        feature(1, Geometry::Point(point!(x: 0.7, y: 0.7)), "b"),
        feature(2, Geometry::Point(point!(x: 5.0, y: 5.0)), "c"),
        feature(9, Geometry::Point(point!(x: 0.2, y: 0.9)), "a"),
    ];
    let l = layer(features.clone());
    crate::model::source::check_contract(
        &l,
        &features,
        &[
            Bbox::new(0.6, 0.6, 0.9, 0.9),
            Bbox::new(0.0, 0.0, 10.0, 10.0),
            Bbox::new(20.0, 20.0, 30.0, 30.0),
        ],
    );
}
