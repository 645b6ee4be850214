//! `herald doctor` and the App's checks at start: the key, GitHub's API, the installations,
//! and where tracking issues would be read by more than the security team.

use crate::common;
use crate::common::app::{APP_ID, REPO, TRACK_PRIVATELY, github_settings, installed, world};
use secrecy::SecretString;

#[tokio::test]
async fn a_malformed_app_key_stops_herald_with_a_clear_error() {
    let fake = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = common::sqlite_url(dir.path());
    let mut settings = common::settings(&database_url, true);
    let mut github = github_settings(&fake);
    github.private_key = SecretString::from(
        "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-SECRET\n-----END RSA PRIVATE KEY-----"
            .to_owned(),
    );
    settings.github = Some(github);
    let error = match herald::server::Server::start(&settings).await {
        Ok(_) => panic!("herald started with a malformed key"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("private key"), "{error}");
    assert!(
        !error.contains("not-a-key-SECRET"),
        "the key leaked: {error}"
    );
}

async fn doctor(fake_url: &str, key_file: &std::path::Path) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = common::sqlite_url(dir.path());
    doctor_on(fake_url, key_file, &store).await
}

/// `herald doctor` with the App's key and the store at `database_url`.
async fn doctor_on(
    fake_url: &str,
    key_file: &std::path::Path,
    database_url: &str,
) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("doctor")
        .current_dir(dir.path())
        .env("HERALD_DATABASE_URL", database_url)
        .env("HERALD_WEBHOOK_SECRET", "doctor-secret")
        .env("HERALD_GITHUB_API_URL", fake_url)
        .env("HERALD_GITHUB_APP_ID", APP_ID.to_string())
        .env("HERALD_GITHUB_PRIVATE_KEY_FILE", key_file)
        .env_remove("HERALD_GITHUB_PRIVATE_KEY")
        .output()
        .await
        .expect("herald doctor runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn doctor_says_where_tracking_issues_would_be_read_by_more_than_the_security_team() {
    let fake = world().await;
    let harness = installed(&fake).await;
    let key =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app-private-key.pem");
    let run = async || doctor_on(&fake.url, &key, &harness.database_url).await;
    // No `tracking.repository`: the advisory's own repository.
    let (healthy, text) = run().await;
    assert!(healthy, "{text}");
    assert!(
        text.contains(&format!(
            "note    {REPO}: tracking issues go into {REPO} itself (no `tracking.repository`)"
        )),
        "{text}"
    );
    // A public tracking repository would be refused.
    fake.put_file(
        REPO,
        ".github/herald.yml",
        &format!("tracking:\n  repository: {REPO}\n"),
    );
    let (_, text) = run().await;
    assert!(
        text.contains(&format!("{REPO}: its tracking repository {REPO} is public")),
        "{text}"
    );
    // A private one only the team reads: nothing to say.
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let (_, text) = run().await;
    assert!(!text.contains("tracking"), "{text}");
    harness.stop().await;
}

#[tokio::test]
async fn doctor_checks_the_key_the_api_and_the_installations() {
    let fake = world().await;
    let key =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app-private-key.pem");
    let (healthy, text) = doctor(&fake.url, &key).await;
    assert!(healthy, "{text}");
    assert!(text.contains("JWT signed"), "{text}");
    assert!(text.contains("herald-test (id 29310)"), "{text}");
    assert!(
        text.contains("installed on Codertocat (installation 957387)"),
        "{text}"
    );
    assert!(!text.contains("BEGIN RSA"), "{text}");
    assert!(
        text.contains("Codertocat's security managers may publish, as repository admins may"),
        "{text}"
    );
    // Without the permission to read the organisation's roles: admins only, and why.
    fake.forbid_org_roles();
    let (healthy, text) = doctor(&fake.url, &key).await;
    assert!(healthy, "{text}");
    assert!(
        text.contains(
            "herald cannot see Codertocat's security managers (Resource not accessible by \
             integration): only repository admins may publish"
        ),
        "{text}"
    );

    // A key file that is not a key.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("key.pem");
    std::fs::write(
        &broken,
        "-----BEGIN RSA PRIVATE KEY-----\nSECRETSTUFF\n-----END RSA PRIVATE KEY-----\n",
    )
    .expect("write");
    let (healthy, text) = doctor(&fake.url, &broken).await;
    assert!(!healthy, "{text}");
    assert!(
        text.contains("PROBLEM the GitHub App private key is not a PEM-encoded RSA private key"),
        "{text}"
    );
    assert!(!text.contains("SECRETSTUFF"), "{text}");

    // A GitHub that does not answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (healthy, text) = doctor(&url, &key).await;
    assert!(!healthy, "{text}");
    assert!(text.contains("PROBLEM GitHub API at"), "{text}");

    // A missing key file.
    let (healthy, text) = doctor(&fake.url, &dir.path().join("absent.pem")).await;
    assert!(!healthy, "{text}");
    assert!(text.contains("absent.pem"), "{text}");
}
