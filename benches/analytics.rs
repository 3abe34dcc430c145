//! Analytics on 10M generated pings (see `common/pings.rs`): building the point
//! columns, grid and H3 binning, points into 1 000 districts, and a heatmap tile end to
//! end without HTTP (bin → k-anonymity → MVT), computed (cold) and from the tile cache
//! (warm); the private releases of a personal layer (grid level, zones) and a heatmap
//! tile read from a release.
//!
//! `cargo bench --bench analytics` (3 to 4 minutes on 2 cores; `PINGS` changes the
//! number of points). Every kernel runs on one thread, so points/s is per core.
//!
//! # Clock
//! The machine is shared, and wall time on a loaded machine measures the load, so the
//! figures are the CPU time of the benchmarking thread (`/proc/thread-self/schedstat`,
//! brought up to date by a `sched_yield` at each reading). `ANALYTICS_BENCH_CLOCK=wall`
//! measures wall time instead; on an idle machine the two agree.
//!
//! With `ANALYTICS_BENCH_DUMP=DIR` set, the bench also writes the points' `f32` Web
//! Mercator offsets and the grid canvases (with Tessera's counts) to `DIR`, for
//! `benches/datashader_compare.py` to bin exactly the same points on the same canvases.

mod common;

use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use common::pings::{DEVICES, EAST, NORTH, SOUTH, WEST, district_layer, layer_meta, pings};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group};
use geo_types::{Coord, Geometry, Rect};
use h3o::Resolution;
use tessera::analytics::aggregate::{Boundary, ZoneIndex, points_in_zones};
use tessera::analytics::grid::{self, GridSpec};
use tessera::analytics::noise::NoiseKey;
use tessera::analytics::points::{PointColumns, PointRow, Selection};
use tessera::analytics::privacy::{Epsilon, KAnonymity};
use tessera::analytics::release::{GridAnswer, PrivatePolicy, grid_release, morton, zone_release};
use tessera::analytics::time_filter::TimeFilter;
use tessera::analytics::{StatsSpec, hex};
use tessera::api::tile_cache::{CachedTile, TileCache};
use tessera::index::IndexedLayer;
use tessera::model::tile::{MercatorRect, lonlat_to_mercator, mercator_to_lonlat};
use tessera::model::{Feature, Field, FieldType, TileId, Value};
use tessera::tiles::render_tile;

/// Grid cells per tile side of the heatmap tiles, as in `?cells=64`.
const HEATMAP_CELLS: u32 = 64;
/// Counts and distinct persons: what k-anonymity needs.
const DISTINCT: StatsSpec = StatsSpec {
    distinct: true,
    value: false,
};

fn ping_count() -> usize {
    std::env::var("PINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// The generated data, built once for all groups.
struct Data {
    rows: Vec<PointRow>,
    cols: PointColumns,
    zones: IndexedLayer,
}

static DATA: LazyLock<Data> = LazyLock::new(|| {
    let n = ping_count();
    let t = Instant::now();
    let rows = pings(n);
    let generated = t.elapsed();
    let cols =
        PointColumns::from_rows("pings@1", rows.clone(), Some(DEVICES), false).expect("columns");
    eprintln!(
        "{n} pings generated in {:.1} s; f32 offset error {:.1e} m",
        generated.as_secs_f64(),
        cols.offset_error_m()
    );
    Data {
        rows,
        cols,
        zones: district_layer(),
    }
});

/// A grid canvas measured here and, through the dump, by datashader.
struct Canvas {
    /// The criterion function id in group `grid_binning`.
    id: &'static str,
    spec: GridSpec,
}

fn city_rect() -> MercatorRect {
    let (min_x, min_y) = lonlat_to_mercator(WEST, SOUTH);
    let (max_x, max_y) = lonlat_to_mercator(EAST, NORTH);
    MercatorRect {
        min_x,
        min_y,
        max_x,
        max_y,
    }
}

fn canvases() -> Vec<Canvas> {
    let city = |size| GridSpec::new(city_rect(), size).expect("grid");
    vec![
        Canvas {
            id: "city_256",
            spec: city(256),
        },
        Canvas {
            id: "city_512",
            spec: city(512),
        },
        Canvas {
            id: "z14_tile_256",
            spec: GridSpec::for_tile(common::centre_tile(14), 256).expect("grid"),
        },
    ]
}

fn all_rows(cols: &PointColumns) -> Selection {
    Selection::Range(0..cols.len())
}

/// A group for runs of a tenth of a second or more: ten samples of equally many runs,
/// taking about `seconds`.
fn slow_group<'a, M: Measurement>(
    c: &'a mut Criterion<M>,
    name: &str,
    seconds: u64,
) -> BenchmarkGroup<'a, M> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(seconds));
    group
}

