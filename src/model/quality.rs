//! The quality report written by every ingest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Bbox, FieldType};

/// The most rejections or repairs listed one by one; the counts stay exact beyond it.
pub const MAX_LISTED_ISSUES: usize = 1000;

/// Where in the source file a feature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    /// 1-based position of the feature in the file.
    pub feature: u64,
    /// 1-based text line, for line-oriented formats (CSV, GeoJSONSeq).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl std::fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}"),
            None => write!(f, "feature {}", self.feature),
        }
    }
}

/// A feature that was not ingested, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// Where it was.
    #[serde(flatten)]
    pub at: SourcePosition,
    /// What was wrong.
    pub reason: String,
}

/// A feature whose geometry was repaired, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repair {
    /// Where it was.
    #[serde(flatten)]
    pub at: SourcePosition,
    /// What was fixed.
    pub fix: String,
}

/// What an ingest found in its input.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QualityReport {
    /// Features read from the source.
    pub features_read: u64,
    /// Features stored (read minus rejected).
    pub features_accepted: u64,
    /// Features stored after a geometry repair.
    pub features_repaired: u64,
    /// Features rejected.
    pub features_rejected: u64,
    /// The first [`MAX_LISTED_ISSUES`] rejections.
    pub rejections: Vec<Rejection>,
    /// The first [`MAX_LISTED_ISSUES`] repairs.
    pub repairs: Vec<Repair>,
    /// Per field, how many accepted features lack a value.
    pub missing_values: BTreeMap<String, u64>,
    /// Per field, the inferred type.
    pub field_types: BTreeMap<String, FieldType>,
    /// Extent of the accepted features.
    pub bbox: Option<Bbox>,
}

impl QualityReport {
    /// Records a rejected feature.
    pub fn reject(&mut self, at: SourcePosition, reason: impl Into<String>) {
        self.features_rejected += 1;
        if self.rejections.len() < MAX_LISTED_ISSUES {
            self.rejections.push(Rejection {
                at,
                reason: reason.into(),
            });
        }
    }

    /// Records a repaired feature.
    pub fn repaired(&mut self, at: SourcePosition, fix: impl Into<String>) {
        self.features_repaired += 1;
        if self.repairs.len() < MAX_LISTED_ISSUES {
            self.repairs.push(Repair {
                at,
                fix: fix.into(),
            });
        }
    }

    /// A short multi-line summary for the terminal.
    #[must_use]
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "features read: {}, accepted: {}, repaired: {}, rejected: {}\n",
            self.features_read,
            self.features_accepted,
            self.features_repaired,
            self.features_rejected
        );
        for r in self.rejections.iter().take(10) {
            let _ = writeln!(out, "  rejected {}: {}", r.at, r.reason);
        }
        if self.features_rejected > 10 {
            let _ = writeln!(out, "  … {} more rejections", self.features_rejected - 10);
        }
        for r in self.repairs.iter().take(5) {
            let _ = writeln!(out, "  repaired {}: {}", r.at, r.fix);
        }
        for (field, missing) in self.missing_values.iter().filter(|(_, n)| **n > 0) {
            let _ = writeln!(out, "  field {field:?}: {missing} missing values");
        }
        out
    }
}
