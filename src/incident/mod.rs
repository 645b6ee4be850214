//! The incident domain: what herald knows about one vulnerability and what happened to it.
//! Pure code: no I/O, no clock; callers pass the time in.

mod advisory;
mod audience;
mod authority;
mod commands;
mod deployed;
mod embargo;
mod fixes;
mod ids;
mod prenotify;
mod review;
mod severity;
mod sla;
mod upstream;

pub use advisory::{
    AdvisoryAction, AdvisoryEvent, AdvisorySnapshot, AffectedPackage, Credit, CvssInput, Cwe,
    Outcome, apply_advisory,
};
pub use audience::Audience;
pub use authority::{Authority, Permission, RoleName};
pub use commands::{
    Command, CommandEffect, CommandLine, CommandOutcome, Consultation, Decisions, HELP, LabelNames,
    Settlement, Statement, TemporaryAction, Threat, apply_command, apply_command_with,
    label_command, parse_comment,
};
pub use deployed::{
    Announcement, Certainty, Change, DEFAULT_WORDS, Exposure, Product, ProductIncident, Sighting,
    Verdict, apply_announcement,
};
pub use embargo::{EmbargoBreak, PublicMention};
pub use fixes::{FixProgress, FixPull, PatchRelease, PullSnapshot, PullState, mentioned_ghsa_ids};
pub use ids::{
    DeliveryId, GhsaId, IncidentId, IntakeId, InvalidDeliveryId, InvalidGhsaId, InvalidRepoName,
    ProductIncidentId, RepoName, is_tame,
};
pub use prenotify::{Downstream, Prenotice, Prenotification, PrenotifyTerms};
pub use review::{Measure, ReviewFacts};
pub use severity::{
    CvssAssessment, CvssScore, CvssSlot, IncidentKind, Severity, SeveritySource, decide_severity,
};
pub use sla::{BusinessCalendar, Reaction, ReactionClock, SlaPolicy};
pub use upstream::{
    Dependency, UpstreamAdvisory, UpstreamOrigin, UpstreamVulnerability, apply_upstream,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A moment as herald writes it for people: `2026-12-09 14:00 UTC`.
pub fn utc_minute(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The response phases of the plan herald follows, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Awareness,
    Assessment,
    Containment,
    Remediation,
    Disclosure,
    Recovery,
    Closed,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Awareness,
        Phase::Assessment,
        Phase::Containment,
        Phase::Remediation,
        Phase::Disclosure,
        Phase::Recovery,
        Phase::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Awareness => "awareness",
            Phase::Assessment => "assessment",
            Phase::Containment => "containment",
            Phase::Remediation => "remediation",
            Phase::Disclosure => "disclosure",
            Phase::Recovery => "recovery",
            Phase::Closed => "closed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An advisory's state on GitHub, in GitHub's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvisoryState {
    Triage,
    Draft,
    Published,
    Closed,
    Withdrawn,
    /// An upstream incident's: the advisory is another project's, in the global database.
    Upstream,
    /// Not known yet, or a state herald does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

impl AdvisoryState {
    /// GitHub's word for the state (`state` in its advisory payloads).
    pub fn from_github(word: &str) -> AdvisoryState {
        match word {
            "triage" => AdvisoryState::Triage,
            "draft" => AdvisoryState::Draft,
            "published" => AdvisoryState::Published,
            "closed" => AdvisoryState::Closed,
            "withdrawn" => AdvisoryState::Withdrawn,
            _ => AdvisoryState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryState::Triage => "triage",
            AdvisoryState::Draft => "draft",
            AdvisoryState::Published => "published",
            AdvisoryState::Closed => "closed",
            AdvisoryState::Withdrawn => "withdrawn",
            AdvisoryState::Upstream => "upstream",
            AdvisoryState::Unknown => "unknown",
        }
    }

    /// Settled: published, closed or withdrawn (nothing more to respond to).
    pub fn settled(self) -> bool {
        matches!(
            self,
            AdvisoryState::Published | AdvisoryState::Closed | AdvisoryState::Withdrawn
        )
    }
}

impl fmt::Display for AdvisoryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One incident per (repository, GHSA id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub repository: RepoName,
    pub ghsa_id: GhsaId,
    pub cve_id: Option<String>,
    pub summary: String,
    pub description: String,
    pub severity: Severity,
    pub severity_source: SeveritySource,
    /// GitHub's own severity word, kept as given.
    pub advisory_severity: Option<String>,
    pub cvss_v3: Option<CvssAssessment>,
    pub cvss_v4: Option<CvssAssessment>,
    pub cwes: Vec<Cwe>,
    pub packages: Vec<AffectedPackage>,
    pub credits: Vec<Credit>,
    /// The advisory's state on GitHub: triage, draft, published, closed, withdrawn.
    #[serde(default)]
    pub advisory_state: AdvisoryState,
    pub advisory_url: Option<String>,
    pub phase: Phase,
    /// When the advisory was created on GitHub (the report).
    pub reported_at: Option<DateTime<Utc>>,
    /// When herald first heard of it: the SLA clock starts here.
    pub learned_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// The advisory's own `updated_at`: older snapshots never overwrite newer ones.
    pub advisory_updated_at: Option<DateTime<Utc>>,
    /// What maintainers decided on the tracking issue.
    #[serde(default)]
    pub decisions: Decisions,
    /// When the incident entered each phase after awareness, in order.
    #[serde(default)]
    pub phase_history: Vec<PhaseEntered>,
    /// For an upstream incident: the dependency a global advisory affects.
    #[serde(default)]
    pub upstream: Option<UpstreamOrigin>,
    /// The advisory was already published, closed or withdrawn before herald served its
    /// repository: recorded as history, never tracked or announced unless a maintainer asks.
    #[serde(default)]
    pub history: bool,
    /// GitHub's temporary private fork of the repository for this advisory, once asked for.
    #[serde(default)]
    pub private_fork: Option<PrivateFork>,
    /// Pull requests that fix the vulnerability, and where they stand.
    #[serde(default)]
    pub fixes: Vec<FixPull>,
    /// Published releases whose tags name a patched version.
    #[serde(default)]
    pub releases: Vec<PatchRelease>,
    /// The downstreams told before disclosure, and the embargo date each was last told.
    #[serde(default)]
    pub prenotified: Vec<Prenotice>,
    /// Public places that named the advisory before disclosure.
    #[serde(default)]
    pub embargo_breaks: Vec<EmbargoBreak>,
    /// The report mailed to the security team that this incident was accepted from: its
    /// reporter is told of its course.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<IntakeId>,
}

/// A temporary private fork GitHub made for fixing the vulnerability in private. GitHub
/// creates it asynchronously: it is asked for first, and ready some minutes later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivateFork {
    pub full_name: RepoName,
    pub url: String,
    pub requested_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
}

/// What herald learned from GitHub about an incident while carrying out a job, applied to
/// the incident as the store has it when the job completes.
#[derive(Debug, Clone, PartialEq)]
pub enum Amendment {
    /// GitHub accepted the request for a temporary private fork.
    ForkRequested { full_name: RepoName, url: String },
    /// The fork exists now.
    ForkReady,
    /// GitHub never created the fork: a new request may be made.
    ForkAbandoned,
    /// What GitHub says of a pull request a maintainer linked as a fix.
    PullSeen(PullSnapshot),
    /// A downstream was told under embargo (or told the embargo's new date).
    Prenotified(Prenotice),
}

/// What a change of an incident leads to outside the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    /// The private tracking issue shows the change.
    pub tracking_issue: bool,
    /// The public channels carry it (only once GitHub has published the advisory).
    pub public_channels: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseEntered {
    pub phase: Phase,
    pub at: DateTime<Utc>,
}

impl Incident {
    /// A new incident of `repository` for `ghsa_id`, learned of at `learned_at`, in
    /// awareness, before anything about it is known.
    pub fn new(repository: RepoName, ghsa_id: GhsaId, learned_at: DateTime<Utc>) -> Incident {
        Incident {
            repository,
            ghsa_id,
            cve_id: None,
            summary: String::new(),
            description: String::new(),
            severity: Severity::Unknown,
            severity_source: SeveritySource::Unknown,
            advisory_severity: None,
            cvss_v3: None,
            cvss_v4: None,
            cwes: Vec::new(),
            packages: Vec::new(),
            credits: Vec::new(),
            advisory_state: AdvisoryState::Unknown,
            advisory_url: None,
            phase: Phase::Awareness,
            reported_at: None,
            learned_at,
            published_at: None,
            advisory_updated_at: None,
            decisions: Decisions::default(),
            phase_history: Vec::new(),
            upstream: None,
            history: false,
            private_fork: None,
            fixes: Vec::new(),
            releases: Vec::new(),
            prenotified: Vec::new(),
            embargo_breaks: Vec::new(),
            intake: None,
        }
    }

    /// The timeline's record of a severity change since `before` (by `actor`), if there
    /// was one.
    pub fn severity_change(
        &self,
        before: &Incident,
        actor: Option<&str>,
        at: DateTime<Utc>,
    ) -> Option<TimelineEntry> {
        (before.severity != self.severity).then(|| TimelineEntry {
            at,
            actor: actor.map(str::to_owned),
            kind: TimelineKind::SeverityChanged,
            detail: format!(
                "severity {} → {} ({})",
                before.severity, self.severity, self.severity_source
            ),
        })
    }

    /// Applies what herald learned while carrying out a job; returns what the timeline
    /// records of it.
    pub fn amend(&mut self, amendment: &Amendment, at: DateTime<Utc>) -> Vec<TimelineEntry> {
        let detail = match amendment {
            Amendment::ForkRequested { full_name, url } => {
                self.private_fork = Some(PrivateFork {
                    full_name: full_name.clone(),
                    url: url.clone(),
                    requested_at: at,
                    ready_at: None,
                });
                format!("temporary private fork {full_name} requested from GitHub")
            }
            Amendment::ForkReady => match &mut self.private_fork {
                Some(fork) if fork.ready_at.is_none() => {
                    fork.ready_at = Some(at);
                    format!("temporary private fork {} is ready", fork.full_name)
                }
                _ => return Vec::new(),
            },
            Amendment::PullSeen(pull) => return self.track_pull(pull, None, at),
            Amendment::Prenotified(notice) => return self.prenotified(notice),
            Amendment::ForkAbandoned => match self.private_fork.take() {
                Some(fork) => format!(
                    "GitHub did not create the temporary private fork {}",
                    fork.full_name
                ),
                None => return Vec::new(),
            },
        };
        vec![TimelineEntry {
            at,
            actor: None,
            kind: TimelineKind::Updated,
            detail,
        }]
    }

    /// GitHub says the advisory is published (a `published` webhook, the answer to herald's
    /// publish request, or the reconciler's list): the only proof of disclosure there is.
    pub fn published_on_github(&self) -> bool {
        self.published_at.is_some() && self.advisory_state == AdvisoryState::Published
    }

    /// What follows a change of the incident.
    pub fn follow(&self) -> Follow {
        Follow {
            tracking_issue: self.tracked(),
            public_channels: self.announceable(),
        }
    }

    /// Whether the incident has a private tracking issue: every incident but history, unless
    /// a maintainer imported it.
    pub fn tracked(&self) -> bool {
        !self.history || self.decisions.history_imported
    }

    /// Whether the public channels may carry the incident: published on GitHub and, for
    /// history, announced again only at a maintainer's explicit request.
    pub fn announceable(&self) -> bool {
        self.published_on_github() && (!self.history || self.decisions.history_reannounce)
    }

    /// A maintainer marked the threat active (evidence of exploitation attempts): an
    /// emergency, counted in wall-clock time.
    pub fn active_threat(&self) -> bool {
        self.decisions.threat == Some(Threat::Active)
    }

    /// Moves the incident to `phase` at `at`, remembering when.
    pub fn enter_phase(&mut self, phase: Phase, at: DateTime<Utc>) {
        if self.phase != phase {
            self.phase = phase;
            self.phase_history.push(PhaseEntered { phase, at });
        }
    }

    /// When the incident first reached `phase` or a later one (closing does not count: an
    /// incident closed early never reached the phases it skipped).
    pub fn reached(&self, phase: Phase) -> Option<DateTime<Utc>> {
        self.phase_history
            .iter()
            .find(|entered| entered.phase >= phase && entered.phase != Phase::Closed)
            .map(|entered| entered.at)
    }

    /// The severity the advisory's own data gives (CVSS 4.0, else 3.x, else its word).
    pub fn computed_severity(&self) -> (Severity, SeveritySource) {
        decide_severity(
            self.cvss_v4.as_ref(),
            self.cvss_v3.as_ref(),
            self.advisory_severity.as_deref(),
        )
    }

    /// Sets the severity in force: a maintainer's severity, else the severity of the kind a
    /// maintainer named, else a maintainer's CVSS vector, else the computed one.
    pub fn recompute_severity(&mut self) {
        let maintainer_cvss = self
            .decisions
            .cvss
            .as_ref()
            .and_then(CvssAssessment::computed_severity);
        let decisions = &self.decisions;
        (self.severity, self.severity_source) =
            match (decisions.severity, decisions.kind, maintainer_cvss) {
                (Some(severity), _, _) => (severity, SeveritySource::Maintainer),
                (None, Some(kind), _) => (kind.severity(), SeveritySource::Kind),
                (None, None, Some(severity)) => (severity, SeveritySource::MaintainerCvss),
                (None, None, None) => self.computed_severity(),
            };
    }
}

/// What kind of thing a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Reported,
    Opened,
    Updated,
    Published,
    PhaseChanged,
    SeverityChanged,
    CvssMismatch,
    CvssUnusable,
    StaleIgnored,
    /// A maintainer's command or label.
    Command,
    /// The private tracking issue was opened, or herald refused to open it.
    TrackingIssue,
    /// Something went public (CHANGELOG pull request, advisory issue), or the embargo gate
    /// refused it.
    Publication,
    /// A reminder or escalation because the reaction is running late (or the threat is
    /// active).
    Escalation,
    /// Downstreams were (or were not) told before disclosure, under embargo.
    Prenotification,
    /// A public commit or pull request named the advisory before disclosure.
    EmbargoBreak,
    /// The reporter of a mailed report was told of its course.
    Reporter,
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Reported => "reported",
            TimelineKind::Opened => "opened",
            TimelineKind::Updated => "updated",
            TimelineKind::Published => "published",
            TimelineKind::PhaseChanged => "phase_changed",
            TimelineKind::SeverityChanged => "severity_changed",
            TimelineKind::CvssMismatch => "cvss_mismatch",
            TimelineKind::CvssUnusable => "cvss_unusable",
            TimelineKind::StaleIgnored => "stale_ignored",
            TimelineKind::Command => "command",
            TimelineKind::TrackingIssue => "tracking_issue",
            TimelineKind::Publication => "publication",
            TimelineKind::Escalation => "escalation",
            TimelineKind::Prenotification => "prenotification",
            TimelineKind::EmbargoBreak => "embargo_break",
            TimelineKind::Reporter => "reporter",
        }
    }
}

