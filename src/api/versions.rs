//! `GET /collections/{layer}/versions`: the stored versions of a layer, for analysts
//! and stewards checking what changed and what is served.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value as J, json};

use super::{ApiError, ApiResult, AppState};
use crate::access::{Caller, Catalog};

pub(super) async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<J>> {
    let meta = state.registry.open::<Catalog>(&name, &caller)?;
    let dir = state.registry.data_dir().clone();
    let layer = meta.name.clone();
    let list = tokio::task::spawn_blocking(move || -> Result<Vec<J>, crate::store::StoreError> {
        let current = dir.current_version(&layer)?;
        dir.versions(&layer)?
            .into_iter()
            .rev()
            .map(|version| {
                let meta = dir.read_meta(&layer, version)?;
                let quality = dir.read_quality(&layer, version)?;
                Ok(json!({
                    "version": version,
                    "served": Some(version) == current,
                    "created": meta.created_at,
                    "sourceSha256": meta.source.sha256,
                    "featureCount": meta.feature_count,
                    "quality": {
                        "read": quality.features_read,
                        "accepted": quality.features_accepted,
                        "repaired": quality.features_repaired,
                        "rejected": quality.features_rejected,
                    },
                }))
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(
        json!({ "layer": meta.name, "served": meta.version, "versions": list }),
    ))
}
