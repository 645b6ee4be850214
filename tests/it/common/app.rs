//! herald as the GitHub App installed on Codertocat, against the fake GitHub: the world
//! (a public repository, a private one for tracking issues), installing and polling, what
//! GitHub delivers (a report, a publication, a global advisory), herald with mail, the CLI
//! on the harness's store, and what to look at afterwards.

use crate::common;
use crate::common::github::FakeGitHub;
use crate::common::mail::{Gpg, Received, SmtpSink};
use crate::common::{Harness, fixture};
use herald::config::{GitHubSettings, MailSettings};
use herald::mail::SigningKey;
use secrecy::SecretString;
use std::time::Duration;

pub const APP_ID: u64 = 29310;
/// The installation of the `installation.created` example payload.
pub const INSTALLATION: u64 = 957387;
pub const REPO: &str = "Codertocat/Hello-World";
pub const TRACKING_REPO: &str = "Codertocat/security";
pub const GHSA: &str = "GHSA-abcd-1234-efgh";

/// The App's private key (PEM), whose public half the fake GitHub knows.
pub fn private_key() -> String {
    String::from_utf8(fixture("app-private-key.pem")).expect("PEM text")
}

/// herald's settings for the App on `fake`: polling hourly, writes within GitHub's budgets
/// but not a second apart.
pub fn github_settings(fake: &FakeGitHub) -> GitHubSettings {
    GitHubSettings {
        api_url: fake.url.clone(),
        app_id: APP_ID,
        private_key: SecretString::from(private_key()),
        poll_interval: Duration::from_secs(3600),
        web_url: fake.url.clone(),
        read_cache_for: Duration::from_secs(60),
        // GitHub's budgets, without the second between writes that would only slow tests.
        pacing: herald::config::Pacing {
            spacing: Duration::ZERO,
            ..herald::config::Pacing::default()
        },
        // On start, and then only when a test asks.
        redelivery_interval: Duration::from_secs(3600),
    }
}

/// A fake GitHub where the App is installed on Codertocat, whose Hello-World repository is
/// public, with a private security repository for tracking issues.
pub async fn world() -> FakeGitHub {
    let public_key = String::from_utf8(fixture("app-public-key.pem")).expect("PEM text");
    let fake = FakeGitHub::start(APP_ID, &public_key).await;
    fake.add_installation(INSTALLATION, "Codertocat");
    fake.add_repository(REPO, false, INSTALLATION);
    fake.add_repository(TRACKING_REPO, true, INSTALLATION);
    fake
}

/// herald as the App installed on Codertocat.
pub async fn installed(fake: &FakeGitHub) -> Harness {
    installed_with(fake, |_| {}).await
}

/// herald as the App installed on Codertocat, with settings changed by `adjust`.
pub async fn installed_with(
    fake: &FakeGitHub,
    adjust: impl FnOnce(&mut herald::config::Settings),
) -> Harness {
    let harness = Harness::start_with(true, |settings| {
        settings.github = Some(github_settings(fake));
        adjust(settings);
    })
    .await;
    let answer = harness
        .deliver(
            "installation",
            "install-1",
            &fixture("installation.created.0.json"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_processed().await;
    harness
}

/// Tracking issues go to the private security repository.
pub const TRACK_PRIVATELY: &str = "tracking:\n  repository: Codertocat/security\n";

/// herald polling every 100 ms with GitHub settings changed by `adjust`, installed by the
/// `installation` payload.
pub async fn polling_with(
    fake: &FakeGitHub,
    adjust: impl FnOnce(&mut GitHubSettings),
    installation: &[u8],
) -> Harness {
    let harness = Harness::start_with(true, |settings| {
        let mut github = github_settings(fake);
        github.poll_interval = Duration::from_millis(100);
        adjust(&mut github);
        settings.github = Some(github);
    })
    .await;
    let answer = harness
        .deliver("installation", "install-1", installation)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness
}

// What GitHub delivers, and herald following it.

/// An advisory payload as GitHub sends it for this installation.
pub fn advisory(name: &str) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture(name)).expect("fixture JSON");
    payload["installation"]["id"] = INSTALLATION.into();
    serde_json::to_vec(&payload).expect("JSON")
}

/// The example report's advisory as GitHub's advisory API shows it (to put in the fake's
/// lists).
pub fn the_reported_advisory() -> serde_json::Value {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
            .expect("JSON");
    payload["repository_advisory"].take()
}

/// The example report for this installation, under its own GHSA id (`GHSA-abcd-1234-NNNN`).
pub fn numbered_report(number: usize) -> Vec<u8> {
    reported_advisory(|advisory| {
        advisory["ghsa_id"] = format!("GHSA-abcd-1234-{number:04}").into();
    })
}

/// The reported example as GitHub sends it, its advisory changed by `edit`.
pub fn reported_advisory(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    advisory_changed("repository_advisory.reported.composed.json", edit)
}

/// The published advisory as GitHub sends it, changed by `edit`.
pub fn published_advisory(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    advisory_changed("repository_advisory.published.composed.json", edit)
}

