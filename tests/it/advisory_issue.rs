//! The public advisory issue in the advisory's repository, opened at disclosure: turned
//! off by the configuration, found again after a lost answer.

use crate::both_stores;
use crate::common::app::{
    REPO, TRACK_PRIVATELY, TRACKING_REPO, assert_no_unexpected, github_publishes, installed,
    report, timeline_details, world,
};

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
