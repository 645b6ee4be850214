//! Webhook ingest and processing benchmark: `cargo bench --bench ingest`.
//!
//! Starts the release `herald serve` on a loopback port with a fresh SQLite store
//! (WAL, synchronous=FULL) and its outbox worker, then sends signed ~20 KB
//! `repository_advisory` deliveries, each with a unique delivery id:
//!
//! 1. throughput: for each of CONCURRENCY (a list) connections, as fast as herald answers,
//!    for DURATION in all, with herald's peak resident memory; every server of the phase
//!    (herald on each store, and the "ceiling" and "probot" servers below) is loaded in
//!    SLICES turns of DURATION/SLICES, one server after the other, so that their ratios
//!    compare the same seconds of the machine;
//! 2. latency: an open-loop schedule of RATE deliveries/s for DURATION, each latency
//!    measured from its scheduled send time (so a stall cannot hide queued requests);
//! 3. processing: the store worker turning PROCESS stored deliveries (each a new
//!    advisory) into incidents, timelines and jobs, in-process, on an empty store and on
//!    one that already holds LARGE incidents with as many reminders pending for later.
//!
//! After phases 1 and 2 it checks that every delivery answered 202 is in the store. Phase
//! "ceiling" loads a fresh herald the same way with deliveries signed with another secret
//! (each read, checked and answered 401, nothing stored: what HTTP and HMAC allow) and
//! prints herald's accepted rate on SQLite as a fraction of it. Phase
//! "probot" loads Probot 14.3.2 (benches/probot, a handler that stores nothing; needs
//! Node.js 20.18 or later and npm) the same way, in turn with herald at each concurrency,
//! and prints how many times Probot's rate herald accepted on SQLite.
//! Settings: HERALD_BENCH_SECONDS (default 10), HERALD_BENCH_SLICES (5),
//! HERALD_BENCH_CONCURRENCY (16,128), HERALD_BENCH_RATE (1000), HERALD_BENCH_PROCESS
//! (20000), HERALD_BENCH_LARGE (100000), HERALD_BENCH_PHASES
//! (throughput,ceiling,probot,latency,processing), HERALD_BENCH_ROUNDS (3: runs of the
//! processing phase, each store in turn). The server inherits the environment, so
//! HERALD_WORKER_ENABLED=false measures ingest alone. HERALD_BENCH_POSTGRES_URL
//! (`postgres://USER@HOST:PORT/postgres`, PostgreSQL 13 or later) adds herald on
//! PostgreSQL to the throughput phase's turns, and runs the latency and processing phases
//! again right after each SQLite run, each on a fresh database on that server (dropped
//! when the run has passed; a failed run's stays to be looked at), and prints
//! PostgreSQL's throughput and processing rates as multiples of SQLite's; with it
//! HERALD_BENCH_REPLICAS (1) starts that many `herald serve` replicas on the PostgreSQL
//! database, new connections spread over them in turn (a load balancer's round robin).

use bytes::Bytes;
use hdrhistogram::Histogram;
use herald::ingest::signature;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use secrecy::SecretString;
use sha2::Sha256;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

// The processing phase runs herald's worker in this process: with herald's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-secret";
const PAYLOAD_BYTES: usize = 20 * 1024;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A comma-separated list of numbers.
fn settings(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|value| value.trim().parse().ok())
        .collect()
}

/// Starts the process's peak resident memory again from its present size (Linux's
/// `clear_refs`), so a peak read later is that of what it did since; whether it could.
fn reset_peak_rss(process: &Child) -> bool {
    std::fs::write(format!("/proc/{}/clear_refs", process.id()), "5").is_ok()
}

/// The process's peak resident memory (Linux's VmHWM), in megabytes.
fn peak_rss_mb(process: &Child) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.id())).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes / 1024.0)
}

/// A `repository_advisory` delivery of a new advisory, number `index`, as ingest stores it.
fn new_advisory_delivery(body: &serde_json::Value, index: u64) -> herald::store::NewDelivery {
    let mut body = body.clone();
    body["repository_advisory"]["ghsa_id"] =
        format!("GHSA-bnch-{:04}-{:04}", index / 10_000, index % 10_000).into();
    let bytes = serde_json::to_vec(&body).expect("JSON");
    herald::ingest::new_delivery(
        &herald::incident::DeliveryId::parse(&format!("process-{index}")).expect("an id"),
        herald::ingest::events::EventKind::RepositoryAdvisory,
        &bytes,
    )
    .expect("a valid repository_advisory payload")
}

