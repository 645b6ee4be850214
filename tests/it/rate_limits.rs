//! What herald costs GitHub: few requests per incident, writes within the write budgets
//! (a fresh report before a back-fill), a secondary rate limit waited out.

use crate::both_stores;
use crate::common::app::{
    CHANGELOG, GHSA, REPO, TRACK_PRIVATELY, TRACKING_REPO, advisory, assert_no_unexpected,
    github_publishes, installed, polling_with, report, the_reported_advisory, world,
};
use crate::common::fixture;
use crate::common::github::FakeGitHub;
use herald::config::GitHubSettings;
use std::time::Duration;

both_stores!(a_secondary_rate_limit_is_waited_out_and_retried);
async fn a_secondary_rate_limit_is_waited_out_and_retried() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    fake.fail_next(
        "POST",
        &format!("/repos/{TRACKING_REPO}/issues"),
        403,
        Some(1),
    );
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;

    let creates: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|request| {
            request.method == "POST" && request.path == format!("/repos/{TRACKING_REPO}/issues")
        })
        .map(|request| request.status)
        .collect();
    assert_eq!(creates, vec![403, 201]);
    assert_eq!(fake.issues(TRACKING_REPO).len(), 1);
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// "METHOD /path" of the requests since `from`, but for the one `GET /app` herald makes at
/// start (to learn its bot login), which may land at any moment.
fn requests_since(fake: &FakeGitHub, from: usize) -> Vec<String> {
    fake.requests()[from..]
        .iter()
        .map(|request| format!("{} {}", request.method, request.path))
        .filter(|request| request != "GET /app")
        .collect()
}

both_stores!(a_new_incident_and_its_publication_cost_few_github_requests);
async fn a_new_incident_and_its_publication_cost_few_github_requests() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    fake.put_file(REPO, "CHANGELOG.md", CHANGELOG);
    let harness = installed(&fake).await;

    let start = fake.requests().len();
    report(&harness, "report-1").await;
    let reported = requests_since(&fake, start);
    // A token, the organisation's policy and the repository's configuration, the tracking
    // repository's visibility, the template folder, the issue and its drafts comment: no
    // search for an issue that cannot exist yet, no listing of a fresh issue's comments.
    assert!(reported.len() <= 7, "{reported:#?}");
    assert!(
        !reported.iter().any(|request| request.ends_with("/comments")
            && request.starts_with("GET")
            || request.ends_with(&format!("/repos/{TRACKING_REPO}/issues"))
                && request.starts_with("GET")),
        "{reported:#?}"
    );

    let start = fake.requests().len();
    github_publishes(&harness).await;
    let published = requests_since(&fake, start);
    assert!(
        published.len() <= 26,
        "{} requests: {published:#?}",
        published.len()
    );
    let config_reads = published
        .iter()
        .filter(|request| request.ends_with(".github/herald.yml"))
        .count();
    assert!(config_reads <= 4, "{published:#?}");
    let pull_lookups = published
        .iter()
        .filter(|request| request.starts_with("GET") && request.ends_with("/pulls"))
        .count();
    assert_eq!(
        pull_lookups, 0,
        "herald knows its own pull request: {published:#?}"
    );
    // The configuration's re-reads were conditional: GitHub answered 304 (no rate limit).
    let config_answers: Vec<u16> = fake.requests()[start..]
        .iter()
        .filter(|request| request.path == format!("/repos/{REPO}/contents/.github/herald.yml"))
        .map(|request| request.status)
        .collect();
    assert!(
        config_answers.iter().all(|status| *status == 304),
        "{config_answers:?}"
    );

    // Once the channels are done, the tracking issue links what they published.
    let tracking = &fake.issues(TRACKING_REPO)[0];
    let pull = &fake.pulls(REPO)[0];
    let advisory_issue = &fake.issues(REPO)[0];
    assert!(
        tracking.body.contains(&format!("/pull/{}", pull.number)),
        "{}",
        tracking.body
    );
    assert!(
        tracking
            .body
            .contains(&format!("{REPO}/issues/{}", advisory_issue.number)),
        "{}",
        tracking.body
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// Write budgets small enough to matter within a test: 20 a second and 60 in four.
const TIGHT_WRITE_BUDGETS: &str = "20/1,60/4";

/// `count` draft advisories in the repository's list, from before herald was installed.
fn put_drafts(fake: &FakeGitHub, count: usize) {
    let template = the_reported_advisory();
    for index in 0..count {
        let mut draft = template.clone();
        draft["ghsa_id"] = format!("GHSA-fill-{index:04}-xxxx").into();
        draft["state"] = "draft".into();
        draft["updated_at"] = format!("2026-01-01T{:02}:{:02}:00Z", index / 60, index % 60).into();
        fake.put_advisory(REPO, draft);
    }
}

both_stores!(a_first_install_backfill_keeps_within_the_write_budgets_and_a_fresh_report_goes_first);
async fn a_first_install_backfill_keeps_within_the_write_budgets_and_a_fresh_report_goes_first() {
    const DRAFTS: usize = 500;
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    put_drafts(&fake, DRAFTS);
    let tight = |github: &mut GitHubSettings| {
        github.pacing = herald::config::Pacing {
            spacing: Duration::ZERO,
            budgets: herald::config::Pacing::parse_budgets(TIGHT_WRITE_BUDGETS).expect("budgets"),
        };
    };
    let harness = polling_with(&fake, tight, &fixture("installation.created.0.json")).await;
    let tracking_issues = |fake: &FakeGitHub| fake.issues(TRACKING_REPO);
    harness
        .until("the back-fill to start", async || {
            tracking_issues(&fake).len() >= 10
        })
        .await;

    // A maintainer reports a vulnerability while hundreds of drafts wait their turn.
    let answer = harness
        .deliver(
            "repository_advisory",
            "fresh-report",
            &advisory("repository_advisory.reported.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness
        .until("the fresh report's tracking issue", async || {
            tracking_issues(&fake)
                .iter()
                .any(|issue| issue.title.contains(GHSA))
        })
        .await;
    let backfilled = tracking_issues(&fake).len() - 1;
    assert!(
        backfilled < DRAFTS / 2,
        "the fresh report waited for {backfilled} back-filled issues"
    );
    // The fresh report went first, and the back-fill goes on after it.
    let writes = |fake: &FakeGitHub| {
        fake.requests()
            .iter()
            .filter(|request| request.method != "GET")
            .count()
    };
    harness
        .until("the back-fill to go on", async || writes(&fake) > 40)
        .await;

    // Never over a budget (measured over 80% of each window: a request may arrive after its
    // slot, by more than the tenth of a window the pacer leaves for that when the test
    // machine is loaded; unpaced, these writes would come dozens at a time), and GitHub
    // never had to refuse.
    for (count, window) in [
        (20, Duration::from_millis(800)),
        (60, Duration::from_millis(3200)),
    ] {
        let most = fake.most_writes_within(window);
        assert!(most <= count, "{most} writes within {window:?}");
    }
    let refused: Vec<String> = fake
        .requests()
        .iter()
        .filter(|request| request.status == 403 || request.status == 429)
        .map(|request| format!("{} {}", request.method, request.path))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert_no_unexpected(&fake);
    harness.stop().await;
}
