use flatgeobuf::{FgbWriter, FgbWriterOptions};
use geo::BoundingRect as _;
use geo_types::{
    Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point,
    Rect, coord, line_string, point, polygon,
};
use rand_core::Rng as _;
use rand_pcg::Pcg64;

use super::*;

fn meta() -> LayerMeta {
    super::super::tests::meta("parcels")
}

/// Properties for the test schema (name, floors, area, vacant), varied by `i`, with
/// some nulls.
fn props(i: u64) -> Vec<Value> {
    vec![
        if i.is_multiple_of(5) {
            Value::Null
        } else {
            Value::String(format!("parcel nº {i} – «ok»"))
        },
        Value::Int(i64::try_from(i).expect("small") - 3),
        if i.is_multiple_of(3) {
            Value::Null
        } else {
            Value::Float(i as f64 * 1.25)
        },
        Value::Bool(i.is_multiple_of(2)),
    ]
}

fn features(geometries: Vec<Geometry<f64>>) -> Vec<Feature> {
    geometries
        .into_iter()
        .zip(1..)
        .map(|(geometry, id)| Feature {
            id,
            geometry,
            properties: props(id),
        })
        .collect()
}

fn round_trip(features: &[Feature]) -> Vec<Feature> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("features.fgb");
    write_features(&path, &meta(), features).expect("write");
    read_features(&path, &meta().schema).expect("read")
}

fn square_with_hole(x: f64, y: f64) -> geo_types::Polygon<f64> {
    polygon!(
        exterior: [(x: x, y: y), (x: x + 1.0, y: y), (x: x + 1.0, y: y + 1.0), (x: x, y: y + 1.0), (x: x, y: y)],
        interiors: [
            [(x: x + 0.2, y: y + 0.2), (x: x + 0.2, y: y + 0.4), (x: x + 0.4, y: y + 0.4), (x: x + 0.2, y: y + 0.2)],
            [(x: x + 0.6, y: y + 0.6), (x: x + 0.6, y: y + 0.8), (x: x + 0.8, y: y + 0.8), (x: x + 0.6, y: y + 0.6)],
        ],
    )
}

fn triangle(x: f64, y: f64) -> geo_types::Polygon<f64> {
    polygon![(x: x, y: y), (x: x + 0.5, y: y), (x: x, y: y + 0.5), (x: x, y: y)]
}

fn line(x: f64, y: f64) -> LineString<f64> {
    line_string![(x: x, y: y), (x: x + 0.3, y: y + 0.1), (x: x + 0.5, y: y - 0.2)]
}

fn points() -> Vec<Geometry<f64>> {
    (0..20)
        .map(|i| {
            Geometry::Point(point!(x: 2.0 + f64::from(i) * 0.01, y: 41.0 - f64::from(i) * 0.02))
        })
        .collect()
}

fn polygons() -> Vec<Geometry<f64>> {
    (0..20)
        .map(|i| {
            let (x, y) = (f64::from(i % 5), f64::from(i / 5));
            if i % 2 == 0 {
                Geometry::Polygon(square_with_hole(x, y))
            } else {
                Geometry::Polygon(triangle(x, y))
            }
        })
        .collect()
}

fn multipolygons() -> Vec<Geometry<f64>> {
    (0..20)
        .map(|i| {
            let (x, y) = (f64::from(i % 5) * 3.0, f64::from(i / 5) * 3.0);
            let parts = (0..=(i % 3))
                .map(|k| square_with_hole(x + f64::from(k), y))
                .collect();
            Geometry::MultiPolygon(MultiPolygon(parts))
        })
        .collect()
}

fn lines() -> Vec<Geometry<f64>> {
    (0..20)
        .map(|i| Geometry::LineString(line(f64::from(i), -f64::from(i))))
        .collect()
}

fn multilines() -> Vec<Geometry<f64>> {
    (0..20)
        .map(|i| {
            let x = f64::from(i);
            let parts = (0..=(i % 3)).map(|k| line(x, f64::from(k))).collect();
            Geometry::MultiLineString(MultiLineString(parts))
        })
        .collect()
}

