//! Where incidents were published on channels outside GitHub's issues.

use super::IncidentId;
use super::{Store, StoreError, Work, to_millis};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPost {
    pub reference: String,
    pub url: String,
    pub text_sha256: String,
}

impl Store {
    pub async fn channel_post(
        &self,
        incident_id: IncidentId,
        channel: &str,
    ) -> Result<Option<ChannelPost>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT reference, url, text_sha256 FROM channel_posts \
             WHERE incident_id = $1 AND channel = $2",
        )
        .bind(incident_id)
        .bind(channel)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|(reference, url, text_sha256)| ChannelPost {
            reference,
            url,
            text_sha256,
        }))
    }

    /// Every channel an incident was published on, as (channel, url).
    pub async fn channel_urls(
        &self,
        incident_id: IncidentId,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT channel, url FROM channel_posts WHERE incident_id = $1 ORDER BY channel",
        )
        .bind(incident_id)
        .fetch_all(&self.reader)
        .await?)
    }
}

impl Work {
    pub async fn save_channel_post(
        &mut self,
        incident_id: IncidentId,
        channel: &str,
        post: &ChannelPost,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO channel_posts (incident_id, channel, reference, url, text_sha256, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (incident_id, channel) DO UPDATE SET \
             reference = excluded.reference, url = excluded.url, \
             text_sha256 = excluded.text_sha256, updated_at = excluded.updated_at",
        )
        .bind(incident_id)
        .bind(channel)
        .bind(&post.reference)
        .bind(&post.url)
        .bind(&post.text_sha256)
        .bind(to_millis(at))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }
}
