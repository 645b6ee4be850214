//! The HTTP face: `POST /webhooks` (verified, stored, then answered), `/healthz`, `/readyz`,
//! and `/metrics` (here, or on a listener of its own).

pub mod body;
pub mod serve;

use crate::incident::DeliveryId;
use crate::ingest::signature::{self, SignatureError};
use crate::ingest::{Ingestor, Receipt, ReceiveError};
use crate::metrics::{DeliveryOutcome, Metrics};
use crate::store::Store;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use body::{BodyBudget, Unread};
use secrecy::SecretString;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct AppState {
    pub secret: SecretString,
    pub ingestor: Ingestor,
    pub store: Store,
    /// Bounds what bodies not yet verified may cost (and their largest size).
    pub bodies: BodyBudget,
    pub metrics: Arc<Metrics>,
    /// True once the process is stopping: `/readyz` then says 503.
    pub draining: tokio::sync::watch::Receiver<bool>,
}

/// The webhook listener's routes; `/metrics` among them, for this machine only, unless
/// `metrics_elsewhere` (a listener of its own, see [`metrics_router`]). The webhook port
/// faces the internet, and the metrics count incidents by severity before disclosure.
pub fn router(state: Arc<AppState>, metrics_elsewhere: bool) -> Router {
    let router = Router::new()
        .route("/webhooks", post(receive))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready));
    let router = if metrics_elsewhere {
        router
    } else {
        router.route("/metrics", get(metrics_for_this_machine))
    };
    // No body limit layer: the one body read, the webhook's, is bounded by `bodies`.
    router.with_state(state)
}

/// `/metrics` alone, for the `metrics_listen` address.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A delivery whose signature checked out, with the headers herald relies on.
pub struct VerifiedDelivery {
    pub delivery_id: DeliveryId,
    pub event: String,
    pub body: Bytes,
    /// The signature the body matched.
    pub signature: [u8; 32],
}

/// Why a delivery was refused before anything was stored.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("the body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    #[error("cannot read the body: {0}")]
    Body(String),
    #[error("the body did not arrive within {} s", body::BODY_READ_TIMEOUT.as_secs())]
    Timeout,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the {0} header is missing or not printable ASCII of at most 200 characters")]
    Header(&'static str),
    #[error("unsupported content type {0:?}: configure the webhook to send application/json")]
    ContentType(String),
}

