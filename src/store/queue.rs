//! Deliveries and the outbox: the durable queue between answering GitHub and acting.

use super::IncidentId;
use super::admit::{DELIVERY_COLUMNS, JOB_COLUMNS, bind_delivery};
use super::{Dialect, Store, StoreError, Work, from_millis, to_millis};
use crate::incident::{DeliveryId, RepoName};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// The columns [`stored_delivery`] reads, for each query that reads a stored delivery.
macro_rules! stored_delivery_columns {
    () => {
        "delivery_id, event, payload_lz4, received_at"
    };
}

/// Stored deliveries whose processing jobs are not queued yet (SQLite, see
/// [`Store::unqueued_deliveries`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unqueued {
    pub count: i64,
    /// When the oldest of them was received.
    pub oldest: Option<DateTime<Utc>>,
}

/// A verified delivery on its way into the store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: DeliveryId,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<RepoName>,
    pub installation_id: Option<super::InstallationId>,
    /// The raw body, compressed by [`compress_payload`].
    pub payload_lz4: Vec<u8>,
    /// The body's verified signature (HMAC-SHA256 under the webhook secret): a body
    /// already stored under another id is a replay. `None` for the deliveries herald
    /// makes itself, known by their id.
    pub body_signature: Option<[u8; 32]>,
    pub received_at: DateTime<Utc>,
}

/// Compresses a delivery body for the store (done by the request, not the store's writer).
pub fn compress_payload(body: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(body)
}

/// What the store made of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Stored now; its processing job is queued with it (PostgreSQL) or by the worker
    /// (SQLite, see [`Work::queue_admitted`]).
    Accepted,
    /// A delivery with this id was stored before; nothing was written.
    Duplicate,
}

#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub delivery_id: DeliveryId,
    pub event: String,
    /// The raw body as GitHub sent it.
    pub payload: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// An incident a delivery names: its repository and advisory.
type IncidentKey = (RepoName, crate::incident::GhsaId);

/// Deliveries of the worker's next due jobs, read before its unit of work begins, each with
/// the incident it names (see [`Store::read_due_deliveries`]).
#[derive(Debug, Default)]
pub struct PreRead(HashMap<DeliveryId, (StoredDelivery, Option<IncidentKey>)>);

/// The name of the store worker's own job, queued with each delivery it admits: turn the
/// delivery into domain changes, in batches inside the store's transaction. Every other
/// kind is an effect, leased and run outside any transaction.
pub const PROCESS_DELIVERY: &str = "process_delivery";

/// What the store keeps of a job besides its idempotency key: its kind's name and payload,
/// the lane it runs in (one lane's jobs run one at a time, in order) and the incident it
/// is for. The outbox's typed jobs (`crate::jobs`) say what each is; the store keeps
/// bytes and names.
pub trait Queued {
    fn kind_name(&self) -> &'static str;
    fn payload(&self) -> Result<String, StoreError>;
    fn lane(&self) -> Option<String>;
    fn incident(&self) -> Option<IncidentId>;
}

