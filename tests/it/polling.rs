//! Polling the advisory lists: drafts seen only by polling, the history found at the first
//! install (never announced), long lists, the hourly budget, and organisations' lists.

use crate::both_stores;
use crate::common;
use crate::common::app::{
    APP_ID, GHSA, INSTALLATION, REPO, TRACK_PRIVATELY, TRACKING_REPO, assert_no_unexpected,
    herald_cli, polling_with, public_writes, the_incident, the_reported_advisory, world,
};
use crate::common::github::FakeGitHub;
use crate::common::{Harness, fixture};
use std::time::Duration;

/// herald installed, polling the advisory lists every 100 ms.
async fn polling(fake: &FakeGitHub) -> Harness {
    polling_with(fake, |_| {}, &fixture("installation.created.0.json")).await
}

both_stores!(a_draft_advisory_seen_only_by_polling_becomes_an_incident);
async fn a_draft_advisory_seen_only_by_polling_becomes_an_incident() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let mut draft = the_reported_advisory();
    draft["state"] = "draft".into();
    fake.put_advisory(REPO, draft.clone());
    let harness = polling(&fake).await;

    // No webhook for the draft: the poll finds it.
    polled_until_unchanged(&fake, &harness).await;
    the_draft_is_one_tracked_incident_polled_conditionally(&harness, &fake).await;

    // The maintainer edits the draft: the next poll brings the change.
    draft["summary"] = "A sharper summary".into();
    draft["updated_at"] = "2020-01-03T12:00:00Z".into();
    fake.put_advisory(REPO, draft);
    harness
        .until("the edited summary", async || {
            the_incident(&harness).await.summary == "A sharper summary"
        })
        .await;
    assert_eq!(the_incident(&harness).await.summary, "A sharper summary");
    harness.wait_all_jobs().await;
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].title.contains("A sharper summary"),
        "{}",
        issues[0].title
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The draft the poll found is one incident, a draft, found by the poll, with its tracking
/// issue; later polls were conditional and answered 304: nothing new was ingested.
async fn the_draft_is_one_tracked_incident_polled_conditionally(
    harness: &Harness,
    fake: &FakeGitHub,
) {
    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa(GHSA))
        .await
        .expect("incidents");
    assert_eq!(rows.len(), 1, "the draft became an incident");
    assert_eq!(
        rows[0].incident.advisory_state,
        herald::incident::AdvisoryState::Draft
    );
    let timeline = harness.store.timeline(rows[0].id).await.expect("timeline");
    assert!(
        timeline[0].entry.detail.contains("found by herald's poll"),
        "{timeline:?}"
    );
    assert_eq!(
        fake.issues(TRACKING_REPO).len(),
        1,
        "its tracking issue too"
    );
    let list = format!("/repos/{REPO}/security-advisories");
    let answers: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|request| request.path == list)
        .map(|request| request.status)
        .collect();
    assert_eq!(
        answers.iter().filter(|status| **status == 200).count(),
        1,
        "{answers:?}"
    );
    assert!(answers.contains(&304), "{answers:?}");
    assert_eq!(
        harness
            .count("SELECT COUNT(*) FROM deliveries WHERE delivery_id LIKE 'poll:%'")
            .await,
        1
    );
}

