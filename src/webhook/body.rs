//! Reading a webhook body before its signature is known. Anyone can send one, so what it
//! costs is bounded: a body is refused as soon as its declared or received length passes
//! the limit, it must arrive within [`BODY_READ_TIMEOUT`], and the bytes held at once by
//! bodies still unverified are bounded by a budget, taken whole (so that bodies never
//! wait on each other's halves) once the body's first bytes arrive (a body declared but
//! not sent holds none). Small bodies (GitHub's deliveries are mostly a few
//! kilobytes) have a budget of their own, so large unsigned bodies cannot starve them.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How long a body may take to arrive once its headers have (GitHub gives up on its
/// delivery after 10 s).
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A body of at most this many bytes is read on the small bodies' budget.
pub const SMALL_BODY_BYTES: usize = 1024 * 1024;
/// What small bodies read at once may hold.
pub const SMALL_BODIES_BUDGET: usize = 8 * 1024 * 1024;
/// The budget is counted in units of this many bytes (a semaphore's permits).
const UNIT: usize = 1024;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// Declared or received longer than the limit.
    TooLarge,
    /// Not all there within [`BODY_READ_TIMEOUT`] (the budget's wait included).
    TimedOut,
    /// The connection failed mid-body.
    Broken(String),
}

/// The bytes that bodies not yet verified may hold at once.
#[derive(Clone)]
pub struct BodyBudget {
    max_body_bytes: usize,
    small: Arc<Semaphore>,
    large: Arc<Semaphore>,
}

/// A body read within its budget, which it holds until its signature is checked.
pub struct BudgetedBody {
    bytes: Bytes,
    _held: Option<OwnedSemaphorePermit>,
}

impl BudgetedBody {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, the budget given back (the signature checked out).
    pub fn verified(self) -> Bytes {
        self.bytes
    }
}

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

impl BodyBudget {
    /// Large bodies share room for one body of the largest size allowed.
    pub fn new(max_body_bytes: usize) -> BodyBudget {
        let permits = |bytes: usize| usize::try_from(units(bytes)).unwrap_or(usize::MAX);
        BodyBudget {
            max_body_bytes,
            small: Arc::new(Semaphore::new(permits(SMALL_BODIES_BUDGET))),
            large: Arc::new(Semaphore::new(permits(max_body_bytes))),
        }
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Reads `body`, whose request declared `headers`: refused at once when its
    /// Content-Length passes the limit; else read on the budget of its size (small or
    /// large, by its declared length; undeclared, large), and refused as soon as more
    /// arrives than it declared (or than the limit).
    pub async fn read(&self, headers: &HeaderMap, body: Body) -> Result<BudgetedBody, Unread> {
        let declared = match headers.get(header::CONTENT_LENGTH) {
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|text| text.parse::<u64>().ok())
                    .ok_or_else(|| Unread::Broken("the Content-Length is not a number".into()))?,
            ),
            None => None,
        };
        let expected = match declared {
            Some(length) if length > self.max_body_bytes as u64 => return Err(Unread::TooLarge),
            Some(length) => usize::try_from(length).map_err(|_| Unread::TooLarge)?,
            None => self.max_body_bytes,
        };
        let pool = if expected <= SMALL_BODY_BYTES {
            &self.small
        } else {
            &self.large
        };
        read_until(body, expected, pool, Instant::now() + BODY_READ_TIMEOUT).await
    }
}

