//! Vector tiles decoded with mvt-reader and compared with the source features.

use std::collections::{BTreeSet, HashMap};
use std::f64::consts::PI;

use geo::{BoundingRect as _, CoordsIter as _, Intersects as _};
use geo_types::{Coord, Geometry, Rect};
use mvt_reader::Reader;
use mvt_reader::feature::Value as MvtValue;
use tessera::model::Value;

use crate::support::{SourceLayer, TestServer};

/// Fractional tile coordinates of a lon/lat at zoom `z` (slippy-map formulas).
fn tile_xy(lon: f64, lat: f64, z: u8) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let lat = lat.to_radians();
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0 * n;
    (x, y)
}

/// Pixel position of a lon/lat inside tile `z/x/y` with extent 4096.
fn pixel(c: Coord<f64>, z: u8, x: u32, y: u32) -> (f64, f64) {
    let (tx, ty) = tile_xy(c.x, c.y, z);
    ((tx - f64::from(x)) * 4096.0, (ty - f64::from(y)) * 4096.0)
}

/// The lon/lat rectangle of a tile, widened by `buffer` pixels on each side.
fn tile_rect(z: u8, x: u32, y: u32, buffer: f64) -> Rect<f64> {
    let n = f64::from(1u32 << z);
    let b = buffer / 4096.0;
    let lon = |tx: f64| tx / n * 360.0 - 180.0;
    let lat = |ty: f64| (PI * (1.0 - 2.0 * ty / n)).sinh().atan().to_degrees();
    Rect::new(
        Coord {
            x: lon(f64::from(x) - b),
            y: lat(f64::from(y + 1) + b),
        },
        Coord {
            x: lon(f64::from(x + 1) + b),
            y: lat(f64::from(y) - b),
        },
    )
}

fn centre_tile(layer: &SourceLayer, z: u8) -> (u32, u32) {
    let mut bbox = tessera::model::Bbox::empty();
    for f in &layer.features {
        if let Some(r) = f.geometry.bounding_rect() {
            bbox.extend(&r.into());
        }
    }
    let (lon, lat) = bbox.center();
    let (x, y) = tile_xy(lon, lat, z);
    (x.floor() as u32, y.floor() as u32)
}

fn mvt_to_value(v: &MvtValue) -> Value {
    match v {
        MvtValue::String(s) => Value::String(s.clone()),
        MvtValue::Double(d) => Value::Float(*d),
        MvtValue::Float(f) => Value::Float(f64::from(*f)),
        MvtValue::Int(i) | MvtValue::SInt(i) => Value::Int(*i),
        MvtValue::UInt(u) => Value::Int(i64::try_from(*u).expect("fits")),
        MvtValue::Bool(b) => Value::Bool(*b),
        MvtValue::Null => Value::Null,
    }
}

async fn fetch_tile(server: &TestServer, path: &str) -> Reader {
    let resp = server.get(path).await;
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.mapbox-vector-tile"
    );
    let bytes = resp.bytes().await.expect("body").to_vec();
    Reader::new(bytes).expect("valid MVT")
}