/// Every kind of geometry in one layer, so that each feature carries its own type.
fn mixed() -> Vec<Geometry<f64>> {
    vec![
        Geometry::Point(point!(x: -3.7, y: 40.4)),
        Geometry::Polygon(square_with_hole(1.0, 1.0)),
        Geometry::MultiPolygon(MultiPolygon(vec![
            square_with_hole(5.0, 5.0),
            triangle(7.0, 7.0),
        ])),
        Geometry::LineString(line(0.0, 0.0)),
        Geometry::MultiLineString(MultiLineString(vec![line(1.0, 0.0), line(2.0, 0.0)])),
        Geometry::MultiPoint(MultiPoint(vec![
            point!(x: 1.0, y: 1.0),
            point!(x: 2.0, y: 3.0),
        ])),
        Geometry::GeometryCollection(GeometryCollection(vec![
            Geometry::Point(point!(x: 9.0, y: 9.0)),
            Geometry::LineString(line(9.0, 8.0)),
            Geometry::Polygon(square_with_hole(8.0, 8.0)),
            Geometry::MultiPolygon(MultiPolygon(vec![
                triangle(10.0, 10.0),
                triangle(11.0, 11.0),
            ])),
        ])),
        Geometry::Point(point!(x: 179.9, y: -89.9)),
    ]
}

#[test]
fn every_geometry_kind_reads_back_identical_through_flatgeobufs_reader() {
    for (kind, geometries) in [
        ("points", points()),
        ("polygons", polygons()),
        ("multipolygons", multipolygons()),
        ("lines", lines()),
        ("multilines", multilines()),
        ("mixed", mixed()),
    ] {
        let written = features(geometries);
        assert_eq!(round_trip(&written), written, "{kind}");
    }
}

#[test]
fn mixed_single_and_multi_geometries_read_back_as_multi() {
    let written = features(vec![
        Geometry::Polygon(square_with_hole(0.0, 0.0)),
        Geometry::MultiPolygon(MultiPolygon(vec![triangle(3.0, 3.0), triangle(4.0, 4.0)])),
        Geometry::Rect(Rect::new(
            coord! { x: 5.0, y: 5.0 },
            coord! { x: 6.0, y: 7.0 },
        )),
    ]);
    let expected = written
        .iter()
        .map(|f| Feature {
            geometry: match &f.geometry {
                Geometry::Polygon(p) => Geometry::MultiPolygon(MultiPolygon(vec![p.clone()])),
                Geometry::Rect(r) => Geometry::MultiPolygon(MultiPolygon(vec![r.to_polygon()])),
                other => other.clone(),
            },
            ..f.clone()
        })
        .collect::<Vec<_>>();
    assert_eq!(round_trip(&written), expected);

    let written = features(vec![
        Geometry::LineString(line(0.0, 0.0)),
        Geometry::MultiLineString(MultiLineString(vec![line(1.0, 1.0), line(2.0, 2.0)])),
    ]);
    let read = round_trip(&written);
    assert_eq!(
        read[0].geometry,
        Geometry::MultiLineString(MultiLineString(vec![line(0.0, 0.0)]))
    );
    assert_eq!(read[1], written[1]);
}

#[test]
fn an_empty_layer_reads_back_empty_and_declares_no_index() {
    assert!(round_trip(&[]).is_empty());
    // GDAL refuses a file that declares an index over no features, as flatgeobuf's
    // writer did for an empty layer.
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("features.fgb");
    write_features(&path, &meta(), &[]).expect("write");
    let file = File::open(&path).expect("open");
    let reader = FgbReader::open(BufReader::new(file)).expect("fgb");
    let header = reader.header();
    assert_eq!((header.features_count(), header.index_node_size()), (0, 0));
    assert!(header.envelope().is_none());
}

