//! Severity words and CVSS scoring.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The severity scale of the response plan (and of CVSS's qualitative rating).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Unknown,
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// GitHub's advisory severity words; GitHub says "moderate" where CVSS says "medium".
    pub fn from_advisory_word(word: &str) -> Option<Severity> {
        match word.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "moderate" | "medium" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<cvss::Severity> for Severity {
    fn from(value: cvss::Severity) -> Self {
        match value {
            cvss::Severity::None => Severity::None,
            cvss::Severity::Low => Severity::Low,
            cvss::Severity::Medium => Severity::Medium,
            cvss::Severity::High => Severity::High,
            cvss::Severity::Critical => Severity::Critical,
        }
    }
}

/// Which CVSS generation a slot of the advisory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CvssSlot {
    #[serde(rename = "3.x")]
    V3,
    #[serde(rename = "4.0")]
    V4,
}

/// What herald made of one CVSS vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CvssScore {
    /// The vector parsed and was scored by the `cvss` crate.
    Scored {
        version: String,
        score: f64,
        severity: Severity,
    },
    /// The advisory carries a CVSS entry whose vector is empty.
    Empty,
    /// The vector could not be parsed, or belongs to another CVSS generation.
    Malformed { error: String },
}

/// A CVSS vector as the advisory gave it, with herald's own computation beside the stated score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssAssessment {
    pub vector: String,
    /// The score the payload itself stated, kept as given.
    pub stated_score: Option<f64>,
    pub computed: CvssScore,
}

/// Scores differing by less than this are the same score written with other rounding.
const SCORE_TOLERANCE: f64 = 0.05;

impl CvssAssessment {
    /// Parses and scores `vector`; never fails: an unusable vector is recorded as such.
    pub fn assess(slot: CvssSlot, vector: &str, stated_score: Option<f64>) -> CvssAssessment {
        let trimmed = vector.trim();
        let computed = if trimmed.is_empty() {
            CvssScore::Empty
        } else {
            score_vector(slot, trimmed)
        };
        CvssAssessment {
            vector: trimmed.to_owned(),
            stated_score,
            computed,
        }
    }

    pub fn computed_score(&self) -> Option<f64> {
        match self.computed {
            CvssScore::Scored { score, .. } => Some(score),
            _ => None,
        }
    }

    pub fn computed_severity(&self) -> Option<Severity> {
        match self.computed {
            CvssScore::Scored { severity, .. } => Some(severity),
            _ => None,
        }
    }

    /// herald's score beside the advisory's, in words: `9.8 critical (CVSS 3.1, computed);
    /// advisory states 9.8`, with `MISMATCH` appended when they disagree.
    pub fn describe(&self) -> String {
        let computed = match &self.computed {
            CvssScore::Scored {
                version,
                score,
                severity,
            } => format!("{score:.1} {severity} (CVSS {version}, computed)"),
            CvssScore::Empty => "empty vector".to_owned(),
            CvssScore::Malformed { error } => format!("malformed vector: {error}"),
        };
        let stated = self
            .stated_score
            .map(|score| format!("{score:.1}"))
            .unwrap_or_else(|| "none".to_owned());
        let mismatch = if self.mismatch().is_some() {
            "  MISMATCH"
        } else {
            ""
        };
        format!("{computed}; advisory states {stated}{mismatch}")
    }

    /// The stated and computed scores, when both exist and disagree.
    pub fn mismatch(&self) -> Option<(f64, f64)> {
        let stated = self.stated_score?;
        let computed = self.computed_score()?;
        ((stated - computed).abs() >= SCORE_TOLERANCE).then_some((stated, computed))
    }
}

/// The base metrics CVSS 3.x makes mandatory. The `cvss` crate checks them for 4.0 only and
/// would score a 3.x vector without them (an absent metric weighing nothing).
const CVSS3_BASE_METRICS: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];

