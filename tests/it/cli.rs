//! The `herald` binary as a user runs it.

use crate::common;

use herald::ingest::signature;
use secrecy::SecretString;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SECRET: &str = "a-webhook-secret-that-must-never-be-logged";

fn herald(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.current_dir(cwd);
    for (name, _) in std::env::vars() {
        if name.starts_with("HERALD_") {
            command.env_remove(name);
        }
    }
    command
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("herald runs");
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    (output, stdout, stderr)
}

#[test]
fn malformed_names_on_the_command_line_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, _, stderr) = run(herald(dir.path()).args(["drafts", "GHSA-x"]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("\"GHSA-x\" is not a GHSA id"), "{stderr}");
    let (output, _, stderr) = run(herald(dir.path()).args([
        "incidents",
        "retry",
        "GHSA-aaaa-bbbb-cccc",
        "--repo",
        "acme/widget/extra",
    ]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is not a GitHub repository `owner/name`: it needs exactly one `/`"),
        "{stderr}"
    );
    // Nothing was opened: no store file appeared.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

#[test]
fn the_readme_dry_run_opens_an_incident_in_the_default_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, stdout, stderr) = run(herald(dir.path())
        .arg("dry-run")
        .arg(repo_file("examples/repository_advisory.reported.json")));
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("opened incident GHSA-abcd-1234-efgh in Codertocat/Hello-World"),
        "{stdout}"
    );
    assert!(
        stdout.contains("9.8 critical (CVSS 3.1, computed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("9.3 critical (CVSS 4.0, computed)"),
        "{stdout}"
    );
    assert!(stdout.contains("CVE-2050-00000"), "{stdout}");
    assert!(
        dir.path().join("herald.db").exists(),
        "default store sqlite://herald.db"
    );
    let drafts = dir.path().join("herald-drafts/GHSA-abcd-1234-efgh");
    every_draft_and_the_osv_record_are_written(dir.path(), &drafts, &stdout);
    // Undisclosed text: the store and the drafts are their owner's alone.
    for private in [
        "herald.db",
        "herald-drafts",
        "herald-drafts/GHSA-abcd-1234-efgh",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(private))
            .expect("created")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{private} has mode {mode:o}");
    }
    assert!(
        stdout.contains("2 job(s) queued (sync_tracking_issue, chat); a dry run never contacts"),
        "{stdout}"
    );
    // The announcement, signed with a throwaway key the run says it made.
    assert!(
        stdout.contains("throwaway key generated for this run"),
        "{stdout}"
    );
    let eml = std::fs::read_to_string(drafts.join("announcement.announce_example.invalid.eml"))
        .unwrap_or_else(|error| panic!("the signed announcement: {error}\n{stdout}"));
    assert!(eml.contains("BEGIN PGP SIGNED MESSAGE"), "{eml}");
    herald_drafts_prints_the_drafts(dir.path());
    herald_incidents_lists_and_shows_the_incident(dir.path());
}

/// Every draft is written for review in `drafts`, and nothing went to GitHub; the OSV
/// record too, as it would be committed on disclosure (not published yet), which
/// `herald export osv` prints the same.
fn every_draft_and_the_osv_record_are_written(dir: &Path, drafts: &Path, stdout: &str) {
    for name in [
        "tracking-issue.md",
        "changelog-entry.md",
        "advisory-issue.md",
        "wiki-page.md",
        "wiki-page.wiki",
        "forum-post.md",
        "blog-post.md",
        "announcement-subject.txt",
        "announcement.txt",
        "review.md",
    ] {
        let text = std::fs::read_to_string(drafts.join(name))
            .unwrap_or_else(|error| panic!("{name}: {error}\n{stdout}"));
        assert!(text.contains("GHSA-abcd-1234-efgh"), "{name}: {text}");
    }
    let osv = common::osv::valid_osv(
        &std::fs::read_to_string(drafts.join("osv.json")).expect("osv.json"),
    );
    assert_eq!(osv["id"], "GHSA-abcd-1234-efgh");
    assert_eq!(osv["aliases"], serde_json::json!(["CVE-2050-00000"]));
    assert!(osv.get("published").is_none(), "{osv}");
    let (output, printed, stderr) = run(herald(dir).args(["export", "osv", "GHSA-abcd-1234-efgh"]));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        common::osv::valid_osv(&printed),
        osv,
        "export prints the same record"
    );
}

/// `herald drafts GHSA` prints the drafts, as text and as JSON.
fn herald_drafts_prints_the_drafts(dir: &Path) {
    let (output, printed, _) = run(herald(dir).args(["drafts", "GHSA-abcd-1234-efgh"]));
    assert!(output.status.success());
    assert!(printed.contains("==> announcement.txt <=="), "{printed}");
    assert!(
        printed.contains("[SECURITY] GHSA-abcd-1234-efgh / CVE-2050-00000"),
        "{printed}"
    );
    let (output, printed, _) = run(herald(dir).args(["drafts", "GHSA-abcd-1234-efgh", "--json"]));
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_str(&printed).expect("JSON output");
    assert_eq!(json["ghsa_id"], "GHSA-abcd-1234-efgh");
    assert_eq!(json["repository"], "Codertocat/Hello-World");
    assert!(["review", "rendered"].contains(&json["source"].as_str().unwrap_or_default()));
    let announcement = json["drafts"]
        .as_array()
        .expect("drafts")
        .iter()
        .find(|draft| draft["name"] == "announcement-subject.txt")
        .unwrap_or_else(|| panic!("no announcement-subject.txt: {json}"));
    let text = announcement["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("[SECURITY] GHSA-abcd-1234-efgh / CVE-2050-00000"),
        "{text}"
    );
}

