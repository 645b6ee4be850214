//! `POST /webhooks` through the real HTTP server on a loopback port.

use crate::both_stores;
use crate::common;

use common::{Harness, Signature, fixture, fixture_names};
use herald::incident::{CvssScore, Phase, Severity};

const GITHUB_VECTOR: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

async fn nothing_stored(harness: &Harness) {
    assert_eq!(harness.count("SELECT COUNT(*) FROM deliveries").await, 0);
    assert_eq!(harness.count("SELECT COUNT(*) FROM outbox").await, 0);
    assert_eq!(harness.count("SELECT COUNT(*) FROM incidents").await, 0);
}

both_stores!(githubs_documented_signature_is_accepted_and_a_changed_byte_is_not);
async fn githubs_documented_signature_is_accepted_and_a_changed_byte_is_not() {
    let harness = Harness::start(true).await;
    // The vector's body is not JSON: a correct signature gets past the check (400 for
    // the body, not 401), a wrong one does not.
    let good = harness
        .post(
            "ping",
            "vector-1",
            b"Hello, World!",
            "application/json",
            Signature::Header(GITHUB_VECTOR),
        )
        .await;
    assert_eq!(good.status, 400, "{}", good.body);
    assert!(good.body.contains("malformed JSON"), "{}", good.body);

    let changed = harness
        .post(
            "ping",
            "vector-2",
            b"Hello, World?",
            "application/json",
            Signature::Header(GITHUB_VECTOR),
        )
        .await;
    assert_eq!(changed.status, 401, "{}", changed.body);
    assert!(changed.body.contains("does not match"), "{}", changed.body);
    nothing_stored(&harness).await;
    harness.stop().await;
}

fn event_of(fixture_name: &str) -> &str {
    fixture_name.split('.').next().expect("event prefix")
}

both_stores!(every_published_github_example_is_accepted_and_parsed);
async fn every_published_github_example_is_accepted_and_parsed() {
    let harness = Harness::start(true).await;
    let names = fixture_names();
    assert!(names.len() >= 20, "fixtures missing: {names:?}");
    let mut stored = 0;
    for (index, name) in names.iter().enumerate() {
        let event = event_of(name);
        let answer = harness
            .deliver(event, &format!("fixture-{index}"), &fixture(name))
            .await;
        if event == "ping" {
            assert_eq!(answer.status, 200, "{name}: {}", answer.body);
            assert!(answer.body.contains("pong"), "{name}: {}", answer.body);
        } else {
            assert_eq!(answer.status, 202, "{name}: {}", answer.body);
            assert!(
                answer.body.contains("\"accepted\""),
                "{name}: {}",
                answer.body
            );
            stored += 1;
        }
    }
    harness.wait_processed().await;
    assert_eq!(
        harness.count("SELECT COUNT(*) FROM deliveries").await,
        stored
    );
    assert_eq!(
        harness
            .count("SELECT COUNT(*) FROM outbox WHERE state = 'done' AND last_error IS NULL AND kind = 'process_delivery'")
            .await,
        stored,
        "every stored delivery is processed without error"
    );
    // Both repository_advisory examples describe the same advisory: one incident.
    assert_eq!(harness.count("SELECT COUNT(*) FROM incidents").await, 1);
    harness.stop().await;
}

