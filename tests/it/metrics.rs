//! `GET /metrics`: scraped after a scripted run and read with a Prometheus text parser.

use crate::both_stores;
use crate::common;

use common::{Harness, Signature, fixture};
use herald::store::{Admission, NewDelivery, compress_payload};

/// The value of the sample `metric` with exactly these `labels`, if there is one.
pub fn value(
    scrape: &prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == metric
                && sample.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(name, value)| sample.labels.get(name) == Some(*value))
        })
        .and_then(|sample| match sample.value {
            prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Untyped(value) => Some(value),
            _ => None,
        })
}

/// `/metrics` at `url`, checked for its content type and parsed.
pub async fn scrape(harness: &Harness, url: &str) -> (String, prometheus_parse::Scrape) {
    let response = harness.client.get(url).send().await.expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("metrics text");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    (text, parsed)
}

both_stores!(metrics_count_what_herald_received_queued_and_ran);
async fn metrics_count_what_herald_received_queued_and_ran() {
    let harness = Harness::start(true).await;
    one_delivery_of_each_outcome(&harness).await;
    let (text, metrics) = scrape(&harness, &harness.url("/metrics")).await;
    each_delivery_is_counted_by_outcome(&metrics, &text);
    the_jobs_runs_and_the_queue_are_counted(&metrics, &text);
    assert_eq!(
        value(
            &metrics,
            "herald_incidents",
            &[("phase", "awareness"), ("severity", "critical")]
        ),
        Some(1.0),
        "{text}"
    );
    // Labels carry herald's own names only: no advisory text, no secret.
    for never in ["GHSA-", "Hello-World", common::SECRET] {
        assert!(!text.contains(never), "{never:?} in the metrics:\n{text}");
    }
    harness.stop().await;
}

/// A report accepted, then as a duplicate, one forged and one malformed; and a stored
/// delivery no version of herald can process, whose job fails and is retried.
async fn one_delivery_of_each_outcome(harness: &Harness) {
    let advisory = fixture("repository_advisory.reported.composed.json");
    let accepted = harness
        .deliver("repository_advisory", "m-1", &advisory)
        .await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let duplicate = harness
        .deliver("repository_advisory", "m-1", &advisory)
        .await;
    assert_eq!(duplicate.status, 200, "{}", duplicate.body);
    let forged = harness
        .post(
            "repository_advisory",
            "m-2",
            &advisory,
            "application/json",
            Signature::Header("sha256=0000"),
        )
        .await;
    assert_eq!(forged.status, 401, "{}", forged.body);
    let malformed = harness
        .deliver("repository_advisory", "m-3", br#"{"action": "reported"}"#)
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let poison = NewDelivery {
        delivery_id: herald::incident::DeliveryId::parse("m-poison").expect("an id"),
        event: "no_such_event".to_owned(),
        action: None,
        repository: None,
        installation_id: None,
        payload_lz4: compress_payload(b"{}"),
        body_signature: None,
        received_at: chrono::Utc::now(),
    };
    let admitted = harness.store.admit(vec![poison]).await.expect("admitted");
    assert_eq!(admitted, [Admission::Accepted]);
    const UNTRIED: &str =
        "SELECT COUNT(*) FROM outbox WHERE kind = 'process_delivery' AND attempts = 0";
    // The worker counts a run just after committing it: the counts are waited for too.
    harness
        .until(UNTRIED, async || {
            let unqueued = harness.unqueued().await;
            let (_, metrics) = scrape(harness, &harness.url("/metrics")).await;
            let counted = |outcome| {
                let labels = [("kind", "process_delivery"), ("outcome", outcome)];
                value(&metrics, "herald_job_runs_total", &labels).is_some()
            };
            unqueued + harness.count(UNTRIED).await == 0 && counted("done") && counted("retried")
        })
        .await;
}

/// Each delivery counted by event and outcome, and the three herald read timed.
fn each_delivery_is_counted_by_outcome(metrics: &prometheus_parse::Scrape, text: &str) {
    let deliveries = |event, outcome| {
        value(
            metrics,
            "herald_webhook_deliveries_total",
            &[("event", event), ("outcome", outcome)],
        )
    };
    assert_eq!(
        deliveries("repository_advisory", "accepted"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        deliveries("repository_advisory", "duplicate"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        deliveries("repository_advisory", "rejected_payload"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        deliveries("unverified", "rejected_signature"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(metrics, "herald_webhook_ingest_seconds_count", &[]),
        Some(3.0),
        "accepted, duplicate and malformed were timed: {text}"
    );
}

/// The job runs counted and timed by kind and outcome (one done, one retried), and the
/// queue: no GitHub App is configured, so the new incident's tracking-issue job waits, due.
fn the_jobs_runs_and_the_queue_are_counted(metrics: &prometheus_parse::Scrape, text: &str) {
    let runs = |kind, outcome| {
        value(
            metrics,
            "herald_job_runs_total",
            &[("kind", kind), ("outcome", outcome)],
        )
    };
    assert_eq!(runs("process_delivery", "done"), Some(1.0), "{text}");
    assert_eq!(runs("process_delivery", "retried"), Some(1.0), "{text}");
    assert_eq!(
        value(
            metrics,
            "herald_job_seconds_count",
            &[("kind", "process_delivery")]
        ),
        Some(2.0),
        "{text}"
    );
    let kind = [("kind", "sync_tracking_issue")];
    assert_eq!(
        value(metrics, "herald_queue_pending_jobs", &kind),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(metrics, "herald_queue_due_jobs", &kind),
        Some(1.0),
        "{text}"
    );
    let age = value(metrics, "herald_queue_oldest_due_age_seconds", &kind);
    assert!(age.is_some_and(|age| (0.0..60.0).contains(&age)), "{text}");
}

#[tokio::test]
async fn metrics_listen_serves_the_metrics_away_from_the_webhook_port() {
    let harness = Harness::start_with(true, |settings| {
        settings.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    assert_eq!(harness.status_of("/metrics").await, 404);
    let server = harness.server.as_ref().expect("server");
    let metrics_addr = server.metrics_addr.expect("a metrics listener");
    let (text, _) = scrape(&harness, &format!("http://{metrics_addr}/metrics")).await;
    assert!(
        text.contains("herald_webhook_ingest_seconds_count 0"),
        "{text}"
    );
    harness.stop().await;
}