/// Fills a store with `count` incidents over 100 repositories, each with a job pending a
/// month from now (as reminders wait).
async fn fill(store: &herald::store::Store, count: u64) {
    use herald::incident::{GhsaId, Incident, RepoName};
    let later = chrono::Utc::now() + chrono::Duration::days(30);
    for chunk in (0..count).step_by(2_000) {
        let mut work = store.begin().await.expect("work");
        for index in chunk..(chunk + 2_000).min(count) {
            let repository = RepoName::parse(&format!("bench/repo-{}", index % 100)).expect("name");
            let ghsa = GhsaId::parse(&format!(
                "GHSA-fill-{:04}-{:04}",
                index / 10_000,
                index % 10_000
            ))
            .expect("GHSA id");
            let at = chrono::Utc::now();
            let incident = Incident::new(repository, ghsa, at);
            let (id, _) = work.save_incident(&incident, at).await.expect("saved");
            let job = herald::jobs::Job::PostReview { incident: id };
            work.enqueue_at(&job, &format!("fill-{index}"), later)
                .expect("queued");
        }
        work.commit().await.expect("committed");
    }
}

/// Times `herald incidents list`'s queries: the first page, a filtered page and a deep page,
/// each the best of five.
async fn list_timings(store: &herald::store::Store) {
    use herald::incident::{Phase, RepoName};
    use herald::store::IncidentFilter;
    let filters = [
        ("first page", IncidentFilter::default()),
        (
            "--phase awareness --repo bench/repo-7",
            IncidentFilter {
                phase: Some(Phase::Awareness),
                repository: RepoName::parse("bench/repo-7").ok(),
                ..IncidentFilter::default()
            },
        ),
        (
            "--page 100",
            IncidentFilter {
                page: 100,
                ..IncidentFilter::default()
            },
        ),
    ];
    let mut timings = Vec::new();
    for (name, filter) in &filters {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            store.list_incidents(filter).await.expect("listed");
            best = best.min(started.elapsed());
        }
        timings.push(format!("{name} {:.1} ms", best.as_secs_f64() * 1000.0));
    }
    println!("  incidents list: {}", timings.join(", "));
}

/// CPU seconds (user and system) spent so far by this process and by every process
/// named `postgres` on this machine: where a processing run's time goes.
fn cpu_seconds() -> (f64, f64) {
    // Linux counts in clock ticks of 1/100 s (USER_HZ) on every architecture it runs on.
    fn ticks(stat: &str) -> Option<(String, f64)> {
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let user: f64 = fields.get(11)?.parse().ok()?;
        let system: f64 = fields.get(12)?.parse().ok()?;
        Some((name.to_owned(), (user + system) / 100.0))
    }
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| ticks(&stat))
        .map_or(0.0, |(_, seconds)| seconds);
    let database = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| ticks(&stat))
        .filter(|(name, _)| name == "postgres")
        .map(|(_, seconds)| seconds)
        .sum();
    (own, database)
}

/// Stores `count` deliveries of new advisories, then times the store worker processing
/// them; deliveries a second.
async fn processing(store: &herald::store::Store, count: u64) -> f64 {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/repository_advisory.reported.composed.json"
    );
    let body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    for chunk in (0..count).step_by(500) {
        let batch: Vec<_> = (chunk..(chunk + 500).min(count))
            .map(|index| new_advisory_delivery(&body, index))
            .collect();
        store.admit(batch).await.expect("admitted");
    }
    let worker = herald::outbox::Worker::new(
        store.clone(),
        Arc::new(tokio::sync::Notify::new()),
        herald::config::WorkerSettings::default(),
    );
    let (own_before, database_before) = cpu_seconds();
    let started = Instant::now();
    let outcomes = worker.drain().await.expect("drained");
    let elapsed = started.elapsed();
    let (own_after, database_after) = cpu_seconds();
    println!(
        "  {:.2} s: CPU {:.2} s in herald, {:.2} s in PostgreSQL's processes",
        elapsed.as_secs_f64(),
        own_after - own_before,
        database_after - database_before
    );
    let processed = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, herald::outbox::JobOutcome::Done(_)))
        .count();
    assert_eq!(processed as u64, count, "every delivery processed");
    count as f64 / elapsed.as_secs_f64()
}