/// Waits until the poller has had a 304 for the advisory list, then for every job.
async fn polled_until_unchanged(fake: &FakeGitHub, harness: &Harness) {
    let list = format!("/repos/{REPO}/security-advisories");
    for _ in 0..400 {
        if fake
            .requests()
            .iter()
            .any(|request| request.path == list && request.status == 304)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.wait_all_jobs().await;
}

both_stores!(installing_herald_never_announces_the_past);
async fn installing_herald_never_announces_the_past() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let template = the_reported_advisory();
    let weeks_ago = "2026-10-01T12:00:00Z";
    let old = [
        ("GHSA-5555-aaaa-0001", "published", Some(weeks_ago)),
        ("GHSA-5555-aaaa-0002", "closed", None),
        ("GHSA-5555-aaaa-0003", "withdrawn", Some(weeks_ago)),
        ("GHSA-5555-aaaa-0004", "draft", None),
        ("GHSA-5555-aaaa-0005", "triage", None),
    ];
    for (ghsa_id, state, published_at) in old {
        let mut advisory = template.clone();
        advisory["ghsa_id"] = ghsa_id.into();
        advisory["cve_id"] = serde_json::Value::Null;
        advisory["state"] = state.into();
        advisory["published_at"] = published_at.into();
        advisory["updated_at"] = weeks_ago.into();
        fake.put_advisory(REPO, advisory);
    }
    let harness = polling(&fake).await;
    polled_until_unchanged(&fake, &harness).await;

    let incidents = harness.store.all_incidents().await.expect("incidents");
    assert_eq!(incidents.len(), 5);
    let history: Vec<&str> = incidents
        .iter()
        .filter(|row| row.incident.history)
        .map(|row| row.incident.ghsa_id.as_str())
        .collect();
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(!history.contains(&"GHSA-5555-aaaa-0004") && !history.contains(&"GHSA-5555-aaaa-0005"));
    let tracked = fake.issues(TRACKING_REPO);
    assert_eq!(
        tracked.len(),
        2,
        "only the draft and the triage report are tracked"
    );
    assert_eq!(public_writes(&fake), Vec::<String>::new());

    // A maintainer asks for the history's tracking issues: still nothing public.
    let said = herald_cli(&harness, &["import"]).await;
    assert!(said.contains("3 advisory(ies) imported"), "{said}");
    harness.wait_all_jobs().await;
    harness
        .until("five tracking issues", async || {
            fake.issues(TRACKING_REPO).len() == 5
        })
        .await;
    assert_eq!(fake.issues(TRACKING_REPO).len(), 5);
    assert_eq!(public_writes(&fake), Vec::<String>::new());

    // Announcing an old advisory again takes an explicit command on it.
    herald_cli(&harness, &["incidents", "announce", "GHSA-5555-aaaa-0001"]).await;
    harness
        .until("an issue in the repository", async || {
            !fake.issues(REPO).is_empty()
        })
        .await;
    harness.wait_all_jobs().await;
    assert_eq!(fake.issues(REPO).len(), 1, "its public advisory issue");
    assert!(fake.issues(REPO)[0].title.contains("GHSA-5555-aaaa-0001"));
    assert_eq!(fake.pulls(REPO).len(), 1, "its CHANGELOG pull request");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(the_first_poll_reads_every_page_of_a_long_advisory_list);
async fn the_first_poll_reads_every_page_of_a_long_advisory_list() {
    let fake = world().await;
    let template = the_reported_advisory();
    for index in 0..210 {
        let mut draft = template.clone();
        draft["ghsa_id"] = format!("GHSA-page-{index:04}-xxxx").into();
        draft["state"] = "draft".into();
        draft["updated_at"] = format!("2026-01-01T00:{:02}:{:02}Z", index / 60, index % 60).into();
        fake.put_advisory(REPO, draft);
    }
    let harness = polling(&fake).await;
    polled_until_unchanged(&fake, &harness).await;
    let list = format!("/repos/{REPO}/security-advisories");
    assert_eq!(
        harness.count("SELECT COUNT(*) FROM incidents").await,
        210,
        "every draft, on every page, became an incident"
    );
    let pages = fake
        .requests()
        .iter()
        .filter(|request| request.path == list && request.status == 200)
        .count();
    assert_eq!(pages, 3, "100 + 100 + 10, then conditional polls");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// An `installation.created` payload for the repositories `names` (all `private` or
/// not), its `installation` changed by `adjust`.
fn installation_of(
    names: &[String],
    private: bool,
    adjust: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("installation.created.0.json")).expect("JSON");
    adjust(&mut payload["installation"]);
    payload["repositories"] = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            serde_json::json!({
                "id": 900_000 + index,
                "name": name.split('/').nth(1),
                "full_name": name,
                "private": private,
            })
        })
        .collect();
    serde_json::to_vec(&payload).expect("JSON")
}

/// The repositories whose advisory lists herald read, in the order it read them (one entry
/// per poll, answered 200 or 304).
/// The statuses GitHub answered the requests for `path` with, in order.
fn statuses(fake: &FakeGitHub, path: &str) -> Vec<u16> {
    fake.requests()
        .iter()
        .filter(|request| request.path == path)
        .map(|request| request.status)
        .collect()
}

/// The store's record of the poll of the advisory list at `path`
/// (`/repos/{owner}/{repo}/security-advisories`): when it was polled, its ETag's length (0:
/// none kept), and until when it is claimed.
async fn stored_poll(harness: &Harness, path: &str) -> Option<(i64, i64, Option<i64>)> {
    let list = path
        .trim_start_matches("/repos/")
        .trim_end_matches("/security-advisories");
    sqlx::query_as(
        "SELECT polled_at, CAST(COALESCE(LENGTH(etag), 0) AS BIGINT), claimed_until \
         FROM advisory_polls WHERE repository = $1",
    )
    .bind(list)
    .fetch_optional(harness.store.pool())
    .await
    .expect("the stored poll")
}

