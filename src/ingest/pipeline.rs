//! The ingest pipeline: read → reproject → check and repair → time and id fields →
//! type → report → store.
//!
//! Every feature is either stored (possibly repaired) or listed in the quality report
//! with its position and reason. A fatal read error, or an input in which no feature
//! survives, stores nothing: the version being served stays as it was.
//!
//! # Sensitivity
//! A layer's sensitivity is declared (a flag, or `[layers.NAME]` of `tessera.toml`
//! through [`CatalogOptions::declare`]), or else public, except for a layer with the
//! shape of personal data (points, a time field and a recurring id field; see
//! [`super::fields::personal_shape`]), which is refused until its sensitivity is
//! declared: a copy of a personal layer must not become public by omission. A
//! personal layer's report is stored and returned redacted
//! ([`QualityReport::redacted`]) and its extent coarsened ([`LayerMeta::published`]).
//!
//! May import: `model`, `crs`, `geometry_check`, `store`, `ingest::*`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use geo_types::Geometry;
use sha2::{Digest as _, Sha256};

use super::builder::{Built, LayerBuilder};
use super::fields::{FieldRules, PersonalShape, personal_shape};
use super::format::{Format, FormatError};
use super::read::{self, ReadError, ReadOptions};
use crate::crs::{Crs, CrsError, ToWgs84};
use crate::model::meta::SourceInfo;
use crate::model::{Declared, Feature, LayerMeta, LayerName, QualityReport, Schema, Sensitivity};
use crate::store::{DataDir, StoreError};

/// What to ingest and how to describe it in the catalog.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Format, detected from the file when `None`.
    pub format: Option<Format>,
    /// CRS of the coordinates, overriding what the file declares.
    pub crs: Option<String>,
    /// Reader settings (CSV columns and delimiter).
    pub read: ReadOptions,
    /// Catalog entry.
    pub catalog: CatalogOptions,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

/// Catalog fields given at ingest.
#[derive(Debug, Clone, Default)]
pub struct CatalogOptions {
    /// Human title (default: the layer name).
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Licence.
    pub license: Option<String>,
    /// Data steward.
    pub steward: Option<String>,
    /// Update frequency.
    pub update_frequency: Option<String>,
    /// Sensitivity class; `None` when not declared: public, unless the layer has the
    /// shape of personal data, which is then refused (see the module documentation).
    pub sensitivity: Option<Sensitivity>,
    /// Property identifying a person (personal layers); stored as text.
    pub id_field: Option<String>,
    /// Property holding the observation time.
    pub time_field: Option<String>,
    /// IANA time zone of local times without a UTC offset (e.g. `Europe/Madrid`);
    /// without one, such times are rejected.
    pub timezone: Option<String>,
}

impl CatalogOptions {
    /// Puts the catalog fields a steward declared (`[layers.NAME]` of `tessera.toml`)
    /// over these: each declared field wins over the one given here.
    pub fn declare(&mut self, declared: &Declared) {
        if let Some(sensitivity) = declared.sensitivity {
            self.sensitivity = Some(sensitivity);
        }
        let c = &declared.catalog;
        for (field, value) in [
            (&mut self.id_field, &declared.id_field),
            (&mut self.time_field, &declared.time_field),
            (&mut self.timezone, &declared.timezone),
            (&mut self.title, &c.title),
            (&mut self.description, &c.description),
            (&mut self.license, &c.license),
            (&mut self.steward, &c.steward),
            (&mut self.update_frequency, &c.update_frequency),
        ] {
            if value.is_some() {
                field.clone_from(value);
            }
        }
    }
}

/// Why an ingest stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or hashed.
    #[error("{path}: {source}")]
    Io {
        /// The input file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The format could not be told or is unknown.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The file is unreadable as a whole (corrupt, truncated, wrong format).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The CRS is unknown or unsupported.
    #[error("{path}: {source}")]
    Crs {
        /// The input file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: CrsError,
    },
    /// No feature survived validation.
    #[error(
        "{path}: no valid feature ({read} read, {rejected} rejected); nothing was stored\n{summary}"
    )]
    NoValidFeature {
        /// The input file.
        path: PathBuf,
        /// Features read.
        read: u64,
        /// Features rejected.
        rejected: u64,
        /// The quality summary, listing the first rejections.
        summary: String,
    },
    /// A field named in the options is absent from the data.
    #[error("{path}: field {field:?} given as the {role} does not exist; fields are: {fields}")]
    UnknownField {
        /// The input file.
        path: PathBuf,
        /// The missing field.
        field: String,
        /// Which option named it.
        role: &'static str,
        /// The fields found.
        fields: String,
    },
    /// The time zone is not a known IANA name.
    #[error("unknown time zone {zone:?}: give an IANA name such as \"Europe/Madrid\" ({reason})")]
    UnknownTimeZone {
        /// The name given.
        zone: String,
        /// What the time zone database said.
        reason: String,
    },
    /// The layer looks like personal data and no sensitivity was declared.
    #[error("{path}: {}", undeclared_message(layer, shape))]
    UndeclaredSensitivity {
        /// The input file.
        path: PathBuf,
        /// The layer being ingested.
        layer: LayerName,
        /// Why it looks personal.
        shape: PersonalShape,
    },
    /// Writing the version failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The message of [`IngestError::UndeclaredSensitivity`].
