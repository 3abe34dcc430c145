use std::f64::consts::PI;

use geo_types::{Geometry, point};

use super::*;
use crate::model::{Feature, Field, FieldType, LayerMeta, Schema, Value};

/// Three points around Barcelona's old town, 0.02 degrees apart.
fn points_layer(sensitivity: Sensitivity) -> IndexedLayer {
    let schema = Schema {
        fields: vec![Field {
            name: "kind".into(),
            field_type: FieldType::String,
        }],
    };
    let coords = [(2.16, 41.38), (2.17, 41.39), (2.18, 41.40)];
    let features: Vec<Feature> = (1..)
        .zip(coords)
        .map(|(id, (x, y))| Feature {
            id,
            geometry: Geometry::Point(point!(x: x, y: y)),
            properties: vec![Value::String("bench".into())],
        })
        .collect();
    let name = LayerName::new("benches").expect("valid name");
    let mut meta = LayerMeta::in_memory(name, schema, features.len() as u64);
    meta.bbox = Some(Bbox::new(2.16, 41.38, 2.18, 41.40));
    meta.license = Some("CC0-1.0".into());
    meta.sensitivity = sensitivity;
    IndexedLayer::new(meta, features)
}

fn options(min_zoom: u8, max_zoom: u8) -> ExportOptions {
    ExportOptions {
        min_zoom,
        max_zoom,
        tile_options: TileOptions::default(),
    }
}

/// Column and row of a lon/lat at zoom `z`, from the slippy-map formulas.
fn slippy_tile(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let lat = lat.to_radians();
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0 * n;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "inside the world at these zooms"
    )]
    let tile = (x.floor() as u32, y.floor() as u32);
    tile
}

#[test]
fn format_follows_the_extension() {
    let format = |name: &str| ArchiveFormat::from_path(Path::new(name));
    assert_eq!(
        format("out/city.pmtiles").ok(),
        Some(ArchiveFormat::PmTiles)
    );
    assert_eq!(format("city.MBTILES").ok(), Some(ArchiveFormat::MbTiles));
    for bad in ["city.zip", "city", "pmtiles", "city.pmtiles.tmp"] {
        assert!(
            matches!(format(bad), Err(ExportError::UnknownFormat { path }) if path == Path::new(bad)),
            "{bad}"
        );
    }
}

#[test]
fn plan_covers_the_box_at_every_zoom() {
    let bbox = Bbox::new(2.15, 41.37, 2.19, 41.41);
    let plan = render::Plan::new(&bbox, 10..=16).expect("valid plan");
    assert_eq!(plan.ranges().len(), 7);
    let mut total = 0;
    for range in plan.ranges() {
        let (west, north) = slippy_tile(bbox.min_x, bbox.max_y, range.z);
        let (east, south) = slippy_tile(bbox.max_x, bbox.min_y, range.z);
        assert_eq!(
            (*range.x.start(), *range.x.end()),
            (west, east),
            "z{}",
            range.z
        );
        assert_eq!(
            (*range.y.start(), *range.y.end()),
            (north, south),
            "z{}",
            range.z
        );
        let expected = u64::from(east - west + 1) * u64::from(south - north + 1);
        assert_eq!(range.len(), expected, "z{}", range.z);
        total += expected;
    }
    assert_eq!(plan.len(), total);
}

#[test]
fn plan_refuses_a_runaway_zoom() {
    // A metropolitan area, about 80 km across: some 10^9 tiles at z24.
    let bbox = Bbox::new(1.8, 41.2, 2.8, 41.8);
    assert!(matches!(
        render::Plan::new(&bbox, 10..=24),
        Err(ExportError::TooManyTiles { max: 24, .. })
    ));
}

#[test]
fn mbtiles_rows_count_from_the_south() {
    let tile = |z, x, y| TileId::new(z, x, y).expect("valid tile");
    assert_eq!(mbtiles_file::tms_row(tile(0, 0, 0)), 0);
    assert_eq!(mbtiles_file::tms_row(tile(3, 5, 0)), 7);
    assert_eq!(mbtiles_file::tms_row(tile(3, 5, 7)), 0);
    assert_eq!(mbtiles_file::tms_row(tile(14, 8290, 6119)), 16383 - 6119);
}

#[test]
fn mbtiles_archive_holds_flipped_rows_and_metadata() {
    let layer = points_layer(Sensitivity::Public);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("benches.mbtiles");
    let summary = export(&[&layer], &out, &options(12, 13), &mut |_| {}).expect("export");
    assert_eq!(summary.format, ArchiveFormat::MbTiles);
    assert!(summary.tiles_written > 0);

    let db = rusqlite::Connection::open(&out).expect("open archive");
    let rows: Vec<(u8, u32, u32)> = db
        .prepare("SELECT zoom_level, tile_column, tile_row FROM tiles")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .expect("tile rows");
    assert_eq!(rows.len() as u64, summary.tiles_written);
    // Each point's tile is stored under its TMS row.
    for (lon, lat) in [(2.16, 41.38), (2.18, 41.40)] {
        let (x, y) = slippy_tile(lon, lat, 13);
        assert!(rows.contains(&(13, x, (1 << 13) - 1 - y)), "{lon},{lat}");
    }
    let value = |name: &str| -> String {
        db.query_row("SELECT value FROM metadata WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .expect(name)
    };
    assert_eq!(value("format"), "pbf");
    assert_eq!(
        (value("minzoom"), value("maxzoom")),
        ("12".into(), "13".into())
    );
    assert_eq!(value("attribution"), "CC0-1.0");
    let json: serde_json::Value = serde_json::from_str(&value("json")).expect("json");
    assert_eq!(json["vector_layers"][0]["id"], "benches");
    // The staging file is gone.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["benches.mbtiles"]);
}

#[test]
fn personal_layers_are_refused_before_any_file() {
    let layer = points_layer(Sensitivity::Personal);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pings.pmtiles");
    let err = export(&[&layer], &out, &options(12, 13), &mut |_| {}).expect_err("refused");
    assert!(matches!(&err, ExportError::PersonalLayer(name) if name.as_str() == "benches"));
    assert!(err.to_string().contains("personal data"));
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn bad_zoom_ranges_are_refused() {
    let layer = points_layer(Sensitivity::Public);
    let out = Path::new("never-written.pmtiles");
    for (min, max) in [(14, 12), (10, MAX_ZOOM + 1)] {
        let err = export(&[&layer], out, &options(min, max), &mut |_| {});
        assert!(
            matches!(err, Err(ExportError::ZoomRange { .. })),
            "{min}..={max}"
        );
    }
    assert!(matches!(
        export(&[], out, &options(1, 2), &mut |_| {}),
        Err(ExportError::NoLayers)
    ));
    assert!(!out.exists());
}