/// `herald incidents list` lists the one incident, `incidents show` shows it (as text and
/// as JSON), and refuses an incident that is not there.
fn herald_incidents_lists_and_shows_the_incident(dir: &Path) {
    let (output, stdout, _) = run(herald(dir).args(["incidents", "list"]));
    assert!(output.status.success());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("GHSA ID"), "{stdout}");
    assert_eq!(lines[2], "incidents 1–1 of 1", "{stdout}");
    assert!(
        lines[1].contains("GHSA-abcd-1234-efgh") && lines[1].contains("awareness"),
        "{stdout}"
    );

    let (output, stdout, _) = run(herald(dir).args(["incidents", "show", "GHSA-abcd-1234-efgh"]));
    assert!(output.status.success());
    assert!(stdout.contains("Phase:       awareness"), "{stdout}");
    assert!(
        stdout.contains("pip a-package  vulnerable >= 1.0.0, < 1.0.1  patched 1.0.1"),
        "{stdout}"
    );
    assert!(stdout.contains("octocat (analyst, accepted)"), "{stdout}");

    let (output, stdout, _) =
        run(herald(dir).args(["incidents", "show", "GHSA-abcd-1234-efgh", "--json"]));
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    assert_eq!(json["incident"]["cvss_v4"]["computed"]["score"], 9.3);

    let (output, _, stderr) = run(herald(dir).args(["incidents", "show", "GHSA-none-none-none"]));
    assert!(!output.status.success());
    assert!(
        stderr.contains("no incident GHSA-none-none-none"),
        "{stderr}"
    );
}

/// One package per ecosystem herald maps, with a range in GitHub's syntax, and what OSV
/// must make of it: the ecosystem's OSV name, the range type and the events.
const ECOSYSTEM_CASES: &[(&str, &str, &str, &str, &str)] = &[
    ("npm", "lodash", "< 4.17.21", "npm", "SEMVER"),
    ("pip", "django", ">= 4.2, < 4.2.16", "PyPI", "ECOSYSTEM"),
    (
        "maven",
        "org.apache.logging.log4j:log4j-core",
        ">= 2.0-beta9, < 2.15.0",
        "Maven",
        "ECOSYSTEM",
    ),
    ("go", "golang.org/x/net", "< 0.17.0", "Go", "SEMVER"),
    (
        "rubygems",
        "rack",
        ">= 3.0.0, < 3.0.9.1",
        "RubyGems",
        "ECOSYSTEM",
    ),
    ("nuget", "Newtonsoft.Json", "< 13.0.1", "NuGet", "ECOSYSTEM"),
    (
        "composer",
        "symfony/http-kernel",
        ">= 5.0.0, <= 5.4.19",
        "Packagist",
        "ECOSYSTEM",
    ),
    (
        "rust",
        "hyper",
        ">= 0.14.0, < 0.14.10",
        "crates.io",
        "SEMVER",
    ),
    ("erlang", "plug", "= 1.14.0", "Hex", "SEMVER"),
    ("pub", "http", "<= 0.13.2", "Pub", "SEMVER"),
    (
        "swift",
        "github.com/vapor/vapor",
        "> 4.0.0, < 4.40.1",
        "SwiftURL",
        "SEMVER",
    ),
    (
        "actions",
        "tj-actions/changed-files",
        "< 46",
        "GitHub Actions",
        "ECOSYSTEM",
    ),
];

