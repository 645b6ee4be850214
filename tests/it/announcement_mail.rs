//! The signed announcement mailed to each list at disclosure; the mail server's refusals
//! (retried, given up on, rejected for good); a bad signing key at start.

use crate::both_stores;
use crate::common;
use crate::common::app::{
    GHSA, MailWorld, REPO, TRACKING_REPO, TWO_LISTS, advisory, assert_no_unexpected,
    github_publishes, herald_cli, incident_id, mail_refused_with, publish_a_sharper_summary,
    report, timeline_details, world, world_with_mail,
};
use crate::common::mail::{Received, decode_body, part_body};
use crate::common::tracking::escalations;
use herald::mail::SigningKey;
use secrecy::SecretString;

both_stores!(disclosure_mails_each_list_one_signed_announcement);
async fn disclosure_mails_each_list_one_signed_announcement() {
    let fake = world().await;
    let MailWorld {
        harness,
        sink,
        gpg,
        _key_dir: _keys,
        ..
    } = world_with_mail(&fake, TWO_LISTS).await;
    report(&harness, "report-1").await;
    assert!(sink.messages().is_empty(), "no mail under embargo");

    github_publishes(&harness).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "one message per list");
    let mut ids = Vec::new();
    for raw in &messages {
        let received = Received::parse(raw);
        let to = received.header("To").expect("To");
        let subject = received.header("Subject").expect("Subject");
        assert!(subject.contains(GHSA), "{subject}");
        ids.push(received.header("Message-ID").expect("Message-ID"));
        if to.contains("oss-security@") {
            let parts = received.parts();
            let status = gpg
                .verify_detached(&part_body(&parts[1]), &parts[0])
                .expect("PGP/MIME verifies");
            assert!(status.contains("GOODSIG"));
            let text = String::from_utf8(part_body(&parts[0])).expect("UTF-8");
            assert!(text.contains("A short summary of the advisory."), "{text}");
        } else {
            assert_eq!(to, "\"Example announce\" <announce@lists.example.org>");
            let text = decode_body(&received);
            gpg.verify_cleartext(&text).expect("cleartext verifies");
            assert!(
                String::from_utf8_lossy(&text).contains("CVE-2050-00000"),
                "the announcement names the CVE"
            );
            let discussion = format!(
                "Discussion: https://github.com/{REPO}/discussions/{}",
                fake.discussions(REPO)[0].number
            );
            assert!(
                String::from_utf8_lossy(&text).contains(&discussion),
                "the announcement links the discussion"
            );
        }
    }
    assert!(ids.iter().all(|id| id.starts_with("<herald.")), "{ids:?}");
    assert_ne!(ids[0], ids[1], "one Message-ID per list");
    let timeline = timeline_details(&harness).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|detail| detail.starts_with("signed announcement sent to"))
            .count(),
        2,
        "{timeline:?}"
    );

    // The advisory changes after disclosure, and GitHub redelivers: no list is mailed again.
    publish_a_sharper_summary(&harness).await;
    let answer = harness
        .deliver(
            "repository_advisory",
            "publish-1",
            &advisory("repository_advisory.published.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    harness.wait_all_jobs().await;
    assert_eq!(
        sink.messages().len(),
        2,
        "each list got the announcement once"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_refusing_mail_server_is_reported_on_the_tracking_issue_and_retried);
async fn a_refusing_mail_server_is_reported_on_the_tracking_issue_and_retried() {
    let fake = world().await;
    let MailWorld {
        harness,
        sink,
        gpg,
        _key_dir: _keys,
        ..
    } = world_with_mail(&fake, TWO_LISTS).await;
    report(&harness, "report-1").await;
    sink.refuse("451 4.3.0 mailbox busy, try later");
    let answer = harness
        .deliver(
            "repository_advisory",
            "publish-1",
            &advisory("repository_advisory.published.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    // Both sends fail once; each failure is reported once on the tracking issue.
    let tracking = fake.issues(TRACKING_REPO)[0].number;
    let failures = || -> Vec<String> {
        fake.comments(TRACKING_REPO, tracking)
            .into_iter()
            .map(|comment| comment.body)
            .filter(|body| body.contains("could not send the signed announcement"))
            .collect()
    };
    harness
        .until("two failure notices", async || failures().len() == 2)
        .await;
    let failures = failures();
    assert_eq!(
        failures.len(),
        2,
        "{failures:?} {:?}",
        timeline_details(&harness).await
    );
    assert!(failures[0].contains("mailbox busy"), "{}", failures[0]);
    assert!(sink.messages().is_empty());

    sink.accept();
    harness.wait_all_jobs().await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "the retries went out");
    let cleartext = messages
        .iter()
        .map(|raw| Received::parse(raw))
        .find(|received| {
            received
                .header("To")
                .is_some_and(|to| to.contains("announce@"))
        })
        .expect("the cleartext list's message");
    gpg.verify_cleartext(&decode_body(&cleartext))
        .expect("verifies");
    let comments = fake.comments(TRACKING_REPO, tracking);
    assert_eq!(
        comments
            .iter()
            .filter(|comment| comment.body.contains("could not send"))
            .count(),
        2,
        "retries are quiet"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

#[tokio::test]
async fn a_bad_signing_key_stops_herald_at_start_naming_its_fingerprint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (key, secret) = SigningKey::generate("A <a@example.org>").expect("key");
    let public_only = dir.path().join("public.asc");
    std::fs::write(&public_only, key.public_key().expect("public")).expect("write");
    let mut settings = common::settings(&common::sqlite_url(dir.path()), true);
    settings.mail.signing_key_file = Some(public_only);
    let error = herald::server::Server::start(&settings)
        .await
        .err()
        .expect("refused");
    let text = format!("{error:#}");
    assert!(text.contains(&key.fingerprint()), "{text}");
    assert!(text.contains("public key"), "{text}");

    let secret_file = dir.path().join("secret.asc");
    std::fs::write(&secret_file, secret).expect("write");
    settings.mail.signing_key_file = Some(secret_file);
    settings.mail.smtp_url = Some(SecretString::from("smtp://u:hunter2@127.0.0.1:1"));
    let error = herald::server::Server::start(&settings)
        .await
        .err()
        .expect("refused");
    let text = format!("{error:#}");
    assert!(text.contains("HERALD_MAIL_FROM"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

both_stores!(a_send_herald_gives_up_on_is_reported_on_the_tracking_issue);
async fn a_send_herald_gives_up_on_is_reported_on_the_tracking_issue() {
    let fake = world().await;
    let (harness, sink, _keys) = mail_refused_with(&fake, "451 4.3.0 try again later").await;
    let gave_up = escalations(&fake, "herald gave up on send\\_mail after 2 attempts");
    assert_eq!(gave_up.len(), 2, "one per list: {gave_up:?}");
    assert!(gave_up[0].contains("try again later"), "{}", gave_up[0]);
    assert!(gave_up[0].contains("`/herald retry`"), "{}", gave_up[0]);
    assert!(sink.messages().is_empty());
    assert!(
        timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.starts_with("herald gave up on send_mail after 2 attempts")),
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_mail_server_that_rejects_for_good_is_not_asked_again);
async fn a_mail_server_that_rejects_for_good_is_not_asked_again() {
    let fake = world().await;
    let (harness, sink, _keys) = mail_refused_with(&fake, "554 5.7.1 relaying denied").await;
    let refused = escalations(&fake, &format!("send\\_mail for {GHSA} was refused"));
    assert_eq!(refused.len(), 2, "one per list: {refused:?}");
    assert!(refused[0].contains("relaying denied"), "{}", refused[0]);
    assert!(escalations(&fake, "gave up").is_empty());
    assert!(sink.messages().is_empty());
    // One attempt each: a permanent rejection is not retried with backoff.
    let failed = harness
        .store
        .failed_jobs(incident_id(&harness).await)
        .await
        .expect("failed jobs");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|job| job.kind == "send_mail" && job.attempts == 1)
    );
    // The postmaster fixes the relay; a maintainer runs the sends again.
    sink.accept();
    let said = herald_cli(&harness, &["incidents", "retry", GHSA]).await;
    assert!(said.starts_with("2 failed job(s)"), "{said}");
    harness
        .until("two announcements", async || sink.messages().len() == 2)
        .await;
    assert_eq!(sink.messages().len(), 2, "one announcement per list");
    assert_no_unexpected(&fake);
    harness.stop().await;
}
