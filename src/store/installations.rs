//! herald's GitHub App installations, the repositories each serves (and since when),
//! their dependencies, and each installation's slots of content-creating requests.

use super::InstallationId;
use super::{Store, StoreError, Work, from_millis, to_id, to_millis};
use crate::incident::{Dependency, RepoName};
use chrono::{DateTime, Utc};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstallation {
    pub id: i64,
    pub account: String,
    /// `active`, `suspended` or `deleted`.
    pub state: String,
    pub repositories: Vec<String>,
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
}

impl Store {
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
}
