//! Coordinate reference systems: resolving a CRS from an identifier or a `.prj` WKT, and
//! reprojecting geometries to WGS84 longitude/latitude, in pure Rust.
//!
//! This module owns every question of the form "what CRS is this, and where are these
//! coordinates on the globe?". Everything downstream of ingestion works in WGS84 lon/lat
//! degrees; [`ToWgs84`] is the one way in.
//!
//! # How a CRS is resolved
//! - [`Crs::from_epsg`] looks the code up in the EPSG table of `crs-definitions` (about 4 700
//!   codes, all below 65 536) and keeps its proj string.
//! - [`Crs::parse`] accepts `EPSG:2154`, a bare `2154`, OGC URNs and `opengis.net` URIs, and
//!   `CRS84`.
//! - [`Crs::from_wkt`] reads OGC WKT1 and the ESRI WKT of shapefile `.prj` files, in three
//!   steps: a top-level `AUTHORITY["EPSG", ...]`; else the CRS name matched against the EPSG
//!   table (`ETRS_1989_UTM_Zone_31N` is `ETRS89 / UTM zone 31N`); else the WKT itself is
//!   converted to a proj string by `proj4wkt`.
//!
//! # Axis order
//! Coordinates are always `x` = easting or longitude, `y` = northing or latitude (the `GeoJSON`
//! and traditional GIS order), whatever the axis order the EPSG registry gives a CRS. EPSG:4326
//! and OGC CRS84 are therefore the same thing here.
//!
//! # Datum shifts
//! Datum shifts are the 3- or 7-parameter `towgs84` Helmert transformations of the table.
//! ETRS89, RGF93 and NAD83 are treated as equal to WGS84 (`towgs84=0,0,0`), as PROJ does
//! without grids (good to about a metre, the datums' own drift). Grid-based datum shifts
//! (`+nadgrids=` `NTv2` or NADCON files, e.g. NAD27) are out of scope: CRSs that need a grid
//! are refused with [`CrsError::Unsupported`]. Datums the table gives a Helmert for (OSGB36,
//! NTF, Amersfoort...) are good to a few metres, not centimetres. A WKT that resolves to no
//! EPSG code and has no `TOWGS84` (every ESRI `.prj`) is assumed to be on a WGS84-compatible
//! datum: right for ETRS89, RGF93, NAD83 or GDA94, off by up to hundreds of metres for older
//! datums.
//!
//! # Projections
//! Only the projections `proj4rs` implements work (transverse Mercator and UTM, Lambert
//! conformal conic, Mercator, stereographic, Albers, LAEA and a few more); Cassini, oblique
//! Mercator, Krovak and polyconic CRSs are refused.
//!
//! May import: nothing from the crate.

mod engine;
mod names;
#[cfg(test)]
mod test_data;
mod transform;
mod wkt;

use std::fmt;

pub use transform::ToWgs84;

/// Why a CRS could not be resolved or a coordinate could not be reprojected.
#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    /// The code is not in the EPSG table.
    #[error("unknown EPSG code {0}")]
    UnknownEpsg(u32),
    /// The string is not a CRS identifier this module understands.
    #[error(
        "unrecognised CRS identifier {0:?}: expected EPSG:<code>, a bare EPSG code, \
         an urn:ogc:def:crs URN or an http://www.opengis.net/def/crs URI"
    )]
    UnrecognisedIdentifier(String),
    /// The identifier names an authority other than EPSG or OGC.
    #[error("unsupported CRS authority {authority:?} in {input:?}: only EPSG and OGC are known")]
    UnsupportedAuthority {
        /// The whole identifier as given.
        input: String,
        /// The authority part of it.
        authority: String,
    },
    /// The WKT could not be parsed, or names a CRS that cannot be converted.
    #[error("cannot interpret .prj WKT {excerpt}: {reason}")]
    Wkt {
        /// The start of the WKT, to recognise it in a log.
        excerpt: String,
        /// What went wrong.
        reason: String,
    },
    /// The CRS was resolved but the projection engine cannot use it.
    #[error("CRS {crs} is not supported by the projection engine: {source}")]
    Unsupported {
        /// The CRS, as displayed by [`Crs`].
        crs: String,
        /// Why `proj4rs` refused it.
        #[source]
        source: proj4rs::errors::Error,
    },
    /// A coordinate could not be reprojected (outside the projection's domain, or not finite).
    #[error("cannot reproject ({x}, {y}) from {crs} to WGS84: {reason}")]
    Transform {
        /// The source CRS, as displayed by [`Crs`].
        crs: String,
        /// The input x (easting or longitude).
        x: f64,
        /// The input y (northing or latitude).
        y: f64,
        /// What went wrong.
        reason: String,
    },
}

