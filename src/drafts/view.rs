//! The one record every disclosure draft is rendered from, and rendering them all.

use super::{BLOG_POST, DraftError, Drafts, NOT_DRAFTS, SHIPPED};
use crate::incident::{
    CvssAssessment, CvssScore, GhsaId, Incident, Measure, Severity, SlaPolicy, TimelineEntry,
    utc_minute,
};
use crate::jobs::PublicChannel;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CvssView {
    pub version: String,
    pub score: String,
    pub vector: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageView {
    pub ecosystem: String,
    pub name: String,
    /// GitHub's vulnerable range, e.g. `>= 1.0, < 1.2.3`.
    pub vulnerable: Option<String>,
    pub patched: Option<String>,
}

/// The post-incident review's measures, in words.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    pub acknowledge: String,
    pub fix: String,
    pub disclose: String,
    /// The tracking issue's checklist items nobody ticked, when herald has read them.
    pub undone: Vec<String>,
    pub checklist_known: bool,
    pub response: ResponseView,
    /// The course of the response, a Mermaid chart herald writes itself (used raw).
    pub chart: String,
}

/// What the team did and said during the response: temporary actions, who was
/// consulted, who is affected. The texts are the maintainers' own, escaped by the template.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseView {
    pub actions: Vec<ActionView>,
    /// The security leads consulted, with who recorded it and when.
    pub consulted: Vec<String>,
    pub affected: Option<String>,
}

/// One temporary action, numbered as `/herald revert N` and `/herald keep N` name it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub number: usize,
    pub what: String,
    pub by: String,
    pub at: String,
    pub threat: Option<String>,
    /// Still temporary.
    pub open: bool,
    /// How it ended: reverted, or made permanent, by whom and when.
    pub settled: Option<String>,
}

impl ResponseView {
    pub fn new(incident: &Incident) -> ResponseView {
        let decisions = &incident.decisions;
        ResponseView {
            actions: decisions
                .actions
                .iter()
                .enumerate()
                .map(|(index, action)| ActionView {
                    number: index + 1,
                    what: action.taken.text.replace(['\r', '\n'], " "),
                    by: action.taken.by.clone(),
                    at: utc_minute(action.taken.at),
                    threat: action.threat.map(|threat| threat.to_string()),
                    open: action.is_open(),
                    settled: action.settled.as_ref().map(|settled| {
                        if settled.kept {
                            format!(
                                "made permanent, {} agreed {}",
                                settled.by,
                                utc_minute(settled.at)
                            )
                        } else {
                            format!("reverted by {} {}", settled.by, utc_minute(settled.at))
                        }
                    }),
                })
                .collect(),
            consulted: decisions
                .consulted
                .iter()
                .map(|consulted| {
                    format!(
                        "{} (recorded by {}, {})",
                        consulted.login,
                        consulted.by,
                        utc_minute(consulted.at)
                    )
                })
                .collect(),
            affected: decisions.affected.as_ref().map(|affected| {
                format!(
                    "{} (as {} said, {})",
                    affected.text.replace(['\r', '\n'], " "),
                    affected.by,
                    utc_minute(affected.at)
                )
            }),
        }
    }
}

