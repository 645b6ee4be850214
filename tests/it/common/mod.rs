//! A herald server on a loopback port with its own SQLite store, and helpers to talk to it
//! the way GitHub does.

use herald::config::WorkerSettings;
use herald::config::{LogFormat, Settings};
use herald::ingest::signature;
use herald::server::Server;
use herald::store::Store;
use secrecy::SecretString;
use std::path::Path;
use std::time::Duration;

pub const SECRET: &str = "It's a Secret to Everybody";

/// An HTTP client for tests. herald's reqwest takes its TLS crypto from the process (ring,
/// which herald installs when it starts), so a test that talks before starting herald
/// installs it too.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Serves `app` on a free loopback port for the rest of the test; returns its base URL.
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// The URL of a SQLite store in `dir` (the file `herald.db`, created on first open).
pub fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("herald.db").display())
}

/// A GHSA id the test names.
pub fn ghsa(id: &str) -> herald::incident::GhsaId {
    herald::incident::GhsaId::parse(id).expect("a GHSA id")
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("fixture {}: {error}", path.display()))
}

pub fn fixture_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
}

pub fn settings(database_url: &str, worker_enabled: bool) -> Settings {
    Settings {
        database_url: database_url.to_owned(),
        database_max_connections: herald::store::DEFAULT_MAX_CONNECTIONS,
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        metrics_listen: None,
        webhook_secret: Some(SecretString::from(SECRET)),
        log_format: LogFormat::Human,
        log_filter: None,
        max_body_bytes: herald::config::DEFAULT_MAX_BODY_BYTES,
        worker_enabled,
        worker: WorkerSettings {
            poll_interval: Duration::from_millis(50),
            ..WorkerSettings::default()
        },
        github: None,
        github_urls: herald::config::GitHubUrls {
            api_url: herald::config::DEFAULT_GITHUB_API_URL.to_owned(),
            web_url: "https://github.com".to_owned(),
        },
        mail: herald::config::MailSettings::default(),
        channels: herald::config::ChannelSecrets::default(),
        intake: herald::config::IntakeSettings::default(),
        mailbox: None,
        upstream: None,
        replica_id: "test-replica".to_owned(),
        drain: Duration::ZERO,
    }
}

pub enum Signature {
    Valid,
    Missing,
    Header(&'static str),
}

pub struct Answer {
    pub status: u16,
    pub body: String,
}

pub struct Harness {
    /// The store's folder, removed with the harness.
    _dir: tempfile::TempDir,
    pub database_url: String,
    pub settings: Settings,
    pub server: Option<Server>,
    pub client: reqwest::Client,
    pub store: Store,
}

impl Harness {
    pub async fn start(worker_enabled: bool) -> Harness {
        Harness::start_with(worker_enabled, |_| {}).await
    }

    /// A harness whose settings `adjust` changes first (a GitHub App, say, or a PostgreSQL
    /// store instead of the SQLite file).
    pub async fn start_with(worker_enabled: bool, adjust: impl FnOnce(&mut Settings)) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite_url = sqlite_url(dir.path());
        let mut settings = settings(&sqlite_url, worker_enabled);
        if ON_POSTGRESQL.try_with(|_| ()).is_ok() {
            settings.database_url = postgres_database().await;
        }
        adjust(&mut settings);
        let database_url = settings.database_url.clone();
        let server = Server::start(&settings).await.expect("server starts");
        let store = Store::open(&database_url).await.expect("store opens");
        Harness {
            _dir: dir,
            database_url,
            settings,
            server: Some(server),
            client: http_client(),
            store,
        }
    }

    pub fn url(&self, path: &str) -> String {
        let server = self.server.as_ref().expect("server running");
        format!("http://{}{path}", server.addr)
    }

    pub async fn restart(&mut self, worker_enabled: bool) {
        self.stop_server().await;
        self.settings.worker_enabled = worker_enabled;
        self.start_server().await;
    }

