//! Each incident's private tracking issue (its link, whether it is up to date) and the
//! drafts shown on it.

use super::IncidentId;
use super::{Store, StoreError, Work, from_millis, to_id, to_millis};
use crate::incident::{Audience, RepoName};
use chrono::{DateTime, Utc};
use sqlx::Row;

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

impl Store {
    pub async fn incident_tracked_by(
        &self,
        repository: &RepoName,
        number: u64,
    ) -> Result<Option<IncidentId>, StoreError> {
        tracked_by(&self.reader, repository, number).await
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
