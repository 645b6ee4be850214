//! The advisory in the [OSV format] (schema 1.7), as osv.dev and the GitHub Advisory
//! Database publish advisories: what scanners read. herald adds it to the repository with
//! the CHANGELOG entry on disclosure, prints it (`herald export osv`) and writes it on a
//! dry run.
//!
//! The document says only what the published advisory says, in OSV's words. GitHub's
//! ecosystems take OSV's names; a package in an ecosystem OSV does not know, or a range OSV
//! cannot say exactly, keeps its GitHub text under `database_specific` instead of a guess.
//! Credits a person declined or has not accepted are left out, as GitHub leaves them out.
//!
//! [OSV format]: https://ossf.github.io/osv-schema/

mod ranges;

pub use ranges::{Event, OsvRange, RangeError, RangeType, Versioning, osv_range};

use super::escape::web_link;
use crate::incident::{AffectedPackage, CvssAssessment, CvssScore, Incident, PullState};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The OSV schema version the documents follow.
pub const SCHEMA_VERSION: &str = "1.7.3";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsvError {
    #[error(
        "{0} is another project's advisory (an upstream incident): its OSV record is that \
         project's to publish"
    )]
    Upstream(String),
}

/// An OSV document, in the schema's field order.
#[derive(Debug, Clone, Serialize)]
pub struct OsvDocument {
    pub schema_version: &'static str,
    pub id: String,
    pub modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub summary: String,
    pub details: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    pub affected: Vec<Affected>,
    pub references: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credits: Vec<Credit>,
    pub database_specific: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Severity {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub score: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Affected {
    pub package: Package,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub ecosystem_specific: Map<String, Value>,
    pub database_specific: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub ecosystem: &'static str,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: RangeType,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Credit {
    pub name: String,
    pub contact: Vec<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// GitHub's ecosystem word, OSV's name for it and how its versions compare.
const ECOSYSTEMS: &[(&str, &str, Versioning)] = &[
    ("npm", "npm", Versioning::SemVer { strip_v: false }),
    ("pip", "PyPI", Versioning::Ecosystem),
    ("maven", "Maven", Versioning::Ecosystem),
    ("go", "Go", Versioning::SemVer { strip_v: true }),
    ("rubygems", "RubyGems", Versioning::Ecosystem),
    ("nuget", "NuGet", Versioning::Ecosystem),
    ("composer", "Packagist", Versioning::Ecosystem),
    ("rust", "crates.io", Versioning::SemVer { strip_v: false }),
    ("erlang", "Hex", Versioning::SemVer { strip_v: false }),
    ("pub", "Pub", Versioning::SemVer { strip_v: false }),
    ("swift", "SwiftURL", Versioning::SemVer { strip_v: false }),
    ("actions", "GitHub Actions", Versioning::Ecosystem),
];

/// OSV's name for GitHub's ecosystem word, and how its versions compare.
pub fn osv_ecosystem(github: &str) -> Option<(&'static str, Versioning)> {
    ECOSYSTEMS
        .iter()
        .find(|(word, _, _)| word.eq_ignore_ascii_case(github.trim()))
        .map(|&(_, name, versioning)| (name, versioning))
}

/// GitHub's credit types and OSV's words for them.
const CREDIT_TYPES: &[(&str, &str)] = &[
    ("finder", "FINDER"),
    ("reporter", "REPORTER"),
    ("analyst", "ANALYST"),
    ("coordinator", "COORDINATOR"),
    ("remediation_developer", "REMEDIATION_DEVELOPER"),
    ("remediation_reviewer", "REMEDIATION_REVIEWER"),
    ("remediation_verifier", "REMEDIATION_VERIFIER"),
    ("tool", "TOOL"),
    ("sponsor", "SPONSOR"),
    ("other", "OTHER"),
];

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The incident's advisory as an OSV document. `modified` is the advisory's last change
/// as GitHub reported it, so a later version of the advisory gives a later `modified`.
pub fn osv_document(incident: &Incident) -> Result<OsvDocument, OsvError> {
    if incident.upstream.is_some() {
        return Err(OsvError::Upstream(incident.ghsa_id.to_string()));
    }
    let modified = [incident.advisory_updated_at, incident.published_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(incident.learned_at);
    let withdrawn = (incident.advisory_state == crate::incident::AdvisoryState::Withdrawn)
        .then(|| timestamp(modified));
    let mut database_specific = Map::new();
    database_specific.insert(
        "severity".into(),
        json!(incident.severity.as_str().to_uppercase()),
    );
    database_specific.insert(
        "cwe_ids".into(),
        json!(
            incident
                .cwes
                .iter()
                .map(|cwe| cwe.id.clone())
                .collect::<Vec<_>>()
        ),
    );
    database_specific.insert("repository".into(), json!(incident.repository.to_string()));
    Ok(OsvDocument {
        schema_version: SCHEMA_VERSION,
        id: incident.ghsa_id.to_string(),
        modified: timestamp(modified),
        published: incident.published_at.map(timestamp),
        withdrawn,
        aliases: incident.cve_id.iter().cloned().collect(),
        summary: incident.summary.clone(),
        details: incident.description.clone(),
        severity: [
            ("CVSS_V3", &incident.cvss_v3),
            ("CVSS_V4", &incident.cvss_v4),
        ]
        .into_iter()
        .filter_map(|(kind, assessment)| severity(kind, assessment.as_ref()?))
        .collect(),
        affected: incident.packages.iter().filter_map(affected).collect(),
        references: references(incident),
        credits: credits(incident),
        database_specific,
    })
}

/// The OSV record among the drafts herald shows for review, writes and prints.
pub const DRAFT_NAME: &str = "osv.json";

/// The record as a draft, for review with the others; `None` for an upstream incident,
/// whose advisory is another project's.
pub fn osv_draft(incident: &Incident) -> Option<super::Draft> {
    osv_json(incident).ok().map(|text| super::Draft {
        name: DRAFT_NAME,
        text,
    })
}

/// The document as herald writes it: pretty JSON with a final newline, its unprintable
/// characters (controls, bidirectional overrides) written as `\uXXXX` escapes since people
/// read the file too.
pub fn osv_json(incident: &Incident) -> Result<String, OsvError> {
    let document = osv_document(incident)?;
    // Plain data into a string: serialising cannot fail.
    let mut text = crate::printable::to_json_pretty(&document).unwrap_or_default();
    text.push('\n');
    Ok(text)
}

/// A vector herald scored; one it could not parse is not the schema's to carry.
fn severity(kind: &'static str, assessment: &CvssAssessment) -> Option<Severity> {
    matches!(assessment.computed, CvssScore::Scored { .. }).then(|| Severity {
        kind,
        score: assessment.vector.clone(),
    })
}

fn affected(package: &AffectedPackage) -> Option<Affected> {
    let (ecosystem, versioning) = osv_ecosystem(package.ecosystem.as_deref()?)?;
    let name = package.name.as_deref()?.trim();
    if name.is_empty() {
        return None;
    }
    let mut database_specific = Map::new();
    let mut entry = Affected {
        package: Package {
            ecosystem,
            name: name.to_owned(),
        },
        ranges: Vec::new(),
        versions: Vec::new(),
        ecosystem_specific: Map::new(),
        database_specific: Map::new(),
    };
    if let Some(range) = &package.vulnerable_version_range {
        database_specific.insert("vulnerable_version_range".into(), json!(range));
        match osv_range(range, versioning) {
            Ok(range) => {
                entry.ranges.push(Range {
                    kind: range.range_type,
                    events: range.events,
                });
                entry.versions = range.versions;
            }
            Err(error) => {
                database_specific.insert("range_not_converted".into(), json!(error.to_string()));
            }
        }
    }
    if let Some(patched) = &package.patched_versions {
        database_specific.insert("patched_versions".into(), json!(patched));
    }
    if !package.vulnerable_functions.is_empty() {
        entry.ecosystem_specific.insert(
            "affected_functions".into(),
            json!(package.vulnerable_functions),
        );
    }
    entry.database_specific = database_specific;
    Some(entry)
}

fn references(incident: &Incident) -> Vec<Reference> {
    let reference = |kind, url: String| Reference { kind, url };
    let mut references = Vec::new();
    if let Some(url) = incident.advisory_url.as_deref().filter(|url| web_link(url)) {
        references.push(reference("ADVISORY", url.to_owned()));
    }
    if let Some(cve) = &incident.cve_id {
        references.push(reference(
            "ADVISORY",
            format!("https://nvd.nist.gov/vuln/detail/{cve}"),
        ));
    }
    for fix in &incident.fixes {
        if fix.state == PullState::Merged && web_link(&fix.url) {
            references.push(reference("FIX", fix.url.clone()));
        }
    }
    for release in &incident.releases {
        if web_link(&release.url) {
            references.push(reference("WEB", release.url.clone()));
        }
    }
    references.push(reference(
        "PACKAGE",
        format!("https://github.com/{}", incident.repository),
    ));
    references
}

fn credits(incident: &Incident) -> Vec<Credit> {
    incident
        .credits
        .iter()
        .filter(|credit| credit.accepted())
        .map(|credit| Credit {
            name: credit.login.clone(),
            contact: vec![format!("https://github.com/{}", credit.login)],
            kind: CREDIT_TYPES
                .iter()
                .find(|(github, _)| credit.kind.eq_ignore_ascii_case(github))
                .map_or("OTHER", |&(_, osv)| osv),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{
        AdvisoryState, CvssSlot, Cwe, Dependency, FixPull, GhsaId, PatchRelease, RepoName,
        UpstreamOrigin,
    };
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, hour, 0, 0)
            .single()
            .expect("time")
    }

    fn package(ecosystem: &str, name: &str, range: &str) -> AffectedPackage {
        AffectedPackage {
            ecosystem: Some(ecosystem.into()),
            name: Some(name.into()),
            vulnerable_version_range: Some(range.into()),
            patched_versions: Some("1.2.3".into()),
            vulnerable_functions: vec![],
        }
    }

    fn credit(login: &str, kind: &str, state: Option<&str>) -> crate::incident::Credit {
        crate::incident::Credit {
            login: login.into(),
            kind: kind.into(),
            state: state.map(str::to_owned),
        }
    }

    fn published() -> Incident {
        let mut incident = Incident::new(
            RepoName::parse("acme/widget").expect("name"),
            GhsaId::parse("GHSA-abcd-efgh-ijkm").expect("id"),
            at(1),
        );
        incident.cve_id = Some("CVE-2026-1234".into());
        incident.summary = "Path traversal in the archive reader".into();
        incident.description = "Entries named `../x` escape the target.".into();
        incident.cvss_v3 = Some(CvssAssessment::assess(
            CvssSlot::V3,
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N",
            Some(9.1),
        ));
        incident.cvss_v4 = Some(CvssAssessment::assess(CvssSlot::V4, "CVSS:4.0/AV:X", None));
        incident.cwes = vec![Cwe {
            id: "CWE-22".into(),
            name: None,
        }];
        incident.packages = vec![
            package("npm", "@acme/widget", ">= 1.0.0, < 1.2.3"),
            package("other", "widget-tools", "< 2"),
            package("pip", "acme-widget", "> 1.0"),
        ];
        incident.credits = vec![
            credit("finder1", "finder", Some("accepted")),
            credit("shy", "reporter", Some("declined")),
            credit("later", "analyst", Some("pending")),
            credit("fixer", "remediation_developer", None),
            credit("someone", "new_kind", None),
        ];
        incident.advisory_state = AdvisoryState::Published;
        incident.advisory_url =
            Some("https://github.com/acme/widget/security/advisories/GHSA-abcd-efgh-ijkm".into());
        incident.published_at = Some(at(5));
        incident.advisory_updated_at = Some(at(4));
        incident.fixes = vec![FixPull {
            repository: incident.repository.clone(),
            number: 7,
            url: "https://github.com/acme/widget/pull/7".into(),
            base: "main".into(),
            state: PullState::Merged,
            backport: false,
            linked_by: None,
            merged_at: Some(at(3)),
        }];
        incident.releases = vec![PatchRelease {
            tag: "v1.2.3".into(),
            url: "https://github.com/acme/widget/releases/tag/v1.2.3".into(),
            published_at: at(4),
        }];
        incident
    }

    fn document(incident: &Incident) -> Value {
        serde_json::from_str(&osv_json(incident).expect("osv")).expect("json")
    }

    #[test]
    fn a_published_advisory_in_osv_terms() {
        let osv = document(&published());
        assert_eq!(osv["schema_version"], SCHEMA_VERSION);
        assert_eq!(osv["id"], "GHSA-abcd-efgh-ijkm");
        assert_eq!(osv["aliases"], json!(["CVE-2026-1234"]));
        assert_eq!(osv["published"], "2026-11-30T05:00:00Z");
        // The later of the advisory's update and its publication.
        assert_eq!(osv["modified"], "2026-11-30T05:00:00Z");
        assert!(osv.get("withdrawn").is_none());
        assert_eq!(osv["details"], "Entries named `../x` escape the target.");
        // The malformed 4.0 vector is left out; the scored 3.1 one stays.
        assert_eq!(
            osv["severity"],
            json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}])
        );
        assert_eq!(osv["database_specific"]["cwe_ids"], json!(["CWE-22"]));
        let affected = osv["affected"].as_array().expect("affected");
        // `other` is no OSV ecosystem.
        assert_eq!(affected.len(), 2);
        assert_eq!(
            affected[0]["package"],
            json!({"ecosystem": "npm", "name": "@acme/widget"})
        );
        assert_eq!(
            affected[0]["ranges"],
            json!([{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.2.3"}]}])
        );
        assert_eq!(
            affected[0]["database_specific"]["patched_versions"],
            "1.2.3"
        );
        // `> 1.0` in PyPI has no exact OSV form: kept verbatim, with the reason, no ranges.
        assert_eq!(affected[1]["package"]["ecosystem"], "PyPI");
        assert!(affected[1].get("ranges").is_none());
        assert_eq!(
            affected[1]["database_specific"]["vulnerable_version_range"],
            "> 1.0"
        );
        assert!(affected[1]["database_specific"]["range_not_converted"].is_string());
        let types: Vec<(&str, &str)> = osv["references"]
            .as_array()
            .expect("references")
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().unwrap_or(""),
                    r["url"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            types,
            vec![
                (
                    "ADVISORY",
                    "https://github.com/acme/widget/security/advisories/GHSA-abcd-efgh-ijkm"
                ),
                ("ADVISORY", "https://nvd.nist.gov/vuln/detail/CVE-2026-1234"),
                ("FIX", "https://github.com/acme/widget/pull/7"),
                ("WEB", "https://github.com/acme/widget/releases/tag/v1.2.3"),
                ("PACKAGE", "https://github.com/acme/widget"),
            ]
        );
    }

    #[test]
    fn only_credits_people_accepted_are_published() {
        let osv = document(&published());
        assert_eq!(
            osv["credits"],
            json!([
                {"name": "finder1", "contact": ["https://github.com/finder1"], "type": "FINDER"},
                {"name": "fixer", "contact": ["https://github.com/fixer"], "type": "REMEDIATION_DEVELOPER"},
                {"name": "someone", "contact": ["https://github.com/someone"], "type": "OTHER"},
            ])
        );
    }

    #[test]
    fn a_later_version_is_a_later_modified_and_a_withdrawal_is_dated() {
        let mut incident = published();
        incident.advisory_updated_at = Some(at(9));
        assert_eq!(document(&incident)["modified"], "2026-11-30T09:00:00Z");
        incident.advisory_state = AdvisoryState::Withdrawn;
        assert_eq!(document(&incident)["withdrawn"], "2026-11-30T09:00:00Z");
    }

    #[test]
    fn an_upstream_advisory_is_not_herald_s_to_export() {
        let mut incident = published();
        incident.upstream = Some(UpstreamOrigin {
            dependency: Dependency {
                ecosystem: "npm".into(),
                name: "left-pad".into(),
                version: "1.0.0".into(),
            },
            vulnerable_range: "< 1.1.0".into(),
            fixed_version: Some("1.1.0".into()),
        });
        assert!(matches!(osv_json(&incident), Err(OsvError::Upstream(_))));
    }

    #[test]
    fn every_github_ecosystem_has_its_osv_name() {
        let names: Vec<&str> = [
            "npm", "pip", "maven", "go", "rubygems", "nuget", "composer", "rust", "erlang", "pub",
            "swift", "actions",
        ]
        .into_iter()
        .map(|word| osv_ecosystem(word).expect(word).0)
        .collect();
        assert_eq!(
            names,
            vec![
                "npm",
                "PyPI",
                "Maven",
                "Go",
                "RubyGems",
                "NuGet",
                "Packagist",
                "crates.io",
                "Hex",
                "Pub",
                "SwiftURL",
                "GitHub Actions",
            ]
        );
        assert_eq!(osv_ecosystem("other"), None);
    }
}
