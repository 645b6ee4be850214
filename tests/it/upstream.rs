//! Upstream incidents: a global advisory (the GitHub Advisory Database) about a package a
//! repository depends on.

use crate::both_stores;
use crate::common::app::{
    REPO, TRACK_PRIVATELY, TRACKING_REPO, assert_no_unexpected, global_advisory, installed,
    report_global_advisory, say, world,
};
use crate::common::github::FakeGitHub;
use crate::common::{self, Harness};

both_stores!(a_global_advisory_opens_an_upstream_incident_where_the_package_is_used);
async fn a_global_advisory_opens_an_upstream_incident_where_the_package_is_used() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    fake.set_sbom(REPO, &["pkg:pypi/django@2.0.1", "pkg:npm/left-pad@1.3.0"]);
    let harness = installed(&fake).await;
    report_global_advisory(&harness).await;
    an_upstream_incident_is_tracked_like_any(&harness, &fake).await;

    // The same advisory again, and one about a package nobody uses: nothing new, and the
    // dependency graph is read once (cached).
    let again = the_global_advisory_with(|advisory| {
        advisory["security_advisory"]["updated_at"] = "2026-11-27T11:00:00Z".into();
    });
    say(&harness, "security_advisory", "global-2", &again).await;
    let unused = the_global_advisory_with(|advisory| {
        advisory["security_advisory"]["ghsa_id"] = "GHSA-xxxx-yyyy-zzzz".into();
        advisory["security_advisory"]["vulnerabilities"][0]["package"]["name"] = "flask".into();
        advisory["security_advisory"]["vulnerabilities"][1]["package"]["name"] = "flask".into();
    });
    say(&harness, "security_advisory", "global-3", &unused).await;
    assert!(
        harness
            .store
            .incidents_by_ghsa(&common::ghsa("GHSA-xxxx-yyyy-zzzz"))
            .await
            .expect("incidents")
            .is_empty(),
        "a package nobody uses opens nothing"
    );
    assert_eq!(fake.issues(TRACKING_REPO).len(), 1);
    assert_eq!(
        fake.count("GET", &format!("/repos/{REPO}/dependency-graph/sbom")),
        1,
        "the dependency graph is cached"
    );

    // Withdrawn: the incident closes with a note.
    let withdrawn = the_global_advisory_with(|advisory| {
        advisory["action"] = "withdrawn".into();
        advisory["security_advisory"]["withdrawn_at"] = "2026-11-27T12:00:00Z".into();
    });
    say(&harness, "security_advisory", "global-4", &withdrawn).await;
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa("GHSA-rf4j-j272-fj86"))
        .await
        .expect("incidents");
    assert_eq!(rows[0].incident.phase, herald::incident::Phase::Closed);
    let timeline = harness
        .store
        .timeline_entries(rows[0].id)
        .await
        .expect("timeline");
    assert!(
        timeline
            .iter()
            .any(|entry| entry.detail.contains("withdrawn: incident closed")),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The global advisory payload (about django), changed by `edit`.
fn the_global_advisory_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&global_advisory("security_advisory.published.0.json"))
            .expect("JSON");
    edit(&mut payload);
    serde_json::to_vec(&payload).expect("JSON")
}

/// One upstream incident for the repository that uses django 2.0.1, with the advisory's
/// CVE, severity and fixed version, tracked like any incident, and nothing public.
async fn an_upstream_incident_is_tracked_like_any(harness: &Harness, fake: &FakeGitHub) {
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa("GHSA-rf4j-j272-fj86"))
        .await
        .expect("incidents");
    assert_eq!(rows.len(), 1, "one upstream incident");
    let incident = &rows[0].incident;
    assert_eq!(incident.repository, REPO);
    let origin = incident.upstream.as_ref().expect("an upstream incident");
    assert_eq!(
        (
            origin.dependency.name.as_str(),
            origin.dependency.version.as_str()
        ),
        ("django", "2.0.1")
    );
    assert_eq!(origin.fixed_version.as_deref(), Some("2.0.2"));
    assert_eq!(incident.cve_id.as_deref(), Some("CVE-2018-6188"));
    assert_eq!(incident.severity, herald::incident::Severity::Medium);
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1, "tracked like any incident");
    assert!(
        issues[0].body.contains(
            "| Upstream | this repository depends on pip django 2.0.1 (vulnerable: &gt;= 2.0.0, &lt; 2.0.2); upgrade to 2.0.2 |"
        ),
        "{}",
        issues[0].body
    );
    assert!(
        fake.pulls(REPO).is_empty(),
        "nothing public: it is not our advisory"
    );
}
