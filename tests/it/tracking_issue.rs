//! The private tracking issue: one per incident, ever, in the private repository the
//! configuration names (never a public or internal one under embargo), updated in place,
//! found again after a lost answer, and showing the configuration's problems.

use crate::both_stores;
use crate::common::Harness;
use crate::common::app::{
    GHSA, INSTALLATION, REPO, TRACK_PRIVATELY, TRACKING_REPO, advisory, assert_no_unexpected,
    github_publishes, incident_id, installed, public_writes, report, timeline_details, world,
};
use crate::common::github::{FakeGitHub, FakeIssue};
use crate::common::tracking::{answers, command, drafts_comments, tracked};
use herald::store::{IncidentId, TrackingStatus};

both_stores!(a_reported_advisory_opens_exactly_one_private_tracking_issue);
async fn a_reported_advisory_opens_exactly_one_private_tracking_issue() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\n  assignees: [Codertocat]\n",
    );
    let harness = installed(&fake).await;
    let installations = harness.store.installations().await.expect("installations");
    assert_eq!(installations.len(), 1);
    assert_eq!(installations[0].id, INSTALLATION as i64);
    assert_eq!(installations[0].repositories, vec![REPO.to_owned()]);

    report(&harness, "report-1").await;
    let issue = the_tracking_issue_as_created(&fake);
    let id = incident_id(&harness).await;
    the_tracking_issue_is_recorded(&harness, id, issue.number).await;
    a_repeated_report_changes_nothing(&harness, &fake).await;
    // Under embargo nothing was written anywhere public: the advisory's repository saw reads.
    assert_eq!(public_writes(&fake), Vec::<String>::new());
    the_drafts_wait_for_review(&harness, &fake, id).await;

    // Publication updates the same issue in place.
    github_publishes(&harness).await;
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].body.contains("| Phase | disclosure |"),
        "{}",
        issues[0].body
    );
    assert_eq!(
        fake.count("POST", &format!("/repos/{TRACKING_REPO}/issues")),
        1
    );
    // Rewritten for the disclosure, and once more when the channels are done, to link them.
    assert_eq!(
        fake.count("PATCH", &format!("/repos/{TRACKING_REPO}/issues/1")),
        2
    );

    // One installation token served every call.
    assert_eq!(fake.token_requests(), 1);
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The one tracking issue of the reported example, checked as it reads and as herald asked
/// GitHub to create it (assigned, labelled, nothing in the public repository).
fn the_tracking_issue_as_created(fake: &FakeGitHub) -> FakeIssue {
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1, "{issues:?}");
    let issue = issues[0].clone();
    assert!(issue.title.contains(GHSA), "{}", issue.title);
    assert_eq!(issue.labels, vec!["security", "severity:critical"]);
    assert_eq!(issue.assignees, vec!["Codertocat"]);
    for expected in [
        "<!-- herald:incident Codertocat/Hello-World GHSA-abcd-1234-efgh -->",
        "Embargoed",
        "9.3 critical (CVSS 4.0, computed)",
        "9.8 critical (CVSS 3.1, computed)",
        "#### Containment",
        "#### Remediation",
        "#### Disclosure",
        "#### Recovery",
        "- [ ] Rotate exposed secrets and tokens",
        "nobody yet",
    ] {
        assert!(
            issue.body.contains(expected),
            "missing {expected:?} in:\n{}",
            issue.body
        );
    }
    // The request was GitHub's documented "create an issue" body.
    let create = fake
        .requests()
        .into_iter()
        .find(|request| {
            request.method == "POST" && request.path == format!("/repos/{TRACKING_REPO}/issues")
        })
        .expect("the create request");
    let sent = create.body.expect("a JSON body");
    assert_eq!(sent["title"], issue.title.as_str());
    assert_eq!(sent["body"], issue.body.as_str());
    assert_eq!(
        sent["labels"],
        serde_json::json!(["security", "severity:critical"])
    );
    assert_eq!(sent["assignees"], serde_json::json!(["Codertocat"]));
    assert_eq!(create.status, 201);
    // The credited analyst is named but not pinged.
    assert!(!issue.body.contains("@octocat"), "{}", issue.body);
    assert!(
        fake.issues(REPO).is_empty(),
        "nothing in the public repository"
    );
    issue
}

/// The incident's link to its tracking issue `number`, open, and the timeline's entry.
async fn the_tracking_issue_is_recorded(harness: &Harness, id: IncidentId, number: u64) {
    let link = harness
        .store
        .tracking_link(id)
        .await
        .expect("link")
        .expect("recorded");
    assert_eq!(link.status, TrackingStatus::Open);
    assert_eq!(link.repository.as_deref(), Some(TRACKING_REPO));
    assert_eq!(link.number, Some(number as i64));
    let timeline = harness.store.timeline(id).await.expect("timeline");
    assert!(
        timeline
            .iter()
            .any(|stored| stored.entry.detail == format!("tracking issue {TRACKING_REPO}#1")),
        "{timeline:?}"
    );
}

