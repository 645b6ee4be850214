//! The durable queue on a real SQLite file: retries with backoff, giving up, and a failing
//! job undone alone while the rest of its batch commits.

use crate::common;
use crate::on_both_stores;

use chrono::Utc;
use herald::config::WorkerSettings;
use herald::outbox::{JobOutcome, Worker};
use herald::store::{Admission, NewDelivery, Store, compress_payload};
use std::sync::Arc;
use tokio::sync::Notify;

fn delivery(id: &str, event: &str, body: &[u8]) -> NewDelivery {
    NewDelivery {
        delivery_id: herald::incident::DeliveryId::parse(id).expect("an id"),
        event: event.to_owned(),
        action: None,
        repository: None,
        installation_id: None,
        payload_lz4: compress_payload(body),
        body_signature: None,
        received_at: Utc::now(),
    }
}

on_both_stores!(
    a_failing_job_is_retried_with_backoff_then_given_up_without_touching_its_batch,
    on_postgresql_a_failing_job_is_retried_then_given_up_without_touching_its_batch,
    retried_then_given_up
);

async fn retried_then_given_up(url: &str) {
    let store = Store::open(url).await.expect("store");
    let admissions = store
        .admit(vec![
            delivery(
                "good-1",
                "repository_advisory",
                &common::fixture("repository_advisory.reported.composed.json"),
            ),
            // Stored, but no event herald can process: its job fails on every attempt.
            delivery("poison", "no_such_event", b"{}"),
            delivery(
                "good-2",
                "issues",
                &common::fixture("issues.labeled.0.json"),
            ),
            delivery("good-1", "repository_advisory", b"{}"),
        ])
        .await
        .expect("admit");
    assert_eq!(
        admissions,
        [
            Admission::Accepted,
            Admission::Accepted,
            Admission::Accepted,
            Admission::Duplicate
        ]
    );

    let settings = WorkerSettings {
        max_attempts: 2,
        // Long enough for all three jobs to share one batch, which the failure rolls back.
        batch_time: std::time::Duration::from_secs(30),
        ..WorkerSettings::default()
    };
    let worker = Worker::new(store.clone(), Arc::new(Notify::new()), settings);
    let before = Utc::now().timestamp_millis();
    let first = worker.drain().await.expect("drain");
    let after = Utc::now().timestamp_millis();
    // On PostgreSQL the worker runs batches at once: the outcomes come in no fixed order.
    assert_eq!(first.len(), 3, "{first:?}");
    // Run again alone after the rollback, it still opens the incident: the batch's first
    // run of it left nothing behind.
    let opened = first.iter().filter(|outcome| {
        matches!(outcome, JobOutcome::Done(processed) if processed.note.starts_with("opened incident"))
    });
    assert_eq!(opened.count(), 1, "{first:?}");
    let failed = first.iter().filter(|outcome| {
        matches!(outcome, JobOutcome::Failed { error, gave_up: false } if error.to_string().contains("no_such_event"))
    });
    assert_eq!(failed.count(), 1, "{first:?}");
    let done = first
        .iter()
        .filter(|outcome| matches!(outcome, JobOutcome::Done(_)));
    assert_eq!(done.count(), 2, "{first:?}");
    let incidents = store.all_incidents().await.expect("list");
    assert_eq!(
        incidents.len(),
        1,
        "the failing job did not undo its neighbours"
    );
    assert_eq!(
        store
            .timeline(incidents[0].id)
            .await
            .expect("timeline")
            .len(),
        1,
        "the rolled-back first run of the batch left no trace"
    );

    let writer = common::any_pool(url).await;
    let (state, attempts, run_after, last_error): (String, i64, i64, Option<String>) =
        sqlx::query_as(
            "SELECT state, attempts, run_after, last_error FROM outbox WHERE payload = 'poison'",
        )
        .fetch_one(&writer)
        .await
        .expect("poison job");
    assert_eq!((state.as_str(), attempts), ("pending", 1));
    assert!(
        (before + 2_000..=after + 2_000).contains(&run_after),
        "first retry 2 s after the failure: {run_after} not in {before}+2000..={after}+2000"
    );
    assert!(last_error.is_some_and(|error| error.contains("no_such_event")));

    // Not due yet: nothing runs.
    assert!(worker.drain().await.expect("drain").is_empty());

    sqlx::query("UPDATE outbox SET run_after = 0 WHERE payload = 'poison'")
        .execute(&writer)
        .await
        .expect("make due");
    let second = worker.drain().await.expect("drain");
    assert!(
        matches!(
            second.as_slice(),
            [JobOutcome::Failed { gave_up: true, .. }]
        ),
        "{second:?}"
    );
    let (state, attempts): (String, i64) =
        sqlx::query_as("SELECT state, attempts FROM outbox WHERE payload = 'poison'")
            .fetch_one(&writer)
            .await
            .expect("poison job");
    assert_eq!((state.as_str(), attempts), ("dead", 2));
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'done'")
        .fetch_one(&writer)
        .await
        .expect("count");
    assert_eq!(done, 2);
    writer.close().await;
    store.close().await;
}

