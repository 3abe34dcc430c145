//! Zone answers: points in zones, area shares of a cover layer, origin–destination
//! flows between zones. Zones and cover are raw geometry, reached only as
//! [`RawLayer`]s: a personal layer can be counted, never drawn.
//!
//! A private zone or flow query cannot be read from a grid release (zones are
//! arbitrary polygons), so each distinct one is its own release, charged once.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use geo::Centroid as _;
use geo_types::Geometry;
use serde_json::{Value as J, json};

use super::{
    AnalyticsCache, Mode, blocking, exact, exact_json, exact_values, geojson_response,
    mvt_response, parse_params, private_json, private_values, reject_property_filters,
    release_context, select_rows, stats_spec, values_json, with_privacy_headers,
};
use crate::access::{Caller, Features, Statistics};
use crate::analytics::aggregate::{Boundary, area_shares, points_in_zones};
use crate::analytics::flows::{Slot, flow_of_key, od_matrix};
use crate::analytics::ledger::Charge;
use crate::analytics::release::{UNASSIGNED, flow_release, zone_release};
use crate::analytics::{StatisticsInput, Stats};
use crate::api::{ApiError, ApiResult, AppState, Registry};
use crate::index::RawLayer;
use crate::model::{Feature, Field, FieldType, Value};

/// Query keys of `/aggregate` besides the common analytics ones.
const AGGREGATE_KEYS: &[&str] = &["points", "zones", "cover", "measure"];
/// Query keys of `/flows` besides the common analytics ones.
const FLOW_KEYS: &[&str] = &["trips", "zones", "slot"];

fn get(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn required(pairs: &[(String, String)], key: &str) -> ApiResult<String> {
    get(pairs, key).ok_or_else(|| ApiError::BadRequest(format!("{key}=LAYER is required")))
}

/// `GET /aggregate?points=L&zones=Z&stat=…` or `?cover=L&zones=Z&measure=area_share:FIELD`.
pub(in crate::api) async fn aggregate(
    State(state): State<AppState>,
    caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let body =
        blocking(move || aggregate_collection(&state.analytics, &state.registry, &caller, &pairs))
            .await?;
    Ok(geojson_response(body))
}

/// The zones layer as GeoJSON with the aggregate the query asks for: points-in-zones
/// statistics (`points=L&stat=…`) or area shares (`cover=L&measure=area_share:FIELD`).
/// Every layer is opened through the access gate for `caller`. Shared by
/// `GET /aggregate` and `tessera aggregate`.
///
/// # Errors
/// [`ApiError::BadRequest`] for missing or invalid parameters, [`ApiError::NotFound`]
/// for unknown layers, [`ApiError::Forbidden`] for a personal layer used as zones or
/// cover, [`ApiError::TooManyRequests`] when the caller's privacy budget is spent.
pub fn aggregate_collection(
    cache: &AnalyticsCache,
    registry: &Registry,
    caller: &Caller,
    pairs: &[(String, String)],
) -> ApiResult<J> {
    let zones = registry.open::<Features>(&required(pairs, "zones")?, caller)?;
    let mut params = parse_params(pairs, AGGREGATE_KEYS)?;
    if let Some(measure) = get(pairs, "measure") {
        let field = measure.strip_prefix("area_share:").ok_or_else(|| {
            ApiError::BadRequest(format!("measure {measure:?} is not area_share:FIELD"))
        })?;
        let cover_name = get(pairs, "cover")
            .or_else(|| get(pairs, "points"))
            .ok_or_else(|| ApiError::BadRequest("cover=LAYER is required with measure".into()))?;
        let cover = registry.open::<Features>(&cover_name, caller)?;
        reject_property_filters(&params)?;
        return area_share_collection(&zones, &cover, field);
    }
    let points = registry.open::<Statistics>(&required(pairs, "points")?, caller)?;
    match super::mode_of(cache, points.meta(), caller, &mut params)? {
        Mode::Private(private) => {
            let what = format!("zones/{}@{}", zones.meta().name, zones.meta().version);
            let context = release_context(points.meta(), &what, &params, &private.policy);
            let charge = cache.charge(caller, points.meta(), &private, &context)?;
            let release = cache.release(&context, || {
                let cols = cache.points(&points, None)?;
                let rows = select_rows(&cols, &points, &params)?;
                let index = cache.zones(&zones);
                Ok(zone_release(
                    &cols,
                    &rows,
                    &index,
                    &private.policy,
                    &cache.noise,
                    &context,
                ))
            })?;
            let k = u64::from(params.k.unwrap_or(0).max(private.policy.k.k()));
            let persons = |group: u64| release.get(group).filter(|p| *p >= k);
            let features: Vec<J> = (0..zones.len())
                .map(|i| zone_feature(&zones, i, values_json(private_values(persons(i as u64)))))
                .collect();
            Ok(json!({
                "type": "FeatureCollection",
                "k": k,
                "privacy": private_json(&private, &charge, &params),
                "unassigned": values_json(private_values(persons(UNASSIGNED))),
                "features": features,
            }))
        }
        Mode::Exact(k) => {
            let spec = stats_spec(&params.stat, k.as_ref());
            let cols = cache.points(&points, params.stat.value_field())?;
            let rows = select_rows(&cols, &points, &params)?;
            let index = cache.zones(&zones);
            let stats = points_in_zones(&cols, &rows, &index, Boundary::Exclude, spec)?;
            let json_of = |s: &Stats| values_json(exact_values(exact(s, k).as_ref()));
            let features: Vec<J> = stats
                .zones
                .iter()
                .enumerate()
                .map(|(i, s)| zone_feature(&zones, i, json_of(s)))
                .collect();
            Ok(json!({
                "type": "FeatureCollection",
                "k": k.map(|k| k.k()),
                "privacy": exact_json(k),
                "unassigned": json_of(&stats.unassigned),
                "features": features,
            }))
        }
    }
}

/// A zone as a GeoJSON feature: its own properties plus `extra`.
fn zone_feature(zones: &RawLayer, i: usize, extra: J) -> J {
    let feature = zones.feature_at(i);
    let mut props = serde_json::Map::new();
    for (field, value) in zones.meta().schema.fields.iter().zip(&feature.properties) {
        props.insert(
            field.name.clone(),
            serde_json::to_value(value).unwrap_or(J::Null),
        );
    }
    if let J::Object(extra) = extra {
        props.extend(extra);
    }
    json!({
        "type": "Feature",
        "id": feature.id,
        "geometry": geojson::Geometry::from(&feature.geometry),
        "properties": props,
    })
}

fn area_share_collection(zones: &RawLayer, cover: &RawLayer, field: &str) -> ApiResult<J> {
    let shares = area_shares(zones, cover, field)?;
    let features: Vec<J> = shares
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let classes: serde_json::Map<String, J> = s
                .classes
                .iter()
                .map(|c| (c.class.to_string(), json!(c.share)))
                .collect();
            zone_feature(
                zones,
                i,
                json!({ "area_m2": s.area_m2, "shares": classes, "uncovered": s.uncovered }),
            )
        })
        .collect();
    Ok(
        json!({ "type": "FeatureCollection", "measure": format!("area_share:{field}"), "features": features }),
    )
}