#[test]
fn every_ecosystem_exports_a_valid_osv_record_with_its_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut payload: serde_json::Value = serde_json::from_slice(&common::fixture(
        "repository_advisory.published.composed.json",
    ))
    .expect("JSON");
    let ghsa_id = payload["repository_advisory"]["ghsa_id"]
        .as_str()
        .expect("ghsa_id")
        .to_owned();
    payload["repository_advisory"]["vulnerabilities"] = ECOSYSTEM_CASES
        .iter()
        .map(|(ecosystem, name, range, _, _)| {
            serde_json::json!({
                "package": {"ecosystem": ecosystem, "name": name},
                "vulnerable_version_range": range,
                "patched_versions": null,
                "vulnerable_functions": [],
            })
        })
        .collect();
    let path = dir.path().join("published.json");
    std::fs::write(&path, serde_json::to_vec(&payload).expect("JSON")).expect("payload");
    let (output, stdout, stderr) = run(herald(dir.path()).arg("dry-run").arg(&path));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let written = dir
        .path()
        .join("herald-drafts")
        .join(&ghsa_id)
        .join("osv.json");
    let osv = common::osv::valid_osv(&std::fs::read_to_string(written).expect("osv.json"));
    assert!(osv["published"].is_string(), "{osv}");
    let affected = osv["affected"].as_array().expect("affected");
    assert_eq!(affected.len(), ECOSYSTEM_CASES.len(), "{osv}");
    let expected_events = [
        serde_json::json!([{"introduced": "0"}, {"fixed": "4.17.21"}]),
        serde_json::json!([{"introduced": "4.2"}, {"fixed": "4.2.16"}]),
        serde_json::json!([{"introduced": "2.0-beta9"}, {"fixed": "2.15.0"}]),
        serde_json::json!([{"introduced": "0"}, {"fixed": "0.17.0"}]),
        serde_json::json!([{"introduced": "3.0.0"}, {"fixed": "3.0.9.1"}]),
        serde_json::json!([{"introduced": "0"}, {"fixed": "13.0.1"}]),
        serde_json::json!([{"introduced": "5.0.0"}, {"last_affected": "5.4.19"}]),
        serde_json::json!([{"introduced": "0.14.0"}, {"fixed": "0.14.10"}]),
        serde_json::json!([{"introduced": "1.14.0"}, {"last_affected": "1.14.0"}]),
        serde_json::json!([{"introduced": "0"}, {"last_affected": "0.13.2"}]),
        serde_json::json!([{"introduced": "4.0.1-0"}, {"fixed": "4.40.1"}]),
        serde_json::json!([{"introduced": "0"}, {"fixed": "46"}]),
    ];
    for ((case, entry), events) in ECOSYSTEM_CASES.iter().zip(affected).zip(expected_events) {
        let (_, name, range, osv_ecosystem, range_type) = case;
        assert_eq!(entry["package"]["ecosystem"], *osv_ecosystem, "{entry}");
        assert_eq!(entry["package"]["name"], *name, "{entry}");
        assert_eq!(entry["ranges"][0]["type"], *range_type, "{entry}");
        assert_eq!(entry["ranges"][0]["events"], events, "{range}: {entry}");
        assert_eq!(
            entry["database_specific"]["vulnerable_version_range"],
            *range
        );
    }
    assert_eq!(affected[8]["versions"], serde_json::json!(["1.14.0"]));

    let (output, printed, stderr) = run(herald(dir.path()).args(["export", "osv", &ghsa_id]));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(common::osv::valid_osv(&printed), osv);
    let (output, _, stderr) =
        run(herald(dir.path()).args(["export", "osv", "GHSA-none-none-none"]));
    assert!(!output.status.success());
    assert!(
        stderr.contains("no incident GHSA-none-none-none"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_payload_is_a_clear_error_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = dir.path().join("broken.json");
    std::fs::write(&payload, b"{\"action\": \"reported\", ").expect("write payload");
    let (output, stdout, stderr) = run(herald(dir.path()).arg("dry-run").arg(&payload));
    assert!(!output.status.success(), "{stdout}");
    assert!(stderr.contains("malformed JSON"), "{stderr}");
    let (_, stdout, _) = run(herald(dir.path()).args(["incidents", "list"]));
    assert_eq!(stdout, "no incidents yet\n");
}

#[test]
fn a_broken_config_file_names_the_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("herald.toml"),
        "listen = \"127.0.0.1:3000\"\nlisten_on = 1\n",
    )
    .expect("write config");
    let (output, _, stderr) = run(herald(dir.path()).args(["incidents", "list"]));
    assert!(!output.status.success());
    assert!(stderr.contains("herald.toml"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(stderr.contains("listen_on"), "{stderr}");
}

#[test]
fn serve_without_a_webhook_secret_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, _, stderr) = run(herald(dir.path()).arg("serve"));
    assert!(!output.status.success());
    assert!(stderr.contains("HERALD_WEBHOOK_SECRET"), "{stderr}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// `herald serve` logging at `debug`.
fn spawn_serve(dir: &Path, port: u16, worker: bool) -> Served {
    serve_logging_at(dir, port, worker, "debug")
}

fn serve_logging_at(dir: &Path, port: u16, worker: bool, level: &str) -> Served {
    let mut child = herald(dir)
        .args(["serve", "--log-json"])
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_WEBHOOK_SECRET", SECRET)
        .env(
            "HERALD_WORKER_ENABLED",
            if worker { "true" } else { "false" },
        )
        .env("HERALD_WORKER_POLL_INTERVAL_MS", "50")
        .env("HERALD_LOG", level)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herald serve starts");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        stderr.read_to_string(&mut log).expect("read stderr");
        log
    });
    Served {
        child: common::Spawned(child),
        log,
    }
}

/// `herald serve` running, its log read as it is written: a pipe that nobody reads fills,
/// and herald then waits to write its next line (at `debug`, within seconds).
struct Served {
    child: common::Spawned,
    log: std::thread::JoinHandle<String>,
}

impl Served {
    fn id(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait()
    }