fn missing_cvss3_base_metrics(vector: &str) -> Vec<&'static str> {
    let present: Vec<&str> = vector
        .split('/')
        .skip(1)
        .filter_map(|metric| metric.split_once(':').map(|(name, _)| name))
        .collect();
    CVSS3_BASE_METRICS
        .into_iter()
        .filter(|metric| !present.iter().any(|name| name.eq_ignore_ascii_case(metric)))
        .collect()
}

fn score_vector(slot: CvssSlot, vector: &str) -> CvssScore {
    if slot == CvssSlot::V3 && vector.starts_with("CVSS:3.") {
        let missing = missing_cvss3_base_metrics(vector);
        if !missing.is_empty() {
            return CvssScore::Malformed {
                error: format!("missing mandatory base metric(s) {}", missing.join(", ")),
            };
        }
    }
    let parsed = match cvss::Cvss::from_str(vector) {
        Ok(parsed) => parsed,
        Err(error) => {
            return CvssScore::Malformed {
                error: error.to_string(),
            };
        }
    };
    let version = match (&parsed, slot) {
        (cvss::Cvss::CvssV30(_), CvssSlot::V3) => "3.0",
        (cvss::Cvss::CvssV31(_), CvssSlot::V3) => "3.1",
        (cvss::Cvss::CvssV40(_), CvssSlot::V4) => "4.0",
        _ => {
            return CvssScore::Malformed {
                error: format!(
                    "a CVSS {} slot holds a vector of another CVSS version",
                    match slot {
                        CvssSlot::V3 => "3.x",
                        CvssSlot::V4 => "4.0",
                    }
                ),
            };
        }
    };
    CvssScore::Scored {
        version: version.to_owned(),
        score: parsed.score(),
        severity: parsed.severity().into(),
    }
}

/// Where the incident's severity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeveritySource {
    Cvss4,
    Cvss3,
    Advisory,
    Unknown,
    Maintainer,
    MaintainerCvss,
    /// From the kind of incident a maintainer named (`/herald kind …`).
    Kind,
}

/// What kind of incident this is, in the response plans' words; each kind has its severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentKind {
    /// Package or repository compromised, malicious code.
    SupplyChain,
    CodeExecution,
    Xss,
    LeakedSecrets,
    DenialOfService,
    MemoryLeak,
    Integrity,
    DocsDefacement,
    Regression,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 9] = [
        IncidentKind::SupplyChain,
        IncidentKind::CodeExecution,
        IncidentKind::Xss,
        IncidentKind::LeakedSecrets,
        IncidentKind::DenialOfService,
        IncidentKind::MemoryLeak,
        IncidentKind::Integrity,
        IncidentKind::DocsDefacement,
        IncidentKind::Regression,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::SupplyChain => "supply-chain",
            IncidentKind::CodeExecution => "code-execution",
            IncidentKind::Xss => "xss",
            IncidentKind::LeakedSecrets => "leaked-secrets",
            IncidentKind::DenialOfService => "denial-of-service",
            IncidentKind::MemoryLeak => "memory-leak",
            IncidentKind::Integrity => "integrity",
            IncidentKind::DocsDefacement => "docs-defacement",
            IncidentKind::Regression => "regression",
        }
    }

    /// Critical: supply chain; high: code execution, XSS, leaked secrets; medium: denial of
    /// service, memory leaks, integrity; low: docs defacement, minor regressions.
    pub fn severity(self) -> Severity {
        match self {
            IncidentKind::SupplyChain => Severity::Critical,
            IncidentKind::CodeExecution | IncidentKind::Xss | IncidentKind::LeakedSecrets => {
                Severity::High
            }
            IncidentKind::DenialOfService | IncidentKind::MemoryLeak | IncidentKind::Integrity => {
                Severity::Medium
            }
            IncidentKind::DocsDefacement | IncidentKind::Regression => Severity::Low,
        }
    }
}

