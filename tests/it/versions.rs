//! Versions from the command line and over HTTP: retention, rollback, verify.

use std::process::Command;

use crate::support::{TestServer, demo_dir};

/// Runs `tessera` and asserts it succeeded.
fn tessera_ok(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    let run = tessera(args, dir);
    assert!(
        run.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    run
}

fn tessera(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run tessera")
}

#[tokio::test]
async fn versions_are_kept_rolled_back_and_verified() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::write(work.join("keep.toml"), "[layers.zones]\nkeep = 2\n").expect("config");
    let data = tmp.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    let zones = demo_dir().join("zones.geojson");
    for _ in 0..3 {
        tessera_ok(
            &[
                "ingest",
                zones.to_str().expect("path"),
                "--layer",
                "zones",
                "--data-dir",
                data_arg,
                "--config",
                "keep.toml",
            ],
            &work,
        );
    }
    let listed = tessera(&["versions", "zones", "--data-dir", data_arg], &work);
    let text = String::from_utf8_lossy(&listed.stdout);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "keep = 2 removed version 1: {text}");
    assert!(
        rows[0].starts_with("2\t\t") && rows[1].starts_with("3\t*\t"),
        "{text}"
    );
    assert!(rows[1].contains("67 accepted"), "{text}");

    let back = tessera(&["rollback", "zones", "2", "--data-dir", data_arg], &work);
    assert!(back.status.success());
    let missing = tessera(&["rollback", "zones", "1", "--data-dir", data_arg], &work);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no version 1"));

    let ok = tessera(&["verify", "--data-dir", data_arg], &work);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // The server serves the rolled-back version and lists them all.
    let server_dir = tempfile::tempdir().expect("tempdir");
    crate::privacy::copy_dir(&data, server_dir.path());
    let analyst = crate::support::issue_key(server_dir.path(), tessera::model::Role::Analyst);
    let server = TestServer::start(server_dir).await;
    let (status, body) = server.get_json("/collections/zones/versions").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["served"], 2);
    let versions: Vec<(u64, bool)> = body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().expect("n"),
                v["served"].as_bool().expect("b"),
            )
        })
        .collect();
    assert_eq!(versions, [(3, false), (2, true)]);
    assert_eq!(body["versions"][0]["quality"]["accepted"], 67);
    // An earlier (here: later) version than the served one, for analysts only.
    let (status, page) = server
        .get_json_as("/collections/zones/items?version=3&limit=2", &analyst)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["numberMatched"], 67);
    let next = page["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["rel"] == "next")
        .expect("next");
    assert!(
        next["href"]
            .as_str()
            .is_some_and(|h| h.contains("version=3"))
    );
    let (status, _) = server.get_json("/collections/zones/items?version=3").await;
    assert_eq!(
        status, 403,
        "anonymous callers read the served version only"
    );
    let (status, _) = server
        .get_json("/collections/zones/items?version=2&limit=1")
        .await;
    assert_eq!(status, 200, "the served version by number is public");
    let (status, _) = server
        .get_json_as("/collections/zones/items?version=9", &analyst)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server.get_json("/collections/zones/items?version=x").await;
    assert_eq!(status, 400);
    // Tiles of another version, for analysts; the served one is the plain tile.
    let tile = "/tiles/zones/14/8290/6119.mvt";
    let earlier = server.get_as(&format!("{tile}?version=3"), &analyst).await;
    assert_eq!(earlier.status(), 200);
    assert_eq!(server.get(&format!("{tile}?version=3")).await.status(), 403);
    let plain = server.get(tile).await.bytes().await.expect("tile");
    let by_number = server
        .get(&format!("{tile}?version=2"))
        .await
        .bytes()
        .await
        .expect("tile");
    assert_eq!(plain, by_number);
    assert_eq!(
        server
            .get("/tiles/zones,zones/14/8290/6119.mvt?version=3")
            .await
            .status(),
        400
    );

    // A changed byte is found, named, and fails the command.
    let meta = data.join("zones/v000003/meta.json");
    let text = std::fs::read_to_string(&meta).expect("meta");
    std::fs::write(&meta, text.replace("\"zones\"", "\"zonez\"")).expect("write");
    let damaged = tessera(&["verify", "--data-dir", data_arg], &work);
    assert_eq!(damaged.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&damaged.stderr);
    assert!(
        stderr.contains("zones v3") && stderr.contains("meta.json"),
        "{stderr}"
    );
}

#[test]
fn a_backup_restores_versions_choices_keys_and_secret() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_owned();
    let zones = demo_dir().join("zones.geojson");
    for _ in 0..2 {
        tessera_ok(
            &[
                "ingest",
                &path(&zones),
                "--layer",
                "zones",
                "--data-dir",
                &path(&data),
            ],
            tmp.path(),
        );
    }
    assert!(
        tessera(
            &["rollback", "zones", "1", "--data-dir", &path(&data)],
            tmp.path()
        )
        .status
        .success()
    );
    let key = crate::support::issue_key(&data, tessera::model::Role::Analyst);
    std::fs::write(data.join(tessera::api::NOISE_KEY_FILE), "7a".repeat(32)).expect("secret");

    let backup = tmp.path().join("backup");
    let run = tessera_ok(
        &["backup", "--data-dir", &path(&data), "--to", &path(&backup)],
        tmp.path(),
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("backed up 2 versions"));

    let restored = tmp.path().join("restored");
    tessera_ok(
        &[
            "restore",
            "--from",
            &path(&backup),
            "--data-dir",
            &path(&restored),
        ],
        tmp.path(),
    );
    let dir = tessera::store::DataDir::open(&restored).expect("open");
    let name = tessera::model::LayerName::new("zones").expect("name");
    assert_eq!(dir.versions(&name).expect("versions"), [1, 2]);
    assert_eq!(
        dir.current_version(&name).expect("current"),
        Some(1),
        "the rollback is kept"
    );
    assert_eq!(
        std::fs::read_to_string(restored.join(tessera::api::NOISE_KEY_FILE)).expect("secret"),
        "7a".repeat(32)
    );
    let keys =
        tessera::access::KeyStore::open(&restored.join(tessera::api::KEYS_FILE)).expect("keys");
    assert_eq!(
        keys.authenticate(Some(&key)).role,
        tessera::model::Role::Analyst
    );
    // Never over existing layers.
    let again = tessera(
        &[
            "restore",
            "--from",
            &path(&backup),
            "--data-dir",
            &path(&restored),
        ],
        tmp.path(),
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds layers"));
}