/// One released flow, drawn between zone centroids.
struct FlowLine {
    from: (f64, f64),
    to: (f64, f64),
    slot: u16,
    origin: u64,
    destination: u64,
    values: [Value; 4],
}

/// A flows query's answer.
struct FlowAnswer {
    slot: &'static str,
    trips: Option<u64>,
    k: Option<u64>,
    privacy: J,
    charge: Option<Charge>,
    unassigned: [Value; 4],
    lines: Vec<FlowLine>,
}

/// The released flows of a `/flows` query.
fn flow_answer(
    cache: &AnalyticsCache,
    registry: &Registry,
    caller: &Caller,
    pairs: &[(String, String)],
) -> ApiResult<FlowAnswer> {
    let trips_layer = registry.open::<Statistics>(&required(pairs, "trips")?, caller)?;
    let zones = registry.open::<Features>(&required(pairs, "zones")?, caller)?;
    let (slot, slot_name) = match get(pairs, "slot").as_deref() {
        None | Some("hour") => (Slot::Hour, "hour"),
        Some("weekday-hour") => (Slot::WeekdayHour, "weekday-hour"),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "slot {other:?} is not hour or weekday-hour"
            )));
        }
    };
    let mut params = parse_params(pairs, FLOW_KEYS)?;
    reject_property_filters(&params)?;
    let mode = super::mode_of(cache, trips_layer.meta(), caller, &mut params)?;
    let trips = trips_of(&trips_layer)?;
    let index = cache.zones(&zones);
    let centroid = |i: u32| {
        zones
            .geometry(i as usize)
            .centroid()
            .map(|p| (p.x(), p.y()))
    };
    let line = |(slot, origin, destination): (u16, u32, u32), values| {
        Some(FlowLine {
            from: centroid(origin)?,
            to: centroid(destination)?,
            slot,
            origin: zones.id(origin as usize),
            destination: zones.id(destination as usize),
            values,
        })
    };
    match mode {
        Mode::Private(private) => {
            let what = format!(
                "flows/{slot_name}/{}@{}",
                zones.meta().name,
                zones.meta().version
            );
            let context = release_context(trips_layer.meta(), &what, &params, &private.policy);
            let charge = cache.charge(caller, trips_layer.meta(), &private, &context)?;
            let release = cache.release(&context, || {
                Ok(flow_release(
                    &trips,
                    &index,
                    slot,
                    &params.filter,
                    &private.policy,
                    &cache.noise,
                    &context,
                ))
            })?;
            let k = u64::from(params.k.unwrap_or(0).max(private.policy.k.k()));
            let lines = release
                .groups()
                .iter()
                .filter(|g| g.0 != UNASSIGNED && g.1 >= k)
                .filter_map(|&(key, persons)| line(flow_of_key(key), private_values(Some(persons))))
                .collect();
            let unassigned = private_values(release.get(UNASSIGNED).filter(|p| *p >= k));
            Ok(FlowAnswer {
                slot: slot_name,
                trips: None,
                k: Some(k),
                privacy: private_json(&private, &charge, &params),
                charge: Some(charge),
                unassigned,
                lines,
            })
        }
        Mode::Exact(k) => {
            let distinct = k.is_some() || params.stat == super::Stat::Distinct;
            let matrix = od_matrix(
                &trips,
                &index,
                Boundary::Exclude,
                slot,
                &params.filter,
                distinct,
            )?;
            let lines = matrix
                .flows
                .iter()
                .filter_map(|f| {
                    let stats = exact(&f.stats, k)?;
                    line(
                        (f.slot, f.origin, f.destination),
                        exact_values(Some(&stats)),
                    )
                })
                .collect();
            Ok(FlowAnswer {
                slot: slot_name,
                trips: Some(matrix.trips),
                k: k.map(|k| u64::from(k.k())),
                privacy: exact_json(k),
                charge: None,
                unassigned: exact_values(exact(&matrix.unassigned, k).as_ref()),
                lines,
            })
        }
    }
}

