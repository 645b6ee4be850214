//! Software the project runs, as its upstreams announce it: each item judged once per
//! product, the product incidents, and what each source last answered.

use super::{Store, StoreError, Work, from_millis, to_id, to_millis};
use crate::incident::{ProductIncident, ProductIncidentId, RepoName};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A product incident as kept, with its issue.
#[derive(Debug, Clone)]
pub struct ProductIncidentRow {
    pub id: ProductIncidentId,
    pub incident: ProductIncident,
    /// Its issue, once opened: repository, number, address.
    pub issue: Option<(RepoName, u64, String)>,
    /// How many of its sightings its issue names.
    pub told: usize,
}

/// An item of a source as judged for a product.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JudgedItem {
    pub seen_at: DateTime<Utc>,
    pub product: String,
    /// `not_security`, `not_this_product`, `not_deployed`, `affects` or `history`.
    pub verdict: String,
    pub source: String,
    pub item: String,
    pub incident: Option<ProductIncidentId>,
}

/// What a source last answered: the validators of a conditional request, and how many
/// reads in a row failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub failures: u32,
    /// When herald last read it (or failed to).
    pub checked_at: Option<DateTime<Utc>>,
}

const ROW: &str = "SELECT id, record, repository, issue_number, issue_url, told \
                   FROM product_incidents";

fn row_of(row: &AnyRow) -> Result<ProductIncidentRow, StoreError> {
    let record: String = row.try_get("record")?;
    let incident = serde_json::from_str(&record)
        .map_err(|error| StoreError::Corrupt(format!("a product incident's record: {error}")))?;
    let repository: Option<String> = row.try_get("repository")?;
    let number: Option<i64> = row.try_get("issue_number")?;
    let url: Option<String> = row.try_get("issue_url")?;
    let issue = match (repository, number, url) {
        (Some(repository), Some(number), Some(url)) => Some((
            RepoName::parse(&repository).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            u64::try_from(number).unwrap_or_default(),
            url,
        )),
        _ => None,
    };
    let told: i64 = row.try_get("told")?;
    Ok(ProductIncidentRow {
        id: ProductIncidentId(row.try_get("id")?),
        incident,
        issue,
        told: usize::try_from(told).unwrap_or_default(),
    })
}

/// Whether `item` of `source` was judged for `product` before, asked of `executor` (a unit
/// of work's connection, or the readers).
async fn seen<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    (source, item): (&str, &str),
    product: &str,
) -> Result<bool, StoreError> {
    let seen: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM upstream_items WHERE source = $1 AND item = $2 AND product = $3",
    )
    .bind(source)
    .bind(item)
    .bind(product)
    .fetch_optional(executor)
    .await?;
    Ok(seen.is_some())
}

impl Work {
    /// Whether `item` of `source` was judged for `product` before.
    pub async fn item_seen(
        &mut self,
        (source, item): (&str, &str),
        product: &str,
    ) -> Result<bool, StoreError> {
        seen(self.conn().await?, (source, item), product).await
    }

