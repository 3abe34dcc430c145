//! Tile rendering and index building on a synthetic 200 000-parcel city, and the
//! resident memory of a 1 000 000-parcel layer with every generalization band built.
//!
//! `cargo bench --bench tiles` (prints bytes per tile, the time of the first tile of
//! each zoom, which builds that zoom's band and thinning plan, and memory).

mod common;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use tessera::index::IndexedLayer;
use tessera::tiles::{TileOptions, render_tile, render_tile_with};

const PARCELS: usize = 200_000;
const MEMORY_PARCELS: usize = 1_000_000;

/// Resident set size of this process, bytes (Linux; 0 elsewhere).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// Builds a 1M-parcel layer and every band from z0 to z16 with its plan, printing
/// resident memory along the way.
fn memory() {
    let base = rss();
    let features = common::parcels(MEMORY_PARCELS);
    let generated = rss();
    let start = Instant::now();
    let layer = IndexedLayer::new(common::parcel_meta(MEMORY_PARCELS), features);
    let index_time = start.elapsed();
    let indexed = rss();
    let start = Instant::now();
    for z in 0..=16u8 {
        black_box(render_tile(&[&layer], common::centre_tile(z)));
    }
    let bands_time = start.elapsed();
    let full = rss();
    eprintln!(
        "memory, {MEMORY_PARCELS} parcels: generated features {:.0} MB; layer indexed in {:.2} s, \
         RSS {:.0} MB above start; bands z0-z16 built in {:.2} s ({:.0} MB of band heap), \
         RSS {:.0} MB above start ({:.0} MB total)",
        mb(generated - base),
        index_time.as_secs_f64(),
        mb(indexed.saturating_sub(base)),
        bands_time.as_secs_f64(),
        mb(layer.band_heap_bytes()),
        mb(full.saturating_sub(base)),
        mb(full),
    );
}

/// Runs last: the 1M-parcel layer would otherwise leave its freed heap behind for
/// the tile timings.
fn memory_1m(_: &mut Criterion) {
    memory();
}

fn tiles(c: &mut Criterion) {
    let layer = common::parcel_layer(PARCELS);
    let mut group = c.benchmark_group("tile_encode_200k_parcels");
    for z in [10u8, 12, 14, 16] {
        let tile = common::centre_tile(z);
        // The first tile of a zoom builds its band and its thinning plan.
        let start = Instant::now();
        let first = render_tile_with(&[&layer], tile, &TileOptions::default());
        let first_ms = start.elapsed().as_secs_f64() * 1e3;
        let band = layer.band(z);
        eprintln!(
            "z{z} tile {}/{}/{}: {} bytes, {} features, {}; first tile of the zoom {first_ms:.0} ms; \
             band {:?}",
            tile.z,
            tile.x,
            tile.y,
            first.bytes.as_ref().map_or(0, Vec::len),
            first.report.features,
            first.report,
            band.stats(),
        );
        if z == 10 {
            group.sample_size(10);
        } else {
            group.sample_size(50);
        }
        group.bench_function(format!("z{z}"), |b| {
            b.iter(|| render_tile(black_box(&[&layer]), black_box(tile)));
        });
    }
    group.finish();
}

fn index_build(c: &mut Criterion) {
    let features = common::parcels(PARCELS);
    let mut group = c.benchmark_group("index_200k_parcels");
    group.sample_size(10);
    let envelopes: Vec<GeomWithData<Rectangle<[f64; 2]>, u32>> = features
        .iter()
        .zip(0u32..)
        .map(|(f, i)| {
            use geo::BoundingRect as _;
            let r = f.geometry.bounding_rect().expect("non-empty");
            GeomWithData::new(
                Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                i,
            )
        })
        .collect();
    group.bench_function("rtree_bulk_load", |b| {
        b.iter(|| RTree::bulk_load(black_box(envelopes.clone())));
    });
    group.bench_function("indexed_layer_new", |b| {
        b.iter(|| IndexedLayer::new(common::parcel_meta(PARCELS), features.clone()));
    });
    // A simplified zoom's band and plan: what the first tile of z12 pays once.
    group.bench_function("band_and_plan_z12", |b| {
        b.iter_batched(
            || IndexedLayer::new(common::parcel_meta(PARCELS), features.clone()),
            |layer| render_tile(&[&layer], common::centre_tile(12)),
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, tiles, index_build, memory_1m);
criterion_main!(benches);
