//! The private tracking issue of an incident: title, body and labels.

use super::view::link_target;
use super::{DraftError, Drafts, TRACKING_ISSUE, escape};
use crate::incident::{
    CvssAssessment, GhsaId, Incident, Reaction, ReactionClock, Severity, SeveritySource, SlaPolicy,
    Threat, TimelineEntry, utc_minute,
};
use crate::markers::marker;
use crate::repo_config::LabelConfig;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// GitHub's limit on issue titles.
const MAX_TITLE_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingIssue {
    pub title: String,
    pub body: String,
    /// The labels herald sets; others on the issue are the maintainers' and stay.
    pub labels: Vec<String>,
}

#[derive(Serialize)]
struct CvssView {
    score: String,
    vector: String,
}

#[derive(Serialize)]
struct PackageView {
    ecosystem: String,
    name: String,
    vulnerable: String,
    patched: String,
}

#[derive(Serialize)]
struct TimelineRow {
    at: String,
    actor: Option<String>,
    /// One line (a table cell).
    detail: String,
}

#[derive(Serialize)]
struct ProgressView {
    fix_merged: bool,
    backport_merged: bool,
    released: bool,
}

#[derive(Serialize)]
struct FixView {
    /// `owner/repo#N`, from checked names: shown raw, so GitHub links it.
    name: String,
    /// Checked as a link target.
    url: Option<String>,
    base: String,
    state: String,
    backport: bool,
    linked_by: Option<String>,
}

#[derive(Serialize)]
struct ReleaseView {
    tag: String,
    url: Option<String>,
    at: String,
}

#[derive(Serialize)]
struct ForkView {
    name: String,
    /// Checked as a link target.
    url: Option<String>,
    ready: bool,
}

#[derive(Serialize)]
struct CreditView {
    login: String,
    kind: String,
    /// Why public drafts leave this person out (declined, pending), if they do.
    withheld: Option<String>,
}

/// What the template sees. Every string is escaped by the template, except `marker`,
/// `advisory_url` and `reaction`, which herald builds or checks itself.
#[derive(Serialize)]
struct TrackingView {
    marker: String,
    ghsa_id: GhsaId,
    repository: String,
    summary: String,
    advisory_url: Option<String>,
    advisory_state: String,
    cve: Option<String>,
    /// When a CVE was requested and none is assigned yet.
    cve_requested: Option<String>,
    /// When GitHub published the advisory (the embargo is over).
    published_at: Option<String>,
    severity: String,
    severity_source: String,
    advisory_severity: Option<String>,
    /// Shown when a maintainer's choice overrides it.
    computed_severity: Option<String>,
    maintainer_cvss: Option<CvssView>,
    /// The kind of incident a maintainer named.
    kind: Option<String>,
    /// For an upstream incident: the dependency and its fix.
    upstream: Option<String>,
    embargo_until: Option<String>,
    disclosure_approved: bool,
    breach: bool,
    cvss_v3: Option<CvssView>,
    cvss_v4: Option<CvssView>,
    cwes: Vec<String>,
    threat: Option<String>,
    coordinator: Option<String>,
    /// A maintainer acknowledged the report (an incident without a coordinator is flagged).
    acknowledged: bool,
    phase: String,
    reported_at: Option<String>,
    learned_at: String,
    packages: Vec<PackageView>,
    credits: Vec<CreditView>,
    high_impact: bool,
    timeline: Vec<TimelineRow>,
    /// The course of the response, a Mermaid chart herald writes itself (used raw).
    chart: String,
    /// What the fixes and releases tick on the checklist.
    progress: ProgressView,
    /// The pull requests tracked as fixes.
    fixes: Vec<FixView>,
    /// Releases that ship a patched version.
    releases: Vec<ReleaseView>,
    /// GitHub's temporary private fork: its name, link, and whether it exists yet.
    private_fork: Option<ForkView>,
    /// Temporary actions, consultations, who is affected.
    response: super::view::ResponseView,
    /// Where the incident was published outside GitHub's issues.
    published: Vec<super::view::PublishedView>,
    /// The reaction clock, in herald's own words (times, severities, zone names: no
    /// advisory text), with Markdown emphasis, so used raw.
    reaction: String,
    config_error: Option<String>,
}

