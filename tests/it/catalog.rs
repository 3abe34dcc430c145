//! The catalog as DCAT-AP 3 JSON-LD: every dataset with the mandatory and recommended
//! properties, personal ones without their records.

use serde_json::Value as J;

use crate::support::TestServer;

/// Properties DCAT-AP 3 requires (mandatory) or recommends of a dataset, all of which
/// Tessera fills for the demo layers.
const DATASET_PROPERTIES: &[&str] = &[
    "dct:title",
    "dct:description",
    "dct:publisher",
    "dcat:contactPoint",
    "dcat:distribution",
    "dcat:theme",
    "dct:spatial",
    "dct:accrualPeriodicity",
];

#[tokio::test]
async fn the_catalog_is_dcat_ap_json_ld_with_every_dataset_described() {
    let (server, _, _) = TestServer::demo().await;
    let resp = server.get("/catalog.jsonld").await;
    assert_eq!(resp.headers()["content-type"], "application/ld+json");
    let catalog: J = resp.json().await.expect("json");
    assert_eq!(catalog["@type"], "dcat:Catalog");
    for key in [
        "dct:title",
        "dct:description",
        "dct:publisher",
        "dcat:dataset",
    ] {
        assert!(!catalog[key].is_null(), "catalog {key}");
    }
    let datasets = catalog["dcat:dataset"].as_array().expect("datasets");
    assert_eq!(datasets.len(), 2, "the demo's parcels and assets");
    for d in datasets {
        assert_eq!(d["@type"], "dcat:Dataset");
        for key in [
            "dct:title",
            "dct:description",
            "dcat:distribution",
            "dct:publisher",
            "dcat:theme",
            "dct:spatial",
        ] {
            assert!(
                !d[key].is_null(),
                "{} lacks {key}: {d}",
                d["dct:identifier"]
            );
        }
        for dist in d["dcat:distribution"].as_array().expect("distributions") {
            assert!(
                dist["dcat:accessURL"]["@id"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("http"))
            );
            assert!(
                dist["dct:license"]["@id"]
                    .as_str()
                    .is_some_and(|u| u.contains("CC0-1.0"))
            );
        }
        assert_eq!(d["tessera:overdue"], false);
    }
    // The same document by content negotiation on /catalog.
    let negotiated: J = server
        .client
        .get(format!("{}/catalog", server.base))
        .header("accept", "application/ld+json")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(negotiated["dcat:dataset"], catalog["dcat:dataset"]);
}

/// The demo city as seeded (with catalog.json's stewards and frequencies): every
/// recommended property is filled, and personal layers point at statistics only.
#[tokio::test]
async fn demo_datasets_carry_every_recommended_property() {
    let tmp = tempfile::tempdir().expect("tempdir");
    tessera::ingest::seed::seed(
        &tessera::store::DataDir::open(tmp.path()).expect("open"),
        &crate::support::demo_dir(),
        &|_| tessera::model::Declared::default(),
    )
    .expect("seed");
    let server = TestServer::start(tmp).await;
    let (_, catalog) = server.get_json("/catalog.jsonld").await;
    let datasets = catalog["dcat:dataset"].as_array().expect("datasets");
    assert_eq!(datasets.len(), 5);
    for d in datasets {
        for key in DATASET_PROPERTIES {
            assert!(!d[*key].is_null(), "{} lacks {key}", d["dct:identifier"]);
        }
    }
    let pings = datasets
        .iter()
        .find(|d| d["dct:identifier"] == "pings")
        .expect("pings");
    assert_eq!(pings["tessera:sensitivity"], "personal");
    assert_eq!(
        pings["dct:accrualPeriodicity"]["@id"],
        "http://publications.europa.eu/resource/authority/frequency/DAILY"
    );
    for dist in pings["dcat:distribution"]
        .as_array()
        .expect("distributions")
    {
        let url = dist["dcat:accessURL"]["@id"].as_str().expect("url");
        assert!(url.contains("/heatmap/"), "{url}");
    }
}
