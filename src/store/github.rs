//! What herald knows about its GitHub App installations, the repositories each one serves,
//! and the tracking issue of each incident.

use super::{IncidentId, InstallationId};
use super::{Store, StoreError, Work, from_millis, to_millis};
use crate::incident::{Audience, Dependency, RepoName};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Whether this replica may poll an advisory list now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollClaim {
    /// It is this replica's to poll.
    Taken,
    /// Polled lately, or claimed by another replica: due again at `due`.
    Held { due: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstallation {
    pub id: i64,
    pub account: String,
    /// `active`, `suspended` or `deleted`.
    pub state: String,
    pub repositories: Vec<String>,
}

/// A served repository as the poller plans its round (see [`Store::repositories_to_poll`]).
#[derive(Debug, Clone)]
pub struct RepositoryToPoll {
    pub repository: RepoName,
    pub installation: InstallationId,
    /// The organisation whose installation serves it, when herald knows it is one.
    pub organisation: Option<String>,
}

/// Where an incident's tracking issue is, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingLink {
    pub status: TrackingStatus,
    pub repository: Option<RepoName>,
    pub number: Option<i64>,
    pub url: Option<String>,
    /// For a refusal: why, in words a maintainer can act on.
    pub detail: Option<String>,
    /// The incident revision the issue shows.
    pub synced_revision: i64,
    /// The comment showing the drafts for private review.
    pub drafts_comment_id: Option<i64>,
    /// Who receives the incident's text by mail or chat, as the issue last showed it.
    pub audience: Option<Audience>,
    pub updated_at: DateTime<Utc>,
}

impl TrackingLink {
    /// The issue herald keeps, as (repository, number), when it has one.
    pub fn issue(&self) -> Option<(RepoName, u64)> {
        let number = u64::try_from(self.number?).ok()?;
        Some((self.repository.clone()?, number))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackingStatus {
    Open,
    Refused,
}

impl TrackingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingStatus::Open => "open",
            TrackingStatus::Refused => "refused",
        }
    }
}