    /// Records what `item` of `source` was to `product`, and the incident it opened or joined.
    pub async fn save_item(
        &mut self,
        (source, item): (&str, &str),
        product: &str,
        verdict: &str,
        incident: Option<ProductIncidentId>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO upstream_items (source, item, product, verdict, incident_id, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, item, product) DO NOTHING",
        )
        .bind(source)
        .bind(item)
        .bind(product)
        .bind(verdict)
        .bind(incident)
        .bind(to_millis(Utc::now()))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// The incident of `product` that knows one of `ids`.
    pub async fn product_incident_naming(
        &mut self,
        product: &str,
        ids: &[String],
    ) -> Result<Option<ProductIncidentRow>, StoreError> {
        for id in ids {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{ROW} WHERE id = (SELECT incident_id FROM product_incident_ids \
                 WHERE product = $1 AND vulnerability_id = $2)"
            )))
            .bind(product)
            .bind(id.as_str())
            .fetch_optional(self.conn().await?)
            .await?;
            if let Some(row) = row {
                return row_of(&row).map(Some);
            }
        }
        Ok(None)
    }

    /// Saves `incident` (new when `id` is `None`) and every id it knows.
    pub async fn save_product_incident(
        &mut self,
        id: Option<ProductIncidentId>,
        incident: &ProductIncident,
    ) -> Result<ProductIncidentId, StoreError> {
        let record = serde_json::to_string(incident)?;
        let now = to_millis(Utc::now());
        let id = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE product_incidents SET record = $1, severity = $2, updated_at = $3 \
                     WHERE id = $4",
                )
                .bind(record)
                .bind(incident.severity.as_str())
                .bind(now)
                .bind(id)
                .execute(self.conn().await?)
                .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO product_incidents (product, incident_key, record, severity, \
                     told, opened_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $6) \
                     RETURNING id",
                )
                .bind(incident.product.as_str())
                .bind(incident.key.as_str())
                .bind(record)
                .bind(incident.severity.as_str())
                .bind(to_millis(incident.opened_at))
                .bind(now)
                .fetch_one(self.conn().await?)
                .await?
            }
        };
        for vulnerability in &incident.ids {
            sqlx::query(
                "INSERT INTO product_incident_ids (product, vulnerability_id, incident_id) \
                 VALUES ($1, $2, $3) ON CONFLICT (product, vulnerability_id) DO NOTHING",
            )
            .bind(incident.product.as_str())
            .bind(vulnerability.as_str())
            .bind(id)
            .execute(self.conn().await?)
            .await?;
        }
        Ok(id)
    }

    /// Records incident `id`'s issue, and that it names the first `told` sightings.
    pub async fn product_issue_told(
        &mut self,
        id: ProductIncidentId,
        (repository, number, url): (&RepoName, u64, &str),
        told: usize,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE product_incidents SET repository = $1, issue_number = $2, issue_url = $3, \
             told = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(repository.as_str())
        .bind(to_id(number)?)
        .bind(url)
        .bind(i64::try_from(told).unwrap_or(i64::MAX))
        .bind(to_millis(Utc::now()))
        .bind(id)
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Records what `url` answered: its validators (kept when it sent none) on success, a
    /// further failure otherwise.
    pub async fn save_source_state(
        &mut self,
        url: &str,
        answered: Option<(Option<&str>, Option<&str>)>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (etag, last_modified, failed) = match answered {
            Some((etag, last_modified)) => (etag, last_modified, 0),
            None => (None, None, 1),
        };
        sqlx::query(
            "INSERT INTO upstream_sources (url, etag, last_modified, checked_at, failures) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (url) DO UPDATE SET \
             etag = COALESCE(excluded.etag, upstream_sources.etag), \
             last_modified = COALESCE(excluded.last_modified, upstream_sources.last_modified), \
             checked_at = excluded.checked_at, \
             failures = CASE WHEN excluded.failures = 0 THEN 0 \
             ELSE upstream_sources.failures + 1 END",
        )
        .bind(url)
        .bind(etag)
        .bind(last_modified)
        .bind(to_millis(at))
        .bind(failed)
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }
}

impl Store {
    /// [`Work::item_seen`], read outside any unit of work.
    pub async fn item_seen(
        &self,
        (source, item): (&str, &str),
        product: &str,
    ) -> Result<bool, StoreError> {
        seen(&self.reader, (source, item), product).await
    }

    pub async fn product_incident(
        &self,
        id: ProductIncidentId,
    ) -> Result<Option<ProductIncidentRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{ROW} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(row_of).transpose()
    }

    /// Every product incident, newest first.
    pub async fn product_incidents(&self) -> Result<Vec<ProductIncidentRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{ROW} ORDER BY id DESC")))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(row_of).collect()
    }

    /// The items judged last, newest first: when, product, verdict, source, item, and the
    /// incident each opened or joined.
    pub async fn upstream_items(&self, limit: i64) -> Result<Vec<JudgedItem>, StoreError> {
        let rows: Vec<(i64, String, String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT seen_at, product, verdict, source, item, incident_id FROM upstream_items \
             WHERE item <> '' ORDER BY seen_at DESC, source, item LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(seen_at, product, verdict, source, item, incident)| {
                Ok(JudgedItem {
                    seen_at: from_millis(seen_at)?,
                    product,
                    verdict,
                    source,
                    item,
                    incident: incident.map(ProductIncidentId),
                })
            })
            .collect()
    }

    /// Whether herald read any item of `source` for `product` before.
    pub async fn source_known(&self, source: &str, product: &str) -> Result<bool, StoreError> {
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM upstream_items WHERE source = $1 AND product = $2 LIMIT 1",
        )
        .bind(source)
        .bind(product)
        .fetch_optional(&self.reader)
        .await?;
        Ok(known.is_some())
    }

    /// What `url` last answered, if herald read it before.
    pub async fn source_state(&self, url: &str) -> Result<Option<SourceState>, StoreError> {
        let row: Option<(Option<String>, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT etag, last_modified, failures, checked_at FROM upstream_sources \
             WHERE url = $1",
        )
        .bind(url)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|(etag, last_modified, failures, checked_at)| {
            Ok(SourceState {
                etag,
                last_modified,
                failures: u32::try_from(failures).unwrap_or(u32::MAX),
                checked_at: Some(from_millis(checked_at)?),
            })
        })
        .transpose()
    }
}
