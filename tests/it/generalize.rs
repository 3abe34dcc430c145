//! Generalization and tile budgets on the synthetic 200 000-parcel city of the
//! benchmarks (every tile from z10 to z16), and grid clustering on a point layer.

#[path = "../../benches/common/mod.rs"]
mod city;

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use geo::Validation as _;
use geo_types::{Coord, Geometry, Point};
use mvt_reader::Reader;
use mvt_reader::feature::Value as MvtValue;
use tessera::index::generalized::{ClusterSettings, GeneralizeSettings, Shown};
use tessera::index::{IndexedLayer, TileBudget};
use tessera::model::tile::{MERCATOR_HALF_EXTENT_M, MercatorRect, mercator_to_lonlat};
use tessera::model::{Feature, Field, FieldType, TileId, Value};
use tessera::tiles::{RenderedTile, TileOptions, render_tile_with};

use crate::support::TestServer;

const PARCELS: usize = 200_000;

static CITY: LazyLock<IndexedLayer> = LazyLock::new(|| city::parcel_layer(PARCELS));

/// Web Mercator extent of a layer's features.
fn extent(layer: &IndexedLayer) -> MercatorRect {
    let mut r = MercatorRect {
        min_x: f64::INFINITY,
        min_y: f64::INFINITY,
        max_x: f64::NEG_INFINITY,
        max_y: f64::NEG_INFINITY,
    };
    for i in 0..layer.len() {
        let e = layer.envelope(i);
        r.min_x = r.min_x.min(e.min_x);
        r.min_y = r.min_y.min(e.min_y);
        r.max_x = r.max_x.max(e.max_x);
        r.max_y = r.max_y.max(e.max_y);
    }
    r
}

/// Every tile of zoom `z` that meets `r`.
fn tiles_over(r: &MercatorRect, z: u8) -> Vec<TileId> {
    let w = 2.0 * MERCATOR_HALF_EXTENT_M / f64::from(1u32 << z);
    let col = |x: f64| ((x + MERCATOR_HALF_EXTENT_M) / w).floor() as u64;
    let row = |y: f64| ((MERCATOR_HALF_EXTENT_M - y) / w).floor() as u64;
    let mut out = Vec::new();
    for y in row(r.max_y)..=row(r.min_y) {
        for x in col(r.min_x)..=col(r.max_x) {
            out.push(TileId::new(u64::from(z), x, y).expect("tile"));
        }
    }
    out
}

fn buffered(tile: TileId) -> MercatorRect {
    let b = tile.mercator_bounds();
    let pad = tile.width_m() * 64.0 / 4096.0;
    MercatorRect {
        min_x: b.min_x - pad,
        min_y: b.min_y - pad,
        max_x: b.max_x + pad,
        max_y: b.max_y + pad,
    }
}

fn within(inner: &MercatorRect, outer: &MercatorRect) -> bool {
    inner.min_x >= outer.min_x
        && inner.max_x <= outer.max_x
        && inner.min_y >= outer.min_y
        && inner.max_y <= outer.max_y
}

fn decode(tile: &RenderedTile) -> Vec<mvt_reader::feature::Feature> {
    let Some(bytes) = &tile.bytes else {
        return Vec::new();
    };
    let reader = Reader::new(bytes.clone()).expect("valid MVT");
    reader.get_features(0).expect("features")
}