impl FromStr for IncidentKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let word = text.trim().to_ascii_lowercase();
        let alias = match word.as_str() {
            "rce" => "code-execution",
            "dos" => "denial-of-service",
            "secrets" => "leaked-secrets",
            other => other,
        };
        IncidentKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == alias)
            .ok_or_else(|| {
                format!(
                    "`{word}` is not a kind: use {}",
                    IncidentKind::ALL.map(IncidentKind::as_str).join(", ")
                )
            })
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SeveritySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SeveritySource::Cvss4 => "computed from CVSS 4.0",
            SeveritySource::Cvss3 => "computed from CVSS 3.x",
            SeveritySource::Advisory => "as stated by the advisory",
            SeveritySource::Unknown => "not known yet",
            SeveritySource::Maintainer => "set by a maintainer",
            SeveritySource::MaintainerCvss => "computed from a maintainer's CVSS vector",
            SeveritySource::Kind => "from the kind of incident a maintainer named",
        })
    }
}

/// The qualitative rating of a valid CVSS vector decides (4.0 before 3.x, being the newer
/// standard); without one, the advisory's own word stands.
pub fn decide_severity(
    cvss_v4: Option<&CvssAssessment>,
    cvss_v3: Option<&CvssAssessment>,
    advisory_word: Option<&str>,
) -> (Severity, SeveritySource) {
    if let Some(severity) = cvss_v4.and_then(CvssAssessment::computed_severity) {
        return (severity, SeveritySource::Cvss4);
    }
    if let Some(severity) = cvss_v3.and_then(CvssAssessment::computed_severity) {
        return (severity, SeveritySource::Cvss3);
    }
    match advisory_word.and_then(Severity::from_advisory_word) {
        Some(severity) => (severity, SeveritySource::Advisory),
        None => (Severity::Unknown, SeveritySource::Unknown),
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unknown" => Ok(Severity::Unknown),
            "none" => Ok(Severity::None),
            other => Severity::from_advisory_word(other)
                .ok_or_else(|| format!("unknown severity {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_cvss_31_and_40_vectors() {
        let v3 = CvssAssessment::assess(
            CvssSlot::V3,
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            Some(9.8),
        );
        assert_eq!(v3.computed_score(), Some(9.8));
        assert_eq!(v3.computed_severity(), Some(Severity::Critical));
        assert_eq!(v3.mismatch(), None);

        let v4 = CvssAssessment::assess(
            CvssSlot::V4,
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            Some(9.3),
        );
        assert_eq!(v4.computed_score(), Some(9.3));
        assert_eq!(v4.mismatch(), None);
    }

    #[test]
    fn a_wrong_stated_score_is_a_recorded_mismatch() {
        let v3 = CvssAssessment::assess(
            CvssSlot::V3,
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            Some(5.0),
        );
        assert_eq!(v3.mismatch(), Some((5.0, 9.8)));
    }

    #[test]
    fn empty_and_malformed_vectors_are_recorded_not_fatal() {
        let empty = CvssAssessment::assess(CvssSlot::V3, "  ", Some(7.5));
        assert_eq!(empty.computed, CvssScore::Empty);
        assert_eq!(empty.mismatch(), None);

        let garbage = CvssAssessment::assess(CvssSlot::V3, "CVSS:3.1/AV:X", None);
        assert!(matches!(garbage.computed, CvssScore::Malformed { .. }));

        let wrong_slot = CvssAssessment::assess(
            CvssSlot::V3,
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            None,
        );
        assert!(matches!(wrong_slot.computed, CvssScore::Malformed { .. }));
    }

    #[test]
    fn severity_prefers_cvss4_then_cvss3_then_the_advisory_word() {
        let v3 = CvssAssessment::assess(
            CvssSlot::V3,
            "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
            None,
        );
        let bad_v4 = CvssAssessment::assess(CvssSlot::V4, "nonsense", None);
        assert_eq!(
            decide_severity(Some(&bad_v4), Some(&v3), Some("critical")),
            (Severity::Low, SeveritySource::Cvss3)
        );
        assert_eq!(
            decide_severity(Some(&bad_v4), None, Some("moderate")),
            (Severity::Medium, SeveritySource::Advisory)
        );
        assert_eq!(
            decide_severity(None, None, Some("bogus")),
            (Severity::Unknown, SeveritySource::Unknown)
        );
    }
}
