//! What herald knows of GitHub's failed webhook deliveries: who scans for them now, how far
//! scans have come, and what herald asked GitHub to deliver again.

use super::{Store, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// The one row of `redelivery_scans`: herald has one App, so one scan.
const SCAN: &str = "app";

/// Where the scan stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanState {
    /// The newest attempt a finished scan had handled: the next scan goes back to it.
    pub scanned_through: DateTime<Utc>,
    pub scanned_at: Option<DateTime<Utc>>,
    /// The replica scanning now, and until when its claim lasts.
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTime<Utc>>,
}

/// Where a scan stopped at its bound of pages goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The next page's path on GitHub's API.
    pub page: String,
    /// The newest attempt of the pages read before it.
    pub newest: DateTime<Utc>,
}

/// How a scan ended, for the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every failed delivery up to `through` was handled: the next scan goes back to it.
    Finished { through: DateTime<Utc> },
    /// It read as many pages as a scan may: the next goes on from there.
    Continues(Resume),
    /// It stopped short (GitHub's rate limit or errors, the bound of requests): the next
    /// does the same part again.
    Stopped,
}

/// Whether this replica may scan now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanClaim {
    /// It may: back to `scanned_through`, going on from `resume` if a scan stopped at its
    /// bound of pages.
    Taken {
        scanned_through: DateTime<Utc>,
        resume: Option<Resume>,
    },
    /// Another replica scans until `until`.
    Held { by: String, until: DateTime<Utc> },
}

/// What herald asked GitHub for one delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RedeliveryRequest {
    pub guid: String,
    /// The failed attempt herald last asked GitHub to deliver again.
    pub attempt_id: u64,
    pub event: String,
    pub action: Option<String>,
    /// How often herald asked for this delivery.
    pub requests: u32,
    pub requested_at: DateTime<Utc>,
    /// GitHub's words when it refused the last request.
    pub refusal: Option<String>,
}

impl Store {
    /// Claims the scan for `holder` until `until`, unless another replica's claim lasts. The
    /// first claim ever starts the scans at `now`: what failed before herald came is not
    /// asked for.
    pub async fn claim_redelivery_scan(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<ScanClaim, StoreError> {
        let mut work = self.begin_durable().await?;
        let taken: Option<(i64, Option<String>, Option<i64>)> = sqlx::query_as(
            "INSERT INTO redelivery_scans (name, claimed_by, claimed_until, scanned_through) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET claimed_by = excluded.claimed_by, \
             claimed_until = excluded.claimed_until \
             WHERE redelivery_scans.claimed_until IS NULL \
             OR redelivery_scans.claimed_until <= $4 OR redelivery_scans.claimed_by = $2 \
             RETURNING scanned_through, resume_page, resume_newest",
        )
        .bind(SCAN)
        .bind(holder)
        .bind(to_millis(until))
        .bind(to_millis(now))
        .fetch_optional(&mut *work.tx)
        .await?;
        if let Some((scanned_through, page, newest)) = taken {
            work.commit().await?;
            let resume = match (page, newest) {
                (Some(page), Some(newest)) => Some(Resume {
                    page,
                    newest: from_millis(newest)?,
                }),
                _ => None,
            };
            return Ok(ScanClaim::Taken {
                scanned_through: from_millis(scanned_through)?,
                resume,
            });
        }
        work.rollback().await?;
        let state = self
            .redelivery_scan()
            .await?
            .ok_or_else(|| StoreError::Corrupt("the redelivery scan row vanished".to_owned()))?;
        Ok(ScanClaim::Held {
            by: state.claimed_by.unwrap_or_default(),
            until: state.claimed_until.unwrap_or(now),
        })
    }

    /// Extends `holder`'s claim on the scan to `until`; `false` when it is no longer its.
    pub async fn renew_redelivery_scan(
        &self,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE redelivery_scans SET claimed_until = $1 WHERE name = $2 AND claimed_by = $3",
        )
        .bind(to_millis(until))
        .bind(SCAN)
        .bind(holder);
        let renewed = self.execute_alone(query, true).await?;
        Ok(renewed == 1)
    }