/// Result of the CRS operations.
pub type Result<T> = std::result::Result<T, CrsError>;

/// The proj string of WGS84 longitude/latitude.
const WGS84_PROJ: &str = "+proj=longlat +datum=WGS84 +no_defs";

/// Codes that are not in the EPSG table but name an EPSG CRS: the unofficial Google code
/// and ESRI's Web Mercator ids, still common in web-map configurations.
const EPSG_ALIASES: &[(u32, u32)] = &[(900_913, 3857), (102_100, 3857), (102_113, 3857)];

/// Longest identifier quoted back in an error message.
const MAX_QUOTED: usize = 80;

/// A resolved coordinate reference system: its EPSG code when known, a proj string and a
/// display name.
///
/// Construction checks that the projection engine accepts the CRS, so a [`ToWgs84`] can be
/// built from any `Crs`.
///
/// # Examples
/// ```
/// use tessera::crs::Crs;
/// let crs = Crs::parse("urn:ogc:def:crs:EPSG::2154")?;
/// assert_eq!(crs.epsg(), Some(2154));
/// assert_eq!(crs.to_string(), "EPSG:2154 (RGF93 / Lambert-93)");
/// # Ok::<(), tessera::crs::CrsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Crs {
    epsg: Option<u32>,
    proj: String,
    name: String,
}

impl Crs {
    /// WGS84 longitude/latitude in degrees (EPSG:4326, with `x` = longitude).
    #[must_use]
    pub fn wgs84() -> Self {
        Self {
            epsg: Some(4326),
            proj: WGS84_PROJ.to_owned(),
            name: "WGS 84".to_owned(),
        }
    }

    /// The CRS of an EPSG code.
    ///
    /// # Errors
    /// [`CrsError::UnknownEpsg`] if the code is not in the table, [`CrsError::Unsupported`] if
    /// its projection or datum shift is one `proj4rs` cannot do.
    pub fn from_epsg(code: u32) -> Result<Self> {
        if code == 4326 {
            return Ok(Self::wgs84());
        }
        let alias = EPSG_ALIASES.iter().find(|(from, _)| *from == code);
        let code = alias.map_or(code, |(_, to)| *to);
        let def = u16::try_from(code)
            .ok()
            .and_then(crs_definitions::from_code)
            .ok_or(CrsError::UnknownEpsg(code))?;
        let name = names::def_name(def.wkt).unwrap_or_default().to_owned();
        Self::checked(Some(code), def.proj4.to_owned(), name)
    }

