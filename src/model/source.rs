//! The [`FeatureSource`] trait: the one way the HTTP layer reads features.
//!
//! # Design
//! A source answers three questions about one layer version: what it is (metadata and
//! schema), which features match a query (ids, in a stable order, plus the total), and
//! what a given feature is. Matching and fetching are separate so that a response can
//! stream a large page in chunks without holding every feature at once.
//!
//! # Invariants every implementation keeps
//! - `query` returns ids in ascending order, without duplicates, so that `offset`
//!   paging walks every matching feature exactly once.
//! - A feature matches `bbox` when its geometry intersects the box, not merely its
//!   envelope.
//! - `features` returns the features for the ids it is given, in the same order, and
//!   skips ids that do not exist.

use super::{Bbox, Feature, LayerMeta, Schema, Value};

/// A failure inside a source (e.g. a database error); input errors are caught before.
#[derive(Debug, thiserror::Error)]
#[error("feature source for layer {layer} failed: {message}")]
pub struct SourceError {
    /// The layer being read.
    pub layer: String,
    /// What went wrong.
    pub message: String,
}

/// Equality of one property with a value.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyFilter {
    /// Index of the field in the schema.
    pub field: usize,
    /// Required value, already parsed as the field's type.
    pub value: Value,
}

/// What to select from a layer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureQuery {
    /// Only features whose geometry intersects this box.
    pub bbox: Option<Bbox>,
    /// Only features whose properties equal all of these.
    pub filters: Vec<PropertyFilter>,
    /// Matching features to skip.
    pub offset: usize,
    /// Matching features to return at most.
    pub limit: usize,
}

/// The result of a query: the ids of one page and the size of the whole match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryPage {
    /// All features matching bbox and filters, regardless of paging.
    pub number_matched: usize,
    /// Ids of the page, ascending.
    pub ids: Vec<u64>,
}

/// A readable layer version. See the module documentation for the invariants.
pub trait FeatureSource: Send + Sync {
    /// Catalog metadata of the version being served.
    fn meta(&self) -> &LayerMeta;

    /// Property columns.
    fn schema(&self) -> &Schema {
        &self.meta().schema
    }

    /// Selects a page of matching feature ids.
    ///
    /// # Errors
    /// [`SourceError`] when the backend fails.
    fn query(&self, query: &FeatureQuery) -> Result<QueryPage, SourceError>;

    /// Fetches features by id, in the order given.
    ///
    /// # Errors
    /// [`SourceError`] when the backend fails.
    fn features(&self, ids: &[u64]) -> Result<Vec<Feature>, SourceError>;

    /// Fetches one feature.
    ///
    /// # Errors
    /// [`SourceError`] when the backend fails.
    fn feature(&self, id: u64) -> Result<Option<Feature>, SourceError> {
        Ok(self.features(&[id])?.pop())
    }
}

/// The implementation-independent checks every [`FeatureSource`] must pass, for use in
/// each implementation's tests: `source` must serve exactly `features`.
///
/// # Panics
/// When an invariant of the module documentation does not hold.
#[doc(hidden)]
pub fn check_contract(source: &dyn FeatureSource, features: &[Feature], boxes: &[Bbox]) {
    use geo::Intersects as _;
    let mut all_ids: Vec<u64> = features.iter().map(|f| f.id).collect();
    all_ids.sort_unstable();
    let everything = FeatureQuery {
        limit: usize::MAX,
        ..FeatureQuery::default()
    };
    let page = source.query(&everything).expect("query");
    assert_eq!(
        page.ids, all_ids,
        "unfiltered query returns every id, ascending"
    );
    assert_eq!(page.number_matched, all_ids.len());
    // Paging walks every id exactly once.
    let mut walked = Vec::new();
    let limit = all_ids.len().div_ceil(3).max(1);
    let mut offset = 0;
    loop {
        let q = FeatureQuery {
            offset,
            limit,
            ..FeatureQuery::default()
        };
        let page = source.query(&q).expect("query");
        if page.ids.is_empty() {
            break;
        }
        walked.extend(page.ids);
        offset += limit;
    }
    assert_eq!(walked, all_ids, "paging walks every feature once");
    // Bbox matches geometry, not envelope.
    for bbox in boxes {
        let rect = bbox.to_rect();
        let mut expected: Vec<u64> = features
            .iter()
            .filter(|f| f.geometry.intersects(&rect))
            .map(|f| f.id)
            .collect();
        expected.sort_unstable();
        let q = FeatureQuery {
            bbox: Some(*bbox),
            limit: usize::MAX,
            ..FeatureQuery::default()
        };
        assert_eq!(source.query(&q).expect("query").ids, expected, "{bbox:?}");
    }
    // Fetching keeps the given order and skips unknown ids.
    let mut asked: Vec<u64> = all_ids.iter().rev().copied().collect();
    asked.insert(0, u64::MAX);
    let got: Vec<u64> = source
        .features(&asked)
        .expect("features")
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(got, asked[1..], "features come back in the order asked");
    for f in features {
        assert_eq!(source.feature(f.id).expect("feature").as_ref(), Some(f));
    }
}
