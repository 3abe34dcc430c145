//! Reading a CRS from WKT: a small WKT tree, the three-step resolution of
//! [`Crs::from_wkt`](super::Crs::from_wkt), and the ESRI-to-OGC rewrites `proj4wkt` needs.
//!
//! May import: nothing from the crate.

use std::fmt::{self, Write as _};

use super::{Crs, CrsError, Result, engine, names, quote};

/// Longest WKT accepted. A `.prj` file holds a few hundred bytes; anything much larger is not
/// a CRS, and the parser allocates in proportion to its input.
const MAX_WKT_LEN: usize = 64 * 1024;

/// Deepest nesting accepted. Real CRS WKT nests six levels at most (`COMPD_CS > PROJCS >
/// GEOGCS > DATUM > SPHEROID > AUTHORITY`); the bound keeps the recursive parser's stack
/// small on hostile input.
const MAX_DEPTH: usize = 16;

/// Relative difference under which two linear units are the same (ESRI writes the US survey
/// foot as `0.3048006096012192`, PROJ as `1200/3937`).
const UNIT_TOLERANCE: f64 = 1e-9;

/// Resolves a CRS from WKT: authority, then name, then conversion.
pub(super) fn resolve(wkt: &str) -> Result<Crs> {
    let fail = |reason: String| CrsError::Wkt {
        excerpt: quote(wkt.trim()),
        reason,
    };
    if wkt.len() > MAX_WKT_LEN {
        return Err(fail(format!("longer than {MAX_WKT_LEN} bytes")));
    }
    let root = parse(wkt).map_err(fail)?;
    let crs = horizontal_part(&root).map_err(fail)?;
    let kind = kind_of(crs).map_err(fail)?;
    if let Some(found) = crs
        .epsg_authority()
        .and_then(|code| Crs::from_epsg(code).ok())
    {
        return Ok(found);
    }
    let by_name = crs
        .name()
        .and_then(|name| names::lookup(kind, name))
        .and_then(|code| Crs::from_epsg(code).ok())
        .filter(|found| same_linear_unit(crs, found));
    if let Some(found) = by_name {
        return Ok(found);
    }
    let proj = convert(crs).map_err(fail)?;
    Crs::checked(None, proj, quote(crs.name().unwrap_or("unnamed WKT CRS")))
}

/// Converts the WKT parameters to a proj string with `proj4wkt`.
fn convert(crs: &Node) -> std::result::Result<String, String> {
    let mut ogc = crs.clone();
    esri_to_ogc(&mut ogc);
    let mut proj = proj4wkt::wkt_to_projstring(&ogc.to_string()).map_err(|e| e.to_string())?;
    // proj4wkt ignores PRIMEM.
    if let Some(pm) = prime_meridian_degrees(crs).filter(|pm| *pm != 0.0) {
        write!(proj, " +pm={pm}").map_err(|e| e.to_string())?;
    }
    Ok(proj)
}

/// The prime meridian of the CRS's geographic base, in degrees: WKT1 gives it in the unit of
/// the `GEOGCS`, WKT2 in the `ANGLEUNIT` of the `PRIMEM`; both default to degrees.
fn prime_meridian_degrees(crs: &Node) -> Option<f64> {
    let geographic = if kind_of(crs) == Ok(names::Kind::Geographic) {
        crs
    } else {
        ["GEOGCS", "BASEGEOGCRS", "BASEGEODCRS"]
            .iter()
            .find_map(|k| crs.child(k))?
    };
    let primem = geographic.child("PRIMEM")?;
    let value: f64 = match primem.items.get(1)? {
        Item::Atom(v) => v.parse().ok()?,
        _ => return None,
    };
    let radians_per_unit = primem
        .child("ANGLEUNIT")
        .or_else(|| geographic.child("UNIT"))
        .and_then(Node::unit_factor)
        .unwrap_or(1.0_f64.to_radians());
    Some((value * radians_per_unit).to_degrees())
}