fn error_body(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

impl Rejection {
    fn outcome(&self) -> DeliveryOutcome {
        match self {
            Rejection::TooLarge(_) => DeliveryOutcome::rejected_too_large,
            Rejection::Body(_) | Rejection::Timeout => DeliveryOutcome::rejected_body,
            Rejection::Signature(_) => DeliveryOutcome::rejected_signature,
            Rejection::Header(_) => DeliveryOutcome::rejected_header,
            Rejection::ContentType(_) => DeliveryOutcome::rejected_content_type,
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = match &self {
            Rejection::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Body(_) | Rejection::Header(_) => StatusCode::BAD_REQUEST,
            Rejection::Timeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::Signature(_) => StatusCode::UNAUTHORIZED,
            Rejection::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        if let Some(unlogged) = REFUSALS.note(Instant::now()) {
            tracing::warn!(
                status = status.as_u16(),
                reason = %self,
                refused_unlogged = unlogged,
                "webhook delivery refused (more in the next minute are counted, not logged)"
            );
        }
        error_body(status, self.to_string())
    }
}

/// Refused deliveries are logged at a bounded rate: a flood of forged requests must not fill
/// the disk. The first refusal of a minute is logged, with how many went unlogged before it.
static REFUSALS: IntervalLog = IntervalLog::new(Duration::from_secs(60));

/// Answered deliveries likewise, at the default level (each one is logged at `debug`): a
/// line per delivery costs more than storing it at the rates GitHub may send.
static ANSWERS: IntervalLog = IntervalLog::new(Duration::from_secs(60));

struct IntervalLog {
    interval: Duration,
    /// When a refusal was last logged, and how many were counted since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl IntervalLog {
    const fn new(interval: Duration) -> IntervalLog {
        IntervalLog {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts one at `now`; `Some(unlogged before it)` when this one is to be logged.
    fn note(&self, now: Instant) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (logged_at, unlogged) = &mut *state;
        match logged_at {
            Some(at) if now.duration_since(*at) < self.interval => {
                *unlogged += 1;
                None
            }
            _ => {
                *logged_at = Some(now);
                Some(std::mem::take(unlogged))
            }
        }
    }
}

/// Header `name` as `read` takes it (delivery ids and event names become store keys and log
/// fields, so only tame ones are taken).
fn tame_header<T>(
    headers: &HeaderMap,
    name: &'static str,
    read: impl FnOnce(&str) -> Option<T>,
) -> Result<T, Rejection> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .and_then(read)
        .ok_or(Rejection::Header(name))
}

impl FromRequest<Arc<AppState>> for VerifiedDelivery {
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Rejection> {
        let verified = verify(request, state).await;
        if let Err(rejection) = &verified {
            state.metrics.delivery(None, rejection.outcome());
        }
        verified
    }
}

async fn verify(request: Request, state: &Arc<AppState>) -> Result<VerifiedDelivery, Rejection> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // A request that claims no signature is refused before its body is read.
    let claimed = signature::claimed(
        headers
            .get("x-hub-signature-256")
            .map(|value| value.as_bytes()),
    )?;
    let read = state
        .bodies
        .read(&headers, body)
        .await
        .map_err(|unread| match unread {
            Unread::TooLarge => Rejection::TooLarge(state.bodies.max_body_bytes()),
            Unread::TimedOut => Rejection::Timeout,
            Unread::Broken(why) => Rejection::Body(why),
        })?;
    signature::matches(&state.secret, read.bytes(), &claimed)?;
    let body = read.verified();
    let event = tame_header(&headers, "x-github-event", |event| {
        crate::incident::is_tame(event).then(|| event.to_owned())
    })?;
    let delivery_id = tame_header(&headers, "x-github-delivery", |id| {
        DeliveryId::parse(id).ok()
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(Rejection::ContentType(content_type.to_owned()));
    }
    Ok(VerifiedDelivery {
        delivery_id,
        event,
        body,
        signature: claimed,
    })
}

async fn receive(State(state): State<Arc<AppState>>, delivery: VerifiedDelivery) -> Response {
    let VerifiedDelivery {
        delivery_id,
        event,
        body,
        signature,
    } = delivery;
    let started = Instant::now();
    let result = state
        .ingestor
        .receive(&delivery_id, &event, &body, Some(signature))
        .await;
    state.metrics.ingested(started.elapsed());
    let counted = |outcome| state.metrics.delivery(Some(&event), outcome);
    let (status, word, outcome) = match result {
        Ok(Receipt::Pong) => (StatusCode::OK, "pong", DeliveryOutcome::pong),
        Ok(Receipt::Ignored) => (StatusCode::ACCEPTED, "ignored", DeliveryOutcome::ignored),
        Ok(Receipt::Accepted) => (StatusCode::ACCEPTED, "accepted", DeliveryOutcome::accepted),
        Ok(Receipt::Duplicate) => (StatusCode::OK, "duplicate", DeliveryOutcome::duplicate),
        Err(ReceiveError::Payload(error)) => {
            counted(DeliveryOutcome::rejected_payload);
            let message = error.to_string();
            tracing::warn!(delivery = %delivery_id, %event, reason = %message, "webhook payload refused");
            return error_body(StatusCode::BAD_REQUEST, message);
        }
        Err(error @ (ReceiveError::Store(_) | ReceiveError::TimedOut | ReceiveError::Closed)) => {
            counted(DeliveryOutcome::unavailable);
            tracing::error!(delivery = %delivery_id, %event, %error, "webhook delivery not stored");
            return error_body(StatusCode::SERVICE_UNAVAILABLE, error.to_string());
        }
    };
    counted(outcome);
    tracing::debug!(delivery = %delivery_id, %event, status = status.as_u16(), "webhook delivery {word}");
    if let Some(unlogged) = ANSWERS.note(Instant::now()) {
        tracing::info!(
            delivery = %delivery_id,
            %event,
            status = status.as_u16(),
            answered_unlogged = unlogged,
            "webhook delivery {word} (more in the next minute are counted, not logged)"
        );
    }
    (
        status,
        Json(json!({ "status": word, "delivery": delivery_id, "event": event })),
    )
        .into_response()
}

async fn metrics_for_this_machine(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    state: State<Arc<AppState>>,
) -> Response {
    if !peer.ip().is_loopback() {
        return error_body(
            StatusCode::FORBIDDEN,
            "/metrics on the webhook port answers only this machine; set metrics_listen to \
             serve it on an address of its own"
                .to_owned(),
        );
    }
    metrics(state).await
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.render(&state.store).await {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(error) => error_body(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

/// How long `/readyz` waits for the store: a probe is answered within it, ready or not.
const READY_BOUND: Duration = Duration::from_millis(800);

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if *state.draining.borrow() {
        return error_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping: send deliveries to another replica".to_owned(),
        );
    }
    // While commits fail, readiness asks for a write transaction too (reads may still
    // work: a SQLite file locked by another writer, say); otherwise a read will do.
    let health = state.ingestor.health();
    let probe = async {
        state.store.ping().await?;
        if health.failing() {
            state.store.ping_writer().await?;
        }
        Ok::<(), crate::store::StoreError>(())
    };
    match tokio::time::timeout(READY_BOUND, probe).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(error)) => error_body(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unreachable: {error}"),
        ),
        Err(_) => error_body(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "store unreachable: no answer within {} ms",
                READY_BOUND.as_millis()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// `GET /metrics` on the webhook router, as if from `peer`.
    async fn metrics_status(peer: [u8; 4]) -> StatusCode {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("herald.db").display());
        let store = Store::open(&url).await.expect("store");
        let (ingestor, _writer) =
            Ingestor::start(store.clone(), Arc::new(tokio::sync::Notify::new()));
        let state = Arc::new(AppState {
            secret: SecretString::from("secret"),
            ingestor,
            store,
            bodies: BodyBudget::new(1024),
            metrics: Arc::new(Metrics::new()),
            draining: tokio::sync::watch::channel(false).1,
        });
        let request = Request::get("/metrics")
            .extension(ConnectInfo(SocketAddr::from((peer, 40000))))
            .body(axum::body::Body::empty())
            .expect("request");
        let response = router(state, false).oneshot(request).await.expect("answer");
        response.status()
    }

    #[tokio::test]
    async fn metrics_on_the_webhook_port_answer_only_this_machine() {
        assert_eq!(metrics_status([127, 0, 0, 1]).await, StatusCode::OK);
        assert_eq!(
            metrics_status([203, 0, 113, 7]).await,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn refusals_are_logged_once_a_minute_with_a_count() {
        let log = IntervalLog::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(log.note(start), Some(0));
        let logged = (1..110_000u64)
            .filter(|i| log.note(start + Duration::from_micros(*i)).is_some())
            .count();
        assert_eq!(logged, 0, "a flood within the minute logs nothing more");
        assert_eq!(log.note(start + Duration::from_secs(61)), Some(109_999));
        assert_eq!(log.note(start + Duration::from_secs(62)), None);
    }
}