/// GitHub redelivers the report (`report-1`), then sends its body again under a new id:
/// both are repeats, and the tracking issue is neither opened again nor rewritten.
async fn a_repeated_report_changes_nothing(harness: &Harness, fake: &FakeGitHub) {
    let reported = advisory("repository_advisory.reported.composed.json");
    // GitHub's manual redelivery keeps the id: nothing happens again.
    let again = harness
        .deliver("repository_advisory", "report-1", &reported)
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    harness.wait_all_jobs().await;
    // The same body under a new delivery id is a repeat too.
    let resent = harness
        .deliver("repository_advisory", "report-2", &reported)
        .await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    harness.wait_all_jobs().await;
    assert_eq!(
        fake.count("POST", &format!("/repos/{TRACKING_REPO}/issues")),
        1
    );
    assert_eq!(
        fake.count("PATCH", &format!("/repos/{TRACKING_REPO}/issues/1")),
        0
    );
}

/// The drafts wait for review in one comment on the private issue, and in the store.
async fn the_drafts_wait_for_review(harness: &Harness, fake: &FakeGitHub, id: IncidentId) {
    let review = drafts_comments(fake);
    assert_eq!(review.len(), 1);
    for draft in [
        "changelog-entry.md",
        "advisory-issue.md",
        "announcement.txt",
        "wiki-page.wiki",
        "forum-post.md",
        "osv.json",
    ] {
        assert!(
            review[0]
                .body
                .contains(&format!("<summary>{draft}</summary>")),
            "{draft} missing:\n{}",
            review[0].body
        );
    }
    let stored = harness.store.drafts(id).await.expect("drafts");
    assert!(stored.iter().any(|(name, text)| name == "announcement.txt"
        && text.contains("A short summary of the advisory.")));
}

both_stores!(maintainers_ticks_survive_an_update_and_an_expired_token_is_replaced);
async fn maintainers_ticks_survive_an_update_and_an_expired_token_is_replaced() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    let issue = &fake.issues(TRACKING_REPO)[0];
    let ticked = issue
        .body
        .replace("- [ ] Fix and test", "- [x] Fix and test");
    fake.edit_issue_body(TRACKING_REPO, issue.number, &ticked);

    fake.expire_tokens();
    harness
        .deliver(
            "repository_advisory",
            "publish-1",
            &advisory("repository_advisory.published.composed.json"),
        )
        .await;
    harness.wait_all_jobs().await;
    let body = &fake.issues(TRACKING_REPO)[0].body;
    assert!(body.contains("- [x] Fix and test"), "{body}");
    assert!(body.contains("| Phase | disclosure |"), "{body}");
    assert_eq!(fake.token_requests(), 2, "the expired token was replaced");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_undisclosed_incident_is_never_put_into_a_public_repository);
async fn an_undisclosed_incident_is_never_put_into_a_public_repository() {
    let fake = world().await;
    // No configuration: the default tracking repository is the advisory's own, public one.
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;

    assert!(fake.issues(REPO).is_empty());
    assert_eq!(fake.count("POST", &format!("/repos/{REPO}/issues")), 0);
    let id = incident_id(&harness).await;
    let link = harness
        .store
        .tracking_link(id)
        .await
        .expect("link")
        .expect("the refusal is recorded");
    assert_eq!(link.status, TrackingStatus::Refused);
    let detail = link.detail.expect("why");
    assert!(detail.contains("Codertocat/Hello-World"), "{detail}");
    assert!(detail.contains("is public"), "{detail}");
    assert!(detail.contains("tracking.repository"), "{detail}");

    // `herald incidents show` says so.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["incidents", "show", GHSA])
        .env("HERALD_DATABASE_URL", &harness.database_url)
        .env_remove("HERALD_GITHUB_APP_ID")
        .output()
        .expect("herald runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Tracking issue: REFUSED"), "{stdout}");
    assert!(stdout.contains("is public"), "{stdout}");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// Someone who can push to the repository points tracking at a private repository of
/// their own, in the same installation.
fn mallory_points_tracking_at_their_own(fake: &FakeGitHub) {
    fake.add_repository("Codertocat/mallory-notes", true, INSTALLATION);
    fake.put_file_as(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/mallory-notes\n",
        "mallory",
    );
}