/// The reported-advisory example, its description lengthened with prose-like words (as
/// compressible as real advisory text, unlike a run of one letter) to a 20 KB body.
fn payload() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "a",
        "of",
        "to",
        "in",
        "is",
        "that",
        "for",
        "parser",
        "buffer",
        "overflow",
        "attacker",
        "remote",
        "request",
        "header",
        "length",
        "crafted",
        "input",
        "allows",
        "memory",
        "heap",
        "read",
        "write",
        "when",
        "server",
        "client",
        "token",
        "session",
        "validation",
        "function",
        "returns",
        "error",
        "bounds",
        "check",
        "missing",
        "versions",
        "affected",
        "upgrade",
        "patched",
        "release",
        "mitigation",
        "disable",
        "feature",
        "configuration",
        "user",
        "data",
        "exposure",
        "execute",
        "arbitrary",
        "code",
        "denial",
        "service",
    ];
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/repository_advisory.reported.composed.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    let base = serde_json::to_vec(&json).expect("serialize").len();
    let mut description = json["repository_advisory"]["description"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let mut state: u64 = 12345;
    while description.len() < PAYLOAD_BYTES.saturating_sub(base) + 60 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        description.push(' ');
        description.push_str(WORDS[(state >> 33) as usize % WORDS.len()]);
    }
    json["repository_advisory"]["description"] = serde_json::Value::String(description);
    serde_json::to_vec(&json).expect("serialize")
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A lean HTTP/1.1 client (hyper's connection API, kept-alive connections reused), so the
/// load generator takes as little as it can of the two cores it shares with herald.
struct Target {
    /// The replicas; new connections go to each in turn.
    addrs: Vec<SocketAddr>,
    /// The webhook path and the status that means "accepted" there.
    path: &'static str,
    accepted: u16,
    next_addr: AtomicU64,
    idle: std::sync::Mutex<Vec<Sender>>,
    /// The body every delivery is made from, without its closing brace: each delivery
    /// ends it with a sequence number of its own, and has its own signature, as no two
    /// GitHub deliveries carry the same body (herald takes a repeated body for a replay
    /// and stores it once).
    body_start: Bytes,
    /// The HMAC with the secret over `body_start`: a delivery's signature goes on from
    /// there over its own ending, so the generator hashes a few bytes, not 20 KB, for each
    /// (its CPU is taken from the cores herald runs on).
    signed_start: Hmac<Sha256>,
    next_id: AtomicU64,
}

impl Target {
    /// Waits until every server on `ports` listens (each opens its store first), then aims
    /// at them.
    async fn listening(
        ports: &[u16],
        (path, accepted): (&'static str, u16),
        body: &[u8],
        secret: &str,
    ) -> Arc<Target> {
        let addrs: Vec<SocketAddr> = ports
            .iter()
            .map(|port| SocketAddr::from(([127, 0, 0, 1], *port)))
            .collect();
        for addr in &addrs {
            for _ in 0..200 {
                if TcpStream::connect(addr).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let body_start = body.strip_suffix(b"}").expect("a JSON object");
        let mut signed_start =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key");
        signed_start.update(body_start);
        let target = Target {
            addrs,
            path,
            accepted,
            next_addr: AtomicU64::new(0),
            idle: std::sync::Mutex::new(Vec::new()),
            body_start: Bytes::copy_from_slice(body_start),
            signed_start,
            next_id: AtomicU64::new(0),
        };
        let (body, signature) = target.numbered_body(0);
        assert_eq!(
            signature,
            signature::sign(&SecretString::from(secret), &body),
            "a delivery's signature is GitHub's"
        );
        Arc::new(target)
    }

    /// A connection ready for a request: one kept for reuse, unless the server closed it
    /// meanwhile, or a new one.
    async fn connection(&self) -> Option<Sender> {
        loop {
            let reused = self.idle.lock().expect("idle connections").pop();
            let Some(mut sender) = reused else { break };
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
        self.open().await
    }

    /// Before a turn, unmeasured: `count` connections open and ready, those the server
    /// closed while other servers took their turns replaced (Node closes a connection idle
    /// for 5 s, herald one idle for 10 s), so that no turn pays for setting them up.
    async fn connected(&self, count: u64) {
        let mut ready = Vec::new();
        while (ready.len() as u64) < count {
            ready.push(
                self.connection()
                    .await
                    .expect("the server takes a connection"),
            );
        }
        self.idle.lock().expect("idle connections").extend(ready);
    }

    /// A new connection, to the next server in turn.
    async fn open(&self) -> Option<Sender> {
        let turn = self.next_addr.fetch_add(1, Ordering::Relaxed) as usize;
        let stream = TcpStream::connect(self.addrs[turn % self.addrs.len()])
            .await
            .ok()?;
        stream.set_nodelay(true).ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(connection);
        sender.ready().await.ok()?;
        Some(sender)
    }

    /// The body with `"bench_sequence": id` as its last member (a JSON object's), and its
    /// `X-Hub-Signature-256`.
    fn numbered_body(&self, id: u64) -> (Bytes, String) {
        let ending = format!(",\"bench_sequence\":{id}}}");
        let mut body = Vec::with_capacity(self.body_start.len() + ending.len());
        body.extend_from_slice(&self.body_start);
        body.extend_from_slice(ending.as_bytes());
        let mut signed = self.signed_start.clone();
        signed.update(ending.as_bytes());
        let signature = format!("sha256={}", hex::encode(signed.finalize().into_bytes()));
        (Bytes::from(body), signature)
    }

    /// Sends one delivery: whether it was accepted, `None` when the connection failed.
    async fn send(&self) -> Option<bool> {
        let mut sender = self.connection().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (body, signature) = self.numbered_body(id);
        let request = http::Request::post(self.path)
            .header("Host", "herald")
            .header("X-GitHub-Event", "repository_advisory")
            .header("X-GitHub-Delivery", format!("bench-{id}"))
            .header("X-Hub-Signature-256", signature)
            .header("Content-Type", "application/json")
            .body(Full::new(body))
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let accepted = response.status().as_u16() == self.accepted;
        response.into_body().collect().await.ok()?;
        self.idle.lock().expect("idle connections").push(sender);
        Some(accepted)
    }
}

fn percentile_ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

async fn throughput(
    target: Arc<Target>,
    concurrency: u64,
    duration: Duration,
) -> (u64, u64, Histogram<u64>) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            let mut other = 0u64;
            let mut latencies = Histogram::<u64>::new(3).expect("histogram");
            while Instant::now() < deadline {
                let started = Instant::now();
                match target.send().await {
                    Some(true) => accepted += 1,
                    _ => other += 1,
                }
                let _ = latencies.record(started.elapsed().as_micros() as u64);
            }
            (accepted, other, latencies)
        }));
    }
    let mut accepted = 0;
    let mut other = 0;
    let mut latencies = Histogram::<u64>::new(3).expect("histogram");
    for task in tasks {
        let (a, o, h) = task.await.expect("task");
        accepted += a;
        other += o;
        latencies.add(h).expect("merge");
    }
    (accepted, other, latencies)
}

