//! Containment: temporary actions (the leads informed, daily reminders until settled) and
//! the advisory's temporary private fork.

use crate::both_stores;
use crate::common::Harness;
use crate::common::app::{
    GHSA, MailWorld, REPO, TRACKING_REPO, assert_no_unexpected, reported_with_mail, the_incident,
    timeline_details, world,
};
use crate::common::github::FakeGitHub;
use crate::common::mail::{Gpg, Received, SmtpSink, decode_body};
use crate::common::tracking::{answers, command, escalations, tracked};

/// Security leads to inform of temporary actions.
const NOTIFY: &str = "tracking:\n  repository: Codertocat/security\nnotify: [\"@Codertocat/leads\", \"@em-lead\", leads@example.org]\n";

both_stores!(temporary_actions_inform_the_leads_once_and_are_reminded_daily_until_settled);
async fn temporary_actions_inform_the_leads_once_and_are_reminded_daily_until_settled() {
    let fake = world().await;
    let MailWorld {
        mut harness,
        sink,
        gpg,
        _key_dir: _keys,
        ..
    } = reported_with_mail(&fake, NOTIFY).await;
    fake.set_permission(REPO, "alice", "write");
    command(
        &harness,
        "c-1",
        "alice",
        "/herald threat active\n/herald contain disabled uploads",
    )
    .await;
    the_leads_are_informed_once(&harness, &fake, &sink, &gpg).await;
    reminded_daily_until_settled(&mut harness, &fake).await;
    a_passive_threat_gets_the_plans_advice_until_a_lead_is_consulted(&harness, &fake, &sink).await;

    // Without write permission nothing is recorded.
    fake.set_permission(REPO, "mallory", "read");
    command(&harness, "c-4", "mallory", "/herald revert 2").await;
    let incident = the_incident(&harness).await;
    assert_eq!(incident.decisions.actions.len(), 3);
    assert!(incident.decisions.actions[1].is_open());
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.contains(
            &"temporary action 1: informed @Codertocat/leads, @em-lead, leads@example.org"
                .to_owned()
        ),
        "{timeline:?}"
    );
    assert!(
        timeline.contains(&"temporary action 1 still open on day 2: reminded".to_owned()),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// alice's temporary action 1 under an active threat: recorded and answered, the leads told
/// once on the tracking issue and their address mailed once, signed; the incident moves to
/// containment.
async fn the_leads_are_informed_once(
    harness: &Harness,
    fake: &FakeGitHub,
    sink: &SmtpSink,
    gpg: &Gpg,
) {
    let reply = answers(fake)
        .into_iter()
        .map(|comment| comment.body)
        .find(|body| body.starts_with("@alice "))
        .expect("herald answers");
    assert!(
        reply.contains("Temporary action 1 recorded")
            && reply.contains("herald informs the security leads now"),
        "{reply}"
    );
    let informed = escalations(fake, "took temporary action 1");
    assert_eq!(informed.len(), 1, "{informed:?}");
    assert!(
        informed[0].starts_with("@Codertocat/leads @em-lead alice took temporary action 1 on GHSA-abcd-1234-efgh under an active threat"),
        "{}",
        informed[0]
    );
    assert!(
        informed[0].contains(": disabled uploads"),
        "{}",
        informed[0]
    );
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "the leads' address is mailed once");
    let received = Received::parse(&messages[0]);
    assert_eq!(received.header("To").as_deref(), Some("leads@example.org"));
    gpg.verify_cleartext(&decode_body(&received))
        .expect("the notice is signed");
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains("1. disabled uploads (alice, ")
            && body
                .contains("active threat): **temporary**: `/herald revert 1` or `/herald keep 1`"),
        "{body}"
    );
    assert_eq!(the_incident(harness).await.phase.as_str(), "containment");
}