/// The paths of the advisory lists polled, in order, each with when the fake received it.
fn advisory_polls(fake: &FakeGitHub) -> Vec<(String, std::time::Instant)> {
    fake.requests()
        .iter()
        .filter(|request| {
            request.method == "GET"
                && request.path.ends_with("/security-advisories")
                && (request.status == 200 || request.status == 304)
        })
        .map(|request| (request.path.clone(), request.at))
        .collect()
}

both_stores!(a_poll_round_cut_short_by_the_hourly_budget_resumes_where_it_stopped);
async fn a_poll_round_cut_short_by_the_hourly_budget_resumes_where_it_stopped() {
    const REPOSITORIES: usize = 1000;
    let fake = world().await;
    let names: Vec<String> = (0..REPOSITORIES)
        .map(|index| format!("Codertocat/repo-{index:04}"))
        .collect();
    for name in &names {
        fake.add_repository(name, false, INSTALLATION);
    }
    // Too little for one round: GitHub renews it in a few seconds (15: the first round must
    // end, and be looked at, before herald takes the reset for a renewal, also on a loaded
    // machine).
    fake.set_rate_limit(620, Duration::from_secs(15));
    let body = installation_of(&names, false, |_| {});
    let harness = polling_with(&fake, |_| {}, &body).await;

    let distinct = |fake: &FakeGitHub| {
        advisory_polls(fake)
            .into_iter()
            .map(|(path, _)| path)
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    // The first round stops short of the reserve herald leaves for its other work.
    let mut seen = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = distinct(&fake);
        if now > 0 && now == seen {
            break;
        }
        seen = now;
    }
    assert!(
        seen > 400 && seen < REPOSITORIES,
        "{seen} repositories polled on a budget of 620"
    );
    assert!(fake.rate_limit_remaining() >= 50, "herald kept a reserve");

    // GitHub renews the budget: herald goes on with the repositories it did not reach.
    fake.set_rate_limit(620, Duration::from_secs(3600));
    harness
        .until("every repository polled", async || {
            distinct(&fake) == REPOSITORIES
        })
        .await;
    // Every repository was polled once before any was polled again, give or take the
    // eight polls herald has under way at once (their requests arrive in any order).
    let polls = advisory_polls(&fake);
    let mut polled = std::collections::HashSet::new();
    let mut first_repeat = None;
    let mut last_first = 0;
    for (position, (path, _)) in polls.iter().enumerate() {
        if polled.insert(path.clone()) {
            last_first = position;
        } else if first_repeat.is_none() {
            first_repeat = Some(position);
        }
    }
    if let Some(first_repeat) = first_repeat {
        let (repeated, at) = &polls[first_repeat];
        let (last, last_at) = &polls[last_first];
        assert!(
            last_first < first_repeat + 8,
            "{repeated} was polled again at poll {first_repeat}, {:?} after the poll before \
             (its requests' statuses: {:?}; its poll as stored now: {:?}), and {:?} before \
             the last repository's first poll at {last_first} ({last}; its requests' \
             statuses: {:?})",
            at.duration_since(polls[first_repeat - 1].1),
            statuses(&fake, repeated),
            stored_poll(&harness, repeated).await,
            last_at.duration_since(*at),
            statuses(&fake, last)
        );
    }
    let refused = fake
        .requests()
        .iter()
        .filter(|request| request.status == 403)
        .count();
    assert_eq!(refused, 0, "herald never ran into the limit");
    harness.stop().await;
}

const ORG_INSTALLATION: u64 = 4242;

/// A fake GitHub where the App is installed on the organisation `acme`, whose `count`
/// private repositories `acme/r-NNN` have one draft advisory each among the first three,
/// changed by `prepare`; and herald polling it. Returns the repositories' names too.
async fn organisation_world(
    count: usize,
    prepare: impl FnOnce(&FakeGitHub),
) -> (FakeGitHub, Harness, Vec<String>) {
    organisation_world_with(count, prepare, |_| {}).await
}

