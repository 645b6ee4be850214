//! The durable store: sqlx over SQLite (embedded default). SQL is written with `$n`
//! placeholders and portable types so PostgreSQL can share it.

mod admit;
mod control;
mod copy;
mod incidents;
mod installations;
mod intake;
mod polls;
mod posts;
mod products;
mod queue;
mod redelivery;
mod signatures;
mod tracking;

pub use control::{JobControl, JobControlError, JobFilter, JobRecord, JobState, QueuedKind};
pub use copy::{Copied, CopyError};
pub use posts::ChannelPost;
pub use redelivery::{RedeliveryRequest, Resume, ScanClaim, ScanEnd, ScanState};

pub use crate::incident::IncidentId;

/// A GitHub App installation, as GitHub numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct InstallationId(pub u64);

impl std::fmt::Display for InstallationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How a domain type is stored: as `$repr`, written by `$to` and read back by `$from`
/// (names the domain checks are checked again when read).
macro_rules! stored_as {
    ($name:ty, $repr:ty, |$this:ident| $to:expr, |$raw:ident| $from:expr) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            $repr: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <$repr as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <$repr as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            $repr: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                let $this = self;
                <$repr as sqlx::Encode<'q, DB>>::encode($to, buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            $repr: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let $raw = <$repr as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok($from)
            }
        }
    };
}

stored_as!(RepoName, String, |name| name.as_str().to_owned(), |text| {
    RepoName::parse(&text)?
});
stored_as!(GhsaId, String, |id| id.as_str().to_owned(), |text| {
    GhsaId::parse(&text)?
});
stored_as!(IncidentId, i64, |id| id.0, |row| IncidentId(row));
stored_as!(IntakeId, i64, |id| id.0, |row| IntakeId(row));
stored_as!(ProductIncidentId, i64, |id| id.0, |row| ProductIncidentId(
    row
));

pub use incidents::{IncidentFilter, IncidentRow, StoredTimelineEntry};
pub use installations::StoredInstallation;
pub use intake::{IntakeRow, IntakeState, NewMail};
pub use polls::{PollClaim, RepositoryToPoll};
pub use products::{JudgedItem, ProductIncidentRow, SourceState};
pub use queue::{
    Admission, FailedJob, JobClaim, NewDelivery, PROCESS_DELIVERY, PreRead, Priority, Queued,
    StoredDelivery, Unqueued, compress_payload,
};
pub use tracking::{TrackingLink, TrackingStatus};

