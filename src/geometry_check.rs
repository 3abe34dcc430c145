//! Geometry validation and repair for ingest: decides whether a WGS84 lon/lat
//! geometry may be stored, normalises it, and repairs what can be repaired.
//!
//! [`check`] takes a geometry that has already been reprojected and returns it
//! as stored, with the [`Fix`]es applied, or says why it was [`Rejected`]:
//!
//! - Non-finite coordinates, or longitudes outside `[-180, 180]` / latitudes
//!   outside `[-90, 90]`, reject the whole geometry.
//! - Consecutive repeated positions are removed.
//! - Degenerate parts (a ring with fewer than 4 positions or no area, a line
//!   with fewer than 2 distinct positions, an empty member) are dropped from
//!   holes, multi-geometries and collections; a geometry with nothing left
//!   is rejected.
//! - Polygons must be valid in the OGC sense, by the same rules as
//!   [`geo::Validation`]: rings do not self-intersect or self-touch, holes lie
//!   inside the exterior, rings touch at most at points, and the polygons of a
//!   multipolygon neither overlap nor share an edge. (Like geo, this does not
//!   check that the interior is connected; unlike geo, it treats a ring whose
//!   positions are all collinear as degenerate.)
//! - An invalid polygon is rebuilt with the `i_overlay` boolean operations:
//!   the area the exterior encloses minus the areas the holes enclose, rings
//!   filled by the non-zero winding rule, or the even-odd rule when i_overlay
//!   fails on that. The result must pass the same checks, else the polygon is
//!   rejected as [`Rejected::Unrepairable`]. A polygon that splits becomes a
//!   multipolygon; overlapping parts of a multipolygon are merged.
//! - Rings are oriented as RFC 7946 asks: exteriors counter-clockwise, holes
//!   clockwise.
//!
//! A valid geometry comes back bit for bit as it went in, apart from rings
//! reversed for orientation, and without running the boolean operations.
//! Ingest calls this for every feature, so a valid polygon without holes costs
//! no allocation and no clone. That is why validity is decided here rather than
//! by [`geo::Validation`], which clones every ring and compares every pair of
//! segments (minutes for a 100 000-vertex coastline): these checks use the
//! same predicates, and the tests hold them to agree with geo, but compare only
//! segments whose bounding boxes overlap, found by a sweep along x once a ring
//! is large. Polygons with holes and multipolygons whose parts' boxes overlap
//! are related with geo's `Relate`, as geo's validation does.
//!
//! Unclosed rings cannot reach this module: `geo_types` closes every ring
//! when a polygon is built or its rings are mutated, so closing rings (and
//! reporting it) is the readers' business.
//!
//! # Precision
//!
//! Repaired geometries are snapped by `i_overlay` to a grid of about 2⁻³⁰ of
//! their extent (so ~1e-13 degrees for a parcel, ~1e-7 degrees for a country);
//! valid geometries are never snapped.
//!
//! May import: nothing from the crate.

use std::fmt;

use geo::algorithm::bool_ops::{BooleanOps, FillRule};
use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::winding_order::{Winding, WindingOrder};
use geo::{BoundingRect, Intersects, PreparedGeometry, Relate};
use geo_types::{
    Coord, Geometry, GeometryCollection, Line, LineString, MultiLineString, MultiPolygon, Polygon,
    Rect, Triangle,
};

/// The deepest nesting of geometry collections accepted.
///
/// Collections are checked recursively; hostile input could nest them deep
/// enough to exhaust the stack. No format we read needs more than a few levels.
pub const MAX_COLLECTION_DEPTH: usize = 16;

/// Rings with up to this many segments compare every pair of segments; larger
/// ones sort their segments first. Below it the sort costs more than it saves.
const BRUTE_FORCE_MAX_SEGMENTS: usize = 32;

/// A geometry accepted for storage, and what was done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The geometry to store: valid, with rings oriented per RFC 7946.
    pub geometry: Geometry<f64>,
    /// What was changed, each kind once, in the order first applied; empty
    /// when the geometry was stored as given.
    pub fixes: Vec<Fix>,
}

/// One kind of change made to an accepted geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fix {
    /// Consecutive identical positions were collapsed into one.
    RemovedRepeatedPoints,
    /// Rings without area, lines without length or empty members were dropped.
    RemovedDegenerateParts,
    /// Rings were reversed so that exteriors run counter-clockwise and holes
    /// clockwise (RFC 7946 §3.1.6).
    ReorientedRings,
    /// A polygon whose rings self-intersect, cross, or lie outside the exterior
    /// was rebuilt from the area its rings enclose.
    ResolvedSelfIntersection,
    /// Polygons of a multipolygon that overlapped or shared an edge were merged.
    MergedOverlappingParts,
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fix::RemovedRepeatedPoints => "removed repeated points",
            Fix::RemovedDegenerateParts => "removed degenerate parts",
            Fix::ReorientedRings => "reoriented rings",
            Fix::ResolvedSelfIntersection => "resolved self-intersecting or misplaced rings",
            Fix::MergedOverlappingParts => "merged overlapping polygons",
        })
    }
}

/// Which part of a geometry had too few distinct positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A line string (or line), which needs 2 distinct positions.
    Line,
    /// A polygon's exterior ring, which needs 3 distinct positions (4 with the
    /// closing one).
    Ring,
}

impl Part {
    fn describe(self) -> &'static str {
        match self {
            Part::Line => "line has fewer than 2 distinct positions",
            Part::Ring => "polygon ring has fewer than 3 distinct positions",
        }
    }
}

/// Why a geometry cannot be stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// No coordinates at all.
    #[error("geometry is empty")]
    Empty,
    /// A coordinate is NaN or infinite.
    #[error("coordinate ({x:?}, {y:?}) is not a finite number")]
    NonFinite { x: f64, y: f64 },
    /// A longitude outside `[-180, 180]` or a latitude outside `[-90, 90]`.
    #[error("coordinate ({x:?}, {y:?}) is outside lon/lat range")]
    OutOfRange { x: f64, y: f64 },
    /// Too few distinct positions, once repeats are removed.
    #[error("{}", .0.describe())]
    TooFewPoints(Part),
    /// A polygon that encloses no area (collinear, or only spikes).
    #[error("polygon encloses no area")]
    ZeroArea,
    /// An invalid polygon whose repair did not produce a valid one.
    #[error("invalid polygon could not be repaired: {0}")]
    Unrepairable(String),
    /// Geometry collections nested deeper than [`MAX_COLLECTION_DEPTH`].
    #[error("geometry collections are nested more than {MAX_COLLECTION_DEPTH} deep")]
    TooDeep,
}

impl Rejected {
    /// True when the problem is that the part has nothing in it, so a
    /// multi-geometry or collection may drop the part and keep the rest.
    fn is_degenerate(&self) -> bool {
        matches!(
            self,
            Rejected::Empty | Rejected::TooFewPoints(_) | Rejected::ZeroArea
        )
    }
}

