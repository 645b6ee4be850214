//! Announcements of the software the project runs (`[[upstream]]`): feeds, OSV and NVD on
//! a loopback server answering in their own formats. An announcement that affects a
//! deployed version opens one private product incident, whichever sources announce it.

use crate::both_stores;
use crate::common::app::{REPO, TRACKING_REPO, assert_no_unexpected, installed_with, world};
use crate::common::fixture;
use crate::common::upstreams::FakeUpstreams;
use herald::config::{Package, UpstreamProduct, UpstreamSettings};
use herald::feeds::UpstreamReader;
use herald::incident::{Certainty, Product, Severity};
use secrecy::SecretString;
use std::time::Duration;

const RELEASES: &str = "/grafana/grafana/releases.atom";
const SECURITY: &str = "/c/security-announcements/47.rss";
const ELSEWHERE: &str = "Codertocat/security-next";
const NVD_KEY: &str = "nvd-api-key-for-nvd-only";
const GRAFANA_CPE: &str = "cpe:2.3:a:postgresql:postgresql:16.2:*:*:*:*:*:*:*";

fn upstreams_at(fake: &FakeUpstreams) -> UpstreamSettings {
    let words = herald::incident::DEFAULT_WORDS.map(str::to_owned).to_vec();
    UpstreamSettings {
        products: vec![
            UpstreamProduct {
                product: Product {
                    name: "Grafana".to_owned(),
                    aliases: vec![],
                    versions: vec!["11.2.1".to_owned()],
                    words: words.clone(),
                },
                feeds: vec![format!("{}{RELEASES}", fake.url)],
                security_feeds: vec![format!("{}{SECURITY}", fake.url)],
                lists: vec![],
                osv: Some(Package {
                    ecosystem: "Go".to_owned(),
                    name: "github.com/grafana/grafana".to_owned(),
                }),
                cpe: None,
            },
            UpstreamProduct {
                product: Product {
                    name: "PostgreSQL".to_owned(),
                    aliases: vec!["Postgres".to_owned()],
                    versions: vec!["16.2".to_owned()],
                    words,
                },
                feeds: vec![],
                security_feeds: vec![],
                lists: vec![],
                osv: None,
                cpe: Some("cpe:2.3:a:postgresql:postgresql".to_owned()),
            },
        ],
        poll: Duration::from_secs(3600),
        osv_url: fake.url.clone(),
        nvd_url: format!("{}/rest/json/cves/2.0", fake.url),
        nvd_api_key: Some(SecretString::from(NVD_KEY)),
    }
}

/// Grafana's feeds as they stand before (`""`) or after (`"-later"`) the release the tests
/// announce.
fn publish_feeds(fake: &FakeUpstreams, when: &str) {
    let releases = fixture(&format!("upstream/grafana-releases{when}.atom"));
    fake.publish(RELEASES, "application/atom+xml", &releases);
    let security = fixture(&format!("upstream/grafana-security{when}.rss"));
    fake.publish(SECURITY, "application/rss+xml", &security);
}

/// The upstreams as they stand before the releases the test announces.
async fn upstreams() -> FakeUpstreams {
    let fake = FakeUpstreams::start().await;
    publish_feeds(&fake, "");
    fake.publish(
        "/v1/vulns/GHSA-q53q-gxq9-mgrj",
        "application/json",
        &fixture("upstream/osv-GHSA-q53q-gxq9-mgrj.json"),
    );
    fake.osv_affects(
        ("Go", "github.com/grafana/grafana", "11.2.1"),
        &["GHSA-q53q-gxq9-mgrj"],
    );
    fake.nvd_answers(GRAFANA_CPE, &fixture("upstream/nvd-postgresql-16.2.json"));
    fake
}

async fn verdicts(harness: &crate::common::Harness) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT product, item, verdict FROM upstream_items ORDER BY product, item")
        .fetch_all(harness.store.pool())
        .await
        .expect("items")
}

#[test]
fn the_osv_record_served_is_valid_osv() {
    crate::common::osv::valid_osv(
        &String::from_utf8(fixture("upstream/osv-GHSA-q53q-gxq9-mgrj.json")).expect("text"),
    );
}

