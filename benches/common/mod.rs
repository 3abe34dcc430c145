//! Deterministic synthetic city for benchmarks: `n` parcels on a rotated grid around
//! Barcelona, 6 vertices each, with the property columns of a cadastre; mobility
//! pings and districts in [`pings`].

#![allow(dead_code, reason = "each bench uses a different part")]

pub mod pings;

use geo_types::{Coord, Geometry, LineString, Polygon};
use tessera::index::IndexedLayer;
use tessera::model::{Bbox, Feature, Field, FieldType, LayerMeta, LayerName, Schema, Value};

/// City centre, degrees.
pub const CENTRE: (f64, f64) = (2.17, 41.39);
/// Side of the square city, metres.
pub const CITY_M: f64 = 10_000.0;

const LAND_USES: [&str; 7] = ["RES", "MIX", "COM", "IND", "EQP", "TRN", "VAC"];
const OWNERS: [&str; 5] = ["individual", "company", "community", "public", "religious"];

/// A small xorshift generator: deterministic and dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn to_lonlat(x: f64, y: f64) -> Coord<f64> {
    let lat0 = CENTRE.1.to_radians();
    Coord {
        x: CENTRE.0 + (x / (6_371_000.0 * lat0.cos())).to_degrees(),
        y: CENTRE.1 + (y / 6_371_000.0).to_degrees(),
    }
}

/// The schema of [`parcels`].
pub fn parcel_schema() -> Schema {
    let f = |name: &str, field_type| Field {
        name: name.into(),
        field_type,
    };
    Schema {
        fields: vec![
            f("parcel_id", FieldType::Integer),
            f("block_id", FieldType::Integer),
            f("zone_id", FieldType::Integer),
            f("area_m2", FieldType::Number),
            f("land_use", FieldType::String),
            f("year_built", FieldType::Integer),
            f("owner_type", FieldType::String),
            f("floors", FieldType::Integer),
        ],
    }
}

/// `n` parcels (ids 1..=n), rows of hexagon-ish quadrilaterals rotated 44°.
pub fn parcels(n: usize) -> Vec<Feature> {
    let side = (n as f64).sqrt().ceil() as usize;
    let cell = CITY_M / side as f64;
    let (sin, cos) = 44f64.to_radians().sin_cos();
    let mut rng = Rng::new(42);
    (0..n)
        .map(|i| {
            let (col, row) = ((i % side) as f64, (i / side) as f64);
            let x0 = col * cell - CITY_M / 2.0;
            let y0 = row * cell - CITY_M / 2.0;
            let g = cell * 0.05;
            let j = |rng: &mut Rng| (rng.unit() - 0.5) * cell * 0.1;
            let local = [
                (x0 + g, y0 + g),
                (x0 + cell / 2.0 + j(&mut rng), y0 + g),
                (x0 + cell - g, y0 + g),
                (x0 + cell - g, y0 + cell - g),
                (x0 + cell / 2.0 + j(&mut rng), y0 + cell - g),
                (x0 + g, y0 + cell - g),
            ];
            let mut ring: Vec<Coord<f64>> = local
                .iter()
                .map(|&(x, y)| to_lonlat(x * cos - y * sin, x * sin + y * cos))
                .collect();
            ring.push(ring[0]);
            let land_use = LAND_USES[(rng.next_u64() % 7) as usize];
            Feature {
                id: i as u64 + 1,
                geometry: Geometry::Polygon(Polygon::new(LineString::new(ring), vec![])),
                properties: vec![
                    Value::Int(i as i64 + 1),
                    Value::Int((i / 40) as i64 + 1),
                    Value::Int((i / 400) as i64 + 1),
                    Value::Float((cell * cell * 0.81 * 10.0).round() / 10.0),
                    Value::String(land_use.into()),
                    if land_use == "VAC" {
                        Value::Null
                    } else {
                        Value::Int(1860 + (rng.next_u64() % 165) as i64)
                    },
                    Value::String(OWNERS[(rng.next_u64() % 5) as usize].into()),
                    Value::Int(1 + (rng.next_u64() % 8) as i64),
                ],
            }
        })
        .collect()
}

/// Catalog metadata for a synthetic parcel layer.
pub fn parcel_meta(n: usize) -> LayerMeta {
    let name = LayerName::new("parcels").expect("valid");
    let mut meta = LayerMeta::in_memory(name, parcel_schema(), n as u64);
    meta.version = 1;
    meta.title = "Synthetic parcels".into();
    meta.geometry_type = "Polygon".into();
    meta.bbox = Some(Bbox::new(2.10, 41.34, 2.24, 41.44));
    meta
}

/// An indexed synthetic parcel layer.
pub fn parcel_layer(n: usize) -> IndexedLayer {
    IndexedLayer::new(parcel_meta(n), parcels(n))
}

/// The tile at zoom `z` containing the city centre.
pub fn centre_tile(z: u8) -> tessera::model::TileId {
    let n = f64::from(1u32 << z);
    let lat = CENTRE.1.to_radians();
    let x = ((CENTRE.0 + 180.0) / 360.0 * n).floor() as u64;
    let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor()
        as u64;
    tessera::model::TileId::new(u64::from(z), x, y).expect("valid tile")
}
