//! `herald serve` with a GitHub App, mail and a wiki logs no token, key, secret or advisory
//! text.

use crate::common;
use crate::common::app::{APP_ID, GHSA, REPO, TRACKING_REPO, advisory, private_key, world};
use crate::common::fixture;
use crate::common::mail::SmtpSink;
use secrecy::SecretString;
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
    let git = common::gitserver::GitServer::start().await;
    git.create_wiki(REPO);
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("herald.log");
    // Mail with a password-protected signing key, and an SMTP password the test server
    // cannot take (it offers no AUTH): the failure is logged, the secrets are not.
    let sink = SmtpSink::start();
    let signing_key = {
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
    };
    let key_file = dir.path().join("signing-key.asc");
    std::fs::write(&key_file, &signing_key).expect("key file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--log-json"])
        .current_dir(dir.path())
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
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("herald serve starts");
    let client = common::http_client();
    let send = |event: &'static str, id: &'static str, body: Vec<u8>| {
        let client = client.clone();
        async move {
            client
                .post(format!("http://127.0.0.1:{port}/webhooks"))
                .header("X-GitHub-Event", event)
                .header("X-GitHub-Delivery", id)
                .header("Content-Type", "application/json")
                .header(
                    "X-Hub-Signature-256",
                    herald::ingest::signature::sign(&SecretString::from(common::SECRET), &body),
                )
                .body(body)
                .send()
                .await
                .map(|response| response.status().as_u16())
                .ok()
        }
    };
    let mut ready = false;
    for _ in 0..200 {
        if send("ping", "ping-1", fixture("ping.0.json")).await == Some(200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "herald serve did not come up");
    assert_eq!(
        send(
            "installation",
            "i-1",
            fixture("installation.created.0.json")
        )
        .await,
        Some(202)
    );
    assert_eq!(
        send(
            "repository_advisory",
            "r-1",
            advisory("repository_advisory.reported.composed.json")
        )
        .await,
        Some(202)
    );
    for _ in 0..400 {
        if !fake.issues(TRACKING_REPO).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        fake.issues(TRACKING_REPO).len(),
        1,
        "the tracking issue was opened"
    );
    // Let the job finish (drafts comment, record) before going on.
    for _ in 0..400 {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("effect done") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Disclosure: the announcement is signed and its sending fails at AUTH.
    assert_eq!(
        send(
            "repository_advisory",
            "p-1",
            advisory("repository_advisory.published.composed.json")
        )
        .await,
        Some(202)
    );
    for _ in 0..400 {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("send_mail") && log.contains("will retry") && log.contains("wiki page") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().expect("stop herald");
    child.wait().expect("reaped");

    let log = std::fs::read_to_string(&log_path).expect("log");
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
