//! GitHub requests benchmark: `cargo bench --bench github`.
//!
//! Runs the release `herald serve` as the GitHub App against the tests' fake GitHub on
//! loopback (the same fake the integration tests use, compiled in here) and counts what
//! herald asks of GitHub:
//!
//! 1. a new incident (a private report's tracking issue) and its publication (the CHANGELOG
//!    pull request, the public advisory issue, the tracking issue's refresh), as a
//!    repository configured with a private tracking repository and a CHANGELOG;
//! 2. one round of polling over an organisation of ORG_REPOSITORIES repositories with no
//!    advisory, first and again (conditional: GitHub charges no rate limit for a 304).
//!
//! Settings: HERALD_BENCH_ORG_REPOSITORIES (5000).

// The fake serves every test; this benchmark uses a part of it (the file says so itself).
#[path = "../tests/it/common/github/mod.rs"]
mod fake_github;

use fake_github::FakeGitHub;
use herald::ingest::signature;
use secrecy::SecretString;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";
const APP_ID: u64 = 29310;
const INSTALLATION: u64 = 957387;
const REPO: &str = "Codertocat/Hello-World";
const TRACKING_REPO: &str = "Codertocat/security";
const ORGANISATION_INSTALLATION: u64 = 4242;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

fn text_fixture(name: &str) -> String {
    String::from_utf8(fixture(name)).expect("UTF-8 fixture")
}

/// A fixture payload as GitHub sends it for `installation`.
fn for_installation(name: &str, installation: u64) -> Vec<u8> {
    let mut payload: serde_json::Value = serde_json::from_slice(&fixture(name)).expect("JSON");
    payload["installation"]["id"] = installation.into();
    serde_json::to_vec(&payload).expect("JSON")
}

struct Herald {
    process: Child,
    port: u16,
    database_url: String,
    client: reqwest::Client,
}

