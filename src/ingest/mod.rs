//! Ingest: a verified webhook body becomes a stored delivery with its processing job.
//! Concurrent deliveries are committed together, one fsync for many.

pub mod events;
pub mod signature;

use crate::incident::{DeliveryId, GhsaId, RepoName};
use crate::store::{Admission, NewDelivery, Store, StoreError, compress_payload, within};
use chrono::Utc;
use events::{Envelope, EventKind, PayloadError, WebhookEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

/// The most deliveries committed in one transaction.
const MAX_BATCH: usize = 512;

/// The longest a delivery waits for its commit, queueing included: past it, the delivery is
/// answered 503 (GitHub records it as failed, and herald asks for it again once the store
/// is back), well inside the 10 s GitHub waits for an answer.
pub const ANSWER_BOUND: Duration = Duration::from_secs(5);

/// How often the writer tries the store while its commits fail and no delivery comes.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The longest the writer waits for one commit before it gives up on the batch (the store
/// is unreachable or stalled); a commit given up on is rolled back, or may have landed, and
/// either way its deliveries were answered 503 and come back by redelivery as duplicates
/// or anew.
const COMMIT_BOUND: Duration = Duration::from_secs(4);

/// What herald did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// A `ping`: nothing to store.
    Pong,
    /// An event herald does not handle: nothing stored.
    Ignored,
    /// Stored and queued for processing.
    Accepted,
    /// Seen before, under the same delivery id or with the same body (a signed body sent
    /// again under a new id): nothing stored, nothing queued.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("the delivery could not be stored: {0}")]
    Store(#[source] Arc<StoreError>),
    #[error(
        "the delivery could not be stored within {} s: the store is unreachable or busy",
        ANSWER_BOUND.as_secs()
    )]
    TimedOut,
    #[error("herald is shutting down")]
    Closed,
}

struct Request {
    delivery: NewDelivery,
    reply: oneshot::Sender<Result<Admission, Arc<StoreError>>>,
}

/// Hands deliveries to the single writer task that batches them into commits.
#[derive(Clone)]
pub struct Ingestor {
    requests: mpsc::Sender<Request>,
    in_flight: IngestLoad,
    health: StoreHealth,
}

/// Whether the writer's last commit failed, and a signal when commits succeed again after
/// failing: deliveries refused meanwhile are then asked for again (see `redelivery`).
#[derive(Clone, Default)]
pub struct StoreHealth {
    failing: Arc<std::sync::atomic::AtomicBool>,
    recovered: Arc<Notify>,
}

impl StoreHealth {
    /// Notified each time a commit succeeds after one failed.
    pub fn recovered(&self) -> Arc<Notify> {
        self.recovered.clone()
    }

    /// Whether the writer's last commit failed.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn failed(&self) {
        self.failing.store(true, Ordering::Relaxed);
    }

    fn committed(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(
                "the store commits again; deliveries refused meanwhile are asked for again"
            );
            self.recovered.notify_one();
        }
    }
}

/// How many deliveries are waiting for their commit; the outbox worker gives way to them.
#[derive(Clone, Default)]
pub struct IngestLoad(Arc<AtomicUsize>);

impl IngestLoad {
    pub fn busy(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    fn enter(&self) -> InFlight {
        self.0.fetch_add(1, Ordering::Relaxed);
        InFlight(self.0.clone())
    }
}

#[cfg(test)]
impl IngestLoad {
    /// A load with a delivery waiting for its commit until the test ends.
    pub(crate) fn waiting() -> IngestLoad {
        IngestLoad(Arc::new(AtomicUsize::new(1)))
    }
}

/// Counts one delivery in flight until dropped (also when its request is cancelled).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Ingestor {
    /// Starts the writer; `stored` is notified after every commit that queued work.
    pub fn start(store: Store, stored: Arc<Notify>) -> (Ingestor, JoinHandle<()>) {
        let (requests, receiver) = mpsc::channel(4 * MAX_BATCH);
        let health = StoreHealth::default();
        let writer = tokio::spawn(write_batches(store, receiver, stored, health.clone()));
        let ingestor = Ingestor {
            requests,
            in_flight: IngestLoad::default(),
            health,
        };
        (ingestor, writer)
    }

    pub fn load(&self) -> IngestLoad {
        self.in_flight.clone()
    }

    pub fn health(&self) -> StoreHealth {
        self.health.clone()
    }

    /// Parses, checks and stores one delivery; returns once it is committed. `signature`:
    /// the body's verified signature, for a delivery from GitHub (a body stored before
    /// under another id is then a replay, [`Receipt::Duplicate`]).
    pub async fn receive(
        &self,
        delivery_id: &DeliveryId,
        event_name: &str,
        body: &[u8],
        signature: Option<[u8; 32]>,
    ) -> Result<Receipt, ReceiveError> {
        let Some(kind) = EventKind::from_name(event_name) else {
            WebhookEvent::check_json(body)?;
            return Ok(Receipt::Ignored);
        };
        if kind == EventKind::Push && !events::PushEvent::may_name_an_advisory(body) {
            WebhookEvent::check_json(body)?;
            return Ok(Receipt::Ignored);
        }
        if kind == EventKind::Ping {
            Envelope::read(kind, body)?;
            return Ok(Receipt::Pong);
        }
        let delivery = NewDelivery {
            body_signature: signature,
            ..new_delivery(delivery_id, kind, body)?
        };
        let _in_flight = self.in_flight.enter();
        let (reply, answer) = oneshot::channel();
        let committed = async {
            self.requests
                .send(Request { delivery, reply })
                .await
                .map_err(|_| ReceiveError::Closed)?;
            answer.await.map_err(|_| ReceiveError::Closed)
        };
        // Answered within the bound whatever the store does; what is answered 202 is
        // committed, what times out may or may not be (a redelivery then finds it stored).
        match tokio::time::timeout(ANSWER_BOUND, committed).await {
            Err(_) => Err(ReceiveError::TimedOut),
            Ok(Err(error)) => Err(error),
            Ok(Ok(Ok(Admission::Accepted))) => Ok(Receipt::Accepted),
            Ok(Ok(Ok(Admission::Duplicate))) => Ok(Receipt::Duplicate),
            Ok(Ok(Err(error))) => Err(ReceiveError::Store(error)),
        }
    }
}

