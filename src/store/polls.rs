//! The advisory lists the poller reads: which repositories to poll, each list's ETag, and
//! the claims that let replicas sharing a store poll each list once per interval.

use super::InstallationId;
use super::{Store, StoreError, from_millis, to_millis};
use crate::incident::RepoName;
use chrono::{DateTime, Utc};

/// Whether this replica may poll an advisory list now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollClaim {
    /// It is this replica's to poll.
    Taken,
    /// Polled lately, or claimed by another replica: due again at `due`.
    Held { due: DateTime<Utc> },
}

/// A served repository as the poller plans its round (see [`Store::repositories_to_poll`]).
#[derive(Debug, Clone)]
pub struct RepositoryToPoll {
    pub repository: RepoName,
    pub installation: InstallationId,
    /// The organisation whose installation serves it, when herald knows it is one.
    pub organisation: Option<String>,
}

impl Store {
    /// Every repository with the active installation that serves it, for the poller: those
    /// polled longest ago (or never) first, so a round cut short is resumed where it stopped.
    pub async fn served_repositories(&self) -> Result<Vec<(RepoName, InstallationId)>, StoreError> {
        Ok(self
            .repositories_to_poll()
            .await?
            .into_iter()
            .map(|served| (served.repository, served.installation))
            .collect())
    }

    /// What [`Store::served_repositories`] gives, each with the login of the organisation
    /// whose installation serves it (`None` for a user's, or one of unknown account type).
    /// One statement, so a poll round never sees an installation's repositories without
    /// the installation they came with. Read through the writer, which made every claim
    /// and record of a poll: on SQLite a reading connection was seen planning a round from
    /// a snapshot 12 s old (lists polled since then taken for never polled, and polled
    /// again before those that were); why it kept that snapshot is not found.
    pub async fn repositories_to_poll(&self) -> Result<Vec<RepositoryToPoll>, StoreError> {
        let rows: Vec<(RepoName, i64, Option<String>)> = sqlx::query_as(
            "SELECT r.full_name, r.installation_id, \
             CASE WHEN i.account_type = 'Organization' AND i.account <> '' \
               THEN i.account END AS organisation \
             FROM repositories r \
             LEFT JOIN installations i ON i.id = r.installation_id \
             LEFT JOIN advisory_polls p ON p.repository = r.full_name \
             WHERE COALESCE(i.state, 'active') = 'active' \
             ORDER BY COALESCE(p.polled_at, 0), r.full_name",
        )
        .fetch_all(&self.writer)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(repository, id, organisation)| {
                Some(RepositoryToPoll {
                    repository,
                    installation: InstallationId(u64::try_from(id).ok()?),
                    organisation,
                })
            })
            .collect())
    }

    /// The ETag of the last read of an advisory `list` (a repository's full name, or
    /// `org:LOGIN` for an organisation's).
    pub async fn advisory_poll_etag(&self, list: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT etag FROM advisory_polls WHERE repository = $1",
        )
        .bind(list)
        .fetch_optional(&self.reader)
        .await?
        .flatten())
    }

    /// Claims an advisory `list`'s poll for `holder` until `until` (or until it records
    /// the poll): taken unless the list was polled after `since` or another claim on it
    /// lasts. Replicas sharing a store thus poll each list once per interval between them.
    pub async fn claim_advisory_poll(
        &self,
        list: &str,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<PollClaim, StoreError> {
        let mut work = self.begin_durable().await?;
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO advisory_polls (repository, etag, polled_at, claimed_by, claimed_until) \
             VALUES ($1, NULL, 0, $2, $3) \
             ON CONFLICT (repository) DO UPDATE SET claimed_by = excluded.claimed_by, \
             claimed_until = excluded.claimed_until \
             WHERE advisory_polls.polled_at <= $4 \
             AND (advisory_polls.claimed_until IS NULL OR advisory_polls.claimed_until <= $5) \
             RETURNING repository",
        )
        .bind(list)
        .bind(holder)
        .bind(to_millis(until))
        .bind(to_millis(since))
        .bind(to_millis(now))
        .fetch_optional(&mut *work.tx)
        .await?;
        if claimed.is_some() {
            work.commit().await?;
            return Ok(PollClaim::Taken);
        }
        let (polled_at, claimed_until): (i64, Option<i64>) = sqlx::query_as(
            "SELECT polled_at, claimed_until FROM advisory_polls WHERE repository = $1",
        )
        .bind(list)
        .fetch_one(&mut *work.tx)
        .await?;
        work.rollback().await?;
        // Due once a poll after `since` would be old enough, and no claim lasts.
        let interval = now - since;
        let due = from_millis(polled_at)? + interval;
        let due = match claimed_until.map(from_millis).transpose()? {
            Some(claim) if claim > due => claim,
            _ => due,
        };
        Ok(PollClaim::Held { due })
    }

    /// Ends the claims `holder` has on advisory lists it has not polled (it is stopping):
    /// they are due at once for another replica. Returns how many.
    pub async fn release_advisory_polls(&self, holder: &str) -> Result<u64, StoreError> {
        let query = sqlx::query(
            "UPDATE advisory_polls SET claimed_by = NULL, claimed_until = NULL \
             WHERE claimed_by = $1",
        )
        .bind(holder);
        self.execute_alone(query, true).await
    }

    pub async fn save_advisory_poll(
        &self,
        list: &str,
        etag: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO advisory_polls (repository, etag, polled_at) VALUES ($1, $2, $3) \
             ON CONFLICT (repository) DO UPDATE SET etag = excluded.etag, \
             polled_at = excluded.polled_at, claimed_by = NULL, claimed_until = NULL",
        )
        .bind(list)
        .bind(etag)
        .bind(to_millis(now));
        self.execute_alone(query, false).await.map(drop)
    }
}