fn duration_words(took: Duration) -> String {
    let minutes = took.num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

fn measure_words(measure: &Measure) -> String {
    let deadline = measure.deadline.map(utc_minute);
    match (measure.took, measure.met(), deadline) {
        (Some(took), _, _) if took < Duration::zero() => {
            "done before herald learned of the report".to_owned()
        }
        (None, _, Some(deadline)) => format!("not done (target {deadline})"),
        (None, _, None) => "not done".to_owned(),
        (Some(took), Some(true), Some(deadline)) => {
            format!("{}, within the target ({deadline})", duration_words(took))
        }
        (Some(took), Some(false), Some(deadline)) => {
            format!("{}, after the target ({deadline})", duration_words(took))
        }
        (Some(took), _, _) => format!("{}, no target", duration_words(took)),
    }
}

impl ReviewView {
    /// The measures under `policy`; `undone`, the unticked checklist items when known.
    pub fn new(incident: &Incident, policy: &SlaPolicy, undone: Option<Vec<String>>) -> Self {
        let facts = incident.review_facts(policy);
        ReviewView {
            acknowledge: measure_words(&facts.acknowledge),
            fix: measure_words(&facts.fix),
            disclose: measure_words(&facts.disclose),
            checklist_known: undone.is_some(),
            undone: undone.unwrap_or_default(),
            response: ResponseView::new(incident),
            chart: super::chart::course_chart(incident, policy),
        }
    }
}

/// Where the incident was published outside GitHub (a forum topic, a discussion).
#[derive(Debug, Clone, Serialize)]
pub struct PublishedView {
    pub name: String,
    pub url: String,
}

/// Where an incident was published, named for readers; only links safe to show raw.
pub(super) fn published_views(channels: &[(String, String)]) -> Vec<PublishedView> {
    channels
        .iter()
        .filter_map(|(channel, url)| {
            Some(PublishedView {
                name: PublicChannel::of_post(channel)
                    .map_or_else(|| channel.clone(), |known| known.reader_name().to_owned()),
                url: link_target(url)?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    pub at: String,
    pub actor: Option<String>,
    pub detail: String,
}

/// What the disclosure templates see. Strings are escaped by each template for its target;
/// `advisory_url` and `changelog_url` are checked links, used raw.
#[derive(Debug, Clone, Serialize)]
pub struct DraftView {
    pub ghsa_id: GhsaId,
    pub cve: Option<String>,
    pub repository: String,
    pub title: String,
    pub summary: String,
    pub description: String,
    pub severity: String,
    pub severity_word: String,
    /// The severity in force is critical (a blog post is drafted).
    pub critical: bool,
    pub cvss: Option<CvssView>,
    pub cwes: Vec<String>,
    pub packages: Vec<PackageView>,
    pub credit_names: Vec<String>,
    pub credits: bool,
    pub advisory_url: String,
    pub changelog_url: Option<String>,
    pub mitigation: String,
    pub reported_at: Option<String>,
    pub learned_at: String,
    pub published_at: Option<String>,
    pub coordinator: Option<String>,
    pub threat: Option<String>,
    pub breach: bool,
    pub timeline: Vec<EntryView>,
    pub review: ReviewView,
    /// Checked links only (see [`DraftView::with_published`]).
    pub published: Vec<PublishedView>,
    /// The latest published release whose tag names a patched version (a checked link).
    pub release_url: Option<String>,
    pub release_tag: Option<String>,
    /// For a pre-notification only (see [`DraftView::with_embargo`]).
    pub embargo: Option<EmbargoView>,
}

/// What a downstream's embargoed notice says of the embargo.
#[derive(Debug, Clone, Serialize)]
pub struct EmbargoView {
    /// The planned disclosure, `2026-12-09 14:00 UTC`.
    pub until: String,
    /// The same in RFC 3339.
    pub until_iso: String,
    /// The date the recipient was told before, for an update.
    pub previous: Option<String>,
    /// Where recipients write back.
    pub contact: String,
    /// The recipient's name, when configured.
    pub recipient: Option<String>,
}

impl EmbargoView {
    pub fn new(
        until: DateTime<Utc>,
        previous: Option<DateTime<Utc>>,
        contact: &str,
        recipient: Option<&str>,
    ) -> EmbargoView {
        EmbargoView {
            until: utc_minute(until),
            until_iso: stamp(until),
            previous: previous.map(utc_minute),
            contact: contact.to_owned(),
            recipient: recipient.map(str::to_owned),
        }
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The CVSS that decided, or the newest scored one.
fn primary_cvss(incident: &Incident) -> Option<CvssView> {
    let scored = |assessment: &CvssAssessment| match &assessment.computed {
        CvssScore::Scored { version, score, .. } => Some(CvssView {
            version: version.clone(),
            score: format!("{score:.1}"),
            vector: assessment.vector.clone(),
        }),
        _ => None,
    };
    [
        incident.decisions.cvss.as_ref(),
        incident.cvss_v4.as_ref(),
        incident.cvss_v3.as_ref(),
    ]
    .into_iter()
    .flatten()
    .find_map(scored)
}

/// An https link safe to put raw into Markdown or wikitext.
pub(super) fn link_target(url: &str) -> Option<String> {
    let ok = url.starts_with("https://")
        && url.len() <= 2048
        && url.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '(' | ')' | '<' | '>' | '"' | '\\' | '[' | ']' | '{' | '}' | '|' | '\''
                )
        });
    ok.then(|| url.to_owned())
}

/// The severity as a heading says it: "Critical", …, or "Unrated".
fn severity_word(severity: Severity) -> String {
    match severity {
        Severity::Unknown | Severity::None => "Unrated".to_owned(),
        other => {
            let word = other.to_string();
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

/// What users can do, as far as herald knows: upgrade when a fixed version exists.
fn mitigation(incident: &Incident) -> String {
    let fixed = incident
        .packages
        .iter()
        .any(|package| package.patched_versions.is_some());
    if fixed {
        "Upgrading to a fixed version is the only known remedy; no workaround is known.".to_owned()
    } else {
        "No fixed release is available yet and no workaround is known; follow the \
         advisory for updates."
            .to_owned()
    }
}

impl PackageView {
    fn new(package: &crate::incident::AffectedPackage) -> PackageView {
        PackageView {
            ecosystem: package.ecosystem.clone().unwrap_or_default(),
            name: package
                .name
                .clone()
                .unwrap_or_else(|| "the package".to_owned()),
            vulnerable: package.vulnerable_version_range.clone(),
            patched: package.patched_versions.clone(),
        }
    }
}

impl EntryView {
    fn new(entry: &TimelineEntry) -> EntryView {
        EntryView {
            at: utc_minute(entry.at),
            actor: entry.actor.clone(),
            detail: entry.detail.clone(),
        }
    }
}

impl DraftView {
    pub fn new(
        incident: &Incident,
        timeline: &[TimelineEntry],
        changelog_url: Option<&str>,
    ) -> DraftView {
        let advisory_url = incident
            .advisory_url
            .as_deref()
            .and_then(link_target)
            .unwrap_or_else(|| {
                format!(
                    "https://github.com/{}/security/advisories/{}",
                    &incident.repository, &incident.ghsa_id
                )
            });
        // A summary is one line wherever it goes (titles, subjects, bullets).
        let summary = incident.summary.replace(['\r', '\n'], " ");
        // Only those who accepted their credit are named in public.
        let credit_names: Vec<String> = incident
            .credits
            .iter()
            .filter(|credit| credit.accepted())
            .map(|credit| credit.login.clone())
            .collect();
        DraftView {
            ghsa_id: incident.ghsa_id.clone(),
            cve: incident.cve_id.clone(),
            repository: incident.repository.to_string(),
            title: format!("Security advisory {}: {}", incident.ghsa_id, summary),
            summary,
            description: incident.description.clone(),
            severity: incident.severity.to_string(),
            severity_word: severity_word(incident.severity),
            critical: incident.severity == Severity::Critical,
            cvss: primary_cvss(incident),
            cwes: incident
                .cwes
                .iter()
                .map(|cwe| match &cwe.name {
                    Some(name) => format!("{} ({name})", cwe.id),
                    None => cwe.id.clone(),
                })
                .collect(),
            packages: incident.packages.iter().map(PackageView::new).collect(),
            credits: !credit_names.is_empty(),
            credit_names,
            advisory_url,
            changelog_url: changelog_url.and_then(link_target),
            mitigation: mitigation(incident),
            reported_at: incident.reported_at.map(stamp),
            learned_at: stamp(incident.learned_at),
            published_at: incident.published_at.map(stamp),
            coordinator: incident.decisions.coordinator.clone(),
            threat: incident.decisions.threat.map(|threat| threat.to_string()),
            breach: incident.decisions.breach,
            timeline: timeline.iter().map(EntryView::new).collect(),
            review: ReviewView::new(incident, &SlaPolicy::default(), None),
            published: Vec::new(),
            release_url: incident
                .releases
                .last()
                .and_then(|release| link_target(&release.url)),
            release_tag: incident.releases.last().map(|release| release.tag.clone()),
            embargo: None,
        }
    }

    /// The view with where the incident was published, as (channel, url) from the store.
    pub fn with_published(mut self, channels: &[(String, String)]) -> Self {
        self.published = published_views(channels);
        self
    }

    /// The view of a pre-notification under `embargo`.
    pub fn with_embargo(mut self, embargo: EmbargoView) -> Self {
        self.embargo = Some(embargo);
        self
    }

    /// The view with the review measured under the project's SLA and its checklist.
    pub fn with_review(mut self, review: ReviewView) -> Self {
        self.review = review;
        self
    }
}

/// One rendered draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The template's name, e.g. `announcement.txt`.
    pub name: &'static str,
    pub text: String,
}

/// Every disclosure draft of an incident, and what could not be rendered.
#[derive(Debug, Clone, Default)]
pub struct RenderedDrafts {
    pub drafts: Vec<Draft>,
    pub errors: Vec<DraftError>,
}

impl RenderedDrafts {
    /// Takes out each draft whose repository override was refused, and says why: its
    /// channel publishes nothing rather than the shipped text, so the review must not show
    /// that text as what goes out. herald's own templates are the exception: their
    /// override is refused unread and the shipped text serves.
    pub fn withhold_refused(&mut self, refused: &[DraftError]) {
        for error in refused
            .iter()
            .filter(|error| !matches!(error, DraftError::Fixed { .. }))
        {
            let before = self.drafts.len();
            self.drafts.retain(|draft| draft.name != error.template());
            if self.drafts.len() < before {
                self.errors.push(error.clone());
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.drafts
            .iter()
            .find(|draft| draft.name == name)
            .map(|draft| draft.text.as_str())
    }
}

/// Renders every disclosure template that applies (the tracking issue has its own path;
/// the blog post is for critical incidents). A template that fails is reported, never
/// rendered with gaps.
pub fn render_all(drafts: &Drafts, view: &DraftView) -> RenderedDrafts {
    let mut rendered = RenderedDrafts::default();
    for shipped in SHIPPED.iter().filter(|shipped| {
        !NOT_DRAFTS.contains(&shipped.name) && (shipped.name != BLOG_POST || view.critical)
    }) {
        match drafts.render_draft(shipped.name, view) {
            Ok(text) => {
                rendered.drafts.push(Draft {
                    name: shipped.name,
                    text,
                });
            }
            Err(error) => rendered.errors.push(error),
        }
    }
    rendered
}
