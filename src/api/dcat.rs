//! The catalog as DCAT-AP 3 JSON-LD: `GET /catalog.jsonld`, or `GET /catalog` with
//! `Accept: application/ld+json`, for harvesters of open-data portals.
//!
//! Each layer the caller may know of is a `dcat:Dataset` with the mandatory
//! (title, description) and recommended properties of DCAT-AP 3: publisher, contact
//! point (the steward), theme, spatial coverage (the bbox, coarse for personal layers),
//! accrual periodicity (the EU frequency vocabulary), version and modification time,
//! and distributions pointing at the items, tiles or, for personal layers, the
//! privacy-protected statistics. Tessera's own terms (`tessera:sensitivity`,
//! `tessera:steward`, `tessera:overdue`) sit beside them. The context is inline, so
//! the document expands without fetching anything.
//!
//! May import: `access`, `model`.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

use super::AppState;
use crate::access::Caller;
use crate::model::{LayerMeta, Sensitivity};

/// Media type of JSON-LD.
pub const JSON_LD: &str = "application/ld+json";

const FREQUENCY: &str = "http://publications.europa.eu/resource/authority/frequency/";
const THEME: &str = "http://publications.europa.eu/resource/authority/data-theme/";
const MEDIA_TYPE: &str = "https://www.iana.org/assignments/media-types/";

/// True when the request asks for JSON-LD.
pub(super) fn wants_json_ld(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(JSON_LD))
}

/// `GET /catalog.jsonld`.
pub(super) async fn catalog(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    document(&state, &caller, &headers)
}

/// The DCAT-AP catalog `caller` may see.
pub(super) fn document(state: &AppState, caller: &Caller, headers: &HeaderMap) -> Response {
    let base = state.base_url(headers);
    let publisher = state
        .registry
        .settings()
        .server
        .publisher
        .clone()
        .unwrap_or_else(|| "Tessera".to_owned());
    let now = time::OffsetDateTime::now_utc();
    let datasets: Vec<J> = state
        .registry
        .catalog(caller)
        .iter()
        .map(|meta| dataset(meta, &base, &publisher, now))
        .collect();
    let body = json!({
        "@context": context(),
        "@id": format!("{base}/catalog"),
        "@type": "dcat:Catalog",
        "dct:title": { "@value": "Open city data", "@language": "en" },
        "dct:description": {
            "@value": "Layers served by Tessera: vector tiles, OGC API – Features and privacy-protected statistics",
            "@language": "en",
        },
        "dct:publisher": agent(&publisher),
        "foaf:homepage": { "@id": format!("{base}/") },
        "dcat:dataset": datasets,
    });
    ([(header::CONTENT_TYPE, JSON_LD)], axum::Json(body)).into_response()
}

fn context() -> J {
    json!({
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "locn": "http://www.w3.org/ns/locn#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "tessera": "urn:x-tessera:",
    })
}

fn agent(name: &str) -> J {
    json!({ "@type": "foaf:Agent", "foaf:name": name })
}

fn text(value: &str) -> J {
    json!({ "@value": value, "@language": "en" })
}

/// One layer as a `dcat:Dataset`.
fn dataset(meta: &LayerMeta, base: &str, publisher: &str, now: time::OffsetDateTime) -> J {
    let name = meta.name.as_str();
    let personal = meta.sensitivity == Sensitivity::Personal;
    let description = meta
        .description
        .clone()
        .unwrap_or_else(|| meta.title.clone());
    let mut d = json!({
        "@id": format!("{base}/catalog#{name}"),
        "@type": "dcat:Dataset",
        "dct:identifier": name,
        "dct:title": text(&meta.title),
        "dct:description": text(&description),
        "dct:publisher": agent(publisher),
        "dcat:theme": { "@id": format!("{THEME}{}", if meta.time_field.is_some() { "TRAN" } else { "REGI" }) },
        "dcat:version": meta.version.to_string(),
        "dcat:distribution": distributions(meta, base),
        "tessera:sensitivity": meta.sensitivity,
        "tessera:overdue": overdue(meta, now),
    });
    if !meta.created_at.is_empty() {
        d["dct:modified"] = json!({ "@value": meta.created_at, "@type": "xsd:dateTime" });
    }
    if let Some(steward) = &meta.steward {
        d["dcat:contactPoint"] = json!({ "@type": "vcard:Organization", "vcard:fn": steward });
        d["tessera:steward"] = json!(steward);
    }
    if let Some(frequency) = meta.update_frequency.as_deref().and_then(frequency_code) {
        d["dct:accrualPeriodicity"] = json!({ "@id": format!("{FREQUENCY}{frequency}") });
    }
    if let Some(b) = meta.bbox {
        let wkt = format!(
            "POLYGON(({0} {1},{2} {1},{2} {3},{0} {3},{0} {1}))",
            b.min_x, b.min_y, b.max_x, b.max_y
        );
        d["dct:spatial"] = json!({
            "@type": "dct:Location",
            "dcat:bbox": { "@value": wkt, "@type": "http://www.opengis.net/ont/geosparql#wktLiteral" },
        });
    }
    if personal {
        d["dct:accessRights"] =
            text("personal data: served only as differentially private statistics");
    }
    d
}

