//! Crash recovery with the real binary: `tessera serve` killed (SIGKILL) while it seeds
//! `data/`, and `tessera ingest` killed while it reads or writes, at several moments
//! each; then what the next start finds.
//!
//! The moments are fixed delays and states of the data folder (a staging folder
//! appears, a layer is stored), polled every millisecond, so that some kills land
//! inside a write whatever the machine's speed.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tessera::model::{Declared, LayerName, Sensitivity};
use tessera::store::{DataDir, STAGING_PREFIX};

use crate::support::demo_dir;

/// When to kill.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after the start.
    After(Duration),
    /// As soon as the `n`-th staging folder is seen.
    Staging(usize),
    /// As soon as `n` layers are stored.
    Layers(usize),
}

/// The longest a process is given to reach a moment, start serving or finish.
const PATIENCE: Duration = Duration::from_secs(30);

fn tessera(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    // Away from the repository's tessera.toml: the defaults, and data/'s catalog.
    command
        .current_dir(data.parent().expect("a parent"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

fn serve(data: &Path) -> Child {
    tessera(data)
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .arg("--seed-from")
        .arg(demo_dir())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tessera serve")
}

/// The staging folders under `data`, at any depth.
fn staging_folders(data: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![data.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(STAGING_PREFIX))
            {
                found.push(path.clone());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

/// Waits for `moment`, or the process's end.
fn wait_for(child: &mut Child, data: &Path, moment: Moment) {
    let started = Instant::now();
    let mut seen = std::collections::HashSet::new();
    loop {
        if child.try_wait().expect("try_wait").is_some() || started.elapsed() > PATIENCE {
            return;
        }
        let reached = match moment {
            Moment::After(delay) => started.elapsed() >= delay,
            Moment::Staging(n) => {
                seen.extend(staging_folders(data));
                seen.len() >= n
            }
            Moment::Layers(n) => DataDir::open(data)
                .and_then(|dir| dir.layers())
                .is_ok_and(|layers| layers.len() >= n),
        };
        if reached {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills the process (SIGKILL on unix) and reaps it, so that its PID is no longer
/// running for [`DataDir::recover`].
fn kill(child: &mut Child) {
    // An error only when the process has exited already.
    let _ = child.kill();
    child.wait().expect("reap");
}

/// The address a starting server logs (`serving address=127.0.0.1:PORT`), read from
/// its standard output, which a thread keeps draining.
fn serving_address(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("serving")
                && let Some((_, rest)) = line.split_once("127.0.0.1:")
            {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let _ = sender.send(format!("127.0.0.1:{port}"));
            }
        }
    });
    receiver
        .recv_timeout(PATIENCE)
        .expect("the server logs its address")
}

/// A GET over HTTP/1.0: the status and the body.
fn http_get(address: &str, path: &str) -> (u16, serde_json::Value) {
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// Feature counts of the layers of `data/` seeded by the library into a fresh folder.
fn reference_counts() -> BTreeMap<String, u64> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    let report =
        tessera::ingest::seed::seed(&dir, &demo_dir(), &|_: &LayerName| Declared::default())
            .expect("seed");
    assert!(report.finished && report.failed.is_empty(), "{report:?}");
    report
        .seeded
        .into_iter()
        .map(|s| (s.layer.to_string(), s.features))
        .collect()
}

/// What a kill left: stored layers and staging folders.
fn state(data: &Path) -> (usize, usize) {
    let layers = DataDir::open(data)
        .and_then(|d| d.layers())
        .map_or(0, |l| l.len());
    (layers, staging_folders(data).len())
}

#[test]
fn a_server_killed_while_seeding_finishes_seeding_at_its_next_start() {
    let reference = reference_counts();
    let names: Vec<&str> = reference.keys().map(String::as_str).collect();
    assert_eq!(names, ["assets", "parcels", "pings", "trips", "zones"]);
    let moments = [
        Moment::After(Duration::from_millis(50)),
        Moment::After(Duration::from_millis(150)),
        Moment::After(Duration::from_millis(300)),
        Moment::After(Duration::from_millis(600)),
        Moment::Staging(1),
        Moment::Staging(3),
        Moment::Layers(1),
        Moment::Layers(3),
    ];
    let mut partial = 0;
    for moment in moments {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let mut first = serve(&data);
        wait_for(&mut first, &data, moment);
        kill(&mut first);
        let (layers, staging) = state(&data);
        eprintln!("{moment:?}: killed with {layers} layers and {staging} staging folders");
        if layers < reference.len() || staging > 0 {
            partial += 1;
        }

        let mut second = serve(&data);
        let address = serving_address(&mut second);
        let (status, catalog) = http_get(&address, "/catalog");
        assert_eq!(status, 200, "{moment:?}");
        let listed: Vec<(&str, &str)> = catalog["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| {
                (
                    l["id"].as_str().expect("id"),
                    l["sensitivity"].as_str().expect("sensitivity"),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("assets", "public"),
                ("parcels", "public"),
                ("pings", "personal"),
                ("trips", "personal"),
                ("zones", "public"),
            ],
            "{moment:?} after a kill leaving {layers} layers and {staging} staging folders"
        );
        for layer in ["assets", "parcels", "zones"] {
            let (status, page) = http_get(&address, &format!("/collections/{layer}/items?limit=1"));
            assert_eq!(status, 200, "{moment:?} {layer}");
            assert_eq!(
                page["numberMatched"], reference[layer],
                "{moment:?} {layer}"
            );
        }
        kill(&mut second);

        assert_eq!(staging_folders(&data), Vec::<PathBuf>::new(), "{moment:?}");
        assert!(
            !data.join(tessera::ingest::seed::SEED_MARKER).exists(),
            "{moment:?}"
        );
        let dir = DataDir::open(&data).expect("open");
        for (layer, &count) in &reference {
            let name = LayerName::new(layer).expect("name");
            // Seeded once: a layer stored before the kill is not seeded again.
            assert_eq!(
                dir.versions(&name).expect("versions"),
                [1],
                "{moment:?} {layer}"
            );
            let stored = dir.read_latest(&name).expect("reads back");
            assert_eq!(stored.features.len() as u64, count, "{moment:?} {layer}");
            assert_eq!(stored.meta.feature_count, count, "{moment:?} {layer}");
        }
    }
    // The moments on the data folder's state land inside seeding on any machine.
    assert!(partial >= 3, "only {partial} kills interrupted seeding");
}

/// Writes a GeoJSONSeq file of `points` points with two properties.
fn write_points(path: &Path, points: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for i in 0..points {
        let (x, y) = (
            2.0 + (i % 1000) as f64 * 1e-4,
            41.3 + (i / 1000) as f64 * 1e-4,
        );
        writeln!(
            out,
            r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{x:.5},{y:.5}]}},"properties":{{"n":{i},"kind":"k{}"}}}}"#,
            i % 7
        )
        .expect("write");
    }
    out.flush().expect("flush");
}

