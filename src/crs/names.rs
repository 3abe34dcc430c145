//! Matching CRS names against the EPSG table, including the spellings of ESRI `.prj` files
//! (`ETRS_1989_UTM_Zone_31N` for `ETRS89 / UTM zone 31N`).
//!
//! May import: nothing from the crate.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::LazyLock;

/// Whether a CRS is projected or geographic; names only match within one kind, since a
/// geographic CRS and the projected CRSs built on it often share a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// `PROJCS`.
    Projected,
    /// `GEOGCS`.
    Geographic,
}

/// ESRI names that no spelling rule turns into their EPSG name.
const ESRI_ALIASES: &[(Kind, &str, u16)] = &[
    (
        Kind::Projected,
        "WGS_1984_Web_Mercator_Auxiliary_Sphere",
        3857,
    ),
    (Kind::Projected, "ETRS_1989_LAEA", 3035),
    (Kind::Projected, "ETRS_1989_LCC", 3034),
    (Kind::Projected, "British_National_Grid", 27700),
    (Kind::Geographic, "GCS_North_American_1983", 4269),
];

/// Normalised name to EPSG code, or `None` when CRSs that differ share the name.
type Index = HashMap<(Kind, String), Option<u16>>;

/// Built on first use from the whole table (a few milliseconds, a few hundred kB).
static INDEX: LazyLock<Index> = LazyLock::new(build_index);

/// The EPSG code of the CRS called `name`, in any spelling [`normalise`] reconciles.
pub(super) fn lookup(kind: Kind, name: &str) -> Option<u32> {
    INDEX
        .get(&(kind, normalise(name)))
        .copied()
        .flatten()
        .map(u32::from)
}

/// The name of an EPSG table entry: the first quoted string of its WKT.
pub(super) fn def_name(wkt: &str) -> Option<&str> {
    let start = wkt.find('"')? + 1;
    let len = wkt[start..].find('"')?;
    Some(&wkt[start..start + len])
}

fn build_index() -> Index {
    let mut index = Index::new();
    for code in 0..=u16::MAX {
        let Some(def) = crs_definitions::from_code(code) else {
            continue;
        };
        let Some((kind, name)) = indexable_name(&def) else {
            continue;
        };
        match index.entry((kind, normalise(name))) {
            Entry::Vacant(slot) => {
                slot.insert(Some(code));
            }
            Entry::Occupied(mut slot) => {
                // Codes come in ascending order: keep the lowest when the CRSs are the same.
                let first = slot.get().and_then(crs_definitions::from_code);
                if first.is_none_or(|first| first.proj4 != def.proj4) {
                    slot.insert(None);
                }
            }
        }
    }
    for &(kind, name, code) in ESRI_ALIASES {
        index.insert((kind, normalise(name)), Some(code));
    }
    index
}

/// The kind and name of a table entry worth matching. Some entries of the table carry a
/// placeholder WKT (`unnamed`, datum `unknown`) whose name is not the EPSG name.
fn indexable_name(def: &crs_definitions::Def) -> Option<(Kind, &'static str)> {
    let kind = if def.wkt.starts_with("PROJCS[") {
        Kind::Projected
    } else if def.wkt.starts_with("GEOGCS[") {
        Kind::Geographic
    } else {
        return None;
    };
    let name = def_name(def.wkt)?;
    let placeholder = name == "unnamed" || def.wkt.contains(r#"DATUM["unknown""#);
    (!placeholder && !def.proj4.is_empty()).then_some((kind, name))
}

/// A spelling-independent form of a CRS name, so that ESRI and EPSG names of one CRS agree.
///
/// Lower-cases and drops punctuation; writes years with two digits (`ETRS_1989` as
/// `ETRS89`); drops ESRI's `GCS_` prefix and the `v1` of `RGF93 v1`. In ESRI State Plane
/// names it drops `StatePlane` and `FIPS_nnnn`, writes `Feet` as `ftUS` and `Feet_Intl` as
/// `ft`, and zone numbers (`III`, `4`) as `zone 3`, `zone 4`.
pub(super) fn normalise(name: &str) -> String {
    let tokens: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let state_plane = tokens.iter().any(|t| t == "stateplane");
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        i += 1;
        match token.as_str() {
            "gcs" if i == 1 => {}
            "stateplane" | "v1" => {}
            "fips" => i += 1,
            "feet" if state_plane => {
                let intl = tokens.get(i).is_some_and(|t| t == "intl");
                i += usize::from(intl);
                out.push_str(if intl { "ft" } else { "ftus" });
            }
            t => match (year(t), state_plane.then(|| zone_number(t)).flatten()) {
                (Some(short), _) => out.push_str(short),
                (None, Some(zone)) => {
                    out.push_str("zone");
                    out.push_str(&zone.to_string());
                }
                (None, None) => out.push_str(t),
            },
        }
    }
    out
}