/// One reminder a day, also across a restart, until alice keeps action 1 for good.
async fn reminded_daily_until_settled(harness: &mut Harness, fake: &FakeGitHub) {
    let reminders: Vec<String> = harness
        .pending_reminders()
        .await
        .into_iter()
        .filter(|(key, due_in)| key.ends_with(":1:day-1") && (86_000..=86_400).contains(due_in))
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        reminders.len(),
        1,
        "{:?}",
        harness.pending_reminders().await
    );
    harness.bring_forward("day-1").await;
    harness.restart(true).await;
    harness.bring_forward("day-2").await;
    let reminded = escalations(fake, "is still temporary");
    assert_eq!(reminded.len(), 2, "{reminded:?}");
    assert!(
        reminded[0].starts_with("@alice Temporary action 1 on GHSA-abcd-1234-efgh (alice took it 1 day(s) ago) is still temporary: disabled uploads"),
        "{}",
        reminded[0]
    );
    command(harness, "c-2", "alice", "/herald keep 1").await;
    harness.bring_forward("day-3").await;
    assert_eq!(escalations(fake, "is still temporary").len(), 2);
    assert!(
        harness
            .pending_reminders()
            .await
            .iter()
            .all(|(key, _)| !key.contains(":day-")),
        "no reminder after the action is settled"
    );
    assert!(
        fake.issues(TRACKING_REPO)[0]
            .body
            .contains("1. disabled uploads (alice, "),
    );
    assert!(
        fake.issues(TRACKING_REPO)[0]
            .body
            .contains("made permanent, alice agreed"),
    );
}

/// A passive threat: action 2 is recorded, with the plan's advice; nobody is informed.
/// Once a lead was consulted, the plan is followed: action 3 gets no advice, and the
/// tracking issue shows who was consulted and what is affected.
async fn a_passive_threat_gets_the_plans_advice_until_a_lead_is_consulted(
    harness: &Harness,
    fake: &FakeGitHub,
    sink: &SmtpSink,
) {
    command(
        harness,
        "c-3",
        "alice",
        "/herald threat passive\n/herald contain blocked the crawler's IPs",
    )
    .await;
    let advice = escalations(fake, "Temporary action 2 recorded");
    assert_eq!(advice.len(), 1);
    assert!(
        advice[0].contains("record who was consulted with `/herald consulted @login`"),
        "{}",
        advice[0]
    );
    assert!(escalations(fake, "took temporary action 2").is_empty());
    assert_eq!(sink.messages().len(), 1);
    command(
        harness,
        "c-5",
        "alice",
        "/herald consulted @em-lead\n/herald contain rate-limited the API\n/herald affected self-hosted instances before 1.0.1",
    )
    .await;
    let reply = escalations(fake, "Temporary action 3 recorded");
    assert_eq!(reply.len(), 1);
    assert!(!reply[0].contains("consulted with"), "{}", reply[0]);
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains("| Affected | self-hosted instances before 1.0.1 (as alice said, ")
            && body.contains("| Consulted | em-lead (recorded by alice, "),
        "{body}"
    );
}

both_stores!(a_private_fork_is_asked_for_once_and_linked_once_github_has_made_it);
async fn a_private_fork_is_asked_for_once_and_linked_once_github_has_made_it() {
    let fake = world().await;
    // GitHub answers 404 for the new fork once before it exists.
    fake.set_fork_delay(1);
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "admin");
    command(&harness, "c-1", "alice", "/herald fork").await;
    let fork_requests = || {
        fake.requests()
            .iter()
            .filter(|request| {
                request.method == "POST"
                    && request.path == format!("/repos/{REPO}/security-advisories/{GHSA}/forks")
            })
            .count()
    };
    assert_eq!(fork_requests(), 1);
    let fork = "Codertocat/Hello-World-ghsa-abcd-1234-efgh";
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains(&format!(
            "| Private fork | [{fork}](https://github.com/{fork}): GitHub is creating it |"
        )),
        "{body}"
    );
    // Not there on the first look; there on the second.
    harness.bring_forward("check").await;
    assert!(escalations(&fake, "temporary private fork is ready").is_empty());
    harness.bring_forward("check").await;
    let ready = escalations(&fake, "The temporary private fork is ready");
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert!(
        ready[0].contains(&format!("https://github.com/{fork}")),
        "{}",
        ready[0]
    );
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    assert!(
        body.contains(&format!(
            "| Private fork | [{fork}](https://github.com/{fork}): fix here, in private |"
        )),
        "{body}"
    );
    assert!(
        harness
            .pending_reminders()
            .await
            .iter()
            .all(|(key, _)| !key.contains(":check:")),
        "no more looks once it exists"
    );
    // Asking again changes nothing at GitHub.
    command(&harness, "c-2", "alice", "/herald fork").await;
    assert_eq!(fork_requests(), 1);
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.contains(&format!("temporary private fork {fork} is ready")),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}
