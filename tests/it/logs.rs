//! `herald serve` with a GitHub App, mail and a wiki logs no token, key, secret or advisory
//! text.

use crate::common;
use crate::common::app::{
    APP_ID, GHSA, REPO, TRACKING_REPO, advisory, answers_ping, post_to, private_key, world,
};
use crate::common::fixture;
use crate::common::github::FakeGitHub;
use crate::common::gitserver::GitServer;
use crate::common::mail::SmtpSink;
use std::path::Path;
use std::time::Duration;

#[tokio::test]
async fn serve_with_a_github_app_logs_no_token_key_secret_or_advisory_text() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchannels:\n  github_wiki: true\nmailing_lists:\n  - address: announce@lists.example.org\n",
    );
    // The wiki is pushed with the installation token: it must not reach the log either.
    let git = GitServer::start().await;
    git.create_wiki(REPO);
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("herald.log");
    // Mail with a password-protected signing key, and an SMTP password the test server
    // cannot take (it offers no AUTH): the failure is logged, the secrets are not.
    let sink = SmtpSink::start();
    let signing_key = signing_key_with_a_passphrase();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let mut child = serve_tracing_everything(dir.path(), port, &fake, &git, &sink, &signing_key);
    assert!(
        answers_ping(port, "ping-1").await,
        "herald serve did not come up"
    );
    let installation = fixture("installation.created.0.json");
    assert_eq!(
        post_to(port, "installation", "i-1", &installation).await,
        Some(202)
    );
    let reported = advisory("repository_advisory.reported.composed.json");
    assert_eq!(
        post_to(port, "repository_advisory", "r-1", &reported).await,
        Some(202)
    );
    for_up_to_ten_seconds(|| !fake.issues(TRACKING_REPO).is_empty()).await;
    assert_eq!(
        fake.issues(TRACKING_REPO).len(),
        1,
        "the tracking issue was opened"
    );
    // Let the job finish (drafts comment, record) before going on.
    for_up_to_ten_seconds(|| logged(&log_path).contains("effect done")).await;
    // Disclosure: the announcement is signed and its sending fails at AUTH.
    let published = advisory("repository_advisory.published.composed.json");
    assert_eq!(
        post_to(port, "repository_advisory", "p-1", &published).await,
        Some(202)
    );
    for_up_to_ten_seconds(|| {
        let log = logged(&log_path);
        log.contains("send_mail") && log.contains("will retry") && log.contains("wiki page")
    })
    .await;
    child.kill().expect("stop herald");
    child.wait().expect("reaped");

    let log = std::fs::read_to_string(&log_path).expect("log");
    the_log_shows_no_secret(&log, &signing_key, &git);
}

/// An armored signing key protected by the passphrase `passphrase-never-logged`.
fn signing_key_with_a_passphrase() -> String {
    use sequoia_openpgp::cert::prelude::*;
    use sequoia_openpgp::serialize::SerializeInto;
    let (cert, _) = CertBuilder::new()
        .set_cipher_suite(CipherSuite::Cv25519)
        .add_userid("Security <security@example.org>")
        .add_signing_subkey()
        .set_password(Some("passphrase-never-logged".into()))
        .generate()
        .expect("key");
    String::from_utf8(cert.as_tsk().armored().to_vec().expect("armor")).expect("armor")
}

/// `herald serve --log-json` in `dir` on `port`, logging everything (`trace`) to
/// `dir/herald.log`: the App on the fake GitHub, its wiki on `git`, mail to `sink` with an
/// SMTP password, signed with `signing_key` (written to `dir`) and its passphrase.
fn serve_tracing_everything(
    dir: &Path,
    port: u16,
    fake: &FakeGitHub,
    git: &GitServer,
    sink: &SmtpSink,
    signing_key: &str,
) -> common::Spawned {
    let key_file = dir.join("signing-key.asc");
    std::fs::write(&key_file, signing_key).expect("key file");
    common::Spawned(
        std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["serve", "--log-json"])
            .current_dir(dir)
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_WEBHOOK_SECRET", common::SECRET)
            .env("HERALD_GITHUB_API_URL", &fake.url)
            .env("HERALD_GITHUB_APP_ID", APP_ID.to_string())
            .env("HERALD_GITHUB_PRIVATE_KEY", private_key())
            .env("HERALD_WORKER_POLL_INTERVAL_MS", "50")
            .env(
                "HERALD_SMTP_URL",
                format!(
                    "smtp://herald:smtp-password-never-logged@127.0.0.1:{}?tls=none",
                    sink.port
                ),
            )
            .env("HERALD_MAIL_FROM", "Security <security@example.org>")
            .env("HERALD_GITHUB_WEB_URL", &git.url)
            .env("HERALD_SIGNING_KEY_FILE", &key_file)
            .env("HERALD_SIGNING_KEY_PASSPHRASE", "passphrase-never-logged")
            .env("HERALD_LOG", "trace")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("herald.log")).expect("log file"))
            .spawn()
            .expect("herald serve starts"),
    )
}

/// What the log at `path` holds so far (nothing before it is written).
fn logged(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until `done`, looking every 25 ms, for ten seconds at most.
async fn for_up_to_ten_seconds(done: impl Fn() -> bool) {
    for _ in 0..400 {
        if done() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The log is real (the jobs ran, the failed send is there, redacted) and names none of
/// the secrets: the tokens the wiki saw, the keys, the passwords, the advisory's text.
fn the_log_shows_no_secret(log: &str, signing_key: &str, git: &GitServer) {
    assert!(log.contains("effect done"), "the log is real: {log}");
    assert!(
        log.contains("send_mail") && log.contains("herald:***@127.0.0.1"),
        "the failed send is logged, its URL redacted: {log}"
    );
    let key = private_key();
    let key_line = key.lines().nth(1).expect("a key line");
    let signing_key_line = signing_key
        .lines()
        .find(|line| line.len() > 40 && !line.contains(':'))
        .expect("a line of key material");
    assert!(
        git.file(REPO, &format!("Security-Advisories/{GHSA}.md"))
            .is_some(),
        "the wiki was pushed: {log}"
    );
    for token in git.tokens() {
        assert!(
            !log.contains(&token),
            "the installation token leaked into the log"
        );
    }
    for secret in [
        "smtp-password-never-logged",
        "passphrase-never-logged",
        signing_key_line,
        "ghs_fake",
        "Bearer",
        "eyJ",
        "BEGIN RSA",
        key_line,
        common::SECRET,
        "A short summary of the advisory",
        "CVSS:3.1/AV:N",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log: {}",
            log.lines()
                .filter(|line| line.contains(secret))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