/// A runner that dies holding a job loses it when its lease ends, to another runner (a
/// replica); a runner that renews keeps it; a runner that stops releases it at once; the
/// lease names its holder.
async fn leases_end_unless_renewed(url: &str) {
    let store = Store::open(url).await.expect("store");
    let mut work = store.begin_durable().await.expect("transaction");
    let job = herald::jobs::Job::RequestCve {
        incident: herald::store::IncidentId(1),
    };
    work.enqueue(&job, "lease-test").expect("queued");
    work.commit().await.expect("committed");
    let lease = chrono::Duration::seconds(60);
    let kinds = herald::jobs::JobKind::effect_names();
    let now = Utc::now();
    let first = store
        .lease_effect((now, lease), "replica-a", kinds)
        .await
        .expect("lease");
    let first = first.expect("the job is leased");
    let later = |seconds: i64| now + chrono::Duration::seconds(seconds);
    assert!(
        store
            .lease_effect((later(30), lease), "replica-b", kinds)
            .await
            .expect("lease")
            .is_none(),
        "held while its lease lasts"
    );
    let holder = |store: Store, id: i64| async move {
        store
            .job(id)
            .await
            .expect("job read")
            .expect("job exists")
            .leased_by
    };
    assert_eq!(
        holder(store.clone(), first.id).await.as_deref(),
        Some("replica-a")
    );
    let taken_over = store
        .lease_effect((later(61), lease), "replica-b", kinds)
        .await
        .expect("lease");
    assert_eq!(
        taken_over.map(|job| job.id),
        Some(first.id),
        "taken over after the lease"
    );
    assert_eq!(
        holder(store.clone(), first.id).await.as_deref(),
        Some("replica-b")
    );
    // The first holder cannot renew what it lost; the new holder renews, and nobody else
    // gets it, even after the first lease would have ended.
    assert!(
        !store
            .renew_lease(first.id, later(150), "replica-a")
            .await
            .expect("renew")
    );
    assert!(
        store
            .renew_lease(first.id, later(150), "replica-b")
            .await
            .expect("renew")
    );
    assert!(
        store
            .lease_effect((later(121), lease), "replica-c", kinds)
            .await
            .expect("lease")
            .is_none()
    );
    // Stopping, the holder releases it: another runner takes it at once.
    assert_eq!(store.release_leases("replica-a").await.expect("release"), 0);
    assert_eq!(store.release_leases("replica-b").await.expect("release"), 1);
    let again = store
        .lease_effect((later(122), lease), "replica-c", kinds)
        .await
        .expect("lease");
    assert_eq!(again.map(|job| job.id), Some(first.id), "released at once");
    store.close().await;
}

on_both_stores!(
    a_burst_about_one_new_advisory_opens_one_incident_without_a_failed_batch,
    on_postgresql_batches_at_once_that_open_the_same_incident_do_not_fail,
    one_incident_from_a_burst
);

/// On PostgreSQL the worker runs batches at once, and each reads a new advisory's incident
/// as absent until one of them commits it: the others lose that race. A lost race is run
/// again, not reported as the store failing (`drain` would return that error).
async fn one_incident_from_a_burst(url: &str) {
    let store = Store::open(url).await.expect("store");
    let body = common::fixture("repository_advisory.reported.composed.json");
    let burst: Vec<NewDelivery> = (0..300)
        .map(|number| delivery(&format!("burst-{number}"), "repository_advisory", &body))
        .collect();
    let admitted = store.admit(burst).await.expect("admit");
    assert!(
        admitted
            .iter()
            .all(|admission| *admission == Admission::Accepted)
    );
    let worker = Worker::new(
        store.clone(),
        Arc::new(Notify::new()),
        WorkerSettings::default(),
    );
    let outcomes = worker.drain().await.expect("no batch fails");
    let done = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, JobOutcome::Done(_)))
        .count();
    assert_eq!(done, 300, "{outcomes:?}");
    assert_eq!(store.all_incidents().await.expect("list").len(), 1);
    store.close().await;
}

on_both_stores!(
    on_sqlite_a_unique_key_taken_is_not_a_lost_race,
    on_postgresql_a_unique_key_taken_is_a_lost_race,
    a_unique_key_taken_twice
);

/// Only PostgreSQL runs transactions at once, so only there is a key taken meanwhile a
/// race lost (and the batch run again); on SQLite it is an error like any other.
async fn a_unique_key_taken_twice(url: &str) {
    let store = Store::open(url).await.expect("store");
    let writer = common::any_pool(url).await;
    let insert = "INSERT INTO outbox (kind, idempotency_key, payload, run_after, created_at) \
                  VALUES ('chat', 'taken', 'x', 0, 0)";
    sqlx::query(insert)
        .execute(&writer)
        .await
        .expect("the first");
    let taken = sqlx::query(insert)
        .execute(&writer)
        .await
        .expect_err("the key is taken");
    let error = herald::store::StoreError::from(taken);
    assert_eq!(error.lost_race(), url.starts_with("postgres"), "{error}");
    writer.close().await;
    store.close().await;
}

on_both_stores!(
    a_lease_ends_unless_renewed,
    on_postgresql_a_lease_ends_unless_renewed,
    leases_end_unless_renewed
);

/// Replicas sharing a store poll each repository once per interval between them: the
/// first to claim it this interval polls; the others skip it until the interval is over,
/// and know when that is. A replica that stops releases its claim: another takes it at once.
async fn one_poll_per_repository_and_interval(url: &str) {
    use herald::store::PollClaim;
    let store = Store::open(url).await.expect("store");
    let repository = herald::incident::RepoName::parse("acme/widget").expect("name");
    let interval = chrono::Duration::seconds(300);
    let now = Utc::now();
    let claim = |at: chrono::DateTime<Utc>, holder: &'static str| {
        let store = store.clone();
        let repository = repository.clone();
        async move {
            store
                .claim_advisory_poll(
                    repository.as_str(),
                    at,
                    at - interval,
                    holder,
                    at + interval,
                )
                .await
                .expect("claim")
        }
    };
    assert_eq!(
        claim(now, "a").await,
        PollClaim::Taken,
        "never polled: the first replica claims it"
    );
    let millis = |at: chrono::DateTime<Utc>| at.timestamp_millis();
    match claim(now, "b").await {
        PollClaim::Held { due } => {
            assert_eq!(millis(due), millis(now + interval), "its claim's end")
        }
        PollClaim::Taken => panic!("a second replica in the same round must skip it"),
    }
    assert_eq!(store.release_advisory_polls("b").await.expect("release"), 0);
    assert_eq!(store.release_advisory_polls("a").await.expect("release"), 1);
    assert_eq!(
        claim(now, "b").await,
        PollClaim::Taken,
        "released by a replica that stopped: taken at once"
    );
    store
        .save_advisory_poll(repository.as_str(), Some("\"etag-1\""), now)
        .await
        .expect("polled");
    match claim(now + chrono::Duration::seconds(299), "a").await {
        PollClaim::Held { due } => assert_eq!(
            millis(due),
            millis(now + interval),
            "one interval after the poll"
        ),
        PollClaim::Taken => panic!("polled within the interval"),
    }
    assert_eq!(
        claim(now + chrono::Duration::seconds(301), "a").await,
        PollClaim::Taken,
        "the next interval"
    );
    assert_eq!(
        store
            .advisory_poll_etag(repository.as_str())
            .await
            .expect("etag")
            .as_deref(),
        Some("\"etag-1\""),
        "a claim keeps the list's ETag"
    );
    store.close().await;
}