async fn fixed_rate(
    target: Arc<Target>,
    rate: u64,
    duration: Duration,
) -> (u64, u64, Histogram<u64>) {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = (duration.as_secs_f64() * rate as f64) as u64;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for index in 0..total {
        let scheduled = start + interval * index as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let status = target.send().await;
            (status, scheduled.elapsed())
        }));
    }
    let mut accepted = 0;
    let mut other = 0;
    let mut latencies = Histogram::<u64>::new(3).expect("histogram");
    for task in tasks {
        let (status, latency) = task.await.expect("task");
        if status == Some(true) {
            accepted += 1;
        } else {
            other += 1;
        }
        let _ = latencies.record(latency.as_micros() as u64);
    }
    (accepted, other, latencies)
}

/// Fresh `herald serve` replicas (release build) on their own store.
struct Herald {
    replicas: Vec<(Child, u16)>,
    database_url: String,
}

/// The database a phase runs herald on.
enum Database {
    /// A file of its own in the benchmark's temporary folder.
    Sqlite,
    /// A database of its own on this PostgreSQL server (a `postgres://…/postgres` URL).
    Postgres(String),
}

impl Database {
    /// SQLite, then PostgreSQL when HERALD_BENCH_POSTGRES_URL is set: each phase runs on
    /// both in turn, so their figures come from the same run of the machine.
    fn all() -> Vec<Database> {
        std::iter::once(Database::Sqlite)
            .chain(
                std::env::var("HERALD_BENCH_POSTGRES_URL")
                    .ok()
                    .map(Database::Postgres),
            )
            .collect()
    }

