//! People on the tracking issue `Codertocat/security#1`: their comments, labels and
//! `/herald` commands, herald's answers there; an incident tracked, approved and published.

use crate::common;
use crate::common::app::{
    GHSA, INSTALLATION, REPO, TRACK_PRIVATELY, TRACKING_REPO, installed, reported_advisory, say,
    the_reported_advisory,
};
use crate::common::github::FakeGitHub;
use crate::common::{Harness, fixture};

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

pub fn comment(sender: &str, body: &str) -> Vec<u8> {
    on_tracking_issue("issue_comment.created.0.json", sender, |payload| {
        payload["comment"]["body"] = body.into();
        payload["comment"]["user"]["login"] = sender.into();
    })
}

/// `sender` adds the label `name` to the tracking issue (delivery `delivery_id`), and
/// everything it leads to.
pub async fn add_label(harness: &Harness, delivery_id: &str, sender: &str, name: &str) {
    let labeled = on_tracking_issue("issues.labeled.0.json", sender, |payload| {
        payload["label"]["name"] = name.into();
    });
    say(harness, "issues", delivery_id, &labeled).await;
}

/// `sender` removes the label `name` from the tracking issue, and everything it leads to.
pub async fn remove_label(harness: &Harness, delivery_id: &str, sender: &str, name: &str) {
    let unlabeled = on_tracking_issue("issues.labeled.0.json", sender, |payload| {
        payload["action"] = "unlabeled".into();
        payload["label"]["name"] = name.into();
    });
    say(harness, "issues", delivery_id, &unlabeled).await;
}

/// A harness with the reported example, still without a CVE id, tracked in
/// `Codertocat/security#1`; GitHub knows the advisory too (for CVE requests, publication).
pub async fn tracked(fake: &FakeGitHub) -> Harness {
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let harness = installed(fake).await;
    let mut without_cve = the_reported_advisory();
    without_cve["cve_id"] = serde_json::Value::Null;
    without_cve["identifiers"] = serde_json::json!([{ "type": "GHSA", "value": GHSA }]);
    let report = reported_advisory(|advisory| *advisory = without_cve.clone());
    say(&harness, "repository_advisory", "report-1", &report).await;
    fake.put_advisory(REPO, without_cve);
    assert_eq!(fake.issues(TRACKING_REPO).len(), 1);
    harness
}

/// herald's answers on the tracking issue (not the drafts comment).
pub fn answers(fake: &FakeGitHub) -> Vec<common::github::FakeComment> {
    fake.comments(TRACKING_REPO, 1)
        .into_iter()
        .filter(|comment| !comment.body.starts_with("<!-- herald:drafts"))
        .collect()
}

/// The comment that shows the drafts for review.
pub fn drafts_comments(fake: &FakeGitHub) -> Vec<common::github::FakeComment> {
    fake.comments(TRACKING_REPO, 1)
        .into_iter()
        .filter(|comment| comment.body.starts_with("<!-- herald:drafts"))
        .collect()
}

/// A [`tracked`] incident that alice, an admin, approved for disclosure (`l-1`).
pub async fn approved(fake: &FakeGitHub) -> Harness {
    let harness = tracked(fake).await;
    fake.set_permission(REPO, "alice", "admin");
    add_label(&harness, "l-1", "alice", "disclosure:approved").await;
    harness
}

/// An [`approved`] incident, with GitHub set up by `prepare`, after alice said
/// `/herald publish`.
pub async fn publish_approved(fake: &FakeGitHub, prepare: impl FnOnce(&FakeGitHub)) -> Harness {
    let harness = approved(fake).await;
    prepare(fake);
    command(&harness, "c-1", "alice", "/herald publish").await;
    harness
}

/// herald's comments on the tracking issue that contain `words` (the drafts comment aside).
pub fn escalations(fake: &FakeGitHub, words: &str) -> Vec<String> {
    answers(fake)
        .into_iter()
        .map(|comment| comment.body)
        .filter(|body| body.contains(words))
        .collect()
}

/// A maintainer's comment on the tracking issue, and everything it leads to.
pub async fn command(harness: &Harness, delivery_id: &str, sender: &str, text: &str) {
    say(
        harness,
        "issue_comment",
        delivery_id,
        &comment(sender, text),
    )
    .await;
}