fn cvss(assessment: Option<&CvssAssessment>) -> Option<CvssView> {
    assessment.map(|assessment| CvssView {
        score: assessment.describe(),
        vector: assessment.vector.clone(),
    })
}

fn or_unknown(text: Option<&String>) -> String {
    text.cloned().unwrap_or_else(|| "unknown".to_owned())
}

/// A deadline in the project's time zone, and in UTC.
fn local_time(at: DateTime<Utc>, sla: &SlaPolicy) -> String {
    let zone = sla.calendar.time_zone;
    if zone == chrono_tz::Tz::UTC {
        return utc_minute(at);
    }
    format!(
        "{} {} ({})",
        at.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
        zone.name(),
        utc_minute(at)
    )
}

/// The reaction clock as the tracking issue shows it.
fn reaction_words(incident: &Incident, sla: &SlaPolicy) -> String {
    let allowance = match sla.reaction(incident.severity) {
        _ if incident.active_threat() => "active threat: counted in wall-clock hours".to_owned(),
        Reaction::BusinessHours(hours) => format!("{hours} business hours"),
        Reaction::WorkingDays(1) => "by the close of the next working day".to_owned(),
        Reaction::WorkingDays(days) => {
            format!("within {days} working days, by the close of business")
        }
        Reaction::None => "no deadline".to_owned(),
    };
    match incident.reaction_clock(sla) {
        ReactionClock::NoDeadline => format!("no deadline for {} severity", incident.severity),
        ReactionClock::Running { due } => format!(
            "due **{}** ({}, {allowance}); `/herald ack` stops the clock",
            local_time(due, sla),
            incident.severity
        ),
        ReactionClock::Acknowledged { due, at } => {
            let verdict = match due {
                Some(due) if at <= due => format!(", within the deadline {}", local_time(due, sla)),
                Some(due) => format!(", after the deadline {}", local_time(due, sla)),
                None => String::new(),
            };
            format!("acknowledged {}{verdict}", local_time(at, sla))
        }
        ReactionClock::InRemediation { .. } => {
            format!("stopped: the incident is in {}", incident.phase)
        }
    }
}

/// What the tracking issue shows besides the incident: its timeline and where it was
/// published, as (channel, url).
pub struct TrackingRecord<'a> {
    pub timeline: &'a [TimelineEntry],
    pub published: &'a [(String, String)],
}

