//! `GET /styles` and `GET /styles/{id}.json`: the MapLibre styles shipped in `styles/`,
//! with their tile sources pointed at this server.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

use super::{ApiError, ApiResult, AppState};

/// The placeholder for this server's public URL in the style files.
const URL_TOKEN: &str = "{tessera}";

/// The shipped styles: id and JSON text.
const STYLES: [(&str, &str); 4] = [
    ("parcels", include_str!("../../styles/parcels.json")),
    ("zones", include_str!("../../styles/zones.json")),
    ("assets", include_str!("../../styles/assets.json")),
    ("pings", include_str!("../../styles/pings.json")),
];

fn style_json(text: &str, base: &str) -> ApiResult<J> {
    serde_json::from_str(&text.replace(URL_TOKEN, base))
        .map_err(|e| ApiError::Internal(format!("shipped style is invalid: {e}")))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: crate::access::Caller,
    headers: HeaderMap,
) -> ApiResult<Json<J>> {
    let base = state.base_url(&headers);
    let listed: Vec<String> = state
        .registry
        .catalog(&caller)
        .into_iter()
        .map(|m| m.name.to_string())
        .collect();
    let mut styles = Vec::new();
    for (id, text) in STYLES {
        let style = style_json(text, &base)?;
        styles.push(json!({
            "id": id,
            "name": style["name"],
            "layer": style["metadata"]["tessera:layer"],
            "available": listed.iter().any(|n| n == id),
            "href": format!("{base}/styles/{id}.json"),
        }));
    }
    Ok(Json(json!({ "styles": styles })))
}

pub(super) async fn style(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let id = file.strip_suffix(".json").unwrap_or(&file);
    let (_, text) = STYLES
        .iter()
        .find(|(name, _)| *name == id)
        .ok_or_else(|| ApiError::NotFound(format!("style {id:?} does not exist")))?;
    let style = style_json(text, &state.base_url(&headers))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], Json(style)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_style_is_valid_and_names_its_layer() {
        for (id, text) in STYLES {
            let style = style_json(text, "http://x").expect("valid JSON");
            assert_eq!(style["version"], 8, "{id}");
            assert_eq!(style["metadata"]["tessera:layer"], id);
            let source = &style["sources"][id];
            let url = source["url"]
                .as_str()
                .or_else(|| source["tiles"][0].as_str())
                .expect("source url");
            assert!(url.starts_with("http://x/"), "{url}");
            assert!(!style["layers"].as_array().expect("layers").is_empty());
        }
    }
}