#[tokio::test]
async fn parcel_tile_matches_source_features() {
    let (server, parcels, _) = TestServer::demo().await;
    let z = 16;
    let (x, y) = centre_tile(&parcels, z);
    let reader = fetch_tile(&server, &format!("/tiles/parcels/{z}/{x}/{y}.mvt")).await;
    assert_eq!(reader.get_layer_names().expect("names"), ["parcels"]);
    let meta = &reader.get_layer_metadata().expect("meta")[0];
    assert_eq!(meta.extent, 4096);
    let decoded = reader.get_features(0).expect("features");

    let inner = tile_rect(z, x, y, 0.0);
    let outer = tile_rect(z, x, y, 64.0);
    let must: BTreeSet<u64> = parcels
        .features
        .iter()
        .filter(|f| f.geometry.intersects(&inner))
        .map(|f| f.id)
        .collect();
    let may: BTreeSet<u64> = parcels
        .features
        .iter()
        .filter(|f| f.geometry.intersects(&outer))
        .map(|f| f.id)
        .collect();
    let got: BTreeSet<u64> = decoded.iter().map(|f| f.id.expect("id")).collect();
    assert!(!must.is_empty(), "the centre tile has parcels");
    assert!(
        got.is_superset(&must),
        "missing: {:?}",
        must.difference(&got)
    );
    assert!(got.is_subset(&may), "extra: {:?}", got.difference(&may));
    assert_eq!(got.len(), decoded.len(), "ids are unique");

    let by_id: HashMap<u64, &tessera::model::Feature> =
        parcels.features.iter().map(|f| (f.id, f)).collect();
    let mut checked_geometry = 0;
    for f in &decoded {
        let source = by_id[&f.id.expect("id")];
        // Every non-null property arrives with its value and type.
        let props = f.properties.as_ref().expect("properties");
        for (field, value) in parcels.schema.fields.iter().zip(&source.properties) {
            match props.get(&field.name) {
                Some(v) => assert_eq!(&mvt_to_value(v), value, "{}", field.name),
                None => assert!(value.is_null(), "{} missing", field.name),
            }
        }
        // Features wholly inside the tile keep every vertex within one pixel.
        let inside = source
            .geometry
            .bounding_rect()
            .is_some_and(|r| inner.intersects(&r.min()) && inner.intersects(&r.max()));
        if inside {
            // mvt-reader decodes every polygon feature as a MultiPolygon.
            let decoded_polygon = match &f.geometry {
                Geometry::MultiPolygon(mp) if mp.0.len() == 1 => &mp.0[0],
                other => panic!("parcel {} decoded as {other:?}", source.id),
            };
            for c in decoded_polygon.exterior().coords() {
                let nearest = source
                    .geometry
                    .coords_iter()
                    .map(|s| {
                        let (px, py) = pixel(s, z, x, y);
                        (px - f64::from(c.x)).hypot(py - f64::from(c.y))
                    })
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    nearest <= 1.0,
                    "vertex {c:?} is {nearest} px from the source"
                );
            }
            checked_geometry += 1;
        }
    }
    assert!(checked_geometry > 10, "checked {checked_geometry} parcels");
}

#[tokio::test]
async fn point_tile_has_every_point_in_place() {
    let (server, _, assets) = TestServer::demo().await;
    let z = 15;
    let (x, y) = centre_tile(&assets, z);
    let reader = fetch_tile(&server, &format!("/tiles/assets/{z}/{x}/{y}.mvt")).await;
    let decoded = reader.get_features(0).expect("features");
    let expected: HashMap<u64, (f64, f64)> = assets
        .features
        .iter()
        .filter_map(|f| {
            let Geometry::Point(p) = f.geometry else {
                return None;
            };
            let (px, py) = pixel(p.0, z, x, y);
            let within = |v: f64| (-64.0..=4160.0).contains(&v);
            (within(px) && within(py)).then_some((f.id, (px, py)))
        })
        .collect();
    assert_eq!(decoded.len(), expected.len());
    for f in &decoded {
        let Geometry::MultiPoint(mp) = &f.geometry else {
            panic!("expected points, got {:?}", f.geometry);
        };
        let p = mp.0[0];
        let (ex, ey) = expected[&f.id.expect("id")];
        assert!((f64::from(p.x()) - ex).abs() <= 0.5 && (f64::from(p.y()) - ey).abs() <= 0.5);
    }
}

#[tokio::test]
async fn comma_list_combines_layers() {
    let (server, parcels, _) = TestServer::demo().await;
    let (x, y) = centre_tile(&parcels, 15);
    let reader = fetch_tile(&server, &format!("/tiles/parcels,assets/15/{x}/{y}.mvt")).await;
    assert_eq!(
        reader.get_layer_names().expect("names"),
        ["parcels", "assets"]
    );
}

