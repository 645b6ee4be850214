//! The team chat's notices (Slack, Matrix, Discord) of each turn of an incident, without
//! its text unless the repository asks.

use crate::both_stores;
use crate::common;
use crate::common::Harness;
use crate::common::app::{
    GHSA, REPO, TRACKING_REPO, assert_no_unexpected, github_publishes, installed_with,
    publish_a_sharper_summary, report, reported_advisory, say, world,
};
use crate::common::chat::FakeChat;
use crate::common::github::FakeGitHub;
use crate::common::tracking::{command, comment, escalations};
use secrecy::SecretString;

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
    let hostile = reported_advisory(|advisory| {
        advisory["summary"] = "@room <a href=\"https://evil.example\">click</a> & more".into();
    });
    say(&harness, "repository_advisory", "report-1", &hostile).await;
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