both_stores!(a_reported_advisory_becomes_an_incident_with_computed_scores);
async fn a_reported_advisory_becomes_an_incident_with_computed_scores() {
    let harness = Harness::start(true).await;
    let answer = harness
        .deliver(
            "repository_advisory",
            "report-1",
            &fixture("repository_advisory.reported.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_processed().await;

    let rows = harness
        .store
        .incidents_by_ghsa(&common::ghsa("GHSA-abcd-1234-efgh"))
        .await
        .expect("query");
    assert_eq!(rows.len(), 1);
    let incident = &rows[0].incident;
    assert_eq!(incident.repository, "Codertocat/Hello-World");
    assert_eq!(incident.cve_id.as_deref(), Some("CVE-2050-00000"));
    assert_eq!(incident.summary, "A short summary of the advisory.");
    assert_eq!(incident.severity, Severity::Critical);
    assert_eq!(incident.phase, Phase::Awareness);
    assert_eq!(
        incident.advisory_state,
        herald::incident::AdvisoryState::Triage
    );
    let v3 = incident.cvss_v3.as_ref().expect("CVSS 3.1");
    assert_eq!(
        v3.computed,
        CvssScore::Scored {
            version: "3.1".into(),
            score: 9.8,
            severity: Severity::Critical
        }
    );
    assert_eq!(v3.stated_score, Some(9.8));
    let v4 = incident.cvss_v4.as_ref().expect("CVSS 4.0");
    assert_eq!(
        v4.computed,
        CvssScore::Scored {
            version: "4.0".into(),
            score: 9.3,
            severity: Severity::Critical
        }
    );
    assert_eq!(incident.cwes.len(), 1);
    assert_eq!(incident.cwes[0].id, "CWE-123");
    its_packages_and_credits_are_kept(incident);

    let timeline = harness.store.timeline(rows[0].id).await.expect("timeline");
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0].delivery_id.as_deref(), Some("report-1"));
    harness.stop().await;
}

