//! Incidents and their timelines.

use super::IncidentId;
use super::{Store, StoreError, Work, from_millis, to_millis};
use crate::incident::{DeliveryId, GhsaId, Incident, Phase, RepoName, Severity, TimelineEntry};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub id: IncidentId,
    /// Bumped on every change of the record.
    pub revision: i64,
    pub incident: Incident,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which incidents `herald incidents list` shows: a page of `limit` (pages count from 1),
/// narrowed by any of phase, severity and repository.
#[derive(Debug, Clone)]
pub struct IncidentFilter {
    pub limit: u32,
    pub page: u32,
    pub phase: Option<Phase>,
    pub severity: Option<Severity>,
    pub repository: Option<RepoName>,
}

impl Default for IncidentFilter {
    fn default() -> Self {
        IncidentFilter {
            limit: 50,
            page: 1,
            phase: None,
            severity: None,
            repository: None,
        }
    }
}

/// A timeline entry added in a unit of work, written when it commits.
pub(super) struct TimelineRow {
    incident_id: IncidentId,
    entry: TimelineEntry,
    delivery_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StoredTimelineEntry {
    pub entry: TimelineEntry,
    /// The delivery that caused it, where one did.
    pub delivery_id: Option<String>,
}

const INCIDENT_COLUMNS: &str = "id, revision, record, created_at, updated_at";

fn incident_row(row: &AnyRow) -> Result<IncidentRow, StoreError> {
    let record: String = row.try_get("record")?;
    let id: i64 = row.try_get("id")?;
    let incident = serde_json::from_str(&record)
        .map_err(|error| StoreError::Corrupt(format!("incident {id}: {error}")))?;
    Ok(IncidentRow {
        id: IncidentId(id),
        revision: row.try_get("revision")?,
        incident,
        created_at: from_millis(row.try_get("created_at")?)?,
        updated_at: from_millis(row.try_get("updated_at")?)?,
    })
}

impl Work {
    /// Reads the incidents of `keys` (repository, GHSA id) in one query, for
    /// [`Work::find_incident`] to answer from.
    pub async fn read_ahead_incidents(
        &mut self,
        keys: &[(RepoName, GhsaId)],
    ) -> Result<(), StoreError> {
        let keys: Vec<&(RepoName, GhsaId)> = keys
            .iter()
            .filter(|key| !self.incidents_ahead.contains_key(*key))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let repositories = self.dialect.placeholders(1, keys.len());
        let ghsa_ids = self.dialect.placeholders(keys.len() + 1, keys.len());
        // A superset of the keys, by two lists rather than one OR per key: any plan then
        // reads the GHSA id index once. Rows of other keys are left out below.
        // In id order, so units of work reading overlapping incidents lock them in one
        // order.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents \
             WHERE repository IN ({repositories}) AND ghsa_id IN ({ghsa_ids}) ORDER BY id{}",
            self.dialect.lock_rows()
        )));
        for (repository, _) in &keys {
            query = query.bind(repository.as_str());
        }
        for (_, ghsa_id) in &keys {
            query = query.bind(ghsa_id.as_str());
        }
        let rows = query.fetch_all(self.conn().await?).await?;
        for key in &keys {
            self.incidents_ahead.insert((*key).clone(), None);
        }
        for row in rows.iter().map(incident_row) {
            let row = row?;
            let key = (
                row.incident.repository.clone(),
                row.incident.ghsa_id.clone(),
            );
            if keys.contains(&&key) {
                self.incidents_ahead.insert(key, Some(row));
            }
        }
        Ok(())
    }

    pub async fn find_incident(
        &mut self,
        repository: &RepoName,
        ghsa_id: &GhsaId,
    ) -> Result<Option<IncidentRow>, StoreError> {
        if let Some(known) = self
            .incidents_ahead
            .get(&(repository.clone(), ghsa_id.clone()))
        {
            return Ok(known.clone());
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE repository = $1 AND ghsa_id = $2{}",
            self.dialect.lock_rows()
        )))
        .bind(repository)
        .bind(ghsa_id)
        .fetch_optional(self.conn().await?)
        .await?
        .as_ref()
        .map(incident_row)
        .transpose()
    }

    /// The incidents of `repository`.
    pub async fn incidents_of(
        &mut self,
        repository: &RepoName,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE repository = $1 ORDER BY id{}",
            self.dialect.lock_rows()
        )))
        .bind(repository)
        .fetch_all(self.conn().await?)
        .await?
        .iter()
        .map(incident_row)
        .collect()
    }

    /// The incidents pull request `number` of `repository` was linked to as a fix.
    pub async fn incidents_fixed_by(
        &mut self,
        repository: &RepoName,
        number: u64,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id IN \
             (SELECT incident_id FROM fix_pulls WHERE repository = $1 AND number = $2) \
             ORDER BY id{}",
            self.dialect.lock_rows()
        )))
        .bind(repository)
        .bind(i64::try_from(number).unwrap_or(i64::MAX))
        .fetch_all(self.conn().await?)
        .await?
        .iter()
        .map(incident_row)
        .collect()
    }

    /// Remembers that pull request `number` of `repository` fixes `incident_id`.
    pub async fn link_fix(
        &mut self,
        repository: &RepoName,
        number: u64,
        incident_id: IncidentId,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fix_pulls (repository, number, incident_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(repository)
        .bind(i64::try_from(number).unwrap_or(i64::MAX))
        .bind(incident_id)
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Inserts or updates the incident (unique per repository and GHSA id); returns its id
    /// and new revision.
    pub async fn save_incident(
        &mut self,
        incident: &Incident,
        now: DateTime<Utc>,
    ) -> Result<(IncidentId, i64), StoreError> {
        let key = (incident.repository.clone(), incident.ghsa_id.clone());
        // An incident read ahead as absent, or created in this unit of work and not yet
        // written, is saved in memory and written with the others (see `Work::conn`).
        let created_here = self.new_incidents.contains(&key);
        match self.incidents_ahead.get(&key) {
            Some(None) => {
                let id = IncidentId(self.reserve_incident_id().await?);
                let row = IncidentRow {
                    id,
                    revision: 1,
                    incident: incident.clone(),
                    created_at: now,
                    updated_at: now,
                };
                self.incidents_ahead.insert(key.clone(), Some(row));
                self.new_incidents.push(key);
                return Ok((id, 1));
            }
            Some(Some(_)) if created_here => {
                if let Some(Some(row)) = self.incidents_ahead.get_mut(&key) {
                    row.revision += 1;
                    row.incident = incident.clone();
                    row.updated_at = now;
                    return Ok((row.id, row.revision));
                }
            }
            _ => {}
        }
        let record = serde_json::to_string(incident)?;
        let saved = sqlx::query_as(
            "INSERT INTO incidents \
             (repository, ghsa_id, phase, severity, record, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (repository, ghsa_id) DO UPDATE SET \
             phase = excluded.phase, severity = excluded.severity, record = excluded.record, \
             updated_at = excluded.updated_at, revision = incidents.revision + 1 \
             RETURNING id, revision",
        )
        .bind(&incident.repository)
        .bind(incident.ghsa_id.as_str())
        .bind(incident.phase.as_str())
        .bind(incident.severity.as_str())
        .bind(record)
        .bind(to_millis(now))
        .fetch_one(self.conn().await?)
        .await?;
        // A later delivery of the batch about this incident reads it as saved.
        if let Some(ahead) = self.incidents_ahead.get_mut(&key) {
            let (id, revision) = saved;
            let created_at = ahead.as_ref().map_or(now, |row| row.created_at);
            *ahead = Some(IncidentRow {
                id,
                revision,
                incident: incident.clone(),
                created_at,
                updated_at: now,
            });
        }
        Ok(saved)
    }

    /// An id for an incident this unit of work creates, from a block taken for the incidents
    /// read ahead as absent: one statement for a batch. On PostgreSQL the block comes from
    /// the id sequence; SQLite's write transaction excludes every other writer, so ids past
    /// the largest ever given are free until this unit of work writes another incident
    /// (`Work::conn` then lets the rest go).
    async fn reserve_incident_id(&mut self) -> Result<i64, StoreError> {
        if let Some(id) = self.reserved_incident_ids.pop_front() {
            return Ok(id);
        }
        let wanted = self
            .incidents_ahead
            .values()
            .filter(|row| row.is_none())
            .count()
            .max(1);
        let dialect = self.dialect;
        let ids: Vec<i64> = match dialect {
            super::Dialect::Sqlite => {
                let last: i64 = sqlx::query_scalar(
                    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence \
                     WHERE name = 'incidents'), 0), COALESCE((SELECT MAX(id) FROM incidents), 0))",
                )
                .fetch_one(self.conn().await?)
                .await?;
                (last + 1..).take(wanted).collect()
            }
            super::Dialect::Postgres => {
                sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('incidents', 'id')) \
                     FROM generate_series(1, $1)",
                )
                .bind(i64::try_from(wanted).unwrap_or(i64::MAX))
                .fetch_all(self.conn().await?)
                .await?
            }
        };
        self.reserved_incident_ids.extend(ids);
        self.reserved_incident_ids
            .pop_front()
            .ok_or_else(|| StoreError::Corrupt("no incident id was reserved".to_owned()))
    }

    /// Writes the incidents this unit of work created, a few hundred to a statement.
    pub(super) async fn write_new_incidents(&mut self) -> Result<(), StoreError> {
        const COLUMNS: usize = 9;
        if self.dialect == super::Dialect::Sqlite {
            // The next statement may insert an incident with SQLite's next id.
            self.reserved_incident_ids.clear();
        }
        if self.new_incidents.is_empty() {
            return Ok(());
        }
        let keys = std::mem::take(&mut self.new_incidents);
        let rows: Vec<&IncidentRow> = keys
            .iter()
            .filter_map(|key| self.incidents_ahead.get(key).and_then(Option::as_ref))
            .collect();
        for chunk in rows.chunks(super::queue::WRITE_CHUNK) {
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO incidents (id, revision, repository, ghsa_id, phase, severity, \
                 record, created_at, updated_at) VALUES {}",
                self.dialect.value_rows(chunk.len(), COLUMNS)
            )));
            for row in chunk {
                let incident = &row.incident;
                insert = insert
                    .bind(row.id)
                    .bind(row.revision)
                    .bind(incident.repository.as_str())
                    .bind(incident.ghsa_id.as_str())
                    .bind(incident.phase.as_str())
                    .bind(incident.severity.as_str())
                    .bind(serde_json::to_string(incident)?)
                    .bind(to_millis(row.created_at))
                    .bind(to_millis(row.updated_at));
            }
            insert.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Adds entries to an incident's timeline (written when the unit of work commits).
    pub fn append_timeline(
        &mut self,
        incident_id: IncidentId,
        entries: &[TimelineEntry],
        delivery_id: Option<&DeliveryId>,
    ) -> Result<(), StoreError> {
        self.timeline
            .extend(entries.iter().map(|entry| TimelineRow {
                incident_id,
                entry: entry.clone(),
                delivery_id: delivery_id.map(DeliveryId::to_string),
            }));
        Ok(())
    }

    /// Writes the timeline entries added in this unit of work, in order, a few hundred to a
    /// statement.
    pub(super) async fn write_timeline(&mut self) -> Result<(), StoreError> {
        const COLUMNS: usize = 6;
        let rows = std::mem::take(&mut self.timeline);
        for chunk in rows.chunks(super::queue::WRITE_CHUNK) {
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO timeline (incident_id, at, actor, kind, detail, delivery_id) \
                 VALUES {}",
                self.dialect.value_rows(chunk.len(), COLUMNS)
            )));
            for row in chunk {
                insert = insert
                    .bind(row.incident_id)
                    .bind(to_millis(row.entry.at))
                    .bind(row.entry.actor.as_deref())
                    .bind(row.entry.kind.as_str())
                    .bind(row.entry.detail.as_str())
                    .bind(row.delivery_id.as_deref());
            }
            insert.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}