fn undeclared_message(layer: &LayerName, shape: &PersonalShape) -> String {
    let ids: Vec<String> = shape
        .id_fields
        .iter()
        .map(|id| {
            format!(
                "{:?} ({} distinct values in {} rows)",
                id.field, id.distinct, id.rows
            )
        })
        .collect();
    let id = shape.id_fields.first().map_or("ID", |id| id.field.as_str());
    format!(
        "the layer looks like personal data: points with the time field {:?} and the \
         id-like field{} {}, and no sensitivity was declared. Pass --sensitivity personal \
         --id-field {id} --time-field {} to ingest it as personal data, or \
         --sensitivity public to confirm that it is not (or declare sensitivity in \
         [layers.{layer}] of tessera.toml)",
        shape.time_field,
        if ids.len() > 1 { "s" } else { "" },
        ids.join(", "),
        shape.time_field,
    )
}

/// The stored version and its quality report.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    /// Metadata of the new version.
    pub meta: LayerMeta,
    /// What was found in the input.
    pub report: QualityReport,
}

/// Ingests `path` as a new version of `layer` in `dir`.
///
/// # Errors
/// [`IngestError`] when nothing could be stored; the served version is untouched.
pub fn ingest(
    path: &Path,
    layer: &LayerName,
    dir: &DataDir,
    options: &IngestOptions,
) -> Result<IngestOutcome, IngestError> {
    let catalog = &options.catalog;
    let zone = match &catalog.timezone {
        Some(name) => Some((
            name.clone(),
            jiff::tz::TimeZone::get(name).map_err(|e| IngestError::UnknownTimeZone {
                zone: name.clone(),
                reason: e.to_string(),
            })?,
        )),
        None => None,
    };
    let rules = Arc::new(FieldRules {
        time_field: catalog.time_field.clone(),
        zone,
        id_field: catalog.id_field.clone(),
    });
    let mut read_options = options.read.clone();
    // The CSV reader keeps the id column as written: `1.0` must not become `1`.
    read_options
        .csv
        .text_columns
        .extend(catalog.id_field.clone());
    let format = match options.format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    let reader = read::open(path, format, &read_options)?;
    let crs_text = options.crs.clone().or_else(|| reader.declared_crs());
    let crs = match &crs_text {
        Some(text) => parse_crs(text),
        None => Ok(Crs::wgs84()),
    }
    .map_err(|source| IngestError::Crs {
        path: path.to_owned(),
        source,
    })?;
    let to_wgs84 = ToWgs84::new(&crs).map_err(|source| IngestError::Crs {
        path: path.to_owned(),
        source,
    })?;
    let progress = super::progress::Progress::new(options.progress);
    let parts = match format {
        Format::GeoJsonSeq => read_parts(path),
        _ => Vec::new(),
    };
    // The file is hashed on a second thread while it is parsed. (Parsing and checking
    // on separate threads was tried and was slower: every parsed value is then freed
    // on another thread than the one that allocated it. Threads that each parse and
    // check their own part of the file do not have that problem.)
    let started = std::time::Instant::now();
    let (sha256, built) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| hash_file(path));
        let built = if parts.len() > 1 {
            drop(reader);
            match build_in_parts(
                path,
                &parts,
                read_options.encoding,
                &to_wgs84,
                &rules,
                &progress,
            ) {
                Some(built) => built,
                // A later part failed: read it all on one thread to fail as that would.
                None => read::open(path, format, &read_options)
                    .map_err(IngestError::from)
                    .and_then(|reader| build(reader, &to_wgs84, &rules, &progress)),
            }
        } else {
            build(reader, &to_wgs84, &rules, &progress)
        };
        let sha256 = hasher.join().unwrap_or_else(|_| {
            Err(IngestError::Io {
                path: path.to_owned(),
                source: std::io::Error::other("the hashing thread failed"),
            })
        });
        (sha256, built)
    });
    progress.finish();
    let (schema, features, report) = built?;
    let sha256 = sha256?;
    let report = if catalog.sensitivity == Some(Sensitivity::Personal) {
        report.redacted()
    } else {
        report
    };
    if features.is_empty() {
        return Err(IngestError::NoValidFeature {
            path: path.to_owned(),
            read: report.features_read,
            rejected: report.features_rejected,
            summary: report.summary(),
        });
    }
    for (field, role) in [
        (
            &catalog.id_field,
            "id field (--id-field, or id_field in tessera.toml)",
        ),
        (
            &catalog.time_field,
            "time field (--time-field, or time_field in tessera.toml)",
        ),
    ] {
        if let Some(field) = field
            && schema.position(field).is_none()
        {
            return Err(IngestError::UnknownField {
                path: path.to_owned(),
                field: field.clone(),
                role,
                fields: field_list(&schema),
            });
        }
    }
    let sensitivity = match catalog.sensitivity {
        Some(sensitivity) => sensitivity,
        None => match personal_shape(
            &schema,
            &features,
            catalog.time_field.as_deref(),
            catalog.id_field.as_deref(),
        ) {
            Some(shape) => {
                return Err(IngestError::UndeclaredSensitivity {
                    path: path.to_owned(),
                    layer: layer.clone(),
                    shape,
                });
            }
            None => Sensitivity::Public,
        },
    };
    let meta = LayerMeta {
        name: layer.clone(),
        version: 0,
        title: catalog.title.clone().unwrap_or_else(|| layer.to_string()),
        description: catalog.description.clone(),
        license: catalog.license.clone(),
        steward: catalog.steward.clone(),
        update_frequency: catalog.update_frequency.clone(),
        sensitivity,
        id_field: catalog.id_field.clone(),
        time_field: catalog.time_field.clone(),
        timezone: catalog.timezone.clone(),
        geometry_type: geometry_type_name(&features),
        feature_count: features.len() as u64,
        bbox: report.bbox,
        schema,
        source: SourceInfo {
            path: path.display().to_string(),
            format: format.to_string(),
            sha256,
            crs: crs_text.unwrap_or_else(|| "EPSG:4326".to_owned()),
        },
        created_at: now_rfc3339(),
    };
    let read_s = started.elapsed().as_secs_f64();
    let meta = dir.write_version(meta, &features, &report)?;
    tracing::debug!(
        read_and_check_s = read_s,
        store_s = started.elapsed().as_secs_f64() - read_s,
        "ingest phases"
    );
    Ok(IngestOutcome { meta, report })
}

