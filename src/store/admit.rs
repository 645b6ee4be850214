//! Admitting a batch of deliveries: the deliveries and their processing jobs in one commit,
//! sent to the database as one message with one answer, so a webhook waits for about one
//! commit and not for a round trip per statement.
//!
//! - SQLite: a connection of its own on a thread of its own runs the whole batch (begin,
//!   a cached insert per delivery, commit) without leaving the thread. It takes the
//!   store's write turn first, the one every unit of work takes, so herald's writers still
//!   queue fairly instead of meeting in SQLite's sleeping busy handler. Another thread
//!   checkpoints the write-ahead log beside it (see `checkpoint_after`). The deliveries'
//!   processing jobs are queued by the worker
//!   ([`Work::queue_admitted`](super::Work::queue_admitted)), dozens to a commit, where
//!   each of these commits holds a few deliveries.
//! - PostgreSQL: one statement whose CTE inserts the deliveries and queues a job for each
//!   row inserted; it commits on its own, durably (`synchronous_commit` as the server has
//!   it, on by default, as every durable unit of work), through a connection kept for it.

use super::queue::{DUE_AT_ONCE, PROCESS_DELIVERY};
use super::signatures::{Signature, UnmergedSignatures};
use super::{Admission, NewDelivery, Store, StoreError, to_millis};
use crate::markers::key;
use sqlx::postgres::{PgConnection, PgPool};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, oneshot};

/// A stored delivery's columns, as both stores' inserts name them.
pub(super) const DELIVERY_COLUMNS: &str = "delivery_id, event, action, repository, installation_id, \
     payload_lz4, body_signature, received_at";

/// A processing job's columns, as both stores' inserts name them.
pub(super) const JOB_COLUMNS: &str = "kind, idempotency_key, payload, run_after, created_at";

/// Whose turn it is to write to a SQLite store: each unit of work holds it from its begin
/// to its end, and the admitting thread for each batch.
pub(super) type WriteTurn = Arc<Mutex<()>>;

struct Batch {
    deliveries: Vec<NewDelivery>,
    answer: oneshot::Sender<Result<Vec<Admission>, StoreError>>,
}

/// What admits batches of deliveries to the store.
#[derive(Debug, Clone)]
pub(super) enum Admitter {
    Sqlite(SqliteAdmitter),
    Postgres(PostgresAdmitter),
}

/// The connection that admits batches to a PostgreSQL store, from a pool of one. Each
/// batch is one large statement, and a connection keeps a buffer the size of the largest
/// message it sent: one connection keeps one buffer (when every pooled connection
/// admitted, the peak at 128 senders was 10 MB higher).
///
/// The connection is held between batches rather than taken from the pool for each: the
/// pool checks a connection with a round trip when it is taken and again when it is given
/// back, so each batch cost three round trips where one is needed.
#[derive(Debug, Clone)]
pub(super) struct PostgresAdmitter {
    pool: PgPool,
    held: Arc<Mutex<Option<Held>>>,
}

/// How long the held connection may go unused before a batch opens another instead: a
/// firewall or NAT that forgets an idle connection drops what is sent on it without a
/// word, and the batch that found out would wait for its bound and be answered 503.
const HELD_IDLE: Duration = Duration::from_secs(30);

/// The admitting connection and when it last admitted a batch. It is taken out of the pool
/// (`detach`) as it is opened, so dropping it (its batch failed or was abandoned halfway,
/// it went unused for [`HELD_IDLE`], the store closed) closes it rather than giving it
/// back: the pool checks a connection given back with a round trip without a time limit,
/// holding its one place meanwhile, so a connection silently dropped on the way would stop
/// admission until TCP gives up on it.
#[derive(Debug)]
struct Held {
    connection: PgConnection,
    used: Instant,
}

impl Held {
    async fn open(pool: &PgPool) -> Result<Held, StoreError> {
        Ok(Held {
            connection: pool.acquire().await?.detach(),
            used: Instant::now(),
        })
    }

    /// The batch's statement on this connection.
    async fn insert(&mut self, batch: &[NewDelivery]) -> Result<Vec<Inserted>, StoreError> {
        let inserted = insert_batch(&mut self.connection, batch).await?;
        self.used = Instant::now();
        Ok(inserted)
    }
}

impl PostgresAdmitter {
    pub(super) fn new(pool: PgPool) -> PostgresAdmitter {
        PostgresAdmitter {
            pool,
            held: Arc::new(Mutex::new(None)),
        }
    }

