//! OGC API – Features, Part 1: Core, with GeoJSON encoding.
//!
//! `items` pages are streamed: the matching ids are selected first (cheap), then the
//! body is produced in chunks of [`CHUNK`] features as the client reads it, so a
//! 10 000-feature page never sits in memory as a whole.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::{Value as J, json};

use super::params::{ItemsParams, check_json_format};
use super::{ApiError, ApiResult, AppState};
use crate::access::{Caller, Catalog, Features};
use crate::model::{Feature, FeatureQuery, FeatureSource, LayerMeta, Schema, Sensitivity, Value};

/// Features serialized per body chunk.
const CHUNK: usize = 256;
/// Media type of GeoJSON.
const GEOJSON: &str = "application/geo+json";

const CONFORMANCE: [&str; 4] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
];

type Pairs = Query<Vec<(String, String)>>;

fn check_format(pairs: &[(String, String)]) -> ApiResult<()> {
    pairs
        .iter()
        .filter(|(k, _)| k == "f")
        .try_for_each(|(_, v)| check_json_format(v))
}

/// The source of a collection, through the access gate (personal layers are
/// refused). Handlers here see layers only through [`FeatureSource`], so another
/// backend (e.g. PostGIS) can serve them unchanged.
fn layer(state: &AppState, caller: &Caller, name: &str) -> ApiResult<Arc<dyn FeatureSource>> {
    versioned_layer(state, caller, name, None)
}

/// [`layer`] at `version` (analysts and above, for versions before the served one).
fn versioned_layer(
    state: &AppState,
    caller: &Caller,
    name: &str,
    version: Option<u32>,
) -> ApiResult<Arc<dyn FeatureSource>> {
    let layer = match version {
        None => state.registry.open::<Features>(name, caller)?,
        Some(v) => state.registry.open_version::<Features>(name, v, caller)?,
    };
    Ok(layer.shared() as Arc<dyn FeatureSource>)
}

/// The `version=N` parameter, taken out of the query pairs.
fn take_version(pairs: &mut Vec<(String, String)>) -> ApiResult<Option<u32>> {
    let Some(i) = pairs.iter().position(|(k, _)| k == "version") else {
        return Ok(None);
    };
    let (_, text) = pairs.remove(i);
    text.parse().map(Some).map_err(|_| {
        ApiError::BadRequest(format!("version must be a version number, got {text:?}"))
    })
}

fn link(href: String, rel: &str, media: &str, title: &str) -> J {
    json!({ "href": href, "rel": rel, "type": media, "title": title })
}