    /// Ends `holder`'s claim on the scan and records how it ended (see [`ScanEnd`]);
    /// returns 1, or 0 when the claim was not `holder`'s.
    pub async fn end_redelivery_scan(
        &self,
        holder: &str,
        end: &ScanEnd,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let query = match end {
            ScanEnd::Finished { through } => sqlx::query(
                "UPDATE redelivery_scans SET claimed_by = NULL, claimed_until = NULL, \
                 scanned_through = CASE WHEN $1 > scanned_through THEN $1 \
                 ELSE scanned_through END, scanned_at = $2, resume_page = NULL, \
                 resume_newest = NULL WHERE name = $3 AND claimed_by = $4",
            )
            .bind(to_millis(*through))
            .bind(to_millis(now)),
            ScanEnd::Continues(resume) => sqlx::query(
                "UPDATE redelivery_scans SET claimed_by = NULL, claimed_until = NULL, \
                 resume_page = $1, resume_newest = $2 WHERE name = $3 AND claimed_by = $4",
            )
            .bind(resume.page.clone())
            .bind(to_millis(resume.newest)),
            ScanEnd::Stopped => sqlx::query(
                "UPDATE redelivery_scans SET claimed_by = NULL, claimed_until = NULL \
                 WHERE name = $1 AND claimed_by = $2",
            ),
        };
        let query = query.bind(SCAN).bind(holder);
        self.execute_alone(query, true).await
    }

    /// Where the scan stands; `None` before the first.
    pub async fn redelivery_scan(&self) -> Result<Option<ScanState>, StoreError> {
        let row = sqlx::query(
            "SELECT scanned_through, scanned_at, claimed_by, claimed_until \
             FROM redelivery_scans WHERE name = $1",
        )
        .bind(SCAN)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let at = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
            row.try_get::<Option<i64>, _>(column)?
                .map(from_millis)
                .transpose()
        };
        Ok(Some(ScanState {
            scanned_through: from_millis(row.try_get("scanned_through")?)?,
            scanned_at: at("scanned_at")?,
            claimed_by: row.try_get("claimed_by")?,
            claimed_until: at("claimed_until")?,
        }))
    }

    /// Which of `guids` herald has stored as deliveries.
    pub async fn stored_guids(&self, guids: &[&str]) -> Result<HashSet<String>, StoreError> {
        let mut stored = HashSet::new();
        for chunk in guids.chunks(super::queue::WRITE_CHUNK) {
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
                "SELECT delivery_id FROM deliveries WHERE delivery_id IN ({})",
                self.dialect.placeholders(1, chunk.len())
            )));
            for guid in chunk {
                query = query.bind(*guid);
            }
            stored.extend(query.fetch_all(&self.reader).await?);
        }
        Ok(stored)
    }

    /// What herald asked GitHub for each of `guids` it asked for.
    pub async fn redelivery_requests(
        &self,
        guids: &[&str],
    ) -> Result<HashMap<String, RedeliveryRequest>, StoreError> {
        let mut requests = HashMap::new();
        for chunk in guids.chunks(super::queue::WRITE_CHUNK) {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT guid, attempt_id, event, action, requests, requested_at, refusal \
                 FROM redelivery_requests WHERE guid IN ({})",
                self.dialect.placeholders(1, chunk.len())
            )));
            for guid in chunk {
                query = query.bind(*guid);
            }
            for row in query.fetch_all(&self.reader).await? {
                let request = RedeliveryRequest {
                    guid: row.try_get("guid")?,
                    attempt_id: u64::try_from(row.try_get::<i64, _>("attempt_id")?)
                        .map_err(|error| StoreError::Corrupt(format!("attempt id: {error}")))?,
                    event: row.try_get("event")?,
                    action: row.try_get("action")?,
                    requests: u32::try_from(row.try_get::<i64, _>("requests")?).unwrap_or(u32::MAX),
                    requested_at: from_millis(row.try_get("requested_at")?)?,
                    refusal: row.try_get("refusal")?,
                };
                requests.insert(request.guid.clone(), request);
            }
        }
        Ok(requests)
    }

    /// Records that herald asked GitHub to deliver `request.guid` again (attempt
    /// `request.attempt_id`), and GitHub's refusal if it refused; counts the request.
    pub async fn record_redelivery(&self, request: &RedeliveryRequest) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO redelivery_requests \
             (guid, attempt_id, event, action, requests, requested_at, refusal) \
             VALUES ($1, $2, $3, $4, 1, $5, $6) \
             ON CONFLICT (guid) DO UPDATE SET attempt_id = excluded.attempt_id, \
             requests = redelivery_requests.requests + 1, \
             requested_at = excluded.requested_at, refusal = excluded.refusal",
        )
        .bind(&request.guid)
        .bind(i64::try_from(request.attempt_id).unwrap_or(i64::MAX))
        .bind(&request.event)
        .bind(&request.action)
        .bind(to_millis(request.requested_at))
        .bind(&request.refusal);
        self.execute_alone(query, true).await.map(drop)
    }
}