use crate::incident::{GhsaId, ProductIncidentId, RepoName};
use crate::intake::IntakeId;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::AnyPool;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL scheme in {0:?}: herald stores to SQLite (sqlite://PATH) \
         or PostgreSQL (postgres://USER@HOST/DATABASE)"
    )]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot admit deliveries: {0}")]
    Admitter(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("the database did not answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// A record herald was about to store cannot be written as JSON.
    #[error("cannot write the record as JSON: {0}")]
    Encode(#[from] serde_json::Error),
}

impl StoreError {
    /// Whether PostgreSQL refused a transaction because one running at once got there
    /// first: a unique key they both inserted (a new advisory's incident), a serialization
    /// failure, a deadlock. Run again, the transaction sees what the other committed.
    /// SQLite has one writer at a time, so it never says this.
    pub fn lost_race(&self) -> bool {
        const LOST_RACE: [&str; 3] = ["23505", "40001", "40P01"];
        matches!(self, StoreError::Sql(sqlx::Error::Database(error))
            if error.code().is_some_and(|code| LOST_RACE.contains(&code.as_ref())))
    }

    /// Whether the connection to the database was lost (the server ended it or went away,
    /// the network failed) rather than the statement refused: run again on another
    /// connection, the statement may pass.
    pub fn connection_lost(&self) -> bool {
        const ENDED: [&str; 3] = ["57P01", "57P02", "57P03"];
        match self {
            StoreError::Sql(sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) => true,
            StoreError::Sql(sqlx::Error::Database(error)) => error
                .code()
                .is_some_and(|code| code.starts_with("08") || ENDED.contains(&code.as_ref())),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    writer: AnyPool,
    reader: AnyPool,
    dialect: Dialect,
    /// What admits deliveries (see `admit`).
    admitter: admit::Admitter,
    /// SQLite: whose turn it is to write; PostgreSQL's writers need none.
    write_turn: Option<admit::WriteTurn>,
}

/// Connections a process keeps to a PostgreSQL store unless configured otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// Where the store's SQL differs between its databases; everything else is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Placeholders for `count` parameters numbered from `first`, each statement's bound in
    /// the order they appear. PostgreSQL numbers them (`$first, …`). SQLite gets anonymous
    /// `?`: sqlx asks SQLite each parameter's name, which walks the list of every named one,
    /// so a statement of a few hundred rows of `$n` spent most of its time there. A statement
    /// must therefore take all its parameters from here (SQLite numbers a `?` after a `$n`
    /// past it, and sqlx would bind it the wrong value).
    pub(crate) fn placeholders(self, first: usize, count: usize) -> String {
        (first..first + count)
            .map(|number| self.placeholder(number))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Parameter `number`'s placeholder (see [`Dialect::placeholders`]).
    pub(crate) fn placeholder(self, number: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${number}"),
        }
    }

    /// `rows` rows of `columns` placeholders: `($1, $2), ($3, $4)` (see
    /// [`Dialect::placeholders`]).
    pub(crate) fn value_rows(self, rows: usize, columns: usize) -> String {
        (0..rows)
            .map(|row| format!("({})", self.placeholders(1 + row * columns, columns)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Opens a write transaction: SQLite takes its one write lock at once and states the
    /// durability of the commit; PostgreSQL waits for its WAL flush unless `durable` is
    /// false (see [`Dialect::after_begin`]).
    fn begin(self, durable: bool) -> &'static str {
        match (self, durable) {
            (Dialect::Sqlite, true) => "PRAGMA synchronous = FULL; BEGIN IMMEDIATE",
            (Dialect::Sqlite, false) => "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE",
            (Dialect::Postgres, _) => "BEGIN",
        }
    }

    /// What a transaction that need not be durable sets once open: PostgreSQL's commit
    /// then skips waiting for its WAL flush.
    fn after_begin(self, durable: bool) -> Option<&'static str> {
        match (self, durable) {
            (Dialect::Postgres, false) => Some("SET LOCAL synchronous_commit = off"),
            (Dialect::Postgres, true) | (Dialect::Sqlite, _) => None,
        }
    }

    /// Taken before leasing an effect job: on PostgreSQL, replicas lease one at a time, so
    /// two never lease jobs of one lane at once (each would not yet see the other's lease);
    /// SQLite's write transaction already excludes every other.
    fn lease_lock(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => {
                Some("SELECT pg_advisory_xact_lock(hashtextextended('herald-effect-lease', 0))")
            }
        }
    }

    /// Taken before reading an installation's GitHub write slots, so two replicas do not
    /// take the same one: PostgreSQL's transaction-scoped advisory lock on the installation;
    /// SQLite's write transaction already excludes every other.
    fn lock_write_slots(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(
                "SELECT pg_advisory_xact_lock(hashtextextended('herald-github-writes:' || $1::text, 0))",
            ),
        }
    }

    /// Appended to a query that reads incidents inside a unit of work, which will save
    /// them: on PostgreSQL the rows stay this unit's until it ends, so a replica (or this
    /// process's effect runner) changing the same incident at once waits, then reads the
    /// change instead of overwriting it; SQLite's write transaction already excludes every
    /// other.
    fn lock_rows(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// How a job's payload is selected. SQLite keeps whatever was written into a column (a
    /// BLOB, text that is not UTF-8): it is read there as bytes, so that one damaged row
    /// cannot fail the query that reads it with the others.
    pub(crate) fn payload_column(self) -> &'static str {
        match self {
            Dialect::Sqlite => "CAST(payload AS BLOB) AS payload",
            Dialect::Postgres => "payload",
        }
    }

    /// A job's payload as [`Dialect::payload_column`] selected it: its text, and whether it
    /// is text at all (bytes that are not UTF-8 are shown with replacement characters).
    /// SQLite's comes as bytes; PostgreSQL's column holds only valid text.
    fn payload(self, row: &sqlx::any::AnyRow) -> Result<(String, bool), StoreError> {
        use sqlx::Row;
        match self {
            Dialect::Postgres => Ok((row.try_get("payload")?, true)),
            Dialect::Sqlite => Ok(match String::from_utf8(row.try_get("payload")?) {
                Ok(text) => (text, true),
                Err(error) => (
                    String::from_utf8_lossy(error.as_bytes()).into_owned(),
                    false,
                ),
            }),
        }
    }

    /// Appended to a query that claims queued jobs: on PostgreSQL, several replicas claim
    /// at once, each skipping the rows another has locked; SQLite has one writer anyway.
    fn claim_lock(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// How long a stopping process waits to release what it holds (leases, claims): a store
/// that does not answer by then lets them run out by themselves.
const RELEASE_BOUND: Duration = Duration::from_secs(5);

/// Releases what a stopping task holds (`release` returns how many), within
/// [`RELEASE_BOUND`], and logs it: `what` names it, `until` says when it would run out by
/// itself.
pub async fn release_on_stop(
    what: &str,
    until: &str,
    release: impl std::future::Future<Output = Result<u64, StoreError>>,
) {
    match within(RELEASE_BOUND, release).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "{what} released"),
        Err(error) => {
            tracing::warn!(%error, "cannot release the {what}; they run out by themselves {until}")
        }
    }
}

/// `work` within `bound`, or [`StoreError::TimedOut`].
pub async fn within<T>(
    bound: Duration,
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(bound, work)
        .await
        .unwrap_or(Err(StoreError::TimedOut(bound)))
}

/// A GitHub id (an issue's number, an installation's id) as the store keeps it.
fn to_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::Corrupt(format!("id {id} out of range")))
}

