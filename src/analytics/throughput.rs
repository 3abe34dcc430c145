//! A quick throughput print on 10M generated pings, without criterion:
//! `cargo test --release --lib analytics::throughput -- --ignored --nocapture`.
//!
//! Data: pings around Barcelona from a mixture of Gaussian hot spots, 100 000 devices,
//! four weeks of timestamps; zones: 1 000 wiggly districts (128 vertices each)
//! partitioning the city. Each figure is the best of three runs (the machine is
//! shared), in points per second on one core.
//!
//! May import: `model`.

use std::time::{Duration, Instant};

use geo_types::{Coord, Geometry, LineString, Polygon};
use h3o::Resolution;

use super::aggregate::{Boundary, ZoneIndex, points_in_zones};
use super::points::{PointColumns, PointRow, Selection};
use super::test_data::zones_of;
use super::time_filter::{HourSet, Stamp, TimeFilter};
use super::{NO_PERSON, StatsSpec, grid, hex};
use crate::model::TileId;
use crate::model::tile::lonlat_to_mercator;

const POINTS: usize = 10_000_000;
const DEVICES: u32 = 100_000;
/// The city's extent, lon/lat degrees.
const WEST: f64 = 2.05;
const EAST: f64 = 2.25;
const SOUTH: f64 = 41.32;
const NORTH: f64 = 41.47;

/// A small deterministic generator (PCG-style LCG with an output mix).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let x = self.0;
        (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (x >> 29)
    }

    #[expect(clippy::cast_precision_loss, reason = "53 bits are exact")]
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn pings() -> Vec<PointRow> {
    let mut g = Gen(2024);
    let spots: Vec<(f64, f64, f64)> = (0..40)
        .map(|_| {
            let lon = WEST + (EAST - WEST) * g.unit();
            let lat = SOUTH + (NORTH - SOUTH) * g.unit();
            (lon, lat, 0.002 + 0.01 * g.unit())
        })
        .collect();
    (0..POINTS)
        .map(|i| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "test data"
            )]
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
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "test data"
            )]
            let (t, person) = (
                1_714_521_600 + (g.unit() * 28.0 * 86_400.0) as i64,
                // Skewed: a few devices ping a lot.
                (g.unit().powi(3) * f64::from(DEVICES)) as u32,
            );
            PointRow {
                lon,
                lat,
                stamp: Some(Stamp {
                    unix: t,
                    offset_min: 120,
                }),
                person: person.min(DEVICES - 1),
                value: 30.0 * g.unit(),
                source: u32::try_from(i).unwrap_or(NO_PERSON),
            }
        })
        .collect()
}

/// 40 × 25 districts over the city: a jittered lattice whose edges wiggle, shared
/// exactly between neighbours.
fn districts() -> Vec<Geometry<f64>> {
    const NX: u32 = 40;
    const NY: u32 = 25;
    const STEPS: u32 = 32;
    let (dx, dy) = (
        (EAST - WEST) / f64::from(NX),
        (NORTH - SOUTH) / f64::from(NY),
    );
    let hash = |a: u32, b: u32| {
        let mut g = Gen(u64::from(a) << 32 | u64::from(b));
        g.next();
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

/// Best of three runs.
fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let r = f();
        fastest = fastest.min(t.elapsed());
        out = Some(r);
    }
    (fastest, out.expect("ran"))
}

#[expect(clippy::cast_precision_loss, reason = "a report")]
fn report(what: &str, points: usize, d: Duration) {
    println!(
        "{what:<58} {:>8.1} ms {:>9.1} M points/s",
        d.as_secs_f64() * 1e3,
        points as f64 / d.as_secs_f64() / 1e6
    );
}