/// The advisory payload `name` as GitHub sends it, its advisory changed by `edit`.
fn advisory_changed(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut payload: serde_json::Value = serde_json::from_slice(&advisory(name)).expect("JSON");
    edit(&mut payload["repository_advisory"]);
    serde_json::to_vec(&payload).expect("JSON")
}

/// GitHub reports the example vulnerability (`name` is the delivery id).
pub async fn report(harness: &Harness, delivery_id: &str) {
    let answer = harness
        .deliver(
            "repository_advisory",
            delivery_id,
            &advisory("repository_advisory.reported.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_all_jobs().await;
}

/// GitHub publishes the example advisory (delivery `publish-1`), and herald follows.
pub async fn github_publishes(harness: &Harness) {
    say(
        harness,
        "repository_advisory",
        "publish-1",
        &advisory("repository_advisory.published.composed.json"),
    )
    .await;
}

/// The published advisory's summary changes.
pub async fn publish_a_sharper_summary(harness: &Harness) {
    let changed = published_advisory(|advisory| {
        advisory["summary"] = "A sharper summary".into();
        advisory["updated_at"] = "2020-01-04T00:00:00Z".into();
    });
    say(harness, "repository_advisory", "publish-2", &changed).await;
}

/// A CHANGELOG in Keep a Changelog's shape, with CRLF line ends.
pub const CHANGELOG: &str = "# Changelog\r\n\r\n## [Unreleased]\r\n\r\n### Fixed\r\n\r\n- A crash on empty input.\r\n\r\n## [1.0.0] - 2026-01-01\r\n\r\n### Added\r\n\r\n- Everything.\r\n\r\n[unreleased]: https://github.com/Codertocat/Hello-World/compare/v1.0.0...HEAD\r\n";

/// A global advisory payload (the GitHub Advisory Database example, about django).
pub fn global_advisory(name: &str) -> Vec<u8> {
    fixture(name)
}

/// GitHub's global database publishes the Django advisory (delivery `global-1`).
pub async fn report_global_advisory(harness: &Harness) {
    say(
        harness,
        "security_advisory",
        "global-1",
        &global_advisory("security_advisory.published.0.json"),
    )
    .await;
}

/// A `pull_request` webhook for pull request `number` of `repository`.
pub fn pull_event(
    repository: &str,
    number: u64,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request.closed.0.json")).expect("JSON");
    payload["installation"] = serde_json::json!({ "id": INSTALLATION });
    payload["repository"]["full_name"] = repository.into();
    payload["repository"]["default_branch"] = "main".into();
    payload["number"] = number.into();
    let pull = &mut payload["pull_request"];
    pull["number"] = number.into();
    pull["html_url"] = format!("https://github.com/{repository}/pull/{number}").into();
    pull["head"]["ref"] = format!("fix-{number}").into();
    pull["title"] = "Tighten input checks".into();
    pull["body"] = serde_json::Value::Null;
    edit(&mut payload);
    serde_json::to_vec(&payload).expect("JSON")
}

/// GitHub delivers `event` (accepted, 202), and herald does all it leads to.
pub async fn say(harness: &Harness, event: &str, delivery_id: &str, body: &[u8]) {
    let answer = harness.deliver(event, delivery_id, body).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_all_jobs().await;
}

// What herald did.

/// The id of the example's one incident.
pub async fn incident_id(harness: &Harness) -> herald::store::IncidentId {
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa(GHSA))
        .await
        .expect("incidents");
    assert_eq!(rows.len(), 1);
    rows[0].id
}

/// The example's incident as the store has it now.
pub async fn the_incident(harness: &Harness) -> herald::incident::Incident {
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa(GHSA))
        .await
        .expect("incidents");
    rows[0].incident.clone()
}

/// What the example's incident's timeline says, entry by entry.
pub async fn timeline_details(harness: &Harness) -> Vec<String> {
    harness
        .store
        .timeline_entries(incident_id(harness).await)
        .await
        .expect("timeline")
        .into_iter()
        .map(|entry| entry.detail)
        .collect()
}

/// Writes to the advisory's (public) repository, as "METHOD /path".
pub fn public_writes(fake: &FakeGitHub) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|request| {
            request.path.starts_with(&format!("/repos/{REPO}/")) && request.method != "GET"
        })
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

/// herald asked the fake GitHub nothing it does not know (each scenario ends with this).
pub fn assert_no_unexpected(fake: &FakeGitHub) {
    assert!(
        fake.unexpected().is_empty(),
        "requests the fake GitHub did not expect: {:?}",
        fake.unexpected()
    );
}

// herald with mail.

/// herald with mail, the SMTP server it sends to, GnuPG knowing its key, and the key's
/// folder (read again when herald restarts).
pub struct MailWorld {
    pub harness: Harness,
    pub sink: SmtpSink,
    pub gpg: Gpg,
    pub _key_dir: tempfile::TempDir,
    /// herald's signing key, public and armored.
    pub signing_public: String,
}

/// Two lists, one per signing mode.
pub const TWO_LISTS: &str = "tracking:\n  repository: Codertocat/security\nchannels:\n  discussions:\n    category: Announcements\nmailing_lists:\n  - address: announce@lists.example.org\n    name: Example announce\n  - address: oss-security@lists.example.org\n    signing: pgp-mime\n";

