//! Traceability: every request in an access log of JSON lines and in the counters of
//! `GET /metrics` (Prometheus text format), plus `/health` and `/ready`.
//!
//! One middleware ([`trace`]) sees every request, routed or not. It names the route by
//! its template from [`ROUTES`] (never the raw path, so the metrics stay bounded), the
//! caller by key id and role (never the key), and the layers the request names, read
//! from the same table's layer parameters.
//!
//! May import: `access`, `analytics` (through the state), `model`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::routes::{ROUTES, Route};
use super::{ApiError, AppState};
use crate::access::{Caller, Role};

/// Rotated access logs kept beside the current one (`access.log.1` … `.5`).
const KEPT_LOGS: u32 = 5;
/// Upper bounds of the latency histogram buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// One line of the access log.
#[derive(Debug, Serialize)]
struct AccessEntry<'a> {
    time: String,
    key_id: Option<&'a str>,
    role: Role,
    client_ip: Option<String>,
    method: &'a str,
    route: &'a str,
    layers: Vec<String>,
    status: u16,
    bytes: Option<u64>,
    duration_ms: f64,
}

/// The access log: JSON lines appended to a file, rotated by size.
#[derive(Debug)]
pub struct AccessLog {
    path: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<(std::fs::File, u64)>>,
}

impl AccessLog {
    /// A log at `path`, rotated when it reaches `max_bytes`.
    ///
    /// # Errors
    /// When the file cannot be opened for appending.
    pub fn open(path: &Path, max_bytes: u64) -> std::io::Result<Self> {
        let log = Self {
            path: path.to_owned(),
            max_bytes,
            file: Mutex::new(None),
        };
        let file = log.open_file()?;
        *log.file.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
        Ok(log)
    }

    fn open_file(&self) -> std::io::Result<(std::fs::File, u64)> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let size = file.metadata()?.len();
        Ok((file, size))
    }

    /// Appends one line; rotates first when the file is full. Failures are logged,
    /// never answered to the client.
    fn write(&self, entry: &AccessEntry<'_>) {
        let Ok(mut line) = serde_json::to_vec(entry) else {
            return;
        };
        line.push(b'\n');
        let mut slot = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|(_, size)| *size + line.len() as u64 > self.max_bytes)
        {
            *slot = None;
            if let Err(e) = self.rotate() {
                tracing::warn!(error = %e, path = %self.path.display(), "cannot rotate the access log");
            }
        }
        if slot.is_none() {
            match self.open_file() {
                Ok(file) => *slot = Some(file),
                Err(e) => {
                    tracing::warn!(error = %e, path = %self.path.display(), "cannot open the access log");
                    return;
                }
            }
        }
        if let Some((file, size)) = slot.as_mut() {
            match file.write_all(&line) {
                Ok(()) => *size += line.len() as u64,
                Err(e) => tracing::warn!(error = %e, "cannot write the access log"),
            }
        }
    }

    /// `access.log` → `access.log.1` → … → `access.log.5` (the oldest is dropped).
    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..KEPT_LOGS).rev() {
            if numbered(n).exists() {
                std::fs::rename(numbered(n), numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }
}

/// Request counts and latencies by route template and status.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<&'static str, RouteMetrics>>,
}

#[derive(Debug, Default)]
struct RouteMetrics {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    fn observe(&self, route: &'static str, status: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let m = routes.entry(route).or_default();
        *m.by_status.entry(status).or_insert(0) += 1;
        for (bucket, bound) in m.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        m.sum += seconds;
        m.count += 1;
    }