/// Renders the tracking issue with the incident's record; `config_error` is shown on the
/// issue so maintainers see why herald runs on defaults. `sla` is the project's reaction SLA.
pub fn tracking_issue(
    drafts: &Drafts,
    incident: &Incident,
    record: &TrackingRecord<'_>,
    labels: &LabelConfig,
    sla: &SlaPolicy,
    config_error: Option<&str>,
) -> Result<TrackingIssue, DraftError> {
    let view = TrackingView {
        marker: marker::tracking_issue(&incident.repository, &incident.ghsa_id),
        ghsa_id: incident.ghsa_id.clone(),
        repository: incident.repository.to_string(),
        summary: incident.summary.replace(['\r', '\n'], " "),
        advisory_url: incident.advisory_url.as_deref().and_then(link_target),
        advisory_state: incident.advisory_state.to_string(),
        cve: incident.cve_id.clone(),
        cve_requested: incident.decisions.cve_requested_at.map(utc_minute),
        published_at: incident
            .published_on_github()
            .then_some(incident.published_at)
            .flatten()
            .map(utc_minute),
        severity: incident.severity.to_string(),
        severity_source: incident.severity_source.to_string(),
        advisory_severity: incident.advisory_severity.clone(),
        computed_severity: computed_severity(incident),
        maintainer_cvss: cvss(incident.decisions.cvss.as_ref()),
        kind: incident.decisions.kind.map(|kind| kind.to_string()),
        upstream: upstream_words(incident),
        embargo_until: incident.decisions.embargo_until.map(utc_minute),
        disclosure_approved: incident.decisions.disclosure_approved,
        breach: incident.decisions.breach,
        cvss_v3: cvss(incident.cvss_v3.as_ref()),
        cvss_v4: cvss(incident.cvss_v4.as_ref()),
        cwes: incident
            .cwes
            .iter()
            .map(|cwe| match &cwe.name {
                Some(name) => format!("{} {name}", cwe.id),
                None => cwe.id.clone(),
            })
            .collect(),
        threat: incident.decisions.threat.map(threat_words),
        coordinator: incident.decisions.coordinator.clone(),
        acknowledged: incident.decisions.acknowledged_at.is_some(),
        phase: incident.phase.to_string(),
        reported_at: incident.reported_at.map(utc_minute),
        learned_at: utc_minute(incident.learned_at),
        packages: incident.packages.iter().map(PackageView::new).collect(),
        credits: incident.credits.iter().map(CreditView::new).collect(),
        high_impact: matches!(incident.severity, Severity::Critical | Severity::High),
        reaction: reaction_words(incident, sla),
        published: super::view::published_views(record.published),
        response: super::view::ResponseView::new(incident),
        chart: super::chart::course_chart(incident, sla),
        progress: ProgressView::new(incident),
        fixes: incident.fixes.iter().map(FixView::new).collect(),
        releases: incident.releases.iter().map(ReleaseView::new).collect(),
        private_fork: incident.private_fork.as_ref().map(|fork| ForkView {
            name: fork.full_name.to_string(),
            url: link_target(&fork.url),
            ready: fork.ready_at.is_some(),
        }),
        timeline: record.timeline.iter().map(TimelineRow::new).collect(),
        config_error: config_error.map(str::to_owned),
    };
    let body = drafts.render(TRACKING_ISSUE, &view)?;
    let title: String = escape::plain_line(&format!("[{}] {}", incident.ghsa_id, incident.summary))
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect();
    Ok(TrackingIssue {
        title,
        body,
        labels: tracking_labels(incident, labels),
    })
}

/// The severity herald computes, shown when a maintainer's decision overrides it.
fn computed_severity(incident: &Incident) -> Option<String> {
    let overridden = matches!(
        incident.severity_source,
        SeveritySource::Maintainer | SeveritySource::MaintainerCvss | SeveritySource::Kind
    );
    overridden.then(|| {
        let (severity, source) = incident.computed_severity();
        format!("{severity}, {source}")
    })
}

impl ProgressView {
    fn new(incident: &Incident) -> ProgressView {
        let progress = incident.fix_progress();
        ProgressView {
            fix_merged: progress.fix_merged,
            backport_merged: progress.backport_merged,
            released: progress.released,
        }
    }
}

/// Where an upstream incident comes from, in words.
fn upstream_words(incident: &Incident) -> Option<String> {
    let origin = incident.upstream.as_ref()?;
    let dependency = &origin.dependency;
    let fixed = origin
        .fixed_version
        .as_ref()
        .map(|fixed| format!("upgrade to {fixed}"))
        .unwrap_or_else(|| "no fixed version yet".to_owned());
    Some(format!(
        "this repository depends on {} {} {} (vulnerable: {}); {fixed}",
        dependency.ecosystem, dependency.name, dependency.version, origin.vulnerable_range,
    ))
}

/// What a threat assessment asks of the maintainers.
fn threat_words(threat: Threat) -> String {
    match threat {
        Threat::Active => "active: an emergency. Any maintainer may take temporary \
                           containment action now and must record it on this issue."
            .to_owned(),
        Threat::Passive => "passive: actions wait for the coordinator's decision.".to_owned(),
    }
}