/// Reads at most `limit` bytes of `body` by `deadline`, on `limit`'s budget from `pool`
/// (taken once the first bytes are there), into one allocation of `limit` (growing by
/// doubling would take up to twice).
async fn read_until(
    mut body: Body,
    limit: usize,
    pool: &Arc<Semaphore>,
    deadline: Instant,
) -> Result<BudgetedBody, Unread> {
    let Some(first) = next_data(&mut body, deadline).await? else {
        return Ok(BudgetedBody {
            bytes: Bytes::new(),
            _held: None,
        });
    };
    let held = tokio::time::timeout_at(deadline, pool.clone().acquire_many_owned(units(limit)))
        .await
        .map_err(|_| Unread::TimedOut)?
        .map_err(|closed| Unread::Broken(closed.to_string()))?;
    let mut bytes = Vec::with_capacity(limit);
    let mut data = Some(first);
    while let Some(chunk) = data {
        if bytes.len() + chunk.len() > limit {
            return Err(Unread::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
        data = next_data(&mut body, deadline).await?;
    }
    Ok(BudgetedBody {
        bytes: Bytes::from(bytes),
        _held: Some(held),
    })
}

/// The next bytes of `body` by `deadline`; `None` at its end.
async fn next_data(body: &mut Body, deadline: Instant) -> Result<Option<Bytes>, Unread> {
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| Unread::TimedOut)?;
        let Some(frame) = frame else {
            return Ok(None);
        };
        let frame = frame.map_err(|error| Unread::Broken(error.to_string()))?;
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declaring(length: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, length.parse().expect("header"));
        headers
    }

    #[tokio::test]
    async fn a_declared_length_past_the_limit_is_refused_unread() {
        let budget = BodyBudget::new(1000);
        let refused = budget
            .read(&declaring("1001"), Body::from(vec![0u8; 10]))
            .await;
        assert_eq!(refused.err(), Some(Unread::TooLarge));
        let refused = budget
            .read(&declaring("99999999999999999999"), Body::empty())
            .await;
        assert!(refused.is_err());
    }

    #[tokio::test]
    async fn more_than_declared_or_allowed_is_refused() {
        let budget = BodyBudget::new(1000);
        let lied = budget
            .read(&declaring("10"), Body::from(vec![0u8; 11]))
            .await;
        assert_eq!(lied.err(), Some(Unread::TooLarge));
        let undeclared = budget
            .read(&HeaderMap::new(), Body::from(vec![0u8; 1001]))
            .await;
        assert_eq!(undeclared.err(), Some(Unread::TooLarge));
        let fits = budget
            .read(&HeaderMap::new(), Body::from(vec![7u8; 1000]))
            .await
            .expect("read");
        assert_eq!(fits.bytes().len(), 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_declared_but_not_sent_holds_no_budget() {
        let budget = BodyBudget::new(2 * SMALL_BODY_BYTES);
        let mut senders = Vec::new();
        let mut stalled = Vec::new();
        for _ in 0..(2 * SMALL_BODIES_BUDGET / SMALL_BODY_BYTES) {
            let (sender, body) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
            senders.push(sender);
            let budget = budget.clone();
            let declared = declaring(&SMALL_BODY_BYTES.to_string());
            stalled.push(tokio::spawn(async move {
                budget
                    .read(&declared, Body::from_stream(tokio_stream_of(body)))
                    .await
                    .err()
            }));
        }
        tokio::task::yield_now().await;
        // Sixteen stalled 1 MiB bodies: a GitHub delivery of 7 KB is read at once.
        let delivery = budget
            .read(&declaring("7000"), Body::from(vec![1u8; 7000]))
            .await
            .expect("read");
        assert_eq!(delivery.bytes().len(), 7000);
        for stalled in stalled {
            assert_eq!(stalled.await.expect("task"), Some(Unread::TimedOut));
        }
        drop(senders);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out_and_gives_its_budget_back() {
        let budget = BodyBudget::new(2 * SMALL_BODY_BYTES);
        let (_sender, stalled) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let stalled = Body::from_stream(tokio_stream_of(stalled));
        let large = (2 * SMALL_BODY_BYTES).to_string();
        let timed_out = budget.read(&declaring(&large), stalled).await;
        assert_eq!(timed_out.err(), Some(Unread::TimedOut));
        // The budget is whole again: a body of the largest size is read.
        let read = budget
            .read(
                &declaring(&large),
                Body::from(vec![1u8; 2 * SMALL_BODY_BYTES]),
            )
            .await
            .expect("read");
        assert_eq!(read.bytes().len(), 2 * SMALL_BODY_BYTES);
    }

    /// The receiving half of a channel, as a body's stream.
    fn tokio_stream_of(
        mut receiver: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::poll_fn(move |context| receiver.poll_recv(context))
    }
}