    /// The request counters and latency histograms in Prometheus text format.
    fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        out.push_str(
            "# HELP tessera_requests_total Requests answered, by route template and status.\n",
        );
        out.push_str("# TYPE tessera_requests_total counter\n");
        for (route, m) in routes.iter() {
            for (status, n) in &m.by_status {
                let _ = writeln!(
                    out,
                    "tessera_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP tessera_request_duration_seconds Time to answer, by route template.\n",
        );
        out.push_str("# TYPE tessera_request_duration_seconds histogram\n");
        for (route, m) in routes.iter() {
            let route = escape(route);
            for (bound, n) in BUCKETS.iter().zip(m.buckets) {
                let _ = writeln!(
                    out,
                    "tessera_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "tessera_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                m.count
            );
            let _ = writeln!(
                out,
                "tessera_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                m.sum
            );
            let _ = writeln!(
                out,
                "tessera_request_duration_seconds_count{{route=\"{route}\"}} {}",
                m.count
            );
        }
    }
}

/// A label value in the text format: backslash, quote and newline escaped, and route
/// parameters written `:name` (`/collections/:layer/items`), since common parsers of
/// the format stop a label set at the first `}`.
fn escape(value: &str) -> String {
    value
        .replace('{', ":")
        .replace('}', "")
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The template of the route `path` takes, from [`ROUTES`].
pub(super) fn route_of(path: &str) -> Option<&'static Route> {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES.iter().find(|r| {
        let template: Vec<&str> = r.path.split('/').collect();
        template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
    })
}

/// The layers a request names through its route's layer parameters.
fn layers_named(route: &Route, path: &str, query: Option<&str>) -> Vec<String> {
    let pairs: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let mut layers: Vec<String> = Vec::new();
    for param in route.layers {
        let placeholder = format!("{{{}}}", param.name);
        let values: Vec<&str> = match route.path.split('/').position(|t| t == placeholder) {
            Some(i) => path.split('/').nth(i).into_iter().collect(),
            None => pairs
                .iter()
                .filter(|(k, _)| k == param.name)
                .map(|(_, v)| v.as_str())
                .collect(),
        };
        for value in values {
            for name in value.split(',') {
                let name = name.split('.').next().unwrap_or(name).to_owned();
                if !layers.contains(&name) {
                    layers.push(name);
                }
            }
        }
    }
    layers
}

