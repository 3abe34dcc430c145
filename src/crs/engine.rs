//! Building `proj4rs` projections from PROJ-style proj strings, working around the places
//! where `proj4rs` 0.1.10 reads a proj string differently from PROJ.
//!
//! [`Crs`](super::Crs) keeps the proj string as PROJ means it (the form the EPSG table and
//! `proj4wkt` write); only what is handed to `proj4rs` is rewritten, here and nowhere else.
//! The accuracy tests of EPSG:27572 (`+k_0`, `+pm=paris`) fail if `proj4rs` changes either
//! behaviour.
//!
//! May import: nothing from the crate.

use proj4rs::Proj;

/// PROJ's named prime meridians, degrees east of Greenwich (PROJ `pj_prime_meridians`).
const PRIME_MERIDIANS: [(&str, f64); 14] = [
    ("greenwich", 0.0),
    ("lisbon", -9.131_906_111_111),
    ("paris", 2.337_229_166_667),
    ("bogota", -74.080_916_666_667),
    ("madrid", -3.687_938_888_889),
    ("rome", 12.452_333_333_333),
    ("bern", 7.439_583_333_333),
    ("jakarta", 106.807_719_444_444),
    ("ferro", -17.666_666_666_667),
    ("brussels", 4.367_975),
    ("stockholm", 18.058_277_777_778),
    ("athens", 23.716_337_5),
    ("oslo", 10.722_916_666_667),
    ("copenhagen", 12.577_88),
];

/// Parses a PROJ-style proj string into a `proj4rs` projection.
pub(super) fn build(proj: &str) -> Result<Proj, proj4rs::errors::Error> {
    Proj::from_proj_string(&for_proj4rs(proj))
}

/// Rewrites a proj string for `proj4rs` 0.1.10:
/// - `+k_0=` becomes `+k=`: PROJ takes both for the scale factor, `proj4rs` ignores `+k_0`
///   (145 table entries use it, among them every French NTF Lambert zone);
/// - `+pm=` becomes a number of radians: `proj4rs` adds the prime meridian to radians
///   without converting it from degrees, which throws NTF (Paris) CRSs some 130° east.
fn for_proj4rs(proj: &str) -> String {
    proj.split_whitespace()
        .map(|token| {
            if let Some(k) = token.strip_prefix("+k_0=") {
                format!("+k={k}")
            } else if let Some(pm) = token.strip_prefix("+pm=")
                && let Some(degrees) = prime_meridian_degrees(pm)
            {
                format!("+pm={}", degrees.to_radians())
            } else {
                token.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `+pm` value, named or in decimal degrees, in degrees.
fn prime_meridian_degrees(value: &str) -> Option<f64> {
    PRIME_MERIDIANS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|&(_, degrees)| degrees)
        .or_else(|| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_0_is_renamed() {
        assert_eq!(
            for_proj4rs("+proj=lcc +lat_1=46.8 +k_0=0.99987742 +x_0=600000"),
            "+proj=lcc +lat_1=46.8 +k=0.99987742 +x_0=600000"
        );
    }

    #[test]
    fn prime_meridians_become_radians() {
        let paris = 2.337_229_166_667_f64.to_radians();
        assert_eq!(
            for_proj4rs("+proj=longlat +pm=paris"),
            format!("+proj=longlat +pm={paris}")
        );
        assert_eq!(for_proj4rs("+pm=Paris"), format!("+pm={paris}"));
        let numeric = 2.337_208_333_333_333_f64.to_radians();
        assert_eq!(
            for_proj4rs("+pm=2.337208333333333"),
            format!("+pm={numeric}")
        );
        assert_eq!(for_proj4rs("+pm=nowhere"), "+pm=nowhere");
    }

    #[test]
    fn other_tokens_are_kept() {
        let utm = "+proj=utm +zone=31 +ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs";
        assert_eq!(for_proj4rs(utm), utm);
    }
}