/// Validates, normalises and if need be repairs a WGS84 lon/lat geometry.
///
/// # Errors
///
/// [`Rejected`] when the geometry has unusable coordinates, has nothing left
/// after dropping degenerate parts, or is an invalid polygon that could not be
/// repaired.
///
/// # Examples
///
/// ```
/// use geo_types::{Geometry, polygon};
/// use tessera::geometry_check::{Fix, check};
///
/// // A clockwise square: valid, but RFC 7946 wants exteriors counter-clockwise.
/// let square = polygon![(x: 0., y: 0.), (x: 0., y: 1.), (x: 1., y: 1.), (x: 1., y: 0.)];
/// let checked = check(Geometry::Polygon(square)).expect("a square is fine");
/// assert_eq!(checked.fixes, [Fix::ReorientedRings]);
///
/// let far_east = polygon![(x: 200., y: 41.3), (x: 201., y: 41.3), (x: 201., y: 42.)];
/// let rejected = check(Geometry::Polygon(far_east)).unwrap_err();
/// assert_eq!(rejected.to_string(), "coordinate (200.0, 41.3) is outside lon/lat range");
/// ```
pub fn check(geometry: Geometry<f64>) -> Result<Checked, Rejected> {
    let mut fixes = Vec::new();
    let geometry = check_geometry(geometry, &mut fixes, 0)?;
    Ok(Checked { geometry, fixes })
}

fn record(fixes: &mut Vec<Fix>, fix: Fix) {
    if !fixes.contains(&fix) {
        fixes.push(fix);
    }
}

fn check_geometry(
    geometry: Geometry<f64>,
    fixes: &mut Vec<Fix>,
    depth: usize,
) -> Result<Geometry<f64>, Rejected> {
    Ok(match geometry {
        Geometry::Point(point) => {
            check_coord(point.0)?;
            Geometry::Point(point)
        }
        Geometry::Line(line) => {
            check_coord(line.start)?;
            check_coord(line.end)?;
            if line.start == line.end {
                return Err(Rejected::TooFewPoints(Part::Line));
            }
            Geometry::Line(line)
        }
        Geometry::LineString(line) => Geometry::LineString(check_line_string(line, fixes)?),
        Geometry::Polygon(polygon) => match check_polygon(polygon, fixes)? {
            PolygonOutcome::Valid(polygon) => Geometry::Polygon(polygon),
            PolygonOutcome::Repaired(mut parts) if parts.len() == 1 => {
                Geometry::Polygon(parts.pop().expect("one part"))
            }
            PolygonOutcome::Repaired(parts) => Geometry::MultiPolygon(MultiPolygon(parts)),
        },
        Geometry::MultiPoint(points) => {
            if points.0.is_empty() {
                return Err(Rejected::Empty);
            }
            points.iter().try_for_each(|point| check_coord(point.0))?;
            Geometry::MultiPoint(points)
        }
        Geometry::MultiLineString(lines) => {
            let lines = keep_valid_parts(lines.0, fixes, check_line_string)?;
            Geometry::MultiLineString(MultiLineString(lines))
        }
        Geometry::MultiPolygon(polygons) => {
            Geometry::MultiPolygon(check_multi_polygon(polygons, fixes)?)
        }
        Geometry::GeometryCollection(members) => {
            if depth >= MAX_COLLECTION_DEPTH {
                return Err(Rejected::TooDeep);
            }
            let members = keep_valid_parts(members.0, fixes, |member, fixes| {
                check_geometry(member, fixes, depth + 1)
            })?;
            Geometry::GeometryCollection(GeometryCollection(members))
        }
        Geometry::Rect(rect) => {
            check_coord(rect.min())?;
            check_coord(rect.max())?;
            if rect.width() == 0.0 || rect.height() == 0.0 {
                return Err(Rejected::ZeroArea);
            }
            Geometry::Rect(rect)
        }
        Geometry::Triangle(triangle) => {
            let [a, b, c] = triangle.to_array();
            check_coord(a)?;
            check_coord(b)?;
            check_coord(c)?;
            match RobustKernel::orient2d(a, b, c) {
                Orientation::Collinear => return Err(Rejected::ZeroArea),
                Orientation::CounterClockwise => Geometry::Triangle(triangle),
                Orientation::Clockwise => {
                    record(fixes, Fix::ReorientedRings);
                    Geometry::Triangle(Triangle::unchecked_winding(a, c, b))
                }
            }
        }
    })
}

/// Checks every part of a multi-geometry, dropping degenerate ones; rejects
/// with the last degenerate reason when nothing is left.
fn keep_valid_parts<T>(
    parts: Vec<T>,
    fixes: &mut Vec<Fix>,
    mut check_part: impl FnMut(T, &mut Vec<Fix>) -> Result<T, Rejected>,
) -> Result<Vec<T>, Rejected> {
    let mut kept = Vec::with_capacity(parts.len());
    let mut dropped = Rejected::Empty;
    for part in parts {
        match check_part(part, fixes) {
            Ok(part) => kept.push(part),
            Err(why) if why.is_degenerate() => {
                record(fixes, Fix::RemovedDegenerateParts);
                dropped = why;
            }
            Err(why) => return Err(why),
        }
    }
    if kept.is_empty() {
        Err(dropped)
    } else {
        Ok(kept)
    }
}

fn check_coord(c: Coord<f64>) -> Result<(), Rejected> {
    if !(c.x.is_finite() && c.y.is_finite()) {
        return Err(Rejected::NonFinite { x: c.x, y: c.y });
    }
    if !((-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y)) {
        return Err(Rejected::OutOfRange { x: c.x, y: c.y });
    }
    Ok(())
}

/// Checks every coordinate of `coords`; returns whether two consecutive
/// positions are equal.
fn scan(coords: &[Coord<f64>]) -> Result<bool, Rejected> {
    coords.iter().try_for_each(|&c| check_coord(c))?;
    Ok(coords.windows(2).any(|pair| pair[0] == pair[1]))
}

fn check_line_string(
    mut line: LineString<f64>,
    fixes: &mut Vec<Fix>,
) -> Result<LineString<f64>, Rejected> {
    if line.0.is_empty() {
        return Err(Rejected::Empty);
    }
    if scan(&line.0)? {
        line.0.dedup();
        record(fixes, Fix::RemovedRepeatedPoints);
    }
    if line.0.len() < 2 {
        return Err(Rejected::TooFewPoints(Part::Line));
    }
    Ok(line)
}

/// A polygon that passed: kept as it was (up to orientation), or rebuilt.
enum PolygonOutcome {
    Valid(Polygon<f64>),
    Repaired(Vec<Polygon<f64>>),
}

