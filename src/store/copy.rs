//! `herald store copy`: moves a store to another database (SQLite to PostgreSQL, when a
//! project outgrows one process), every table row for row in one transaction, into an
//! empty target.

use super::{Dialect, Store, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

/// How a column is read from one database and written to the other.
#[derive(Clone, Copy)]
enum Column {
    Text,
    Integer,
    Bytes,
    Boolean,
}

use Column::{Boolean, Bytes, Integer, Text};

/// Every table, parents before children (foreign keys), with its columns.
const TABLES: &[(&str, &[(&str, Column)])] = &[
    (
        "deliveries",
        &[
            ("delivery_id", Text),
            ("event", Text),
            ("action", Text),
            ("repository", Text),
            ("installation_id", Integer),
            ("payload_lz4", Bytes),
            ("body_signature", Bytes),
            ("received_at", Integer),
        ],
    ),
    (
        "outbox",
        &[
            ("id", Integer),
            ("kind", Text),
            ("idempotency_key", Text),
            ("payload", Text),
            ("state", Text),
            ("attempts", Integer),
            ("run_after", Integer),
            ("last_error", Text),
            ("created_at", Integer),
            ("finished_at", Integer),
            ("locked_until", Integer),
            ("outcome", Text),
            ("claims", Integer),
            ("priority", Integer),
            ("lane", Text),
            ("incident_id", Integer),
        ],
    ),
    (
        "incidents",
        &[
            ("id", Integer),
            ("repository", Text),
            ("ghsa_id", Text),
            ("phase", Text),
            ("severity", Text),
            ("record", Text),
            ("created_at", Integer),
            ("updated_at", Integer),
            ("revision", Integer),
        ],
    ),
    (
        "timeline",
        &[
            ("id", Integer),
            ("incident_id", Integer),
            ("at", Integer),
            ("actor", Text),
            ("kind", Text),
            ("detail", Text),
            ("delivery_id", Text),
        ],
    ),
    (
        "installations",
        &[
            ("id", Integer),
            ("account", Text),
            ("state", Text),
            ("updated_at", Integer),
            ("account_type", Text),
        ],
    ),
    (
        "repositories",
        &[
            ("full_name", Text),
            ("installation_id", Integer),
            ("private", Boolean),
            ("updated_at", Integer),
            ("first_seen_at", Integer),
        ],
    ),
    (
        "tracking_issues",
        &[
            ("incident_id", Integer),
            ("repository", Text),
            ("number", Integer),
            ("url", Text),
            ("status", Text),
            ("detail", Text),
            ("synced_revision", Integer),
            ("drafts_comment_id", Integer),
            ("audience", Text),
            ("updated_at", Integer),
        ],
    ),
    (
        "drafts",
        &[
            ("incident_id", Integer),
            ("name", Text),
            ("text", Text),
            ("updated_at", Integer),
        ],
    ),
    (
        "advisory_polls",
        &[("repository", Text), ("etag", Text), ("polled_at", Integer)],
    ),
    (
        "dependency_graphs",
        &[
            ("repository", Text),
            ("dependencies", Text),
            ("fetched_at", Integer),
        ],
    ),
    (
        "channel_posts",
        &[
            ("incident_id", Integer),
            ("channel", Text),
            ("reference", Text),
            ("url", Text),
            ("text_sha256", Text),
            ("updated_at", Integer),
        ],
    ),
    (
        "fix_pulls",
        &[
            ("repository", Text),
            ("number", Integer),
            ("incident_id", Integer),
        ],
    ),
    (
        "github_write_slots",
        &[("installation_id", Integer), ("at", Integer)],
    ),
    // Where the scans for failed deliveries stand (a claim is not copied: it is a running
    // process's), and what herald asked GitHub for.
    (
        "redelivery_scans",
        &[
            ("name", Text),
            ("scanned_through", Integer),
            ("scanned_at", Integer),
        ],
    ),
    (
        "redelivery_requests",
        &[
            ("guid", Text),
            ("attempt_id", Integer),
            ("event", Text),
            ("action", Text),
            ("requests", Integer),
            ("requested_at", Integer),
            ("refusal", Text),
        ],
    ),
    (
        "intakes",
        &[
            ("id", Integer),
            ("digest", Text),
            ("source", Text),
            ("received_at", Integer),
            ("message_id", Text),
            ("sender", Text),
            ("reply_to", Integer),
            ("kind", Text),
            ("reason", Text),
            ("raw", Bytes),
            ("state", Text),
            ("repository", Text),
            ("issue_number", Integer),
            ("issue_url", Text),
            ("advisory_repository", Text),
            ("ghsa_id", Text),
            ("decided_by", Text),
            ("decision", Text),
            ("acknowledged_to", Text),
            ("acknowledged_at", Integer),
            ("updated_at", Integer),
        ],
    ),
    (
        "intake_answers",
        &[
            ("message_id", Text),
            ("intake_id", Integer),
            ("sent_at", Integer),
        ],
    ),
    (
        "intake_mailboxes",
        &[
            ("name", Text),
            ("uid_validity", Integer),
            ("last_uid", Integer),
            ("updated_at", Integer),
        ],
    ),
    (
        "upstream_items",
        &[
            ("source", Text),
            ("item", Text),
            ("product", Text),
            ("verdict", Text),
            ("incident_id", Integer),
            ("seen_at", Integer),
        ],
    ),
    (
        "product_incidents",
        &[
            ("id", Integer),
            ("product", Text),
            ("incident_key", Text),
            ("record", Text),
            ("severity", Text),
            ("repository", Text),
            ("issue_number", Integer),
            ("issue_url", Text),
            ("told", Integer),
            ("opened_at", Integer),
            ("updated_at", Integer),
        ],
    ),
    (
        "product_incident_ids",
        &[
            ("product", Text),
            ("vulnerability_id", Text),
            ("incident_id", Integer),
        ],
    ),
    (
        "upstream_sources",
        &[
            ("url", Text),
            ("etag", Text),
            ("last_modified", Text),
            ("checked_at", Integer),
            ("failures", Integer),
        ],
    ),
];

/// Tables whose ids the database hands out: after a copy, PostgreSQL's sequences go on
/// from the copied ids.
const SERIAL_TABLES: [&str; 5] = [
    "outbox",
    "incidents",
    "timeline",
    "intakes",
    "product_incidents",
];

/// What was copied: rows per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied(pub Vec<(&'static str, u64)>);

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target store is not empty ({table} has rows): herald copies into an empty database only"
    )]
    NotEmpty { table: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(error: sqlx::Error) -> CopyError {
        CopyError::Store(StoreError::Sql(error))
    }
}

