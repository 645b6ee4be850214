//! Prometheus metrics (`GET /metrics`): what herald received, how its queue stands, what
//! its jobs did. Labels carry only herald's own names (event kinds, job kinds, outcomes,
//! phases), never advisory text or a secret.

use crate::ingest::events::EventKind;
use crate::store::{Store, StoreError};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DeliveryOutcome {
    accepted,
    duplicate,
    /// An event herald does not act on.
    ignored,
    pong,
    /// Refused before anything was stored: a bad signature, an oversized or unreadable
    /// body, a missing header, a wrong content type.
    rejected_signature,
    rejected_too_large,
    rejected_body,
    rejected_header,
    rejected_content_type,
    /// Signed, but not the payload its event promises.
    rejected_payload,
    /// The store could not take it (answered 503; herald asks GitHub for it again).
    unavailable,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    /// The event's name where herald knows it, else `other`; `unverified` for a delivery
    /// refused at the door (signature, size, headers, content type), whose headers herald
    /// does not take as GitHub's word.
    event: &'static str,
    outcome: DeliveryOutcome,
}

/// What one run of a job came to.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum JobRunOutcome {
    done,
    /// Failed; it runs again after a backoff.
    retried,
    /// Failed for good: herald gave up on it.
    failed,
    /// Waited for GitHub's write budget without an attempt.
    deferred,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobRunLabels {
    kind: &'static str,
    outcome: JobRunOutcome,
}

/// How GitHub answered one request.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum GitHubOutcome {
    /// 2xx.
    ok,
    /// 304: unchanged since the ETag herald sent, at no rate-limit cost.
    not_modified,
    /// 403 or 429 for a rate limit (primary or secondary).
    rate_limited,
    /// Any other 4xx: a refusal.
    refused,
    /// 5xx.
    server_error,
    /// No answer: connection, TLS or timeout.
    unreachable,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GitHubLabels {
    outcome: GitHubOutcome,
}