    /// All it logged (once it has ended).
    fn log(self) -> String {
        self.log.join().expect("the log's reader")
    }
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    for _ in 0..200 {
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("herald serve did not become ready on port {port}");
}

async fn post(
    client: &reqwest::Client,
    port: u16,
    delivery: &str,
    body: &[u8],
    signed: bool,
) -> u16 {
    let mut request = client
        .post(format!("http://127.0.0.1:{port}/webhooks"))
        .header("X-GitHub-Event", "repository_advisory")
        .header("X-GitHub-Delivery", delivery)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if signed {
        request = request.header(
            "X-Hub-Signature-256",
            signature::sign(&SecretString::from(SECRET), body),
        );
    }
    request
        .send()
        .await
        .expect("delivery reaches herald")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_killed_server_loses_no_accepted_delivery_and_logs_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = common::http_client();
    let body = common::fixture("repository_advisory.reported.composed.json");

    let port = free_port();
    let mut first = spawn_serve(dir.path(), port, false);
    wait_ready(&client, port).await;
    assert_eq!(post(&client, port, "before-kill", &body, true).await, 202);
    assert_eq!(post(&client, port, "unsigned", &body, false).await, 401);
    first.kill().expect("SIGKILL herald");
    first.wait().expect("reaped");
    let first_log = first.log();

    let (_, stdout, _) = run(herald(dir.path()).args(["incidents", "list"]));
    assert_eq!(
        stdout, "no incidents yet\n",
        "the worker was off before the kill"
    );

    let port = free_port();
    let second = spawn_serve(dir.path(), port, true);
    wait_ready(&client, port).await;
    let mut processed = false;
    for _ in 0..200 {
        let (_, stdout, _) = run(herald(dir.path()).args(["incidents", "list"]));
        if stdout.contains("GHSA-abcd-1234-efgh") {
            processed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        processed,
        "the delivery accepted before the kill was processed after restart"
    );
    let status = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let mut second = second;
    assert!(
        second.wait().expect("reaped").success(),
        "SIGTERM stops herald cleanly"
    );
    let second_log = second.log();

    for log in [&first_log, &second_log] {
        assert!(
            !log.contains(SECRET),
            "the webhook secret leaked into the log"
        );
        for line in log.lines() {
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
            assert!(parsed.is_ok(), "--log-json writes JSON lines, got {line:?}");
        }
    }
    assert!(
        first_log.contains("before-kill"),
        "deliveries are logged by id"
    );
    assert!(second_log.contains("delivery processed"), "{second_log}");
    assert!(second_log.contains("GHSA-abcd-1234-efgh"), "{second_log}");
    for log in [&first_log, &second_log] {
        for embargoed in [
            "A short summary of the advisory",
            "detailed description",
            "critical",
            "CVSS:3.1",
        ] {
            assert!(
                !log.contains(embargoed),
                "advisory content {embargoed:?} leaked into the log"
            );
        }
    }
}

#[tokio::test]
async fn at_the_default_level_answered_deliveries_are_logged_once_a_minute_with_a_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = common::http_client();
    let body = common::fixture("repository_advisory.reported.composed.json");
    let port = free_port();
    // `info`, as `serve` logs unless told otherwise.
    let mut server = serve_logging_at(dir.path(), port, false, "info");
    wait_ready(&client, port).await;
    for index in 0..30 {
        let status = post(&client, port, &format!("quiet-{index}"), &body, true).await;
        assert_eq!(status, if index == 0 { 202 } else { 200 }, "{index}");
    }
    server.kill().expect("stop herald");
    server.wait().expect("reaped");
    let log = server.log();
    let answered: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("webhook delivery"))
        .collect();
    assert_eq!(answered.len(), 1, "one line for 30 answers:\n{log}");
    assert!(answered[0].contains("quiet-0"), "{log}");
}

#[tokio::test]
async fn a_flood_of_forged_deliveries_is_logged_at_a_bounded_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = common::http_client();
    let port = free_port();
    let mut server = spawn_serve(dir.path(), port, false);
    wait_ready(&client, port).await;
    for index in 0..500 {
        let status = post(&client, port, &format!("forged-{index}"), b"{}", false).await;
        assert_eq!(status, 401);
    }
    server.kill().expect("stop herald");
    server.wait().expect("reaped");
    let log = server.log();
    let refused = log
        .lines()
        .filter(|line| line.contains("webhook delivery refused"))
        .count();
    assert_eq!(
        refused, 1,
        "one line for 500 refusals within a minute:\n{log}"
    );
    // What the flood added, after start-up (whose debug lines grow with the migrations).
    let flood = log
        .split_once("herald is listening")
        .map_or(log.as_str(), |(_, after)| after);
    assert!(
        flood.len() < 5_000,
        "{} bytes of log:\n{flood}",
        flood.len()
    );
}

