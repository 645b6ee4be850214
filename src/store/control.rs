//! What an operator sees of the job queue and does with its jobs (`herald jobs`).

use super::queue::{DUE_AT_ONCE, PROCESS_DELIVERY};
use super::{Dialect, IncidentId, Store, StoreError, Unqueued, Work, from_millis, to_millis};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// Where a job stands in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to run, or running.
    Pending,
    Done,
    /// herald gave up on it (its attempts ran out, or the counterpart refused it).
    Dead,
    /// An operator cancelled it (`herald jobs cancel`).
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Done => "done",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(stored: &str) -> Result<JobState, StoreError> {
        [
            JobState::Pending,
            JobState::Done,
            JobState::Dead,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == stored)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown job state {stored:?}")))
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which jobs `herald jobs list` shows: by default those not finished (pending or given
/// up), in queue order.
#[derive(Debug, Clone, Copy)]
pub struct JobFilter {
    /// Only the jobs herald gave up on.
    pub failed: bool,
    /// Only the pending jobs whose time has come.
    pub due: bool,
    /// Only jobs of this kind (its stored name).
    pub kind: Option<&'static str>,
    pub limit: u32,
}

/// One job as an operator sees it (`herald jobs list --json` prints these).
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    pub state: JobState,
    /// Failed attempts so far.
    pub attempts: i64,
    /// The incident the job is for, where it names one.
    pub incident_id: Option<IncidentId>,
    /// `urgent` or `background`.
    pub priority: &'static str,
    /// Jobs of one lane run one at a time, in order.
    pub lane: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it may run (again); `None`: at once.
    pub run_after: Option<DateTime<Utc>>,
    /// Set while a runner holds it.
    pub leased_until: Option<DateTime<Utc>>,
    /// The replica that holds it (or last held it, when `leased_until` has passed).
    pub leased_by: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the last failed attempt said, in the counterpart's words.
    pub last_error: Option<String>,
    /// What the job did, once done.
    pub outcome: Option<String>,
    /// What the job works on, as stored.
    pub payload: serde_json::Value,
}

/// The columns of a job as `herald jobs` shows it.
fn job_columns(dialect: Dialect) -> String {
    format!(
        "id, kind, {}, state, attempts, run_after, created_at, finished_at, last_error, \
         outcome, priority, lane, locked_until, locked_by, incident_id",
        dialect.payload_column()
    )
}

/// The query for job `id`, on the readers or in a unit of work.
fn job_by_id(
    dialect: Dialect,
    id: i64,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM outbox WHERE id = $1",
        job_columns(dialect)
    )))
    .bind(id)
}

fn job_record(row: &sqlx::any::AnyRow, dialect: Dialect) -> Result<JobRecord, StoreError> {
    let kind: String = row.try_get("kind")?;
    let (payload, _) = dialect.payload(row)?;
    let incident_id = row
        .try_get::<Option<i64>, _>("incident_id")?
        .map(IncidentId);
    let at = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(column)?
            .map(from_millis)
            .transpose()
    };
    let run_after: i64 = row.try_get("run_after")?;
    Ok(JobRecord {
        id: row.try_get("id")?,
        state: JobState::parse(&row.try_get::<String, _>("state")?)?,
        attempts: row.try_get("attempts")?,
        incident_id,
        priority: match row.try_get::<i64, _>("priority")? {
            0 => "urgent",
            _ => "background",
        },
        lane: row.try_get("lane")?,
        created_at: from_millis(row.try_get("created_at")?)?,
        run_after: (run_after > DUE_AT_ONCE)
            .then(|| from_millis(run_after))
            .transpose()?,
        leased_until: at("locked_until")?,
        leased_by: row.try_get("locked_by")?,
        finished_at: at("finished_at")?,
        last_error: row.try_get("last_error")?,
        outcome: row.try_get("outcome")?,
        // A payload that is not JSON (none is) is shown as the text it is.
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        kind,
    })
}

/// Why `herald jobs retry` or `cancel` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum JobControlError {
    #[error("there is no job {0}")]
    NoSuchJob(i64),
    #[error("job {id} is {state}: there is nothing to {action}")]
    Finished {
        id: i64,
        state: JobState,
        action: &'static str,
    },
    #[error("job {id} is running (leased until {until}); try again once it ends")]
    Running { id: i64, until: DateTime<Utc> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an operator does to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobControl {
    /// Run it again now, with a fresh count of attempts (a given-up, cancelled or waiting job).
    Retry,
    /// Never run it (a pending or given-up job).
    Cancel,
}

impl JobControl {
    fn verb(self) -> &'static str {
        match self {
            JobControl::Retry => "retry",
            JobControl::Cancel => "cancel",
        }
    }

    /// The states it applies to.
    fn applies_to(self) -> &'static str {
        match self {
            JobControl::Retry => "'pending', 'dead', 'cancelled'",
            JobControl::Cancel => "'pending', 'dead'",
        }
    }
}

/// One kind of job in the queue, for the metrics.
#[derive(Debug, Clone)]
pub struct QueuedKind {
    pub kind: String,
    pub pending: i64,
    pub due: i64,
    pub given_up: i64,
    /// Since when the longest-due pending job has been due (queued, or its wait ended).
    pub oldest_due_since: Option<DateTime<Utc>>,
}

