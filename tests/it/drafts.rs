//! Golden tests of every shipped template, for GitHub's example advisories and for an
//! advisory full of hostile text. `HERALD_UPDATE_GOLDEN=1 cargo test --test it drafts::`
//! rewrites the golden files after a deliberate template change (review the diff).

use crate::common;

use chrono::TimeZone;
use herald::drafts::{DraftView, Drafts, TrackingRecord, render_all, tracking_issue};
use herald::incident::{
    AdvisoryAction, AdvisoryEvent, Command, Incident, Severity, TimelineEntry, TimelineKind,
    apply_advisory, apply_command,
};
use herald::ingest::events::{EventKind, WebhookEvent};
use herald::repo_config::RepoConfig;
use std::path::Path;

fn incident_from(payload: &[u8], action: AdvisoryAction) -> Incident {
    let WebhookEvent::RepositoryAdvisory(event) =
        WebhookEvent::parse(EventKind::RepositoryAdvisory, payload).expect("payload")
    else {
        panic!("not an advisory event");
    };
    let received_at = chrono::Utc
        .with_ymd_and_hms(2026, 11, 2, 9, 30, 0)
        .single()
        .expect("time");
    let outcome = apply_advisory(
        None,
        &AdvisoryEvent {
            action,
            repository: event.repository.full_name.clone(),
            advisory: event.repository_advisory.snapshot(),
            actor: None,
            received_at,
            served_since: None,
        },
    );
    outcome.incident
}

/// Every draft of `incident`, as (file name, text).
fn all_drafts(incident: &Incident) -> Vec<(String, String)> {
    let drafts = Drafts::new().expect("shipped templates");
    let view = DraftView::new(
        incident,
        &[],
        Some("https://github.com/Codertocat/Hello-World/pull/7"),
    );
    let rendered = render_all(&drafts, &view);
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors);
    let mut files: Vec<(String, String)> = rendered
        .drafts
        .into_iter()
        .map(|draft| (draft.name.to_owned(), draft.text))
        .collect();
    let config = RepoConfig::default();
    // A maintainer's entry whose text tries to break out of its table cell and ping people.
    let timeline = [TimelineEntry {
        at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
            .single()
            .expect("time"),
        actor: Some("octocat".to_owned()),
        kind: TimelineKind::Command,
        detail: "coordinator set to octocat | @everyone\n# heading".to_owned(),
    }];
    let tracking = tracking_issue(
        &drafts,
        incident,
        &TrackingRecord {
            timeline: &timeline,
            published: &[],
        },
        &config.labels,
        &config.sla.policy(),
        None,
    )
    .expect("tracking issue");
    files.push(("tracking-issue.md".to_owned(), tracking.body));
    files
}

fn check_golden(case: &str, files: &[(String, String)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case);
    let update = std::env::var_os("HERALD_UPDATE_GOLDEN").is_some();
    if update {
        std::fs::create_dir_all(&dir).expect("golden dir");
    }
    for (name, text) in files {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, text).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "{}: {error}; run HERALD_UPDATE_GOLDEN=1 cargo test --test it drafts::",
                path.display()
            )
        });
        assert_eq!(
            text,
            &expected,
            "{} differs from its golden file",
            path.display()
        );
    }
}

#[test]
fn the_reported_example_renders_as_its_golden_files() {
    let incident = incident_from(
        &common::fixture("repository_advisory.reported.composed.json"),
        AdvisoryAction::Reported,
    );
    check_golden("reported", &all_drafts(&incident));
}

#[test]
fn the_published_example_renders_as_its_golden_files() {
    let incident = incident_from(
        &common::fixture("repository_advisory.published.composed.json"),
        AdvisoryAction::Published,
    );
    check_golden("published", &all_drafts(&incident));
}

#[test]
fn hostile_advisory_text_is_data_in_every_draft() {
    let files = all_drafts(&hostile_incident());
    for (name, text) in &files {
        the_hostile_text_is_inert(name, text);
    }
    check_golden("hostile", &files);
}

/// The published example with hostile text in every field a reporter or a maintainer
/// writes: mentions, template and site-generator syntax, HTML, wikitext, a link, a
/// carriage return and a C1 control, a header; and maintainers' commands saying the same.
fn hostile_incident() -> Incident {
    let mut payload: serde_json::Value = serde_json::from_slice(&common::fixture(
        "repository_advisory.published.composed.json",
    ))
    .expect("JSON");
    let advisory = &mut payload["repository_advisory"];
    advisory["summary"] =
        "@everyone {{secret}} <script>alert(1)</script> ]] [[Main Page]] #1\u{9b}31m\r\nBcc: evil@example.org".into();
    advisory["description"] =
        "line one @octocat\r\n# not a heading\n</nowiki>{{delete}} ~~~~\n{{> partial}} {{#each x}}\n\
         {% include_relative _config.yml %} {{ site.github.environment }} {{% param \"apiKey\" %}} \
         {{< shortcode >}}"
            .into();
    advisory["credits"] = serde_json::json!([{ "login": "@admins", "type": "reporter" }]);
    advisory["credits_detailed"] = serde_json::Value::Null;
    advisory["vulnerabilities"][0]["package"]["name"] = "pkg](https://evil.example)".into();
    let mut incident = incident_from(
        &serde_json::to_vec(&payload).expect("JSON"),
        AdvisoryAction::Published,
    );
    // Maintainers' own words are data too.
    let said = chrono::Utc
        .with_ymd_and_hms(2026, 11, 2, 11, 0, 0)
        .single()
        .expect("time");
    let hostile =
        "blocked | @everyone {{secret}} <script>alert(1)</script> [x](https://evil.example)";
    for command in [
        Command::Contain(hostile.to_owned()),
        Command::Contain("rotated the deploy key".to_owned()),
        Command::Keep(2),
        Command::Affected(hostile.to_owned()),
    ] {
        apply_command(&mut incident, &command, "octocat", said);
    }
    incident
}

