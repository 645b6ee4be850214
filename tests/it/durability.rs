//! `herald serve` killed (SIGKILL) while its store's writer commits batches of a burst of
//! deliveries: every delivery answered 202 is in the store, and each delivery, sent again
//! as GitHub redelivers it, is stored once in all and processed once, on both stores.

use crate::common::app::{answers_ping, free_address, post_to};
use crate::common::{self, fixture};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Deliveries in the burst, each a new advisory.
const DELIVERIES: usize = 600;
/// Senders at once: enough that the writer always has a batch committing and the next
/// one gathering.
const SENDERS: usize = 48;
/// Answers 202 seen before the kill.
const KILL_AFTER: usize = 150;

fn serve(database: &str, port: u16) -> common::Spawned {
    common::Spawned(
        std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .env("HERALD_DATABASE_URL", database)
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_WEBHOOK_SECRET", common::SECRET)
            .env("HERALD_WORKER_POLL_INTERVAL_MS", "50")
            .env("HERALD_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("herald serve starts"),
    )
}

/// Delivery `index`: a report of an advisory of its own.
fn delivery(index: usize) -> (String, Vec<u8>) {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
            .expect("JSON");
    body["repository_advisory"]["ghsa_id"] =
        format!("GHSA-kill-{:04}-{:04}", index / 100, index % 100).into();
    (
        format!("burst-{index}"),
        serde_json::to_vec(&body).expect("JSON"),
    )
}

async fn count(pool: &sqlx::AnyPool, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_kill_mid_batch_loses_nothing_answered_and_processes_nothing_twice_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = common::sqlite_url(dir.path());
    a_kill_mid_batch_loses_nothing_answered_and_processes_nothing_twice(&database).await;
}

#[tokio::test]
async fn a_kill_mid_batch_loses_nothing_answered_and_processes_nothing_twice_on_postgresql() {
    let database = common::postgres_database().await;
    a_kill_mid_batch_loses_nothing_answered_and_processes_nothing_twice(&database).await;
}

async fn a_kill_mid_batch_loses_nothing_answered_and_processes_nothing_twice(database: &str) {
    let port = free_address().port();
    let mut first = serve(database, port);
    assert!(answers_ping(port, "ping-1").await, "herald came up");

    // The burst: each sender posts deliveries in turn; the kill comes once KILL_AFTER are
    // answered 202, while the others are on their way or waiting for their commit.
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (next, accepted) = (next.clone(), accepted.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= DELIVERIES {
                        return answers;
                    }
                    let (id, body) = delivery(index);
                    let status = post_to(port, "repository_advisory", &id, &body).await;
                    if status == Some(202) {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    answers.push((index, status));
                    if status.is_none() {
                        return answers;
                    }
                }
            })
        })
        .collect();
    while accepted.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    first.kill().expect("SIGKILL herald");
    first.wait().expect("reaped");
    let mut answered = vec![None; DELIVERIES];
    for sender in senders {
        for (index, status) in sender.await.expect("sender") {
            answered[index] = status;
        }
    }
    let before: Vec<usize> = (0..DELIVERIES)
        .filter(|index| answered[*index] == Some(202))
        .collect();
    let cut_off = (0..DELIVERIES)
        .filter(|index| next.load(Ordering::SeqCst) > *index && answered[*index].is_none())
        .count();
    assert!(
        before.len() >= KILL_AFTER && before.len() < DELIVERIES,
        "the kill came mid-burst: {} of {DELIVERIES} answered 202",
        before.len()
    );
    assert!(
        cut_off > 0,
        "deliveries were in flight (waiting for their commit) when herald was killed"
    );
    assert!(
        answered
            .iter()
            .all(|status| matches!(status, None | Some(202))),
        "before the kill, each delivery is answered 202 or not at all: {answered:?}"
    );

    // Every delivery answered 202 is stored, with its processing job.
    let pool = common::any_pool(database).await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT delivery_id FROM deliveries")
        .fetch_all(&pool)
        .await
        .expect("stored deliveries");
    for index in &before {
        let (id, _) = delivery(*index);
        assert!(
            stored.contains(&id),
            "{id} was answered 202 but is not stored"
        );
    }
    assert_eq!(
        processing_owed(&pool, database).await,
        i64::try_from(stored.len()).expect("count"),
        "each stored delivery has its one processing job, or waits for the worker to queue it"
    );

    // GitHub redelivers: every delivery again, in full. Each is stored once in all: one
    // answered 202 before the kill, or stored then but never answered (its commit landed,
    // the answer was lost), is now a duplicate; any other is accepted now.
    let port = free_address().port();
    let mut second = serve(database, port);
    assert!(answers_ping(port, "ping-2").await, "herald came back");
    let mut accepted_in_all = before.len();
    for index in 0..DELIVERIES {
        let (id, body) = delivery(index);
        let status = post_to(port, "repository_advisory", &id, &body).await;
        match status {
            Some(202) => {
                assert!(
                    !before.contains(&index),
                    "{id} was accepted before the kill and again after"
                );
                accepted_in_all += 1;
            }
            Some(200) => assert!(
                stored.contains(&id),
                "{id} was a duplicate without having been stored"
            ),
            other => panic!("{id} sent again: {other:?}"),
        }
    }
    let stored_unanswered = stored.len() - before.len();
    assert_eq!(
        accepted_in_all + stored_unanswered,
        DELIVERIES,
        "each delivery is stored once: {accepted_in_all} accepted, {stored_unanswered} stored \
         before the kill without an answer"
    );

    // Each delivery is processed once: one job each, all done, one incident each.
    let mut settled = false;
    for _ in 0..600 {
        // Unqueued first: the worker's commit that queues a job moves it to the other count.
        let unqueued = unqueued(&pool, database).await;
        let pending = unqueued
            + count(
                &pool,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'process_delivery' AND state <> 'done'",
            )
            .await;
        if pending == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(settled, "the worker processed every stored delivery");
    let total = i64::try_from(DELIVERIES).expect("count");
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM deliveries").await, total);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'process_delivery'"
        )
        .await,
        total
    );
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM incidents").await, total);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'process_delivery' AND last_error IS NOT NULL"
        )
        .await,
        0,
        "no delivery failed to process"
    );
    second.kill().expect("stop herald");
    second.wait().expect("reaped");
}