#[test]
fn an_ingest_killed_midway_leaves_the_previous_version_and_recover_clears_its_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let small = tmp.path().join("small.geojsonl");
    let large = tmp.path().join("large.geojsonl");
    write_points(&small, 10);
    write_points(&large, 100_000);
    let ingest = |file: &Path| {
        tessera(&data)
            .arg("ingest")
            .arg(file)
            .args(["--layer", "points", "--sensitivity", "public", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tessera ingest")
    };
    assert!(ingest(&small).wait().expect("wait").success());
    let name = LayerName::new("points").expect("name");
    let moments = [
        Moment::After(Duration::from_millis(5)),
        Moment::After(Duration::from_millis(50)),
        Moment::Staging(1),
        Moment::Staging(1),
        Moment::Staging(1),
    ];
    // After the staging folder appears, a further wait moves the kill through the write.
    let extra = [0, 0, 0, 20, 150];
    let mut left_staging = 0;
    for (moment, extra) in moments.into_iter().zip(extra) {
        let mut child = ingest(&large);
        wait_for(&mut child, &data, moment);
        std::thread::sleep(Duration::from_millis(extra));
        kill(&mut child);
        let dir = DataDir::open(&data).expect("open");
        let staging = staging_folders(&data);
        eprintln!(
            "{moment:?} +{extra} ms: killed with {} staging folders",
            staging.len()
        );
        left_staging += staging.len();
        let mut removed = dir.recover().expect("recover");
        removed.sort();
        let mut staging = staging;
        staging.sort();
        assert_eq!(removed, staging, "{moment:?} +{extra} ms");
        assert_eq!(staging_folders(&data), Vec::<PathBuf>::new());
        // The newest version is complete: the small one, or the large one when the
        // ingest finished before the kill.
        let latest = dir.read_latest(&name).expect("reads back");
        let count = latest.features.len() as u64;
        assert!(
            count == 10 || count == 100_000,
            "{moment:?}: {count} features"
        );
        assert_eq!(latest.meta.feature_count, count);
        assert_eq!(latest.meta.sensitivity, Sensitivity::Public);
    }
    // Killed while writing at least once: its staging folder was there to remove.
    assert!(left_staging >= 1, "no kill landed inside a write");
    // Nothing half-written was ever published: every version reads back.
    let dir = DataDir::open(&data).expect("open");
    for version in dir.versions(&name).expect("versions") {
        let stored = dir.read_version(&name, version).expect("reads back");
        assert!([10, 100_000].contains(&stored.features.len()), "v{version}");
    }
}