#[test]
fn the_docs_list_every_setting_and_the_readme_the_two_commands() {
    let configuration =
        std::fs::read_to_string(repo_file("docs/configuration.md")).expect("configuration.md");
    for (key, variable, _, _) in herald::config::SETTINGS_TABLE {
        assert!(
            configuration.contains(variable),
            "docs/configuration.md lacks {variable}"
        );
        assert!(
            configuration.contains(&format!("`{key}`")),
            "docs/configuration.md lacks the herald.toml key {key}"
        );
    }
    let readme = std::fs::read_to_string(repo_file("README.md")).expect("README.md");
    assert!(readme.contains("cargo run -- dry-run examples/repository_advisory.reported.json"));
    let ci = std::fs::read_to_string(repo_file(".ci/run")).expect(".ci/run");
    assert!(readme.contains("cargo test --locked") && ci.contains("cargo test --locked"));
}

/// Every `.rs` file's text under `dir`.
fn rust_sources(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("a folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            text.push_str(&rust_sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            text.push_str(&std::fs::read_to_string(&path).expect("a source file"));
        }
    }
    text
}

#[test]
fn each_test_the_threat_model_names_exists() {
    let model = std::fs::read_to_string(repo_file("docs/threat-model.md")).expect("threat model");
    let sources = rust_sources(&repo_file("src")) + &rust_sources(&repo_file("tests"));
    let rules = model
        .split("## Rules and the tests that hold them")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the rules table");
    let mut named = 0;
    for row in rules.lines().filter(|line| line.starts_with("| ")) {
        let Some(tests) = row.trim_end_matches('|').rsplit('|').next() else {
            continue;
        };
        for quoted in tests.split('`').skip(1).step_by(2) {
            let name = quoted.rsplit("::").next().unwrap_or(quoted);
            let is_name = name.len() > 12
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if is_name {
                named += 1;
                assert!(
                    sources.contains(&format!("fn {name}(")),
                    "docs/threat-model.md names the test {name}, which does not exist"
                );
            }
        }
    }
    assert!(named >= 20, "only {named} tests named");
}

#[test]
fn hostile_advisory_text_reaches_the_terminal_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut payload: serde_json::Value = serde_json::from_slice(&common::fixture(
        "repository_advisory.reported.composed.json",
    ))
    .expect("fixture JSON");
    payload["repository_advisory"]["summary"] =
        "Overflow\u{1b}]0;pwned\u{7}\u{1b}[2J\r\nFake-Header: yes".into();
    payload["repository_advisory"]["description"] = "line one\n\u{1b}[31mred\u{1b}[0m".into();
    let path = dir.path().join("hostile.json");
    std::fs::write(&path, serde_json::to_vec(&payload).expect("JSON")).expect("write payload");

    let (output, stdout, stderr) = run(herald(dir.path()).arg("dry-run").arg(&path));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let (listed, list, list_err) = run(herald(dir.path()).args(["incidents", "list"]));
    assert!(listed.status.success(), "{}: {list_err}", listed.status);
    let (shown, show, show_err) =
        run(herald(dir.path()).args(["incidents", "show", "GHSA-abcd-1234-efgh"]));
    assert!(shown.status.success(), "{}: {show_err}", shown.status);
    for text in [&stdout, &list, &show] {
        assert!(
            !text.contains('\u{1b}'),
            "a raw escape reached the terminal: {text:?}"
        );
        assert!(!text.contains('\u{7}') && !text.contains('\r'), "{text:?}");
    }
    assert!(
        show.contains("Overflow\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\r\\nFake-Header: yes"),
        "{show}"
    );
    assert!(
        show.contains("  line one\n  \\u{1b}[31mred\\u{1b}[0m"),
        "{show}"
    );
}

/// A right-to-left override (U+202E) and a C1 control sequence introducer (U+009B) in an
/// advisory's summary reach neither the terminal nor any JSON output raw.
#[test]
fn bidi_and_c1_controls_reach_no_output_raw() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut payload: serde_json::Value = serde_json::from_slice(&common::fixture(
        "repository_advisory.reported.composed.json",
    ))
    .expect("fixture JSON");
    let summary = "Overflow in \u{202e}fdp.exe\u{9b}2J";
    payload["repository_advisory"]["summary"] = summary.into();
    let path = dir.path().join("hostile.json");
    std::fs::write(&path, serde_json::to_vec(&payload).expect("JSON")).expect("write payload");
    let (output, stdout, stderr) = run(herald(dir.path()).arg("dry-run").arg(&path));
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let ghsa_id = "GHSA-abcd-1234-efgh";
    let printed = |args: &[&str]| {
        let (output, stdout, stderr) = run(herald(dir.path()).args(args));
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(
            !stdout.contains(['\u{202e}', '\u{9b}']),
            "{args:?} printed a control raw: {stdout:?}"
        );
        stdout
    };
    let shown = printed(&["incidents", "show", ghsa_id]);
    assert!(
        shown.contains("Overflow in \\u{202e}fdp.exe\\u{9b}2J"),
        "{shown}"
    );
    printed(&["incidents", "list"]);
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(&printed(args)).unwrap_or_else(|error| panic!("{args:?}: {error}"))
    };
    let shown = json(&["incidents", "show", ghsa_id, "--json"]);
    assert_eq!(shown["incident"]["summary"], summary);
    let listed = json(&["incidents", "list", "--json"]);
    assert_eq!(listed[0]["summary"], summary);
    json(&["drafts", ghsa_id, "--json"]);
    let osv = printed(&["export", "osv", ghsa_id]);
    assert!(
        osv.contains(r#""summary": "Overflow in \u202efdp.exe\u009b2J""#),
        "{osv}"
    );
    assert_eq!(common::osv::valid_osv(&osv)["summary"], summary);
}

