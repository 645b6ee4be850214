//! Never missing what GitHub sent: deliveries that failed while herald was down or its
//! store unreachable are asked for again and processed; the store's outage gets prompt
//! 503s; a job under way at a stop is taken again at once after the restart.

use crate::common::app::{
    APP_ID, READY_WITHIN, REPO, TRACK_PRIVATELY, TRACKING_REPO, assert_no_unexpected, free_address,
    installed_with, numbered_report, private_key, world,
};
use crate::common::github::FakeGitHub;
use crate::common::{self, Harness};
use sqlx::Connection as _;
use std::time::{Duration, Instant};

/// herald with the App, installed, on a fixed address that GitHub (the fake) delivers to.
async fn served_by_github(fake: &FakeGitHub) -> Harness {
    served_by_github_with(fake, |_| {}).await
}

/// [`served_by_github`] with settings changed by `adjust`.
async fn served_by_github_with(
    fake: &FakeGitHub,
    adjust: impl FnOnce(&mut herald::config::Settings),
) -> Harness {
    let listen = free_address();
    let harness = installed_with(fake, |settings| {
        settings.listen = listen;
        adjust(settings);
    })
    .await;
    fake.deliver_to(&harness.url("/webhooks"), common::SECRET);
    harness
}

/// GitHub sends the reports `numbers` while herald is down: each gets no answer. Their
/// GUIDs.
async fn sent_while_down(
    fake: &FakeGitHub,
    numbers: std::ops::RangeInclusive<usize>,
) -> Vec<String> {
    let mut missed = Vec::new();
    for number in numbers {
        let (guid, status) = fake
            .send_webhook("repository_advisory", &numbered_report(number))
            .await;
        assert_eq!(status, 0, "herald is down: no answer");
        missed.push(guid);
    }
    missed
}