both_stores!(an_announcement_opens_one_private_incident_whichever_sources_announce_it);
async fn an_announcement_opens_one_private_incident_whichever_sources_announce_it() {
    let github = world().await;
    let fake = upstreams().await;
    let settings = upstreams_at(&fake);
    let mut harness = installed_with(&github, |config| {
        config.intake.repository = Some(TRACKING_REPO.parse().expect("a name"));
        config.upstream = Some(settings.clone());
    })
    .await;

    // `serve` reads every source at start: OSV and NVD name what affects the deployed
    // versions; what the feeds held before herald came is history.
    harness
        .until("both product incidents have their issues", async || {
            let rows = harness.store.product_incidents().await.expect("read");
            rows.len() == 2 && rows.iter().all(|row| row.issue.is_some())
        })
        .await;
    let rows = harness.store.product_incidents().await.expect("read");
    let grafana = rows
        .iter()
        .find(|row| row.incident.product == "Grafana")
        .expect("Grafana");
    assert_eq!(grafana.incident.key, "CVE-2026-21720");
    assert_eq!(
        grafana.incident.ids,
        ["CVE-2026-21720", "GHSA-q53q-gxq9-mgrj"]
    );
    assert_eq!(
        grafana.incident.severity,
        Severity::High,
        "from OSV's CVSS vector"
    );
    assert_eq!(
        grafana.incident.exposures[0].certainty,
        Certainty::Confirmed
    );
    let postgres = rows
        .iter()
        .find(|row| row.incident.product == "PostgreSQL")
        .expect("PostgreSQL");
    assert_eq!(
        postgres.incident.key, "CVE-2026-1094",
        "the rejected CVE opens nothing"
    );
    assert_eq!(postgres.incident.severity, Severity::Critical);
    let history: Vec<_> = verdicts(&harness)
        .await
        .into_iter()
        .filter(|(_, _, verdict)| verdict == "history")
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");

    let issues = github.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 2, "one private issue per incident");
    let issue = issues
        .iter()
        .find(|issue| issue.title == "Upstream: Grafana CVE-2026-21720 (high)")
        .expect("Grafana's issue");
    assert!(
        issue.labels.contains(&"upstream".to_owned()),
        "{:?}",
        issue.labels
    );
    assert!(
        issue.body.contains("| React by | 20"),
        "a high severity's deadline: {}",
        issue.body
    );
    assert!(
        issue
            .body
            .contains("11.2.1: affected (the source matched this version)"),
        "{}",
        issue.body
    );
    assert!(
        issue
            .body
            .contains("<https://osv.dev/vulnerability/GHSA-q53q-gxq9-mgrj>"),
        "{}",
        issue.body
    );
    assert!(
        issues
            .iter()
            .any(|issue| issue.title == "Upstream: PostgreSQL CVE-2026-1094 (critical)"),
        "{issues:?}"
    );

    // Grafana's releases feed and its security category announce the release that fixes it.
    // The operator points intake_repository elsewhere: what is told later still goes to
    // the issue where it is.
    github.add_repository(ELSEWHERE, true, crate::common::app::INSTALLATION);
    harness.stop_server().await;
    harness.settings.intake.repository = Some(ELSEWHERE.parse().expect("a name"));
    harness.settings.upstream = None;
    harness.start_server().await;
    publish_feeds(&fake, "-later");
    let reader = UpstreamReader::new(harness.store.clone(), settings.clone()).expect("reader");
    let reads = reader.read_all().await;
    for read in &reads {
        assert!(read.outcome.is_ok(), "{}: {:?}", read.source, read.outcome);
    }
    harness
        .until("the release joins the incident's issue", async || {
            let row = harness.store.product_incidents().await.expect("read");
            row.iter()
                .all(|row| row.told == row.incident.sightings.len())
        })
        .await;
    let rows = harness.store.product_incidents().await.expect("read");
    assert_eq!(
        rows.len(),
        2,
        "the same CVE from three sources is one incident"
    );
    let grafana = rows
        .iter()
        .find(|row| row.incident.product == "Grafana")
        .expect("Grafana");
    let sources: Vec<&str> = grafana
        .incident
        .sightings
        .iter()
        .map(|s| s.source.as_str())
        .collect();
    assert_eq!(sources.len(), 3, "{sources:?}");
    assert_eq!(sources[0], "OSV");
    let judged = verdicts(&harness).await;
    let verdict_of = |needle: &str| {
        judged
            .iter()
            .find(|(_, item, _)| item.contains(needle))
            .map(|(_, _, verdict)| verdict.clone())
    };
    assert_eq!(
        verdict_of("v11.3.0").as_deref(),
        Some("not_security"),
        "{judged:?}"
    );
    assert_eq!(
        verdict_of("topic-137002").as_deref(),
        Some("not_deployed"),
        "{judged:?}"
    );
    assert_eq!(
        verdict_of("v11.2.2").as_deref(),
        Some("affects"),
        "{judged:?}"
    );

    let (number, comments) = {
        let issue = github
            .issues(TRACKING_REPO)
            .into_iter()
            .find(|issue| issue.title.starts_with("Upstream: Grafana"))
            .expect("Grafana's issue");
        (issue.number, github.comments(TRACKING_REPO, issue.number))
    };
    let said: String = comments
        .iter()
        .map(|comment| comment.body.clone())
        .collect();
    assert!(said.contains("Also announced by"), "#{number}: {said}");
    assert!(said.contains("11.2.2 (2026-11-20)"), "{said}");
    assert!(
        said.contains("security release: 11.2.2 fixes CVE-2026-21720"),
        "{said}"
    );

    // Read again: every feed says nothing changed (ETag), and nothing is judged twice.
    let again = reader.read_all().await;
    let feeds: Vec<_> = again
        .iter()
        .filter(|read| read.source.starts_with("http"))
        .collect();
    assert_eq!(feeds.len(), 2);
    assert!(
        feeds
            .iter()
            .all(|read| read.outcome.as_ref().is_ok_and(|tally| tally.unchanged)),
        "{again:?}"
    );
    assert!(
        again
            .iter()
            .all(|read| read.outcome.as_ref().is_ok_and(|tally| tally.judged == 0)),
        "{again:?}"
    );
    let seen = fake.seen();
    assert!(
        seen.iter()
            .any(|request| request.target.starts_with(SECURITY)
                && request.headers.contains_key("if-none-match")),
        "a conditional request"
    );
    // NVD is read once in two hours, as it asks: once, at start.
    let nvd_reads = seen
        .iter()
        .filter(|request| request.target.starts_with("/rest/json/cves/2.0"))
        .count();
    assert_eq!(nvd_reads, 1, "{seen:?}");
    let nvd = again
        .iter()
        .find(|read| read.source == "NVD for PostgreSQL")
        .expect("NVD");
    assert!(
        nvd.outcome
            .as_ref()
            .is_ok_and(|tally| tally.not_before.is_some()),
        "{nvd:?}"
    );
    // NVD's key went to NVD, and nowhere else.
    for request in &seen {
        let nvd = request.target.starts_with("/rest/json/cves/2.0");
        assert_eq!(
            request.headers.get("apikey").map(String::as_str),
            nvd.then_some(NVD_KEY),
            "{request:?}"
        );
    }
    assert!(
        seen.iter().any(|request| request.target.contains(
            "cpeName=cpe:2.3:a:postgresql:postgresql:16.2:*:*:*:*:*:*:*&isVulnerable&noRejected"
        )),
        "{seen:?}"
    );

    // Nothing went anywhere public, nor to the new intake repository.
    assert!(github.issues(REPO).is_empty());
    assert!(github.issues(ELSEWHERE).is_empty());
    assert_no_unexpected(&github);
    harness.stop().await;
}