    pub(super) async fn close(&self) {
        self.held.lock().await.take();
        self.pool.close().await;
    }

    /// The batch in one statement, committed on its own.
    async fn admit(&self, batch: &[NewDelivery]) -> Result<Vec<Admission>, StoreError> {
        let mut held = self.held.lock().await;
        // Out of the lock while the statement runs: should this future be dropped halfway,
        // the connection is closed with it.
        let recent = held.take().filter(|held| held.used.elapsed() < HELD_IDLE);
        if let Some(mut connection) = recent {
            match connection.insert(batch).await {
                Ok(inserted) => {
                    *held = Some(connection);
                    return Ok(admissions(batch, inserted));
                }
                // Unchecked since the last batch, it may have been closed meanwhile (the
                // server restarted): the batch goes again on a new connection. What the
                // first try committed, had its answer been lost, is a duplicate then.
                Err(error) if error.connection_lost() => tracing::info!(
                    %error,
                    "the admitting connection failed; admitting again on another"
                ),
                Err(error) => return Err(error),
            }
        }
        let mut connection = Held::open(&self.pool).await?;
        let inserted = connection.insert(batch).await?;
        *held = Some(connection);
        Ok(admissions(batch, inserted))
    }
}

/// A delivery [`ADMIT`] stored: its id and body signature.
type Inserted = (String, Option<Vec<u8>>);

/// Runs [`ADMIT`] for `batch` on `connection`: the deliveries it stored.
async fn insert_batch(
    connection: &mut PgConnection,
    batch: &[NewDelivery],
) -> Result<Vec<Inserted>, StoreError> {
    Ok(
        sqlx::query_as::<_, Inserted>(sqlx::AssertSqlSafe(ADMIT.as_str()))
            .bind(column(batch, |delivery| delivery.delivery_id.as_str()))
            .bind(column(batch, |delivery| delivery.event.as_str()))
            .bind(column(batch, |delivery| delivery.action.as_deref()))
            .bind(column(batch, |delivery| delivery.repository.as_deref()))
            .bind(column(batch, installation))
            .bind(column(batch, |delivery| &delivery.payload_lz4[..]))
            .bind(column(batch, |delivery| {
                delivery
                    .body_signature
                    .as_ref()
                    .map(|signature| &signature[..])
            }))
            .bind(column(batch, |delivery| to_millis(delivery.received_at)))
            .bind(PROCESS_DELIVERY)
            .bind(key::DELIVERY_PREFIX)
            .bind(DUE_AT_ONCE)
            .fetch_all(connection)
            .await?,
    )
}

/// The thread that admits batches to a SQLite store; it ends when the last clone of this
/// handle (held by the store's clones) is dropped.
#[derive(Debug, Clone)]
pub(super) struct SqliteAdmitter {
    batches: mpsc::Sender<Batch>,
}

impl SqliteAdmitter {
    /// Starts the thread for the SQLite database file `path` (already created and migrated).
    pub(super) fn start(path: PathBuf, turn: WriteTurn) -> Result<SqliteAdmitter, StoreError> {
        let (batches, receiver) = mpsc::channel();
        let (committed, commits) = mpsc::channel();
        let checkpointed = path.clone();
        spawn("herald-checkpoint", move || {
            checkpoint_after(&checkpointed, &commits)
        })?;
        spawn("herald-admit", move || {
            admit_batches(&path, &turn, &receiver, &committed)
        })?;
        Ok(SqliteAdmitter { batches })
    }

