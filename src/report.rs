//! Terminal output for the CLI. Advisory text is untrusted: control characters (terminal
//! escape sequences among them), bidirectional controls and the other unprintable
//! characters of `crate::printable` are shown escaped, never sent to the terminal raw.

use crate::incident::{CvssAssessment, CvssScore, Incident, SeveritySource, TimelineEntry};
use crate::pipeline::Processed;
pub use crate::printable::{safe_line, safe_text};
use crate::redelivery::{ListedDelivery, ScanReport};
use crate::store::{
    FailedJob, IncidentRow, JobRecord, JobState, StoredTimelineEntry, TrackingLink, TrackingStatus,
};
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write;

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn time_or_dash(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "-".to_owned())
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn cvss_score_text(assessment: Option<&CvssAssessment>) -> String {
    match assessment.map(|a| &a.computed) {
        None => "-".to_owned(),
        Some(CvssScore::Scored { score, .. }) => format!("{score:.1}"),
        Some(CvssScore::Empty) => "empty".to_owned(),
        Some(CvssScore::Malformed { .. }) => "malformed".to_owned(),
    }
}

/// The table of `herald incidents list`.
/// Which incidents of how many a page showed and how to see the next; or why it showed none.
pub fn page_footer(filter: &crate::store::IncidentFilter, shown: usize, total: i64) -> String {
    let filtered =
        filter.phase.is_some() || filter.severity.is_some() || filter.repository.is_some();
    if shown == 0 {
        return match (total, filtered) {
            (0, false) => "no incidents yet\n".to_owned(),
            (0, true) => "no incident matches\n".to_owned(),
            _ => format!("page {} is past the last: {total} match\n", filter.page),
        };
    }
    let first = i64::from(filter.limit) * i64::from(filter.page.saturating_sub(1)) + 1;
    let last = first + i64::try_from(shown).unwrap_or(0) - 1;
    let more = if last < total {
        format!("; --page {} for more", filter.page + 1)
    } else {
        String::new()
    };
    format!("incidents {first}–{last} of {total}{more}\n")
}

pub fn incident_table(rows: &[IncidentRow]) -> String {
    let header = [
        "GHSA ID",
        "REPOSITORY",
        "SEVERITY",
        "CVSS3",
        "CVSS4",
        "PHASE",
        "UPDATED",
        "SUMMARY",
    ];
    let lines: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            let incident = &row.incident;
            [
                safe_line(&incident.ghsa_id),
                safe_line(&incident.repository),
                incident.severity.to_string(),
                cvss_score_text(incident.cvss_v3.as_ref()),
                cvss_score_text(incident.cvss_v4.as_ref()),
                incident.phase.to_string(),
                time(row.updated_at),
                truncate(&safe_line(&incident.summary), 60),
            ]
        })
        .collect();
    table(header, &lines)
}

/// `herald deliveries list`: one line per delivery GitHub lists.
pub fn delivery_table(deliveries: &[ListedDelivery]) -> String {
    let header = [
        "DELIVERY",
        "EVENT",
        "LATEST ATTEMPT",
        "ATTEMPTS",
        "GITHUB",
        "HERALD",
    ];
    let lines: Vec<[String; 6]> = deliveries
        .iter()
        .map(|delivery| {
            let event = match &delivery.action {
                Some(action) => format!("{}.{action}", delivery.event),
                None => delivery.event.clone(),
            };
            [
                safe_line(&delivery.guid),
                safe_line(&event),
                time(delivery.latest.delivered_at),
                delivery.attempts.to_string(),
                truncate(&safe_line(&github_outcome(delivery)), 40),
                truncate(&safe_line(&herald_view(delivery)), 60),
            ]
        })
        .collect();
    table(header, &lines)
}

/// How GitHub's latest attempt at a delivery went, in its words.
fn github_outcome(delivery: &ListedDelivery) -> String {
    if delivery.succeeded {
        return "delivered".to_owned();
    }
    match (delivery.latest.status_code, delivery.latest.status.as_str()) {
        (0, "") => "failed: no answer".to_owned(),
        (0, words) => format!("failed: {words}"),
        (code, _) => format!("failed: {code}"),
    }
}