impl Work {
    pub async fn save_dependencies(
        &mut self,
        repository: &RepoName,
        dependencies: Option<&[Dependency]>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let text = dependencies.map(serde_json::to_string).transpose()?;
        sqlx::query(
            "INSERT INTO dependency_graphs (repository, dependencies, fetched_at) VALUES ($1, $2, $3) \
             ON CONFLICT (repository) DO UPDATE SET dependencies = excluded.dependencies, \
             fetched_at = excluded.fetched_at",
        )
        .bind(repository)
        .bind(text)
        .bind(to_millis(at))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Records an installation: its account (`account_type` as GitHub says, `User` or
    /// `Organization`, when known) and state.
    pub async fn save_installation(
        &mut self,
        id: InstallationId,
        (account, account_type): (&str, Option<&str>),
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO installations (id, account, state, updated_at, account_type) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET account = excluded.account, state = excluded.state, \
             updated_at = excluded.updated_at, \
             account_type = COALESCE(excluded.account_type, installations.account_type)",
        )
        .bind(to_id(id.0)?)
        .bind(account)
        .bind(state)
        .bind(to_millis(now))
        .bind(account_type)
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Records that `installation_id` serves `repository` (`private` when known).
    pub async fn save_repository(
        &mut self,
        repository: &RepoName,
        installation_id: InstallationId,
        private: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Every delivery names its repository: within one unit of work once is enough.
        let key = (repository.clone(), installation_id);
        if private.is_none() && self.saved_repositories.contains(&key) {
            return Ok(());
        }
        self.saved_repositories.insert(key);
        // Written only when it changes: every delivery names its repository, and on
        // PostgreSQL a write would hold the row until commit, making replicas' workers
        // take turns on a busy repository.
        // `private` as 0 or 1: sqlx's Any driver reads no SQLite boolean.
        let known: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT installation_id, CAST(private AS INTEGER) FROM repositories \
             WHERE full_name = $1",
        )
        .bind(repository)
        .fetch_optional(self.conn().await?)
        .await?;
        let installation = to_id(installation_id.0)?;
        let unchanged = known.is_some_and(|(served_by, was_private)| {
            served_by == installation
                && private.is_none_or(|private| was_private == Some(i64::from(private)))
        });
        if unchanged {
            return Ok(());
        }
        self.served_since.remove(repository);
        sqlx::query(
            "INSERT INTO repositories \
             (full_name, installation_id, private, updated_at, first_seen_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (full_name) DO UPDATE SET \
             installation_id = excluded.installation_id, \
             private = COALESCE(excluded.private, repositories.private), \
             updated_at = excluded.updated_at",
        )
        .bind(repository)
        .bind(installation)
        .bind(private)
        .bind(to_millis(now))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// What this unit of work remembered of repositories, after it changed them.
    fn forget_known_repositories(&mut self) {
        self.saved_repositories.clear();
        self.served_since.clear();
    }

    /// Since when herald serves `repository`, if it does.
    pub async fn served_since(
        &mut self,
        repository: &RepoName,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if let Some(since) = self.served_since.get(repository) {
            return Ok(*since);
        }
        let since: Option<Option<i64>> =
            sqlx::query_scalar("SELECT first_seen_at FROM repositories WHERE full_name = $1")
                .bind(repository)
                .fetch_optional(self.conn().await?)
                .await?;
        let since = since.flatten().map(from_millis).transpose()?;
        self.served_since.insert(repository.clone(), since);
        Ok(since)
    }

    pub async fn forget_repository(&mut self, repository: &RepoName) -> Result<(), StoreError> {
        self.forget_known_repositories();
        sqlx::query("DELETE FROM repositories WHERE full_name = $1")
            .bind(repository)
            .execute(self.conn().await?)
            .await?;
        Ok(())
    }

    pub async fn forget_installation_repositories(
        &mut self,
        installation_id: InstallationId,
    ) -> Result<(), StoreError> {
        self.forget_known_repositories();
        sqlx::query("DELETE FROM repositories WHERE installation_id = $1")
            .bind(to_id(installation_id.0)?)
            .execute(self.conn().await?)
            .await?;
        Ok(())
    }

    /// Replaces the stored drafts of an incident.
    pub async fn save_drafts(
        &mut self,
        incident_id: IncidentId,
        drafts: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM drafts WHERE incident_id = $1")
            .bind(incident_id)
            .execute(self.conn().await?)
            .await?;
        for (name, text) in drafts {
            sqlx::query(
                "INSERT INTO drafts (incident_id, name, text, updated_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(incident_id)
            .bind(name)
            .bind(text)
            .bind(to_millis(now))
            .execute(self.conn().await?)
            .await?;
        }
        Ok(())
    }

    /// The installation's write slots from `since` on (Unix milliseconds), ascending, under
    /// a lock that holds other replicas until this unit of work ends.
    pub async fn write_slots(
        &mut self,
        installation: InstallationId,
        since: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let installation = to_id(installation.0)?;
        if let Some(lock) = self.dialect.lock_write_slots() {
            sqlx::query(lock)
                .bind(installation)
                .execute(self.conn().await?)
                .await?;
        }
        Ok(sqlx::query_scalar(
            "SELECT at FROM github_write_slots WHERE installation_id = $1 AND at >= $2 \
             ORDER BY at",
        )
        .bind(installation)
        .bind(since)
        .fetch_all(self.conn().await?)
        .await?)
    }

    /// Takes the write slot `at` and forgets those before `forget_before`.
    pub async fn take_write_slot(
        &mut self,
        installation: InstallationId,
        at: i64,
        forget_before: i64,
    ) -> Result<(), StoreError> {
        let installation = to_id(installation.0)?;
        sqlx::query("DELETE FROM github_write_slots WHERE installation_id = $1 AND at < $2")
            .bind(installation)
            .bind(forget_before)
            .execute(self.conn().await?)
            .await?;
        sqlx::query("INSERT INTO github_write_slots (installation_id, at) VALUES ($1, $2)")
            .bind(installation)
            .bind(at)
            .execute(self.conn().await?)
            .await?;
        Ok(())
    }

    /// Marks the incident's tracking issue as behind its record (a channel published
    /// something it should link), so its next sync rewrites it.
    pub async fn tracking_issue_outdated(
        &mut self,
        incident_id: IncidentId,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE tracking_issues SET synced_revision = 0 WHERE incident_id = $1")
            .bind(incident_id)
            .execute(self.conn().await?)
            .await?;
        Ok(())
    }

    pub async fn save_tracking_link(
        &mut self,
        incident_id: IncidentId,
        link: &TrackingLink,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tracking_issues \
             (incident_id, repository, number, url, status, detail, synced_revision, \
             drafts_comment_id, audience, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (incident_id) DO UPDATE SET \
             repository = excluded.repository, number = excluded.number, url = excluded.url, \
             status = excluded.status, detail = excluded.detail, \
             synced_revision = excluded.synced_revision, \
             drafts_comment_id = excluded.drafts_comment_id, audience = excluded.audience, \
             updated_at = excluded.updated_at",
        )
        .bind(incident_id)
        .bind(&link.repository)
        .bind(link.number)
        .bind(&link.url)
        .bind(link.status.as_str())
        .bind(&link.detail)
        .bind(link.synced_revision)
        .bind(link.drafts_comment_id)
        .bind(
            link.audience
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|error| StoreError::Corrupt(format!("audience: {error}")))?,
        )
        .bind(to_millis(link.updated_at))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }
}

/// The incident whose tracking issue is `repository#number`, inside or outside a unit of work.
async fn tracked_by<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    repository: &RepoName,
    number: u64,
) -> Result<Option<IncidentId>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT incident_id FROM tracking_issues \
         WHERE repository = $1 AND number = $2 AND status = 'open'",
    )
    .bind(repository)
    .bind(to_id(number)?)
    .fetch_optional(executor)
    .await?)
}