both_stores!(a_changed_tracking_repository_moves_no_open_incident_and_is_shown);
async fn a_changed_tracking_repository_moves_no_open_incident_and_is_shown() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "write");
    mallory_points_tracking_at_their_own(&fake);
    command(&harness, "c-1", "alice", "/herald severity high").await;
    command(&harness, "c-2", "alice", "/herald threat passive").await;
    assert!(
        fake.issues("Codertocat/mallory-notes").is_empty(),
        "the report did not move"
    );
    let issue = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        issue.contains("| Threat | passive:"),
        "still updated where it is: {issue}"
    );
    let notices: Vec<String> = answers(&fake)
        .into_iter()
        .map(|comment| comment.body)
        .filter(|body| body.starts_with("**The tracking repository changed.**"))
        .collect();
    assert_eq!(notices.len(), 1, "said once: {notices:#?}");
    let sha = fake
        .commits(REPO, "main")
        .last()
        .expect("the push")
        .sha
        .clone();
    assert!(
        notices[0].contains("now names Codertocat/mallory-notes")
            && notices[0].contains(&format!(
                "in commit {} of {REPO}, pushed by mallory",
                &sha[..12]
            ))
            && notices[0].contains("stays here, in Codertocat/security"),
        "{}",
        notices[0]
    );
    assert!(
        timeline_details(&harness).await.contains(
            &"tracking.repository now names Codertocat/mallory-notes; the tracking issue stays in Codertocat/security".to_owned()
        )
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

#[tokio::test]
async fn an_organisations_locked_tracking_repository_is_not_overridden_by_a_repository() {
    let fake = world().await;
    fake.add_repository("Codertocat/.github", false, INSTALLATION);
    fake.put_file(
        "Codertocat/.github",
        ".github/herald.yml",
        "locked: [tracking]\ntracking:\n  repository: Codertocat/security\n",
    );
    mallory_points_tracking_at_their_own(&fake);
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    assert!(fake.issues("Codertocat/mallory-notes").is_empty());
    let issue = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        issue.contains("locked by the organisation's policy in Codertocat/.github"),
        "{issue}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

#[tokio::test]
async fn an_internal_repository_is_not_private_enough_for_a_tracking_issue() {
    let fake = world().await;
    // The whole enterprise reads an internal repository.
    fake.make_internal(TRACKING_REPO);
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    assert!(fake.issues(TRACKING_REPO).is_empty());
    let link = harness
        .store
        .tracking_link(incident_id(&harness).await)
        .await
        .expect("link")
        .expect("the refusal is recorded");
    assert_eq!(link.status, TrackingStatus::Refused);
    let detail = link.detail.expect("why");
    assert!(
        detail.contains("Codertocat/security: that repository is internal"),
        "{detail}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_issue_created_before_a_lost_answer_is_found_again_not_duplicated);
async fn an_issue_created_before_a_lost_answer_is_found_again_not_duplicated() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    // GitHub creates the issue, but herald never hears so: the attempt fails, and the next
    // one must find the issue rather than open a second.
    let issues_path = format!("/repos/{TRACKING_REPO}/issues");
    fake.lose_next_answer("POST", &issues_path);
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;

    assert_eq!(fake.count("POST", &issues_path), 1, "created once");
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1);
    let number = issues[0].number;
    assert!(
        issues[0].body.contains("#### Containment"),
        "rewritten in place"
    );
    assert!(issues[0].labels.contains(&"severity:critical".to_owned()));
    let link = harness
        .store
        .tracking_link(incident_id(&harness).await)
        .await
        .expect("link")
        .expect("recorded");
    assert_eq!(link.number, Some(number as i64));
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_broken_configuration_is_reported_on_the_issue_and_defaults_are_used);
async fn a_broken_configuration_is_reported_on_the_issue_and_defaults_are_used() {
    let fake = world().await;
    // The organisation's `.github` repository holds the configuration (Probot's convention),
    // with a typo; the defaults then track in the advisory's repository, here private.
    fake.add_repository("Codertocat/.github", false, INSTALLATION);
    fake.add_repository("Codertocat/private-lib", true, INSTALLATION);
    fake.put_file(
        "Codertocat/.github",
        ".github/herald.yml",
        "labels:\n  security: security\ntracking:\n  repositry: Codertocat/security\n",
    );
    let harness = installed(&fake).await;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&advisory("repository_advisory.reported.composed.json"))
            .expect("JSON");
    payload["repository"]["full_name"] = "Codertocat/private-lib".into();
    payload["repository"]["private"] = true.into();
    harness
        .deliver(
            "repository_advisory",
            "report-1",
            &serde_json::to_vec(&payload).expect("JSON"),
        )
        .await;
    harness.wait_all_jobs().await;

    let issues = fake.issues("Codertocat/private-lib");
    assert_eq!(issues.len(), 1, "the incident is not dropped");
    let body = &issues[0].body;
    assert!(body.contains("Configuration problem"), "{body}");
    assert!(body.contains("line 4"), "{body}");
    assert!(body.contains("repositry"), "{body}");
    assert_no_unexpected(&fake);
    harness.stop().await;
}
