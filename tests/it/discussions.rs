//! The GitHub Discussions post at disclosure, and a comment for each later version.

use crate::both_stores;
use crate::common::app::{
    GHSA, REPO, TRACKING_REPO, assert_no_unexpected, github_publishes, installed,
    publish_a_sharper_summary, report, timeline_details, world,
};

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