#[tokio::test]
async fn empty_tile_is_204_and_bad_addresses_are_400() {
    let (server, _, _) = TestServer::demo().await;
    assert_eq!(server.get("/tiles/parcels/10/0/0.mvt").await.status(), 204);
    for bad in [
        "/tiles/parcels/3/8/0.mvt",
        "/tiles/parcels/25/0/0.mvt",
        "/tiles/parcels/a/0/0.mvt",
        "/tiles/parcels/3/1/1.png",
    ] {
        let (status, body) = server.get_json(bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["code"], "InvalidParameterValue");
        assert!(body["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let (status, body) = server.get_json("/tiles/nope/1/0/0.mvt").await;
    assert_eq!(status, 404);
    assert!(
        body["description"]
            .as_str()
            .is_some_and(|d| d.contains("nope"))
    );
}

#[tokio::test]
async fn tilejson_describes_the_layer() {
    let (server, parcels, _) = TestServer::demo().await;
    let (status, tj) = server.get_json("/tiles/parcels").await;
    assert_eq!(status, 200);
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(
        tj["tiles"][0],
        format!("{}/tiles/parcels/{{z}}/{{x}}/{{y}}.mvt", server.base)
    );
    let fields = tj["vector_layers"][0]["fields"]
        .as_object()
        .expect("fields");
    assert_eq!(fields.len(), parcels.schema.fields.len());
    assert_eq!(fields["land_use"], "String");
    assert_eq!(fields["area_m2"], "Number");
    let bounds: Vec<f64> = serde_json::from_value(tj["bounds"].clone()).expect("bounds");
    assert!(bounds[0] > 2.15 && bounds[2] < 2.19 && bounds[1] > 41.37 && bounds[3] < 41.41);
}

#[tokio::test]
async fn tiles_are_compressed_cached_and_revalidated() {
    use std::io::Read as _;
    let (server, parcels, _) = TestServer::demo().await;
    let (x, y) = centre_tile(&parcels, 15);
    let url = format!("{}/tiles/parcels/15/{x}/{y}.mvt", server.base);
    let plain = server.client.get(&url).send().await.expect("get");
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    let etag = plain.headers()["etag"].to_str().expect("etag").to_owned();
    assert!(
        plain.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .contains("max-age")
    );
    let raw = plain.bytes().await.expect("body");

    let gz = server
        .client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("get");
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["etag"].to_str().expect("etag"), etag);
    let body = gz.bytes().await.expect("body");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut unzipped)
        .expect("gunzip");
    assert_eq!(unzipped, raw);
    assert!(body.len() < raw.len());

    let br = server
        .client
        .get(&url)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .expect("get");
    assert_eq!(br.headers()["content-encoding"], "br");
    let body = br.bytes().await.expect("body");
    let mut unbrotli = Vec::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_end(&mut unbrotli)
        .expect("decompress");
    assert_eq!(unbrotli, raw);

    let revalidated = server
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(revalidated.status(), 304);
    let other = server
        .client
        .get(&url)
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .expect("get");
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn a_new_version_changes_the_etag() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tessera::store::DataDir::open(tmp.path()).expect("open");
    let parcels = crate::support::read_geojson(&crate::support::demo_dir().join("parcels.geojson"));
    crate::support::store_layer(&dir, "parcels", &parcels);
    let server = TestServer::start(tmp).await;
    let (x, y) = centre_tile(&parcels, 15);
    let path = format!("/tiles/parcels/15/{x}/{y}.mvt");
    let first = server.get(&path).await.headers()["etag"].clone();
    crate::support::store_layer(&dir, "parcels", &parcels);
    server.reload();
    let second = server.get(&path).await;
    assert_eq!(second.status(), 200);
    assert_ne!(second.headers()["etag"], first);
    let stale = server
        .client
        .get(format!("{}{path}", server.base))
        .header("if-none-match", first)
        .send()
        .await
        .expect("get");
    assert_eq!(stale.status(), 200, "the old ETag no longer matches");
}
