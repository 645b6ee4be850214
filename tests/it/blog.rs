//! The blog post of a critical incident, offered to the website's repository as a pull
//! request at disclosure.

use crate::both_stores;
use crate::common::app::{
    GHSA, INSTALLATION, REPO, assert_no_unexpected, github_publishes, installed,
    publish_a_sharper_summary, published_advisory, report, say, timeline_details, world,
};
use crate::common::github::FakeGitHub;

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
