//! Turning one Web Mercator geometry into MVT geometry commands for one tile:
//! transform to tile pixels, clip to the buffered tile, quantize, drop degenerate
//! parts, fix ring winding, and encode as MoveTo/LineTo/ClosePath with zigzag deltas
//! (MVT 2.1, section 4.3).

use geo_types::{Geometry, Polygon};
use geozero::mvt::tile::GeomType;

use super::clip::{ClipBox, Pt, clip_line, clip_ring};
use crate::index::generalized::{Shape, ShapeKind};
use crate::model::tile::MercatorRect;

/// Maps Web Mercator metres to tile pixels (x right, y down).
#[derive(Debug, Clone, Copy)]
pub struct TileTransform {
    min_x: f64,
    max_y: f64,
    scale: f64,
}

impl TileTransform {
    /// The transform for a tile with the given bounds and extent.
    #[must_use]
    pub fn new(bounds: &MercatorRect, extent: u32) -> Self {
        Self {
            min_x: bounds.min_x,
            max_y: bounds.max_y,
            scale: f64::from(extent) / (bounds.max_x - bounds.min_x),
        }
    }

    #[inline]
    fn apply(&self, c: geo_types::Coord<f64>) -> Pt {
        [
            (c.x - self.min_x) * self.scale,
            (self.max_y - c.y) * self.scale,
        ]
    }
}

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

fn command(id: u32, count: usize) -> u32 {
    // Counts are bounded by the points of one geometry; MVT allows 2^29 - 1.
    (id & 0x7) | (u32::try_from(count).unwrap_or(0) << 3)
}

fn zigzag(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)).cast_unsigned()
}

/// Encodes features one after another, reusing its buffers between them.
#[derive(Debug, Default)]
pub struct GeometryWriter {
    commands: Vec<u32>,
    cursor: [i32; 2],
    points: Vec<Pt>,
    quantized: Vec<[i32; 2]>,
}

impl GeometryWriter {
    /// The command stream of the last encoded feature.
    #[must_use]
    pub fn commands(&self) -> &[u32] {
        &self.commands
    }

