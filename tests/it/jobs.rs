//! Jobs: each kind runs its own handler, and `herald jobs` lists, retries and cancels them.

use crate::both_stores;
use crate::common::Harness;
use crate::common::app::{
    REPO, TRACKING_REPO, assert_no_unexpected, herald_cli, herald_cli_refused, incident_id,
    mail_refused_with, report_global_advisory, timeline_details, world,
};
use crate::common::mail::SmtpSink;
use crate::common::tracking::{command, publish_approved};
use herald::jobs::{
    ChatNotice, ContainmentNotice, Job, PendingChat, PendingComment, PendingContainment,
    PendingEscalation, PendingMail, PendingPull, PublicChannel, Stage,
};
use herald::store::IncidentId;

both_stores!(herald_jobs_lists_retries_and_cancels_what_a_counterpart_refused);
async fn herald_jobs_lists_retries_and_cancels_what_a_counterpart_refused() {
    let fake = world().await;
    let (mut harness, sink, _keys) = mail_refused_with(&fake, "554 5.7.1 relaying denied").await;
    let ids = the_refused_sends_are_listed(&harness).await;
    // The relay is fixed: one send is retried, the other dropped.
    sink.accept();
    one_is_retried_the_other_cancelled(&harness, &sink, &ids).await;

    // A due job, cancelled before a runner takes it, never runs.
    harness.restart(false).await;
    herald_cli(&harness, &["jobs", "retry", &ids[1]]).await;
    let due = herald_cli(
        &harness,
        &["jobs", "list", "--due", "--kind", "send_mail", "--json"],
    )
    .await;
    let due: Vec<serde_json::Value> = serde_json::from_str(&due).expect("JSON");
    let due: Vec<String> = due.iter().map(|job| job["id"].to_string()).collect();
    assert_eq!(due, [ids[1].clone()]);
    herald_cli(&harness, &["jobs", "cancel", &ids[1]]).await;
    harness.restart(true).await;
    harness.wait_all_jobs().await;
    assert_eq!(sink.messages().len(), 1, "the cancelled send never ran");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// `herald jobs list --failed` shows the two sends the relay refused (one per list), dead
/// after one attempt with the server's words, as JSON and as a table; their ids.
async fn the_refused_sends_are_listed(harness: &Harness) -> Vec<String> {
    let incident = incident_id(harness).await;
    let failed = herald_cli(harness, &["jobs", "list", "--failed", "--json"]).await;
    let failed: Vec<serde_json::Value> = serde_json::from_str(&failed).expect("JSON");
    assert_eq!(failed.len(), 2, "one send per list: {failed:?}");
    for job in &failed {
        assert_eq!(
            (
                &job["kind"],
                &job["state"],
                &job["attempts"],
                &job["incident_id"]
            ),
            (
                &serde_json::json!("send_mail"),
                &serde_json::json!("dead"),
                &serde_json::json!(1),
                &serde_json::json!(incident.0)
            ),
            "{job}"
        );
        let error = job["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("relaying denied"), "{job}");
    }
    let ids: Vec<String> = failed
        .iter()
        .map(|job| job["id"].as_i64().expect("an id").to_string())
        .collect();
    let table = herald_cli(harness, &["jobs", "list", "--failed"]).await;
    assert_eq!(
        table.lines().count(),
        3,
        "a header and a line per job:\n{table}"
    );
    ids
}

/// `herald jobs retry` runs the first send again (it goes out), `herald jobs cancel` drops
/// the second; `jobs show` tells their states, a done job cannot be cancelled, and the
/// timeline records both commands.
async fn one_is_retried_the_other_cancelled(harness: &Harness, sink: &SmtpSink, ids: &[String]) {
    let said = herald_cli(harness, &["jobs", "retry", &ids[0]]).await;
    assert!(
        said.starts_with(&format!("job {} (send_mail) queued again", ids[0])),
        "{said}"
    );
    harness
        .until("the retried announcement", async || {
            sink.messages().len() == 1
        })
        .await;
    let said = herald_cli(harness, &["jobs", "cancel", &ids[1]]).await;
    assert_eq!(said.trim(), format!("job {} (send_mail) cancelled", ids[1]));
    harness.wait_all_jobs().await;
    let state = async |id: &str| {
        let shown = herald_cli(harness, &["jobs", "show", id, "--json"]).await;
        let shown: serde_json::Value = serde_json::from_str(&shown).expect("JSON");
        shown["state"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(state(&ids[0]).await, "done");
    assert_eq!(state(&ids[1]).await, "cancelled");
    let refused = herald_cli_refused(harness, &["jobs", "cancel", &ids[0]]).await;
    assert!(
        refused.contains(&format!(
            "job {} is done: there is nothing to cancel",
            ids[0]
        )),
        "{refused}"
    );
    let timeline = timeline_details(harness).await;
    for (id, done, command) in [
        (&ids[0], "queued again", "retry"),
        (&ids[1], "cancelled", "cancel"),
    ] {
        let line = format!("job {id} (send_mail) {done} with `herald jobs {command}`");
        assert!(timeline.contains(&line), "{line:?} not in {timeline:?}");
    }
}

/// What each job kind's own handler says it did, for
/// [`each_job_kind_runs_its_own_handler`]. Exhaustive: a new kind does not compile until
/// the test names what its handler says.
fn handler_says(job: &Job) -> &'static str {
    match job {
        Job::ProcessDelivery { .. } => "updated incident GHSA-abcd-1234-efgh",
        Job::SyncTrackingIssue { .. } => "tracking issue up to date",
        Job::MaintainerAction { .. } => "1 command(s) from alice (",
        Job::PostComment(_) => "comment on Codertocat/security#1 posted",
        Job::RequestCve { .. } => "CVE id requested from GitHub",
        Job::PublishAdvisory { .. } => "GitHub says the advisory is published",
        Job::Public { channel, .. } => match channel {
            PublicChannel::ChangelogPr => "CHANGELOG: updated Codertocat/Hello-World#1",
            PublicChannel::AdvisoryIssue => "advisory issue Codertocat/Hello-World#2 updated",
            PublicChannel::BlogPostPr => "no blog configured",
            PublicChannel::ForumPost => "no forum configured",
            PublicChannel::DiscussionPost => "no discussions configured",
            PublicChannel::WikiPage => "no wiki configured",
            PublicChannel::MediaWikiPage => "no MediaWiki configured",
            PublicChannel::Announce => "announcement: 0 list(s)",
        },
        Job::SendMail(_) => "no SMTP server configured",
        Job::Escalate(_) => "reminder no longer applies",
        Job::PostReview { .. } => "post-incident review for Codertocat/security#1",
        Job::MatchUpstream { .. } => "global advisory GHSA-rf4j-j272-fj86: upstream incident",
        Job::Containment(_) => "temporary action 1 still open on day 1: reminded",
        Job::PrivateFork { .. } => "the advisory is published: no temporary private fork",
        Job::Chat(_) => "no chat webhook configured",
        Job::TrackPull(_) => "fix Codertocat/Hello-World#1 is open",
        Job::Prenotify(_) => {
            "pre-notification to distros@vs.openwall.example not sent: the advisory is public now"
        }
        Job::EmbargoEnd(_) => "nobody waits past this embargo date",
        Job::OpenIntake { .. } | Job::AcknowledgeReport { .. } | Job::PostReply { .. } => {
            "intake gone"
        }
        Job::TellReporter(_) => "not told: no SMTP server is configured",
        Job::ProductIssue { .. } => "product incident gone",
    }
}

both_stores!(each_job_kind_runs_its_own_handler);
/// One job of each kind, queued by hand for one disclosed incident, finishes with its own
/// handler's account of what it did.
async fn each_job_kind_runs_its_own_handler() {
    let fake = world().await;
    fake.set_sbom(REPO, &["pkg:pypi/django@2.0.1"]);
    let harness = publish_approved(&fake, |_| {}).await;
    report_global_advisory(&harness).await;
    command(
        &harness,
        "c-2",
        "alice",
        "/herald contain disabled the upload endpoint",
    )
    .await;
    let jobs = one_job_of_each_kind(incident_id(&harness).await);
    let mut work = harness.store.begin_durable().await.expect("transaction");
    for (index, job) in jobs.iter().enumerate() {
        work.enqueue(job, &format!("dispatch-check:{index}"))
            .expect("queued");
    }
    work.commit().await.expect("committed");
    harness.wait_all_jobs().await;
    let finished: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT kind, state, outcome, last_error FROM outbox \
         WHERE idempotency_key LIKE 'dispatch-check:%' ORDER BY id",
    )
    .fetch_all(harness.store.pool())
    .await
    .expect("the jobs");
    assert_eq!(finished.len(), jobs.len());
    for (job, (kind, state, outcome, error)) in jobs.iter().zip(&finished) {
        assert_eq!(kind, job.kind().as_str());
        assert_eq!(state, "done", "{kind}: {error:?}");
        let outcome = outcome.as_deref().unwrap_or_default();
        assert!(
            outcome.starts_with(handler_says(job)),
            "{kind} said {outcome:?}, not its handler's {:?}",
            handler_says(job)
        );
    }
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// A job of each kind for `incident` (of each public channel too), each naming what the
/// scenario has: the report `report-1`, alice's comment `c-1`, the global advisory
/// `global-1`, temporary action 1, tracking issue 1 and pull request 1.
fn one_job_of_each_kind(incident: IncidentId) -> Vec<Job> {
    let repository = herald::incident::RepoName::parse(TRACKING_REPO).expect("name");
    let mut jobs = vec![
        Job::ProcessDelivery {
            delivery: herald::incident::DeliveryId::parse("report-1").expect("an id"),
        },
        Job::SyncTrackingIssue { incident },
        Job::MaintainerAction {
            delivery: herald::incident::DeliveryId::parse("c-1").expect("an id"),
        },
        Job::PostComment(PendingComment {
            repository,
            issue: 1,
            body: "dispatch".into(),
            marker: "<!-- herald:reply dispatch -->".into(),
        }),
        Job::RequestCve { incident },
        Job::PublishAdvisory { incident },
        Job::SendMail(PendingMail {
            incident_id: incident,
            list: herald::repo_config::MailingList {
                address: "announce@example.invalid".into(),
                name: None,
                signing: herald::repo_config::SigningMode::Cleartext,
                attach_cleartext: false,
            },
        }),
        Job::Escalate(PendingEscalation {
            incident_id: incident,
            stage: Stage::Warning,
            due: None,
        }),
        Job::PostReview { incident },
        Job::MatchUpstream {
            delivery: herald::incident::DeliveryId::parse("global-1").expect("an id"),
        },
        Job::Containment(PendingContainment {
            incident_id: incident,
            action: 1,
            notice: ContainmentNotice::Reminder(1),
        }),
        Job::PrivateFork { incident },
        Job::Chat(PendingChat {
            incident_id: incident,
            notice: ChatNotice::Opened,
        }),
        Job::TrackPull(PendingPull {
            incident_id: incident,
            repository: herald::incident::RepoName::parse(REPO).expect("name"),
            number: 1,
        }),
        Job::Prenotify(herald::jobs::PendingPrenotice {
            incident_id: incident,
            address: "distros@vs.openwall.example".into(),
            embargo_until: chrono::Utc::now(),
            moved_from: None,
        }),
        Job::EmbargoEnd(herald::jobs::PendingEmbargoEnd {
            incident_id: incident,
            embargo_until: chrono::Utc::now(),
        }),
        // No mail was taken: the intake is gone by the time its job runs.
        Job::OpenIntake {
            intake: herald::intake::IntakeId(1),
        },
        Job::AcknowledgeReport {
            intake: herald::intake::IntakeId(1),
        },
        Job::PostReply {
            intake: herald::intake::IntakeId(1),
        },
        Job::TellReporter(herald::jobs::PendingReporterNotice {
            incident_id: incident,
            intake: herald::intake::IntakeId(1),
            notice: herald::jobs::ReporterNotice::Published,
        }),
        // Nothing was announced upstream: the product incident is gone too.
        Job::ProductIssue {
            incident: herald::incident::ProductIncidentId(1),
        },
    ];
    jobs.extend(PublicChannel::ALL.map(|channel| Job::Public { channel, incident }));
    jobs
}
