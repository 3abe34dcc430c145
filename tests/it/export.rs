//! `tessera export` run as a command, its archives read back with independent readers
//! (the pmtiles crate's reader, SQLite, GDAL when installed) and compared byte for
//! byte with the tiles the server serves.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use pmtiles::{AsyncPmTilesReader, Compression, TileCoord, TileType};
use tessera::store::DataDir;

use crate::support::{TestServer, store_personal_layer};

/// Zooms exported and compared.
const ZOOMS: std::ops::RangeInclusive<u8> = 12..=15;
/// Layer settings the server and the export both apply: fewer tile properties, and a
/// budget small enough to thin the z12 tiles.
const CONFIG: &str = "[layers.parcels]\nproperties = [\"land_use\", \"parcel_id\"]\n\
                      budget.max_bytes = 20000\n";

/// A tile address `(z, x, y)`, XYZ scheme.
type Address = (u8, u32, u32);

/// Column and row of a lon/lat at zoom `z` (slippy-map formulas).
fn slippy_tile(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let lat = lat.to_radians();
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0 * n;
    (x.floor() as u32, y.floor() as u32)
}

/// Every tile of [`ZOOMS`] over the layer's TileJSON bounds.
async fn tiles_over_bounds(server: &TestServer, layer: &str) -> Vec<Address> {
    let (status, tilejson) = server.get_json(&format!("/tiles/{layer}")).await;
    assert_eq!(status, 200);
    let b: [f64; 4] = serde_json::from_value(tilejson["bounds"].clone()).expect("bounds");
    let mut tiles = Vec::new();
    for z in ZOOMS {
        let (west, north) = slippy_tile(b[0], b[3], z);
        let (east, south) = slippy_tile(b[2], b[1], z);
        for x in west..=east {
            tiles.extend((north..=south).map(|y| (z, x, y)));
        }
    }
    tiles
}

/// The tiles the server serves (uncompressed) among `tiles`; 204 ones left out.
async fn served_tiles(server: &TestServer, tiles: &[Address]) -> BTreeMap<Address, Vec<u8>> {
    let mut served = BTreeMap::new();
    for &(z, x, y) in tiles {
        let resp = server
            .client
            .get(format!("{}/tiles/parcels/{z}/{x}/{y}.mvt", server.base))
            .header("accept-encoding", "identity")
            .send()
            .await
            .expect("request");
        match resp.status().as_u16() {
            204 => {}
            200 => {
                assert!(resp.headers().get("content-encoding").is_none());
                let body = resp.bytes().await.expect("body").to_vec();
                served.insert((z, x, y), body);
            }
            other => panic!("{z}/{x}/{y}: status {other}"),
        }
    }
    served
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip tile");
    out
}

