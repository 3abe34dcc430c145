//! The quality report written by every ingest, and its redacted form for personal
//! layers ([`QualityReport::redacted`]).
//!
//! May import: nothing from the crate.

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

/// What a redacted report says for a reason that contains the pattern: `(pattern,
/// text)`, the first match wins. Every text contains its own pattern, so redacting a
/// redacted report changes nothing.
const REDACTED_REASONS: [(&str, &str); 17] = [
    ("has no geometry", "feature has no geometry"),
    ("outside lon/lat range", "coordinate outside lon/lat range"),
    ("not a finite number", "coordinate not a finite number"),
    ("cannot reproject", "cannot reproject"),
    ("geometry is empty", "geometry is empty"),
    (
        "fewer than 2 distinct positions",
        "line has fewer than 2 distinct positions",
    ),
    (
        "fewer than 3 distinct positions",
        "polygon ring has fewer than 3 distinct positions",
    ),
    ("encloses no area", "polygon encloses no area"),
    (
        "could not be repaired",
        "invalid polygon could not be repaired",
    ),
    (
        "nested more than",
        "geometry collections nested more than allowed",
    ),
    ("no UTC offset", "time has no UTC offset"),
    (
        "does not exist in",
        "local time does not exist in the layer's time zone",
    ),
    (
        "occurs twice in",
        "local time occurs twice in the layer's time zone",
    ),
    ("is not a number", "a coordinate is not a number"),
    ("is empty", "a coordinate is empty"),
    ("not a valid geometry", "not a valid geometry"),
    (
        "but the header has",
        "the row has more fields but the header has fewer columns",
    ),
];

/// What a redacted report says for any other reason.
const REDACTED_OTHER: &str = "the feature cannot be read";

/// The repairs a redacted report names (the texts of the geometry check's fixes);
/// any other becomes [`REDACTED_REPAIR`].
const REDACTED_FIXES: [&str; 5] = [
    "removed repeated points",
    "removed degenerate parts",
    "reoriented rings",
    "resolved self-intersecting or misplaced rings",
    "merged overlapping polygons",
];

/// What a redacted report says for a repair it does not name.
const REDACTED_REPAIR: &str = "geometry repaired";

impl QualityReport {
    /// The report with nothing in it that came from the data's coordinates or property
    /// values: what a personal layer's report may show. Rejections and repairs keep
    /// their position (feature number and line) and say why in one of a fixed set of
    /// texts (an unknown reason becomes "the feature cannot be read"); the extent is
    /// coarsened like a personal layer's ([`Bbox::coarsened`]). Counts, field types
    /// and missing values, which describe columns, stay. Idempotent.
    ///
    /// Because the texts come from a fixed list, no reason can carry a value through,
    /// whatever a reader or check writes into it.
    ///
    /// # Examples
    /// ```
    /// use tessera::model::QualityReport;
    /// use tessera::model::quality::SourcePosition;
    /// let mut report = QualityReport::default();
    /// let at = SourcePosition { feature: 2, line: Some(3) };
    /// report.reject(at, "coordinate (200.0, 41.39) is outside lon/lat range");
    /// let redacted = report.redacted();
    /// assert_eq!(redacted.rejections[0].reason, "coordinate outside lon/lat range");
    /// assert_eq!(redacted.rejections[0].at, at);
    /// ```
    #[must_use]
    pub fn redacted(&self) -> QualityReport {
        let reason = |text: &str| {
            REDACTED_REASONS
                .iter()
                .find(|(pattern, _)| text.contains(pattern))
                .map_or(REDACTED_OTHER, |(_, redacted)| redacted)
                .to_owned()
        };
        let fix = |text: &str| {
            text.split("; ")
                .map(|part| {
                    REDACTED_FIXES
                        .iter()
                        .find(|known| **known == part)
                        .map_or(REDACTED_REPAIR, |known| known)
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        QualityReport {
            rejections: self
                .rejections
                .iter()
                .map(|r| Rejection {
                    at: r.at,
                    reason: reason(&r.reason),
                })
                .collect(),
            repairs: self
                .repairs
                .iter()
                .map(|r| Repair {
                    at: r.at,
                    fix: fix(&r.fix),
                })
                .collect(),
            bbox: self.bbox.map(|b| b.coarsened()),
            ..self.clone()
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64) -> SourcePosition {
        SourcePosition {
            feature: line - 1,
            line: Some(line),
        }
    }

    #[test]
    fn redaction_keeps_positions_and_drops_every_value() {
        let mut report = QualityReport::default();
        let reasons = [
            "coordinate (200.123456, 41.3871) is outside lon/lat range",
            "cannot reproject (431000, 4583900) from EPSG:25831 to WGS84: out of range",
            "data/p.csv line 9: column 'lon' is not a number: 'secret-value'",
            "data/p.geojson feature 4: unknown GeoJSON type \"Secret\"",
            "time field \"ts\" has no UTC offset: give the layer a time zone",
            "invalid polygon could not be repaired: ring (1 2, 3 4) crosses itself",
        ];
        for (i, reason) in reasons.iter().enumerate() {
            report.reject(at(i as u64 + 2), *reason);
        }
        report.repaired(at(20), "removed repeated points; moved 2.17 41.38");
        report.bbox = Some(Bbox::new(2.166_606, 41.392_449, 2.166_606, 41.392_449));
        report.features_read = 7;
        let redacted = report.redacted();
        let texts: Vec<&str> = redacted
            .rejections
            .iter()
            .map(|r| r.reason.as_str())
            .collect();
        assert_eq!(
            texts,
            [
                "coordinate outside lon/lat range",
                "cannot reproject",
                "a coordinate is not a number",
                "the feature cannot be read",
                "time has no UTC offset",
                "invalid polygon could not be repaired",
            ]
        );
        assert_eq!(
            redacted.repairs[0].fix,
            "removed repeated points; geometry repaired"
        );
        let positions: Vec<SourcePosition> = redacted.rejections.iter().map(|r| r.at).collect();
        let original: Vec<SourcePosition> = report.rejections.iter().map(|r| r.at).collect();
        assert_eq!(positions, original);
        assert_eq!(redacted.features_read, 7);
        let json = serde_json::to_string(&redacted).expect("json");
        for leak in [
            "200.12",
            "41.3871",
            "431000",
            "secret",
            "Secret",
            "2.17",
            "1 2",
            "2.166606",
            "41.392449",
        ] {
            assert!(!json.contains(leak), "{leak} in {json}");
        }
        assert_eq!(redacted.redacted(), redacted);
    }

    #[test]
    fn every_redacted_text_redacts_to_itself() {
        for (_, text) in REDACTED_REASONS {
            let mut report = QualityReport::default();
            report.reject(at(2), text);
            assert_eq!(report.redacted().rejections[0].reason, text);
        }
    }
}
