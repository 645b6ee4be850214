//! Maintainers' `/herald` commands on the tracking issue, by comment and by label: who may
//! give which (GitHub's roles: write, maintain, admin, the organisation's security
//! managers), herald's answers, and what each command changes.

use crate::both_stores;
use crate::common::Harness;
use crate::common::app::{
    GHSA, REPO, TRACKING_REPO, assert_no_unexpected, incident_id, incidents_show, the_incident,
    timeline_details, world,
};
use crate::common::github::FakeGitHub;
use crate::common::tracking::{add_label, answers, command, comment, tracked};

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
    add_label(&harness, "l-1", "mallory", "disclosure:approved").await;
    assert!(!the_incident(&harness).await.decisions.disclosure_approved);
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
    write_and_maintain_are_refused_what_admins_may_do(&harness, &fake).await;
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

    an_admin_approves_and_a_security_manager_publishes(&harness, &fake).await;
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

/// bob (write) labels `disclosure:approved` and dave (maintain) gives the commands GitHub
/// reserves for admins: each is refused, saying which role it needs and theirs, and
/// nothing changes.
async fn write_and_maintain_are_refused_what_admins_may_do(harness: &Harness, fake: &FakeGitHub) {
    add_label(harness, "l-1", "bob", "disclosure:approved").await;
    command(
        harness,
        "c-2",
        "dave",
        "/herald embargo 2000-01-01T00:00:00Z\n/herald publish\n/herald prenotify\n/herald request-cve\n/herald fork",
    )
    .await;
    let incident = the_incident(harness).await;
    assert!(!incident.decisions.disclosure_approved);
    assert_eq!(
        incident.decisions.embargo_until.map(|at| at.to_rfc3339()),
        Some("2031-01-01T00:00:00+00:00".to_owned())
    );
    assert_eq!(fake.cve_requests().len(), 0);
    let replies = answers(fake);
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
}

/// carol (admin) approves and sets the date in as many actions as before; erin, a security
/// manager, publishes.
async fn an_admin_approves_and_a_security_manager_publishes(harness: &Harness, fake: &FakeGitHub) {
    add_label(harness, "l-2", "carol", "disclosure:approved").await;
    command(
        harness,
        "c-4",
        "carol",
        "/herald embargo 2020-01-01T00:00:00Z",
    )
    .await;
    assert!(the_incident(harness).await.decisions.disclosure_approved);
    command(harness, "c-5", "erin", "/herald publish").await;
    assert_eq!(fake.advisories(REPO)[0]["state"], "published");
    assert_eq!(
        the_incident(harness).await.phase,
        herald::incident::Phase::Disclosure
    );
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

    add_label(&harness, "l-1", "alice", "disclosure:approved").await;
    assert!(the_incident(&harness).await.decisions.disclosure_approved);
    assert_eq!(answers(&fake).len(), 1, "labels are answered quietly");

    one_comment_gives_seven_commands(&harness, &fake).await;
    the_answer_and_the_timeline_tell_each_command(&harness, &fake).await;
    the_tracking_issue_follows_the_decisions(&fake);
    // `herald incidents show` tells the decisions.
    let shown = incidents_show(&harness).await;
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

/// alice's comment `c-2`: a line of text, six commands herald knows and one it does not;
/// each known one takes effect (the advisory is published, a CVE id requested).
async fn one_comment_gives_seven_commands(harness: &Harness, fake: &FakeGitHub) {
    command(harness, "c-2", "alice", "Fixed in 1.2.3.\n/herald coordinator @alice\n/herald threat active\n/herald severity high\n/herald request-cve\n/herald publish\n/herald frobnicate").await;
    let incident = the_incident(harness).await;
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
}

/// herald's one answer to `c-2` names what each command did and the one it did not
/// understand, the active threat is escalated apart, and the timeline has each decision.
async fn the_answer_and_the_timeline_tell_each_command(harness: &Harness, fake: &FakeGitHub) {
    let replies = answers(fake);
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
    let timeline = timeline_details(harness).await;
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
}

/// The tracking issue follows the decisions: labels and body.
fn the_tracking_issue_follows_the_decisions(fake: &FakeGitHub) {
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
}