/// Deliveries whose jobs a copy queues at a time in a SQLite source, before copying.
const COPY_QUEUEING: u32 = 1_000;

impl Store {
    /// Copies every row of this store into `target`, which must be empty, in one
    /// transaction on the target. A SQLite store first gets the processing jobs of the
    /// deliveries its worker had not yet queued (see `Work::queue_admitted`), so that each
    /// copied delivery has its job, and a SQLite target's worker starts past them all.
    pub async fn copy_to(&self, target: &Store) -> Result<Copied, CopyError> {
        while self.queue_admitted(COPY_QUEUEING).await? > 0 {}
        let mut tx = target.writer.begin().await?;
        for (table, _) in TABLES {
            let rows: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&mut *tx)
                    .await?;
            if rows > 0 {
                return Err(CopyError::NotEmpty { table });
            }
        }
        let mut copied = Vec::new();
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            // The Any driver reads no boolean column of SQLite's: booleans travel as 0 or 1.
            let selected: Vec<String> = columns
                .iter()
                .map(|(name, column)| match column {
                    Boolean => {
                        format!("CASE WHEN {name} IS NULL THEN NULL WHEN {name} THEN 1 ELSE 0 END")
                    }
                    Text | Integer | Bytes => (*name).to_owned(),
                })
                .collect();
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM {table}",
                selected.join(", ")
            )))
            .fetch_all(&self.reader)
            .await?;
            let values: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(index, (_, column))| match (column, target.dialect) {
                    (Boolean, Dialect::Postgres) => format!("(${} <> 0)", index + 1),
                    _ => format!("${}", index + 1),
                })
                .collect();
            let insert = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                values.join(", ")
            );
            for row in &rows {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
                for (index, (_, column)) in columns.iter().enumerate() {
                    query = bind_column(query, row, index, *column)?;
                }
                query.execute(&mut *tx).await?;
            }
            copied.push((*table, rows.len() as u64));
        }
        match target.dialect {
            // Each copied delivery has its job (see above), and its body signature is
            // merged (see `signatures`).
            Dialect::Sqlite => {
                for statement in [
                    "UPDATE deliveries_queued SET through_rowid = \
                     (SELECT coalesce(max(rowid), 0) FROM deliveries)",
                    "INSERT INTO body_signatures (signature) \
                     SELECT body_signature FROM deliveries WHERE body_signature IS NOT NULL",
                    "UPDATE body_signatures_merged SET through_rowid = \
                     (SELECT coalesce(max(rowid), 0) FROM deliveries)",
                ] {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
            }
            Dialect::Postgres => {
                for table in SERIAL_TABLES {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                         COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    )))
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(Copied(copied))
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds column `index` of `row` as what it is.
fn bind_column<'q>(
    query: Query<'q>,
    row: &AnyRow,
    index: usize,
    column: Column,
) -> Result<Query<'q>, sqlx::Error> {
    Ok(match column {
        Text => query.bind(row.try_get::<Option<String>, _>(index)?),
        Bytes => query.bind(row.try_get::<Option<Vec<u8>>, _>(index)?),
        Integer | Boolean => query.bind(row.try_get::<Option<i64>, _>(index)?),
    })
}
