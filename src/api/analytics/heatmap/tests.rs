use super::*;
use crate::analytics::points::PointFields;
use crate::analytics::test_data::{layer_of, ping};
use crate::model::tile::lonlat_to_mercator;

/// The pixel of `tile` (of `size` pixels) that `(lon, lat)` falls in.
fn pixel_of(tile: TileId, size: u32, (lon, lat): (f64, f64)) -> (usize, usize) {
    let (x, y) = lonlat_to_mercator(lon, lat);
    let b = tile.mercator_bounds();
    let px = (x - b.min_x) / (b.max_x - b.min_x) * f64::from(size);
    let py = (b.max_y - y) / (b.max_y - b.min_y) * f64::from(size);
    (px.floor() as usize, py.floor() as usize)
}

/// Regression: the count grid had a margin rounded up to whole privacy blocks while
/// the renderer cropped its own, smaller margin, so lit pixels were shifted away from
/// the points (4 px at radius 8). A single dense point must light its own pixel.
#[test]
fn a_dense_point_renders_at_the_pixel_it_falls_in() {
    let at = (2.170_31, 41.390_17);
    let features = (1..=20)
        .map(|i| ping(i, at, None, &format!("d{i}"), None))
        .collect();
    let layer = layer_of(features);
    let fields = PointFields {
        person: Some("device"),
        ..PointFields::default()
    };
    let points = PointColumns::build(&layer, &fields).expect("columns");
    let rows = Selection::Range(0..points.len());
    let tile = crate::model::tile::TileRange::covering(
        &{
            let (x, y) = lonlat_to_mercator(at.0, at.1);
            crate::model::tile::MercatorRect {
                min_x: x,
                min_y: y,
                max_x: x,
                max_y: y,
            }
        },
        15,
    )
    .expect("range")
    .iter()
    .next()
    .expect("tile");
    let k = KAnonymity::default();
    let spec = StatsSpec {
        distinct: true,
        value: false,
    };
    for size in [256u32, 512] {
        for radius in [0.01f32, 8.0] {
            let png = raster_tile(&points, &rows, tile, (size, radius, 5.0), Some((k, spec)))
                .expect("render")
                .expect("not empty");
            let decoder = png::Decoder::new(std::io::Cursor::new(png));
            let mut reader = decoder.read_info().expect("header");
            let mut rgba = vec![0; reader.output_buffer_size().expect("size")];
            reader.next_frame(&mut rgba).expect("frame");
            // The most opaque, then reddest, pixel is the density peak.
            let peak = rgba
                .chunks(4)
                .enumerate()
                .max_by_key(|(_, p)| (p[3], p[0]))
                .map(|(i, _)| (i % size as usize, i / size as usize))
                .expect("pixels");
            assert_eq!(
                peak,
                pixel_of(tile, size, at),
                "size {size}, radius {radius}"
            );
        }
    }
    // Fewer than k persons: nothing is drawn.
    let few = KAnonymity::new(21).expect("k");
    assert!(
        raster_tile(&points, &rows, tile, (256, 8.0, 5.0), Some((few, spec)))
            .expect("render")
            .is_none()
    );
}