    /// Starts a new feature: clears the previous commands and resets the cursor.
    fn begin<'t>(
        &mut self,
        transform: &'t TileTransform,
        bounds: ClipBox,
        needs_clip: bool,
    ) -> Context<'t> {
        self.commands.clear();
        self.cursor = [0, 0];
        Context {
            transform,
            bounds,
            needs_clip,
        }
    }

    /// Encodes `geometry` for a tile, replacing the previous feature's commands.
    /// Returns `None` when nothing of it is left in the tile.
    pub fn encode(
        &mut self,
        geometry: &Geometry<f64>,
        transform: &TileTransform,
        bounds: ClipBox,
        needs_clip: bool,
    ) -> Option<GeomType> {
        let ctx = self.begin(transform, bounds, needs_clip);
        let kind = match geometry {
            Geometry::Point(p) => {
                self.points_of(&ctx, std::iter::once(p.0));
                GeomType::Point
            }
            Geometry::MultiPoint(mp) => {
                self.points_of(&ctx, mp.0.iter().map(|p| p.0));
                GeomType::Point
            }
            Geometry::LineString(ls) => {
                self.line(&ctx, &ls.0);
                GeomType::Linestring
            }
            Geometry::MultiLineString(mls) => {
                for ls in &mls.0 {
                    self.line(&ctx, &ls.0);
                }
                GeomType::Linestring
            }
            Geometry::Polygon(p) => {
                self.polygon(&ctx, p);
                GeomType::Polygon
            }
            Geometry::MultiPolygon(mp) => {
                for p in &mp.0 {
                    self.polygon(&ctx, p);
                }
                GeomType::Polygon
            }
            Geometry::Rect(r) => {
                self.polygon(&ctx, &r.to_polygon());
                GeomType::Polygon
            }
            Geometry::Triangle(t) => {
                self.polygon(&ctx, &t.to_polygon());
                GeomType::Polygon
            }
            // Collections and bare lines do not occur after ingest; they have no MVT form.
            Geometry::Line(_) | Geometry::GeometryCollection(_) => return None,
        };
        (!self.commands.is_empty()).then_some(kind)
    }

    /// Encodes a simplified shape of a generalization band, like [`Self::encode`].
    pub fn encode_shape(
        &mut self,
        shape: Shape<'_>,
        transform: &TileTransform,
        bounds: ClipBox,
        needs_clip: bool,
    ) -> Option<GeomType> {
        let ctx = self.begin(transform, bounds, needs_clip);
        let kind = match shape.kind() {
            ShapeKind::Polygon => {
                for mut rings in shape.parts() {
                    let Some(exterior) = rings.next() else {
                        continue;
                    };
                    if !self.ring(&ctx, exterior, true) {
                        continue;
                    }
                    self.path(true);
                    for hole in rings {
                        if self.ring(&ctx, hole, false) {
                            self.path(true);
                        }
                    }
                }
                GeomType::Polygon
            }
            ShapeKind::Line => {
                for lines in shape.parts() {
                    for line in lines {
                        self.line(&ctx, line);
                    }
                }
                GeomType::Linestring
            }
        };
        (!self.commands.is_empty()).then_some(kind)
    }

    /// Encodes one point (Web Mercator metres), like [`Self::encode`].
    pub fn encode_point(
        &mut self,
        point: geo_types::Coord<f64>,
        transform: &TileTransform,
        bounds: ClipBox,
    ) -> Option<GeomType> {
        self.commands.clear();
        self.cursor = [0, 0];
        let ctx = Context {
            transform,
            bounds,
            needs_clip: true,
        };
        self.points_of(&ctx, std::iter::once(point));
        (!self.commands.is_empty()).then_some(GeomType::Point)
    }

    fn delta(&mut self, p: [i32; 2]) {
        self.commands.push(zigzag(p[0] - self.cursor[0]));
        self.commands.push(zigzag(p[1] - self.cursor[1]));
        self.cursor = p;
    }

    /// Writes `self.quantized` as one path.
    fn path(&mut self, close: bool) {
        let n = self.quantized.len();
        self.commands.push(command(MOVE_TO, 1));
        self.delta(self.quantized[0]);
        self.commands.push(command(LINE_TO, n - 1));
        for i in 1..n {
            self.delta(self.quantized[i]);
        }
        if close {
            self.commands.push(command(CLOSE_PATH, 1));
        }
    }

    fn points_of(
        &mut self,
        ctx: &Context<'_>,
        coords: impl Iterator<Item = geo_types::Coord<f64>>,
    ) {
        self.quantized.clear();
        for c in coords {
            let p = ctx.transform.apply(c);
            if ctx.bounds.contains(p) {
                self.quantized.push(quantize(p));
            }
        }
        self.quantized.dedup();
        if self.quantized.is_empty() {
            return;
        }
        self.commands.push(command(MOVE_TO, self.quantized.len()));
        for i in 0..self.quantized.len() {
            self.delta(self.quantized[i]);
        }
    }

    fn line(&mut self, ctx: &Context<'_>, ls: &[geo_types::Coord<f64>]) {
        self.points.clear();
        self.points
            .extend(ls.iter().map(|c| ctx.transform.apply(*c)));
        if ctx.needs_clip && !ctx.bounds.contains_all(&self.points) {
            for part in clip_line(&self.points, ctx.bounds) {
                quantize_into(&part, &mut self.quantized);
                if self.quantized.len() >= 2 {
                    self.path(false);
                }
            }
        } else {
            quantize_into(&self.points, &mut self.quantized);
            if self.quantized.len() >= 2 {
                self.path(false);
            }
        }
    }

    fn polygon(&mut self, ctx: &Context<'_>, polygon: &Polygon<f64>) {
        if !self.ring(ctx, &polygon.exterior().0, true) {
            return;
        }
        self.path(true);
        for hole in polygon.interiors() {
            if self.ring(ctx, &hole.0, false) {
                self.path(true);
            }
        }
    }

    /// Leaves in `self.quantized` the open ring with MVT winding (exterior: positive
    /// area in tile coordinates); false when it collapses. The ring may be given
    /// closed or open.
    fn ring(&mut self, ctx: &Context<'_>, ring: &[geo_types::Coord<f64>], exterior: bool) -> bool {
        let coords = match ring.split_last() {
            Some((last, rest)) if rest.first() == Some(last) => rest,
            _ => ring,
        };
        self.points.clear();
        self.points
            .extend(coords.iter().map(|c| ctx.transform.apply(*c)));
        if ctx.needs_clip && !ctx.bounds.contains_all(&self.points) {
            let clipped = clip_ring(&self.points, ctx.bounds);
            quantize_into(&clipped, &mut self.quantized);
        } else {
            quantize_into(&self.points, &mut self.quantized);
        }
        let q = &mut self.quantized;
        while q.len() > 1 && q.first() == q.last() {
            q.pop();
        }
        if q.len() < 3 {
            return false;
        }
        let area = twice_area(q);
        if area == 0 {
            return false;
        }
        if (area > 0) != exterior {
            q.reverse();
        }
        true
    }
}

