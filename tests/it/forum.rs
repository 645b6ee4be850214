//! The Discourse topic at disclosure, on the operator's forum (whose key stays bound to its
//! address), and a long advisory shortened to fit every counterpart.

use crate::both_stores;
use crate::common;
use crate::common::Harness;
use crate::common::app::{
    GHSA, REPO, TRACKING_REPO, assert_no_unexpected, github_publishes, incident_id, installed_with,
    publish_a_sharper_summary, published_advisory, report, say, timeline_details, world,
};
use crate::common::github::FakeGitHub;
use crate::common::tracking::{answers, command, escalations};
use secrecy::SecretString;

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
