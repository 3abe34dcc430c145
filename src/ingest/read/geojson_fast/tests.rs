//! The fast path against the reference parser.

use super::*;
use crate::ingest::read::feature_at;

/// Both parsers' answers for `text`, errors as their full text.
fn both(parser: &mut FeatureParser, text: &str) -> (String, String) {
    let show = |r: Result<RawFeature, FeatureError>| match r {
        Ok(f) => format!("{f:?}"),
        Err(e) => e.at(std::path::Path::new("f"), feature_at(1)).reason(),
    };
    (
        show(parser.parse(text.as_bytes(), feature_at(1))),
        show(parse_feature(text.as_bytes(), feature_at(1))),
    )
}

#[test]
fn agrees_with_the_reference_parser() {
    let geometries = [
        r#"{"type":"Point","coordinates":[1,2]}"#,
        r#"{"coordinates":[1.5,-2e3,7],"type":"Point"}"#,
        r#"{"type":"Point","coordinates":[1]}"#,
        r#"{"type":"Point","coordinates":[]}"#,
        r#"{"type":"Point","coordinates":[[1,2]]}"#,
        r#"{"type":"Point","coordinates":null}"#,
        r#"{"type":"Point"}"#,
        r#"{"type":"Point","coordinates":[1,2],"bbox":[1,2,1,2]}"#,
        r#"{"type":"Point","coordinates":[1,2],"bbox":["a"]}"#,
        r#"{"type":"Point","coordinates":[1,2],"foo":{"bar":1}}"#,
        r#"{"type":"Point","coordinates":[1,"2"]}"#,
        r#"{"type":"Point","coordinates":[1,2],"type":"Point"}"#,
        r#"{"type":"Poi\u006et","coordinates":[1,2]}"#,
        r#"{"type":{"Point":null},"coordinates":[1,2]}"#,
        r#"{"type":"Pointy","coordinates":[1,2]}"#,
        r#"{"type":"MultiPoint","coordinates":[[1,2],[3,4,5]]}"#,
        r#"{"type":"MultiPoint","coordinates":[]}"#,
        r#"{"type":"LineString","coordinates":[[1,2],[3,4]]}"#,
        r#"{"type":"LineString","coordinates":[[1,2],[3]]}"#,
        r#"{"type":"LineString","coordinates":[[1,2],[]]}"#,
        r#"{"type":"LineString","coordinates":[[1,2],3]}"#,
        r#"{"type":"LineString","coordinates":[[[1,2]]]}"#,
        r#"{"type":"MultiLineString","coordinates":[[[1,2],[3,4]],[[5,6],[7,8]]]}"#,
        r#"{"type":"MultiLineString","coordinates":[[[1,2],[3,4]],[]]}"#,
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#,
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]],[[0.2,0.1],[0.8,0.1],[0.8,0.7]]]}"#,
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]],[[0.2,0.1],[0.8,0.1],[[1]]]]}"#,
        r#"{"type":"Polygon","coordinates":[]}"#,
        r#"{"type":"Polygon","coordinates":[[]]}"#,
        r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6]],[[5.1,5.1],[5.2,5.1],[5.2,5.2]]]]}"#,
        r#"{"type":"MultiPolygon","coordinates":[[[[[0,0]]]]]}"#,
        r#"{"type":"MultiPolygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#,
        r#"{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]}]}"#,
        r#"{"type":"Point","coordinates":[1,2],"geometries":[]}"#,
        r#"{"type":"Point","coordinates":[18446744073709551615,-9223372036854775808]}"#,
        r#"{"type":"Point","coordinates":[1e400,2]}"#,
        r#"{"type":"Point","coordinates":[-0,2]}"#,
        r#"[1,2]"#,
        "null",
    ];
    let properties = [
        r#"{"a":1,"b":"x","c":null,"d":true,"e":1.5}"#,
        r#"{"a":2,"b":"y","c":null,"d":false,"e":-1}"#,
        r#"{"a":2,"c":null,"d":false,"e":-1}"#,
        r#"{"a":2,"b":"y","c":null}"#,
        r#"{"a":2,"b":"y","c":null,"d":false,"e":-1,"f":0}"#,
        r#"{"b":"y","a":2}"#,
        r#"{"a":1,"a":2,"b":3}"#,
        r#"{"a\u0062":"\u00e9\n","":1}"#,
        r#"{"big":18446744073709551615,"neg":-9223372036854775808,"f":1e-5,"z":-0}"#,
        r#"{"arr":[1,"two",{"z":1,"y":[null]}],"obj":{"b":1,"a":2},"empty":{}}"#,
        r#"{"a":1,"b":}"#,
        r#"{"a":1e400}"#,
        "{}",
        "null",
        "[]",
        r#""text""#,
    ];
    let mut texts = Vec::new();
    for g in geometries {
        texts.push(format!(
            r#"{{"type":"Feature","geometry":{g},"properties":{{"k":1}}}}"#
        ));
        texts.push(g.to_owned());
    }
    for p in properties {
        texts.push(format!(
            r#"{{"properties":{p},"type":"Feature","geometry":{{"type":"Point","coordinates":[1,2]}}}}"#
        ));
    }
    texts.extend(
        [
            r#"{"type":"Feature","geometry":null,"properties":null}"#,
            r#"{"type":"Feature"}"#,
            r#"{"type":"Feature","id":7,"bbox":[0,0,1,1],"extra":{"x":[1,2]}}"#,
            r#"{"type":"Feature","geometry":null,"geometry":null}"#,
            r#"{"type":"Feature","properties":{},"properties":{}}"#,
            r#"{"type":"Feature","type":"Feature"}"#,
            r#"{"type":"FeatureCollection","features":[]}"#,
            r#"{"type":"Topology"}"#,
            r#"{"type":1}"#,
            r#"{"geometry":null}"#,
            r#"["Feature",null,{"a":1}]"#,
            r#"{"type":"Feature"} trailing"#,
            r#"{"type":"Feature"}   "#,
            r#"{"type":"Feature","geometry":[1,2]}"#,
            r#"{"type":"Feature","properties":{"a":1},"geometry":{"type":"Point","coordinates":[1,2]},"x":"#,
            "{\"type\":\"Feature\",\"x\":\"\u{0}\"}",
            "",
        ]
        .map(str::to_owned),
    );
    // One parser for all, so that the name lists it keeps are exercised too.
    let mut parser = FeatureParser::new();
    // What real files hold must not fall back.
    let common = [
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"k":1}}"#,
        r#"{"geometry":{"coordinates":[[[0,0],[1,0],[1,1],[0,0]]],"type":"Polygon"},"properties":{"a":1,"b":"x","c":null,"d":true,"e":1.5},"type":"Feature"}"#,
        r#"{"type":"Feature","id":"x","bbox":[0,0,1,1],"geometry":{"type":"MultiPolygon","bbox":[0,0,1,1],"coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]},"properties":{"o":{"b":[1]}}}"#,
        r#"{"type":"Feature","geometry":{"type":"MultiLineString","coordinates":[[[1,2,3],[3,4,5]]]},"properties":null}"#,
        r#"{"type":"Feature","geometry":null,"properties":{"a\u0062":"\u00e9"}}"#,
    ];
    texts.extend(common.map(str::to_owned));
    for text in common {
        assert!(parser.fast(text.as_bytes()).is_some(), "not fast: {text}");
    }
    for round in 0..2 {
        for text in &texts {
            let (fast, reference) = both(&mut parser, text);
            assert_eq!(fast, reference, "round {round}: {text}");
        }
    }
}

#[test]
fn features_with_the_same_names_share_them() {
    let mut parser = FeatureParser::new();
    let mut parse = |text: &str| {
        parser
            .parse(text.as_bytes(), feature_at(1))
            .expect("feature")
            .properties
    };
    let a = parse(r#"{"type":"Feature","properties":{"x":1,"y":2},"geometry":null}"#);
    let b = parse(r#"{"type":"Feature","properties":{"x":3},"geometry":null}"#);
    let c = parse(r#"{"type":"Feature","properties":{"x":4,"y":null},"geometry":null}"#);
    let d = parse(r#"{"type":"Feature","properties":{"x":5},"geometry":null}"#);
    assert!(a.names().same_list(c.names()));
    assert!(b.names().same_list(d.names()));
    assert_eq!(b, vec![("x".to_owned(), Value::Int(3))]);
}