/// Rewrites ESRI projection and parameter names into the OGC WKT1 names `proj4wkt` knows,
/// as GDAL's `morphFromESRI` does, for the projections `proj4rs` implements.
fn esri_to_ogc(crs: &mut Node) {
    let Some(method) = crs
        .child("PROJECTION")
        .and_then(Node::name)
        .map(str::to_ascii_lowercase)
    else {
        return;
    };
    let has_sp2 = crs.children("PARAMETER").any(|p| {
        p.name()
            .is_some_and(|n| n.eq_ignore_ascii_case("Standard_Parallel_2"))
    });
    let renamed = match method.as_str() {
        "lambert_conformal_conic" if has_sp2 => Some("Lambert_Conformal_Conic_2SP"),
        "lambert_conformal_conic" => Some("Lambert_Conformal_Conic_1SP"),
        "gauss_kruger" => Some("Transverse_Mercator"),
        "double_stereographic" => Some("Oblique_Stereographic"),
        "albers" => Some("Albers_Conic_Equal_Area"),
        "mercator" => Some("Mercator_2SP"),
        _ => None,
    };
    if let Some(ogc) = renamed
        && let Some(name) = crs.child_mut("PROJECTION").and_then(Node::name_mut)
    {
        ogc.clone_into(name);
    }
    // ESRI names the centre of these two like a natural origin.
    if matches!(method.as_str(), "albers" | "lambert_azimuthal_equal_area") {
        rename_centre_parameters(crs);
    }
}

/// `Central_Meridian` / `Latitude_Of_Origin` to `longitude_of_center` / `latitude_of_center`.
fn rename_centre_parameters(crs: &mut Node) {
    for param in crs.children_mut("PARAMETER") {
        if let Some(name) = param.name_mut() {
            if name.eq_ignore_ascii_case("Central_Meridian") {
                "longitude_of_center".clone_into(name);
            } else if name.eq_ignore_ascii_case("Latitude_Of_Origin") {
                "latitude_of_center".clone_into(name);
            }
        }
    }
}

/// Whether a name-matched EPSG CRS has the linear unit the WKT declares, so that a name
/// match cannot silently turn feet into metres.
fn same_linear_unit(wkt: &Node, found: &Crs) -> bool {
    if !wkt.keyword.eq_ignore_ascii_case("PROJCS") {
        return true;
    }
    let Some(factor) = wkt.child("UNIT").and_then(Node::unit_factor) else {
        return true;
    };
    engine::build(found.proj_string())
        .is_ok_and(|p| ((p.to_meter() - factor) / factor).abs() < UNIT_TOLERANCE)
}

/// The projected or geographic CRS inside a compound one, or the CRS itself.
fn horizontal_part(root: &Node) -> std::result::Result<&Node, String> {
    if !matches!(
        root.keyword.to_ascii_uppercase().as_str(),
        "COMPD_CS" | "COMPOUNDCRS"
    ) {
        return Ok(root);
    }
    root.nodes().find(|n| kind_of(n).is_ok()).ok_or_else(|| {
        format!(
            "compound CRS {:?} has no horizontal part",
            root.name().unwrap_or("")
        )
    })
}

/// Whether a WKT node is a projected or a geographic CRS.
fn kind_of(crs: &Node) -> std::result::Result<names::Kind, String> {
    match crs.keyword.to_ascii_uppercase().as_str() {
        "PROJCS" | "PROJCRS" | "PROJECTEDCRS" => Ok(names::Kind::Projected),
        "GEOGCS" | "GEOGCRS" | "GEOGRAPHICCRS" | "GEODCRS" => Ok(names::Kind::Geographic),
        other => Err(format!("{other} is not a projected or geographic CRS")),
    }
}

// ---------------------------------------------------------------------------------------
// The WKT tree
// ---------------------------------------------------------------------------------------

/// One element of a WKT bracket list.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// `KEYWORD[...]`.
    Node(Node),
    /// A quoted string, unescaped.
    Text(String),
    /// A number or an enumeration value such as `EAST`.
    Atom(String),
}

/// `KEYWORD[item, item, ...]`.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    keyword: String,
    items: Vec<Item>,
}

impl Node {
    /// The first item when it is a string: the name of a CRS, datum, unit or parameter.
    fn name(&self) -> Option<&str> {
        match self.items.first() {
            Some(Item::Text(t)) => Some(t),
            _ => None,
        }
    }