impl Herald {
    fn start(fake: &FakeGitHub, dir: &Path) -> Herald {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let database_url = format!("sqlite://{}", dir.join("herald.db").display());
        let process = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .env("HERALD_DATABASE_URL", &database_url)
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_WEBHOOK_SECRET", SECRET)
            .env("HERALD_GITHUB_API_URL", &fake.url)
            .env("HERALD_GITHUB_APP_ID", APP_ID.to_string())
            .env(
                "HERALD_GITHUB_PRIVATE_KEY",
                text_fixture("app-private-key.pem"),
            )
            .env("HERALD_POLL_INTERVAL_SECS", "1")
            // Counting, not pacing: no second between writes.
            .env("HERALD_GITHUB_WRITE_INTERVAL_MS", "0")
            .env("HERALD_WORKER_POLL_INTERVAL_MS", "20")
            .env("HERALD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("herald serve starts");
        Herald {
            process,
            port,
            database_url,
            client: reqwest::Client::new(),
        }
    }

    async fn deliver(&self, event: &str, id: &str, body: &[u8]) {
        for _ in 0..200 {
            let answer = self
                .client
                .post(format!("http://127.0.0.1:{}/webhooks", self.port))
                .header("X-GitHub-Event", event)
                .header("X-GitHub-Delivery", id)
                .header(
                    "X-Hub-Signature-256",
                    signature::sign(&SecretString::from(SECRET), body),
                )
                .header("Content-Type", "application/json")
                .body(body.to_vec())
                .send()
                .await;
            match answer {
                Ok(answer) => {
                    assert_eq!(answer.status().as_u16(), 202, "{event} {id} accepted");
                    return;
                }
                // Still starting.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        panic!("herald did not answer");
    }

    /// Waits until no job is due (reminders wait for later) and none has been for a while.
    async fn settle(&self) {
        let store = herald::store::Store::open(&self.database_url)
            .await
            .expect("store");
        let started = Instant::now();
        let mut quiet = 0;
        while quiet < 5 && started.elapsed() < Duration::from_secs(120) {
            let due: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND run_after <= $1",
            )
            .bind(chrono::Utc::now().timestamp_millis())
            .fetch_one(store.pool())
            .await
            .expect("count");
            quiet = if due == 0 { quiet + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        store.close().await;
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The requests made since `from`: all, and the content-creating ones.
fn counted(fake: &FakeGitHub, from: usize) -> (usize, usize) {
    let requests = &fake.requests()[from..];
    let writes = requests
        .iter()
        .filter(|request| request.method != "GET" && !request.path.starts_with("/app/"))
        .count();
    (requests.len(), writes)
}

async fn incident_and_publication() {
    let public_key = text_fixture("app-public-key.pem");
    let fake = FakeGitHub::start(APP_ID, &public_key).await;
    fake.add_installation(INSTALLATION, "Codertocat");
    fake.add_repository(REPO, false, INSTALLATION);
    fake.add_repository(TRACKING_REPO, true, INSTALLATION);
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\n",
    );
    fake.put_file(
        REPO,
        "CHANGELOG.md",
        "# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2020-01-01\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let herald = Herald::start(&fake, dir.path());
    herald
        .deliver(
            "installation",
            "install-1",
            &fixture("installation.created.0.json"),
        )
        .await;
    herald.settle().await;

    for (what, delivery, fixture_name) in [
        (
            "a new incident",
            "report-1",
            "repository_advisory.reported.composed.json",
        ),
        (
            "its publication",
            "publish-1",
            "repository_advisory.published.composed.json",
        ),
    ] {
        let start = fake.requests().len();
        let payload = for_installation(fixture_name, INSTALLATION);
        herald
            .deliver("repository_advisory", delivery, &payload)
            .await;
        herald.settle().await;
        let (all, writes) = counted(&fake, start);
        println!("{what}: {all} GitHub requests, {writes} of them content-creating");
    }
}

async fn organisation_rounds(repositories: usize) {
    let public_key = text_fixture("app-public-key.pem");
    let fake = FakeGitHub::start(APP_ID, &public_key).await;
    fake.add_installation(ORGANISATION_INSTALLATION, "acme");
    let names: Vec<String> = (0..repositories)
        .map(|index| format!("acme/r-{index:05}"))
        .collect();
    for name in &names {
        fake.add_repository(name, true, ORGANISATION_INSTALLATION);
    }
    let mut installation: serde_json::Value =
        serde_json::from_slice(&fixture("installation.created.0.json")).expect("JSON");
    installation["installation"]["id"] = ORGANISATION_INSTALLATION.into();
    installation["installation"]["account"]["login"] = "acme".into();
    installation["installation"]["account"]["type"] = "Organization".into();
    installation["repositories"] = names
        .iter()
        .map(|name| serde_json::json!({ "full_name": name, "private": true }))
        .collect();
    let body = serde_json::to_vec(&installation).expect("JSON");
    let dir = tempfile::tempdir().expect("tempdir");
    let herald = Herald::start(&fake, dir.path());
    herald.deliver("installation", "install-org", &body).await;
    // Two rounds: the poll interval is a second.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let lists: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|request| request.path.ends_with("/security-advisories"))
        .map(|request| request.status)
        .collect();
    let changed = lists.iter().filter(|status| **status == 200).count();
    let unchanged = lists.iter().filter(|status| **status == 304).count();
    println!(
        "polling an organisation of {repositories} repositories: {} list requests in about \
         two rounds ({changed} answered 200, {unchanged} answered 304 at no rate-limit cost)",
        lists.len()
    );
}

fn main() {
    let repositories = std::env::var("HERALD_BENCH_ORG_REPOSITORIES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5_000);
    // reqwest is built without a default TLS provider; herald uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        println!("herald GitHub requests benchmark (against the tests' fake GitHub)");
        incident_and_publication().await;
        organisation_rounds(repositories).await;
    });
}
