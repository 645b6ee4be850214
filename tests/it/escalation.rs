//! The reaction clock: its row on the tracking issue, the reminders and escalations (on
//! GitHub and by mail) before and at the deadline, and who receives the incident's text.

use crate::both_stores;
use crate::common::Harness;
use crate::common::app::{
    MailWorld, REPO, TRACKING_REPO, assert_no_unexpected, headers_name_nothing, report,
    reported_with_mail, the_incident, timeline_details, world, world_with_mail,
};
use crate::common::github::FakeGitHub;
use crate::common::mail::{Gpg, Received, SmtpSink, decode_body};
use crate::common::tracking::{answers, command, escalations, tracked};

/// The Reaction row of the tracking issue.
fn reaction_row(fake: &FakeGitHub) -> String {
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    body.lines()
        .find(|line| line.starts_with("| Reaction |"))
        .expect("a Reaction row")
        .to_owned()
}

both_stores!(the_reaction_clock_shows_on_the_issue_and_an_ack_stops_it);
async fn the_reaction_clock_shows_on_the_issue_and_an_ack_stops_it() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    let reaction = reaction_row(&fake);
    assert!(
        reaction.contains("due **") && reaction.contains("critical, 4 business hours"),
        "{reaction}"
    );

    fake.set_permission(REPO, "alice", "write");
    command(&harness, "c-ack", "alice", "/herald ack").await;
    let incident = the_incident(&harness).await;
    assert!(incident.decisions.acknowledged_at.is_some());
    assert_eq!(incident.phase, herald::incident::Phase::Assessment);
    let replies = answers(&fake);
    assert!(
        replies
            .last()
            .is_some_and(|reply| reply.body.contains("the reaction clock stops")
                && reply.body.contains("Nobody coordinates yet")),
        "{replies:?}"
    );
    let reaction = reaction_row(&fake);
    assert!(
        reaction.contains("acknowledged") && reaction.contains("within the deadline"),
        "{reaction}"
    );
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains("| Coordinator | **nobody, although the report is acknowledged**"),
        "an acknowledged incident without a coordinator is flagged:\n{body}"
    );

    // The coordinator is assigned the tracking issue.
    command(&harness, "c-coord", "alice", "/herald coordinator @alice").await;
    let issue = &fake.issues(TRACKING_REPO)[0];
    assert_eq!(issue.assignees, vec!["alice"]);
    assert!(
        issue.body.contains("| Coordinator | alice |"),
        "{}",
        issue.body
    );
    assert_eq!(
        fake.count(
            "POST",
            &format!("/repos/{TRACKING_REPO}/issues/{}/assignees", issue.number)
        ),
        1
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// Critical incidents escalate to two GitHub handles and an on-call address.
const ESCALATION: &str = "tracking:\n  repository: Codertocat/security\nescalation:\n  critical: [\"@alice\", \"@Codertocat/security-team\", oncall@example.org]\n";

both_stores!(a_new_mail_reader_is_shown_on_the_tracking_issue_before_any_mail_reaches_it);
async fn a_new_mail_reader_is_shown_on_the_tracking_issue_before_any_mail_reaches_it() {
    let fake = world().await;
    let MailWorld { harness, sink, .. } = reported_with_mail(&fake, ESCALATION).await;
    fake.set_permission(REPO, "alice", "write");
    assert!(
        timeline_details(&harness).await.contains(
            &"embargoed text goes by mail to oncall@example.org; chat notices do not quote the summary"
                .to_owned()
        ),
        "the audience the tracking issue opened with is on the record"
    );
    // A pusher adds their own address to the critical escalation list.
    fake.put_file_as(
        REPO,
        ".github/herald.yml",
        &ESCALATION.replace(
            "oncall@example.org]",
            "oncall@example.org, mallory@attacker.example]",
        ),
        "mallory",
    );
    // A reminder that runs before the tracking issue has shown the change mails only
    // whom it showed.
    harness.bring_forward("warning").await;
    let mailed = |sink: &SmtpSink| -> Vec<String> {
        sink.messages()
            .iter()
            .filter_map(|raw| Received::parse(raw).header("To"))
            .collect()
    };
    assert_eq!(mailed(&sink), vec!["oncall@example.org"]);
    assert!(
        timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.ends_with(
                "; not mailed until the tracking issue shows them: mallory@attacker.example"
            )),
        "{:?}",
        timeline_details(&harness).await
    );
    // The next change of the incident shows it on the tracking issue, with who pushed it;
    // from then on it applies.
    command(&harness, "c-1", "alice", "/herald threat active").await;
    let shown: Vec<String> = answers(&fake)
        .into_iter()
        .map(|comment| comment.body)
        .filter(|body| body.starts_with("**Who receives this incident's text changed**"))
        .collect();
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert!(
        shown[0].contains("pushed by mallory")
            && shown[0].contains("mallory\\@\u{200b}attacker.example added"),
        "{}",
        shown[0]
    );
    harness
        .until("the active threat is mailed", async || {
            mailed(&sink).len() >= 3
        })
        .await;
    let mut to = mailed(&sink);
    to.sort();
    assert_eq!(
        to,
        vec![
            "mallory@attacker.example",
            "oncall@example.org",
            "oncall@example.org"
        ]
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(reminders_and_escalations_fire_once_each_also_across_a_restart);
async fn reminders_and_escalations_fire_once_each_also_across_a_restart() {
    let fake = world().await;
    let MailWorld {
        mut harness,
        sink,
        gpg,
        _key_dir: _keys,
        ..
    } = reported_with_mail(&fake, ESCALATION).await;
    let reminders = harness.pending_reminders().await;
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    assert!(reminders[0].0.contains(":warning:") && reminders[1].0.contains(":breach:"));
    assert!(
        reminders.iter().all(|(_, due_in)| *due_in > 0),
        "both wait for their time: {reminders:?}"
    );
    assert!(escalations(&fake, "reaction").is_empty());

    harness.bring_forward("warning").await;
    let warnings = escalations(&fake, "75% of the reaction time");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    the_metrics_count_the_reminder_and_githubs_answers(&harness, &fake).await;
    assert!(
        warnings[0].starts_with("@alice @Codertocat/security-team 75% of the reaction time for GHSA-abcd-1234-efgh (critical severity)"),
        "{}",
        warnings[0]
    );
    the_on_call_address_is_mailed_a_signed_notice_without_the_text(&sink, &gpg);

    // herald restarts; the breach reminder is still queued and fires once.
    harness.restart(true).await;
    harness.bring_forward("breach").await;
    let breaches = escalations(&fake, "deadline for GHSA-abcd-1234-efgh");
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(sink.messages().len(), 2);
    assert!(harness.pending_reminders().await.is_empty());
    harness.restart(true).await;
    harness.wait_all_jobs().await;
    assert_eq!(escalations(&fake, "75% of the reaction time").len(), 1);
    assert_eq!(escalations(&fake, "deadline for").len(), 1);
    assert_eq!(sink.messages().len(), 2, "nothing fired twice");
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.contains(
            &"escalation (warning): notified @alice, @Codertocat/security-team, oncall@example.org"
                .to_owned()
        ),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The metrics count the warning (and no breach yet) and what herald asked of GitHub, and
/// show the rate limit GitHub's last answers left.
async fn the_metrics_count_the_reminder_and_githubs_answers(harness: &Harness, fake: &FakeGitHub) {
    let (text, metrics) = crate::metrics::scrape(harness, &harness.url("/metrics")).await;
    let value = |metric, labels: &[(&str, &str)]| crate::metrics::value(&metrics, metric, labels);
    assert_eq!(
        value("herald_sla_notices_total", &[("stage", "warning")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value("herald_sla_notices_total", &[("stage", "breach")]),
        None
    );
    let answered = value("herald_github_requests_total", &[("outcome", "ok")]);
    assert!(answered.is_some_and(|count| count >= 3.0), "{text}");
    assert_eq!(
        value(
            "herald_github_requests_total",
            &[("outcome", "unreachable")]
        ),
        None
    );
    let remaining = value("herald_github_rate_limit_remaining", &[]).unwrap_or(-1.0);
    assert!(
        remaining >= fake.rate_limit_remaining() as f64 && remaining < 5000.0,
        "as the fake's last answers said: {text}"
    );
}

/// The one mail so far: to the on-call address, its subject and headers naming nothing,
/// signed, without the advisory's text.
fn the_on_call_address_is_mailed_a_signed_notice_without_the_text(sink: &SmtpSink, gpg: &Gpg) {
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "the on-call address is mailed");
    let received = Received::parse(&messages[0]);
    assert_eq!(received.header("To").as_deref(), Some("oncall@example.org"));
    let subject = received.header("Subject").expect("subject");
    assert!(
        subject.starts_with("[herald] Security incident ")
            && subject.ends_with(": reaction due soon"),
        "{subject}"
    );
    headers_name_nothing(&received);
    let text = decode_body(&received);
    gpg.verify_cleartext(&text).expect("the notice is signed");
    assert!(
        !String::from_utf8_lossy(&text).contains("A short summary of the advisory"),
        "no advisory text in mail"
    );
}

both_stores!(an_acknowledged_incident_is_not_escalated);
async fn an_acknowledged_incident_is_not_escalated() {
    let fake = world().await;
    let MailWorld {
        harness,
        sink,
        _key_dir: _keys,
        ..
    } = world_with_mail(&fake, ESCALATION).await;
    report(&harness, "report-1").await;
    fake.set_permission(REPO, "bob", "write");
    command(&harness, "c-ack", "bob", "/herald ack").await;
    harness.bring_forward("breach").await;
    assert!(escalations(&fake, "deadline for").is_empty());
    assert!(sink.messages().is_empty());
    assert!(
        !timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.starts_with("escalation")),
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}