impl PackageView {
    fn new(package: &crate::incident::AffectedPackage) -> PackageView {
        PackageView {
            ecosystem: or_unknown(package.ecosystem.as_ref()),
            name: or_unknown(package.name.as_ref()),
            vulnerable: or_unknown(package.vulnerable_version_range.as_ref()),
            patched: package
                .patched_versions
                .clone()
                .unwrap_or_else(|| "none yet".to_owned()),
        }
    }
}

impl CreditView {
    fn new(credit: &crate::incident::Credit) -> CreditView {
        CreditView {
            login: credit.login.clone(),
            kind: credit.kind.clone(),
            withheld: (!credit.accepted()).then(|| match credit.state.as_deref() {
                Some(state) if !state.trim().is_empty() => state.to_owned(),
                _ => "not accepted".to_owned(),
            }),
        }
    }
}

impl FixView {
    fn new(fix: &crate::incident::FixPull) -> FixView {
        FixView {
            name: format!("{}#{}", fix.repository, fix.number),
            url: link_target(&fix.url),
            base: fix.base.clone(),
            state: fix.state.to_string(),
            backport: fix.backport,
            linked_by: fix.linked_by.clone(),
        }
    }
}

impl ReleaseView {
    fn new(release: &crate::incident::PatchRelease) -> ReleaseView {
        ReleaseView {
            tag: release.tag.clone(),
            url: link_target(&release.url),
            at: utc_minute(release.published_at),
        }
    }
}

impl TimelineRow {
    fn new(entry: &TimelineEntry) -> TimelineRow {
        TimelineRow {
            at: utc_minute(entry.at),
            actor: entry.actor.clone(),
            detail: entry.detail.replace(['\r', '\n'], " "),
        }
    }
}

fn tracking_labels(incident: &Incident, labels: &LabelConfig) -> Vec<String> {
    let mut names = vec![labels.security.clone()];
    if !matches!(incident.severity, Severity::Unknown | Severity::None) {
        names.push(format!("{}{}", labels.severity_prefix, incident.severity));
    }
    if let Some(threat) = incident.decisions.threat {
        names.push(format!("{}{threat}", labels.threat_prefix));
    }
    if incident.decisions.breach {
        names.push(labels.incident.clone());
    }
    names
}

/// Keeps the maintainers' ticks: a checklist item ticked in `previous` stays ticked in
/// `rendered` when its text is the same.
pub fn carry_checks(previous: &str, rendered: &str) -> String {
    let ticked: std::collections::HashSet<&str> = previous
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            line.strip_prefix("- [x] ")
                .or_else(|| line.strip_prefix("- [X] "))
        })
        .map(str::trim_end)
        .collect();
    let mut out: Vec<String> = rendered
        .lines()
        .map(|line| match line.trim_start().strip_prefix("- [ ] ") {
            Some(item) if ticked.contains(item.trim_end()) => line.replacen("- [ ] ", "- [x] ", 1),
            _ => line.to_owned(),
        })
        .collect();
    if rendered.ends_with('\n') {
        out.push(String::new());
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_survive_a_rewrite() {
        let previous = "- [x] Fix and test\n- [ ] Publish the advisory\n";
        let rendered = "- [ ] Fix and test\n- [ ] Publish the advisory\n- [ ] New item\n";
        assert_eq!(
            carry_checks(previous, rendered),
            "- [x] Fix and test\n- [ ] Publish the advisory\n- [ ] New item\n"
        );
    }

    #[test]
    fn only_plain_https_links() {
        assert!(link_target("https://github.com/acme/w/security/advisories/GHSA-x").is_some());
        assert!(link_target("javascript:alert(1)").is_none());
        assert!(link_target("https://x.org/a) [b](https://evil").is_none());
    }
}
