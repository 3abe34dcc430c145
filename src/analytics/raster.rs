//! Kernel-density rendering of binned points into RGBA pixels, for raster heatmap
//! tiles.
//!
//! Points are binned one cell per pixel over the tile plus a margin of three kernel
//! widths, blurred with a separable Gaussian (σ = `radius / 2` pixels), and cropped to
//! the tile, so neighbouring tiles match at their edges. Colours use a fixed scale, the
//! same in every tile: `t = ln(1 + d) / ln(1 + saturation)` clamped to 1, where `d` is
//! the blurred count of points per pixel; `t` is mapped onto [`RAMP`], and pixels with
//! `d` below [`MIN_DENSITY`] stay fully transparent.

/// The colour ramp, from sparse to dense: `(t, [r, g, b, a])` stops, linearly
/// interpolated (a dark-blue → cyan → yellow → red "heat" ramp, alpha rising with
/// density).
pub const RAMP: [(f32, [u8; 4]); 5] = [
    (0.0, [43, 131, 186, 0]),
    (0.25, [43, 131, 186, 160]),
    (0.5, [171, 221, 164, 200]),
    (0.75, [253, 174, 97, 220]),
    (1.0, [215, 25, 28, 240]),
];

/// Blurred densities below this are transparent.
pub const MIN_DENSITY: f32 = 1e-3;

/// Margin, in pixels, that a kernel of `radius` pixels needs beyond the tile edge.
#[must_use]
pub fn margin(radius: f32) -> usize {
    // 3 σ with σ = radius / 2; the value is small and positive.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "small positive"
    )]
    let m = (1.5 * radius).ceil().max(0.0) as usize;
    m
}

/// Gaussian blur of a `side × side` row-major grid, in place, σ = `radius / 2`.
pub fn blur(values: &mut [f32], side: usize, radius: f32) {
    let sigma = (radius / 2.0).max(0.3);
    let half = margin(radius).max(1);
    #[expect(clippy::cast_precision_loss, reason = "kernel offsets are small")]
    let kernel: Vec<f32> = (0..=2 * half)
        .map(|i| {
            let d = i as f32 - half as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let norm: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / norm).collect();
    let mut tmp = vec![0.0f32; values.len()];
    // Rows into `tmp`, then columns back into `values`.
    convolve(values, &mut tmp, side, &kernel, half, true);
    convolve(&tmp, values, side, &kernel, half, false);
}

fn convolve(src: &[f32], dst: &mut [f32], side: usize, kernel: &[f32], half: usize, rows: bool) {
    for a in 0..side {
        for b in 0..side {
            let mut acc = 0.0;
            let lo = b.saturating_sub(half);
            let hi = (b + half).min(side - 1);
            for c in lo..=hi {
                let k = kernel[c + half - b];
                let v = if rows {
                    src[a * side + c]
                } else {
                    src[c * side + a]
                };
                acc += k * v;
            }
            if rows {
                dst[a * side + b] = acc;
            } else {
                dst[b * side + a] = acc;
            }
        }
    }
}

/// The RGBA colour of a density.
#[must_use]
pub fn colour(density: f32, saturation: f32) -> [u8; 4] {
    if density < MIN_DENSITY {
        return [0, 0, 0, 0];
    }
    let t = ((1.0 + density).ln() / (1.0 + saturation.max(1e-3)).ln()).clamp(0.0, 1.0);
    let upper = RAMP
        .iter()
        .position(|(s, _)| *s >= t)
        .unwrap_or(RAMP.len() - 1)
        .max(1);
    let (t0, c0) = RAMP[upper - 1];
    let (t1, c1) = RAMP[upper];
    let f = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
    let mut out = [0u8; 4];
    for i in 0..4 {
        let v = f32::from(c0[i]) + f * (f32::from(c1[i]) - f32::from(c0[i]));
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "0..=255"
        )]
        let byte = v.round().clamp(0.0, 255.0) as u8;
        out[i] = byte;
    }
    // Anything visible is at least faintly opaque.
    out[3] = out[3].max(40);
    out
}

/// Renders the centre `size × size` pixels of a blurred `(size + 2·m)²` grid of
/// counts as RGBA, `m` being the grid's margin in pixels on each side (at least
/// [`margin`]`(radius)`; callers may round it up, e.g. to whole privacy blocks).
#[must_use]
pub fn render(counts: &[f32], size: usize, m: usize, radius: f32, saturation: f32) -> Vec<u8> {
    let side = size + 2 * m;
    let mut values = counts.to_vec();
    values.resize(side * side, 0.0);
    blur(&mut values, side, radius);
    let mut rgba = Vec::with_capacity(size * size * 4);
    for row in m..m + size {
        for col in m..m + size {
            rgba.extend_from_slice(&colour(values[row * side + col], saturation));
        }
    }
    rgba
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_the_mass_away_from_edges() {
        let side = 41;
        let mut v = vec![0.0f32; side * side];
        v[20 * side + 20] = 10.0;
        blur(&mut v, side, 4.0);
        let total: f32 = v.iter().sum();
        assert!((total - 10.0).abs() < 1e-3, "{total}");
        assert!(v[20 * side + 20] > v[20 * side + 23]);
        assert!(
            (v[20 * side + 17] - v[20 * side + 23]).abs() < 1e-6,
            "symmetric"
        );
    }

    #[test]
    fn empty_pixels_are_transparent_and_dense_ones_red() {
        assert_eq!(colour(0.0, 50.0)[3], 0);
        assert_eq!(colour(1e6, 50.0), RAMP[4].1);
        let mid = colour(3.0, 50.0);
        assert!(mid[3] > 0 && mid != RAMP[4].1);
    }

    #[test]
    fn render_crops_the_margin() {
        let radius = 2.0;
        let size = 8;
        let side = size + 2 * margin(radius);
        let counts = vec![0.0; side * side];
        let rgba = render(&counts, size, margin(radius), radius, 10.0);
        assert_eq!(rgba.len(), size * size * 4);
        assert!(rgba.chunks(4).all(|p| p[3] == 0));
    }
}