#[tokio::test]
async fn a_broken_source_is_reported_and_read_again_and_loses_nothing() {
    let fake = upstreams().await;
    // The security category is down, the releases feed is not a feed, OSV refuses.
    fake.break_path(SECURITY, 503, b"upstream connect error \x1b[31m");
    fake.break_path(RELEASES, 200, b"<html><body>Rate limited</body></html>");
    fake.break_path(
        "/v1/querybatch",
        400,
        br#"{"code":3,"message":"Invalid query."}"#,
    );
    let settings = upstreams_at(&fake);
    let configured = settings.clone();
    let harness = crate::common::Harness::start_with(true, |config| {
        config.upstream = Some(configured);
    })
    .await;
    // `serve` read them at start: each failure counted, NVD read all the same.
    harness
        .until("serve has read every source", async || {
            let (text, _) = crate::metrics::scrape(&harness, &harness.url("/metrics")).await;
            let sources: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM upstream_sources")
                .fetch_one(harness.store.pool())
                .await
                .expect("sources");
            text.contains("herald_upstream_failures_total 3") && sources == 4
        })
        .await;
    let reader = UpstreamReader::new(harness.store.clone(), settings).expect("reader");
    let reads = reader.read_all().await;
    let said = |source: &str| {
        reads
            .iter()
            .find(|read| read.source.contains(source))
            .map(|read| match &read.outcome {
                Ok(tally) => format!("ok {tally:?}"),
                Err(error) => error.to_string(),
            })
            .expect("read")
    };
    assert!(
        said(SECURITY).contains("answered 503: upstream connect error \\u{1b}[31m"),
        "{}",
        said(SECURITY)
    );
    assert!(said(RELEASES).contains("not a feed"), "{}", said(RELEASES));
    assert!(
        said("OSV").contains("answered 400") && said("OSV").contains("Invalid query."),
        "{}",
        said("OSV")
    );
    assert!(
        said("NVD").starts_with("ok"),
        "the others are read: {}",
        said("NVD")
    );
    let failures: Vec<(String, i64)> =
        sqlx::query_as("SELECT url, failures FROM upstream_sources ORDER BY url")
            .fetch_all(harness.store.pool())
            .await
            .expect("sources");
    let failing = |url: &str| {
        failures
            .iter()
            .find(|(known, _)| known.contains(url))
            .map(|(_, failures)| *failures)
    };
    // Twice in a row: at start, and now.
    for broken in [SECURITY, RELEASES, "/v1/querybatch"] {
        assert_eq!(failing(broken), Some(2), "{broken}: {failures:?}");
    }
    assert_eq!(failing("/rest/json/cves/2.0"), Some(0), "{failures:?}");

    // A feed moved to another origin: not followed, and said so, without its query.
    fake.move_path(RELEASES, "https://elsewhere.example/releases.atom?token=x");
    let reads = reader.read_all().await;
    let moved = reads
        .iter()
        .find(|read| read.source.contains(RELEASES))
        .expect("read");
    let error = moved.outcome.as_ref().expect_err("moved").to_string();
    assert!(
        error.contains("redirects to https://elsewhere.example/releases.atom, another origin"),
        "{error}"
    );
    assert!(!error.contains("token"), "{error}");

    // An answer past the bound is not read.
    fake.break_path(
        SECURITY,
        200,
        &vec![b' '; herald::feeds::MAX_ANSWER_BYTES + 1],
    );
    let reads = reader.read_all().await;
    let security = reads
        .iter()
        .find(|read| read.source.contains(SECURITY))
        .expect("read");
    let error = security
        .outcome
        .as_ref()
        .expect_err("too large")
        .to_string();
    assert!(error.contains("an answer over 16 MiB, not read"), "{error}");

    // Back: each source is read, OSV with a POST, and what the feeds hold is history (they
    // were never read before); failures are forgotten.
    publish_feeds(&fake, "");
    fake.publish("/v1/querybatch", "application/json", b"");
    // OSV names a second vulnerability whose record it cannot give: the first is taken
    // all the same, and the read says what was not.
    fake.osv_affects(
        ("Go", "github.com/grafana/grafana", "11.2.1"),
        &["GHSA-q53q-gxq9-mgrj", "GHSA-zzzz-zzzz-zzzz"],
    );
    let reads = reader.read_all().await;
    let osv = reads.iter().find(|read| read.source == "OSV").expect("OSV");
    let error = osv
        .outcome
        .as_ref()
        .expect_err("a record missing")
        .to_string();
    assert!(
        error.contains("1 part(s) could not be read (what could be was taken: 1 opened, 0 joined)")
            && error.contains("/v1/vulns/GHSA-zzzz-zzzz-zzzz answered 404"),
        "{error}"
    );
    assert!(
        reads
            .iter()
            .filter(|read| read.source != "OSV")
            .all(|read| read.outcome.is_ok()),
        "{reads:?}"
    );
    assert!(
        fake.seen()
            .iter()
            .any(|seen| seen.method == "POST" && seen.target == "/v1/querybatch")
    );
    // The feeds' failures are forgotten; OSV's part failed again, and counts.
    let failures: Vec<(String, i64)> =
        sqlx::query_as("SELECT url, failures FROM upstream_sources ORDER BY url")
            .fetch_all(harness.store.pool())
            .await
            .expect("sources");
    assert!(
        failures
            .iter()
            .all(|(url, failures)| (*failures == 0) != url.ends_with("/v1/querybatch")),
        "{failures:?}"
    );
    assert_eq!(
        harness.store.product_incidents().await.expect("read").len(),
        2
    );
    harness.stop().await;
}