/// [`organisation_world`] with the installation payload's `installation` changed by
/// `adjust`.
async fn organisation_world_with(
    count: usize,
    prepare: impl FnOnce(&FakeGitHub),
    adjust: impl FnOnce(&mut serde_json::Value),
) -> (FakeGitHub, Harness, Vec<String>) {
    let public_key = String::from_utf8(fixture("app-public-key.pem")).expect("PEM text");
    let fake = FakeGitHub::start(APP_ID, &public_key).await;
    fake.add_installation(ORG_INSTALLATION, "acme");
    let names: Vec<String> = (0..count)
        .map(|index| format!("acme/r-{index:03}"))
        .collect();
    let template = the_reported_advisory();
    for (index, name) in names.iter().enumerate() {
        fake.add_repository(name, true, ORG_INSTALLATION);
        if index < 3 {
            let mut draft = template.clone();
            draft["ghsa_id"] = format!("GHSA-orgs-{index:04}-xxxx").into();
            draft["state"] = "draft".into();
            fake.put_advisory(name, draft);
        }
    }
    let body = installation_of(&names, true, |installation| {
        installation["id"] = ORG_INSTALLATION.into();
        installation["account"]["login"] = "acme".into();
        installation["account"]["type"] = "Organization".into();
        adjust(installation);
    });
    prepare(&fake);
    let harness = polling_with(&fake, |_| {}, &body).await;
    (fake, harness, names)
}

/// GET requests for repository advisory lists: (organisation lists, repository lists).
fn list_requests(fake: &FakeGitHub) -> (usize, usize) {
    let lists: Vec<String> = fake
        .requests()
        .iter()
        .filter(|request| request.method == "GET" && request.path.ends_with("/security-advisories"))
        .map(|request| request.path.clone())
        .collect();
    let organisation = lists
        .iter()
        .filter(|path| path.starts_with("/orgs/"))
        .count();
    (organisation, lists.len() - organisation)
}

both_stores!(an_organisations_advisories_are_polled_in_one_list);
async fn an_organisations_advisories_are_polled_in_one_list() {
    let (fake, harness, names) = organisation_world(300, |_| {}).await;
    harness
        .until("the three drafts' incidents", async || {
            harness.count("SELECT COUNT(*) FROM incidents").await == 3
        })
        .await;
    let rows = harness.store.all_incidents().await.expect("incidents");
    let mut repositories: Vec<String> = rows
        .iter()
        .map(|row| row.incident.repository.to_string())
        .collect();
    repositories.sort();
    assert_eq!(repositories, names[..3], "each draft in its own repository");
    let (organisation, repository) = list_requests(&fake);
    assert!(organisation >= 1, "the organisation's list was read");
    assert_eq!(repository, 0, "no repository was polled on its own");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_organisation_list_github_refuses_falls_back_to_each_repository);
async fn an_organisation_list_github_refuses_falls_back_to_each_repository() {
    // As GitHub answers an installation token without the organisation-wide view.
    let refuse = |fake: &FakeGitHub| {
        fake.refuse_next(
            "GET",
            "/orgs/acme/security-advisories",
            403,
            "Resource not accessible by integration",
        );
    };
    let (fake, harness, names) = organisation_world(20, refuse).await;
    harness
        .until("the three drafts' incidents", async || {
            harness.count("SELECT COUNT(*) FROM incidents").await == 3
        })
        .await;
    harness
        .until("every repository polled on its own", async || {
            list_requests(&fake).1 >= names.len()
        })
        .await;
    assert_eq!(
        list_requests(&fake).0,
        1,
        "the refused list is not asked again"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_installation_of_unknown_account_type_is_asked_about_once);
async fn an_installation_of_unknown_account_type_is_asked_about_once() {
    // As installed before herald recorded account types: the payload's account says none.
    let (fake, harness, _) = organisation_world_with(
        40,
        |_| {},
        |installation| {
            installation["account"]
                .as_object_mut()
                .expect("an account")
                .remove("type");
        },
    )
    .await;
    harness
        .until("the three drafts' incidents", async || {
            harness.count("SELECT COUNT(*) FROM incidents").await == 3
        })
        .await;
    // The question may come after a first round found the drafts one by one.
    let asked = || fake.count("GET", &format!("/app/installations/{ORG_INSTALLATION}"));
    harness
        .until("the account type asked about", async || asked() >= 1)
        .await;
    // The round that asked polls the organisation's list right after the answer.
    harness
        .until("then the organisation's list polled", async || {
            list_requests(&fake).0 >= 1
        })
        .await;
    assert_eq!(asked(), 1, "asked once");
    let (_, repository) = list_requests(&fake);
    assert!(
        repository <= 40,
        "at most one round one by one before it knew"
    );
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT account_type FROM installations WHERE id = $1")
            .bind(ORG_INSTALLATION as i64)
            .fetch_one(harness.store.pool())
            .await
            .expect("the installation");
    assert_eq!(recorded.as_deref(), Some("Organization"));
    assert_no_unexpected(&fake);
    harness.stop().await;
}
