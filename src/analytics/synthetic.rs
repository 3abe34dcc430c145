//! Deterministic mobility pings and districts around Barcelona, shared by the
//! analytics benchmarks and the tests that check the benchmark data.
//!
//! Pings: a mixture of 40 Gaussian hot spots plus a 10 % uniform background partly
//! outside the city, 100 000 devices with a skewed number of pings each, one week of
//! timestamps from Monday 2025-03-03 (UTC+1, as in Barcelona in March). Districts:
//! 40 × 25 wiggly polygons of 128 vertices partitioning the city.
//!
//! May import: `index`, `model`.

use crate::analytics::NO_PERSON;
use crate::analytics::points::PointRow;
use crate::analytics::time_filter::Stamp;
use crate::index::IndexedLayer;
use crate::model::{Feature, Field, FieldType, LayerMeta, LayerName, Schema, Value};
use geo_types::{Coord, Geometry, LineString, Polygon};

/// Distinct devices (person ids) among the pings.
pub const DEVICES: u32 = 100_000;
/// The city's extent, lon/lat degrees.
pub const WEST: f64 = 2.05;
pub const EAST: f64 = 2.25;
pub const SOUTH: f64 = 41.32;
pub const NORTH: f64 = 41.47;
/// Monday 2025-03-03T00:00:00Z, the first instant of the week of pings.
pub const WEEK_START: i64 = 1_740_960_000;

/// A small deterministic generator (PCG-style LCG with an output mix).
pub struct Gen(pub u64);

impl Gen {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let x = self.0;
        (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (x >> 29)
    }

