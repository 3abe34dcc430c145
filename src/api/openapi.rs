//! `GET /api`: the OpenAPI 3.0 definition of this server, built from the served layers
//! so that each collection's property filters are listed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

use super::AppState;
use super::params::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::model::FieldType;

/// Media type of an OpenAPI 3.0 document in JSON.
pub const OPENAPI_JSON: &str = "application/vnd.oai.openapi+json;version=3.0";

fn error_responses() -> J {
    json!({
        "400": { "$ref": "#/components/responses/Error" },
        "404": { "$ref": "#/components/responses/Error" },
    })
}

fn ok(description: &str, media: &str) -> J {
    json!({ "description": description, "content": { media: { "schema": { "type": "object" } } } })
}

fn get(summary: &str, operation_id: &str, parameters: &J, response: J) -> J {
    let mut responses = error_responses();
    responses["200"] = response;
    json!({ "get": {
        "summary": summary,
        "operationId": operation_id,
        "parameters": parameters,
        "responses": responses,
    }})
}

fn filter_type(t: FieldType) -> &'static str {
    t.json_schema_type()
}

pub(super) async fn openapi(
    State(state): State<AppState>,
    caller: crate::access::Caller,
    headers: HeaderMap,
) -> Response {
    let base = state.base_url(&headers);
    // The collections: layers the caller may list whose features are served.
    let collections: Vec<crate::model::LayerMeta> = state
        .registry
        .catalog(&caller)
        .into_iter()
        .filter(|m| m.sensitivity != crate::model::Sensitivity::Personal)
        .collect();
    let names: Vec<&str> = collections.iter().map(|m| m.name.as_str()).collect();
    let collection_param = json!({
        "name": "collectionId", "in": "path", "required": true,
        "schema": { "type": "string", "enum": names },
    });
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/".into(),
        get(
            "Landing page",
            "getLandingPage",
            &json!([]),
            ok("Links to the API", "application/json"),
        ),
    );
    paths.insert(
        "/api".into(),
        get(
            "This API definition",
            "getApi",
            &json!([]),
            ok("OpenAPI 3.0", OPENAPI_JSON),
        ),
    );
    paths.insert(
        "/conformance".into(),
        get(
            "Conformance classes",
            "getConformance",
            &json!([]),
            ok("Conformance classes", "application/json"),
        ),
    );
    paths.insert(
        "/collections".into(),
        get(
            "Collections",
            "getCollections",
            &json!([]),
            ok("The feature collections", "application/json"),
        ),
    );
    paths.insert(
        "/collections/{collectionId}".into(),
        get(
            "One collection",
            "describeCollection",
            &json!([collection_param]),
            ok("The collection", "application/json"),
        ),
    );
    paths.insert(
        "/collections/{collectionId}/items/{featureId}".into(),
        get(
            "One feature",
            "getFeature",
            &json!([collection_param, { "name": "featureId", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } }]),
            ok("A GeoJSON Feature", "application/geo+json"),
        ),
    );
    let mut item_params = vec![
        collection_param.clone(),
        json!({ "name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                "schema": { "type": "array", "minItems": 4, "maxItems": 6, "items": { "type": "number" } } }),
        json!({ "name": "limit", "in": "query", "required": false, "style": "form", "explode": false,
                "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT } }),
        json!({ "name": "offset", "in": "query", "required": false,
                "schema": { "type": "integer", "minimum": 0, "default": 0 } }),
    ];
    // Property filters: one parameter per distinct field name over all layers.
    let mut seen = std::collections::BTreeMap::new();
    for meta in &collections {
        for f in &meta.schema.fields {
            seen.entry(f.name.clone()).or_insert(f.field_type);
        }
    }
    for (name, t) in seen {
        item_params.push(json!({ "name": name, "in": "query", "required": false,
            "description": "Equality filter on this property (collections that have it)",
            "schema": { "type": filter_type(t) } }));
    }
    paths.insert(
        "/collections/{collectionId}/items".into(),
        get(
            "Features",
            "getFeatures",
            &J::Array(item_params),
            ok("A GeoJSON FeatureCollection", "application/geo+json"),
        ),
    );
    paths.insert(
        "/tiles/{layers}".into(),
        get("TileJSON of one or more layers", "getTileJson",
            &json!([{ "name": "layers", "in": "path", "required": true, "schema": { "type": "string" }, "description": "Comma-separated layer names" }]),
            ok("TileJSON 3.0.0", "application/json")),
    );
    let doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Tessera",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Vector tiles and OGC API – Features for open city data",
            "license": { "name": "MIT OR Apache-2.0" },
        },
        "servers": [{ "url": base }],
        "paths": paths,
        "components": { "responses": { "Error": {
            "description": "A client error",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["code", "description"],
                "properties": { "code": { "type": "string" }, "description": { "type": "string" } },
            }}},
        }}},
    });
    ([(header::CONTENT_TYPE, OPENAPI_JSON)], Json(doc)).into_response()
}