    /// Parses a CRS identifier.
    ///
    /// Accepted forms (case-insensitive): `EPSG:2154`, `2154`, `urn:ogc:def:crs:EPSG::2154`,
    /// `http://www.opengis.net/def/crs/EPSG/0/2154`, and for WGS84 lon/lat
    /// `urn:ogc:def:crs:OGC:1.3:CRS84`, `http://www.opengis.net/def/crs/OGC/1.3/CRS84`,
    /// `OGC:CRS84` and `CRS:84`. A string starting with `+` is taken as a proj string.
    ///
    /// # Errors
    /// [`CrsError::UnrecognisedIdentifier`] for anything else, [`CrsError::UnsupportedAuthority`]
    /// for an authority other than EPSG or OGC, and the errors of [`Crs::from_epsg`].
    ///
    /// # Examples
    /// ```
    /// use tessera::crs::Crs;
    /// assert_eq!(Crs::parse("epsg:25831")?.epsg(), Some(25831));
    /// assert!(Crs::parse("http://www.opengis.net/def/crs/OGC/1.3/CRS84")?.is_wgs84());
    /// # Ok::<(), tessera::crs::CrsError>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.starts_with('+') {
            return Self::from_proj_string(s);
        }
        let (authority, code) =
            split_identifier(s).ok_or_else(|| CrsError::UnrecognisedIdentifier(quote(s)))?;
        if authority.eq_ignore_ascii_case("EPSG") {
            let code = code
                .parse()
                .map_err(|_| CrsError::UnrecognisedIdentifier(quote(s)))?;
            Self::from_epsg(code)
        } else if authority.eq_ignore_ascii_case("OGC") || authority.eq_ignore_ascii_case("CRS") {
            match code.to_ascii_uppercase().as_str() {
                "CRS84" | "84" => Ok(Self::wgs84()),
                _ => Err(CrsError::UnrecognisedIdentifier(quote(s))),
            }
        } else {
            Err(CrsError::UnsupportedAuthority {
                input: quote(s),
                authority: quote(authority),
            })
        }
    }

    /// Reads a CRS from OGC WKT1 or from the ESRI WKT of a shapefile `.prj`.
    ///
    /// Tries, in order: the EPSG code of a top-level `AUTHORITY`; the CRS name looked up in
    /// the EPSG table (ESRI spellings such as `RGF_1993_Lambert_93` and
    /// `NAD_1983_StatePlane_New_York_Long_Island_FIPS_3104_Feet` are normalised first); the
    /// WKT parameters themselves, converted with `proj4wkt`. Only the last gives a CRS without
    /// an EPSG code. A compound CRS is reduced to its horizontal part.
    ///
    /// # Errors
    /// [`CrsError::Wkt`] if the text is not WKT, is not a projected or geographic CRS, or uses
    /// a projection that cannot be converted; [`CrsError::Unsupported`] if `proj4rs` refuses
    /// the result.
    ///
    /// # Examples
    /// ```
    /// use tessera::crs::Crs;
    /// let prj = r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
    /// assert!(Crs::from_wkt(prj)?.is_wgs84());
    /// # Ok::<(), tessera::crs::CrsError>(())
    /// ```
    pub fn from_wkt(wkt: &str) -> Result<Self> {
        wkt::resolve(wkt)
    }

    /// A CRS from a proj string, without EPSG code.
    ///
    /// # Errors
    /// [`CrsError::Unsupported`] if `proj4rs` cannot parse or does not implement it.
    pub fn from_proj_string(proj: &str) -> Result<Self> {
        let proj = proj.trim();
        Self::checked(None, proj.to_owned(), quote(proj))
    }

    /// The EPSG code, if the CRS is in the EPSG table.
    #[must_use]
    pub fn epsg(&self) -> Option<u32> {
        self.epsg
    }

    /// The proj string, meant as PROJ reads it (the reprojection adapts it to `proj4rs`).
    #[must_use]
    pub fn proj_string(&self) -> &str {
        &self.proj
    }

    /// The CRS name: the EPSG name when known, else the WKT name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is WGS84 lon/lat (EPSG:4326 or CRS84), so that reprojection is the
    /// identity.
    #[must_use]
    pub fn is_wgs84(&self) -> bool {
        self.epsg == Some(4326)
    }

    /// Builds a `Crs` once `proj4rs` has accepted its proj string.
    fn checked(epsg: Option<u32>, proj: String, name: String) -> Result<Self> {
        let crs = Self { epsg, proj, name };
        engine::build(&crs.proj).map_err(|source| CrsError::Unsupported {
            crs: crs.to_string(),
            source,
        })?;
        Ok(crs)
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.epsg, self.name.is_empty()) {
            (Some(code), true) => write!(f, "EPSG:{code}"),
            (Some(code), false) => write!(f, "EPSG:{code} ({})", self.name),
            (None, _) => f.write_str(&self.name),
        }
    }
}

/// Splits an identifier into its authority and code, whatever its syntax.
fn split_identifier(s: &str) -> Option<(&str, &str)> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(("EPSG", s));
    }
    let urn =
        strip_prefix_ci(s, "urn:ogc:def:crs:").or_else(|| strip_prefix_ci(s, "urn:x-ogc:def:crs:"));
    if let Some(rest) = urn {
        // AUTHORITY:[VERSION]:CODE, where the version is usually empty.
        let (authority, rest) = rest.split_once(':')?;
        return Some((authority, rest.rsplit(':').next()?));
    }
    let uri = strip_prefix_ci(s, "http://www.opengis.net/def/crs/")
        .or_else(|| strip_prefix_ci(s, "https://www.opengis.net/def/crs/"));
    if let Some(rest) = uri {
        // AUTHORITY/VERSION/CODE
        let mut parts = rest.trim_end_matches('/').split('/');
        let (authority, _version, code) = (parts.next()?, parts.next()?, parts.next()?);
        return parts.next().is_none().then_some((authority, code));
    }
    let (authority, code) = s.split_once(':')?;
    Some((authority, code.trim_start_matches(':')))
}