fn check_polygon(polygon: Polygon<f64>, fixes: &mut Vec<Fix>) -> Result<PolygonOutcome, Rejected> {
    if polygon.exterior().0.is_empty() {
        return Err(Rejected::Empty);
    }
    let mut repeats = scan(&polygon.exterior().0)?;
    for hole in polygon.interiors() {
        repeats |= scan(&hole.0)?;
    }
    let mut polygon = polygon;
    if repeats {
        polygon.exterior_mut(|ring| ring.0.dedup());
        polygon.interiors_mut(|holes| holes.iter_mut().for_each(|ring| ring.0.dedup()));
        record(fixes, Fix::RemovedRepeatedPoints);
    }
    if let Some(why) = degenerate_ring(polygon.exterior()) {
        return Err(why);
    }
    if polygon
        .interiors()
        .iter()
        .any(|hole| degenerate_ring(hole).is_some())
    {
        let (exterior, mut holes) = polygon.into_inner();
        holes.retain(|hole| degenerate_ring(hole).is_none());
        polygon = Polygon::new(exterior, holes);
        record(fixes, Fix::RemovedDegenerateParts);
    }

    let Some(defect) = polygon_defect(&polygon) else {
        if orient(&mut polygon) {
            record(fixes, Fix::ReorientedRings);
        }
        return Ok(PolygonOutcome::Valid(polygon));
    };
    let parts = repair(&polygon)
        .map_err(|failure| Rejected::Unrepairable(format!("{defect}; {failure}")))?;
    // Holes that covered the whole exterior, or rings that were all spikes.
    if parts.is_empty() {
        return Err(Rejected::ZeroArea);
    }
    record(fixes, Fix::ResolvedSelfIntersection);
    Ok(PolygonOutcome::Repaired(parts))
}

fn check_multi_polygon(
    polygons: MultiPolygon<f64>,
    fixes: &mut Vec<Fix>,
) -> Result<MultiPolygon<f64>, Rejected> {
    let mut parts = Vec::with_capacity(polygons.0.len());
    let mut dropped = Rejected::Empty;
    for polygon in polygons {
        match check_polygon(polygon, fixes) {
            Ok(PolygonOutcome::Valid(polygon)) => parts.push(polygon),
            Ok(PolygonOutcome::Repaired(pieces)) => parts.extend(pieces),
            Err(why) if why.is_degenerate() => {
                record(fixes, Fix::RemovedDegenerateParts);
                dropped = why;
            }
            Err(why) => return Err(why),
        }
    }
    if parts.is_empty() {
        return Err(dropped);
    }
    let Some(conflict) = parts_conflict(&parts) else {
        return Ok(MultiPolygon(parts));
    };
    // Every part is valid and oriented by now, so the non-zero rule unions them.
    let parts = MultiPolygon(parts);
    let Some(mut merged) = guarded(|| parts.union_with_fill_rule(&Rings(&[]), FillRule::NonZero))
    else {
        return Err(Rejected::Unrepairable(format!(
            "{conflict}; the boolean operations failed on it"
        )));
    };
    if let Some(left) = multi_polygon_defect(&merged.0) {
        return Err(Rejected::Unrepairable(format!(
            "{conflict}; after merging, {left}"
        )));
    }
    for part in &mut merged.0 {
        orient(part);
    }
    record(fixes, Fix::MergedOverlappingParts);
    Ok(merged)
}

/// Why a ring is degenerate, if it is: too few positions, or no area.
/// Expects consecutive repeats to be gone already.
fn degenerate_ring(ring: &LineString<f64>) -> Option<Rejected> {
    let coords = &ring.0;
    if coords.len() < 4 {
        return Some(Rejected::TooFewPoints(Part::Ring));
    }
    let (a, b) = (coords[0], coords[1]);
    let collinear = coords[2..]
        .iter()
        .all(|&c| RobustKernel::orient2d(a, b, c) == Orientation::Collinear);
    collinear.then_some(Rejected::ZeroArea)
}

/// Reverses rings as RFC 7946 asks; returns whether any was reversed.
fn orient(polygon: &mut Polygon<f64>) -> bool {
    let mut changed = false;
    if polygon.exterior().winding_order() == Some(WindingOrder::Clockwise) {
        polygon.exterior_mut(|ring| ring.0.reverse());
        changed = true;
    }
    let ccw_hole =
        |ring: &LineString<f64>| ring.winding_order() == Some(WindingOrder::CounterClockwise);
    if polygon.interiors().iter().any(ccw_hole) {
        polygon.interiors_mut(|holes| {
            holes
                .iter_mut()
                .filter(|ring| ccw_hole(ring))
                .for_each(|ring| ring.0.reverse());
        });
        changed = true;
    }
    changed
}

/// Which ring of a polygon.
#[derive(Debug, Clone, Copy)]
enum RingRole {
    Exterior,
    Hole(usize),
}

impl fmt::Display for RingRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingRole::Exterior => f.write_str("exterior ring"),
            RingRole::Hole(i) => write!(f, "hole {i}"),
        }
    }
}

/// What makes a non-degenerate polygon or multipolygon invalid.
#[derive(Debug)]
enum Defect {
    SelfIntersection(RingRole),
    HoleOutsideExterior(usize),
    RingsShareEdge(RingRole, RingRole),
    HolesOverlap(usize, usize),
    PartInvalid(usize, Box<Defect>),
    PartDegenerate(usize, Rejected),
    PartsOverlap(usize, usize),
    PartsShareEdge(usize, usize),
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::SelfIntersection(ring) => write!(f, "{ring} intersects itself"),
            Defect::HoleOutsideExterior(i) => write!(f, "hole {i} is not inside the exterior"),
            Defect::RingsShareEdge(a, b) => write!(f, "{a} and {b} share an edge"),
            Defect::HolesOverlap(i, j) => write!(f, "holes {i} and {j} overlap"),
            Defect::PartInvalid(i, defect) => write!(f, "polygon {i}: {defect}"),
            Defect::PartDegenerate(i, why) => write!(f, "polygon {i}: {why}"),
            Defect::PartsOverlap(i, j) => write!(f, "polygons {i} and {j} overlap"),
            Defect::PartsShareEdge(i, j) => write!(f, "polygons {i} and {j} share an edge"),
        }
    }
}