/// `kind IN (...)` for the names of job kinds (constants, not input; quoted all the same).
fn kinds_sql(kinds: &[&'static str]) -> String {
    let names: Vec<String> = kinds
        .iter()
        .map(|kind| format!("'{}'", kind.replace('\'', "''")))
        .collect();
    format!("kind IN ({})", names.join(", "))
}

/// A job row leased (or taken in a unit of work) by a runner, as stored.
#[derive(Debug, Clone)]
pub struct JobClaim {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// Whether the stored payload is text at all (else `payload` shows its bytes lossily,
    /// and no job decodes from it).
    pub payload_is_text: bool,
    /// Attempts before this one.
    pub attempts: i64,
    /// When the job was queued, or became due again after a wait: what it reads of GitHub
    /// must be at least that recent.
    pub due_since: DateTime<Utc>,
    /// Leases so far, this one included: more than one when an earlier runner may have
    /// done part of the job before it died.
    pub claims: i64,
}

/// A job herald gave up on, as `herald incidents show` lists it.
#[derive(Debug, Clone)]
pub struct FailedJob {
    pub id: i64,
    pub kind: String,
    pub attempts: i64,
    pub error: String,
    pub finished_at: Option<DateTime<Utc>>,
}

const DEAD_JOBS: &str = "SELECT id, kind, attempts, last_error, finished_at FROM outbox \
     WHERE state = 'dead' AND incident_id = $1 ORDER BY id";

fn failed_job(row: &sqlx::any::AnyRow) -> Result<FailedJob, StoreError> {
    Ok(FailedJob {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        attempts: row.try_get("attempts")?,
        error: row
            .try_get::<Option<String>, _>("last_error")?
            .unwrap_or_default(),
        finished_at: row
            .try_get::<Option<i64>, _>("finished_at")?
            .map(from_millis)
            .transpose()?,
    })
}

/// Which work goes first when there is more than GitHub's budgets allow at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A fresh report's tracking issue, a disclosure, a maintainer's command.
    Urgent = 0,
    /// What polling found, such as the back-fill of a first install's draft advisories.
    Background = 1,
}

impl Priority {
    /// In the order they are served.
    pub const ALL: [Priority; 2] = [Priority::Urgent, Priority::Background];
}

/// Rows written in one statement (well within SQLite's and PostgreSQL's limits on bound
/// values).
pub(super) const WRITE_CHUNK: usize = 200;

/// A job queued in a unit of work, written when it commits.
pub(super) struct QueuedJob {
    kind: &'static str,
    idempotency_key: String,
    payload: String,
    run_after: i64,
    created_at: i64,
    priority: i64,
    lane: Option<String>,
    incident: Option<IncidentId>,
}

/// `run_after` of a new job: due at once, however the wall clock moves (a clock stepped
/// back must not hold fresh work).
pub(super) const DUE_AT_ONCE: i64 = 0;

impl Store {
    /// Opens a unit of work: one write transaction of derived state. What herald derives
    /// from stored deliveries may skip the fsync: the next durable commit (or checkpoint)
    /// persists it, and if power fails first, its jobs are simply still queued and run
    /// again. Jobs with effects outside the store must not use this.
    pub async fn begin(&self) -> Result<Work, StoreError> {
        self.open_work(false).await
    }

    /// Opens a unit of work whose commit waits for fsync: for recording what already
    /// happened outside the store (a GitHub write), which cannot be recomputed.
    pub async fn begin_durable(&self) -> Result<Work, StoreError> {
        self.open_work(true).await
    }