/// The distributions of a layer: what a client can fetch.
fn distributions(meta: &LayerMeta, base: &str) -> Vec<J> {
    let name = meta.name.as_str();
    let license = meta.license.as_deref().map(license_iri);
    let one = |path: String, title: &str, media: &str| {
        let mut d = json!({
            "@type": "dcat:Distribution",
            "dcat:accessURL": { "@id": format!("{base}{path}") },
            "dct:title": text(title),
            "dcat:mediaType": { "@id": format!("{MEDIA_TYPE}{media}") },
        });
        if let Some(license) = &license {
            d["dct:license"] = json!({ "@id": license });
        }
        d
    };
    if meta.sensitivity == Sensitivity::Personal {
        return vec![
            one(
                format!("/heatmap/{name}.geojson"),
                "Differentially private H3 heatmap",
                "application/geo+json",
            ),
            one(
                format!("/heatmap/{name}/{{z}}/{{x}}/{{y}}.mvt"),
                "Differentially private heatmap tiles",
                "application/vnd.mapbox-vector-tile",
            ),
        ];
    }
    vec![
        one(
            format!("/collections/{name}/items"),
            "Features (OGC API – Features, GeoJSON)",
            "application/geo+json",
        ),
        one(
            format!("/tiles/{name}"),
            "Vector tiles (TileJSON 3.0.0)",
            "application/json",
        ),
    ]
}

/// A licence as an IRI: URLs as given, SPDX ids on spdx.org.
fn license_iri(license: &str) -> String {
    if license.starts_with("http://") || license.starts_with("https://") {
        license.to_owned()
    } else {
        format!("https://spdx.org/licenses/{license}")
    }
}

/// The EU frequency vocabulary code of an update frequency, and its period in days.
fn frequency(text: &str) -> Option<(&'static str, i64)> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "daily" => ("DAILY", 1),
        "weekly" => ("WEEKLY", 7),
        "monthly" => ("MONTHLY", 31),
        "quarterly" => ("QUARTERLY", 92),
        "yearly" | "annual" | "annually" => ("ANNUAL", 366),
        _ => return None,
    })
}

fn frequency_code(text: &str) -> Option<&'static str> {
    frequency(text).map(|f| f.0)
}

/// True when the served version is older than the declared update frequency allows.
fn overdue(meta: &LayerMeta, now: time::OffsetDateTime) -> bool {
    let Some((_, days)) = meta.update_frequency.as_deref().and_then(frequency) else {
        return false;
    };
    time::OffsetDateTime::parse(
        &meta.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .is_ok_and(|created| now - created > time::Duration::days(days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LayerName, Schema};

    #[test]
    fn a_version_older_than_its_frequency_is_overdue() {
        let mut meta = LayerMeta::in_memory(
            LayerName::new("parcels").expect("name"),
            Schema::default(),
            1,
        );
        meta.created_at = "2026-11-01T00:00:00Z".into();
        let now = time::macros::datetime!(2026-12-03 12:00 UTC);
        meta.update_frequency = Some("monthly".into());
        assert!(overdue(&meta, now), "33 days after a monthly update");
        meta.update_frequency = Some("yearly".into());
        assert!(!overdue(&meta, now));
        meta.update_frequency = Some("whenever".into());
        assert!(
            !overdue(&meta, now),
            "an unknown frequency is never overdue"
        );
        assert_eq!(frequency_code("Weekly"), Some("WEEKLY"));
        assert_eq!(license_iri("CC0-1.0"), "https://spdx.org/licenses/CC0-1.0");
    }
}
