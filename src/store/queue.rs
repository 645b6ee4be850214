//! Deliveries and the outbox: the durable queue between answering GitHub and acting.

use super::{Store, StoreError, Work, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::time::Duration;

/// A verified delivery on its way into the store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<String>,
    pub installation_id: Option<u64>,
    pub payload: String,
    pub received_at: DateTime<Utc>,
}

/// What the store made of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Stored now, with its processing job.
    Accepted,
    /// A delivery with this id was stored before; nothing was written.
    Duplicate,
}

#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub delivery_id: String,
    pub event: String,
    pub payload: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Turn a stored delivery into domain changes; the job payload is the delivery id.
    ProcessDelivery,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::ProcessDelivery => "process_delivery",
        }
    }

    pub fn from_name(name: &str) -> Option<JobKind> {
        (name == "process_delivery").then_some(JobKind::ProcessDelivery)
    }
}

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

impl Store {
    /// Stores a batch of deliveries and their jobs in one commit (one fsync for many
    /// concurrent deliveries). Returns one admission per delivery, in order.
    pub async fn admit(&self, batch: &[NewDelivery]) -> Result<Vec<Admission>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut admissions = Vec::with_capacity(batch.len());
        for delivery in batch {
            let received_at = to_millis(delivery.received_at);
            let inserted = sqlx::query(
                "INSERT INTO deliveries \
                 (delivery_id, event, action, repository, installation_id, payload, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (delivery_id) DO NOTHING",
            )
            .bind(&delivery.delivery_id)
            .bind(&delivery.event)
            .bind(&delivery.action)
            .bind(&delivery.repository)
            .bind(
                delivery
                    .installation_id
                    .and_then(|id| i64::try_from(id).ok()),
            )
            .bind(&delivery.payload)
            .bind(received_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                admissions.push(Admission::Duplicate);
                continue;
            }
            sqlx::query(
                "INSERT INTO outbox (kind, idempotency_key, payload, run_after, created_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(JobKind::ProcessDelivery.as_str())
            .bind(format!("delivery:{}", delivery.delivery_id))
            .bind(&delivery.delivery_id)
            .bind(received_at)
            .execute(&mut *tx)
            .await?;
            admissions.push(Admission::Accepted);
        }
        tx.commit().await?;
        Ok(admissions)
    }

    /// Frees jobs claimed by a process that is gone. Only for a store one process owns
    /// (SQLite); a job finished twice is still harmless, as completion is checked.
    pub async fn release_leases(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbox SET locked_until = NULL \
             WHERE state = 'pending' AND locked_until IS NOT NULL",
        )
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Claims the oldest due job for `lease`; `None` when nothing is due.
    pub async fn claim_job(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let now_ms = to_millis(now);
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let row = sqlx::query(
            "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM outbox \
                         WHERE state = 'pending' AND run_after <= $2 \
                           AND (locked_until IS NULL OR locked_until < $2) \
                         ORDER BY id LIMIT 1) \
             RETURNING id, kind, payload, attempts",
        )
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ClaimedJob {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .transpose()
    }

    /// Records a failed attempt: the job runs again at `run_after`, or is given up (`dead`).
    pub async fn fail_job(
        &self,
        job_id: i64,
        error: &str,
        run_after: DateTime<Utc>,
        dead: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET locked_until = NULL, last_error = $1, run_after = $2, \
             state = $3, finished_at = $4 WHERE id = $5",
        )
        .bind(error)
        .bind(to_millis(run_after))
        .bind(if dead { "dead" } else { "pending" })
        .bind(dead.then(|| to_millis(Utc::now())))
        .bind(job_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Opens a unit of work: one write transaction.
    pub async fn begin(&self) -> Result<Work, StoreError> {
        Ok(Work {
            tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
        })
    }
}

impl Work {
    pub async fn load_delivery(
        &mut self,
        delivery_id: &str,
    ) -> Result<Option<StoredDelivery>, StoreError> {
        let row = sqlx::query(
            "SELECT delivery_id, event, payload, received_at FROM deliveries \
             WHERE delivery_id = $1",
        )
        .bind(delivery_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|row| {
            Ok(StoredDelivery {
                delivery_id: row.try_get("delivery_id")?,
                event: row.try_get("event")?,
                payload: row.try_get("payload")?,
                received_at: from_millis(row.try_get("received_at")?)?,
            })
        })
        .transpose()
    }

    /// Marks a claimed job done; false if it was not pending any more (another worker
    /// finished it), in which case the caller must not commit.
    pub async fn complete_job(&mut self, job_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'done', locked_until = NULL, finished_at = $1, \
             last_error = NULL WHERE id = $2 AND state = 'pending'",
        )
        .bind(to_millis(Utc::now()))
        .bind(job_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}