on_both_stores!(
    replicas_poll_each_repository_once_per_interval,
    on_postgresql_replicas_poll_each_repository_once_per_interval,
    one_poll_per_repository_and_interval
);

/// One replica at a time scans GitHub's failed deliveries: a second is told who scans and
/// until when; a claim that ran out (its replica died) is taken over; a finished scan moves
/// the start of the next on, an unfinished one does not; the first claim ever starts the
/// scans at that moment.
async fn one_redelivery_scan_at_a_time(url: &str) {
    use herald::store::{Resume, ScanClaim, ScanEnd};
    let store = Store::open(url).await.expect("store");
    let now = Utc::now();
    let minutes = |count: i64| chrono::Duration::minutes(count);
    let millis = |at: chrono::DateTime<Utc>| at.timestamp_millis();
    // A claim by `holder` at `at`, for two minutes.
    let claim = |holder: &'static str, at: chrono::DateTime<Utc>| {
        let store = store.clone();
        async move {
            store
                .claim_redelivery_scan(holder, at, at + minutes(2))
                .await
                .expect("claim")
        }
    };
    match claim("replica-a", now).await {
        ScanClaim::Taken {
            scanned_through,
            resume: None,
        } => assert_eq!(
            millis(scanned_through),
            millis(now),
            "a new store starts now"
        ),
        held => panic!("the first claim must be taken: {held:?}"),
    }
    assert_eq!(
        claim("replica-b", now).await,
        ScanClaim::Held {
            by: "replica-a".to_owned(),
            until: chrono::DateTime::from_timestamp_millis(millis(now + minutes(2))).expect("time"),
        },
        "two replicas never scan at once"
    );
    assert!(
        !store
            .renew_redelivery_scan("replica-b", now + minutes(4))
            .await
            .expect("renew"),
        "only the holder renews"
    );
    // Replica a dies; after its claim, b takes over.
    let later = now + minutes(3);
    assert!(matches!(
        claim("replica-b", later).await,
        ScanClaim::Taken { .. }
    ));
    // b's scan stops short: the next starts where the last finished one did.
    store
        .end_redelivery_scan("replica-b", &ScanEnd::Stopped, later)
        .await
        .expect("ended");
    let state = store
        .redelivery_scan()
        .await
        .expect("state")
        .expect("a row");
    assert_eq!(millis(state.scanned_through), millis(now));
    assert_eq!(state.claimed_by, None, "released");
    // A scan that read as many pages as it may: the next goes on from its next page.
    let resume = Resume {
        page: "/app/hook/deliveries?per_page=100&cursor=v1_7".to_owned(),
        newest: chrono::DateTime::from_timestamp_millis(millis(later)).expect("time"),
    };
    assert!(matches!(
        claim("replica-a", later).await,
        ScanClaim::Taken { resume: None, .. }
    ));
    store
        .end_redelivery_scan("replica-a", &ScanEnd::Continues(resume.clone()), later)
        .await
        .expect("ended");
    match claim("replica-b", later).await {
        ScanClaim::Taken {
            scanned_through,
            resume: Some(going_on),
        } => {
            assert_eq!(going_on, resume);
            assert_eq!(millis(scanned_through), millis(now), "not finished yet");
        }
        other => panic!("the next scan goes on from the page: {other:?}"),
    }
    // A finished scan moves it on, and forgets the page.
    store
        .end_redelivery_scan("replica-b", &ScanEnd::Finished { through: later }, later)
        .await
        .expect("ended");
    assert!(matches!(
        claim("replica-a", later).await,
        ScanClaim::Taken { resume: None, .. }
    ));
    store
        .end_redelivery_scan("replica-a", &ScanEnd::Stopped, later)
        .await
        .expect("ended");
    let state = store
        .redelivery_scan()
        .await
        .expect("state")
        .expect("a row");
    assert_eq!(millis(state.scanned_through), millis(later));
    assert_eq!(state.scanned_at.map(millis), Some(millis(later)));
    store.close().await;
}

on_both_stores!(
    one_replica_at_a_time_scans_for_failed_deliveries,
    on_postgresql_one_replica_at_a_time_scans_for_failed_deliveries,
    one_redelivery_scan_at_a_time
);