/// A world whose advisory repository is configured by `config`, with mail going to a real
/// SMTP server; returns herald (with its signing key) and the server.
pub async fn world_with_mail(fake: &FakeGitHub, config: &str) -> MailWorld {
    fake.put_file(REPO, ".github/herald.yml", config);
    let sink = SmtpSink::start();
    let (key, secret) =
        SigningKey::generate("Example Security <security@example.org>").expect("key");
    let signing_public = key.public_key().expect("public key");
    let gpg = Gpg::with_public_key(&signing_public);
    let key_dir = tempfile::tempdir().expect("temp dir");
    let key_file = key_dir.path().join("signing-key.asc");
    std::fs::write(&key_file, secret).expect("key file");
    let smtp_url = sink.url();
    let harness = installed_with(fake, |settings| {
        settings.mail = MailSettings {
            smtp_url: Some(SecretString::from(smtp_url)),
            from: Some("Example Security <security@example.org>".to_owned()),
            reply_to: None,
            signing_key_file: Some(key_file),
            signing_key_passphrase: None,
        };
    })
    .await;
    MailWorld {
        harness,
        sink,
        gpg,
        _key_dir: key_dir,
        signing_public,
    }
}

/// [`world_with_mail`] after GitHub reported the example (`report-1`).
pub async fn reported_with_mail(fake: &FakeGitHub, config: &str) -> MailWorld {
    let world = world_with_mail(fake, config).await;
    report(&world.harness, "report-1").await;
    world
}

/// A mail server answering `reply` to every message, for a published incident with two
/// lists and two attempts per job.
pub async fn mail_refused_with(
    fake: &FakeGitHub,
    reply: &str,
) -> (Harness, SmtpSink, tempfile::TempDir) {
    let MailWorld {
        mut harness,
        sink,
        _key_dir: keys,
        ..
    } = world_with_mail(fake, TWO_LISTS).await;
    harness.settings.worker.max_attempts = 2;
    harness.restart(true).await;
    report(&harness, "report-1").await;
    sink.refuse(reply);
    github_publishes(&harness).await;
    (harness, sink, keys)
}

/// Mail under embargo as every server on its way reads it: no header names the advisory,
/// its CVE, its repository or a date of the incident; the message threads with the
/// incident's others by an opaque `References`.
pub fn headers_name_nothing(received: &Received) {
    for (name, value) in received.header_fields() {
        if name.eq_ignore_ascii_case("Date") {
            continue;
        }
        let lower = value.to_ascii_lowercase();
        for secret in [
            "ghsa-",
            "cve-",
            "hello-world",
            "codertocat",
            "2026-",
            "2027-",
        ] {
            assert!(!lower.contains(secret), "{name}: {value} names {secret}");
        }
    }
    let references = received.header("References").expect("References");
    assert!(references.starts_with("<herald.thread."), "{references}");
}

// `herald serve` as a process, and the CLI on the harness's store.

/// A loopback address no one listens on yet, to restart herald on the same one.
pub fn free_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
}

/// `/readyz` answers within 0.8 s (allowed a little more here).
pub const READY_WITHIN: Duration = Duration::from_millis(1500);

/// Posts a signed delivery to the `herald serve` on `port`; its status, `None` when nothing
/// answers there.
pub async fn post_to(port: u16, event: &str, delivery_id: &str, body: &[u8]) -> Option<u16> {
    common::http_client()
        .post(format!("http://127.0.0.1:{port}/webhooks"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery_id)
        .header("Content-Type", "application/json")
        .header(
            "X-Hub-Signature-256",
            herald::ingest::signature::sign(&SecretString::from(common::SECRET), body),
        )
        .body(body.to_vec())
        .send()
        .await
        .ok()
        .map(|response| response.status().as_u16())
}

/// Whether the `herald serve` on `port` answers a ping (delivery `delivery_id`) within ten
/// seconds.
pub async fn answers_ping(port: u16, delivery_id: &str) -> bool {
    for _ in 0..200 {
        if post_to(port, "ping", delivery_id, &fixture("ping.0.json")).await == Some(200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// What `herald ARGS` printed on the harness's store; it must succeed.
pub async fn herald_cli(harness: &Harness, args: &[&str]) -> String {
    let output = herald_cli_output(harness, args).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `herald ARGS` said on its error output; it must fail.
pub async fn herald_cli_refused(harness: &Harness, args: &[&str]) -> String {
    let output = herald_cli_output(harness, args).await;
    assert!(!output.status.success(), "herald {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What `herald incidents show` printed of the example's incident, whether or not it
/// succeeded.
pub async fn incidents_show(harness: &Harness) -> String {
    let output = herald_cli_output(harness, &["incidents", "show", GHSA]).await;
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `herald ARGS` on the harness's store, as it ended.
async fn herald_cli_output(harness: &Harness, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env("HERALD_DATABASE_URL", &harness.database_url)
        .output()
        .await
        .expect("herald runs")
}