/// Waits until the store holds every delivery in `guids` (they come back through GitHub,
/// asynchronously); fails naming the missing after 30 s.
async fn until_stored(harness: &Harness, guids: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = harness
            .store
            .stored_guids(&guids.iter().map(String::as_str).collect::<Vec<_>>())
            .await
            .expect("stored deliveries");
        if stored.len() == guids.len() {
            return;
        }
        let missing: Vec<&String> = guids
            .iter()
            .filter(|guid| !stored.contains(*guid))
            .collect();
        assert!(
            Instant::now() < deadline,
            "never asked for again and stored within 30 s: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The attempt ids of `guids`' first (failed) attempts.
fn first_attempts(fake: &FakeGitHub, guids: &[String]) -> Vec<u64> {
    let mut ids: Vec<u64> = fake
        .hook_attempts()
        .into_iter()
        .filter(|attempt| guids.contains(&attempt.guid) && !attempt.redelivery)
        .map(|attempt| attempt.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// `herald deliveries …` against the fake GitHub and `harness`'s store; its stdout, once it
/// succeeded.
async fn deliveries_command(fake: &FakeGitHub, harness: &Harness, args: &[&str]) -> String {
    let output = deliveries_run(fake, harness, args).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "herald deliveries {args:?}: {stderr}"
    );
    stdout
}

/// `herald deliveries …` against the fake GitHub and `harness`'s store, run off the test's
/// thread (which serves the fake).
async fn deliveries_run(
    fake: &FakeGitHub,
    harness: &Harness,
    args: &[&str],
) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("HERALD_DATABASE_URL", &harness.database_url)
        .env("HERALD_GITHUB_API_URL", &fake.url)
        .env("HERALD_GITHUB_APP_ID", APP_ID.to_string())
        .env("HERALD_GITHUB_PRIVATE_KEY", private_key())
        .env("HERALD_REPLICA_ID", "operator")
        .arg("deliveries")
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("herald runs");
    for said in [&output.stdout, &output.stderr] {
        assert!(
            !String::from_utf8_lossy(said).contains("PRIVATE KEY"),
            "the App's key stays out of the output"
        );
    }
    output
}

/// `herald deliveries list --failed`, which must fail; what it said.
async fn failed_listing(fake: &FakeGitHub, harness: &Harness) -> String {
    let output = deliveries_run(fake, harness, &["list", "--failed"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "refused: {stderr}");
    stderr
}

/// `herald deliveries resync --json`: what the scan found and did.
async fn resync(fake: &FakeGitHub, harness: &Harness) -> serde_json::Value {
    serde_json::from_str(&deliveries_command(fake, harness, &["resync", "--json"]).await)
        .expect("a JSON report")
}

/// Waits until no replica holds the scan.
async fn until_scan_released(harness: &Harness) {
    for _ in 0..200 {
        let state = harness.store.redelivery_scan().await.expect("scan state");
        if state.is_some_and(|state| state.claimed_by.is_none()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the redelivery scan was never released");
}

/// GitHub sends three reports while herald is stopped for a deploy: each fails (no answer).
/// Started again, herald asks GitHub for each once, never for what it stored, and
/// processes what comes; GitHub refuses one (too old), which is recorded with its words
/// and not asked for again by the next scan. `herald deliveries list` shows it all.
#[tokio::test]
async fn deliveries_missed_while_herald_was_stopped_are_asked_for_again_once_each() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let mut harness = served_by_github(&fake).await;
    let (stored_before, status) = fake
        .send_webhook("repository_advisory", &numbered_report(0))
        .await;
    assert_eq!(status, 202);
    harness.wait_all_jobs().await;
    harness.stop_server().await;

    let missed = sent_while_down(&fake, 1..=3).await;
    let too_old = missed[2].clone();
    fake.refuse_redelivery(&too_old, "This delivery is too old to redeliver");

    harness.start_server().await;
    until_stored(&harness, &missed[..2]).await;
    harness.wait_all_jobs().await;
    until_scan_released(&harness).await;
    let metrics = harness
        .client
        .get(harness.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for counted in [
        "herald_webhook_redeliveries_total{outcome=\"found\"} 3",
        "herald_webhook_redeliveries_total{outcome=\"requested\"} 2",
        "herald_webhook_redeliveries_total{outcome=\"refused\"} 1",
    ] {
        assert!(metrics.contains(counted), "{counted} in:\n{metrics}");
    }

    let mut asked = fake.redelivery_requests();
    asked.sort_unstable();
    assert_eq!(
        asked,
        first_attempts(&fake, &missed),
        "each missed delivery asked for once, the stored one never"
    );
    assert!(
        !first_attempts(&fake, &[stored_before])
            .iter()
            .any(|id| asked.contains(id))
    );
    for number in 1..=2 {
        let ghsa = format!("GHSA-abcd-1234-{number:04}");
        assert!(
            fake.issues(TRACKING_REPO)
                .iter()
                .any(|issue| issue.title.contains(&ghsa)),
            "{ghsa} redelivered, processed and tracked"
        );
    }

    // A scan now asks for nothing more: the refused delivery stays refused.
    let scanned = resync(&fake, &harness).await;
    assert_eq!(scanned["requested"], 0, "{scanned}");
    assert_eq!(scanned["missing"], 1, "{scanned}");
    assert_eq!(scanned["asked_before"], 1, "{scanned}");
    assert_eq!(fake.redelivery_requests().len(), 3, "not asked again");
    the_refused_delivery_is_listed_as_missing(&fake, &harness, &too_old).await;
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// `herald deliveries list` shows the delivery GitHub refused to send again (`too_old`),
/// with GitHub's words, as the one failure, and the three others as stored.
async fn the_refused_delivery_is_listed_as_missing(
    fake: &FakeGitHub,
    harness: &Harness,
    too_old: &str,
) {
    let listed: serde_json::Value = serde_json::from_str(
        &deliveries_command(fake, harness, &["list", "--failed", "--json"]).await,
    )
    .expect("JSON list");
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["guid"], too_old);
    assert_eq!(
        listed[0]["request"]["refusal"],
        "This delivery is too old to redeliver"
    );
    let table = deliveries_command(fake, harness, &["list"]).await;
    assert!(
        table.contains("missing: GitHub refused to send it again"),
        "{table}"
    );
    assert_eq!(
        table.matches("stored").count(),
        3,
        "the report before and the two asked for again: {table}"
    );
}

/// GitHub gives up on a delivery after 10 s; herald answers one it cannot commit 503
/// within 5 s (allowed a little more here, on a busy test machine).
const ANSWERED_WITHIN: Duration = Duration::from_secs(7);

/// While the store cannot commit, each of three deliveries GitHub sends is answered 503
/// within the bound and `/readyz` says 503 promptly; once the store is back, herald notices
/// without a delivery, asks GitHub for the three again, and stores and processes them.
async fn an_outage_gets_prompt_503s_and_the_refused_come_back(
    harness: &Harness,
    fake: &FakeGitHub,
    first: usize,
    begin: impl FnOnce(),
    end: impl std::future::Future<Output = ()>,
) -> Vec<String> {
    begin();
    let mut refused = Vec::new();
    for number in first..first + 3 {
        let started = Instant::now();
        let (guid, status) = fake
            .send_webhook("repository_advisory", &numbered_report(number))
            .await;
        let took = started.elapsed();
        assert_eq!(
            status, 503,
            "delivery {number} while the store cannot commit"
        );
        assert!(
            took < ANSWERED_WITHIN,
            "delivery {number} answered after {took:?}"
        );
        refused.push(guid);
    }
    let started = Instant::now();
    let ready = harness
        .client
        .get(harness.url("/readyz"))
        .timeout(READY_WITHIN)
        .send()
        .await
        .expect("/readyz answers promptly while the store cannot commit");
    assert_eq!(
        ready.status().as_u16(),
        503,
        "after {:?}",
        started.elapsed()
    );
    end.await;
    until_stored(harness, &refused).await;
    harness.wait_processed().await;
    refused
}

/// GitHub's log is data: an entry dated a year ahead (a clock set wrong) does not move the
/// scans past what fails later, and a redelivery request GitHub answers 500 is counted, the
/// scan goes on with the next delivery, and a later scan asks for it again.
#[tokio::test]
async fn a_future_dated_entry_or_a_failing_request_does_not_stop_redelivery() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let mut harness = served_by_github(&fake).await;
    until_scan_released(&harness).await;
    fake.log_attempt(
        "issues",
        "from-the-future",
        chrono::Utc::now() + chrono::Duration::days(365),
        200,
    );
    let scanned = deliveries_command(&fake, &harness, &["resync", "--json"]).await;
    let state = harness
        .store
        .redelivery_scan()
        .await
        .expect("state")
        .expect("a row");
    assert!(
        state.scanned_through <= chrono::Utc::now(),
        "the scans' start never passes now: {state:?} after {scanned}"
    );
    harness.stop_server().await;
    let missed = sent_while_down(&fake, 1..=2).await;
    let first_attempt = first_attempts(&fake, &missed[..1])[0];
    fake.fail_next(
        "POST",
        &format!("/app/hook/deliveries/{first_attempt}/attempts"),
        500,
        None,
    );
    harness.start_server().await;
    until_stored(&harness, &missed[1..]).await;
    until_scan_released(&harness).await;
    assert!(
        harness
            .store
            .stored_guids(&[missed[0].as_str()])
            .await
            .expect("stored")
            .is_empty(),
        "GitHub failed that request"
    );
    let scanned = resync(&fake, &harness).await;
    assert_eq!(scanned["requested"], 1, "asked again: {scanned}");
    until_stored(&harness, &missed[..1]).await;
    harness.wait_all_jobs().await;
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// An answer larger than herald reads of one (32 MiB) is refused unread, in words the
/// operator can act on, and the next listing reads GitHub again.
#[tokio::test]
async fn an_oversized_answer_is_refused_unread() {
    let fake = world().await;
    let harness = served_by_github(&fake).await;
    until_scan_released(&harness).await;
    fake.inflate_next("GET", "/app/hook/deliveries", 33 << 20);
    let stderr = failed_listing(&fake, &harness).await;
    assert!(
        stderr.contains("GET /app/hook/deliveries")
            && stderr.contains("an answer over 32 MiB, not read"),
        "says which answer and why: {stderr}"
    );
    let listed = deliveries_command(&fake, &harness, &["list", "--failed", "--json"]).await;
    assert!(listed.trim_start().starts_with('['), "read again: {listed}");
    harness.stop().await;
}

/// A listing page longer than GitHub's 100 is refused, whole, in words that say so: a scan
/// keeps what it reads of every page, so no page may be larger than GitHub's.
#[tokio::test]
async fn a_page_of_more_deliveries_than_github_gives_is_refused() {
    let fake = world().await;
    let harness = served_by_github(&fake).await;
    until_scan_released(&harness).await;
    for number in 0..150 {
        fake.log_attempt("issues", &format!("many-{number}"), chrono::Utc::now(), 500);
    }
    fake.force_deliveries_page(150);
    let stderr = failed_listing(&fake, &harness).await;
    assert!(
        stderr.contains("a page of 150 deliveries, more than the 100 GitHub gives"),
        "says why: {stderr}"
    );
    harness.stop().await;
}

/// More attempts since the last finished scan than a scan reads (100 pages of 100, the
/// newest all delivered): the failures beyond them are reached by the next scan, which
/// goes on from the page where this one stopped.
#[tokio::test]
async fn failures_older_than_a_scans_pages_are_reached_by_the_next_scan() {
    let fake = world().await;
    let harness = served_by_github(&fake).await;
    until_scan_released(&harness).await;
    let now = chrono::Utc::now();
    let mut missed = Vec::new();
    for number in 1..=2 {
        let guid = format!("old-failure-{number}");
        fake.log_attempt("issues", &guid, now - chrono::Duration::milliseconds(10), 0);
        missed.push(guid);
    }
    for number in 0..10_000 {
        fake.log_attempt("issues", &format!("delivered-{number}"), now, 202);
    }
    let first = resync(&fake, &harness).await;
    assert_eq!(first["requested"], 0, "{first}");
    assert!(
        first["unfinished"]
            .as_str()
            .is_some_and(|why| why.contains("the next scan goes on")),
        "{first}"
    );
    let second = resync(&fake, &harness).await;
    assert_eq!(second["requested"], 2, "{second}");
    assert_eq!(second["unfinished"], serde_json::Value::Null, "{second}");
    let asked = fake.redelivery_requests();
    assert_eq!(
        asked,
        first_attempts(&fake, &missed),
        "each once, oldest first"
    );
    let state = harness
        .store
        .redelivery_scan()
        .await
        .expect("state")
        .expect("a row");
    assert!(state.scanned_at.is_some(), "finished: {state:?}");
    harness.stop().await;
}

/// An effect job under way when herald stops (GitHub slow to answer the tracking issue's
/// creation) is stopped after its grace and its lease released: started again, herald
/// takes it at once, not after the lease's minute, and the issue is made once.
#[tokio::test]
async fn a_job_under_way_at_stop_is_released_and_taken_at_once_after_restart() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let mut harness = served_by_github(&fake).await;
    let create = format!("/repos/{TRACKING_REPO}/issues");
    fake.delay_next("POST", &create, Duration::from_secs(120));
    let (_, status) = fake
        .send_webhook("repository_advisory", &numbered_report(1))
        .await;
    assert_eq!(status, 202);
    const HELD: &str = "SELECT COUNT(*) FROM outbox WHERE kind = 'sync_tracking_issue' \
                        AND state = 'pending' AND locked_by = 'test-replica' \
                        AND locked_until IS NOT NULL";
    for _ in 0..200 {
        if harness.count(HELD).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        harness.count(HELD).await,
        1,
        "the tracking issue's job is under way"
    );
    harness.stop_server().await;
    assert_eq!(harness.count(HELD).await, 0, "its lease was released");
    assert_eq!(
        harness
            .count("SELECT COUNT(*) FROM outbox WHERE kind = 'sync_tracking_issue' AND state = 'pending'")
            .await,
        1,
        "the job is still owed"
    );
    assert!(
        fake.issues(TRACKING_REPO).is_empty(),
        "GitHub made nothing yet"
    );
    harness.start_server().await;
    // Within the harness's 20 s, well before the lease's 60 s would have ended.
    harness.wait_all_jobs().await;
    assert_eq!(fake.issues(TRACKING_REPO).len(), 1, "one tracking issue");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// GitHub was asked once for each of `refused`, herald is ready again; stops herald.
async fn each_asked_for_once_and_ready(harness: Harness, fake: &FakeGitHub, refused: &[String]) {
    let mut asked = fake.redelivery_requests();
    asked.sort_unstable();
    assert_eq!(asked, first_attempts(fake, refused), "each asked for once");
    assert_eq!(harness.status_of("/readyz").await, 200);
    assert_no_unexpected(fake);
    harness.stop().await;
}

/// PostgreSQL stopped (connections refused), then stalled (connections taken, never
/// answered, as behind a broken network): both outages get prompt 503s, and what they
/// refused comes back through redelivery, each delivery asked for once.
#[tokio::test]
async fn on_postgresql_a_stopped_or_stalled_database_gets_prompt_503s_and_nothing_is_lost() {
    let fake = world().await;
    let database = common::postgres_database().await;
    let (prefix, rest) = database.split_once('@').expect("user@host");
    let (server, name) = rest.split_once('/').expect("host/database");
    let relay = common::cut::CutRelay::start(server.to_owned()).await;
    let through_relay = format!("{prefix}@{}/{name}", relay.addr);
    let harness = served_by_github_with(&fake, |settings| {
        settings.database_url = through_relay.clone();
    })
    .await;
    let mut refused = an_outage_gets_prompt_503s_and_the_refused_come_back(
        &harness,
        &fake,
        1,
        || relay.cut(),
        async { relay.restore() },
    )
    .await;
    refused.extend(
        an_outage_gets_prompt_503s_and_the_refused_come_back(
            &harness,
            &fake,
            4,
            || relay.stall(),
            async { relay.restore() },
        )
        .await,
    );
    each_asked_for_once_and_ready(harness, &fake, &refused).await;
}

/// SQLite's file locked by another process's write transaction: reads still work, but
/// nothing commits. Deliveries get prompt 503s, `/readyz` says so, and once the lock is
/// gone the refused deliveries come back through redelivery.
#[tokio::test]
async fn on_sqlite_a_locked_store_gets_prompt_503s_and_nothing_is_lost() {
    let fake = world().await;
    let harness = served_by_github(&fake).await;
    let mut locker = sqlx::SqliteConnection::connect(&harness.database_url)
        .await
        .expect("another connection to the file");
    let mut lock = Some(
        sqlx::Connection::begin_with(&mut locker, "BEGIN EXCLUSIVE")
            .await
            .expect("the write lock"),
    );
    let refused =
        an_outage_gets_prompt_503s_and_the_refused_come_back(&harness, &fake, 1, || {}, async {
            lock.take()
                .expect("held")
                .rollback()
                .await
                .expect("lock released");
        })
        .await;
    each_asked_for_once_and_ready(harness, &fake, &refused).await;
}