    pub(super) async fn open_work(&self, durable: bool) -> Result<Work, StoreError> {
        let turn = match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        };
        let mut tx = self.writer.begin_with(self.dialect.begin(durable)).await?;
        if let Some(setting) = self.dialect.after_begin(durable) {
            sqlx::query(setting).execute(&mut *tx).await?;
        }
        Ok(Work {
            tx,
            dialect: self.dialect,
            jobs: Vec::new(),
            timeline: Vec::new(),
            read_ahead: HashMap::new(),
            pre_read: PreRead::default(),
            saved_repositories: HashSet::new(),
            served_since: HashMap::new(),
            incidents_ahead: HashMap::new(),
            new_incidents: Vec::new(),
            reserved_incident_ids: std::collections::VecDeque::new(),
            _turn: turn,
        })
    }

    /// Leases the effect job due longest, urgent ones first, for `lease`, durably, so that
    /// no other runner takes it meanwhile and a crashed runner's job is taken over once the
    /// lease ends. A job whose lane (see [`Queued::lane`]) has another job leased waits: one
    /// lane's jobs run one at a time, in order, while different lanes' run at once. Only
    /// jobs of the kinds named in `kinds` are leased: those this herald knows how to run
    /// (a newer replica's new kind waits for a replica that knows it).
    pub async fn lease_effect(
        &self,
        (now, lease): (DateTime<Utc>, chrono::Duration),
        holder: &str,
        kinds: &[&'static str],
    ) -> Result<Option<JobClaim>, StoreError> {
        let mut work = self.begin_durable().await?;
        if let Some(lock) = self.dialect.lease_lock() {
            sqlx::query(lock).execute(&mut *work.tx).await?;
        }
        let mut found = None;
        // One query per priority, so each walks only its due effect jobs (the partial index
        // outbox_effects_due, whose conditions the query repeats word for word).
        for priority in Priority::ALL {
            found = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, kind, {}, attempts, run_after, created_at, claims FROM outbox \
                 WHERE state = 'pending' AND kind <> 'process_delivery' \
                 AND priority = $2 AND run_after <= $1 AND {} \
                 AND (locked_until IS NULL OR locked_until <= $1) \
                 AND (lane IS NULL OR NOT EXISTS (SELECT 1 FROM outbox busy \
                   WHERE busy.lane = outbox.lane AND busy.state = 'pending' \
                   AND busy.locked_until > $1)) \
                 ORDER BY run_after, id LIMIT 1{}",
                self.dialect.payload_column(),
                kinds_sql(kinds),
                self.dialect.claim_lock()
            )))
            .bind(to_millis(now))
            .bind(priority as i64)
            .fetch_optional(&mut *work.tx)
            .await?;
            if found.is_some() {
                break;
            }
        }
        let Some(row) = found else {
            work.rollback().await?;
            return Ok(None);
        };
        let mut job = job_claim(&row, self.dialect)?;
        job.claims += 1;
        sqlx::query(
            "UPDATE outbox SET locked_until = $1, locked_by = $2, claims = claims + 1 \
             WHERE id = $3",
        )
        .bind(to_millis(now + lease))
        .bind(holder)
        .bind(job.id)
        .execute(&mut *work.tx)
        .await?;
        work.commit().await?;
        Ok(Some(job))
    }

    /// Puts a leased job back, due at `until`, with no attempt counted (it waited its turn,
    /// it did not fail).
    pub async fn defer_job(&self, job_id: i64, until: DateTime<Utc>) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE outbox SET run_after = $1, locked_until = NULL \
             WHERE id = $2 AND state = 'pending'",
        )
        .bind(to_millis(until))
        .bind(job_id);
        self.execute_alone(query, false).await.map(drop)
    }

    /// Extends the lease `holder` has on a job it is still running to `until` (its runner
    /// is alive); `false` when the job is no longer leased to it (done, or taken over).
    pub async fn renew_lease(
        &self,
        job_id: i64,
        until: DateTime<Utc>,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE outbox SET locked_until = $1 \
             WHERE id = $2 AND state = 'pending' AND locked_until IS NOT NULL \
             AND locked_by = $3",
        )
        .bind(to_millis(until))
        .bind(job_id)
        .bind(holder);
        let renewed = self.execute_alone(query, false).await?;
        Ok(renewed == 1)
    }

    /// Ends every lease `holder` has on jobs not yet done (it is stopping, and what it
    /// did not finish is due at once for another runner). Returns how many.
    pub async fn release_leases(&self, holder: &str) -> Result<u64, StoreError> {
        let query = sqlx::query(
            "UPDATE outbox SET locked_until = NULL \
             WHERE locked_by = $1 AND state = 'pending' AND locked_until IS NOT NULL",
        )
        .bind(holder);
        self.execute_alone(query, true).await
    }

    /// A stored delivery, read outside any unit of work.
    pub async fn delivery(
        &self,
        delivery_id: &DeliveryId,
    ) -> Result<Option<StoredDelivery>, StoreError> {
        sqlx::query(DELIVERY_QUERY)
            .bind(delivery_id.as_str())
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(stored_delivery)
            .transpose()
    }

    /// The deliveries of up to `limit` of the worker's jobs due at `now`, with the incidents
    /// `incident_of` finds in them, read outside any unit of work for [`Work::adopt`]. On
    /// SQLite a unit of work holds the store's one write turn, which deliveries waiting for
    /// their commit need too, and reading a batch's deliveries was most of a batch's time
    /// in the turn. A delivery never changes once stored, so what is read here is what the
    /// unit of work would read; which jobs run is still decided inside it. On PostgreSQL,
    /// where batches take no turns, nothing is read.
    pub async fn read_due_deliveries(
        &self,
        (now, limit): (DateTime<Utc>, u32),
        incident_of: impl Fn(&str, &[u8]) -> Option<IncidentKey>,
    ) -> Result<PreRead, StoreError> {
        if self.write_turn.is_none() {
            return Ok(PreRead::default());
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            stored_delivery_columns!(),
            " FROM outbox o JOIN deliveries d ON d.delivery_id = o.payload \
                 WHERE o.state = 'pending' AND o.kind = 'process_delivery' \
                 AND o.run_after <= $1 ORDER BY o.id LIMIT $2"
        ))
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        let mut pre_read = HashMap::with_capacity(rows.len());
        for (delivery, incident) in with_incidents(&rows, incident_of)? {
            pre_read.insert(delivery.delivery_id.clone(), (delivery, incident));
        }
        Ok(PreRead(pre_read))
    }

    /// [`Work::queue_admitted`] in a unit of work of its own. Returns how many deliveries it
    /// moved past.
    pub async fn queue_admitted(&self, limit: u32) -> Result<u64, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(0);
        }
        let mut work = self.begin().await?;
        let queued = work.queue_admitted(limit).await?;
        work.commit().await?;
        Ok(queued)
    }

    /// The id of delivery `delivery_id`'s processing job, if it is pending.
    pub async fn pending_delivery_job(
        &self,
        delivery_id: &DeliveryId,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM outbox WHERE idempotency_key = $1 AND state = 'pending'",
        )
        .bind(crate::markers::key::delivery(delivery_id))
        .fetch_optional(&self.reader)
        .await?)
    }

    /// SQLite: the stored deliveries whose processing jobs the worker is yet to queue (see
    /// [`Work::queue_admitted`]). PostgreSQL queues each as it admits it: none.
    pub async fn unqueued_deliveries(&self) -> Result<Unqueued, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(Unqueued::default());
        }
        let row = sqlx::query(
            "SELECT count(*) AS unqueued, \
             (SELECT received_at FROM deliveries WHERE rowid > q.through_rowid \
              ORDER BY rowid LIMIT 1) AS oldest \
             FROM deliveries d, deliveries_queued q WHERE d.rowid > q.through_rowid",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(Unqueued {
            count: row.try_get("unqueued")?,
            oldest: row
                .try_get::<Option<i64>, _>("oldest")?
                .map(from_millis)
                .transpose()?,
        })
    }

    /// The jobs herald gave up on for an incident, oldest first.
    pub async fn failed_jobs(&self, incident_id: IncidentId) -> Result<Vec<FailedJob>, StoreError> {
        let rows = sqlx::query(DEAD_JOBS)
            .bind(incident_id.0)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(failed_job).collect()
    }

    /// Effect jobs not yet done: what herald still owes GitHub.
    pub async fn pending_effects(&self) -> Result<Vec<JobClaim>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, {}, attempts, run_after, created_at, claims FROM outbox \
             WHERE state = 'pending' AND kind <> 'process_delivery' ORDER BY id",
            self.dialect.payload_column()
        )))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| job_claim(row, self.dialect))
            .collect()
    }
}

