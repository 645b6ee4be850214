//! Upstream incidents: a global advisory (GitHub Advisory Database) about a package one of
//! the project's repositories depends on. The domain decides whether a dependency is
//! affected (its version inside a vulnerable range) and keeps one incident per (dependent
//! repository, GHSA id); a withdrawn advisory closes it.

use super::{AffectedPackage, GhsaId, Incident, Phase, RepoName, TimelineEntry, TimelineKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A package a repository depends on, as its dependency graph names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// GitHub's ecosystem word: npm, pip, maven, rubygems, go, nuget, rust, composer, …
    pub ecosystem: String,
    pub name: String,
    pub version: String,
}

/// One vulnerable package of a global advisory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamVulnerability {
    pub ecosystem: String,
    pub name: String,
    /// GitHub's range, e.g. `>= 2.0.0, < 2.0.2`.
    pub vulnerable_range: String,
    pub first_patched: Option<String>,
}

/// A global advisory, as herald uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamAdvisory {
    pub ghsa_id: GhsaId,
    pub cve_id: Option<String>,
    pub summary: String,
    pub description: String,
    pub severity_word: Option<String>,
    pub html_url: Option<String>,
    pub vulnerabilities: Vec<UpstreamVulnerability>,
    pub withdrawn: bool,
}

/// What made an incident an upstream one: the dependency and the way out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamOrigin {
    pub dependency: Dependency,
    pub vulnerable_range: String,
    pub fixed_version: Option<String>,
}

/// Package names compare as their ecosystem does: case-insensitively, and for Python
/// with `-`, `_` and `.` alike (PEP 503).
fn same_package(ecosystem: &str, a: &str, b: &str) -> bool {
    let normal = |name: &str| {
        let lower = name.to_ascii_lowercase();
        if ecosystem == "pip" {
            lower.replace(['_', '.'], "-")
        } else {
            lower
        }
    };
    normal(a) == normal(b)
}

/// Compares versions segment by segment: numbers numerically, other text lexically, a
/// release after its pre-releases (`1.0.0-rc1` < `1.0.0`). Lenient on purpose: it serves
/// every ecosystem's usual `1.2.3` shapes, with or without a leading `v`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let split = |version: &str| -> (Vec<String>, Option<String>) {
        let version = version.trim().trim_start_matches(['v', 'V']);
        let (release, pre) = match version.split_once(['-', '+']) {
            Some((release, pre)) => (release, Some(pre.to_owned())),
            None => (version, None),
        };
        (release.split('.').map(str::to_owned).collect(), pre)
    };
    let ((a_release, a_pre), (b_release, b_pre)) = (split(a), split(b));
    for index in 0..a_release.len().max(b_release.len()) {
        let (x, y) = (
            a_release.get(index).map_or("0", String::as_str),
            b_release.get(index).map_or("0", String::as_str),
        );
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    match (a_pre, b_pre) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

/// Whether `version` lies in GitHub's comma-separated range (`>= 1.0, < 1.2.3`, `= 2.0`,
/// `<= 3`). An unreadable range matches nothing rather than everything.
pub fn in_range(version: &str, range: &str) -> bool {
    let mut any = false;
    for condition in range.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        any = true;
        let (operator, bound) = ["<=", ">=", "<", ">", "="]
            .iter()
            .find_map(|op| condition.strip_prefix(op).map(|bound| (*op, bound.trim())))
            .unwrap_or(("=", condition));
        let order = compare_versions(version, bound);
        let holds = match operator {
            "<=" => order != Ordering::Greater,
            ">=" => order != Ordering::Less,
            "<" => order == Ordering::Less,
            ">" => order == Ordering::Greater,
            _ => order == Ordering::Equal,
        };
        if !holds {
            return false;
        }
    }
    any
}

impl UpstreamAdvisory {
    /// The first vulnerability of this advisory that `dependency` falls into.
    pub fn affects<'a>(&'a self, dependency: &Dependency) -> Option<&'a UpstreamVulnerability> {
        self.vulnerabilities.iter().find(|vulnerability| {
            vulnerability
                .ecosystem
                .eq_ignore_ascii_case(&dependency.ecosystem)
                && same_package(&dependency.ecosystem, &vulnerability.name, &dependency.name)
                && in_range(&dependency.version, &vulnerability.vulnerable_range)
        })
    }
}

