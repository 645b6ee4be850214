//! Closing an incident: nothing public for an undisclosed one, and the post-incident review.

use crate::both_stores;
use crate::common::app::{
    REPO, TRACKING_REPO, assert_no_unexpected, public_writes, the_incident, timeline_details, world,
};
use crate::common::tracking::{command, tracked};

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