/// Two units of work changing one incident at once (two PostgreSQL replicas' workers, or
/// a worker and an effect runner): the second reads it only once the first has committed,
/// so it builds on the first's change instead of overwriting it. (SQLite has one writer:
/// the second cannot even begin meanwhile.)
#[tokio::test]
async fn on_postgresql_an_incident_read_to_be_changed_waits_for_the_change_under_way() {
    common::on_postgresql(async {
        use herald::incident::{GhsaId, Incident, RepoName};
        let store = Store::open(&common::postgres_database().await)
            .await
            .expect("store");
        let repository = RepoName::parse("acme/widget").expect("name");
        let ghsa = GhsaId::parse("GHSA-aaaa-bbbb-cccc").expect("GHSA id");
        let mut work = store.begin_durable().await.expect("work");
        let mut incident = Incident::new(repository.clone(), ghsa.clone(), Utc::now());
        work.save_incident(&incident, Utc::now())
            .await
            .expect("saved");
        work.commit().await.expect("committed");

        let mut first = store.begin_durable().await.expect("work");
        let read = first
            .find_incident(&repository, &ghsa)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read.revision, 1);
        let second = {
            let store = store.clone();
            let (repository, ghsa) = (repository.clone(), ghsa.clone());
            tokio::spawn(async move {
                let mut second = store.begin_durable().await.expect("work");
                second
                    .read_ahead_incidents(&[(repository.clone(), ghsa.clone())])
                    .await
                    .expect("read ahead");
                let row = second
                    .find_incident(&repository, &ghsa)
                    .await
                    .expect("read")
                    .expect("found");
                second.rollback().await.expect("rolled back");
                row
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !second.is_finished(),
            "the second waits while the first changes it"
        );
        incident.summary = "changed by the first".to_owned();
        first
            .save_incident(&incident, Utc::now())
            .await
            .expect("saved");
        first.commit().await.expect("committed");
        let seen = second.await.expect("the second ends");
        assert_eq!(seen.revision, 2, "the second reads the first's change");
        assert_eq!(seen.incident.summary, "changed by the first");
        store.close().await;
    })
    .await;
}

on_both_stores!(
    queued_jobs_and_timeline_land_at_commit_in_order_once_each_on_sqlite,
    queued_jobs_and_timeline_land_at_commit_in_order_once_each_on_postgresql,
    queued_jobs_and_timeline_land_at_commit_in_order_once_each
);

/// A unit of work writes the jobs and timeline entries it queued when it commits, a few
/// hundred to a statement, in the order queued; a key queued twice is one job; jobs done
/// together keep their own outcomes; a rollback writes nothing.
async fn queued_jobs_and_timeline_land_at_commit_in_order_once_each(url: &str) {
    use herald::incident::{GhsaId, Incident, RepoName, TimelineEntry, TimelineKind};
    let store = Store::open(url).await.expect("store");
    let mut work = store.begin_durable().await.expect("work");
    let incident = Incident::new(
        RepoName::parse("acme/widget").expect("name"),
        GhsaId::parse("GHSA-aaaa-bbbb-cccc").expect("GHSA id"),
        Utc::now(),
    );
    let (id, _) = work
        .save_incident(&incident, Utc::now())
        .await
        .expect("saved");
    let job = herald::jobs::Job::PostReview { incident: id };
    for index in 0..450 {
        work.enqueue(&job, &format!("queued-{index}"))
            .expect("queued");
    }
    work.enqueue(&job, "queued-7").expect("queued again");
    let entries: Vec<TimelineEntry> = (0..250)
        .map(|index| TimelineEntry {
            at: Utc::now(),
            actor: None,
            kind: TimelineKind::Command,
            detail: format!("entry {index}"),
        })
        .collect();
    work.append_timeline(id, &entries, None).expect("appended");
    work.commit().await.expect("committed");

    let pool = store.pool();
    let keys: Vec<String> = sqlx::query_scalar("SELECT idempotency_key FROM outbox ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("keys");
    let expected: Vec<String> = (0..450).map(|index| format!("queued-{index}")).collect();
    assert_eq!(keys, expected);
    let details = store.timeline_entries(id).await.expect("timeline");
    let details: Vec<&str> = details.iter().map(|entry| entry.detail.as_str()).collect();
    let expected: Vec<String> = (0..250).map(|index| format!("entry {index}")).collect();
    assert_eq!(details, expected);

    // Jobs done together, each with its own outcome, in one statement.
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id DESC LIMIT 3")
        .fetch_all(pool)
        .await
        .expect("ids");
    let outcomes = ["first", "second", "third"];
    let done: Vec<(i64, &str)> = ids.iter().copied().zip(outcomes).collect();
    let mut work = store.begin_durable().await.expect("work");
    work.complete_jobs(&done).await.expect("completed");
    work.commit().await.expect("committed");
    for (id, outcome) in &done {
        let (state, stored): (String, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(
            format!("SELECT state, outcome FROM outbox WHERE id = {id}"),
        ))
        .fetch_one(pool)
        .await
        .expect("job");
        assert_eq!(
            (state.as_str(), stored.as_deref()),
            ("done", Some(*outcome))
        );
    }

    let mut work = store.begin_durable().await.expect("work");
    work.enqueue(&job, "rolled-back").expect("queued");
    work.append_timeline(id, &entries[..1], None)
        .expect("appended");
    work.rollback().await.expect("rolled back");
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(pool)
        .await
        .expect("count");
    assert_eq!(jobs, 450, "a rollback writes nothing");
    assert_eq!(
        store.timeline_entries(id).await.expect("timeline").len(),
        250
    );
    store.close().await;
}

on_both_stores!(
    incidents_read_ahead_answer_as_the_store_would_on_sqlite,
    incidents_read_ahead_answer_as_the_store_would_on_postgresql,
    incidents_read_ahead_answer_as_the_store_would
);

/// Incidents read ahead for a batch answer `find_incident` as the database would, also
/// after the batch saved them.
async fn incidents_read_ahead_answer_as_the_store_would(url: &str) {
    use herald::incident::{GhsaId, Incident, RepoName};
    let store = Store::open(url).await.expect("store");
    let key = |ghsa: &str| {
        (
            RepoName::parse("acme/widget").expect("name"),
            GhsaId::parse(ghsa).expect("GHSA id"),
        )
    };
    let (repository, known) = key("GHSA-aaaa-bbbb-cccc");
    let mut work = store.begin_durable().await.expect("work");
    let existing = Incident::new(repository.clone(), known.clone(), Utc::now());
    let (known_id, _) = work
        .save_incident(&existing, Utc::now())
        .await
        .expect("saved");
    work.commit().await.expect("committed");

    let mut work = store.begin_durable().await.expect("work");
    let new = key("GHSA-dddd-eeee-ffff");
    let later = key("GHSA-kkkk-mmmm-pppp");
    work.read_ahead_incidents(&[key("GHSA-aaaa-bbbb-cccc"), new.clone(), later.clone()])
        .await
        .expect("read ahead");
    let found = work
        .find_incident(&repository, &known)
        .await
        .expect("found");
    assert_eq!(found.map(|row| (row.id, row.revision)), Some((known_id, 1)));
    assert!(
        work.find_incident(&new.0, &new.1)
            .await
            .expect("found")
            .is_none()
    );
    let incident = Incident::new(new.0.clone(), new.1.clone(), Utc::now());
    let (new_id, _) = work
        .save_incident(&incident, Utc::now())
        .await
        .expect("saved");
    let again = work
        .save_incident(&incident, Utc::now())
        .await
        .expect("saved");
    assert_eq!(again, (new_id, 2));
    let found = work.find_incident(&new.0, &new.1).await.expect("found");
    assert_eq!(found.map(|row| (row.id, row.revision)), Some((new_id, 2)));
    let entry = herald::incident::TimelineEntry {
        at: Utc::now(),
        actor: None,
        kind: herald::incident::TimelineKind::Command,
        detail: "created in this unit of work".to_owned(),
    };
    work.append_timeline(new_id, std::slice::from_ref(&entry), None)
        .expect("appended");
    // An incident not read ahead is saved at once, after those created before it, with an
    // id of its own, and so is one read ahead created after it; what the unit of work reads
    // then includes them all.
    let unread = key("GHSA-gggg-hhhh-jjjj");
    let mut saved_now = Vec::new();
    for (repository, ghsa) in [&unread, &later] {
        let (id, _) = work
            .save_incident(
                &Incident::new(repository.clone(), ghsa.clone(), Utc::now()),
                Utc::now(),
            )
            .await
            .expect("saved");
        saved_now.push(id);
    }
    let [unread_id, later_id] = saved_now[..] else {
        panic!("two saved");
    };
    let listed: Vec<_> = work
        .incidents_of(&repository)
        .await
        .expect("listed")
        .into_iter()
        .map(|row| (row.id, row.incident.ghsa_id.as_str().to_owned()))
        .collect();
    assert_eq!(listed.len(), 4, "{listed:?}");
    for (id, ghsa) in [
        (known_id, &known),
        (new_id, &new.1),
        (unread_id, &unread.1),
        (later_id, &later.1),
    ] {
        assert!(
            listed.contains(&(id, ghsa.as_str().to_owned())),
            "{listed:?}"
        );
    }
    work.commit().await.expect("committed");
    let stored = store.incident(new_id).await.expect("read").expect("stored");
    assert_eq!(stored.revision, 2);
    assert_eq!(stored.incident.ghsa_id, new.1);
    let timeline = store.timeline_entries(new_id).await.expect("timeline");
    assert_eq!(
        timeline.last().map(|entry| entry.detail.as_str()),
        Some(entry.detail.as_str())
    );
    store.close().await;
}

on_both_stores!(
    a_job_run_alone_is_taken_as_seen_and_its_failure_recorded_once_on_sqlite,
    a_job_run_alone_is_taken_as_seen_and_its_failure_recorded_once_on_postgresql,
    a_job_run_alone_is_taken_as_seen_and_its_failure_recorded_once
);

/// After a batch is undone, its jobs run alone; meanwhile another runner (a PostgreSQL
/// replica) may take them. A job runs alone only while it is pending as it was seen and no
/// other runner holds it, and an attempt is recorded once.
async fn a_job_run_alone_is_taken_as_seen_and_its_failure_recorded_once(url: &str) {
    let store = Store::open(url).await.expect("store");
    store
        .admit(vec![delivery("poison", "no_such_event", b"{}")])
        .await
        .expect("admitted");
    store.queue_admitted(10).await.expect("its job queued");
    let due = async || {
        let mut work = store.begin().await.expect("work");
        let jobs = work.due_jobs(Utc::now(), 0, 10).await.expect("due jobs");
        work.rollback().await.expect("rolled back");
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        jobs.into_iter().next().expect("the job")
    };
    let seen = due().await;
    assert_eq!(seen.attempts, 0);

    // Two runners saw it with no attempt: the first failure recorded counts, the second not.
    for (error, counted) in [("first", true), ("second", false)] {
        let mut work = store.begin_durable().await.expect("work");
        let recorded = work
            .fail_job((seen.id, seen.attempts), error, Utc::now(), false)
            .await
            .expect("fail_job");
        assert_eq!(recorded, counted, "{error}");
        work.commit().await.expect("committed");
    }
    let (attempts, error): (i64, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM outbox WHERE id = $1")
            .bind(seen.id)
            .fetch_one(store.pool())
            .await
            .expect("the job");
    assert_eq!((attempts, error.as_deref()), (1, Some("first")));

    // Seen before that attempt, it is no longer this runner's to run.
    let mut work = store.begin().await.expect("work");
    assert!(
        !work
            .lock_pending_job((seen.id, seen.attempts))
            .await
            .expect("lock")
    );
    work.rollback().await.expect("rolled back");
    // As it stands now it is; and on PostgreSQL no other runner takes it meanwhile.
    let current = due().await;
    let mut work = store.begin().await.expect("work");
    assert!(
        work.lock_pending_job((current.id, current.attempts))
            .await
            .expect("lock")
    );
    if url.starts_with("postgres") {
        let mut other = store.begin().await.expect("another runner's work");
        assert!(
            !other
                .lock_pending_job((current.id, current.attempts))
                .await
                .expect("lock")
        );
        other.rollback().await.expect("rolled back");
    }
    work.rollback().await.expect("rolled back");
    store.close().await;
}

on_both_stores!(
    jobs_queued_before_the_incident_column_are_found_by_their_incident,
    on_postgresql_jobs_queued_before_the_incident_column_are_found_by_their_incident,
    queued_before_the_incident_column
);

/// Jobs stored by a herald before migration 17 (which keeps each job's incident beside it)
/// are found by their incident after the upgrade: its failed jobs, and `herald jobs`.
async fn queued_before_the_incident_column(url: &str) {
    let (dialect, open_url) = match url.strip_prefix("sqlite://") {
        Some(_) => ("sqlite", format!("{url}?mode=rwc")),
        None => ("postgres", url.to_owned()),
    };
    let pool = common::any_pool(&open_url).await;
    let migrations = format!("{}/migrations/{dialect}", env!("CARGO_MANIFEST_DIR"));
    sqlx::migrate::Migrator::new(std::path::Path::new(&migrations))
        .await
        .expect("the migrations")
        .run_to(16, &pool)
        .await
        .expect("the schema before migration 17");
    // As herald wrote them: an incident's id, JSON with one, a delivery id.
    let list =
        r#"{"address":"a@example.org","name":null,"signing":"cleartext","attach_cleartext":false}"#;
    let rows = [
        ("changelog_pr", "7".to_owned(), "dead"),
        (
            "send_mail",
            format!(r#"{{"incident_id":7,"list":{list}}}"#),
            "dead",
        ),
        (
            "escalate",
            r#"{"incident_id":8,"stage":"breach","due":null}"#.to_owned(),
            "dead",
        ),
        ("maintainer_action", "72b6a4e0-1f0d".to_owned(), "dead"),
        ("sync_tracking_issue", "7".to_owned(), "pending"),
        // Rows no job decodes from name no incident: an id as text, one too long.
        (
            "send_mail",
            format!(r#"{{"incident_id":"7","list":{list}}}"#),
            "dead",
        ),
        ("changelog_pr", "99999999999999999999".to_owned(), "dead"),
    ];
    for (number, (kind, payload, state)) in rows.iter().enumerate() {
        sqlx::query(
            "INSERT INTO outbox (kind, idempotency_key, payload, state, run_after, created_at) \
             VALUES ($1, $2, $3, $4, 0, 0)",
        )
        .bind(*kind)
        .bind(format!("old-{number}"))
        .bind(payload.as_str())
        .bind(*state)
        .execute(&pool)
        .await
        .expect("a job as herald wrote it");
    }
    pool.close().await;

    let store = Store::open(url).await.expect("the store, migrated");
    let failed_kinds = |incident: i64| {
        let store = store.clone();
        async move {
            let failed = store
                .failed_jobs(herald::store::IncidentId(incident))
                .await
                .expect("failed jobs");
            failed.into_iter().map(|job| job.kind).collect::<Vec<_>>()
        }
    };
    assert_eq!(failed_kinds(7).await, ["changelog_pr", "send_mail"]);
    assert_eq!(failed_kinds(8).await, ["escalate"]);
    let filter = herald::store::JobFilter {
        failed: false,
        due: false,
        kind: None,
        limit: 10,
    };
    let listed: Vec<(String, Option<i64>)> = store
        .jobs(&filter, Utc::now())
        .await
        .expect("jobs")
        .into_iter()
        .map(|job| (job.kind, job.incident_id.map(|id| id.0)))
        .collect();
    assert_eq!(
        listed,
        [
            ("changelog_pr".to_owned(), Some(7)),
            ("send_mail".to_owned(), Some(7)),
            ("escalate".to_owned(), Some(8)),
            ("maintainer_action".to_owned(), None),
            ("sync_tracking_issue".to_owned(), Some(7)),
            ("send_mail".to_owned(), None),
            ("changelog_pr".to_owned(), None),
        ]
    );
    // A maintainer's retry finds them by their incident too.
    let mut work = store.begin_durable().await.expect("work");
    assert_eq!(
        work.retry_failed_jobs(herald::store::IncidentId(7))
            .await
            .expect("retried"),
        2
    );
    work.commit().await.expect("committed");
    assert!(failed_kinds(7).await.is_empty());
    store.close().await;
}

on_both_stores!(
    a_stored_job_no_job_decodes_from_is_given_up_at_once_and_alone,
    on_postgresql_a_stored_job_no_job_decodes_from_is_given_up_at_once_and_alone,
    undecodable_given_up
);

/// A row of the queue that is no job herald knows (a damaged store, a bug) is decoded once,
/// when it is taken, and given up at once, naming itself: running it again cannot mend it.
/// The deliveries beside it are processed.
async fn undecodable_given_up(url: &str) {
    let store = Store::open(url).await.expect("store");
    let good = delivery(
        "good-1",
        "repository_advisory",
        &common::fixture("repository_advisory.reported.composed.json"),
    );
    store.admit(vec![good]).await.expect("admit");
    let writer = common::any_pool(url).await;
    sqlx::query(
        "INSERT INTO outbox (kind, idempotency_key, payload, run_after, created_at) \
         VALUES ('process_delivery', 'damaged', 'not a delivery id', 0, 0)",
    )
    .execute(&writer)
    .await
    .expect("a damaged row");
    // SQLite keeps what is written into a column, whatever its type: bytes that are not
    // UTF-8 text, and a BLOB, must not fail the query that reads them with the others.
    let on_sqlite = url.starts_with("sqlite");
    if on_sqlite {
        sqlx::query(
            "INSERT INTO outbox (kind, idempotency_key, payload, run_after, created_at) \
             VALUES ('process_delivery', 'not-utf8', CAST(X'61FF62' AS TEXT), 0, 0), \
             ('process_delivery', 'blob', X'00FF', 0, 0)",
        )
        .execute(&writer)
        .await
        .expect("rows that are not text");
    }
    let damaged = if on_sqlite { 3 } else { 1 };
    let settings = WorkerSettings {
        max_attempts: 5,
        ..WorkerSettings::default()
    };
    let worker = Worker::new(store.clone(), Arc::new(Notify::new()), settings);
    let outcomes = worker.drain().await.expect("drain");
    let gave_up = outcomes.iter().filter(|outcome| {
        matches!(outcome, JobOutcome::Failed { error, gave_up: true }
            if error.to_string().contains("process_delivery"))
    });
    assert_eq!(gave_up.count(), damaged, "{outcomes:?}");
    let done = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, JobOutcome::Done(_)));
    assert_eq!(done.count(), 1, "{outcomes:?}");
    let (state, attempts, error): (String, i64, Option<String>) = sqlx::query_as(
        "SELECT state, attempts, last_error FROM outbox WHERE idempotency_key = 'damaged'",
    )
    .fetch_one(&writer)
    .await
    .expect("the damaged row");
    assert_eq!((state.as_str(), attempts), ("dead", 1));
    assert!(
        error.is_some_and(|error| error.contains("\"not a delivery id\"")),
        "the error names the row"
    );
    assert_eq!(store.all_incidents().await.expect("list").len(), 1);
    // The operator sees each of them, given up, in `herald jobs`.
    let failed = herald::store::JobFilter {
        failed: true,
        due: false,
        kind: None,
        limit: 10,
    };
    let listed = store.jobs(&failed, Utc::now()).await.expect("herald jobs");
    assert_eq!(listed.len(), damaged, "{listed:?}");
    writer.close().await;
    store.close().await;
}

on_both_stores!(
    on_sqlite_the_deliveries_read_before_a_unit_of_work_are_the_ones_it_uses,
    on_postgresql_no_delivery_is_read_before_a_unit_of_work,
    read_before_the_write_turn
);

/// On SQLite the worker reads its next jobs' deliveries before its unit of work takes the
/// store's write turn, and the unit of work reads only those it was not given; on
/// PostgreSQL, whose batches take no turns, nothing is read before.
async fn read_before_the_write_turn(url: &str) {
    use herald::incident::DeliveryId;
    use herald::ingest::events::advisory_incident_key;
    let store = Store::open(url).await.expect("store");
    let advisory = common::fixture("repository_advisory.reported.composed.json");
    let issue = common::fixture("issues.labeled.0.json");
    store
        .admit(vec![
            delivery("first", "repository_advisory", &advisory),
            delivery("second", "issues", &issue),
            delivery("third", "repository_advisory", &advisory),
        ])
        .await
        .expect("admit");
    store.queue_admitted(10).await.expect("their jobs queued");
    let pre_read = store
        .read_due_deliveries((Utc::now(), 2), advisory_incident_key)
        .await
        .expect("read");
    // Gone from the database once read: what the unit of work finds of them is what was
    // read before it.
    let pool = common::any_pool(url).await;
    sqlx::query("DELETE FROM deliveries")
        .execute(&pool)
        .await
        .expect("deleted");
    pool.close().await;

    let on_sqlite = url.starts_with("sqlite:");
    let mut work = store.begin().await.expect("work");
    work.adopt(pre_read);
    let ids = ["first", "second", "third"].map(|id| DeliveryId::parse(id).expect("an id"));
    let incidents = work
        .read_ahead(&ids, advisory_incident_key)
        .await
        .expect("read ahead");
    let named = advisory_incident_key("repository_advisory", &advisory).expect("an advisory");
    let expected = if on_sqlite { vec![named] } else { Vec::new() };
    assert_eq!(incidents, expected);
    // The first two jobs' deliveries (the limit), as stored; the third was not read before.
    for (id, body, read_before) in [
        ("first", &advisory, on_sqlite),
        ("second", &issue, on_sqlite),
        ("third", &advisory, false),
    ] {
        let loaded = work
            .load_delivery(&DeliveryId::parse(id).expect("an id"))
            .await
            .expect("load");
        assert_eq!(
            loaded.map(|delivery| delivery.payload == *body),
            read_before.then_some(true),
            "{id}"
        );
    }
    work.rollback().await.expect("rolled back");
    store.close().await;
}

/// A delivery's processing job has no lane, and only the lease query, always for a lane,
/// reads outbox_lane_leases: admitted deliveries write no entry into it; a job with a lane
/// does.
#[tokio::test]
async fn on_sqlite_admitted_deliveries_write_no_entry_into_the_lane_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let store = Store::open(&url).await.expect("store");
    let deliveries = (0..50)
        .map(|index| delivery(&format!("d-{index}"), "issues", b"{}"))
        .collect();
    store.admit(deliveries).await.expect("admit");
    store.queue_admitted(100).await.expect("their jobs queued");
    let pool = common::any_pool(&url).await;
    let entries = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT coalesce(sum(ncell), 0) FROM dbstat \
             WHERE name = 'outbox_lane_leases' AND pagetype = 'leaf'",
        )
        .fetch_one(&pool)
        .await
        .expect("counted")
    };
    assert_eq!(entries().await, 0);
    sqlx::query(
        "INSERT INTO outbox (kind, idempotency_key, payload, run_after, created_at, lane) \
         VALUES ('chat', 'with-a-lane', '{}', 0, 0, 'acme/widget')",
    )
    .execute(&pool)
    .await
    .expect("a job with a lane");
    assert_eq!(entries().await, 1);
    pool.close().await;
    store.close().await;
}