/// What herald has of a delivery, and what it asked GitHub for it.
fn herald_view(delivery: &ListedDelivery) -> String {
    if delivery.stored {
        return "stored".to_owned();
    }
    if delivery.succeeded {
        return "-".to_owned();
    }
    if delivery.latest.refused_by_herald() {
        return "refused by herald (its content): not asked for".to_owned();
    }
    match &delivery.request {
        None => "missing: to be asked for".to_owned(),
        Some(request) => match &request.refusal {
            Some(words) => format!("missing: GitHub refused to send it again: {words}"),
            None => format!(
                "missing: asked for {}x, last {}",
                request.requests,
                time(request.requested_at)
            ),
        },
    }
}

/// `herald deliveries resync`: what the scan found and did.
pub fn scan_report(report: &ScanReport) -> String {
    let mut out = format!(
        "{} attempt(s) read; {} delivery(ies) missing: {} asked for again now, {} refused by \
         GitHub, {} not answered by GitHub (asked again later), {} asked for before\n",
        report.attempts,
        report.missing,
        report.requested,
        report.refused,
        report.failed,
        report.asked_before
    );
    if report.refused_by_herald > 0 {
        let _ = writeln!(
            out,
            "{} delivery(ies) herald refused (signature, body): not asked for",
            report.refused_by_herald
        );
    }
    if let Some(why) = &report.unfinished {
        let _ = writeln!(out, "unfinished: {}; the next scan goes on", safe_line(why));
    }
    out
}

