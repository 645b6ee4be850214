//! Publication: `/herald publish` behind the disclosure gate (the `disclosure:approved`
//! label, a second person where the organisation asks), GitHub's confirmation before
//! anything goes public, and what happens when GitHub refuses or herald stops half-way.

use crate::both_stores;
use crate::common::app::{
    GHSA, REPO, TRACK_PRIVATELY, TRACKING_REPO, assert_no_unexpected, incident_id, incidents_show,
    public_writes, the_incident, world,
};
use crate::common::github::FakeGitHub;
use crate::common::tracking::{
    add_label, answers, approved, command, comment, escalations, publish_approved, remove_label,
};

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
    let shown = incidents_show(&harness).await;
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
    remove_label(&harness, "l-2", "alice", "disclosure:approved").await;
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
    let mut harness = approved(&fake).await;
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
    remove_label(&harness, "l-2", "dave", "disclosure:approved").await;
    add_label(&harness, "l-3", "dave", "disclosure:approved").await;
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
