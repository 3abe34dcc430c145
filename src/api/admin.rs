//! Publishing over HTTP: upload a new version, roll back, retire a layer.
//!
//! - `PUT /admin/layers/{layer}` streams the request body to a file in the data
//!   folder (at most [`MAX_UPLOAD_BYTES`]), ingests it through the same pipeline and
//!   quality report as `tessera ingest`, and answers the report. Catalog fields come
//!   from the query (`title`, `license`, `steward`, `update_frequency`, `sensitivity`,
//!   `id_field`, `time_field`, `timezone`, `crs`, `format`), else from the served
//!   version, under the config's declarations.
//! - `POST /admin/layers/{layer}/rollback?version=N` serves an earlier version.
//! - `DELETE /admin/layers/{layer}` retires the layer: its folder is moved aside
//!   (`DATA_DIR/.retired/LAYER-TIME`), nothing is deleted.
//!
//! Admin keys may do all of it; steward keys only for layers whose catalog names the
//! key's steward, and cannot create or retire layers.
//!
//! May import: `access`, `ingest`, `store`, `model`.

use std::io::Write as _;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde_json::json;

use super::{ApiError, ApiResult, AppState};
use crate::access::{Caller, Catalog, Role};
use crate::ingest::{CatalogOptions, IngestOptions};
use crate::model::LayerName;

/// The largest upload accepted, bytes.
pub const MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

type Pairs = Query<Vec<(String, String)>>;

/// What `caller` may do with `name`: admins anything; stewards the layers whose
/// catalog names them.
fn authorize(state: &AppState, caller: &Caller, name: &str, retiring: bool) -> ApiResult<()> {
    if caller.role >= Role::Admin {
        return Ok(());
    }
    let denied = |why: &str| Err(ApiError::Forbidden(format!("layer {name}: {why}")));
    if caller.role < Role::Steward {
        return denied("publishing needs a steward or admin key");
    }
    let Ok(meta) = state.registry.open::<Catalog>(name, &Caller::server()) else {
        return denied("only an admin key creates layers");
    };
    if retiring {
        return denied("only an admin key retires layers");
    }
    match (&meta.steward, &caller.steward) {
        (Some(layer), Some(key)) if layer == key => Ok(()),
        _ => denied("the layer's steward is not the key's"),
    }
}

fn get(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// `PUT /admin/layers/{layer}`.
pub(super) async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(pairs): Pairs,
    body: Body,
) -> ApiResult<Response> {
    let layer = LayerName::new(&name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    authorize(&state, &caller, &name, false)?;
    let uploads = state
        .registry
        .data_dir()
        .root()
        .join(crate::store::UPLOADS_DIR);
    std::fs::create_dir_all(&uploads).map_err(|e| ApiError::Internal(e.to_string()))?;
    let file = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempfile_in(&uploads)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut written: u64 = 0;
    let mut out = file.as_file();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("upload interrupted: {e}")))?;
        written += chunk.len() as u64;
        if written > MAX_UPLOAD_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "uploads are limited to {MAX_UPLOAD_BYTES} bytes"
            )));
        }
        out.write_all(&chunk)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    let options = ingest_options(&state, &layer, &pairs)?;
    let dir = state.registry.data_dir().clone();
    let registry = std::sync::Arc::clone(&state.registry);
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = crate::ingest::ingest(file.path(), &layer, &dir, &options);
        if outcome.is_ok() {
            let keep = registry.settings().layer(&layer).keep as usize;
            if let Err(e) = dir.prune(&layer, keep) {
                tracing::warn!(layer = %layer, error = %e, "cannot remove old versions");
            }
            if let Err(e) = registry.reload() {
                tracing::warn!(error = %e, "reload after an upload failed");
            }
        }
        drop(file);
        outcome
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    tracing::info!(layer = %outcome.meta.name, version = outcome.meta.version, key = ?caller.key_id, "published over HTTP");
    Ok(axum::Json(json!({
        "layer": outcome.meta.name,
        "version": outcome.meta.version,
        "featureCount": outcome.meta.feature_count,
        "report": outcome.report,
    }))
    .into_response())
}

/// Ingest options from the query, under the config's declarations.
fn ingest_options(
    state: &AppState,
    layer: &LayerName,
    pairs: &[(String, String)],
) -> ApiResult<IngestOptions> {
    let bad = |e: String| ApiError::BadRequest(e);
    let mut catalog = CatalogOptions {
        title: get(pairs, "title"),
        description: get(pairs, "description"),
        license: get(pairs, "license"),
        steward: get(pairs, "steward"),
        update_frequency: get(pairs, "update_frequency"),
        sensitivity: get(pairs, "sensitivity")
            .map(|s| s.parse())
            .transpose()
            .map_err(bad)?,
        id_field: get(pairs, "id_field"),
        time_field: get(pairs, "time_field"),
        timezone: get(pairs, "timezone"),
    };
    // A new version keeps the served one's catalog entry, except what the query gives.
    if let Ok(served) = state
        .registry
        .open::<Catalog>(layer.as_str(), &Caller::server())
    {
        let keep = |given: &mut Option<String>, served: &Option<String>| {
            if given.is_none() {
                given.clone_from(served);
            }
        };
        if catalog.title.is_none() {
            catalog.title = Some(served.title.clone());
        }
        keep(&mut catalog.description, &served.description);
        keep(&mut catalog.license, &served.license);
        keep(&mut catalog.steward, &served.steward);
        keep(&mut catalog.update_frequency, &served.update_frequency);
        keep(&mut catalog.id_field, &served.id_field);
        keep(&mut catalog.time_field, &served.time_field);
        keep(&mut catalog.timezone, &served.timezone);
        catalog.sensitivity = catalog.sensitivity.or(Some(served.sensitivity));
    }
    catalog.declare(&state.registry.settings().layer(layer).declared);
    Ok(IngestOptions {
        format: get(pairs, "format")
            .map(|f| f.parse::<crate::ingest::format::Format>())
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        crs: get(pairs, "crs"),
        catalog,
        ..IngestOptions::default()
    })
}

/// `POST /admin/layers/{layer}/rollback?version=N`.
pub(super) async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(pairs): Pairs,
) -> ApiResult<Response> {
    authorize(&state, &caller, &name, false)?;
    let layer = LayerName::new(&name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let version: u32 = get(&pairs, "version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::BadRequest("version=N is required".into()))?;
    let registry = std::sync::Arc::clone(&state.registry);
    tokio::task::spawn_blocking(move || {
        registry.data_dir().rollback(&layer, version)?;
        registry.reload().map(|_| ())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| match e {
        crate::store::StoreError::NoSuchVersion { .. } => ApiError::NotFound(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    })?;
    Ok(axum::Json(json!({ "layer": name, "served": version })).into_response())
}

/// `DELETE /admin/layers/{layer}`.
pub(super) async fn retire(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    authorize(&state, &caller, &name, true)?;
    let layer = LayerName::new(&name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let registry = std::sync::Arc::clone(&state.registry);
    let moved = tokio::task::spawn_blocking(move || {
        let moved = registry.data_dir().retire(&layer)?;
        registry.forget(&layer);
        Ok::<_, crate::store::StoreError>(moved)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| match e {
        crate::store::StoreError::NoVersion(_) => ApiError::NotFound(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    })?;
    Ok(
        axum::Json(json!({ "layer": name, "retired_to": moved.display().to_string() }))
            .into_response(),
    )
}