    async fn admit(&self, deliveries: Vec<NewDelivery>) -> Result<Vec<Admission>, StoreError> {
        let stopped = || StoreError::Admitter("its thread has stopped".to_owned());
        let (answer, answered) = oneshot::channel();
        self.batches
            .send(Batch { deliveries, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The admitting thread: one batch at a time, each in its turn; tells the checkpointing
/// thread of each commit.
fn admit_batches(
    path: &Path,
    turn: &WriteTurn,
    batches: &mpsc::Receiver<Batch>,
    committed: &mpsc::Sender<()>,
) {
    let mut admitting: Option<Admitting> = None;
    while let Ok(batch) = batches.recv() {
        let _turn = turn.blocking_lock();
        if batch.answer.is_closed() {
            // Its deliveries were answered 503 while it waited (another writer waited for
            // a lock): GitHub is asked for them again, so they are not stored now.
            continue;
        }
        let admitted = Admitting::opened(&mut admitting, path)
            .and_then(|open| open.admit_in_one_commit(&batch.deliveries));
        if admitted.is_ok() {
            let _ = committed.send(());
        }
        // A caller that gave up waiting still has its deliveries stored (or not): asked
        // for again, each is a duplicate or new.
        let _ = batch.answer.send(admitted);
    }
}

/// How long a batch waits for SQLite's write lock while another process holds it: then it
/// is given up, before ingest answers its deliveries 503 (at 4 s), so that what GitHub is
/// told failed is not stored after all.
const LOCK_WAIT: Duration = Duration::from_millis(3_500);

/// How long after a commit the write-ahead log is checkpointed (and how often at most).
/// Small checkpoints disturb commits least: each copies and syncs a few commits' pages, so
/// a commit's fsync waits less behind the database file's (measured against 3 and 10 ms in
/// docs/performance.md).
const CHECKPOINT_AFTER: Duration = Duration::from_millis(1);

/// Copies the write-ahead log into the database shortly after deliveries are committed,
/// passively: beside the admitting thread, never blocking it. SQLite's own checkpoint, run
/// by the connection that commits once the log holds a thousand pages, still bounds the
/// log (a passive checkpoint cannot finish while commits keep coming), but finds most pages
/// copied already, so the deliveries of that commit wait less. Ends with the admitting
/// thread.
fn checkpoint_after(path: &Path, commits: &mpsc::Receiver<()>) {
    let mut connection: Option<rusqlite::Connection> = None;
    while commits.recv().is_ok() {
        std::thread::sleep(CHECKPOINT_AFTER);
        while commits.try_recv().is_ok() {}
        let open = match connection.take() {
            Some(open) => Ok(open),
            None => open_connection(path),
        };
        let checkpointed = open.and_then(|open| {
            open.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")?;
            connection = Some(open);
            Ok(())
        });
        if let Err(error) = checkpointed {
            tracing::warn!(%error, "checkpointing the store's write-ahead log failed");
        }
    }
}

fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(run)
        .map(drop)
        .map_err(|error| StoreError::Admitter(error.to_string()))
}

fn open_connection(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // As every other connection to the store (see `sqlite_pool`): durable commits.
    connection.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; {}",
        super::PAGE_CACHE
    ))?;
    connection.busy_timeout(LOCK_WAIT)?;
    Ok(connection)
}

/// The admitting thread's connection, and the body signatures it has not merged yet.
struct Admitting {
    connection: rusqlite::Connection,
    unmerged: UnmergedSignatures,
}

impl Admitting {
    /// The thread's connection, opened now if it has none (a store that could not be
    /// opened once is tried again).
    fn opened<'a>(
        admitting: &'a mut Option<Admitting>,
        path: &Path,
    ) -> Result<&'a mut Admitting, StoreError> {
        match admitting {
            Some(open) => Ok(open),
            None => {
                let mut connection = open_connection(path)?;
                let transaction = connection.transaction()?;
                let unmerged = UnmergedSignatures::read(&transaction)?;
                drop(transaction);
                Ok(admitting.insert(Admitting {
                    connection,
                    unmerged,
                }))
            }
        }
    }

    /// Inserts each delivery, then commits (which returns once the commit is on disk). A
    /// delivery whose id or body is stored already, or came earlier in the batch, is a
    /// duplicate: nothing is written for it.
    fn admit_in_one_commit(
        &mut self,
        deliveries: &[NewDelivery],
    ) -> Result<Vec<Admission>, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        self.unmerged.catch_up(&transaction)?;
        let before = self.unmerged.through_rowid();
        let mut noted = Vec::new();
        let admitted = admit_each(&transaction, &mut self.unmerged, &mut noted, deliveries)
            .and_then(|admissions| {
                let slice = self.unmerged.merge_slice(&transaction)?;
                transaction.commit()?;
                Ok((admissions, slice))
            });
        match admitted {
            Ok((admissions, slice)) => {
                self.unmerged.sliced(slice);
                Ok(admissions)
            }
            Err(error) => {
                self.unmerged.forget(before, &noted);
                Err(error)
            }
        }
    }
}

