//! `herald setup`: registering the App through GitHub's manifest flow, pressed in a real
//! browser, and what it refuses.

use crate::common;
use crate::common::app::{APP_ID, private_key, world};
use crate::common::github::FakeGitHub;

/// `herald setup`, run in `dir` against the fake GitHub, with its output lines.
struct Setup {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// The page the browser is to open.
    page_url: String,
}

impl Setup {
    async fn start(fake: &FakeGitHub, dir: &std::path::Path) -> Setup {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args([
                "setup",
                "--webhook-url",
                "https://herald.example.org/webhooks",
                "--name",
                "herald-test",
                "--url",
                "https://security.example.org/herald",
                "--listen",
                "127.0.0.1:0",
            ])
            .current_dir(dir)
            .env("HERALD_GITHUB_API_URL", &fake.url)
            .env("HERALD_GITHUB_WEB_URL", &fake.url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("herald setup starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = lines
            .next_line()
            .await
            .expect("output")
            .expect("a first line");
        let page_url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no page address in {first:?}"))
            .to_owned();
        Setup {
            child,
            lines,
            page_url,
        }
    }

    /// How `herald setup` ended: its exit status, the rest of its output, its errors.
    async fn finish(mut self) -> (bool, String, String) {
        use tokio::io::AsyncReadExt;
        let mut rest = Vec::new();
        while let Some(line) = self.lines.next_line().await.expect("output") {
            rest.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut stderr).await.expect("stderr");
        }
        let status = self.child.wait().await.expect("herald setup ends");
        (status.success(), rest.join("\n"), stderr)
    }
}

/// An attribute's value in herald's page, unescaped.
fn html_attribute(page: &str, after: &str) -> String {
    let start = page
        .find(after)
        .unwrap_or_else(|| panic!("{after} not in the page:\n{page}"))
        + after.len();
    let end = start + page[start..].find('"').expect("closing quote");
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x60;", "`")
        .replace("&#x3D;", "=")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Opens `url` in headless Chromium (Debian's), presses its `#register` button, and returns
/// where the browser ended and the text it shows.
async fn press_in_chromium(url: &str) -> (String, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/puppeteer-core").is_dir(),
        "the browser driver is not installed: install Node.js 18 or later and run \
         `npm ci --prefix tests/browser`"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists()
            || std::env::var_os("CHROMIUM").is_some(),
        "no Chromium: `apt install chromium` (or set CHROMIUM to a Chromium or Chrome binary)"
    );
    let output = tokio::process::Command::new("node")
        .arg(dir.join("press.mjs"))
        .arg(url)
        .output()
        .await
        .unwrap_or_else(|error| panic!("cannot run node ({error}): install Node.js 18 or later"));
    assert!(
        output.status.success(),
        "the browser failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ended: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the browser's JSON");
    (
        ended["url"].as_str().unwrap_or_default().to_owned(),
        ended["text"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The page's form: where it posts and the manifest it sends.
async fn setup_form(page_url: &str) -> (String, String) {
    let page = common::http_client()
        .get(page_url)
        .send()
        .await
        .expect("the page")
        .text()
        .await
        .expect("its text");
    assert!(page.contains("id=\"register\""), "a button: {page}");
    (
        html_attribute(&page, "action=\""),
        html_attribute(&page, "name=\"manifest\" value=\""),
    )
}

#[tokio::test]
async fn herald_setup_registers_the_app_through_githubs_manifest_flow() {
    let fake = world().await;
    fake.offer_app_registration(&private_key());
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Setup::start(&fake, dir.path()).await;
    let (action, _) = setup_form(&setup.page_url).await;
    assert!(
        action.starts_with(&format!("{}/settings/apps/new?state=", fake.url)),
        "{action}"
    );
    // A real browser loads the page and presses its button; the form goes to GitHub, which
    // sends the browser back to herald.
    let (ended_at, shown) = press_in_chromium(&setup.page_url).await;
    assert!(
        ended_at.starts_with(&format!("{}callback?code=", setup.page_url)),
        "{ended_at}"
    );
    assert!(
        shown.contains("herald is registered as herald-test"),
        "{shown}"
    );
    let (success, printed, errors) = setup.finish().await;
    assert!(success, "{errors}");
    assert!(
        printed.contains("Next: install the App") && printed.contains("herald doctor"),
        "{printed}"
    );
    let received = fake.manifests_received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["name"], "herald-test");
    assert_eq!(received[0]["url"], "https://security.example.org/herald");
    assert_eq!(
        received[0]["hook_attributes"]["url"],
        "https://herald.example.org/webhooks"
    );
    assert!(
        received[0]["default_events"]
            .as_array()
            .is_some_and(|events| events.contains(&"repository_advisory".into()))
    );
    the_files_are_private_and_no_secret_is_said(dir.path(), &[&printed, &errors]);

    // They work: `herald doctor` reads them and reaches the App on GitHub.
    let doctor = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("doctor")
        .current_dir(dir.path())
        .env("HERALD_DATABASE_URL", common::sqlite_url(dir.path()))
        .output()
        .await
        .expect("herald doctor runs");
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        doctor.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&doctor.stderr)
    );
}

/// The files `herald setup` wrote in `dir`: new, readable only by their owner, the App's
/// key and its id and webhook secret; and no secret in what it `said` on the terminal.
fn the_files_are_private_and_no_secret_is_said(dir: &std::path::Path, said: &[&String]) {
    let settings_path = dir.join("herald.toml");
    let key_path = dir.join("herald-github-app.pem");
    for path in [&settings_path, &key_path] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    assert_eq!(
        std::fs::read_to_string(&key_path).expect("key"),
        private_key()
    );
    let settings = std::fs::read_to_string(&settings_path).expect("settings");
    assert!(
        settings.contains(&format!("github_app_id = {APP_ID}")),
        "{settings}"
    );
    assert!(
        settings.contains("webhook_secret = \"e340154128314309424b7c8e90325147d99fdafa\""),
        "{settings}"
    );
    for said in said {
        assert!(
            !said.contains("e340154128314309424b7c8e90325147d99fdafa"),
            "{said}"
        );
        assert!(!said.contains("PRIVATE KEY"), "{said}");
    }
}

/// What `herald setup --webhook-url URL` said when it refused to start in `dir`.
async fn setup_refused(dir: &std::path::Path, webhook_url: &str) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["setup", "--webhook-url", webhook_url])
        .current_dir(dir)
        .output()
        .await
        .expect("herald setup runs");
    assert!(!output.status.success(), "herald setup started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn herald_setup_refuses_a_foreign_state_a_spent_code_and_an_existing_file() {
    let fake = world().await;
    fake.offer_app_registration(&private_key());

    // An answer that does not carry this setup's state registers nothing, and does not end
    // the setup either.
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Setup::start(&fake, dir.path()).await;
    let (action, _) = setup_form(&setup.page_url).await;
    let state = action.split("state=").nth(1).expect("a state").to_owned();
    let callback = format!(
        "{}callback?code=manifest-code-1&state=not-ours",
        setup.page_url
    );
    let answer = common::http_client()
        .get(&callback)
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert!(
        answer.contains("herald setup failed") && answer.contains("not this setup&#x27;s"),
        "{answer}"
    );
    // A page of another site whose name points at 127.0.0.1 (DNS rebinding) is refused,
    // the page and its state too.
    let port = setup
        .page_url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .expect("a port")
        .to_owned();
    for url in [
        setup.page_url.clone(),
        format!("{}callback?code=spent&state={state}", setup.page_url),
    ] {
        let answer = common::http_client()
            .get(&url)
            .header("Host", format!("rebind.attacker.example:{port}"))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 421, "{url}");
        assert!(!answer.text().await.expect("text").contains(&state));
    }
    // A code GitHub does not know (expired, or used already), with this setup's state:
    // GitHub's words, no files.
    let callback = format!("{}callback?code=spent&state={state}", setup.page_url);
    common::http_client()
        .get(&callback)
        .send()
        .await
        .expect("answer");
    let (success, _, errors) = setup.finish().await;
    assert!(!success);
    assert!(
        errors.contains("GitHub refused the code (404): Not Found"),
        "{errors}"
    );
    assert!(!dir.path().join("herald.toml").exists());
    assert!(!dir.path().join("herald-github-app.pem").exists());

    // A webhook URL GitHub could not call is refused before anything starts.
    let errors = setup_refused(dir.path(), "ftp://herald.example.org/webhooks").await;
    assert!(errors.contains("is not an http(s) URL"), "{errors}");

    // An existing settings file is never overwritten: refused before anything starts.
    std::fs::write(dir.path().join("herald.toml"), "# mine\n").expect("a settings file");
    let errors = setup_refused(dir.path(), "https://herald.example.org/webhooks").await;
    assert!(errors.contains("herald.toml exists"), "{errors}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("herald.toml")).expect("kept"),
        "# mine\n"
    );
}