/// The trips of a layer with a time field.
fn trips_of(layer: &StatisticsInput) -> ApiResult<crate::analytics::flows::Trips> {
    let meta = layer.meta();
    let time_field = meta.time_field.as_deref().ok_or_else(|| {
        ApiError::BadRequest(format!(
            "layer {} has no time field (ingest it with --time-field)",
            meta.name
        ))
    })?;
    Ok(layer.trips(time_field, meta.id_field.as_deref())?)
}

/// `GET /flows?trips=T&zones=Z&slot=hour|weekday-hour`: origin–destination flows
/// between zones per time slot, as GeoJSON lines between zone centroids.
pub(in crate::api) async fn flows(
    State(state): State<AppState>,
    caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let answer =
        blocking(move || flow_answer(&state.analytics, &state.registry, &caller, &pairs)).await?;
    let features: Vec<J> = answer
        .lines
        .iter()
        .map(|l| {
            let mut properties = values_json(l.values.clone());
            properties["slot"] = json!(l.slot);
            properties["origin"] = json!(l.origin);
            properties["destination"] = json!(l.destination);
            json!({
                "type": "Feature",
                "geometry": { "type": "LineString", "coordinates": [[l.from.0, l.from.1], [l.to.0, l.to.1]] },
                "properties": properties,
            })
        })
        .collect();
    Ok(geojson_response(json!({
        "type": "FeatureCollection",
        "slot": answer.slot,
        "trips": answer.trips,
        "k": answer.k,
        "privacy": answer.privacy,
        "unassigned": values_json(answer.unassigned),
        "features": features,
    })))
}

/// `GET /flows/{z}/{x}/{y}.mvt?trips=T&zones=Z&slot=…`: the same flows as vector tiles
/// (layer `flows`, properties `slot`, `origin`, `destination`, `count`, `distinct`).
pub(in crate::api) async fn flows_tile(
    State(state): State<AppState>,
    caller: Caller,
    Path((z, x, y)): Path<(String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let tile = crate::api::params::tile_id(&z, &x, &y)?;
    let (rendered, charge) = blocking(move || {
        let answer = flow_answer(&state.analytics, &state.registry, &caller, &pairs)?;
        let int = |n: u64| i64::try_from(n).map_or(Value::Null, Value::Int);
        let features: Vec<Feature> = answer
            .lines
            .into_iter()
            .zip(1u64..)
            .map(|(l, id)| {
                let [count, distinct, _, _] = l.values;
                Feature {
                    id,
                    geometry: Geometry::LineString(geo_types::LineString::from(vec![l.from, l.to])),
                    properties: vec![
                        Value::Int(i64::from(l.slot)),
                        int(l.origin),
                        int(l.destination),
                        count,
                        distinct,
                    ],
                }
            })
            .collect();
        let f = |name: &str| Field {
            name: name.into(),
            field_type: FieldType::Integer,
        };
        let fields = vec![
            f("slot"),
            f("origin"),
            f("destination"),
            f("count"),
            f("distinct"),
        ];
        let layer = super::analytic_layer("flows", fields, features);
        Ok((crate::tiles::render_tile(&[&layer], tile), answer.charge))
    })
    .await?;
    let response = mvt_response(rendered);
    Ok(match charge {
        Some(charge) => with_privacy_headers(response, &charge),
        None => response,
    })
}