/// The draft `name` shows the hostile text as text: no carriage return or C1 control, no
/// template syntax a renderer or site generator would evaluate, no mention, script, link
/// or heading in Markdown, no live link in wikitext, no header in the announcement.
fn the_hostile_text_is_inert(name: &str, text: &str) {
    assert!(
        !text.contains('\r'),
        "{name}: a carriage return got through"
    );
    assert!(!text.contains('\u{9b}'), "{name}: a C1 control got through");
    if name == "blog-post.md" {
        // A site generator evaluates `{{`, `{%`, `{{<`, `{{%` anywhere in its source.
        for delimiter in ["{{", "{%", "%}", "}}"] {
            assert!(
                !text.contains(delimiter),
                "{name}: {delimiter} reaches the site generator:\n{text}"
            );
        }
        assert!(
            text.contains("&#123;&#123;secret&#125;&#125;")
                && text.contains("&#123;% include\\_relative \\_config.yml %&#125;"),
            "{name}: the braces show as text:\n{text}"
        );
    } else {
        assert!(
            text.contains("{{secret}}"),
            "{name}: template syntax in the data must show as text:\n{text}"
        );
    }
    if name.ends_with(".md") {
        assert!(
            !text.contains("@everyone"),
            "{name} pings everyone:\n{text}"
        );
        assert!(!text.contains("@octocat"), "{name} pings octocat:\n{text}");
        assert!(!text.contains("@admins"), "{name} pings a team:\n{text}");
        assert!(
            !text.contains("<script>"),
            "{name} carries a script tag:\n{text}"
        );
        assert!(
            !text.replace("\\]", "").contains("](https://evil"),
            "{name} carries a link:\n{text}"
        );
        assert!(
            !text.contains("\n# not a heading"),
            "{name}: a heading got through:\n{text}"
        );
    }
    if name.ends_with(".wiki") {
        assert!(!text.contains("<script>"), "{name}:\n{text}");
        assert!(
            !text.contains("</nowiki>{{delete}}"),
            "{name}: nowiki closed early:\n{text}"
        );
        for line in text.lines().filter(|line| line.contains("[[Main Page]]")) {
            assert!(line.contains("<nowiki>"), "{name}: a live link:\n{line}");
        }
    }
    assert!(
        !text.contains("\nBcc:"),
        "{name}: the summary is one line, it cannot start a header:\n{text}"
    );
    if name == "announcement-subject.txt" {
        assert!(!text.contains('\n'), "the subject is one line: {text:?}");
    }
}

#[test]
fn only_a_critical_incident_gets_a_blog_post() {
    let mut incident = incident_from(
        &common::fixture("repository_advisory.published.composed.json"),
        AdvisoryAction::Published,
    );
    let names = |incident: &Incident| -> Vec<String> {
        all_drafts(incident)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    };
    assert!(names(&incident).contains(&"blog-post.md".to_owned()));
    // A maintainer's severity wins over the computed critical.
    incident.decisions.severity = Some(Severity::High);
    incident.recompute_severity();
    let drafted = names(&incident);
    assert!(!drafted.contains(&"blog-post.md".to_owned()), "{drafted:?}");
    assert!(
        drafted.contains(&"announcement.txt".to_owned()),
        "{drafted:?}"
    );
}

#[test]
fn declined_and_pending_credits_are_named_only_on_the_private_tracking_issue() {
    let mut payload: serde_json::Value = serde_json::from_slice(&common::fixture(
        "repository_advisory.published.composed.json",
    ))
    .expect("JSON");
    let credit = |login: &str, kind: &str, state: &str| serde_json::json!({ "user": { "login": login, "id": 7 }, "type": kind, "state": state });
    payload["repository_advisory"]["credits_detailed"] = serde_json::json!([
        credit("finder-one", "finder", "accepted"),
        credit("stays-anonymous", "reporter", "declined"),
        credit("never-asked", "analyst", "pending"),
        credit("no-state-given", "other", ""),
    ]);
    let incident = incident_from(
        &serde_json::to_vec(&payload).expect("JSON"),
        AdvisoryAction::Published,
    );
    let files = all_drafts(&incident);
    let public: Vec<&(String, String)> = files
        .iter()
        .filter(|(name, _)| name != "tracking-issue.md")
        .collect();
    for (name, text) in &public {
        for withheld in ["stays-anonymous", "never-asked", "no-state-given"] {
            assert!(!text.contains(withheld), "{name} names {withheld}:\n{text}");
        }
    }
    let credited: Vec<&str> = public
        .iter()
        .filter(|(_, text)| text.contains("finder-one"))
        .map(|(name, _)| name.as_str())
        .collect();
    for name in [
        "changelog-entry.md",
        "announcement.txt",
        "wiki-page.wiki",
        "advisory-issue.md",
    ] {
        assert!(
            credited.iter().any(|credited| credited.ends_with(name)),
            "{name} credits who accepted: {credited:?}"
        );
    }
    let tracking = &files
        .iter()
        .find(|(name, _)| name == "tracking-issue.md")
        .expect("tracking issue")
        .1;
    assert!(
        tracking
            .contains("stays-anonymous (reporter): credit declined, so not named in public drafts"),
        "{tracking}"
    );
    assert!(
        tracking.contains("never-asked (analyst): credit pending, so not named in public drafts"),
        "{tracking}"
    );
    assert!(
        tracking.contains("no-state-given (other): credit not accepted, so not named"),
        "{tracking}"
    );
    assert!(tracking.contains("finder-one (finder)\n"), "{tracking}");
}