impl Store {
    /// How many incidents are in each phase and severity.
    pub async fn incident_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT phase, severity, COUNT(*) AS incidents FROM incidents \
             GROUP BY phase, severity ORDER BY phase, severity",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("phase")?,
                    row.try_get("severity")?,
                    row.try_get("incidents")?,
                ))
            })
            .collect()
    }
}

impl Store {
    pub async fn incident(
        &self,
        incident_id: IncidentId,
    ) -> Result<Option<IncidentRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
        )))
        .bind(incident_id)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(incident_row)
        .transpose()
    }

    /// All incidents, most recently changed first.
    /// Every incident, most recently changed first.
    pub async fn all_incidents(&self) -> Result<Vec<IncidentRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY updated_at DESC, id DESC"
        )))
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(incident_row)
        .collect()
    }

    /// One page of the incidents `filter` selects, most recently changed first, and how
    /// many it selects in all. Each filter has its index (migration 0010), so a page costs
    /// the same however many incidents there are.
    pub async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<(Vec<IncidentRow>, i64), StoreError> {
        let mut conditions = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        for (column, value) in [
            ("phase", filter.phase.map(Phase::as_str)),
            ("severity", filter.severity.map(Severity::as_str)),
            (
                "repository",
                filter.repository.as_ref().map(RepoName::as_str),
            ),
        ] {
            if let Some(value) = value {
                values.push(value);
                conditions.push(format!("{column} = ${}", values.len()));
            }
        }
        let filtered = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) FROM incidents{filtered}");
        let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
        let page_sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents{filtered} \
             ORDER BY updated_at DESC, id DESC LIMIT ${} OFFSET ${}",
            values.len() + 1,
            values.len() + 2
        );
        let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql));
        for value in &values {
            count = count.bind(*value);
            page = page.bind(*value);
        }
        let total = count.fetch_one(&self.reader).await?;
        let rows = page
            .bind(i64::from(filter.limit))
            .bind(i64::from(filter.limit) * i64::from(filter.page.saturating_sub(1)))
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(incident_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, total))
    }

    /// Incidents with this GHSA id (one, unless two repositories share it).
    pub async fn incidents_by_ghsa(
        &self,
        ghsa_id: &GhsaId,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ghsa_id = $1 ORDER BY repository"
        )))
        .bind(ghsa_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(incident_row)
        .collect()
    }

    /// The timeline entries alone, oldest first.
    pub async fn timeline_entries(
        &self,
        incident_id: IncidentId,
    ) -> Result<Vec<TimelineEntry>, StoreError> {
        Ok(self
            .timeline(incident_id)
            .await?
            .into_iter()
            .map(|stored| stored.entry)
            .collect())
    }

    pub async fn timeline(
        &self,
        incident_id: IncidentId,
    ) -> Result<Vec<StoredTimelineEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, kind, detail, delivery_id FROM timeline \
             WHERE incident_id = $1 ORDER BY id",
        )
        .bind(incident_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(StoredTimelineEntry {
                    entry: TimelineEntry {
                        at: from_millis(row.try_get("at")?)?,
                        actor: row.try_get("actor")?,
                        kind: kind.parse().map_err(StoreError::Corrupt)?,
                        detail: row.try_get("detail")?,
                    },
                    delivery_id: row.try_get("delivery_id")?,
                })
            })
            .collect()
    }
}