/// Inserts each delivery not stored yet, within `transaction`, noting its body signature in
/// `unmerged` and in `noted`.
fn admit_each(
    transaction: &rusqlite::Transaction<'_>,
    unmerged: &mut UnmergedSignatures,
    noted: &mut Vec<Signature>,
    deliveries: &[NewDelivery],
) -> Result<Vec<Admission>, StoreError> {
    let mut insert = transaction.prepare_cached(&format!(
        "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT DO NOTHING"
    ))?;
    let mut admissions = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let signature = delivery.body_signature;
        if let Some(signature) = &signature
            && unmerged.stored(transaction, signature)?
        {
            admissions.push(Admission::Duplicate);
            continue;
        }
        let inserted = insert.execute(rusqlite::params![
            delivery.delivery_id.as_str(),
            delivery.event,
            delivery.action,
            delivery.repository.as_ref().map(|name| name.as_str()),
            installation(delivery),
            delivery.payload_lz4,
            signature.as_ref().map(|signature| &signature[..]),
            to_millis(delivery.received_at),
        ])? == 1;
        if inserted {
            unmerged.note(transaction.last_insert_rowid(), signature);
            noted.extend(signature);
            admissions.push(Admission::Accepted);
        } else {
            admissions.push(Admission::Duplicate);
        }
    }
    Ok(admissions)
}

/// A delivery's installation id as the store keeps it (an id past `i64` is none).
fn installation(delivery: &NewDelivery) -> Option<i64> {
    delivery
        .installation_id
        .and_then(|id| i64::try_from(id.0).ok())
}

impl Store {
    /// Stores a batch of deliveries in one durable commit (one fsync for many concurrent
    /// deliveries), as one message to the database: on PostgreSQL with their processing
    /// jobs, on SQLite without (the worker queues them, see
    /// [`Work::queue_admitted`](super::Work::queue_admitted)). Returns one admission per
    /// delivery, in order; a delivery id or body already stored, or repeated within the
    /// batch, is a duplicate.
    pub async fn admit(&self, batch: Vec<NewDelivery>) -> Result<Vec<Admission>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        match &self.admitter {
            Admitter::Sqlite(admitter) => admitter.admit(batch).await,
            Admitter::Postgres(admitter) => admitter.admit(&batch).await,
        }
    }
}

/// PostgreSQL's admitting statement: the batch's columns as arrays, so every batch, of any
/// size, is the same statement of eleven parameters, prepared once on the connection (a
/// statement with a row of values per delivery was one statement per batch size, each
/// parsed again when sqlx's cache evicted it and planned with all its rows: a tenth of
/// PostgreSQL's time at 128 senders). `UNNEST` keeps the arrays' order, so the first of
/// equal ids or bodies is the one stored.
static ADMIT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH admitted AS (\
           INSERT INTO deliveries ({DELIVERY_COLUMNS}) \
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
                                $6::bytea[], $7::bytea[], $8::int8[]) \
           ON CONFLICT DO NOTHING RETURNING delivery_id, body_signature, received_at), \
         queued AS (\
           INSERT INTO outbox ({JOB_COLUMNS}) \
           SELECT $9, $10 || delivery_id, delivery_id, $11, received_at FROM admitted) \
         SELECT delivery_id, body_signature FROM admitted"
    )
});

/// One column of `batch`, as an array for [`ADMIT`].
fn column<'a, T>(batch: &'a [NewDelivery], value: impl Fn(&'a NewDelivery) -> T) -> Vec<T> {
    batch.iter().map(value).collect()
}

/// `query` with a delivery's columns bound, in [`DELIVERY_COLUMNS`]' order.
pub(super) fn bind_delivery<'q>(
    query: sqlx::query::QueryScalar<'q, sqlx::Any, String, sqlx::any::AnyArguments>,
    delivery: &'q NewDelivery,
) -> sqlx::query::QueryScalar<'q, sqlx::Any, String, sqlx::any::AnyArguments> {
    query
        .bind(delivery.delivery_id.as_str())
        .bind(&delivery.event)
        .bind(&delivery.action)
        .bind(&delivery.repository)
        .bind(installation(delivery))
        .bind(&delivery.payload_lz4)
        .bind(
            delivery
                .body_signature
                .as_ref()
                .map(|signature| &signature[..]),
        )
        .bind(to_millis(delivery.received_at))
}

/// Each delivery of `batch` accepted if it is among those `inserted`, known by its id and
/// body signature (of two with one id, the one whose body was a replay is not stored), a
/// duplicate otherwise.
fn admissions(batch: &[NewDelivery], inserted: Vec<Inserted>) -> Vec<Admission> {
    let mut inserted: std::collections::HashSet<Inserted> = inserted.into_iter().collect();
    batch
        .iter()
        .map(|delivery| {
            let key = (
                delivery.delivery_id.as_str().to_owned(),
                delivery.body_signature.map(|signature| signature.to_vec()),
            );
            if inserted.remove(&key) {
                Admission::Accepted
            } else {
                Admission::Duplicate
            }
        })
        .collect()
}