impl Store {
    /// The queue by kind of job: pending, due and given-up jobs, and the longest-due one.
    pub async fn queue_summary(&self, now: DateTime<Utc>) -> Result<Vec<QueuedKind>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, \
             SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending, \
             SUM(CASE WHEN state = 'pending' AND run_after <= $1 THEN 1 ELSE 0 END) AS due, \
             SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) AS given_up, \
             MIN(CASE WHEN state = 'pending' AND run_after <= $1 THEN \
               CASE WHEN run_after > created_at THEN run_after ELSE created_at END END) \
               AS oldest_due \
             FROM outbox WHERE state IN ('pending', 'dead') GROUP BY kind ORDER BY kind",
        )
        .bind(to_millis(now))
        .fetch_all(&self.reader)
        .await?;
        let mut kinds = rows
            .iter()
            .map(|row| {
                Ok(QueuedKind {
                    kind: row.try_get("kind")?,
                    pending: row.try_get("pending")?,
                    due: row.try_get("due")?,
                    given_up: row.try_get("given_up")?,
                    oldest_due_since: row
                        .try_get::<Option<i64>, _>("oldest_due")?
                        .map(from_millis)
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.count_unqueued_deliveries(&mut kinds).await?;
        Ok(kinds)
    }

    /// SQLite: counts the deliveries whose processing jobs the worker is yet to queue (see
    /// [`Work::queue_admitted`](super::Work::queue_admitted)) as pending and due jobs of
    /// theirs, so that a worker that does not keep up shows in the queue all the same.
    async fn count_unqueued_deliveries(
        &self,
        kinds: &mut Vec<QueuedKind>,
    ) -> Result<(), StoreError> {
        let Unqueued { count, oldest } = self.unqueued_deliveries().await?;
        if count == 0 {
            return Ok(());
        }
        // The kinds are in name order (the query's).
        let position = kinds
            .binary_search_by(|kind| kind.kind.as_str().cmp(PROCESS_DELIVERY))
            .unwrap_or_else(|position| {
                kinds.insert(
                    position,
                    QueuedKind {
                        kind: PROCESS_DELIVERY.to_owned(),
                        pending: 0,
                        due: 0,
                        given_up: 0,
                        oldest_due_since: None,
                    },
                );
                position
            });
        let deliveries = &mut kinds[position];
        deliveries.pending += count;
        deliveries.due += count;
        deliveries.oldest_due_since = deliveries.oldest_due_since.into_iter().chain(oldest).min();
        Ok(())
    }

    /// The jobs `filter` asks for, in queue order.
    pub async fn jobs(
        &self,
        filter: &JobFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobRecord>, StoreError> {
        // Each parameter numbered in the order bound, as only some are.
        let mut sql = format!("SELECT {} FROM outbox WHERE ", job_columns(self.dialect));
        let mut next = 1;
        let due_only = filter.due && !filter.failed;
        if filter.failed {
            sql.push_str("state = 'dead'");
        } else if due_only {
            sql.push_str("state = 'pending' AND run_after <= $1");
            next += 1;
        } else {
            sql.push_str("state IN ('pending', 'dead')");
        }
        if filter.kind.is_some() {
            sql.push_str(&format!(" AND kind = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${next}"));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if due_only {
            query = query.bind(to_millis(now));
        }
        if let Some(kind) = filter.kind {
            query = query.bind(kind);
        }
        let rows = query
            .bind(i64::from(filter.limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| job_record(row, self.dialect))
            .collect()
    }

    /// One job, whatever its state.
    pub async fn job(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        job_by_id(self.dialect, id)
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(|row| job_record(row, self.dialect))
            .transpose()
    }
}

impl Work {
    /// Retries or cancels job `id` (not while a runner holds it), and returns it as it was.
    pub async fn control_job(
        &mut self,
        id: i64,
        control: JobControl,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, JobControlError> {
        let before = job_by_id(self.dialect, id)
            .fetch_optional(self.conn().await?)
            .await
            .map_err(StoreError::from)?
            .as_ref()
            .map(|row| job_record(row, self.dialect))
            .transpose()?
            .ok_or(JobControlError::NoSuchJob(id))?;
        let set = match control {
            // Queued anew: it reads GitHub afresh, the cause may have been fixed there.
            JobControl::Retry => {
                "state = 'pending', attempts = 0, run_after = $3, created_at = $2, \
                 finished_at = NULL, locked_until = NULL"
            }
            JobControl::Cancel => "state = 'cancelled', finished_at = $2, locked_until = NULL",
        };
        // Only from the states it applies to, and not while a runner holds the job.
        let update = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET {set} WHERE id = $1 AND state IN ({}) \
             AND (locked_until IS NULL OR locked_until <= $2)",
            control.applies_to()
        )))
        .bind(id)
        .bind(to_millis(now));
        let update = match control {
            JobControl::Retry => update.bind(DUE_AT_ONCE),
            JobControl::Cancel => update,
        };
        let changed = update
            .execute(self.conn().await?)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
        if changed == 1 {
            return Ok(before);
        }
        Err(match before.leased_until {
            Some(until) if until > now && before.state == JobState::Pending => {
                JobControlError::Running { id, until }
            }
            _ => JobControlError::Finished {
                id,
                state: before.state,
                action: control.verb(),
            },
        })
    }
}