/// What a worker that gives a job up after its first failure does with every job due.
async fn drained_giving_up_at_once(store: &Store) -> Vec<JobOutcome> {
    let settings = WorkerSettings {
        max_attempts: 1,
        ..WorkerSettings::default()
    };
    Worker::new(store.clone(), Arc::new(Notify::new()), settings)
        .drain()
        .await
        .expect("drain")
}

/// On SQLite admitting a delivery writes no job: the worker queues the jobs of the
/// deliveries admitted since it last did, within its batch (or a caller in a commit of its
/// own), and the queue's summary counts the deliveries waiting for that as pending jobs.
#[tokio::test]
async fn on_sqlite_the_worker_queues_each_admitted_deliverys_job_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let store = Store::open(&url).await.expect("store");
    let pool = common::any_pool(&url).await;
    let jobs = async || -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT idempotency_key, state FROM outbox WHERE kind = 'process_delivery' ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .expect("jobs")
    };
    let admitted = (0..3)
        .map(|index| delivery(&format!("d-{index}"), "no_such_event", b"{}"))
        .collect();
    store.admit(admitted).await.expect("admit");
    // One more, with its job queued with it, as a unit of work admits herald's own.
    let mut work = store.begin().await.expect("work");
    work.admit(&delivery("own", "no_such_event", b"{}"))
        .await
        .expect("admitted in the unit of work");
    work.commit().await.expect("committed");
    assert_eq!(
        jobs().await,
        [("delivery:own".to_owned(), "pending".to_owned())]
    );
    let unqueued = store.unqueued_deliveries().await.expect("unqueued");
    assert_eq!(unqueued.count, 4);
    assert!(unqueued.oldest.is_some());
    let summary = store.queue_summary(Utc::now()).await.expect("summary");
    let deliveries = summary
        .iter()
        .find(|kind| kind.kind == "process_delivery")
        .expect("the deliveries' kind");
    assert_eq!((deliveries.pending, deliveries.due), (5, 5));
    assert_eq!(deliveries.oldest_due_since, unqueued.oldest);

    store.queue_admitted(2).await.expect("two queued");
    assert_eq!(
        store.unqueued_deliveries().await.expect("unqueued").count,
        2
    );
    store.queue_admitted(10).await.expect("the rest queued");
    assert_eq!(
        store.unqueued_deliveries().await.expect("unqueued").count,
        0
    );
    let keys: Vec<String> = jobs().await.into_iter().map(|(key, _)| key).collect();
    assert_eq!(
        keys,
        [
            "delivery:own",
            "delivery:d-0",
            "delivery:d-1",
            "delivery:d-2"
        ]
    );

    // Stored later, processed by the worker's next batch; the queued ones too, once each.
    store
        .admit(vec![delivery("d-3", "no_such_event", b"{}")])
        .await
        .expect("admit");
    let outcomes = drained_giving_up_at_once(&store).await;
    assert_eq!(outcomes.len(), 5, "{outcomes:?}");
    let states: Vec<(String, String)> = jobs().await;
    assert_eq!(states.len(), 5, "one job per delivery: {states:?}");
    assert!(
        states.iter().all(|(_, state)| state == "dead"),
        "{states:?}"
    );
    assert_eq!(
        store.unqueued_deliveries().await.expect("unqueued").count,
        0
    );
    pool.close().await;
    store.close().await;
}

