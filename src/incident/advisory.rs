//! Building and updating an incident from a repository security advisory.

use super::{
    AdvisoryState, CvssAssessment, CvssSlot, GhsaId, Incident, Phase, Severity, SeveritySource,
    TimelineEntry, TimelineKind, decide_severity,
};
use crate::incident::RepoName;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A CVSS entry as an advisory carries it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CvssInput {
    pub vector: Option<String>,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cwe {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedPackage {
    pub ecosystem: Option<String>,
    pub name: Option<String>,
    pub vulnerable_version_range: Option<String>,
    pub patched_versions: Option<String>,
    pub vulnerable_functions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    pub login: String,
    /// GitHub's credit type: finder, reporter, analyst, remediation_developer …
    pub kind: String,
    /// accepted, declined or pending, where GitHub says.
    pub state: Option<String>,
}

impl Credit {
    /// Whether public text may name this person: GitHub shows only the credits their
    /// people accepted (one without a state GitHub listed without asking anyone).
    pub fn accepted(&self) -> bool {
        matches!(self.state.as_deref(), None | Some("accepted"))
    }
}

/// What herald needs to know of an advisory, whichever way it arrived (webhook or poll).
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisorySnapshot {
    pub ghsa_id: GhsaId,
    pub cve_id: Option<String>,
    pub summary: String,
    pub description: String,
    pub severity: Option<String>,
    pub state: AdvisoryState,
    pub html_url: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub cvss_v3: Option<CvssInput>,
    pub cvss_v4: Option<CvssInput>,
    pub cwes: Vec<Cwe>,
    pub packages: Vec<AffectedPackage>,
    pub credits: Vec<Credit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvisoryAction {
    /// A private vulnerability report arrived.
    Reported,
    /// The advisory was published.
    Published,
    /// herald's poll found the advisory new or changed (drafts fire no webhook).
    Reconciled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryEvent {
    pub action: AdvisoryAction,
    pub repository: RepoName,
    pub advisory: AdvisorySnapshot,
    pub actor: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Since when herald has served the repository (`None`: not known to be served).
    pub served_since: Option<DateTime<Utc>>,
}

impl AdvisoryEvent {
    /// The advisory was already settled (published, closed or withdrawn) before herald
    /// served its repository: history, which herald records but never acts on by itself.
    /// Only the reconciler finds such advisories: a `published` webhook is news.
    fn settled_before_herald(&self) -> bool {
        let advisory = &self.advisory;
        if self.action != AdvisoryAction::Reconciled {
            return false;
        }
        let settled = advisory.state.settled();
        let settled_at = advisory.published_at.or(advisory.updated_at);
        settled && matches!((settled_at, self.served_since), (Some(at), Some(since)) if at <= since)
    }
}

/// The incident after an event, and what to append to its timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub incident: Incident,
    pub created: bool,
    /// Whether the incident differs from what it was before the event (always, when created).
    pub changed: bool,
    pub timeline: Vec<TimelineEntry>,
}

/// The advisory's fields as incident fields; the parts of an incident an advisory decides.
struct AdvisoryFields {
    cve_id: Option<String>,
    summary: String,
    description: String,
    severity: Severity,
    severity_source: SeveritySource,
    advisory_severity: Option<String>,
    cvss_v3: Option<CvssAssessment>,
    cvss_v4: Option<CvssAssessment>,
    cwes: Vec<super::Cwe>,
    packages: Vec<AffectedPackage>,
    credits: Vec<Credit>,
    advisory_state: AdvisoryState,
    advisory_url: Option<String>,
    reported_at: Option<DateTime<Utc>>,
    published_at: Option<DateTime<Utc>>,
    advisory_updated_at: Option<DateTime<Utc>>,
}

fn assess(slot: CvssSlot, input: Option<&CvssInput>) -> Option<CvssAssessment> {
    let input = input?;
    if input.vector.is_none() && input.score.is_none() {
        return None;
    }
    Some(CvssAssessment::assess(
        slot,
        input.vector.as_deref().unwrap_or(""),
        input.score,
    ))
}

impl AdvisoryFields {
    /// Whether these fields are of an older version of the advisory than `incident` knows.
    fn older_than(&self, incident: &Incident) -> bool {
        matches!(
            (self.advisory_updated_at, incident.advisory_updated_at),
            (Some(incoming), Some(known)) if incoming < known
        )
    }

    fn from_snapshot(advisory: &AdvisorySnapshot) -> AdvisoryFields {
        let cvss_v3 = assess(CvssSlot::V3, advisory.cvss_v3.as_ref());
        let cvss_v4 = assess(CvssSlot::V4, advisory.cvss_v4.as_ref());
        let (severity, severity_source) = decide_severity(
            cvss_v4.as_ref(),
            cvss_v3.as_ref(),
            advisory.severity.as_deref(),
        );
        AdvisoryFields {
            cve_id: advisory.cve_id.clone(),
            summary: advisory.summary.clone(),
            description: advisory.description.clone(),
            severity,
            severity_source,
            advisory_severity: advisory.severity.clone(),
            cvss_v3,
            cvss_v4,
            cwes: advisory.cwes.clone(),
            packages: advisory.packages.clone(),
            credits: advisory.credits.clone(),
            advisory_state: advisory.state,
            advisory_url: advisory.html_url.clone(),
            reported_at: advisory.created_at,
            published_at: advisory.published_at,
            advisory_updated_at: advisory.updated_at,
        }
    }

    /// Names of the fields that differ from the incident's.
    fn changed_fields(&self, incident: &Incident) -> Vec<&'static str> {
        let checks = [
            ("CVE", self.cve_id != incident.cve_id),
            ("summary", self.summary != incident.summary),
            ("description", self.description != incident.description),
            ("CVSS 3.x", self.cvss_v3 != incident.cvss_v3),
            ("CVSS 4.0", self.cvss_v4 != incident.cvss_v4),
            ("CWEs", self.cwes != incident.cwes),
            ("affected packages", self.packages != incident.packages),
            ("credits", self.credits != incident.credits),
            (
                "advisory state",
                self.advisory_state != incident.advisory_state,
            ),
        ];
        checks
            .into_iter()
            .filter_map(|(name, changed)| changed.then_some(name))
            .collect()
    }

    fn write_into(self, incident: &mut Incident) {
        incident.cve_id = self.cve_id;
        incident.summary = self.summary;
        incident.description = self.description;
        incident.severity = self.severity;
        incident.severity_source = self.severity_source;
        incident.advisory_severity = self.advisory_severity;
        incident.cvss_v3 = self.cvss_v3;
        incident.cvss_v4 = self.cvss_v4;
        incident.cwes = self.cwes;
        incident.packages = self.packages;
        incident.credits = self.credits;
        incident.advisory_state = self.advisory_state;
        incident.advisory_url = self.advisory_url;
        incident.reported_at = incident.reported_at.or(self.reported_at);
        incident.published_at = self.published_at.or(incident.published_at);
        incident.advisory_updated_at = self.advisory_updated_at;
        incident.recompute_severity();
    }
}

/// Timeline notes about CVSS entries that are new or changed since `before`.
fn cvss_notes(
    before: Option<&Incident>,
    incident: &Incident,
    entry: &dyn Fn(TimelineKind, String) -> TimelineEntry,
) -> Vec<TimelineEntry> {
    let slots = [
        (
            "3.x",
            &incident.cvss_v3,
            before.map(|before| &before.cvss_v3),
        ),
        (
            "4.0",
            &incident.cvss_v4,
            before.map(|before| &before.cvss_v4),
        ),
    ];
    let mut notes = Vec::new();
    for (label, now, was) in slots {
        let Some(assessment) = now else { continue };
        if was == Some(now) {
            continue;
        }
        match &assessment.computed {
            super::CvssScore::Empty => notes.push(entry(
                TimelineKind::CvssUnusable,
                format!("CVSS {label} entry has an empty vector"),
            )),
            super::CvssScore::Malformed { error } => notes.push(entry(
                TimelineKind::CvssUnusable,
                format!("CVSS {label} vector is malformed: {error}"),
            )),
            super::CvssScore::Scored { .. } => {}
        }
        if let Some((stated, computed)) = assessment.mismatch() {
            notes.push(entry(
                TimelineKind::CvssMismatch,
                format!(
                    "CVSS {label}: the advisory states {stated:.1}, the vector scores {computed:.1}"
                ),
            ));
        }
    }
    notes
}

/// Applies an advisory event to the incident it belongs to (or opens one).
pub fn apply_advisory(current: Option<Incident>, event: &AdvisoryEvent) -> Outcome {
    let fields = AdvisoryFields::from_snapshot(&event.advisory);
    let (mut incident, before, mut timeline) = match current {
        None if event.settled_before_herald() => return history(event, fields),
        None => {
            let (incident, timeline) = opened(event, fields);
            (incident, None, timeline)
        }
        Some(incident) if fields.older_than(&incident) => return ignored(incident, event),
        Some(incident) => {
            let (incident, before, timeline) = updated(incident, event, fields);
            (incident, Some(before), timeline)
        }
    };
    let published = match event.action {
        AdvisoryAction::Published => true,
        AdvisoryAction::Reconciled => event.advisory.state == AdvisoryState::Published,
        AdvisoryAction::Reported => false,
    };
    if published {
        timeline.extend(publication(&mut incident, before.as_ref(), event));
    }
    Outcome {
        changed: before.as_ref() != Some(&incident),
        created: before.is_none(),
        incident,
        timeline,
    }
}

/// A timeline entry for what `event` brought.
fn event_entry(event: &AdvisoryEvent, kind: TimelineKind, detail: String) -> TimelineEntry {
    TimelineEntry {
        at: event.received_at,
        actor: event.actor.clone(),
        kind,
        detail,
    }
}

/// An advisory public before herald served its repository: recorded closed, as history.
fn history(event: &AdvisoryEvent, fields: AdvisoryFields) -> Outcome {
    let mut incident = Incident::new(
        event.repository.clone(),
        event.advisory.ghsa_id.clone(),
        event.received_at,
    );
    fields.write_into(&mut incident);
    incident.history = true;
    incident.enter_phase(Phase::Closed, event.received_at);
    let detail = format!(
        "recorded as history: the advisory was already {} before herald served \
         {}; no tracking issue and nothing announced (`herald import` opens a \
         tracking issue, `herald incidents announce` announces it again)",
        incident.advisory_state, incident.repository
    );
    Outcome {
        incident,
        created: true,
        changed: true,
        timeline: vec![event_entry(event, TimelineKind::Opened, detail)],
    }
}

/// A new incident, opened by the event, with how it came.
fn opened(event: &AdvisoryEvent, fields: AdvisoryFields) -> (Incident, Vec<TimelineEntry>) {
    let mut incident = Incident::new(
        event.repository.clone(),
        event.advisory.ghsa_id.clone(),
        event.received_at,
    );
    fields.write_into(&mut incident);
    let severity = format!(
        "severity {} ({})",
        incident.severity, incident.severity_source
    );
    let (kind, detail) = match event.action {
        AdvisoryAction::Reported => (
            TimelineKind::Reported,
            format!("private vulnerability report received; {severity}"),
        ),
        AdvisoryAction::Published => (
            TimelineKind::Opened,
            format!("incident opened from an already published advisory; {severity}"),
        ),
        AdvisoryAction::Reconciled => (
            TimelineKind::Opened,
            format!(
                "incident opened from a {} advisory found by herald's poll; {severity}",
                incident.advisory_state
            ),
        ),
    };
    let entry = |kind, detail| event_entry(event, kind, detail);
    let mut timeline = vec![entry(kind, detail)];
    timeline.extend(cvss_notes(None, &incident, &entry));
    (incident, timeline)
}

/// An older version of the advisory than the one known: ignored, and said so.
fn ignored(incident: Incident, event: &AdvisoryEvent) -> Outcome {
    let detail = "an older version of the advisory arrived and was ignored".to_owned();
    Outcome {
        incident,
        created: false,
        changed: false,
        timeline: vec![event_entry(event, TimelineKind::StaleIgnored, detail)],
    }
}

/// The incident as the event changes it, with the incident before and what changed.
fn updated(
    mut incident: Incident,
    event: &AdvisoryEvent,
    fields: AdvisoryFields,
) -> (Incident, Incident, Vec<TimelineEntry>) {
    let entry = |kind, detail| event_entry(event, kind, detail);
    let before = incident.clone();
    let changed = fields.changed_fields(&incident);
    fields.write_into(&mut incident);
    let mut timeline = Vec::new();
    if !changed.is_empty() {
        let detail = format!("advisory changed: {}", changed.join(", "));
        timeline.push(entry(TimelineKind::Updated, detail));
    }
    timeline.extend(incident.severity_change(&before, event.actor.as_deref(), event.received_at));
    timeline.extend(cvss_notes(Some(&before), &incident, &entry));
    (incident, before, timeline)
}

/// GitHub published the advisory: said once, however often the publication is seen
/// again, and the incident enters disclosure.
fn publication(
    incident: &mut Incident,
    before: Option<&Incident>,
    event: &AdvisoryEvent,
) -> Vec<TimelineEntry> {
    let mut timeline = Vec::new();
    if before.is_none_or(|before| before.published_at.is_none()) {
        let detail = "advisory published on GitHub".to_owned();
        timeline.push(event_entry(event, TimelineKind::Published, detail));
    }
    if incident.phase < Phase::Disclosure {
        let detail = format!("phase {} → {}", incident.phase, Phase::Disclosure);
        timeline.push(event_entry(event, TimelineKind::PhaseChanged, detail));
        incident.enter_phase(Phase::Disclosure, event.received_at);
    }
    incident.published_at = incident.published_at.or(Some(event.received_at));
    timeline
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::CvssScore;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn snapshot() -> AdvisorySnapshot {
        AdvisorySnapshot {
            ghsa_id: GhsaId::parse("GHSA-aaaa-bbbb-cccc").expect("GHSA id"),
            cve_id: None,
            summary: "Heap overflow in parser".into(),
            description: "Details".into(),
            severity: Some("high".into()),
            state: AdvisoryState::Triage,
            html_url: None,
            created_at: Some(at(1)),
            updated_at: Some(at(1)),
            published_at: None,
            cvss_v3: Some(CvssInput {
                vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
                score: Some(9.8),
            }),
            cvss_v4: None,
            cwes: vec![],
            packages: vec![],
            credits: vec![],
        }
    }

    fn event(action: AdvisoryAction, advisory: AdvisorySnapshot, hour: u32) -> AdvisoryEvent {
        AdvisoryEvent {
            action,
            repository: RepoName::parse("octo/widget").expect("name"),
            advisory,
            actor: Some("reporter".into()),
            received_at: at(hour),
            served_since: Some(at(1)),
        }
    }

    fn settled(state: &str, published: Option<u32>, updated: u32) -> AdvisorySnapshot {
        let mut advisory = snapshot();
        advisory.state = AdvisoryState::from_github(state);
        advisory.published_at = published.map(at);
        advisory.updated_at = Some(at(updated));
        advisory
    }

    #[test]
    fn advisories_settled_before_herald_came_are_history() {
        // herald serves the repository since 01:00; these were settled at midnight.
        for advisory in [
            settled("published", Some(0), 0),
            settled("closed", None, 0),
            settled("withdrawn", Some(0), 0),
        ] {
            let outcome = apply_advisory(None, &event(AdvisoryAction::Reconciled, advisory, 3));
            let incident = &outcome.incident;
            assert!(incident.history, "{}", incident.advisory_state);
            assert_eq!(incident.phase, Phase::Closed);
            assert!(!incident.tracked());
            assert!(!incident.announceable());
            assert!(
                outcome.timeline[0]
                    .detail
                    .starts_with("recorded as history")
            );
            assert!(
                !outcome
                    .timeline
                    .iter()
                    .any(|entry| entry.kind == TimelineKind::PhaseChanged)
            );
        }
        // Published after herald came (between two polls), or still a draft: handled.
        for advisory in [
            settled("published", Some(2), 2),
            settled("draft", None, 0),
            settled("triage", None, 0),
        ] {
            let outcome = apply_advisory(None, &event(AdvisoryAction::Reconciled, advisory, 3));
            assert!(!outcome.incident.history);
            assert!(outcome.incident.tracked());
        }
        // A maintainer asks for the old one again.
        let mut old = apply_advisory(
            None,
            &event(
                AdvisoryAction::Reconciled,
                settled("published", Some(0), 0),
                3,
            ),
        )
        .incident;
        old.decisions.history_imported = true;
        assert!(old.tracked());
        assert!(!old.announceable());
        old.decisions.history_reannounce = true;
        assert!(old.announceable());
    }

    #[test]
    fn only_github_proves_publication() {
        let mut incident =
            apply_advisory(None, &event(AdvisoryAction::Reported, snapshot(), 2)).incident;
        incident.decisions.disclosure_approved = true;
        let effects = crate::incident::apply_command(
            &mut incident,
            &crate::incident::Command::Publish,
            "alice",
            at(3),
        )
        .effects;
        assert_eq!(effects, [crate::incident::CommandEffect::PublishAdvisory]);
        assert_eq!(incident.phase, Phase::Awareness, "asking is not publishing");
        assert!(!incident.announceable());
        let published = apply_advisory(
            Some(incident),
            &event(
                AdvisoryAction::Reconciled,
                settled("published", Some(4), 4),
                4,
            ),
        )
        .incident;
        assert_eq!(published.phase, Phase::Disclosure);
        assert!(published.announceable());
    }

    #[test]
    fn a_report_opens_an_incident_in_awareness() {
        let outcome = apply_advisory(None, &event(AdvisoryAction::Reported, snapshot(), 2));
        assert!(outcome.created);
        assert!(outcome.changed);
        assert_eq!(outcome.incident.phase, Phase::Awareness);
        assert_eq!(outcome.incident.severity, Severity::Critical);
        assert_eq!(outcome.incident.severity_source, SeveritySource::Cvss3);
        assert_eq!(outcome.incident.learned_at, at(2));
        assert_eq!(outcome.timeline.len(), 1);
        assert_eq!(outcome.timeline[0].kind, TimelineKind::Reported);
    }

    #[test]
    fn publication_moves_the_same_incident_to_disclosure() {
        let first = apply_advisory(None, &event(AdvisoryAction::Reported, snapshot(), 2));
        let mut published = snapshot();
        published.state = AdvisoryState::Published;
        published.updated_at = Some(at(5));
        published.published_at = Some(at(5));
        let second = apply_advisory(
            Some(first.incident.clone()),
            &event(AdvisoryAction::Published, published, 6),
        );
        assert!(!second.created);
        assert!(second.changed);
        assert_eq!(second.incident.phase, Phase::Disclosure);
        assert_eq!(second.incident.learned_at, at(2));
        assert_eq!(second.incident.published_at, Some(at(5)));
        let kinds: Vec<_> = second.timeline.iter().map(|entry| entry.kind).collect();
        assert_eq!(
            kinds,
            [
                TimelineKind::Updated,
                TimelineKind::Published,
                TimelineKind::PhaseChanged
            ]
        );
    }

    #[test]
    fn an_older_snapshot_never_overwrites_a_newer_one() {
        let mut newer = snapshot();
        newer.updated_at = Some(at(8));
        newer.summary = "Newer summary".into();
        let current = apply_advisory(None, &event(AdvisoryAction::Reported, newer, 9)).incident;
        let outcome = apply_advisory(
            Some(current.clone()),
            &event(AdvisoryAction::Reported, snapshot(), 10),
        );
        assert_eq!(outcome.incident, current);
        assert!(!outcome.changed);
        assert_eq!(outcome.timeline[0].kind, TimelineKind::StaleIgnored);
    }

    #[test]
    fn an_unchanged_redelivery_adds_no_noise() {
        let first = apply_advisory(None, &event(AdvisoryAction::Reported, snapshot(), 2));
        let again = apply_advisory(
            Some(first.incident.clone()),
            &event(AdvisoryAction::Reported, snapshot(), 3),
        );
        assert_eq!(again.incident, first.incident);
        assert!(!again.changed);
        assert!(again.timeline.is_empty());
    }

    #[test]
    fn unusable_cvss_is_recorded_on_the_timeline() {
        let mut advisory = snapshot();
        advisory.cvss_v3 = Some(CvssInput {
            vector: Some(String::new()),
            score: Some(5.0),
        });
        advisory.cvss_v4 = Some(CvssInput {
            vector: Some("CVSS:4.0/garbage".into()),
            score: None,
        });
        let outcome = apply_advisory(None, &event(AdvisoryAction::Reported, advisory, 2));
        let incident = &outcome.incident;
        assert_eq!(
            incident.cvss_v3.as_ref().map(|c| &c.computed),
            Some(&CvssScore::Empty)
        );
        assert!(matches!(
            incident.cvss_v4.as_ref().map(|c| &c.computed),
            Some(CvssScore::Malformed { .. })
        ));
        assert_eq!(incident.severity, Severity::High);
        assert_eq!(incident.severity_source, SeveritySource::Advisory);
        let unusable = outcome
            .timeline
            .iter()
            .filter(|entry| entry.kind == TimelineKind::CvssUnusable)
            .count();
        assert_eq!(unusable, 2);
    }

    #[test]
    fn a_stated_score_that_disagrees_is_noted() {
        let mut advisory = snapshot();
        advisory.cvss_v3 = Some(CvssInput {
            vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
            score: Some(4.2),
        });
        let outcome = apply_advisory(None, &event(AdvisoryAction::Reported, advisory, 2));
        assert!(
            outcome
                .timeline
                .iter()
                .any(|entry| entry.kind == TimelineKind::CvssMismatch
                    && entry.detail.contains("4.2")
                    && entry.detail.contains("9.8"))
        );
        assert_eq!(
            outcome
                .incident
                .cvss_v3
                .as_ref()
                .and_then(|c| c.stated_score),
            Some(4.2)
        );
    }
}