    fn label(&self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite",
            Database::Postgres(_) => "PostgreSQL",
        }
    }

    /// How many `herald serve` replicas a phase starts on this database: SQLite serves one
    /// process.
    fn replicas(&self, asked: u64) -> u64 {
        match self {
            Database::Sqlite => 1,
            Database::Postgres(_) => asked,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite WAL synchronous=FULL",
            Database::Postgres(_) => "PostgreSQL (synchronous_commit on)",
        }
    }

    /// A new, empty store for the phase `name`: its URL.
    async fn fresh(&self, dir: &Path, name: &str) -> String {
        match self {
            Database::Sqlite => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            Database::Postgres(server) => {
                let database = format!("herald_bench_{name}_{}", std::process::id());
                administer(
                    server,
                    &[
                        format!("DROP DATABASE IF EXISTS {database}"),
                        format!("CREATE DATABASE {database}"),
                    ],
                )
                .await;
                let (base, _) = server.rsplit_once('/').expect("a database URL");
                format!("{base}/{database}")
            }
        }
    }

    /// Drops a PostgreSQL store once its phase is over: each holds hundreds of megabytes.
    /// A SQLite file goes with the temporary folder.
    async fn discard(&self, url: &str) {
        if let Database::Postgres(server) = self {
            let (_, database) = url.rsplit_once('/').expect("a database URL");
            administer(
                server,
                &[format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")],
            )
            .await;
        }
    }
}

/// Runs `statements` on the PostgreSQL `server`.
async fn administer(server: &str, statements: &[String]) {
    use sqlx::{Connection, Executor};
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .expect("HERALD_BENCH_POSTGRES_URL reachable");
    for statement in statements {
        admin
            .execute(sqlx::AssertSqlSafe(statement.as_str()))
            .await
            .expect("the benchmark's database created or dropped");
    }
}

impl Herald {
    fn start(database_url: String, replicas: u64) -> Herald {
        let replicas = (0..replicas.max(1))
            .map(|_| {
                let port = free_port();
                let process = Command::new(env!("CARGO_BIN_EXE_herald"))
                    .arg("serve")
                    .env("HERALD_DATABASE_URL", &database_url)
                    .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
                    .env("HERALD_WEBHOOK_SECRET", SECRET)
                    .env("HERALD_LOG", "info")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("herald serve starts");
                (process, port)
            })
            .collect();
        Herald {
            replicas,
            database_url,
        }
    }

    async fn target(&self, body: &[u8]) -> Arc<Target> {
        let ports: Vec<u16> = self.replicas.iter().map(|(_, port)| *port).collect();
        Target::listening(&ports, ("/webhooks", 202), body, SECRET).await
    }

    /// Deliveries signed with another secret: herald reads each body, checks its signature
    /// and answers 401, storing nothing. Its rate is what HTTP and HMAC allow.
    async fn wrongly_signed(&self, body: &[u8]) -> Arc<Target> {
        let ports: Vec<u16> = self.replicas.iter().map(|(_, port)| *port).collect();
        Target::listening(&ports, ("/webhooks", 401), body, "not-the-secret").await
    }

    async fn count(&self, sql: &'static str) -> u64 {
        let store = herald::store::Store::open(&self.database_url)
            .await
            .expect("store");
        let count: i64 = sqlx::query_scalar(sql)
            .fetch_one(store.pool())
            .await
            .expect("count");
        store.close().await;
        u64::try_from(count).unwrap_or_default()
    }

    /// Checks every delivery answered 202 is stored.
    async fn verify(&self, accepted: u64) {
        let stored = self.count("SELECT COUNT(*) FROM deliveries").await;
        println!("  stored deliveries: {stored} (answered 202: {accepted})");
        assert_eq!(stored, accepted, "every accepted delivery is committed");
    }

