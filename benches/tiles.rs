//! Tile rendering and index building on a synthetic 200 000-parcel city.
//!
//! `cargo bench --bench tiles`

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use tessera::tiles::render_tile;

const PARCELS: usize = 200_000;

fn tiles(c: &mut Criterion) {
    let layer = common::parcel_layer(PARCELS);
    let mut group = c.benchmark_group("tile_encode_200k_parcels");
    for z in [10u8, 12, 14, 16] {
        let tile = common::centre_tile(z);
        let bytes = render_tile(&[&layer], tile).map_or(0, |t| t.len());
        eprintln!("z{z} tile {}/{}/{}: {bytes} bytes", tile.z, tile.x, tile.y);
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
        b.iter(|| {
            tessera::index::IndexedLayer::new(common::parcel_meta(PARCELS), features.clone())
        });
    });
    group.finish();
}

criterion_group!(benches, tiles, index_build);
criterion_main!(benches);