const DELIVERY_QUERY: &str = concat!(
    "SELECT ",
    stored_delivery_columns!(),
    " FROM deliveries WHERE delivery_id = $1"
);

/// A delivery id read back from the store, where only checked ones are written.
pub(super) fn stored_delivery_id(text: &str) -> Result<DeliveryId, StoreError> {
    DeliveryId::parse(text).map_err(|error| StoreError::Corrupt(format!("delivery id: {error}")))
}

fn stored_delivery(row: &sqlx::any::AnyRow) -> Result<StoredDelivery, StoreError> {
    Ok(StoredDelivery {
        delivery_id: stored_delivery_id(&row.try_get::<String, _>("delivery_id")?)?,
        event: row.try_get("event")?,
        payload: lz4_flex::block::decompress_size_prepended(
            &row.try_get::<Vec<u8>, _>("payload_lz4")?,
        )
        .map_err(|error| StoreError::Corrupt(format!("delivery payload: {error}")))?,
        received_at: from_millis(row.try_get("received_at")?)?,
    })
}

/// Each row's delivery, with the incident `incident_of` finds in it (by event and body).
fn with_incidents(
    rows: &[sqlx::any::AnyRow],
    incident_of: impl Fn(&str, &[u8]) -> Option<IncidentKey>,
) -> Result<Vec<(StoredDelivery, Option<IncidentKey>)>, StoreError> {
    rows.iter()
        .map(|row| {
            let delivery = stored_delivery(row)?;
            let incident = incident_of(&delivery.event, &delivery.payload);
            Ok((delivery, incident))
        })
        .collect()
}

