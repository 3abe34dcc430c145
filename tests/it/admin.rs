//! Publishing over HTTP: upload, rollback and retirement, by role and steward.

use tessera::access::KeyStore;
use tessera::model::Role;

use crate::support::{TestServer, demo_dir};

struct Keys {
    admin: String,
    planning: String,
    other: String,
    analyst: String,
}

async fn server() -> (TestServer, Keys) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = KeyStore::open(&tmp.path().join(tessera::api::KEYS_FILE)).expect("keys");
    let key = |role, steward: Option<&str>| store.add_for(role, "test", steward).expect("key").1;
    let keys = Keys {
        admin: key(Role::Admin, None),
        planning: key(Role::Steward, Some("Urban planning")),
        other: key(Role::Steward, Some("Public works")),
        analyst: key(Role::Analyst, None),
    };
    (TestServer::start(tmp).await, keys)
}

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut request = server
        .client
        .request(method, format!("{}{path}", server.base))
        .body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let resp = request.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn admins_publish_stewards_update_their_own_layers_and_others_are_refused() {
    let (server, keys) = server().await;
    let zones = std::fs::read(demo_dir().join("zones.geojson")).expect("zones");
    let put = reqwest::Method::PUT;
    let publish = "/admin/layers/plan?steward=Urban%20planning&license=CC0-1.0&title=Plan";
    // Nobody but an admin creates a layer.
    for key in [
        None,
        Some(keys.analyst.as_str()),
        Some(keys.planning.as_str()),
    ] {
        let (status, body) = send(&server, put.clone(), publish, key, zones.clone()).await;
        assert_eq!(status, 403, "{key:?}: {body}");
    }
    let (status, body) = send(
        &server,
        put.clone(),
        publish,
        Some(&keys.admin),
        zones.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["version"].as_u64(), body["featureCount"].as_u64()),
        (Some(1), Some(67))
    );
    assert_eq!(body["report"]["features_accepted"], 67);
    let (status, collection) = server.get_json("/collections/plan").await;
    assert_eq!((status, collection["version"].as_u64()), (200, Some(1)));
    // The layer's steward publishes a new version; another steward may not.
    let (status, _) = send(
        &server,
        put.clone(),
        "/admin/layers/plan",
        Some(&keys.other),
        zones.clone(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = send(
        &server,
        put.clone(),
        "/admin/layers/plan",
        Some(&keys.planning),
        zones.clone(),
    )
    .await;
    assert_eq!((status, body["version"].as_u64()), (200, Some(2)), "{body}");
    // A broken upload stores nothing and says why.
    let (status, body) = send(
        &server,
        put.clone(),
        "/admin/layers/plan?format=geojson",
        Some(&keys.admin),
        b"{\"type\":".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(server.get_json("/collections/plan").await.1["version"], 2);
    // Rollback by the steward, retirement by an admin only.
    let post = reqwest::Method::POST;
    let (status, body) = send(
        &server,
        post.clone(),
        "/admin/layers/plan/rollback?version=1",
        Some(&keys.planning),
        vec![],
    )
    .await;
    assert_eq!((status, body["served"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(server.get_json("/collections/plan").await.1["version"], 1);
    let (status, _) = send(
        &server,
        post,
        "/admin/layers/plan/rollback?version=7",
        Some(&keys.admin),
        vec![],
    )
    .await;
    assert_eq!(status, 404);
    let delete = reqwest::Method::DELETE;
    let (status, _) = send(
        &server,
        delete.clone(),
        "/admin/layers/plan",
        Some(&keys.planning),
        vec![],
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = send(
        &server,
        delete,
        "/admin/layers/plan",
        Some(&keys.admin),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get_json("/collections/plan").await.0, 404);
    assert!(
        server
            ._tmp
            .path()
            .join(".retired")
            .read_dir()
            .expect("retired")
            .next()
            .is_some()
    );
}