/// Deliveries admitted without a pause (each batch committed as soon as the last one is)
/// keep SQLite's write-ahead log bounded: checkpoints keep up, and the log is reused.
#[tokio::test]
async fn the_write_ahead_log_stays_bounded_while_deliveries_keep_coming() {
    use herald::incident::DeliveryId;
    use herald::store::{NewDelivery, Store, compress_payload};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&common::sqlite_url(dir.path()))
        .await
        .expect("store");
    // 3,000 deliveries of 16 KB that do not compress: 48 MB through the log.
    let mut state: u64 = 29;
    let mut noise = |length: usize| -> Vec<u8> {
        (0..length)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                b'a' + (state >> 59) as u8
            })
            .collect()
    };
    let mut largest_log = 0;
    for batch in 0..300 {
        let deliveries = (0..10)
            .map(|index| NewDelivery {
                delivery_id: DeliveryId::parse(&format!("wal-{batch}-{index}")).expect("id"),
                event: "repository_advisory".to_owned(),
                action: Some("reported".to_owned()),
                repository: None,
                installation_id: None,
                payload_lz4: compress_payload(&noise(16 * 1024)),
                body_signature: None,
                received_at: chrono::Utc::now(),
            })
            .collect();
        store.admit(deliveries).await.expect("admitted");
        let log = std::fs::metadata(dir.path().join("herald.db-wal"))
            .map(|metadata| metadata.len())
            .unwrap_or_default();
        largest_log = largest_log.max(log);
    }
    assert!(
        largest_log < 16 * 1024 * 1024,
        "the write-ahead log grew to {largest_log} bytes for 48 MB admitted"
    );
    store.close().await;
}

/// Stored deliveries with their processing job, or waiting for the worker to queue it (on
/// SQLite the worker queues them: `Work::queue_admitted`).
async fn processing_owed(pool: &sqlx::AnyPool, database: &str) -> i64 {
    count(
        pool,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'process_delivery'",
    )
    .await
        + unqueued(pool, database).await
}

/// SQLite: the stored deliveries whose processing jobs the worker is yet to queue.
async fn unqueued(pool: &sqlx::AnyPool, database: &str) -> i64 {
    if !database.starts_with("sqlite:") {
        return 0;
    }
    count(
        pool,
        "SELECT COUNT(*) FROM deliveries \
         WHERE rowid > (SELECT through_rowid FROM deliveries_queued)",
    )
    .await
}

/// A report of an advisory as ingest makes it ready for the store, under delivery `id`.
fn advisory(id: &str) -> herald::store::NewDelivery {
    let (_, body) = delivery(0);
    herald::ingest::new_delivery(
        &herald::incident::DeliveryId::parse(id).expect("id"),
        herald::ingest::events::EventKind::RepositoryAdvisory,
        &body,
    )
    .expect("a delivery")
}