/// Deliveries whose jobs are done before the worker reaches them (a store copied with its
/// queue, herald's own deliveries queued with their jobs): the worker goes on past them,
/// more than a fetch of them in a row, to the deliveries behind.
#[tokio::test]
async fn on_sqlite_the_worker_goes_past_deliveries_whose_jobs_are_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let store = Store::open(&url).await.expect("store");
    let own: Vec<NewDelivery> = (0..40)
        .map(|index| delivery(&format!("own-{index}"), "no_such_event", b"{}"))
        .collect();
    let mut work = store.begin().await.expect("work");
    for delivery in &own {
        work.admit(delivery).await.expect("admitted with its job");
    }
    work.commit().await.expect("committed");
    let pool = common::any_pool(&url).await;
    sqlx::query("UPDATE outbox SET state = 'done'")
        .execute(&pool)
        .await
        .expect("their jobs done");
    store
        .admit(vec![delivery("behind", "no_such_event", b"{}")])
        .await
        .expect("admit");

    let outcomes = drained_giving_up_at_once(&store).await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(
        store.unqueued_deliveries().await.expect("unqueued").count,
        0
    );
    let behind: Vec<String> =
        sqlx::query_scalar("SELECT state FROM outbox WHERE idempotency_key = 'delivery:behind'")
            .fetch_all(&pool)
            .await
            .expect("its job");
    assert_eq!(behind, ["dead"]);
    pool.close().await;
    store.close().await;
}