    /// Uniform in (0, 1).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` pings; the same `n` always gives the same rows.
pub fn pings(n: usize) -> Vec<PointRow> {
    let mut g = Gen(2024);
    let spots: Vec<(f64, f64, f64)> = (0..40)
        .map(|_| {
            let lon = WEST + (EAST - WEST) * g.unit();
            let lat = SOUTH + (NORTH - SOUTH) * g.unit();
            (lon, lat, 0.002 + 0.01 * g.unit())
        })
        .collect();
    (0..n)
        .map(|i| {
            let (lon, lat) = if i % 10 == 0 {
                // A uniform background, partly outside the city.
                (
                    WEST - 0.02 + (EAST - WEST + 0.04) * g.unit(),
                    SOUTH - 0.02 + (NORTH - SOUTH + 0.04) * g.unit(),
                )
            } else {
                let (x, y, s) = spots[(g.unit() * spots.len() as f64) as usize];
                (x + s * g.normal(), y + 0.75 * s * g.normal())
            };
            let t = WEEK_START + (g.unit() * 7.0 * 86_400.0) as i64;
            // Skewed: a few devices ping a lot.
            let person = (g.unit().powi(3) * f64::from(DEVICES)) as u32;
            PointRow {
                lon,
                lat,
                stamp: Some(Stamp {
                    unix: t,
                    offset_min: 60,
                }),
                person: person.min(DEVICES - 1),
                value: 30.0 * g.unit(),
                source: u32::try_from(i).unwrap_or(NO_PERSON),
            }
        })
        .collect()
}

/// 40 × 25 = 1 000 districts over the city: a jittered lattice whose edges wiggle,
/// shared exactly between neighbours (128 vertices per district).
pub fn districts() -> Vec<Geometry<f64>> {
    const NX: u32 = 40;
    const NY: u32 = 25;
    const STEPS: u32 = 32;
    let (dx, dy) = (
        (EAST - WEST) / f64::from(NX),
        (NORTH - SOUTH) / f64::from(NY),
    );
    let hash = |a: u32, b: u32| {
        let mut g = Gen(u64::from(a) << 32 | u64::from(b));
        g.next_u64();
        g.unit() - 0.5
    };
    let node = |i: u32, j: u32| {
        let inner = i > 0 && i < NX && j > 0 && j < NY;
        let (jx, jy) = if inner {
            (0.5 * hash(i, j), 0.5 * hash(j + 1000, i))
        } else {
            (0.0, 0.0)
        };
        Coord {
            x: WEST + (f64::from(i) + jx) * dx,
            y: SOUTH + (f64::from(j) + jy) * dy,
        }
    };
    // Points from node a to node b (excluding b), wiggling by a function of the
    // unordered pair so that both neighbours get the same vertices.
    let edge = |a: (u32, u32), b: (u32, u32)| -> Vec<Coord<f64>> {
        let (p, q) = (node(a.0, a.1), node(b.0, b.1));
        let amp = 0.08 * hash(a.0 * 97 + b.0, a.1 * 89 + b.1 + 7 * (a.0 + b.0 + a.1 + b.1));
        let boundary =
            a.0 == b.0 && (a.0 == 0 || a.0 == NX) || a.1 == b.1 && (a.1 == 0 || a.1 == NY);
        (0..STEPS / 4)
            .map(|k| {
                let t = f64::from(k) / f64::from(STEPS / 4);
                let w = if boundary {
                    0.0
                } else {
                    amp * (std::f64::consts::PI * t).sin() * (1.0 + 0.3 * (9.0 * t).sin())
                };
                // Perpendicular offset in cell units.
                Coord {
                    x: p.x + t * (q.x - p.x) - w * (q.y - p.y) / dy * dx,
                    y: p.y + t * (q.y - p.y) + w * (q.x - p.x) / dx * dy,
                }
            })
            .collect()
    };
    let canonical = |a: (u32, u32), b: (u32, u32)| {
        if a <= b {
            edge(a, b)
        } else {
            let mut v = edge(b, a);
            v.push(node(a.0, a.1));
            v.remove(0);
            v.reverse();
            v
        }
    };
    let mut zones = Vec::new();
    for j in 0..NY {
        for i in 0..NX {
            let corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            let mut ring: Vec<Coord<f64>> = Vec::new();
            for k in 0..4 {
                ring.extend(canonical(corners[k], corners[(k + 1) % 4]));
            }
            ring.push(ring[0]);
            zones.push(Geometry::Polygon(Polygon::new(
                LineString::new(ring),
                vec![],
            )));
        }
    }
    zones
}

/// Catalog metadata of a generated layer.
pub fn layer_meta(name: &str, fields: Vec<Field>, features: usize) -> LayerMeta {
    let mut meta = LayerMeta::in_memory(
        LayerName::new(name).expect("valid layer name"),
        Schema { fields },
        features as u64,
    );
    meta.version = 1;
    meta.geometry_type = "Polygon".into();
    meta
}

/// The districts as an indexed zones layer with a `name` field.
pub fn district_layer() -> IndexedLayer {
    let features: Vec<Feature> = districts()
        .into_iter()
        .zip(1u64..)
        .map(|(geometry, id)| Feature {
            id,
            geometry,
            properties: vec![Value::String(format!("d{id}"))],
        })
        .collect();
    let fields = vec![Field {
        name: "name".into(),
        field_type: FieldType::String,
    }];
    IndexedLayer::new(layer_meta("zones", fields, features.len()), features)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The benchmark's districts partition the city, and the zone index agrees with
    /// `geo` on them (a realistic complement to the unit tests of `ZoneIndex`).
    #[test]
    fn benchmark_districts_partition_the_city_and_index_matches_geo() {
        use geo::{Contains as _, Validation as _};
        let zones = districts();
        let area: f64 = zones.iter().map(geo::Area::unsigned_area).sum();
        let extent = (EAST - WEST) * (NORTH - SOUTH);
        assert!((area / extent - 1.0).abs() < 1e-9, "{area} vs {extent}");
        assert!(zones.iter().all(|z| z.is_valid()));
        let layer = crate::analytics::test_data::zones_of(zones.clone());
        let index = crate::analytics::aggregate::ZoneIndex::build(&layer);
        let mut g = Gen(5);
        for _ in 0..2_000 {
            let (lon, lat) = (
                WEST - 0.01 + 0.22 * g.unit(),
                SOUTH - 0.01 + 0.17 * g.unit(),
            );
            let p = geo_types::Point::new(lon, lat);
            let want: Vec<u32> = zones
                .iter()
                .zip(0u32..)
                .filter(|(z, _)| z.contains(&p))
                .map(|(_, i)| i)
                .collect();
            assert_eq!(
                index.zones_at(lon, lat, crate::analytics::aggregate::Boundary::Exclude),
                want
            );
        }
    }
}