/// The example's two packages, with their ranges and patched versions, and its credit.
fn its_packages_and_credits_are_kept(incident: &herald::incident::Incident) {
    let packages: Vec<_> = incident
        .packages
        .iter()
        .map(|p| {
            (
                p.ecosystem.as_deref(),
                p.name.as_deref(),
                p.vulnerable_version_range.as_deref(),
                p.patched_versions.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        packages,
        [
            (
                Some("pip"),
                Some("a-package"),
                Some(">= 1.0.0, < 1.0.1"),
                Some("1.0.1")
            ),
            (
                Some("pip"),
                Some("another-package"),
                Some(">= 1.0.0, < 1.0.2"),
                Some("1.0.2")
            ),
        ]
    );
    assert_eq!(incident.credits.len(), 1);
    assert_eq!(incident.credits[0].login, "octocat");
    assert_eq!(incident.credits[0].kind, "analyst");
    assert_eq!(incident.credits[0].state.as_deref(), Some("accepted"));
}

both_stores!(a_repeated_delivery_id_or_body_is_stored_and_processed_once);
async fn a_repeated_delivery_id_or_body_is_stored_and_processed_once() {
    let harness = Harness::start(true).await;
    let body = fixture("repository_advisory.reported.composed.json");
    let first = harness
        .deliver("repository_advisory", "same-id", &body)
        .await;
    assert_eq!(first.status, 202, "{}", first.body);
    harness.wait_processed().await;
    let again = harness
        .deliver("repository_advisory", "same-id", &body)
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains("duplicate"), "{}", again.body);
    // The signature covers the body, not X-GitHub-Delivery: a captured body replayed under
    // a new id keeps a valid signature, and is a repeat all the same.
    let replayed = harness
        .deliver("repository_advisory", "replayed-under-a-new-id", &body)
        .await;
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    assert!(replayed.body.contains("duplicate"), "{}", replayed.body);
    harness.wait_processed().await;

    assert_eq!(harness.count("SELECT COUNT(*) FROM deliveries").await, 1);
    assert_eq!(
        harness
            .count("SELECT COUNT(*) FROM outbox WHERE kind = 'process_delivery'")
            .await,
        1
    );
    assert_eq!(
        harness
            .count("SELECT COUNT(*) FROM outbox WHERE kind = 'sync_tracking_issue'")
            .await,
        1,
        "one tracking-issue job for the one incident revision"
    );
    assert_eq!(harness.count("SELECT COUNT(*) FROM incidents").await, 1);
    assert_eq!(harness.count("SELECT COUNT(*) FROM timeline").await, 1);
    // A body that differs by one byte is a delivery of its own.
    let mut changed = body.clone();
    let end = changed
        .iter()
        .rposition(|byte| *byte == b'}')
        .expect("a JSON object");
    changed.insert(end, b' ');
    let other = harness
        .deliver("repository_advisory", "another", &changed)
        .await;
    assert_eq!(other.status, 202, "{}", other.body);
    harness.stop().await;
}

both_stores!(the_same_advisory_under_two_delivery_ids_updates_one_incident);
async fn the_same_advisory_under_two_delivery_ids_updates_one_incident() {
    let harness = Harness::start(true).await;
    let reported = harness
        .deliver(
            "repository_advisory",
            "delivery-a",
            &fixture("repository_advisory.reported.composed.json"),
        )
        .await;
    assert_eq!(reported.status, 202);
    harness.wait_processed().await;
    let published = harness
        .deliver(
            "repository_advisory",
            "delivery-b",
            &fixture("repository_advisory.published.composed.json"),
        )
        .await;
    assert_eq!(published.status, 202);
    harness.wait_processed().await;

    let rows = harness.store.all_incidents().await.expect("list");
    assert_eq!(rows.len(), 1);
    let incident = &rows[0].incident;
    assert_eq!(incident.phase, Phase::Disclosure);
    assert_eq!(
        incident.advisory_state,
        herald::incident::AdvisoryState::Published
    );
    let kinds: Vec<_> = harness
        .store
        .timeline(rows[0].id)
        .await
        .expect("timeline")
        .iter()
        .map(|stored| (stored.entry.kind.as_str(), stored.delivery_id.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("reported", Some("delivery-a".to_owned())),
            ("updated", Some("delivery-b".to_owned())),
            ("published", Some("delivery-b".to_owned())),
            ("phase_changed", Some("delivery-b".to_owned())),
        ]
    );
    harness.stop().await;
}

both_stores!(bad_deliveries_are_refused_and_nothing_is_stored);
async fn bad_deliveries_are_refused_and_nothing_is_stored() {
    let harness = Harness::start(true).await;
    let body = fixture("repository_advisory.reported.composed.json");
    unsigned_and_wrongly_signed_deliveries_are_refused(&harness, &body).await;
    bodies_herald_cannot_read_are_refused(&harness, &body).await;

    // A GHSA id names branches, files and markers: one that is not a GHSA id is refused.
    let mut forged: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    forged["repository_advisory"]["ghsa_id"] = "GHSA-../../x".into();
    let forged = harness
        .deliver(
            "repository_advisory",
            "bad-8",
            &serde_json::to_vec(&forged).expect("JSON"),
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(forged.body.contains("is not a GHSA id"), "{}", forged.body);

    let no_delivery_id = harness.deliver("repository_advisory", "", &body).await;
    assert_eq!(no_delivery_id.status, 400, "{}", no_delivery_id.body);
    assert!(
        no_delivery_id.body.contains("x-github-delivery"),
        "{}",
        no_delivery_id.body
    );

    let unknown = harness
        .deliver("star", "bad-8", br#"{"action":"created"}"#)
        .await;
    assert_eq!(unknown.status, 202, "{}", unknown.body);
    assert!(unknown.body.contains("ignored"), "{}", unknown.body);

    nothing_stored(&harness).await;
    harness.stop().await;
}

/// `body` unsigned, signed for another body, and with a signature that is not hex: 401.
async fn unsigned_and_wrongly_signed_deliveries_are_refused(harness: &Harness, body: &[u8]) {
    let unsigned = harness
        .post(
            "repository_advisory",
            "bad-1",
            body,
            "application/json",
            Signature::Missing,
        )
        .await;
    assert_eq!(unsigned.status, 401, "{}", unsigned.body);
    assert!(unsigned.body.contains("missing"), "{}", unsigned.body);

    let wrong = harness
        .post(
            "repository_advisory",
            "bad-2",
            body,
            "application/json",
            Signature::Header(GITHUB_VECTOR),
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);

    let garbage = harness
        .post(
            "repository_advisory",
            "bad-3",
            body,
            "application/json",
            Signature::Header("sha256=nothex"),
        )
        .await;
    assert_eq!(garbage.status, 401, "{}", garbage.body);
}

/// Signed bodies herald cannot read: too large (413), `body` cut in half (400), a form
/// (415), and an advisory without its fields (400), each saying why.
async fn bodies_herald_cannot_read_are_refused(harness: &Harness, body: &[u8]) {
    let huge = vec![b' '; 26 * 1024 * 1024];
    let too_large = harness.deliver("repository_advisory", "bad-4", &huge).await;
    assert_eq!(too_large.status, 413, "{}", too_large.body);

    let truncated = &body[..body.len() / 2];
    let cut = harness
        .deliver("repository_advisory", "bad-5", truncated)
        .await;
    assert_eq!(cut.status, 400, "{}", cut.body);
    assert!(cut.body.contains("malformed JSON"), "{}", cut.body);

    let form = harness
        .post(
            "repository_advisory",
            "bad-6",
            body,
            "application/x-www-form-urlencoded",
            Signature::Valid,
        )
        .await;
    assert_eq!(form.status, 415, "{}", form.body);
    assert!(form.body.contains("application/json"), "{}", form.body);

    let shapeless = harness
        .deliver(
            "repository_advisory",
            "bad-7",
            br#"{"action":"reported","repository_advisory":{}}"#,
        )
        .await;
    assert_eq!(shapeless.status, 400, "{}", shapeless.body);
    assert!(shapeless.body.contains("ghsa_id"), "{}", shapeless.body);
}

both_stores!(many_concurrent_deliveries_are_all_committed);
async fn many_concurrent_deliveries_are_all_committed() {
    let harness = Harness::start(true).await;
    let labeled: serde_json::Value =
        serde_json::from_slice(&fixture("issues.labeled.0.json")).expect("JSON");
    let answers = futures::future::join_all((0..200).map(|index| {
        let harness = &harness;
        // Each a label of its own, as GitHub's deliveries are each an event of their own.
        let mut body = labeled.clone();
        body["label"]["name"] = format!("label-{index}").into();
        async move {
            let body = serde_json::to_vec(&body).expect("JSON");
            harness
                .deliver("issues", &format!("burst-{index}"), &body)
                .await
                .status
        }
    }))
    .await;
    assert!(answers.iter().all(|status| *status == 202), "{answers:?}");
    harness.wait_processed().await;
    assert_eq!(harness.count("SELECT COUNT(*) FROM deliveries").await, 200);
    assert_eq!(
        harness
            .count("SELECT COUNT(*) FROM outbox WHERE state = 'done' AND kind = 'process_delivery'")
            .await,
        200
    );
    harness.stop().await;
}

both_stores!(health_and_readiness);
async fn health_and_readiness() {
    let harness = Harness::start(true).await;
    assert_eq!(harness.status_of("/healthz").await, 200);
    assert_eq!(harness.status_of("/readyz").await, 200);
    harness.stop().await;
}

both_stores!(a_delivery_accepted_while_the_worker_is_stopped_is_processed_after_restart);
async fn a_delivery_accepted_while_the_worker_is_stopped_is_processed_after_restart() {
    let mut harness = Harness::start(false).await;
    let answer = harness
        .deliver(
            "repository_advisory",
            "before-restart",
            &fixture("repository_advisory.reported.composed.json"),
        )
        .await;
    assert_eq!(answer.status, 202);
    // Its processing job is queued with it, or (SQLite) waits for the worker to queue it.
    assert_eq!(
        harness
            .count(
                "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND kind = 'process_delivery'"
            )
            .await
            + harness.unqueued().await,
        1
    );
    // `herald jobs list` shows it either way: its job, or that it waits for one.
    let listed = common::app::herald_cli(&harness, &["jobs", "list"]).await;
    if harness.database_url.starts_with("sqlite:") {
        assert!(
            listed.contains(
                "and 1 stored deliveries whose processing jobs the worker has yet to queue"
            ),
            "{listed}"
        );
    } else {
        assert!(listed.contains("process_delivery"), "{listed}");
    }
    assert_eq!(harness.count("SELECT COUNT(*) FROM incidents").await, 0);

    harness.restart(true).await;
    harness.wait_processed().await;
    assert_eq!(harness.count("SELECT COUNT(*) FROM incidents").await, 1);
    harness.stop().await;
}

both_stores!(empty_and_malformed_cvss_vectors_are_recorded_not_fatal);
async fn empty_and_malformed_cvss_vectors_are_recorded_not_fatal() {
    let harness = Harness::start(true).await;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
            .expect("fixture JSON");
    let advisory = &mut payload["repository_advisory"];
    advisory["severity"] = "high".into();
    advisory["cvss"] = serde_json::json!({ "vector_string": "", "score": 7.5 });
    advisory["cvss_severities"] = serde_json::json!({
        "cvss_v3": { "vector_string": "", "score": 7.5 },
        "cvss_v4": { "vector_string": "CVSS:4.0/AV:N/garbage", "score": null },
    });
    let body = serde_json::to_vec(&payload).expect("JSON");
    let answer = harness
        .deliver("repository_advisory", "bad-cvss", &body)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    harness.wait_processed().await;
    assert_eq!(
        harness
            .count("SELECT COUNT(*) FROM outbox WHERE state = 'done' AND kind = 'process_delivery'")
            .await,
        1
    );

    let rows = harness.store.all_incidents().await.expect("list");
    let incident = &rows[0].incident;
    assert_eq!(
        incident.cvss_v3.as_ref().map(|c| &c.computed),
        Some(&CvssScore::Empty)
    );
    assert!(matches!(
        incident.cvss_v4.as_ref().map(|c| &c.computed),
        Some(CvssScore::Malformed { .. })
    ));
    assert_eq!(
        incident.severity,
        Severity::High,
        "the advisory's word stands"
    );
    let unusable = harness
        .store
        .timeline(rows[0].id)
        .await
        .expect("timeline")
        .iter()
        .filter(|stored| stored.entry.kind.as_str() == "cvss_unusable")
        .count();
    assert_eq!(unusable, 2);
    harness.stop().await;
}

/// PostgreSQL unreachable (its connection cut) during a burst: herald answers 503 and
/// `/readyz` says so, never 202 for a delivery it did not commit; once the database is
/// back, herald reconnects by itself and every accepted delivery is processed.
#[tokio::test]
async fn an_unreachable_postgresql_gets_503s_and_loses_nothing_accepted() {
    let database = common::postgres_database().await;
    let (prefix, rest) = database.split_once('@').expect("user@host");
    let (server, name) = rest.split_once('/').expect("host/database");
    let relay = common::cut::CutRelay::start(server.to_owned()).await;
    let through_relay = format!("{prefix}@{}/{name}", relay.addr);
    let harness = Harness::start_with(true, |settings| {
        settings.database_url = through_relay.clone();
    })
    .await;
    let body = |number: usize| {
        let mut payload: serde_json::Value =
            serde_json::from_slice(&fixture("repository_advisory.reported.composed.json"))
                .expect("JSON");
        payload["repository_advisory"]["ghsa_id"] = format!("GHSA-abcd-1234-{:04}", number).into();
        serde_json::to_vec(&payload).expect("JSON")
    };
    let mut accepted = Vec::new();
    for number in 0..30 {
        if number == 10 {
            relay.cut();
        }
        if number == 20 {
            assert_eq!(
                harness.status_of("/readyz").await,
                503,
                "not ready while the store is cut"
            );
            relay.restore();
        }
        let answer = harness
            .deliver(
                "repository_advisory",
                &format!("burst-{number}"),
                &body(number),
            )
            .await;
        match answer.status {
            202 => accepted.push(number),
            503 => assert!((10..20).contains(&number), "{number}: {}", answer.body),
            other => panic!("delivery {number}: {other} {}", answer.body),
        }
    }
    assert!(
        accepted.len() >= 20,
        "accepted before and after: {accepted:?}"
    );
    assert!(
        accepted.iter().all(|number| !(10..20).contains(number)),
        "{accepted:?}"
    );
    harness.wait_processed().await;
    let stored = harness
        .count("SELECT COUNT(*) FROM deliveries WHERE delivery_id LIKE 'burst-%'")
        .await;
    assert_eq!(
        stored,
        accepted.len() as i64,
        "exactly the accepted ones are stored"
    );
    let processed = harness
        .count("SELECT COUNT(*) FROM outbox WHERE kind = 'process_delivery' AND state = 'done'")
        .await;
    assert_eq!(processed, accepted.len() as i64, "and all were processed");
    assert_eq!(harness.status_of("/readyz").await, 200);
    harness.stop().await;
}