/// The first reason a polygon without degenerate rings is invalid, by the
/// rules of [`geo::Validation`] for polygons.
fn polygon_defect(polygon: &Polygon<f64>) -> Option<Defect> {
    if ring_self_intersects(polygon.exterior()) {
        return Some(Defect::SelfIntersection(RingRole::Exterior));
    }
    let holes = polygon.interiors();
    if let Some(i) = holes.iter().position(ring_self_intersects) {
        return Some(Defect::SelfIntersection(RingRole::Hole(i)));
    }
    if holes.is_empty() {
        return None;
    }
    // Rings relate like geo's validation does; only polygons with holes pay
    // for the clones and the topology graph.
    let exterior = Polygon::new(polygon.exterior().clone(), Vec::new());
    let exterior = PreparedGeometry::from(&exterior);
    let holes: Vec<Polygon<f64>> = holes
        .iter()
        .map(|ring| Polygon::new(ring.clone(), Vec::new()))
        .collect();
    for (i, hole) in holes.iter().enumerate() {
        let matrix = exterior.relate(hole);
        if !matrix.is_contains() {
            return Some(Defect::HoleOutsideExterior(i));
        }
        if matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            return Some(Defect::RingsShareEdge(
                RingRole::Exterior,
                RingRole::Hole(i),
            ));
        }
    }
    let mut defect = None;
    for_overlapping_boxes(&bounding_rects(&holes), |i, j| {
        let matrix = holes[i].relate(&holes[j]);
        let (i, j) = (i.min(j), i.max(j));
        if matrix.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
            defect = Some(Defect::HolesOverlap(i, j));
        } else if matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary)
            == Dimensions::OneDimensional
        {
            defect = Some(Defect::RingsShareEdge(RingRole::Hole(i), RingRole::Hole(j)));
        }
        defect.is_some()
    });
    defect
}

/// The first reason a list of polygons (as a multipolygon) is invalid,
/// degenerate parts included.
fn multi_polygon_defect(parts: &[Polygon<f64>]) -> Option<Defect> {
    for (i, part) in parts.iter().enumerate() {
        if let Some(why) = std::iter::once(part.exterior())
            .chain(part.interiors())
            .find_map(degenerate_ring)
        {
            return Some(Defect::PartDegenerate(i, why));
        }
        if let Some(defect) = polygon_defect(part) {
            return Some(Defect::PartInvalid(i, Box::new(defect)));
        }
    }
    parts_conflict(parts)
}

/// Whether any two of these valid polygons overlap or share an edge, as
/// [`geo::Validation`] asks of a multipolygon.
fn parts_conflict(parts: &[Polygon<f64>]) -> Option<Defect> {
    if parts.len() < 2 {
        return None;
    }
    let mut conflict = None;
    for_overlapping_boxes(&bounding_rects(parts), |i, j| {
        let matrix = parts[i].relate(&parts[j]);
        let (i, j) = (i.min(j), i.max(j));
        if matrix.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
            conflict = Some(Defect::PartsOverlap(i, j));
        } else if matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary)
            == Dimensions::OneDimensional
        {
            conflict = Some(Defect::PartsShareEdge(i, j));
        }
        conflict.is_some()
    });
    conflict
}

fn bounding_rects(polygons: &[Polygon<f64>]) -> Vec<Rect<f64>> {
    polygons
        .iter()
        .map(|p| {
            p.exterior()
                .bounding_rect()
                .unwrap_or_else(|| Rect::new(Coord::zero(), Coord::zero()))
        })
        .collect()
}

/// Calls `hit(i, j)` for each pair of boxes that overlap or touch, found by a
/// sweep along x, until `hit` returns true; returns whether one did.
fn for_overlapping_boxes(boxes: &[Rect<f64>], mut hit: impl FnMut(usize, usize) -> bool) -> bool {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_unstable_by(|&a, &b| boxes[a].min().x.total_cmp(&boxes[b].min().x));
    for (k, &i) in order.iter().enumerate() {
        let a = boxes[i];
        for &j in &order[k + 1..] {
            let b = boxes[j];
            if b.min().x > a.max().x {
                break;
            }
            if b.min().y <= a.max().y && a.min().y <= b.max().y && hit(i, j) {
                return true;
            }
        }
    }
    false
}

/// Whether a closed ring intersects or touches itself anywhere but where
/// consecutive segments meet.
fn ring_self_intersects(ring: &LineString<f64>) -> bool {
    if ring.0.len() <= BRUTE_FORCE_MAX_SEGMENTS + 1 {
        ring_self_intersects_brute_force(&ring.0)
    } else {
        ring_self_intersects_sweep(&ring.0)
    }
}

fn ring_self_intersects_brute_force(coords: &[Coord<f64>]) -> bool {
    let segments = coords.len().saturating_sub(1);
    (0..segments).any(|i| {
        let a = Line::new(coords[i], coords[i + 1]);
        (i + 1..segments).any(|j| segments_conflict(a, Line::new(coords[j], coords[j + 1])))
    })
}

fn ring_self_intersects_sweep(coords: &[Coord<f64>]) -> bool {
    let segment = |i: usize| Line::new(coords[i], coords[i + 1]);
    let boxes: Vec<Rect<f64>> = (0..coords.len().saturating_sub(1))
        .map(|i| Rect::new(coords[i], coords[i + 1]))
        .collect();
    for_overlapping_boxes(&boxes, |i, j| segments_conflict(segment(i), segment(j)))
}

/// geo's rule for two segments of one ring: they may only meet where one ends
/// and the other starts. A ring that comes back to a vertex is still caught,
/// by the segments that arrive there.
fn segments_conflict(a: Line<f64>, b: Line<f64>) -> bool {
    a.start != b.end
        && a.end != b.start
        && a.start.x.min(a.end.x) <= b.start.x.max(b.end.x)
        && b.start.x.min(b.end.x) <= a.start.x.max(a.end.x)
        && a.start.y.min(a.end.y) <= b.start.y.max(b.end.y)
        && b.start.y.min(b.end.y) <= a.start.y.max(a.end.y)
        && a.intersects(&b)
}

/// Rebuilds an invalid polygon: the area its exterior encloses minus the area
/// its holes enclose, each hole filled on its own so that holes cannot cancel
/// out. Rings are filled by the non-zero winding rule (so a figure-eight keeps
/// both loops and a ring wound twice keeps its area); when i_overlay panics or
/// its output is not valid, by the even-odd rule. The parts come back valid,
/// oriented, and possibly none.
///
/// # Errors
///
/// Why the last attempt failed.
fn repair(polygon: &Polygon<f64>) -> Result<Vec<Polygon<f64>>, String> {
    let mut failure = String::new();
    for rule in [FillRule::NonZero, FillRule::EvenOdd] {
        let Some(MultiPolygon(mut parts)) = guarded(|| repair_with(polygon, rule)) else {
            failure = "the boolean operations failed on it".to_owned();
            continue;
        };
        // i_overlay (4.5) joins holes that touch at a point into one
        // self-touching ring, which the second rule sometimes avoids.
        if let Some(left) = multi_polygon_defect(&parts) {
            failure = format!("after repair, {left}");
            continue;
        }
        // The rings are new, so orienting them is part of the repair rather
        // than a fix of its own.
        for part in &mut parts {
            orient(part);
        }
        return Ok(parts);
    }
    Err(failure)
}