/// Every tile from z10 to z16 over the city fits the default budget without the
/// renderer's safety net, and a feature lying in the buffers of two neighbouring tiles
/// is in both or in neither (the thinning rule does not depend on the tile).
#[test]
fn city_tiles_z10_to_z16_fit_the_budget_and_neighbours_agree() {
    let layer = &*CITY;
    let budget = TileBudget::default();
    let area = extent(layer);
    for z in 10..=16u8 {
        let mut ids: HashMap<(u32, u32), BTreeSet<u64>> = HashMap::new();
        let (mut largest, mut dropped, mut tiles) = (0, 0, 0);
        for tile in tiles_over(&area, z) {
            let rendered = render_tile_with(&[layer], tile, &TileOptions::default());
            let len = rendered.bytes.as_ref().map_or(0, Vec::len);
            assert!(
                len <= budget.max_bytes,
                "{z}/{}/{}: {len} bytes",
                tile.x,
                tile.y
            );
            assert!(rendered.report.features <= budget.max_features);
            assert_eq!(rendered.report.truncated, 0, "{z}/{}/{}", tile.x, tile.y);
            assert_eq!(rendered.report.simplified, z <= 14);
            largest = largest.max(len);
            dropped += rendered.report.dropped;
            tiles += 1;
            let got = decode(&rendered)
                .iter()
                .map(|f| f.id.expect("id"))
                .collect();
            ids.insert((tile.x, tile.y), got);
        }
        eprintln!("z{z}: {tiles} tiles, largest {largest} bytes, {dropped} dropped");
        if z == 10 {
            assert!(dropped > 0, "the z10 city needs thinning");
        }
        if z == 16 {
            assert_eq!(dropped, 0, "z16 tiles are small");
        }
        // Features wholly inside the overlap of two neighbours' buffered boxes.
        let mut compared = 0;
        for (&(x, y), left) in &ids {
            let Some(right) = ids.get(&(x + 1, y)) else {
                continue;
            };
            let a = buffered(TileId::new(u64::from(z), u64::from(x), u64::from(y)).expect("tile"));
            let b =
                buffered(TileId::new(u64::from(z), u64::from(x) + 1, u64::from(y)).expect("tile"));
            let overlap = MercatorRect {
                min_x: b.min_x,
                max_x: a.max_x,
                min_y: a.min_y.max(b.min_y),
                max_y: a.max_y.min(b.max_y),
            };
            for i in layer.in_mercator_rect(&overlap) {
                if within(layer.envelope(i), &overlap) {
                    let id = layer.id(i);
                    assert_eq!(left.contains(&id), right.contains(&id), "z{z} feature {id}");
                    compared += 1;
                }
            }
        }
        eprintln!("z{z}: {compared} features compared across neighbours");
    }
}

/// Rendering is deterministic: the same tile twice, and from a second layer built from
/// the same data, gives the same bytes (50 000 parcels with a 60 KB budget so that
/// thinning is exercised at z12 and z13 too).
#[test]
fn thinned_tiles_are_deterministic() {
    let options = TileOptions {
        budget: TileBudget {
            max_bytes: 60_000,
            max_features: 25_000,
        },
    };
    let a = city::parcel_layer(50_000);
    let b = city::parcel_layer(50_000);
    let area = extent(&a);
    let mut thinned = 0;
    for z in 10..=13u8 {
        for tile in tiles_over(&area, z) {
            let first = render_tile_with(&[&a], tile, &options);
            let again = render_tile_with(&[&a], tile, &options);
            let other = render_tile_with(&[&b], tile, &options);
            assert_eq!(first, again);
            assert_eq!(first, other);
            assert!(first.bytes.as_ref().map_or(0, Vec::len) <= options.budget.max_bytes);
            assert_eq!(first.report.truncated, 0);
            thinned += usize::from(first.report.dropped > 0);
        }
    }
    assert!(thinned > 4, "{thinned} thinned tiles");
}

/// Every simplified parcel of every simplified zoom passes `geo`'s validity check.
#[test]
fn simplified_city_polygons_stay_valid() {
    let layer = &*CITY;
    for z in 10..=14u8 {
        let band = layer.band(z);
        let mut simplified = 0;
        for i in 0..layer.len() {
            if let Shown::Simplified(shape) = band.shown(i) {
                let g = shape.to_geometry();
                assert!(
                    g.is_valid(),
                    "z{z} parcel {}: {:?}",
                    layer.id(i),
                    g.validation_errors()
                );
                simplified += 1;
            }
        }
        let stats = band.stats();
        eprintln!(
            "z{z}: {simplified} simplified, {} tiny, {stats:?}",
            stats.tiny
        );
        assert!(simplified + stats.tiny > 0);
    }
}

