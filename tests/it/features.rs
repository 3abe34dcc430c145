//! OGC API – Features responses checked against brute-force filters of the source.

use std::collections::BTreeSet;

use geo::Intersects as _;
use tessera::model::{Bbox, Value};

use crate::support::TestServer;

#[tokio::test]
async fn bbox_counts_match_brute_force() {
    let (server, parcels, _) = TestServer::demo().await;
    for bbox in [
        Bbox::new(2.165, 41.385, 2.170, 41.390),
        Bbox::new(2.150, 41.370, 2.160, 41.380),
        Bbox::new(2.1700, 41.3900, 2.1701, 41.3901),
        Bbox::new(0.0, 0.0, 1.0, 1.0),
    ] {
        let rect = bbox.to_rect();
        let expected: BTreeSet<u64> = parcels
            .features
            .iter()
            .filter(|f| f.geometry.intersects(&rect))
            .map(|f| f.id)
            .collect();
        let path = format!(
            "/collections/parcels/items?bbox={},{},{},{}&limit=10000",
            bbox.min_x, bbox.min_y, bbox.max_x, bbox.max_y
        );
        let resp = server.get(&path).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/geo+json");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["type"], "FeatureCollection");
        assert_eq!(body["numberMatched"], expected.len(), "{path}");
        assert_eq!(body["numberReturned"], expected.len(), "{path}");
        let got: BTreeSet<u64> = body["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| f["id"].as_u64().expect("id"))
            .collect();
        assert_eq!(got, expected, "{path}");
    }
}

#[tokio::test]
async fn paging_walks_every_feature_once() {
    let (server, parcels, _) = TestServer::demo().await;
    let mut url = format!(
        "{}/collections/parcels/items?land_use=RES&limit=333",
        server.base
    );
    let field = parcels.schema.position("land_use").expect("field");
    let expected: Vec<u64> = parcels
        .features
        .iter()
        .filter(|f| f.properties[field] == Value::String("RES".into()))
        .map(|f| f.id)
        .collect();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let body: serde_json::Value = server
            .client
            .get(&url)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(body["numberMatched"], expected.len());
        for f in body["features"].as_array().expect("features") {
            assert_eq!(f["properties"]["land_use"], "RES");
            seen.push(f["id"].as_u64().expect("id"));
        }
        pages += 1;
        let links = body["links"].as_array().expect("links");
        if pages > 1 {
            assert!(links.iter().any(|l| l["rel"] == "prev"));
        }
        match links.iter().find(|l| l["rel"] == "next") {
            Some(next) => url = next["href"].as_str().expect("href").to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, expected.len().div_ceil(333));
    assert_eq!(
        seen, expected,
        "every matching feature exactly once, in order"
    );
}

#[tokio::test]
async fn single_feature_and_properties_round_trip() {
    let (server, parcels, _) = TestServer::demo().await;
    let source = &parcels.features[41];
    let (status, body) = server
        .get_json(&format!("/collections/parcels/items/{}", source.id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], source.id);
    for (field, value) in parcels.schema.fields.iter().zip(&source.properties) {
        assert_eq!(
            body["properties"][&field.name],
            serde_json::to_value(value).expect("json"),
            "{}",
            field.name
        );
    }
    let geometry: geojson::Geometry =
        serde_json::from_value(body["geometry"].clone()).expect("geometry");
    let geometry: geo_types::Geometry<f64> = geometry.try_into().expect("geo");
    assert_eq!(geometry, source.geometry);
    let (status, _) = server.get_json("/collections/parcels/items/999999").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_requests_are_400_with_json() {
    let (server, _, _) = TestServer::demo().await;
    for bad in [
        "/collections/parcels/items?bbox=1,2,3",
        "/collections/parcels/items?bbox=3,0,1,1",
        "/collections/parcels/items?limit=0",
        "/collections/parcels/items?offset=-4",
        "/collections/parcels/items?floors=many",
        "/collections/parcels/items?no_such_field=1",
    ] {
        let (status, body) = server.get_json(bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            body["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{bad}"
        );
    }
    let (status, _) = server.get_json("/collections/nope/items").await;
    assert_eq!(status, 404);
    let (status, _) = server.get_json("/no/such/path").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn landing_conformance_and_collections() {
    let (server, parcels, _) = TestServer::demo().await;
    let (status, landing) = server.get_json("/").await;
    assert_eq!(status, 200);
    let rels: Vec<&str> = landing["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter_map(|l| l["rel"].as_str())
        .collect();
    assert!(rels.contains(&"conformance") && rels.contains(&"data"));
    assert!(rels.contains(&"service-desc"));
    let resp = server.get("/api").await;
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.oai.openapi+json;version=3.0"
    );
    let api: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(api["openapi"], "3.0.3");
    let items = &api["paths"]["/collections/{collectionId}/items"]["get"];
    let params: Vec<&str> = items["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        params.contains(&"bbox") && params.contains(&"land_use"),
        "{params:?}"
    );
    let (_, conf) = server.get_json("/conformance").await;
    assert!(
        conf["conformsTo"]
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c
                .as_str()
                .is_some_and(|c| c.ends_with("ogcapi-features-1/1.0/conf/core")))
    );
    let (_, cols) = server.get_json("/collections").await;
    let ids: Vec<&str> = cols["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["assets", "parcels"]);
    let (_, col) = server.get_json("/collections/parcels").await;
    assert_eq!(col["featureCount"], parcels.features.len());
    let (_, schema) = server.get_json("/collections/parcels/schema").await;
    assert_eq!(schema["properties"]["floors"]["type"][0], "integer");
}

#[tokio::test]
async fn viewer_styles_and_assets_are_served() {
    let (server, _, _) = TestServer::demo().await;
    let page = server
        .client
        .get(format!("{}/", server.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("/assets/maplibre-gl.js")
    );
    let js = server.get("/assets/maplibre-gl.js").await;
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.expect("js").len() > 500_000);
    let (status, list) = server.get_json("/styles").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["styles"]
        .as_array()
        .expect("styles")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["parcels", "zones", "assets", "pings"]);
    let (status, style) = server.get_json("/styles/parcels.json").await;
    assert_eq!(status, 200);
    assert_eq!(
        style["sources"]["parcels"]["url"],
        format!("{}/tiles/parcels", server.base)
    );
    let (status, _) = server.get_json("/styles/nope.json").await;
    assert_eq!(status, 404);
}