#[test]
fn header_describes_the_layer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("features.fgb");
    write_features(&path, &meta(), &features(polygons())).expect("write");
    let file = File::open(&path).expect("open");
    let reader = FgbReader::open(BufReader::new(file)).expect("fgb");
    let header = reader.header();
    assert_eq!(header.name(), Some("parcels"));
    assert_eq!(header.title(), Some("Test"));
    assert_eq!(header.geometry_type(), GeometryType::Polygon);
    assert_eq!(header.features_count(), 20);
    assert_eq!(header.index_node_size(), 16);
    let crs = header.crs().expect("crs");
    assert_eq!((crs.org(), crs.code()), (Some("EPSG"), 4326));
    let envelope: Vec<f64> = header.envelope().expect("envelope").iter().collect();
    assert_eq!(envelope, [0.0, 0.0, 5.0, 4.0]);
    let columns: Vec<(&str, ColumnType, bool)> = header
        .columns()
        .expect("columns")
        .iter()
        .map(|c| (c.name(), c.type_(), c.nullable()))
        .collect();
    assert_eq!(
        columns,
        [
            ("name", ColumnType::String, true),
            ("floors", ColumnType::Long, true),
            ("area", ColumnType::Double, true),
            ("vacant", ColumnType::Bool, true),
            (FID_COLUMN, ColumnType::ULong, false),
        ]
    );
}

/// Writes `features` with flatgeobuf's own writer, configured as this module's writer
/// was before it replaced it.
fn write_with_fgb_writer(path: &Path, meta: &LayerMeta, features: &[Feature]) {
    let (geometry_type, promote_to_multi) = dataset_type(features);
    let options = FgbWriterOptions {
        write_index: true,
        detect_type: false,
        promote_to_multi,
        crs: flatgeobuf::FgbCrs {
            org: Some("EPSG"),
            code: 4326,
            ..Default::default()
        },
        title: Some(&meta.title),
        ..Default::default()
    };
    let mut writer =
        FgbWriter::create_with_options(meta.name.as_str(), geometry_type, options).expect("create");
    for field in &meta.schema.fields {
        writer.add_column(&field.name, column_type(field.field_type), |_, col| {
            col.nullable = true;
        });
    }
    writer.add_column(FID_COLUMN, ColumnType::ULong, |_, col| col.nullable = false);
    for feature in features {
        writer
            .add_feature_geom(feature.geometry.clone(), |out| {
                for (i, value) in feature.properties.iter().enumerate() {
                    let name = &meta.schema.fields[i].name;
                    let value = match value {
                        Value::Null => continue,
                        Value::Bool(b) => ColumnValue::Bool(*b),
                        Value::Int(n) => ColumnValue::Long(*n),
                        Value::Float(x) => ColumnValue::Double(*x),
                        Value::String(s) => ColumnValue::String(s),
                    };
                    out.property(i, name, &value).expect("property");
                }
                let fid_column = meta.schema.fields.len();
                out.property(fid_column, FID_COLUMN, &ColumnValue::ULong(feature.id))
                    .expect("fid");
            })
            .expect("add");
    }
    let mut out = BufWriter::new(File::create(path).expect("create"));
    writer.write(&mut out).expect("write");
    out.flush().expect("flush");
}

