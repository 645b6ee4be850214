//! Ingest: a verified webhook body becomes a stored delivery with its processing job.
//! Concurrent deliveries are committed together, one fsync for many.

pub mod events;
pub mod signature;

use crate::incident::{GhsaId, RepoName};
use crate::store::{Admission, NewDelivery, Store, StoreError, compress_payload};
use chrono::Utc;
use events::{EventKind, PayloadError, WebhookEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

/// The most deliveries committed in one transaction.
const MAX_BATCH: usize = 512;

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
        let writer = tokio::spawn(write_batches(store, receiver, stored));
        let ingestor = Ingestor {
            requests,
            in_flight: IngestLoad::default(),
        };
        (ingestor, writer)
    }

    pub fn load(&self) -> IngestLoad {
        self.in_flight.clone()
    }

    /// Parses, checks and stores one delivery; returns once it is committed. `signature`:
    /// the body's verified signature, for a delivery from GitHub (a body stored before
    /// under another id is then a replay, [`Receipt::Duplicate`]).
    pub async fn receive(
        &self,
        delivery_id: &str,
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
            WebhookEvent::parse(kind, body)?;
            return Ok(Receipt::Pong);
        }
        let delivery = NewDelivery {
            body_signature: signature,
            ..new_delivery(delivery_id, kind, body)?
        };
        let _in_flight = self.in_flight.enter();
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { delivery, reply })
            .await
            .map_err(|_| ReceiveError::Closed)?;
        match answer.await.map_err(|_| ReceiveError::Closed)? {
            Ok(Admission::Accepted) => Ok(Receipt::Accepted),
            Ok(Admission::Duplicate) => Ok(Receipt::Duplicate),
            Err(error) => Err(ReceiveError::Store(error)),
        }
    }
}

async fn write_batches(store: Store, mut receiver: mpsc::Receiver<Request>, stored: Arc<Notify>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (deliveries, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|request| (request.delivery, request.reply))
            .unzip();
        match store.admit(&deliveries).await {
            Ok(admissions) => {
                if admissions.contains(&Admission::Accepted) {
                    stored.notify_one();
                }
                for (reply, admission) in replies.into_iter().zip(admissions) {
                    // A caller that went away (client hung up) still has its delivery stored.
                    let _ = reply.send(Ok(admission));
                }
            }
            Err(error) => {
                tracing::error!(%error, deliveries = deliveries.len(), "storing deliveries failed");
                // One error answers every delivery of the batch.
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// A delivery ready for the store: `body` checked as GitHub's payload of `kind`.
pub fn new_delivery(
    delivery_id: &str,
    kind: EventKind,
    body: &[u8],
) -> Result<NewDelivery, PayloadError> {
    let event = WebhookEvent::parse(kind, body)?;
    Ok(NewDelivery {
        delivery_id: delivery_id.to_owned(),
        event: kind.as_str().to_owned(),
        action: event.action().map(str::to_owned),
        repository: event.repository().cloned(),
        installation_id: event.installation_id(),
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
) -> Option<(String, Vec<u8>)> {
    let ghsa_id = GhsaId::parse(advisory.get("ghsa_id")?.as_str()?).ok()?;
    let updated_at = advisory.get("updated_at")?.as_str()?;
    let delivery_id = crate::markers::key::advisory_version(repository, &ghsa_id, updated_at);
    let payload = serde_json::json!({
        "action": "reconciled",
        "repository_advisory": advisory,
        "repository": { "full_name": repository },
        "installation": { "id": installation },
    });
    Some((delivery_id, payload.to_string().into_bytes()))
}
