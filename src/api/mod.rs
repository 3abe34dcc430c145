//! The HTTP server: vector tiles, TileJSON, OGC API – Features, analytics, catalog.
//!
//! The router is built from one table ([`routes::ROUTES`]); handlers live in one file per
//! resource family, reach layers only through [`Registry::open`] (the access gate), and
//! never parse strings themselves beyond what the typed helpers in [`params`] do. Every
//! request passes the JSON errors, trace and limits middlewares.
//!
//! May import: `model`, `store`, `index`, `tiles`, `analytics`, `access`, `config`.

mod admin;
pub mod analytics;
mod caller;
pub mod dcat;
pub mod error;
mod features;
pub mod limits;
mod openapi;
pub mod params;
pub mod registry;
pub mod routes;
mod styles;
pub mod tile_cache;
mod tilejson;
mod tiles;
pub mod trace;
mod versions;
mod viewer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method, header};
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

pub use caller::API_KEY_HEADER;
pub use error::{ApiError, ApiResult};
pub use registry::Registry;

use crate::access::{Caller, KeyStore, Statistics};

/// File of the issued API keys in the data folder.
pub const KEYS_FILE: &str = "keys.json";
/// File of the privacy ledger in the data folder.
pub const LEDGER_FILE: &str = "privacy-ledger.json";
/// File of the noise secret in the data folder.
pub const NOISE_KEY_FILE: &str = "privacy.key";

/// Shared state of all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The served layers.
    pub registry: Arc<Registry>,
    /// The URL clients reach this server at (e.g. behind a proxy); when `None`, links
    /// are built from the request's `Host` header.
    pub public_url: Option<String>,
    /// Rendered tiles.
    pub tile_cache: tile_cache::TileCache,
    /// Point columns, zone indexes and privacy releases of analytics queries.
    pub analytics: analytics::AnalyticsCache,
    /// The issued API keys.
    pub keys: Arc<KeyStore>,
    /// The access log and the request metrics.
    pub trace: Arc<trace::Trace>,
    /// False while layers are being prepared after start-up (`GET /ready`).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Rate limits and the heavy-query queue; `None`: unlimited.
    pub limits: Option<Arc<limits::Limiter>>,
}

impl AppState {
    /// State serving `registry` (with its settings) and a default-sized tile cache,
    /// with the keys, privacy ledger and noise secret of its data folder (the secret
    /// is created on first use).
    ///
    /// # Errors
    /// When one of those files cannot be read or created.
    pub fn new(registry: Arc<Registry>, public_url: Option<String>) -> std::io::Result<Self> {
        let root = registry.data_dir().root();
        let keys = Arc::new(KeyStore::open(&root.join(KEYS_FILE))?);
        let analytics = analytics::AnalyticsCache::open(Arc::clone(registry.settings()), root)?;
        Ok(Self {
            registry,
            public_url,
            tile_cache: tile_cache::TileCache::new(tile_cache::DEFAULT_CACHE_BYTES),
            analytics,
            keys,
            trace: Arc::default(),
            ready: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            limits: None,
        })
    }
}

impl AppState {
    /// The base URL for links in responses, without trailing slash.
    #[must_use]
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| is_plausible_host(h))
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

/// Accepts `host[:port]` made of URL-safe characters only, so that a forged `Host`
/// header cannot inject markup or paths into links.
fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .max_age(Duration::from_secs(3600));
    routes::ROUTES
        .iter()
        .fold(Router::new(), |router, r| {
            router.route(r.path, routes::handler(r.path))
        })
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::enforce,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            trace::trace,
        ))
        .layer(cors)
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until Ctrl-C or SIGTERM, polling the data folder for new layer versions
/// every `reload_every`.
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn serve(
    state: AppState,
    listen: SocketAddr,
    reload_every: Duration,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    state
        .ready
        .store(false, std::sync::atomic::Ordering::Release);
    prepare_analytics(&state, state.registry.names());
    let reloading = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(reload_every);
        loop {
            tick.tick().await;
            let registry = Arc::clone(&reloading.registry);
            if let Err(e) = reloading.keys.reload() {
                tracing::warn!(error = %e, "cannot reload the API keys");
            }
            match tokio::task::spawn_blocking(move || registry.reload()).await {
                Ok(Err(e)) => tracing::warn!(error = %e, "reload failed"),
                Err(e) => tracing::warn!(error = %e, "reload task failed"),
                Ok(Ok(changed)) => prepare_analytics(&reloading, changed),
            }
        }
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

/// Builds, on a background thread, the point columns of the mobility layers among
/// `names` (point layers with a time field, or personal ones) and, for private ones,
/// the grid releases a map reads first, so that the first heatmap or aggregate request
/// does not wait for them (about 8 s and 3 s for 10M points). `GET /ready` answers 200
/// once they are built.
fn prepare_analytics(state: &AppState, names: Vec<crate::model::LayerName>) {
    let server = Caller::server();
    let layers: Vec<_> = names
        .iter()
        .filter_map(|name| {
            state
                .registry
                .open::<Statistics>(name.as_str(), &server)
                .ok()
        })
        .filter(|l| {
            let meta = l.meta();
            l.is_point_layer()
                && (meta.time_field.is_some()
                    || meta.sensitivity == crate::model::Sensitivity::Personal)
        })
        .collect();
    let ready = Arc::clone(&state.ready);
    let mark_ready = move || ready.store(true, std::sync::atomic::Ordering::Release);
    if layers.is_empty() {
        mark_ready();
        return;
    }
    let analytics = state.analytics.clone();
    let when_done = mark_ready.clone();
    let spawned = std::thread::Builder::new()
        .name("prepare-analytics".into())
        .spawn(move || {
            for layer in layers {
                let started = std::time::Instant::now();
                match analytics.points(&layer, None) {
                    Ok(points) => tracing::info!(
                        layer = %layer.meta().name,
                        points = points.len(),
                        seconds = started.elapsed().as_secs_f64(),
                        "point columns ready"
                    ),
                    Err(e) => tracing::warn!(layer = %layer.meta().name, error = %e, "cannot build point columns"),
                }
                let started = std::time::Instant::now();
                match analytics::prepare_map_releases(&analytics, &layer) {
                    Ok(()) => tracing::info!(
                        layer = %layer.meta().name,
                        seconds = started.elapsed().as_secs_f64(),
                        "map releases ready"
                    ),
                    Err(e) => tracing::warn!(layer = %layer.meta().name, error = %e, "cannot build map releases"),
                }
            }
            when_done();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the analytics preparation thread");
        mark_ready();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