pub(super) async fn landing(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> ApiResult<Response> {
    let asks_html = pairs.iter().any(|(k, v)| k == "f" && v == "html");
    if asks_html || (pairs.is_empty() && super::viewer::wants_html(&headers)) {
        return Ok(super::viewer::page().await.into_response());
    }
    check_format(&pairs)?;
    let base = state.base_url(&headers);
    Ok(Json(json!({
        "title": "Tessera",
        "description": "Open city data: vector tiles and OGC API – Features",
        "links": [
            link(format!("{base}/"), "self", "application/json", "This document"),
            link(format!("{base}/api"), "service-desc", super::openapi::OPENAPI_JSON, "The API definition"),
            link(format!("{base}/conformance"), "conformance", "application/json", "Conformance classes"),
            link(format!("{base}/collections"), "data", "application/json", "Collections"),
            link(format!("{base}/map"), "alternate", "text/html", "Web map of every layer"),
            link(format!("{base}/styles"), "styles", "application/json", "MapLibre styles"),
            link(format!("{base}/catalog.jsonld"), "describedby", super::dcat::JSON_LD, "The catalog as DCAT-AP 3"),
        ],
    }))
    .into_response())
}

pub(super) async fn conformance(Query(pairs): Pairs) -> ApiResult<Json<J>> {
    check_format(&pairs)?;
    Ok(Json(json!({ "conformsTo": CONFORMANCE })))
}

/// `GET /catalog`: the catalog entry of every layer, personal ones included, with
/// links to how each may be read.
pub(super) async fn catalog(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    if super::dcat::wants_json_ld(&headers) {
        return super::dcat::document(&state, &caller, &headers);
    }
    let base = state.base_url(&headers);
    let layers: Vec<J> = state
        .registry
        .catalog(&caller)
        .iter()
        .map(|meta| {
            let mut entry = collection_json(meta, &base);
            let name = meta.name.as_str();
            if meta.sensitivity == Sensitivity::Personal {
                entry["links"] = json!([
                    link(
                        format!("{base}/heatmap/{name}/{{z}}/{{x}}/{{y}}.mvt"),
                        "heatmap-tiles",
                        "application/vnd.mapbox-vector-tile",
                        "Differentially private heatmap tiles"
                    ),
                    link(
                        format!("{base}/heatmap/{name}.geojson"),
                        "heatmap",
                        GEOJSON,
                        "Differentially private H3 heatmap"
                    ),
                    link(
                        format!("{base}/collections/{name}/schema"),
                        "describedby",
                        "application/schema+json",
                        "Schema of the features' properties"
                    ),
                    link(
                        format!("{base}/collections/{name}/quality"),
                        "describedby",
                        "application/json",
                        "Quality report of the ingest"
                    ),
                ]);
                entry["idField"] = json!(meta.id_field);
                entry["timeField"] = json!(meta.time_field);
            }
            entry
        })
        .collect();
    Json(json!({ "layers": layers })).into_response()
}

fn collection_json(meta: &LayerMeta, base: &str) -> J {
    let name = meta.name.as_str();
    let href = format!("{base}/collections/{name}");
    let bbox = meta
        .bbox
        .map(|b| vec![[b.min_x, b.min_y, b.max_x, b.max_y]]);
    json!({
        "id": name,
        "title": meta.title,
        "description": meta.description.clone().unwrap_or_else(|| meta.title.clone()),
        "itemType": "feature",
        "geometryType": meta.geometry_type,
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "extent": { "spatial": {
            "bbox": bbox.unwrap_or_default(),
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        }},
        "license": meta.license.clone().unwrap_or_default(),
        "steward": meta.steward.clone().unwrap_or_default(),
        "updateFrequency": meta.update_frequency.clone().unwrap_or_default(),
        "sensitivity": meta.sensitivity,
        "version": meta.version,
        "featureCount": meta.feature_count,
        "links": [
            link(href.clone(), "self", "application/json", "This collection"),
            link(format!("{href}/items"), "items", GEOJSON, "Features"),
            link(format!("{href}/schema"), "describedby", "application/schema+json", "Schema of the features' properties"),
            link(format!("{href}/quality"), "describedby", "application/json", "Quality report of the ingest"),
            link(format!("{base}/tiles/{name}"), "tiles", "application/json", "Vector tiles (TileJSON)"),
        ],
    })
}

pub(super) async fn collections(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> ApiResult<Json<J>> {
    check_format(&pairs)?;
    let base = state.base_url(&headers);
    // Personal layers are not feature collections: their features are never served.
    // They appear in /catalog, with links to their aggregates.
    let list: Vec<J> = state
        .registry
        .catalog(&caller)
        .iter()
        .filter(|meta| meta.sensitivity != Sensitivity::Personal)
        .map(|meta| collection_json(meta, &base))
        .collect();
    Ok(Json(json!({
        "links": [link(format!("{base}/collections"), "self", "application/json", "Collections")],
        "collections": list,
    })))
}

pub(super) async fn collection(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(pairs): Pairs,
) -> ApiResult<Json<J>> {
    check_format(&pairs)?;
    let layer = layer(&state, &caller, &name)?;
    Ok(Json(collection_json(
        layer.meta(),
        &state.base_url(&headers),
    )))
}

pub(super) async fn schema(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let meta = state.registry.open::<Catalog>(&name, &caller)?;
    let schema = meta.schema.json_schema(&meta.title);
    Ok((
        [(header::CONTENT_TYPE, "application/schema+json")],
        Json(schema),
    )
        .into_response())
}

pub(super) async fn quality(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<J>> {
    let meta = state.registry.open::<Catalog>(&name, &caller)?;
    let data_dir = state.registry.data_dir().clone();
    let (layer_name, version) = (meta.name.clone(), meta.version);
    let report = tokio::task::spawn_blocking(move || data_dir.read_quality(&layer_name, version))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Also for layers declared personal after their ingest: no position, no value.
    let report = if meta.sensitivity == Sensitivity::Personal {
        report.redacted()
    } else {
        report
    };
    Ok(Json(
        json!({ "layer": meta.name, "version": meta.version, "report": report }),
    ))
}

pub(super) async fn item(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
    Query(mut pairs): Pairs,
) -> ApiResult<Response> {
    let version = take_version(&mut pairs)?;
    check_format(&pairs)?;
    let layer = versioned_layer(&state, &caller, &name, version)?;
    let not_found = || ApiError::NotFound(format!("feature {id:?} does not exist in {name:?}"));
    let numeric: u64 = id.parse().map_err(|_| not_found())?;
    let feature = layer.feature(numeric)?.ok_or_else(not_found)?;
    let base = state.base_url(&headers);
    let mut body = serde_json::to_value(GeoJsonFeature {
        feature: &feature,
        schema: layer.schema(),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    body["links"] = json!([
        link(
            format!("{base}/collections/{name}/items/{id}"),
            "self",
            GEOJSON,
            "This feature"
        ),
        link(
            format!("{base}/collections/{name}"),
            "collection",
            "application/json",
            "The collection"
        ),
    ]);
    Ok(([(header::CONTENT_TYPE, GEOJSON)], Json(body)).into_response())
}

pub(super) async fn items(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(mut pairs): Pairs,
) -> ApiResult<Response> {
    let version = take_version(&mut pairs)?;
    let layer = versioned_layer(&state, &caller, &name, version)?;
    let mut params = ItemsParams::parse(&pairs, layer.schema())?;
    if let Some(v) = version {
        // Page links stay on the version asked for.
        params.filter_pairs.push(("version".into(), v.to_string()));
    }
    let query = FeatureQuery {
        bbox: params.bbox,
        filters: params.filters.clone(),
        offset: params.offset,
        limit: params.limit,
    };
    let source = Arc::clone(&layer);
    let page = tokio::task::spawn_blocking(move || source.query(&query))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let links = page_links(
        &state.base_url(&headers),
        &name,
        &params,
        page.number_matched,
    );
    let head = format!(
        r#"{{"type":"FeatureCollection","numberMatched":{},"numberReturned":{},"timeStamp":{},"links":{},"features":["#,
        page.number_matched,
        page.ids.len(),
        json!(now_rfc3339()),
        J::Array(links),
    );
    let body = feature_stream(layer, page.ids, head);
    Ok(([(header::CONTENT_TYPE, GEOJSON)], Body::from_stream(body)).into_response())
}

/// The body of an items page: the head, the features in chunks, the tail.
fn feature_stream(
    layer: Arc<dyn FeatureSource>,
    ids: Vec<u64>,
    head: String,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let chunks: Vec<Vec<u64>> = ids.chunks(CHUNK).map(<[u64]>::to_vec).collect();
    let head = futures_util::stream::once(async move { Ok(Bytes::from(head)) });
    let body = futures_util::stream::iter(chunks.into_iter().enumerate()).map(move |(n, chunk)| {
        let features = layer.features(&chunk).map_err(std::io::Error::other)?;
        let mut out = Vec::with_capacity(chunk.len() * 512);
        for (i, feature) in features.iter().enumerate() {
            if n > 0 || i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(
                &mut out,
                &GeoJsonFeature {
                    feature,
                    schema: layer.schema(),
                },
            )
            .map_err(std::io::Error::other)?;
        }
        Ok(Bytes::from(out))
    });
    let tail = futures_util::stream::once(async { Ok(Bytes::from_static(b"]}")) });
    head.chain(body).chain(tail)
}

fn page_links(base: &str, name: &str, params: &ItemsParams, matched: usize) -> Vec<J> {
    let url = |offset: usize| {
        let mut query: Vec<(String, String)> = params.filter_pairs.clone();
        if let Some(b) = params.bbox {
            query.push((
                "bbox".into(),
                format!("{},{},{},{}", b.min_x, b.min_y, b.max_x, b.max_y),
            ));
        }
        query.push(("limit".into(), params.limit.to_string()));
        query.push(("offset".into(), offset.to_string()));
        let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("{base}/collections/{name}/items?{encoded}")
    };
    let mut links = vec![link(url(params.offset), "self", GEOJSON, "This page")];
    if params.offset + params.limit < matched {
        links.push(link(
            url(params.offset + params.limit),
            "next",
            GEOJSON,
            "Next page",
        ));
    }
    if params.offset > 0 {
        links.push(link(
            url(params.offset.saturating_sub(params.limit)),
            "prev",
            GEOJSON,
            "Previous page",
        ));
    }
    links.push(link(
        format!("{base}/collections/{name}"),
        "collection",
        "application/json",
        "The collection",
    ));
    links
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An RFC 7946 Feature object.
struct GeoJsonFeature<'a> {
    feature: &'a Feature,
    schema: &'a Schema,
}

impl Serialize for GeoJsonFeature<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("type", "Feature")?;
        map.serialize_entry("id", &self.feature.id)?;
        map.serialize_entry("geometry", &geojson::Geometry::from(&self.feature.geometry))?;
        map.serialize_entry(
            "properties",
            &Properties {
                schema: self.schema,
                values: &self.feature.properties,
            },
        )?;
        map.end()
    }
}

struct Properties<'a> {
    schema: &'a Schema,
    values: &'a [Value],
}

impl Serialize for Properties<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (field, value) in self.schema.fields.iter().zip(self.values) {
            map.serialize_entry(&field.name, value)?;
        }
        map.end()
    }
}