    /// Stops herald (as SIGTERM would, after the drain), keeping its store.
    pub async fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("server stops");
        }
    }

    /// Starts herald again with the harness's settings (the same address and store).
    pub async fn start_server(&mut self) {
        self.server = Some(
            Server::start(&self.settings)
                .await
                .expect("server restarts"),
        );
    }

    /// The status `GET path` answers.
    pub async fn status_of(&self, path: &str) -> u16 {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
            .status()
            .as_u16()
    }

    pub async fn deliver(&self, event: &str, delivery_id: &str, body: &[u8]) -> Answer {
        self.post(
            event,
            delivery_id,
            body,
            "application/json",
            Signature::Valid,
        )
        .await
    }

    pub async fn post(
        &self,
        event: &str,
        delivery_id: &str,
        body: &[u8],
        content_type: &str,
        signature: Signature,
    ) -> Answer {
        let mut request = self
            .client
            .post(self.url("/webhooks"))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery_id)
            .header("Content-Type", content_type)
            .header("User-Agent", "GitHub-Hookshot/test")
            .body(body.to_vec());
        match signature {
            Signature::Valid => {
                request = request.header(
                    "X-Hub-Signature-256",
                    signature::sign(&SecretString::from(SECRET), body),
                );
            }
            Signature::Missing => {}
            Signature::Header(value) => request = request.header("X-Hub-Signature-256", value),
        }
        let response = request.send().await.expect("request reaches herald");
        Answer {
            status: response.status().as_u16(),
            body: response.text().await.expect("answer body"),
        }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// Stored deliveries whose processing jobs the worker is yet to queue (SQLite; see
    /// `Store::queue_admitted`). Read before the pending jobs: the worker's commit that
    /// queues a delivery's job moves it from this count to theirs.
    pub async fn unqueued(&self) -> i64 {
        self.store
            .unqueued_deliveries()
            .await
            .expect("unqueued deliveries")
            .count
    }

    /// Waits until no delivery is left to process; fails the test if that never happens.
    pub async fn wait_processed(&self) {
        const PENDING: &str =
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND kind = 'process_delivery'";
        self.until(PENDING, async || {
            let unqueued = self.unqueued().await;
            unqueued + self.count(PENDING).await == 0
        })
        .await;
    }

    /// Waits until no job at all is pending, GitHub effects and retries included, except
    /// work scheduled for later (reminders, a look at a fork being created) that is not due
    /// yet.
    pub async fn wait_all_jobs(&self) {
        const PENDING: &str = "SELECT COUNT(*) FROM outbox WHERE state = 'pending' \
                               AND NOT (attempts = 0 AND run_after > $1)";
        self.until(PENDING, async || {
            let unqueued = self.unqueued().await;
            let pending: i64 = sqlx::query_scalar(PENDING)
                .bind(now_millis())
                .fetch_one(self.store.pool())
                .await
                .unwrap_or_else(|error| panic!("{PENDING}: {error}"));
            unqueued + pending == 0
        })
        .await;
    }

    /// Scheduled jobs waiting for their time (reminders, checks), as (idempotency key, due
    /// in how many seconds).
    pub async fn pending_reminders(&self) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT idempotency_key, (run_after - $1) / 1000 FROM outbox \
             WHERE state = 'pending' AND attempts = 0 ORDER BY id",
        )
        .bind(now_millis())
        .fetch_all(self.store.pool())
        .await
        .expect("pending reminders")
    }

    /// Moves the clock of the queue: scheduled jobs whose key contains `stage` are due now
    /// (as if their time had come), then waits for them to run.
    pub async fn bring_forward(&self, stage: &str) {
        let writer = any_pool(&self.database_url).await;
        let moved = sqlx::query(
            "UPDATE outbox SET run_after = 0 WHERE state = 'pending' AND attempts = 0 \
             AND idempotency_key LIKE '%:' || $1 || '%'",
        )
        .bind(stage)
        .execute(&writer)
        .await
        .expect("reminders brought forward")
        .rows_affected();
        writer.close().await;
        assert!(moved > 0, "no pending {stage} reminder to bring forward");
        self.wait_all_jobs().await;
    }

    /// Waits until `done` holds, checking again each time herald's worker or effect runner
    /// reports it has nothing due (never by polling); fails at once when one of herald's
    /// background tasks has ended, and after 20 s without `done`.
    pub async fn until(&self, what: &str, mut done: impl AsyncFnMut() -> bool) {
        let server = self.server.as_ref().expect("server running");
        // Subscribed before checking, so an idle moment after the check is not missed.
        let mut idle = server.idle();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut settled = done().await;
        while !settled {
            if let Some(task) = server.ended_task() {
                panic!("herald's {task} ended while the test waited for {what}");
            }
            if tokio::time::Instant::now() >= deadline {
                self.give_up_waiting(what).await;
            }
            // A short timeout only to notice an ended task; `done` waits for idleness.
            if let Ok(changed) =
                tokio::time::timeout(Duration::from_millis(100), idle.changed()).await
            {
                changed.expect("herald's idle signal");
                settled = done().await;
            }
        }
    }

    async fn give_up_waiting(&self, what: &str) -> ! {
        let stuck: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT kind, last_error FROM outbox WHERE state = 'pending' AND run_after <= $1 \
             ORDER BY id",
        )
        .bind(now_millis())
        .fetch_all(self.store.pool())
        .await
        .unwrap_or_default();
        panic!("not settled within 20 s ({what}); pending jobs: {stuck:?}");
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("server stops");
        }
        self.store.close().await;
    }
}

