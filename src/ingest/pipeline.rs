//! The ingest pipeline: read → reproject → check and repair → type → report → store.
//!
//! Every feature is either stored (possibly repaired) or listed in the quality report
//! with its position and reason. A fatal read error, or an input in which no feature
//! survives, stores nothing: the version being served stays as it was.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use geo::BoundingRect as _;
use geo_types::Geometry;
use sha2::{Digest as _, Sha256};

use super::format::{Format, FormatError};
use super::read::{self, PropertyNames, RawFeature, ReadError, ReadOptions};
use crate::crs::{Crs, CrsError, ToWgs84};
use crate::geometry_check::{self, Checked, Fix};
use crate::model::meta::SourceInfo;
use crate::model::quality::SourcePosition;
use crate::model::{
    Bbox, Feature, Field, FieldType, LayerMeta, LayerName, QualityReport, Schema, Sensitivity,
    Value,
};
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
    /// Sensitivity class.
    pub sensitivity: Sensitivity,
    /// Property identifying a person (personal layers).
    pub id_field: Option<String>,
    /// Property holding the observation time.
    pub time_field: Option<String>,
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
    #[error("{path}: field {field:?} given as {role} does not exist; fields are: {fields}")]
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
    /// Writing the version failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let format = match options.format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    let reader = read::open(path, format, &options.read)?;
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
    // The file is hashed on a second thread while it is parsed. (Parsing and checking
    // on separate threads was tried and was slower: every parsed value is then freed
    // on another thread than the one that allocated it.)
    let started = std::time::Instant::now();
    let (sha256, built) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| hash_file(path));
        let built = build(reader, &to_wgs84, &progress);
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
    if features.is_empty() {
        return Err(IngestError::NoValidFeature {
            path: path.to_owned(),
            read: report.features_read,
            rejected: report.features_rejected,
            summary: report.summary(),
        });
    }
    let catalog = &options.catalog;
    for (field, role) in [
        (&catalog.id_field, "--id-field"),
        (&catalog.time_field, "--time-field"),
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
    let meta = LayerMeta {
        name: layer.clone(),
        version: 0,
        title: catalog.title.clone().unwrap_or_else(|| layer.to_string()),
        description: catalog.description.clone(),
        license: catalog.license.clone(),
        steward: catalog.steward.clone(),
        update_frequency: catalog.update_frequency.clone(),
        sensitivity: catalog.sensitivity,
        id_field: catalog.id_field.clone(),
        time_field: catalog.time_field.clone(),
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
    progress: &super::progress::Progress,
) -> Result<(Schema, Vec<Feature>, QualityReport), IngestError> {
    let mut builder = LayerBuilder::default();
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
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
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

/// How many recent lists of property names the builder remembers the fields of.
const RECENT_LAYOUTS: usize = 8;

/// Accumulates accepted features, the schema and the report.
#[derive(Default)]
struct LayerBuilder {
    fields: Vec<Field>,
    /// Fields seen so far only with null values; their type is still open.
    untyped: Vec<usize>,
    field_index: HashMap<String, usize, foldhash::fast::RandomState>,
    /// Layouts: for each list of property names met, the field of each of its values.
    layouts: Vec<Vec<usize>>,
    /// Recently met lists of property names and their layout, most recent first.
    /// Readers share one list between features with the same names, so matching a
    /// feature's names to fields is mostly one pointer comparison, not a string
    /// comparison or hash per property.
    recent: Vec<(PropertyNames, usize)>,
    /// Accepted features, their properties still as read: untyped, in the order of
    /// their layout. [`Self::finish`] puts them in schema order in place.
    accepted: Vec<Feature>,
    /// The layout of each accepted feature's properties.
    layout_of: Vec<usize>,
    report: QualityReport,
}

impl LayerBuilder {
    fn add(&mut self, raw: RawFeature, to_wgs84: &ToWgs84) {
        self.report.features_read += 1;
        let at = raw.at;
        let Some(mut geometry) = raw.geometry else {
            self.report.reject(at, "feature has no geometry");
            return;
        };
        if let Err(e) = to_wgs84.transform_geometry(&mut geometry) {
            self.report.reject(at, format!("cannot reproject: {e}"));
            return;
        }
        let Checked { geometry, fixes } = match geometry_check::check(geometry) {
            Ok(checked) => checked,
            Err(rejected) => {
                self.report.reject(at, rejected.to_string());
                return;
            }
        };
        // Reorienting rings to RFC 7946 is routine normalisation, not a repair.
        let repairs: Vec<String> = fixes
            .iter()
            .filter(|f| !matches!(f, Fix::ReorientedRings))
            .map(ToString::to_string)
            .collect();
        if !repairs.is_empty() {
            self.report.repaired(at, repairs.join("; "));
        }
        let (names, values) = raw.properties.into_parts();
        let layout = self.layout(&names, &values);
        self.accepted.push(Feature {
            id: at.feature,
            geometry,
            properties: values,
        });
        self.layout_of.push(layout);
    }

    fn reject_unreadable(&mut self, e: &ReadError) {
        self.report.features_read += 1;
        let at = e.position().unwrap_or(SourcePosition {
            feature: self.report.features_read,
            line: None,
        });
        self.report.reject(at, e.to_string());
    }

    /// The layout of properties `names`, widening the fields' types to hold `values`.
    fn layout(&mut self, names: &PropertyNames, values: &[Value]) -> usize {
        if let Some(i) = self.recent.iter().position(|(n, _)| n.same_list(names)) {
            let layout = self.recent[i].1;
            self.recent[..=i].rotate_right(1);
            for (&field, value) in self.layouts[layout].iter().zip(values) {
                widen(&mut self.fields, &mut self.untyped, field, value);
            }
            return layout;
        }
        let fields = names
            .as_slice()
            .iter()
            .zip(values)
            .map(|(name, value)| self.field(name.as_str(), value))
            .collect();
        self.layouts.push(fields);
        let layout = self.layouts.len() - 1;
        self.recent.truncate(RECENT_LAYOUTS - 1);
        self.recent.insert(0, (names.clone(), layout));
        layout
    }

    /// The index of field `name`, widening its type to hold `value`.
    fn field(&mut self, name: &str, value: &Value) -> usize {
        if let Some(&index) = self.field_index.get(name) {
            widen(&mut self.fields, &mut self.untyped, index, value);
            return index;
        }
        let index = self.fields.len();
        self.fields.push(Field {
            name: name.to_owned(),
            field_type: value.field_type().unwrap_or(FieldType::String),
        });
        self.field_index.insert(name.to_owned(), index);
        // A column that starts with nulls takes the type of its first value.
        if value.is_null() {
            self.untyped.push(index);
        }
        index
    }

    fn finish(self) -> (Schema, Vec<Feature>, QualityReport) {
        let Self {
            fields,
            layouts,
            mut accepted,
            layout_of,
            mut report,
            ..
        } = self;
        let schema = Schema { fields };
        let count = schema.fields.len();
        // A layout that holds every field in schema order lets values be typed where
        // they are, without a new vector per feature.
        let in_order: Vec<bool> = layouts
            .iter()
            .map(|l| l.len() == count && l.iter().enumerate().all(|(i, &f)| i == f))
            .collect();
        let mut missing = vec![0u64; count];
        let mut bbox = Bbox::empty();
        for (feature, &layout) in accepted.iter_mut().zip(&layout_of) {
            if in_order[layout] {
                for (value, field) in feature.properties.iter_mut().zip(&schema.fields) {
                    *value = coerce(std::mem::take(value), field.field_type);
                }
            } else {
                let mut properties = vec![Value::Null; count];
                let values = std::mem::take(&mut feature.properties);
                for (&i, value) in layouts[layout].iter().zip(values) {
                    properties[i] = coerce(value, schema.fields[i].field_type);
                }
                feature.properties = properties;
            }
            for (count, value) in missing.iter_mut().zip(&feature.properties) {
                *count += u64::from(value.is_null());
            }
            if let Some(r) = feature.geometry.bounding_rect() {
                bbox.extend(&Bbox::from(r));
            }
        }
        report.features_accepted = accepted.len() as u64;
        report.bbox = (!bbox.is_empty()).then_some(bbox);
        for (field, count) in schema.fields.iter().zip(missing) {
            report.missing_values.insert(field.name.clone(), count);
            report
                .field_types
                .insert(field.name.clone(), field.field_type);
        }
        (schema, accepted, report)
    }
}

/// Widens the type of field `index` to hold `value`; `untyped` lists the fields seen
/// only with nulls so far.
fn widen(fields: &mut [Field], untyped: &mut Vec<usize>, index: usize, value: &Value) {
    if let Some(t) = value.field_type() {
        let field = &mut fields[index];
        field.field_type = if let Some(pos) = untyped.iter().position(|&u| u == index) {
            untyped.swap_remove(pos);
            t
        } else {
            field.field_type.merge(t)
        };
    }
}

/// `value` as a value of type `to`, null when it cannot be one.
fn coerce(value: Value, to: FieldType) -> Value {
    if value.is_null() || value.field_type() == Some(to) {
        value
    } else {
        value.coerce(to).unwrap_or(Value::Null)
    }
}