/// Checks and types features until the reader is done or fails.
fn build(
    reader: Box<dyn read::SourceReader>,
    to_wgs84: &ToWgs84,
    rules: &Arc<FieldRules>,
    progress: &super::progress::Progress,
) -> Result<Built, IngestError> {
    let mut builder = LayerBuilder::new(Arc::clone(rules));
    for item in reader {
        match item {
            Ok(raw) => builder.add(raw, to_wgs84),
            Err(e) if e.is_fatal() => return Err(e.into()),
            Err(e) => builder.reject_unreadable(&e),
        }
        progress.tick(builder.report.features_read);
    }
    Ok(builder.finish())
}

/// Files read on one thread when smaller than this, in bytes: below it, starting threads
/// and joining their results saves too little to matter.
const PARALLEL_MIN_BYTES: u64 = 32 * 1024 * 1024;

/// The most threads that read one file.
const MAX_READ_THREADS: usize = 8;

/// How to cut a GeoJSONSeq file to read it on several threads: one part per available
/// core, each at least [`PARALLEL_MIN_BYTES`]. No parts (one thread) when that is not
/// worth it, or when the file cannot be cut: reading it will then say why.
fn read_parts(path: &Path) -> Vec<std::ops::Range<u64>> {
    let Ok(size) = std::fs::metadata(path).map(|m| m.len()) else {
        return Vec::new();
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let by_size = usize::try_from(size / PARALLEL_MIN_BYTES).unwrap_or(usize::MAX);
    let parts = threads.min(by_size).min(MAX_READ_THREADS);
    if parts < 2 {
        return Vec::new();
    }
    read::geojsonseq::split(path, parts).unwrap_or_default()
}

/// Reads, checks and types the GeoJSONSeq file `path` in `parts` (from
/// [`read::geojsonseq::split`]), each on its own thread, and joins the results in file
/// order: the same result as [`build`] on the whole file. `None` when a part other than
/// the first fails to read, whose error [`build`] would report with other numbers.
///
/// Each thread parses and checks its own features, so memory is allocated and mostly
/// freed by the thread that uses it.
fn build_in_parts(
    path: &Path,
    parts: &[std::ops::Range<u64>],
    encoding: read::Encoding,
    to_wgs84: &ToWgs84,
    rules: &Arc<FieldRules>,
    progress: &super::progress::Progress,
) -> Option<Result<Built, IngestError>> {
    let build_part = |range: std::ops::Range<u64>| -> Result<LayerBuilder, ReadError> {
        let reader = read::geojsonseq::GeoJsonSeqReader::open_range(path, range, encoding)?;
        let mut builder = LayerBuilder::new(Arc::clone(rules));
        for item in reader {
            match item {
                Ok(raw) => builder.add(raw, to_wgs84),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => builder.reject_unreadable(&e),
            }
            progress.tick_part(builder.report.features_read);
        }
        Ok(builder)
    };
    let built: Vec<Result<LayerBuilder, ReadError>> = std::thread::scope(|scope| {
        let later: Vec<_> = parts[1..]
            .iter()
            .map(|range| scope.spawn(|| build_part(range.clone())))
            .collect();
        let first = build_part(parts[0].clone());
        std::iter::once(first)
            .chain(later.into_iter().map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }))
            .collect()
    });
    let mut built = built.into_iter();
    let mut whole = match built.next()? {
        Ok(builder) => builder,
        Err(e) => return Some(Err(e.into())),
    };
    for part in built {
        whole.append(part.ok()?);
    }
    Some(Ok(whole.finish()))
}