/// `herald` in `dir` (its herald.toml), with no HERALD_ variables: (status, stdout, stderr).
async fn herald_in(
    dir: &std::path::Path,
    args: &[&str],
    stdin: &[u8],
) -> (Option<i32>, String, String) {
    use std::io::Write;
    let (dir, args, stdin) = (
        dir.to_owned(),
        args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>(),
        stdin.to_vec(),
    );
    // Beside the fake upstreams, which answer on this test's thread.
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        command.current_dir(&dir).args(&args);
        for (name, _) in std::env::vars() {
            if name.starts_with("HERALD_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("herald runs");
        let mut input = child.stdin.take().expect("stdin");
        let _ = input.write_all(&stdin);
        drop(input);
        let output = child.wait_with_output().expect("herald ends");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("herald ran")
}

#[tokio::test]
async fn herald_toml_lists_the_upstreams_and_herald_upstream_check_reads_them() {
    let fake = upstreams().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        r#"
osv_api_url = "{url}"
nvd_api_url = "{url}/rest/json/cves/2.0"

[[upstream]]
product = "Grafana"
versions = ["11.2.1"]
feeds = ["{url}{RELEASES}"]
security_feeds = ["{url}{SECURITY}"]
lists = ["<Grafana-Announce.googlegroups.com>"]
osv = {{ ecosystem = "Go", package = "github.com/grafana/grafana" }}

[[upstream]]
product = "PostgreSQL"
aliases = ["Postgres"]
versions = ["16.2"]
cpe = "cpe:2.3:a:postgresql:postgresql"
"#,
        url = fake.url
    );
    std::fs::write(dir.path().join("herald.toml"), &toml).expect("herald.toml");

    let (status, stdout, stderr) = herald_in(dir.path(), &["upstream", "check"], b"").await;
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "ok    {}{SECURITY}: first reading, 1 item(s) recorded as history",
            fake.url
        )) && stdout.contains("ok    lists of Grafana: grafana-announce.googlegroups.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    OSV: 1 item(s) judged, 1 incident(s) opened"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    NVD for PostgreSQL: 1 item(s) judged, 1 incident(s) opened"),
        "{stdout}"
    );
    let (status, stdout, _) = herald_in(dir.path(), &["upstream", "items"], b"").await;
    assert_eq!(status, Some(0));
    assert!(stdout.contains("Grafana           history"), "{stdout}");
    assert!(
        stdout
            .contains("PostgreSQL        affects           NVD  CVE-2026-1094 for 16.2  incident"),
        "{stdout}"
    );
    let (status, stdout, _) = herald_in(dir.path(), &["upstream", "list"], b"").await;
    assert_eq!(status, Some(0));
    assert!(
        stdout.contains("critical  PostgreSQL  CVE-2026-1094  1 source(s)  (no issue yet)"),
        "{stdout}"
    );

    // A message of Grafana's announcement list, as the mail server delivers it: kept as list
    // mail, and what it announces joins the incident that knows its CVE.
    let mail = b"From: Grafana Labs <security@grafana.example>\r\n\
        To: grafana-announce@googlegroups.com\r\n\
        List-Id: Grafana announcements <grafana-announce.googlegroups.com>\r\n\
        Message-ID: <announce-11.2.2@grafana.example>\r\n\
        Subject: [ANN] Grafana 11.2.2 security release (CVE-2026-21720)\r\n\
        Date: Thu, 20 Nov 2026 14:05:00 +0000\r\n\r\n\
        Grafana 11.2.2 fixes a server-side request forgery. Upgrade now.\r\n";
    let (status, stdout, stderr) = herald_in(dir.path(), &["intake", "mail"], mail).await;
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "intake 1: not a report (list), never answered; an upstream announcement: 0 product \
         incident(s) opened, 1 joined\n"
    );
    let (_, shown, _) = herald_in(dir.path(), &["upstream", "show", "1"], b"").await;
    let incident: serde_json::Value = serde_json::from_str(&shown).expect("JSON");
    let sources: Vec<&str> = incident["sightings"]
        .as_array()
        .expect("sightings")
        .iter()
        .filter_map(|sighting| sighting["source"].as_str())
        .collect();
    assert_eq!(
        sources,
        ["OSV", "list grafana-announce.googlegroups.com"],
        "{shown}"
    );

    // A product listed later, whose security feed is empty at first: its first read is
    // history (nothing), and what comes after it is news.
    let empty = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<rss version=\"2.0\"><channel>\
        <title>Loki security</title><link>https://loki.example</link><description>x</description>\
        </channel></rss>";
    fake.publish("/loki/security.rss", "application/rss+xml", empty);
    let with_loki = format!(
        "{toml}\n[[upstream]]\nproduct = \"Loki\"\nversions = [\"3.0.0\"]\n\
         security_feeds = [\"{}/loki/security.rss\"]\n",
        fake.url
    );
    std::fs::write(dir.path().join("herald.toml"), &with_loki).expect("herald.toml");
    let (status, stdout, _) = herald_in(dir.path(), &["upstream", "check"], b"").await;
    assert_eq!(status, Some(0), "{stdout}");
    assert!(
        stdout.contains("NVD for PostgreSQL: read less than two hours ago"),
        "{stdout}"
    );
    fake.publish(
        "/loki/security.rss",
        "application/rss+xml",
        &fixture("upstream/grafana-security-later.rss"),
    );
    let (status, stdout, _) = herald_in(dir.path(), &["upstream", "check"], b"").await;
    assert_eq!(status, Some(0), "{stdout}");
    assert!(
        stdout.contains("/loki/security.rss: 3 item(s) judged, 3 incident(s) opened"),
        "{stdout}"
    );

    // `herald doctor` says where product incidents' issues would go: nowhere yet.
    let (_, stdout, _) = herald_in(dir.path(), &["doctor"], b"").await;
    assert!(
        stdout.contains("[[upstream]] lists products but no intake_repository is set"),
        "{stdout}"
    );

    // A feed the operator wrote as http:// to another host is refused at start, saying why.
    let broken = toml.replace(
        &format!("{}{RELEASES}", fake.url),
        "http://grafana.example/releases.atom",
    );
    std::fs::write(dir.path().join("herald.toml"), broken).expect("herald.toml");
    let (status, _, stderr) = herald_in(dir.path(), &["upstream", "check"], b"").await;
    assert_ne!(status, Some(0));
    assert!(
        stderr.contains("[[upstream]] product = \"Grafana\""),
        "{stderr}"
    );
    assert!(stderr.contains("a feed is read over https://"), "{stderr}");
}

#[test]
fn the_readme_example_is_a_herald_toml_herald_reads() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    let section = readme
        .split("## The software the project runs")
        .nth(1)
        .expect("the README's section");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("its herald.toml");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.toml");
    std::fs::write(&path, toml).expect("written");
    let settings =
        herald::config::Settings::load(Some(&path), &|_| None).expect("the example loads");
    let upstream = settings.upstream.expect("its upstreams");
    let names: Vec<&str> = upstream
        .products
        .iter()
        .map(|upstream| upstream.product.name.as_str())
        .collect();
    assert_eq!(names, ["PostgreSQL", "Icinga 2", "Grafana"]);
    assert_eq!(
        upstream.products[0].lists,
        ["pgsql-announce.lists.postgresql.org"]
    );
    assert_eq!(upstream.nvd_url, herald::feeds::DEFAULT_NVD_URL);
}