/// Now, as the store keeps time: Unix milliseconds.
fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A `herald` process the test started, killed and reaped when dropped: a test that fails
/// before it stops one leaves nothing running behind it (a server polling its store, on a
/// port, using the CPU the next tests and benchmarks measure with).
pub struct Spawned(pub std::process::Child);

impl std::ops::Deref for Spawned {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Killing one that has ended already fails; either way it is reaped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub mod app;
pub mod chat;
pub mod cut;
pub mod discourse;
pub mod github;
pub mod gitserver;
pub mod imap;
pub mod mail;
pub mod mediawiki;
pub mod osv;
pub mod tracking;
pub mod upstreams;

tokio::task_local! {
    /// Set while a test runs on PostgreSQL: every harness it starts stores there, and the
    /// databases made for it are listed here.
    static ON_POSTGRESQL: std::sync::Arc<std::sync::Mutex<Vec<String>>>;
}

/// Runs `test` with every harness it starts on a fresh PostgreSQL database. The databases
/// are dropped when the test passes, as each takes about 8 MB of the server's disk; a
/// failed test's stay to be looked at.
pub async fn on_postgresql(test: impl std::future::Future<Output = ()>) {
    use sqlx::Executor;
    let databases = std::sync::Arc::default();
    ON_POSTGRESQL
        .scope(std::sync::Arc::clone(&databases), test)
        .await;
    let names = std::mem::take(&mut *databases.lock().expect("the test's databases"));
    if names.is_empty() {
        return;
    }
    let mut admin = postgres_admin().await;
    for name in names {
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .expect("drop the test database");
    }
}

/// Two tests of `body`: on a fresh SQLite file, and on a fresh PostgreSQL database.
#[macro_export]
macro_rules! on_both_stores {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("tempdir");
            $body(&$crate::common::sqlite_url(dir.path())).await;
        }

        #[tokio::test]
        async fn $postgres() {
            $crate::common::on_postgresql(async {
                $body(&$crate::common::postgres_database().await).await
            })
            .await;
        }
    };
}

/// The test `async fn $test()`, twice: `$test::sqlite` with its harnesses on a SQLite
/// file, `$test::postgresql` on a PostgreSQL database.
#[macro_export]
macro_rules! both_stores {
    ($test:ident) => {
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test().await;
            }

            #[tokio::test]
            async fn postgresql() {
                $crate::common::on_postgresql(super::$test()).await;
            }
        }
    };
}

/// `source` copied with `herald store copy`'s code to a fresh PostgreSQL database, and from
/// there to a fresh SQLite file (in the folder returned with it).
pub async fn copied_there_and_back(
    source: &herald::store::Store,
) -> (
    herald::store::Store,
    herald::store::Store,
    tempfile::TempDir,
) {
    use herald::store::Store;
    let postgres = Store::open(&postgres_database().await)
        .await
        .expect("store");
    source.copy_to(&postgres).await.expect("copied");
    let back = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open(&sqlite_url(back.path())).await.expect("store");
    postgres.copy_to(&sqlite).await.expect("copied back");
    (postgres, sqlite, back)
}

/// A fresh, empty PostgreSQL database for one test, on the server named by
/// `HERALD_TEST_POSTGRES_URL` (as `.ci/run` starts it); its URL.
pub async fn postgres_database() -> String {
    use sqlx::Executor;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "herald_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut admin = postgres_admin().await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .await
        .expect("drop an old test database");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create the test database");
    // Listed to be dropped when the test passes (`on_postgresql`).
    let _outside_on_postgresql = ON_POSTGRESQL.try_with(|databases| {
        databases
            .lock()
            .expect("the test's databases")
            .push(name.clone())
    });
    let server = postgres_server();
    let (base, _) = server.rsplit_once('/').expect("a database URL");
    format!("{base}/{name}")
}

/// The PostgreSQL server's URL, `HERALD_TEST_POSTGRES_URL`.
fn postgres_server() -> String {
    std::env::var("HERALD_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL tests need a server: set HERALD_TEST_POSTGRES_URL to \
             postgres://USER@127.0.0.1:PORT/postgres (.ci/run starts one with initdb and \
             pg_ctl as the postgres user and sets it)"
        )
    })
}

/// A connection to the server's administrative database, to create and drop test databases.
async fn postgres_admin() -> sqlx::PgConnection {
    <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_server())
        .await
        .unwrap_or_else(|error| {
            panic!("cannot reach PostgreSQL at HERALD_TEST_POSTGRES_URL: {error}")
        })
}

/// Any SQL connection to a store's database (SQLite or PostgreSQL), for tests that look
/// at or move its rows.
pub async fn any_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url)
        .await
        .expect("a connection to the store")
}