impl std::str::FromStr for TimelineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            TimelineKind::Reported,
            TimelineKind::Opened,
            TimelineKind::Updated,
            TimelineKind::Published,
            TimelineKind::PhaseChanged,
            TimelineKind::SeverityChanged,
            TimelineKind::CvssMismatch,
            TimelineKind::CvssUnusable,
            TimelineKind::StaleIgnored,
            TimelineKind::Command,
            TimelineKind::TrackingIssue,
            TimelineKind::Publication,
            TimelineKind::Escalation,
            TimelineKind::Prenotification,
            TimelineKind::EmbargoBreak,
            TimelineKind::Reporter,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == s)
        .ok_or_else(|| format!("unknown timeline kind {s:?}"))
    }
}

/// One line of an incident's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub kind: TimelineKind,
    pub detail: String,
}

/// Incidents for the domain's own tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{
        AdvisoryAction, AdvisoryEvent, AdvisorySnapshot, AdvisoryState, GhsaId, Incident, RepoName,
        apply_advisory,
    };
    use chrono::{DateTime, Utc};

    fn snapshot(severity_word: &str, state: AdvisoryState) -> AdvisorySnapshot {
        AdvisorySnapshot {
            ghsa_id: GhsaId::parse("GHSA-aaaa-bbbb-cccc").expect("GHSA id"),
            cve_id: None,
            summary: "s".into(),
            description: "d".into(),
            severity: Some(severity_word.into()),
            state,
            html_url: None,
            created_at: None,
            updated_at: None,
            published_at: None,
            cvss_v3: None,
            cvss_v4: None,
            cwes: vec![],
            packages: vec![],
            credits: vec![],
        }
    }

    fn event(
        action: AdvisoryAction,
        advisory: AdvisorySnapshot,
        at: DateTime<Utc>,
    ) -> AdvisoryEvent {
        AdvisoryEvent {
            action,
            repository: RepoName::parse("acme/widget").expect("name"),
            advisory,
            actor: None,
            received_at: at,
            served_since: None,
        }
    }

    /// A reported advisory of `acme/widget` without CVSS, whose own severity word is
    /// `severity_word`, as herald learned of it at `at`.
    pub fn reported(severity_word: &str, at: DateTime<Utc>) -> Incident {
        let snapshot = snapshot(severity_word, AdvisoryState::Triage);
        apply_advisory(None, &event(AdvisoryAction::Reported, snapshot, at)).incident
    }

    /// `incident` after GitHub confirmed its publication at `at`.
    pub fn published(incident: Incident, at: DateTime<Utc>) -> Incident {
        let word = incident.advisory_severity.clone().unwrap_or_default();
        let snapshot = snapshot(&word, AdvisoryState::Published);
        apply_advisory(
            Some(incident),
            &event(AdvisoryAction::Published, snapshot, at),
        )
        .incident
    }
}

#[cfg(test)]
mod tests {
    use super::AdvisoryState;

    #[test]
    fn advisory_states_read_as_stores_wrote_them() {
        for (stored, state) in [
            ("\"published\"", AdvisoryState::Published),
            ("\"triage\"", AdvisoryState::Triage),
            ("\"upstream\"", AdvisoryState::Upstream),
            // Before herald knew the state, and a state GitHub may add.
            ("\"\"", AdvisoryState::Unknown),
            ("\"quarantined\"", AdvisoryState::Unknown),
        ] {
            let read: AdvisoryState = serde_json::from_str(stored).expect("reads");
            assert_eq!(read, state, "{stored}");
        }
        assert_eq!(
            AdvisoryState::from_github("withdrawn"),
            AdvisoryState::Withdrawn
        );
        assert!(AdvisoryState::Closed.settled() && !AdvisoryState::Draft.settled());
    }
}