/// A SQLite store copied while deliveries wait for the worker to queue their jobs: each
/// arrives with its job (here on PostgreSQL, and back on SQLite, whose worker starts past
/// them).
#[tokio::test]
async fn a_copied_store_has_a_job_for_each_delivery_its_worker_had_not_reached() {
    common::on_postgresql(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = Store::open(&common::sqlite_url(dir.path()))
            .await
            .expect("store");
        let waiting = (0..3)
            .map(|index| delivery(&format!("d-{index}"), "issues", b"{}"))
            .collect();
        source.admit(waiting).await.expect("admit");
        assert_eq!(
            source.unqueued_deliveries().await.expect("unqueued").count,
            3
        );

        let (postgres, sqlite, _back) = common::copied_there_and_back(&source).await;
        let jobs = postgres.queue_summary(Utc::now()).await.expect("summary");
        let deliveries = jobs
            .iter()
            .find(|kind| kind.kind == "process_delivery")
            .expect("their jobs");
        assert_eq!(deliveries.pending, 3);

        assert_eq!(
            sqlite.unqueued_deliveries().await.expect("unqueued").count,
            0
        );
        let jobs = sqlite.queue_summary(Utc::now()).await.expect("summary");
        assert_eq!(
            jobs.iter()
                .find(|kind| kind.kind == "process_delivery")
                .map(|kind| kind.pending),
            Some(3)
        );
        for store in [source, postgres, sqlite] {
            store.close().await;
        }
    })
    .await;
}