/// A group for runs of up to a tenth of a second: ten samples of 1, 2, … 10 times as
/// many runs.
fn fast_group<'a, M: Measurement>(c: &'a mut Criterion<M>, name: &str) -> BenchmarkGroup<'a, M> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(7));
    group
}

fn columns<M: Measurement>(c: &mut Criterion<M>) {
    let data = &*DATA;
    let mut group = slow_group(c, "columns", 50);
    group.throughput(Throughput::Elements(data.rows.len() as u64));
    group.bench_function("from_rows", |b| {
        b.iter_batched(
            || data.rows.clone(),
            |rows| PointColumns::from_rows("pings@1", rows, Some(DEVICES), false),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn grid_binning<M: Measurement>(c: &mut Criterion<M>) {
    let data = &*DATA;
    let all = all_rows(&data.cols);
    let mut group = fast_group(c, "grid_binning");
    // Every point is read whatever the canvas, so the throughput is points scanned.
    group.throughput(Throughput::Elements(data.cols.len() as u64));
    for canvas in canvases() {
        let inside = grid::bin(&data.cols, &all, &canvas.spec, StatsSpec::default())
            .expect("bin")
            .total();
        eprintln!("grid {}: {inside} points on the canvas", canvas.id);
        group.bench_function(canvas.id, |b| {
            b.iter(|| {
                grid::bin(
                    black_box(&data.cols),
                    &all,
                    &canvas.spec,
                    StatsSpec::default(),
                )
            });
        });
    }
    group.finish();
}

fn h3_binning<M: Measurement>(c: &mut Criterion<M>) {
    let data = &*DATA;
    let all = all_rows(&data.cols);
    let mut group = slow_group(c, "h3_binning", 5);
    group.throughput(Throughput::Elements(data.cols.len() as u64));
    for (id, res) in [("res7", Resolution::Seven), ("res9", Resolution::Nine)] {
        let cells = hex::bin(&data.cols, &all, None, res, StatsSpec::default())
            .expect("bin")
            .cells
            .len();
        eprintln!("h3 {id}: {cells} cells");
        group.bench_function(id, |b| {
            b.iter(|| hex::bin(black_box(&data.cols), &all, None, res, StatsSpec::default()));
        });
    }
    group.finish();
}

fn aggregate<M: Measurement>(c: &mut Criterion<M>) {
    let data = &*DATA;
    let all = all_rows(&data.cols);
    let mut group = fast_group(c, "zone_index");
    group.throughput(Throughput::Elements(data.zones.len() as u64));
    group.bench_function("build_1000_districts", |b| {
        b.iter(|| ZoneIndex::build(black_box(&data.zones)));
    });
    group.finish();

    let index = ZoneIndex::build(&data.zones);
    let mut group = slow_group(c, "points_in_1000_zones", 12);
    group.throughput(Throughput::Elements(data.cols.len() as u64));
    for (id, spec) in [
        ("count", StatsSpec::default()),
        // What `/aggregate?stat=distinct` and k-anonymity compute.
        ("distinct", DISTINCT),
    ] {
        group.bench_function(id, |b| {
            b.iter(|| {
                points_in_zones(black_box(&data.cols), &all, &index, Boundary::Exclude, spec)
            });
        });
    }
    group.finish();
}

/// The fields of a heatmap cell, as `GET /heatmap/...mvt` writes them.
fn cell_fields() -> Vec<Field> {
    let f = |name: &str, field_type| Field {
        name: name.into(),
        field_type,
    };
    vec![
        f("count", FieldType::Integer),
        f("distinct", FieldType::Integer),
        f("sum", FieldType::Number),
        f("mean", FieldType::Number),
    ]
}

fn lonlat_rect(r: &MercatorRect) -> Geometry<f64> {
    let (x0, y0) = mercator_to_lonlat(r.min_x, r.min_y);
    let (x1, y1) = mercator_to_lonlat(r.max_x, r.max_y);
    Geometry::Polygon(Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }).to_polygon())
}

/// The work of `GET /heatmap/pings/{z}/{x}/{y}.mvt?cells=64&stat=distinct` on a tile
/// cache miss, with the columns already built (the server builds them once per layer
/// version): select, bin with distinct persons, release under k = 10, build the cell
/// layer, encode.
fn heatmap_tile(points: &PointColumns, tile: TileId) -> Option<Vec<u8>> {
    let rows = points.select(&TimeFilter::default(), None);
    let grid = GridSpec::for_tile(tile, HEATMAP_CELLS).expect("grid");
    let bins = grid::bin(points, &rows, &grid, DISTINCT).expect("bin");
    let k = KAnonymity::default();
    let features: Vec<Feature> = bins
        .cells()
        .filter_map(|c| {
            let released = k.apply(c.stats)?;
            Some(cell_feature(
                u64::from(c.row) * u64::from(HEATMAP_CELLS) + u64::from(c.col) + 1,
                &grid.cell_rect(c.col, c.row),
                Some(released.count),
                released.distinct,
            ))
        })
        .collect();
    render_cells(features, tile)
}

/// A heatmap cell as the server writes it: count, distinct, no sum or mean.
fn cell_feature(
    id: u64,
    rect: &MercatorRect,
    count: Option<u64>,
    distinct: Option<u64>,
) -> Feature {
    let int = |v: Option<u64>| {
        v.and_then(|v| i64::try_from(v).ok())
            .map_or(Value::Null, Value::Int)
    };
    Feature {
        id,
        geometry: lonlat_rect(rect),
        properties: vec![int(count), int(distinct), Value::Null, Value::Null],
    }
}

/// The MVT of a tile of heatmap cells.
fn render_cells(features: Vec<Feature>, tile: TileId) -> Option<Vec<u8>> {
    let n = features.len();
    let cells = IndexedLayer::new(layer_meta("pings", cell_fields(), n), features);
    render_tile(&[&cells], tile)
}

/// The server's cache key of a heatmap tile.
fn cache_key(tile: TileId) -> String {
    let mut query = vec![
        ("cells".to_owned(), HEATMAP_CELLS.to_string()),
        ("stat".to_owned(), "distinct".to_owned()),
    ];
    query.sort();
    format!("heatmap:pings@1/{}/{}/{}?{query:?}", tile.z, tile.x, tile.y)
}

fn heatmap_tiles<M: Measurement>(c: &mut Criterion<M>) {
    let data = &*DATA;
    let mut group = fast_group(c, "heatmap_tile");
    let cache = TileCache::new(tessera::api::tile_cache::DEFAULT_CACHE_BYTES);
    for z in [12u8, 14] {
        let tile = common::centre_tile(z);
        let rendered = heatmap_tile(&data.cols, tile);
        eprintln!(
            "heatmap z{z} {}/{}/{}: {} bytes",
            tile.z,
            tile.x,
            tile.y,
            rendered.as_ref().map_or(0, Vec::len)
        );
        group.bench_function(format!("z{z}_cold"), |b| {
            b.iter(|| heatmap_tile(black_box(&data.cols), tile));
        });
        // The binning part of the above, to tell it from releasing and encoding.
        let grid = GridSpec::for_tile(tile, HEATMAP_CELLS).expect("grid");
        let all = all_rows(&data.cols);
        group.bench_function(format!("z{z}_bin_only"), |b| {
            b.iter(|| grid::bin(black_box(&data.cols), &all, &grid, DISTINCT));
        });
        cache.insert(
            cache_key(tile),
            Arc::new(CachedTile::new(rendered, String::new())),
        );
        // A hit, as the server answers it: key, lookup, copy of the body.
        group.bench_function(format!("z{z}_warm"), |b| {
            b.iter(|| {
                cache
                    .get(&cache_key(black_box(tile)))
                    .and_then(|hit| hit.raw.clone().map(Vec::from))
            });
        });
    }
    group.finish();
}

/// The private answers of a personal layer: a grid release (the cost of the first
/// heatmap tile of a level, once per layer version and time filter), a heatmap tile
/// read from it (every later tile and zoom), and the zone release of
/// `/aggregate?stat=distinct` on 1 000 districts — each to set beside the exact
/// figures of `heatmap_tile` and `points_in_1000_zones`.
fn private_releases<M: Measurement>(c: &mut Criterion<M>) {
    let data = &*DATA;
    let all = all_rows(&data.cols);
    let key = NoiseKey::from_bytes([9; 32]);
    let policy = PrivatePolicy {
        epsilon: Epsilon::new(1.0).expect("eps"),
        k: KAnonymity::default(),
        max_groups: 1,
    };
    let mut group = slow_group(c, "private_release", 10);
    group.throughput(Throughput::Elements(data.cols.len() as u64));
    group.bench_function("grid_level_17", |b| {
        b.iter(|| grid_release(black_box(&data.cols), &all, 17, &policy, &key, "bench"));
    });
    let index = ZoneIndex::build(&data.zones);
    group.bench_function("zones_1000", |b| {
        b.iter(|| zone_release(black_box(&data.cols), &all, &index, &policy, &key, "bench"));
    });
    group.finish();

    let release = grid_release(&data.cols, &all, 17, &policy, &key, "bench");
    eprintln!("grid level 17: {} cells released", release.groups().len());
    let mut group = fast_group(c, "private_heatmap_tile");
    for z in [12u8, 14] {
        let tile = common::centre_tile(z);
        let answer = GridAnswer::for_tile(z, HEATMAP_CELLS);
        group.bench_function(format!("z{z}_from_release"), |b| {
            b.iter(|| {
                let features: Vec<Feature> = answer
                    .cells(black_box(&release), tile)
                    .into_iter()
                    .map(|(cell, persons)| {
                        let rect = cell.mercator_bounds();
                        cell_feature(morton(cell.x, cell.y) + 1, &rect, None, Some(persons))
                    })
                    .collect();
                render_cells(features, tile)
            });
        });
    }
    group.finish();
}

/// Writes the points and canvases for `benches/datashader_compare.py`:
/// `points.f32` (all x offsets, then all y offsets, little-endian `f32`),
/// `<canvas>.u32` (Tessera's counts, row-major, row 0 north) and `canvases.json`.
fn dump(dir: &Path, clock: &str) {
    let cols = &DATA.cols;
    std::fs::create_dir_all(dir).expect("dump folder");
    let mut bytes = Vec::with_capacity(cols.len() * 8);
    for v in cols.x().iter().chain(cols.y()) {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(dir.join("points.f32"), bytes).expect("write points");
    let origin = cols.origin();
    let all = all_rows(cols);
    let mut list = Vec::new();
    for canvas in canvases() {
        let bins = grid::bin(cols, &all, &canvas.spec, StatsSpec::default()).expect("bin");
        let counts: Vec<u8> = bins.counts().iter().flat_map(|c| c.to_le_bytes()).collect();
        std::fs::write(dir.join(format!("{}.u32", canvas.id)), counts).expect("write counts");
        let r = canvas.spec.rect();
        list.push(serde_json::json!({
            "id": canvas.id,
            "size": canvas.spec.size(),
            "x_range": [r.min_x - origin[0], r.max_x - origin[0]],
            "y_range": [r.min_y - origin[1], r.max_y - origin[1]],
            "tessera_total": bins.total(),
        }));
    }
    let meta = serde_json::json!({ "points": cols.len(), "clock": clock, "canvases": list });
    std::fs::write(
        dir.join("canvases.json"),
        serde_json::to_vec_pretty(&meta).expect("json"),
    )
    .expect("write canvases");
    eprintln!("points and canvases written to {}", dir.display());
}

/// The CPU time of the calling thread, nanoseconds: the first field of
/// `/proc/thread-self/schedstat`. The kernel updates it at ticks and context switches
/// only, so a `sched_yield` first brings it up to date (to microseconds rather than a
/// tick of up to 4 ms).
fn thread_cpu_ns() -> u64 {
    std::thread::yield_now();
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    text.split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .expect("schedstat: run time in ns")
}

/// A criterion measurement of the benchmarking thread's CPU time (see the module
/// documentation), printed like wall time.
struct ThreadCpu(WallTime);

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, started: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(started))
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpu(WallTime));
    targets = columns::<ThreadCpu>, grid_binning::<ThreadCpu>, h3_binning::<ThreadCpu>,
        aggregate::<ThreadCpu>, heatmap_tiles::<ThreadCpu>, private_releases::<ThreadCpu>
}

criterion_group! {
    name = wall_benches;
    config = Criterion::default();
    targets = columns::<WallTime>, grid_binning::<WallTime>, h3_binning::<WallTime>,
        aggregate::<WallTime>, heatmap_tiles::<WallTime>, private_releases::<WallTime>
}

fn main() {
    let wall = std::env::var("ANALYTICS_BENCH_CLOCK").is_ok_and(|c| c == "wall");
    if let Some(dir) = std::env::var_os("ANALYTICS_BENCH_DUMP") {
        dump(Path::new(&dir), if wall { "wall" } else { "cpu" });
    }
    if wall {
        eprintln!("clock: wall time");
        wall_benches();
    } else {
        eprintln!("clock: CPU time of the benchmarking thread");
        cpu_benches();
    }
    Criterion::default().configure_from_args().final_summary();
}