impl Work {
    pub async fn incident_tracked_by(
        &mut self,
        repository: &RepoName,
        number: u64,
    ) -> Result<Option<IncidentId>, StoreError> {
        tracked_by(self.conn().await?, repository, number).await
    }

    /// The open tracking issue of an incident, as (repository, number).
    pub async fn tracking_issue_of(
        &mut self,
        incident_id: IncidentId,
    ) -> Result<Option<(RepoName, u64)>, StoreError> {
        let row: Option<(Option<RepoName>, Option<i64>)> = sqlx::query_as(
            "SELECT repository, number FROM tracking_issues \
             WHERE incident_id = $1 AND status = 'open'",
        )
        .bind(incident_id)
        .fetch_optional(self.conn().await?)
        .await?;
        Ok(row.and_then(|(repository, number)| Some((repository?, u64::try_from(number?).ok()?))))
    }
}

fn to_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::Corrupt(format!("id {id} out of range")))
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

    /// The active installations whose account type herald has not recorded (installed
    /// before it did).
    pub async fn installations_of_unknown_account_type(
        &self,
    ) -> Result<Vec<InstallationId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM installations WHERE state = 'active' AND account_type IS NULL \
             ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(ids
            .into_iter()
            .filter_map(|id| Some(InstallationId(u64::try_from(id).ok()?)))
            .collect())
    }

    /// Records an installation's account type as GitHub gave it.
    pub async fn save_installation_account_type(
        &self,
        id: InstallationId,
        account_type: &str,
    ) -> Result<(), StoreError> {
        let query = sqlx::query("UPDATE installations SET account_type = $1 WHERE id = $2")
            .bind(account_type)
            .bind(to_id(id.0)?);
        self.execute_alone(query, false).await.map(drop)
    }

    /// What [`Store::served_repositories`] gives, each with the login of the organisation
    /// whose installation serves it (`None` for a user's, or one of unknown account type).
    /// One statement, so a poll round never sees an installation's repositories without
    /// the installation they came with.
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
        .fetch_all(&self.reader)
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

    pub async fn incident_tracked_by(
        &self,
        repository: &RepoName,
        number: u64,
    ) -> Result<Option<IncidentId>, StoreError> {
        tracked_by(&self.reader, repository, number).await
    }

    /// The active installation that serves `repository`.
    pub async fn installation_for(
        &self,
        repository: &RepoName,
    ) -> Result<Option<InstallationId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT r.installation_id FROM repositories r \
             LEFT JOIN installations i ON i.id = r.installation_id \
             WHERE r.full_name = $1 AND COALESCE(i.state, 'active') = 'active'",
        )
        .bind(repository)
        .fetch_optional(&self.reader)
        .await?;
        Ok(id.and_then(|id| u64::try_from(id).ok()).map(InstallationId))
    }

    /// The active installation on `account` (an App is installed at most once per account,
    /// so it serves every repository of the account it can see).
    pub async fn installation_for_account(
        &self,
        account: &str,
    ) -> Result<Option<InstallationId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM installations WHERE LOWER(account) = LOWER($1) AND state = 'active'",
        )
        .bind(account)
        .fetch_optional(&self.reader)
        .await?;
        Ok(id.and_then(|id| u64::try_from(id).ok()).map(InstallationId))
    }

    /// A repository's dependencies as read at or after `fresh_since`: `None` when not
    /// cached (or too old), `Some(None)` when its dependency graph was off.
    pub async fn cached_dependencies(
        &self,
        repository: &RepoName,
        fresh_since: DateTime<Utc>,
    ) -> Result<Option<Option<Vec<Dependency>>>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT dependencies FROM dependency_graphs WHERE repository = $1 AND fetched_at >= $2",
        )
        .bind(repository)
        .bind(to_millis(fresh_since))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|(text,)| {
            text.map(|text| {
                serde_json::from_str(&text).map_err(|error| StoreError::Corrupt(error.to_string()))
            })
            .transpose()
        })
        .transpose()
    }

    pub async fn installations(&self) -> Result<Vec<StoredInstallation>, StoreError> {
        let rows = sqlx::query("SELECT id, account, state FROM installations ORDER BY id")
            .fetch_all(&self.reader)
            .await?;
        let mut installations = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let repositories = sqlx::query_scalar(
                "SELECT full_name FROM repositories WHERE installation_id = $1 ORDER BY full_name",
            )
            .bind(id)
            .fetch_all(&self.reader)
            .await?;
            installations.push(StoredInstallation {
                id,
                account: row.try_get("account")?,
                state: row.try_get("state")?,
                repositories,
            });
        }
        Ok(installations)
    }

    /// The drafts last rendered for review, as (template name, text).
    pub async fn drafts(
        &self,
        incident_id: IncidentId,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT name, text FROM drafts WHERE incident_id = $1 ORDER BY name")
                .bind(incident_id)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    pub async fn tracking_link(
        &self,
        incident_id: IncidentId,
    ) -> Result<Option<TrackingLink>, StoreError> {
        let row = sqlx::query(
            "SELECT repository, number, url, status, detail, synced_revision, drafts_comment_id, \
             audience, updated_at FROM tracking_issues WHERE incident_id = $1",
        )
        .bind(incident_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        let audience: Option<String> = row.try_get("audience")?;
        let audience = audience
            .map(|text| serde_json::from_str::<Audience>(&text))
            .transpose()
            .map_err(|error| StoreError::Corrupt(format!("tracking issue audience: {error}")))?;
        Ok(Some(TrackingLink {
            status: match status.as_str() {
                "open" => TrackingStatus::Open,
                "refused" => TrackingStatus::Refused,
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "tracking issue status {other:?}"
                    )));
                }
            },
            repository: row.try_get("repository")?,
            number: row.try_get("number")?,
            url: row.try_get("url")?,
            detail: row.try_get("detail")?,
            synced_revision: row.try_get("synced_revision")?,
            drafts_comment_id: row.try_get("drafts_comment_id")?,
            audience,
            updated_at: from_millis(row.try_get("updated_at")?)?,
        }))
    }
}
