use std::path::Path;

use super::*;
use crate::model::{Declared, LayerMeta, Role, Sensitivity};

fn parse(text: &str) -> Result<(Settings, Vec<String>), ConfigError> {
    Settings::parse(text, Path::new("tessera.toml"))
}

fn name(s: &str) -> LayerName {
    LayerName::new(s).expect("valid name")
}

fn error(text: &str) -> String {
    parse(text).expect_err("config must be refused").to_string()
}

#[test]
fn shipped_config_parses_without_warnings_and_its_defaults_are_the_built_in_ones() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_FILE);
    let (settings, warnings) = Settings::load(&path).expect("shipped config");
    assert!(warnings.is_empty(), "{warnings:?}");
    // The file documents the defaults: an unconfigured layer gets exactly them.
    let layer = settings.layer(&name("not_configured"));
    let built_in = LayerSettings::default();
    assert_eq!(
        LayerSettings {
            privacy: built_in.privacy,
            ..layer.clone()
        },
        built_in
    );
    for sensitivity in [Sensitivity::Public, Sensitivity::Personal] {
        assert_eq!(
            layer.privacy.resolve(sensitivity),
            built_in.privacy.resolve(sensitivity)
        );
    }
    assert_eq!(settings.layer(&name("parcels")).min_zoom, 10);
    assert_eq!(
        settings.layer(&name("zones")).generalize.tiny_polygons,
        TinyPolygons::Point
    );
    assert_eq!(settings.server.tile_cache_mb, Some(256));
    assert_eq!(
        settings.limits,
        Some(Limits::default()),
        "[limits] spells out the defaults"
    );
    // The demo's personal layers are declared so, whatever a copy is ingested with.
    for layer in ["pings", "trips"] {
        let declared = &settings.layer(&name(layer)).declared;
        assert_eq!(declared.sensitivity, Some(Sensitivity::Personal), "{layer}");
        assert_eq!(declared.id_field.as_deref(), Some("device_id"), "{layer}");
    }
}

#[test]
fn no_config_means_the_documented_defaults() {
    let (settings, warnings) = parse("").expect("empty config");
    assert!(warnings.is_empty());
    let layer = settings.layer(&name("any"));
    assert_eq!((layer.min_zoom, layer.max_zoom), (0, MAX_ZOOM));
    assert_eq!(layer.budget.max_bytes, 500_000);
    assert_eq!(layer.budget.max_features, 200_000);
    assert_eq!(layer.cache.max_age_seconds, 60);
    assert!(layer.cache.server);
    assert!(layer.generalize.cluster.is_some());
    assert_eq!(layer.properties, None);
}

#[test]
fn a_layer_section_overrides_defaults_key_by_key() {
    let (settings, _) = parse(
        "[defaults.budget]\nmax_bytes = 100000\nmax_features = 500\n\
         [layers.parcels]\nbudget.max_features = 900\nproperties = [\"land_use\"]\n",
    )
    .expect("config");
    let parcels = settings.layer(&name("parcels"));
    assert_eq!(parcels.budget.max_bytes, 100_000);
    assert_eq!(parcels.budget.max_features, 900);
    assert_eq!(parcels.properties, Some(vec!["land_use".to_owned()]));
    let other = settings.layer(&name("zones"));
    assert_eq!(other.budget.max_features, 500);
    assert_eq!(other.properties, None);
}

#[test]
fn unknown_keys_are_warned_with_their_path() {
    let (_, warnings) = parse(
        "[server]\nlisten = \"127.0.0.1:9000\"\nlisen = 1\n\
         [layers.parcels]\nmin_zom = 3\n[layers.parcels.cluster]\ncells = 5\n",
    )
    .expect("unknown keys are not errors");
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    for key in [
        "server.lisen",
        "layers.parcels.min_zom",
        "layers.parcels.cluster.cells",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(key)),
            "{key} in {warnings:?}"
        );
    }
}

