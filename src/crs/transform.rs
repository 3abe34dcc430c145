//! Reprojection of coordinates and geometries from a resolved [`Crs`] to WGS84 lon/lat.
//!
//! May import: nothing from the crate.

use geo::MapCoordsInPlace;
use geo_types::{Coord, Geometry};
use proj4rs::Proj;

use super::{Crs, CrsError, Result, WGS84_PROJ, engine};

/// Reprojects coordinates from a source CRS to WGS84 longitude/latitude.
///
/// Build one per layer and reuse it: construction parses the projections once.
///
/// # Units
/// Input is in the units of the source CRS: metres or feet for a projected CRS, degrees for a
/// geographic one (`x` = longitude, `y` = latitude, whatever the EPSG axis order). Output is
/// always degrees, `x` = longitude in [-180, 180], `y` = latitude.
///
/// # Examples
/// ```
/// use geo_types::coord;
/// use tessera::crs::{Crs, ToWgs84};
/// let to_wgs84 = ToWgs84::new(&Crs::from_epsg(2154)?)?;
/// let paris = to_wgs84.transform_coord(coord! { x: 652_300.0, y: 6_861_640.0 })?;
/// assert!((paris.x - 2.34994).abs() < 1e-5 && (paris.y - 48.85303).abs() < 1e-5);
/// # Ok::<(), tessera::crs::CrsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ToWgs84 {
    /// `None` when the source is WGS84 already.
    source: Option<Source>,
}

#[derive(Debug, Clone)]
struct Source {
    from: Proj,
    to: Proj,
    /// Whether the source takes angles, which `proj4rs` wants in radians.
    geographic: bool,
    /// The source CRS as displayed, for error messages.
    label: String,
}

impl ToWgs84 {
    /// A reprojection from `from` to WGS84.
    ///
    /// # Errors
    /// [`CrsError::Unsupported`] if `proj4rs` refuses the CRS; in practice never, as every
    /// `Crs` constructor has checked that already.
    pub fn new(from: &Crs) -> Result<Self> {
        if from.is_wgs84() {
            return Ok(Self { source: None });
        }
        let parse = |proj: &str| {
            engine::build(proj).map_err(|source| CrsError::Unsupported {
                crs: from.to_string(),
                source,
            })
        };
        let from_proj = parse(from.proj_string())?;
        Ok(Self {
            source: Some(Source {
                geographic: from_proj.is_latlong(),
                from: from_proj,
                to: parse(WGS84_PROJ)?,
                label: from.to_string(),
            }),
        })
    }

    /// Whether this reprojection changes nothing (the source is WGS84).
    #[must_use]
    pub fn is_identity(&self) -> bool {
        self.source.is_none()
    }

    /// Reprojects one coordinate.
    ///
    /// # Errors
    /// [`CrsError::Transform`] if the coordinate is not finite or outside the projection's
    /// domain, or the result is not finite. The identity passes every coordinate through.
    pub fn transform_coord(&self, c: Coord<f64>) -> Result<Coord<f64>> {
        let Some(source) = &self.source else {
            return Ok(c);
        };
        let fail = |reason: String| CrsError::Transform {
            crs: source.label.clone(),
            x: c.x,
            y: c.y,
            reason,
        };
        if !(c.x.is_finite() && c.y.is_finite()) {
            return Err(fail("input is not finite".to_owned()));
        }
        let mut point = if source.geographic {
            (c.x.to_radians(), c.y.to_radians(), 0.0)
        } else {
            (c.x, c.y, 0.0)
        };
        proj4rs::transform::transform(&source.from, &source.to, &mut point)
            .map_err(|e| fail(e.to_string()))?;
        let out = Coord {
            x: point.0.to_degrees(),
            y: point.1.to_degrees(),
        };
        if out.x.is_finite() && out.y.is_finite() {
            Ok(out)
        } else {
            Err(fail("result is not finite".to_owned()))
        }
    }