/// `s` without `prefix`, compared ASCII case-insensitively.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `s` cut to a length fit for an error message.
fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_every_documented_spelling() {
        for s in [
            "EPSG:2154",
            "epsg:2154",
            "2154",
            " 2154 ",
            "urn:ogc:def:crs:EPSG::2154",
            "urn:ogc:def:crs:EPSG:9.8.15:2154",
            "URN:OGC:DEF:CRS:EPSG::2154",
            "http://www.opengis.net/def/crs/EPSG/0/2154",
            "https://www.opengis.net/def/crs/EPSG/0/2154",
        ] {
            let crs = Crs::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(crs.epsg(), Some(2154), "{s}");
            assert!(!crs.is_wgs84(), "{s}");
        }
    }

    #[test]
    fn parse_recognises_wgs84_spellings() {
        for s in [
            "EPSG:4326",
            "4326",
            "urn:ogc:def:crs:OGC:1.3:CRS84",
            "urn:ogc:def:crs:EPSG::4326",
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            "http://www.opengis.net/def/crs/EPSG/0/4326",
            "OGC:CRS84",
            "CRS:84",
        ] {
            let crs = Crs::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(crs.is_wgs84(), "{s}");
            assert_eq!(crs, Crs::wgs84(), "{s}");
        }
    }

    #[test]
    fn parse_maps_web_mercator_aliases() {
        assert_eq!(
            Crs::parse("EPSG:900913").ok().and_then(|c| c.epsg()),
            Some(3857)
        );
        assert_eq!(
            Crs::parse("EPSG:3857").ok().and_then(|c| c.epsg()),
            Some(3857)
        );
    }

    #[test]
    fn parse_accepts_a_proj_string() {
        let crs = Crs::parse("+proj=utm +zone=31 +ellps=GRS80 +units=m").expect("valid proj");
        assert_eq!(crs.epsg(), None);
    }

    #[test]
    fn unknown_epsg_code_is_named_in_the_error() {
        for (s, code) in [
            ("EPSG:99999", 99_999),
            ("1", 1),
            ("EPSG:4294967295", u32::MAX),
        ] {
            let err = Crs::parse(s).expect_err(s);
            assert!(
                matches!(err, CrsError::UnknownEpsg(c) if c == code),
                "{s}: {err:?}"
            );
        }
        assert_eq!(
            Crs::from_epsg(99_999).expect_err("unknown").to_string(),
            "unknown EPSG code 99999"
        );
    }

    #[test]
    fn garbage_identifiers_are_refused() {
        for s in [
            "",
            "EPSG:",
            "EPSG:abc",
            "lambert",
            "urn:ogc:def:crs:",
            "OGC:CRS27",
            "EPSG:-1",
        ] {
            let err = Crs::parse(s).expect_err(s);
            assert!(
                matches!(err, CrsError::UnrecognisedIdentifier(_)),
                "{s}: {err:?}"
            );
        }
        let err = Crs::parse("ESRI:54030").expect_err("ESRI");
        assert!(
            matches!(err, CrsError::UnsupportedAuthority { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("ESRI:54030"), "{err}");
    }

    #[test]
    fn long_identifiers_are_cut_in_errors() {
        let long = "x".repeat(10_000);
        let err = Crs::parse(&long).expect_err("garbage");
        assert!(err.to_string().len() < 400, "{err}");
    }

    #[test]
    fn crs_needing_an_unimplemented_projection_is_refused() {
        // EPSG:5514 S-JTSK / Krovak East North: proj4rs has no krovak by default.
        let err = Crs::from_epsg(5514).expect_err("krovak");
        assert!(matches!(err, CrsError::Unsupported { .. }), "{err:?}");
        assert!(err.to_string().contains("EPSG:5514"), "{err}");
    }

    #[test]
    fn display_names_the_code_and_the_name() {
        let crs = Crs::from_epsg(25831).expect("in table");
        assert_eq!(crs.to_string(), "EPSG:25831 (ETRS89 / UTM zone 31N)");
        assert_eq!(crs.name(), "ETRS89 / UTM zone 31N");
    }
}
