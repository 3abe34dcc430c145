//! Clipping of rings and lines to an axis-aligned square in tile coordinates.
//!
//! Rings use Sutherland–Hodgman against the four edges: for a concave ring leaving
//! and re-entering the box this leaves zero-width slivers along the edge, which is
//! what MVT consumers expect (the buffer hides them) and what tippecanoe and PostGIS
//! produce too. Lines are cut segment by segment (Liang–Barsky) into parts.

/// A point in tile coordinates (x right, y down), before quantization.
pub type Pt = [f64; 2];

/// The square `[min, max] × [min, max]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipBox {
    /// Lower bound of both axes.
    pub min: f64,
    /// Upper bound of both axes.
    pub max: f64,
}

impl ClipBox {
    /// True when every point lies inside the box.
    #[must_use]
    pub fn contains_all(&self, points: &[Pt]) -> bool {
        points.iter().all(|p| self.contains(*p))
    }

    /// True when the point lies inside the box (edges included).
    #[must_use]
    pub fn contains(&self, p: Pt) -> bool {
        p[0] >= self.min && p[0] <= self.max && p[1] >= self.min && p[1] <= self.max
    }
}

#[derive(Clone, Copy)]
enum Edge {
    Left(f64),
    Right(f64),
    Top(f64),
    Bottom(f64),
}

impl Edge {
    fn inside(self, p: Pt) -> bool {
        match self {
            Edge::Left(v) => p[0] >= v,
            Edge::Right(v) => p[0] <= v,
            Edge::Top(v) => p[1] >= v,
            Edge::Bottom(v) => p[1] <= v,
        }
    }

    fn cross(self, a: Pt, b: Pt) -> Pt {
        match self {
            Edge::Left(v) | Edge::Right(v) => {
                let t = (v - a[0]) / (b[0] - a[0]);
                [v, a[1] + t * (b[1] - a[1])]
            }
            Edge::Top(v) | Edge::Bottom(v) => {
                let t = (v - a[1]) / (b[1] - a[1]);
                [a[0] + t * (b[0] - a[0]), v]
            }
        }
    }
}

/// Clips a closed ring (given without its closing point) to the box. The result is
/// also open; it is empty when the ring lies outside.
#[must_use]
pub fn clip_ring(ring: &[Pt], bounds: ClipBox) -> Vec<Pt> {
    let edges = [
        Edge::Left(bounds.min),
        Edge::Right(bounds.max),
        Edge::Top(bounds.min),
        Edge::Bottom(bounds.max),
    ];
    let mut input: Vec<Pt> = ring.to_vec();
    let mut output: Vec<Pt> = Vec::with_capacity(ring.len() + 4);
    for edge in edges {
        output.clear();
        let Some(&last) = input.last() else {
            break;
        };
        let mut prev = last;
        for &cur in &input {
            match (edge.inside(prev), edge.inside(cur)) {
                (true, true) => output.push(cur),
                (true, false) => output.push(edge.cross(prev, cur)),
                (false, true) => {
                    output.push(edge.cross(prev, cur));
                    output.push(cur);
                }
                (false, false) => {}
            }
            prev = cur;
        }
        std::mem::swap(&mut input, &mut output);
    }
    input
}

/// Clips a polyline to the box; each maximal inside run becomes one part.
#[must_use]
pub fn clip_line(line: &[Pt], bounds: ClipBox) -> Vec<Vec<Pt>> {
    let mut parts: Vec<Vec<Pt>> = Vec::new();
    let mut current: Vec<Pt> = Vec::new();
    for pair in line.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        match clip_segment(a, b, bounds) {
            Some((ca, cb)) => {
                if current.last() != Some(&ca) {
                    if current.len() >= 2 {
                        parts.push(std::mem::take(&mut current));
                    }
                    current.clear();
                    current.push(ca);
                }
                current.push(cb);
                // The segment left the box: close this part.
                if cb != b {
                    parts.push(std::mem::take(&mut current));
                }
            }
            None => {
                if current.len() >= 2 {
                    parts.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if current.len() >= 2 {
        parts.push(current);
    }
    parts
}

/// Liang–Barsky: the part of segment `a`–`b` inside the box.
fn clip_segment(a: Pt, b: Pt, bounds: ClipBox) -> Option<(Pt, Pt)> {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let mut t0: f64 = 0.0;
    let mut t1: f64 = 1.0;
    let checks = [
        (-dx, a[0] - bounds.min),
        (dx, bounds.max - a[0]),
        (-dy, a[1] - bounds.min),
        (dy, bounds.max - a[1]),
    ];
    for (p, q) in checks {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
            if t0 > t1 {
                return None;
            }
        }
    }
    let at = |t: f64| [a[0] + t * dx, a[1] + t * dy];
    Some((
        if t0 > 0.0 { at(t0) } else { a },
        if t1 < 1.0 { at(t1) } else { b },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: ClipBox = ClipBox {
        min: 0.0,
        max: 10.0,
    };

    fn area(ring: &[Pt]) -> f64 {
        let n = ring.len();
        (0..n)
            .map(|i| {
                let (a, b) = (ring[i], ring[(i + 1) % n]);
                a[0] * b[1] - b[0] * a[1]
            })
            .sum::<f64>()
            / 2.0
    }

    #[test]
    fn ring_inside_is_unchanged() {
        let ring = [[1.0, 1.0], [5.0, 1.0], [5.0, 5.0]];
        assert_eq!(clip_ring(&ring, BOX), ring.to_vec());
    }

    #[test]
    fn ring_crossing_is_cut_to_the_box() {
        let ring = [[-5.0, -5.0], [5.0, -5.0], [5.0, 5.0], [-5.0, 5.0]];
        let clipped = clip_ring(&ring, BOX);
        assert!((area(&clipped) - 25.0).abs() < 1e-12);
        assert!(BOX.contains_all(&clipped));
    }

    #[test]
    fn ring_outside_is_empty() {
        let ring = [[20.0, 20.0], [30.0, 20.0], [30.0, 30.0]];
        assert!(clip_ring(&ring, BOX).is_empty());
    }

    #[test]
    fn line_leaving_and_reentering_splits() {
        let line = [[1.0, 1.0], [15.0, 1.0], [15.0, 5.0], [1.0, 5.0]];
        let parts = clip_line(&line, BOX);
        assert_eq!(
            parts,
            vec![vec![[1.0, 1.0], [10.0, 1.0]], vec![[10.0, 5.0], [1.0, 5.0]]]
        );
    }

    #[test]
    fn line_crossing_box_keeps_middle() {
        let parts = clip_line(&[[-5.0, 5.0], [15.0, 5.0]], BOX);
        assert_eq!(parts, vec![vec![[0.0, 5.0], [10.0, 5.0]]]);
    }
}
