//! herald's CVSS scores against an independent reference implementation.
//!
//! `tests/fixtures/cvss/reference.json` holds CVSS 3.1 and 4.0 vectors scored by Red Hat's
//! `cvss` package for Python; it is made by `tests/cvss/generate.py` (see that script, or the
//! fixture's `generator` field, for how to regenerate it). Python is not needed to run this test.
//!
//! For CVSS 3.1 the fixture holds the base score: herald reports `cvss::Cvss::score()`, which for
//! v3 is the base score (temporal and environmental metrics are parsed, not scored). For CVSS 4.0
//! it holds the one CVSS 4.0 score, which takes threat and environmental metrics into account.

use herald::incident::{CvssAssessment, CvssScore, CvssSlot};
use serde::Deserialize;

/// Scores this close are the same score (both sides give one decimal).
const TOLERANCE: f64 = 0.05;

/// The fewest vectors of each CVSS version the fixture must hold.
const MIN_PER_VERSION: usize = 1_000;

#[derive(Deserialize)]
struct Fixture {
    reference: String,
    vectors: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    vector: String,
    score: f64,
    severity: String,
}

fn load_fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cvss/reference.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn slot_of(vector: &str) -> CvssSlot {
    if vector.starts_with("CVSS:3.") {
        CvssSlot::V3
    } else if vector.starts_with("CVSS:4.0/") {
        CvssSlot::V4
    } else {
        panic!("fixture vector of no known CVSS version: {vector}")
    }
}

#[test]
fn herald_scores_match_the_reference_implementation() {
    let fixture = load_fixture();

    let v3 = fixture
        .vectors
        .iter()
        .filter(|r| r.vector.starts_with("CVSS:3.1/"))
        .count();
    let v4 = fixture
        .vectors
        .iter()
        .filter(|r| r.vector.starts_with("CVSS:4.0/"))
        .count();
    assert!(
        v3 >= MIN_PER_VERSION && v4 >= MIN_PER_VERSION,
        "the fixture needs at least {MIN_PER_VERSION} vectors per version; \
         it has {v3} CVSS 3.1 and {v4} CVSS 4.0"
    );

    let mut mismatches = Vec::new();
    for reference in &fixture.vectors {
        let assessed = CvssAssessment::assess(slot_of(&reference.vector), &reference.vector, None);
        let agrees = match &assessed.computed {
            CvssScore::Scored {
                score, severity, ..
            } => {
                (score - reference.score).abs() < TOLERANCE
                    && severity.as_str() == reference.severity
            }
            _ => false,
        };
        if !agrees {
            let herald = match &assessed.computed {
                CvssScore::Scored {
                    version,
                    score,
                    severity,
                } => format!("{score:.1} {severity} (CVSS {version})"),
                CvssScore::Empty => "empty".to_owned(),
                CvssScore::Malformed { error } => format!("malformed: {error}"),
            };
            mismatches.push(format!(
                "{}\n    reference {:.1} {}; herald {herald}",
                reference.vector, reference.score, reference.severity
            ));
        }
    }

    assert!(
        mismatches.is_empty(),
        "{} of {} vectors score differently from {}:\n{}",
        mismatches.len(),
        fixture.vectors.len(),
        fixture.reference,
        mismatches.join("\n")
    );
}

/// A well-formed CVSS 3.1 vector, which the malformed cases vary.
const V3: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
/// A well-formed CVSS 4.0 vector, which the malformed cases vary.
const V4: &str = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";

/// Malformed vectors, each in the slot it is given in and why it is malformed.
const MALFORMED: &[(CvssSlot, &str, &str)] = &[
    // CVSS 3.x. The `cvss` crate would score vectors missing base metrics (an absent
    // metric weighing nothing); herald checks the eight mandatory ones itself.
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
        "missing base metric A",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H",
        "missing base metric S",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
        "3.0, missing base metric A",
    ),
    (CvssSlot::V3, "CVSS:3.1/E:H", "no base metric at all"),
    (
        CvssSlot::V3,
        "CVSS3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "wrong prefix",
    ),
    (
        CvssSlot::V3,
        "CVSX:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "wrong prefix",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "unknown version",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "unknown base metric value",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:Z",
        "unknown temporal metric value",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:N",
        "unknown metric",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:L",
        "duplicate metric",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
        "trailing slash",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A",
        "metric without value",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N/AC::L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "double colon",
    ),
    (
        CvssSlot::V3,
        "CVSS:3.1/AV:N//AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "empty field",
    ),
    (CvssSlot::V3, V4, "a 4.0 vector in the 3.x slot"),
    (
        CvssSlot::V3,
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "a 2.0 vector in the 3.x slot",
    ),
    (CvssSlot::V3, "CVSS:3.1", "prefix only"),
    (CvssSlot::V3, "nonsense", "garbage"),
    (CvssSlot::V3, "9.8", "a score instead of a vector"),
    // CVSS 4.0
    (
        CvssSlot::V4,
        "CVSS:4/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "wrong prefix",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.1/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "unknown version",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "missing base metric AT",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
        "missing base metric SA",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:R/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "unknown base metric value (UI:R is 3.x)",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N",
        "S is a value of MSI, not of SI",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:F",
        "unknown threat metric value (E:F is 3.x)",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/MSC:S",
        "S is a value of MSI and MSA, not of MSC",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/RL:O",
        "a 3.x metric in a 4.0 vector",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/VC:L",
        "duplicate metric",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A/E:A",
        "duplicate optional metric",
    ),
    (
        CvssSlot::V4,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/",
        "trailing slash",
    ),
    (CvssSlot::V4, V3, "a 3.1 vector in the 4.0 slot"),
    (
        CvssSlot::V4,
        "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "a 3.0 vector in the 4.0 slot",
    ),
    (CvssSlot::V4, "CVSS:4.0/", "prefix only"),
    (CvssSlot::V4, "CVSS:4.0", "prefix without slash"),
    (CvssSlot::V4, "\u{1F4A5}/:/:", "garbage"),
];

#[test]
fn malformed_vectors_are_reported_as_such() {
    // The well-formed vectors the cases below are variations of.
    for (slot, vector) in [(CvssSlot::V3, V3), (CvssSlot::V4, V4)] {
        let assessed = CvssAssessment::assess(slot, vector, None);
        assert!(
            matches!(assessed.computed, CvssScore::Scored { .. }),
            "{vector}: {:?}",
            assessed.computed
        );
    }

    let mut wrong = Vec::new();
    for &(slot, vector, why) in MALFORMED {
        match CvssAssessment::assess(slot, vector, None).computed {
            CvssScore::Malformed { error } if !error.trim().is_empty() => {}
            other => wrong.push(format!("{slot:?} {vector:?} ({why}): {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} malformed vectors were not reported as malformed with an error:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    for slot in [CvssSlot::V3, CvssSlot::V4] {
        for vector in ["", "   ", "\t\n"] {
            assert_eq!(
                CvssAssessment::assess(slot, vector, None).computed,
                CvssScore::Empty,
                "{slot:?} {vector:?}"
            );
        }
    }
}