/// Encodes `geometry` for a tile into a fresh command vector; `None` when nothing of it
/// is left in the tile. Convenience over [`GeometryWriter`] for one-off use.
#[must_use]
pub fn encode(
    geometry: &Geometry<f64>,
    transform: &TileTransform,
    bounds: ClipBox,
    needs_clip: bool,
) -> Option<(GeomType, Vec<u32>)> {
    let mut writer = GeometryWriter::default();
    let kind = writer.encode(geometry, transform, bounds, needs_clip)?;
    Some((kind, writer.commands))
}

struct Context<'a> {
    transform: &'a TileTransform,
    bounds: ClipBox,
    needs_clip: bool,
}

#[inline]
fn quantize(p: Pt) -> [i32; 2] {
    [round(p[0]), round(p[1])]
}

/// Rounds half up without a libm call (baseline x86-64 has no rounding instruction).
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "clipped coordinates lie within a few thousand pixels of the tile"
)]
fn round(v: f64) -> i32 {
    let t = v + 0.5;
    let i = t as i32;
    if f64::from(i) > t { i - 1 } else { i }
}

fn quantize_into(points: &[Pt], out: &mut Vec<[i32; 2]>) {
    out.clear();
    out.extend(points.iter().map(|p| quantize(*p)));
    out.dedup();
}

/// Twice the signed area of an open ring (shoelace), in tile pixels.
fn twice_area(ring: &[[i32; 2]]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1])
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use geo_types::{point, polygon};

    use super::*;

    fn unit_transform() -> TileTransform {
        // Mercator metres equal pixels, y flipped around 4096.
        TileTransform::new(
            &MercatorRect {
                min_x: 0.0,
                min_y: 0.0,
                max_x: 4096.0,
                max_y: 4096.0,
            },
            4096,
        )
    }

    const BOX: ClipBox = ClipBox {
        min: -64.0,
        max: 4160.0,
    };

    #[test]
    fn point_command_stream() {
        let g = Geometry::Point(point!(x: 25.0, y: 4096.0 - 17.0));
        let (kind, cmds) = encode(&g, &unit_transform(), BOX, true).expect("kept");
        assert_eq!(kind, GeomType::Point);
        // Spec example: MoveTo(1) = 9, then zigzag(25) = 50, zigzag(17) = 34.
        assert_eq!(cmds, vec![9, 50, 34]);
    }

    #[test]
    fn polygon_exterior_gets_positive_area_and_closepath() {
        // The MVT spec example ring, given in Mercator metres (y up).
        let g = Geometry::Polygon(polygon![
            (x: 3.0, y: 4096.0 - 6.0), (x: 8.0, y: 4096.0 - 12.0),
            (x: 20.0, y: 4096.0 - 34.0), (x: 3.0, y: 4096.0 - 6.0)
        ]);
        let (kind, cmds) = encode(&g, &unit_transform(), BOX, true).expect("kept");
        assert_eq!(kind, GeomType::Polygon);
        assert_eq!(cmds, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }

    #[test]
    fn sub_pixel_polygon_is_dropped() {
        let g = Geometry::Polygon(polygon![
            (x: 1.0, y: 1.0), (x: 1.2, y: 1.0), (x: 1.2, y: 1.2), (x: 1.0, y: 1.0)
        ]);
        assert!(encode(&g, &unit_transform(), BOX, true).is_none());
    }

    #[test]
    fn points_outside_buffer_are_dropped() {
        let g = Geometry::Point(point!(x: 5000.0, y: 10.0));
        assert!(encode(&g, &unit_transform(), BOX, true).is_none());
    }
}