/// Columns padded to their widest cell, two spaces apart, the header first.
fn table<const N: usize>(header: [&str; N], lines: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for line in lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut put = |cells: &[&str]| {
        let mut line = String::new();
        for (index, cell) in cells.iter().enumerate() {
            if index + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let pad = widths[index] - cell.chars().count();
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    put(&header);
    for line in lines {
        put(&line.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

/// `herald jobs list`: one job a line. The last error is a counterpart's words: escaped.
pub fn job_table(jobs: &[JobRecord], now: DateTime<Utc>) -> String {
    let header = [
        "ID",
        "KIND",
        "STATE",
        "ATTEMPTS",
        "INCIDENT",
        "NEXT RUN",
        "LAST ERROR",
    ];
    let lines: Vec<[String; 7]> = jobs
        .iter()
        .map(|job| {
            [
                job.id.to_string(),
                safe_line(&job.kind),
                job.state.to_string(),
                job.attempts.to_string(),
                job.incident_id
                    .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                next_run(job, now),
                truncate(&safe_line(job.last_error.as_deref().unwrap_or("-")), 60),
            ]
        })
        .collect();
    table(header, &lines)
}

/// When a job runs next, as `jobs list` and `jobs show` say it.
fn next_run(job: &JobRecord, now: DateTime<Utc>) -> String {
    match (job.state, job.leased_until, job.run_after) {
        (JobState::Pending, Some(until), _) if until > now => match &job.leased_by {
            Some(replica) => format!("running on {replica}"),
            None => "running".to_owned(),
        },
        (JobState::Pending, _, Some(at)) if at > now => time(at),
        (JobState::Pending, _, _) => "due".to_owned(),
        _ => "-".to_owned(),
    }
}

/// `herald jobs show`: every field of one job.
pub fn job_detail(job: &JobRecord) -> String {
    let mut out = String::new();
    let payload = serde_json::to_string(&job.payload).unwrap_or_default();
    let fields = [
        ("id", job.id.to_string()),
        ("kind", safe_line(&job.kind)),
        ("state", job.state.to_string()),
        ("attempts", job.attempts.to_string()),
        (
            "incident",
            job.incident_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
        ),
        ("priority", job.priority.to_owned()),
        ("lane", job.lane.clone().unwrap_or_else(|| "-".to_owned())),
        ("queued", time(job.created_at)),
        (
            "run after",
            job.run_after.map_or_else(|| "at once".to_owned(), time),
        ),
        ("leased until", time_or_dash(job.leased_until)),
        (
            "leased by",
            job.leased_by.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        ("finished", time_or_dash(job.finished_at)),
        (
            "last error",
            job.last_error.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "outcome",
            job.outcome.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        ("payload", payload),
    ];
    for (label, value) in fields {
        let _ = writeln!(out, "{label:<13}{}", safe_line(&value));
    }
    out
}

fn cvss_detail(label: &str, assessment: Option<&CvssAssessment>, out: &mut String) {
    match assessment {
        None => {
            let _ = writeln!(out, "{label:<13}-");
        }
        Some(assessment) => {
            let _ = writeln!(
                out,
                "{label:<13}{}\n{:<13}{}",
                safe_line(&assessment.describe()),
                "",
                safe_line(&assessment.vector)
            );
        }
    }
}

/// One timeline line.
pub fn timeline_line(entry: &TimelineEntry) -> String {
    let actor = entry
        .actor
        .as_deref()
        .map(|actor| format!(" (by {})", safe_line(actor)))
        .unwrap_or_default();
    format!(
        "{}  {:<16} {}{actor}",
        time(entry.at),
        entry.kind.as_str(),
        safe_line(&entry.detail)
    )
}

/// The text of `herald incidents show`.
pub fn incident_detail(incident: &Incident, timeline: &[StoredTimelineEntry]) -> String {
    let mut out = Detail(String::new());
    out.line(format_args!(
        "{}  {}",
        safe_line(&incident.ghsa_id),
        safe_line(&incident.repository)
    ));
    severity_fields(&mut out, incident);
    decision_fields(&mut out, incident);
    out.field(
        "Advisory:",
        &format!(
            "{}  {}",
            incident.advisory_state,
            incident
                .advisory_url
                .as_deref()
                .map(safe_line)
                .unwrap_or_default()
        ),
    );
    out.field("Reported:", &time_or_dash(incident.reported_at));
    out.field("Learned:", &time(incident.learned_at));
    out.field("Published:", &time_or_dash(incident.published_at));
    package_lines(&mut out, incident);
    credit_lines(&mut out, incident);
    out.line(format_args!("Description:"));
    for line in incident.description.lines() {
        out.line(format_args!("  {}", safe_line(line)));
    }
    out.line(format_args!("Timeline:"));
    for stored in timeline {
        out.line(format_args!("  {}", timeline_line(&stored.entry)));
    }
    out.0
}

/// The lines of `herald incidents show`, labels aligned.
struct Detail(String);

impl Detail {
    fn line(&mut self, text: std::fmt::Arguments<'_>) {
        let _ = writeln!(self.0, "{text}");
    }

    fn field(&mut self, label: &str, value: &str) {
        self.line(format_args!("{label:<13}{value}"));
    }
}

/// What the advisory is: summary, CVE, severity and where it comes from, CVSS, CWEs.
fn severity_fields(out: &mut Detail, incident: &Incident) {
    out.field("Summary:", &safe_line(&incident.summary));
    let cve = incident.cve_id.as_deref().map(safe_line);
    out.field("CVE:", &cve.unwrap_or_else(|| "-".into()));
    let advisory_word = incident
        .advisory_severity
        .as_deref()
        .map(|word| format!("; the advisory says {}", safe_line(word)))
        .unwrap_or_default();
    out.field(
        "Severity:",
        &format!(
            "{} ({}){advisory_word}",
            incident.severity, incident.severity_source
        ),
    );
    cvss_detail("CVSS 3.x:", incident.cvss_v3.as_ref(), &mut out.0);
    cvss_detail("CVSS 4.0:", incident.cvss_v4.as_ref(), &mut out.0);
    let cwes: Vec<String> = incident
        .cwes
        .iter()
        .map(|cwe| match &cwe.name {
            Some(name) => format!("{} {}", safe_line(&cwe.id), safe_line(name)),
            None => safe_line(&cwe.id),
        })
        .collect();
    let cwes = if cwes.is_empty() {
        "-".into()
    } else {
        cwes.join(", ")
    };
    out.field("CWEs:", &cwes);
    if matches!(
        incident.severity_source,
        SeveritySource::Maintainer | SeveritySource::MaintainerCvss | SeveritySource::Kind
    ) {
        let (severity, source) = incident.computed_severity();
        out.field("Computed:", &format!("{severity} ({source})"));
    }
}

/// What the maintainers decided: their CVSS and kind, the phase, coordinator, threat,
/// breach, embargo and approval.
fn decision_fields(out: &mut Detail, incident: &Incident) {
    let decisions = &incident.decisions;
    if let Some(cvss) = &decisions.cvss {
        cvss_detail("CVSS (mnt):", Some(cvss), &mut out.0);
    }
    if let Some(kind) = decisions.kind {
        out.field("Kind:", kind.as_str());
    }
    out.field("Phase:", incident.phase.as_str());
    let coordinator = decisions.coordinator.as_deref().map(safe_line);
    out.field("Coordinator:", &coordinator.unwrap_or_else(|| "-".into()));
    let threat = decisions.threat.map(|threat| threat.to_string());
    out.field("Threat:", &threat.unwrap_or_else(|| "not assessed".into()));
    let breach = if decisions.breach {
        "yes"
    } else {
        "none recorded"
    };
    out.field("Breach:", breach);
    let embargo = decisions.embargo_until.map(time);
    out.field("Embargo:", &embargo.unwrap_or_else(|| "-".into()));
    let approved = if decisions.disclosure_approved {
        "approved"
    } else {
        "not approved"
    };
    out.field("Disclosure:", approved);
}

fn package_lines(out: &mut Detail, incident: &Incident) {
    out.line(format_args!("Affected packages:"));
    if incident.packages.is_empty() {
        out.line(format_args!("  -"));
    }
    let text = |value: &Option<String>| value.as_deref().map(safe_line).unwrap_or("?".into());
    for package in &incident.packages {
        out.line(format_args!(
            "  {} {}  vulnerable {}  patched {}",
            text(&package.ecosystem),
            text(&package.name),
            text(&package.vulnerable_version_range),
            text(&package.patched_versions),
        ));
    }
}

fn credit_lines(out: &mut Detail, incident: &Incident) {
    out.line(format_args!("Credits:"));
    if incident.credits.is_empty() {
        out.line(format_args!("  -"));
    }
    for credit in &incident.credits {
        let state = credit
            .state
            .as_deref()
            .map(|state| format!(", {}", safe_line(state)))
            .unwrap_or_default();
        out.line(format_args!(
            "  {} ({}{state})",
            safe_line(&credit.login),
            safe_line(&credit.kind)
        ));
    }
}

/// The jobs herald gave up on, for `herald incidents show`.
pub fn failed_jobs(failed: &[FailedJob]) -> String {
    let mut out = String::new();
    if failed.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "Failed (`/herald retry` on the tracking issue runs them again):"
    );
    for job in failed {
        let _ = writeln!(
            out,
            "  {}  {} after {} attempt(s): {}",
            time_or_dash(job.finished_at),
            safe_line(&job.kind),
            job.attempts,
            safe_line(&job.error)
        );
    }
    out
}

pub fn failed_job_json(job: &FailedJob) -> serde_json::Value {
    serde_json::json!({
        "id": job.id,
        "kind": job.kind,
        "attempts": job.attempts,
        "error": job.error,
        "finished_at": job.finished_at,
    })
}

/// What `herald dry-run` says about one processed delivery.
pub fn processed_summary(processed: &Processed) -> String {
    let mut out = format!(
        "processed {} {}{}: {}\n",
        processed.delivery_id,
        processed.event,
        processed
            .action
            .as_deref()
            .map(|action| format!(".{}", safe_line(action)))
            .unwrap_or_default(),
        safe_line(&processed.note)
    );
    if let Some(change) = &processed.incident {
        for entry in &change.timeline {
            let _ = writeln!(out, "  + {}", timeline_line(entry));
        }
    }
    out
}

/// Where the tracking issue is, or why there is none, in one line.
pub fn tracking_line(link: Option<&TrackingLink>) -> String {
    match link {
        None => "Tracking issue: not opened yet (queued for GitHub)".to_owned(),
        Some(link) => match link.status {
            TrackingStatus::Open => format!(
                "Tracking issue: {}#{} {}",
                safe_line(link.repository.as_deref().unwrap_or("?")),
                link.number.unwrap_or_default(),
                safe_line(link.url.as_deref().unwrap_or(""))
            ),
            TrackingStatus::Refused => format!(
                "Tracking issue: REFUSED. {}",
                safe_line(link.detail.as_deref().unwrap_or(""))
            ),
        },
    }
}

pub fn tracking_json(link: &TrackingLink) -> serde_json::Value {
    serde_json::json!({
        "status": link.status.as_str(),
        "repository": link.repository,
        "number": link.number,
        "url": link.url,
        "detail": link.detail,
        "synced_revision": link.synced_revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_shown_not_obeyed() {
        assert_eq!(safe_line("ok\u{1b}[31mred"), "ok\\u{1b}[31mred");
        assert_eq!(safe_line("a\r\nb"), "a\\r\\nb");
        assert_eq!(safe_line("naïve — ok"), "naïve — ok");
        assert_eq!(
            safe_text("line\n\tindented\r\n\u{1b}]0;title\u{7}"),
            "line\n\tindented\\r\n\\u{1b}]0;title\\u{7}"
        );
    }

    #[test]
    fn a_stored_kind_is_shown_escaped_in_the_job_list_and_detail() {
        let now = Utc::now();
        let job = JobRecord {
            id: 20,
            kind: "evil\u{1b}[31mRED".to_owned(),
            state: crate::store::JobState::Pending,
            attempts: 0,
            incident_id: None,
            priority: "urgent",
            lane: None,
            created_at: now,
            run_after: None,
            leased_until: None,
            leased_by: None,
            finished_at: None,
            last_error: None,
            outcome: None,
            payload: serde_json::Value::Null,
        };
        for shown in [job_table(std::slice::from_ref(&job), now), job_detail(&job)] {
            assert!(!shown.contains('\u{1b}'), "{shown}");
            assert!(shown.contains("evil\\u{1b}[31mRED"), "{shown}");
        }
    }

    #[test]
    fn bidirectional_and_c1_controls_in_a_summary_are_shown_escaped() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut incident = crate::incident::testing::reported("high", at);
        incident.summary = "Overflow in \u{202e}fdp.exe\u{9b}2J".into();
        incident.description = "line one\n\u{2067}isolated\u{2069} \u{200f}".into();
        let row = IncidentRow {
            id: crate::store::IncidentId(1),
            revision: 1,
            incident: incident.clone(),
            created_at: at,
            updated_at: at,
        };
        let escaped = "Overflow in \\u{202e}fdp.exe\\u{9b}2J";
        let detail = incident_detail(&incident, &[]);
        let table = incident_table(&[row]);
        for shown in [&detail, &table] {
            assert!(shown.contains(escaped), "{shown}");
            assert!(!shown.contains(['\u{202e}', '\u{9b}']), "{shown:?}");
        }
        assert!(
            detail.contains("  \\u{2067}isolated\\u{2069} \\u{200f}"),
            "{detail}"
        );
        for bidi in crate::printable::BIDI_CONTROLS {
            assert_eq!(
                safe_text(&bidi.to_string()),
                bidi.escape_default().to_string()
            );
        }
    }

    mod properties {
        use super::*;
        use crate::printable::BIDI_CONTROLS;
        use proptest::prelude::*;

        /// Text rich in what a terminal obeys: C0 and C1 controls, bidirectional controls.
        fn hostile_text() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                prop::collection::vec(
                    prop_oneof![
                        prop::char::range('\u{0}', '\u{a0}'),
                        prop::char::range('\u{2000}', '\u{206f}'),
                        prop::sample::select(BIDI_CONTROLS.to_vec()),
                        any::<char>(),
                    ],
                    0..40,
                )
                .prop_map(String::from_iter),
            ]
        }

        proptest! {
            #![proptest_config(crate::properties::config())]

            #[test]
            fn a_safe_line_holds_nothing_unprintable(text in hostile_text()) {
                let line = safe_line(&text);
                prop_assert!(!line.chars().any(crate::printable::is_unprintable), "{:?}", line);
                prop_assert!(!line.contains(BIDI_CONTROLS), "{:?}", line);
            }

            #[test]
            fn safe_text_keeps_only_line_breaks_and_tabs(text in hostile_text()) {
                let shown = safe_text(&text);
                let raw = |c: char| c.is_control() && c != '\n' && c != '\t';
                prop_assert!(!shown.chars().any(raw), "{:?}", shown);
                prop_assert!(!shown.contains(BIDI_CONTROLS), "{:?}", shown);
                prop_assert_eq!(
                    shown.matches(['\n', '\t']).count(),
                    text.matches(['\n', '\t']).count()
                );
            }
        }
    }
}