/// The last two digits of a four-digit year token.
fn year(token: &str) -> Option<&str> {
    let is_year = token.len() == 4
        && token.bytes().all(|b| b.is_ascii_digit())
        && ["18", "19", "20"].iter().any(|c| token.starts_with(c));
    is_year.then(|| &token[2..])
}

/// A State Plane zone number written in Roman (`iii`) or Arabic (`4`) numerals.
fn zone_number(token: &str) -> Option<u8> {
    const ROMAN: [&str; 10] = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"];
    if let Some(pos) = ROMAN.iter().position(|r| *r == token) {
        return u8::try_from(pos + 1).ok();
    }
    (token.len() <= 2).then(|| token.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esri_and_epsg_spellings_normalise_alike() {
        for (esri, epsg) in [
            ("ETRS_1989_UTM_Zone_31N", "ETRS89 / UTM zone 31N"),
            ("RGF_1993_Lambert_93", "RGF93 / Lambert-93"),
            ("RGF_1993_Lambert_93", "RGF93 v1 / Lambert-93"),
            ("WGS_1984_UTM_Zone_33S", "WGS 84 / UTM zone 33S"),
            ("GCS_WGS_1984", "WGS 84"),
            (
                "NAD_1983_StatePlane_New_York_Long_Island_FIPS_3104_Feet",
                "NAD83 / New York Long Island (ftUS)",
            ),
            (
                "NAD_1983_StatePlane_New_York_Long_Island_FIPS_3104",
                "NAD83 / New York Long Island",
            ),
            (
                "NAD_1983_StatePlane_California_III_FIPS_0403_Feet",
                "NAD83 / California zone 3 (ftUS)",
            ),
            (
                "NAD_1983_StatePlane_Arizona_Central_FIPS_0202_Feet_Intl",
                "NAD83 / Arizona Central (ft)",
            ),
            (
                "NAD_1983_StatePlane_Alaska_4_FIPS_5004",
                "NAD83 / Alaska zone 4",
            ),
            (
                "Belge_1972_Belgian_Lambert_72",
                "Belge 1972 / Belgian Lambert 72",
            ),
        ] {
            assert_eq!(normalise(esri), normalise(epsg), "{esri} vs {epsg}");
        }
    }

    #[test]
    fn different_crss_stay_apart() {
        assert_ne!(
            normalise("ETRS_1989_UTM_Zone_31N"),
            normalise("ETRS89 / UTM zone 32N")
        );
        assert_ne!(
            normalise("WGS_1984_UTM_Zone_31N"),
            normalise("ETRS89 / UTM zone 31N")
        );
        assert_ne!(
            normalise("NAD_1983_StatePlane_New_York_Long_Island_FIPS_3104_Feet"),
            normalise("NAD83 / New York Long Island")
        );
    }

    #[test]
    fn lookup_finds_common_crss() {
        for (kind, name, code) in [
            (Kind::Projected, "ETRS_1989_UTM_Zone_31N", 25831),
            (Kind::Projected, "RGF_1993_Lambert_93", 2154),
            (Kind::Projected, "WGS_1984_UTM_Zone_31N", 32631),
            (
                Kind::Projected,
                "NAD_1983_StatePlane_New_York_Long_Island_FIPS_3104_Feet",
                2263,
            ),
            (
                Kind::Projected,
                "NAD_1983_StatePlane_New_York_Long_Island_FIPS_3104",
                32118,
            ),
            (
                Kind::Projected,
                "NAD_1983_StatePlane_California_III_FIPS_0403_Feet",
                2227,
            ),
            (
                Kind::Projected,
                "WGS_1984_Web_Mercator_Auxiliary_Sphere",
                3857,
            ),
            (Kind::Projected, "British_National_Grid", 27700),
            (Kind::Geographic, "GCS_WGS_1984", 4326),
            (Kind::Geographic, "GCS_ETRS_1989", 4258),
            (Kind::Geographic, "GCS_RGF_1993", 4171),
            (Kind::Geographic, "GCS_North_American_1983", 4269),
        ] {
            assert_eq!(lookup(kind, name), Some(code), "{name}");
        }
    }

    #[test]
    fn lookup_respects_kind_and_placeholders() {
        assert_eq!(lookup(Kind::Projected, "GCS_WGS_1984"), None);
        assert_eq!(lookup(Kind::Projected, "unnamed"), None);
        assert_eq!(lookup(Kind::Projected, "Town_Survey_Grid"), None);
    }
}