#[test]
#[ignore = "timing run: cargo test --release --lib analytics::throughput -- --ignored --nocapture"]
fn throughput_on_ten_million_pings() {
    let t = Instant::now();
    let rows = pings();
    let generated = t.elapsed();
    let t = Instant::now();
    let cols = PointColumns::from_rows("bench@1", rows, Some(DEVICES), true).expect("columns");
    println!(
        "{} points generated in {:.1} s, columns built in {:.1} s (offset error {:.1e} m)",
        cols.len(),
        generated.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        cols.offset_error_m()
    );
    let all = Selection::Range(0..cols.len());
    let count = StatsSpec::default();
    let full = StatsSpec {
        distinct: true,
        value: true,
    };

    // Grid: a zoom-11 tile holding the city, and a zoom-14 tile in its centre.
    let (cx, cy) = lonlat_to_mercator(2.17, 41.39);
    let tile_at = |z: u8| {
        let n = f64::from(1u32 << z);
        let w = 2.0 * crate::model::tile::MERCATOR_HALF_EXTENT_M / n;
        let half = crate::model::tile::MERCATOR_HALF_EXTENT_M;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "in range"
        )]
        let (x, y) = (((cx + half) / w) as u64, ((half - cy) / w) as u64);
        TileId::new(u64::from(z), x, y).expect("tile")
    };
    for (z, size, spec, label) in [
        (11, 256, count, "count"),
        (11, 512, count, "count"),
        (14, 256, count, "count"),
        (11, 256, full, "count+distinct+sum"),
    ] {
        let g = grid::GridSpec::for_tile(tile_at(z), size).expect("grid");
        let (d, bins) = best(|| grid::bin(&cols, &all, &g, spec).expect("bin"));
        report(
            &format!("grid z{z} {size}x{size} {label} ({} in tile)", bins.total()),
            cols.len(),
            d,
        );
    }
    let rush = TimeFilter {
        hours: HourSet::parse("7-9,17-19").expect("hours"),
        ..TimeFilter::default()
    };
    let (d, sel) = best(|| cols.select(&rush, None));
    report(
        &format!("select hours=7-9,17-19 ({} rows)", sel.len()),
        cols.len(),
        d,
    );
    let g = grid::GridSpec::for_tile(tile_at(11), 256).expect("grid");
    let (d, _) = best(|| grid::bin(&cols, &sel, &g, count).expect("bin"));
    report(
        "grid z11 256x256 count over the selected rows",
        sel.len(),
        d,
    );

    // H3.
    for (res, spec, label) in [
        (Resolution::Nine, count, "count"),
        (Resolution::Seven, count, "count"),
        (Resolution::Eleven, count, "count"),
        (Resolution::Nine, full, "count+distinct+sum"),
    ] {
        let (d, bins) = best(|| hex::bin(&cols, &all, None, res, spec).expect("bin"));
        report(
            &format!(
                "h3 res {} {label} ({} cells)",
                u8::from(res),
                bins.cells.len()
            ),
            cols.len(),
            d,
        );
    }
    let tile = tile_at(14).mercator_bounds();
    let (d, bins) = best(|| {
        hex::bin(
            &cols,
            &all,
            Some(&tile),
            hex::resolution_for_zoom(14),
            count,
        )
        .expect("bin")
    });
    report(
        &format!(
            "h3 z14 tile, res 10, complete cells ({} cells)",
            bins.cells.len()
        ),
        cols.len(),
        d,
    );
    let direct = cols.len() / 10;
    let (d, _) = best(|| {
        let (lat, lon) = (cols.lat(), cols.lon());
        (0..direct)
            .map(|i| {
                u64::from(
                    h3o::LatLng::new(lat[i], lon[i])
                        .expect("valid")
                        .to_cell(Resolution::Nine),
                )
            })
            .fold(0u64, |a, c| a ^ c)
    });
    report(
        "h3o to_cell alone, res 9 (1M points, for reference)",
        direct,
        d,
    );

    // Points in 1 000 zones.
    let zones = zones_of(districts());
    let t = Instant::now();
    let index = ZoneIndex::build(&zones);
    let (cells, entries) = index.size();
    println!(
        "zone index: {} zones, {cells} cells, {entries} entries, built in {:.0} ms",
        index.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    for (spec, label) in [(count, "count"), (full, "count+distinct+sum")] {
        let (d, z) = best(|| {
            points_in_zones(&cols, &all, &index, Boundary::Exclude, spec).expect("aggregate")
        });
        let assigned: u64 = z.zones.iter().map(|s| s.count).sum();
        report(
            &format!("points in 1000 zones, {label} ({assigned} assigned)"),
            cols.len(),
            d,
        );
    }
}

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
    let layer = zones_of(zones.clone());
    let index = ZoneIndex::build(&layer);
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
        assert_eq!(index.zones_at(lon, lat, Boundary::Exclude), want);
    }
}