#[test]
fn keys_generate_show_and_a_dry_run_announcement_gnupg_verifies() {
    use common::mail::{Received, part_body};
    let dir = tempfile::tempdir().expect("tempdir");
    let uid = "Project Security <security@example.org>";
    let (key_file, secret, gpg, fingerprint) = keys_generate(dir.path(), uid);

    // A second run never overwrites the key.
    let (output, _, stderr) = run(herald(dir.path()).args(["keys", "generate", "--uid", uid]));
    assert!(!output.status.success());
    assert!(stderr.contains("never overwritten"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key_file).expect("key"), secret);

    let (output, stdout, _) = run(herald(dir.path())
        .args(["keys", "show"])
        .env("HERALD_SIGNING_KEY_FILE", &key_file));
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("fingerprint: {fingerprint}")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("user id:     {uid}")), "{stdout}");
    assert!(stdout.contains("expires:     20"), "{stdout}");

    // A dry run signs with the configured key, one .eml per list of the repository config.
    let config = dir.path().join("herald.yml");
    std::fs::write(
        &config,
        "mailing_lists:\n  - address: announce@lists.example.org\n  - address: oss@lists.example.org\n    signing: pgp-mime\n",
    )
    .expect("config");
    let (output, stdout, stderr) = run(herald(dir.path())
        .arg("dry-run")
        .arg(repo_file("examples/repository_advisory.reported.json"))
        .arg("--repo-config")
        .arg(&config)
        .env("HERALD_SIGNING_KEY_FILE", &key_file)
        .env(
            "HERALD_MAIL_FROM",
            "Project Security <security@example.org>",
        ));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("throwaway"), "{stdout}");
    let drafts = dir.path().join("herald-drafts/GHSA-abcd-1234-efgh");
    let cleartext = std::fs::read(drafts.join("announcement.announce_lists.example.org.eml"))
        .expect("the cleartext list's announcement");
    let received = Received::parse(&cleartext);
    assert_eq!(
        received.header("From").as_deref(),
        Some("\"Project Security\" <security@example.org>")
    );
    // The file as written verifies, headers and all (`gpg --verify announcement.eml`).
    let status = gpg
        .verify_cleartext(&cleartext)
        .expect("gpg verifies the dry run's .eml as written");
    assert!(status.contains(&fingerprint), "{status}");
    let pgp_mime = Received::parse(
        &std::fs::read(drafts.join("announcement.oss_lists.example.org.eml")).expect("eml"),
    );
    let parts = pgp_mime.parts();
    gpg.verify_detached(&part_body(&parts[1]), &parts[0])
        .expect("gpg verifies the PGP/MIME announcement");
}