    fn name_mut(&mut self) -> Option<&mut String> {
        match self.items.first_mut() {
            Some(Item::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The direct child nodes.
    fn nodes(&self) -> impl Iterator<Item = &Self> {
        self.items.iter().filter_map(|item| match item {
            Item::Node(n) => Some(n),
            _ => None,
        })
    }

    /// The direct children with a given keyword.
    fn children<'a>(&'a self, keyword: &str) -> impl Iterator<Item = &'a Self> {
        self.nodes()
            .filter(move |n| n.keyword.eq_ignore_ascii_case(keyword))
    }

    fn children_mut<'a>(&'a mut self, keyword: &str) -> impl Iterator<Item = &'a mut Self> {
        self.items.iter_mut().filter_map(move |item| match item {
            Item::Node(n) if n.keyword.eq_ignore_ascii_case(keyword) => Some(n),
            _ => None,
        })
    }

    fn child(&self, keyword: &str) -> Option<&Self> {
        self.children(keyword).next()
    }

    fn child_mut(&mut self, keyword: &str) -> Option<&mut Self> {
        self.children_mut(keyword).next()
    }

    /// The code of a direct `AUTHORITY["EPSG", "code"]` (WKT1) or `ID["EPSG", code]` (WKT2).
    fn epsg_authority(&self) -> Option<u32> {
        self.nodes()
            .filter(|n| {
                ["AUTHORITY", "ID"]
                    .iter()
                    .any(|k| n.keyword.eq_ignore_ascii_case(k))
            })
            .find(|n| {
                n.name()
                    .is_some_and(|auth| auth.eq_ignore_ascii_case("EPSG"))
            })
            .and_then(|n| match n.items.get(1) {
                Some(Item::Text(code) | Item::Atom(code)) => code.trim().parse().ok(),
                _ => None,
            })
    }

    /// The conversion factor of a `UNIT["name", factor]` node.
    fn unit_factor(&self) -> Option<f64> {
        match self.items.get(1) {
            Some(Item::Atom(f)) => f.parse().ok().filter(|f: &f64| f.is_finite() && *f > 0.0),
            _ => None,
        }
    }
}

/// Writes the node back as WKT.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.keyword)?;
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            match item {
                Item::Node(n) => write!(f, "{n}")?,
                Item::Text(t) => write!(f, "\"{}\"", t.replace('"', "\"\""))?,
                Item::Atom(a) => f.write_str(a)?,
            }
        }
        f.write_char(']')
    }
}

/// Parses one WKT node spanning the whole input (surrounding whitespace allowed).
fn parse(wkt: &str) -> std::result::Result<Node, String> {
    // Some editors save .prj files with a UTF-8 byte order mark.
    let mut parser = Parser {
        rest: wkt.trim_start_matches('\u{feff}').trim_start(),
    };
    let token = parser.token();
    let root = parser.node(token, 0)?;
    if parser.rest.trim().trim_end_matches('\0').is_empty() {
        Ok(root)
    } else {
        Err(format!(
            "unexpected text after the CRS: {}",
            quote(parser.rest.trim())
        ))
    }
}