pub(crate) fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {millis} out of range")))
}

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_pooled(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`Store::open`], keeping up to `max_connections` to a PostgreSQL store.
    pub async fn open_pooled(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Store::open_postgres(url, max_connections).await;
        }
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(crate::redact::redact_url(url)));
        }
        let file = sqlite_file(url)?;
        create_private(&file);
        // SQLite has one writer at a time. herald's writers queue for this one connection
        // (fairly, without SQLite's sleeping busy handler); reads use their own connections.
        let writer = sqlite_pool(1)
            .connect(&sqlite_url(url, "rwc"))
            .await
            .map_err(StoreError::Open)?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = sqlite_pool(4)
            .connect(&sqlite_url(url, "ro"))
            .await
            .map_err(StoreError::Open)?;
        let write_turn = admit::WriteTurn::default();
        Ok(Store {
            writer,
            reader,
            dialect: Dialect::Sqlite,
            admitter: admit::Admitter::Sqlite(admit::SqliteAdmitter::start(
                file,
                write_turn.clone(),
            )?),
            write_turn: Some(write_turn),
        })
    }

    /// PostgreSQL: one pool for reads and writes, shared by replicas, and one connection of
    /// the `max_connections` (at least two) that admits deliveries; the migrations take
    /// PostgreSQL's advisory lock, so replicas starting together do not race.
    async fn open_postgres(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let pool = postgres_pool(url, max_connections.saturating_sub(1)).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store {
            writer: pool.clone(),
            reader: pool,
            dialect: Dialect::Postgres,
            admitter: admit::Admitter::Postgres(admit::PostgresAdmitter::new(
                postgres_pool(url, 1).await?,
            )),
            write_turn: None,
        })
    }

    /// How many batches of local jobs one worker runs at once: on PostgreSQL several, so
    /// one batch's waits for the database overlap another's work (they lock the jobs and
    /// incidents they take); SQLite has one writer, so one.
    pub fn concurrent_batches(&self) -> usize {
        match self.dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => 3,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Runs one statement in a write transaction of its own (durable: its commit waits
    /// for the disk, see [`Store::begin_durable`]); returns how many rows it changed.
    pub(crate) async fn execute_alone(
        &self,
        query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
        durable: bool,
    ) -> Result<u64, StoreError> {
        let mut work = self.open_work(durable).await?;
        let changed = query.execute(&mut *work.tx).await?.rows_affected();
        work.commit().await?;
        Ok(changed)
    }

    /// Whether the store takes a write transaction now (opened, then rolled back).
    pub async fn ping_writer(&self) -> Result<(), StoreError> {
        let work = self.begin().await?;
        work.rollback().await
    }

    /// Read-only connections, for queries outside the store's own API (tests, tools).
    pub fn pool(&self) -> &AnyPool {
        &self.reader
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        if let admit::Admitter::Postgres(admitter) = &self.admitter {
            admitter.close().await;
        }
    }
}

/// A pool of `connections` to the PostgreSQL server at `url`, through sqlx's `Any` driver
/// (as the store's queries, shared with SQLite) or its PostgreSQL driver (admission).
async fn postgres_pool<DB: sqlx::Database>(
    url: &str,
    connections: u32,
) -> Result<sqlx::Pool<DB>, StoreError> {
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(connections.max(1))
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .map_err(StoreError::Open)
}

/// `url` opened in SQLite's `mode` (`rwc`: read, write, create; `ro`: read only).
fn sqlite_url(url: &str, mode: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode={mode}")
}

/// Each SQLite connection's page cache, 512 KiB (SQLite's default is 2 MiB): herald keeps
/// seven connections, and the operating system caches the file under them anyway. Measured
/// under load (`docs/performance.md`): 2 MB less at the peak, the same rate.
pub(super) const PAGE_CACHE: &str = "PRAGMA cache_size = -512";

/// The file of the SQLite store at `url`.
fn sqlite_file(url: &str) -> Result<PathBuf, StoreError> {
    use std::str::FromStr;
    Ok(sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(StoreError::Open)?
        .get_filename()
        .to_owned())
}

/// Creates the SQLite store's file, if there is none yet, readable and writable by its owner
/// alone: it holds undisclosed reports. SQLite gives its write-ahead log and shared-memory
/// files the same permissions. A file that exists is left as it is; one that cannot be
/// created here is left for SQLite to create, or to report why it cannot.
fn create_private(file: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
        return;
    }
    // An existing file, or a folder missing, is for SQLite to open or to name.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file);
}

