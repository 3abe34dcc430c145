//! The route table: every route the server answers, and every parameter of it that
//! names a layer, with what the layer is used for.
//!
//! The router is built from [`ROUTES`] alone, so a route exists only with its entry
//! here; the access tests read the same table and try every layer parameter of every
//! route with public and personal layers.

use axum::routing::{MethodRouter, get, post, put};

use super::{
    AppState, admin, analytics, dcat, features, openapi, styles, tilejson, tiles, trace, versions,
    viewer,
};

/// What a layer named by a parameter is used for; the gate's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerUse {
    /// Features, geometry or tiles ([`crate::access::Features`]).
    Features,
    /// Input of statistics ([`crate::access::Statistics`]).
    Statistics,
    /// Catalog entry ([`crate::access::Catalog`]).
    Catalog,
}

/// A parameter naming a layer, with a request that uses it: `{}` in `example` stands
/// for the layer's name.
#[derive(Debug, Clone, Copy)]
pub struct LayerParam {
    /// The path segment or query key.
    pub name: &'static str,
    /// What the layer is used for.
    pub purpose: LayerUse,
    /// A request naming a layer there (other layers: the demo's public ones).
    pub example: &'static str,
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The path, in axum's syntax.
    pub path: &'static str,
    /// Its parameters that name layers.
    pub layers: &'static [LayerParam],
    /// Heavy queries (aggregates, flows, H3 over large areas) wait for one of a few
    /// slots, so that tiles and items keep their latency (see [`super::limits`]).
    pub heavy: bool,
}

const fn param(name: &'static str, purpose: LayerUse, example: &'static str) -> LayerParam {
    LayerParam {
        name,
        purpose,
        example,
    }
}

const fn route(path: &'static str, layers: &'static [LayerParam]) -> Route {
    Route {
        path,
        layers,
        heavy: false,
    }
}

const fn heavy(path: &'static str, layers: &'static [LayerParam]) -> Route {
    Route {
        path,
        layers,
        heavy: true,
    }
}

use LayerUse::{Catalog, Features, Statistics};

/// Every route of the server.
pub const ROUTES: &[Route] = &[
    route("/", &[]),
    route("/api", &[]),
    route("/conformance", &[]),
    route("/catalog", &[]),
    route("/catalog.jsonld", &[]),
    route("/collections", &[]),
    route(
        "/collections/{layer}",
        &[param("layer", Features, "/collections/{}")],
    ),
    route(
        "/collections/{layer}/items",
        &[param("layer", Features, "/collections/{}/items?limit=5")],
    ),
    route(
        "/collections/{layer}/items/{id}",
        &[param("layer", Features, "/collections/{}/items/1")],
    ),
    route(
        "/collections/{layer}/schema",
        &[param("layer", Catalog, "/collections/{}/schema")],
    ),
    route(
        "/collections/{layer}/quality",
        &[param("layer", Catalog, "/collections/{}/quality")],
    ),
    route(
        "/collections/{layer}/versions",
        &[param("layer", Catalog, "/collections/{}/versions")],
    ),
    route("/health", &[]),
    route("/ready", &[]),
    route("/metrics", &[]),
    heavy("/admin/layers/{layer}", &[]),
    route("/admin/layers/{layer}/rollback", &[]),
    route("/map", &[]),
    route("/favicon.ico", &[]),
    route("/assets/maplibre-gl.js", &[]),
    route("/assets/maplibre-gl.css", &[]),
    route("/assets/maplibre-gl-LICENSE.txt", &[]),
    route("/styles", &[]),
    route("/styles/{file}", &[]),
    route(
        "/heatmap/{layer}/{z}/{x}/{y}",
        &[
            param(
                "layer",
                Statistics,
                "/heatmap/{}/14/8290/6119.mvt?stat=distinct",
            ),
            param("layer", Statistics, "/heatmap/{}/14/8290/6119.png"),
        ],
    ),
    heavy(
        "/heatmap/{file}",
        &[param("file", Statistics, "/heatmap/{}.geojson?h3_res=8")],
    ),
    heavy(
        "/aggregate",
        &[
            param(
                "points",
                Statistics,
                "/aggregate?points={}&zones=zones&stat=distinct",
            ),
            param(
                "zones",
                Features,
                "/aggregate?points=assets&zones={}&stat=count",
            ),
            param(
                "cover",
                Features,
                "/aggregate?cover={}&zones=zones&measure=area_share:land_use",
            ),
        ],
    ),
    heavy(
        "/flows",
        &[
            param("trips", Statistics, "/flows?trips={}&zones=zones"),
            param("zones", Features, "/flows?trips=trips&zones={}"),
        ],
    ),
    heavy(
        "/flows/{z}/{x}/{y}",
        &[
            param(
                "trips",
                Statistics,
                "/flows/12/2072/1529.mvt?trips={}&zones=zones",
            ),
            param(
                "zones",
                Features,
                "/flows/12/2072/1529.mvt?trips=trips&zones={}",
            ),
        ],
    ),
    route(
        "/tiles/{layers}",
        &[
            param("layers", Features, "/tiles/{}"),
            param("layers", Features, "/tiles/zones,{}"),
        ],
    ),
    route(
        "/tiles/{layers}/{z}/{x}/{y}",
        &[
            param("layers", Features, "/tiles/{}/14/8290/6119.mvt"),
            param("layers", Features, "/tiles/zones,{}/14/8290/6119.mvt"),
        ],
    ),
];

/// The handler of a route of [`ROUTES`].
///
/// # Panics
/// For a path with no handler: the table and this function are kept together, and
/// every test that builds the router finds a mismatch at once.
pub(super) fn handler(path: &str) -> MethodRouter<AppState> {
    match path {
        "/" => get(features::landing),
        "/api" => get(openapi::openapi),
        "/conformance" => get(features::conformance),
        "/catalog" => get(features::catalog),
        "/catalog.jsonld" => get(dcat::catalog),
        "/collections" => get(features::collections),
        "/collections/{layer}" => get(features::collection),
        "/collections/{layer}/items" => get(features::items),
        "/collections/{layer}/items/{id}" => get(features::item),
        "/collections/{layer}/schema" => get(features::schema),
        "/collections/{layer}/quality" => get(features::quality),
        "/collections/{layer}/versions" => get(versions::versions),
        "/health" => get(trace::health),
        "/ready" => get(trace::ready),
        "/metrics" => get(trace::metrics),
        "/admin/layers/{layer}" => put(admin::publish).delete(admin::retire),
        "/admin/layers/{layer}/rollback" => post(admin::rollback),
        "/map" => get(viewer::page),
        "/favicon.ico" => get(|| async { axum::http::StatusCode::NO_CONTENT }),
        "/assets/maplibre-gl.js" => get(viewer::maplibre_js),
        "/assets/maplibre-gl.css" => get(viewer::maplibre_css),
        "/assets/maplibre-gl-LICENSE.txt" => get(viewer::maplibre_license),
        "/styles" => get(styles::list),
        "/styles/{file}" => get(styles::style),
        "/heatmap/{layer}/{z}/{x}/{y}" => get(analytics::heatmap_tile),
        "/heatmap/{file}" => get(analytics::heatmap_geojson),
        "/aggregate" => get(analytics::aggregate),
        "/flows" => get(analytics::flows),
        "/flows/{z}/{x}/{y}" => get(analytics::flows_tile),
        "/tiles/{layers}" => get(tilejson::tilejson),
        "/tiles/{layers}/{z}/{x}/{y}" => get(tiles::tile),
        other => panic!("route {other} of ROUTES has no handler"),
    }
}
