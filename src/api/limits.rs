//! Usage limits: a token bucket per caller and a queue for heavy queries (the size of
//! requests is bounded by [`super::error::json_errors`]).
//!
//! - **Rates** ([`Limits::rate`]): each issued key has the rate of its role; callers
//!   without a key (made-up keys included) have the public rate *per client IP*. A
//!   caller over its rate gets `429` with `Retry-After` and a JSON body.
//! - **Heavy queries** (routes marked heavy in [`super::routes::ROUTES`]: aggregates,
//!   flows, H3 heatmaps) run at most `heavy_concurrency` at once. Others wait in a
//!   queue of `heavy_queue`; beyond it they get `503`. A heavy query that takes longer
//!   than `heavy_timeout`, waiting included, gets `504`; its work finishes in the
//!   background still holding its slot, so the cap holds for the work itself.
//!
//! # Why not the crate
//! `governor` (via `tower_governor`) keeps one bucket per key in a map that grows with
//! every client IP until it is pruned by hand. Buckets here live in a `moka` cache (in
//! the tree already) that forgets idle callers after ten minutes and holds at most
//! [`MAX_CALLERS`] of them, so a flood of addresses cannot grow memory; the bucket
//! itself is a dozen lines.
//!
//! May import: `access`, `config`, `model`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::config::{Limits, Rate};

/// Callers whose buckets are kept at most.
pub const MAX_CALLERS: u64 = 100_000;
/// Idle time after which a caller's bucket is forgotten (it is full again by then).
const IDLE: Duration = Duration::from_secs(600);

/// A token bucket: `tokens` left at `at`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes one token, or says how long until one is there.
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let refill = now.duration_since(self.at).as_secs_f64() * rate.per_second;
        self.tokens = (self.tokens + refill).min(rate.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / rate.per_second,
            ))
        }
    }
}

/// Counters of what the limits refused, for `/metrics`.
#[derive(Debug, Default)]
pub struct LimitCounts {
    /// Requests refused for their caller's rate.
    pub rate_limited: AtomicU64,
    /// Heavy queries that waited for a slot.
    pub queued: AtomicU64,
    /// Heavy queries refused because the queue was full.
    pub busy: AtomicU64,
    /// Heavy queries that ran out of time.
    pub timed_out: AtomicU64,
}

/// The server's limits in force.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    buckets: moka::sync::Cache<String, Arc<Mutex<Bucket>>>,
    heavy: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
    /// What was refused so far.
    pub counts: LimitCounts,
}

impl Limiter {
    /// Limits as configured.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            heavy: Arc::new(tokio::sync::Semaphore::new(limits.heavy_concurrency)),
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_CALLERS)
                .time_to_idle(IDLE)
                .build(),
            limits,
            waiting: AtomicUsize::new(0),
            counts: LimitCounts::default(),
        }
    }

    /// Takes a token of `caller`'s bucket at `rate`.
    fn admit(&self, caller: String, rate: Rate) -> Result<(), Duration> {
        let bucket = self.buckets.get_with(caller, || {
            Arc::new(Mutex::new(Bucket {
                tokens: rate.burst,
                at: Instant::now(),
            }))
        });
        let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        bucket.take(rate, Instant::now())
    }
}

/// A JSON error with an optional `Retry-After`.
fn refusal(
    status: StatusCode,
    code: &str,
    description: String,
    retry: Option<Duration>,
) -> Response {
    let mut response = (
        status,
        axum::Json(json!({ "code": code, "description": description })),
    )
        .into_response();
    if let Some(retry) = retry {
        let seconds = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&seconds.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

/// The middleware enforcing the limits (none when the state has no limiter); the
/// server's router applies it to every route.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = state.limits.clone() else {
        return next.run(request).await;
    };
    let caller = super::caller::of_request(&state, request.extensions(), request.headers());
    let bucket = match &caller.key_id {
        Some(id) => format!("key {id}"),
        None => request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "ip unknown".to_owned(), |c| format!("ip {}", c.0.ip())),
    };
    let rate = limiter.limits.rate(caller.role);
    if let Err(retry) = limiter.admit(bucket, rate) {
        limiter.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
        return refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimited",
            format!(
                "more than {} requests per second for the {} role; retry in {:.1} s",
                rate.per_second,
                caller.role,
                retry.as_secs_f64()
            ),
            Some(retry),
        );
    }
    let heavy = super::trace::route_of(request.uri().path()).is_some_and(|r| r.heavy);
    if heavy {
        run_heavy(&limiter, request, next).await
    } else {
        next.run(request).await
    }
}

/// Runs a heavy query in a slot, queued up to the limits.
async fn run_heavy(limiter: &Arc<Limiter>, request: Request, next: Next) -> Response {
    let limits = &limiter.limits;
    let deadline = tokio::time::Instant::now() + limits.heavy_timeout;
    let permit = match Arc::clone(&limiter.heavy).try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            if limiter.waiting.fetch_add(1, Ordering::AcqRel) >= limits.heavy_queue {
                limiter.waiting.fetch_sub(1, Ordering::AcqRel);
                limiter.counts.busy.fetch_add(1, Ordering::Relaxed);
                return refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Busy",
                    format!(
                        "{} heavy queries are running and {} waiting; retry shortly",
                        limits.heavy_concurrency, limits.heavy_queue
                    ),
                    Some(Duration::from_secs(2)),
                );
            }
            limiter.counts.queued.fetch_add(1, Ordering::Relaxed);
            let acquired =
                tokio::time::timeout_at(deadline, Arc::clone(&limiter.heavy).acquire_owned()).await;
            limiter.waiting.fetch_sub(1, Ordering::AcqRel);
            match acquired {
                Ok(Ok(permit)) => permit,
                _ => return timed_out(limiter),
            }
        }
    };
    // The work holds its slot until it ends, even when the client is answered 504.
    let work = tokio::spawn(async move {
        let response = next.run(request).await;
        drop(permit);
        response
    });
    match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerError",
            format!("the query failed: {e}"),
            None,
        ),
        Err(_) => timed_out(limiter),
    }
}

fn timed_out(limiter: &Limiter) -> Response {
    limiter.counts.timed_out.fetch_add(1, Ordering::Relaxed);
    refusal(
        StatusCode::GATEWAY_TIMEOUT,
        "Timeout",
        format!(
            "the query took longer than the limit of {} s for heavy queries",
            limiter.limits.heavy_timeout.as_secs()
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_their_rate_and_hold_a_burst() {
        let rate = Rate {
            per_second: 10.0,
            burst: 3.0,
        };
        let start = Instant::now();
        let mut b = Bucket {
            tokens: rate.burst,
            at: start,
        };
        assert!((0..3).all(|_| b.take(rate, start).is_ok()));
        let wait = b.take(rate, start).expect_err("empty");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert!(b.take(rate, start + Duration::from_millis(100)).is_ok());
        // Long idle refills to the burst, no more.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(rate, later).is_ok()));
        assert!(b.take(rate, later).is_err());
    }
}