/// What a scan of GitHub's failed deliveries found or did with one delivery.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum RedeliveryOutcome {
    /// Failed at GitHub and not in the store: missed.
    found,
    /// GitHub agreed to deliver it again.
    requested,
    /// GitHub refused to deliver it again (its words are kept: `herald deliveries list`).
    refused,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RedeliveryLabels {
    outcome: RedeliveryOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    /// `warning`, `breach` or `active`.
    stage: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntakeLabels {
    /// `report`, `auto_reply`, `bounce`, `loop`, `list`, `bulk`.
    kind: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IncidentLabels {
    phase: String,
    severity: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// One `herald serve`'s metrics.
pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    ingest_seconds: Histogram,
    job_runs: Family<JobRunLabels, Counter>,
    job_seconds: Family<KindLabels, Histogram, fn() -> Histogram>,
    queue_pending: Family<KindLabels, Gauge>,
    queue_due: Family<KindLabels, Gauge>,
    queue_oldest_due: Family<KindLabels, Seconds>,
    jobs_given_up: Family<KindLabels, Gauge>,
    incidents: Family<IncidentLabels, Gauge>,
    github_requests: Family<GitHubLabels, Counter>,
    github_rate_limit_remaining: Gauge,
    sla_notices: Family<StageLabels, Counter>,
    redeliveries: Family<RedeliveryLabels, Counter>,
    intakes: Family<IntakeLabels, Gauge>,
    mailbox_failures: Counter,
    upstream_failures: Counter,
    /// Serialises scrapes: each sets the store's gauges afresh, then encodes.
    scrape: tokio::sync::Mutex<()>,
}

/// Registers `metric` under `name` and returns it (a handle onto the registered one).
fn registered<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// Job durations: 1 ms to about 65 s.
fn job_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    /// Longer than 80 lines on purpose: one registration per metric, with its name and
    /// help as `/metrics` shows them, read top to bottom as the list of what herald counts.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("herald");
        let deliveries = registered(
            &mut registry,
            "webhook_deliveries",
            "Webhook deliveries received, by event and what became of them",
            Family::default(),
        );
        // 100 µs to about 1.6 s: an answer waits for its commit's fsync.
        let ingest_seconds = registered(
            &mut registry,
            "webhook_ingest_seconds",
            "Time from a verified delivery to its answer, stored and committed",
            Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
        );
        let job_runs = registered(
            &mut registry,
            "job_runs",
            "Job runs, by kind and outcome",
            Family::default(),
        );
        let job_seconds = registered(
            &mut registry,
            "job_seconds",
            "Time one run of a job took, by kind",
            Family::new_with_constructor(job_histogram as fn() -> Histogram),
        );
        let queue_pending = registered(
            &mut registry,
            "queue_pending_jobs",
            "Jobs waiting to run or running, by kind",
            Family::default(),
        );
        let queue_due = registered(
            &mut registry,
            "queue_due_jobs",
            "Pending jobs whose time has come, by kind",
            Family::default(),
        );
        let queue_oldest_due = registered(
            &mut registry,
            "queue_oldest_due_age_seconds",
            "How long the longest-due pending job has been due, by kind",
            Family::default(),
        );
        let jobs_given_up = registered(
            &mut registry,
            "jobs_given_up",
            "Jobs herald gave up on (`herald jobs list --failed`), by kind",
            Family::default(),
        );
        let incidents = registered(
            &mut registry,
            "incidents",
            "Incidents, by phase and severity",
            Family::default(),
        );
        let github_requests = registered(
            &mut registry,
            "github_requests",
            "Requests to GitHub's API, by how GitHub answered",
            Family::default(),
        );
        let github_rate_limit_remaining = registered(
            &mut registry,
            "github_rate_limit_remaining",
            "Requests left in the rate-limit window, as GitHub's last answer said",
            Gauge::default(),
        );
        let sla_notices = registered(
            &mut registry,
            "sla_notices",
            "Reaction-time reminders sent, by stage (warning, breach, active)",
            Family::default(),
        );
        let redeliveries = registered(
            &mut registry,
            "webhook_redeliveries",
            "Deliveries GitHub failed to make that herald found missing, asked for again, \
             or was refused, by outcome",
            Family::default(),
        );
        let intakes = registered(
            &mut registry,
            "intakes",
            "Messages mailed to the security team, by kind (report, auto_reply, bounce, loop, \
             list, bulk) and state",
            Family::default(),
        );
        let mailbox_failures = registered(
            &mut registry,
            "mailbox_failures",
            "Times the security team's mailbox could not be read (unreachable, login refused, \
             an answer herald could not take)",
            Counter::default(),
        );
        let upstream_failures = registered(
            &mut registry,
            "upstream_failures",
            "Times an upstream source (a feed, OSV, NVD) could not be read or understood",
            Counter::default(),
        );
        Metrics {
            registry,
            redeliveries,
            intakes,
            mailbox_failures,
            upstream_failures,
            github_requests,
            github_rate_limit_remaining,
            sla_notices,
            deliveries,
            ingest_seconds,
            job_runs,
            job_seconds,
            queue_pending,
            queue_due,
            queue_oldest_due,
            jobs_given_up,
            incidents,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts a delivery; `event` is its `X-GitHub-Event` (`None`: refused at the door).
    pub fn delivery(&self, event: Option<&str>, outcome: DeliveryOutcome) {
        let event = match event {
            None => "unverified",
            Some(name) => EventKind::from_name(name).map_or("other", EventKind::as_str),
        };
        self.deliveries
            .get_or_create(&DeliveryLabels { event, outcome })
            .inc();
    }

    pub fn ingested(&self, took: Duration) {
        self.ingest_seconds.observe(took.as_secs_f64());
    }

    /// Counts one run of a job of `kind` and how long it took.
    pub fn job_run(&self, kind: &'static str, outcome: JobRunOutcome, took: Duration) {
        self.job_runs
            .get_or_create(&JobRunLabels { kind, outcome })
            .inc();
        self.job_seconds
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts one request to GitHub and remembers the rate limit its answer stated.
    pub fn github_answer(&self, outcome: GitHubOutcome, rate_limit_remaining: Option<i64>) {
        self.github_requests
            .get_or_create(&GitHubLabels { outcome })
            .inc();
        if let Some(remaining) = rate_limit_remaining {
            self.github_rate_limit_remaining.set(remaining);
        }
    }

    /// Counts a reaction-time reminder sent at `stage`.
    pub fn sla_notice(&self, stage: &'static str) {
        self.sla_notices.get_or_create(&StageLabels { stage }).inc();
    }

    /// Counts `count` deliveries a redelivery scan handled with `outcome`.
    pub fn redeliveries(&self, outcome: RedeliveryOutcome, count: usize) {
        self.redeliveries
            .get_or_create(&RedeliveryLabels { outcome })
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// Counts a failed attempt to read the security team's mailbox.
    pub fn mailbox_failure(&self) {
        self.mailbox_failures.inc();
    }

    /// Counts a failed read of an upstream source.
    pub fn upstream_failure(&self) {
        self.upstream_failures.inc();
    }

    /// The metrics in Prometheus' text format (OpenMetrics), the queue and the incidents
    /// read from the store now.
    pub async fn render(&self, store: &Store) -> Result<String, MetricsError> {
        let _scrape = self.scrape.lock().await;
        let now = chrono::Utc::now();
        let queue = store.queue_summary(now).await?;
        let incidents = store.incident_counts().await?;
        let intakes = store.intake_counts().await?;
        for family in [&self.queue_pending, &self.queue_due, &self.jobs_given_up] {
            family.clear();
        }
        self.queue_oldest_due.clear();
        for kind in queue {
            let labels = KindLabels {
                kind: kind.kind.clone(),
            };
            self.queue_pending.get_or_create(&labels).set(kind.pending);
            self.queue_due.get_or_create(&labels).set(kind.due);
            self.jobs_given_up.get_or_create(&labels).set(kind.given_up);
            if let Some(since) = kind.oldest_due_since {
                let age = (now - since).num_milliseconds().max(0) as f64 / 1000.0;
                self.queue_oldest_due.get_or_create(&labels).set(age);
            }
        }
        self.incidents.clear();
        for (phase, severity, count) in incidents {
            self.incidents
                .get_or_create(&IncidentLabels { phase, severity })
                .set(count);
        }
        self.intakes.clear();
        for (kind, state, count) in intakes {
            self.intakes
                .get_or_create(&IntakeLabels { kind, state })
                .set(count);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot read the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot encode the metrics: {0}")]
    Encode(#[from] std::fmt::Error),
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
