//! The CHANGELOG pull requests (into the default branch and each backport branch) and the
//! OSV record they carry: opened at disclosure, updated by later versions of the advisory.

use crate::both_stores;
use crate::common;
use crate::common::app::{
    CHANGELOG, GHSA, REPO, assert_no_unexpected, github_publishes, installed,
    publish_a_sharper_summary, report, timeline_details, world,
};
use crate::common::github::FakeGitHub;

both_stores!(disclosure_opens_the_changelog_pull_requests_and_the_advisory_issue_once);
async fn disclosure_opens_the_changelog_pull_requests_and_the_advisory_issue_once() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchangelog:\n  backport_branches: [release-1.x]\n",
    );
    fake.put_file(REPO, "CHANGELOG.md", CHANGELOG);
    fake.create_branch(REPO, "release-1.x", "main");
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    assert!(fake.pulls(REPO).is_empty(), "nothing public under embargo");

    github_publishes(&harness).await;

    let branch = format!("herald/security/{GHSA}");
    let backport = format!("herald/security/{GHSA}-release-1.x");
    let branches = fake.branches(REPO);
    assert!(
        branches.contains(&branch) && branches.contains(&backport),
        "{branches:?}"
    );
    assert_eq!(
        fake.file(REPO, "main", "CHANGELOG.md").as_deref(),
        Some(CHANGELOG),
        "main is untouched"
    );
    the_entry_is_under_unreleased_security(&fake, &branch);
    let first_modified = the_osv_record_rides_along(&fake, &[&branch, &backport]);
    a_pull_request_per_branch_and_one_advisory_issue(&fake, &branch, &backport);
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline
            .iter()
            .any(|detail| detail.starts_with("CHANGELOG pull request")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|detail| detail.starts_with("public advisory issue")),
        "{timeline:?}"
    );

    // The advisory changes after publication: the same PRs and issue are updated.
    publish_a_sharper_summary(&harness).await;
    assert_eq!(fake.pulls(REPO).len(), 2, "no second pull request");
    assert_eq!(fake.issues(REPO).len(), 1, "no second advisory issue");
    let changelog = fake.file(REPO, &branch, "CHANGELOG.md").expect("CHANGELOG");
    assert!(changelog.contains("A sharper summary"), "{changelog}");
    assert!(
        !changelog.contains("A short summary of the advisory."),
        "the entry was replaced: {changelog}"
    );
    assert_eq!(changelog.matches("### Security").count(), 1);
    assert!(fake.issues(REPO)[0].body.contains("A sharper summary"));
    // The OSV record follows the new version of the advisory.
    let osv_path = format!("advisories/{GHSA}.json");
    let osv = common::osv::valid_osv(&fake.file(REPO, &branch, &osv_path).expect("OSV"));
    assert_eq!(osv["summary"], "A sharper summary");
    assert_eq!(osv["modified"], "2020-01-04T00:00:00Z");
    assert_ne!(osv["modified"], first_modified);
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The CHANGELOG on `branch`: every line kept, CRLF still CRLF, and the entry in a
/// Security subsection of Unreleased, after Fixed and before the last release.
fn the_entry_is_under_unreleased_security(fake: &FakeGitHub, branch: &str) {
    let changelog = fake
        .file(REPO, branch, "CHANGELOG.md")
        .expect("CHANGELOG on the branch");
    assert!(
        !changelog.replace("\r\n", "").contains('\n'),
        "CRLF stays CRLF:\n{changelog:?}"
    );
    for line in CHANGELOG.split("\r\n") {
        assert!(changelog.contains(line), "lost {line:?}");
    }
    let unreleased = changelog.find("## [Unreleased]").expect("Unreleased");
    let security = changelog
        .find("### Security")
        .expect("a Security subsection");
    let entry = changelog
        .find("**Critical**: A short summary of the advisory.")
        .expect("the entry");
    let release = changelog.find("## [1.0.0]").expect("the release");
    assert!(
        unreleased < security && security < entry && entry < release,
        "{changelog}"
    );
    assert!(
        changelog.find("### Fixed").expect("Fixed") < security,
        "Security comes after Fixed"
    );
}

/// The OSV record rides in the pull requests of `branches`, at the default path, and not
/// in main; the first branch's record's `modified`.
fn the_osv_record_rides_along(fake: &FakeGitHub, branches: &[&str]) -> serde_json::Value {
    let osv_path = format!("advisories/{GHSA}.json");
    assert_eq!(
        fake.file(REPO, "main", &osv_path),
        None,
        "main is untouched"
    );
    for head in branches {
        let text = fake.file(REPO, head, &osv_path).expect("the OSV record");
        let osv = common::osv::valid_osv(&text);
        assert_eq!(osv["id"], GHSA);
        assert_eq!(osv["summary"], "A short summary of the advisory.");
        assert!(osv["published"].is_string(), "{osv}");
    }
    common::osv::valid_osv(&fake.file(REPO, branches[0], &osv_path).expect("OSV"))["modified"]
        .clone()
}

/// A pull request from `branch` into main and one from `backport` into the release branch,
/// and one public advisory issue that links the first.
fn a_pull_request_per_branch_and_one_advisory_issue(
    fake: &FakeGitHub,
    branch: &str,
    backport: &str,
) {
    let pulls = fake.pulls(REPO);
    assert_eq!(pulls.len(), 2, "{pulls:?}");
    let main_pull = pulls
        .iter()
        .find(|pull| pull.base == "main")
        .expect("into main");
    assert_eq!(main_pull.head, branch);
    assert_eq!(main_pull.labels, vec!["security"]);
    assert!(main_pull.title.contains(GHSA), "{}", main_pull.title);
    assert!(
        pulls
            .iter()
            .any(|pull| pull.base == "release-1.x" && pull.head == backport)
    );

    let issues = fake.issues(REPO);
    assert_eq!(issues.len(), 1, "one public advisory issue");
    assert_eq!(issues[0].labels, vec!["security"]);
    assert!(issues[0].body.contains("### Upgrade"), "{}", issues[0].body);
    assert!(
        issues[0]
            .body
            .contains(&format!("/pull/{}", main_pull.number)),
        "links the CHANGELOG pull request: {}",
        issues[0].body
    );
}

both_stores!(the_osv_record_goes_where_the_configuration_says_or_nowhere);
async fn the_osv_record_goes_where_the_configuration_says_or_nowhere() {
    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nosv:\n  path: security/osv\n",
    );
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    let branch = format!("herald/security/{GHSA}");
    let text = fake
        .file(REPO, &branch, &format!("security/osv/{GHSA}.json"))
        .expect("the OSV record at the configured path");
    common::osv::valid_osv(&text);
    assert_eq!(
        fake.file(REPO, &branch, &format!("advisories/{GHSA}.json")),
        None
    );
    harness.stop().await;

    let fake = world().await;
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nosv:\n  enabled: false\n",
    );
    let harness = installed(&fake).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    assert_eq!(fake.pulls(REPO).len(), 1, "the CHANGELOG pull request");
    assert_eq!(
        fake.file(REPO, &branch, &format!("advisories/{GHSA}.json")),
        None,
        "no OSV record when turned off"
    );
    harness.stop().await;
}
