//! Simplification of one band's polygons and lines, with the validity fallback chain.
//!
//! Per polygon: parts and holes below the area threshold go first; the rest is
//! simplified with Douglas–Peucker at the zoom's tolerance. The result must pass
//! `geo`'s validity check (rings closed with at least three distinct points, no
//! self-intersection, no spike, holes inside and apart): if it does not, the
//! topology-preserving Visvalingam variant is tried, then the rings with only the tiny
//! parts removed, and last the raw geometry, which ingest has already made valid.

use geo::{Area as _, InteriorPoint as _, Simplify as _, SimplifyVwPreserve as _, Validation as _};
use geo_types::{Coord, Geometry, LineString, MultiPolygon, Polygon};

use super::{Band, POINT_FLAG, RAW, ShapeKind, TINY, TinyPolygons, unit_m};
use crate::index::IndexedLayer;

/// The outcome for one feature.
enum Outcome {
    /// Nothing changed.
    Same,
    /// Below the area threshold.
    Tiny,
    /// Fewer vertices, or tiny parts removed.
    Changed(ShapeKind, Vec<Vec<Vec<Coord<f64>>>>),
}

struct Tolerances {
    /// Douglas–Peucker distance, metres.
    distance: f64,
    /// Minimum polygon or hole area, square metres.
    area: f64,
}

/// Fills `band` with the simplified shapes of `layer` at the band's zoom.
pub(super) fn fill(band: &mut Band, layer: &IndexedLayer) {
    let settings = layer.settings();
    let unit = unit_m(band.zoom);
    let tol = Tolerances {
        distance: settings.tolerance * unit,
        area: settings.min_area * unit * unit,
    };
    let mut slots = vec![RAW; layer.len()];
    let mut any = false;
    for (i, slot) in slots.iter_mut().enumerate() {
        let geometry = &layer.mercator(i).0;
        let before = vertex_count(geometry);
        let outcome = match geometry {
            Geometry::Polygon(p) => polygons(std::slice::from_ref(p), &tol, &mut band.stats),
            Geometry::MultiPolygon(mp) => polygons(&mp.0, &tol, &mut band.stats),
            Geometry::LineString(ls) => lines(std::slice::from_ref(ls), &tol),
            Geometry::MultiLineString(mls) => lines(&mls.0, &tol),
            _ => Outcome::Same,
        };
        match outcome {
            Outcome::Same => {}
            Outcome::Tiny => {
                any = true;
                band.stats.tiny += 1;
                *slot = match settings.tiny_polygons {
                    TinyPolygons::Drop => TINY,
                    TinyPolygons::Point => match geometry.interior_point() {
                        Some(p) if band.points.len() < (POINT_FLAG - 3) as usize => {
                            band.points.push(p.0);
                            POINT_FLAG | super::end(band.points.len() - 1)
                        }
                        _ => TINY,
                    },
                };
            }
            Outcome::Changed(kind, parts) => {
                any = true;
                band.stats.simplified += 1;
                band.stats.vertices_before += before;
                band.stats.vertices_after += parts.iter().flatten().map(Vec::len).sum::<usize>();
                *slot = band.shapes.push(kind, &parts);
            }
        }
    }
    band.shapes.shrink();
    band.points.shrink_to_fit();
    if any {
        band.slots = Some(slots.into_boxed_slice());
    }
}

fn vertex_count(g: &Geometry<f64>) -> usize {
    use geo::CoordsIter as _;
    g.coords_count()
}

/// Area enclosed by a ring, square metres (`geo`'s `Area` gives lines zero area).
fn ring_area(ring: &LineString<f64>) -> f64 {
    let twice: f64 = ring
        .lines()
        .map(|l| l.start.x * l.end.y - l.end.x * l.start.y)
        .sum();
    twice.abs() / 2.0
}

fn polygons(parts: &[Polygon<f64>], tol: &Tolerances, stats: &mut super::BandStats) -> Outcome {
    let mut removed = false;
    // Tiny parts and holes out first: they would only collapse under simplification.
    let mut kept: Vec<Polygon<f64>> = Vec::with_capacity(parts.len());
    for p in parts {
        if p.unsigned_area() < tol.area {
            removed = true;
            continue;
        }
        let holes: Vec<LineString<f64>> = p
            .interiors()
            .iter()
            .filter(|h| ring_area(h) >= tol.area)
            .cloned()
            .collect();
        removed |= holes.len() < p.interiors().len();
        kept.push(Polygon::new(p.exterior().clone(), holes));
    }
    if kept.is_empty() {
        return Outcome::Tiny;
    }
    let kept = MultiPolygon::new(kept);
    let before = vertices(&kept);
    let dp = kept.simplify(tol.distance);
    if vertices(&dp) < before && dp.is_valid() {
        return changed(&dp);
    }
    if vertices(&dp) < before {
        stats.fallbacks += 1;
        // Visvalingam's epsilon is a triangle area: a vertex `d` off a chord of
        // length `2d` spans d².
        let vw = kept.simplify_vw_preserve(tol.distance * tol.distance);
        if vertices(&vw) < before && vw.is_valid() {
            return changed(&vw);
        }
    }
    // Filling a hole can cover an island inside it: check before trusting it.
    if removed && kept.is_valid() {
        return changed(&kept);
    }
    Outcome::Same
}

fn vertices(mp: &MultiPolygon<f64>) -> usize {
    mp.0.iter()
        .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
        .sum()
}

/// Stores rings open: the closing point repeats the first.
fn open(ring: &LineString<f64>) -> Vec<Coord<f64>> {
    let mut coords = ring.0.clone();
    if coords.len() > 1 && coords.first() == coords.last() {
        coords.pop();
    }
    coords
}

fn changed(mp: &MultiPolygon<f64>) -> Outcome {
    Outcome::Changed(
        ShapeKind::Polygon,
        mp.0.iter()
            .map(|p| {
                std::iter::once(open(p.exterior()))
                    .chain(p.interiors().iter().map(open))
                    .collect()
            })
            .collect(),
    )
}

/// Lines have no validity rule to keep beyond two distinct points, which
/// Douglas–Peucker always keeps (the end points).
fn lines(parts: &[LineString<f64>], tol: &Tolerances) -> Outcome {
    let simplified: Vec<LineString<f64>> = parts.iter().map(|l| l.simplify(tol.distance)).collect();
    let before: usize = parts.iter().map(|l| l.0.len()).sum();
    let after: usize = simplified.iter().map(|l| l.0.len()).sum();
    if after >= before {
        return Outcome::Same;
    }
    Outcome::Changed(
        ShapeKind::Line,
        simplified.into_iter().map(|l| vec![l.0]).collect(),
    )
}