fn repair_with(polygon: &Polygon<f64>, rule: FillRule) -> MultiPolygon<f64> {
    let filled = |ring: &LineString<f64>| {
        Rings(std::slice::from_ref(ring)).union_with_fill_rule(&Rings(&[]), rule)
    };
    let shell = filled(polygon.exterior());
    if polygon.interiors().is_empty() {
        return shell;
    }
    let holes: Vec<Polygon<f64>> = polygon
        .interiors()
        .iter()
        .flat_map(|ring| filled(ring).0)
        .collect();
    // The filled holes are valid and consistently oriented: non-zero unions them.
    shell.difference_with_fill_rule(&MultiPolygon(holes), FillRule::NonZero)
}

/// Runs boolean operations, turning a panic into `None`.
///
/// i_overlay 4.5 can panic on self-touching rings: a debug assertion in its
/// OGC extraction fires (the regression test below has one), and the same
/// broken invariant is reported to panic in release builds too
/// (iShape-Rust/iOverlay#78). One hostile feature must not abort an ingest.
/// This relies on the default `panic = "unwind"`.
fn guarded<T>(op: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
    std::panic::catch_unwind(op).ok()
}

/// Rings handed to the boolean operations without building a polygon of them.
struct Rings<'a>(&'a [LineString<f64>]);