fn job_claim(row: &sqlx::any::AnyRow, dialect: Dialect) -> Result<JobClaim, StoreError> {
    let (payload, payload_is_text) = dialect.payload(row)?;
    Ok(JobClaim {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload,
        payload_is_text,
        attempts: row.try_get("attempts")?,
        due_since: from_millis(
            row.try_get::<i64, _>("run_after")?
                .max(row.try_get("created_at")?),
        )?,
        claims: row.try_get("claims")?,
    })
}

impl Work {
    /// Stores a delivery and its processing job within this unit of work: herald's own
    /// deliveries (GitHub's are admitted in batches by [`Store::admit`]). A delivery whose
    /// id or body is stored already is a duplicate. On SQLite a body is looked for in
    /// `body_signatures` and in the unmerged deliveries (see `signatures`); this unit of
    /// work holds the write turn, so none is stored meanwhile. On PostgreSQL the insert's
    /// unique index tells.
    pub async fn admit(&mut self, delivery: &NewDelivery) -> Result<Admission, StoreError> {
        if let Some(signature) = &delivery.body_signature
            && self.dialect == Dialect::Sqlite
            && self.body_stored(signature).await?
        {
            return Ok(Admission::Duplicate);
        }
        let insert = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING delivery_id",
            self.dialect.value_rows(1, 8)
        )));
        let inserted = bind_delivery(insert, delivery)
            .fetch_optional(self.conn().await?)
            .await?;
        if inserted.is_none() {
            return Ok(Admission::Duplicate);
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO outbox ({JOB_COLUMNS}) VALUES {}",
            self.dialect.value_rows(1, 5)
        )))
        .bind(PROCESS_DELIVERY)
        .bind(crate::markers::key::delivery(&delivery.delivery_id))
        .bind(delivery.delivery_id.as_str())
        .bind(DUE_AT_ONCE)
        .bind(to_millis(delivery.received_at))
        .execute(self.conn().await?)
        .await?;
        Ok(Admission::Accepted)
    }

    /// SQLite: whether a delivery with the body signed `signature` is stored.
    async fn body_stored(&mut self, signature: &[u8; 32]) -> Result<bool, StoreError> {
        let stored: i64 = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM body_signatures WHERE signature = ?1) \
             OR EXISTS (SELECT 1 FROM deliveries WHERE body_signature = ?1 \
               AND rowid > (SELECT through_rowid FROM body_signatures_merged))",
        )
        .bind(&signature[..])
        .fetch_one(self.conn().await?)
        .await?;
        Ok(stored == 1)
    }

    /// SQLite: queues the processing jobs of the next `limit` deliveries admitted since the
    /// last call, oldest first, within this unit of work; returns how many deliveries it
    /// moved past (some may have had their job already). Admitting a delivery on SQLite
    /// writes only the delivery, and the worker calls this before each fetch of its jobs, so
    /// that one commit writes the jobs of up to 32 deliveries (the queue's pages were a
    /// quarter of an admitted delivery's pages when each commit of a few deliveries wrote
    /// its jobs); a batch that starts while deliveries wait queues 4 at a time. The
    /// deliveries past `deliveries_queued.through_rowid` are those without their job:
    /// rowids only grow, as deliveries are never deleted. A delivery whose job
    /// exists already (queued with it by [`Work::admit`], or copied from another store)
    /// keeps that one. On PostgreSQL each delivery's job is queued as it is admitted, and
    /// this does nothing.
    pub async fn queue_admitted(&mut self, limit: u32) -> Result<u64, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(0);
        }
        let next = sqlx::query(
            "SELECT count(*) AS deliveries, max(next) AS last FROM (SELECT rowid AS next \
             FROM deliveries WHERE rowid > (SELECT through_rowid FROM deliveries_queued) \
             ORDER BY rowid LIMIT ?)",
        )
        .bind(i64::from(limit))
        .fetch_one(self.conn().await?)
        .await?;
        let (deliveries, last): (i64, Option<i64>) =
            (next.try_get("deliveries")?, next.try_get("last")?);
        let Some(last) = last else {
            return Ok(0);
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO outbox ({JOB_COLUMNS}) \
             SELECT ?, ? || delivery_id, delivery_id, ?, received_at FROM deliveries \
             WHERE rowid > (SELECT through_rowid FROM deliveries_queued) AND rowid <= ? \
             ON CONFLICT (idempotency_key) DO NOTHING"
        )))
        .bind(PROCESS_DELIVERY)
        .bind(crate::markers::key::DELIVERY_PREFIX)
        .bind(DUE_AT_ONCE)
        .bind(last)
        .execute(self.conn().await?)
        .await?;
        sqlx::query("UPDATE deliveries_queued SET through_rowid = ?")
            .bind(last)
            .execute(self.conn().await?)
            .await?;
        Ok(u64::try_from(deliveries).unwrap_or_default())
    }

    /// Reads the stored deliveries `delivery_ids` in one query, for [`Work::load_delivery`]
    /// to take; returns the incidents `incident_of` finds in them (by event and body), for
    /// reading those ahead too.
    pub async fn read_ahead(
        &mut self,
        delivery_ids: &[DeliveryId],
        incident_of: impl Fn(&str, &[u8]) -> Option<IncidentKey>,
    ) -> Result<Vec<IncidentKey>, StoreError> {
        let mut incidents = Vec::new();
        let mut unread = Vec::new();
        for id in delivery_ids {
            match self.pre_read.0.remove(id) {
                Some((delivery, incident)) => {
                    incidents.extend(incident);
                    self.read_ahead.insert(id.clone(), delivery);
                }
                None => unread.push(id),
            }
        }
        if unread.is_empty() {
            return Ok(incidents);
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM deliveries WHERE delivery_id IN ({})",
            stored_delivery_columns!(),
            self.dialect.placeholders(1, unread.len())
        )));
        for id in unread {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(self.conn().await?).await?;
        for (delivery, incident) in with_incidents(&rows, incident_of)? {
            incidents.extend(incident);
            self.read_ahead
                .insert(delivery.delivery_id.clone(), delivery);
        }
        Ok(incidents)
    }

    /// Takes deliveries read before this unit of work began ([`Store::read_due_deliveries`]):
    /// [`Work::read_ahead`] reads only those it was not given.
    pub fn adopt(&mut self, pre_read: PreRead) {
        self.pre_read = pre_read;
    }

    pub async fn load_delivery(
        &mut self,
        delivery_id: &DeliveryId,
    ) -> Result<Option<StoredDelivery>, StoreError> {
        if let Some(delivery) = self.read_ahead.remove(delivery_id) {
            return Ok(Some(delivery));
        }
        sqlx::query(DELIVERY_QUERY)
            .bind(delivery_id.as_str())
            .fetch_optional(self.conn().await?)
            .await?
            .as_ref()
            .map(stored_delivery)
            .transpose()
    }

    /// Up to `limit` of the worker's jobs (deliveries to process) due at `now` with ids
    /// above `after_id`, oldest first. Inside the unit of work (which holds the store's
    /// write lock) they are this worker's until it commits or rolls back. The condition is
    /// PostgreSQL's partial index outbox_local_due's, word for word.
    pub async fn due_jobs(
        &mut self,
        now: DateTime<Utc>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<JobClaim>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, {}, attempts, run_after, created_at, claims FROM outbox \
             WHERE state = 'pending' AND kind = 'process_delivery' \
             AND id > $1 AND run_after <= $2 ORDER BY id LIMIT $3{}",
            self.dialect.payload_column(),
            self.dialect.claim_lock()
        )))
        .bind(after_id)
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(self.conn().await?)
        .await?;
        rows.iter()
            .map(|row| job_claim(row, self.dialect))
            .collect()
    }

    /// Queues a job, due at once, unless one with the same idempotency key exists (done or
    /// not). It is written when the unit of work commits.
    pub fn enqueue(&mut self, job: &impl Queued, idempotency_key: &str) -> Result<(), StoreError> {
        self.enqueue_due(job, idempotency_key, DUE_AT_ONCE, Priority::Urgent)
    }

    /// [`Work::enqueue`] with a priority: background work waits for urgent work.
    pub fn enqueue_with(
        &mut self,
        job: &impl Queued,
        idempotency_key: &str,
        priority: Priority,
    ) -> Result<(), StoreError> {
        self.enqueue_due(job, idempotency_key, DUE_AT_ONCE, priority)
    }

    /// Queues a job due at `run_after` (a reminder), unless one with the same idempotency
    /// key exists.
    pub fn enqueue_at(
        &mut self,
        job: &impl Queued,
        idempotency_key: &str,
        run_after: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enqueue_due(job, idempotency_key, to_millis(run_after), Priority::Urgent)
    }

    fn enqueue_due(
        &mut self,
        job: &impl Queued,
        idempotency_key: &str,
        run_after: i64,
        priority: Priority,
    ) -> Result<(), StoreError> {
        self.jobs.push(QueuedJob {
            kind: job.kind_name(),
            idempotency_key: idempotency_key.to_owned(),
            payload: job.payload()?,
            run_after,
            created_at: to_millis(Utc::now()),
            priority: priority as i64,
            lane: job.lane(),
            incident: job.incident(),
        });
        Ok(())
    }

    /// Writes the jobs queued in this unit of work, in the order queued, a few hundred to a
    /// statement.
    async fn write_queued_jobs(&mut self) -> Result<(), StoreError> {
        const COLUMNS: usize = 8;
        let jobs = std::mem::take(&mut self.jobs);
        for chunk in jobs.chunks(WRITE_CHUNK) {
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO outbox \
                 (kind, idempotency_key, payload, run_after, created_at, priority, lane, \
                 incident_id) \
                 VALUES {} ON CONFLICT (idempotency_key) DO NOTHING",
                self.dialect.value_rows(chunk.len(), COLUMNS)
            )));
            for job in chunk {
                insert = insert
                    .bind(job.kind)
                    .bind(job.idempotency_key.as_str())
                    .bind(job.payload.as_str())
                    .bind(job.run_after)
                    .bind(job.created_at)
                    .bind(job.priority)
                    .bind(job.lane.as_deref())
                    .bind(job.incident.map(|id| id.0));
            }
            insert.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Queues an incident's dead jobs again, due at once with a fresh count of attempts
    /// (a maintainer fixed the cause). Returns how many.
    pub async fn retry_failed_jobs(
        &mut self,
        incident_id: IncidentId,
    ) -> Result<usize, StoreError> {
        let retried = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, run_after = $1, \
             created_at = $2, finished_at = NULL, locked_until = NULL \
             WHERE state = 'dead' AND incident_id = $3",
        )
        .bind(DUE_AT_ONCE)
        // Queued anew: it reads GitHub afresh (the maintainers may have fixed the cause there).
        .bind(to_millis(Utc::now()))
        .bind(incident_id.0)
        .execute(self.conn().await?)
        .await?
        .rows_affected();
        Ok(usize::try_from(retried).unwrap_or(usize::MAX))
    }

    /// Marks jobs done, each with what it did (`(job id, outcome)`), in one statement.
    pub async fn complete_jobs(&mut self, done: &[(i64, &str)]) -> Result<(), StoreError> {
        // The time, then one (id, outcome) pair per job, then the ids again.
        let dialect = self.dialect;
        let cases: String = (0..done.len())
            .map(|index| {
                format!(
                    " WHEN {} THEN {}",
                    dialect.placeholder(2 + 2 * index),
                    dialect.placeholder(3 + 2 * index)
                )
            })
            .collect();
        let mut update = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET state = 'done', attempts = attempts + 1, last_error = NULL, \
             locked_until = NULL, finished_at = {}, outcome = CASE id{cases} END \
             WHERE id IN ({})",
            dialect.placeholder(1),
            dialect.placeholders(2 + 2 * done.len(), done.len())
        )))
        .bind(to_millis(Utc::now()));
        for (id, outcome) in done {
            update = update.bind(*id).bind(*outcome);
        }
        for (id, _) in done {
            update = update.bind(*id);
        }
        update.execute(self.conn().await?).await?;
        Ok(())
    }

    /// Records a failed attempt of job `id` (run after `attempts` others): it runs again at `run_after`, or is given up
    /// (`dead`). Only if its attempts are still those it ran with: `false` when another
    /// runner recorded this attempt first (a PostgreSQL replica that took the job while
    /// its batch was being undone).
    pub async fn fail_job(
        &mut self,
        (id, attempts): (i64, i64),
        error: &str,
        run_after: DateTime<Utc>,
        dead: bool,
    ) -> Result<bool, StoreError> {
        let recorded = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, run_after = $2, \
             state = $3, finished_at = $4, locked_until = NULL \
             WHERE id = $5 AND attempts = $6 AND state = 'pending'",
        )
        .bind(error)
        .bind(to_millis(run_after))
        .bind(if dead { "dead" } else { "pending" })
        .bind(dead.then(|| to_millis(Utc::now())))
        .bind(id)
        .bind(attempts)
        .execute(self.conn().await?)
        .await?
        .rows_affected();
        Ok(recorded == 1)
    }

    /// Takes job `id` for this unit of work, if it is still pending with the `attempts` it was
    /// seen with and no other runner holds it (on PostgreSQL, its row stays locked until
    /// the unit of work ends).
    pub async fn lock_pending_job(
        &mut self,
        (id, attempts): (i64, i64),
    ) -> Result<bool, StoreError> {
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM outbox WHERE id = $1 AND state = 'pending' AND attempts = $2{}",
            self.dialect.claim_lock()
        )))
        .bind(id)
        .bind(attempts)
        .fetch_optional(self.conn().await?)
        .await?;
        Ok(found.is_some())
    }

    /// Undoes everything the unit of work did.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Writes what this unit of work created and queued (incidents, jobs, timeline
    /// entries), then commits.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.write_new_incidents().await?;
        self.write_queued_jobs().await?;
        self.write_timeline().await?;
        self.tx.commit().await?;
        Ok(())
    }
}
