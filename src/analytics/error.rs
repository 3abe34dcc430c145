//! The error type of the analytics module.
//!
//! May import: nothing from the crate.

/// Why an analytics request or preparation failed. Every variant is the caller's
/// input (a field name, a time, a parameter); none is an internal failure.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A field name that the layer's schema does not have.
    #[error("layer {layer} has no field named {field:?}")]
    UnknownField {
        /// The layer searched.
        layer: String,
        /// The field asked for.
        field: String,
    },
    /// A field used as a number (sum, mean) that is not numeric.
    #[error("field {field:?} of layer {layer} is {found}, but a numeric field is needed")]
    NotNumeric {
        /// The layer searched.
        layer: String,
        /// The field asked for.
        field: String,
        /// Its type, as a JSON Schema type name.
        found: &'static str,
    },
    /// A point table used with a different layer than the one it was built from.
    #[error("point columns were built from layer {built_from}, not {given}")]
    LayerMismatch {
        /// Name and version the columns come from.
        built_from: String,
        /// Name and version given.
        given: String,
    },
    /// Distinct persons asked of a table built without a person id field.
    #[error("layer {layer} has no person id field, so distinct persons cannot be counted")]
    NoPersonField {
        /// The layer.
        layer: String,
    },
    /// Sums or means asked of a table built without a value field.
    #[error(
        "layer {layer} was prepared without a value field, so sums and means cannot be computed"
    )]
    NoValueField {
        /// The layer.
        layer: String,
    },
    /// A layer with more rows than the `u32` row numbers can address.
    #[error("layer {layer} has {rows} points, more than the limit of {max}")]
    TooManyRows {
        /// The layer.
        layer: String,
        /// Its number of points.
        rows: usize,
        /// [`crate::analytics::points::MAX_ROWS`].
        max: usize,
    },
    /// A time that is not RFC 3339.
    #[error("invalid time {text:?}: expected RFC 3339, such as 2024-05-01T08:00:00+02:00")]
    Time {
        /// The text given.
        text: String,
        /// The parser's complaint.
        #[source]
        source: time::error::Parse,
    },
    /// A `from`/`to` pair with `from` after `to`.
    #[error("time range is empty: from ({from}) is after to ({to})")]
    TimeRange {
        /// Start, unix seconds.
        from: i64,
        /// End, unix seconds.
        to: i64,
    },
    /// Hour-of-day ranges that do not parse.
    #[error("invalid hours {0:?}: expected ranges of hours 0-24 such as 7-9,17-19 (end exclusive)")]
    Hours(String),
    /// Weekdays that do not parse.
    #[error("invalid weekdays {0:?}: expected days or ranges such as mon-fri or sat,sun")]
    Weekdays(String),
    /// A UTC offset outside ±23:59.
    #[error("invalid UTC offset of {minutes} minutes: must be within ±1439")]
    UtcOffset {
        /// The offset given.
        minutes: i32,
    },
    /// A grid size outside `1..=MAX_GRID_SIZE`.
    #[error("grid size {size} is out of range: must be 1..={max}")]
    GridSize {
        /// The size given.
        size: u32,
        /// [`crate::analytics::grid::MAX_GRID_SIZE`].
        max: u32,
    },
    /// A Mercator rectangle with no area or non-finite edges.
    #[error("empty or invalid rectangle: {0}")]
    Rect(String),
    /// An H3 resolution outside 0..=15.
    #[error("invalid H3 resolution {0}: must be 0..=15")]
    Resolution(u8),
    /// An ε that is not a positive finite number.
    #[error("invalid epsilon {0}: must be a positive finite number")]
    Epsilon(f64),
    /// A k-anonymity threshold of 0.
    #[error("invalid k {0}: the k-anonymity threshold must be at least 1")]
    K(u32),
}

/// Result of analytics operations.
pub type Result<T, E = AnalyticsError> = std::result::Result<T, E>;