fn parse_crs(text: &str) -> Result<Crs, CrsError> {
    if text
        .trim_start()
        .starts_with(|c: char| c.is_ascii_uppercase())
        && text.contains('[')
    {
        Crs::from_wkt(text)
    } else {
        Crs::parse(text)
    }
}

fn field_list(schema: &Schema) -> String {
    schema
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn hash_file(path: &Path) -> Result<String, IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(crate::model::hex::encode(&hasher.finalize()))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn geometry_type_name(features: &[Feature]) -> String {
    let name = |g: &Geometry<f64>| match g {
        Geometry::Point(_) => "Point",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::LineString(_) | Geometry::Line(_) => "LineString",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "Polygon",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
    };
    let mut names = features.iter().map(|f| name(&f.geometry));
    let first = names.next().unwrap_or("Unknown");
    if names.all(|n| n == first) {
        first.to_owned()
    } else {
        "Mixed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn reading_in_parts_gives_what_one_reader_gives() {
        // Lines of every kind the reader treats apart, so that cuts fall among them.
        let mut text = String::from("\u{feff}");
        for i in 0..300_u32 {
            let x = f64::from(i) / 10.0;
            let feature = |k: u32| {
                let props = match k % 4 {
                    0 => format!(r#"{{"a":{k},"b":"t{k}"}}"#),
                    1 => format!(r#"{{"b":null,"a":{k}.5,"c":true}}"#),
                    2 => r#"{"a":null}"#.to_owned(),
                    _ => "null".to_owned(),
                };
                format!(
                    r#"{{"type":"Feature","properties":{props},"geometry":{{"type":"Point","coordinates":[{x},{}]}}}}"#,
                    k % 80
                )
            };
            match i % 11 {
                0 => text.push('\n'),
                1 => text.push_str("{\"type\":\"Feature\",broken\n"),
                2 => {
                    let _ = writeln!(text, "\u{1e}{}\u{1e}{}", feature(i), feature(i + 1));
                }
                3 => {
                    let _ = write!(text, "{}\r\n", feature(i));
                }
                4 => text.push_str("{\"type\":\"Feature\",\"geometry\":null,\"properties\":{}}\n"),
                5 => text.push_str(
                    "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[500,1]}}\n",
                ),
                _ => {
                    let _ = writeln!(text, "{}", feature(i));
                }
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("parts.geojsonl");
        std::fs::write(&path, &text).expect("write");
        let to_wgs84 = ToWgs84::new(&Crs::wgs84()).expect("identity");
        let progress = super::super::progress::Progress::new(false);
        let reader = read::open(&path, Format::GeoJsonSeq, &ReadOptions::default()).expect("open");
        let rules = Arc::new(FieldRules::default());
        let whole = build(reader, &to_wgs84, &rules, &progress).expect("build");
        assert!(whole.2.features_rejected > 0 && whole.2.features_accepted > 100);
        for parts in [2, 3, 7, 64] {
            let ranges = read::geojsonseq::split(&path, parts).expect("split");
            assert!(ranges.len() > 1, "{parts}");
            let joined = build_in_parts(
                &path,
                &ranges,
                read::Encoding::Utf8,
                &to_wgs84,
                &rules,
                &progress,
            )
            .expect("no part failed")
            .expect("build");
            assert_eq!(joined, whole, "{parts} parts");
        }
    }
}