/// The upstream incident of `repository` for `advisory` through `dependency`: opened, or
/// updated when it exists; closed with a note when the advisory is withdrawn.
pub fn apply_upstream(
    existing: Option<Incident>,
    repository: &RepoName,
    advisory: &UpstreamAdvisory,
    origin: &UpstreamOrigin,
    at: DateTime<Utc>,
) -> (Incident, Vec<TimelineEntry>) {
    let entry = |kind, detail: String| TimelineEntry {
        at,
        actor: None,
        kind,
        detail,
    };
    let dependency = &origin.dependency;
    let mut timeline = Vec::new();
    let mut incident = existing.unwrap_or_else(|| {
        timeline.push(entry(
            TimelineKind::Reported,
            format!(
                "upstream advisory: {repository} depends on {} {} {}, which {} affects{}",
                dependency.ecosystem,
                dependency.name,
                dependency.version,
                advisory.ghsa_id,
                origin
                    .fixed_version
                    .as_ref()
                    .map(|fixed| format!("; fixed in {fixed}"))
                    .unwrap_or_default()
            ),
        ));
        Incident::new(repository.clone(), advisory.ghsa_id.clone(), at)
    });
    incident.cve_id = advisory.cve_id.clone().or(incident.cve_id);
    incident.summary = format!("{} (upstream: {})", advisory.summary, dependency.name);
    incident.description = advisory.description.clone();
    incident.advisory_severity = advisory.severity_word.clone();
    incident.advisory_url = advisory.html_url.clone();
    incident.advisory_state = super::AdvisoryState::Upstream;
    incident.packages = vec![AffectedPackage {
        ecosystem: Some(dependency.ecosystem.clone()),
        name: Some(dependency.name.clone()),
        vulnerable_version_range: Some(origin.vulnerable_range.clone()),
        patched_versions: origin.fixed_version.clone(),
        vulnerable_functions: Vec::new(),
    }];
    incident.upstream = Some(origin.clone());
    incident.recompute_severity();
    if advisory.withdrawn && incident.phase != Phase::Closed {
        timeline.push(entry(
            TimelineKind::PhaseChanged,
            format!(
                "upstream advisory {} withdrawn: incident closed",
                advisory.ghsa_id
            ),
        ));
        incident.enter_phase(Phase::Closed, at);
    }
    (incident, timeline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Severity;

    #[test]
    fn versions_compare_as_people_expect() {
        assert_eq!(compare_versions("2.0.1", "2.0.2"), Ordering::Less);
        assert_eq!(compare_versions("2.0.10", "2.0.9"), Ordering::Greater);
        assert_eq!(compare_versions("v1.2", "1.2.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.0-rc1", "1.0.0"), Ordering::Less);
        assert_eq!(compare_versions("1.11.9", "1.11.10"), Ordering::Less);
    }

    #[test]
    fn ranges_hold_every_condition() {
        assert!(in_range("2.0.1", ">= 2.0.0, < 2.0.2"));
        assert!(!in_range("2.0.2", ">= 2.0.0, < 2.0.2"));
        assert!(!in_range("1.9.9", ">= 2.0.0, < 2.0.2"));
        assert!(in_range("4.17.20", "< 4.17.21"));
        assert!(in_range("3.0", "<= 3"));
        assert!(in_range("1.4.0", "= 1.4.0"));
        assert!(in_range("1.4.0", "1.4.0"));
        assert!(!in_range("1.4.1", "= 1.4.0"));
        assert!(!in_range("1.0", ""), "an empty range matches nothing");
    }

    fn django() -> UpstreamAdvisory {
        UpstreamAdvisory {
            ghsa_id: GhsaId::parse("GHSA-rf4j-j272-fj86").expect("GHSA id"),
            cve_id: Some("CVE-2018-6188".into()),
            summary: "Moderate severity vulnerability that affects django".into(),
            description: "d".into(),
            severity_word: Some("moderate".into()),
            html_url: None,
            vulnerabilities: vec![
                UpstreamVulnerability {
                    ecosystem: "pip".into(),
                    name: "django".into(),
                    vulnerable_range: ">= 2.0.0, < 2.0.2".into(),
                    first_patched: Some("2.0.2".into()),
                },
                UpstreamVulnerability {
                    ecosystem: "pip".into(),
                    name: "django".into(),
                    vulnerable_range: ">= 1.11.8, < 1.11.10".into(),
                    first_patched: Some("1.11.10".into()),
                },
            ],
            withdrawn: false,
        }
    }

    fn dependency(name: &str, version: &str) -> Dependency {
        Dependency {
            ecosystem: "pip".into(),
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn a_dependency_in_a_vulnerable_range_is_affected() {
        let advisory = django();
        let hit = advisory
            .affects(&dependency("Django", "1.11.9"))
            .expect("affected");
        assert_eq!(hit.first_patched.as_deref(), Some("1.11.10"));
        assert!(advisory.affects(&dependency("django", "2.0.2")).is_none());
        assert!(advisory.affects(&dependency("flask", "2.0.1")).is_none());
        let npm = Dependency {
            ecosystem: "npm".into(),
            ..dependency("django", "2.0.1")
        };
        assert!(advisory.affects(&npm).is_none(), "another ecosystem");
    }

    #[test]
    fn an_upstream_incident_opens_updates_and_closes_when_withdrawn() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut advisory = django();
        let origin = UpstreamOrigin {
            dependency: dependency("django", "2.0.1"),
            vulnerable_range: ">= 2.0.0, < 2.0.2".into(),
            fixed_version: Some("2.0.2".into()),
        };
        let (incident, timeline) = apply_upstream(
            None,
            &RepoName::parse("acme/site").expect("name"),
            &advisory,
            &origin,
            at,
        );
        assert_eq!(incident.repository, "acme/site");
        assert_eq!(incident.severity, Severity::Medium);
        assert_eq!(incident.phase, Phase::Awareness);
        assert_eq!(incident.upstream.as_ref(), Some(&origin));
        assert_eq!(
            incident.packages[0].patched_versions.as_deref(),
            Some("2.0.2")
        );
        assert!(timeline[0].detail.contains("depends on pip django 2.0.1"));
        advisory.withdrawn = true;
        let (closed, timeline) = apply_upstream(
            Some(incident),
            &RepoName::parse("acme/site").expect("name"),
            &advisory,
            &origin,
            at,
        );
        assert_eq!(closed.phase, Phase::Closed);
        assert!(timeline[0].detail.contains("withdrawn"));
    }
}