    /// Waits until the worker has processed the `accepted` deliveries; returns how long
    /// that took (`None`: the worker is off). Jobs that reach GitHub stay pending: the
    /// benchmark configures no GitHub App.
    async fn drained(&self, accepted: u64) -> Option<Duration> {
        if std::env::var("HERALD_WORKER_ENABLED").as_deref() == Ok("false") {
            return None;
        }
        let started = Instant::now();
        loop {
            let done = self
                .count(
                    "SELECT COUNT(*) FROM outbox WHERE state = 'done' AND kind = 'process_delivery'",
                )
                .await;
            if done >= accepted {
                return Some(started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "herald's worker processed {done} of {accepted} deliveries in 5 minutes"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Stopped when dropped, also when the benchmark panics: no server outlives it.
impl Drop for Herald {
    fn drop(&mut self) {
        for (process, _) in &mut self.replicas {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// Probot 14.3.2 from benches/probot, as `probot run` serves it, one handler storing nothing.
struct Probot {
    process: Child,
    port: u16,
}

impl Probot {
    fn start() -> Probot {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/probot");
        let needs = "the probot phase needs Node.js 20.18 or later and npm (https://nodejs.org); \
                     HERALD_BENCH_PHASES=throughput,latency,processing leaves it out";
        if !dir.join("node_modules/probot").is_dir() {
            let installed = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .unwrap_or_else(|error| panic!("npm: {error}; {needs}"));
            assert!(
                installed.success(),
                "npm ci in benches/probot failed; {needs}"
            );
        }
        let port = free_port();
        let process = Command::new("node")
            .arg("server.js")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("WEBHOOK_SECRET", SECRET)
            .env("APP_ID", "1")
            .env("LOG_LEVEL", "info")
            .env("NODE_ENV", "production")
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("node: {error}; {needs}"));
        Probot { process, port }
    }

    async fn target(&self, body: &[u8]) -> Arc<Target> {
        Target::listening(&[self.port], ("/api/github/webhooks", 200), body, SECRET).await
    }
}

impl Drop for Probot {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// One contender's line: rate, latencies, and its peak memory under load, in all and in its
/// first turn (and, for herald accepting, while its worker caught up between turns).
fn report_throughput(name: &str, concurrency: u64, tally: &Tally) -> f64 {
    let rate = tally.accepted as f64 / tally.loaded.as_secs_f64();
    let megabytes =
        |peak: Option<f64>| peak.map_or("unknown".to_owned(), |mb| format!("{mb:.1} MB"));
    let mut rss = format!(
        "{} (first turn {}",
        megabytes(tally.peak_under_load),
        megabytes(tally.peak_first_turn)
    );
    if let Some(catching_up) = tally.peak_catching_up {
        rss.push_str(&format!("; {catching_up:.1} MB while its worker caught up"));
    }
    rss.push(')');
    println!(
        "{name}: {concurrency} connections for {:.1} s: {} accepted ({rate:.0}/s), {} other; \
         latency p50 {:.2} ms, p99 {:.2} ms; peak RSS {rss}",
        tally.loaded.as_secs_f64(),
        tally.accepted,
        tally.other,
        percentile_ms(&tally.latencies, 0.50),
        percentile_ms(&tally.latencies, 0.99),
    );
    rate
}

fn main() {
    let seconds = setting("HERALD_BENCH_SECONDS", 10);
    let concurrencies = settings("HERALD_BENCH_CONCURRENCY", "16,128");
    let process = setting("HERALD_BENCH_PROCESS", 20_000);
    let large = setting("HERALD_BENCH_LARGE", 100_000);
    let rounds = setting("HERALD_BENCH_ROUNDS", 3).max(1);
    let phases = std::env::var("HERALD_BENCH_PHASES")
        .unwrap_or_else(|_| "throughput,ceiling,probot,latency,processing".to_owned());
    let rate = setting("HERALD_BENCH_RATE", 1000);
    let replicas = setting("HERALD_BENCH_REPLICAS", 1);
    let slices = setting("HERALD_BENCH_SLICES", 5).max(1);
    let duration = Duration::from_secs(seconds);
    let dir = tempfile::tempdir().expect("tempdir");
    let body = payload();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let databases = Database::all();
    runtime.block_on(async {
        println!(
            "herald ingest benchmark: {} byte signed repository_advisory deliveries, unique \
             delivery ids, {}, {replicas} replica(s) on PostgreSQL, outbox worker on",
            body.len(),
            databases
                .iter()
                .map(Database::describe)
                .collect::<Vec<_>>()
                .join(", then ")
        );

        for concurrency in concurrencies
            .iter()
            .filter(|_| phases.contains("throughput"))
        {
            let servers = Servers {
                dir: dir.path(),
                databases: &databases,
                replicas,
                body: &body,
            };
            throughput_phase(servers, &phases, *concurrency, duration, slices).await;
        }

        for database in databases.iter().filter(|_| phases.contains("latency")) {
            let url = database.fresh(dir.path(), "latency").await;
            let herald = Herald::start(url.clone(), database.replicas(replicas));
            let target = herald.target(&body).await;
            let (accepted, other, latencies) = fixed_rate(target, rate, duration).await;
            println!(
                "latency on {} at {rate}/s for {seconds} s: {accepted} accepted, {other} other; \
             p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
                database.label(),
                percentile_ms(&latencies, 0.50),
                percentile_ms(&latencies, 0.99),
                percentile_ms(&latencies, 0.999),
                latencies.max() as f64 / 1000.0,
            );
            herald.verify(accepted).await;
            if let Some(caught_up) = herald.drained(accepted).await {
                println!(
                    "  worker caught up {:.1} s after the load",
                    caught_up.as_secs_f64()
                );
            }
            drop(herald);
            database.discard(&url).await;
        }
    });
    if phases.contains("processing") {
        // The worker on a runtime like `herald serve`'s (one thread a core), not the load
        // generator's single thread.
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(processing_phase(
            dir.path(),
            &databases,
            process,
            large,
            rounds,
        ));
    }
}

/// What the throughput phase starts its servers with.
struct Servers<'a> {
    dir: &'a Path,
    databases: &'a [Database],
    replicas: u64,
    body: &'a [u8],
}

/// A server the throughput phase loads, in turn with the others.
enum Contender<'a> {
    /// herald accepting deliveries on `database`, its store at `url`.
    Accepting {
        herald: Herald,
        database: &'a Database,
        url: String,
    },
    /// herald refusing every delivery's signature.
    Refusing(Herald),
    Probot(Probot),
}

impl Contender<'_> {
    fn label(&self) -> String {
        match self {
            Contender::Accepting { database, .. } => format!("throughput on {}", database.label()),
            Contender::Refusing(_) => "wrong signature (answered 401)".to_owned(),
            Contender::Probot(_) => "probot".to_owned(),
        }
    }

    fn process(&self) -> &Child {
        match self {
            Contender::Accepting { herald, .. } | Contender::Refusing(herald) => {
                &herald.replicas[0].0
            }
            Contender::Probot(probot) => &probot.process,
        }
    }

    async fn target(&self, body: &[u8]) -> Arc<Target> {
        match self {
            Contender::Accepting { herald, .. } => herald.target(body).await,
            Contender::Refusing(herald) => herald.wrongly_signed(body).await,
            Contender::Probot(probot) => probot.target(body).await,
        }
    }
}

/// A contender's load added up over its slices.
struct Tally {
    accepted: u64,
    other: u64,
    latencies: Histogram<u64>,
    /// From each turn's start until its last answer (those under way at its end arrive
    /// after it), in all: the time its rate is over.
    loaded: Duration,
    /// How long herald's worker took to catch up after each turn, in all (`None`: an
    /// accepting herald's worker is off, or it is another server).
    catching_up: Option<Duration>,
    /// The process's peak resident memory during its turns, and during its first (a fresh
    /// process's: herald keeps some of what its worker took while catching up).
    peak_under_load: Option<f64>,
    peak_first_turn: Option<f64>,
    /// herald accepting: its peak while its worker caught up after its turns.
    peak_catching_up: Option<f64>,
}

/// The larger of a peak known and one just read.
fn higher(known: Option<f64>, read: Option<f64>) -> Option<f64> {
    match (known, read) {
        (Some(known), Some(read)) => Some(known.max(read)),
        (known, read) => known.or(read),
    }
}

/// Phase 1 at `concurrency`: herald on each database, herald refusing signatures
/// ("ceiling") and Probot ("probot"), each loaded for `duration` in `slices` turns, one
/// server after the other, the order turning each round. The machine's speed drifts
/// (another tenant's load, the disk's): in turns, each ratio compares servers measured in
/// the same seconds, not a minute apart. After each turn of an accepting herald, its worker
/// catches up unmeasured, so it takes no CPU from the next server's turn.
async fn throughput_phase(
    servers: Servers<'_>,
    phases: &str,
    concurrency: u64,
    duration: Duration,
    slices: u64,
) {
    let name = format!("throughput{concurrency}");
    let mut contenders = Vec::new();
    for database in servers.databases {
        let url = database.fresh(servers.dir, &name).await;
        let herald = Herald::start(url.clone(), database.replicas(servers.replicas));
        contenders.push(Contender::Accepting {
            herald,
            database,
            url,
        });
    }
    if phases.contains("ceiling") {
        // Nothing is stored: the store does not matter.
        let url = Database::Sqlite
            .fresh(servers.dir, &format!("ceiling{concurrency}"))
            .await;
        contenders.push(Contender::Refusing(Herald::start(url, 1)));
    }
    if phases.contains("probot") {
        contenders.push(Contender::Probot(Probot::start()));
    }
    let mut targets = Vec::new();
    for contender in &contenders {
        targets.push(contender.target(servers.body).await);
    }
    let mut tallies: Vec<Tally> = contenders
        .iter()
        .map(|_| Tally {
            accepted: 0,
            other: 0,
            latencies: Histogram::new(3).expect("histogram"),
            loaded: Duration::ZERO,
            catching_up: None,
            peak_under_load: None,
            peak_first_turn: None,
            peak_catching_up: None,
        })
        .collect();
    let slice = duration / u32::try_from(slices).unwrap_or(u32::MAX);
    for round in 0..contenders.len() * usize::try_from(slices).unwrap_or(usize::MAX) {
        let turn = (round + round / contenders.len()) % contenders.len();
        targets[turn].connected(concurrency).await;
        let process = contenders[turn].process();
        let resettable = reset_peak_rss(process);
        let started = Instant::now();
        let (accepted, other, latencies) =
            throughput(targets[turn].clone(), concurrency, slice).await;
        let tally = &mut tallies[turn];
        tally.loaded += started.elapsed();
        tally.accepted += accepted;
        tally.other += other;
        tally.latencies.add(latencies).expect("merge");
        // Without the reset, the peak read would be the process's whole life's.
        let peak = peak_rss_mb(process).filter(|_| resettable);
        tally.peak_under_load = higher(tally.peak_under_load, peak);
        if round < contenders.len() {
            tally.peak_first_turn = peak;
        }
        if let Contender::Accepting { herald, .. } = &contenders[turn] {
            let resettable = reset_peak_rss(process);
            if let Some(caught_up) = herald.drained(tally.accepted).await {
                tally.catching_up = Some(tally.catching_up.unwrap_or_default() + caught_up);
                let peak = peak_rss_mb(process).filter(|_| resettable);
                tally.peak_catching_up = higher(tally.peak_catching_up, peak);
            }
        }
    }
    report_phase(contenders, &tallies, concurrency).await;
}

/// Prints each contender's figures and the ratios, checks every accepted delivery is
/// stored, and stops the servers.
async fn report_phase(contenders: Vec<Contender<'_>>, tallies: &[Tally], concurrency: u64) {
    let mut accepting_rates = Vec::new();
    for (contender, tally) in contenders.iter().zip(tallies) {
        let rate = report_throughput(&contender.label(), concurrency, tally);
        match contender {
            Contender::Accepting { herald, .. } => {
                herald.verify(tally.accepted).await;
                if let Some(catching_up) = tally.catching_up {
                    println!(
                        "  worker caught up {:.1} s after its turns, in all",
                        catching_up.as_secs_f64()
                    );
                }
                accepting_rates.push(rate);
                if let [sqlite, postgresql] = accepting_rates[..] {
                    println!(
                        "  herald on PostgreSQL accepted {:.2} of its rate on SQLite",
                        postgresql / sqlite.max(1.0)
                    );
                }
            }
            Contender::Refusing(_) => println!(
                "  herald on SQLite accepted {:.2} of its own wrong-signature rate",
                accepting_rates[0] / rate.max(1.0)
            ),
            Contender::Probot(_) => println!(
                "  herald on SQLite accepted {:.1} times Probot's rate",
                accepting_rates[0] / rate.max(1.0)
            ),
        }
    }
    for contender in contenders {
        // Dropped, each server stops; a PostgreSQL store is dropped after its server.
        if let Contender::Accepting {
            herald,
            database,
            url,
        } = contender
        {
            drop(herald);
            database.discard(&url).await;
        }
    }
}

/// Phase 3 on each of `databases` (SQLite, and PostgreSQL when HERALD_BENCH_POSTGRES_URL
/// is set), `rounds` times in turn; the rate of each, and PostgreSQL's as a multiple of
/// SQLite's.
async fn processing_phase(
    dir: &Path,
    databases: &[Database],
    process: u64,
    large: u64,
    rounds: u64,
) {
    for (name, incidents) in [("empty", 0), ("large", large)] {
        let mut ratios = Vec::new();
        for round in 1..=rounds {
            let mut rates = Vec::new();
            for database in databases {
                let url = database
                    .fresh(dir, &format!("processing_{name}_{round}"))
                    .await;
                let label = database.label();
                let store = herald::store::Store::open(&url).await.expect("store");
                let filled = Instant::now();
                fill(&store, incidents).await;
                let filled = filled.elapsed();
                let rate = processing(&store, process).await;
                println!(
                    "processing {process} new advisories on {label} with {incidents} \
                     incidents and {incidents} jobs pending for later (filled in {:.1} s): \
                     {rate:.0} deliveries/s",
                    filled.as_secs_f64()
                );
                list_timings(&store).await;
                store.close().await;
                database.discard(&url).await;
                rates.push(rate);
            }
            if let [sqlite, postgresql] = rates[..] {
                ratios.push(postgresql / sqlite.max(1.0));
            }
        }
        if !ratios.is_empty() {
            ratios.sort_by(f64::total_cmp);
            println!(
                "  {name} store: PostgreSQL processed at {:.2} times SQLite's rate (median of \
                 {} rounds; {:.2} – {:.2})",
                ratios[ratios.len() / 2],
                ratios.len(),
                ratios[0],
                ratios[ratios.len() - 1]
            );
        }
    }
}
