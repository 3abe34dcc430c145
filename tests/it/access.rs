//! Who may read what: every route of the route table × {no key, made-up key, public
//! key, analyst, steward, admin, revoked key} × {public, restricted, personal layer},
//! and what the server records of it (access log, metrics, health, readiness).

use std::collections::HashMap;

use serde_json::Value as J;
use tessera::access::KeyStore;
use tessera::api::routes::{LayerUse, ROUTES};
use tessera::model::{Role, Sensitivity};

use crate::support::{ACCESS_LOG, TestServer, demo_city};

/// The callers of the matrix: a name, and the key they present.
struct Callers {
    keys: Vec<(&'static str, Option<String>, Role)>,
}

/// The demo's zones and assets (public), parcels (declared restricted in the config),
/// pings and trips (personal); one key per role and a revoked analyst key.
async fn server() -> (TestServer, Callers) {
    let tmp = tempfile::tempdir().expect("tempdir");
    demo_city(tmp.path());
    let store = KeyStore::open(&tmp.path().join(tessera::api::KEYS_FILE)).expect("keys");
    let mut keys = vec![
        ("no key", None, Role::Public),
        (
            "made-up key",
            Some("tsr_00000000_deadbeef".to_owned()),
            Role::Public,
        ),
    ];
    for (name, role) in [
        ("public key", Role::Public),
        ("analyst", Role::Analyst),
        ("steward", Role::Steward),
        ("admin", Role::Admin),
    ] {
        keys.push((name, Some(store.add(role, name).expect("key").1), role));
    }
    let (revoked, key) = store.add(Role::Analyst, "revoked").expect("key");
    store.revoke(&revoked.id).expect("revoke");
    keys.push(("revoked key", Some(key), Role::Public));
    let config = "[layers.parcels]\nsensitivity = \"restricted\"\n";
    (TestServer::start_with(tmp, config).await, Callers { keys })
}

async fn get(server: &TestServer, path: &str, key: Option<&str>) -> (u16, String) {
    let resp = match key {
        Some(key) => server.get_as(path, key).await,
        None => server.get(path).await,
    };
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// The status every caller gets from the routes that name no layer.
fn no_layer_expectations() -> HashMap<&'static str, fn(Role) -> u16> {
    fn ok(_: Role) -> u16 {
        200
    }
    fn empty(_: Role) -> u16 {
        204
    }
    fn admin_only(role: Role) -> u16 {
        if role >= Role::Admin { 200 } else { 403 }
    }
    let mut expected: HashMap<&'static str, fn(Role) -> u16> = HashMap::new();
    for path in [
        "/",
        "/api",
        "/conformance",
        "/catalog",
        "/catalog.jsonld",
        "/collections",
        "/health",
        "/ready",
        "/map",
        "/assets/maplibre-gl.js",
        "/assets/maplibre-gl.css",
        "/assets/maplibre-gl-LICENSE.txt",
        "/styles",
    ] {
        expected.insert(path, ok);
    }
    expected.insert("/favicon.ico", empty);
    // Admin routes answer PUT, POST and DELETE only (tests/it/admin.rs).
    fn method_not_allowed(_: Role) -> u16 {
        405
    }
    expected.insert("/admin/layers/{layer}", method_not_allowed);
    expected.insert("/admin/layers/{layer}/rollback", method_not_allowed);
    expected.insert("/metrics", admin_only);
    expected
}

#[tokio::test]
async fn every_route_answers_each_caller_by_role_and_layer_sensitivity() {
    let (server, callers) = server().await;
    let no_layer = no_layer_expectations();
    let mut checked = 0;
    for route in ROUTES {
        if route.layers.is_empty() {
            let path = if route.path == "/styles/{file}" {
                "/styles/parcels.json"
            } else {
                route.path
            };
            let expect = if route.path == "/styles/{file}" {
                |_: Role| 200
            } else {
                *no_layer
                    .get(route.path)
                    .unwrap_or_else(|| panic!("no expectation for route {}", route.path))
            };
            for (who, key, role) in &callers.keys {
                let (status, body) = get(&server, path, key.as_deref()).await;
                assert_eq!(status, expect(*role), "{who} {path}: {body}");
                checked += 1;
            }
            continue;
        }
        for param in route.layers {
            for (layer, sensitivity) in [
                ("zones", Sensitivity::Public),
                ("parcels", Sensitivity::Restricted),
                ("pings", Sensitivity::Personal),
            ] {
                let path = param.example.replace("{}", layer);
                for (who, key, role) in &callers.keys {
                    let (status, body) = get(&server, &path, key.as_deref()).await;
                    checked += 1;
                    let denied = match sensitivity {
                        Sensitivity::Restricted => *role < Role::Analyst,
                        Sensitivity::Personal => param.purpose == LayerUse::Features,
                        Sensitivity::Public => false,
                    };
                    if denied {
                        assert_eq!(status, 403, "{who} {path}: {body}");
                        let json: J = serde_json::from_str(&body).expect("JSON error");
                        assert_eq!(json["code"], "Forbidden");
                    } else {
                        // Answered, or refused for the request's own shape (a polygon
                        // layer as points, a raster of private data), never for access.
                        assert!(status < 500, "{who} {path}: {status} {body}");
                        let refused_for_access = status == 403
                            && !(path.contains(".png") && sensitivity == Sensitivity::Personal);
                        assert!(!refused_for_access, "{who} {path}: {body}");
                    }
                }
            }
        }
    }
    assert!(checked > 500, "{checked} requests");
    // Listings hide restricted layers from callers below analyst.
    for (who, key, role) in &callers.keys {
        let (_, body) = get(&server, "/collections", key.as_deref()).await;
        let listed = body.contains("\"parcels\"");
        assert_eq!(listed, *role >= Role::Analyst, "{who}");
    }
}

#[tokio::test]
async fn requests_are_logged_and_counted_without_keys() {
    let (server, callers) = server().await;
    let analyst = callers
        .keys
        .iter()
        .find(|k| k.0 == "analyst")
        .and_then(|k| k.1.clone())
        .expect("key");
    let admin = callers
        .keys
        .iter()
        .find(|k| k.0 == "admin")
        .and_then(|k| k.1.clone())
        .expect("key");
    for _ in 0..3 {
        assert_eq!(
            server
                .get("/collections/zones/items?limit=2")
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        server
            .get_as("/aggregate?points=pings&zones=zones", &analyst)
            .await
            .status(),
        200
    );
    assert_eq!(server.get("/nowhere").await.status(), 404);

    let log = std::fs::read_to_string(server._tmp.path().join(ACCESS_LOG)).expect("log");
    assert!(
        !log.contains(&analyst) && !log.contains(&admin),
        "keys never reach the log"
    );
    let lines: Vec<J> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let aggregate = lines
        .iter()
        .find(|l| l["route"] == "/aggregate")
        .expect("aggregate logged");
    assert_eq!(aggregate["role"], "analyst");
    assert_eq!(aggregate["layers"], serde_json::json!(["pings", "zones"]));
    assert_eq!(aggregate["status"], 200);
    assert!(aggregate["key_id"].as_str().is_some_and(|id| id.len() == 8));
    assert!(aggregate["duration_ms"].as_f64().is_some());
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["route"] == "/collections/{layer}/items")
            .count(),
        3
    );
    assert!(
        lines
            .iter()
            .any(|l| l["route"] == "(no route)" && l["status"] == 404)
    );

    let (status, _) = get(&server, "/metrics", None).await;
    assert_eq!(status, 403);
    let (status, text) = get(&server, "/metrics", Some(&admin)).await;
    assert_eq!(status, 200);
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let items = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "tessera_requests_total"
                && s.labels.get("route") == Some("/collections/:layer/items")
                && s.labels.get("status") == Some("200")
        })
        .expect("items counted");
    assert!(
        matches!(items.value, prometheus_parse::Value::Counter(n) if n == 3.0),
        "{:?}",
        items.value
    );
    let histogram = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "tessera_request_duration_seconds"
                && s.labels.get("route") == Some("/aggregate")
        })
        .expect("latency histogram");
    assert!(matches!(&histogram.value, prometheus_parse::Value::Histogram(h) if !h.is_empty()));
    let spent = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "tessera_privacy_epsilon_spent_today"
                && s.labels.get("layer") == Some("pings")
        })
        .expect("budget spent on pings");
    // The analyst's aggregate of personal pings was a private release: one ε.
    assert!(
        matches!(spent.value, prometheus_parse::Value::Gauge(e) if e == 1.0),
        "{:?}",
        spent.value
    );
    for path in ["/health", "/ready"] {
        let (status, body) = server.get_json(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}