#[test]
fn files_are_byte_identical_to_flatgeobufs_writer_in_single_type_layers() {
    // Same tables in the same order, same Hilbert order: only the speed differs. In
    // layers of mixed types its writer labels the parts of a multipolygon as
    // multipolygons, and a collection with the type of its last part, where this one
    // labels them as GDAL does, so those layers are left out.
    let tmp = tempfile::tempdir().expect("tempdir");
    let promoted = vec![
        Geometry::Polygon(square_with_hole(0.0, 0.0)),
        Geometry::MultiPolygon(MultiPolygon(vec![triangle(3.0, 3.0), triangle(4.0, 4.0)])),
    ];
    let random_polygonal = random_geometries(&mut Pcg64::new(7, 11), 1000)
        .into_iter()
        .filter(|g| matches!(g, Geometry::Polygon(_) | Geometry::MultiPolygon(_)))
        .collect();
    for (kind, geometries) in [
        ("points", points()),
        ("polygons", polygons()),
        ("multipolygons", multipolygons()),
        ("lines", lines()),
        ("multilines", multilines()),
        ("promoted", promoted),
        ("random polygonal", random_polygonal),
    ] {
        let features = features(geometries);
        let ours = tmp.path().join("ours.fgb");
        let theirs = tmp.path().join("theirs.fgb");
        write_features(&ours, &meta(), &features).expect("write");
        write_with_fgb_writer(&theirs, &meta(), &features);
        let (ours, theirs) = (
            std::fs::read(ours).expect("read"),
            std::fs::read(theirs).expect("read"),
        );
        assert!(ours == theirs, "{kind}: files differ");
    }
}