/// Each of the store's SQLite connections keeps a 512 KiB page cache, not SQLite's 2 MiB:
/// herald holds seven, and under load the larger caches added about 2 MB to the peak.
#[tokio::test]
async fn sqlite_connections_keep_a_small_page_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let store = Store::open(&url).await.expect("store");
    let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
        .fetch_one(store.pool())
        .await
        .expect("cache size");
    assert_eq!(cache, -512, "KiB, as SQLite gives a negative size");
    store.close().await;
}

/// On PostgreSQL deliveries are admitted through a connection of their own, beside the
/// pool the units of work share (each batch is one large statement, and a connection keeps
/// a buffer the size of the largest it sent): with a single connection configured, a unit
/// of work holding the pool's connection does not keep a delivery from being admitted.
#[tokio::test]
async fn on_postgresql_deliveries_are_admitted_through_a_connection_of_their_own() {
    common::on_postgresql(async {
        let store = Store::open_pooled(&common::postgres_database().await, 1)
            .await
            .expect("store");
        let work = store.begin().await.expect("the pool's one connection");
        let admitted = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.admit(vec![delivery("d-own", "issues", b"{}")]),
        )
        .await
        .expect("admitted while the pool's connection is taken")
        .expect("admit");
        assert_eq!(admitted, [Admission::Accepted]);
        work.rollback().await.expect("rolled back");
        store.close().await;
    })
    .await;
}