/// Runs `tessera export` on the data folder; returns whether it succeeded and stderr.
async fn run_export(data_dir: &Path, layer: &str, out: &Path) -> (bool, String) {
    let config = out.with_extension("toml");
    std::fs::write(&config, CONFIG).expect("write config");
    let args: Vec<std::ffi::OsString> = vec![
        "export".into(),
        "--config".into(),
        config.into(),
        "--data-dir".into(),
        data_dir.into(),
        "--layer".into(),
        layer.into(),
        "--minzoom".into(),
        ZOOMS.start().to_string().into(),
        "--maxzoom".into(),
        ZOOMS.end().to_string().into(),
        out.into(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .output()
            .expect("run tessera export")
    })
    .await
    .expect("join");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every tile of `tiles` present in the PMTiles archive, gunzipped; checks the header.
async fn read_pmtiles(path: &Path, tiles: &[Address]) -> BTreeMap<Address, Vec<u8>> {
    let reader = AsyncPmTilesReader::new_with_path(path)
        .await
        .expect("open PMTiles");
    let header = reader.get_header();
    assert_eq!(header.tile_type, TileType::Mvt);
    assert_eq!(header.tile_compression, Compression::Gzip);
    assert_eq!(
        (header.min_zoom, header.max_zoom),
        (*ZOOMS.start(), *ZOOMS.end())
    );
    let metadata: serde_json::Value =
        serde_json::from_str(&reader.get_metadata().await.expect("metadata")).expect("json");
    assert_eq!(metadata["vector_layers"][0]["id"], "parcels");
    assert_eq!(metadata["attribution"], "CC0-1.0");
    let mut found = BTreeMap::new();
    for &(z, x, y) in tiles {
        let coord = TileCoord::new(z, x, y).expect("coordinate");
        if let Some(bytes) = reader.get_tile(coord).await.expect("read tile") {
            found.insert((z, x, y), gunzip(&bytes));
        }
    }
    let addressed = header
        .n_addressed_tiles()
        .map_or(0, std::num::NonZeroU64::get);
    assert_eq!(addressed, found.len() as u64, "tiles outside the bounds");
    found
}

/// Every tile of the MBTiles archive, gunzipped, under its XYZ address.
fn read_mbtiles(path: &Path) -> BTreeMap<Address, Vec<u8>> {
    let db = rusqlite::Connection::open(path).expect("open MBTiles");
    let format: String = db
        .query_row(
            "SELECT value FROM metadata WHERE name = 'format'",
            [],
            |r| r.get(0),
        )
        .expect("format row");
    assert_eq!(format, "pbf");
    let mut select = db
        .prepare("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        .expect("select");
    let rows = select
        .query_map([], |r| {
            let (z, x, row): (u8, u32, u32) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(((z, x, (1 << z) - 1 - row), r.get::<_, Vec<u8>>(3)?))
        })
        .expect("query");
    rows.map(|row| {
        let (address, data) = row.expect("row");
        (address, gunzip(&data))
    })
    .collect()
}

/// The layer list and feature count GDAL reads from an MBTiles archive, if installed.
fn gdal_check(path: &Path) {
    let ogrinfo = Path::new("/usr/bin/ogrinfo");
    if !ogrinfo.exists() {
        eprintln!("note: ogrinfo (GDAL) not installed; skipped the GDAL check of the MBTiles");
        return;
    }
    let output = std::process::Command::new(ogrinfo)
        .args(["-ro", "-so", "-al"])
        .arg(path)
        .output()
        .expect("run ogrinfo");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "ogrinfo failed: {text}");
    assert!(text.contains("Layer name: parcels"), "{text}");
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("feature count");
    assert!(count > 0, "{text}");
}

fn out_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[tokio::test]
async fn archives_hold_the_served_tiles() {
    let (server, _, _) = TestServer::demo_with(CONFIG).await;
    let tiles = tiles_over_bounds(&server, "parcels").await;
    let served = served_tiles(&server, &tiles).await;
    assert!(served.len() > 4, "{} non-empty tiles", served.len());

    let out = tempfile::tempdir().expect("tempdir");
    let (pm_path, mb_path) = (
        out_path(&out, "parcels.pmtiles"),
        out_path(&out, "parcels.mbtiles"),
    );
    for path in [&pm_path, &mb_path] {
        let (ok, stderr) = run_export(server._tmp.path(), "parcels", path).await;
        assert!(ok, "{stderr}");
    }

    let from_pmtiles = read_pmtiles(&pm_path, &tiles).await;
    let from_mbtiles = read_mbtiles(&mb_path);
    for (name, archived) in [("PMTiles", &from_pmtiles), ("MBTiles", &from_mbtiles)] {
        assert_eq!(
            archived.keys().collect::<Vec<_>>(),
            served.keys().collect::<Vec<_>>(),
            "{name}: the tiles stored are the non-empty served ones"
        );
        for (address, bytes) in archived {
            assert!(
                bytes == &served[address],
                "{name}: tile {address:?} differs"
            );
        }
    }

    // The bytes decode as a parcels tile.
    let (_, densest) = served.iter().max_by_key(|(_, b)| b.len()).expect("a tile");
    assert!(densest.len() <= 20_000, "{} bytes", densest.len());
    let reader = mvt_reader::Reader::new(densest.clone()).expect("valid MVT");
    assert_eq!(reader.get_layer_names().expect("names"), ["parcels"]);
    let features = reader.get_features(0).expect("features");
    assert!(!features.is_empty());
    let keys = features[0].properties.as_ref().expect("properties");
    assert!(keys.len() <= 2 && keys.contains_key("land_use"), "{keys:?}");

    gdal_check(&mb_path);
}

#[tokio::test]
async fn personal_layers_are_not_exported() {
    let (server, _, assets) = TestServer::demo().await;
    let dir = DataDir::open(server._tmp.path()).expect("open");
    store_personal_layer(&dir, "pings", &assets, "kind", "installed");
    let out = tempfile::tempdir().expect("tempdir");
    let path = out_path(&out, "pings.pmtiles");
    let (ok, stderr) = run_export(server._tmp.path(), "parcels,pings", &path).await;
    assert!(!ok);
    assert!(
        stderr.contains("layer pings holds personal data"),
        "{stderr}"
    );
    // Nothing but the config file is left beside the output.
    let left: Vec<_> = std::fs::read_dir(out.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_none_or(|x| x != "toml"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