    /// Reprojects every coordinate of a geometry, in place.
    ///
    /// A `Rect` or `Triangle` keeps its kind: only its corners are reprojected.
    ///
    /// # Errors
    /// The first coordinate that fails, as [`ToWgs84::transform_coord`]. The geometry is then
    /// partly reprojected and should be discarded.
    pub fn transform_geometry(&self, g: &mut Geometry<f64>) -> Result<()> {
        if self.is_identity() {
            return Ok(());
        }
        let f = |c| self.transform_coord(c);
        // Collections are walked here rather than by `Geometry::try_map_coords_in_place`:
        // geo 0.33 recurses into them with `&func`, which cannot be instantiated (the
        // compiler hits its recursion limit).
        match g {
            Geometry::GeometryCollection(gc) => {
                gc.0.iter_mut().try_for_each(|g| self.transform_geometry(g))
            }
            Geometry::Point(x) => x.try_map_coords_in_place(f),
            Geometry::Line(x) => x.try_map_coords_in_place(f),
            Geometry::LineString(x) => x.try_map_coords_in_place(f),
            Geometry::Polygon(x) => x.try_map_coords_in_place(f),
            Geometry::MultiPoint(x) => x.try_map_coords_in_place(f),
            Geometry::MultiLineString(x) => x.try_map_coords_in_place(f),
            Geometry::MultiPolygon(x) => x.try_map_coords_in_place(f),
            Geometry::Rect(x) => x.try_map_coords_in_place(f),
            Geometry::Triangle(x) => x.try_map_coords_in_place(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use geo_types::{Point, coord, line_string, polygon};

    use super::*;
    use crate::crs::test_data::{
        ESRI_ETRS89_UTM31N, ESRI_LAMBERT93, ESRI_LCC_1SP_PARIS, ESRI_NY_LONG_ISLAND_FT,
        WKT2_LAMBERT93,
    };

    /// Mean Earth radius, metres; plenty for centimetre-scale differences.
    const EARTH_RADIUS_M: f64 = 6_371_008.8;

    /// The accuracy asked of the reprojection, metres.
    const TOLERANCE_M: f64 = 0.01;

    /// Ground distance in metres between two nearby lon/lat points (equirectangular).
    fn distance_m(a: Coord<f64>, b: Coord<f64>) -> f64 {
        let mean_lat = f64::midpoint(a.y, b.y).to_radians();
        let dx = (a.x - b.x).to_radians() * mean_lat.cos();
        let dy = (a.y - b.y).to_radians();
        dx.hypot(dy) * EARTH_RADIUS_M
    }

    /// `(input x, input y, reference lon, reference lat)`.
    type Case = (f64, f64, f64, f64);

    // Reference values from PROJ 9.1.1 (Debian proj-bin), which prints latitude first:
    //   echo "431000 4583900
    //   426650 4581400" | cs2cs -f %.10f EPSG:25831 EPSG:4326
    const BARCELONA_25831: [Case; 2] = [
        (431_000.0, 4_583_900.0, 2.174_509_661_8, 41.403_682_755_0),
        (426_650.0, 4_581_400.0, 2.122_776_332_3, 41.380_781_230_5),
    ];

    //   echo "652300 6861640
    //   892390 6247035" | cs2cs -f %.10f EPSG:2154 EPSG:4326
    const PARIS_MARSEILLE_2154: [Case; 2] = [
        (652_300.0, 6_861_640.0, 2.349_940_839_8, 48.853_032_971_7),
        (892_390.0, 6_247_035.0, 5.369_797_177_6, 43.296_497_750_7),
    ];

    //   echo "988212 211939
    //   1223773 227950" | cs2cs -f %.10f EPSG:2263 EPSG:4326
    // (cs2cs picks "NAD83 to WGS 84 (1)", a null transformation, as this module does.)
    const NEW_YORK_2263: [Case; 2] = [
        (988_212.0, 211_939.0, -73.985_700_856_2, 40.748_399_235_5),
        (1_223_773.0, 227_950.0, -73.135_001_694_3, 40.789_100_169_0),
    ];

    //   echo "261600 6250000" | cs2cs -f %.10f EPSG:3857 EPSG:4326
    const PARIS_3857: [Case; 1] = [(261_600.0, 6_250_000.0, 2.349_992_783_3, 48.853_264_341_4)];

    //   echo "600000 2200000
    //   650000 2430000" | cs2cs -f %.10f EPSG:27572 EPSG:4326
    // (without the NTF grid, cs2cs uses the table's Helmert towgs84=-168,-60,320)
    const NTF_LAMBERT_II_27572: [Case; 2] = [
        (600_000.0, 2_200_000.0, 2.336_533_608_4, 46.799_948_781_1),
        (650_000.0, 2_430_000.0, 3.017_647_400_6, 48.866_378_545_7),
    ];

    //   echo "600000 2200000
    //   650000 2430000" | cs2cs -f %.10f +proj=lcc +lat_1=46.8 +lat_0=46.8 +lon_0=0 \
    //     +k_0=0.99987742 +x_0=600000 +y_0=2200000 +ellps=GRS80 +pm=2.33722917 \
    //     +towgs84=0,0,0 +type=crs +to EPSG:4326
    const LCC_1SP_PARIS: [Case; 2] = [
        (600_000.0, 2_200_000.0, 2.337_229_166_7, 46.8),
        (650_000.0, 2_430_000.0, 3.018_376_555_3, 48.866_439_492_1),
    ];

    fn assert_accurate(crs: &Crs, cases: &[Case]) {
        let to_wgs84 = ToWgs84::new(crs).expect("supported CRS");
        assert!(!to_wgs84.is_identity());
        for &(x, y, lon, lat) in cases {
            let got = to_wgs84
                .transform_coord(coord! { x: x, y: y })
                .unwrap_or_else(|e| panic!("{crs}: {e}"));
            let err = distance_m(got, coord! { x: lon, y: lat });
            assert!(
                err < TOLERANCE_M,
                "{crs} ({x}, {y}): off by {err} m: {got:?}"
            );
        }
    }

    fn epsg(code: u32) -> Crs {
        Crs::from_epsg(code).expect("in table")
    }

    #[test]
    fn etrs89_utm31n_barcelona_within_1cm() {
        assert_accurate(&epsg(25831), &BARCELONA_25831);
    }

    #[test]
    fn lambert93_paris_and_marseille_within_1cm() {
        assert_accurate(&epsg(2154), &PARIS_MARSEILLE_2154);
    }

    #[test]
    fn ny_long_island_ftus_within_1cm() {
        assert_accurate(&epsg(2263), &NEW_YORK_2263);
    }

    #[test]
    fn web_mercator_within_1cm() {
        assert_accurate(&epsg(3857), &PARIS_3857);
    }

    /// Regression: `proj4rs` ignored the table's `+k_0` and read `+pm=paris` as radians.
    #[test]
    fn ntf_lambert_ii_k_0_and_paris_meridian_within_1cm() {
        assert_accurate(&epsg(27572), &NTF_LAMBERT_II_27572);
    }

    #[test]
    fn esri_lcc_1sp_with_paris_meridian_within_1cm() {
        let crs = Crs::from_wkt(ESRI_LCC_1SP_PARIS).expect("convertible");
        assert_accurate(&crs, &LCC_1SP_PARIS);
    }

    #[test]
    fn esri_prj_resolved_by_name_within_1cm() {
        assert_accurate(
            &Crs::from_wkt(ESRI_ETRS89_UTM31N).expect("valid"),
            &BARCELONA_25831,
        );
        assert_accurate(
            &Crs::from_wkt(ESRI_LAMBERT93).expect("valid"),
            &PARIS_MARSEILLE_2154,
        );
        assert_accurate(
            &Crs::from_wkt(ESRI_NY_LONG_ISLAND_FT).expect("valid"),
            &NEW_YORK_2263,
        );
    }

    #[test]
    fn esri_prj_converted_from_parameters_within_1cm() {
        // Renamed so that no name matches: the proj string comes from the WKT parameters,
        // including the Foot_US unit and the ESRI projection names.
        for (wkt, name, cases) in [
            (
                ESRI_ETRS89_UTM31N,
                "ETRS_1989_UTM_Zone_31N",
                &BARCELONA_25831[..],
            ),
            (
                ESRI_LAMBERT93,
                "RGF_1993_Lambert_93",
                &PARIS_MARSEILLE_2154[..],
            ),
            (
                ESRI_NY_LONG_ISLAND_FT,
                "NAD_1983_StatePlane_New_York_Long_Island_FIPS_3104_Feet",
                &NEW_YORK_2263[..],
            ),
        ] {
            let crs = Crs::from_wkt(&wkt.replace(name, "Local_Grid")).expect("convertible");
            assert_eq!(crs.epsg(), None, "{name} should not resolve by name");
            assert_accurate(&crs, cases);
        }
    }

    #[test]
    fn wkt2_converted_from_parameters_within_1cm() {
        let anonymous = WKT2_LAMBERT93
            .replace(r#",ID["EPSG",2154]]"#, "]")
            .replace("RGF93 v1 / Lambert-93", "Local_Grid");
        let crs = Crs::from_wkt(&anonymous).expect("convertible");
        assert_eq!(crs.epsg(), None);
        assert_accurate(&crs, &PARIS_MARSEILLE_2154);
    }

    #[test]
    fn geographic_source_is_read_in_degrees() {
        // ETRS89 lon/lat is WGS84 to within this module's datum model: degrees in, degrees out.
        let to_wgs84 = ToWgs84::new(&epsg(4258)).expect("supported");
        let input = coord! { x: 2.174_509_661_8, y: 41.403_682_755 };
        let got = to_wgs84.transform_coord(input).expect("in domain");
        assert!(distance_m(got, input) < 0.001, "{got:?}");
    }

    #[test]
    fn wgs84_is_the_identity() {
        for crs in [
            Crs::wgs84(),
            epsg(4326),
            Crs::parse("urn:ogc:def:crs:OGC:1.3:CRS84").expect("valid"),
        ] {
            let to_wgs84 = ToWgs84::new(&crs).expect("supported");
            assert!(to_wgs84.is_identity());
            let c = coord! { x: 2.35, y: 48.85 };
            assert_eq!(to_wgs84.transform_coord(c).expect("identity"), c);
            let mut g = Geometry::Point(Point(c));
            to_wgs84.transform_geometry(&mut g).expect("identity");
            assert_eq!(g, Geometry::Point(Point(c)));
        }
    }

    #[test]
    fn transform_geometry_reprojects_every_coordinate() {
        let to_wgs84 = ToWgs84::new(&epsg(2154)).expect("supported");
        let [(px, py, plon, plat), (mx, my, mlon, mlat)] = PARIS_MARSEILLE_2154;
        let mut line = Geometry::LineString(line_string![(x: px, y: py), (x: mx, y: my)]);
        to_wgs84.transform_geometry(&mut line).expect("in domain");
        let Geometry::LineString(line) = line else {
            unreachable!("the variant is kept");
        };
        assert!(distance_m(line.0[0], coord! { x: plon, y: plat }) < TOLERANCE_M);
        assert!(distance_m(line.0[1], coord! { x: mlon, y: mlat }) < TOLERANCE_M);

        let mut square = Geometry::Polygon(polygon![
            (x: px, y: py), (x: px + 100.0, y: py), (x: px + 100.0, y: py + 100.0), (x: px, y: py),
        ]);
        to_wgs84.transform_geometry(&mut square).expect("in domain");
        let Geometry::Polygon(square) = square else {
            unreachable!("the variant is kept");
        };
        assert!(distance_m(square.exterior().0[0], coord! { x: plon, y: plat }) < TOLERANCE_M);
        // 100 m east is about 0.00137 degrees of longitude at Paris.
        let dx = square.exterior().0[1].x - square.exterior().0[0].x;
        assert!((dx - 0.001_37).abs() < 0.000_01, "{dx}");
    }

    #[test]
    fn can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ToWgs84>();
        assert_send_sync::<Crs>();
        assert_send_sync::<CrsError>();
    }

    #[test]
    fn non_finite_input_is_an_error_naming_the_crs() {
        let to_wgs84 = ToWgs84::new(&epsg(2154)).expect("supported");
        let err = to_wgs84
            .transform_coord(coord! { x: f64::NAN, y: 6_600_000.0 })
            .expect_err("NaN");
        assert!(matches!(err, CrsError::Transform { .. }), "{err:?}");
        assert!(err.to_string().contains("EPSG:2154"), "{err}");
    }

    #[test]
    fn a_failing_coordinate_fails_the_geometry() {
        let to_wgs84 = ToWgs84::new(&epsg(2154)).expect("supported");
        let mut g = Geometry::LineString(
            line_string![(x: 652_300.0, y: 6_861_640.0), (x: f64::INFINITY, y: 0.0)],
        );
        assert!(to_wgs84.transform_geometry(&mut g).is_err());
    }
}