/// A pool of SQLite connections set up as herald needs them: write-ahead logging, FULL
/// synchronous (a commit is on disk before herald answers GitHub, even across power loss),
/// foreign keys, and a busy timeout.
fn sqlite_pool(connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .after_connect(|connection, _| {
            Box::pin(async move {
                connection
                    .execute(
                        // The timeout first: another process (`herald intake mail`
                        // beside `serve`) may hold the database while this one connects.
                        sqlx::AssertSqlSafe(format!(
                            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; {PAGE_CACHE}"
                        )),
                    )
                    .await?;
                Ok(())
            })
        })
        .acquire_timeout(Duration::from_secs(30))
}

/// One write transaction; dropped without `commit`, it rolls back.
///
/// The jobs and timeline entries it adds are written when it commits, each table's in one
/// statement (nothing in a unit of work reads them back): processing a burst of deliveries
/// adds several of each per delivery, and each statement is a round trip to the database.
pub struct Work {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
    jobs: Vec<queue::QueuedJob>,
    timeline: Vec<incidents::TimelineRow>,
    /// Deliveries read ahead for the jobs at hand, taken as they are processed.
    read_ahead: std::collections::HashMap<crate::incident::DeliveryId, StoredDelivery>,
    /// Deliveries read before it began, which `read_ahead` takes instead of reading them.
    pre_read: queue::PreRead,
    /// Repositories this unit of work saved, so saving one again changes nothing.
    saved_repositories: std::collections::HashSet<(RepoName, InstallationId)>,
    /// Since when herald serves a repository, as read in this unit of work.
    served_since: std::collections::HashMap<RepoName, Option<DateTime<Utc>>>,
    /// Incidents read ahead (`None`: there is none), kept current by this unit of work's
    /// saves, for the deliveries at hand.
    incidents_ahead: std::collections::HashMap<(RepoName, GhsaId), Option<IncidentRow>>,
    /// Incidents this unit of work created and has yet to write (their rows are in
    /// `incidents_ahead`), in order: see [`Work::conn`].
    new_incidents: Vec<(RepoName, GhsaId)>,
    /// Ids taken for incidents yet to be created (see [`Work::reserve_incident_id`]).
    reserved_incident_ids: std::collections::VecDeque<i64>,
    /// SQLite: the store's write turn, held until this unit of work ends; last, so it is
    /// released after the transaction is.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Work {
    /// The transaction, for one statement. The incidents this unit of work created are
    /// written first, together, since the statement may read them or refer to them: a burst
    /// of new advisories writes its incidents in one statement instead of one each.
    async fn conn(&mut self) -> Result<&mut sqlx::AnyConnection, StoreError> {
        self.write_new_incidents().await?;
        Ok(&mut *self.tx)
    }
}