#[test]
fn syntax_and_type_errors_name_the_file_and_line() {
    let e = error("[server]\nlisten = \n");
    assert!(e.starts_with("tessera.toml:"), "{e}");
    assert!(e.contains("line 2"), "{e}");
    let e = error("[layers.parcels]\n\nmin_zoom = \"ten\"\n");
    assert!(e.contains("line 3"), "{e}");
    let e = error("[layers.zones.simplify]\ntiny_polygons = \"circle\"\n");
    assert!(e.contains("circle"), "{e}");
}

#[test]
fn out_of_range_values_name_their_key() {
    let cases = [
        (
            "[layers.a]\nmin_zoom = 12\nmax_zoom = 10\n",
            "layers.a.min_zoom",
        ),
        ("[layers.a]\nmax_zoom = 30\n", "layers.a.max_zoom"),
        (
            "[layers.a.budget]\nmax_bytes = 10\n",
            "layers.a.budget.max_bytes",
        ),
        (
            "[layers.a.budget]\nmax_features = 0\n",
            "layers.a.budget.max_features",
        ),
        (
            "[layers.a.simplify]\ntolerance = -1.0\n",
            "layers.a.simplify.tolerance",
        ),
        ("[layers.a.cluster]\ncell = 8\n", "layers.a.cluster.cell"),
        ("[layers.a.privacy]\nk = 0\n", "layers.a.privacy.k"),
        (
            "[layers.a.privacy]\nepsilon = 0.0\n",
            "layers.a.privacy.epsilon",
        ),
        (
            "[defaults.cache]\nmax_age_seconds = 99999999\n",
            "defaults.cache.max_age_seconds",
        ),
        ("[layers.\"Bad Name\"]\n", "layers.Bad Name"),
    ];
    for (text, key) in cases {
        let e = error(text);
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn clustering_can_be_turned_off() {
    let (settings, _) = parse("[layers.assets.cluster]\nenabled = false\n").expect("config");
    assert_eq!(settings.layer(&name("assets")).generalize.cluster, None);
}

#[test]
fn privacy_rules_resolve_with_the_layer_sensitivity() {
    let (settings, _) = parse(
        "[layers.pings.privacy]\nk = 25\nepsilon = 0.5\ndaily_epsilon = 2.0\n\
         [layers.counts.privacy]\nk = 3\n",
    )
    .expect("config");
    let pings = settings
        .layer(&name("pings"))
        .privacy
        .resolve(Sensitivity::Personal);
    assert_eq!(pings.min_k.map(|k| k.k()), Some(25));
    assert_eq!(pings.epsilon.map(Epsilon::get), Some(0.5));
    assert!((pings.daily_epsilon.get() - 2.0).abs() < f64::EPSILON);
    let counts = settings
        .layer(&name("counts"))
        .privacy
        .resolve(Sensitivity::Public);
    assert_eq!(counts.min_k.map(|k| k.k()), Some(3));
    // Unconfigured: personal layers get k = 10, public ones none.
    let other = settings.layer(&name("other")).privacy;
    assert_eq!(
        other.resolve(Sensitivity::Personal).min_k.map(|k| k.k()),
        Some(crate::analytics::privacy::DEFAULT_K)
    );
    assert_eq!(other.resolve(Sensitivity::Public).min_k, None);
    assert_eq!(other.resolve(Sensitivity::Public).epsilon, None);
}

#[test]
fn a_layer_declares_its_catalog_fields_which_win_over_the_stored_ones() {
    let (settings, warnings) = parse(
        "[layers.copy]\nsensitivity = \"personal\"\nid_field = \"device_id\"\n\
         time_field = \"ts\"\ntimezone = \"Europe/Madrid\"\n",
    )
    .expect("config");
    assert!(warnings.is_empty(), "{warnings:?}");
    let copy = settings.layer(&name("copy"));
    assert_eq!(
        copy.declared,
        Declared {
            sensitivity: Some(Sensitivity::Personal),
            id_field: Some("device_id".into()),
            time_field: Some("ts".into()),
            timezone: Some("Europe/Madrid".into()),
            catalog: crate::model::meta::DeclaredCatalog::default(),
        }
    );
    let mut stored = LayerMeta::in_memory(
        name("copy"),
        crate::model::Schema {
            fields: vec![crate::model::Field {
                name: "device_id".into(),
                field_type: crate::model::FieldType::String,
            }],
        },
        1,
    );
    let exact = crate::model::Bbox::new(2.166_606, 41.392_449, 2.166_606, 41.392_449);
    stored.bbox = Some(exact);
    let served = copy.declare(stored.clone());
    assert_eq!(served.sensitivity, Sensitivity::Personal);
    assert_eq!(served.id_field.as_deref(), Some("device_id"));
    assert_eq!(served.time_field.as_deref(), Some("ts"));
    assert_eq!(served.timezone.as_deref(), Some("Europe/Madrid"));
    assert_eq!(served.bbox, Some(exact.coarsened()));
    // A layer without declarations is served as stored.
    assert_eq!(
        settings.layer(&name("other")).declare(stored.clone()),
        stored
    );
    // Declarations are per layer: [defaults] does not pass them on, and refuses them.
    assert!(settings.layer(&name("other")).declared.is_empty());
    let e = error("[defaults]\nsensitivity = \"personal\"\n");
    assert!(e.contains("defaults.sensitivity"), "{e}");
    assert!(e.contains("[layers.NAME]"), "{e}");
}

#[test]
fn declared_values_are_checked() {
    let e = error("[layers.a]\nsensitivity = \"secret\"\n");
    assert!(e.contains("secret") && e.contains("line 2"), "{e}");
    assert!(e.contains("personal"), "{e}");
    let e = error("[layers.a]\ntimezone = \"Europe/Madird\"\n");
    assert!(e.contains("layers.a.timezone"), "{e}");
    assert!(e.contains("Europe/Madird"), "{e}");
    let e = error("[layers.a]\nid_field = \" \"\n");
    assert!(e.contains("layers.a.id_field"), "{e}");
    let (settings, _) = parse("[layers.a]\ntimezone = \"UTC\"\n").expect("UTC is a zone");
    assert_eq!(
        settings.layer(&name("a")).declared.timezone.as_deref(),
        Some("UTC")
    );
}

#[test]
fn limits_are_validated_with_their_key() {
    for (text, key) in [
        ("[limits]\npublic_rps = 0\n", "limits.public_rps"),
        (
            "[limits]\nheavy_concurrency = 0\n",
            "limits.heavy_concurrency",
        ),
        (
            "[limits]\nheavy_timeout_seconds = 0\n",
            "limits.heavy_timeout_seconds",
        ),
    ] {
        assert!(error(text).contains(key), "{text}: {}", error(text));
    }
    let (settings, _) = parse("[limits]\nanalyst_rps = 5\nburst_seconds = 3\n").expect("limits");
    let limits = settings.limits.expect("section");
    assert_eq!(
        limits.rate(Role::Analyst),
        Rate {
            per_second: 5.0,
            burst: 15.0
        }
    );
    assert_eq!(limits.rate(Role::Public).per_second, 200.0);
    assert!(parse("").expect("empty").0.limits.is_none());
}

#[test]
fn catalog_fields_declared_in_the_config_win_without_a_new_ingest() {
    let (settings, warnings) = parse(
        "[layers.parcels]\ntitle = \"Cadastre 2026\"\nlicense = \"CC-BY-4.0\"\nupdate_frequency = \"weekly\"\n",
    )
    .expect("config");
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut stored = LayerMeta::in_memory(name("parcels"), crate::model::Schema::default(), 1);
    stored.license = Some("CC0-1.0".into());
    stored.steward = Some("Cadastre office".into());
    let served = settings.layer(&name("parcels")).declare(stored);
    assert_eq!(served.title, "Cadastre 2026");
    assert_eq!(served.license.as_deref(), Some("CC-BY-4.0"));
    assert_eq!(served.update_frequency.as_deref(), Some("weekly"));
    assert_eq!(
        served.steward.as_deref(),
        Some("Cadastre office"),
        "undeclared fields stay"
    );
    assert!(error("[defaults]\ntitle = \"x\"\n").contains("defaults.title"));
}