impl BooleanOps for Rings<'_> {
    type Scalar = f64;

    fn rings(&self) -> impl Iterator<Item = &LineString<f64>> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use geo::{Area, Validation};
    use geo_types::{Point, coord, line_string, point, polygon};

    use super::*;

    fn checked(geometry: impl Into<Geometry<f64>>) -> Checked {
        let checked = check(geometry.into()).expect("accepted");
        assert!(
            checked.geometry.is_valid(),
            "geo finds the output invalid: {:?}",
            checked.geometry.validation_errors()
        );
        checked
    }

    fn rejected(geometry: impl Into<Geometry<f64>>) -> Rejected {
        check(geometry.into()).expect_err("rejected")
    }

    fn bits(ring: &LineString<f64>) -> Vec<(u64, u64)> {
        ring.coords()
            .map(|c| (c.x.to_bits(), c.y.to_bits()))
            .collect()
    }

    fn assert_close(actual: f64, expected: f64, relative: f64) {
        assert!(
            (actual - expected).abs() <= relative * expected.abs(),
            "{actual} is not within {relative} of {expected}"
        );
    }

    /// A parcel-sized counter-clockwise hexagon near Berlin, with coordinates
    /// that are not round in binary.
    fn parcel(i: usize) -> Polygon<f64> {
        #[expect(clippy::cast_precision_loss, reason = "small test indices")]
        let (x, y) = (
            13.404_954 + (i % 1000) as f64 * 1.1e-4,
            52.520_008 + (i / 1000) as f64 * 1.3e-4,
        );
        polygon![
            (x: x, y: y),
            (x: x + 4.1e-5, y: y - 1.7e-5),
            (x: x + 8.3e-5, y: y + 1.1e-5),
            (x: x + 7.9e-5, y: y + 6.2e-5),
            (x: x + 3.7e-5, y: y + 8.9e-5),
            (x: x - 1.3e-5, y: y + 4.4e-5),
        ]
    }

    #[test]
    fn valid_polygon_comes_back_bit_for_bit() {
        let hole = line_string![
            (x: 13.404_99, y: 52.520_03), (x: 13.405_01, y: 52.520_05),
            (x: 13.405_03, y: 52.520_02), (x: 13.404_99, y: 52.520_03),
        ];
        let input = Polygon::new(parcel(0).exterior().clone(), vec![hole]);
        assert!(input.interiors()[0].is_cw());
        let out = checked(input.clone());
        assert!(out.fixes.is_empty());
        let Geometry::Polygon(output) = out.geometry else {
            panic!("not a polygon")
        };
        assert_eq!(bits(output.exterior()), bits(input.exterior()));
        assert_eq!(bits(&output.interiors()[0]), bits(&input.interiors()[0]));
    }

    #[test]
    fn clockwise_exterior_and_counter_clockwise_hole_are_reversed() {
        let mut exterior = parcel(0).exterior().clone();
        exterior.0.reverse();
        let hole = line_string![
            (x: 13.404_99, y: 52.520_03), (x: 13.405_03, y: 52.520_02),
            (x: 13.405_01, y: 52.520_05), (x: 13.404_99, y: 52.520_03),
        ];
        let input = Polygon::new(exterior, vec![hole]);
        let out = checked(input.clone());
        assert_eq!(out.fixes, [Fix::ReorientedRings]);
        let Geometry::Polygon(output) = out.geometry else {
            panic!("not a polygon")
        };
        let mut expected = input.exterior().0.clone();
        expected.reverse();
        assert_eq!(bits(output.exterior()), bits(&LineString(expected)));
        assert!(output.exterior().is_ccw() && output.interiors()[0].is_cw());
    }

    #[test]
    fn unclosed_ring_arrives_closed_from_geo_types() {
        // geo_types closes rings on construction, so there is nothing left to fix.
        let open = Polygon::new(
            line_string![(x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.)],
            vec![],
        );
        let out = checked(open);
        assert!(out.fixes.is_empty());
        let Geometry::Polygon(output) = out.geometry else {
            panic!("not a polygon")
        };
        assert!(output.exterior().is_closed());
        assert_eq!(output.exterior().0.len(), 4);
    }

    #[test]
    fn repeated_points_are_removed() {
        let input = polygon![
            (x: 0., y: 0.), (x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.), (x: 1., y: 1.), (x: 0., y: 1.),
        ];
        let out = checked(input);
        assert_eq!(out.fixes, [Fix::RemovedRepeatedPoints]);
        let expected = polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.), (x: 0., y: 1.)];
        assert_eq!(out.geometry, Geometry::Polygon(expected));

        let line = line_string![(x: 0., y: 0.), (x: 0., y: 0.), (x: 1., y: 1.)];
        let out = checked(line);
        assert_eq!(out.fixes, [Fix::RemovedRepeatedPoints]);
        assert_eq!(
            out.geometry,
            Geometry::LineString(line_string![(x: 0., y: 0.), (x: 1., y: 1.)])
        );
    }

    #[test]
    fn bow_tie_becomes_two_triangles_with_the_area_of_both_lobes() {
        // The diagonals cross at (13.5, 52.5); each lobe is a triangle of area 0.5 × 0.5 × 0.25.
        let bow_tie: Polygon<f64> = polygon![
            (x: 13.25, y: 52.25), (x: 13.75, y: 52.75), (x: 13.75, y: 52.25), (x: 13.25, y: 52.75),
        ];
        assert!(bow_tie.signed_area().abs() < 1e-15, "the lobes cancel");
        let out = checked(bow_tie);
        assert_eq!(out.fixes, [Fix::ResolvedSelfIntersection]);
        let Geometry::MultiPolygon(parts) = out.geometry else {
            panic!("not a multipolygon")
        };
        assert_eq!(parts.0.len(), 2);
        for part in &parts {
            assert_eq!(part.exterior().0.len(), 4, "a triangle: {part:?}");
            assert!(part.exterior().is_ccw());
            assert_close(part.unsigned_area(), 0.5 * 0.5 * 0.25, 1e-12);
        }
        assert_close(parts.unsigned_area(), 2.0 * 0.5 * 0.5 * 0.25, 1e-12);
    }

    #[test]
    fn bow_tie_with_unround_coordinates_keeps_its_area() {
        let (a, b) = (
            coord! { x: 13.404_954, y: 52.520_008 },
            coord! { x: 13.405_371, y: 52.520_413 },
        );
        let bow_tie = polygon![a, b, coord! { x: b.x, y: a.y }, coord! { x: a.x, y: b.y }];
        let lobes = 0.5 * (b.x - a.x) * (b.y - a.y);
        let Geometry::MultiPolygon(parts) = checked(bow_tie).geometry else {
            panic!("split")
        };
        // i_overlay snaps to 2^-30 of the extent.
        assert_close(parts.unsigned_area(), lobes, 1e-8);
    }

    #[test]
    fn spike_is_cut_off() {
        let spiked = polygon![
            (x: 0., y: 0.), (x: 4., y: 0.), (x: 4., y: 4.), (x: 2., y: 4.), (x: 2., y: 6.), (x: 2., y: 4.), (x: 0., y: 4.),
        ];
        let out = checked(spiked);
        assert_eq!(out.fixes, [Fix::ResolvedSelfIntersection]);
        let Geometry::Polygon(output) = out.geometry else {
            panic!("not one polygon")
        };
        assert_close(output.unsigned_area(), 16.0, 1e-12);
        assert!(output.exterior().coords().all(|c| c.y <= 4.0));
    }

    #[test]
    fn self_touching_exterior_becomes_a_hole() {
        // The exterior comes back to (2, 0) after a clockwise loop around an
        // "inverted hole", as some shapefile writers do.
        let inverted = polygon![
            (x: 0., y: 0.), (x: 2., y: 0.), (x: 1., y: 1.), (x: 2., y: 2.), (x: 3., y: 1.), (x: 2., y: 0.),
            (x: 4., y: 0.), (x: 4., y: 4.), (x: 0., y: 4.),
        ];
        assert!(!inverted.is_valid());
        let out = checked(inverted);
        assert_eq!(out.fixes, [Fix::ResolvedSelfIntersection]);
        let Geometry::Polygon(output) = out.geometry else {
            panic!("not one polygon")
        };
        assert_eq!(output.interiors().len(), 1);
        assert_close(output.unsigned_area(), 16.0 - 2.0, 1e-12);
    }

    #[test]
    fn hole_outside_the_exterior_is_dropped_by_the_repair() {
        let square = polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.), (x: 0., y: 1.)];
        let stray = line_string![(x: 5., y: 5.), (x: 5., y: 6.), (x: 6., y: 6.), (x: 5., y: 5.)];
        let out = checked(Polygon::new(square.exterior().clone(), vec![stray]));
        assert_eq!(out.fixes, [Fix::ResolvedSelfIntersection]);
        let Geometry::Polygon(output) = out.geometry else {
            panic!("not one polygon")
        };
        assert!(output.interiors().is_empty());
        assert_close(output.unsigned_area(), 1.0, 1e-12);
    }

    #[test]
    fn unusable_coordinates_are_rejected_with_the_coordinate() {
        let far = polygon![(x: 200., y: 41.3), (x: 201., y: 41.3), (x: 201., y: 42.)];
        assert_eq!(
            rejected(far).to_string(),
            "coordinate (200.0, 41.3) is outside lon/lat range"
        );
        assert_eq!(
            rejected(point!(x: 10., y: -90.5)),
            Rejected::OutOfRange { x: 10., y: -90.5 }
        );
        let nan = line_string![(x: 0., y: 0.), (x: f64::NAN, y: 1.)];
        assert_eq!(
            rejected(nan).to_string(),
            "coordinate (NaN, 1.0) is not a finite number"
        );
        let inf = Point::new(f64::INFINITY, 0.);
        assert!(matches!(rejected(inf), Rejected::NonFinite { .. }));
        // The range is inclusive.
        checked(point!(x: -180., y: 90.));
    }

    #[test]
    fn empty_geometries_are_rejected() {
        assert_eq!(
            rejected(Polygon::new(LineString::new(vec![]), vec![])),
            Rejected::Empty
        );
        assert_eq!(rejected(LineString::new(vec![])), Rejected::Empty);
        assert_eq!(rejected(MultiPolygon::<f64>::new(vec![])), Rejected::Empty);
        assert_eq!(
            rejected(geo_types::MultiPoint::<f64>::new(vec![])),
            Rejected::Empty
        );
        assert_eq!(
            rejected(Geometry::GeometryCollection(GeometryCollection::new_from(
                vec![]
            ))),
            Rejected::Empty
        );
        assert_eq!(Rejected::Empty.to_string(), "geometry is empty");
    }

    #[test]
    fn degenerate_hole_is_dropped_and_degenerate_exterior_rejected() {
        let square = polygon![(x: 0., y: 0.), (x: 4., y: 0.), (x: 4., y: 4.), (x: 0., y: 4.)];
        let sliver = line_string![(x: 1., y: 1.), (x: 2., y: 2.), (x: 1., y: 1.)];
        let flat = line_string![(x: 1., y: 1.), (x: 2., y: 1.), (x: 3., y: 1.), (x: 1., y: 1.)];
        let out = checked(Polygon::new(square.exterior().clone(), vec![sliver, flat]));
        assert_eq!(out.fixes, [Fix::RemovedDegenerateParts]);
        assert_eq!(out.geometry, Geometry::Polygon(square));

        let two_points = polygon![(x: 0., y: 0.), (x: 1., y: 1.), (x: 1., y: 1.)];
        let why = rejected(two_points);
        assert_eq!(why, Rejected::TooFewPoints(Part::Ring));
        assert_eq!(
            why.to_string(),
            "polygon ring has fewer than 3 distinct positions"
        );
        let collinear = polygon![(x: 0., y: 0.), (x: 1., y: 1.), (x: 3., y: 3.)];
        assert_eq!(rejected(collinear), Rejected::ZeroArea);
        let all_spike = polygon![(x: 0., y: 0.), (x: 1., y: 1.), (x: 2., y: 0.), (x: 1., y: 1.)];
        assert_eq!(rejected(all_spike), Rejected::ZeroArea);
    }

    #[test]
    fn line_with_one_distinct_point_is_rejected_or_dropped() {
        let stuck = line_string![(x: 1., y: 1.), (x: 1., y: 1.), (x: 1., y: 1.)];
        assert_eq!(rejected(stuck.clone()), Rejected::TooFewPoints(Part::Line));
        assert_eq!(
            rejected(stuck.clone()).to_string(),
            "line has fewer than 2 distinct positions"
        );
        let dot = Line::new(coord! { x: 1., y: 1. }, coord! { x: 1., y: 1. });
        assert_eq!(rejected(dot), Rejected::TooFewPoints(Part::Line));

        let good = line_string![(x: 0., y: 0.), (x: 1., y: 0.)];
        let out = checked(MultiLineString(vec![stuck.clone(), good.clone()]));
        assert_eq!(
            out.fixes,
            [Fix::RemovedRepeatedPoints, Fix::RemovedDegenerateParts]
        );
        assert_eq!(
            out.geometry,
            Geometry::MultiLineString(MultiLineString(vec![good]))
        );
        assert_eq!(
            rejected(MultiLineString(vec![stuck])),
            Rejected::TooFewPoints(Part::Line)
        );
    }

    #[test]
    fn multipolygon_with_one_bad_part_is_repaired() {
        let good = polygon![(x: 10., y: 10.), (x: 11., y: 10.), (x: 11., y: 11.), (x: 10., y: 11.)];
        let bow_tie = polygon![(x: 0., y: 0.), (x: 2., y: 2.), (x: 2., y: 0.), (x: 0., y: 2.)];
        let out = checked(MultiPolygon(vec![good.clone(), bow_tie]));
        assert_eq!(out.fixes, [Fix::ResolvedSelfIntersection]);
        let Geometry::MultiPolygon(parts) = out.geometry else {
            panic!("not a multipolygon")
        };
        assert_eq!(parts.0.len(), 3);
        assert_eq!(parts.0[0], good);
        assert_close(parts.unsigned_area(), 1.0 + 2.0, 1e-12);
    }

    #[test]
    fn multipolygon_drops_degenerate_parts_and_rejects_bad_coordinates() {
        let good = polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.)];
        let flat = polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 2., y: 0.)];
        let out = checked(MultiPolygon(vec![flat.clone(), good.clone()]));
        assert_eq!(out.fixes, [Fix::RemovedDegenerateParts]);
        assert_eq!(
            out.geometry,
            Geometry::MultiPolygon(MultiPolygon(vec![good.clone()]))
        );
        assert_eq!(rejected(MultiPolygon(vec![flat])), Rejected::ZeroArea);
        let far = polygon![(x: 0., y: 0.), (x: 181., y: 0.), (x: 1., y: 1.)];
        assert!(matches!(
            rejected(MultiPolygon(vec![good, far])),
            Rejected::OutOfRange { .. }
        ));
    }

    #[test]
    fn overlapping_parts_are_merged() {
        let a = polygon![(x: 0., y: 0.), (x: 2., y: 0.), (x: 2., y: 2.), (x: 0., y: 2.)];
        let b = polygon![(x: 1., y: 1.), (x: 3., y: 1.), (x: 3., y: 3.), (x: 1., y: 3.)];
        let c = polygon![(x: 2., y: 0.), (x: 3., y: 0.), (x: 2., y: 1.)];
        let out = checked(MultiPolygon(vec![a, b, c]));
        assert_eq!(out.fixes, [Fix::MergedOverlappingParts]);
        let Geometry::MultiPolygon(parts) = out.geometry else {
            panic!("not a multipolygon")
        };
        assert_eq!(parts.0.len(), 1);
        assert_close(parts.unsigned_area(), 4.0 + 4.0 - 1.0 + 0.5, 1e-12);
        // Touching at a corner is fine.
        let d = polygon![(x: 3., y: 3.), (x: 4., y: 3.), (x: 4., y: 4.)];
        let touching = MultiPolygon(vec![parts.0[0].clone(), d]);
        assert_eq!(
            checked(touching.clone()).geometry,
            Geometry::MultiPolygon(touching)
        );
    }

    #[test]
    fn collections_check_members_and_limit_nesting() {
        let good = Geometry::Point(point!(x: 1., y: 2.));
        let empty = Geometry::LineString(LineString::new(vec![]));
        let out = checked(Geometry::GeometryCollection(GeometryCollection::new_from(
            vec![empty, good.clone()],
        )));
        assert_eq!(out.fixes, [Fix::RemovedDegenerateParts]);
        let expected = GeometryCollection::new_from(vec![good.clone()]);
        assert_eq!(out.geometry, Geometry::GeometryCollection(expected));

        let mut nested = good;
        for _ in 0..MAX_COLLECTION_DEPTH {
            nested = Geometry::GeometryCollection(GeometryCollection::new_from(vec![nested]));
        }
        checked(nested.clone());
        let too_deep = Geometry::GeometryCollection(GeometryCollection::new_from(vec![nested]));
        assert_eq!(rejected(too_deep), Rejected::TooDeep);
    }

    #[test]
    fn triangles_and_rects_are_checked() {
        let (a, b, c) = (
            coord! { x: 0., y: 0. },
            coord! { x: 1., y: 0. },
            coord! { x: 0., y: 1. },
        );
        let out = checked(Triangle::unchecked_winding(a, c, b));
        assert_eq!(out.fixes, [Fix::ReorientedRings]);
        assert_eq!(
            out.geometry,
            Geometry::Triangle(Triangle::unchecked_winding(a, b, c))
        );
        assert_eq!(
            rejected(Triangle::new(a, b, coord! { x: 2., y: 0. })),
            Rejected::ZeroArea
        );
        assert_eq!(rejected(Rect::new(a, b)), Rejected::ZeroArea);
        assert!(checked(Rect::new(b, c)).fixes.is_empty());
    }

    #[test]
    fn i_overlay_panic_on_self_touching_ring_falls_back_to_even_odd() {
        // i_overlay 4.5 panics filling this ring by non-zero winding
        // (iShape-Rust/iOverlay#78); found by the random test below.
        let tangled = polygon![
            (x: 15.4, y: 54.5), (x: 13.9, y: 52.5), (x: 14.9, y: 52.5), (x: 15.4, y: 54.5),
            (x: 14.4, y: 53.0), (x: 14.9, y: 54.0), (x: 14.4, y: 53.5), (x: 14.9, y: 53.5),
        ];
        let out = checked(tangled);
        assert_eq!(out.fixes, [Fix::ResolvedSelfIntersection]);
    }

    /// A circle-like ring with `n` vertices, optionally with two vertices swapped
    /// so that it crosses itself.
    fn circle(n: usize, swap: bool) -> Polygon<f64> {
        #[expect(clippy::cast_precision_loss, reason = "small test counts")]
        let mut coords: Vec<Coord<f64>> = (0..n)
            .map(|i| {
                let t = std::f64::consts::TAU * i as f64 / n as f64;
                coord! { x: 10.0 + t.cos(), y: 50.0 + t.sin() }
            })
            .collect();
        if swap {
            coords.swap(n / 3, n / 3 + 1);
        }
        Polygon::new(LineString(coords), vec![])
    }

    #[test]
    fn large_rings_use_the_sweep() {
        // geo's validation compares every pair of segments, so it confirms the
        // smaller ring only.
        for n in [500, 10_000] {
            let check = |polygon| {
                if n > 500 {
                    check(polygon).expect("accepted")
                } else {
                    checked(polygon)
                }
            };
            let round = circle(n, false);
            let out = check(Geometry::Polygon(round.clone()));
            assert!(out.fixes.is_empty());
            assert_eq!(out.geometry, Geometry::Polygon(round));

            let crossed = circle(n, true);
            assert!(ring_self_intersects(crossed.exterior()));
            let out = check(Geometry::Polygon(crossed));
            assert_eq!(out.fixes, [Fix::ResolvedSelfIntersection]);
            let Geometry::MultiPolygon(parts) = out.geometry else {
                panic!("not split")
            };
            assert_eq!(parts.0.len(), 2, "the swap leaves a small lobe");
        }
    }

    /// A deterministic xorshift generator of small random polygons.
    struct Rng {
        state: u64,
        /// Coordinates on a coarse grid, so that collinear points and shared
        /// vertices are common; otherwise arbitrary doubles near Berlin.
        grid: bool,
    }

    impl Rng {
        fn next(&mut self) -> u64 {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.state
        }

        #[expect(clippy::cast_precision_loss, reason = "random fractions")]
        fn value(&mut self) -> f64 {
            if self.grid {
                (self.next() % 5) as f64 * 0.5
            } else {
                (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 1e-3
            }
        }

        fn ring(&mut self, max_len: u64) -> LineString<f64> {
            let len = 3 + self.next() % (max_len - 2);
            let mut ring: LineString<f64> = (0..len)
                .map(|_| coord! { x: 13.4 + self.value(), y: 52.5 + self.value() })
                .collect();
            ring.close();
            ring
        }
    }

    #[test]
    fn validity_agrees_with_geo_on_random_polygons() {
        for grid in [true, false] {
            let mut rng = Rng {
                state: 0x9e37_79b9_7f4a_7c15,
                grid,
            };
            let (mut valid, mut repaired, mut refused) = (0, 0, 0);
            for _ in 0..10_000 {
                let holes = (0..rng.next() % 3).map(|_| rng.ring(5)).collect();
                let mut polygon = Polygon::new(rng.ring(8), holes);
                polygon.exterior_mut(|ring| ring.0.dedup());
                polygon.interiors_mut(|holes| holes.iter_mut().for_each(|ring| ring.0.dedup()));
                let mut rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
                if rings.any(|ring| degenerate_ring(ring).is_some()) {
                    continue;
                }
                for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                    assert_eq!(
                        ring_self_intersects_brute_force(&ring.0),
                        ring_self_intersects_sweep(&ring.0),
                        "{ring:?}"
                    );
                }
                let ours = polygon_defect(&polygon);
                assert_eq!(ours.is_none(), polygon.is_valid(), "{polygon:?}: {ours:?}");
                // Repairs must come out valid, or be refused as degenerate.
                match check(Geometry::Polygon(polygon.clone())) {
                    Ok(out) if ours.is_none() => {
                        valid += 1;
                        assert!(!out.fixes.contains(&Fix::ResolvedSelfIntersection));
                    }
                    Ok(out) => {
                        repaired += 1;
                        assert!(out.geometry.is_valid(), "{polygon:?} → {out:?}");
                    }
                    Err(Rejected::Unrepairable(why)) => {
                        println!("refused {polygon:?}: {why}");
                        refused += 1;
                    }
                    Err(why) => assert!(why.is_degenerate(), "{polygon:?}: {why}"),
                }
            }
            println!("grid {grid}: {valid} valid, {repaired} repaired, {refused} refused");
            assert!(
                valid > 500 && repaired > 500,
                "{valid} valid, {repaired} repaired"
            );
            // i_overlay does not always produce valid output (see `repair`).
            assert!(
                refused * 1000 <= repaired,
                "{refused} of {repaired} repairs refused"
            );
        }
    }

    /// Rough throughput; run with
    /// `cargo test --lib geometry_check::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints timings"]
    fn throughput() {
        fn time(label: &str, inputs: Vec<Geometry<f64>>) {
            let n = inputs.len();
            let mut outputs = Vec::with_capacity(n);
            let start = Instant::now();
            for input in inputs {
                outputs.push(std::hint::black_box(check(input)));
            }
            let elapsed = start.elapsed();
            let fixes: Vec<&[Fix]> = outputs
                .iter()
                .map(|out| out.as_ref().expect("accepted").fixes.as_slice())
                .collect();
            #[expect(clippy::cast_precision_loss, reason = "timing only")]
            let ns = elapsed.as_nanos() as f64 / n as f64;
            println!(
                "{label}: {ns:.0} ns per geometry, {:.0}/s; fixes: {:?}",
                1e9 / ns,
                fixes[0]
            );
        }
        let n = 200_000;
        time(
            "valid 6-vertex polygon",
            (0..n).map(|i| parcel(i).into()).collect(),
        );
        let clockwise = |i| {
            let mut p = parcel(i);
            p.exterior_mut(|ring| ring.0.reverse());
            p.into()
        };
        time(
            "clockwise 6-vertex polygon",
            (0..n).map(clockwise).collect(),
        );
        let bow_tie = |i| {
            let p = parcel(i);
            let c = &p.exterior().0;
            polygon![c[0], c[2], c[1], c[3], c[4], c[5]].into()
        };
        time(
            "6-vertex bow-tie, repaired",
            (0..n / 20).map(bow_tie).collect(),
        );
        let holed = |i| {
            let p = parcel(i);
            let c = &p.exterior().0;
            let at = |k: usize, t: f64| coord! { x: c[0].x + (c[k].x - c[0].x) * t, y: c[0].y + (c[k].y - c[0].y) * t };
            let hole = LineString(vec![at(2, 0.2), at(4, 0.2), at(3, 0.6), at(2, 0.2)]);
            Polygon::new(p.exterior().clone(), vec![hole]).into()
        };
        time(
            "valid 6-vertex polygon with a hole",
            (0..n / 20).map(holed).collect(),
        );
        let pair = |i| MultiPolygon(vec![parcel(i), parcel(i + 1)]).into();
        time("valid 2-part multipolygon", (0..n / 2).map(pair).collect());
        let big = (0..20).map(|_| circle(10_000, false).into()).collect();
        time("valid 10 000-vertex ring", big);
    }
}