/// A recursive-descent WKT parser over the remaining input.
struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    /// A keyword, number or enumeration value: everything up to a delimiter.
    fn token(&mut self) -> String {
        let end = self
            .rest
            .find([',', '[', ']', '(', ')', '"'])
            .unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token.trim().to_owned()
    }

    /// The next non-blank character, without consuming it.
    fn peek(&mut self) -> Option<char> {
        self.rest = self.rest.trim_start();
        self.rest.chars().next()
    }

    fn bump(&mut self) {
        let mut chars = self.rest.chars();
        chars.next();
        self.rest = chars.as_str();
    }

    /// The bracket list of a node whose keyword has been read.
    fn node(&mut self, keyword: String, depth: usize) -> std::result::Result<Node, String> {
        if depth >= MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        if keyword.is_empty()
            || !keyword
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "expected a WKT keyword, found {:?}",
                quote(&keyword)
            ));
        }
        let close = match self.peek() {
            Some('[') => ']',
            Some('(') => ')',
            _ => return Err(format!("expected '[' after {keyword}")),
        };
        self.bump();
        let mut items = Vec::new();
        loop {
            items.push(self.item(depth)?);
            match self.peek() {
                Some(',') => self.bump(),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(Node { keyword, items });
                }
                _ => return Err(format!("unterminated or malformed {keyword}[...]")),
            }
        }
    }

    fn item(&mut self, depth: usize) -> std::result::Result<Item, String> {
        if self.peek() == Some('"') {
            self.bump();
            return self.text().map(Item::Text);
        }
        let token = self.token();
        if matches!(self.peek(), Some('[' | '(')) {
            return self.node(token, depth + 1).map(Item::Node);
        }
        if token.is_empty() {
            return Err("empty value in a WKT list".to_owned());
        }
        Ok(Item::Atom(token))
    }

    /// A quoted string after its opening quote; `""` stands for one quote.
    fn text(&mut self) -> std::result::Result<String, String> {
        let mut text = String::new();
        loop {
            let end = self.rest.find('"').ok_or("unterminated string")?;
            text.push_str(&self.rest[..end]);
            self.rest = &self.rest[end + 1..];
            if self.rest.starts_with('"') {
                text.push('"');
                self.rest = &self.rest[1..];
            } else {
                return Ok(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crs::test_data::{
        ESRI_ETRS89_UTM31N, ESRI_LAMBERT93, ESRI_LCC_1SP_PARIS, ESRI_NY_LONG_ISLAND_FT,
        WKT2_LAMBERT93,
    };

    /// OGC WKT1 of EPSG:2154, with its top-level AUTHORITY; identical to
    /// `projinfo -o WKT1_GDAL --single-line EPSG:2154` (PROJ 9.1.1).
    const OGC_LAMBERT93: &str = r#"PROJCS["RGF93 v1 / Lambert-93",GEOGCS["RGF93 v1",DATUM["Reseau_Geodesique_Francais_1993_v1",SPHEROID["GRS 1980",6378137,298.257222101,AUTHORITY["EPSG","7019"]],AUTHORITY["EPSG","6171"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4171"]],PROJECTION["Lambert_Conformal_Conic_2SP"],PARAMETER["latitude_of_origin",46.5],PARAMETER["central_meridian",3],PARAMETER["standard_parallel_1",49],PARAMETER["standard_parallel_2",44],PARAMETER["false_easting",700000],PARAMETER["false_northing",6600000],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],AUTHORITY["EPSG","2154"]]"#;

    #[test]
    fn ogc_wkt_resolves_through_its_authority() {
        // Under a name no table entry has, only the AUTHORITY can find the code.
        let renamed = OGC_LAMBERT93.replace("RGF93 v1 / Lambert-93", "Lambert-93 (local copy)");
        let crs = Crs::from_wkt(&renamed).expect("valid WKT");
        assert_eq!(crs.epsg(), Some(2154));
    }

    #[test]
    fn wkt2_resolves_through_its_id_or_converts() {
        assert_eq!(
            Crs::from_wkt(WKT2_LAMBERT93).expect("valid").epsg(),
            Some(2154)
        );
        let anonymous = WKT2_LAMBERT93
            .replace(r#",ID["EPSG",2154]]"#, "]")
            .replace("RGF93 v1 / Lambert-93", "Lambert-93 (local copy)");
        let crs = Crs::from_wkt(&anonymous).expect("convertible");
        assert_eq!(crs.epsg(), None);
        assert!(
            crs.proj_string().contains("+lat_2=44"),
            "{}",
            crs.proj_string()
        );
    }

    #[test]
    fn nested_authorities_do_not_count() {
        // Without its top-level AUTHORITY, the GEOGCS's AUTHORITY["EPSG","4171"] must not
        // turn Lambert-93 into geographic RGF93.
        let without = OGC_LAMBERT93
            .replace(r#",AUTHORITY["EPSG","2154"]"#, "")
            .replace("RGF93 v1 / Lambert-93", "Lambert-93 (local copy)");
        let crs = Crs::from_wkt(&without).expect("convertible");
        assert_eq!(crs.epsg(), None);
        assert!(
            crs.proj_string().contains("+proj=lcc"),
            "{}",
            crs.proj_string()
        );
    }

    #[test]
    fn esri_utm_31n_resolves_by_name() {
        let crs = Crs::from_wkt(ESRI_ETRS89_UTM31N).expect("valid .prj");
        assert_eq!(crs.epsg(), Some(25831));
    }

    #[test]
    fn prj_file_decorations_are_tolerated() {
        let decorated = format!("\u{feff}{ESRI_ETRS89_UTM31N}\r\n");
        assert_eq!(
            Crs::from_wkt(&decorated).expect("valid .prj").epsg(),
            Some(25831)
        );
    }

    #[test]
    fn esri_lambert93_resolves_by_name() {
        let crs = Crs::from_wkt(ESRI_LAMBERT93).expect("valid .prj");
        assert_eq!(crs.epsg(), Some(2154));
    }

    #[test]
    fn esri_state_plane_feet_resolves_by_name() {
        let crs = Crs::from_wkt(ESRI_NY_LONG_ISLAND_FT).expect("valid .prj");
        assert_eq!(crs.epsg(), Some(2263));
    }

    #[test]
    fn esri_geographic_names_resolve() {
        let wgs84 = r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
        assert!(Crs::from_wkt(wgs84).expect("valid").is_wgs84());
        let etrs89 = r#"GEOGCS["GCS_ETRS_1989",DATUM["D_ETRS_1989",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
        assert_eq!(Crs::from_wkt(etrs89).expect("valid").epsg(), Some(4258));
    }

    #[test]
    fn unknown_name_falls_back_to_conversion() {
        let renamed = ESRI_LAMBERT93.replace("RGF_1993_Lambert_93", "Town_Survey_Grid");
        let crs = Crs::from_wkt(&renamed).expect("convertible");
        assert_eq!(crs.epsg(), None);
        assert_eq!(crs.name(), "Town_Survey_Grid");
        let proj = crs.proj_string();
        for part in [
            "+proj=lcc",
            "+lat_1=49",
            "+lat_2=44",
            "+lat_0=46.5",
            "+x_0=700000",
        ] {
            assert!(proj.contains(part), "{part} missing from {proj}");
        }
    }

    #[test]
    fn a_name_match_with_other_units_is_not_trusted() {
        // Same name as EPSG:2263 (US feet) but declared in metres: the name must not win.
        let metres = ESRI_NY_LONG_ISLAND_FT
            .replace(
                r#"UNIT["Foot_US",0.3048006096012192]"#,
                r#"UNIT["Meter",1.0]"#,
            )
            .replace("984250.0", "300000.0");
        let crs = Crs::from_wkt(&metres).expect("convertible");
        assert_eq!(crs.epsg(), None);
        assert!(
            crs.proj_string().contains("+units=m"),
            "{}",
            crs.proj_string()
        );
    }

    #[test]
    fn esri_lcc_1sp_with_paris_meridian_converts() {
        let crs = Crs::from_wkt(ESRI_LCC_1SP_PARIS).expect("convertible");
        let proj = crs.proj_string();
        for part in [
            "+proj=lcc",
            "+lat_1=46.8",
            "+k_0=0.99987742",
            "+pm=2.33722917",
        ] {
            assert!(proj.contains(part), "{part} missing from {proj}");
        }
    }

    #[test]
    fn compound_crs_uses_its_horizontal_part() {
        let compound = format!(
            r#"COMPD_CS["Lambert-93 + NGF-IGN69 height",{OGC_LAMBERT93},VERT_CS["NGF-IGN69 height",VERT_DATUM["Nivellement General de la France - IGN69",2005],UNIT["metre",1],AXIS["Gravity-related height",UP]]]"#
        );
        assert_eq!(Crs::from_wkt(&compound).expect("valid").epsg(), Some(2154));
    }

    #[test]
    fn malformed_wkt_is_refused_with_its_start_quoted() {
        for bad in [
            "",
            "hello",
            r#"PROJCS["unterminated"#,
            r#"PROJCS["x",GEOGCS["y"]"#,
            r#"PROJCS["x"] trailing"#,
            r#"VERT_CS["NAVD88 height",VERT_DATUM["North American Vertical Datum 1988",2005]]"#,
            r#"PROJCS["x",GEOGCS["y",DATUM["z",SPHEROID["s",6378137,298.3]]],PROJECTION["Cassini_Soldner"]]"#,
        ] {
            let err = Crs::from_wkt(bad).expect_err(bad);
            assert!(matches!(err, CrsError::Wkt { .. }), "{bad}: {err:?}");
            assert!(
                err.to_string().starts_with("cannot interpret .prj WKT"),
                "{err}"
            );
        }
    }

    #[test]
    fn hostile_wkt_is_bounded() {
        let deep = format!("{}{}", "A[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(Crs::from_wkt(&deep), Err(CrsError::Wkt { .. })));
        let long = format!(r#"PROJCS["{}"]"#, "x".repeat(MAX_WKT_LEN));
        assert!(matches!(Crs::from_wkt(&long), Err(CrsError::Wkt { .. })));
    }

    #[test]
    fn tree_round_trips_through_display() {
        let root = parse(ESRI_LAMBERT93).expect("valid");
        assert_eq!(root.to_string(), ESRI_LAMBERT93);
        let quoted = parse(r#"A["say ""hi""",1,EAST]"#).expect("valid");
        assert_eq!(quoted.name(), Some(r#"say "hi""#));
        assert_eq!(quoted.to_string(), r#"A["say ""hi""",1,EAST]"#);
    }
}