/// `herald keys generate --uid UID` in `dir`: the secret key in a file only its owner
/// reads, never printed; the public key printed. The key file, the secret key, GnuPG
/// knowing the public key, and the fingerprint.
fn keys_generate(dir: &Path, uid: &str) -> (PathBuf, String, common::mail::Gpg, String) {
    let (output, stdout, stderr) = run(herald(dir).args(["keys", "generate", "--uid", uid]));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let key_file = dir.join("herald-signing-key.asc");
    let secret = std::fs::read_to_string(&key_file).expect("the secret key file");
    assert!(secret.contains("PRIVATE KEY BLOCK"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the secret key");
    }
    assert!(
        !stdout.contains("PRIVATE"),
        "the secret is never printed: {stdout}"
    );
    let public = &stdout[stdout
        .find("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        .expect("public key")..];
    let gpg = common::mail::Gpg::with_public_key(public);
    let fingerprint = stdout
        .lines()
        .find_map(|line| line.strip_prefix("generated signing key "))
        .expect("the fingerprint")
        .to_owned();
    (key_file, secret, gpg, fingerprint)
}

#[test]
fn doctor_names_an_unusable_signing_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = herald::mail::SigningKey::generate("A <a@example.org>").expect("key");
    let public_only = dir.path().join("public.asc");
    std::fs::write(&public_only, key.public_key().expect("public")).expect("write");
    let (output, stdout, _) = run(herald(dir.path())
        .arg("doctor")
        .env("HERALD_SIGNING_KEY_FILE", &public_only));
    assert!(!output.status.success());
    assert!(
        stdout.contains(&format!(
            "PROBLEM {}: the signing key {} holds no secret key material",
            public_only.display(),
            key.fingerprint()
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_sqlite_store_copied_to_postgresql_reads_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    for payload in [
        "examples/repository_advisory.reported.json",
        "tests/fixtures/repository_advisory.published.composed.json",
    ] {
        let (output, _, stderr) = run(herald(dir.path()).args(["dry-run"]).arg(repo_file(payload)));
        assert!(output.status.success(), "{stderr}");
    }
    // A report mailed to the security team, kept whole.
    let mut take = herald(dir.path())
        .args(["intake", "mail"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("herald runs");
    std::io::Write::write_all(
        &mut take.stdin.take().expect("stdin"),
        &std::fs::read(repo_file("tests/fixtures/mail/report.eml")).expect("the report"),
    )
    .expect("written");
    assert!(take.wait().expect("herald ends").success());
    let postgres = crate::common::postgres_database().await;
    let (output, stdout, stderr) =
        run(herald(dir.path()).args(["store", "copy", "--to", &postgres]));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("incidents          1 row(s)"), "{stdout}");
    assert!(
        stdout.contains("copied sqlite://herald.db into postgres://"),
        "{stdout}"
    );
    for args in [
        &["incidents", "list"][..],
        &["incidents", "show", "GHSA-abcd-1234-efgh"][..],
        &["drafts", "GHSA-abcd-1234-efgh"][..],
        &["intake", "list", "--json"][..],
        &["intake", "show", "1"][..],
    ] {
        let (_, on_sqlite, _) = run(herald(dir.path()).args(args));
        let (output, on_postgres, stderr) = run(herald(dir.path())
            .env("HERALD_DATABASE_URL", &postgres)
            .args(args));
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert_eq!(on_postgres, on_sqlite, "{args:?}");
    }
    // A target with rows is refused, and keeps them.
    let (output, _, stderr) = run(herald(dir.path()).args(["store", "copy", "--to", &postgres]));
    assert!(!output.status.success());
    assert!(
        stderr.contains("the target store is not empty (deliveries has rows)"),
        "{stderr}"
    );
    // The copy goes on from the copied ids: a new delivery lands on PostgreSQL.
    let (output, _, stderr) = run(herald(dir.path())
        .env("HERALD_DATABASE_URL", &postgres)
        .args(["dry-run", "--event", "repository_advisory"])
        .arg(repo_file(
            "tests/fixtures/repository_advisory.published.composed.json",
        )));
    assert!(output.status.success(), "{stderr}");
}

#[tokio::test]
async fn incidents_list_pages_and_filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    twelve_incidents(dir.path()).await;
    let list = |args: &[&str]| {
        let mut command = herald(dir.path());
        command.args(["incidents", "list"]).args(args);
        let (output, stdout, stderr) = run(&mut command);
        (output.status.success(), stdout, stderr)
    };
    let ids = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|word| word.starts_with("GHSA-"))
            .map(str::to_owned)
            .collect()
    };

    // Most recently changed first, five to a page.
    let (ok, stdout, stderr) = list(&["--limit", "5", "--page", "2"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        ids(&stdout),
        ["0006", "0005", "0004", "0003", "0002"].map(|n| format!("GHSA-list-{n}-xxxx")),
        "{stdout}"
    );
    assert!(
        stdout.contains("incidents 6–10 of 12; --page 3 for more"),
        "{stdout}"
    );

    let (_, stdout, _) = list(&["--severity", "critical", "--repo", "acme/widget"]);
    assert_eq!(
        ids(&stdout),
        ["0006", "0000"].map(|n| format!("GHSA-list-{n}-xxxx")),
        "{stdout}"
    );
    let (_, stdout, _) = list(&["--phase", "closed"]);
    assert_eq!(ids(&stdout).len(), 4, "{stdout}");
    assert!(stdout.contains("incidents 1–4 of 4\n"), "{stdout}");
    let (_, stdout, _) = list(&["--phase", "closed", "--repo", "acme/nothing"]);
    assert_eq!(stdout, "no incident matches\n");
    let (_, stdout, _) = list(&["--page", "9"]);
    assert_eq!(stdout, "page 9 is past the last: 12 match\n");

    // JSON: the page's incidents.
    let (_, stdout, _) = list(&["--json", "--limit", "3", "--phase", "closed"]);
    let parsed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let ghsa_ids: Vec<&str> = parsed
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|incident| incident["ghsa_id"].as_str())
        .collect();
    assert_eq!(
        ghsa_ids,
        [
            "GHSA-list-0011-xxxx",
            "GHSA-list-0010-xxxx",
            "GHSA-list-0009-xxxx"
        ]
    );

    // Bad filters are refused with what is allowed.
    let (ok, _, stderr) = list(&["--phase", "done"]);
    assert!(!ok);
    assert!(stderr.contains("awareness, assessment"), "{stderr}");
    let (ok, _, stderr) = list(&["--limit", "0"]);
    assert!(!ok, "{stderr}");
}

/// 12 incidents in the default store in `dir`, a second apart: every third critical, the
/// even ones in acme/widget, the last four closed.
async fn twelve_incidents(dir: &Path) {
    use herald::incident::{GhsaId, Incident, Phase, RepoName, Severity};
    let url = common::sqlite_url(dir);
    let store = herald::store::Store::open(&url).await.expect("store");
    let mut work = store.begin_durable().await.expect("work");
    for index in 0..12u32 {
        let repository = if index % 2 == 0 {
            "acme/widget"
        } else {
            "acme/gadget"
        };
        let ghsa = GhsaId::parse(&format!("GHSA-list-{index:04}-xxxx")).expect("GHSA id");
        let at = chrono::Utc::now() + chrono::Duration::seconds(i64::from(index));
        let mut incident = Incident::new(RepoName::parse(repository).expect("name"), ghsa, at);
        incident.severity = if index % 3 == 0 {
            Severity::Critical
        } else {
            Severity::Low
        };
        if index >= 8 {
            incident.phase = Phase::Closed;
        }
        work.save_incident(&incident, at).await.expect("saved");
    }
    work.commit().await.expect("committed");
    store.close().await;
}

/// The process's `field` of /proc/PID/status (`VmRSS:` now, `VmHWM:` its peak), in MiB.
fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect(field);
    kib / 1024.0
}

/// Sends `request` on a connection of its own and reads until herald answers or closes:
/// the status, `None` when it closed without one.
async fn raw_exchange(port: u16, request: &[u8]) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    // herald may answer (and close) before the whole body is written.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

#[tokio::test]
async fn unsigned_bodies_cost_little_and_stalled_connections_are_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = common::http_client();
    let port = free_port();
    let mut server = spawn_serve(dir.path(), port, false);
    wait_ready(&client, port).await;
    // What the process holds before the bodies (most of it the debug binary's own pages).
    let before = memory_mib(server.id(), "VmRSS:");

    // 16 bodies of 25 MB at once, each with a signature that does not match: each must be
    // read to be refused, and the bytes read at once are bounded.
    let size = 25 * 1024 * 1024;
    let mut forged = format!(
        "POST /webhooks HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: ping\r\nX-GitHub-Delivery: forged\r\nX-Hub-Signature-256: sha256={}\r\n\
         Content-Length: {size}\r\nConnection: close\r\n\r\n",
        "0".repeat(64)
    )
    .into_bytes();
    forged.resize(forged.len() + size, b' ');
    let forged = std::sync::Arc::new(forged);
    let answers = futures::future::join_all((0..16).map(|_| {
        let forged = forged.clone();
        async move { raw_exchange(port, &forged).await }
    }))
    .await;
    for answer in &answers {
        assert!(
            matches!(answer, Some(401 | 408)),
            "each forged body is refused: {answers:?}"
        );
    }
    assert!(answers.contains(&Some(401)), "{answers:?}");
    // Room for one largest body at a time (25 MB), not sixteen (400 MB).
    let grown = memory_mib(server.id(), "VmHWM:") - before;
    assert!(
        grown < 40.0,
        "herald's peak memory grew by {grown:.1} MiB (from {before:.1}) with 16 unsigned 25 MB \
         bodies at once"
    );

    // Headers that never end, and a body that never comes, are each closed; 500 unfinished
    // header lines of 100 KB at once are refused as their buffers fill, not held.
    let mut unfinished = b"POST /webhooks HTTP/1.1\r\nHost: x\r\nX-A: ".to_vec();
    unfinished.resize(unfinished.len() + 100_000, b'a');
    let unfinished = std::sync::Arc::new(unfinished);
    let flood = futures::future::join_all((0..500).map(|_| {
        let unfinished = unfinished.clone();
        async move { raw_exchange(port, &unfinished).await }
    }));
    let stalled_headers = raw_exchange(port, b"POST /webhooks HTTP/1.1\r\nHost: x\r\n");
    let stalled_body = raw_exchange(
        port,
        b"POST /webhooks HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\nContent-Length: 1000\r\n\r\n{\"a\"",
    );
    let (stalled_headers, stalled_body, flood) = tokio::join!(stalled_headers, stalled_body, flood);
    assert_eq!(stalled_headers, None, "closed without an answer");
    assert_eq!(stalled_body, Some(408), "the body's timeout is answered");
    // Each is answered 431 and closed. herald closes while the client may still be writing
    // its 100 KB, and a close with unread bytes resets the connection, which can discard
    // the answer before the client reads it (None): refused either way, never held.
    assert!(
        flood
            .iter()
            .all(|answer| matches!(answer, Some(431) | None)),
        "{flood:?}"
    );
    assert!(flood.contains(&Some(431)), "{flood:?}");
    let grown = memory_mib(server.id(), "VmHWM:") - before;
    assert!(
        grown < 40.0,
        "herald's peak memory grew by {grown:.1} MiB (from {before:.1}) with 500 unfinished \
         100 KB headers"
    );

    // Signed deliveries are still taken.
    let body = common::fixture("repository_advisory.reported.composed.json");
    assert_eq!(post(&client, port, "after", &body, true).await, 202);
    server.kill().expect("stop herald");
    server.wait().expect("reaped");
}

#[test]
fn a_listing_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &["intake", "list"][..],
        &["upstream", "list"],
        &["incidents", "list"],
    ] {
        let mut child = herald(dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("herald runs");
        // `| head` that has read enough: the pipe is closed before herald writes.
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("herald ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}