/// 60 000 points in hot spots; the sum of `capacity` is kept per cluster.
fn point_layer() -> (IndexedLayer, i64) {
    let mut rng = city::Rng::new(7);
    let spots: Vec<(f64, f64)> = (0..12)
        .map(|_| ((rng.unit() - 0.5) * 9000.0, (rng.unit() - 0.5) * 9000.0))
        .collect();
    let (ox, oy) = tessera::model::tile::lonlat_to_mercator(city::CENTRE.0, city::CENTRE.1);
    let mut total = 0;
    let features: Vec<Feature> = (0..60_000u64)
        .map(|i| {
            let (sx, sy) = spots[(i % 12) as usize];
            let r = rng.unit().powi(2) * 1500.0;
            let a = rng.unit() * std::f64::consts::TAU;
            let (lon, lat) = mercator_to_lonlat(ox + sx + r * a.cos(), oy + sy + r * a.sin());
            let capacity = (rng.next_u64() % 100) as i64;
            total += capacity;
            Feature {
                id: i + 1,
                geometry: Geometry::Point(Point(Coord { x: lon, y: lat })),
                properties: vec![Value::Int(capacity), Value::String(format!("asset {i}"))],
            }
        })
        .collect();
    let mut meta = city::parcel_meta(features.len());
    meta.geometry_type = "Point".into();
    meta.schema.fields = vec![
        Field {
            name: "capacity".into(),
            field_type: FieldType::Integer,
        },
        Field {
            name: "label".into(),
            field_type: FieldType::String,
        },
    ];
    let settings = GeneralizeSettings {
        cluster: Some(ClusterSettings {
            sum_field: Some("capacity".into()),
            ..ClusterSettings::default()
        }),
        ..GeneralizeSettings::default()
    };
    (IndexedLayer::with_settings(meta, features, settings), total)
}

fn int(v: &MvtValue) -> i64 {
    match v {
        MvtValue::Int(i) | MvtValue::SInt(i) => *i,
        MvtValue::UInt(u) => i64::try_from(*u).expect("fits"),
        other => panic!("integer expected, got {other:?}"),
    }
}

/// At every clustered zoom, the point counts of the distinct features of all tiles add
/// up to the layer's feature count, and their capacity sums to the layer's total; also
/// when a tiny budget makes single points into clusters of one.
#[test]
fn cluster_counts_add_up_at_every_zoom() {
    let (layer, total) = point_layer();
    let area = extent(&layer);
    for (options, zooms) in [
        (TileOptions::default(), 0..=13u8),
        (
            TileOptions {
                budget: TileBudget {
                    max_bytes: 40_000,
                    max_features: 200_000,
                },
            },
            9..=13u8,
        ),
    ] {
        for z in zooms {
            let mut seen: HashMap<u64, (i64, i64)> = HashMap::new();
            for tile in tiles_over(&area, z) {
                let rendered = render_tile_with(&[&layer], tile, &options);
                assert!(rendered.bytes.as_ref().map_or(0, Vec::len) <= options.budget.max_bytes);
                assert_eq!(rendered.report.truncated, 0);
                for f in decode(&rendered) {
                    let props = f.properties.unwrap_or_default();
                    let counted = match props.get("point_count") {
                        Some(n) => (int(n), int(&props["capacity_sum"])),
                        None => (1, int(&props["capacity"])),
                    };
                    let id = f.id.expect("id");
                    if let Some(previous) = seen.insert(id, counted) {
                        assert_eq!(previous, counted, "feature {id} differs between tiles");
                    }
                }
            }
            let count: i64 = seen.values().map(|c| c.0).sum();
            let sum: i64 = seen.values().map(|c| c.1).sum();
            assert_eq!(count, 60_000, "z{z}");
            assert_eq!(sum, total, "z{z}");
        }
    }
}

#[tokio::test]
async fn tiles_report_what_was_thinned() {
    let (server, _, _) = TestServer::demo().await;
    let centre = |z: u8| {
        let (lon, lat) = (2.17, 41.39);
        let n = f64::from(1u32 << z);
        let x = ((lon + 180.0) / 360.0 * n).floor();
        let lat = f64::to_radians(lat);
        let y =
            ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
        (x, y)
    };
    let header = |resp: &reqwest::Response| {
        resp.headers()["x-tessera-thinned"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let (x, y) = centre(11);
    let low = server.get(&format!("/tiles/parcels/11/{x}/{y}.mvt")).await;
    let low = header(&low);
    assert!(low.starts_with("dropped=0;tiny="), "{low}");
    assert!(low.ends_with(";simplified=1"), "{low}");
    let tiny: usize = low
        .split(';')
        .find_map(|kv| kv.strip_prefix("tiny="))
        .and_then(|v| v.parse().ok())
        .expect("tiny count");
    assert!(
        tiny > 0,
        "demo parcels are below 4 square units at z11: {low}"
    );
    let (x, y) = centre(16);
    let path = format!("/tiles/parcels/16/{x}/{y}.mvt");
    let high = server.get(&path).await;
    assert_eq!(
        header(&high),
        "dropped=0;tiny=0;clustered=0;truncated=0;simplified=0"
    );
    // From the cache, the report comes along.
    let again = server.get(&path).await;
    assert_eq!(
        header(&again),
        "dropped=0;tiny=0;clustered=0;truncated=0;simplified=0"
    );
}
