//! The course-of-the-response chart herald writes into tracking issues and post-incident
//! reviews, parsed by Mermaid's own parser (the npm package, as GitHub renders it): Node.js
//! and `npm ci --prefix tests/mermaid` are needed, as `.ci/run` sets up.

use chrono::{DateTime, Duration, Utc};
use herald::drafts::course_chart;
use herald::incident::{
    AdvisoryAction, AdvisoryEvent, Command, PullSnapshot, PullState, RepoName, SlaPolicy,
    apply_advisory, apply_command,
};
use herald::ingest::events::{EventKind, WebhookEvent};
use std::path::Path;
use std::process::Command as Process;

/// Mermaid's verdict on `chart`: the diagram type, or its parse error.
fn mermaid_parse(chart: &str) -> Result<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mermaid");
    assert!(
        dir.join("node_modules/mermaid").is_dir(),
        "Mermaid's parser is not installed: install Node.js (18 or later) and run \
         `npm ci --prefix tests/mermaid`"
    );
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), chart).expect("chart file");
    let output = Process::new("node")
        .arg(dir.join("parse.mjs"))
        .arg(file.path())
        .output()
        .unwrap_or_else(|error| panic!("cannot run node ({error}): install Node.js 18 or later"));
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    if output.status.success() {
        Ok(text(&output.stdout))
    } else {
        Err(text(&output.stderr))
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

/// The reported example, taken through every kind of entry the chart shows: acknowledged,
/// an active threat, two temporary actions (one reverted, one kept), a phase set by hand,
/// a fix and a backport merged, the patch release, publication and closing.
fn an_incident_with_every_kind_of_entry() -> herald::incident::Incident {
    let WebhookEvent::RepositoryAdvisory(event) = WebhookEvent::parse(
        EventKind::RepositoryAdvisory,
        &crate::common::fixture("repository_advisory.reported.composed.json"),
    )
    .expect("payload") else {
        panic!("not an advisory event");
    };
    let learned = at("2026-11-02T09:30:00Z");
    let reported = AdvisoryEvent {
        action: AdvisoryAction::Reported,
        repository: event.repository.full_name.clone(),
        advisory: event.repository_advisory.snapshot(),
        actor: None,
        received_at: learned,
        served_since: None,
    };
    let mut incident = apply_advisory(None, &reported).incident;
    let hour = Duration::hours(1);
    for (offset, command) in [
        (1, Command::Acknowledge),
        (2, Command::Threat(Some(herald::incident::Threat::Active))),
        (3, Command::Contain("disabled uploads".into())),
        (4, Command::Contain("rotated the deploy key".into())),
        (30, Command::Revert(1)),
        (31, Command::Keep(2)),
        (32, Command::Phase(herald::incident::Phase::Remediation)),
    ] {
        apply_command(&mut incident, &command, "alice", learned + hour * offset);
    }
    let pull = |number: u64, base: &str| PullSnapshot {
        repository: RepoName::parse("Codertocat/Hello-World").expect("name"),
        number,
        url: format!("https://github.com/Codertocat/Hello-World/pull/{number}"),
        base: base.to_owned(),
        default_branch: "main".to_owned(),
        state: PullState::Merged,
    };
    incident.track_pull(&pull(5, "main"), None, learned + hour * 40);
    incident.track_pull(&pull(6, "release-1.x"), None, learned + hour * 41);
    incident.packages[0].patched_versions = Some("1.0.1".to_owned());
    incident.note_release("v1.0.1", "https://example.org/r", learned + hour * 42);
    let mut published = reported.clone();
    published.action = AdvisoryAction::Published;
    published.advisory.state = herald::incident::AdvisoryState::Published;
    published.advisory.published_at = Some(learned + hour * 43);
    published.advisory.updated_at = Some(learned + hour * 43);
    published.received_at = learned + hour * 43;
    incident = apply_advisory(Some(incident), &published).incident;
    apply_command(&mut incident, &Command::Close, "alice", learned + hour * 60);
    incident
}

#[test]
fn the_course_chart_of_an_incident_with_every_kind_of_entry_parses() {
    let incident = an_incident_with_every_kind_of_entry();
    let chart = course_chart(&incident, &SlaPolicy::default());
    for moment in [
        "report",
        "acknowledged",
        "temporary action 1",
        "action 1 reverted",
        "action 2 kept",
        "fix merged",
        "backport merged",
        "patch release",
        "published",
        "reaction due",
        "fix due",
        "disclosure due",
    ] {
        assert!(
            chart.contains(&format!("    {moment} :")),
            "{moment}:\n{chart}"
        );
    }
    for phase in [
        "awareness",
        "assessment",
        "containment",
        "remediation",
        "disclosure",
        "closed",
    ] {
        assert!(
            chart.contains(&format!("    {phase} :")),
            "{phase}:\n{chart}"
        );
    }
    assert_eq!(mermaid_parse(&chart), Ok("gantt".to_owned()), "{chart}");
    // The parser does refuse what is not a chart.
    assert!(mermaid_parse("gantt\n    section A\n    task :x y z w\n    ((\n").is_err());
}