fn uniform(rng: &mut Pcg64, min: f64, max: f64) -> f64 {
    // 53 random bits as a fraction in [0, 1).
    let unit = (rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
    min + unit * (max - min)
}

/// Points, lines and polygons of varied sizes over a city-sized area.
fn random_geometries(rng: &mut Pcg64, n: usize) -> Vec<Geometry<f64>> {
    (0..n)
        .map(|i| {
            let (x, y) = (uniform(rng, 2.0, 2.3), uniform(rng, 41.3, 41.5));
            let size = uniform(rng, 0.0, 0.02);
            match i % 4 {
                0 => Geometry::Point(Point::new(x, y)),
                1 => Geometry::LineString(line_string![
                    (x: x, y: y),
                    (x: x + size, y: y + uniform(rng, -0.01, 0.01)),
                ]),
                2 => Geometry::Polygon(polygon![
                    (x: x, y: y), (x: x + size, y: y), (x: x + size, y: y + size), (x: x, y: y),
                ]),
                _ => Geometry::MultiPolygon(MultiPolygon(vec![
                    triangle(x, y),
                    triangle(x + size, y + size),
                ])),
            }
        })
        .collect()
}

/// The ids of the features `select_bbox` finds, checking each against what was written.
fn select_bbox_ids(path: &Path, written: &[Feature], q: [f64; 4]) -> Vec<u64> {
    let file = File::open(path).expect("open");
    let reader = FgbReader::open(BufReader::new(file)).expect("fgb");
    let mut iter = reader.select_bbox(q[0], q[1], q[2], q[3]).expect("select");
    let schema = &meta().schema;
    let mut ids = Vec::new();
    while let Some(found) = iter.next().expect("next") {
        let mut collector = PropertyCollector {
            schema,
            values: vec![Value::Null; schema.fields.len()],
            fid: None,
        };
        geozero::FeatureProperties::process_properties(found, &mut collector).expect("props");
        let id = collector.fid.expect("fid");
        let original = &written[usize::try_from(id - 1).expect("small")];
        assert_eq!(found.to_geo().expect("geometry"), original.geometry);
        assert_eq!(collector.values, original.properties);
        ids.push(id);
    }
    ids.sort_unstable();
    ids
}

fn brute_force_ids(written: &[Feature], q: [f64; 4]) -> Vec<u64> {
    written
        .iter()
        .filter(|f| {
            let b = f.geometry.bounding_rect().expect("not empty");
            b.min().x <= q[2] && b.max().x >= q[0] && b.min().y <= q[3] && b.max().y >= q[1]
        })
        .map(|f| f.id)
        .collect()
}

#[test]
fn select_bbox_through_the_index_finds_exactly_the_intersecting_features() {
    let mut rng = Pcg64::new(42, 54);
    let written = features(random_geometries(&mut rng, 400));
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("features.fgb");
    write_features(&path, &meta(), &written).expect("write");

    let mut queries = vec![
        [-180.0, -90.0, 180.0, 90.0],
        [0.0, 0.0, 1.0, 1.0],
        [2.1, 41.4, 2.1, 41.4],
    ];
    for _ in 0..40 {
        let (x, y) = (uniform(&mut rng, 1.95, 2.3), uniform(&mut rng, 41.25, 41.5));
        let (w, h) = (uniform(&mut rng, 0.0, 0.1), uniform(&mut rng, 0.0, 0.1));
        queries.push([x, y, x + w, y + h]);
    }
    let mut found_some = 0;
    for q in queries {
        let expected = brute_force_ids(&written, q);
        found_some += usize::from(!expected.is_empty());
        assert_eq!(select_bbox_ids(&path, &written, q), expected, "query {q:?}");
    }
    assert!(found_some > 20, "queries should mostly hit something");
}

#[test]
fn values_that_differ_from_their_column_type_are_converted_or_refused() {
    let mut feature = features(points()).swap_remove(0);
    feature.properties[2] = Value::Int(4);
    let read = round_trip(std::slice::from_ref(&feature));
    assert_eq!(read[0].properties[2], Value::Float(4.0));

    feature.properties[1] = Value::String("four".into());
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = write_features(&tmp.path().join("f.fgb"), &meta(), &[feature])
        .expect_err("a string is not an integer");
    assert!(err.to_string().contains("floors"), "{err}");
}

#[test]
fn hilbert_keys_follow_the_curve() {
    // The first cells of the order-16 curve as this variant walks it: along x first.
    let walk: Vec<u32> = [(0, 0), (1, 0), (1, 1), (0, 1)]
        .iter()
        .map(|&(x, y)| hilbert(x, y))
        .collect();
    let mut sorted = walk.clone();
    sorted.sort_unstable();
    assert_eq!(walk, sorted);
    // Every cell of a small corner gets its own key, and neighbours on the curve are
    // neighbours on the grid.
    let mut cells: Vec<(u32, u32, u32)> = (0..16)
        .flat_map(|x| (0..16).map(move |y| (hilbert(x, y), x, y)))
        .collect();
    cells.sort_unstable();
    assert_eq!(cells.first().map(|c| c.0), Some(0));
    assert_eq!(cells.last().map(|c| c.0), Some(255));
    for pair in cells.windows(2) {
        let ((h0, x0, y0), (h1, x1, y1)) = (pair[0], pair[1]);
        assert_eq!(h1, h0 + 1);
        assert_eq!(x0.abs_diff(x1) + y0.abs_diff(y1), 1);
    }
}

/// Writes `/tmp/tessera-fgb-check.fgb` (every geometry kind),
/// `/tmp/tessera-fgb-check-random.fgb` (400 random features) and
/// `/tmp/tessera-fgb-check-empty.fgb` for a manual check with GDAL, and prints what
/// `ogrinfo -spat` should find:
///
/// ```text
/// cargo test --lib store::fgb::tests::write_files_for_gdal -- --ignored --nocapture
/// ogrinfo -ro -al -so /tmp/tessera-fgb-check.fgb
/// ogrinfo -ro -al -spat 2.1 41.35 2.15 41.4 /tmp/tessera-fgb-check-random.fgb
/// ```
#[test]
#[ignore = "writes into /tmp for a manual check with GDAL"]
fn write_files_for_gdal() {
    let mixed = features(mixed());
    write_features(Path::new("/tmp/tessera-fgb-check.fgb"), &meta(), &mixed).expect("write");
    let random = features(random_geometries(&mut Pcg64::new(42, 54), 400));
    write_features(
        Path::new("/tmp/tessera-fgb-check-random.fgb"),
        &meta(),
        &random,
    )
    .expect("write");
    write_features(Path::new("/tmp/tessera-fgb-check-empty.fgb"), &meta(), &[]).expect("write");
    let q = [2.1, 41.35, 2.15, 41.4];
    let ids = brute_force_ids(&random, q);
    println!("-spat {q:?}: {} features: {ids:?}", ids.len());
}