/// The middleware: answers the request, then counts it and logs it.
pub(super) async fn trace(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_owned();
    let route = route_of(&path);
    // Only the log names layers: the metrics stay by route, and tiles skip the parse.
    let layers = route
        .filter(|_| state.trace.log.is_some())
        .map(|r| layers_named(r, &path, request.uri().query()))
        .unwrap_or_default();
    let caller = super::caller::of_request(&state, request.extensions(), request.headers());
    // Authenticated once: the limits and the handlers read it from here.
    let mut request = request;
    request.extensions_mut().insert(caller.clone());
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let method = request.method().clone();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let template = route.map_or("(no route)", |r| r.path);
    let status = response.status().as_u16();
    state.trace.metrics.observe(template, status, seconds);
    if let Some(log) = &state.trace.log {
        let bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        log.write(&AccessEntry {
            time: now_rfc3339(),
            key_id: caller.key_id.as_deref(),
            role: caller.role,
            client_ip,
            method: method.as_str(),
            route: template,
            layers,
            status,
            bytes,
            duration_ms: seconds * 1000.0,
        });
    }
    response
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What the server records: the access log (if configured) and the metrics.
#[derive(Debug, Default)]
pub struct Trace {
    /// The access log; `None` when turned off.
    pub log: Option<AccessLog>,
    /// Request counters and latencies.
    pub metrics: Metrics,
}

/// `GET /metrics`: Prometheus text format, for keys of the admin role.
pub(super) async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    if caller.role < Role::Admin {
        return Err(ApiError::Forbidden(
            "/metrics needs an API key with the admin role".into(),
        ));
    }
    use std::fmt::Write as _;
    let mut out = String::new();
    state.trace.metrics.render(&mut out);
    let (hits, misses) = state.tile_cache.hits_and_misses();
    out.push_str("# HELP tessera_tile_cache_lookups_total Tile cache lookups, by outcome.\n");
    out.push_str("# TYPE tessera_tile_cache_lookups_total counter\n");
    let _ = writeln!(
        out,
        "tessera_tile_cache_lookups_total{{outcome=\"hit\"}} {hits}"
    );
    let _ = writeln!(
        out,
        "tessera_tile_cache_lookups_total{{outcome=\"miss\"}} {misses}"
    );
    #[expect(clippy::cast_precision_loss, reason = "a ratio")]
    let ratio = if hits + misses == 0 {
        0.0
    } else {
        hits as f64 / (hits + misses) as f64
    };
    out.push_str("# HELP tessera_tile_cache_hit_ratio Share of tile cache lookups answered from the cache.\n");
    out.push_str("# TYPE tessera_tile_cache_hit_ratio gauge\n");
    let _ = writeln!(out, "tessera_tile_cache_hit_ratio {ratio}");
    out.push_str("# HELP tessera_privacy_epsilon_spent_today Privacy budget spent today on a layer, all payers.\n");
    out.push_str("# TYPE tessera_privacy_epsilon_spent_today gauge\n");
    for (layer, spent) in state.analytics.spent_today() {
        let _ = writeln!(
            out,
            "tessera_privacy_epsilon_spent_today{{layer=\"{}\"}} {spent}",
            escape(&layer)
        );
    }
    if let Some(limits) = &state.limits {
        out.push_str(
            "# HELP tessera_limited_total Requests held back by the usage limits, by reason.\n",
        );
        out.push_str("# TYPE tessera_limited_total counter\n");
        let c = &limits.counts;
        for (reason, n) in [
            ("rate", &c.rate_limited),
            ("queued", &c.queued),
            ("busy", &c.busy),
            ("timeout", &c.timed_out),
        ] {
            let _ = writeln!(
                out,
                "tessera_limited_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }
    out.push_str("# HELP tessera_layers Layers served.\n# TYPE tessera_layers gauge\n");
    let _ = writeln!(out, "tessera_layers {}", state.registry.names().len());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

/// `GET /health`: the process answers.
pub(super) async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// `GET /ready`: layers are loaded and the analytics of mobility layers prepared.
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        axum::Json(json!({ "status": "ready", "layers": state.registry.names().len() }))
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({ "code": "NotReady", "description": "layers are still being prepared" }),
            ),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_route_template_and_layers() {
        let route = route_of("/tiles/parcels,assets/14/8290/6119.mvt").expect("route");
        assert_eq!(route.path, "/tiles/{layers}/{z}/{x}/{y}");
        assert_eq!(
            layers_named(route, "/tiles/parcels,assets/14/8290/6119.mvt", None),
            ["parcels", "assets"]
        );
        let aggregate = route_of("/aggregate").expect("route");
        assert_eq!(
            layers_named(
                aggregate,
                "/aggregate",
                Some("points=pings&zones=zones&stat=count")
            ),
            ["pings", "zones"]
        );
        let h3 = route_of("/heatmap/pings.geojson").expect("route");
        assert_eq!(layers_named(h3, "/heatmap/pings.geojson", None), ["pings"]);
        assert!(route_of("/nowhere/at/all").is_none());
        assert!(route_of("/collections//items").is_none());
    }

    #[test]
    fn the_log_rotates_by_size_and_keeps_five() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&path, 400).expect("open");
        for i in 0..40 {
            log.write(&AccessEntry {
                time: format!("t{i}"),
                key_id: None,
                role: Role::Public,
                client_ip: None,
                method: "GET",
                route: "/",
                layers: vec![],
                status: 200,
                bytes: None,
                duration_ms: 1.0,
            });
        }
        let size = std::fs::metadata(&path).expect("log").len();
        assert!(size <= 400, "{size}");
        assert!(dir.path().join("access.log.5").exists());
        assert!(!dir.path().join("access.log.6").exists());
        let last = std::fs::read_to_string(&path).expect("read");
        let line: serde_json::Value =
            serde_json::from_str(last.lines().last().expect("line")).expect("json");
        assert_eq!(line["time"], "t39");
    }
}
