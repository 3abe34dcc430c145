//! Usage limits: rates per caller, the heavy-query queue, long request targets.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use tessera::api::limits::{Limiter, enforce};
use tessera::api::{AppState, Registry};
use tessera::config::Settings;
use tessera::model::Role;
use tessera::store::DataDir;

use crate::support::{TestServer, demo_dir, issue_key, read_geojson, store_layer};

const LIMITS: &str = "[limits]\npublic_rps = 1\nburst_seconds = 2\n";

#[tokio::test]
async fn callers_over_their_rate_get_429_with_retry_after() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::open(tmp.path()).expect("open");
    store_layer(
        &dir,
        "zones",
        &read_geojson(&demo_dir().join("zones.geojson")),
    );
    let analyst = issue_key(tmp.path(), Role::Analyst);
    let server = TestServer::start_with(tmp, LIMITS).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(server.get("/collections/zones").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let limited = server.get("/collections/zones").await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    let body: serde_json::Value = limited.json().await.expect("json");
    assert_eq!(body["code"], "RateLimited");
    // A made-up key is the same anonymous caller; an issued key has its own bucket.
    let resp = server
        .client
        .get(format!("{}/collections/zones", server.base))
        .header("x-api-key", "made-up")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 429);
    assert_eq!(
        server.get_as("/collections/zones", &analyst).await.status(),
        200
    );
    // The bucket refills at its rate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.get("/collections/zones").await.status(), 200);
    // A request target beyond 8 KiB is refused whole, as JSON.
    let long = format!("/collections/zones/items?name={}", "x".repeat(9000));
    let (status, body) = server.get_json_as(&long, &analyst).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (414, Some("URITooLong")),
        "{body}"
    );
}

/// One slot, one place in the queue, one second: the first heavy query runs, the
/// second waits and runs out of time, the third finds the queue full.
#[tokio::test]
async fn heavy_queries_queue_then_are_refused_as_busy_or_timed_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = "[limits]\nheavy_concurrency = 1\nheavy_queue = 1\nheavy_timeout_seconds = 1\n";
    let (settings, _) = Settings::parse(config, std::path::Path::new("test.toml")).expect("config");
    let limits = settings.limits.clone().expect("limits");
    let registry =
        Registry::load_with(DataDir::open(tmp.path()).expect("open"), Arc::new(settings))
            .expect("registry");
    let mut state = AppState::new(Arc::new(registry), None).expect("state");
    let limiter = Arc::new(Limiter::new(limits));
    state.limits = Some(Arc::clone(&limiter));
    // `/aggregate` is a heavy route; this one takes 600 ms.
    // The handler says when it runs, so that the test orders the requests by events,
    // not by sleeps.
    let running = Arc::new(tokio::sync::Notify::new());
    let signal = Arc::clone(&running);
    let app = axum::Router::new()
        .route(
            "/aggregate",
            get(move || {
                let signal = Arc::clone(&signal);
                async move {
                    signal.notify_one();
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    "done"
                }
            }),
        )
        .route("/catalog", get(|| async { "light" }))
        .layer(axum::middleware::from_fn_with_state(state, enforce));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let client = reqwest::Client::new();
    let ask = |path: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let resp = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("get");
            let status = resp.status().as_u16();
            let body: String = resp.text().await.expect("body");
            (status, body)
        })
    };
    let first = ask("/aggregate");
    running.notified().await;
    let second = ask("/aggregate");
    // Until the second waits in the queue (bounded: two seconds).
    for _ in 0..200 {
        if limiter
            .counts
            .queued
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let third = ask("/aggregate");
    // Light routes do not wait for heavy ones.
    let light = ask("/catalog").await.expect("join");
    assert_eq!(light, (200, "light".to_owned()));
    let third = third.await.expect("join");
    assert_eq!(third.0, 503, "{}", third.1);
    assert!(third.1.contains("\"Busy\""));
    assert_eq!(first.await.expect("join"), (200, "done".to_owned()));
    let second = second.await.expect("join");
    assert_eq!(
        second.0, 504,
        "waited for the first (0.6 s), then ran 0.6 s: over the 1 s limit: {}",
        second.1
    );
    assert!(second.1.contains("\"Timeout\""));
    let c = &limiter.counts;
    let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        (load(&c.queued), load(&c.busy), load(&c.timed_out)),
        (1, 1, 1)
    );
}
