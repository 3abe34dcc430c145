//! Ingest throughput on a generated 1M-parcel GeoJSONSeq file (~300 MB), and the
//! resident memory of the same layer once loaded for serving.
//!
//! `cargo bench --bench ingest` (set `PARCELS` to change the size).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group};
use tessera::ingest::{IngestOptions, ingest};
use tessera::model::{LayerName, Value};
use tessera::store::DataDir;

fn parcel_count() -> usize {
    std::env::var("PARCELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Writes the synthetic city as GeoJSONSeq, once per size.
fn source_file(n: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tessera-bench-parcels-{n}.geojsonl"));
    if path.exists() {
        return path;
    }
    let schema = common::parcel_schema();
    let tmp = path.with_extension("tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create"));
    for f in common::parcels(n) {
        let geometry = geojson::Geometry::from(&f.geometry);
        let properties: serde_json::Map<String, serde_json::Value> = schema
            .fields
            .iter()
            .zip(&f.properties)
            .map(|(field, v)| {
                let json = match v {
                    Value::Null => serde_json::Value::Null,
                    other => serde_json::to_value(other).expect("value"),
                };
                (field.name.clone(), json)
            })
            .collect();
        let feature =
            serde_json::json!({"type": "Feature", "geometry": geometry, "properties": properties});
        serde_json::to_writer(&mut out, &feature).expect("write");
        out.write_all(b"\n").expect("write");
    }
    out.flush().expect("flush");
    drop(out);
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

fn bench_ingest(c: &mut Criterion) {
    let n = parcel_count();
    let source = source_file(n);
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    let layer = LayerName::new("parcels").expect("name");
    group.bench_function(format!("geojsonseq_{n}_parcels"), |b| {
        b.iter(|| {
            let tmp = tempfile::tempdir().expect("tempdir");
            let dir = DataDir::open(tmp.path()).expect("open");
            ingest(&source, &layer, &dir, &IngestOptions::default()).expect("ingest")
        });
    });
    group.finish();
}

/// Kilobytes of a `/proc/self/status` line (Linux).
fn status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// In a fresh process: load every layer of `dir` as the server does and print RSS.
fn measure_resident(dir: &Path) {
    let before = status_kb("VmRSS:").unwrap_or(0);
    let started = std::time::Instant::now();
    let registry = tessera::api::Registry::load(DataDir::open(dir).expect("open")).expect("load");
    let load_s = started.elapsed().as_secs_f64();
    let after = status_kb("VmRSS:").unwrap_or(0);
    let caller = tessera::access::Caller::anonymous();
    let features: u64 = registry
        .catalog(&caller)
        .iter()
        .map(|m| m.feature_count)
        .sum();
    println!(
        "resident: {features} features loaded in {load_s:.2} s; RSS {:.0} MB (process baseline {:.0} MB, peak {:.0} MB)",
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        status_kb("VmHWM:").unwrap_or(0) as f64 / 1024.0
    );
}

fn resident_memory() {
    let n = parcel_count();
    let dir = std::env::temp_dir().join(format!("tessera-bench-store-{n}"));
    if !dir.join("parcels").exists() {
        let store = DataDir::open(&dir).expect("open");
        let layer = LayerName::new("parcels").expect("name");
        ingest(&source_file(n), &layer, &store, &IngestOptions::default()).expect("ingest");
    }
    let exe = std::env::current_exe().expect("exe");
    let status = Command::new(exe)
        .arg("--measure-resident")
        .arg(&dir)
        .status()
        .expect("spawn");
    assert!(status.success());
}

criterion_group!(benches, bench_ingest);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure-resident") {
        measure_resident(Path::new(&args[i + 1]));
        return;
    }
    resident_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