/// On PostgreSQL the admitting connection is kept from batch to batch without a check:
/// when the server ends it (a restart, an administrator's `pg_terminate_backend`), the
/// next batch is still admitted, on a new connection, and nothing is stored twice.
#[tokio::test]
async fn on_postgresql_a_batch_after_the_server_ends_the_admitting_connection_is_admitted() {
    use herald::store::{Admission, Store};
    common::on_postgresql(async {
        let url = common::postgres_database().await;
        let store = Store::open(&url).await.expect("store");
        let first = store
            .admit(vec![advisory("before")])
            .await
            .expect("admitted");
        assert_eq!(first, [Admission::Accepted]);

        let pool = common::any_pool(&url).await;
        let ended = count(
            &pool,
            "SELECT count(*) FROM pg_stat_activity, pg_terminate_backend(pid) \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
        assert!(ended >= 1, "the store's connections were ended");

        let second = store
            .admit(vec![advisory("after"), advisory("before")])
            .await
            .expect("admitted on a new connection");
        assert_eq!(second, [Admission::Accepted, Admission::Duplicate]);
        assert_eq!(count(&pool, "SELECT count(*) FROM deliveries").await, 2);
        let jobs = "SELECT count(*) FROM outbox WHERE kind = 'process_delivery'";
        assert_eq!(count(&pool, jobs).await, 2);
        pool.close().await;
        store.close().await;
    })
    .await;
}

/// On PostgreSQL a batch whose held admitting connection stops answering without a word
/// (a firewall that forgot it: nothing comes back, nothing is refused) is answered at its
/// bound, and the next batch is admitted on a new connection: the silent one is closed,
/// not given back to the pool, whose check of it would wait as long as TCP does.
#[tokio::test]
async fn on_postgresql_a_silently_dropped_admitting_connection_costs_one_batch() {
    use herald::store::{Admission, Store};
    common::on_postgresql(async {
        let url = common::postgres_database().await;
        let (through, proxy) = Proxy::start(&url).await;
        let store = Store::open(&through).await.expect("store");
        let first = store
            .admit(vec![advisory("first")])
            .await
            .expect("admitted");
        assert_eq!(first, [Admission::Accepted]);

        proxy.silence_open_connections();
        let bound = Duration::from_secs(2);
        let silenced = tokio::time::timeout(bound, store.admit(vec![advisory("lost")])).await;
        assert!(
            silenced.is_err(),
            "a silent connection answered: {silenced:?}"
        );
        let next = tokio::time::timeout(bound, store.admit(vec![advisory("next")]))
            .await
            .expect("the next batch is not held up by the silent connection")
            .expect("admitted");
        assert_eq!(next, [Admission::Accepted]);
        store.close().await;
    })
    .await;
}

/// On PostgreSQL a batch the database refuses (here a trigger refuses one delivery) fails
/// once, without being run again as a lost connection would be, and the next batch is
/// admitted on the same connection.
#[tokio::test]
async fn on_postgresql_a_refused_batch_is_not_run_twice() {
    use herald::store::{Admission, Store};
    common::on_postgresql(async {
        let url = common::postgres_database().await;
        let store = Store::open(&url).await.expect("store");
        let pool = common::any_pool(&url).await;
        for statement in [
            "CREATE SEQUENCE admit_tries",
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               PERFORM nextval('admit_tries'); \
               IF NEW.delivery_id = 'refused' THEN RAISE EXCEPTION 'refused by a trigger'; END IF; \
               RETURN NEW; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION refuse()",
        ] {
            sqlx::query(statement).execute(&pool).await.expect(statement);
        }
        let first = store.admit(vec![advisory("first")]).await.expect("admitted");
        assert_eq!(first, [Admission::Accepted]);
        // On the connection held since the first batch, the one a lost connection is
        // run again from.
        let error = store
            .admit(vec![advisory("refused")])
            .await
            .expect_err("refused");
        assert!(error.to_string().contains("refused by a trigger"), "{error}");
        let tries = "SELECT last_value FROM admit_tries";
        assert_eq!(count(&pool, tries).await, 2, "the refused batch ran once");
        let next = store.admit(vec![advisory("next")]).await.expect("admitted");
        assert_eq!(next, [Admission::Accepted]);
        pool.close().await;
        store.close().await;
    })
    .await;
}

/// A TCP proxy on loopback to a PostgreSQL server, whose open connections can be made to
/// stop carrying bytes while staying open; connections opened later carry on.
struct Proxy {
    open: Arc<std::sync::Mutex<Vec<Arc<std::sync::atomic::AtomicBool>>>>,
}

impl Proxy {
    /// A proxy to the server of `url`, and `url` through it.
    async fn start(url: &str) -> (String, Proxy) {
        let mut through = reqwest::Url::parse(url).expect("a database URL");
        let server = format!(
            "{}:{}",
            through.host_str().expect("a host"),
            through.port().unwrap_or(5432)
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        through.set_port(Some(port)).expect("a port");
        let open: Arc<std::sync::Mutex<Vec<_>>> = Arc::default();
        let accepted = Arc::clone(&open);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let silent = Arc::new(std::sync::atomic::AtomicBool::new(false));
                accepted
                    .lock()
                    .expect("connections")
                    .push(Arc::clone(&silent));
                let upstream = tokio::net::TcpStream::connect(&server)
                    .await
                    .expect("the server");
                let (client_in, client_out) = client.into_split();
                let (server_in, server_out) = upstream.into_split();
                tokio::spawn(carry(client_in, server_out, Arc::clone(&silent)));
                tokio::spawn(carry(server_in, client_out, silent));
            }
        });
        (through.to_string(), Proxy { open })
    }

    fn silence_open_connections(&self) {
        for silent in self.open.lock().expect("connections").iter() {
            silent.store(true, Ordering::SeqCst);
        }
    }
}

/// Copies `from` to `to` until either closes; once `silent`, keeps both open and carries
/// nothing more.
async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(read) = from.read(&mut buffer).await {
        if silent.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if read == 0 || to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
}