async fn write_batches(
    store: Store,
    mut receiver: mpsc::Receiver<Request>,
    stored: Arc<Notify>,
    health: StoreHealth,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let received = if health.failing() {
            // While commits fail and no delivery comes, the store is tried each second, so
            // its return is noticed (and what was refused meanwhile asked for again)
            // without waiting for the next delivery.
            match tokio::time::timeout(PROBE_EVERY, receiver.recv_many(&mut batch, MAX_BATCH)).await
            {
                Ok(received) => received,
                Err(_) => {
                    if within(COMMIT_BOUND, store.ping_writer()).await.is_ok() {
                        health.committed();
                    }
                    continue;
                }
            }
        } else {
            receiver.recv_many(&mut batch, MAX_BATCH).await
        };
        if received == 0 {
            break;
        }
        let (deliveries, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|request| (request.delivery, request.reply))
            .unzip();
        let count = deliveries.len();
        let admitted = within(COMMIT_BOUND, store.admit(deliveries)).await;
        match admitted {
            Ok(admissions) => {
                health.committed();
                if admissions.contains(&Admission::Accepted) {
                    stored.notify_one();
                }
                for (reply, admission) in replies.into_iter().zip(admissions) {
                    // A caller that went away (client hung up, or answered 503 at the
                    // bound) still has its delivery stored; asked for again, it is a
                    // duplicate.
                    let _ = reply.send(Ok(admission));
                }
            }
            Err(error) => {
                health.failed();
                tracing::error!(%error, deliveries = count, "storing deliveries failed");
                // One error answers every delivery of the batch.
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// A delivery ready for the store: `body` JSON, with the envelope of GitHub's payload of
/// `kind` (see [`Envelope`]).
pub fn new_delivery(
    delivery_id: &DeliveryId,
    kind: EventKind,
    body: &[u8],
) -> Result<NewDelivery, PayloadError> {
    let envelope = Envelope::read(kind, body)?;
    Ok(NewDelivery {
        delivery_id: delivery_id.clone(),
        event: kind.as_str().to_owned(),
        action: envelope.action,
        repository: envelope.repository,
        installation_id: envelope.installation_id,
        payload_lz4: compress_payload(body),
        body_signature: None,
        received_at: Utc::now(),
    })
}

/// An advisory as GitHub's REST API returns it (the reconciler's list, the answer to a
/// publish request), as the synthetic `repository_advisory` delivery ("reconciled") that
/// GitHub sends no webhook for. Its id names the advisory's version, so a version is
/// processed once whichever way herald saw it. `None` without an id or update time.
pub fn reconciled_advisory(
    repository: &RepoName,
    installation: crate::store::InstallationId,
    advisory: &serde_json::Value,
) -> Option<(DeliveryId, Vec<u8>)> {
    advisory_version(("reconciled", None), repository, installation, advisory)
}

/// A draft advisory herald created from a mailed report at `sender`'s word, as a
/// `repository_advisory` delivery ("reported": a new report, which GitHub sends no webhook
/// for when the advisory is created through its API); named as [`reconciled_advisory`]
/// names it, so the reconciler finding the same version later is the same delivery.
pub fn accepted_advisory(
    repository: &RepoName,
    installation: crate::store::InstallationId,
    advisory: &serde_json::Value,
    sender: &str,
) -> Option<(DeliveryId, Vec<u8>)> {
    advisory_version(
        ("reported", Some(sender)),
        repository,
        installation,
        advisory,
    )
}

fn advisory_version(
    (action, sender): (&str, Option<&str>),
    repository: &RepoName,
    installation: crate::store::InstallationId,
    advisory: &serde_json::Value,
) -> Option<(DeliveryId, Vec<u8>)> {
    let ghsa_id = GhsaId::parse(advisory.get("ghsa_id")?.as_str()?).ok()?;
    let updated_at = advisory.get("updated_at")?.as_str()?;
    let delivery_id = DeliveryId::parse(&crate::markers::key::advisory_version(
        repository, &ghsa_id, updated_at,
    ))
    .ok()?;
    let mut payload = serde_json::json!({
        "action": action,
        "repository_advisory": advisory,
        "repository": { "full_name": repository },
        "installation": { "id": installation },
    });
    if let Some(login) = sender {
        payload["sender"] = serde_json::json!({ "login": login });
    }
    Some((delivery_id, payload.to_string().into_bytes()))
}
